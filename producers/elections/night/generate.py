"""A clean synthetic night for any election definition, with its ground truth.

Everything this module produces is SYNTHETIC: the layout follows the definition's levels and
id patterns, the size its ``demo`` part (stations, list sizes, turnout), and every count is
drawn from ``random.Random`` streams seeded from ``seed``. Every protocol keeps every relation
of the definition and every summary is the exact sum of its stations, so any finding on a
night without ``misread`` is a false alarm. ``truth`` is the generator's own per-station
figures, never the events summed back.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from monitor.election import Definition
from producers.elections.night.form import FormFiller
from producers.elections.night.ids import IdWriter, PatternNotWritable
from producers.elections.parts import TimedEvent, apportion, cumulative, soft_cap, sum_figures

__all__ = ["Night", "generate"]

_CONCENTRATION = 300.0  # how closely a station's shares follow its region's


@dataclass
class Night:
    definition: Definition
    seed: int
    parties: tuple[str, ...]
    registry: list[dict[str, Any]]  # the ballot (if the definition names none), units, stations
    events: list[TimedEvent]  # sorted by time (stable)
    truth: dict[str, dict[str, Any]]  # station -> its own protocol's figures
    parent: dict[str, str] = field(default_factory=dict)  # unit or station -> the unit above
    level: dict[str, str] = field(default_factory=dict)  # unit -> its level
    misread: dict[str, str] = field(default_factory=dict)  # station -> the selection misread
    # the later contests' protocols: (station, contest) -> its own protocol's figures
    contest_truth: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    _members: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def under(self, unit_id: str) -> list[str]:
        """The stations in a unit (any level; the top holds them all)."""
        if not self._members:
            for sid in self.truth:
                uid = sid
                while uid in self.parent:
                    uid = self.parent[uid]
                    self._members.setdefault(uid, []).append(sid)
        return self._members.get(unit_id, [])

    def expected(self, unit_id: str) -> dict[str, Any]:
        """The exact sum of the unit's stations' own protocols."""
        return sum_figures([self.truth[s] for s in self.under(unit_id)], self.parties)

    def expected_contest(self, contest: str, unit_id: str) -> dict[str, Any]:
        """The exact sum of a later contest's protocols at the unit's stations."""
        items = [
            self.contest_truth[(s, contest)]
            for s in self.under(unit_id)
            if (s, contest) in self.contest_truth
        ]
        return sum_figures(items, self.definition.selections[contest])


def _unit(level: str, uid: str, parent: str, name: str) -> dict[str, Any]:
    return {"type": "unit", "v": 1, "level": level, "unit_id": uid, "parent_id": parent, "name": name}


def _required(d: Definition) -> tuple[dict[str, list[str]], set[str]]:
    """Units the contests name (and the ancestors their ids name), and the levels whose units
    are exactly their contests' (each single-member district is its own contest)."""
    need: dict[str, list[str]] = {}
    by_level: dict[str, list[bool]] = {}
    for c in d.contests:
        by_level.setdefault(c.level, []).append(c.unit is not None)
        if c.unit is None:
            continue
        named = d.patterns[c.level].match(c.unit) or {}
        for level, uid in [*named.items(), (c.level, c.unit)]:
            if uid not in need.setdefault(level, []):
                need[level].append(uid)
    owned = {lv for lv, units in by_level.items() if all(units)}
    return need, owned


