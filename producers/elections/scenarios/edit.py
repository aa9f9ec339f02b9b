"""Editing the events of a generated election, for the scenario library (``inject``, ``units``).

An :class:`Editor` holds a copy of an election's events, indexed by station, source, report
and unit, and changes them without touching the original: it replaces an event's value (a
fresh copy), moves, adds or removes events, and at the end puts them back in time order. The
figure helpers keep a station's protocol satisfying the control relations of CONTRACT.md, and
:meth:`Editor.add_to_summaries` keeps every commission summary the sum of its children, so an
injection changes what it means to change and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from monitor.contract import CEC_ID, FIGURE_FIELDS
from producers.elections.synthetic import Election, TimedEvent, _apportion

Flat = dict[str, int]  # a protocol's figures, the parties' votes beside the fixed fields


def flat(figures: dict[str, Any]) -> Flat:
    out = {k: int(figures[k]) for k in FIGURE_FIELDS}
    out.update(figures["votes"])
    return out


def nested(f: Flat, parties: Sequence[str]) -> dict[str, Any]:
    """The contract's figures object: the fixed fields, then ``votes`` in ballot order."""
    return {**{k: f[k] for k in FIGURE_FIELDS}, "votes": {p: f[p] for p in parties}}


def valid(f: Flat, parties: Sequence[str]) -> int:
    return sum(f[p] for p in parties)


def participants(f: Flat) -> int:
    return f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"]


def leader(f: Flat, parties: Sequence[str]) -> str:
    return max(parties, key=lambda p: (f[p], -parties.index(p)))


def runner_up(f: Flat, parties: Sequence[str]) -> str:
    top = leader(f, parties)
    return max((p for p in parties if p != top), key=lambda p: (f[p], -parties.index(p)))


def recount(f: Flat, parties: Sequence[str], *, paper: int, extra_added: int = 0) -> Flat:
    """The protocol of the same station with ``paper`` voters (in the station and by mobile
    box) and ``extra_added`` more election-day additions, every control relation kept: the
    e-ballots, the mobile share, the ballots taken away and the invalid share stay; ballots
    are delivered in packs of 50 when more are needed; party shares stay (largest remainder)."""
    old_paper = f["issued_in_station"] + f["issued_mobile"]
    out = dict(f)
    out["registered"] += extra_added
    out["added"] += extra_added
    out["issued_mobile"] = round(paper * f["issued_mobile"] / old_paper) if old_paper else 0
    out["issued_in_station"] = paper - out["issued_mobile"]
    if out["ballots_received"] < paper:
        out["ballots_received"] = math.ceil(paper / 50) * 50
    out["ballots_cancelled"] = out["ballots_received"] - paper
    missing = min(old_paper - f["ballots_found"], paper)
    out["ballots_found"] = paper - missing
    counted = out["ballots_found"] + out["voted_electronic"]
    old_counted = f["ballots_found"] + f["voted_electronic"]
    out["invalid"] = round(counted * f["invalid"] / old_counted) if old_counted else 0
    for p, n in zip(parties, _apportion(counted - out["invalid"], [f[p] for p in parties]), strict=True):
        out[p] = n
    return out


def scaled_reports(
    reports: Sequence[tuple[int, int, int]], voted: int, extra_added: int = 0
) -> list[tuple[int, int, int]]:
    """A station's cumulative reports (registered, added, voted) rescaled to end at ``voted``,
    with ``extra_added`` more additions spread as its own additions were (evenly if none):
    the shape of its day is kept, so its pace stays its own."""
    last_voted, last_added = reports[-1][2], reports[-1][1]
    n = len(reports)
    out = []
    for i, (registered, added, v) in enumerate(reports, 1):
        more = round(extra_added * (added / last_added if last_added else i / n))
        out.append((registered + more, added + more, round(v * voted / last_voted) if last_voted else 0))
    return out


@dataclass(frozen=True, slots=True)
class StationInfo:
    station_id: str
    tec_id: str
    rec_id: str
    baseline: int
    evoting: bool


