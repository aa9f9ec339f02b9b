"""Stage two's table of small entries (monitor.tally.table): folding partials entry by entry
and assembling them gives exactly the states ``merge`` keeps whole, and no entry grows with
the number of commissions in a partition."""

from __future__ import annotations

import copy

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.tally.national import merge
from monitor.tally.table import assemble, fold

TPS = ("protocols:0", "summaries:1")


def _record(version: int, figure: int) -> dict:
    return {
        "level": "tec",
        "version": version,
        "recorded_at": "t",
        "stations_included": 1,
        "figures": [figure],
    }


@st.composite
def partials(draw):
    tp = draw(st.sampled_from(TPS))
    tecs = draw(
        st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 3).map(lambda x: {"n": x}), max_size=3)
    )
    units = st.sampled_from(["U1", "U2", "U|3"])
    records = st.lists(st.builds(_record, st.integers(1, 2), st.integers(0, 2)), max_size=2)
    p = {
        "kind": tp.split(":")[0],
        "tp": tp,
        "epoch": draw(st.integers(1, 3)),
        "wm": draw(st.integers(0, 6)),
        "clock": float(draw(st.integers(0, 5))),
        "behind": draw(st.integers(0, 2)),
        "settled": draw(st.sampled_from([None, 1.0, 2.0])),
        "src": {tp: draw(st.integers(0, 6))},
        "pending": draw(st.integers(0, 1)),
        "tecs": tecs,
        "summaries": draw(st.dictionaries(units, records, max_size=2)),
        "tokens": draw(
            st.dictionaries(
                st.sampled_from("xy"),
                st.lists(st.sampled_from([["s1", "a"], ["s2", "b"]]), max_size=2),
                max_size=1,
            )
        ),
    }
    if draw(st.booleans()):
        p["contest_summaries"] = {"D1": draw(st.dictionaries(units, records, max_size=2))}
    return p


def _through_json(x):
    return orjson.loads(orjson.dumps(x))  # what a changelog gives back


@settings(max_examples=400, deadline=None)
@given(st.lists(partials(), max_size=12))
def test_the_entries_assemble_to_what_merge_keeps(sequence):
    merged: dict = {}
    table: dict = {}
    for p in sequence:
        want, want_changed = merge(copy.deepcopy(merged.get(p["tp"])), copy.deepcopy(p))
        merged[p["tp"]] = want
        writes, changed = fold(table.get, copy.deepcopy(p))
        table.update(_through_json(writes))
        assert changed == want_changed
        assert assemble(table.items()) == _through_json(merged)


def test_an_entry_stays_small_however_many_commissions_a_partition_has():
    tecs = {f"TEC-{i}": {"votes": [i] * 20} for i in range(5000)}
    p = {"kind": "protocols", "tp": "protocols:0", "epoch": 1, "wm": 5, "tecs": tecs, "summaries": {}}
    writes, changed = fold({}.get, p)
    assert changed and len(writes) == 5001  # a head and one entry per commission
    assert max(len(orjson.dumps(v)) for v in writes.values()) < 200
    table = dict(writes)
    again, changed = fold(table.get, {**p, "wm": 6, "tecs": {"TEC-7": {"votes": [1] * 20}}})
    assert changed and set(again) == {"protocols:0", '["protocols:0","t","TEC-7"]'}  # what changed only
    assert fold(table.get, p) == ({}, False)  # delivered twice: nothing to write
