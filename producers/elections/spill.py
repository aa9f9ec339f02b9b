"""A night in clock order without holding it: runs of events, each sorted and spilled to a
temporary file, then merged. Ties keep the order of the runs and, within a run, the order of
generation, so the result is what one stable sort of the whole night would give."""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from operator import attrgetter
from pathlib import Path

import orjson

from producers.elections.parts import TimedEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def time_ordered(runs: Iterable[list[TimedEvent]], tz: tzinfo) -> Iterator[TimedEvent]:
    """Every event of ``runs`` in clock order (stable), times given back in ``tz``. A run is
    sorted in place and written out before the next is asked for."""
    with tempfile.TemporaryDirectory(prefix="tabmon-night-") as tmp:
        paths: list[Path] = []
        for run in runs:
            run.sort(key=attrgetter("at"))  # stable
            path = Path(tmp) / f"run-{len(paths):05d}"
            with path.open("wb") as fh:
                for e in run:
                    k = (e.at - _EPOCH) // _MICRO
                    fh.write(
                        b"%020d\t%s\t%s\t%s\n" % (k, e.topic.encode(), e.key.encode(), orjson.dumps(e.value))
                    )
            paths.append(path)
        files = [p.open("rb") for p in paths]
        try:
            # the key is the time alone: heapq.merge then breaks ties by the run's place
            for line in heapq.merge(*files, key=lambda ln: ln[:20]):
                k, topic, key, value = line.rstrip(b"\n").split(b"\t", 3)
                at = (_EPOCH + int(k) * _MICRO).astimezone(tz)
                yield TimedEvent(at, topic.decode(), key.decode(), orjson.loads(value))
        finally:
            for fh in files:
                fh.close()
