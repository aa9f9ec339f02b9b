"""Stage one's I/O shell (monitor.worker.ingest) against an in-memory broker.

The Kafka clients are replaced by a broker of lists (``Broker``) with the few calls the
ingest service makes: sends that return delivery futures, committed offsets, seeks, commits
and high-water marks. Everything else is the worker's own code: its processing of batches,
forwards through the routed topics, dead letters, flushes of partials, the order of
deliveries and commits, and the rebuild after a restart. Its partials, merged and rolled up
by stage two's own functions, must give the totals the in-memory tally gives.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from monitor import topics
from monitor.adapters.metrics import Metrics
from monitor.contract import build
from monitor.settings import Settings
from monitor.tally import merge, snapshot
from monitor.tally.route import ROUTED_TOPICS
from monitor.testing import InMemoryTally
from monitor.worker.ingest import INPUT_KINDS, Ingest
from producers.elections.synthetic import generate

N = 3  # partitions of every topic
BAD = b'{"v": 1, "type": "protocol", "station_id": 7}'


@dataclass(frozen=True)
class Record:
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


@dataclass
class Broker:
    """Topic-partition logs, and the calls of AIOKafkaProducer and AIOKafkaConsumer that the
    ingest service makes, over them."""

    logs: dict[tuple[str, int], list[Record]] = field(default_factory=dict)
    committed_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)  # topics whose deliveries fail
    assigned: set[TopicPartition] = field(default_factory=set)

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> int:
        log = self.logs.setdefault((topic, partition), [])
        log.append(Record(len(log), key, value))
        return len(log) - 1

    # -- AIOKafkaProducer -------------------------------------------------------------------
    async def send(self, topic: str, value: bytes, key: bytes, partition: int | None = None) -> Any:
        fut: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()
        if topic in self.failing:
            fut.set_exception(OSError(f"delivery to {topic} failed"))
            return fut
        p = partition if partition is not None else zlib.crc32(key) % N
        fut.set_result(Delivered(topic, p, self.append(topic, p, key, value)))
        return fut

    # -- AIOKafkaConsumer -------------------------------------------------------------------
    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        self.committed_offsets.update(offsets)

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.logs.get((tp.topic, tp.partition), []))

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(N))

    def records(self, topic: str) -> list[Record]:
        return [r for p in range(N) for r in self.logs.get((topic, p), [])]


@pytest.fixture(scope="module")
def election():
    return generate(40, 8, seed=11, evote_ballots=80)


def _feed(broker: Broker, election) -> None:
    """The night as a producer on CRC32 would put it: most events away from home."""
    for e in election.events:
        key = e.key.encode()
        broker.append(e.topic, zlib.crc32(key) % N, key, orjson.dumps(e.value))
    broker.append("protocols", 0, b"x", BAD)


async def _ingest(broker: Broker, election) -> Ingest:
    registry = build(election.registry)
    ingest = Ingest(Settings(partitions=N), registry, Metrics.create(CollectorRegistry()), broker)
    ingest._consumer = broker  # type: ignore[assignment]
    ingest.routes = await ingest._routes(broker)  # type: ignore[arg-type]
    broker.assigned = {TopicPartition(t, p) for t in ingest.kinds for p in range(N)}
    await ingest.on_assigned(set(broker.assigned))
    return ingest


async def _run(ingest: Ingest, broker: Broker) -> None:
    """The run loop's work without its consumer: every new record of every assigned
    partition in batches, a flush after each round, until nothing new arrives (forwards come
    back through the routed topics, which this worker also holds)."""
    while True:
        fed = False
        for tp in sorted(broker.assigned, key=lambda tp: (tp.topic, tp.partition)):
            src = ingest.sources[tp]
            batch = broker.logs.get((tp.topic, tp.partition), [])[src.next_offset :]
            for i in range(0, len(batch), 50):
                ingest._process(tp, batch[i : i + 50])
                fed = True
        await ingest._flush()
        if not fed:
            return


def _totals(broker: Broker, registry_records) -> dict[str, Any]:
    """Stage two's merge and snapshot over the partials on the broker, in their order."""
    registry = build(registry_records)
    merged: dict[str, Any] = {}
    for r in broker.records(topics.PARTIALS):
        partial = orjson.loads(r.value)
        merged[partial["tp"]], _ = merge(merged.get(partial["tp"]), partial)
    return snapshot(merged, registry)


def _reference(election) -> dict[str, Any]:
    tally = InMemoryTally(election.registry, partitions=N)
    tally.feed_events(election.events)
    return tally.snapshot()


