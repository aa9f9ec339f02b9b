"""The registry follower: the whole compacted ``registry`` topic (every partition, no group)
into the registry, first to its end before anything else starts, then live. A record it
cannot use is dead-lettered with its reason; none stops it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from monitor import topics
from monitor.adapters.metrics import Metrics
from monitor.contract import Registry, dead_letter, parse_json
from monitor.errors import BUG, ContractError, bug_reason
from monitor.settings import Settings

log = logging.getLogger("tabmon.registry")


class RegistryFollower:
    """Reads the whole compacted registry topic (every partition, no group) into the registry:
    first to its end before anything else starts, then live."""

    def __init__(self, settings: Settings, registry: Registry, metrics: Metrics) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.topic = settings.topic(topics.REGISTRY)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None  # for dead letters; None: logged only

    async def start(self) -> None:
        c = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
        )
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
                letters.append(
                    dead_letter(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=m.offset,
                        code=code,
                        reason=reason,
                        raw=m.value,
                        limit=self.settings.deadletter_raw_limit,
                    )
                )
        if letters and self.producer is not None:
            # at least once: the registry is re-read from the start at every start
            topic = self.settings.topic(topics.DEADLETTER)
            await asyncio.gather(*[await self.producer.send(topic, value=v, key=k) for k, v in letters])
        return n

    def _apply(self, m: Any) -> tuple[str, str] | None:
        """Apply one registry record; (code, reason) if it is rejected. No record, whatever it
        holds, raises out of here (a bug is rejected with the code ``bug``)."""
        try:
            record = parse_json(m.value)
            self.registry.validate(record)
            if (
                record["type"] == "ballot"
                and self.registry.parties
                and tuple(record["parties"]) != self.registry.parties
            ):
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
