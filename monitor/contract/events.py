"""Event contract v1 (CONTRACT.md): decode with orjson, validate, and say precisely why not.

Each ``decode_*`` turns raw message bytes into a small typed record or raises
:class:`ContractError` with a stable ``code`` and a sentence. Unknown extra fields are
ignored; anything missing, mistyped, negative, or naming an unknown station is rejected.
This module imports nothing from Kafka, Faust or Redis.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.contract.values import (
    _TOKEN_RE,
    MAX_COUNT,
    MAX_SEQ,
    MAX_TIME,
    MAX_TOKEN,
    MAX_VERSION,
    count,
    field,
    text,
)
from monitor.election import load as load_definition
from monitor.errors import ContractError, show

if TYPE_CHECKING:  # the decoders read the registry they are given; nothing more is imported
    from monitor.contract.registry import Registry

# The 2007 drill's protocol fields, sources and summary levels (monitor/election/builtin/
# kz2007.yaml), for the code that is still written for its form: the decoders themselves read
# the registry's definition.
_KZ2007 = load_definition("kz2007")
SOURCES = _KZ2007.sources
SUMMARY_LEVELS = tuple(reversed(_KZ2007.summary_levels))
# The fixed figures of a protocol, in the order of the figures vector; party votes follow.
FIGURE_FIELDS = _KZ2007.fields
N_FIXED = len(FIGURE_FIELDS)

_INT_ONLY = frozenset((int,))


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The event times the contract accepts (inclusive). The default spans decades, so no
    time can overflow the clock; ``around`` gives an election's window."""

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, polls_close: datetime, before: timedelta, after: timedelta) -> TimeWindow:
        return cls(polls_close - before, polls_close + after)

    def describe(self) -> str:
        return f"{self.earliest.isoformat()} to {self.latest.isoformat()}"


