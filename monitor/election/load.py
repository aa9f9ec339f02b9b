"""Load an election definition from a file or a built-in name, with one line per mistake.

Structure (types, required keys, unknown keys) is checked by the model; what the model cannot
see (a parent that is not the level above, a relation naming an unknown field, reports out of
order) is checked here. Every mistake found is reported, each on its own line, and
:class:`DefinitionError` carries them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from monitor.election.definition import Definition, zone
from monitor.election.expr import ExpressionError, compile_expression, compile_relation, figure_names
from monitor.election.model import DefinitionFile
from monitor.errors import ConfigError, read_input_file

__all__ = ["BUILTIN", "DefinitionError", "builtin_names", "load", "parse"]

BUILTIN = Path(__file__).with_name("builtin")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
MAX_BYTES = 4 * 1024 * 1024
# What the detectors read of every protocol, whatever its form calls it
REQUIRED_NAMES = {
    "registered": "the voters on the list: the base of turnout",
    "participants": "the voters who took part: the turnout of a protocol",
}


class DefinitionError(ConfigError):
    """A definition with mistakes: ``problems`` holds one line per mistake."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin, self.problems = origin, problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"election definition {origin}: {problems[0]}{more}")


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN.glob("*.yaml"))


def load(name_or_path: str | Path) -> Definition:
    """A built-in definition by name (``kz2007``) or a YAML/JSON file, checked and compiled."""
    text = str(name_or_path)
    path, origin = Path(text), text
    if not path.suffix and (BUILTIN / f"{text}.yaml").is_file():
        path, origin = BUILTIN / f"{text}.yaml", f"{text} (built in)"
    elif not path.is_file():
        known = ", ".join(builtin_names())
        raise ConfigError(f"election definition {text!r} is neither a file nor a built-in name ({known})")
    data = read_input_file(path, "election definition")
    if len(data) > MAX_BYTES:
        raise ConfigError(f"election definition {str(path)!r} has {len(data):,} bytes, at most {MAX_BYTES:,}")
    return parse(data, origin)


def parse(data: bytes | str, origin: str = "<text>") -> Definition:
    """Bytes of YAML or JSON to a Definition, or a DefinitionError listing every mistake."""
    raw = _read(data, origin)
    try:
        checked = DefinitionFile.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError(origin, _lines(exc.errors())) from None
    problems = list(_semantic(checked))
    if problems:
        raise DefinitionError(origin, problems)
    return Definition(checked, origin)


def _read(data: bytes | str, origin: str) -> Any:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        if text.lstrip().startswith("{"):
            return orjson.loads(text)
        return yaml.safe_load(text)
    except orjson.JSONDecodeError as exc:
        raise DefinitionError(origin, [f"not valid JSON: {exc}"]) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DefinitionError(origin, [f"not valid YAML{at}: {problem}"]) from None


def _lines(errors: list[Any]) -> list[str]:
    """One line per mistake; a container left too short only because an item in it was wrong
    is not a second mistake."""
    inner = {tuple(e["loc"][:n]) for e in errors for n in range(len(e["loc"]))}
    return [_line(e) for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in inner)]


def _line(err: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (a typo?)"
    elif err["type"] == "missing":
        msg = "required and missing"
    elif err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern", "").startswith(
        "^[a-z]"
    ):
        msg = f"{err['input']!r} must be lower-case letters, digits, _ (- in a desk), from a letter"
    return f"{where or 'the file'}: {msg}"


def _duplicates(where: str, ids: Iterable[str]) -> Iterable[str]:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            yield f"{where}: {i!r} appears twice"
        seen.add(i)


def _semantic(d: DefinitionFile) -> Iterable[str]:
    """Mistakes the model cannot see, each as a line."""
    yield from _check_levels(d)
    yield from _check_figures(d)
    yield from _check_contests(d)
    e = d.election
    try:
        zone(e.timezone)
    except ValueError as exc:
        yield f"election.timezone: {exc}"
    if e.polls_open >= e.polls_close:
        yield "election.polls_open: must be before polls_close"
    reports = d.turnout.reports
    if len(reports) > 48:
        yield "turnout.reports: at most 48 report times"
    if list(reports) != sorted(set(reports)):
        yield "turnout.reports: times must rise, each once"
    if reports and reports[-1] > e.polls_close:
        yield "turnout.reports: the last report is at or before polls_close"
    yield from _check_detectors(d)
    yield from _check_demo(d)
    second = d.levels[1]
    for unit in d.alerting.desks:
        if not re.fullmatch(_PLACEHOLDER.sub(".*", second.pattern), unit):
            yield f"alerting.desks: {unit!r} is not an id of level {second.id!r}"


