"""Has the tally caught up with the broker? Compares the snapshot's watermarks with the
end offsets of the input topics (kafka-python, no consumer group)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, TopicPartition

from .settings import Settings
from .worker.ingest import INPUT_KINDS


def end_offsets(settings: Settings) -> dict[str, int]:
    """``topic:partition`` -> end offset, for every input topic-partition."""
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, group_id=None,
                             enable_auto_commit=False)  # fmt: skip
    try:
        tps = []
        for kind in INPUT_KINDS:
            topic = settings.topic(kind)
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                tps.append(TopicPartition(topic, p))
        ends = consumer.end_offsets(tps) if tps else {}
        return {f"{tp.topic}:{tp.partition}": off for tp, off in ends.items()}
    finally:
        consumer.close()


def behind(meta: dict[str, Any] | None, ends: dict[str, int]) -> int:
    """How many input messages the latest snapshot has not folded in yet."""
    marks = (meta or {}).get("watermarks", {})
    return sum(max(0, end - marks.get(tp, 0)) for tp, end in ends.items())