DEFAULT_WINDOW = TimeWindow(datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


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
    contest: str = ""  # a later contest of the definition; "": the first (the ballot's)


@dataclass(slots=True)
class Summary:
    level: str
    unit_id: str
    version: int
    recorded_at: str
    stations_included: int
    figures: tuple[int, ...]
    contest: str = ""  # a later contest of the definition; "": the first (the ballot's)


@dataclass(slots=True)
class Evote:
    station_id: str
    voter_token: str
    issued_at: str


def _time(obj: dict[str, Any], name: str, window: TimeWindow) -> str:
    x = text(obj, name)
    try:
        if len(x) > MAX_TIME:
            raise ValueError
        t = datetime.fromisoformat(x)
    except ValueError:
        raise ContractError("bad_time", f"field {name!r} is not ISO 8601: {show(x)}") from None
    if t.tzinfo is None:
        raise ContractError("bad_time", f"field {name!r} has no UTC offset: {show(x)}")
    if not window.earliest <= t <= window.latest:
        raise ContractError(
            "out_of_range", f"field {name!r} is {x}, outside the accepted times ({window.describe()})"
        )
    return x


def _type(obj: dict[str, Any], expected: str) -> None:
    t = obj.get("type")
    if t != expected:
        raise ContractError("wrong_type", f"expected type {expected!r} on this topic, got {show(t)}")


def _figures(
    obj: dict[str, Any], parties: tuple[str, ...], fields: tuple[str, ...] = FIGURE_FIELDS
) -> tuple[int, ...]:
    """The figures vector; a fast path for well-formed figures, the precise checks otherwise."""
    figs = obj.get("figures")
    if type(figs) is dict:
        votes = figs.get("votes")
        if type(votes) is dict and len(votes) == len(parties) and parties:
            try:
                out = tuple([figs[f] for f in fields] + [votes[p] for p in parties])
            except KeyError:
                pass
            else:
                # C-level checks: every value exactly int (bool is not), none negative
                if _INT_ONLY.issuperset(map(type, out)) and min(out) >= 0 and max(out) <= MAX_COUNT:
                    return out
    return _figures_checked(obj, parties, fields)  # raises with the precise reason


def _figures_checked(
    obj: dict[str, Any], parties: tuple[str, ...], fields: tuple[str, ...]
) -> tuple[int, ...]:
    figs = field(obj, "figures")
    if type(figs) is not dict:
        raise ContractError("wrong_type", "field 'figures' must be an object")
    out = [count(figs, f) for f in fields]
    votes = figs.get("votes")
    if type(votes) is not dict:
        raise ContractError(
            "missing_field" if votes is None else "wrong_type",
            "field 'figures.votes' must be an object of party counts",
        )
    if not parties:
        raise ContractError("no_ballot", "the registry has no ballot record yet (no parties)")
    for p in parties:
        x = votes.get(p)
        if x is None:
            raise ContractError("missing_party", f"figures.votes has no count for party {p!r}")
        if type(x) is not int:
            raise ContractError("wrong_type", f"votes for {p!r} must be an integer, got {show(x)}")
        if not 0 <= x <= MAX_COUNT:
            code = "negative_count" if x < 0 else "out_of_range"
            raise ContractError(code, f"votes for {p!r} must be 0 to {MAX_COUNT:,}, got {show(x)}")
        out.append(x)
    if len(votes) != len(parties):
        extra = sorted(set(votes) - set(parties))
        raise ContractError("unknown_party", f"figures.votes names parties not on the ballot: {show(extra)}")
    return tuple(out)


def _station(obj: dict[str, Any], registry: Registry) -> str:
    """The station's id, as the registry's own string: every store keyed by it then shares
    one string per station, not one per event decoded (load/RESULTS.md, "Scale")."""
    sid = text(obj, "station_id")
    station = registry.stations.get(sid)
    if station is None:
        raise ContractError("unknown_station", f"station {show(sid)} is not in the registry")
    return station.station_id


def _version(obj: dict[str, Any], name: str, most: int = MAX_VERSION) -> int:
    x = count(obj, name, most)
    if x < 1:
        raise ContractError("wrong_type", f"field {name!r} must be >= 1, got {x}")
    return x


# The message key is not read: where an event belongs follows from what it is about, whatever
# key and partition the producer chose (monitor.tally.route).
def decode_turnout(obj: dict[str, Any], registry: Registry, window: TimeWindow = DEFAULT_WINDOW) -> Turnout:
    _type(obj, "turnout")
    return Turnout(
        _station(obj, registry),
        _version(obj, "seq", MAX_SEQ),
        _time(obj, "reported_at", window),
        count(obj, "registered"),
        count(obj, "added"),
        count(obj, "voted"),
    )


def decode_protocol(obj: dict[str, Any], registry: Registry, window: TimeWindow = DEFAULT_WINDOW) -> Protocol:
    _type(obj, "protocol")
    sid = _station(obj, registry)
    source = field(obj, "source")
    d = registry.definition
    if type(source) is not str or source not in d.sources:
        raise ContractError("bad_source", f"source must be one of {d.sources}, got {show(source)}")
    contest, selections = _contest(obj, registry, sid, f"station {show(sid)}")
    return Protocol(
        sid,
        sys.intern(source),  # one of the definition's few: one string, however many protocols
        _version(obj, "version"),
        _time(obj, "recorded_at", window),
        _figures(obj, selections, d.fields),
        contest,
    )


def _contest(obj: dict[str, Any], registry: Registry, place: str, what: str) -> tuple[str, tuple[str, ...]]:
    """(contest, its selections) of a protocol or summary: ("", the ballot's parties) for the
    first contest, named or not; a later contest only at a ``place`` (a station or unit) in or
    under the unit where it is held."""
    d = registry.definition
    contest = obj.get("contest")
    if contest is None or contest == d.contests[0].id:
        return "", registry.parties
    selections = d.selections.get(contest) if type(contest) is str else None
    if selections is None:
        raise ContractError(
            "unknown_contest", f"contest must be one of the definition's {d.contest_ids}, got {show(contest)}"
        )
    unit = d.contest(contest).unit
    if unit is not None and unit != place and unit not in registry.ancestors(place):
        raise ContractError(
            "wrong_contest", f"{what} is not in {show(unit)}, where contest {contest!r} is held"
        )
    return contest, selections


def decode_summary(obj: dict[str, Any], registry: Registry, window: TimeWindow = DEFAULT_WINDOW) -> Summary:
    _type(obj, "summary")
    level = field(obj, "level")
    d = registry.definition
    levels = d.summary_levels
    if type(level) is not str or level not in levels:
        raise ContractError("bad_level", f"level must be one of {levels[::-1]}, got {show(level)}")
    uid = text(obj, "unit_id")
    if level == d.top:
        known = uid == registry.top_id
    else:
        known = registry.unit_level.get(uid, _inferred_level(registry, uid)) == level
    if not known:
        raise ContractError("unknown_unit", f"{level} unit {show(uid)} is not in the registry")
    contest, selections = _contest(obj, registry, uid, f"{level} unit {show(uid)}")
    return Summary(
        level,
        uid,
        _version(obj, "version"),
        _time(obj, "recorded_at", window),
        count(obj, "stations_included"),
        _figures(obj, selections, d.fields),
        contest,
    )


def _inferred_level(registry: Registry, uid: str) -> str | None:
    """A unit known only through its stations (no unit record yet): its commission or region."""
    if uid in registry.tec_rec:
        return registry.commission_level
    if uid in registry.rec_tecs:
        return registry.region_level
    return None


def decode_evote(obj: dict[str, Any], registry: Registry, window: TimeWindow = DEFAULT_WINDOW) -> Evote:
    """An e-ballot, from ``evote`` or re-keyed by its voter token on ``evote-tokens``."""
    _type(obj, "evote")
    sid = _station(obj, registry)
    token = text(obj, "voter_token")
    if not _TOKEN_RE.fullmatch(token):
        raise ContractError(
            "wrong_type",
            f"voter_token must be 1 to {MAX_TOKEN} printable ASCII"
            f" characters without space, got {show(token)}",
        )
    return Evote(sid, token, _time(obj, "issued_at", window))


# Decoder per store kind (see monitor.tally.partition.KINDS).
DECODERS = {
    "turnout": decode_turnout,
    "protocols": decode_protocol,
    "summaries": decode_summary,
    "evote": decode_evote,
    "tokens": decode_evote,
}
