"""A clean protocol for any definition: its fields filled so that every relation holds.

The night decides what happened at a station (voters on the list, voters who took part,
invalid ballots, each selection's votes); this module writes the definition's form for it.
The equalities among the relations, with the anchors ``registered``, ``participants`` and
the BallotsRejected field, are solved one unknown at a time:

- an equality with one unknown left gives it;
- a sum of unknowns with a known total (``dpt + dptb + dpk = registered``) is shared out,
  the bulk to the first field;
- otherwise one unknown is left to be solved and the others get small counts (cancelled
  ballots, voters added on the day).

The draws are retried when a relation breaks; the last tries give each sum's first field
everything and the small counts zero, the plainest form (for counts near a bound).

The result is checked against every relation; a form that cannot be filled is a one-line
error naming the relations it breaks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from monitor.election import Definition
from monitor.election.expr import Linear, figure_names

__all__ = ["FormError", "FormFiller"]

_ATTEMPTS = 50


class FormError(ValueError):
    """A definition whose relations this filler cannot satisfy."""


class FormFiller:
    def __init__(self, definition: Definition) -> None:
        self.d = definition
        self.n = len(definition.fields)
        names = {**figure_names(definition.fields), **definition.quantities}
        self.registered, self.participants = names["registered"], names["participants"]
        self.equalities = [r.diff for _, r in definition.relations if r.op == "=="]

    def fill(
        self, rng: random.Random, registered: int, participants: int, invalid: int, votes: Sequence[int]
    ) -> list[int]:
        """The form's fields (in the definition's order) for one station's count."""
        anchors = [
            self.registered - Linear(const=registered),
            self.participants - Linear(const=participants),
        ]
        if self.d.rejected is not None:
            anchors.append(Linear(((self.d.rejected, 1),)) - Linear(const=invalid))
        broken: list[str] = []
        for attempt in range(_ATTEMPTS):
            # the last attempts put everything in the first field of each sum and leave the
            # small counts at zero: the plainest form, for counts near a bound
            plain = attempt >= _ATTEMPTS - 5
            fields = self._attempt(rng, [*self.equalities, *anchors], registered, sum(votes), plain)
            if fields is None:
                continue
            vector = [*fields, *votes]
            broken = self.d.broken(vector)
            if not broken and all(a(vector, self.n) == 0 for a in anchors):
                return fields
        raise FormError(
            f"cannot fill a clean {self.d.name} protocol"
            f" ({registered} registered, {participants} took part):"
            f" {', '.join(broken) or 'the anchors registered/participants conflict'}"
        )

    def _attempt(
        self, rng: random.Random, equations: list[Linear], registered: int, votes: int, plain: bool
    ) -> list[int] | None:
        values: dict[int, int] = {}
        small = 0 if plain else max(1, registered // 50)
        spread = 0.0 if plain else 0.03

        def state(eq: Linear) -> tuple[list[tuple[int, int]], int]:
            """(unknown terms, the known part)."""
            known = eq.const + eq.votes * votes + sum(c * values[i] for i, c in eq.terms if i in values)
            return [(i, c) for i, c in eq.terms if i not in values], known

        while len(values) < self.n:
            open_eqs = []
            solved = False
            for eq in equations:
                unknown, known = state(eq)
                if len(unknown) == 1:
                    i, c = unknown[0]
                    if known % c:
                        return None
                    values[i] = -known // c
                    solved = True
                elif unknown:
                    open_eqs.append((len(unknown), unknown, known))
            if solved:
                continue
            if not open_eqs:  # fields in no equality: small counts
                for i in range(self.n):
                    values.setdefault(i, rng.randint(0, small))
                break
            _, unknown, known = min(open_eqs, key=lambda e: e[0])
            target = -known  # sum(c * x) = target
            signs = {c > 0 for _, c in unknown}
            if len(signs) == 1 and all(abs(c) == 1 for _, c in unknown) and target * unknown[0][1] > 0:
                total = abs(target)
                rest = [round(total * rng.uniform(0.0, spread)) for _ in unknown[1:]]
                if sum(rest) > total:
                    return None
                for (i, _), v in zip(unknown, [total - sum(rest), *rest], strict=True):
                    values[i] = v
                continue
            keep = next((i for i, c in unknown if (c > 0) == (target > 0)), unknown[0][0])
            for i, _ in unknown:
                if i != keep:
                    values[i] = rng.randint(0, small)
        if any(v < 0 for v in values.values()):
            return None
        return [values[i] for i in range(self.n)]
