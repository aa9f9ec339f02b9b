"""The pools hostile inputs are drawn from, the shapes they travel in, and the paths into a
valid event they mutate (producers/hostile/feed.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from monitor import topics
from monitor.contract import FIGURE_FIELDS, MAX_COUNT, MAX_SEQ, MAX_TIME, MAX_VERSION
from monitor.settings import Settings

INPUT_TOPICS = (*topics.INPUTS, topics.ROUTED["tokens"])
MAX_BYTES = Settings().max_message_bytes  # sizes are drawn around the default limit


class Hostile(NamedTuple):
    topic: str  # unprefixed: an input topic, or "registry"
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Known:
    """A named hostile input (one or more messages) kept as a regression case."""

    name: str
    what: str
    inputs: tuple[Hostile, ...]
    flush_between: bool = False  # each message in a flush of its own: their order matters


class _Raw:
    """JSON text put in verbatim where it stands: what a serialiser would not write (a number
    no parser takes, nesting deeper than a recursive encoder goes, a lone surrogate escape,
    an object with a key twice)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def dumps(doc: Any, *, ascii_only: bool = True, indent: int | None = None) -> bytes:
    """``doc`` as JSON bytes, with :class:`_Raw` parts spliced in; with ``ascii_only`` False a
    lone surrogate goes out as the invalid UTF-8 a careless encoder writes."""
    raws: list[str] = []

    def swap(x: Any) -> str:  # json calls it for what it cannot encode: only _Raw here
        if not isinstance(x, _Raw):
            raise TypeError(f"cannot encode {type(x).__name__}")
        raws.append(x.text)
        return f"@raw{len(raws) - 1}@"

    text = json.dumps(
        doc,
        ensure_ascii=ascii_only,
        indent=indent,
        default=swap,
        separators=(",", ":") if indent is None else None,
    )
    for i, raw in enumerate(raws):
        text = text.replace(f'"@raw{i}@"', raw, 1)
    return text.encode("utf-8", "surrogatepass")


def _object_text(pairs: list[tuple[str, Any]]) -> _Raw:
    """An object whose keys may repeat (JSON allows it; parsers differ on which one wins)."""
    return _Raw(
        "{" + ",".join(f"{json.dumps(k)}:{dumps(v).decode('utf-8', 'surrogatepass')}" for k, v in pairs) + "}"
    )


def nested(depth: int, kind: str = "list", inner: str = "") -> str:
    """``depth`` levels of lists (``[[[...]]]``) or objects (``{"a":{"a":...}}``) as text."""
    if kind == "list":
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + (inner or "0") + "}" * depth


