"""``tabmon notify``: the consumer of ``alerts`` and the senders, in one process.

Either loop failing (the broker or Redis lost, a bug) stops the process with the error: it
is meant to run under a supervisor that restarts it, and a restart loses and repeats nothing
(offsets are committed after the notifications are recorded; the ledger says what was sent).
A record on ``alerts`` never does: what the consumer cannot use of one, or any bug deciding
on one, rejects that record alone to the ``deadletter`` topic (see ``consume``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import signal
import socket
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from monitor import topics
from monitor.adapters.metrics import serve_metrics
from monitor.errors import ConfigError
from monitor.notify.consume import Consumer
from monitor.notify.deliver import Delivery, Senders
from monitor.notify.metrics import NotifyMetrics
from monitor.notify.model import Backoff
from monitor.notify.store import Store
from monitor.settings import Settings

log = logging.getLogger("tabmon.notify")


def backoff_of(s: Settings) -> Backoff:
    return Backoff(
        base=s.notify_backoff_base,
        cap=s.notify_backoff_max,
        jitter=s.notify_jitter,
        max_refusals=s.notify_max_refusals,
    )


class Notifier:
    def __init__(
        self, settings: Settings, metrics: NotifyMetrics | None = None, rng: random.Random | None = None
    ) -> None:
        if not settings.redis_url:
            raise ConfigError("TABMON_REDIS_URL is empty: notifications keep their state in Redis")
        self.settings = settings
        self.metrics = metrics or NotifyMetrics.create()
        self.rng = rng or random.Random()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.consumer: Consumer | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        s = self.settings
        try:
            client: Any = aioredis.from_url(s.redis_url)
        except ValueError as exc:
            raise ConfigError(f"TABMON_REDIS_URL: {exc}") from None
        store = Store(client, s.app_id)
        async with aiohttp.ClientSession() as http:
            senders = Senders(
                Delivery(
                    store,
                    http,
                    self.metrics,
                    backoff_of(s),
                    timeout=s.notify_timeout,
                    lease=s.notify_lease,
                    poll=s.notify_poll_interval,
                    holder=self.holder,
                    rng=self.rng,
                )
            )
            self.consumer = Consumer(s, store, self.metrics, senders.wake)
            loops = [asyncio.ensure_future(self.consumer.run()), asyncio.ensure_future(senders.run())]
            stop = asyncio.ensure_future(self._stop.wait())
            try:
                done, _ = await asyncio.wait([*loops, stop], return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stop:  # a loop ended by itself: that is a failure
                        task.result()
                        raise RuntimeError("a notifier loop ended unexpectedly")
            finally:
                self.consumer.stop()
                stop.cancel()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(loops[0]), timeout=10)
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
                await client.aclose()


def start_metrics_server(settings: Settings, metrics: NotifyMetrics) -> int:
    return serve_metrics(
        metrics.registry, settings.metrics_host, settings.notify_metrics_port, "TABMON_NOTIFY_METRICS_PORT"
    )


def run_notifier(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then stop the consumer and the senders cleanly."""
    notifier = Notifier(settings)
    port = start_metrics_server(settings, notifier.metrics)
    log.info(
        "notifier %s: alerts topic %r, metrics on http://127.0.0.1:%d/metrics",
        notifier.holder,
        settings.topic(topics.ALERTS),
        port,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, notifier.stop)
        await notifier.run()

    asyncio.run(main())
