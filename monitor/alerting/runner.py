"""Which detectors run where (docs/architecture.md, "Findings"): plain dispatch, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from monitor.contract import Registry
from monitor.detect import Finding, Thresholds, sweep_findings, token_findings, unit_findings
from monitor.detect.catalogue import station_findings
from monitor.detect.forensics import forensic_findings
from monitor.election import Definition
from monitor.election.thresholds import ForensicThresholds, of_definition
from monitor.errors import ConfigError, read_input_file
from monitor.settings import Settings

Errors = list[tuple[str, Exception]]  # (what was being looked at, what it raised)


def stage_one(
    kind: str,
    docs: Mapping[str, Mapping[str, Any]],
    tokens: Mapping[str, Sequence[Sequence[str]]],
    registry: Registry,
    t: Thresholds,
    errors: Errors | None = None,
) -> list[Finding]:
    """The findings one input partition can decide alone, for what changed since its last
    flush: ``docs`` are its station documents (one kind), ``tokens`` its voter tokens with
    more than one ballot. A detector that raises on one station or token (a bug) costs that
    one's findings, never the others' nor the flush: the error goes to ``errors``."""
    out: list[Finding] = []
    for sid, doc in docs.items():
        try:
            out += station_findings(kind, sid, doc, registry, t)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - collected for the caller to count and log
            _collect(errors, f"station {sid}", exc)
    for token, ballots in tokens.items():
        try:
            out += token_findings(token, ballots, registry)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001
            _collect(errors, f"voter token {token}", exc)
    return out


def _collect(errors: Errors | None, what: str, exc: Exception) -> None:
    if errors is None:
        raise exc
    errors.append((what, exc))


def stage_two(
    units: Mapping[str, Mapping[str, Any]], registry: Registry, t: Thresholds, read_to: float | None = None
) -> list[Finding]:
    """The findings about commissions' own figures, from the stage-two snapshot; ``read_to``:
    the event time every input partition was read to (see :func:`monitor.detect.unit_findings`)."""
    return unit_findings(units, t, read_to, registry.definition)


def sweep(
    stations: dict[str, dict[str, Any]],
    registry: Registry,
    t: Thresholds,
    now: float,
    ft: ForensicThresholds | None = None,
) -> list[Finding]:
    """The findings that compare stations with each other or one station's kinds of data,
    over the whole station read model, and the statistical signals per region; ``now`` is
    the event-time clock (unix seconds, 0 before any event)."""
    clock = datetime.fromtimestamp(now, UTC) if now else None
    forensic = forensic_findings(stations, registry, ft)
    return sweep_findings(stations, registry, t, clock) + forensic


def thresholds_from(settings: Settings, definition: Definition | None = None) -> Thresholds:
    """The defaults, overridden by the definition's ``detectors``, then by
    ``TABMON_THRESHOLDS_FILE`` (a JSON object, names as in :class:`~monitor.detect.Thresholds`),
    then by ``TABMON_POLLS_CLOSE``."""
    base = of_definition(definition)
    t = _from_file(settings, base) if settings.thresholds_file else base
    if settings.polls_close:  # validated by Settings
        t = replace(t, polls_close=datetime.fromisoformat(settings.polls_close))
    return t


def _from_file(settings: Settings, base: Thresholds) -> Thresholds:
    raw = read_input_file(settings.thresholds_file, "thresholds file")
    try:
        given = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"thresholds file {settings.thresholds_file}: not JSON ({exc})") from None
    if not isinstance(given, dict):
        raise ConfigError(f"thresholds file {settings.thresholds_file}: must be a JSON object")
    known = {f.name for f in fields(Thresholds)}
    values: dict[str, Any] = {}
    for name, value in given.items():
        if name not in known:
            raise ConfigError(
                f"thresholds file {settings.thresholds_file}: unknown threshold"
                f" {name!r} (known: {', '.join(sorted(known))})"
            )
        default = getattr(Thresholds(), name)
        converted = _convert(value, default)
        if converted is _BAD:
            raise ConfigError(
                f"thresholds file {settings.thresholds_file}: {name} must be"
                f" {_KIND.get(name, type(default).__name__)}, got {value!r}"
            )
        values[name] = converted
    try:
        return replace(base, **values)
    except ValueError as exc:
        raise ConfigError(f"thresholds file {settings.thresholds_file}: {exc}") from None


_BAD = object()
_KIND = {
    "polls_close": "an ISO 8601 time with a UTC offset, or null",
    "protocol_grace": "a number of seconds",
}


def _convert(value: Any, default: Any) -> Any:
    """A JSON value as the type of the threshold's default, or ``_BAD``."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _BAD
    if isinstance(default, timedelta):
        ok = type(value) in (int, float) and value >= 0
        return timedelta(seconds=value) if ok else _BAD
    if default is None or isinstance(default, datetime):  # polls_close: an ISO time or null
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else _BAD
        except ValueError:
            return _BAD
    if type(default) is float:
        return float(value) if type(value) in (int, float) else _BAD
    return value if type(value) is type(default) else _BAD
