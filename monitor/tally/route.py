"""Where an event belongs: tabmon's own partitioning, whatever the producer's client chose.

Each station's (unit's, voter token's) state lives in one partition's store, so every event
of it must meet there. Producers are other systems on other Kafka clients, whose default
partitioners differ (kafka-python and the Java client hash the key with murmur2, librdkafka
with CRC32, others spread messages round-robin) and whose keys may be missing or wrong. So
the monitor decides: an event's **home** is ``murmur2(id) % partitions`` of the id it is
about (its station, its unit, its voter token), taken from the event itself, never from the
message key. The Java client and kafka-python put a message keyed by that id in exactly
that partition, so their events are at home already; any other is forwarded to its home
through the kind's routed topic (docs/architecture.md, "Routing").
"""

from __future__ import annotations

from typing import Any

from monitor import topics

ROUTED_TOPICS = topics.ROUTED  # the topic (unprefixed) through which each kind goes home

# The id an event of each store kind is about: its state's key, and so its home.
ROUTING_FIELD = {
    "turnout": "station_id",
    "protocols": "station_id",
    "evote": "station_id",
    "summaries": "unit_id",
    "tokens": "voter_token",
}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a 32-bit unsigned."""
    m, length = 0x5BD1E995, len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length % 4
    if tail:
        h ^= int.from_bytes(data[length - tail :], "little")
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def home_of(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner gives ``key`` (and tabmon)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Router:
    """Homes of the ids of one kind of store, over ``partitions`` partitions. Station and unit
    ids are few (the registry's) and every event of a station asks again: their hashes are
    kept. Voter tokens are one per voter: hashed each time, never kept."""

    def __init__(self, kind: str, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("a routed kind needs at least one partition")
        self.field = ROUTING_FIELD[kind]
        self.partitions = partitions
        self._cache: dict[str, int] | None = None if kind == "tokens" else {}

    def key(self, record: Any) -> str:
        key: str = getattr(record, self.field)
        return key

    def home(self, key: str) -> int:
        cache = self._cache
        if cache is None:
            return home_of(key.encode(), self.partitions)
        h = cache.get(key)
        if h is None:
            h = cache[key] = home_of(key.encode(), self.partitions)
        return h
