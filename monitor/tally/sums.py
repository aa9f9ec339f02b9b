"""A commission's sums, kept by deltas: what its stations add up to in one partition.

Each time a station's state changes (a protocol replaces another, a turnout report comes in,
an e-ballot), its old contribution is taken out of its commission's sums and its new one put
in. A flush then copies the sums of the commissions that changed, whatever their size: the
cost of an event does not grow with the election (load/RESULTS.md, "Scale"). The sums are
exactly what adding up the stations gives (tests/unit/test_sums.py holds them against it).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.election import Definition
from monitor.tally.shapes import CommissionSums, ContestSums

UNANIMOUS_KEYS = ("all", "over_200", "over_1000", "over_200_no_invalid")


def vsum(vectors: Sequence[Sequence[int]], width: int) -> list[int]:
    return [sum(col) for col in zip(*vectors, strict=True)] if vectors else [0] * width


def participants(f: Sequence[int], d: Definition) -> int:
    """Voters who took part, as the definition counts them (kz2007: everyone who received a
    ballot, in the station, by mobile box, or electronically)."""
    return d.participants(f, len(d.fields))


def unanimity(f: Sequence[int], d: Definition) -> tuple[int, int, int, int]:
    """(all, over_200, over_1000, over_200_no_invalid) as 0/1 for one station's figures.

    Unanimous: one party has every valid vote (report XIV: Nur Otan at hundreds of stations).
    over_200: more than 200 voters participated; over_1000: of those, more than 1,000 ballots
    counted (valid + invalid); over_200_no_invalid: of those over 200, not one invalid ballot.
    """
    votes = f[len(d.fields) :]
    valid = sum(votes)
    if valid == 0 or max(votes) != valid:
        return (0, 0, 0, 0)
    big = participants(f, d) > 200
    invalid = f[d.rejected] if d.rejected is not None else 0
    return (1, int(big), int(big and valid + invalid > 1000), int(big and invalid == 0))


Vec = Sequence[int]
Pair = tuple[Vec | None, Vec | None]  # a station's (own protocol's, official) figures, either absent


def _shift(acc: list[int], old: Vec | None, new: Vec | None) -> list[int]:
    """``acc`` with ``old`` taken out and ``new`` put in (either may be absent)."""
    if old is None:
        return acc if new is None else [a + x for a, x in zip(acc, new, strict=True)]
    if new is None:
        return [a - y for a, y in zip(acc, old, strict=True)]
    return [a + x - y for a, x, y in zip(acc, new, old, strict=True)]


def _moved(own: Vec | None, official: Vec | None) -> list[int] | None:
    """A station's votes moved (official - own) where both are in and differ (an altered
    station); None where it adds nothing."""
    if own is None or official is None or own is official or own == official:
        return None
    return [o - p for o, p in zip(official, own, strict=True)]


class ContestTotals:
    """A later contest's sums in a commission: its stations' own protocols and official figures."""

    __slots__ = ("pec", "official", "n_pec", "n_official")

    def __init__(self, width: int) -> None:
        self.pec = [0] * width
        self.official = [0] * width
        self.n_pec = self.n_official = 0

    def replace(self, old: Pair, new: Pair) -> None:
        (old_own, old_off), (new_own, new_off) = old, new
        if new_own is not old_own:
            self.pec = _shift(self.pec, old_own, new_own)
            self.n_pec += (new_own is not None) - (old_own is not None)
        if new_off is not old_off:
            self.official = _shift(self.official, old_off, new_off)
            self.n_official += (new_off is not None) - (old_off is not None)

    def wire(self) -> ContestSums:
        return {
            "pec": list(self.pec),
            "official": list(self.official),
            "n_pec": self.n_pec,
            "n_official": self.n_official,
        }


class ProtocolTotals(ContestTotals):
    """A commission's protocol sums: its stations' own protocols (``pec``), their official
    figures, the votes moved between the two and the unanimous stations."""

    __slots__ = ("moved", "n_altered", "unanimous")

    def __init__(self, width: int) -> None:
        super().__init__(width)
        self.moved = [0] * width
        self.n_altered = 0
        self.unanimous = [0] * len(UNANIMOUS_KEYS)

    def replace(self, old: Pair, new: Pair, d: Definition | None = None) -> None:
        """A station's contribution changed from ``old`` to ``new``, each (its own protocol's
        figures, its official figures), either absent."""
        assert d is not None, "the first contest's sums need the definition (unanimity)"
        super().replace(old, new)
        (old_own, old_off), (new_own, new_off) = old, new
        if new_off is not old_off:
            self.unanimous = _shift(
                self.unanimous,
                None if old_off is None else unanimity(old_off, d),
                None if new_off is None else unanimity(new_off, d),
            )
        was, now = _moved(old_own, old_off), _moved(new_own, new_off)
        if was is not None or now is not None:
            self.moved = _shift(self.moved, was, now)
            self.n_altered += (now is not None) - (was is not None)

    def wire(self) -> CommissionSums:  # type: ignore[override]
        return {
            "pec": list(self.pec),
            "official": list(self.official),
            "moved": list(self.moved),
            "n_pec": self.n_pec,
            "n_official": self.n_official,
            "n_altered": self.n_altered,
            "unanimous": list(self.unanimous),
        }
