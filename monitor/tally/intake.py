"""One source's messages in: decode, validate, route, apply, and what comes of each.

The one definition of stage one's per-message step, driven by the worker's ingest service,
by :class:`monitor.testing.InMemoryTally` and by the fuzz harness (load/fuzz.py). Every
message ends in exactly one of three ways: it is applied to the partition's store (accepted,
or replayed below the committed offset) when the partition is its home (:mod:`.route`), it
is forwarded to its home, or it is rejected with a code and a sentence. No
message can raise out of here: what the contract refuses is a :class:`ContractError`, and
anything else (a bug) is caught for that message alone and rejected with the code ``bug``,
so one message can never stop a partition (nor, after a restart, stop it again).
``MemoryError`` is the process failing, not the message: it is not caught.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.contract import DECODERS, DEFAULT_WINDOW, Registry, TimeWindow, parse
from monitor.errors import BUG, ContractError, bug_reason
from monitor.tally.partition import PartitionStore, timestamp
from monitor.tally.route import Router

# The event time of each kind of record: the latest one seen is the monitor's clock.
TIME_FIELD = {
    "turnout": "reported_at",
    "protocols": "recorded_at",
    "summaries": "recorded_at",
    "evote": "issued_at",
    "tokens": "issued_at",
}


class Message(Protocol):
    """What a consumed message offers (aiokafka's ``ConsumerRecord`` does)."""

    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Rejection:
    offset: int
    code: str
    reason: str
    raw: bytes | None
    error: BaseException | None = None  # the exception behind a ``bug``, for the log


@dataclass(frozen=True, slots=True)
class Forward:
    """An accepted event that belongs in another store: sent to ``kind``'s routed topic (for
    ``tokens``, ``evote-tokens``), partition ``partition``, keyed by the id it is about."""

    kind: str
    partition: int | None  # None: no routing here, the producer partitions by key
    key: bytes
    value: bytes
    at: float  # its event time (unix seconds): what is compared across stores waits for it


@dataclass(slots=True)
class BatchResult:
    accepted: int = 0  # applied to this store
    rerouted: int = 0  # accepted, and forwarded to their home partition
    replayed: int = 0  # applied again to rebuild the store, below the committed offset
    rejected: list[Rejection] = field(default_factory=list)  # at or above the committed offset
    forwards: list[Forward] = field(default_factory=list)
    clock: float | None = None  # the event time of the batch's last accepted record (unix s)


class Intake:
    """Decodes one source's messages and applies those at home to its partition's store.

    ``routes``: the partition counts of the stores of each kind (see :mod:`.route`). With
    them, an event is applied only in the store of its home partition ``partition`` and
    forwarded to its home otherwise; without, everything is applied here. ``window``: the
    event times the contract accepts (see :class:`monitor.contract.events.TimeWindow`)."""

    def __init__(
        self,
        store: PartitionStore,
        registry: Registry,
        max_bytes: int,
        window: TimeWindow = DEFAULT_WINDOW,
        *,
        partition: int = 0,
        routes: Mapping[str, Router] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.max_bytes = max_bytes
        self.window = window
        self.kind = store.kind
        self.partition = partition
        self._decode = DECODERS[store.kind]
        self._time = TIME_FIELD[store.kind]
        self.router = routes[store.kind] if routes is not None else None
        # a new e-ballot is forwarded to ``evote-tokens`` keyed by its voter token, so that
        # every ballot of one token meets in one partition (multiple voting spans stations)
        self.forwards_tokens = store.kind == "evote"
        self.tokens = routes["tokens"] if routes is not None and self.forwards_tokens else None

    def batch(self, messages: Iterable[Message], replay_until: int = 0) -> BatchResult:
        """Apply every message in order. Below ``replay_until`` (the committed offset) a
        message only rebuilds state: it is not counted, rejected or forwarded again."""
        out = BatchResult()
        decode, apply, registry = self._decode, self.store.apply_record, self.registry
        limit, window, router, here = self.max_bytes, self.window, self.router, self.partition
        last: Any = None
        for m in messages:
            offset = m.offset
            try:
                record: Any = decode(parse(m.value, limit), registry, window)
                if router is not None:
                    key = router.key(record)
                    home = router.home(key)
                    if home != here:
                        last = record
                        if offset >= replay_until:  # below it, forwarded before the commit
                            out.rerouted += 1
                            out.forwards.append(
                                Forward(self.kind, home, key.encode(), m.value or b"", self._at(record))
                            )
                        continue
                if apply(record) and self.forwards_tokens and offset >= replay_until:
                    out.forwards.append(self._token_forward(record, m.value or b""))
            except ContractError as exc:
                if offset >= replay_until:
                    out.rejected.append(Rejection(offset, exc.code, exc.detail, m.value))
                continue
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug: this message alone is rejected
                if offset >= replay_until:
                    out.rejected.append(Rejection(offset, BUG, bug_reason(exc), m.value, exc))
                continue
            last = record
            if offset >= replay_until:
                out.accepted += 1
            else:
                out.replayed += 1
        if last is not None:  # one parse per batch: a partition is read in time order, roughly
            out.clock = self._at(last)
        return out

    def _at(self, record: Any) -> float:
        return timestamp(getattr(record, self._time))

    def _token_forward(self, record: Any, value: bytes) -> Forward:
        token: str = record.voter_token
        home = self.tokens.home(token) if self.tokens is not None else None
        return Forward("tokens", home, token.encode(), value, self._at(record))
