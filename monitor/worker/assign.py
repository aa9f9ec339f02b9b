"""The ingest group's assignor: partition ``p`` of every topic goes to one worker.

A store is fed by two sources with the same partition number, the input topic's partition
``p`` (the events that are at home there) and the routed topic's (the events forwarded home
from elsewhere); both must be read by the worker that holds the store (docs/architecture.md,
"Routing"). Kafka's round-robin assignor spreads them; range keeps them together only while
every topic has the same number of partitions. This one deals out whole partition numbers.
Every worker of a group must use it (the group agrees on one protocol by name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata


class ColocatedAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    name = "tabmon-colocated"
    version = 0

    @classmethod
    def assign(cls, cluster: Any, members: Mapping[str, Any]) -> dict[str, Any]:
        """Partition numbers dealt round-robin to the members (in member-id order); each gets,
        of every topic it subscribes, the partitions with its numbers."""
        numbers: set[int] = set()
        for m in members.values():
            for topic in m.subscription:
                numbers |= set(cluster.partitions_for_topic(topic) or ())
        ids = sorted(members)
        owner = {p: ids[i % len(ids)] for i, p in enumerate(sorted(numbers))} if ids else {}
        out: dict[str, dict[str, list[int]]] = {mid: defaultdict(list) for mid in ids}
        for mid in ids:
            for topic in sorted(members[mid].subscription):
                for p in sorted(cluster.partitions_for_topic(topic) or ()):
                    if owner[p] == mid:
                        out[mid][topic].append(p)
        return {
            mid: ConsumerProtocolMemberAssignment(cls.version, sorted(out[mid].items()), b"") for mid in ids
        }

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> Any:
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), b"")

    @classmethod
    def on_assignment(cls, assignment: Any) -> None:
        pass
