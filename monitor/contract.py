"""Event contract v1 (CONTRACT.md): decode with orjson, validate, and say precisely why not.

Each ``decode_*`` turns raw message bytes into a small typed record or raises
:class:`ContractError` with a stable ``code`` and a sentence. Unknown extra fields are
ignored; anything missing, mistyped, negative, or naming an unknown station is rejected.
This module imports nothing from Kafka, Faust or Redis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from .errors import ContractError
from .registry import CEC_ID, REC_CODES, Registry

VERSION = 1
SOURCES = ("pec", "observer", "tec", "rec", "cec")
SUMMARY_LEVELS = ("tec", "rec", "cec")
# The fixed figures of a protocol, in the order of the figures vector; party votes follow.
FIGURE_FIELDS = (
    "registered", "added", "ballots_received", "ballots_cancelled", "issued_in_station",
    "issued_mobile", "voted_electronic", "ballots_found", "invalid",
)  # fmt: skip
N_FIXED = len(FIGURE_FIELDS)

_INT_ONLY = frozenset((int,))
_STATION_RE = re.compile(r"^([A-Z]{3})-([0-9]+)$")
_TEC_RE = re.compile(r"^([A-Z]{3})-T[0-9]{2,}$")


@dataclass(slots=True)
class Turnout:
    station_id: str
    seq: int
    reported_at: str
    registered: int
    added: int
    voted: int


@dataclass(slots=True)
class Protocol:
    station_id: str
    source: str
    version: int
    recorded_at: str
    figures: tuple[int, ...]  # FIGURE_FIELDS then votes in ballot order


@dataclass(slots=True)
class Summary:
    level: str
    unit_id: str
    version: int
    recorded_at: str
    stations_included: int
    figures: tuple[int, ...]


@dataclass(slots=True)
class Evote:
    station_id: str
    voter_token: str
    issued_at: str



def parse(raw: bytes, max_bytes: int) -> dict[str, Any]:
    """Bytes to a JSON object of contract version 1, or a ContractError."""
    if len(raw) > max_bytes:
        raise ContractError("oversized", f"message of {len(raw)} bytes exceeds {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError("malformed_json", f"not valid JSON: {exc}") from None
    if type(obj) is not dict:
        raise ContractError("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    v = obj.get("v")
    if v != VERSION or type(v) is not int:
        raise ContractError("bad_version", f"field 'v' must be {VERSION}, got {v!r}")
    return obj


def _field(obj: dict[str, Any], name: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise ContractError("missing_field", f"missing required field {name!r}") from None


def _count(obj: dict[str, Any], name: str) -> int:
    x = _field(obj, name)
    if type(x) is not int:
        raise ContractError("wrong_type", f"field {name!r} must be an integer, got {x!r}")
    if x < 0:
        raise ContractError("negative_count", f"field {name!r} must be >= 0, got {x}")
    return x


def _text(obj: dict[str, Any], name: str) -> str:
    x = _field(obj, name)
    if type(x) is not str or not x:
        raise ContractError("wrong_type", f"field {name!r} must be a non-empty string, got {x!r}")
    return x


def _time(obj: dict[str, Any], name: str) -> str:
    x = _text(obj, name)
    try:
        t = datetime.fromisoformat(x)
    except ValueError:
        raise ContractError("bad_time", f"field {name!r} is not ISO 8601: {x!r}") from None
    if t.tzinfo is None:
        raise ContractError("bad_time", f"field {name!r} has no UTC offset: {x!r}")
    return x


def _type(obj: dict[str, Any], expected: str) -> None:
    t = obj.get("type")
    if t != expected:
        raise ContractError("wrong_type", f"expected type {expected!r} on this topic, got {t!r}")


def _figures(obj: dict[str, Any], parties: tuple[str, ...]) -> tuple[int, ...]:
    """The figures vector; a fast path for well-formed figures, the precise checks otherwise."""
    figs = obj.get("figures")
    if type(figs) is dict:
        votes = figs.get("votes")
        if type(votes) is dict and len(votes) == len(parties) and parties:
            try:
                out = tuple([figs[f] for f in FIGURE_FIELDS] + [votes[p] for p in parties])
            except KeyError:
                pass
            else:
                # C-level checks: every value exactly int (bool is not), none negative
                if _INT_ONLY.issuperset(map(type, out)) and min(out) >= 0:
                    return out
    return _figures_checked(obj, parties)  # raises with the precise reason


def _figures_checked(obj: dict[str, Any], parties: tuple[str, ...]) -> tuple[int, ...]:
    figs = _field(obj, "figures")
    if type(figs) is not dict:
        raise ContractError("wrong_type", "field 'figures' must be an object")
    out = [_count(figs, f) for f in FIGURE_FIELDS]
    votes = figs.get("votes")
    if type(votes) is not dict:
        raise ContractError("missing_field" if votes is None else "wrong_type",
                            "field 'figures.votes' must be an object of party counts")  # fmt: skip
    if not parties:
        raise ContractError("no_ballot", "the registry has no ballot record yet (no parties)")
    for p in parties:
        x = votes.get(p)
        if x is None:
            raise ContractError("missing_party", f"figures.votes has no count for party {p!r}")
        if type(x) is not int:
            raise ContractError("wrong_type", f"votes for {p!r} must be an integer, got {x!r}")
        if x < 0:
            raise ContractError("negative_count", f"votes for {p!r} must be >= 0, got {x}")
        out.append(x)
    if len(votes) != len(parties):
        extra = sorted(set(votes) - set(parties))
        raise ContractError("unknown_party", f"figures.votes names parties not on the ballot: {extra}")
    return tuple(out)


def _known_station(obj: dict[str, Any], registry: Registry) -> str:
    sid = _text(obj, "station_id")
    if sid not in registry.stations:
        raise ContractError("unknown_station", f"station {sid!r} is not in the registry")
    return sid


def _station(obj: dict[str, Any], registry: Registry, key: bytes | None) -> str:
    sid = _known_station(obj, registry)
    _keyed(key, sid, "station_id")
    return sid


def _keyed(key: bytes | None, expected: str, name: str) -> None:
    """Per-partition state needs every event of a station (unit, token) in one partition: the
    key must be there and be the id. An unkeyed event could land in a second partition and
    be counted twice."""
    if key is None:
        raise ContractError("missing_key", f"message has no key; it must be the {name} {expected!r}")
    if key != expected.encode():
        raise ContractError("key_mismatch", f"message key {key!r} is not the {name} {expected!r}")


def _version(obj: dict[str, Any], name: str) -> int:
    x = _count(obj, name)
    if x < 1:
        raise ContractError("wrong_type", f"field {name!r} must be >= 1, got {x}")
    return x


def decode_turnout(obj: dict[str, Any], registry: Registry, key: bytes | None) -> Turnout:
    _type(obj, "turnout")
    return Turnout(
        _station(obj, registry, key), _version(obj, "seq"), _time(obj, "reported_at"),
        _count(obj, "registered"), _count(obj, "added"), _count(obj, "voted"),
    )  # fmt: skip


def decode_protocol(obj: dict[str, Any], registry: Registry, key: bytes | None) -> Protocol:
    _type(obj, "protocol")
    sid = _station(obj, registry, key)
    source = _field(obj, "source")
    if source not in SOURCES:
        raise ContractError("bad_source", f"source must be one of {SOURCES}, got {source!r}")
    return Protocol(sid, source, _version(obj, "version"), _time(obj, "recorded_at"),
                    _figures(obj, registry.parties))  # fmt: skip


def decode_summary(obj: dict[str, Any], registry: Registry, key: bytes | None) -> Summary:
    _type(obj, "summary")
    level = _field(obj, "level")
    if level not in SUMMARY_LEVELS:
        raise ContractError("bad_level", f"level must be one of {SUMMARY_LEVELS}, got {level!r}")
    uid = _text(obj, "unit_id")
    known = {"cec": uid == CEC_ID, "rec": uid in registry.rec_tecs, "tec": uid in registry.tec_rec}
    if not known[level]:
        raise ContractError("unknown_unit", f"{level} unit {uid!r} is not in the registry")
    _keyed(key, uid, "unit_id")
    return Summary(level, uid, _version(obj, "version"), _time(obj, "recorded_at"),
                   _count(obj, "stations_included"), _figures(obj, registry.parties))  # fmt: skip


def _evote(obj: dict[str, Any], registry: Registry) -> Evote:
    _type(obj, "evote")
    return Evote(_known_station(obj, registry), _text(obj, "voter_token"), _time(obj, "issued_at"))


def decode_evote(obj: dict[str, Any], registry: Registry, key: bytes | None) -> Evote:
    e = _evote(obj, registry)
    _keyed(key, e.station_id, "station_id")
    return e


def decode_token_ballot(obj: dict[str, Any], registry: Registry, key: bytes | None) -> Evote:
    """An e-ballot re-keyed by its voter token (internal topic ``evote-tokens``)."""
    e = _evote(obj, registry)
    _keyed(key, e.voter_token, "voter_token")
    return e


# Decoder per store kind (see monitor.tally.partition.KINDS).
DECODERS = {
    "turnout": decode_turnout, "protocols": decode_protocol,
    "summaries": decode_summary, "evote": decode_evote, "tokens": decode_token_ballot,
}  # fmt: skip


def validate_registry_record(obj: Any) -> None:
    """Check one registry record (unit, station or the ballot extension)."""
    if type(obj) is not dict:
        raise ContractError("not_an_object", "a registry record must be a JSON object")
    if obj.get("v") != VERSION or type(obj.get("v")) is not int:  # as parse(): not True, 1.0
        raise ContractError("bad_version", f"field 'v' must be {VERSION}, got {obj.get('v')!r}")
    kind = obj.get("type")
    if kind == "ballot":
        parties = _field(obj, "parties")
        if (type(parties) is not list or not parties
                or not all(type(p) is str and p for p in parties)
                or len(set(parties)) != len(parties)):  # fmt: skip
            raise ContractError("wrong_type", "ballot 'parties' must be a list of distinct names")
    elif kind == "unit":
        level, uid, parent = _field(obj, "level"), _text(obj, "unit_id"), _text(obj, "parent_id")
        _text(obj, "name")
        if level == "rec":
            if uid not in REC_CODES or parent != CEC_ID:
                raise ContractError("unknown_unit", f"REC {uid!r} must be a region code under KZ")
        elif level == "tec":
            m = _TEC_RE.match(uid)
            if not m or m.group(1) != parent or parent not in REC_CODES:
                raise ContractError("unknown_unit", f"TEC {uid!r} must be '<rec>-Tnn' under {parent!r}")
        else:
            raise ContractError("bad_level", f"unit level must be 'rec' or 'tec', got {level!r}")
    elif kind == "station":
        sid, tec, rec = _text(obj, "station_id"), _text(obj, "tec_id"), _text(obj, "rec_id")
        _text(obj, "name")
        _count(obj, "registered_baseline")
        if type(obj.get("evoting")) is not bool:
            raise ContractError("wrong_type", "field 'evoting' must be true or false")
        m = _STATION_RE.match(sid)
        if not m or m.group(1) != rec or rec not in REC_CODES or not tec.startswith(rec + "-T"):
            raise ContractError("unknown_unit",
                                f"station {sid!r} must be '<rec>-<n>' in a TEC of its REC")  # fmt: skip
    else:
        raise ContractError("unknown_type", f"unknown registry record type {kind!r}")
