"""Hostile registry records: mutations of valid unit, station and ballot records (the
registry part of :class:`producers.hostile.mutations.HostileInputs`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from monitor.contract import MAX_COUNT, MAX_NAME, MAX_PARTIES
from producers.hostile.values import Hostile, _Base, _Raw, nested


class RegistryMutations:
    """Mixed into HostileInputs: every method reads its ``rng`` and helpers."""

    # -- the registry -----------------------------------------------------------------------
    def registry_labelled(self, n: int) -> Iterator[tuple[str, Hostile]]:
        """``n`` hostile registry records (units, stations, the ballot), with their mutation."""
        rng = self.rng
        names = [
            "wrong_type",
            "size",
            "nesting",
            "unicode",
            "number",
            "id",
            "missing",
            "extra",
            "duplicate_key",
            "version_field",
            "type_field",
            "combo",
            "change",
            "value_none",
            "bitflip",
            "truncate",
            "insert",
            "digits",
            "parties",
        ]
        for _ in range(n):
            rec = rng.choice(self.records)
            key = str(rec.get("station_id") or rec.get("unit_id") or "ballot").encode()
            raw = orjson.dumps(rec)
            b = _Base("registry", key, raw, str(rec.get("station_id") or rec.get("unit_id") or "KZ"))
            name = rng.choice(names)
            yield name, self._registry_one(name, b, rec)

    def registry_inputs(self, n: int) -> Iterator[Hostile]:
        for _, h in self.registry_labelled(n):
            yield h

    def _registry_one(self, name: str, b: _Base, rec: dict[str, Any]) -> Hostile:
        rng = self.rng
        if name in ("bitflip", "truncate", "insert", "digits"):
            return getattr(self, f"_{name}")(b)
        if name == "value_none":
            return Hostile("registry", rng.choice((b.key, None)), None)
        doc = self._doc(b)
        if name == "combo":
            for part in rng.sample(["wrong_type", "size", "unicode", "number", "id", "missing", "extra"], 2):
                self.structure[part](doc, b)
        elif name == "change":
            self._registry_change(doc)
        elif name == "parties" or (name == "size" and doc["type"] == "ballot"):
            doc["type"], doc["v"] = "ballot", 1
            doc["parties"] = rng.choice(
                (
                    [],
                    [""],
                    ["ANSDP", "ANSDP"],
                    [1, 2],
                    [None],
                    "ANSDP",
                    [["ANSDP"]],
                    list(self.parties)[::-1],
                    [f"P{i}" for i in range(MAX_PARTIES + 1)],
                    ["x" * (MAX_NAME + 1)],
                    [*self.parties, "\ud800"],
                    [*self.parties, "ANSDP\n"],
                    _Raw(nested(1000)),
                    [p + "\u200b" for p in self.parties],
                )
            )
        else:
            self.structure[name](doc, b)
        return Hostile("registry", b.key, self._encode(doc))

    def _registry_change(self, doc: dict[str, Any]) -> None:
        """A record the contract takes but that says something else: the registry changes."""
        rng = self.rng
        if doc["type"] == "station":
            rec = doc["rec_id"]
            field = rng.choice(("name", "registered_baseline", "evoting", "tec_id", "station_id"))
            doc[field] = {
                "name": rng.choice(("Станция № 1", "\u202eRTL", "x" * MAX_NAME, "PS 1 ")),
                "registered_baseline": rng.choice((0, 1, MAX_COUNT, rng.randint(0, 5000))),
                "evoting": not doc["evoting"],
                "tec_id": rng.choice([t for t in self.tecs if t.startswith(rec + "-")] or [doc["tec_id"]]),
                "station_id": f"{rec}-{rng.randint(90_000, 999_999)}",
            }[field]
        elif doc["type"] == "unit":
            doc["name"] = rng.choice(("Өңір", "\u202e", "n" * MAX_NAME))
        else:
            doc["parties"] = list(self.parties)
