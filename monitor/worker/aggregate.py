"""Stage two's input: the single partition of ``tally-partials``, read by whichever worker the
``<app_id>-tally`` group gives it to.

Stage two's state is a function of the partials topic, as a store's is of its input
partitions: on every assignment the partition is re-read from offset 0 into a fresh state.
``merge`` keeps, per input partition and commission, the entry with the highest watermark, and
a newer epoch replaces a partition whole, so reading the topic again gives the same state.
The worker does not count itself the owner (no snapshot, no stage-two findings) until the
re-read has reached the end the topic had when it was assigned: a worker taking over never
shows an older state than the one it took over. Offsets are committed only to remember which
rejected partials were dead-lettered already.

Before, a Faust table held this state, changelogged by Faust: it wrote a partition's whole
state to the changelog at each partial (2 MB at 823,236 stations), and a memory-only broker
kept every one of them (load/RESULTS.md, "Scale").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from monitor import topics
from monitor.adapters.metrics import Metrics
from monitor.settings import Settings
from monitor.worker.rebalance import Listener

log = logging.getLogger("tabmon.aggregate")

COMMIT_EVERY = 1.0  # seconds between commits of the position (dead letters sent below it)


class PartialsReader:
    """Reads ``tally-partials`` and hands every message to ``fold(message, replayed)``;
    ``replayed``: below the committed offset, handled once already (not to be dead-lettered
    again). ``reset()`` empties stage two's state (assignment and revocation); ``after()`` runs
    after each batch (the dead letters it made), before the position is committed."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        fold: Callable[[Any, bool], None],
        reset: Callable[[], None],
        after: Callable[[], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.fold, self.reset, self.after = fold, reset, after
        self.tp = TopicPartition(settings.topic(topics.PARTIALS), 0)
        self.position: int | None = None  # the next offset to fold; None: not assigned here
        self.ready_at = 0  # the topic's end at the assignment: owned once the position reaches it
        self.replay_until = 0
        self.committed = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._listener_error: BaseException | None = None

    @property
    def owned(self) -> bool:
        """This worker holds the partials and has read them up to where they were when it was
        given them: its state is stage two's."""
        return self.position is not None and self.position >= self.ready_at

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.broker,
            group_id=f"{s.app_id}-tally",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=max(100, int(s.session_timeout * 1000 / 4)),
            # a partial holds every commission of its partition it changed: up to 16 MiB
            max_partition_fetch_bytes=topics.PARTIAL_MAX_BYTES,
            fetch_max_bytes=topics.PARTIAL_MAX_BYTES,
        )
        self._consumer = consumer
        consumer.subscribe([self.tp.topic], listener=Listener(self))
        await consumer.start()
        self.metrics.alive.labels("aggregate").set(1)
        last_commit = time.monotonic()
        try:
            while not self._stopping:
                batch = await consumer.getmany(timeout_ms=200, max_records=200)
                if self._listener_error is not None:  # aiokafka only logs these: fail loudly
                    raise self._listener_error
                async with self._lock:
                    for message in batch.get(self.tp, ()):
                        if self.position is None or message.offset < self.position:
                            continue  # revoked, or fetched again
                        if message.offset > self.position:
                            # fetched from the committed position before the seek to 0 took
                            # effect: the state must be read from the start, so drop this
                            break
                        self.fold(message, message.offset < self.replay_until)
                        self.position = message.offset + 1
                    await self.after()
                    if (
                        self.position is not None
                        and self.position > self.committed
                        and time.monotonic() - last_commit >= COMMIT_EVERY
                    ):
                        await self.commit(consumer, self.position)
                        last_commit = time.monotonic()
                self.metrics.heartbeat.labels("aggregate").set(time.time())
        finally:
            self.metrics.alive.labels("aggregate").set(0)
            self._consumer = None
            await consumer.stop()

    async def commit(self, consumer: Any, position: int) -> None:
        """Commit ``position``. A rebalance under way (this worker missed its heartbeats while
        busy, and the group moved on) makes the commit fail: the partition's next owner
        re-reads it from offset 0, and an uncommitted position costs at most a dead letter
        sent twice, so the worker goes on instead of stopping."""
        try:
            await consumer.commit({self.tp: position})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("stage two's commit skipped after a rebalance: %s", exc)
            return
        self.committed = position

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        if self.tp not in assigned or consumer is None:
            return
        async with self._lock:
            self.committed = self.replay_until = await consumer.committed(self.tp) or 0
            self.ready_at = (await consumer.end_offsets([self.tp]))[self.tp]
            await consumer.seek_to_beginning(self.tp)
            self.reset()
            self.position = 0
            log.info(
                "assigned %s, rebuilding stage two from offset 0 (to %d before it snapshots)",
                self.tp.topic,
                self.ready_at,
            )

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        if self.tp not in revoked:
            return
        async with self._lock:
            self.position = None
            self.reset()
