"""Stage-two detection in the worker that owns the tally (an adapter: the rules are in
:mod:`monitor.detect`, the dispatch in :mod:`monitor.alerting.runner`).

At every snapshot: the unit detectors over the snapshot. When something changed, at most
every ``sweep_interval`` seconds and at most a fifth of the time: the sweep over the whole
station read model, which this worker keeps in memory and reloads from Redis incrementally.
The sweep runs beside the snapshots, not in their way: at 100,000 stations one took tens of
seconds while a night caught up, and the totals must not wait for it. Then the findings
metrics are refreshed from the read model, so they count every worker's findings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from monitor.adapters.metrics import Metrics
from monitor.adapters.readmodel import StationCache, changed_key
from monitor.alerting import Emitter, findings_key, findings_seq_key
from monitor.alerting.runner import stage_two, sweep
from monitor.contract import Registry
from monitor.detect import Finding, Thresholds
from monitor.detect.shape import named

log = logging.getLogger("tabmon.detect")


class StageTwoDetection:
    def __init__(
        self,
        registry: Registry,
        metrics: Metrics,
        emitter: Emitter,
        redis: Any,
        prefix: str,
        thresholds: Thresholds,
        sweep_interval: float,
    ) -> None:
        self.registry = registry
        self.metrics = metrics
        self.emitter = emitter
        self.redis = redis
        self.prefix = prefix
        self.thresholds = thresholds
        self.sweep_interval = sweep_interval
        self.cache = StationCache(redis, prefix) if redis is not None else None
        self.pending = False  # a sweep is owed: something changed since the last one
        self._next_sweep = 0.0
        self._seq: Any = None
        # the flagged stations' figures come from the cache: reloaded documents re-export them
        self._docs_reloaded = False
        self._sweeping: asyncio.Future[None] | None = None  # the sweep under way, if any
        self._failed: BaseException | None = None  # what stopped the last sweep

    def reset(self) -> None:
        """The tally moved to another worker: what this one holds goes stale (the other's
        sweeps empty the shared set of changed stations), so start afresh if it comes back."""
        if self._sweeping is not None:
            self._sweeping.cancel()  # its findings are no longer this worker's to emit
            self._sweeping = None
        if self.cache is not None:
            self.cache = StationCache(self.redis, self.prefix)
        self._seq, self.pending, self._next_sweep = None, False, 0.0

    async def run(self, units: Mapping[str, Mapping[str, Any]] | None, now: float, read_to: float) -> None:
        """``units``: a new snapshot, or None when the tally did not change since the last
        call; ``now``: the event-time clock (unix seconds); ``read_to``: the event time every
        input partition was read to at the snapshot (the unit comparisons wait for it; it
        changes only with a partial, so with a new snapshot)."""
        if self._failed is not None:
            raise self._failed
        found: list[Finding] = []
        t0 = time.perf_counter()
        if units is not None:
            found += self._guarded("stage2", stage_two, units, self.registry, self.thresholds, read_to)
            self.pending = True
        if self.cache is not None and not self.pending:
            # station documents are written after the partials: they may land after the
            # last snapshot of a quiet period
            self.pending = bool(await self.redis.scard(changed_key(self.prefix)))
        if (
            self.cache is not None
            and self.pending
            and self._sweeping is None
            and time.monotonic() >= self._next_sweep
        ):
            self.pending = False
            self._sweeping = asyncio.ensure_future(self._sweep(self.cache, now))
            self._sweeping.add_done_callback(self._swept)
        if units is not None or found:
            self.metrics.detect_seconds.labels("stage2").observe(time.perf_counter() - t0)
        if found:
            await self.emitter.emit(found)
        await self.refresh_metrics()

    async def _sweep(self, cache: StationCache, now: float) -> None:
        if await cache.refresh():
            self._docs_reloaded = True
        t1 = time.monotonic()
        # CPU-bound over every station: in a thread, so the event loop (stage one, stage two,
        # heartbeats) keeps running; the cache is only changed by this coroutine
        found = await asyncio.get_running_loop().run_in_executor(
            None, self._guarded, "sweep", sweep, cache.docs, self.registry, self.thresholds, now
        )
        took = time.monotonic() - t1
        self.metrics.detect_seconds.labels("sweep").observe(took)
        # a sweep takes at most a fifth of the time, however large the election
        self._next_sweep = time.monotonic() + max(self.sweep_interval, 4 * took)
        if found:
            await self.emitter.emit(found)

    def _swept(self, task: asyncio.Future[None]) -> None:
        if task is self._sweeping:
            self._sweeping = None
        if not task.cancelled() and task.exception() is not None:
            # Redis or the broker failed under it (a detector's own error is caught and
            # counted): raised by the next run, as it was when the sweep ran inside it
            self._failed = task.exception()

    def _guarded(self, stage: str, detect: Callable[..., list[Finding]], *args: Any) -> list[Finding]:
        """A detector stage that raises (a bug) costs this run's findings of that stage, is
        counted and logged, and the worker goes on: data cannot stop the monitor."""
        try:
            return detect(*args)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001
            self.metrics.detector_errors.labels(stage).inc()
            log.exception("the %s detectors raised; this run's findings of that stage are missing", stage)
            return []

    async def refresh_metrics(self) -> None:
        """Findings as the read model has them (every worker's), when they or the station
        documents changed: a station flagged before the sweep loaded its document would
        otherwise have no figures until the next finding."""
        if self.redis is None:
            return
        seq = await self.redis.get(findings_seq_key(self.prefix))
        if seq == self._seq and not self._docs_reloaded:
            return
        self._seq, self._docs_reloaded = seq, False
        records = [orjson.loads(v) for v in await self.redis.hvals(findings_key(self.prefix))]
        flagged = {r["station_id"] for r in records if r["station_id"]}
        figures: dict[str, dict[str, dict[str, int]]] = {}
        docs = self.cache.docs if self.cache is not None else {}
        parties = self.registry.parties
        for sid in flagged:
            sources = ((docs.get(sid) or {}).get("protocols") or {}).get("sources") or {}
            by_source = {src: named(e.get("figures"), parties) for src, e in sources.items()}
            figures[sid] = {src: f for src, f in by_source.items() if f is not None}
        self.metrics.findings.update(records, figures)