def _layout(
    d: Definition, n_stations: int, rng: random.Random
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Units of every level between the top and the stations, then the stations' parents."""
    top = d.file.levels[0].pattern
    writers = {lv.id: IdWriter(lv.id, lv.pattern) for lv in d.file.levels[1:]}
    need, owned = _required(d)
    chain: dict[str, dict[str, str]] = {top: {d.top: top}}
    units: list[dict[str, Any]] = []
    parents, inner = [top], d.levels[1:-1]
    for depth, level in enumerate(inner, 1):
        above = d.levels[depth - 1]
        children: dict[str, list[str]] = {p: [] for p in parents}
        for uid in need.get(level, []):
            named = d.patterns[level].match(uid) or {}
            parent = named.get(above) or parents[len(children[parents[0]]) % len(parents)]
            if parent not in children:
                raise PatternNotWritable(f"contest unit {uid!r} is under {parent!r}, which has no units here")
            children[parent].append(uid)
        if level not in owned:
            want = max(len(parents), round(n_stations ** (depth / (len(inner) + 1))))
            have = sum(len(v) for v in children.values())
            weights = [rng.uniform(0.5, 1.5) for _ in parents]
            mins = [max(1, len(children[p])) for p in parents]
            used = {u for kids in children.values() for u in kids}
            w, counted = writers[level], dict[tuple[str, ...], int]()
            for p, n in zip(parents, apportion(max(want, have, sum(mins)), weights, mins), strict=True):
                key = tuple(chain[p][lv] for lv in w.placeholders)
                while len(children[p]) < n:
                    counted[key] = counted.get(key, 0) + 1
                    uid = w.nth(counted[key], chain[p])  # past the capacity: a one-line error
                    if uid not in used:
                        used.add(uid)
                        children[p].append(uid)
        parents = []
        for p, kids in children.items():
            for uid in kids:
                chain[uid] = {**chain[p], level: uid}
                units.append(_unit(level, uid, p, f"{d.file.levels[depth].name} {uid} (synthetic)"))
                parents.append(uid)
    if n_stations < len(parents):
        raise ValueError(
            f"{d.name}: {len(parents)} {inner[-1] if inner else d.top} units need at least"
            f" {len(parents)} stations, not {n_stations}"
        )
    station_parent: dict[str, str] = {}
    numbers: dict[tuple[str, ...], int] = {}
    writer = writers[d.station_level]
    per = apportion(n_stations, [rng.uniform(0.5, 1.5) for _ in parents], [1] * len(parents))
    for p, n in zip(parents, per, strict=True):
        key = tuple(chain[p][lv] for lv in writer.placeholders)
        for _ in range(n):
            numbers[key] = numbers.get(key, 0) + 1
            station_parent[writer.nth(numbers[key], chain[p])] = p
    return units, station_parent


def _shares(regions: list[str], n: int, rng: random.Random) -> dict[str, list[float]]:
    """Each region's mean share per selection: one national profile, varied per region."""
    national = sorted((rng.gammavariate(1.2, 1.0) for _ in range(n)), reverse=True)
    out = {}
    for r in regions:
        w = [x * rng.uniform(0.7, 1.3) for x in national]
        out[r] = [x / sum(w) for x in w]
    return out


def _votes(valid: int, mean: list[float], rng: random.Random) -> list[int]:
    draws = [rng.gammavariate(_CONCENTRATION * m + 1e-3, 1.0) for m in mean]
    return apportion(valid, draws)


def _size(rng: random.Random, median: int, most: int) -> int:
    least = max(1, median // 5)
    while True:
        x = round(rng.lognormvariate(math.log(median), 0.35))
        if least <= x <= most:
            return x


def _protocol(
    at: datetime, sid: str, source: str, figures: dict[str, Any], version: int = 1, contest: str | None = None
) -> TimedEvent:
    value: dict[str, Any] = {
        "type": "protocol",
        "v": 1,
        "station_id": sid,
        "source": source,
        "version": version,
        "recorded_at": at.isoformat(),
        "figures": {**figures, "votes": dict(figures["votes"])},
    }
    if contest is not None:
        value["contest"] = contest
    return TimedEvent(at, "protocols", sid, value)


def generate(definition: Definition, stations: int | None = None, *, seed: int = 1) -> Night:
    """A clean night (with the definition's ``demo.misread``, if any) and its truth."""
    d, demo = definition, definition.file.demo
    n = demo.stations if stations is None else stations
    if n < 1:
        raise ValueError("a night needs at least one station")
    rng_layout, rng_count, rng_clock, rng_copy, rng_contest = (
        random.Random(f"tabmon-night/{d.name}/{seed}/{part}")
        for part in ("layout", "count", "clock", "copy", "contests")
    )
    contest = d.contests[0]
    parties = (
        tuple(s.id for s in contest.selections) if contest.selections else tuple(f"P{i}" for i in range(1, 6))
    )
    units, station_parent = _layout(d, n, rng_layout)
    parent: dict[str, str] = {u["unit_id"]: u["parent_id"] for u in units} | station_parent
    region_of: dict[str, str] = {u["unit_id"]: u["unit_id"] for u in units if u["level"] == d.levels[1]}

    def region(uid: str) -> str:
        while uid not in region_of:
            uid = parent[uid]
        return region_of[uid]

    shares = _shares(list(region_of) or [d.file.levels[0].pattern], len(parties), rng_layout)
    later = [c for c in d.contests[1:] if c.selections]
    contest_shares = {c.id: _shares([c.id], len(d.selections[c.id]), rng_contest)[c.id] for c in later}
    contest_truth: dict[tuple[str, str], dict[str, Any]] = {}

    def within(sid: str) -> set[str]:
        out, uid = set(), sid
        while uid in parent:
            uid = parent[uid]
            out.add(uid)
        return out

    filler, names = FormFiller(d), d.fields
    close = d.polls_close
    events: list[TimedEvent] = []
    truth: dict[str, dict[str, Any]] = {}
    registry: list[dict[str, Any]] = (
        [] if contest.selections else [{"type": "ballot", "v": 1, "parties": list(parties)}]
    )
    registry += units
    last_at: dict[str, datetime] = {}
    for sid, p in station_parent.items():
        registered = _size(rng_count, demo.registered_median, demo.registered_max)
        rate = soft_cap(max(0.05, rng_count.gauss(demo.turnout, 0.08)))  # below 93 %: no false alarm
        took_part = round(registered * rate)
        invalid = round(took_part * rng_count.uniform(0.005, 0.03)) if d.rejected is not None else 0
        votes = _votes(
            took_part - invalid, shares[region(sid) if region_of else d.file.levels[0].pattern], rng_count
        )
        values = filler.fill(rng_count, registered, took_part, invalid, votes)
        figures = {**dict(zip(names, values, strict=True)), "votes": dict(zip(parties, votes, strict=True))}
        truth[sid] = figures
        registry.append(
            {
                "type": "station",
                "v": 1,
                "station_id": sid,
                "parent_id": p,
                "name": f"Station {sid} (synthetic)",
                "registered_baseline": registered,
                "evoting": False,
            }
        )
        events += _turnout(d, sid, registered, took_part, figures, rng_clock)
        at = close + timedelta(minutes=30) + timedelta(seconds=rng_clock.randint(0, 12_600))
        events.append(_protocol(at, sid, d.station_source or d.sources[0], figures))
        for source, share in demo.copies.items():
            if rng_copy.random() < share:
                events.append(
                    _protocol(at + timedelta(seconds=rng_clock.randint(300, 3600)), sid, source, figures)
                )
        last_at[sid] = at
        held = within(sid) if later else set()
        for c in later:
            if c.unit is not None and c.unit not in held:
                continue
            sel = d.selections[c.id]
            spoilt = round(took_part * rng_contest.uniform(0.005, 0.03)) if d.rejected is not None else 0
            cv = _votes(took_part - spoilt, contest_shares[c.id], rng_contest)
            cf = filler.fill(rng_contest, registered, took_part, spoilt, cv)
            f = {**dict(zip(names, cf, strict=True)), "votes": dict(zip(sel, cv, strict=True))}
            contest_truth[(sid, c.id)] = f
            when = at + timedelta(seconds=rng_contest.randint(1, 600))
            events.append(_protocol(when, sid, d.station_source or d.sources[0], f, contest=c.id))
    night = Night(
        d, seed, parties, registry, events, truth, parent, {u["unit_id"]: u["level"] for u in units}
    )
    night.contest_truth = contest_truth
    _misread(night, rng_copy, last_at)
    _summaries(night, last_at, rng_clock)
    night.events.sort(key=attrgetter("at"))
    return night


def _turnout(
    d: Definition, sid: str, registered: int, took_part: int, figures: dict[str, Any], rng: random.Random
) -> list[TimedEvent]:
    """The cumulative reports of the day, the last at the close with everyone who voted: each
    window's share of the day's voters is its length, jittered by a quarter (as the 2007-shaped
    synthetic night's), so no station's pace stands out from its peers'."""
    times = d.report_times
    if not times:
        return []
    opened, close = d.polls_open, d.polls_close
    added = int(figures.get("added", 0))
    bounds = [opened, *times] + ([close] if times[-1] < close else [])
    cum = cumulative(rng, tuple((b - a).total_seconds() for a, b in zip(bounds, bounds[1:], strict=False)))
    out = []
    for seq, (t, frac) in enumerate(zip(times, cum, strict=False), 1):
        at = t + timedelta(seconds=rng.randint(0, 540))
        value = {
            "type": "turnout",
            "v": 1,
            "station_id": sid,
            "seq": seq,
            "reported_at": at.isoformat(),
            "registered": registered,
            "added": round(added * frac),
            "voted": round(took_part * frac),
        }
        out.append(TimedEvent(at, "turnout", sid, value))
    return out


def _misread(night: Night, rng: random.Random, last_at: dict[str, datetime]) -> None:
    """``demo.misread``: a copy of a few stations' protocols with one count read 600 higher
    (a hundreds digit misread, as Sirekap read 1 as 7 in 2024)."""
    spec = night.definition.file.demo.misread
    if spec is None or not spec.stations:
        return
    sids = rng.sample(sorted(night.truth), min(spec.stations, len(night.truth)))
    for sid in sids:
        figures = night.truth[sid]
        selection = min(night.parties, key=lambda p: (figures["votes"][p], p))
        read = {**figures, "votes": {**figures["votes"], selection: figures["votes"][selection] + 600}}
        at = last_at[sid] + timedelta(seconds=rng.randint(60, 1800))
        night.events = [
            e
            for e in night.events
            if not (e.topic == "protocols" and e.key == sid and e.value["source"] == spec.source)
        ]
        night.events.append(_protocol(at, sid, spec.source, read))
        night.misread[sid] = selection


def _summaries(night: Night, last_at: dict[str, datetime], rng: random.Random) -> None:
    """Each summary level's protocols, exact sums of their stations, after their last one."""
    d = night.definition
    done: dict[str, datetime] = dict(last_at)
    top = d.file.levels[0].pattern
    children: dict[str, list[str]] = {}
    for k, p in night.parent.items():
        children.setdefault(p, []).append(k)
    for level in reversed(d.levels[:-1]):
        ids = [top] if level == d.top else [u for u, lv in night.level.items() if lv == level]
        for uid in ids:
            kids = children.get(uid, [])
            if not kids:
                continue
            at = max(done[k] for k in kids) + timedelta(seconds=rng.randint(600, 2400))
            done[uid] = at
            if level not in d.summary_levels:
                continue
            sids = night.under(uid)
            value = {
                "type": "summary",
                "v": 1,
                "level": level,
                "unit_id": uid,
                "version": 1,
                "recorded_at": at.isoformat(),
                "stations_included": len(sids),
                "figures": night.expected(uid),
            }
            night.events.append(TimedEvent(at, "summaries", uid, value))
            for c in d.contests[1:]:  # the later contests held here or above: their summaries too
                if c.selections and (c.unit is None or c.unit == uid or c.unit in _above(night, uid)):
                    n = sum((s, c.id) in night.contest_truth for s in sids)
                    if n:
                        figures = night.expected_contest(c.id, uid)
                        of_contest = {**value, "contest": c.id, "stations_included": n, "figures": figures}
                        night.events.append(TimedEvent(at, "summaries", uid, of_contest))


def _above(night: Night, uid: str) -> list[str]:
    out, p = [], night.parent.get(uid)
    while p is not None and p not in out:
        out.append(p)
        p = night.parent.get(p)
    return out
