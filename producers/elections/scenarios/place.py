"""Where a scenario's injections go, and the record of what was planted: shared by the
station injections (``inject``) and the unit ones (``units``)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.election.thresholds import Thresholds
from producers.elections.scenarios.edit import Editor
from producers.elections.synthetic import Election


@dataclass
class Pending:
    """One planted irregularity: its kind and variant, where, and what it implies."""

    kind: str
    variant: str
    unit_id: str
    station_id: str | None
    pos: int
    subject: str = ""
    stations: tuple[str, ...] = ()
    implied_by: str = ""


class Places:
    """Where a scenario's injections go: the stations and units already used, chosen in a
    seeded order, and what was planted where (its truth, ``pending``)."""

    def __init__(self, election: Election, rng: random.Random, t: Thresholds) -> None:
        self.ed = Editor(election)
        self.rng = rng
        self.t = t
        self.parties = election.parties
        self.pending: list[Pending] = []
        self.used: set[str] = set()  # stations and units already injected
        self.used_tecs: set[str] = set()  # TECs with an injected station (peers stay clean)
        self.order = sorted(self.ed.stations)
        self.rng.shuffle(self.order)

    # -- choosing places -------------------------------------------------------------------
    def station(self, ok: Callable[[str], bool]) -> str | None:
        """An unused station passing ``ok``, in a TEC without injections if there is one."""
        fallback = None
        for sid in self.order:
            if sid in self.used or sid not in self.ed.protocols or not ok(sid):
                continue
            if self.ed.stations[sid].tec_id not in self.used_tecs:
                return self.take(sid)
            fallback = fallback or sid
        return None if fallback is None else self.take(fallback)

    def take(self, sid: str) -> str:
        self.used.add(sid)
        self.used_tecs.add(self.ed.stations[sid].tec_id)
        return sid

    def record(
        self,
        kind: str,
        variant: str,
        pos: int,
        *,
        station: str | None = None,
        unit: str | None = None,
        implied_by: str = "",
        subject: str = "",
        stations: Sequence[str] = (),
    ) -> None:
        uid = unit or self.ed.stations[station or ""].tec_id
        involved = tuple(stations) or ((station,) if station else ())
        self.pending.append(Pending(kind, variant, uid, station, pos, subject, involved, implied_by))
