"""Has the tally caught up with the broker? Compares the snapshot's watermarks with the
end offsets of the topics the stores read (kafka-python, no consumer group).

The workers feed the routed topics themselves (events forwarded home, e-ballots re-keyed to
``evote-tokens``), so their ends move while the tally runs: end offsets are read afresh at
every poll, the snapshot must have no forward pending, and "caught up" must hold twice in a
row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from monitor.errors import MonitorError
from monitor.settings import Settings
from monitor.tally.route import ROUTED_TOPICS
from monitor.worker.ingest import INPUT_KINDS


class EndOffsets:
    """End offsets of every input topic-partition, through one reusable client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False
        )
        self.tps: list[TopicPartition] = []
        for name in (*INPUT_KINDS, *ROUTED_TOPICS.values()):
            topic = settings.topic(name)
            for p in sorted(self.consumer.partitions_for_topic(topic) or ()):
                self.tps.append(TopicPartition(topic, p))

    def read(self) -> dict[str, int]:
        """``topic:partition`` -> end offset."""
        ends = self.consumer.end_offsets(self.tps) if self.tps else {}
        return {f"{tp.topic}:{tp.partition}": off for tp, off in ends.items()}

    def close(self) -> None:
        self.consumer.close()


def end_offsets(settings: Settings) -> dict[str, int]:
    ends = EndOffsets(settings)
    try:
        return ends.read()
    finally:
        ends.close()


def behind(meta: dict[str, Any] | None, ends: dict[str, int]) -> int:
    """How many messages the latest snapshot has not folded in yet (forwards on their way
    home included)."""
    marks: dict[str, int] = (meta or {}).get("watermarks", {})
    pending: int = (meta or {}).get("forwards_pending", 0)
    return sum(max(0, end - marks.get(tp, 0)) for tp, end in ends.items()) + pending


def wait_caught_up(
    settings: Settings,
    read_meta: Callable[[], dict[str, Any] | None],
    *,
    timeout: float,
    on_poll: Callable[[dict[str, Any] | None, int], None] | None = None,
    check: Callable[[], None] | None = None,
    interval: float = 0.3,
) -> dict[str, Any]:
    """Poll until the snapshot has folded in every input message; return its meta.

    ``on_poll(meta, behind)`` is told of each poll; ``check()`` may raise to give up early
    (a worker that died). Raises MonitorError on timeout.
    """
    ends = EndOffsets(settings)
    deadline = time.monotonic() + timeout
    streak = 0
    try:
        while True:
            if check is not None:
                check()
            meta = read_meta()
            left = behind(meta, ends.read())
            if on_poll is not None:
                on_poll(meta, left)
            streak = streak + 1 if meta is not None and left == 0 else 0
            if streak >= 2:
                assert meta is not None
                return meta
            if time.monotonic() > deadline:
                raise MonitorError(
                    f"the tally did not catch up within {timeout:.0f} s ({left:,} events behind)"
                )
            time.sleep(interval)
    finally:
        ends.close()
