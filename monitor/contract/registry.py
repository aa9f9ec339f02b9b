"""The registry: the units of every level, the stations and the ballot, checked against the
election definition (docs/election-definition.md).

Loaded from a file (a JSON array or JSON lines of registry records) and from the compacted
``registry`` topic. Registry records follow CONTRACT.md; the ``ballot`` record is a documented
extension (docs/contract.md) that names the parties in ballot order. Contract v2 records name
a station's unit with ``parent_id``; v1 records of the kz2007 definition name its TEC and REC
(``tec_id``, ``rec_id``) and are accepted unchanged.

Whatever the depth, two levels have names of their own here, because the tally and the
detectors work on them: a station's *commission* (``tec_id``: the unit right above it, whose
stations stage one adds up together) and its *region* (``rec_id``: its unit on the level below
the top, where alerts are routed). In kz2007 they are its TEC and REC.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from monitor.contract.values import MAX_PARTIES, VERSION, bounded_name, count, text
from monitor.election import Definition, load
from monitor.errors import ConfigError, ContractError, read_input_file, show

# The 2007 drill's country and regions (kz2007.yaml holds the same codes as its rec pattern).
CEC_ID = "KZ"
REC_CODES: dict[str, str] = {
    "AKM": "Akmola",
    "AKT": "Aktobe",
    "ALR": "Almaty Region",
    "ATY": "Atyrau",
    "EKZ": "East Kazakhstan",
    "ZHA": "Zhambyl",
    "WKZ": "West Kazakhstan",
    "KAR": "Karaganda",
    "KOS": "Kostanai",
    "KZY": "Kyzylorda",
    "MAN": "Manghystau",
    "PAV": "Pavlodar",
    "NKZ": "North Kazakhstan",
    "SKZ": "South Kazakhstan",
    "AST": "Astana City",
    "ALA": "Almaty City",
}


@cache
def default_definition() -> Definition:
    """The definition a registry checks against when none is given: the 2007 drill's."""
    return load("kz2007")


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    tec_id: str  # its commission: the unit right above it
    rec_id: str  # its region: its unit on the level below the top
    name: str
    registered_baseline: int
    evoting: bool


