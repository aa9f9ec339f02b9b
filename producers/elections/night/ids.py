"""Unit and station ids written from a level's pattern: the n-th id a pattern can hold.

A definition's id patterns are regular expressions. This writes ids for the ones elections
use: literal text (escaped characters included), character classes with a repeat
(``[0-9]{2}``, ``[0-9]{1,6}``, ``[A-Z]``), ``{level}`` placeholders that stand for an
ancestor's id, and a top-level choice of literals (``AKM|AKT|ALR``). Any other construct is a
one-line error: give such an election its registry instead of a generated one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["IdWriter", "PatternNotWritable"]


class PatternNotWritable(ValueError):
    """A pattern this writer cannot enumerate."""


@dataclass(frozen=True, slots=True)
class _Class:
    alphabet: str
    least: int
    most: int


_CLASS = re.compile(r"\[([^\]]+)\](?:\{([0-9]+)(?:,([0-9]+))?\}|(\?))?")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_RANGES = re.compile(r"(.)-(.)|(.)")
_SPECIAL = set(".^$*+?()[]{}|\\")


def _alphabet(spec: str, pattern: str) -> str:
    if spec.startswith("^"):
        raise PatternNotWritable(f"a negated class [{spec}] in {pattern!r}")
    out: list[str] = []
    for m in _RANGES.finditer(spec):
        if m.group(3) is not None:
            out.append(m.group(3))
        else:
            lo, hi = m.group(1), m.group(2)
            out.extend(chr(c) for c in range(ord(lo), ord(hi) + 1))
    return "".join(sorted(set(out)))


def _tokens(pattern: str) -> list[str | _Class | tuple[str]]:
    """Literal text, classes, and ``(name,)`` for a placeholder."""
    out: list[str | _Class | tuple[str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])
            i += 2
        elif (m := _PLACEHOLDER.match(pattern, i)) is not None:
            out.append((m.group(1),))
            i = m.end()
        elif (m := _CLASS.match(pattern, i)) is not None:
            least = most = 1
            if m.group(2) is not None:
                least = int(m.group(2))
                most = int(m.group(3)) if m.group(3) is not None else least
            elif m.group(4):
                least = 0
            out.append(_Class(_alphabet(m.group(1), pattern), least, most))
            i = m.end()
        elif ch in _SPECIAL:
            raise PatternNotWritable(f"{pattern!r} uses {ch!r}")
        else:
            out.append(ch)
            i += 1
    return out


def _split_top(pattern: str) -> list[str]:
    """The pattern's top-level alternatives (outside classes and braces)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(pattern):
        if ch in "[{(" and (i == 0 or pattern[i - 1] != "\\"):
            depth += 1
        elif ch in "]})" and (i == 0 or pattern[i - 1] != "\\"):
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    return [*parts, pattern[start:]]


class IdWriter:
    """``writer.nth(n, ancestors)``: the n-th id (from 1) of a level under the given ancestors."""

    def __init__(self, level: str, pattern: str) -> None:
        self.level, self.pattern = level, pattern
        try:
            self.choices = [_tokens(p) for p in _split_top(pattern)]
        except PatternNotWritable as exc:
            raise PatternNotWritable(
                f"cannot write ids of level {level!r} from its pattern ({exc}): give the registry yourself"
            ) from None
        if len(self.choices) > 1 and any(not all(isinstance(t, str) for t in c) for c in self.choices):
            raise PatternNotWritable(
                f"cannot write ids of level {level!r} from {pattern!r}: a choice of literals only"
            )

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The ancestor levels an id names: ids are numbered anew under each of their values."""
        return tuple(t[0] for c in self.choices for t in c if isinstance(t, tuple))

    @property
    def capacity(self) -> int:
        """How many ids one parent's children can have (a large number if unbounded)."""
        if len(self.choices) > 1:
            return len(self.choices)
        classes = [t for t in self.choices[0] if isinstance(t, _Class)]
        if not classes:
            return 1
        last = classes[-1]
        return int(len(last.alphabet) ** last.most) - 1

    def nth(self, n: int, ancestors: dict[str, str]) -> str:
        if not 1 <= n <= self.capacity:
            raise PatternNotWritable(
                f"level {self.level!r}: pattern {self.pattern!r} holds {self.capacity} ids under one parent,"
                f" not {n}"
            )
        if len(self.choices) > 1:
            return "".join(str(t) for t in self.choices[n - 1])
        tokens = self.choices[0]
        classes = [i for i, t in enumerate(tokens) if isinstance(t, _Class)]
        out = []
        for i, t in enumerate(tokens):
            if isinstance(t, str):
                out.append(t)
            elif isinstance(t, tuple):
                out.append(ancestors[t[0]])
            else:
                out.append(_number(n if i == classes[-1] else 0, t))
        return "".join(out)


def _number(n: int, c: _Class) -> str:
    """``n`` written in the class's alphabet, at least ``c.least`` long (padded)."""
    base, digits = len(c.alphabet), []
    while n:
        n, r = divmod(n, base)
        digits.append(c.alphabet[r])
    text = "".join(reversed(digits))
    return c.alphabet[0] * max(0, max(c.least, 1 if c.most else 0) - len(text)) + text
