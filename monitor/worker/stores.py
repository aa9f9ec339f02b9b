"""What the ingest service holds per partition: stores, the sources that feed them, and the
forwards each store still waits on.

A store (one kind, one partition number ``p``) is fed by its sources: the input topic's
partition ``p``, whose events at home are applied there, and the routed topic's partition
``p``, which brings the events forwarded home from any other partition (for ``tokens``,
``evote-tokens`` alone). Its partial is keyed by its id, the first source's
``topic:partition``, as before there were routed topics.

A forward leaves a store's data incomplete until its home has published it: stage two must
not compare the store's partition as read to the end while its forwards are still on their
way. So each store keeps, per flush and routed partition, the forwards the broker
acknowledged (:class:`Pending`), and drops them once the home's committed offset passes
them: a home commits only after its partial with them is on ``tally-partials``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from monitor.tally.intake import Intake
from monitor.tally.partition import PartitionStore
from monitor.tally.shapes import StationDoc

STALE_SLACK = 1024  # stale entries a store's heap of waiting stations may hold beyond 2 per station


@dataclass(slots=True)
class Source:
    tp: TopicPartition
    intake: Intake  # the step that feeds the store from this source
    replay_until: int  # offsets below this were handled before the assignment
    next_offset: int = 0
    committed: int = 0  # the offset last committed for this source (by this worker or before)

    @property
    def rebuilt(self) -> bool:
        """Past the committed offset: the store holds everything handled before from here."""
        return self.next_offset >= self.replay_until

    @property
    def name(self) -> str:
        return f"{self.tp.topic}:{self.tp.partition}"


@dataclass(slots=True)
class Pending:
    """Forwards of one flush to one routed partition, on the broker, perhaps not yet published
    by their home: it has, once its committed offset reaches ``needed``."""

    tp: TopicPartition
    needed: int
    at: float  # the earliest event time among them (unix seconds)


@dataclass(slots=True)
class Store:
    sid: str  # the partial's key: "topic:partition" of the input (or evote-tokens) partition
    store: PartitionStore
    epoch: int  # when this worker took the partition: its first partial replaces older state
    sources: list[Source] = field(default_factory=list)
    clock: float = 0.0  # the latest event time read from any source (unix seconds)
    pending: list[Pending] = field(default_factory=list)
    published: tuple[int, int, float | None] | None = None  # (wm, behind, settled) last published
    # station -> the latest event time in its state: waiting for every partition to be read
    # that far before stage one's detectors look at its document (derived when released:
    # during a catch-up nearly every station of the partition waits)
    waiting: dict[str, float] = field(default_factory=dict)
    # (event time, station) of every waiting document, earliest first; an entry whose time is
    # no longer the station's in ``waiting`` is stale (a newer document replaced it), and the
    # heap is rebuilt from ``waiting`` once most of it is stale
    _due: list[tuple[float, str]] = field(default_factory=list)

    def ready(
        self, docs: Mapping[str, StationDoc], read_to: float, derive: Callable[[str], StationDoc]
    ) -> dict[str, StationDoc]:
        """Of the stations whose documents changed (``docs``) and those still waiting, the
        documents stage one may detect on now: every partition is read up to the latest event
        in them (``read_to``, monitor.tally.national.read_to), so each is a state the night
        really passed through, whatever order its events' partitions were read in. The rest
        wait for a later flush. The cost is that of the documents changed and released, not of
        those waiting: during a catch-up every station of the partition waits.

        A waiting station keeps only its time; its document is ``derive(station)`` when it is
        released: the store's state, which has not changed since (a change would have brought
        the station back in ``docs``)."""
        latest, waiting, due = self.store.latest_at, self.waiting, self._due
        for sid in docs:
            at = latest.get(sid, 0.0)
            if waiting.get(sid) != at:
                heapq.heappush(due, (at, sid))
                waiting[sid] = at
        if len(due) > 2 * len(waiting) + STALE_SLACK:  # mostly stale: every change is in it
            due[:] = [(at, sid) for sid, at in waiting.items()]
            heapq.heapify(due)
        out: dict[str, StationDoc] = {}
        while due and due[0][0] <= read_to:
            at, sid = heapq.heappop(due)
            if waiting.get(sid) == at:  # else stale, or released already
                doc = docs.get(sid)
                out[sid] = doc if doc is not None else derive(sid)
                del waiting[sid]
        return out

    @property
    def wm(self) -> int:
        """The partial's watermark: grows with every source's position within an epoch."""
        return sum(s.next_offset for s in self.sources)

    @property
    def rebuilt(self) -> bool:
        return all(s.rebuilt for s in self.sources)

    def offsets(self) -> dict[str, int]:
        """Each source's next offset: what the snapshot has folded in, per topic-partition."""
        return {s.name: s.next_offset for s in self.sources}

    def add_pending(self, tp: TopicPartition, needed: int, at: float) -> None:
        self.pending.append(Pending(tp, needed, at))

    def settle(self, committed: Mapping[TopicPartition, int]) -> None:
        """Drop the forwards their homes have published (committed past them)."""
        self.pending = [p for p in self.pending if committed.get(p.tp, 0) < p.needed]

    def settled(self) -> float | None:
        """With forwards still on their way, the event time this store is complete up to
        (just before the earliest of them); None when none is."""
        return min(p.at for p in self.pending) - 1e-3 if self.pending else None
