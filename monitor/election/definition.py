"""An election definition, compiled: what the contract, the tally and the detectors read.

:func:`monitor.election.load` builds one from a file; this module turns the checked file
(:class:`~monitor.election.model.DefinitionFile`) into patterns, relations and times that
are cheap to use on every event.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from monitor.election.expr import Linear, Relation, compile_expression, compile_relation, figure_names
from monitor.election.model import Contest, DefinitionFile, Level

__all__ = ["Definition", "UnitPattern"]

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")


@dataclass(frozen=True, slots=True)
class UnitPattern:
    """A level's id pattern with its ancestors' ids as named groups."""

    level: str
    regex: re.Pattern[str]
    ancestors: tuple[str, ...]  # the levels its placeholders name

    def match(self, unit_id: str) -> dict[str, str] | None:
        """The ancestors' ids the unit's id names, or None if the id does not fit."""
        m = self.regex.fullmatch(unit_id)
        return None if m is None else {a: m.group(a) for a in self.ancestors}


@dataclass(frozen=True)
class Definition:
    """One election, compiled. Everything here is derived from ``file`` and never changes."""

    file: DefinitionFile
    origin: str  # the file or built-in name it came from
    levels: tuple[str, ...] = field(init=False)  # top (the country) to the polling station
    fields: tuple[str, ...] = field(init=False)
    field_names: dict[str, str] = field(init=False)
    quantities: dict[str, Linear] = field(init=False)
    relations: tuple[tuple[str, Relation], ...] = field(init=False)  # (severity, relation)
    patterns: dict[str, UnitPattern] = field(init=False)
    tz: tzinfo = field(init=False)
    # read on every event: computed once
    sources: tuple[str, ...] = field(init=False)
    summary_levels: tuple[str, ...] = field(init=False)  # levels whose commissions publish summaries
    official_rank: dict[str, int] = field(init=False)  # a higher commission's figures win
    source_of_rank: dict[int, str] = field(init=False)
    rejected: int | None = field(init=False)  # index of the BallotsRejected field, if any
    participants: Linear = field(init=False)
    station_source: str | None = field(init=False)  # the station's own protocol
    selections: dict[str, tuple[str, ...]] = field(init=False)  # contest -> its selections' ids
    contest_ids: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        f = self.file
        put = object.__setattr__  # frozen: set once, here
        put(self, "levels", tuple(lv.id for lv in f.levels))
        put(self, "fields", tuple(x.id for x in f.fields))
        put(self, "field_names", {x.id: x.name for x in f.fields})
        names = figure_names(self.fields)
        quantities = {}
        for q in f.quantities:
            quantities[q.id] = names[q.id] = compile_expression(q.expr, names)
        put(self, "quantities", quantities)
        n = len(self.fields)
        put(self, "relations", tuple((r.severity, compile_relation(r.check, names, n)) for r in f.relations))
        put(self, "patterns", {lv.id: _pattern(lv, f.levels) for lv in f.levels})
        put(self, "tz", zone(f.election.timezone))
        put(self, "sources", tuple(s.id for s in f.sources))
        put(self, "summary_levels", tuple(lv.id for lv in f.levels[:-1] if lv.summaries))
        depth = {lv: len(self.levels) - i for i, lv in enumerate(self.levels)}
        put(self, "official_rank", {s.id: depth[s.level] for s in f.sources if s.level is not None})
        put(self, "source_of_rank", {r: s for s, r in self.official_rank.items()})
        rejected = [i for i, x in enumerate(f.fields) if x.cdf == "BallotsRejected"]
        put(self, "rejected", rejected[0] if rejected else None)
        put(self, "participants", names["participants"])
        own = [s.id for s in f.sources if s.level == self.levels[-1]]
        put(self, "station_source", own[0] if own else None)
        put(self, "selections", {c.id: tuple(s.id for s in c.selections or ()) for c in f.contests})
        put(self, "contest_ids", tuple(c.id for c in f.contests))

    # -- the levels ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.file.election.id

    @property
    def top(self) -> str:
        return self.levels[0]

    @property
    def station_level(self) -> str:
        return self.levels[-1]

    def parent_level(self, level: str) -> str | None:
        i = self.levels.index(level)
        return self.levels[i - 1] if i else None

    # -- contests -----------------------------------------------------------------------------
    @property
    def contests(self) -> tuple[Contest, ...]:
        return self.file.contests

    def contest(self, contest_id: str) -> Contest:
        for c in self.file.contests:
            if c.id == contest_id:
                return c
        raise KeyError(contest_id)

    # -- relations ----------------------------------------------------------------------------
    def broken(self, figures: Sequence[int], severity: str | None = None) -> list[str]:
        """The relations a figures vector (fields, then votes) breaks, as written."""
        return [
            r.text
            for sev, r in self.relations
            if (severity is None or sev == severity) and not r.holds(figures)
        ]

    def quantity(self, name: str, figures: Sequence[int]) -> int:
        """A named quantity or field of a figures vector."""
        q = self.quantities.get(name)
        return figures[self.fields.index(name)] if q is None else q(figures, len(self.fields))

    # -- time ---------------------------------------------------------------------------------
    def local(self, t: time) -> datetime:
        return datetime.combine(self.file.election.date, t, self.tz)

    @property
    def polls_open(self) -> datetime:
        return self.local(self.file.election.polls_open)

    @property
    def polls_close(self) -> datetime:
        return self.local(self.file.election.polls_close)

    @property
    def report_times(self) -> tuple[datetime, ...]:
        return tuple(self.local(t) for t in self.file.turnout.reports)


def zone(name: str) -> tzinfo:
    """An IANA zone or a fixed ``+HH:MM`` offset; ValueError if neither."""
    m = _OFFSET.fullmatch(name)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Asia/Almaty, or +06:00)"
        ) from None


def _pattern(level: Level, levels: Sequence[Level]) -> UnitPattern:
    """Expand ``{ancestor}`` placeholders into named groups of the ancestor's own pattern."""
    by_id = {lv.id: lv for lv in levels}
    names: list[str] = []

    def expand(lv: Level, outer: bool) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            inner = expand(by_id[name], False)
            if outer:
                names.append(name)
                return f"(?P<{name}>{inner})"
            return f"(?:{inner})"

        return _PLACEHOLDER.sub(sub, lv.pattern)

    return UnitPattern(level.id, re.compile(expand(level, True)), tuple(names))
