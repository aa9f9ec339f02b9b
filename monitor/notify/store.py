"""Subscriptions, the delivery queue and the ledger in Redis (redis.asyncio).

Keys, under ``<app_id>:notify``:

- ``subs``: hash, subscription id -> the subscription's JSON (with its secret);
- ``seen:<sub>``: hash, finding_id -> what the subscriber was last notified of (digest, count):
  the deduplication state, so a redelivered finding or a restart never notifies twice;
- ``ledger:<sub>``: hash, delivery id -> the delivery's record (finding, digest, event,
  attempts, status, delivered_at, HTTP status...), kept after delivery for audits;
- ``bodies:<sub>``: hash, delivery id -> the exact body to POST, until delivered;
- ``pending:<sub>``: sorted set of the deliveries not yet delivered nor given up, scored by
  their order of arrival (``seq:<sub>`` counts them);
- ``lease:<sub>``: which notifier process sends to this subscriber now.

A notification is recorded (seen, ledger entry, body, queue) in one atomic script that checks
the ``seen`` state it was decided on has not changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from monitor.notify.model import Notification, Seen, Subscription

# KEYS: seen, ledger, bodies, pending, seq, subs
# ARGV: sub_id, finding_id, expected seen ('' = none), new seen, delivery id, entry, body
_ENQUEUE = """
if redis.call('HEXISTS', KEYS[6], ARGV[1]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[1], ARGV[2]) or ''
if cur ~= ARGV[3] then return 0 end
local seq = redis.call('INCR', KEYS[5])
local entry = cjson.decode(ARGV[6])
entry['seq'] = seq
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[5], cjson.encode(entry))
redis.call('HSET', KEYS[3], ARGV[5], ARGV[7])
redis.call('ZADD', KEYS[4], seq, ARGV[5])
return 1
"""
# KEYS: lease; ARGV: holder, ttl ms. Take the lease if free, extend it if ours.
_LEASE = """
local cur = redis.call('GET', KEYS[1])
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

APPLIED, CONFLICT, GONE = 1, 0, -1


@dataclass(frozen=True)
class Enqueue:
    """One notification to record, decided on ``expected`` (the seen state read before)."""

    note: Notification
    expected: Seen | None
    entry: dict[str, Any]
    body: bytes


class Store:
    def __init__(self, client: Any, app_id: str) -> None:
        self.r = client
        self.p = f"{app_id}:notify"
        self._enqueue = client.register_script(_ENQUEUE)
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)

    def key(self, what: str, sub_id: str = "") -> str:
        return f"{self.p}:{what}:{sub_id}" if sub_id else f"{self.p}:{what}"

    # -- subscriptions ----------------------------------------------------------------------
    async def add(self, sub: Subscription) -> None:
        await self.r.hset(self.key("subs"), sub.sub_id, sub.to_json())

    async def subscriptions(self) -> dict[str, Subscription]:
        raw = await self.r.hgetall(self.key("subs"))
        subs = (Subscription.from_json(v) for v in raw.values())
        return {s.sub_id: s for s in sorted(subs, key=lambda s: (s.created, s.sub_id))}

    async def exists(self, sub_id: str) -> bool:
        return bool(await self.r.hexists(self.key("subs"), sub_id))

    async def remove(self, sub_id: str, now_iso: str) -> int | None:
        """Remove a subscription; its undelivered notifications are cancelled in the ledger,
        which stays for audits. Returns how many were cancelled, None if there was none."""
        if not await self.r.hdel(self.key("subs"), sub_id):
            return None
        pending = await self.pending(sub_id, limit=-1)
        pipe = self.r.pipeline(transaction=True)
        for did, entry in pending:
            entry.update(status="cancelled", last_error=f"unsubscribed at {now_iso}")
            pipe.hset(self.key("ledger", sub_id), did, orjson.dumps(entry))
        pipe.delete(self.key("pending", sub_id), self.key("bodies", sub_id), self.key("lease", sub_id))
        await pipe.execute()
        return len(pending)

    # -- recording notifications ------------------------------------------------------------
    async def seen(self, pairs: Sequence[tuple[str, str]]) -> list[Seen | None]:
        """The seen state of each (subscription, finding_id), in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for sub_id, fid in pairs:
            pipe.hget(self.key("seen", sub_id), fid)
        return [None if raw is None else Seen.from_json(raw) for raw in await pipe.execute()]

    async def enqueue(self, items: Sequence[Enqueue]) -> list[int]:
        """Record each notification atomically; APPLIED, CONFLICT (the seen state changed
        since it was read: decide again) or GONE (the subscription was removed)."""
        pipe = self.r.pipeline(transaction=False)
        for it in items:
            sub_id = it.note.sub_id
            keys = [self.key(k, sub_id) for k in ("seen", "ledger", "bodies", "pending", "seq")]
            keys.append(self.key("subs"))
            expected = it.expected.to_json() if it.expected else b""
            args = [
                sub_id,
                it.note.finding_id,
                expected,
                it.note.seen.to_json(),
                it.note.delivery_id,
                orjson.dumps(it.entry),
                it.body,
            ]
            await self._enqueue(keys=keys, args=args, client=pipe)
        return [int(x) for x in await pipe.execute()]

    # -- delivering ---------------------------------------------------------------------------
    async def pending(
        self, sub_id: str, limit: int = 256, start: int = 0
    ) -> list[tuple[str, dict[str, Any]]]:
        """The oldest undelivered notifications from the ``start``-th on, in order of arrival,
        with their records."""
        ids = await self.r.zrange(self.key("pending", sub_id), start, start + limit - 1 if limit > 0 else -1)
        if not ids:
            return []
        raws = await self.r.hmget(self.key("ledger", sub_id), ids)
        return [(i.decode(), orjson.loads(raw)) for i, raw in zip(ids, raws, strict=True) if raw is not None]

    async def pending_count(self, sub_id: str) -> int:
        return int(await self.r.zcard(self.key("pending", sub_id)))

    async def body(self, sub_id: str, delivery_id: str) -> bytes | None:
        raw: bytes | None = await self.r.hget(self.key("bodies", sub_id), delivery_id)
        return raw

    async def save(self, sub_id: str, entry: dict[str, Any]) -> None:
        """Write a delivery's record; once delivered or failed it leaves the queue."""
        did = entry["delivery_id"]
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.key("ledger", sub_id), did, orjson.dumps(entry))
        if entry["status"] in ("delivered", "failed"):
            pipe.zrem(self.key("pending", sub_id), did)
        if entry["status"] == "delivered":  # a failed one keeps its body, to be sent again
            pipe.hdel(self.key("bodies", sub_id), did)
        await pipe.execute()

    async def lease(self, sub_id: str, holder: str, ttl: float) -> bool:
        return bool(await self._lease(keys=[self.key("lease", sub_id)], args=[holder, int(ttl * 1000)]))

    async def release(self, sub_id: str, holder: str) -> None:
        await self._release(keys=[self.key("lease", sub_id)], args=[holder])

    # -- auditing -------------------------------------------------------------------------------
    async def ledger(self, sub_id: str) -> list[dict[str, Any]]:
        raw = await self.r.hgetall(self.key("ledger", sub_id))
        return sorted((orjson.loads(v) for v in raw.values()), key=lambda e: e.get("seq", 0))
