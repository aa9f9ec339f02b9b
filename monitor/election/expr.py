"""Control relations and named quantities as expressions over a protocol's figures.

A relation is one comparison of two linear expressions: ``ballots_found <= issued_in_station +
issued_mobile``. Operands are field names, named quantities of the definition, whole numbers,
``votes`` (the sum of every selection's votes; ``sum(votes)`` says the same), ``+``, ``-``,
parentheses and multiplication by a whole number. ``=`` and ``==`` both mean equality.

Everything compiles to a :class:`Linear` form (a coefficient per figure and a constant), so a
relation is evaluated as one dot product and nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ExpressionError",
    "Linear",
    "Relation",
    "compile_expression",
    "compile_relation",
    "figure_names",
]

OPERATORS = ("==", "<=", ">=", "<", ">")
_TOKEN = re.compile(r"\s*(?:(?P<num>[0-9]+)|(?P<name>[a-z][a-z0-9_]*)|(?P<op>==|<=|>=|=|<|>|[-+*()]))")
MAX_EXPRESSION = 500  # characters


class ExpressionError(ValueError):
    """An expression that does not parse, names something unknown, or is not linear."""


@dataclass(frozen=True, slots=True)
class Linear:
    """``sum(coef * field) + votes_coef * sum(votes) + const``: an expression, compiled.

    Fields are indices into a protocol's figures vector (the definition's fields in order,
    then one count per selection); ``votes`` stands for the sum of every selection after them,
    however many the ballot has.
    """

    terms: tuple[tuple[int, int], ...] = ()  # (index of a field, coefficient)
    votes: int = 0  # coefficient of sum(votes)
    const: int = 0

    def __call__(self, figures: Sequence[int], n_fields: int) -> int:
        out = sum(c * figures[i] for i, c in self.terms) + self.const
        return out + self.votes * sum(figures[n_fields:]) if self.votes else out

    def __add__(self, other: Linear) -> Linear:
        return _combine(self, other, 1)

    def __sub__(self, other: Linear) -> Linear:
        return _combine(self, other, -1)

    def scaled(self, k: int) -> Linear:
        return Linear(tuple((i, c * k) for i, c in self.terms if c * k), self.votes * k, self.const * k)

    @property
    def constant(self) -> bool:
        return not self.terms and not self.votes


def _combine(a: Linear, b: Linear, sign: int) -> Linear:
    coef = dict(a.terms)
    for i, c in b.terms:
        coef[i] = coef.get(i, 0) + sign * c
    terms = tuple(sorted((i, c) for i, c in coef.items() if c))
    return Linear(terms, a.votes + sign * b.votes, a.const + sign * b.const)


@dataclass(frozen=True, slots=True)
class Relation:
    """``lhs op rhs`` over a figures vector; ``holds(figures)`` says whether a protocol keeps it."""

    text: str  # as written in the definition: the formula a finding quotes
    op: str
    diff: Linear  # lhs - rhs
    n_fields: int  # where the votes start in a figures vector

    def holds(self, figures: Sequence[int]) -> bool:
        d = self.diff(figures, self.n_fields)
        if self.op == "==":
            return d == 0
        if self.op == "<=":
            return d <= 0
        if self.op == ">=":
            return d >= 0
        if self.op == "<":
            return d < 0
        return d > 0


class _Parser:
    def __init__(self, text: str, names: Mapping[str, Linear]) -> None:
        if len(text) > MAX_EXPRESSION:
            raise ExpressionError(f"an expression has at most {MAX_EXPRESSION} characters")
        self.names = names
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ExpressionError(f"unexpected {text[pos:].strip()[:20]!r}")
            kind = m.lastgroup or ""
            value = m.group(kind)
            self.tokens.append((kind, "==" if value == "=" else value))
            pos = m.end()
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError("the expression ends too early")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if got != value:
            raise ExpressionError(f"expected {value!r}, got {got!r}")

    def done(self) -> None:
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r}")

    def sum_(self) -> Linear:
        out = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            rhs = self.product()
            out = out + rhs if op == "+" else out - rhs
        return out

    def product(self) -> Linear:
        out = self.unary()
        while self.peek() == "*":
            self.take()
            rhs = self.unary()
            if rhs.constant:
                out = out.scaled(rhs.const)
            elif out.constant:
                out = rhs.scaled(out.const)
            else:
                raise ExpressionError("only a whole number may multiply a figure (relations are linear)")
        return out

    def unary(self) -> Linear:
        if self.peek() == "-":
            self.take()
            return self.unary().scaled(-1)
        kind, value = self.take()
        if kind == "num":
            if len(value) > 12:
                raise ExpressionError(f"the number {value[:20]} is too large")
            return Linear(const=int(value))
        if value == "(":
            out = self.sum_()
            self.expect(")")
            return out
        if kind == "name":
            if value == "sum" and self.peek() == "(":
                self.take()
                kind2, inner = self.take()
                if inner != "votes":
                    raise ExpressionError("sum(...) takes only 'votes'")
                self.expect(")")
                value = "votes"
            try:
                return self.names[value]
            except KeyError:
                known = ", ".join(sorted(self.names))
                raise ExpressionError(f"unknown name {value!r} (known: {known})") from None
        raise ExpressionError(f"unexpected {value!r}")


def compile_expression(text: str, names: Mapping[str, Linear]) -> Linear:
    """A linear expression over ``names`` (each already compiled), or ExpressionError."""
    p = _Parser(text, names)
    out = p.sum_()
    p.done()
    return out


def compile_relation(text: str, names: Mapping[str, Linear], n_fields: int) -> Relation:
    """``lhs op rhs``, one comparison, or ExpressionError."""
    p = _Parser(text, names)
    lhs = p.sum_()
    op = p.peek()
    if op not in OPERATORS:
        raise ExpressionError("a relation compares two expressions with one of = <= >= < >")
    p.take()
    rhs = p.sum_()
    p.done()
    diff = lhs - rhs
    if diff.constant:
        raise ExpressionError("the relation compares no figure (it is always true or always false)")
    return Relation(" ".join(text.split()), op, diff, n_fields)


def figure_names(fields: Sequence[str]) -> dict[str, Linear]:
    """The names every expression starts from: each field by its index, and ``votes``."""
    names = {f: Linear(((i, 1),)) for i, f in enumerate(fields)}
    names["votes"] = Linear(votes=1)
    return names
