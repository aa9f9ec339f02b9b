"""Test doubles that ship with the package: the whole tally in memory, no broker.

``InMemoryTally`` runs the same code as a worker (contract decoding, per-partition stores,
partials, the stage-two merge, the snapshot and the station documents) on events fed to it
directly, partitioned by key as Kafka would. For unit tests of anything built on the tally,
and for trying a dataset without a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .contract import DEFAULT_WINDOW, TimeWindow
from .errors import ContractError
from .registry import Registry, build
from .tally import PartitionStore, merge, snapshot
from .tally.intake import Intake


@dataclass(frozen=True, slots=True)
class _Msg:
    """A message as a consumer hands it over (offset, key, value)."""

    offset: int
    key: bytes | None
    value: bytes | None


class InMemoryTally:
    def __init__(self, registry_records: list[dict[str, Any]], *, partitions: int = 3,
                 max_bytes: int = 65536, window: TimeWindow = DEFAULT_WINDOW) -> None:  # fmt: skip
        self.registry: Registry = build(registry_records)
        self.partitions = partitions
        self.max_bytes = max_bytes
        self.window = window
        self.stores: dict[str, PartitionStore] = {}
        self.intakes: dict[str, Intake] = {}
        self.offsets: dict[str, int] = {}
        self.merged: dict[str, Any] = {}
        self.stations: dict[str, dict[str, Any]] = {}  # station -> kind -> document
        self.rejected: list[tuple[str, ContractError]] = []

    def partition_of(self, key: bytes) -> int:
        # Deterministic, not Kafka's murmur2: what matters is that one key has one partition.
        return sum(key) % self.partitions

    def feed(self, topic: str, key: str | bytes | None, value: dict[str, Any] | bytes | None) -> bool:
        """One message of an input topic (unprefixed name); False if unchanged or rejected
        (then ``rejected`` has its code and reason)."""
        raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
        return self._apply(topic, key.encode() if isinstance(key, str) else key, raw)

    def _apply(self, kind: str, key: bytes | None, raw: bytes | None) -> bool:
        """One message through the worker's own step (monitor.tally.intake)."""
        tp = f"{kind}:{self.partition_of(key or b'')}"
        intake = self.intakes.get(tp)
        if intake is None:
            store = self.stores[tp] = PartitionStore(kind, self.registry)
            intake = self.intakes[tp] = Intake(store, self.registry, self.max_bytes, self.window)
        offset = self.offsets.get(tp, 0)
        self.offsets[tp] = offset + 1
        res = intake.batch([_Msg(offset, key, raw)])
        for r in res.rejected:
            self.rejected.append((kind, ContractError(r.code, r.reason)))
        for token, value in res.forwards:
            # as the worker does: a new e-ballot is forwarded, keyed by its voter token
            self._apply("tokens", token, value)
        return res.accepted > 0

    def feed_events(self, events: list[Any], flush_every: int = 0) -> None:
        """Timed events (``.topic .key .value``), flushing every ``flush_every`` (0: at the end)."""
        for i, e in enumerate(events):
            self.feed(e.topic, e.key, e.value)
            if flush_every and i % flush_every == 0:
                self.flush()
        self.flush()

    def flush(self) -> None:
        for tp, store in self.stores.items():
            partial = store.take_partial(self.offsets[tp])
            if partial is not None:
                # as bytes, as a partial crosses tally-partials: what the worker could not
                # serialise (an integer beyond 64 bits) fails here too, and stage two merges
                # what JSON gives back, not the store's own objects
                wire = orjson.loads(orjson.dumps(partial))
                self.merged[tp], _ = merge(self.merged.get(tp), wire)
            for sid, doc in store.take_station_docs().items():
                # as JSON, like the worker's Redis read model hands it back
                self.stations.setdefault(sid, {})[store.kind] = orjson.loads(orjson.dumps(doc))

    def snapshot(self, **seat_options: Any) -> dict[str, dict[str, Any]]:
        return snapshot(self.merged, self.registry, **seat_options)

    def tokens(self) -> dict[str, list[tuple[str, str]]]:
        """Voter tokens with two ballots or more, as the ``evote-tokens`` partitions hold them."""
        out: dict[str, list[tuple[str, str]]] = {}
        for store in self.stores.values():
            if store.kind == "tokens":
                for token, ballots in store.token_ballots.items():
                    if len(ballots) > 1:
                        out[token] = sorted(ballots)
        return out

    def findings(self, thresholds: Any = None, now: Any = None) -> list[Any]:
        """Every finding the worker's detectors would give on this state, the statistical
        signals included (``now``: the event-time clock, a tz-aware datetime)."""
        from .detect import Thresholds, detect_all
        from .detect.forensics import forensic_findings

        t = thresholds or Thresholds()
        self.flush()
        return (detect_all(self.stations, self.snapshot(), self.tokens(), self.registry, t, now)
                + forensic_findings(self.stations, self.registry))  # fmt: skip


def read_topic(broker: str, topic: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every message now in ``topic`` (all partitions), decoded as JSON, in partition then
    offset order. No consumer group: it commits nothing and works on any Kafka-compatible
    broker. Reads until past the end offsets and two polls in a row bring nothing: Tansu
    reports the end of a partition as the start of its last record batch plus one."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> list[dict[str, Any]]:
        c = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False)
        await c.start()
        try:
            parts = c.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            if not tps:
                return []
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            end = await c.end_offsets(tps)
            got: dict[TopicPartition, list[dict[str, Any]]] = {tp: [] for tp in tps}
            deadline = asyncio.get_running_loop().time() + timeout
            quiet = 0
            while quiet < 2 or [tp for tp in tps if await c.position(tp) < end[tp]]:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"reading {topic} took longer than {timeout} s")
                batch = await c.getmany(timeout_ms=200)
                quiet = 0 if batch else quiet + 1
                for tp, msgs in batch.items():
                    got[tp] += [orjson.loads(m.value) for m in msgs]
            return [r for tp in tps for r in got[tp]]
        finally:
            await c.stop()

    return asyncio.run(read())


def scrape_metric(port: int, name: str, labels: str = "", timeout: float = 5.0) -> float | None:
    """The sum of a metric's samples on http://127.0.0.1:port/metrics whose labels contain
    ``labels``; None when it has none. An unreachable endpoint raises ``OSError``."""
    import re
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read().decode()
    values = [float(m.group(2)) for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M)
              if labels in (m.group(1) or "")]  # fmt: skip
    return sum(values) if values else None

