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


def _add(acc: list[int], xs: Sequence[int], sign: int) -> None:
    for i, x in enumerate(xs):
        acc[i] += sign * x


class ProtocolTotals:
    """A commission's protocol sums: its stations' own protocols (``pec``), their official
    figures, the votes moved between the two and the unanimous stations."""

    __slots__ = ("pec", "official", "moved", "n_pec", "n_official", "n_altered", "unanimous")

    def __init__(self, width: int) -> None:
        self.pec = [0] * width
        self.official = [0] * width
        self.moved = [0] * width
        self.n_pec = self.n_official = self.n_altered = 0
        self.unanimous = [0] * len(UNANIMOUS_KEYS)

    def add(
        self, own: Sequence[int] | None, official: Sequence[int] | None, d: Definition, sign: int
    ) -> None:
        """Put a station's contribution in (``sign`` 1) or take it out (-1)."""
        if own is not None:
            _add(self.pec, own, sign)
            self.n_pec += sign
        if official is not None:
            _add(self.official, official, sign)
            self.n_official += sign
            _add(self.unanimous, unanimity(official, d), sign)
            if own is not None:  # moved: official - own, where the station's own protocol is in
                for i, (o, p) in enumerate(zip(official, own, strict=True)):
                    self.moved[i] += sign * (o - p)
                self.n_altered += sign * (official != own)

    def wire(self) -> CommissionSums:
        return {
            "pec": list(self.pec),
            "official": list(self.official),
            "moved": list(self.moved),
            "n_pec": self.n_pec,
            "n_official": self.n_official,
            "n_altered": self.n_altered,
            "unanimous": list(self.unanimous),
        }


class ContestTotals:
    """A later contest's sums in a commission: its stations' own protocols and official figures."""

    __slots__ = ("pec", "official", "n_pec", "n_official")

    def __init__(self, width: int) -> None:
        self.pec = [0] * width
        self.official = [0] * width
        self.n_pec = self.n_official = 0

    def add(self, own: Sequence[int] | None, official: Sequence[int] | None, sign: int) -> None:
        if own is not None:
            _add(self.pec, own, sign)
            self.n_pec += sign
        if official is not None:
            _add(self.official, official, sign)
            self.n_official += sign

    def wire(self) -> ContestSums:
        return {
            "pec": list(self.pec),
            "official": list(self.official),
            "n_pec": self.n_pec,
            "n_official": self.n_official,
        }
