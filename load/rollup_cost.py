"""What one snapshot costs when every commission changed since the last one.

While a large night catches up, nearly every commission changes between two snapshots. This
feeds the first half of a synthetic night into the in-memory tally (the worker's own steps, no
broker), snapshots, feeds the second half, and times the next snapshot's parts: stage two's
rollup of every touched commission (``Rollup.update``), the JSON of the changed units (what
Redis gets) and the unit detectors over the snapshot. A worker takes at most
``monitor.worker.app.SNAPSHOT_TECS`` commissions per snapshot.

    python load/rollup_cost.py --stations 100000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.alerting.runner import stage_two
from monitor.election.thresholds import of_definition
from monitor.tally.rollup import Rollup, Touched
from monitor.testing import InMemoryTally
from producers.elections.synthetic import generate


def measure(stations: int, partitions: int) -> dict[str, float]:
    election = generate(stations, max(1, round(stations / 9727 * 205)), seed=2007)  # as in 2007
    tally = InMemoryTally(election.registry, partitions=partitions)
    events = election.events
    half = len(events) // 2
    for e in events[:half]:
        tally.feed(e.topic, e.key, e.value)
    tally.flush()
    tally.snapshot()
    for e in events[half:]:
        tally.feed(e.topic, e.key, e.value)
    tally.touched = Touched()
    tally.flush()
    touched = tally.touched
    t0 = time.perf_counter()
    units, changed = tally.rollup.update(tally.merged, touched)
    t1 = time.perf_counter()
    for uid in changed:
        orjson.dumps(units[uid])
    t2 = time.perf_counter()
    stage_two(units, tally.registry, of_definition(tally.registry.definition), float("inf"))
    t3 = time.perf_counter()
    Rollup(tally.registry).update(tally.merged)
    t4 = time.perf_counter()
    return {
        "commissions touched": len(touched.tecs),
        "units changed": len(changed),
        "rollup by deltas, s": t1 - t0,
        "the changed units as JSON, s": t2 - t1,
        "unit detectors, s": t3 - t2,
        "rollup from scratch, s": t4 - t3,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, nargs="+", default=[100_000])
    ap.add_argument("--partitions", type=int, default=8)
    args = ap.parse_args(argv)
    for n in args.stations:
        print(f"{n:,} stations (synthetic), the second half of the night folded in at once:")
        for what, x in measure(n, args.partitions).items():
            print(f"  {what:<32} {x:>10,.2f}" if isinstance(x, float) else f"  {what:<32} {x:>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
