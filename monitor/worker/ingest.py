"""Stage one, the hot path: read the input topics in batches and keep per-partition state.

Routing: each event's state lives in the store of its home partition (monitor.tally.route),
whatever partition its producer chose. An event at home is applied where it is read; any
other is forwarded to its home through the kind's routed topic, which the home's worker reads
into the same store (the group's assignor gives one worker partition ``p`` of every topic).

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
import functools
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from monitor import topics
from monitor.adapters import readmodel
from monitor.adapters.metrics import Metrics
from monitor.alerting import Emitter
from monitor.alerting.runner import stage_one
from monitor.contract import Registry, dead_letter
from monitor.detect import Finding, Thresholds
from monitor.errors import ProcessError
from monitor.settings import Settings
from monitor.tally import take_partial, take_station_docs
from monitor.tally.derive import station_doc
from monitor.tally.intake import Intake, Rejection
from monitor.tally.partition import PartitionStore
from monitor.tally.route import ROUTED_TOPICS, Router
from monitor.tally.shapes import StationDoc
from monitor.worker.assign import ColocatedAssignor
from monitor.worker.rebalance import Listener
from monitor.worker.stores import Source, Store

log = logging.getLogger("tabmon.ingest")
# The producers' topics (unprefixed), each read into stores of the kind of the same name.
INPUT_KINDS = topics.INPUTS
STORE_KINDS = (*INPUT_KINDS, "tokens")
# Stage one detects on these kinds' station documents only once every partition is read up
# to the latest event in them: a station's events may come through several partitions, read
# at their own paces, and a state that never existed in time order (a TEC copy beside the
# PEC protocol it copies, before that protocol) would raise a finding never withdrawn.
GATED_KINDS = ("protocols", "turnout")


@dataclass
class Ingest:
    settings: Settings
    registry: Registry
    metrics: Metrics
    producer: AIOKafkaProducer
    sources: dict[TopicPartition, Source] = field(default_factory=dict)
    stores: dict[str, Store] = field(default_factory=dict)  # by partial key (Store.sid)
    # delivery futures, each with (store id, event time) when it is a forward
    _pending: list[tuple[asyncio.Future[Any], tuple[str, float] | None]] = field(default_factory=list)
    # to send, from the hot loop: (topic, key, value, partition or None, forward tag or None)
    _outbox: list[tuple[str, bytes, bytes, int | None, tuple[str, float] | None]] = field(
        default_factory=list
    )
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
        t = self.settings.topic
        # topic -> store kind: the input topics, and the routed topics that bring events home
        self.kinds = {t(k): k for k in INPUT_KINDS} | {t(ROUTED_TOPICS[k]): k for k in STORE_KINDS}
        self.routed = {k: t(ROUTED_TOPICS[k]) for k in STORE_KINDS}
        # a store's id is its input topic's partition (evote-tokens' for tokens)
        self.store_topic = {k: t(k) for k in INPUT_KINDS} | {"tokens": t(ROUTED_TOPICS["tokens"])}
        self.window = self.settings.time_window()
        self.routes: dict[str, Router] = {}

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.broker,
            group_id=f"{s.app_id}-ingest",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=max(100, int(s.session_timeout * 1000 / 4)),
            max_poll_records=s.batch_size,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            partition_assignment_strategy=(ColocatedAssignor,),
        )
        self._consumer = consumer
        consumer.subscribe(list(self.kinds), listener=Listener(self))
        await consumer.start()
        self.routes = await self._routes(consumer)
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

    async def _routes(self, consumer: AIOKafkaConsumer) -> dict[str, Router]:
        """Each kind's home partitions: as many as its routed topic has (every worker reads
        the same metadata, so every worker sends an event to the same home)."""
        routes = {}
        for kind, topic in self.routed.items():
            n = consumer.partitions_for_topic(topic)
            if not n:
                await consumer.stop()
                raise ProcessError(
                    f"topic {topic!r} does not exist: create the topics with"
                    " `tabmon topics` (events are routed home through it)"
                )
            routes[kind] = Router(kind, len(n))
        return routes

    def stop(self) -> None:
        self._stopping = True

    # -- the hot path ----------------------------------------------------------------------
    def _process(self, tp: TopicPartition, messages: list[Any]) -> None:
        src = self.sources.get(tp)
        if src is None:  # revoked while the fetch was in flight
            return
        if messages[0].offset > src.next_offset:
            # Fetched from an older position before the seek to 0 took effect: a store must
            # see its partition from the start, so drop this; the fetch after the seek has it.
            return
        # every message is applied, sent home or rejected here, whatever it holds
        res = src.intake.batch(messages, src.replay_until)
        src.next_offset = messages[-1].offset + 1
        store = self.stores[self._store_id(tp)]
        if res.clock is not None:
            store.clock = max(store.clock, res.clock)
        topic = tp.topic
        for f in res.forwards:
            self._outbox.append((self.routed[f.kind], f.key, f.value, f.partition, (store.sid, f.at)))
        for r in res.rejected:
            self._dead_letter(tp, r)
        if res.accepted:
            self.metrics.events.labels(topic).inc(res.accepted)
            self.metrics.tally.last_event[topic] = time.time()
        if res.rerouted:
            self.metrics.rerouted.labels(topic).inc(res.rerouted)
        if res.replayed:
            self.metrics.replayed.labels(topic).inc(res.replayed)
        self.metrics.offset.labels(topic, str(tp.partition)).set(src.next_offset)

    def _dead_letter(self, tp: TopicPartition, r: Rejection) -> None:
        self.metrics.rejected.labels(tp.topic, r.code).inc()
        if r.error is not None:
            self._bugs += 1
            if self._bugs <= 10 or self._bugs % 1000 == 0:  # the traceback, not a flood of them
                log.error(
                    "bug #%d: %s[%d]@%d dead-lettered: %s",
                    self._bugs,
                    tp.topic,
                    tp.partition,
                    r.offset,
                    r.reason,
                    exc_info=r.error,
                )
        key, value = dead_letter(
            topic=tp.topic,
            partition=tp.partition,
            offset=r.offset,
            code=r.code,
            reason=r.reason,
            raw=r.raw,
            limit=self.settings.deadletter_raw_limit,
        )
        self._send(self.settings.topic(topics.DEADLETTER), key, value)

    def _send(self, topic: str, key: bytes, value: bytes) -> None:
        # The hot loop is synchronous: queue, and let the async loop hand it to the producer.
        self._outbox.append((topic, key, value, None, None))

    async def _send_outbox(self) -> None:
        """Hand queued messages to the producer. ``send`` only waits when its buffer is full;
        one Task per message instead (tried first) flooded the event loop: 124k forwarded
        e-ballots took the 2007 drill from seconds to 80 s."""
        outbox, self._outbox = self._outbox, []
        send, pending = self.producer.send, self._pending
        for topic, key, value, partition, tag in outbox:
            pending.append((await send(topic, value=value, key=key, partition=partition), tag))

    async def _delivered(self) -> None:
        """Wait for every send (a failed delivery raises here, before anything is committed);
        the forwards each store made are then pending at their homes."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        results = await asyncio.gather(*(fut for fut, _ in pending))
        waits: dict[tuple[str, TopicPartition], tuple[int, float]] = {}
        for (_, tag), md in zip(pending, results, strict=True):
            if tag is None:
                continue
            key = (tag[0], TopicPartition(md.topic, md.partition))
            needed, at = waits.get(key, (0, tag[1]))
            waits[key] = (max(needed, md.offset + 1), min(at, tag[1]))
        for (sid, tp), (needed, at) in waits.items():
            store = self.stores.get(sid)
            if store is not None:  # else revoked meanwhile: its new owner rebuilds it
                store.add_pending(tp, needed, at)

    async def _settle(self) -> None:
        """Drop the pending forwards their homes have published: a home commits its routed
        partition only once its partial with them is on the broker."""
        tps = {p.tp for store in self.stores.values() for p in store.pending}
        if not tps or self._consumer is None:
            return
        known = {tp: self.sources[tp].committed for tp in tps if tp in self.sources}
        remote = [tp for tp in tps if tp not in known]
        for tp, off in zip(
            remote, await asyncio.gather(*(self._consumer.committed(tp) for tp in remote)), strict=True
        ):
            known[tp] = off or 0
        for store in self.stores.values():
            store.settle(known)

    def input_partitions(self, kinds: tuple[str, ...]) -> list[str]:
        """The partial key of every store of ``kinds``, in every worker: a partition number of
        its input or its routed topic, as the cluster's metadata has them; before any
        metadata, the partitions the topics are created with."""
        c = self._consumer
        out = []
        for kind in kinds:
            numbers: set[int] = set()
            for topic in {self.store_topic[kind], self.routed[kind]}:
                numbers |= (c.partitions_for_topic(topic) if c is not None else None) or set()
            out += [
                f"{self.store_topic[kind]}:{p}" for p in sorted(numbers or range(self.settings.partitions))
            ]
        return out

    def _store_id(self, tp: TopicPartition) -> str:
        return f"{self.store_topic[self.kinds[tp.topic]]}:{tp.partition}"

    # -- publication and commits ------------------------------------------------------------
    async def _flush(self, only: set[str] | None = None) -> None:
        """Publish changed partials, wait for every send, then commit what they cover.
        Called with the lock held (the loop and the rebalance callbacks take it).

        Nothing of a store is published while it is being rebuilt (below the committed
        offsets): its first publication is then complete and, with a newer epoch, replaces
        whatever an earlier owner published (see tally.national.merge)."""
        await self._send_outbox()
        await self._delivered()  # every forward so far is on the broker, where its home reads it
        await self._settle()
        read_to = await self._read_to()
        commits: dict[TopicPartition, int] = {}
        partials_topic = self.settings.topic(topics.PARTIALS)
        docs: dict[str, dict[str, bytes]] = {}  # station -> kind -> document
        findings: list[Finding] = []
        for sid, st in list(self.stores.items()):
            if (only is not None and sid not in only) or not st.rebuilt:
                continue
            kind = st.store.kind
            station_docs = take_station_docs(st.store)
            for station, doc in station_docs.items():
                docs.setdefault(station, {})[kind] = orjson.dumps(doc)
            behind = self._lag(st) + len(st.pending)  # forwards on their way count as unread
            settled = min(st.clock, st.settled() or st.clock)
            # A store that read nothing new is published again only when it fell behind or
            # its forwards arrived: a stale "read to the end" would let stage two compare it
            # with newer data of another partition (see monitor.detect.unit_findings)
            state = (st.wm, behind, settled if behind else None)
            gated = kind in GATED_KINDS
            ready = (
                st.ready(station_docs, read_to, functools.partial(station_doc, st.store))
                if gated
                else station_docs
            )
            if state == st.published:
                findings += self._detect(kind, ready, {})
                continue
            partial = take_partial(st.store, st.wm) or {
                "kind": kind,
                "wm": st.wm,
                "tecs": {},
                "summaries": {},
            }
            findings += self._detect(kind, ready, partial.get("tokens", {}))
            partial["tp"], partial["epoch"], partial["clock"] = sid, st.epoch, st.clock
            partial["behind"], partial["settled"] = behind, settled
            partial["src"], partial["pending"] = st.offsets(), len(st.pending)
            self._send(partials_topic, sid.encode(), orjson.dumps(partial))
            st.published = state
            commits |= {s.tp: s.next_offset for s in st.sources if s.next_offset > s.replay_until}
            self.metrics.partials.inc()
        await self._send_outbox()
        await self._delivered()
        if docs and self.redis is not None:
            await readmodel.write_stations(self.redis, self.settings.app_id, docs)
        if findings and self.emitter is not None:  # before the commit: at least once
            await self.emitter.emit(findings)
        await self._commit(commits)
        await self._update_lag()

    async def _commit(self, commits: dict[TopicPartition, int]) -> None:
        if not commits or self._consumer is None:
            return
        assigned = self._consumer.assignment()
        commits = {tp: off for tp, off in commits.items() if tp in assigned}
        try:
            await self._consumer.commit(commits)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partitions meanwhile; their new owner rebuilds them from
            # offset 0, so an uncommitted offset costs a re-read, never a total.
            log.warning("commit skipped after a rebalance: %s", exc)
            return
        for tp, off in commits.items():
            if tp in self.sources:
                self.sources[tp].committed = off

    async def _read_to(self) -> float:
        """The event time every input partition is read up to, as the last snapshot found it
        (its meta in Redis, from the worker that owns stage two); 0.0 before any snapshot.
        Without Redis there is no sweep either, and stage one detects at once."""
        if self.redis is None:
            return math.inf
        meta = await readmodel.read_meta_async(self.redis, self.settings.app_id)
        if meta is None or "read_to" not in meta:
            return 0.0
        return math.inf if meta["read_to"] is None else float(meta["read_to"])

    def _lag(self, st: Store) -> int:
        c = self._consumer
        return sum(
            max(0, ((c.highwater(s.tp) if c is not None else None) or 0) - s.next_offset) for s in st.sources
        )

    def _detect(self, kind: str, docs: Mapping[str, StationDoc], tokens: Mapping[str, Any]) -> list[Finding]:
        if self.emitter is None or not (docs or tokens):
            return []
        t0 = time.perf_counter()
        errors: list[tuple[str, Exception]] = []
        found = stage_one(kind, docs, tokens, self.registry, self.thresholds, errors)
        self.metrics.detect_seconds.labels("stage1").observe(time.perf_counter() - t0)
        for what, exc in errors:
            self.metrics.detector_errors.labels("stage1").inc()
            log.error("a stage-one detector raised on %s; its findings are missing", what, exc_info=exc)
        return found

    async def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        per_topic: dict[str, int] = {t: 0 for t in self.kinds}
        for tp, src in self.sources.items():
            high = consumer.highwater(tp)
            if high is not None:
                per_topic[tp.topic] += max(0, high - src.next_offset)
        for topic, lag in per_topic.items():
            self.metrics.lag.labels(topic).set(lag)

    # -- assignment ---------------------------------------------------------------------------
    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        async with self._lock:
            committed = {tp: await consumer.committed(tp) or 0 for tp in assigned}
            # a store is built whole, from all of its sources this worker holds now
            touched = {self._store_id(tp) for tp in assigned}
            kept = {tp: s.committed for tp, s in self.sources.items() if self._store_id(tp) in touched}
            await self._rebuild(touched, committed | kept)
            if assigned and self.emitter is not None:
                self.emitter.forget()

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            touched = {self._store_id(tp) for tp in revoked if tp in self.sources}
            await self._flush(only=touched)
            for tp in revoked:
                self.sources.pop(tp, None)
                with contextlib.suppress(KeyError):  # no gauge for a partition never read
                    self.metrics.offset.remove(tp.topic, str(tp.partition))
            # a store that lost a source while keeping another cannot be whole: the group
            # does not assign partition numbers whole (a worker without ColocatedAssignor?)
            left = {tp: s.committed for tp, s in self.sources.items() if self._store_id(tp) in touched}
            for sid in touched:
                self.stores.pop(sid, None)
            if left:
                log.error(
                    "partitions %s are held without the rest of their stores' sources; rebuilding them alone",
                    sorted(str(tp) for tp in left),
                )
                await self._rebuild({self._store_id(tp) for tp in left}, left)

    async def _rebuild(self, sids: set[str], committed: dict[TopicPartition, int]) -> None:
        """Fresh stores ``sids`` from these sources, each re-read from offset 0; what is below
        its committed offset rebuilds state without being counted, rejected or sent again."""
        assert self._consumer is not None
        if committed:
            await self._consumer.seek_to_beginning(*committed)
        epoch = time.time_ns()  # later owners of a partition have later epochs
        for sid in sids:
            kind = self.kinds[next(tp.topic for tp in committed if self._store_id(tp) == sid)]
            self.stores[sid] = Store(sid, PartitionStore(kind, self.registry), epoch)
        for tp, off in committed.items():  # owned only once the seek is done (see _process)
            st = self.stores[self._store_id(tp)]
            intake = Intake(
                st.store,
                self.registry,
                self.settings.max_message_bytes,
                self.window,
                partition=tp.partition,
                routes=self.routes,
            )
            st.sources.append(src := Source(tp, intake, replay_until=off, committed=off))
            self.sources[tp] = src
            log.info(
                "assigned %s:%d to %s, rebuilding from offset 0 (committed %d)",
                tp.topic,
                tp.partition,
                st.sid,
                off,
            )