@dataclass(slots=True)
class Registry:
    """What the monitor knows of the commissions. Mutable: the registry topic updates it live."""

    definition: Definition = field(default_factory=default_definition)
    parties: tuple[str, ...] = ()
    stations: dict[str, Station] = field(default_factory=dict)
    unit_level: dict[str, str] = field(default_factory=dict)  # every unit below the top -> level
    unit_parent: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)  # unit -> child units, in order
    # The commission and region views (see the module's docstring), in registration order.
    tec_rec: dict[str, str] = field(default_factory=dict)  # commission -> region
    rec_tecs: dict[str, list[str]] = field(default_factory=dict)  # region -> commissions
    tec_stations: dict[str, list[str]] = field(default_factory=dict)  # commission -> stations
    # what is computed from the records once (the units' registry figures): dropped at every
    # record, so a snapshot never walks every station unless the registry changed
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.names.setdefault(self.top_id, self.definition.file.levels[0].name)
        contests = self.definition.contests
        if not self.parties and contests[0].selections:
            # the ballot is in the definition: no ballot record is needed. A protocol that
            # names no contest is of the first one (contract v2)
            self.parties = tuple(s.id for s in contests[0].selections)

    # -- the definition's levels --------------------------------------------------------------
    @property
    def top_id(self) -> str:
        """The one unit of the top level (the country): its pattern is its id."""
        return self.definition.file.levels[0].pattern

    @property
    def commission_level(self) -> str:
        return self.definition.levels[-2]

    @property
    def region_level(self) -> str:
        return self.definition.levels[1]

    def ancestors(self, unit_id: str) -> list[str]:
        """The units above a unit or station, nearest first, up to the top (known ones only)."""
        st = self.stations.get(unit_id)
        out, uid = [], st.tec_id if st is not None else self.unit_parent.get(unit_id)
        while uid is not None and uid not in out:
            out.append(uid)
            uid = self.unit_parent.get(uid) if uid != self.top_id else None
        return out

    # -- records ------------------------------------------------------------------------------
    def apply(self, record: dict[str, Any]) -> None:
        """Add or replace one registry record (already validated by :meth:`validate`)."""
        self.derived.clear()
        kind = record["type"]
        if kind == "ballot":
            self.parties = tuple(record["parties"])
        elif kind == "unit":
            self._apply_unit(record["unit_id"], record["level"], record["parent_id"], record["name"])
        elif kind == "station":
            self._apply_station(record)

    def _apply_unit(self, uid: str, level: str, parent: str, name: str) -> None:
        self.names[uid] = name
        self.unit_level[uid] = level
        old = self.unit_parent.get(uid)
        if old != parent:
            if old is not None and uid in self.children.get(old, ()):
                self.children[old].remove(uid)
            self.unit_parent[uid] = parent
            self.children.setdefault(parent, []).append(uid)
        if level == self.region_level:
            self.rec_tecs.setdefault(uid, [])
        if level == self.commission_level:
            rec = self._region_of(uid)
            self.tec_rec[uid] = rec
            tecs = self.rec_tecs.setdefault(rec, [])
            if uid not in tecs:
                tecs.append(uid)
            self.tec_stations.setdefault(uid, [])

    def _region_of(self, uid: str) -> str:
        """The unit's region: itself on the region level, else the nearest known ancestor
        there; a unit whose chain is not yet registered falls back to its id's pattern."""
        if self.unit_level.get(uid) == self.region_level:
            return uid
        for a in self.ancestors(uid):
            if self.unit_level.get(a) == self.region_level:
                return a
        level = self.unit_level.get(uid, self.definition.station_level)
        named = self.definition.patterns[level].match(uid) or {}
        return named.get(self.region_level, self.unit_parent.get(uid, uid))

    def _apply_station(self, record: dict[str, Any]) -> None:
        sid = record["station_id"]
        # commissions' ids are shared by their stations: one string each, not one per station
        tec = sys.intern(record.get("parent_id") or record["tec_id"])
        old = self.stations.get(sid)
        if old is not None and old.tec_id != tec:
            self.tec_stations[old.tec_id].remove(sid)
        rec = sys.intern(record.get("rec_id") or self.tec_rec.get(tec) or self._region_of_station(sid, tec))
        self.stations[sid] = Station(
            sid, tec, rec, record["name"], record["registered_baseline"], record["evoting"]
        )
        members = self.tec_stations.setdefault(tec, [])
        if old is None or old.tec_id != tec:
            members.append(sid)
        self.tec_rec.setdefault(tec, rec)
        tecs = self.rec_tecs.setdefault(rec, [])
        if tec not in tecs:
            tecs.append(tec)

    def _region_of_station(self, sid: str, tec: str) -> str:
        if tec in self.unit_level:
            return self._region_of(tec)
        named = self.definition.patterns[self.definition.station_level].match(sid) or {}
        return named.get(self.region_level, tec)

    # -- questions ----------------------------------------------------------------------------
    def level_of(self, unit_id: str) -> str:
        if unit_id == self.top_id:
            return self.definition.top
        if unit_id in self.unit_level:
            return self.unit_level[unit_id]
        if unit_id in self.rec_tecs:
            return self.region_level
        if unit_id in self.tec_rec:
            return self.commission_level
        if unit_id in self.stations:
            return self.definition.station_level
        raise KeyError(unit_id)

    def stations_in(self, unit_id: str) -> int:
        """How many stations a unit has (for reporting coverage)."""
        level = self.level_of(unit_id)
        if level == self.definition.top:
            return len(self.stations)
        if level == self.definition.station_level:
            return 1
        if level == self.commission_level:
            return len(self.tec_stations.get(unit_id, ()))
        if level == self.region_level:
            return sum(len(self.tec_stations.get(t, ())) for t in self.rec_tecs[unit_id])
        return sum(1 for st in self.stations.values() if unit_id in self.ancestors(st.station_id))

    def summary(self) -> str:
        d = self.definition
        return (
            f"{len(self.rec_tecs)} {d.levels[1].upper()}s, {len(self.tec_rec)} {d.levels[-2].upper()}s,"
            f" {len(self.stations)} stations, {len(self.parties)} parties"
        )

    # -- checking records against the definition ----------------------------------------------
    def validate(self, obj: Any) -> None:
        """Check one registry record (unit, station or the ballot) against the definition."""
        validate_record(obj, self.definition)


def validate_record(obj: Any, definition: Definition | None = None) -> None:
    """One registry record checked against a definition (kz2007 if none); ContractError if bad."""
    d = definition or default_definition()
    if type(obj) is not dict:
        raise ContractError("not_an_object", "a registry record must be a JSON object")
    if obj.get("v") != VERSION or type(obj.get("v")) is not int:  # as parse(): not True, 1.0
        raise ContractError("bad_version", f"field 'v' must be {VERSION}, got {show(obj.get('v'))}")
    kind = obj.get("type")
    if kind == "ballot":
        parties = obj.get("parties")
        if (
            type(parties) is not list
            or not parties
            or len(parties) > MAX_PARTIES
            or not all(type(p) is str and p and len(p) <= 200 for p in parties)
            or len(set(parties)) != len(parties)
        ):
            if parties is None:
                raise ContractError("missing_field", "missing required field 'parties'")
            raise ContractError(
                "wrong_type",
                f"ballot 'parties' must be a list of 1 to {MAX_PARTIES} distinct names"
                " of at most 200 characters",
            )
    elif kind == "unit":
        _validate_unit(obj, d)
    elif kind == "station":
        _validate_station(obj, d)
    else:
        raise ContractError("unknown_type", f"unknown registry record type {show(kind)}")


