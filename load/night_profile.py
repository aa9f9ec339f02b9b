"""How a night's events are spread in time: its busiest minute and hour, as shares of the
night, from a synthetic election of any size (or a replay file). What a capacity plan
multiplies by the stations (docs/scaling.md).

    python load/night_profile.py --stations 10000
    python load/night_profile.py --file night.jsonl     # a file `tabmon generate` wrote
"""

from __future__ import annotations

import argparse
import bisect
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import orjson

from producers.elections.synthetic import generate

TIME_FIELDS = ("recorded_at", "reported_at", "issued_at")


def event_times(values: Iterable[dict]) -> Iterator[float]:
    """Unix seconds of each event (registry records, which have no time, are skipped)."""
    for v in values:
        at = next((v[f] for f in TIME_FIELDS if f in v), None)
        if at is not None:
            yield datetime.fromisoformat(at).timestamp()


def busiest(times: list[float], window: float) -> tuple[int, float]:
    """(events, start) of the busiest ``window`` seconds; ``times`` sorted."""
    best, start = 0, times[0] if times else 0.0
    for i, t in enumerate(times):
        n = bisect.bisect_left(times, t + window, lo=i) - i
        if n > best:
            best, start = n, t
    return best, start


def _from_file(path: Path) -> Iterator[dict]:
    with path.open("rb") as f:
        for line in f:
            yield orjson.loads(line)["value"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=10000)
    ap.add_argument("--tecs", type=int, default=205)
    ap.add_argument("--file", type=Path, help="a replay file instead of a generated night")
    args = ap.parse_args()
    if args.file:
        if not args.file.is_file():
            raise SystemExit(f"no such file: {args.file}")
        values: Iterable[dict] = _from_file(args.file)
        what = str(args.file)
    else:
        values = (e.value for e in generate(args.stations, min(args.tecs, args.stations), seed=2007).events)
        what = f"synthetic night, {args.stations:,} stations"
    times = sorted(event_times(values))
    if not times:
        raise SystemExit("no timed events")
    n = len(times)
    print(f"{what}: {n:,} events")
    for label, window in (("minute", 60.0), ("hour", 3600.0)):
        k, start = busiest(times, window)
        print(
            f"busiest {label:<6} {k:>10,} events ({k / n:.2%} of the night), from"
            f" {datetime.fromtimestamp(start).astimezone().isoformat(timespec='seconds')}"
            f" ({k / window:,.0f} events/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
