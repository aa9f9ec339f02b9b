"""One input partition's messages in: decode, validate, apply, and what comes of each.

The one definition of stage one's per-message step, driven by the worker's ingest service,
by :class:`monitor.testing.InMemoryTally` and by the fuzz harness (load/fuzz.py). Every
message ends in exactly one of three ways: it is applied to the partition's store (accepted,
or replayed below the committed offset), or it is rejected with a code and a sentence. No
message can raise out of here: what the contract refuses is a :class:`ContractError`, and
anything else (a bug) is caught for that message alone and rejected with the code ``bug``,
so one message can never stop a partition (nor, after a restart, stop it again).
``MemoryError`` is the process failing, not the message: it is not caught.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..contract import DECODERS, DEFAULT_WINDOW, TimeWindow, parse
from ..errors import BUG, ContractError, bug_reason
from ..registry import Registry
from .partition import PartitionStore

# The event time of each kind of record: the latest one seen is the monitor's clock.
TIME_FIELD = {"turnout": "reported_at", "protocols": "recorded_at", "summaries": "recorded_at",
              "evote": "issued_at", "tokens": "issued_at"}  # fmt: skip


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


@dataclass(slots=True)
class BatchResult:
    accepted: int = 0
    replayed: int = 0  # applied again to rebuild the store, below the committed offset
    rejected: list[Rejection] = field(default_factory=list)  # at or above the committed offset
    forwards: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value) to re-key
    clock: float | None = None  # the event time of the batch's last applied record (unix s)


class Intake:
    """Decodes and applies one partition's messages to its store. ``window``: the event times
    the contract accepts (see :class:`monitor.contract.TimeWindow`)."""

    def __init__(self, store: PartitionStore, registry: Registry, max_bytes: int,
                 window: TimeWindow = DEFAULT_WINDOW) -> None:  # fmt: skip
        self.store = store
        self.registry = registry
        self.max_bytes = max_bytes
        self.window = window
        self.kind = store.kind
        self._decode = DECODERS[store.kind]
        # a new e-ballot is forwarded to ``evote-tokens`` keyed by its voter token, so that
        # every ballot of one token meets in one partition (multiple voting spans stations)
        self.forwards_tokens = store.kind == "evote"

    def batch(self, messages: Iterable[Message], replay_until: int = 0) -> BatchResult:
        """Apply every message in order. Below ``replay_until`` (the committed offset) a
        message only rebuilds state: it is not counted, rejected or forwarded again."""
        out = BatchResult()
        decode, apply, registry = self._decode, self.store.apply_record, self.registry
        limit, window, forward = self.max_bytes, self.window, self.forwards_tokens
        last: Any = None
        for m in messages:
            offset = m.offset
            try:
                record: Any = decode(parse(m.value, limit), registry, m.key, window)
                changed = apply(record)
                token = record.voter_token.encode() if forward and changed else None
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
                if token is not None:
                    out.forwards.append((token, m.value or b""))
            else:
                out.replayed += 1
        if last is not None:  # one parse per batch: a partition is read in time order, roughly
            out.clock = datetime.fromisoformat(getattr(last, TIME_FIELD[self.kind])).timestamp()
        return out

