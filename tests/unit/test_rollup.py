"""Stage two's totals kept by deltas (monitor.tally.rollup) against the same totals built
from scratch, after every flush of real nights fed in any order, and through the cases that
rebuild it: a newer epoch replacing a partition, a registry change, a commission not known."""

from __future__ import annotations

import random

import pytest

from monitor.election import load
from monitor.tally import merge, snapshot
from monitor.tally.rollup import Rollup, Touched
from monitor.testing import InMemoryTally
from producers.elections import night as any_night
from producers.elections.kz2007.night import build as drill_night


def _feed_checking(tally: InMemoryTally, events, flush_every: int) -> int:
    """Feed ``events``, flushing every ``flush_every``; after each flush the rollup's
    snapshot must equal one built from scratch. The number of snapshots compared."""
    compared = 0
    for i, e in enumerate(events, 1):
        tally.feed(e.topic, e.key, e.value)
        if i % flush_every == 0 or i == len(events):
            tally.flush()
            assert tally.snapshot() == snapshot(tally.merged, tally.registry)
            compared += 1
    return compared


@pytest.fixture(scope="module")
def drill():
    return drill_night(seed=2007)


def test_the_drill_in_its_own_order(drill):
    tally = InMemoryTally(drill.registry, partitions=8)
    assert _feed_checking(tally, drill.events, 4_000) > 20
    assert tally.rejected == []
    assert tally.rollup.builds == 1  # built once, then only by deltas
    units = tally.snapshot()
    assert units["KZ"]["evote_multiple"]["tokens"] > 0 and units["KZ"].get("summary_versions")


def test_the_drill_shuffled_and_delivered_twice(drill):
    rng = random.Random(3)
    events = drill.events[:30_000] + rng.sample(drill.events, 20_000)
    rng.shuffle(events)
    tally = InMemoryTally(drill.registry, partitions=5)
    assert _feed_checking(tally, events, 2_500) >= 20
    assert tally.rollup.builds == 1


@pytest.mark.parametrize("name", ["kz2023", "indonesia"])
def test_other_elections_with_their_levels_and_contests(name):
    d = load(name)
    night = any_night.generate(d, 150, seed=5)
    tally = InMemoryTally(night.registry, definition=d, partitions=3)
    events = list(night.events)
    random.Random(1).shuffle(events)
    assert _feed_checking(tally, events, 37) > 5
    assert tally.rejected == []
    if name == "kz2023":  # its districts are a later contest: tallied in units by deltas too
        assert any("contests" in u for u in tally.snapshot().values())


def _partial(tp, epoch, wm, tecs, summaries=None, tokens=None):
    out = {"kind": "turnout", "tp": tp, "epoch": epoch, "wm": wm, "tecs": tecs, "summaries": summaries or {}}
    if tokens is not None:
        out["tokens"] = tokens
    return out


def _turnout(registered, added, voted, seqs):
    return {
        "turnout": [registered, added, voted],
        "n_turnout": 1,
        "by_seq": {s: [registered, added, voted, 1] for s in seqs},
    }


def _registry():
    from monitor.contract import build

    records = [
        {"v": 1, "type": "ballot", "parties": ["A", "B"]},
        {"v": 1, "type": "unit", "unit_id": "AKM", "level": "rec", "parent_id": "KZ", "name": "Akmola"},
        {"v": 1, "type": "unit", "unit_id": "AKM-T01", "level": "tec", "parent_id": "AKM", "name": "one"},
        {"v": 1, "type": "unit", "unit_id": "AKM-T02", "level": "tec", "parent_id": "AKM", "name": "two"},
    ]
    return build(records)


def test_a_newer_epoch_a_report_gone_and_a_registry_change():
    registry = _registry()
    rollup, merged, touched = Rollup(registry), {}, Touched()

    def fold(p):
        merged[p["tp"]], _ = merge(merged.get(p["tp"]), p, touched)

    def check():
        nonlocal touched
        units, changed = rollup.update(merged, touched)
        touched = Touched()
        assert units == snapshot(merged, registry)
        return changed

    fold(_partial("turnout:0", 1, 5, {"AKM-T01": _turnout(100, 1, 10, ["1", "2"])}))
    fold(_partial("turnout:1", 1, 3, {"AKM-T02": _turnout(50, 0, 5, ["1"])}))
    check()
    assert rollup.builds == 1
    # the second report disappears from AKM-T01 (a newer owner's complete partial lacks it)
    fold(_partial("turnout:0", 2, 1, {"AKM-T01": _turnout(100, 2, 20, ["1"])}))
    assert check() == {"AKM-T01", "AKM", "KZ"}
    assert "2" not in rollup.out["KZ"]["turnout"]["by_report"]
    # a newer epoch without AKM-T02 at all: its totals leave every unit above it
    fold(_partial("turnout:1", 2, 1, {}))
    assert check() == {"AKM-T02", "AKM", "KZ"}
    assert rollup.out["KZ"]["turnout"]["voted"] == 20
    # tokens used twice: the units they were used in, and those that no longer have any
    fold(_partial("turnout:0", 2, 2, {}, tokens={"t1": [["AKM-T01-1", "x"], ["AKM-T02-1", "y"]]}))
    assert check() == {"KZ"}  # the stations are not registered: counted nationally only
    assert rollup.out["KZ"]["evote_multiple"] == {"tokens": 1, "ballots": 2, "stations": 2}
    assert rollup.builds == 1  # every change so far by deltas
    # a unit record changes the registry: built from scratch
    registry.apply(
        {"v": 1, "type": "unit", "unit_id": "AKM-T03", "level": "tec", "parent_id": "AKM", "name": "three"}
    )
    fold(_partial("turnout:0", 2, 3, {"AKM-T03": _turnout(10, 0, 1, ["1"])}))
    assert "AKM-T03" in check()
    assert rollup.builds == 2
    # a commission with no unit record yet is counted where its partials put it
    fold(_partial("turnout:1", 2, 2, {"AKM-T09": _turnout(7, 0, 7, ["3"])}))
    check()
    assert rollup.builds == 3 and rollup.out["KZ"]["turnout"]["by_report"]["3"]["voted"] == 7


def test_a_state_it_did_not_fold_rebuilds_it():
    """A partition's state that no merge returned (a table recovered from its changelog)
    must not be taken as the state the deltas were kept against."""
    registry = _registry()
    rollup = Rollup(registry)
    merged = {
        "turnout:0": merge(None, _partial("turnout:0", 1, 5, {"AKM-T01": _turnout(100, 1, 10, ["1"])}))[0]
    }
    rollup.update(merged, Touched())
    recovered = {
        "turnout:0": merge(None, _partial("turnout:0", 1, 6, {"AKM-T01": _turnout(100, 1, 30, ["1"])}))[0]
    }
    units, changed = rollup.update(recovered, Touched())  # nothing touched, yet a new state
    assert rollup.builds == 2 and units["KZ"]["turnout"]["voted"] == 30 and "KZ" in changed
