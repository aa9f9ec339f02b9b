"""Routing: every event meets its station's other events in one store, whatever partition its
producer chose; the assignor keeps a store's two sources on one worker."""

from __future__ import annotations

import random
import zlib

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_murmur2
from truth import compare, expected_totals

from monitor.tally.route import Router, home_of, murmur2
from monitor.testing import InMemoryTally
from monitor.worker.assign import ColocatedAssignor
from monitor.worker.stores import Store
from producers.elections.synthetic import generate

PARTITIONS = 5


@given(st.binary(max_size=64))
def test_murmur2_is_kafkas(data):
    assert murmur2(data) == kafka_murmur2(data) & 0xFFFFFFFF


@given(st.text(min_size=1, max_size=40), st.integers(1, 64))
def test_home_is_where_the_java_client_and_aiokafka_put_a_message_keyed_by_the_id(key, n):
    raw = key.encode()
    assert home_of(raw, n) == DefaultPartitioner()(raw, list(range(n)), list(range(n)))
    router = Router("protocols", n)
    assert router.home(key) == router.home(key) == home_of(raw, n)


@pytest.fixture(scope="module")
def election():
    return generate(90, 10, seed=17, evote_ballots=300)


def _crc32(key: bytes | None) -> int:
    return zlib.crc32(key or b"") % PARTITIONS  # librdkafka's default, consistent_random


def _tally(election, partitioner, events=None) -> InMemoryTally:
    t = InMemoryTally(election.registry, partitions=PARTITIONS, partitioner=partitioner)
    t.feed_events(events if events is not None else election.events, flush_every=37)
    assert t.rejected == []
    return t


@pytest.mark.parametrize("name", ["murmur2", "crc32", "random", "unkeyed", "mixed"])
def test_totals_are_exact_whatever_partition_each_event_arrives_on(election, name):
    rng = random.Random(name)
    partitioner = {
        "murmur2": None,
        "crc32": _crc32,
        "random": lambda key: rng.randrange(PARTITIONS),
        "unkeyed": lambda key: rng.randrange(PARTITIONS),
        "mixed": lambda key: rng.choice(
            (_crc32(key), rng.randrange(PARTITIONS), home_of(key or b"", PARTITIONS))
        ),
    }[name]
    events = election.events
    if name == "unkeyed":  # no key at all: where it belongs comes from the event itself
        events = [type(e)(e.at, e.topic, None, e.value) for e in events]
    t = _tally(election, partitioner, events)
    parties = election.parties
    assert compare(t.snapshot(), expected_totals(election.truth, parties), parties) == []
    every_token = {
        tok for store in t.stores.values() if store.kind == "tokens" for tok in store.token_ballots
    }
    assert len(every_token) == sum(1 for e in election.events if e.topic == "evote")
    if name == "murmur2":
        assert t.rerouted == 0
    else:
        assert t.rerouted > len(events) // 2  # most events were somewhere else


def test_each_station_lives_in_its_home_store_alone(election):
    t = _tally(election, lambda key: random.Random(len(key or b"")).randrange(PARTITIONS))
    where: dict[str, set[str]] = {}
    for sid, store in t.stores.items():
        for station in (*store.protocols, *store.turnout_reports):
            where.setdefault(station, set()).add(sid.split(":")[1])
    assert where and all(len(parts) == 1 for parts in where.values())
    assert all(int(next(iter(p))) == home_of(s.encode(), PARTITIONS) for s, p in where.items())


class _Cluster:
    def __init__(self, topics: dict[str, int]) -> None:
        self.topics = topics

    def partitions_for_topic(self, topic):
        return set(range(self.topics[topic])) if topic in self.topics else None


class _Member:
    def __init__(self, topics) -> None:
        self.subscription = list(topics)


@settings(max_examples=60)
@given(st.integers(1, 7), st.integers(1, 12), st.integers(0, 4))
def test_the_assignor_gives_every_partition_number_whole_to_one_member(members, n, extra):
    topics = {"t.protocols": n, "t.protocols-routed": n, "t.turnout": n + extra, "t.turnout-routed": n}
    ids = [f"m{i}" for i in range(members)]
    out = ColocatedAssignor.assign(_Cluster(topics), {m: _Member(topics) for m in ids})
    owner: dict[int, str] = {}
    got: set[tuple[str, int]] = set()
    for mid, assignment in out.items():
        for topic, parts in assignment.assignment:
            for p in parts:
                assert owner.setdefault(p, mid) == mid  # one member per partition number
                got.add((topic, p))
    assert got == {(t, p) for t, k in topics.items() for p in range(k)}  # every partition
    counts = [sum(len(ps) for _, ps in a.assignment) for a in out.values()]
    assert max(counts) - min(counts) <= 4 * (1 + extra)  # numbers are dealt evenly


