"""The values every input record shares (docs/contract.md, "Bounds"): the contract version,
the bounds, and the checks of one field (present, an integer in range, a non-empty string, a
bounded name), each failing with a stable :class:`ContractError` code and a sentence."""

from __future__ import annotations

import re
from typing import Any

import orjson

from monitor.errors import ContractError, show

VERSION = 1

# -- the bounds (docs/contract.md, "Bounds") ---------------------------------------------------
# Every count: ten billion is more than the world's voters, so a sum over any registry that
# fits in memory stays far inside the 64-bit integers every figure is serialised as.
MAX_COUNT = 10_000_000_000
MAX_SEQ = 48  # turnout reports per station: one every half hour for a day
MAX_VERSION = 1_000  # versions of one (station, source) protocol or of one unit's summary
MAX_TOKEN = 128  # characters of a voter token (printable ASCII, no space)
MAX_NAME = 200  # characters of a unit's, station's or party's name in the registry
MAX_PARTIES = 500  # parties (or candidates) on the ballot
MAX_TIME = 40  # characters of an ISO 8601 time
# Ids are matched whole (``fullmatch``: ``$`` would let a final newline through).
_TOKEN_RE = re.compile(rf"[!-~]{{1,{MAX_TOKEN}}}")


def parse_json(raw: bytes | None) -> Any:
    """A message value as JSON, or ContractError ``malformed_json``."""
    if raw is None:
        raise ContractError("malformed_json", "the message has no value (a null, or a tombstone)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError("malformed_json", f"not valid JSON: {str(exc)[:200]}") from None


def parse(raw: bytes | None, max_bytes: int) -> dict[str, Any]:
    """Bytes to a JSON object of contract version 1, or a ContractError."""
    if raw is not None and len(raw) > max_bytes:
        raise ContractError("oversized", f"message of {len(raw)} bytes exceeds {max_bytes}")
    obj = parse_json(raw)
    if type(obj) is not dict:
        raise ContractError("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    v = obj.get("v")
    if v != VERSION or type(v) is not int:
        raise ContractError("bad_version", f"field 'v' must be {VERSION}, got {show(v)}")
    return obj


def field(obj: dict[str, Any], name: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise ContractError("missing_field", f"missing required field {name!r}") from None


def count(obj: dict[str, Any], name: str, most: int = MAX_COUNT) -> int:
    x = field(obj, name)
    if type(x) is not int:
        raise ContractError("wrong_type", f"field {name!r} must be an integer, got {show(x)}")
    if x < 0:
        raise ContractError("negative_count", f"field {name!r} must be >= 0, got {show(x)}")
    if x > most:
        raise ContractError("out_of_range", f"field {name!r} must be at most {most:,}, got {show(x)}")
    return x


def text(obj: dict[str, Any], name: str) -> str:
    x = field(obj, name)
    if type(x) is not str or not x:
        raise ContractError("wrong_type", f"field {name!r} must be a non-empty string, got {show(x)}")
    return x


def bounded_name(obj: dict[str, Any]) -> str:
    name = text(obj, "name")
    if len(name) > MAX_NAME:
        raise ContractError(
            "out_of_range", f"field 'name' has {len(name)} characters, at most {MAX_NAME} are accepted"
        )
    return name