def _validate_unit(obj: dict[str, Any], d: Definition) -> None:
    if "level" not in obj:
        raise ContractError("missing_field", "missing required field 'level'")
    level = obj["level"]
    uid, parent = text(obj, "unit_id"), text(obj, "parent_id")
    bounded_name(obj)
    inner = d.levels[1:-1]
    if type(level) is not str or level not in inner:
        raise ContractError("bad_level", f"unit level must be one of {', '.join(inner)}, got {show(level)}")
    named = d.patterns[level].match(uid)
    if named is None:
        raise ContractError(
            "unknown_unit",
            f"{level} {show(uid)} does not match the pattern {d.file.levels[d.levels.index(level)].pattern}",
        )
    above = d.parent_level(level)
    top = d.file.levels[0].pattern
    if above == d.top and parent != top:
        raise ContractError("unknown_unit", f"{level} {show(uid)} must be under {top}, not {show(parent)}")
    if above is not None and above != d.top:
        if d.patterns[above].match(parent) is None:
            raise ContractError(
                "unknown_unit", f"{level} {show(uid)}: parent {show(parent)} is not an id of level {above}"
            )
        if above in named and named[above] != parent:
            raise ContractError(
                "unknown_unit", f"{level} {show(uid)} names {above} {named[above]}, not {show(parent)}"
            )
    _ancestors_agree(uid, named, parent, above, d)


def _ancestors_agree(uid: str, named: dict[str, str], parent: str, above: str | None, d: Definition) -> None:
    """The ancestors an id names must be those of the parent it gives, as far as ids show."""
    if above is None or above == d.top:
        return
    parent_named = d.patterns[above].match(parent) or {}
    for level, ancestor in named.items():
        if level in parent_named and parent_named[level] != ancestor:
            raise ContractError(
                "unknown_unit",
                f"{show(uid)} names {level} {ancestor}, but its parent {show(parent)}"
                f" is in {parent_named[level]}",
            )


def _validate_station(obj: dict[str, Any], d: Definition) -> None:
    sid = text(obj, "station_id")
    bounded_name(obj)
    count(obj, "registered_baseline")
    if type(obj.get("evoting")) is not bool:
        raise ContractError("wrong_type", "field 'evoting' must be true or false")
    station, above = d.station_level, d.levels[-2]
    named = d.patterns[station].match(sid)
    if "parent_id" in obj:  # contract v2
        parent = text(obj, "parent_id")
    elif "tec_id" in obj or "rec_id" in obj:  # v1 (kz2007)
        parent, rec = text(obj, "tec_id"), text(obj, "rec_id")
        region = d.levels[1]
        tec_named = d.patterns[above].match(parent) or {}
        if (
            d.patterns[region].match(rec) is None
            or (named is not None and named.get(region, rec) != rec)
            or tec_named.get(region, rec) != rec
        ):
            raise ContractError(
                "unknown_unit",
                f"station {show(sid)} in {above} {show(parent)} must be '<rec>-<n>'"
                " in a TEC '<rec>-Tnn' of its REC",
            )
    else:
        raise ContractError("missing_field", "missing required field 'parent_id'")
    if named is None:
        raise ContractError(
            "unknown_unit",
            f"station {show(sid)} does not match the pattern {d.file.levels[-1].pattern} of level {station}",
        )
    if d.patterns[above].match(parent) is None:
        raise ContractError(
            "unknown_unit", f"station {show(sid)}: {show(parent)} is not an id of level {above}"
        )
    _ancestors_agree(sid, named, parent, above, d)


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Read registry records from a JSON array or JSON-lines file; one-line errors."""
    p = Path(path)
    data = read_input_file(p, "registry file")
    try:
        if data.lstrip().startswith(b"["):
            records = orjson.loads(data)
        else:
            records = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"registry file {str(p)!r} is not JSON or JSON lines: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"registry file {str(p)!r} must hold a list of JSON objects")
    return records


def build(
    records: Iterable[dict[str, Any]], source: str = "registry", definition: Definition | None = None
) -> Registry:
    """Validate and apply registry records in order; a bad record is a one-line ConfigError."""
    reg = Registry(definition or default_definition())
    for i, rec in enumerate(records):
        try:
            reg.validate(rec)
        except ContractError as exc:
            raise ConfigError(f"{source}: record {i + 1}: {exc.detail}") from None
        reg.apply(rec)
    return reg
