"""Partials on tally-partials are checked whole before stage two merges them."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ContractError
from monitor.tally import merge, snapshot, take_partial
from monitor.tally.wire import check_partial
from monitor.testing import InMemoryTally
from producers.elections.synthetic import generate


@pytest.fixture(scope="module")
def tally():
    e = generate(60, 8, seed=9, evote_ballots=200)
    t = InMemoryTally(e.registry)
    for ev in e.events:
        t.feed(ev.topic, ev.key, ev.value)
    # a token with two ballots, so that a tokens partial has some
    ballot = next(ev for ev in e.events if ev.topic == "evote").value
    other = next(s for s in t.registry.stations if s != ballot["station_id"])
    t.feed("evote", other, dict(ballot, station_id=other))
    assert t.rejected == []
    return t


@pytest.fixture(scope="module")
def partials(tally):
    """Every partial stage one makes, as it crosses the broker (JSON bytes, stamped)."""
    out = []
    for tp, store in tally.stores.items():
        p = take_partial(store, 1)
        if p is None:  # a tokens partition without a token used twice
            continue
        p.update(tp=tp, epoch=7, clock=1.19e9, behind=0)
        out.append(orjson.loads(orjson.dumps(p)))
    assert {p["kind"] for p in out} == {"turnout", "protocols", "summaries", "evote", "tokens"}
    assert any(p.get("tokens") for p in out)
    return out


def test_every_partial_stage_one_writes_passes(tally, partials):
    n = len(tally.registry.parties)
    merged = {p["tp"]: merge(None, check_partial(p, n))[0] for p in partials}
    assert snapshot(merged, tally.registry)["KZ"]["protocol"]["stations_reported"] == 60


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.pop("tp"),
        lambda p: p.update(kind="ballots"),
        lambda p: p.update(wm=-1),
        lambda p: p.update(wm=True),
        lambda p: p.update(epoch="1"),
        lambda p: p.update(clock=float("inf")),
        lambda p: p.update(tecs=[]),
        lambda p: next(iter(p["tecs"].values()))["pec"].append(1),
        lambda p: next(iter(p["tecs"].values()))["official"].__setitem__(0, -5),
        lambda p: next(iter(p["tecs"].values())).pop("n_pec"),
        lambda p: next(iter(p["tecs"].values()))["unanimous"].pop(),
        lambda p: next(iter(p["tecs"].values())).update(n_altered=2**64),
    ],
)
def test_a_malformed_protocols_partial_is_refused_with_a_reason(tally, partials, edit):
    p = copy.deepcopy(next(p for p in partials if p["kind"] == "protocols" and p["tecs"]))
    edit(p)
    with pytest.raises(ContractError) as info:
        check_partial(p, len(tally.registry.parties))
    assert info.value.code == "bad_partial" and info.value.detail


def test_malformed_turnout_summaries_and_tokens_are_refused(tally, partials):
    n = len(tally.registry.parties)
    turnout = copy.deepcopy(next(p for p in partials if p["kind"] == "turnout" and p["tecs"]))
    next(iter(turnout["tecs"].values()))["by_seq"]["x"] = [1, 2, 3, 4]
    summaries = copy.deepcopy(next(p for p in partials if p["summaries"]))
    next(iter(summaries["summaries"].values()))[0]["figures"].pop()
    tokens = copy.deepcopy(next(p for p in partials if p.get("tokens")))
    next(iter(tokens["tokens"].values())).append(["a", "b", "c"])
    for p in (turnout, summaries, tokens, None, [], "x"):
        with pytest.raises(ContractError):
            check_partial(p, n)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


def _paths(x, path=()):
    yield path
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, (*path, i))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_is_either_refused_or_merged_and_snapshotted(tally, partials, data):
    """Replace any one value of a real partial by anything JSON can hold: check_partial refuses
    it, or merge and snapshot take it without raising."""
    p = copy.deepcopy(data.draw(st.sampled_from(partials)))
    paths = [q for q in _paths(p) if q]
    path = data.draw(st.sampled_from(paths))
    node = p
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = data.draw(_JSON)
    try:
        checked = check_partial(orjson.loads(orjson.dumps(p)), len(tally.registry.parties))
    except ContractError:
        return
    merged = {q["tp"]: merge(None, q)[0] for q in partials if q["tp"] != checked["tp"]}
    merged[checked["tp"]] = merge(None, checked)[0]
    snapshot(merged, tally.registry)
