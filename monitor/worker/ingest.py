"""Stage one, the hot path: read the input topics in batches and keep per-partition state.

A Faust agent takes one event at a time through its stream machinery; measured here at about
6,300 events/s with ``take()`` (load/RESULTS.md). This service reads the same topics through
an aiokafka group consumer in batches, inside the Faust worker, which supervises it.

Restart safety: the state of a partition is a pure function of its log (latest absolute
figures per key), so on every assignment the partition is re-read from offset 0. Messages
below the committed offset were already handled once: they rebuild state but are not
dead-lettered or counted again. Offsets are committed only after the partials and dead letters
of everything before them are on the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from .. import readmodel
from ..alerting import Emitter
from ..alerting.runner import stage_one
from ..contract import parse_json, validate_registry_record
from ..deadletter import dead_letter
from ..detect import Finding, Thresholds
from ..errors import BUG, ContractError, bug_reason
from ..metrics import Metrics
from ..registry import Registry
from ..settings import Settings
from ..tally.intake import Intake, Rejection
from ..tally.partition import PartitionStore

log = logging.getLogger("tabmon.ingest")
# Topic (unprefixed) -> store kind. ``evote-tokens`` is fed by this service itself: each new
# e-ballot is forwarded there keyed by its voter token, so that every ballot of one token
# meets in one partition wherever it was cast (multiple voting spans stations).
INPUT_TOPICS = {"turnout": "turnout", "protocols": "protocols", "summaries": "summaries",
                "evote": "evote", "evote-tokens": "tokens"}  # fmt: skip
INPUT_KINDS = tuple(INPUT_TOPICS)


@dataclass(slots=True)
class _Owned:
    intake: Intake  # the partition's store and the step that feeds it
    replay_until: int  # offsets below this were handled before the assignment
    epoch: int  # when this worker took the partition: its first partial replaces older state
    next_offset: int = 0
    published: int = -1  # watermark of the last published partial
    published_behind: int = 0  # how far behind the broker that partial said the partition was
    clock: float = 0.0  # the latest event time read (unix seconds), carried by the partials

    @property
    def store(self) -> PartitionStore:
        return self.intake.store

    @property
    def rebuilt(self) -> bool:
        """Past the committed offset: the store holds everything that was handled before."""
        return self.next_offset >= self.replay_until


@dataclass
class Ingest:
    settings: Settings
    registry: Registry
    metrics: Metrics
    producer: AIOKafkaProducer
    owned: dict[TopicPartition, _Owned] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # topic name -> kind
    _pending: list[asyncio.Future[Any]] = field(default_factory=list)  # delivery futures
    _outbox: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # to send, from the hot loop
    redis: Any = None  # redis.asyncio client for the station read model, or None
    emitter: Emitter | None = None  # findings out; None: no detection in stage one
    thresholds: Thresholds = field(default_factory=Thresholds)
    _consumer: AIOKafkaConsumer | None = None
    _stopping: bool = False
    # Rebalance callbacks run while the loop may be suspended in a send or a flush: one lock
    # keeps processing, flushing and (re)assignment from interleaving.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _listener_error: BaseException | None = None
    _bugs: int = 0  # messages rejected with the code ``bug`` (their tracebacks are logged)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.kinds = {self.settings.topic(t): k for t, k in INPUT_TOPICS.items()}
        self.tokens_topic = self.settings.topic("evote-tokens")
        self.window = self.settings.time_window()

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.broker, group_id=f"{s.app_id}-ingest", enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=max(100, int(s.session_timeout * 1000 / 4)),
            max_poll_records=s.batch_size, max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
        )  # fmt: skip
        self._consumer = consumer
        consumer.subscribe(list(self.kinds), listener=_Listener(self))
        await consumer.start()
        self.metrics.alive.labels("ingest").set(1)
        last_flush = time.monotonic()
        try:
            while not self._stopping:
                batch = await consumer.getmany(timeout_ms=100, max_records=s.batch_size)
                if self._listener_error is not None:  # aiokafka only logs these: fail loudly
                    raise self._listener_error
                async with self._lock:
                    if batch:
                        t0 = time.perf_counter()
                        for tp, messages in batch.items():
                            self._process(tp, messages)
                        self.metrics.batch_seconds.observe(time.perf_counter() - t0)
                    await self._send_outbox()
                    if time.monotonic() - last_flush >= s.flush_interval:
                        await self._flush()
                        last_flush = time.monotonic()
                self.metrics.heartbeat.labels("ingest").set(time.time())
        finally:
            self.metrics.alive.labels("ingest").set(0)
            try:
                async with self._lock:
                    await self._flush()
            finally:
                await consumer.stop()
                self.done.set()

    def stop(self) -> None:
        self._stopping = True

    # -- the hot path ----------------------------------------------------------------------
    def _process(self, tp: TopicPartition, messages: list[Any]) -> None:
        owned = self.owned.get(tp)
        if owned is None:  # revoked while the fetch was in flight
            return
        if messages[0].offset > owned.next_offset:
            # Fetched from an older position before the seek to 0 took effect: a store must
            # see its partition from the start, so drop this; the fetch after the seek has it.
            return
        # every message is applied or rejected here, whatever it holds (monitor.tally.intake)
        res = owned.intake.batch(messages, owned.replay_until)
        owned.next_offset = messages[-1].offset + 1
        if res.clock is not None:
            owned.clock = max(owned.clock, res.clock)
        topic = tp.topic
        for key, value in res.forwards:
            self._send(self.tokens_topic, key, value)
        for r in res.rejected:
            self._dead_letter(tp, r)
        if res.accepted:
            self.metrics.events.labels(topic).inc(res.accepted)
            self.metrics.tally.last_event[topic] = time.time()
        if res.replayed:
            self.metrics.replayed.labels(topic).inc(res.replayed)
        self.metrics.offset.labels(topic, str(tp.partition)).set(owned.next_offset)

    def _dead_letter(self, tp: TopicPartition, r: Rejection) -> None:
        self.metrics.rejected.labels(tp.topic, r.code).inc()
        if r.error is not None:
            self._bugs += 1
            if self._bugs <= 10 or self._bugs % 1000 == 0:  # the traceback, not a flood of them
                log.error("bug #%d: %s[%d]@%d dead-lettered: %s", self._bugs, tp.topic,
                          tp.partition, r.offset, r.reason, exc_info=r.error)  # fmt: skip
        key, value = dead_letter(
            topic=tp.topic, partition=tp.partition, offset=r.offset, code=r.code,
            reason=r.reason, raw=r.raw, limit=self.settings.deadletter_raw_limit,
        )  # fmt: skip
        self._send(self.settings.topic("deadletter"), key, value)

    def _send(self, topic: str, key: bytes, value: bytes) -> None:
        # The hot loop is synchronous: queue, and let the async loop hand it to the producer.
        self._outbox.append((topic, key, value))

    async def _send_outbox(self) -> None:
        """Hand queued messages to the producer. ``send`` only waits when its buffer is full;
        one Task per message instead (tried first) flooded the event loop: 124k forwarded
        e-ballots took the 2007 drill from seconds to 80 s."""
        outbox, self._outbox = self._outbox, []
        send, pending = self.producer.send, self._pending
        for topic, key, value in outbox:
            pending.append(await send(topic, value=value, key=key))

    def input_partitions(self, kinds: tuple[str, ...]) -> list[str]:
        """``topic:partition`` of every partition of the input topics of ``kinds``, as the
        cluster's metadata has them (all of them, not only this worker's); before any
        metadata, the partitions the topics are created with."""
        c = self._consumer
        return [f"{topic}:{p}" for topic, kind in self.kinds.items() if kind in kinds
                for p in sorted((c.partitions_for_topic(topic) if c is not None else None)
                                or range(self.settings.partitions))]  # fmt: skip

    # -- publication and commits ------------------------------------------------------------
    async def _flush(self, only: list[TopicPartition] | None = None) -> None:
        """Publish changed partials, wait for every send, then commit what they cover.
        Called with the lock held (the loop and the rebalance callbacks take it).

        Nothing of a partition is published while it is being rebuilt (below the committed
        offset): its first publication is then complete and, with a newer epoch, replaces
        whatever an earlier owner published (see tally.national.merge)."""
        commits: dict[TopicPartition, int] = {}
        partials_topic = self.settings.topic("tally-partials")
        docs: dict[str, dict[str, bytes]] = {}  # station -> kind -> document
        findings: list[Finding] = []
        for tp, owned in list(self.owned.items()):
            if (only is not None and tp not in only) or not owned.rebuilt:
                continue
            kind = owned.store.kind
            station_docs = owned.store.take_station_docs()
            for sid, doc in station_docs.items():
                docs.setdefault(sid, {})[kind] = orjson.dumps(doc)
            high = self._consumer.highwater(tp) if self._consumer is not None else None
            behind = max(0, (high or 0) - owned.next_offset)
            # A partition that read nothing new is published again only when it fell behind:
            # a stale "read to the end" would let stage two compare it with newer data of
            # another partition (see monitor.detect.unit_findings)
            if owned.next_offset == owned.published and behind == owned.published_behind:
                findings += self._detect(kind, station_docs, {})
                continue
            partial = owned.store.take_partial(owned.next_offset) or {
                "kind": kind, "wm": owned.next_offset, "tecs": {}, "summaries": {}}
            findings += self._detect(kind, station_docs, partial.get("tokens", {}))
            partial["tp"] = f"{tp.topic}:{tp.partition}"
            partial["epoch"] = owned.epoch
            partial["clock"] = owned.clock
            partial["behind"] = behind
            self._send(partials_topic, partial["tp"].encode(), orjson.dumps(partial))
            owned.published, owned.published_behind = owned.next_offset, behind
            if owned.next_offset > owned.replay_until:
                commits[tp] = owned.next_offset
            self.metrics.partials.inc()
        await self._send_outbox()
        pending, self._pending = self._pending, []
        if pending:
            # a failed delivery raises here, before anything is committed
            await asyncio.gather(*pending)
        if docs and self.redis is not None:
            await readmodel.write_stations(self.redis, self.settings.app_id, docs)
        if findings and self.emitter is not None:  # before the commit: at least once
            await self.emitter.emit(findings)
        if commits and self._consumer is not None:
            assigned = self._consumer.assignment()
            commits = {tp: off for tp, off in commits.items() if tp in assigned}
            try:
                await self._consumer.commit(commits)
            except (CommitFailedError, IllegalStateError) as exc:
                # A rebalance took the partitions meanwhile; their new owner rebuilds them from
                # offset 0, so an uncommitted offset costs a re-read, never a total.
                log.warning("commit skipped after a rebalance: %s", exc)
        await self._update_lag()

    def _detect(self, kind: str, docs: dict[str, dict[str, Any]], tokens: dict[str, Any]
                ) -> list[Finding]:  # fmt: skip
        if self.emitter is None or not (docs or tokens):
            return []
        t0 = time.perf_counter()
        errors: list[tuple[str, Exception]] = []
        found = stage_one(kind, docs, tokens, self.registry, self.thresholds, errors)
        self.metrics.detect_seconds.labels("stage1").observe(time.perf_counter() - t0)
        for what, exc in errors:
            self.metrics.detector_errors.labels("stage1").inc()
            log.error("a stage-one detector raised on %s; its findings are missing", what,
                      exc_info=exc)  # fmt: skip
        return found

    async def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        per_topic: dict[str, int] = {t: 0 for t in self.kinds}
        for tp, owned in self.owned.items():
            high = consumer.highwater(tp)
            if high is not None:
                per_topic[tp.topic] += max(0, high - owned.next_offset)
        for topic, lag in per_topic.items():
            self.metrics.lag.labels(topic).set(lag)

    # -- assignment ---------------------------------------------------------------------------
    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        async with self._lock:
            committed = {tp: await consumer.committed(tp) or 0 for tp in assigned}
            if assigned:
                await consumer.seek_to_beginning(*assigned)
            epoch = time.time_ns()  # later owners of a partition have later epochs
            if assigned and self.emitter is not None:
                self.emitter.forget()
            for tp in assigned:  # owned only once the seek is done (see _process)
                store = PartitionStore(self.kinds[tp.topic], self.registry)
                intake = Intake(store, self.registry, self.settings.max_message_bytes, self.window)
                self.owned[tp] = _Owned(intake, replay_until=committed[tp], epoch=epoch)
                log.info("assigned %s:%d, rebuilding from offset 0 (committed %d)",
                         tp.topic, tp.partition, committed[tp])  # fmt: skip

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            await self._flush(only=list(revoked))
            for tp in revoked:
                self.owned.pop(tp, None)
                with contextlib.suppress(KeyError):  # no gauge for a partition never read
                    self.metrics.offset.remove(tp.topic, str(tp.partition))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka only logs what a rebalance callback raises; keep it for run() to raise."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        try:
            await self.ingest.on_revoked(revoked)
        except Exception as exc:  # noqa: BLE001 - handed to run(), which crashes the worker
            self.ingest._listener_error = exc

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        try:
            await self.ingest.on_assigned(assigned)
        except Exception as exc:  # noqa: BLE001 - handed to run(), which crashes the worker
            self.ingest._listener_error = exc


class RegistryFollower:
    """Reads the whole compacted registry topic (every partition, no group) into the registry:
    first to its end before anything else starts, then live."""

    def __init__(self, settings: Settings, registry: Registry, metrics: Metrics) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.topic = settings.topic("registry")
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None  # for dead letters; None: logged only

    async def start(self) -> None:
        c = AIOKafkaConsumer(bootstrap_servers=self.settings.broker, enable_auto_commit=False,
                             auto_offset_reset="earliest", group_id=None)  # fmt: skip
        await c.start()
        parts = c.partitions_for_topic(self.topic)
        if not parts:
            await c.stop()
            self.consumer = None
            log.warning("registry topic %r not found; using the registry file only", self.topic)
            return
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        self.consumer = c
        end = await c.end_offsets(tps)
        while [tp for tp in tps if await c.position(tp) < end[tp]]:
            await self.poll(timeout_ms=500)
        log.info("registry loaded: %s", self.registry.summary())

    async def poll(self, timeout_ms: int = 0) -> int:
        if self.consumer is None:
            return 0
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=20000)
        n = 0
        letters = []
        for tp, messages in batch.items():
            for m in messages:
                rejected = self._apply(m)
                if rejected is None:
                    n += 1
                    continue
                code, reason = rejected
                self.metrics.rejected.labels(self.topic, code).inc()
                log.error("registry record at offset %d rejected: %s: %s", m.offset, code, reason)
                letters.append(dead_letter(topic=tp.topic, partition=tp.partition, offset=m.offset,
                                           code=code, reason=reason, raw=m.value,
                                           limit=self.settings.deadletter_raw_limit))  # fmt: skip
        if letters and self.producer is not None:
            # at least once: the registry is re-read from the start at every start
            topic = self.settings.topic("deadletter")
            await asyncio.gather(*[await self.producer.send(topic, value=v, key=k) for k, v in letters])
        return n

    def _apply(self, m: Any) -> tuple[str, str] | None:
        """Apply one registry record; (code, reason) if it is rejected. No record, whatever it
        holds, raises out of here (a bug is rejected with the code ``bug``)."""
        try:
            record = parse_json(m.value)
            validate_registry_record(record)
            if record["type"] == "ballot" and self.registry.parties and tuple(
                    record["parties"]) != self.registry.parties:  # fmt: skip
                return "ballot_conflict", "a second ballot with other parties; the first stays in use"
            self.registry.apply(record)
        except ContractError as exc:
            return exc.code, exc.detail
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: this record alone is rejected
            log.exception("bug: registry record at offset %d", m.offset)
            return BUG, bug_reason(exc)
        return None

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
