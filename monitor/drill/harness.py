"""The detectors run over an election in memory, the way a worker runs them on a live tally.

Events are fed in time order to an :class:`~monitor.testing.InMemoryTally`; at every
checkpoint of the election clock (``every``) the tally is flushed and the detectors run with
``now`` the time of the last event fed. A finding counts from the first checkpoint that sees
it, as the ``alerts`` topic carries it from its first emission: an anomaly visible only for a
while (a protocol that comes late) is caught if a checkpoint falls in that while, and a
transient false alarm counts against precision.

Two ways to run them, with the same findings:

- ``full``: ``monitor.detect.detect_all`` over the whole tally state at every checkpoint;
- incremental (the default, much faster at national scale): what the worker does
  (``monitor.alerting.runner``): the station detectors on the documents that changed since
  the last checkpoint, the token detector on tokens with a new ballot, the unit detectors on
  the snapshot, and the sweep over the TECs with a changed station, plus one sweep of every
  station at the first checkpoint past the late-protocol deadline (a station missing its
  PEC protocol then is flagged then; one can only stop missing it later).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.alerting.runner import stage_one, stage_two
from monitor.detect import Finding, Thresholds, detect_all, sweep_findings
from monitor.detect.forensics import forensic_findings
from monitor.election.thresholds import ForensicThresholds
from monitor.testing import InMemoryTally


@dataclass(frozen=True)
class FirstSeen:
    finding: Finding
    index: int  # the last event fed before the checkpoint that first produced it
    at: datetime  # that event's time (the checkpoint's ``now``)


class _Incremental:
    """What changed since the last checkpoint, and the worker's dispatch over it."""

    def __init__(self, tally: InMemoryTally, t: Thresholds) -> None:
        self.tally, self.t = tally, t
        self.docs: dict[tuple[str, str], int] = {}  # (station, kind) -> id of the document seen
        self.tokens: dict[str, int] = {}  # token -> ballots seen
        self.swept_late = False

    def detect(self, now: datetime) -> list[Finding]:
        tally, t = self.tally, self.t
        tally.flush()
        changed: dict[str, dict[str, dict[str, Any]]] = {}  # kind -> station -> document
        for sid, kinds in tally.stations.items():
            for kind, doc in kinds.items():
                if self.docs.get((sid, kind)) != id(doc):
                    self.docs[(sid, kind)] = id(doc)
                    changed.setdefault(kind, {})[sid] = doc
        tokens = {tok: b for tok, b in tally.tokens().items() if self.tokens.get(tok) != len(b)}
        self.tokens.update({tok: len(b) for tok, b in tokens.items()})
        out = stage_one("tokens", {}, tokens, tally.registry, t)
        for kind in ("protocols", "turnout"):
            out += stage_one(kind, changed.get(kind, {}), {}, tally.registry, t)
        out += stage_two(tally.snapshot(), tally.registry, t)
        deadline = t.protocol_deadline
        if deadline is not None and now >= deadline and not self.swept_late:
            self.swept_late = True
            return out + sweep_findings(tally.stations, tally.registry, t, now)
        stations = tally.registry.stations
        tecs = {stations[s].tec_id for kind in changed.values() for s in kind if s in stations}
        subset = {s: d for s, d in tally.stations.items() if s in stations and stations[s].tec_id in tecs}
        return out + sweep_findings(subset, tally.registry, t, None)


def run(
    registry: Sequence[dict[str, Any]],
    events: Sequence[Any],
    t: Thresholds,
    *,
    every: timedelta = timedelta(minutes=15),
    partitions: int = 4,
    full: bool = False,
    forensic: ForensicThresholds | None = None,
) -> dict[str, FirstSeen]:
    """Finding id -> its first sighting, over timed events (``.at .topic .key .value``).
    ``forensic``: also the statistical forensics, once over the final state. Raises if the
    tally rejects an event: a scenario must keep to the contract."""
    tally = InMemoryTally(list(registry), partitions=partitions)
    inc = _Incremental(tally, t)
    seen: dict[str, FirstSeen] = {}
    last_check: datetime | None = None
    for i, ev in enumerate(events):
        tally.feed(ev.topic, ev.key, ev.value)
        if tally.rejected:
            topic, exc = tally.rejected[0]
            raise ValueError(f"event {i} on {topic} rejected: {exc}")
        last_check = last_check or ev.at
        nxt = events[i + 1].at if i + 1 < len(events) else None
        if nxt is not None and nxt - last_check < every:
            continue
        if full:
            tally.flush()
            found = detect_all(tally.stations, tally.snapshot(), tally.tokens(), tally.registry, t, ev.at)
        else:
            found = inc.detect(ev.at)
        if forensic is not None and nxt is None:
            found += forensic_findings(tally.stations, tally.registry, forensic)
        for f in found:
            if f.finding_id not in seen:
                seen[f.finding_id] = FirstSeen(f, i, ev.at)
        last_check = ev.at
    return seen
