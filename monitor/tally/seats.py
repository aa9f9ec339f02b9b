"""Seat allocation: party lists (largest remainder, highest averages) and plurality.

Written first for the Kazakhstan 2007 Majilis election:

The law (see report IV.B) gives 98 party-list seats to parties that reach 7 %
of the voters who *participated* -- not 7 % of the valid votes -- so spoilt
ballots make the threshold harder to reach.  All arithmetic is exact
(integers and ``Fraction``) because a single vote can decide qualification or
a last seat, and float rounding must never be the thing that decides it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction

METHODS = ("hare", "droop", "dhondt", "sainte_lague", "plurality")  # plurality: the most votes win


@dataclass(frozen=True, slots=True)
class SeatResult:
    # Every party in `votes`, 0 for those without seats, in the order of `votes`.
    seats: dict[str, int]
    # Parties that passed the threshold, in the order of `votes`.
    qualified: tuple[str, ...]
    # The number of votes needed to pass (threshold * participants).
    threshold_votes: float
    method: str


def allocate(
    votes: Mapping[str, int],
    participants: int,
    *,
    seats: int = 98,
    threshold: float = 0.07,
    method: str = "hare",
) -> SeatResult:
    """Allocate `seats` among the parties in `votes` that pass the threshold."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if seats < 1:
        raise ValueError(f"seats must be at least 1, got {seats}")
    # Written so that NaN fails too (every comparison with NaN is False).
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    if participants < 0:
        raise ValueError(f"participants must not be negative, got {participants}")
    for party, v in votes.items():
        if v < 0:
            raise ValueError(f"votes must not be negative, got {v} for party {party!r}")

    # Fraction(0.07) would be the binary float 0.07000000000000000666...,
    # which would wrongly fail a party at exactly 7 %; going through the
    # shortest decimal repr recovers the 7/100 the caller meant.
    share = Fraction(str(threshold))
    needed = share * participants
    order = {party: i for i, party in enumerate(votes)}
    qualified = tuple(p for p in votes if participants > 0 and votes[p] > 0 and votes[p] >= needed)

    result = dict.fromkeys(votes, 0)
    if qualified:
        won = (_largest_remainder if method in ("hare", "droop") else _highest_averages)(
            {p: votes[p] for p in qualified}, seats, method, order
        )
        result.update(won)
    return SeatResult(result, qualified, float(needed), method)


def _largest_remainder(
    votes: dict[str, int], seats: int, method: str, order: Mapping[str, int]
) -> dict[str, int]:
    total = sum(votes.values())
    quota = Fraction(total, seats) if method == "hare" else Fraction(total // (seats + 1) + 1)
    won = {p: int(v // quota) for p, v in votes.items()}
    # Droop's quota exceeds total/(seats+1), so the automatic seats can never
    # exceed `seats`; Hare's sum to at most `seats` by construction.
    remaining = seats - sum(won.values())
    # Largest remainder first; equal remainders go to the bigger party, then to
    # the one earlier on the ballot.
    ranked = sorted(votes, key=lambda p: (-(votes[p] / quota - won[p]), -votes[p], order[p]))
    # With Hare fewer seats remain than there are parties.  With Droop and a
    # vote total small relative to `seats`, more can remain; cycling through
    # the same ranking keeps the total exact and the outcome deterministic.
    for k in range(remaining):
        won[ranked[k % len(ranked)]] += 1
    return won


def _highest_averages(
    votes: dict[str, int], seats: int, method: str, order: Mapping[str, int]
) -> dict[str, int]:
    # D'Hondt divides by 1, 2, 3, ...; Sainte-Lague by 1, 3, 5, .... With one seat both (and
    # plurality) give it to the most votes.
    divisor: Callable[[int], int] = (lambda s: 2 * s + 1) if method == "sainte_lague" else (lambda s: s + 1)
    won = dict.fromkeys(votes, 0)
    for _ in range(seats):
        # Each seat goes to the largest exact quotient; ties to more votes,
        # then to ballot order.
        best = max(
            votes,
            key=lambda p: (Fraction(votes[p], divisor(won[p])), votes[p], -order[p]),
        )
        won[best] += 1
    return won
