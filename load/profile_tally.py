"""Where the pure tally's time goes: cProfile over stage one's hot path (records already
decoded, applied to one store per kind, partials and station documents derived every
flush_interval as the worker does) and over stage two (merging those partials and
snapshotting every unit), on a synthetic election of any size.

    python load/profile_tally.py --stations 100000      # the top functions by own time
    python load/profile_tally.py --stations 100000 --no-profile   # the timings alone
    python load/profile_tally.py --flush-every 25000 --no-profile  # flushes by events, not time
    python load/profile_tally.py --gc-young 0     # with CPython's collector, not the worker's

Prints, per stage, the events per second without the profiler, then the functions with the
largest share of the profiled time (own time, and with what they call).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import orjson

from monitor.contract import DECODERS, build, parse
from monitor.settings import Settings
from monitor.tally import PartitionStore, merge, snapshot, take_partial, take_station_docs
from monitor.tally.wire import check_partial_for
from monitor.worker import heap
from producers.elections.synthetic import generate

FLUSH_SECONDS = Settings().flush_interval
SNAPSHOT_SECONDS = Settings().snapshot_interval


def stage_one(registry, records, flush_every: int = 0) -> list:
    """Apply every record, flushing every FLUSH_SECONDS (as the worker does) or, with
    ``flush_every``, every that many events (the same flushes whatever the speed: what a
    comparison of sizes or versions needs); the partials, as JSON bytes."""
    stores = {k: PartitionStore(k, registry) for k in DECODERS}
    partials = []
    last = time.perf_counter()
    for i, (t, record) in enumerate(records):
        stores[t].apply_record(record)
        if flush_every:
            due = i % flush_every == 0
        else:
            due = i % 1000 == 0 and time.perf_counter() - last >= FLUSH_SECONDS
        if due:
            for k, s in stores.items():
                p = take_partial(s, i)
                if p is not None:
                    p["tp"] = f"{k}:0"
                    partials.append(orjson.dumps(p))
                take_station_docs(s)
            last = time.perf_counter()
    for k, s in stores.items():
        p = take_partial(s, len(records))
        if p is not None:
            p["tp"] = f"{k}:0"
            partials.append(orjson.dumps(p))
        take_station_docs(s)
    return partials


def stage_two(registry, partials: list) -> int:
    """Check and merge every partial, snapshotting every SNAPSHOT_SECONDS and at the end."""
    merged: dict = {}
    snapshots = 0
    last = time.perf_counter()
    for raw in partials:
        p = check_partial_for(orjson.loads(raw), registry)
        merged[p["tp"]], _ = merge(merged.get(p["tp"]), p)
        if time.perf_counter() - last >= SNAPSHOT_SECONDS:
            snapshot(merged, registry)
            snapshots += 1
            last = time.perf_counter()
    snapshot(merged, registry)
    return snapshots + 1


def _top(profile: cProfile.Profile, n: int) -> None:
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:n]  # type: ignore[attr-defined]
    print(f"  {'own %':>6} {'cum %':>6} {'calls':>10}  function")
    for (file, line, name), (_cc, calls, tt, ct, _callers) in rows:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        print(f"  {100 * tt / total:6.1f} {100 * ct / total:6.1f} {calls:>10,}  {name} ({where})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=9727)
    ap.add_argument("--tecs", type=int, default=205, help="commissions (the stations are shared out)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--no-profile", action="store_true", help="the timings alone")
    ap.add_argument("--flush-every", type=int, default=0, help="flush every N events (default: by time)")
    ap.add_argument(
        "--gc-young",
        type=int,
        default=Settings().gc_young,
        help="the collector's young threshold, as the worker's TABMON_GC_YOUNG (0: CPython's)",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    election = generate(args.stations, args.tecs, seed=2007)
    registry = build(election.registry)
    records = [
        (e.topic, DECODERS[e.topic](parse(orjson.dumps(e.value), 65536), registry)) for e in election.events
    ]
    n, made = len(records), time.perf_counter() - t0
    heap.tune(args.gc_young)  # the worker's collector: tuned, and what is loaded frozen
    heap.settle(args.gc_young)
    print(
        f"synthetic election: {args.stations:,} stations, {args.tecs} commissions, {n:,} events"
        f" ({made:.0f} s)"
    )

    t1 = time.perf_counter()
    partials = stage_one(registry, records, args.flush_every)
    one = time.perf_counter() - t1
    t2 = time.perf_counter()
    snaps = stage_two(registry, partials)
    two = time.perf_counter() - t2
    print(f"stage one: {n / one:,.0f} events/s ({one:.1f} s, {len(partials):,} partials)")
    print(f"stage two: {len(partials) / two:,.0f} partials/s ({two:.1f} s, {snaps} snapshots)")

    if args.no_profile:
        return 0
    for label, fn, fargs in (
        ("stage one", stage_one, (registry, records, args.flush_every)),
        ("stage two", stage_two, (registry, partials)),
    ):
        prof = cProfile.Profile()
        prof.runcall(fn, *fargs)
        print(f"\n{label}, profiled:")
        _top(prof, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
