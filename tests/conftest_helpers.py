"""Small helpers shared by unit and integration tests."""

from __future__ import annotations

import random
from typing import Any


def split_by_station(events: list[Any], rng: random.Random) -> list[Any]:
    """Shuffle the events of each station among themselves, keeping stations interleaved."""
    by_station: dict[str, list[Any]] = {}
    for e in events:
        by_station.setdefault(e.key, []).append(e)
    for evs in by_station.values():
        rng.shuffle(evs)
    out: list[Any] = []
    queues = list(by_station.values())
    while queues:
        q = queues[rng.randrange(len(queues))]
        out.append(q.pop())
        if not q:
            queues.remove(q)
    return out
