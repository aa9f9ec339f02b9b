"""Stage two of the tally: merge the partials of every input partition into totals per unit.

A partial is the absolute state of some TECs in one topic-partition, stamped with the offset
watermark it was taken at (see :mod:`.partition`). Merging keeps, per (partition, TEC), the
entry with the highest watermark, and per unit the summary with the highest version, so the
same partial delivered twice, late or after a restart changes nothing. Totals are then derived
from the merged state, never accumulated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson

from monitor.contract import Registry
from monitor.tally.partition import TOKEN_BALLOTS_KEPT, cap_versions
from monitor.tally.rollup import Rollup, Touched, view
from monitor.tally.shapes import Merged, Partial, Partials, Snapshot, SummaryRecord

__all__ = ["COMPARED_KINDS", "Rollup", "Touched", "clock", "merge", "read_to", "snapshot", "view"]


def merge(state: Merged | None, partial: Partial, touched: Touched | None = None) -> tuple[Merged, bool]:
    """Fold one partial into the merged state of its topic-partition; (new state, changed).

    ``epoch`` says which assignment of the partition a partial comes from. The first partial
    of a newer epoch is complete (stage one publishes nothing while it rebuilds), so it
    replaces the state: what an earlier owner published can no longer linger. An older epoch
    is ignored; within one epoch, entries merge by watermark and version. ``touched``
    collects what changed, for a :class:`~.rollup.Rollup`."""
    epoch = partial.get("epoch", 0)
    if state is not None and epoch < state.get("epoch", 0):
        return state, False
    if state is None or epoch > state.get("epoch", 0):
        if state is not None and touched is not None:
            touched.replaced(state)
        state = {"kind": partial["kind"], "epoch": epoch, "wm": -1, "tecs": {}, "summaries": {}}
    if touched is not None and "tp" in partial:
        touched.states[partial["tp"]] = state
    # the latest event time the partition has read: the monitor's clock (late protocols)
    state["clock"] = max(state.get("clock", 0.0), partial.get("clock", 0.0))
    wm = partial["wm"]
    changed = wm > state["wm"]
    if wm >= state["wm"]:  # how far behind the broker the partition was at that partial
        behind = partial.get("behind", 0)
        settled = partial.get("settled")
        # a partition that fell behind without reading anything new (or whose forwards
        # reached their homes) changes the state too: the detectors that wait for settled
        # inputs must see it
        changed = changed or behind != state.get("behind", 0) or settled != state.get("settled")
        state["behind"], state["settled"] = behind, settled
        state["src"], state["pending"] = partial.get("src", {}), partial.get("pending", 0)
    if changed:
        state["wm"] = wm
    tecs = state["tecs"]
    for tec, data in partial["tecs"].items():
        cur = tecs.get(tec)
        if cur is None or wm > cur[0]:
            tecs[tec] = (wm, orjson.dumps(data))  # as JSON: parsed it took 5.5x the memory
            changed = True
            if touched is not None:
                touched.tecs.add(tec)
    units = _merge_summaries(state["summaries"], partial["summaries"])
    if units:
        changed = True
        if touched is not None:
            touched.summaries.update(units)
    for contest, by_unit in partial.get("contest_summaries", {}).items():
        sums = state.setdefault("contest_summaries", {}).setdefault(contest, {})
        units = _merge_summaries(sums, by_unit)
        if units:
            changed = True
            if touched is not None:
                touched.contest_summaries.update((contest, u) for u in units)
    tokens = state.setdefault("tokens", {})
    for token, ballots in partial.get("tokens", {}).items():
        union = sorted({tuple(b) for b in tokens.get(token, ())} | {tuple(b) for b in ballots})
        union = union[:TOKEN_BALLOTS_KEPT]  # as the store keeps them: the earliest-sorted
        if union != [tuple(b) for b in tokens.get(token, ())]:
            tokens[token] = [list(b) for b in union]
            changed = True
            if touched is not None:
                touched.tokens = True
    return state, changed


def _merge_summaries(
    sums: dict[str, dict[str, SummaryRecord]], partial: dict[str, list[SummaryRecord]]
) -> list[str]:
    """Fold a partial's summary versions (unit -> records) into ``sums`` (unit -> version ->
    record); the units whose versions changed."""
    changed = []
    for unit, versions in partial.items():
        known = sums.setdefault(unit, {})
        for rec in versions:
            v = str(rec["version"])
            kept = known.get(v)
            if kept is None or _summary_rank(rec) > _summary_rank(kept):
                known[v] = rec
                changed.append(unit)
                cap_versions(known)
    return changed


def _summary_rank(rec: SummaryRecord) -> tuple[Any, ...]:
    """Of two records of one summary version, the one the store keeps is the larger by
    figures, then stations included, time and level (partition._summary_key): stage two must
    choose alike, or what it shows would depend on which flush each record fell in."""
    return (rec["figures"], rec["stations_included"], rec["recorded_at"], rec["level"])


def clock(partials: Partials) -> float:
    """The latest event time (unix seconds) any partition has read; 0.0 before any."""
    return max((state.get("clock", 0.0) for state in partials.values()), default=0.0)


COMPARED_KINDS = ("protocols", "summaries", "turnout")  # the inputs commissions' figures meet


def read_to(
    partials: Partials, expected: Iterable[str] = (), kinds: tuple[str, ...] = COMPARED_KINDS
) -> float:
    """The event time (unix seconds) up to which every partition of ``kinds`` has been read,
    as their last partials say: a partition read to the broker's end, with no forward still
    on its way home, counts as read to any time (``math.inf`` when all are); one behind as
    read to its latest event time, or to just before its earliest forward not yet published
    by its home (``settled``); and one of ``expected`` (``topic:partition``) with no partial
    yet as read to nothing (0.0). A comparison across partitions of what was recorded before
    this time sees all of it (records reach a partition in about the order of their time)."""
    if any(tp not in partials for tp in expected):
        return 0.0
    return min(
        (
            math.inf if state.get("behind", 0) == 0 else state.get("settled") or state.get("clock", 0.0)
            for state in partials.values()
            if state.get("kind") in kinds
        ),
        default=math.inf,
    )


def snapshot(
    partials: Partials,
    registry: Registry,
    *,
    seats: int | None = None,
    threshold: float | None = None,
    method: str | None = None,
) -> Snapshot:
    """Totals for every unit of every level (in kz2007: the CEC, every REC and TEC), derived
    from the merged partials from scratch (the worker keeps a :class:`~.rollup.Rollup`, which
    gives the same by deltas). Seats follow the first contest's rule in the definition;
    ``seats``, ``threshold`` and ``method`` override its parts (TABMON_SEATS ...)."""
    return Rollup(registry, seats=seats, threshold=threshold, method=method).update(partials)[0]
