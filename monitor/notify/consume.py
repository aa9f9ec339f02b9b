"""From the ``alerts`` topic to the delivery queue: decide, record in Redis, then commit.

An aiokafka group consumer (group ``<app_id>-notify``) reads the findings in batches. For
every batch, each finding is matched against the subscriptions and every notification it
makes is recorded as pending in Redis; only then are the batch's offsets committed. A crash
before the commit re-reads the batch, and the ``seen`` state turns what was already recorded
into nothing: nothing is lost and nothing is queued twice.

Every record read is used or rejected: one the notifier cannot use (not a finding, or one it
could not decide on) is counted, logged and sent to the ``deadletter`` topic with its reason,
and the broker has acknowledged it before the batch is committed. Nothing one record holds
can raise out of a batch, so no record can stop the notifier, nor stop it again after every
restart; Redis or the broker failing still does (docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from monitor import topics
from monitor.contract import dead_letter
from monitor.errors import BUG, ProcessError, bug_reason
from monitor.notify.metrics import NotifyMetrics
from monitor.notify.model import (
    Incoming,
    Notification,
    Seen,
    Subscription,
    Unusable,
    check_finding,
    in_scope,
    next_notification,
    payload,
)
from monitor.notify.store import APPLIED, CONFLICT, Enqueue, Store
from monitor.settings import Settings

log = logging.getLogger("tabmon.notify")


def ledger_entry(note: Notification, finding: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A delivery's first record in the ledger (``seq`` is added by the store)."""
    return {
        "delivery_id": note.delivery_id,
        "finding_id": note.finding_id,
        "digest": note.digest,
        "event": note.event,
        "kind": finding["kind"],
        "severity": finding["severity"],
        "unit_id": finding["unit_id"],
        "updated": finding.get("updated"),
        "enqueued_at": now.isoformat(timespec="milliseconds"),
        "attempts": 0,
        "refusals": 0,
        "status": "pending",
        "next_attempt_at": 0,
        "delivered_at": None,
        "http_status": None,
        "last_error": None,
    }


# Called with a finding that raised while being decided on, and what it raised: that finding
# alone is then left out. Without one, the exception goes up (a direct caller sees its bug).
OnError = Callable[[Incoming, Exception], None]


def _isolate(on_error: OnError | None, item: Incoming, exc: Exception) -> None:
    if on_error is None or isinstance(exc, MemoryError):  # MemoryError is the process, not the record
        raise exc
    on_error(item, exc)


def plan(
    subs: Iterable[Subscription],
    batch: list[Incoming],
    seen: dict[tuple[str, str], Seen | None],
    now: datetime,
    on_error: OnError | None = None,
) -> list[Enqueue]:
    """The notifications a batch of findings makes, in order, given what each subscriber was
    told (``seen``, carried along the batch: a finding twice in one batch is decided against
    its earlier occurrence). Pairs missing from ``seen`` are out of scope. A finding that
    raises makes no notification at all, for any subscriber (see ``on_error``)."""
    out = []
    state = dict(seen)
    for item in batch:
        try:
            made = _plan_one(subs, item, state, now)
        except Exception as exc:  # noqa: BLE001 - one finding's failure is that finding's alone
            _isolate(on_error, item, exc)
            continue
        for e in made:
            out.append(e)
            state[(e.note.sub_id, e.note.finding_id)] = e.note.seen
    return out


def _plan_one(
    subs: Iterable[Subscription], item: Incoming, state: dict[tuple[str, str], Seen | None], now: datetime
) -> list[Enqueue]:
    made = []
    for sub in subs:
        key = (sub.sub_id, item.finding_id)
        if key not in state:
            continue
        note = next_notification(sub, item, state[key])
        if note is not None:
            made.append(
                Enqueue(note, state[key], ledger_entry(note, item.finding, now), payload(note, item.finding))
            )
    return made


def _scope(
    subs: dict[str, Subscription], batch: list[Incoming], on_error: OnError | None
) -> tuple[list[Incoming], set[tuple[str, str]]]:
    """The findings that could be scoped, and the (subscription, finding) pairs in scope."""
    kept: list[Incoming] = []
    pairs: set[tuple[str, str]] = set()
    for item in batch:
        try:
            pairs.update((s.sub_id, item.finding_id) for s in subs.values() if in_scope(s, item.finding))
        except Exception as exc:  # noqa: BLE001 - as in plan
            _isolate(on_error, item, exc)
            continue
        kept.append(item)
    return kept, pairs


async def record(
    store: Store,
    subs: dict[str, Subscription],
    batch: list[Incoming],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_error: OnError | None = None,
) -> list[Notification]:
    """Record the notifications of a batch in Redis; returns those recorded by this call.

    A conflict means another notifier recorded for the same finding meanwhile (a partition
    moving during a rebalance): read the state again and decide again. Deciding again is safe
    for the pairs already recorded, since their seen state now marks those messages read.
    ``on_error`` hears of each finding that raised while being decided on, once; nothing of
    it is recorded. Redis failing raises, whatever ``on_error``."""
    failed: set[int] = set()

    def fail(item: Incoming, exc: Exception) -> None:
        failed.add(id(item))
        _isolate(on_error, item, exc)

    todo = batch
    recorded: list[Notification] = []
    while todo:
        todo, in_scope_pairs = _scope(subs, todo, fail)
        pairs = sorted(in_scope_pairs)
        seen = dict(zip(pairs, await store.seen(pairs), strict=True))
        items = plan(subs.values(), todo, seen, now(), fail)
        results = await store.enqueue(items)
        recorded += [it.note for it, r in zip(items, results, strict=True) if r == APPLIED]
        conflicted = {it.note.finding_id for it, r in zip(items, results, strict=True) if r == CONFLICT}
        todo = [i for i in todo if i.finding_id in conflicted and id(i) not in failed]
    return recorded


