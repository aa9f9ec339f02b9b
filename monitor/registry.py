"""The station registry: CEC, RECs, TECs, stations and the ballot.

Loaded from a file (a JSON array or JSON lines of registry records) and from the compacted
``registry`` topic. Registry records follow CONTRACT.md; the ``ballot`` record is a documented
extension (docs/contract.md) that names the parties in ballot order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError, ContractError, read_input_file

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


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    tec_id: str
    rec_id: str
    name: str
    registered_baseline: int
    evoting: bool


@dataclass(slots=True)
class Registry:
    """What the monitor knows of the commissions. Mutable: the registry topic updates it live."""

    parties: tuple[str, ...] = ()
    stations: dict[str, Station] = field(default_factory=dict)
    tec_rec: dict[str, str] = field(default_factory=dict)  # tec_id -> rec_id
    names: dict[str, str] = field(default_factory=lambda: {CEC_ID: "Central Election Commission"})
    # rec_id -> tec ids, tec_id -> station ids, in the order they were registered
    rec_tecs: dict[str, list[str]] = field(default_factory=dict)
    tec_stations: dict[str, list[str]] = field(default_factory=dict)

    def apply(self, record: dict[str, Any]) -> None:
        """Add or replace one registry record (already validated by the contract decoder)."""
        kind = record["type"]
        if kind == "ballot":
            self.parties = tuple(record["parties"])
        elif kind == "unit":
            uid = record["unit_id"]
            self.names[uid] = record["name"]
            if record["level"] == "rec":
                self.rec_tecs.setdefault(uid, [])
            else:
                rec = record["parent_id"]
                self.tec_rec[uid] = rec
                tecs = self.rec_tecs.setdefault(rec, [])
                if uid not in tecs:
                    tecs.append(uid)
                self.tec_stations.setdefault(uid, [])
        elif kind == "station":
            st = Station(
                record["station_id"],
                record["tec_id"],
                record["rec_id"],
                record["name"],
                record["registered_baseline"],
                record["evoting"],
            )
            old = self.stations.get(st.station_id)
            if old is not None and old.tec_id != st.tec_id:
                self.tec_stations[old.tec_id].remove(st.station_id)
            self.stations[st.station_id] = st
            members = self.tec_stations.setdefault(st.tec_id, [])
            if old is None or old.tec_id != st.tec_id:
                members.append(st.station_id)
            self.tec_rec.setdefault(st.tec_id, st.rec_id)
            tecs = self.rec_tecs.setdefault(st.rec_id, [])
            if st.tec_id not in tecs:
                tecs.append(st.tec_id)

    def level_of(self, unit_id: str) -> str:
        if unit_id == CEC_ID:
            return "cec"
        if unit_id in self.rec_tecs:
            return "rec"
        if unit_id in self.tec_rec:
            return "tec"
        if unit_id in self.stations:
            return "pec"
        raise KeyError(unit_id)

    def stations_in(self, unit_id: str) -> int:
        """How many stations a unit has (for reporting coverage)."""
        level = self.level_of(unit_id)
        if level == "cec":
            return len(self.stations)
        if level == "rec":
            return sum(len(self.tec_stations.get(t, ())) for t in self.rec_tecs[unit_id])
        if level == "tec":
            return len(self.tec_stations.get(unit_id, ()))
        return 1

    def summary(self) -> str:
        return (
            f"{len(self.rec_tecs)} RECs, {len(self.tec_rec)} TECs, {len(self.stations)} stations,"
            f" {len(self.parties)} parties"
        )


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


def build(records: Iterable[dict[str, Any]], source: str = "registry") -> Registry:
    """Validate and apply registry records in order; a bad record is a one-line ConfigError."""
    from .contract import validate_registry_record

    reg = Registry()
    for i, rec in enumerate(records):
        try:
            validate_registry_record(rec)
        except ContractError as exc:
            raise ConfigError(f"{source}: record {i + 1}: {exc.detail}") from None
        reg.apply(rec)
    return reg
