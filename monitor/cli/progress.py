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
    """End offsets of every input topic-partition, through one reusable client.

    Tansu (0.6.0) answers the latest offset of a partition with the base offset of its last
    record batch plus one, not the offset after that batch's last record: a night sent in
    batches of thousands would look tallied while a batch per partition is not. So each end
    is checked by reading the partition from one before it: the records there are the rest
    of the last batch (on Kafka, the last record alone). A checked end is kept until the
    partition's latest offset moves.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False
        )
        self._reader: KafkaConsumer | None = None  # reads the last batches (a client of its own)
        self.tps: list[TopicPartition] = []
        for name in (*INPUT_KINDS, *ROUTED_TOPICS.values()):
            topic = settings.topic(name)
            for p in sorted(self.consumer.partitions_for_topic(topic) or ()):
                self.tps.append(TopicPartition(topic, p))
        self.checked: dict[TopicPartition, tuple[int, int]] = {}  # tp -> (latest, true end)

    def read(self) -> dict[str, int]:
        """``topic:partition`` -> end offset."""
        ends = self.consumer.end_offsets(self.tps) if self.tps else {}
        return {f"{tp.topic}:{tp.partition}": self._true_end(tp, off) for tp, off in ends.items()}

    def _true_end(self, tp: TopicPartition, latest: int) -> int:
        if latest <= 0:
            return latest
        known = self.checked.get(tp)
        if known is not None and known[0] == latest:
            return known[1]
        if self._reader is None:
            self._reader = KafkaConsumer(
                bootstrap_servers=self.settings.broker,
                group_id=None,
                enable_auto_commit=False,
                max_poll_records=1_000_000,
            )
        reader = self._reader
        reader.assign([tp])
        reader.seek(tp, latest - 1)
        end = latest
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            records = reader.poll(timeout_ms=200).get(tp)
            if records:
                end = max(end, records[-1].offset + 1)
                break
        self.checked[tp] = (latest, end)
        return end

    def close(self) -> None:
        self.consumer.close()
        if self._reader is not None:
            self._reader.close()


def end_offsets(settings: Settings) -> dict[str, int]:
    ends = EndOffsets(settings)
    try:
        return ends.read()
    finally:
        ends.close()


def behind(meta: dict[str, Any] | None, ends: dict[str, int]) -> int:
    """How many messages the latest snapshot has not folded in yet (forwards on their way
    home included, and a commission folded in but not yet in the totals counted as one)."""
    marks: dict[str, int] = (meta or {}).get("watermarks", {})
    pending: int = (meta or {}).get("forwards_pending", 0) + (meta or {}).get("rollup_pending", 0)
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