def decode(raw: bytes | None) -> dict[str, Any]:
    """A finding from a message value, or :class:`~.model.Unusable` (a ValueError) saying why not."""
    if not raw:
        raise Unusable("malformed_json", "empty message")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Unusable("malformed_json", f"not JSON: {exc}") from None
    return check_finding(record)


@dataclass(frozen=True)
class Rejection:
    """A record on ``alerts`` that is not used: where it is, why, and its bytes."""

    partition: int
    offset: int
    code: str  # one of model.REJECTIONS
    reason: str
    raw: bytes | None
    error: BaseException | None = None  # what a ``bug`` raised, for the log


def triage(batch: Mapping[Any, Sequence[Any]]) -> tuple[list[Incoming], list[Rejection]]:
    """Every message of a batch (``{TopicPartition: [ConsumerRecord]}``), decoded: the
    findings in order, and a rejection for each of the others. Raises nothing but MemoryError."""
    found: list[Incoming] = []
    rejected: list[Rejection] = []
    for tp, messages in batch.items():
        for m in messages:
            try:
                found.append(Incoming(decode(m.value), tp.partition, m.offset))
            except Unusable as exc:
                rejected.append(Rejection(tp.partition, m.offset, exc.code, str(exc), m.value))
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug: this record alone is rejected
                rejected.append(
                    Rejection(tp.partition, m.offset, BUG, bug_reason(exc, "decoding"), m.value, exc)
                )
    return found, rejected


class Consumer:
    """Reads ``alerts`` and records notifications; ``wake(sub_id)`` tells the senders. What it
    cannot use goes to ``deadletter`` through ``producer`` (made by :meth:`run`)."""

    def __init__(
        self, settings: Settings, store: Store, metrics: NotifyMetrics, wake: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.wake = wake
        self.topic = settings.topic(topics.ALERTS)
        self.deadletter_topic = settings.topic(topics.DEADLETTER)
        self.producer: Any = None
        self.bugs = 0  # records rejected as bugs: the first tracebacks are logged, not a flood
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=s.broker,
            group_id=f"{s.app_id}-notify",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=max(100, int(s.session_timeout * 1000 / 4)),
            max_poll_records=500,
        )
        # acks=all: a dead letter is on the broker for good before the batch is committed
        producer = AIOKafkaProducer(bootstrap_servers=s.broker, acks="all")
        try:
            await consumer.start()
            await producer.start()
        except KafkaError as exc:
            await consumer.stop()
            await producer.stop()
            raise ProcessError(f"no Kafka broker at {s.broker}: {exc}") from None
        self.producer = producer
        self.metrics.up.labels("consumer").set(1)
        try:
            while not self._stopping:
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                if batch:
                    await self._handle(batch)
                    await self._commit(consumer, batch)
                self.metrics.heartbeat.labels("consumer").set(time.time())
        finally:
            self.metrics.up.labels("consumer").set(0)
            await consumer.stop()
            await producer.stop()

    async def _handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Record what a batch notifies and dead-letter what it cannot use; returns when both
        are stored (Redis, the broker), so that the batch may be committed."""
        findings, rejected = triage(batch)
        undecided = 0
        if findings:
            raws = {(tp.partition, m.offset): m.value for tp, messages in batch.items() for m in messages}

            def failed(item: Incoming, exc: Exception) -> None:
                nonlocal undecided
                undecided += 1
                rejected.append(
                    Rejection(
                        item.partition,
                        item.offset,
                        BUG,
                        bug_reason(exc, "deciding"),
                        raws.get((item.partition, item.offset)),
                        exc,
                    )
                )

            subs = await self.store.subscriptions()
            for note in await record(self.store, subs, findings, on_error=failed):
                self.metrics.enqueued.labels(note.event).inc()
                self.wake(note.sub_id)
        self.metrics.consumed.inc(len(findings) - undecided)
        await self._reject(rejected)

    async def _reject(self, rejected: list[Rejection]) -> None:
        """Count, log and dead-letter each rejection; returns once the broker acknowledged all."""
        acks = []
        for r in rejected:
            self.metrics.invalid.labels(r.code).inc()
            where = f"{self.topic}[{r.partition}]@{r.offset}"
            if r.error is None:  # our own topic: a bad record is a bug upstream, say so
                log.error("dead-lettered %s (%s): %s", where, r.code, r.reason)
            else:
                self.bugs += 1
                trace = self.bugs <= 10 or self.bugs % 1000 == 0
                log.error(
                    "bug #%d: dead-lettered %s: %s",
                    self.bugs,
                    where,
                    r.reason,
                    exc_info=r.error if trace else None,
                )
            key, value = dead_letter(
                topic=self.topic,
                partition=r.partition,
                offset=r.offset,
                code=r.code,
                reason=r.reason,
                raw=r.raw,
                limit=self.settings.deadletter_raw_limit,
            )
            acks.append(await self.producer.send(self.deadletter_topic, value=value, key=key))
        if acks:
            await asyncio.gather(*acks)

    async def _commit(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Any]]) -> None:
        offsets = {tp: messages[-1].offset + 1 for tp, messages in batch.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved: their new owner re-reads from the last commit, and the
            # seen state makes the re-read record nothing twice.
            log.warning("commit skipped after a rebalance: %s", exc)
        await asyncio.sleep(0)