class Editor:
    """A copy of an election's events to change. Positions are stable handles: an event keeps
    its position when its value or time changes, added events get new ones, removed ones
    leave a hole; :meth:`finish` sorts by time (ties: position) and maps positions to indexes."""

    def __init__(self, election: Election) -> None:
        self.parties = election.parties
        self.events: list[TimedEvent | None] = list(election.events)
        self.touched: set[str] = set()  # keys whose events were changed, added or removed
        self.stations: dict[str, StationInfo] = {}
        self.tec_stations: dict[str, list[str]] = {}
        self.rec_tecs: dict[str, list[str]] = {}
        for r in election.registry:
            if r["type"] == "station":
                self.stations[r["station_id"]] = StationInfo(
                    r["station_id"], r["tec_id"], r["rec_id"], r["registered_baseline"], r["evoting"]
                )
                self.tec_stations.setdefault(r["tec_id"], []).append(r["station_id"])
            elif r["type"] == "unit" and r["level"] == "tec":
                self.rec_tecs.setdefault(r["parent_id"], []).append(r["unit_id"])
        # station -> (source, version) -> position; station -> seq -> position; ...
        self.protocols: dict[str, dict[tuple[str, int], int]] = {}
        self.reports: dict[str, dict[int, int]] = {}
        self.ballots: dict[str, list[int]] = {}
        self.summaries: dict[str, dict[int, int]] = {}
        for pos, ev in enumerate(election.events):
            self._index(pos, ev)

    def _index(self, pos: int, ev: TimedEvent) -> None:
        v = ev.value
        if ev.topic == "protocols":
            self.protocols.setdefault(v["station_id"], {})[(v["source"], v["version"])] = pos
        elif ev.topic == "turnout":
            self.reports.setdefault(v["station_id"], {})[v["seq"]] = pos
        elif ev.topic == "evote":
            self.ballots.setdefault(v["station_id"], []).append(pos)
        elif ev.topic == "summaries":
            self.summaries.setdefault(v["unit_id"], {})[v["version"]] = pos

    # -- reading -----------------------------------------------------------------------------
    def event(self, pos: int) -> TimedEvent:
        ev = self.events[pos]
        if ev is None:
            raise KeyError(f"event {pos} was removed")
        return ev

    def protocol(self, sid: str, source: str) -> int | None:
        """Position of the latest version of a station's protocol from ``source``."""
        versions = [v for (s, v) in self.protocols.get(sid, {}) if s == source]
        return self.protocols[sid][(source, max(versions))] if versions else None

    def pos(self, sid: str, source: str) -> int:
        """Position of the latest version of a protocol the station must have."""
        pos = self.protocol(sid, source)
        if pos is None:
            raise KeyError(f"station {sid} has no {source} protocol")
        return pos

    def figures(self, sid: str, source: str = "pec") -> Flat:
        return flat(self.event(self.pos(sid, source)).value["figures"])

    def report_positions(self, sid: str) -> list[int]:
        return [self.reports[sid][q] for q in sorted(self.reports.get(sid, {}))]

    def report_figures(self, sid: str) -> list[tuple[int, int, int]]:
        return [
            itemgetter("registered", "added", "voted")(self.event(p).value)
            for p in self.report_positions(sid)
        ]

    def summary(self, uid: str, version: int = 1) -> int:
        return self.summaries[uid][version]

    # -- changing ----------------------------------------------------------------------------
    def replace(self, pos: int, at: datetime | None = None, **fields: Any) -> None:
        """A new copy of the event's value with ``fields`` changed, optionally at a new time."""
        ev = self.event(pos)
        value = {**ev.value, **fields}
        self.events[pos] = TimedEvent(at or ev.at, ev.topic, ev.key, value)
        self.touched.add(ev.key)

    def add(self, ev: TimedEvent) -> int:
        self.events.append(ev)
        pos = len(self.events) - 1
        self._index(pos, ev)
        self.touched.add(ev.key)
        return pos

    def remove(self, pos: int) -> None:
        ev = self.event(pos)
        self.events[pos] = None
        self.touched.add(ev.key)
        if ev.topic == "protocols":
            del self.protocols[ev.key][(ev.value["source"], ev.value["version"])]

    def set_protocols(self, sid: str, f: Flat, sources: Iterable[str]) -> None:
        """Every version of the station's protocols from ``sources`` now carries ``f``."""
        wanted = set(sources)
        for (source, _version), pos in self.protocols.get(sid, {}).items():
            if source in wanted:
                self.replace(pos, figures=nested(f, self.parties))

    def set_reports(self, sid: str, reports: Sequence[tuple[int, int, int]]) -> None:
        for pos, (registered, added, voted) in zip(self.report_positions(sid), reports, strict=True):
            self.replace(pos, registered=registered, added=added, voted=voted)

    def restate(
        self,
        sid: str,
        f: Flat,
        sources: Iterable[str] = ("pec", "observer", "tec", "cec"),
        follow: str | None = "pec",
    ) -> None:
        """The station's protocols from ``sources`` carry ``f``; the summaries above it follow
        the change of its ``follow`` figures (a TEC summary sums its stations' PEC protocols;
        ``tec``: the TEC summed what it entered itself; None: the summaries stay)."""
        before = self.figures(sid, follow) if follow else {}
        self.set_protocols(sid, f, sources)
        if follow:
            after = self.figures(sid, follow)
            self.add_to_summaries(self.units_above(sid), {k: after[k] - before[k] for k in before})

    def units_above(self, sid: str) -> list[str]:
        st = self.stations[sid]
        return [st.tec_id, st.rec_id, CEC_ID]

    def add_to_summaries(self, units: Iterable[str], delta: Flat, from_version: int = 1) -> None:
        """Add ``delta`` to every version (from ``from_version``) of the units' summaries."""
        if not any(delta.values()):
            return
        for uid in units:
            for version, pos in self.summaries.get(uid, {}).items():
                if version >= from_version:
                    f = flat(self.event(pos).value["figures"])
                    self.replace(pos, figures=nested({k: f[k] + delta.get(k, 0) for k in f}, self.parties))

    def finish(self) -> tuple[list[TimedEvent], dict[int, int]]:
        """The events in time order (ties keep position order) and position -> index."""
        order = sorted(
            (pos for pos, ev in enumerate(self.events) if ev is not None),
            key=lambda pos: (self.event(pos).at, pos),
        )
        return [self.event(pos) for pos in order], {pos: i for i, pos in enumerate(order)}
