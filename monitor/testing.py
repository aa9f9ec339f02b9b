"""Test doubles that ship with the package: the whole tally in memory, no broker.

``InMemoryTally`` runs the same code as a worker (contract decoding, routing each event to
its home partition, per-partition stores, partials, the stage-two merge, the snapshot and
the station documents) on events fed to it directly, in the partition a producer's
partitioner chooses. For unit tests of anything built on the tally,
and for trying a dataset without a broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from monitor.contract import DEFAULT_WINDOW, Registry, TimeWindow, build
from monitor.election import Definition
from monitor.errors import ContractError
from monitor.tally import PartitionStore, merge, snapshot, take_partial, take_station_docs
from monitor.tally.intake import Intake
from monitor.tally.partition import KINDS
from monitor.tally.rollup import Rollup, Touched
from monitor.tally.route import ROUTED_TOPICS, Router, home_of
from monitor.tally.shapes import Snapshot
from monitor.tally.wire import check_partial_for


@dataclass(frozen=True, slots=True)
class _Msg:
    """A message as a consumer hands it over (offset, key, value)."""

    offset: int
    key: bytes | None
    value: bytes | None


class InMemoryTally:
    """``partitioner``: the partition a producer puts a message in, from its key (default:
    the Java client's, murmur2, so that events keyed by their station are at home); any
    other (CRC32, random) leaves events to be forwarded home, as in the worker."""

    def __init__(
        self,
        registry_records: list[dict[str, Any]],
        *,
        partitions: int = 3,
        max_bytes: int = 65536,
        window: TimeWindow = DEFAULT_WINDOW,
        partitioner: Callable[[bytes | None], int] | None = None,
        definition: Definition | None = None,
    ) -> None:
        self.registry: Registry = build(registry_records, definition=definition)
        self.partitions = partitions
        self.max_bytes = max_bytes
        self.window = window
        self.partitioner = partitioner or self.partition_of
        self.routes = {kind: Router(kind, partitions) for kind in KINDS}
        self.stores: dict[str, PartitionStore] = {}  # "kind:partition"
        self.intakes: dict[str, Intake] = {}  # per source: "topic:partition"
        self.offsets: dict[str, int] = {}  # per source
        self.merged: dict[str, Any] = {}
        # stage two's totals kept by deltas, as the worker keeps them
        self.rollup = Rollup(self.registry)
        self.touched = Touched()
        self.stations: dict[str, dict[str, Any]] = {}  # station -> kind -> document
        self.rejected: list[tuple[str, ContractError]] = []
        self.rerouted = 0

    def partition_of(self, key: bytes | None) -> int:
        """The Java client's default partition for ``key`` (an unkeyed message: 0)."""
        return home_of(key, self.partitions) if key else 0

    def feed(
        self,
        topic: str,
        key: str | bytes | None,
        value: dict[str, Any] | bytes | None,
        partition: int | None = None,
    ) -> bool:
        """One message of an input topic (unprefixed name), in ``partition`` or where the
        partitioner puts it; False if unchanged, forwarded or rejected (then ``rejected`` has
        its code and reason)."""
        raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
        k = key.encode() if isinstance(key, str) else key
        return self._apply(topic, topic, self.partitioner(k) if partition is None else partition, k, raw)

    def _apply(self, source: str, kind: str, partition: int, key: bytes | None, raw: bytes | None) -> bool:
        """One message through the worker's own step (monitor.tally.intake)."""
        sid = f"{source}:{partition}"
        intake = self.intakes.get(sid)
        if intake is None:
            store = self.stores.get(f"{kind}:{partition}")
            if store is None:
                store = self.stores[f"{kind}:{partition}"] = PartitionStore(kind, self.registry)
            intake = self.intakes[sid] = Intake(
                store, self.registry, self.max_bytes, self.window, partition=partition, routes=self.routes
            )
        offset = self.offsets.get(sid, 0)
        self.offsets[sid] = offset + 1
        res = intake.batch([_Msg(offset, key, raw)])
        for r in res.rejected:
            self.rejected.append((source, ContractError(r.code, r.reason)))
        self.rerouted += res.rerouted
        for f in res.forwards:  # as the worker does: through the kind's routed topic
            assert f.partition is not None
            self._apply(ROUTED_TOPICS[f.kind], f.kind, f.partition, f.key, f.value)
        return res.accepted > 0

    def feed_events(self, events: list[Any], flush_every: int = 0) -> None:
        """Timed events (``.topic .key .value``), flushing every ``flush_every`` (0: at the end)."""
        for i, e in enumerate(events):
            self.feed(e.topic, e.key, e.value)
            if flush_every and i % flush_every == 0:
                self.flush()
        self.flush()

    def flush(self) -> None:
        for sid, store in self.stores.items():
            kind, partition = sid.split(":")
            wm = sum(self.offsets.get(f"{src}:{partition}", 0) for src in (kind, ROUTED_TOPICS[kind]))
            partial = take_partial(store, wm)
            if partial is not None:
                # as bytes, as a partial crosses tally-partials: what the worker could not
                # serialise (an integer beyond 64 bits) fails here too, and stage two checks
                # and merges what JSON gives back, not the store's own objects, as the worker
                # does (a partial the worker would dead-letter raises here)
                partial["tp"] = sid
                wire = check_partial_for(orjson.loads(orjson.dumps(partial)), self.registry)
                self.merged[sid], _ = merge(self.merged.get(sid), wire, self.touched)
            for station, doc in take_station_docs(store).items():
                # as JSON, like the worker's Redis read model hands it back
                self.stations.setdefault(station, {})[store.kind] = orjson.loads(orjson.dumps(doc))

    def snapshot(self, **seat_options: Any) -> Snapshot:
        """Every unit's totals: kept by deltas as the worker keeps them; with seat options,
        derived from scratch with those."""
        if any(v is not None for v in seat_options.values()):
            return snapshot(self.merged, self.registry, **seat_options)
        touched, self.touched = self.touched, Touched()
        return dict(self.rollup.update(self.merged, touched)[0])

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
        from monitor.detect import detect_all
        from monitor.detect.forensics import forensic_findings
        from monitor.election.thresholds import of_definition

        t = thresholds or of_definition(self.registry.definition)
        self.flush()
        return detect_all(
            self.stations, self.snapshot(), self.tokens(), self.registry, t, now
        ) + forensic_findings(self.stations, self.registry)


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
    values = [
        float(m.group(2))
        for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M)
        if labels in (m.group(1) or "")
    ]
    return sum(values) if values else None