def _figures(units: dict[str, Any]) -> dict[str, Any]:
    return {uid: (u["protocol"], u["turnout"]) for uid, u in units.items()}


def _partials_broker(election) -> Broker:
    """A broker holding the night's input and the partials stage one published from it."""

    async def main() -> Broker:
        broker = Broker()
        _feed(broker, election)
        await _run(await _ingest(broker, election), broker)
        return broker

    return asyncio.run(main())


def test_partials_give_the_in_memory_totals_at_every_unit(election):
    broker = _partials_broker(election)
    assert _figures(_totals(broker, election.registry)) == _figures(_reference(election))
    # events away from home went through the routed topics
    assert broker.records(ROUTED_TOPICS["protocols"]) and broker.records(ROUTED_TOPICS["turnout"])


def test_a_bad_message_is_dead_lettered_once_with_its_reason_and_bytes(election):
    broker = _partials_broker(election)
    (letter,) = broker.records(topics.DEADLETTER)
    record = orjson.loads(letter.value)
    assert record["code"] == "wrong_type" and "station_id" in record["reason"]
    assert record["topic"] == "protocols" and record["partition"] == 0
    assert record["offset"] == len(broker.logs[("protocols", 0)]) - 1
    assert record["raw"] == BAD.decode()


def test_offsets_are_committed_past_every_record_once_it_is_tallied(election):
    broker = _partials_broker(election)
    for kind in INPUT_KINDS:
        for p in range(N):
            end = len(broker.logs.get((kind, p), []))
            if end:
                assert broker.committed_offsets[TopicPartition(kind, p)] == end


def test_a_failed_delivery_commits_nothing(election):
    async def main() -> Broker:
        broker = Broker()
        _feed(broker, election)
        ingest = await _ingest(broker, election)
        broker.failing.add(topics.PARTIALS)
        with pytest.raises(OSError, match="delivery to tally-partials failed"):
            await _run(ingest, broker)
        return broker

    broker = asyncio.run(main())
    assert broker.commits == []


def test_a_restarted_worker_rebuilds_the_same_totals_without_dead_lettering_again(election):
    async def main() -> tuple[Broker, dict[str, Any], int, int]:
        broker = Broker()
        _feed(broker, election)
        await _run(await _ingest(broker, election), broker)
        before = _totals(broker, election.registry)
        letters = len(broker.records(topics.DEADLETTER))
        first = len(broker.records(topics.PARTIALS))
        await _run(await _ingest(broker, election), broker)  # a new worker, same committed offsets
        return broker, before, letters, first

    broker, before, letters, first = asyncio.run(main())
    after = _totals(broker, election.registry)
    assert _figures(after) == _figures(before) == _figures(_reference(election))
    assert len(broker.records(topics.DEADLETTER)) == letters == 1
    # the new owner's partials replace the old ones: a later epoch for every store it published
    partials = [orjson.loads(r.value) for r in broker.records(topics.PARTIALS)]
    old = {p["tp"]: p["epoch"] for p in partials[:first]}
    new = {p["tp"]: p["epoch"] for p in partials[first:]}
    assert new and set(new) <= set(old)
    assert all(new[tp] > old[tp] for tp in new)


def test_revoking_a_partition_publishes_its_store_and_lets_it_go(election):
    async def main() -> tuple[Broker, Ingest]:
        broker = Broker()
        _feed(broker, election)
        ingest = await _ingest(broker, election)
        tp = TopicPartition("turnout", 1)
        src = ingest.sources[tp]
        batch = broker.logs[("turnout", 1)]
        ingest._process(tp, batch)
        sent = len(broker.records(topics.PARTIALS))
        await ingest.on_revoked({tp, TopicPartition(ROUTED_TOPICS["turnout"], 1)})
        assert src.next_offset == len(batch)
        assert len(broker.records(topics.PARTIALS)) == sent + 1  # its last partial
        return broker, ingest

    broker, ingest = asyncio.run(main())
    assert "turnout:1" not in ingest.stores
    assert TopicPartition("turnout", 1) not in ingest.sources
    assert broker.committed_offsets[TopicPartition("turnout", 1)] == len(broker.logs[("turnout", 1)])


# -- stage two: the fold and the snapshot (monitor.worker.app) -----------------------------
@dataclass(frozen=True)
class Message:
    """A partial as the consumer hands it to stage two."""

    value: bytes
    offset: int
    topic: str = topics.PARTIALS
    partition: int = 0