def _check_levels(d: DefinitionFile) -> Iterable[str]:
    ids = [lv.id for lv in d.levels]
    yield from _duplicates("levels", ids)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", d.levels[0].pattern):
        yield "levels[0].pattern: the top level has one unit: its id, written out (KZ)"
    for i, lv in enumerate(d.levels):
        want = ids[i - 1] if i else None
        if lv.parent != want:
            should = f"{want!r} (the level above it)" if want else "absent (it is the top)"
            yield f"levels[{i}].parent: is {lv.parent!r}, must be {should}"
        for name in _PLACEHOLDER.findall(lv.pattern):
            if name not in ids[:i]:
                yield f"levels[{i}].pattern: {{{name}}} is not a level above {lv.id!r}"
    if d.levels[-1].summaries:
        yield f"levels[{len(ids) - 1}].summaries: the last level is the polling station: false"
    for i, s in enumerate(d.sources):
        if s.level is not None and s.level not in ids:
            yield f"sources[{i}].level: {s.level!r} is not a level"
    yield from _duplicates("sources", [s.id for s in d.sources])
    if not any(s.level == ids[-1] for s in d.sources):
        yield f"sources: one source is the station's own protocol (level: {ids[-1]})"


def _check_figures(d: DefinitionFile) -> Iterable[str]:
    names = [f.id for f in d.fields]
    yield from _duplicates("fields", names)
    yield from _duplicates("quantities", [q.id for q in d.quantities])
    yield from _duplicates("relations", [r.id for r in d.relations])
    compiled = figure_names(names)
    if "votes" in names:
        yield "fields: 'votes' is reserved for the sum of the selections' votes"
    for i, q in enumerate(d.quantities):
        if q.id in compiled:
            yield f"quantities[{i}].id: {q.id!r} is already a field or quantity"
            continue
        try:
            compiled[q.id] = compile_expression(q.expr, compiled)
        except ExpressionError as exc:
            yield f"quantities[{i}].expr: {exc}"
    for i, r in enumerate(d.relations):
        try:
            compile_relation(r.check, compiled, len(names))
        except ExpressionError as exc:
            yield f"relations[{i}].check: {exc}"
    for need, what in REQUIRED_NAMES.items():
        if need not in compiled:
            yield f"quantities: {need!r} ({what}) must be a field or a quantity"


def _check_contests(d: DefinitionFile) -> Iterable[str]:
    ids = [lv.id for lv in d.levels]
    yield from _duplicates("contests", [c.id for c in d.contests])
    for i, c in enumerate(d.contests):
        if c.level not in ids[:-1]:
            yield f"contests[{i}].level: {c.level!r} is not a level above the polling station"
        if c.selections is not None:
            if not c.selections:
                yield f"contests[{i}].selections: at least one selection, or leave it out"
            yield from _duplicates(f"contests[{i}].selections", [s.id for s in c.selections])
        if c.seats is not None and c.seats.method == "plurality" and c.seats.seats != 1:
            yield f"contests[{i}].seats: plurality elects one (seats: 1)"
        if c.unit is not None and c.level in ids:
            level = d.levels[ids.index(c.level)]
            if not re.fullmatch(_PLACEHOLDER.sub(".*", level.pattern), c.unit):
                yield f"contests[{i}].unit: {c.unit!r} is not an id of level {c.level!r}"
    if len(d.contests) > 1 and any(c.selections is None for c in d.contests):
        yield "contests: with several contests, each names its selections"


def _check_detectors(d: DefinitionFile) -> Iterable[str]:
    from monitor.election.thresholds import ForensicThresholds, Thresholds

    kinds = (Thresholds, ForensicThresholds)
    known = {f.name: f for t in kinds for f in dc_fields(t) if f.type in ("int", "float")}
    for key, value in d.detectors.items():
        f = known.get(key)
        if f is None:
            yield f"detectors.{key}: not a detector threshold (docs/detectors.md lists them)"
        elif f.type == "int" and not isinstance(value, int):
            yield f"detectors.{key}: must be a whole number"
        elif value < 0:
            yield f"detectors.{key}: must be >= 0"


def _check_demo(d: DefinitionFile) -> Iterable[str]:
    demo, by_id = d.demo, {s.id: s for s in d.sources}
    if demo.registered_median > demo.registered_max:
        yield "demo.registered_median: must not exceed registered_max"
    copied = dict(demo.copies)
    if demo.misread is not None:
        copied[demo.misread.source] = 1.0
    for source in copied:
        where = "demo.misread.source" if demo.misread and source == demo.misread.source else "demo.copies"
        if source not in by_id:
            yield f"{where}: {source!r} is not a source"
        elif by_id[source].level is not None:
            yield f"{where}: {source!r} is recorded by a commission; a copy is a source without a level"
