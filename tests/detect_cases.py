"""Builders shared by the detector tests: tally states of real datasets and hand-made cases.

A dataset's state is built once per test session (the 2007 drill takes seconds) and must
not be mutated by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from monitor.contract import FIGURE_FIELDS, Registry, build
from monitor.detect import Finding, Thresholds, detect_all
from monitor.testing import InMemoryTally
from producers.elections.synthetic import POLLS_CLOSE as CLOSE
from producers.elections.synthetic import Election, generate

PARTIES = ("A", "B", "C")


@dataclass(frozen=True)
class State:
    """What the worker's detectors see: the station read model, the stage-two snapshot, the
    voter tokens with more than one ballot, the registry and the event-time clock."""

    stations: dict[str, dict[str, Any]]
    units: dict[str, dict[str, Any]]
    tokens: dict[str, list[tuple[str, str]]]
    registry: Registry
    now: datetime

    def findings(self, t: Thresholds | None = None) -> list[Finding]:
        return detect_all(
            self.stations,
            self.units,
            self.tokens,
            self.registry,
            t or Thresholds(polls_close=CLOSE),
            self.now,
        )


def state_of(election: Election, until: datetime | None = None, partitions: int = 4) -> State:
    events = [e for e in election.events if until is None or e.at <= until]
    tally = InMemoryTally(election.registry, partitions=partitions)
    tally.feed_events(events)
    now = until or max(e.at for e in events)
    return State(tally.stations, tally.snapshot(), tally.tokens(), tally.registry, now)


@cache
def drill() -> Election:
    from producers.elections.kz2007.night import build as build_drill

    return build_drill(seed=2007)


@cache
def drill_state() -> State:
    return state_of(drill())


@cache
def drill_findings() -> tuple[Finding, ...]:
    return tuple(drill_state().findings())


@cache
def clean_election() -> Election:
    return generate(600, 30, seed=5, evote_ballots=2000)


# -- hand-made cases -----------------------------------------------------------------------------


def registry(n_tecs: int = 1, per_tec: int = 3, rec: str = "AKM") -> Registry:
    """One region, ``n_tecs`` TECs of ``per_tec`` stations (AKM-1, AKM-2, ...), parties A, B, C."""
    return build(registry_records(n_tecs, per_tec, rec))


def registry_records(n_tecs: int = 1, per_tec: int = 3, rec: str = "AKM") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        {"type": "ballot", "v": 1, "parties": list(PARTIES)},
        {"type": "unit", "v": 1, "level": "rec", "unit_id": rec, "parent_id": "KZ", "name": "Akmola"},
    ]
    n = 0
    for i in range(1, n_tecs + 1):
        tec = f"{rec}-T{i:02d}"
        records.append(
            {"type": "unit", "v": 1, "level": "tec", "unit_id": tec, "parent_id": rec, "name": f"TEC {i}"}
        )
        for _ in range(per_tec):
            n += 1
            records.append(
                {
                    "type": "station",
                    "v": 1,
                    "station_id": f"{rec}-{n}",
                    "tec_id": tec,
                    "rec_id": rec,
                    "name": f"PS {n}",
                    "registered_baseline": 1000,
                    "evoting": False,
                }
            )
    return records


def figures(
    registered: int = 1000,
    voted: int = 600,
    votes: tuple[int, ...] = (100, 480, 10),
    invalid: int = 10,
    added: int = 0,
) -> dict[str, Any]:
    """A protocol's figures that satisfy every control relation (all paper, in the station)."""
    received = registered
    return {
        "registered": registered,
        "added": added,
        "ballots_received": received,
        "ballots_cancelled": received - voted,
        "issued_in_station": voted,
        "issued_mobile": 0,
        "voted_electronic": 0,
        "ballots_found": voted,
        "invalid": invalid,
        "votes": dict(zip(PARTIES, votes, strict=True)),
    }


def vector(f: dict[str, Any]) -> list[int]:
    """Figures as the read model stores them: FIGURE_FIELDS, then the votes in ballot order."""
    return [f[k] for k in FIGURE_FIELDS] + [f["votes"][p] for p in PARTIES]


def protocols_doc(official: str | None = None, **versions: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A station's protocols document: source -> {version: figures}."""
    sources = {src: {"version": max(vs), "figures": vector(vs[max(vs)])} for src, vs in versions.items()}
    return {
        "sources": sources,
        "versions": {src: {str(v): vector(f) for v, f in vs.items()} for src, vs in versions.items()},
        "official_source": official,
    }


def turnout_doc(*reports: tuple[int, int, int], seqs: tuple[int, ...] | None = None) -> dict[str, Any]:
    """A station's turnout document from (registered, added, voted) reports, seq 1, 2, ..."""
    keys = seqs or tuple(range(1, len(reports) + 1))
    return {"reports": {str(q): list(r) for q, r in zip(keys, reports, strict=True)}}


def paced(registered: int, per_window: list[int], added: int = 0) -> dict[str, Any]:
    """A turnout document whose windows (two hours each) bring ``per_window`` voters."""
    voted, reports = 0, []
    for v in per_window:
        voted += v
        reports.append((registered, added, voted))
    return turnout_doc(*reports)


class Night:
    """A hand-made night fed through the real tally (contract decoding included)."""

    AT = "2007-08-18T21:00:00+06:00"

    def __init__(self, n_tecs: int = 1, per_tec: int = 3) -> None:
        self.tally = InMemoryTally(registry_records(n_tecs, per_tec), partitions=2)

    def protocol(self, sid: str, f: dict[str, Any], source: str = "pec", version: int = 1) -> Night:
        self._feed(
            "protocols",
            sid,
            {
                "type": "protocol",
                "station_id": sid,
                "source": source,
                "version": version,
                "recorded_at": self.AT,
                "figures": f,
            },
        )
        return self

    def turnout(self, sid: str, seq: int, registered: int, added: int, voted: int) -> Night:
        self._feed(
            "turnout",
            sid,
            {
                "type": "turnout",
                "station_id": sid,
                "seq": seq,
                "reported_at": self.AT,
                "registered": registered,
                "added": added,
                "voted": voted,
            },
        )
        return self

    def summary(self, level: str, uid: str, f: dict[str, Any], n: int, version: int = 1) -> Night:
        self._feed(
            "summaries",
            uid,
            {
                "type": "summary",
                "level": level,
                "unit_id": uid,
                "version": version,
                "recorded_at": self.AT,
                "stations_included": n,
                "figures": f,
            },
        )
        return self

    def _feed(self, topic: str, key: str, value: dict[str, Any]) -> None:
        assert self.tally.feed(topic, key, {"v": 1, **value}), self.tally.rejected

    def units(self) -> dict[str, dict[str, Any]]:
        self.tally.flush()
        return self.tally.snapshot()

    def stations(self) -> dict[str, dict[str, Any]]:
        self.tally.flush()
        return self.tally.stations


def total(*fs: dict[str, Any]) -> dict[str, Any]:
    """The sum of protocol figures, as a commission's summary of them would be."""
    out = {k: sum(f[k] for f in fs) for k in FIGURE_FIELDS}
    out["votes"] = {p: sum(f["votes"][p] for f in fs) for p in PARTIES}
    return out


def moved(f: dict[str, Any], **changes: int) -> dict[str, Any]:
    """A copy of figures with fields or party votes changed by the given amounts."""
    out = {**f, "votes": dict(f["votes"])}
    for k, d in changes.items():
        if k in out["votes"]:
            out["votes"][k] += d
        else:
            out[k] += d
    return out
