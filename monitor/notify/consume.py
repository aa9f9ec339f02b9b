"""From the ``alerts`` topic to the delivery queue: decide, record in Redis, then commit.

An aiokafka group consumer (group ``<app_id>-notify``) reads the findings in batches. For
every batch, each finding is matched against the subscriptions and every notification it
makes is recorded as pending in Redis; only then are the batch's offsets committed. A crash
before the commit re-reads the batch, and the ``seen`` state turns what was already recorded
into nothing: nothing is lost and nothing is queued twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError  # type: ignore[import-untyped]

from ..errors import ProcessError
from ..settings import Settings
from .metrics import NotifyMetrics
from .model import (
    Incoming,
    Notification,
    Seen,
    Subscription,
    check_finding,
    in_scope,
    next_notification,
    payload,
)
from .store import APPLIED, CONFLICT, Enqueue, Store

log = logging.getLogger("tabmon.notify")


def ledger_entry(note: Notification, finding: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A delivery's first record in the ledger (``seq`` is added by the store)."""
    return {"delivery_id": note.delivery_id, "finding_id": note.finding_id, "digest": note.digest,
            "event": note.event, "kind": finding["kind"], "severity": finding["severity"],
            "unit_id": finding["unit_id"], "updated": finding.get("updated"),
            "enqueued_at": now.isoformat(timespec="milliseconds"), "attempts": 0, "refusals": 0,
            "status": "pending", "next_attempt_at": 0, "delivered_at": None, "http_status": None,
            "last_error": None}  # fmt: skip


def plan(subs: Iterable[Subscription], batch: list[Incoming],
         seen: dict[tuple[str, str], Seen | None], now: datetime) -> list[Enqueue]:  # fmt: skip
    """The notifications a batch of findings makes, in order, given what each subscriber was
    told (``seen``, carried along the batch: a finding twice in one batch is decided against
    its earlier occurrence). Pairs missing from ``seen`` are out of scope."""
    out = []
    state = dict(seen)
    for item in batch:
        for sub in subs:
            key = (sub.sub_id, item.finding_id)
            if key not in state:
                continue
            note = next_notification(sub, item, state[key])
            if note is None:
                continue
            out.append(Enqueue(note, state[key], ledger_entry(note, item.finding, now),
                               payload(note, item.finding)))  # fmt: skip
            state[key] = note.seen
    return out


async def record(store: Store, subs: dict[str, Subscription], batch: list[Incoming],
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Notification]:  # fmt: skip
    """Record the notifications of a batch in Redis; returns those recorded by this call.

    A conflict means another notifier recorded for the same finding meanwhile (a partition
    moving during a rebalance): read the state again and decide again. Deciding again is safe
    for the pairs already recorded, since their seen state now marks those messages read."""
    todo = batch
    recorded: list[Notification] = []
    while todo:
        pairs = sorted({(s.sub_id, i.finding_id) for i in todo for s in subs.values()
                        if in_scope(s, i.finding)})  # fmt: skip
        seen = dict(zip(pairs, await store.seen(pairs), strict=True))
        items = plan(subs.values(), todo, seen, now())
        results = await store.enqueue(items)
        recorded += [it.note for it, r in zip(items, results, strict=True) if r == APPLIED]
        conflicted = {it.note.finding_id for it, r in zip(items, results, strict=True) if r == CONFLICT}
        todo = [i for i in todo if i.finding_id in conflicted]
    return recorded


def decode(raw: bytes | None) -> dict[str, Any]:
    """A finding from a message value, or ValueError."""
    if raw is None:
        raise ValueError("empty message")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    return check_finding(record)


class Consumer:
    """Reads ``alerts`` and records notifications; ``wake(sub_id)`` tells the senders."""

    def __init__(self, settings: Settings, store: Store, metrics: NotifyMetrics,
                 wake: Callable[[str], None]) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.wake = wake
        self.topic = settings.topic("alerts")
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=s.broker, group_id=f"{s.app_id}-notify",
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=max(100, int(s.session_timeout * 1000 / 4)), max_poll_records=500,
        )  # fmt: skip
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise ProcessError(f"no Kafka broker at {s.broker}: {exc}") from None
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

    async def _handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        findings = []
        for tp, messages in batch.items():
            for m in messages:
                try:
                    findings.append(Incoming(decode(m.value), tp.partition, m.offset))
                except ValueError as exc:  # our own topic: a bad record is a bug upstream, say so
                    self.metrics.invalid.inc()
                    log.error("skipping %s[%d]@%d: %s", tp.topic, tp.partition, m.offset, exc)
        self.metrics.consumed.inc(len(findings))
        if not findings:
            return
        subs = await self.store.subscriptions()
        for note in await record(self.store, subs, findings):
            self.metrics.enqueued.labels(note.event).inc()
            self.wake(note.sub_id)

    async def _commit(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Any]]) -> None:
        offsets = {tp: messages[-1].offset + 1 for tp, messages in batch.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved: their new owner re-reads from the last commit, and the
            # seen state makes the re-read record nothing twice.
            log.warning("commit skipped after a rebalance: %s", exc)
        await asyncio.sleep(0)
