"""Which detectors run where (docs/architecture.md, "Findings"): plain dispatch, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

import orjson

from ..detect import Finding, Thresholds, detect_station
from ..errors import ConfigError, read_input_file
from ..registry import Registry
from ..settings import Settings


def stage_one(kind: str, docs: Mapping[str, dict[str, Any]],
              tokens: Mapping[str, Sequence[Sequence[str]]], registry: Registry,
              t: Thresholds) -> list[Finding]:  # fmt: skip
    """The findings one input partition can decide alone, for what changed since its last
    flush: ``docs`` are its station documents (one kind), ``tokens`` its voter tokens with
    more than one ballot."""
    out: list[Finding] = []
    stations = registry.stations
    if kind == "protocols":
        for sid, doc in docs.items():
            st = stations.get(sid)
            if st is not None:
                out += detect_station(sid, st.tec_id, {"protocols": doc}, registry.parties, t)
    return out


def stage_two(units: Mapping[str, dict[str, Any]], registry: Registry, t: Thresholds
              ) -> list[Finding]:  # fmt: skip
    """The findings about commissions' own figures, from the stage-two snapshot."""
    return []


def sweep(stations: Mapping[str, dict[str, Any]], units: Mapping[str, dict[str, Any]],
          registry: Registry, t: Thresholds, now: float) -> list[Finding]:  # fmt: skip
    """The findings that compare stations with each other or one station's kinds of data,
    over the whole station read model; ``now`` is the event-time clock (unix seconds)."""
    return []


def thresholds_from(settings: Settings) -> Thresholds:
    """The defaults, overridden by ``TABMON_THRESHOLDS_FILE`` (a JSON object, names as in
    :class:`~monitor.detect.Thresholds`)."""
    if not settings.thresholds_file:
        return Thresholds()
    raw = read_input_file(settings.thresholds_file, "thresholds file")
    try:
        given = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"thresholds file {settings.thresholds_file}: not JSON ({exc})") from None
    if not isinstance(given, dict):
        raise ConfigError(f"thresholds file {settings.thresholds_file}: must be a JSON object")
    known = {f.name: f for f in fields(Thresholds)}
    for name, value in given.items():
        f = known.get(name)
        if f is None:
            raise ConfigError(f"thresholds file {settings.thresholds_file}: unknown threshold"
                              f" {name!r} (known: {', '.join(sorted(known))})")  # fmt: skip
        if not _fits(value, getattr(Thresholds(), name)):
            default = getattr(Thresholds(), name)
            raise ConfigError(f"thresholds file {settings.thresholds_file}: {name} must be"
                              f" like its default {default!r}, got {value!r}")  # fmt: skip
    return replace(Thresholds(), **given)


def _fits(value: Any, default: Any) -> bool:
    if default is None:  # optional thresholds (e.g. a time) take a string or null
        return value is None or isinstance(value, str)
    if type(default) is float:
        return type(value) in (int, float)
    return type(value) is type(default)
