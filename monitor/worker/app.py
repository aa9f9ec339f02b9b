"""The worker: a Faust app hosting both stages of the tally.

- stage one, :class:`~.ingest.Ingest`: the input topics, per partition (see its docstring);
- stage two, :class:`~.aggregate.PartialsReader`: folds the partials of every input partition
  into stage two's state (latest partial per partition, rebuilt from ``tally-partials`` on
  every assignment), from which a timer derives the snapshot per unit at a bounded rate for
  Prometheus and the Redis read model.

Only the worker that owns the single partition of ``tally-partials`` derives snapshots, so
with several workers the national totals still come from one complete state.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

import faust
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from faust.app.base import BootStrategy

from monitor import topics
from monitor.adapters import readmodel
from monitor.adapters.metrics import Metrics, serve_metrics
from monitor.alerting import Emitter
from monitor.alerting.runner import thresholds_from
from monitor.contract import Registry, build, dead_letter, load_records, parse_json
from monitor.detect import Finding
from monitor.errors import BUG, ContractError, bug_reason
from monitor.settings import Settings
from monitor.tally.national import COMPARED_KINDS, Rollup, Touched, clock, merge, read_to
from monitor.tally.shapes import Merged, Snapshot
from monitor.tally.wire import check_partial_for
from monitor.worker import heap
from monitor.worker.aggregate import PartialsReader
from monitor.worker.detection import StageTwoDetection
from monitor.worker.follower import RegistryFollower
from monitor.worker.ingest import Ingest

REDIS_TIMEOUT = 120.0  # seconds a Redis reply may take (see Worker.__init__)
# A snapshot takes at most this share of the worker's time: while a large night catches up,
# nearly every commission changes between two snapshots, and one took seconds at 300,000
# stations (load/RESULTS.md, "Scale"); the totals are then refreshed less often than every
# TABMON_SNAPSHOT_INTERVAL, and as often once the night is caught up.
SNAPSHOT_SHARE = 0.2
# A snapshot re-derives at most this many commissions; the rest wait for the next ones, the
# longest-waiting first. At 1,050,000 stations a catching-up night touched all 22,129 between
# two snapshots: one snapshot of them all held the event loop for 21 s, the worker missed its
# heartbeats and the group moved its partitions away (load/RESULTS.md, "Scale").
SNAPSHOT_TECS = 2_000
# Every unit is written to Redis at least this often (seconds), changed or not: a Redis that
# lost its data (restarted without its AOF, flushed) has the whole read model back within it.
# Spread over the snapshots (``Worker._rewrites``): at 1,050,000 stations a snapshot writing
# all 25,000 units at once took 6 to 11 s (load/RESULTS.md, "Scale").
FULL_WRITE_EVERY = 60.0

log = logging.getLogger("tabmon.worker")


def take(deferred: list[str], touched: set[str], most: int) -> tuple[set[str], list[str]]:
    """The commissions a snapshot re-derives, and those left for later: the ones left last
    time first, then the newly touched, at most ``most``. A commission waits at most as many
    snapshots as there are ``most`` in the backlog, however often others change."""
    order = deferred + sorted(touched.difference(deferred))
    return set(order[:most]), order[most:]


class _Boot(BootStrategy):
    """Faust hosts the worker's services (its tasks and timers, signals, a clean shutdown);
    every Kafka client is aiokafka's, run by the stages themselves, so Faust's own consumer,
    producer and tables stay off."""

    enable_kafka = False


class _App(faust.App):
    BootStrategy = _Boot


class Worker:
    """Everything one worker process holds; ``app`` is the Faust app to run."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = s = settings
        self.metrics = metrics or Metrics.create()
        definition = s.definition()
        self.metrics.tally.commission_level = definition.levels[-2]
        self.registry = (
            build(load_records(s.registry_file), s.registry_file, definition)
            if s.registry_file
            else Registry(definition)
        )
        self.dirty = False
        self.partials: dict[str, Merged] = {}  # stage two's state: by input partition, merged
        # stage two's totals, kept by deltas: what the partials folded since the last
        # snapshot touched (monitor.tally.rollup)
        self.rollup = Rollup(self.registry, **s.seat_overrides())
        self.touched = Touched()
        self.deferred: list[str] = []  # commissions folded in, not yet in the totals: the oldest first
        self._next_snapshot = 0.0  # monotonic time before which no snapshot is taken
        # every unit written again within FULL_WRITE_EVERY: a slice at each snapshot, in turn
        self._rewritten_at = -math.inf  # monotonic time of the last slice (the first: every unit)
        self._rewrite_next = 0  # where the next slice starts, in the order of the snapshot
        self.clock = 0.0  # the latest event time in the tally (unix seconds)
        self.detect_clock = 0.0
        self.read_to = 0.0  # the event time every input partition was read to, at the last snapshot
        self.thresholds = thresholds_from(s, definition)
        self.ingest: Ingest | None = None
        self.emitter: Emitter | None = None
        self.detection: StageTwoDetection | None = None
        self.follower = RegistryFollower(s, self.registry, self.metrics)  # sends with the producer
        # redis-py 8 gives up on a reply after 5 s by default, and counts the time the event loop
        # was busy elsewhere: at 823,236 stations a busy loop made that stop the worker
        self.redis: Any = (
            aioredis.from_url(s.redis_url, socket_timeout=REDIS_TIMEOUT) if s.redis_url else None
        )
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.app = app = _App(
            s.app_id,
            broker=[f"kafka://{h.strip()}" for h in s.broker.split(",")],
            store="memory://",
            web_enabled=False,
        )
        self._rejected_partials: list[tuple[bytes, bytes]] = []
        self._producer: AIOKafkaProducer | None = None  # for stage two's dead letters
        self.reader = PartialsReader(s, self.metrics, self._fold, self._reset, self._dead_letter_partials)
        app.timer(s.snapshot_interval, name="snapshot")(self._snapshot_tick)
        app.task(self._supervise_ingest)

    # -- stage two ------------------------------------------------------------------------
    def _fold(self, message: Any, replayed: bool = False) -> None:
        """One partial into stage two's state. A partial that is not what stage one writes is
        checked whole before anything changes (monitor.tally.wire) and dead-lettered (unless
        ``replayed``: it was, before this assignment); so is one that raises anything else (a
        bug): no message stops stage two."""
        try:
            partial = check_partial_for(parse_json(message.value), self.registry)
            key = partial["tp"]
            merged, changed = merge(self.partials.get(key), partial, self.touched)
        except ContractError as exc:
            if not replayed:
                self._reject_partial(message, exc.code, exc.detail)
            return
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: this partial alone is rejected
            if not replayed:
                log.exception(
                    "bug: the partial at %s[%d]@%d could not be merged",
                    message.topic,
                    message.partition,
                    message.offset,
                )
                self._reject_partial(message, BUG, bug_reason(exc))
            return
        if changed:
            self.partials[key] = merged
            self.dirty = True

    def _reset(self) -> None:
        """Stage two's state emptied: the partials are (re)assigned here, to be read from the
        start, or taken to another worker."""
        self.partials = {}
        self.touched = Touched()
        self.deferred = []
        self.rollup = Rollup(self.registry, **self.settings.seat_overrides())
        self.dirty = True

    def _reject_partial(self, message: Any, code: str, reason: str) -> None:
        self.metrics.rejected.labels(message.topic, code).inc()
        self._rejected_partials.append(
            dead_letter(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                code=code,
                reason=reason,
                raw=message.value,
                limit=self.settings.deadletter_raw_limit,
            )
        )

    async def _dead_letter_partials(self) -> None:
        letters, self._rejected_partials = self._rejected_partials, []
        if letters:
            assert self._producer is not None, "stage two reads partials only once the producer is up"
            topic = self.settings.topic(topics.DEADLETTER)
            for key, value in letters:
                await self._producer.send_and_wait(topic, value=value, key=key)

    def owns_table(self) -> bool:
        """This worker holds stage two's state, read to where it was when it was assigned."""
        return self.reader.owned

    async def _snapshot_tick(self) -> None:
        if not self.owns_table():
            if self.metrics.tally.units:  # stage two moved to another worker: stop exporting
                self.metrics.tally.update({})
                self.metrics.findings.update([], {})
                if self.detection is not None:
                    self.detection.reset()
            self.dirty = True  # so that this worker snapshots at once if the partials come back
            return
        units = await self._snapshot() if self.dirty and time.monotonic() >= self._next_snapshot else None
        if self.detection is not None:
            await self.detection.run(units, self.detect_clock, self.read_to)

    async def _snapshot(self) -> Snapshot:
        self.dirty = False
        t0 = time.perf_counter()
        partials = self.partials
        s = self.settings
        touched, self.touched = self.touched, Touched()
        touched.tecs, self.deferred = take(self.deferred, touched.tecs, SNAPSHOT_TECS)
        if self.rollup.registry is not self.registry:  # a registry replaced whole: start afresh
            self.rollup = Rollup(self.registry, **s.seat_overrides())
        builds = self.rollup.builds
        units, changed = self.rollup.update(partials, touched)
        if self.rollup.builds != builds:
            self.deferred = []  # built from scratch: every commission is in
        self.clock = clock(partials)
        if self.deferred:
            # some commissions' totals are older than the partials folded in: the detectors
            # keep the clock and the read-to time of the last snapshot that had them all
            self.dirty = True  # and the next snapshot takes the rest
        else:
            # the detectors get the clock only once the protocol partitions are read to their
            # end: during a catch-up, "no PEC protocol yet" may only mean "not read yet"
            protocols = read_to(partials, self._input_partitions(("protocols",)), ("protocols",))
            self.detect_clock = self.clock if protocols == math.inf else 0.0
            self.read_to = read_to(partials, self._input_partitions(COMPARED_KINDS))
        self.metrics.snapshot_seconds.observe(time.perf_counter() - t0)
        # a copy: the rollup changes its units in place, and a scrape must see one snapshot
        self.metrics.tally.update(dict(units))
        if self.redis is not None:
            meta = {
                "updated_at": datetime.now(UTC).isoformat(),
                "worker": self.name,
                "registry": self.registry.summary(),
                "parties": list(self.registry.parties),
                # per source topic-partition, the next offset folded in; and the forwards
                # still on their way home (what "caught up" must also wait for)
                "watermarks": {tp: off for v in partials.values() for tp, off in v.get("src", {}).items()},
                "forwards_pending": sum(v.get("pending", 0) for v in partials.values()),
                # commissions folded in whose totals a later snapshot brings (SNAPSHOT_TECS)
                "rollup_pending": len(self.deferred),
                # the event time every input partition is read up to (None: to the end),
                # which stage one waits for before it detects on a station
                "read_to": self.read_to if math.isfinite(self.read_to) else None,
                "clock": datetime.fromtimestamp(self.clock, UTC).isoformat() if self.clock else None,
            }
            # the units whose totals changed: the rest are in Redis as they are, and each of
            # them again within FULL_WRITE_EVERY
            changed = changed | self._rewrites(units)
            await readmodel.write_snapshot(self.redis, s.app_id, {u: units[u] for u in changed}, meta)
        took = time.perf_counter() - t0
        self._next_snapshot = time.monotonic() + took * (1 - SNAPSHOT_SHARE) / SNAPSHOT_SHARE
        return units

    def _rewrites(self, units: Snapshot) -> set[str]:
        """The units whose turn to be written again has come: as many as the time since the
        last slice is of FULL_WRITE_EVERY, taken in turn, so that every unit is written
        within it and no snapshot writes them all (except the first)."""
        now = time.monotonic()
        ids = list(units)
        share = (now - self._rewritten_at) / FULL_WRITE_EVERY
        due = len(ids) if share >= 1 else math.ceil(len(ids) * share)
        self._rewritten_at = now
        if not ids or not due:
            return set()
        start = self._rewrite_next % len(ids)
        self._rewrite_next = start + due
        return set(ids[start : start + due]) | set(ids[: max(0, start + due - len(ids))])

    def _input_partitions(self, kinds: tuple[str, ...]) -> list[str]:
        """Every partition of those input topics: one that has published nothing yet counts
        as read to nothing."""
        return self.ingest.input_partitions(kinds) if self.ingest is not None else []

    def _count_emitted(self, f: Finding, new: bool) -> None:
        self.metrics.findings_emitted.labels(f.kind, f.severity, "new" if new else "updated").inc()

    # -- stage one, supervised: a failure here stops the worker loudly, never silently -------
    async def _supervise_ingest(self) -> None:
        s = self.settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.broker, linger_ms=5, max_request_size=topics.PARTIAL_MAX_BYTES
        )
        try:
            await producer.start()
            self.follower.producer = self._producer = producer  # for their dead letters
            await self.follower.start()
            await self._wait_for_ballot()
            heap.settle(s.gc_young)  # the registry is loaded: the collector need not visit it again
            self.emitter = Emitter(
                producer.send, s.topic(topics.ALERTS), self.redis, s.app_id, on_emit=self._count_emitted
            )
            self.detection = StageTwoDetection(
                self.registry,
                self.metrics,
                self.emitter,
                self.redis,
                s.app_id,
                self.thresholds,
                s.sweep_interval,
            )
            self.ingest = Ingest(
                s,
                self.registry,
                self.metrics,
                producer,
                redis=self.redis,
                emitter=self.emitter,
                thresholds=self.thresholds,
            )
            follow = asyncio.ensure_future(self._follow_registry())
            follow.add_done_callback(self._crash_if_failed)
            aggregate = asyncio.ensure_future(self.reader.run())  # stage two
            aggregate.add_done_callback(self._crash_if_failed)
            try:
                await self.ingest.run()
            finally:
                follow.cancel()
                self.reader.stop()
                await asyncio.wait([aggregate], timeout=10)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug or a lost broker: crash the worker, loudly
            log.exception("ingest failed; stopping the worker")
            await self.app.crash(exc)
        finally:
            await self.follower.stop()
            await producer.stop()

    async def _wait_for_ballot(self) -> None:
        """Figures are vectors over the ballot's parties: without the ballot record nothing
        can be tallied, and a ballot arriving later would change every vector's width."""
        waited = 0
        while not self.registry.parties:
            if waited % 10 == 0:
                log.warning("no ballot record in the registry (file or topic) yet: waiting")
            await self.follower.poll(timeout_ms=1000)
            waited += 1
        if not self.registry.stations:
            log.warning("the registry has no stations: every station event will be rejected")

    async def _follow_registry(self) -> None:
        while True:
            await self.follower.poll(timeout_ms=1000)

    def _crash_if_failed(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("a stage of the worker failed: %r", task.exception())
            asyncio.ensure_future(self.app.crash(task.exception()))  # type: ignore[arg-type]

    def start_metrics_server(self) -> int:
        s = self.settings
        port = serve_metrics(self.metrics.registry, s.metrics_host, s.metrics_port, "TABMON_METRICS_PORT")
        log.info("metrics on http://127.0.0.1:%d/metrics", port)
        return port


def run_worker(settings: Settings) -> None:
    """Run a worker in the foreground until SIGINT/SIGTERM (then it stops cleanly)."""
    heap.tune(settings.gc_young)
    worker = Worker(settings)
    worker.start_metrics_server()
    log.info("settings: %s", settings.masked())

    # mode's handler type is a union of callables with a ``NamedArg`` mypy does not match
    @worker.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _stop_ingest(app: Any, **kwargs: Any) -> None:
        if worker.ingest is not None:
            worker.ingest.stop()
            try:  # its last flush: partials, dead letters, documents, then the commit
                await asyncio.wait_for(worker.ingest.done.wait(), timeout=20)
            except TimeoutError:
                log.error("ingest did not finish its last flush within 20 s")

    faust.Worker(worker.app, loglevel=settings.log_level.upper(), quiet=True).execute_from_commandline()
