"""Replay an election into the broker: the registry first, then the events in clock order.

kafka-python produces (its consumer groups do not work against Tansu; producing does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from kafka import KafkaProducer

from monitor.settings import Settings

Progress = Callable[[int, datetime | None], None]  # (sent so far, drill clock)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str  # unprefixed: registry, turnout, protocols, summaries, evote
    key: bytes | None
    value: bytes
    at: datetime | None = None


def messages_of(registry: Sequence[dict[str, Any]], events: Iterable[Any]) -> list[Message]:
    """Registry records (keyed by their id) then timed events (``.at .topic .key .value``)."""
    out = [Message("registry", _registry_key(r).encode(), orjson.dumps(r)) for r in registry]
    for e in events:
        out.append(Message(e.topic, e.key.encode(), orjson.dumps(e.value), e.at))
    return out


def _registry_key(record: dict[str, Any]) -> str:
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

    Returns how many were sent. Flushes before returning, also when stopped early.
    """
    prod = producer(settings)
    sent = 0
    first_at: datetime | None = None
    wall0 = time.monotonic()
    try:
        for m in messages:
            if should_stop is not None and should_stop():
                break
            if speed > 0 and m.at is not None:
                first_at = first_at or m.at
                due = (m.at - first_at).total_seconds() / speed
                delay = due - (time.monotonic() - wall0)
                if delay > 0:
                    prod.flush()
                    time.sleep(delay)
            prod.send(settings.topic(m.topic), key=m.key, value=m.value)
            sent += 1
            if progress is not None and sent % 500 == 0:
                progress(sent, m.at)
        prod.flush()
        if progress is not None:
            progress(sent, None)
        return sent
    finally:
        prod.close()
