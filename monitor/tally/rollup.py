"""Stage two's totals for every unit of every level, kept by deltas from one snapshot to the next.

Stage two's merged state (:func:`monitor.tally.national.merge`) holds, per input partition,
the latest sums of each commission in it. A unit's totals are the sums of the commissions
under it. Deriving every unit from every partition at each snapshot costs the size of the
election, once a second: at 300,000 stations it was most of the worker's time and stalled
its event loop for seconds (load/RESULTS.md, "Scale"). A :class:`Rollup` therefore keeps each
commission's totals and each unit's, and a snapshot re-derives only what ``merge`` touched
since the one before (:class:`Touched`): a touched commission's totals are taken afresh from
every partition and replace its old ones in each unit above it, and only the units changed
are rebuilt.

It stays exact: the sums are integers, a commission's totals are never accumulated across
partials, and a unit's part of the snapshot is built by the same code either way
(tests/unit/test_rollup.py holds any sequence of partials against a rollup built from scratch).
It is rebuilt whole when the registry changed, when a commission it does not know appears, or
when a partition's state is not one it folded in (the state read again from elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.contract import Registry
from monitor.tally import unitview as uv
from monitor.tally.shapes import ContestSums, Merged, Partials, Snapshot, SummaryRecord, UnitSnapshot
from monitor.tally.unitview import view

__all__ = ["Rollup", "Touched", "view"]


@dataclass(slots=True)
class Touched:
    """What merges changed since the last snapshot (:func:`monitor.tally.national.merge`)."""

    tecs: set[str] = field(default_factory=set)  # commissions whose entry in a partition changed
    summaries: set[str] = field(default_factory=set)  # units whose summary versions changed
    contest_summaries: set[tuple[str, str]] = field(default_factory=set)  # (contest, unit)
    tokens: bool = False  # the voter tokens of some partition changed
    # the state object each merge returned, by partition: a state that is neither this nor
    # the one the rollup saw came from elsewhere, and the rollup is rebuilt
    states: dict[str, Merged] = field(default_factory=dict)

    def replaced(self, state: Merged) -> None:
        """Everything in ``state`` is touched: a newer epoch replaces it whole."""
        self.tecs.update(state["tecs"])
        self.summaries.update(state["summaries"])
        for cid, by_unit in state.get("contest_summaries", {}).items():
            self.contest_summaries.update((cid, uid) for uid in by_unit)
        self.tokens = self.tokens or bool(state.get("tokens"))


class Rollup:
    """Every unit's snapshot, kept in step with stage two's merged partials.

    ``update(partials, touched)`` gives the snapshot of every unit (top unit first, then each
    level in the definition's order, registration order within a level) and the units whose
    snapshot changed. Without ``touched`` it builds from scratch. Seats follow the first
    contest's rule; ``seats``, ``threshold`` and ``method`` override its parts."""

    def __init__(
        self,
        registry: Registry,
        *,
        seats: int | None = None,
        threshold: float | None = None,
        method: str | None = None,
    ) -> None:
        self.registry = registry
        self.seat_options = (seats, threshold, method)
        self.out: Snapshot = {}
        self._registry_state: object | None = None
        self._states: dict[str, Merged] = {}  # what it last folded in, by partition
        self.builds = 0  # times built from scratch (the first update, and each rebuild)

    def update(self, partials: Partials, touched: Touched | None = None) -> tuple[Snapshot, set[str]]:
        changed = (
            self._apply(partials, touched)
            if touched is not None and self._current(partials, touched)
            else None
        )
        if changed is None:
            self._build(partials)
            changed = set(self.out)
        self._states = dict(partials)
        return self.out, changed

    def _current(self, partials: Partials, touched: Touched) -> bool:
        """Whether the state it holds is that of ``partials`` before ``touched``."""
        if self._registry_state is None or _registry_state(self.registry) is not self._registry_state:
            return False
        if not self._states.keys() <= partials.keys():
            return False
        return all(
            state is self._states.get(tp) or state is touched.states.get(tp) for tp, state in partials.items()
        )

    # -- from scratch ---------------------------------------------------------------------------
    def _build(self, partials: Partials) -> None:
        registry, d = self.registry, self.registry.definition
        self.builds += 1
        self._registry_state = _registry_state(registry)
        self.width = width = len(d.fields) + len(registry.parties)
        self.lists = uv.registry_figures(registry)
        top = self.top = registry.top_id
        tec_units: dict[str, uv.UnitSums] = {t: uv.UnitSums(width) for t in registry.tec_rec}
        tec_contests: dict[str, dict[str, ContestSums]] = {}
        for state in partials.values():
            for tec, (_wm, raw) in state["tecs"].items():
                u = tec_units.get(tec)
                if u is None:
                    u = tec_units[tec] = uv.UnitSums(width)
                data = orjson.loads(raw)
                u.add_wire(data)
                for cid, c in data.get("contests", {}).items():
                    _add_contest(tec_contests.setdefault(tec, {}), cid, c)
        # Every level above the commissions is a roll-up of the commissions under it, however
        # many levels the definition has: each commission is added once to each of its ancestors.
        level_units: dict[str, uv.UnitSums] = {top: uv.UnitSums(width)}
        for uid in registry.unit_level:
            if uid not in tec_units:
                level_units[uid] = uv.UnitSums(width)
        for r in registry.rec_tecs:
            level_units.setdefault(r, uv.UnitSums(width))
        self.chains = {tec: uv.ancestry(registry, tec) for tec in tec_units}
        for tec, u in tec_units.items():
            for a in self.chains[tec]:
                level_units.setdefault(a, uv.UnitSums(width)).add(u)
        self.tec_units, self.level_units, self.tec_contests = tec_units, level_units, tec_contests
        order = {lv: i for i, lv in enumerate(d.levels)}
        units = [
            (uid, uv.level_of(registry, uid), None if uid == top else uv.parent_of(registry, uid))
            for uid in [*level_units, *tec_units]
        ]
        units.sort(key=lambda x: order.get(x[1], len(order)))  # stable: registration order within a level
        self.meta = {uid: (level, parent) for uid, level, parent in units}
        parts = list(partials.values())
        self.summaries: dict[str, dict[str, SummaryRecord]] = {}
        for uid in {u for state in parts for u in state["summaries"]}:
            self._summaries_of(parts, uid)
        self.contest_units: dict[tuple[str, str], tuple[ContestSums, int]] = {}
        self.contest_summaries: dict[tuple[str, str], dict[str, SummaryRecord]] = {}
        self.unit_contests: dict[str, set[str]] = {}
        for tec, by_contest in tec_contests.items():
            self._shift_contests(tec, {}, by_contest, set())
        for key in {
            (cid, uid)
            for state in parts
            for cid, by in state.get("contest_summaries", {}).items()
            for uid in by
        }:
            self._contest_summaries_of(parts, key)
        self.evote = uv.evote_multiple(parts, registry)
        self.out = {uid: self._snap(uid) for uid, _, _ in units}

    # -- by deltas ------------------------------------------------------------------------------
    def _apply(self, partials: Partials, touched: Touched) -> set[str] | None:
        """Fold what ``touched`` says changed; the units changed, or None to build from scratch."""
        parts = list(partials.values())
        dirty: set[str] = set()
        for tec in touched.tecs:
            old = self.tec_units.get(tec)
            if old is None:  # a commission seen for the first time, before its unit record
                return None
            new, new_contests = self._tec_from(parts, tec)
            chain = self.chains[tec]
            for a in chain:
                unit = self.level_units[a]
                unit.add(old, -1)
                unit.add(new)
            self.tec_units[tec] = new
            old_contests = self.tec_contests.pop(tec, {})
            if new_contests:
                self.tec_contests[tec] = new_contests
            if old_contests or new_contests:
                self._shift_contests(tec, old_contests, new_contests, dirty)
            dirty.add(tec)
            dirty.update(chain)
        for uid in touched.summaries:
            self._summaries_of(parts, uid)
            dirty.add(uid)
        for key in touched.contest_summaries:
            self._contest_summaries_of(parts, key)
            dirty.add(key[1])
        if touched.tokens:
            evote = uv.evote_multiple(parts, self.registry)
            dirty.update(
                uid for uid in evote.keys() | self.evote.keys() if evote.get(uid) != self.evote.get(uid)
            )
            self.evote = evote
        dirty &= self.out.keys()
        for uid in dirty:
            self.out[uid] = self._snap(uid)
        return dirty

    def _tec_from(self, parts: Iterable[Merged], tec: str) -> tuple[uv.UnitSums, dict[str, ContestSums]]:
        """A commission's totals over every partition, afresh."""
        u, contests = uv.UnitSums(self.width), dict[str, ContestSums]()
        for state in parts:
            entry = state["tecs"].get(tec)
            if entry is not None:
                data = orjson.loads(entry[1])
                u.add_wire(data)
                for cid, c in data.get("contests", {}).items():
                    _add_contest(contests, cid, c)
        return u, contests

    def _summaries_of(self, parts: Iterable[Merged], uid: str) -> None:
        """A unit's summary versions, from every partition that has the unit."""
        _versions(self.summaries, uid, (state["summaries"] for state in parts))

    def _contest_summaries_of(self, parts: Iterable[Merged], key: tuple[str, str]) -> None:
        cid, uid = key
        by_unit = (state.get("contest_summaries", {}).get(cid, {}) for state in parts)
        _versions(self.contest_summaries, key, by_unit, uid)
        self._index_contest(cid, uid)

    def _shift_contests(
        self,
        tec: str,
        old: dict[str, ContestSums],
        new: dict[str, ContestSums],
        dirty: set[str],
    ) -> None:
        """A commission's later-contest sums, from ``old`` to ``new``, in it and in each unit above
        it up to the one where the contest is held (above it, a contest is not one result)."""
        d = self.registry.definition
        full = [tec, *self.chains[tec]]
        for cid in old.keys() | new.keys():
            held = d.contest(cid).unit or self.top
            width = len(d.fields) + len(d.selections[cid])
            for uid in full[: full.index(held) + 1] if held in full else []:
                key = (cid, uid)
                sums, refs = self.contest_units.get(key) or (_no_contest(width), 0)
                if cid in old:
                    _shift_contest(sums, old[cid], -1)
                    refs -= 1
                if cid in new:
                    _shift_contest(sums, new[cid])
                    refs += 1
                if refs:
                    self.contest_units[key] = (sums, refs)
                else:
                    self.contest_units.pop(key, None)
                self._index_contest(cid, uid)
                dirty.add(uid)

    def _index_contest(self, cid: str, uid: str) -> None:
        key = (cid, uid)
        if key in self.contest_units or key in self.contest_summaries:
            self.unit_contests.setdefault(uid, set()).add(cid)
        elif uid in self.unit_contests:
            self.unit_contests[uid].discard(cid)

    # -- one unit's snapshot --------------------------------------------------------------------
    def _snap(self, uid: str) -> UnitSnapshot:
        registry = self.registry
        d = registry.definition
        level, parent = self.meta[uid]
        u = self.tec_units.get(uid)
        if u is None:
            u = self.level_units[uid]
        figures = self.lists.get(uid, uv.NO_FIGURES)
        snap = uv.unit_snapshot(uid, level, parent, u, figures["stations"], registry)
        snap["registry"] = {k: v for k, v in figures.items() if k != "stations"}
        if uid in self.summaries:
            snap["summary_versions"] = uv.summary_views(self.summaries[uid], registry.parties, d)
            snap["summary"] = snap["summary_versions"][-1]
        snap["evote_multiple"] = dict(self.evote.get(uid, uv.NO_EVOTE))
        cids = self.unit_contests.get(uid)
        if cids:
            snap["contests"] = {cid: self._contest_doc(cid, uid, snap["stations"]) for cid in sorted(cids)}
        rule = d.contests[0].seats
        seats, threshold, method = self.seat_options
        if uid == self.top and (rule is not None or seats is not None):
            n = seats if seats is not None else rule.seats if rule else 1
            share = threshold if threshold is not None else rule.threshold if rule else 0.0
            how = method or (rule.method if rule else "hare")
            base = rule.threshold_base if rule else "participants"
            snap["seats"] = {
                name: uv.seats_of(snap[name], n, share, how, base) for name in ("protocol", "official")
            }
        return snap

    def _contest_doc(self, cid: str, uid: str, n: int) -> dict[str, object]:
        """A later contest in one unit: its totals, the unit's summaries of it, its seats where
        it is held."""
        d = self.registry.definition
        contest, selections = d.contest(cid), d.selections[cid]
        width = len(d.fields) + len(selections)
        sums = self.contest_units.get((cid, uid), (_no_contest(width), 0))[0]
        doc: dict[str, object] = {
            "name": contest.name,
            "held_in": contest.unit or self.top,
            "protocol": {
                "stations_reported": sums["n_pec"],
                "coverage": uv.pct(sums["n_pec"], n),
                **view(sums["pec"], selections, d),
            },
            "official": {
                "stations_reported": sums["n_official"],
                "coverage": uv.pct(sums["n_official"], n),
                **view(sums["official"], selections, d),
            },
        }
        if (cid, uid) in self.contest_summaries:
            doc["summary_versions"] = uv.summary_views(self.contest_summaries[(cid, uid)], selections, d)
            doc["summary"] = doc["summary_versions"][-1]  # type: ignore[index]
        rule = contest.seats
        if rule is not None and uid == doc["held_in"]:
            doc["seats"] = {
                name: uv.seats_of(doc[name], rule.seats, rule.threshold, rule.method, rule.threshold_base)  # type: ignore[arg-type]
                for name in ("protocol", "official")
            }
        return doc


def _versions(
    into: dict[Any, dict[str, SummaryRecord]],
    key: Any,
    by_unit: Iterable[dict[str, dict[str, SummaryRecord]]],
    uid: str | None = None,
) -> None:
    """``into[key]``: the summary versions of one unit (``uid``, else ``key``) over every
    partition's ``by_unit``; no entry when no partition has the unit."""
    found, versions = False, {}
    for mine in by_unit:
        got = mine.get(key if uid is None else uid)
        if got is not None:
            found = True
            versions.update(got)
    if found:
        into[key] = versions
    else:
        into.pop(key, None)


def _registry_state(registry: Registry) -> object:
    """A token of the registry's present state: a new one after any change (``derived`` is
    emptied by every record applied)."""
    return registry.derived.setdefault("state", object())


def _no_contest(width: int) -> ContestSums:
    return {"pec": [0] * width, "official": [0] * width, "n_pec": 0, "n_official": 0}


def _add_contest(acc: dict[str, ContestSums], key: str, c: ContestSums) -> None:
    """Add one contest entry (a partial's shape: pec, official, n_pec, n_official) into ``acc[key]``."""
    cur = acc.get(key)
    if cur is None:
        acc[key] = {
            "pec": list(c["pec"]),
            "official": list(c["official"]),
            "n_pec": c["n_pec"],
            "n_official": c["n_official"],
        }
    else:
        _shift_contest(cur, c)


def _shift_contest(cur: ContestSums, c: ContestSums, sign: int = 1) -> None:
    """Add (``sign`` 1) or take out (-1) one contest entry."""
    uv.add(cur["pec"], c["pec"], sign)
    uv.add(cur["official"], c["official"], sign)
    cur["n_pec"] += sign * c["n_pec"]
    cur["n_official"] += sign * c["n_official"]
