"""Small helpers shared by unit and integration tests."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
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


def load_fuzz() -> Any:
    """load/fuzz.py as a module (a script, not a package): the harness the fuzz tests drive."""
    return load_script("fuzz")


def load_script(name: str) -> Any:
    """load/<name>.py as a module (a script, not a package)."""
    path = Path(__file__).resolve().parent.parent / "load" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tabmon_load_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
