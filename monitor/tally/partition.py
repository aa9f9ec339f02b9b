"""Stage one of the tally: the state of one input topic-partition.

It keeps the latest absolute figures per key: per station and source for protocols, per
station for turnout, per unit for summaries, the set of ballots for e-votes. Whatever order
events come in, however often one is delivered, the state is the same: the latest version
wins, and on a tie the larger figures win, so re-reading the partition from offset 0 rebuilds
it exactly.

The per-TEC partial sums are derived from the stations at flush time, only for the TECs that
changed, never accumulated per event: the hot path stores a tuple and marks a TEC dirty.
No Kafka, Faust or Redis here: the ingest service feeds records in and takes partials out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..contract import N_FIXED, Evote, Protocol, Summary, Turnout
from ..registry import Registry

# Official view: for each station, the highest level that recorded it.
OFFICIAL_RANK = {"pec": 0, "tec": 1, "rec": 2, "cec": 3}
Figures = tuple[int, ...]


def _newer(version: int, figures: tuple[Any, ...], cur: tuple[int, Any] | None) -> bool:
    """Latest version wins; equal versions keep the larger figures so order never matters."""
    return cur is None or version > cur[0] or (version == cur[0] and figures > cur[1])


def _sum(vectors: Sequence[tuple[int, ...]], width: int) -> list[int]:
    return [sum(col) for col in zip(*vectors, strict=True)] if vectors else [0] * width


class PartitionStore:
    """All that one topic-partition of turnout, protocols, summaries or evote contributes."""

    def __init__(self, kind: str, registry: Registry) -> None:
        self.kind = kind
        self.registry = registry
        self.width = N_FIXED + len(registry.parties)
        self.members: dict[str, set[str]] = {}  # tec -> stations seen in this partition
        self.dirty: set[str] = set()
        # protocols: latest per (station, source), every version seen, the official view
        self.protocols: dict[tuple[str, str], tuple[int, Figures]] = {}
        self.versions: dict[tuple[str, str], dict[int, Figures]] = {}
        self.official: dict[str, tuple[int, Figures]] = {}  # station -> (rank, figures)
        # turnout: every report per station, and the latest (seq, (registered, added, voted))
        self.turnout_reports: dict[str, dict[int, tuple[int, int, int]]] = {}
        self.turnout_latest: dict[str, tuple[int, tuple[int, int, int]]] = {}
        # evote: the set of ballots (a redelivered ballot is the same element)
        self.ballots: set[tuple[str, str, str]] = set()
        self.evotes: dict[str, int] = {}
        # summaries: unit -> (version, figures) and the record for the wire
        self.summaries: dict[str, tuple[int, Figures]] = {}
        self.summary_records: dict[str, Summary] = {}
        self.dirty_summaries: set[str] = set()
        self.conflicts = 0  # same version, different figures
        self._tec_of: dict[str, str] = {}
        # A store serves one topic, so one kind of record: the hot path calls this directly.
        by_kind: dict[str, Callable[[Any], bool]] = {
            "protocols": self.apply_protocol, "turnout": self.apply_turnout,
            "evote": self.apply_evote, "summaries": self.apply_summary,
        }  # fmt: skip
        self.apply_record: Callable[[Any], bool] = by_kind.get(kind, self.apply)

    def _touch(self, station_id: str) -> None:
        tec = self._tec_of.get(station_id)
        if tec is None:
            tec = self._tec_of[station_id] = self.registry.stations[station_id].tec_id
        self.dirty.add(tec)
        members = self.members.get(tec)
        if members is None:
            members = self.members[tec] = set()
        members.add(station_id)

    def apply(self, record: Turnout | Protocol | Summary | Evote) -> bool:
        """Apply one decoded record of any kind; True if it changed the state."""
        kind = type(record)
        if kind is Protocol:
            return self.apply_protocol(record)  # type: ignore[arg-type]
        if kind is Turnout:
            return self.apply_turnout(record)  # type: ignore[arg-type]
        if kind is Evote:
            return self.apply_evote(record)  # type: ignore[arg-type]
        return self.apply_summary(record)  # type: ignore[arg-type]

    def apply_protocol(self, p: Protocol) -> bool:
        key = (p.station_id, p.source)
        figures = p.figures
        seen = self.versions.get(key)
        if seen is None:
            seen = self.versions[key] = {}
        prior = seen.get(p.version)
        if prior is not None and prior != figures:
            self.conflicts += 1
        if prior is None or figures > prior:
            seen[p.version] = figures
        cur = self.protocols.get(key)
        if not _newer(p.version, figures, cur):
            return False
        self.protocols[key] = (p.version, figures)
        rank = OFFICIAL_RANK.get(p.source)
        if rank is not None:
            off = self.official.get(p.station_id)
            if off is None or rank >= off[0]:
                self.official[p.station_id] = (rank, figures)
        self._touch(p.station_id)
        return True

    def apply_turnout(self, t: Turnout) -> bool:
        figures = (t.registered, t.added, t.voted)
        reports = self.turnout_reports.get(t.station_id)
        if reports is None:
            reports = self.turnout_reports[t.station_id] = {}
        prior = reports.get(t.seq)
        if prior is None or figures > prior:
            reports[t.seq] = figures
        cur = self.turnout_latest.get(t.station_id)
        if not _newer(t.seq, figures, cur):
            return False
        self.turnout_latest[t.station_id] = (t.seq, figures)
        self._touch(t.station_id)
        return True

    def apply_evote(self, e: Evote) -> bool:
        ballot = (e.voter_token, e.station_id, e.issued_at)
        if ballot in self.ballots:
            return False
        self.ballots.add(ballot)
        self.evotes[e.station_id] = self.evotes.get(e.station_id, 0) + 1
        self._touch(e.station_id)
        return True

    def apply_summary(self, s: Summary) -> bool:
        if not _newer(s.version, s.figures, self.summaries.get(s.unit_id)):
            return False
        self.summaries[s.unit_id] = (s.version, s.figures)
        self.summary_records[s.unit_id] = s
        self.dirty_summaries.add(s.unit_id)
        return True

    # -- derived --------------------------------------------------------------------------
    def tec_partial(self, tec: str) -> dict[str, Any]:
        """The sums over this partition's stations of one TEC, for this topic's kind."""
        stations = self.members.get(tec, ())
        if self.kind == "protocols":
            pec, official, moved_off, moved_pec = [], [], [], []
            for sid in stations:
                p = self.protocols.get((sid, "pec"))
                o = self.official.get(sid)
                if p is not None:
                    pec.append(p[1])
                if o is not None:
                    official.append(o[1])
                    if p is not None:  # moved: official - pec where the PEC protocol is in
                        moved_off.append(o[1])
                        moved_pec.append(p[1])
            w = self.width
            moved = [a - b for a, b in zip(_sum(moved_off, w), _sum(moved_pec, w), strict=True)]
            return {"pec": _sum(pec, w), "official": _sum(official, w), "moved": moved,
                    "n_pec": len(pec), "n_official": len(official)}  # fmt: skip
        if self.kind == "turnout":
            latest = [self.turnout_latest[s][1] for s in stations if s in self.turnout_latest]
            return {"turnout": _sum(latest, 3), "n_turnout": len(latest)}
        return {"evote": sum(self.evotes.get(s, 0) for s in stations)}

    def take_partial(self, watermark: int) -> dict[str, Any] | None:
        """The absolute state of what changed since the last call, stamped with ``watermark``
        (the next offset to read). None when nothing changed."""
        if not self.dirty and not self.dirty_summaries:
            return None
        tecs = {t: self.tec_partial(t) for t in sorted(self.dirty)}
        summaries = {
            u: {"level": s.level, "version": s.version, "recorded_at": s.recorded_at,
                "stations_included": s.stations_included, "figures": list(s.figures)}
            for u in sorted(self.dirty_summaries)
            for s in (self.summary_records[u],)
        }  # fmt: skip
        self.dirty.clear()
        self.dirty_summaries.clear()
        return {"kind": self.kind, "wm": watermark, "tecs": tecs, "summaries": summaries}
