"""Webhook delivery: one sender task per subscription, each with its own queue and backoff.

A sender takes its subscriber's pending notifications in order of arrival and POSTs each
one, signed. Two notifications of one finding are never reordered: after a failure, the
later ones of that finding wait for it. A receiver that does not answer (or answers "not
now", see :func:`~.model.outcome`) makes its sender back off, exponentially and with jitter,
and retry the oldest notification until it gets through, then send everything that waited;
other subscribers' senders are separate tasks and never wait for it. A receiver that refuses
a notification (any other non-2xx answer) has it retried on its own schedule, up to
``TABMON_NOTIFY_MAX_REFUSALS`` refusals, after which it is marked ``failed`` in the ledger.

Only the holder of a subscriber's lease (in Redis) sends to it, so two notifier processes
never send the same notification at once; a killed holder's lease expires after
``TABMON_NOTIFY_LEASE`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from monitor.notify.metrics import NotifyMetrics
from monitor.notify.model import SIGNATURE_HEADER, Backoff, Subscription, outcome, sign, usable_delivery_id
from monitor.notify.store import Store

log = logging.getLogger("tabmon.notify")
USER_AGENT = "tabmon-notify/1"
WINDOW = 256  # pending notifications a sender looks at per round


@dataclass
class Delivery:
    """How one sender reaches its receiver."""

    store: Store
    http: aiohttp.ClientSession
    metrics: NotifyMetrics
    backoff: Backoff
    timeout: float
    lease: float
    poll: float
    holder: str  # this process, for the lease
    rng: random.Random = field(default_factory=random.Random)


async def post(
    http: aiohttp.ClientSession, sub: Subscription, entry: dict[str, Any], body: bytes, timeout: float
) -> tuple[int | None, str | None]:
    """POST one signed body; (HTTP status, None) or (None, why there was no answer)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, sub.secret),
        "X-Tabmon-Delivery": entry["delivery_id"],
        "X-Tabmon-Event": entry["event"],
        "X-Tabmon-Attempt": str(entry["attempts"]),
        "X-Tabmon-Timestamp": str(int(time.time())),
    }
    try:
        async with http.post(
            sub.webhook,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            return resp.status, None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # ValueError (UnicodeError among them): a URL aiohttp cannot use. Kept as "no answer"
        # so that this subscriber backs off, never so that the sender (and the process) dies
        return None, f"{type(exc).__name__}: {exc}"[:300]


class Sender:
    """Delivers one subscription's queue until cancelled."""

    def __init__(self, sub: Subscription, d: Delivery) -> None:
        self.sub = sub
        self.d = d
        self.wakeup = asyncio.Event()
        self.unavailable = 0  # consecutive rounds that ended on a receiver not answering
        self.stopping = False  # finish the attempt under way, start no other

    async def run(self) -> None:
        d, sub_id = self.d, self.sub.sub_id
        loop = f"sender:{sub_id}"
        d.metrics.up.labels(loop).set(1)
        try:
            while not self.stopping:
                self.wakeup.clear()
                if await d.store.lease(sub_id, d.holder, d.lease):
                    wait, wakeable = await self.round()
                else:  # another notifier sends to this subscriber; take over if it stops
                    wait, wakeable = d.poll, False
                d.metrics.pending.labels(sub_id).set(await d.store.pending_count(sub_id))
                d.metrics.heartbeat.labels(loop).set(time.time())
                await self._pause(wait, wakeable)
        finally:
            d.metrics.up.labels(loop).set(0)

    async def _pause(self, seconds: float, wakeable: bool) -> None:
        """Wait; a new notification ends a wakeable wait, a stop ends any (a backoff is sat out
        whatever arrives meanwhile)."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), left)
            if wakeable:
                return
            self.wakeup.clear()

    async def round(self) -> tuple[float, bool]:
        """Send what is due; returns how long to wait before the next round, and whether a
        new notification may cut that wait short."""
        d = self.d
        now = time.time()
        blocked: set[str] = set()  # findings with an earlier notification still undelivered
        next_due = now + d.poll
        delivered = attempted = start = 0
        # Page past notifications waiting on their backoff (refused ones can fill a whole
        # window for hours): at most WINDOW attempts a round, however deep they sit.
        while attempted < WINDOW:
            window = await d.store.pending(self.sub.sub_id, limit=WINDOW, start=start)
            start += WINDOW
            for did, entry in window:
                fid = entry["finding_id"]
                if self.stopping:
                    return 0.0, False
                if fid in blocked:
                    continue
                if entry["next_attempt_at"] > now:
                    blocked.add(fid)
                    next_due = min(next_due, entry["next_attempt_at"])
                    continue
                if not await d.store.lease(self.sub.sub_id, d.holder, d.lease):
                    return d.poll, False  # lost the lease (a long pause): let the holder send
                attempted += 1
                result = await self.attempt(did, entry)
                if result == "gone":
                    return 0.0, False
                if result == "delivered":
                    self.unavailable = 0
                    delivered += 1
                    continue
                blocked.add(fid)
                if result == "unavailable":
                    return entry["next_attempt_at"] - time.time(), False
                next_due = min(next_due, entry["next_attempt_at"])
            if len(window) < WINDOW:
                break
        if delivered and attempted >= WINDOW:
            return 0.0, True  # more may wait behind these: go on at once
        return max(0.0, next_due - time.time()), True

    async def attempt(self, did: str, entry: dict[str, Any]) -> str:
        d, sub_id = self.d, self.sub.sub_id
        body = await d.store.body(sub_id, did)
        if body is None and not await d.store.exists(sub_id):
            self.stopping = True  # unsubscribed meanwhile: its queue is gone
            return "gone"
        if body is None:  # cannot happen unless the key was deleted by hand: say so, loudly
            return await self._fail(did, entry, "body missing from Redis")
        if not usable_delivery_id(did):
            # Recorded before finding ids were matched whole: no attempt could ever send its
            # header, and retrying it for ever would hold up this subscriber's later findings.
            return await self._fail(did, entry, "delivery id not usable in an HTTP header")
        # The attempt is on record before it is made: a crash during the POST leaves it
        # counted, and the retry announces itself with the next attempt number.
        entry.update(attempts=entry["attempts"] + 1, status="sending")
        await d.store.save(sub_id, entry)
        t0 = time.perf_counter()
        status, error = await post(d.http, self.sub, entry, body, d.timeout)
        d.metrics.post_seconds.observe(time.perf_counter() - t0)
        result = outcome(status)
        entry.update(http_status=status, last_error=error)
        if result == "delivered":
            entry.update(
                status="delivered",
                last_error=None,
                delivered_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            )
            d.metrics.deliveries.labels(sub_id, "delivered").inc()
        elif result == "refused" and d.backoff.gives_up(entry["refusals"] + 1):
            entry.update(status="failed", refusals=entry["refusals"] + 1)
            d.metrics.deliveries.labels(sub_id, "failed").inc()
            log.warning(
                "delivery %s to %s given up after %d refusals (HTTP %s)",
                did,
                sub_id,
                entry["refusals"],
                status,
            )
        else:
            self._schedule_retry(entry, result)
            d.metrics.retries.labels(sub_id, result).inc()
        await d.store.save(sub_id, entry)
        return result

    async def _fail(self, did: str, entry: dict[str, Any], why: str) -> str:
        """Give a delivery up without an attempt: something no attempt can mend. Loudly."""
        d, sub_id = self.d, self.sub.sub_id
        entry.update(status="failed", last_error=why)
        await d.store.save(sub_id, entry)
        d.metrics.deliveries.labels(sub_id, "failed").inc()
        log.error("delivery %r to %s: %s, marked failed", did, sub_id, why)
        return "refused"

    def _schedule_retry(self, entry: dict[str, Any], result: str) -> None:
        if result == "unavailable":  # the receiver's trouble: back off the whole subscriber
            self.unavailable += 1
            failures = self.unavailable
        else:  # this notification's trouble: back off this one
            entry["refusals"] += 1
            failures = entry["refusals"]
        entry.update(
            status="retrying", next_attempt_at=time.time() + self.d.backoff.delay(failures, self.d.rng)
        )


class Senders:
    """One sender task per subscription, following the subscriptions in Redis."""

    def __init__(self, d: Delivery) -> None:
        self.d = d
        self.tasks: dict[str, tuple[Sender, asyncio.Task[None]]] = {}

    def wake(self, sub_id: str) -> None:
        if sub_id in self.tasks:
            self.tasks[sub_id][0].wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                await self.sync(await self.d.store.subscriptions())
                for sub_id, (sender, task) in self.tasks.items():
                    if task.done() and not sender.stopping:  # Redis lost, a bug: stop loudly
                        raise RuntimeError(f"the sender of {sub_id} stopped") from task.exception()
                await asyncio.sleep(self.d.poll)
        finally:
            await self.stop()

    async def sync(self, subs: dict[str, Subscription]) -> None:
        for sub_id in list(self.tasks):
            if sub_id not in subs:
                _sender, task = self.tasks.pop(sub_id)
                task.cancel()
                with contextlib.suppress(KeyError):  # no series for a removed subscription
                    self.d.metrics.pending.remove(sub_id)
        for sub_id, sub in subs.items():
            if sub_id not in self.tasks:
                sender = Sender(sub, self.d)
                self.tasks[sub_id] = (sender, asyncio.ensure_future(sender.run()))

    async def stop(self) -> None:
        """Let every sender finish the POST under way (so that a clean stop never sends a
        notification twice), then cancel what is left."""
        for sender, _t in self.tasks.values():
            sender.stopping = True
            sender.wakeup.set()
        tasks = [t for _s, t in self.tasks.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.d.timeout + 2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sub_id in self.tasks:
            try:
                await self.d.store.release(sub_id, self.d.holder)
            except Exception as exc:  # noqa: BLE001 - shutting down: the lease expires anyway
                log.warning("could not release the lease of %s: %s", sub_id, exc)
        self.tasks.clear()
