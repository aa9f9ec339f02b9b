"""What a station costs in memory, in each place a worker keeps it.

Runs a synthetic night through the in-memory tally (the worker's own steps, no broker) and
measures with tracemalloc what each part holds once the whole night is in:

- stage one's stores (every partition's ``PartitionStore``: protocols and their versions,
  turnout reports, e-ballots, the sums kept by deltas; figures packed, monitor.tally.packed);
- stage two's state (the merged partials) and its totals kept by deltas (the rollup), and
  its (partition, commission) entries as it keeps them (JSON) against the same parsed;
- the station documents as the stage-two owner's sweep keeps them (``StationCache``: the JSON
  Redis holds, parsed when a detector reads it), against the same documents parsed.

    python load/memory.py --stations 20000 50000

Figures are per station and scale with the election; the worker's peak RSS (load/scale.py)
adds the interpreter, the libraries and the transient copies of a flush.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.adapters.readmodel import StationDocs
from monitor.testing import InMemoryTally
from producers.elections.synthetic import generate


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def measure(stations: int, partitions: int) -> dict[str, Any]:
    election = generate(stations, max(1, round(stations / 9727 * 205)), seed=2007)  # as in 2007
    tally = InMemoryTally(election.registry, partitions=partitions)
    events = election.events
    del election
    tracemalloc.start()
    base = traced()
    for e in events:
        tally.feed(e.topic, e.key, e.value)
    stage_one = traced() - base
    tally.flush()  # the partials merged into stage two's state (and the in-memory tally's documents)
    base = traced()
    tally.snapshot()
    rollup = traced() - base
    tracemalloc.stop()
    entries = [raw for state in tally.merged.values() for (_wm, raw) in state["tecs"].values()]
    entries_bytes = sum(sys.getsizeof(raw) for raw in entries)
    copies = [bytes(bytearray(raw)) for raw in entries]
    tracemalloc.start()
    base = traced()
    entries_parsed = [orjson.loads(raw) for raw in copies]
    entries_parsed_bytes = traced() - base
    tracemalloc.stop()
    del entries_parsed, copies
    raw = {sid: {k: orjson.dumps(doc) for k, doc in kinds.items()} for sid, kinds in tally.stations.items()}
    raw_bytes = sum(len(b) for kinds in raw.values() for b in kinds.values())
    tracemalloc.start()
    base = traced()
    parsed = {sid: {k: orjson.loads(b) for k, b in kinds.items()} for sid, kinds in raw.items()}
    parsed_bytes = traced() - base
    del parsed
    base = traced()
    kept = StationDocs()
    for sid, kinds in raw.items():  # new bytes of the exact size, as read from Redis
        kept.put(sid, {k: bytes(bytearray(b)) for k, b in kinds.items()})
    kept_bytes = traced() - base
    tracemalloc.stop()
    del kept
    n = stations
    return {
        "stations": n,
        "events": len(events),
        "stage one stores": stage_one / n,
        "rollup": rollup / n,
        f"stage two's {len(entries):,} (partition, commission) entries, as JSON": entries_bytes / n,
        "the same entries parsed": entries_parsed_bytes / n,
        "sweep cache, kept as JSON (StationDocs)": kept_bytes / n,
        "the same documents parsed": parsed_bytes / n,
        "station documents as JSON bytes (payload only)": raw_bytes / n,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, nargs="+", default=[20_000])
    ap.add_argument("--partitions", type=int, default=8)
    args = ap.parse_args(argv)
    for n in args.stations:
        row = measure(n, args.partitions)
        print(
            f"{row.pop('stations'):,} stations, {row.pop('events'):,} events (synthetic), bytes per station:"
        )
        for what, b in row.items():
            print(f"  {what:<56} {b:>8,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