# -- the pools of values ------------------------------------------------------------------------
FIELD_CLASS = {
    **{f: "int" for f in FIGURE_FIELDS},
    "seq": "int",
    "version": "int",
    "registered": "int",
    "added": "int",
    "voted": "int",
    "stations_included": "int",
    "registered_baseline": "int",
    "reported_at": "time",
    "recorded_at": "time",
    "issued_at": "time",
    "station_id": "id",
    "unit_id": "id",
    "tec_id": "id",
    "rec_id": "id",
    "parent_id": "id",
    "voter_token": "id",
    "type": "enum",
    "source": "enum",
    "level": "enum",
    "v": "v",
    "evoting": "bool",
    "name": "text",
    "figures": "object",
    "votes": "object",
    "parties": "list",
}
WRONG_FOR_INT: tuple[Any, ...] = (
    "12",
    "0",
    "",
    "1e3",
    " 1",
    12.0,
    1.5,
    -0.0,
    True,
    False,
    None,
    [],
    [1],
    {},
    {"n": 1},
    "NaN",
    "١٢٣",
    "１２",
)
WRONG_FOR_STR: tuple[Any, ...] = (0, 1, -1, 1.5, True, False, None, [], ["ALR-1"], {}, {"id": "x"})
WRONG_FOR_OBJECT: tuple[Any, ...] = (None, [], "figures", 1, [1, 2], True, [{"registered": 1}])
NUMBERS: tuple[Any, ...] = (
    -1,
    0,
    1,
    2**31 - 1,
    2**31,
    2**32,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    MAX_COUNT,
    MAX_COUNT + 1,
    10**19,
    10**30,
    -(2**63),
    -(2**63) - 1,
    1e308,
    -1e308,
    5e-324,
    -0.0,
    0.0,
    1.0,
    0.5,
    float("inf"),
    float("-inf"),
    float("nan"),
    MAX_SEQ,
    MAX_SEQ + 1,
    MAX_VERSION,
    MAX_VERSION + 1,
)
RAW_NUMBERS = (
    "1e3",
    "1E+2",
    "-0",
    "01",
    "1.",
    ".5",
    "+1",
    "0x10",
    "1_000",
    "Infinity",
    "-Infinity",
    "NaN",
    "1E400",
    "-1E400",
    "123456789012345678901234567890",
    "1.0e-400",
    "--1",
    "1e",
    "0.0000000000000000000000001",
    "18446744073709551616",
    "-9223372036854775809",
    "1" * 5000,
)
TIMES = (
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+14:00",
    "2007-08-18T20:00:00",
    "2007-08-18",
    "garbage",
    "",
    "2007-08-18T20:00:00." + "1" * 30 + "+06:00",
    "2007-08-18T20:00:00." + "9" * 500 + "+06:00",
    "2007-08-18T20:00:00+06:00\n",
    "2007-08-18T20:00:00Z",
    "2007-08-18T20:00:00+24:00",
    "2007-02-30T20:00:00+06:00",
    "2007-08-18T20:00:00+06:00:00.5",
    "1989-12-31T23:59:59+00:00",
    "2100-01-01T00:00:00+00:00",
    "2100-01-01T00:00:00-00:01",
    "1990-01-01T00:00:00+00:00",
    "1990-01-01T00:00:00+00:01",
    "1970-01-01T00:00:00+00:00",
    "2007-08-18T20:00:00,5+06:00",
    "2007-08-18 20:00:00+06:00",
    "2007-W33-6T20:00:00+06:00",
    "20070818T200000+0600",
    "２００７-０８-１８T20:00:00+06:00",
    "2007-08-18T20:00:00+06:00\u200f",
    "2007-08-18T25:00:00+06:00",
    "2007-08-18T20:00:60+06:00",
    "2007-08-18T20:00:00-00:00",
    "2007-08-18T20:00:00+05:30:15",
    "  2007-08-18T20:00:00+06:00",
    "2007-08-18T20:00:00+06:00" + " " * (MAX_TIME - 25),
    "2007-08-18T20:00:00+06:00" + " " * MAX_TIME,
    "2007-08-18T20:00:00\x00+06:00",
    "T",
    "-",
    "2007-08-18T20:00:00+99:99",
)
V_VALUES: tuple[Any, ...] = (
    1.0,
    True,
    "1",
    2,
    0,
    -1,
    None,
    [1],
    {"v": 1},
    1 + 2**64,
    _Raw("1.0e0"),
    _Raw("1E0"),
    _Raw("01"),
)
TYPES: tuple[Any, ...] = (
    "turnout",
    "protocol",
    "summary",
    "evote",
    "finding",
    "rejected",
    "ballot",
    "station",
    "unit",
    "Turnout",
    "turnout ",
    "",
    None,
    1,
    ["turnout"],
)
ENUMS: tuple[Any, ...] = (
    "pec",
    "observer",
    "tec",
    "rec",
    "cec",
    "PEC",
    "pec ",
    "",
    "kz",
    "pec\n",
    "station",
    None,
    0,
    ["pec"],
)
UNICODE_SUFFIXES = (
    "\n",
    "\r\n",
    "\x00",
    "\u200f",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\u0301",
    "é",
    "\U0001f5f3",
    "\ud800",
    "\udfff",
    " ",
    "\t",
    "\\",
    '"',
    "\u2028",
)
LONE_SURROGATES = (
    '"\\ud800"',
    '"\\udfff"',
    '"ALR-1\\ud800"',
    '"\\ud800\\ud800"',
    '"\\udc00\\ud800"',
    '"\\u0000"',
    '"\\uZZZZ"',
    '"\\u12"',
)
WHOLE = "\x00whole"  # a doc holding only this key is that hand-written object
BYTE_PALETTE = (
    b"\x00",
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc0\x80",
    b"\xe2\x80",
    b"\xed\xa0\x80",
    b"\\",
    b'"',
    b"}",
    b"{",
    b",",
    b":",
    b"[",
    b"]",
    b" ",
    b"\n",
    b"\\u",
    b"1e999",
    b"-",
)


@dataclass(frozen=True, slots=True)
class _Base:
    topic: str
    key: bytes
    raw: bytes  # the valid message as the producer encoded it
    sid: str  # the station (unit for summaries, token for evote-tokens) it is about


def _paths(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in doc.items():
        out.append((*prefix, k))
        if type(v) is dict:
            out += _paths(v, (*prefix, k))
    return out


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _parent(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    parent: dict[str, Any] = _at(doc, path[:-1])
    return parent


def _class_of(path: tuple[str, ...]) -> str:
    if len(path) >= 2 and path[-2] == "votes":
        return "int"  # a party's count
    return FIELD_CLASS.get(path[-1], "text")