def _stage_two(election, broker: Broker, extra: list[bytes]):
    from monitor.worker.app import Worker

    worker = Worker(Settings(partitions=N, redis_url=""), Metrics.create(CollectorRegistry()))
    worker.registry = build(election.registry)
    values = [r.value for r in broker.records(topics.PARTIALS)]
    for i, value in enumerate([*values[:5], *extra, *values[5:]]):
        worker._fold(Message(value, i))
    return worker


def test_stage_two_folds_the_partials_into_the_totals_and_dead_letters_forged_ones(election):
    broker = _partials_broker(election)
    forged = [
        b"not json",
        orjson.dumps({"kind": "protocols", "wm": 1, "tp": "protocols:0", "tecs": {"X": {}}, "summaries": {}}),
        b'{"kind": "protocols", "wm": -1, "tp": "protocols:0", "tecs": {}, "summaries": {}}',
    ]
    worker = _stage_two(election, broker, forged)
    assert [orjson.loads(v)["offset"] for _, v in worker._rejected_partials] == [5, 6, 7]
    codes = [orjson.loads(v)["code"] for _, v in worker._rejected_partials]
    assert codes == ["malformed_json", "bad_partial", "bad_partial"]
    units = asyncio.run(worker._snapshot())
    assert _figures(units) == _figures(_reference(election))
    assert worker.dirty is False


def test_stage_two_read_again_gives_the_same_totals_and_no_second_dead_letter(election):
    """On every assignment stage two re-reads tally-partials from offset 0 into a fresh state:
    the same totals, and what was dead-lettered before (below the committed offset) is not
    dead-lettered again."""

    broker = _partials_broker(election)
    worker = _stage_two(election, broker, [b"not json"])
    first = asyncio.run(worker._snapshot())
    assert len(worker._rejected_partials) == 1
    worker._rejected_partials.clear()
    worker._reset()
    assert worker.partials == {} and worker.dirty
    values = [r.value for r in broker.records(topics.PARTIALS)]
    for i, value in enumerate([*values[:5], b"not json", *values[5:]]):
        worker._fold(Message(value, i), replayed=i <= 5)
    assert worker._rejected_partials == []
    again = asyncio.run(worker._snapshot())
    assert again == first and worker.rollup.builds == 1


def test_the_workers_redis_client_waits_for_a_reply_longer_than_redis_pys_default():
    """redis-py 8 gives up after 5 s and counts time the event loop spent elsewhere: at
    823,236 stations that stopped the worker (load/RESULTS.md, "Scale")."""
    from monitor.worker.app import REDIS_TIMEOUT, Worker

    worker = Worker(Settings(redis_url="redis://127.0.0.1:1/0"), Metrics.create(CollectorRegistry()))
    assert worker.redis.connection_pool.connection_kwargs["socket_timeout"] == REDIS_TIMEOUT >= 60


class _Pipe:
    def __init__(self, written: list[set[str]]) -> None:
        self.written, self.keys = written, set()

    def set(self, key: str, value: bytes) -> None:
        self.keys.add(key)

    def mset(self, mapping: dict[str, bytes]) -> None:
        self.keys.update(mapping)

    async def execute(self) -> None:
        self.written.append(self.keys)


class _Redis:
    """Records the keys each snapshot writes (readmodel.write_snapshot's pipeline)."""

    def __init__(self) -> None:
        self.written: list[set[str]] = []

    def pipeline(self, transaction: bool = True) -> _Pipe:
        return _Pipe(self.written)


def test_a_snapshot_writes_the_units_changed_and_every_unit_now_and_then(election):
    from monitor.worker.app import FULL_WRITE_EVERY

    broker = _partials_broker(election)
    values = [r.value for r in broker.records(topics.PARTIALS)]
    at = max(i for i, v in enumerate(values) if orjson.loads(v)["tecs"])  # the last with commissions
    worker = _stage_two(election, Broker(), [])  # nothing folded yet
    worker.redis = fake = _Redis()
    for i, value in enumerate(values[:at] + values[at + 1 :]):
        worker._fold(Message(value, i))
    units = asyncio.run(worker._snapshot())
    every = {f"{worker.settings.app_id}:unit:{u}" for u in units} | {f"{worker.settings.app_id}:meta"}
    assert fake.written[-1] == every  # the first snapshot: every unit
    last = orjson.loads(values[at])
    worker._fold(Message(values[at], len(values)))
    asyncio.run(worker._snapshot())
    touched = set(last["tecs"])
    assert (
        touched and touched <= {k.rsplit(":", 1)[1] for k in fake.written[-1]} and fake.written[-1] != every
    )
    worker._rewritten_at -= FULL_WRITE_EVERY  # a minute later
    asyncio.run(worker._snapshot())
    assert fake.written[-1] == every
    # spread over the minute: six snapshots ten seconds apart write every unit once between
    # them, none of them all (at 1,050,000 stations all 25,000 at once held the loop for 6 s)
    meta, seen = f"{worker.settings.app_id}:meta", set()
    for _ in range(6):
        worker._rewritten_at -= FULL_WRITE_EVERY / 6
        asyncio.run(worker._snapshot())
        keys = fake.written[-1] - {meta}
        assert len(keys) <= len(units) // 6 + 2
        seen |= keys
    assert seen == every - {meta}


