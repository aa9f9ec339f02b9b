"""Stage one of the tally: the state of one input topic-partition.

It keeps the latest absolute figures per key (station and source for protocols, station for
turnout, unit for summaries, the ballot itself for e-votes) and, derived from them by exact
deltas, a partial sum per TEC. Whatever order the events come in, however often one is
delivered, the state is the same: the latest version wins, and on a tie the larger figures
win, so a replay of the partition from offset 0 rebuilds it exactly.

No Kafka, Faust or Redis here: the ingest service feeds records in and takes partials out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..contract import N_FIXED, Evote, Protocol, Summary, Turnout
from ..registry import Registry

# Official view: for each station, the highest level that recorded it.
OFFICIAL_RANK = {"pec": 0, "tec": 1, "rec": 2, "cec": 3}
Figures = tuple[int, ...]


@dataclass(slots=True)
class TecPartial:
    """Sums over the stations of one TEC that live in one partition."""

    width: int
    pec: list[int] = field(default_factory=list)  # protocol view: PEC-signed protocols
    official: list[int] = field(default_factory=list)  # official view
    moved: list[int] = field(default_factory=list)  # official - pec, stations with a PEC protocol
    n_pec: int = 0
    n_official: int = 0
    turnout: list[int] = field(default_factory=lambda: [0, 0, 0])  # registered, added, voted
    n_turnout: int = 0
    evote: int = 0

    def __post_init__(self) -> None:
        self.pec = [0] * self.width
        self.official = [0] * self.width
        self.moved = [0] * self.width

    def to_wire(self, kind: str) -> dict[str, Any]:
        if kind == "protocols":
            return {"pec": self.pec, "official": self.official, "moved": self.moved,
                    "n_pec": self.n_pec, "n_official": self.n_official}  # fmt: skip
        if kind == "turnout":
            return {"turnout": self.turnout, "n_turnout": self.n_turnout}
        return {"evote": self.evote}


def _shift(acc: list[int], old: Figures | None, new: Figures | None) -> None:
    """acc += new - old, where a missing side counts as zero."""
    if old is None:
        if new is not None:
            for i, x in enumerate(new):
                acc[i] += x
    elif new is None:
        for i, x in enumerate(old):
            acc[i] -= x
    else:
        for i, (x, y) in enumerate(zip(new, old, strict=True)):
            if x != y:
                acc[i] += x - y


def _newer(version: int, figures: Figures, cur: tuple[int, Figures] | None) -> bool:
    """Latest version wins; equal versions keep the larger figures so order never matters."""
    if cur is None:
        return True
    return version > cur[0] or (version == cur[0] and figures > cur[1])


class PartitionStore:
    """All that one topic-partition of turnout, protocols, summaries or evote contributes."""

    def __init__(self, kind: str, registry: Registry) -> None:
        self.kind = kind
        self.registry = registry
        self.width = N_FIXED + len(registry.parties)
        self.tecs: dict[str, TecPartial] = {}
        self.dirty: set[str] = set()
        # protocols
        self.protocols: dict[tuple[str, str], tuple[int, Figures]] = {}
        self.history: dict[tuple[str, str], dict[int, Figures]] = {}
        self.official: dict[str, tuple[int, Figures]] = {}  # station -> (rank, figures)
        # turnout: station -> seq -> (registered, added, voted); latest per station
        self.turnout_reports: dict[str, dict[int, tuple[int, int, int]]] = {}
        self.turnout_latest: dict[str, tuple[int, tuple[int, int, int]]] = {}
        # evote: the set of ballots (a redelivered ballot is the same element)
        self.ballots: set[tuple[str, str, str]] = set()
        # summaries: (level, unit) -> (version, figures); the record itself for the wire
        self.summaries: dict[str, tuple[int, Figures]] = {}
        self.summary_records: dict[str, Summary] = {}
        self.dirty_summaries: set[str] = set()
        self.conflicts = 0  # same version, different figures

    def _tec(self, station_id: str) -> TecPartial:
        tec_id = self.registry.stations[station_id].tec_id
        self.dirty.add(tec_id)
        agg = self.tecs.get(tec_id)
        if agg is None:
            agg = self.tecs[tec_id] = TecPartial(self.width)
        return agg

    def apply(self, record: Turnout | Protocol | Summary | Evote) -> bool:
        """Apply one decoded record; True if it changed the state."""
        if type(record) is Protocol:
            return self.apply_protocol(record)
        if type(record) is Turnout:
            return self.apply_turnout(record)
        if type(record) is Evote:
            return self.apply_evote(record)
        assert type(record) is Summary
        return self.apply_summary(record)

    def apply_protocol(self, p: Protocol) -> bool:
        key = (p.station_id, p.source)
        cur = self.protocols.get(key)
        versions = self.history.setdefault(key, {})
        if p.version in versions and versions[p.version] != p.figures:
            self.conflicts += 1
        if not _newer(p.version, p.figures, cur):
            versions.setdefault(p.version, p.figures)
            return False
        versions[p.version] = p.figures
        self.protocols[key] = (p.version, p.figures)
        sid = p.station_id
        agg = self._tec(sid)
        old_pec = self.protocols.get((sid, "pec"), (0, None))[1] if p.source != "pec" else (
            cur[1] if cur else None)  # fmt: skip
        old_off_entry = self.official.get(sid)
        old_off = old_off_entry[1] if old_off_entry else None
        new_pec = p.figures if p.source == "pec" else old_pec
        new_off = old_off
        rank = OFFICIAL_RANK.get(p.source)
        if rank is not None and (old_off_entry is None or rank >= old_off_entry[0]):
            self.official[sid] = (rank, p.figures)
            new_off = p.figures
        if new_pec is not old_pec:
            _shift(agg.pec, old_pec, new_pec)
            agg.n_pec += old_pec is None
        if new_off is not old_off:
            _shift(agg.official, old_off, new_off)
            agg.n_official += old_off is None
        if new_pec is not old_pec or new_off is not old_off:
            # moved = official - pec, only where the PEC protocol is known
            _shift(agg.moved, old_off if old_pec is not None else None,
                   new_off if new_pec is not None else None)  # fmt: skip
            _shift(agg.moved, new_pec, old_pec)
        return True

    def apply_turnout(self, t: Turnout) -> bool:
        figs = (t.registered, t.added, t.voted)
        self.turnout_reports.setdefault(t.station_id, {})[t.seq] = figs
        cur = self.turnout_latest.get(t.station_id)
        if not _newer(t.seq, figs, cur):
            return False
        self.turnout_latest[t.station_id] = (t.seq, figs)
        agg = self._tec(t.station_id)
        _shift(agg.turnout, cur[1] if cur else None, figs)
        agg.n_turnout += cur is None
        return True

    def apply_evote(self, e: Evote) -> bool:
        ballot = (e.voter_token, e.station_id, e.issued_at)
        if ballot in self.ballots:
            return False
        self.ballots.add(ballot)
        self._tec(e.station_id).evote += 1
        return True

    def apply_summary(self, s: Summary) -> bool:
        cur = self.summaries.get(s.unit_id)
        if not _newer(s.version, s.figures, cur):
            return False
        self.summaries[s.unit_id] = (s.version, s.figures)
        self.summary_records[s.unit_id] = s
        self.dirty_summaries.add(s.unit_id)
        return True

    def take_partial(self, watermark: int) -> dict[str, Any] | None:
        """The absolute state of what changed since the last call, stamped with ``watermark``
        (the next offset to read). None when nothing changed."""
        if not self.dirty and not self.dirty_summaries:
            return None
        tecs = {t: self.tecs[t].to_wire(self.kind) for t in sorted(self.dirty)}
        summaries = {
            u: {"level": s.level, "version": s.version, "recorded_at": s.recorded_at,
                "stations_included": s.stations_included, "figures": list(s.figures)}
            for u in sorted(self.dirty_summaries)
            for s in (self.summary_records[u],)
        }  # fmt: skip
        self.dirty.clear()
        self.dirty_summaries.clear()
        return {"kind": self.kind, "wm": watermark, "tecs": tecs, "summaries": summaries}
