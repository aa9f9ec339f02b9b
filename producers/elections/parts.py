"""What every synthetic night is made of: timed events, the ground truth kept beside them,
and the integer arithmetic that splits totals without losing a vote.

Shared by the 2007-shaped generator (:mod:`producers.elections.synthetic`), the drill
(:mod:`producers.elections.kz2007.night`) and the night of any definition (:mod:`producers.elections.night`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Election", "TimedEvent", "Truth", "apportion", "cumulative", "soft_cap", "sum_figures"]


@dataclass(frozen=True, slots=True)
class TimedEvent:
    at: datetime  # the event's own time on the election clock (tz-aware, +06:00)
    topic: str  # "registry" | "turnout" | "protocols" | "summaries" | "evote"
    key: str  # station_id, unit_id, or "ballot" for the ballot record
    value: dict  # the JSON object per CONTRACT.md


@dataclass
class Truth:
    """Ground truth from the generator's own per-station numbers (not summed from events)."""

    station_tec: dict[str, str]
    station_rec: dict[str, str]
    pec: dict[str, dict]  # station -> final PEC protocol figures
    official: dict[str, dict]  # station -> figures of the highest source emitted (cec)
    turnout: dict[str, dict]  # station -> {"registered","added","voted"} of its last report
    evote_ballots: dict[str, int]  # station -> distinct evote ballots emitted (0 if none)
    # Optional (the 2007 drill fills them): final tec-source entry and observer copy per station
    tec: dict[str, dict] = field(default_factory=dict)
    observer: dict[str, dict] = field(default_factory=dict)


@dataclass
class Election:
    seed: int
    parties: tuple[str, ...]
    registry: list[dict]  # ballot record, RECs, TECs, then stations
    events: list[TimedEvent]  # every non-registry event, sorted by `at` (stable)
    truth: Truth


def apportion(total: int, weights: list[float], minimums: list[int] | None = None) -> list[int]:
    """Split ``total`` into integers: the minimums, then the rest by largest remainder."""
    n = len(weights)
    alloc = list(minimums) if minimums is not None else [0] * n
    rest = total - sum(alloc)
    if rest < 0:
        raise ValueError(f"cannot split {total} with minimums summing to {sum(alloc)}")
    wsum = sum(weights)
    if n == 0 or rest == 0:
        return alloc
    quotas = [rest * w / wsum for w in weights] if wsum > 0 else [rest / n] * n
    for i, q in enumerate(quotas):
        alloc[i] += int(q)
    left = total - sum(alloc)
    by_remainder = sorted(range(n), key=lambda i: (int(quotas[i]) - quotas[i], i))
    for i in by_remainder[:left]:
        alloc[i] += 1
    return alloc


def cumulative(rng: random.Random, curve: tuple[float, ...]) -> list[float]:
    """A jittered cumulative day curve ending exactly at 1.0."""
    parts = [c * rng.uniform(0.75, 1.25) for c in curve]
    total, acc, out = sum(parts), 0.0, []
    for p in parts:
        acc += p
        out.append(acc / total)
    out[-1] = 1.0
    return out


def soft_cap(x: float, cap: float = 0.93, knee: float = 0.88) -> float:
    """``x`` below the knee, then bending smoothly towards ``cap`` without reaching it. A hard
    ``min(cap, x)`` put every high-turnout station at exactly the cap: a mass at one whole
    percent that is the very signature the round-percent forensics look for."""
    if x <= knee:
        return x
    return cap - (cap - knee) * math.exp(-(x - knee) / (cap - knee))


def sum_figures(items: list[dict[str, Any]], parties: tuple[str, ...]) -> dict[str, Any]:
    """Named figures (fields, then ``votes`` per party) added up; nothing in: zeros."""
    out: dict[str, Any] = {k: 0 for k in (items[0] if items else {}) if k != "votes"}
    votes = dict.fromkeys(parties, 0)
    for f in items:
        for k in out:
            out[k] += f[k]
        for p in parties:
            votes[p] += f["votes"][p]
    out["votes"] = votes
    return out
