"""Replay an election into the broker: the registry first, then the events in clock order.

aiokafka's batch builder sends (``load/producers.py`` measured it against kafka-python's
producer and confluent-kafka's); ``producer()`` is kafka-python's, for the benchmarks that
place messages themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from kafka import KafkaProducer

from monitor.errors import MonitorError
from monitor.settings import Settings
from monitor.tally.route import home_of

Progress = Callable[[int, datetime | None], None]  # (sent so far, drill clock)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str  # unprefixed: registry, turnout, protocols, summaries, evote
    key: bytes | None
    value: bytes
    at: datetime | None = None


def messages_of(registry: Sequence[dict[str, Any]], events: Iterable[Any]) -> list[Message]:
    """Registry records (keyed by their id) then timed events (``.at .topic .key .value``)."""
    out = [Message("registry", registry_key(r).encode(), orjson.dumps(r)) for r in registry]
    for e in events:
        out.append(Message(e.topic, e.key.encode(), orjson.dumps(e.value), e.at))
    return out


def registry_key(record: dict[str, Any]) -> str:
    kind = record.get("type")
    if kind == "station":
        return str(record["station_id"])
    if kind == "unit":
        return str(record["unit_id"])
    return "ballot"


def producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.broker,
        linger_ms=10,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        acks=1,
        retries=5,
    )


def send(
    settings: Settings,
    messages: Iterable[Message],
    *,
    speed: float = 0.0,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Send every message; with ``speed`` > 0, pace them by their clock (N times real time).

    Returns how many were sent, once every one is acknowledged by the broker. Flushes before
    returning, also when stopped early. ``messages`` is read as a stream: what is held at any
    time is one open batch per partition and what the producer has in flight.
    """
    return asyncio.run(_send(settings, messages, speed, progress, should_stop))


BATCH_BYTES = 512 * 1024
REQUEST_TIMEOUT_MS = 120_000  # a batch is retried this long (a busy broker may pause)
LINGER_SECONDS = 0.1  # at the latest, an open batch is sent this long after the last was
_CHECK_EVERY = 500  # messages between checks of the clock, progress and futures


class _Batches:
    """aiokafka's batch builder, one open batch per partition. A keyed message goes where
    kafka-python and the Java client put it (murmur2 of the key, the monitor's own home), so
    nothing is forwarded; a message without a key goes round the partitions."""

    def __init__(self, prod: AIOKafkaProducer) -> None:
        self.prod = prod
        self.open: dict[tuple[str, int], Any] = {}
        self.partitions: dict[str, int] = {}
        self.pending: list[tuple[tuple[str, int], asyncio.Future[Any]]] = []
        self.spin = 0

    async def add(self, topic: str, key: bytes | None, value: bytes) -> None:
        n = self.partitions.get(topic)
        if n is None:
            n = self.partitions[topic] = len(await self.prod.partitions_for(topic))
        if key is None:
            self.spin += 1
            part = self.spin % n
        else:
            part = home_of(key, n)
        where = (topic, part)
        batch = self.open.get(where)
        if batch is None:
            batch = self.open[where] = self.prod.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            await self._submit(where, batch)
            batch = self.open[where] = self.prod.create_batch()
            batch.append(key=key, value=value, timestamp=None)

    async def _submit(self, where: tuple[str, int], batch: Any) -> None:
        batch.close()
        self.pending.append((where, await self.prod.send_batch(batch, where[0], partition=where[1])))

    async def send_open(self) -> None:
        batches, self.open = self.open, {}
        for where, batch in batches.items():
            await self._submit(where, batch)

    def check(self) -> None:
        """Drop the acknowledged batches; raise the first delivery error."""
        left = []
        for where, f in self.pending:
            if not f.done():
                left.append((where, f))
            elif f.exception() is not None:
                raise _refused(where, f.exception())
        self.pending = left

    async def flush(self) -> None:
        await self.send_open()
        for where, f in self.pending:
            try:
                await f
            except KafkaError as exc:
                raise _refused(where, exc) from None
        self.pending = []


class ReplayError(MonitorError):
    """Messages could not be delivered."""


def _refused(where: tuple[str, int], exc: BaseException | None) -> ReplayError:
    return ReplayError(
        f"the broker did not take a batch for {where[0]}:{where[1]} within"
        f" {REQUEST_TIMEOUT_MS // 1000} s: {exc}"
    )


async def _send(
    settings: Settings,
    messages: Iterable[Message],
    speed: float,
    progress: Progress | None,
    should_stop: Callable[[], bool] | None,
) -> int:
    prod = AIOKafkaProducer(
        bootstrap_servers=settings.broker,
        acks=1,
        max_batch_size=BATCH_BYTES,
        max_request_size=8 * 1024 * 1024,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        await prod.start()
    except KafkaError as exc:
        await prod.stop()
        raise ReplayError(f"no Kafka broker at {settings.broker}: {exc}") from None
    out = _Batches(prod)
    sent = 0
    first_at: datetime | None = None
    wall0 = last_out = time.monotonic()
    topic = settings.topic
    try:
        for m in messages:
            if should_stop is not None and should_stop():
                break
            if speed > 0 and m.at is not None:
                first_at = first_at or m.at
                due = (m.at - first_at).total_seconds() / speed
                delay = due - (time.monotonic() - wall0)
                if delay > 0:
                    await out.flush()
                    await asyncio.sleep(delay)
                    last_out = time.monotonic()
            await out.add(topic(m.topic), m.key, m.value)
            sent += 1
            if sent % _CHECK_EVERY == 0:
                out.check()
                if time.monotonic() - last_out >= LINGER_SECONDS:
                    await out.send_open()
                    last_out = time.monotonic()
                if progress is not None:
                    progress(sent, m.at)
        await out.flush()
        if progress is not None:
            progress(sent, None)
        return sent
    finally:
        await prod.stop()
