"""The emitter: a finding goes out when it is new or when what it says changed.

A detector runs again whenever its data changes (and from scratch after every restart or
rebalance), so the same finding is produced many times. The emitter sends it to ``alerts``
only when its severity, evidence or explanation differ from what was last emitted under its
``finding_id``; the last emitted record of each id lives in Redis, so a restarted worker does
not alert again. Order per batch: send to the broker and wait for the acknowledgements, then
write Redis. A crash in between sends the same record again after the restart (at least once,
same id and content): a subscriber deduplicates by id and content.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from monitor.adapters.readmodel import findings_key, findings_seq_key
from monitor.detect.findings import Finding, to_record

log = logging.getLogger("tabmon.alerting")

# send(topic, value=..., key=...) as aiokafka's: awaiting it queues the message and gives the
# delivery future
Send = Callable[..., Awaitable[Any]]


def content_digest(f: Finding | dict[str, Any]) -> str:
    """What a subscriber would notice changing: severity, evidence, explanation."""
    if isinstance(f, Finding):
        body = (f.severity, f.evidence, f.explanation)
    else:
        body = (f["severity"], f["evidence"], f["explanation"])
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class _Out:
    """One finding to send: its record, serialized once for the broker and Redis."""

    finding: Finding
    record: dict[str, Any]
    raw: bytes
    digest: str
    new: bool


class Emitter:
    """Sends changed findings to ``topic`` and keeps their latest records in Redis.

    ``send`` is aiokafka's ``send``: awaiting it queues the message and gives a future that
    completes when the broker has it; ``redis`` is a ``redis.asyncio`` client or None (then only this process
    remembers what it emitted). ``clock`` gives the ``first_seen``/``updated`` stamps.
    """

    def __init__(
        self,
        send: Send,
        topic: str,
        redis: Any,
        prefix: str,
        *,
        on_emit: Callable[[Finding, bool], None] | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._send = send
        self.topic = topic
        self.redis = redis
        self.prefix = prefix
        self.on_emit = on_emit
        self.clock = clock
        self._known: dict[str, tuple[str, str]] = {}  # finding_id -> (digest, first_seen)

    async def emit(self, findings: Iterable[Finding]) -> list[dict[str, Any]]:
        """Emit what is new or changed; returns the records sent."""
        latest: dict[str, Finding] = {}
        for f in findings:  # one anomaly once per call, the last word wins
            latest[f.finding_id] = f
        if not latest:
            return []
        await self._recall([i for i in latest if i not in self._known])
        now = self.clock()
        out: list[_Out] = []
        for fid, f in latest.items():
            digest = content_digest(f)
            known = self._known.get(fid)
            if known is not None and known[0] == digest:
                continue
            record = to_record(f, first_seen=known[1] if known else now, updated=now)
            out.append(_Out(f, record, orjson.dumps(record), digest, known is None))
        if not out:
            return []
        acks = [await self._send(self.topic, value=o.raw, key=o.finding.finding_id.encode()) for o in out]
        for ack in acks:
            await ack  # a failed delivery raises here, before anything is remembered
        if self.redis is not None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(findings_key(self.prefix), mapping={o.finding.finding_id: o.raw for o in out})
            pipe.incrby(findings_seq_key(self.prefix), len(out))
            await pipe.execute()
        for o in out:
            self._known[o.finding.finding_id] = (o.digest, o.record["first_seen"])
            if self.on_emit is not None:
                self.on_emit(o.finding, o.new)
        return [o.record for o in out]

    def forget(self) -> None:
        """Drop what this process remembers (on a rebalance: another worker may have emitted
        newer versions meanwhile); the next emission recalls from Redis."""
        self._known.clear()

    async def _recall(self, ids: list[str]) -> None:
        """What was emitted before this process started (or by an earlier owner)."""
        if not ids or self.redis is None:
            return
        raws = await self.redis.hmget(findings_key(self.prefix), ids)
        for fid, raw in zip(ids, raws, strict=True):
            if raw is not None:
                rec = orjson.loads(raw)
                self._known[fid] = (content_digest(rec), rec["first_seen"])
