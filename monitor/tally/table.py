"""Stage two's table, one small entry per commission and per summarised unit.

:func:`monitor.tally.national.merge` keeps one merged state per input partition: every
commission and every summary of the partition in one value. As a Faust table entry that value
is written to the changelog whole at every partial, so the changelog message grows with the
election (2.15 MB at 823,236 stations, above the producer's and Kafka's 1 MB limit: the worker
stopped) and each fold serialises every commission of the partition.

Here the same state is spread over entries that stay small whatever the election's size:

- ``tp`` (the input partition): its head, everything of :class:`Merged` but the commissions
  and the summaries (epoch, watermark, clock, lag, offsets, the voter tokens used twice);
- ``["tp", "t", commission]``: ``[epoch, wm, sums]``, the commission's latest entry;
- ``["tp", "s", contest or null, unit]``: ``{"epoch": e, "versions": {version: record}}``.

:func:`fold` returns the entries one partial changes (only those are written, so a fold costs
what the partial holds); :func:`assemble` rebuilds from the entries exactly the states ``merge``
would have produced, which the snapshot reads. An entry of an earlier epoch than its
partition's head is from an earlier owner of the partition and is left out (the first partial
of a newer epoch is complete, see ``merge``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from monitor.tally.national import merge_summaries
from monitor.tally.partition import TOKEN_BALLOTS_KEPT
from monitor.tally.shapes import Merged, Partial, Partials

Entries = dict[str, Any]


def tec_key(tp: str, tec: str) -> str:
    return orjson.dumps([tp, "t", tec]).decode()


def summary_key(tp: str, contest: str | None, unit: str) -> str:
    return orjson.dumps([tp, "s", contest, unit]).decode()


def fold(get: Callable[[str], Any], partial: Partial) -> tuple[Entries, bool]:
    """(the entries to write, changed) for one checked partial; ``get`` reads the table.

    ``changed`` is what ``merge`` says for the same partial (the snapshot is due); an entry may
    be written without it (the partition's clock moved)."""
    tp, epoch, wm = partial["tp"], partial.get("epoch", 0), partial["wm"]
    old = get(tp)
    if old is not None and epoch < old["epoch"]:
        return {}, False
    fresh = old is None or epoch > old["epoch"]
    head: dict[str, Any] = {"kind": partial["kind"], "epoch": epoch, "wm": -1} if fresh else dict(old)
    writes: Entries = {}
    head["clock"] = max(head.get("clock", 0.0), partial.get("clock", 0.0))
    changed = wm > head["wm"]
    if wm >= head["wm"]:
        behind, settled = partial.get("behind", 0), partial.get("settled")
        changed = changed or behind != head.get("behind", 0) or settled != head.get("settled")
        head["behind"], head["settled"] = behind, settled
        head["src"], head["pending"] = partial.get("src", {}), partial.get("pending", 0)
    if changed:
        head["wm"] = wm
    for tec, data in partial["tecs"].items():
        key = tec_key(tp, tec)
        cur = get(key)
        if cur is None or cur[0] != epoch or wm > cur[1]:
            writes[key] = [epoch, wm, data]
            changed = True
    contests: list[tuple[str | None, dict[str, Any]]] = [(None, partial["summaries"])]
    contests += list(partial.get("contest_summaries", {}).items())
    for contest, by_unit in contests:
        for unit, versions in by_unit.items():
            key = summary_key(tp, contest, unit)
            cur = get(key)
            same = cur is not None and cur["epoch"] == epoch
            known = dict(cur["versions"]) if same else {}
            if merge_summaries({unit: known}, {unit: versions}):
                writes[key] = {"epoch": epoch, "versions": known}
                changed = True
            elif not same:  # no version yet: the unit is known to the partition all the same
                writes[key] = {"epoch": epoch, "versions": known}
    tokens = dict(head.get("tokens", {}))
    for token, ballots in partial.get("tokens", {}).items():
        union = sorted({tuple(b) for b in tokens.get(token, ())} | {tuple(b) for b in ballots})
        union = union[:TOKEN_BALLOTS_KEPT]  # as the store keeps them: the earliest-sorted
        if union != [tuple(b) for b in tokens.get(token, ())]:
            tokens[token] = [list(b) for b in union]
            changed = True
    head["tokens"] = tokens
    if partial.get("contest_summaries"):
        head["contests"] = sorted({*head.get("contests", ()), *partial["contest_summaries"]})
    if fresh or head != old:
        writes[tp] = head
    return writes, changed


def assemble(items: Iterable[tuple[str, Any]]) -> Partials:
    """Every partition's merged state, as ``merge`` keeps it, from the table's entries."""
    out: Partials = {}
    parts: list[tuple[list[Any], Any]] = []
    for key, value in items:
        if key.startswith("["):
            parts.append((orjson.loads(key), value))
            continue
        head = {k: v for k, v in value.items() if k != "contests"}
        state: Merged = {**head, "tecs": {}, "summaries": {}}  # type: ignore[typeddict-item]
        if value.get("contests"):
            state["contest_summaries"] = {c: {} for c in value["contests"]}
        out[key] = state
    for (tp, what, *rest), value in parts:
        st = out.get(tp)
        if st is None:
            continue
        if what == "t":
            if value[0] == st["epoch"]:
                st["tecs"][rest[0]] = [value[1], value[2]]
        elif value["epoch"] == st["epoch"]:
            contest, unit = rest
            sums = (
                st["summaries"]
                if contest is None
                else st.setdefault("contest_summaries", {}).setdefault(contest, {})
            )
            sums[unit] = value["versions"]
    return out