def test_a_store_waits_for_its_forwards_and_detects_only_on_states_complete_in_time():
    from aiokafka import TopicPartition

    from monitor.contract import Registry
    from monitor.tally import PartitionStore

    st_ = Store("t.protocols:0", PartitionStore("protocols", Registry(parties=("A",))), epoch=1)
    tp = TopicPartition("t.protocols-routed", 3)
    st_.add_pending(tp, needed=10, at=100.0)
    st_.add_pending(tp, needed=20, at=50.0)
    assert st_.settled() == pytest.approx(50.0 - 1e-3)
    st_.settle({tp: 10})
    assert [p.needed for p in st_.pending] == [20]
    st_.settle({tp: 25})
    assert st_.pending == [] and st_.settled() is None
    st_.store.latest_at.update({"A-1": 100.0, "A-2": 200.0})
    state = {"A-1": {"x": 1}, "A-2": {"x": 2}}  # the store's documents as they are now
    assert st_.ready(dict(state), read_to=150.0, derive=state.__getitem__) == {"A-1": {"x": 1}}
    assert st_.ready({}, read_to=150.0, derive=state.__getitem__) == {}
    assert st_.ready({}, read_to=200.0, derive=state.__getitem__) == {"A-2": {"x": 2}}  # derived now
    state["A-2"] = {"x": 3}
    assert st_.ready({"A-2": {"x": 3}}, 200.0, state.__getitem__) == {"A-2": {"x": 3}}  # the latest


@pytest.mark.parametrize("slack", [1024, 0])
def test_a_store_releases_waiting_documents_by_their_time_whatever_replaced_them(monkeypatch, slack):
    """Stage one's wait (Store.ready) against the rule it keeps: a document is released once
    ``read_to`` reaches the latest event time it was taken at, the latest document only, once;
    with the heap rebuilt whenever it holds more stale entries than the slack allows."""
    import random

    from monitor.worker import stores

    monkeypatch.setattr(stores, "STALE_SLACK", slack)

    from monitor.contract import Registry
    from monitor.tally import PartitionStore

    rng = random.Random(7)
    st_ = Store("t.protocols:0", PartitionStore("protocols", Registry(parties=("A",))), epoch=1)
    model: dict[str, tuple[int, float]] = {}  # station -> (document, its time), as the rule says
    state: dict[str, dict[str, int]] = {}  # station -> its latest document (the store's state)
    read_to, version = 0.0, 0
    for _ in range(400):
        changed = {}
        for sid in rng.sample([f"A-{i}" for i in range(30)], rng.randint(0, 6)):
            at = st_.store.latest_at.get(sid, 0.0) + rng.choice([0.0, 0.0, 1.0, 5.0])
            st_.store.latest_at[sid] = at
            version += 1
            changed[sid] = state[sid] = {"v": version}
            model[sid] = (version, at)
        read_to += rng.choice([0.0, 0.5, 2.0])
        got = st_.ready(changed, read_to, state.__getitem__)
        assert len(st_._due) <= 2 * len(st_.waiting) + slack
        due = {sid: {"v": v} for sid, (v, at) in model.items() if at <= read_to}
        assert got == due
        for sid in due:
            del model[sid]
    assert st_.ready({}, float("inf"), state.__getitem__) == {sid: {"v": v} for sid, (v, _) in model.items()}


def test_a_store_waiting_through_a_catch_up_keeps_its_heap_bounded():
    """During a catch-up the same stations change at every flush while nothing is released:
    the heap is rebuilt from the waiting stations, and each is still released once, latest."""
    from monitor.contract import Registry
    from monitor.tally import PartitionStore
    from monitor.worker import stores

    st_ = Store("t.turnout:0", PartitionStore("turnout", Registry(parties=("A",))), epoch=1)
    state: dict[str, dict[str, int]] = {}
    for flush in range(1, 3 * stores.STALE_SLACK):
        changed = {}
        for sid in ("A-0", "A-1", "A-2") if flush == 1 else ("A-1", "A-2"):  # A-0 waits from the start
            st_.store.latest_at[sid] = float(flush)
            changed[sid] = state[sid] = {"v": flush}
        assert st_.ready(changed, read_to=0.0, derive=state.__getitem__) == {}
        assert len(st_._due) <= 2 * len(st_.waiting) + stores.STALE_SLACK
    assert st_.ready({}, float("inf"), state.__getitem__) == state
    assert st_.waiting == {} and st_._due == []