def test_stage_two_goes_on_when_a_rebalance_fails_its_commit():
    """At 1,050,000 stations a worker missed its heartbeats while busy and the group moved on:
    its next commit of the partials' position failed, and the failure stopped the worker. It
    is now logged and skipped (the partition's next owner re-reads it from offset 0)."""
    from aiokafka.errors import CommitFailedError

    from monitor.worker.aggregate import PartialsReader

    class Consumer:
        def __init__(self, fail: bool) -> None:
            self.fail, self.commits = fail, []

        async def commit(self, offsets):
            if self.fail:
                raise CommitFailedError("the group has already rebalanced")
            self.commits.append(offsets)

    async def nothing() -> None:
        return None

    reader = PartialsReader(
        Settings(app_id="t"), Metrics.create(CollectorRegistry()), lambda m, r: None, lambda: None, nothing
    )
    failing, working = Consumer(fail=True), Consumer(fail=False)
    asyncio.run(reader.commit(failing, 40))
    assert reader.committed == 0  # not committed: a dead letter below 40 may be sent again
    asyncio.run(reader.commit(working, 50))
    assert reader.committed == 50 and working.commits == [{reader.tp: 50}]


def test_a_snapshot_takes_at_most_so_many_commissions_and_the_next_ones_the_rest(election, monkeypatch):
    """A snapshot re-derives at most SNAPSHOT_TECS commissions, the longest-waiting first:
    until the rest are in, the meta counts them as pending and the detectors keep the read-to
    time of the last snapshot that had every commission; then the totals are exact."""
    from monitor.cli.progress import behind
    from monitor.worker import app

    broker = _partials_broker(election)
    values = [r.value for r in broker.records(topics.PARTIALS)]
    worker = _stage_two(election, Broker(), [])
    worker.redis = fake = _Redis()
    metas: list[dict[str, Any]] = []

    async def write_snapshot(redis, prefix, units, meta):
        metas.append(meta)

    monkeypatch.setattr(app.readmodel, "write_snapshot", write_snapshot)
    monkeypatch.setattr(app, "SNAPSHOT_TECS", 3)
    worker._fold(Message(values[0], 0))
    asyncio.run(worker._snapshot())  # from scratch: every commission at once
    assert worker.deferred == [] and metas[-1]["rollup_pending"] == 0
    for i, value in enumerate(values[1:], 1):
        worker._fold(Message(value, i))
    read_to = worker.read_to
    touched = len(worker.touched.tecs)
    assert touched > 3
    rounds = 0
    while True:
        units = asyncio.run(worker._snapshot())
        rounds += 1
        pending = metas[-1]["rollup_pending"]
        assert pending == len(worker.deferred) == max(0, touched - 3 * rounds)
        if not pending:
            break
        assert worker.dirty and worker.read_to == read_to  # held until every commission is in
        assert behind(metas[-1], {}) == pending
    assert rounds == -(-touched // 3) and worker.read_to >= read_to
    assert _figures(units) == _figures(_reference(election))
    assert fake is worker.redis


def test_a_commission_waits_at_most_as_long_as_the_backlog_ahead_of_it():
    from monitor.worker.app import take

    taken, left = take([], {"c", "a", "b"}, 2)
    assert taken == {"a", "b"} and left == ["c"]
    taken, left = take(left, {"a", "b", "d"}, 2)  # "c" waited: it goes first
    assert taken == {"c", "a"} and left == ["b", "d"]
    taken, left = take(left, {"a"}, 2)
    assert taken == {"b", "d"} and left == ["a"]
    assert take(left, set(), 2) == ({"a"}, [])
