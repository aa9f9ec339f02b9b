"""The fuzz harness's in-process worker (load/fuzz.py): stage one and stage two driven as
the worker drives them, and what it found wrong."""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "load")]

from prometheus_client import CollectorRegistry, generate_latest

from monitor.adapters.metrics import Metrics
from monitor.alerting.emit import content_digest
from monitor.alerting.runner import stage_one, stage_two, sweep
from monitor.contract import DEFAULT_WINDOW, Registry, TimeWindow, build, dead_letter, original_bytes
from monitor.detect import Finding, Thresholds
from monitor.detect.findings import to_record
from monitor.errors import ContractError
from monitor.settings import Settings
from monitor.tally import PartitionStore, merge, snapshot, take_partial, take_station_docs
from monitor.tally.intake import BUG, Forward, Intake, Rejection
from monitor.tally.national import clock, read_to
from monitor.tally.route import ROUTED_TOPICS, Router
from monitor.tally.wire import check_partial
from monitor.worker.follower import RegistryFollower
from monitor.worker.ingest import INPUT_KINDS, STORE_KINDS
from producers.hostile.feed import Hostile

DEFAULTS = Settings()
# The topics whose messages are counted one by one: the producers' (accepted, forwarded home
# or rejected) and evote-tokens (the e-ballots re-keyed); topic -> the kind of its stores.
INPUT_TOPICS = {k: k for k in INPUT_KINDS} | {"evote-tokens": "tokens"}
ROUTED = {ROUTED_TOPICS[k]: k for k in INPUT_KINDS}  # where events not at home are sent
# A dead letter holds at most the raw limit of the original, JSON-escaped (a control byte
# becomes six characters, bytes that are not UTF-8 go as base64), and a reason cut at 500
# characters: beyond this bound it is not bounded at all.
LETTER_SLACK = 4096
SMALL_SLACK = 2048  # what "the raw limit plus a little" means, reported separately
# What a broker takes in one message by default (Kafka's message.max.bytes, about 1 MB); the
# broker mode does not send a larger input: the broker refuses it before the monitor sees it.
BROKER_MAX = 1_000_000
RANK = {"pec": 0, "tec": 1, "rec": 2, "cec": 3}  # the official view: the highest level present
TOTAL_FIELDS = (
    "protocol",
    "official",
    "moved",
    "turnout",
    "evote_ballots",
    "altered_stations",
    "unanimous_stations",
    "evote_multiple",
    "summary_versions",
    "stations",
)


def _short(x: Any) -> str:
    text = orjson.dumps(x, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) < 300 else text[:300] + "..."


# -- what went wrong ------------------------------------------------------------------------------
@dataclass
class Failure:
    what: str  # uncaught, empty_reason, bug, deadletter, valid_rejected, lost, totals, ...
    detail: str
    trace: str = ""
    inputs: list[Hostile] = field(default_factory=list)


@dataclass
class Stats:
    hostile: int = 0
    valid: int = 0
    accepted: Counter[str] = field(default_factory=Counter)  # topic -> messages applied
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, code) -> n
    by_mutation: dict[str, Counter[str]] = field(default_factory=dict)  # name -> outcome -> n
    forwards: int = 0
    flushes: int = 0
    findings: int = 0
    sweeps: int = 0
    letters: int = 0
    letter_max: int = 0
    letter_max_input: Hostile | None = None
    letters_over_small: int = 0
    registry: Counter[str] = field(default_factory=Counter)  # outcome of hostile registry records
    failures: list[Failure] = field(default_factory=list)
    failure_counts: Counter[str] = field(default_factory=Counter)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def fail(
        self, what: str, detail: str, trace: str = "", inputs: Iterable[Hostile] = (), once: bool = False
    ) -> None:
        """Count and keep a failure; ``once``: not again with the same detail (the same wrong
        total seen at the next flush is the same failure)."""
        if once:
            if (what, detail) in self._seen:
                return
            self._seen.add((what, detail))
        self.failure_counts[what] += 1
        if self.failure_counts[what] <= 20:  # the first ones of each kind, not a flood
            self.failures.append(Failure(what, detail, trace, list(inputs)))


def _trace(exc: BaseException | None = None) -> str:
    if exc is None:
        return traceback.format_exc()
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


@dataclass(frozen=True, slots=True)
class _Msg:
    """A message as a consumer hands it over."""

    offset: int
    key: bytes | None
    value: bytes | None


def partition_of(key: bytes | None, partitions: int) -> int:
    """Deterministic, and not Kafka's murmur2 (librdkafka's CRC32): most events arrive away
    from their home and are forwarded there, as from a client of another partitioner."""
    return zlib.crc32(key or b"") % partitions


# -- the in-process worker ------------------------------------------------------------------------
class Harness:
    """Stage one and stage two in one process, driven as ``monitor.worker.ingest.Ingest`` and
    ``monitor.worker.app.Worker`` drive them; every step that raises is a failure recorded
    with its traceback and the inputs that can have caused it."""

    def __init__(
        self,
        registry_records: list[dict[str, Any]],
        stats: Stats,
        *,
        partitions: int = 4,
        max_bytes: int = DEFAULTS.max_message_bytes,
        raw_limit: int = DEFAULTS.deadletter_raw_limit,
        window: TimeWindow = DEFAULT_WINDOW,
        thresholds: Thresholds | None = None,
        sweep_every: int = 100,
    ) -> None:
        self.records = registry_records
        self.registry: Registry = build(registry_records)
        self.stats = stats
        self.partitions = partitions
        self.max_bytes, self.raw_limit, self.window = max_bytes, raw_limit, window
        self.thresholds = thresholds or Thresholds()
        self.sweep_every = sweep_every
        self.kinds = dict(INPUT_TOPICS) | ROUTED  # topic -> store kind
        self.routes = {k: Router(k, partitions) for k in STORE_KINDS}
        self.intakes: dict[tuple[str, int], Intake] = {}  # per source topic-partition
        self.stores: dict[tuple[str, int], PartitionStore] = {}  # per (kind, home partition)
        self.next: dict[tuple[str, int], int] = {}
        self.published: dict[tuple[str, int], int] = {}  # per store
        self.clock: dict[tuple[str, int], float] = {}  # per store
        self.merged: dict[str, Any] = {}  # the stage-two table: tp -> merged partial
        self.stations: dict[str, dict[str, Any]] = {}  # the station read model, as JSON
        self.units: dict[str, dict[str, Any]] = {}
        self.metrics = Metrics.create(CollectorRegistry())
        self.letter_bound = 6 * raw_limit + LETTER_SLACK
        self._round: list[Hostile] = []  # the accepted messages since the last flush

    def _intake(self, tp: tuple[str, int]) -> Intake:
        intake = self.intakes.get(tp)
        if intake is None:
            kind = self.kinds[tp[0]]
            store = self.stores.get((kind, tp[1]))
            if store is None:
                store = self.stores[(kind, tp[1])] = PartitionStore(kind, self.registry)
            intake = self.intakes[tp] = Intake(
                store, self.registry, self.max_bytes, self.window, partition=tp[1], routes=self.routes
            )
            self.next[tp] = 0
        return intake

    def round(self, items: Sequence[Hostile]) -> list[str | None]:
        """One fetch of ``items`` and the flush after it; per item its rejection code, or
        None when it was accepted."""
        outcomes, forwards = self._consume(items)
        while forwards:  # read back from the routed topics, as the worker reads what it forwarded
            self.stats.forwards += len(forwards)
            sent = [Hostile(ROUTED_TOPICS[f.kind], f.key, f.value) for f in forwards]
            refused, again = self._consume(sent, [f.partition for f in forwards])
            for h, code in zip(sent, refused, strict=True):
                if code is not None:
                    self.stats.fail(
                        "forward_rejected", f"a forwarded event was rejected ({code})", inputs=[h]
                    )
            # an event forwarded home is applied there; only a new e-ballot goes on, to tokens
            if [f for f in again if f.kind != "tokens" or f.partition is None]:
                self.stats.fail("forwarded_twice", "an event was forwarded again from its home")
            forwards = [f for f in again if f.kind == "tokens"]
        self._round += [h for h, o in zip(items, outcomes, strict=True) if o is None]
        self.flush()
        return outcomes

    def _consume(
        self, items: Sequence[Hostile], partitions: Sequence[int | None] | None = None
    ) -> tuple[list[str | None], list[Forward]]:
        outcomes: list[str | None] = [None] * len(items)
        batches: dict[tuple[str, int], list[_Msg]] = {}
        index: dict[tuple[str, int, int], int] = {}
        for i, (topic, key, value) in enumerate(items):
            chosen = partitions[i] if partitions is not None else None
            tp = (topic, partition_of(key, self.partitions) if chosen is None else chosen)
            self._intake(tp)
            offset = self.next[tp]
            self.next[tp] = offset + 1
            batches.setdefault(tp, []).append(_Msg(offset, key, value))
            index[(*tp, offset)] = i
        forwards: list[Forward] = []
        for tp, messages in batches.items():
            topic, partition = tp
            try:
                res = self.intakes[tp].batch(messages)
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001 - the failure the harness is here to find
                self.stats.fail(
                    "uncaught",
                    f"Intake.batch raised on {topic}[{partition}]",
                    _trace(),
                    [items[index[(*tp, m.offset)]] for m in messages],
                )
                for m in messages:
                    outcomes[index[(*tp, m.offset)]] = "uncaught"
                continue
            if res.clock is not None:
                home = (self.kinds[topic], partition)
                self.clock[home] = max(self.clock.get(home, 0.0), res.clock)
            for r in res.rejected:
                i = index[(*tp, r.offset)]
                outcomes[i] = r.code or "no_code"
                self._rejection(tp, r, items[i])
            if res.accepted + res.rerouted + len(res.rejected) != len(messages):
                self.stats.fail(
                    "lost",
                    f"{len(messages)} messages in, {res.accepted} accepted,"
                    f" {res.rerouted} forwarded home and {len(res.rejected)}"
                    f" rejected on {topic}[{partition}]",
                    inputs=[items[index[(*tp, m.offset)]] for m in messages],
                )
            self.stats.accepted[topic] += res.accepted
            forwards += res.forwards
        return outcomes, forwards

    def _rejection(self, tp: tuple[str, int], r: Rejection, item: Hostile) -> None:
        topic, partition = tp
        stats = self.stats
        stats.rejected[(topic, r.code)] += 1
        if not isinstance(r.code, str) or not r.code:
            stats.fail("no_code", f"a rejection without a code: {r.reason!r}", inputs=[item])
        if not isinstance(r.reason, str) or not r.reason.strip():
            stats.fail("empty_reason", f"code {r.code!r} with the reason {r.reason!r}", inputs=[item])
        if r.code == BUG:
            stats.fail("bug", r.reason, _trace(r.error) if r.error else "", [item])
        try:
            key, value = dead_letter(
                topic=topic,
                partition=partition,
                offset=r.offset,
                code=r.code,
                reason=r.reason,
                raw=r.raw,
                limit=self.raw_limit,
            )
            letter = orjson.loads(value)
            raw = r.raw or b""
            wrong = [
                what
                for what, ok in (
                    ("key", key == f"{topic}/{partition}/{r.offset}".encode()),
                    ("reason", isinstance(letter.get("reason"), str) and letter["reason"].strip() != ""),
                    ("code", letter.get("code") == r.code),
                    ("raw_size", letter.get("raw_size") == len(raw)),
                    ("raw", original_bytes(letter) == raw[: self.raw_limit]),
                    ("raw_truncated", letter.get("raw_truncated") == (len(raw) > self.raw_limit)),
                    (f"size {len(value):,} > {self.letter_bound:,}", len(value) <= self.letter_bound),
                )
                if not ok
            ]
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001
            stats.fail("uncaught", "dead_letter raised", _trace(), [item])
            return
        if wrong:
            stats.fail("deadletter", f"the dead letter is wrong: {', '.join(wrong)}", inputs=[item])
        stats.letters += 1
        if len(value) > self.raw_limit + SMALL_SLACK:
            stats.letters_over_small += 1
        if len(value) > stats.letter_max:
            stats.letter_max, stats.letter_max_input = len(value), item

    # -- the flush --------------------------------------------------------------------------
    def flush(self) -> None:
        """What ``Ingest._flush`` and stage two do with what the round changed."""
        stats, t, registry = self.stats, self.thresholds, self.registry
        suspects, self._round = self._round, []
        stats.flushes += 1
        findings: list[Finding] = []
        for tp in sorted(self.stores):  # (kind, home partition): fed by its sources
            store = self.stores[tp]
            kind, name = store.kind, f"{tp[0]}:{tp[1]}"
            step = "station documents"
            try:
                docs = take_station_docs(store)
                for sid, doc in docs.items():  # to Redis and back, as the sweep reads them
                    self.stations.setdefault(sid, {})[kind] = orjson.loads(orjson.dumps(doc))
                wm = sum(n for (topic, p), n in self.next.items() if p == tp[1] and self.kinds[topic] == kind)
                step = "stage-one detectors"
                if wm == self.published.get(tp):
                    if docs:
                        findings += stage_one(kind, docs, {}, registry, t)
                    continue
                step = "partial"
                partial = take_partial(store, wm) or {"kind": kind, "wm": wm, "tecs": {}, "summaries": {}}
                step = "stage-one detectors"
                findings += stage_one(kind, docs, partial.get("tokens", {}), registry, t)
                step = "partial to bytes"
                partial.update(tp=name, epoch=1, clock=self.clock.get(tp, 0.0), behind=0)
                wire = orjson.loads(orjson.dumps(partial))
                step = "stage two's check of the partial"  # as the worker's agent does
                check_partial(wire, len(registry.parties), len(registry.definition.fields))
                step = "merge"
                self.merged[name], _ = merge(self.merged.get(name), wire)
                self.published[tp] = wm
            except ContractError as exc:  # stage two would dead-letter stage one's own partial
                stats.fail("bad_partial", f"{name}: {exc.code}: {exc.detail}", _trace(), suspects)
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001
                stats.fail("uncaught", f"flush of {name}: {step}", _trace(), suspects)
        step = "snapshot"
        try:
            self.units = units = snapshot(self.merged, registry)
            step = "snapshot to bytes"
            orjson.dumps(units)  # the read model's write
            step = "stage-two detectors"
            findings += stage_two(units, registry, t, read_to(self.merged))
            self.metrics.tally.update(units)
            if stats.flushes % self.sweep_every == 0:
                self.sweep(findings)
            step = "findings to records"
            self._records(findings)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001
            stats.fail("uncaught", f"flush: {step}", _trace(), suspects)

    def sweep(self, findings: list[Finding] | None = None) -> None:
        """The stage-two owner's sweep over the station read model, and a scrape."""
        out = sweep(self.stations, self.registry, self.thresholds, clock(self.merged))
        self.stats.sweeps += 1
        generate_latest(self.metrics.registry)
        if findings is None:
            self._records(out)
        else:
            findings += out

    def _records(self, findings: list[Finding]) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        for f in findings:  # what the emitter sends and keeps
            orjson.dumps(to_record(f, stamp, stamp))
            content_digest(f)
        self.stats.findings += len(findings)

    # -- the registry -----------------------------------------------------------------------
    def registry_round(self, scratch: Registry, items: Sequence[Hostile], offset: int) -> list[str | None]:
        """Registry records through the worker's follower, into ``scratch`` (a copy: what the
        contract takes changes the registry itself); then the snapshot against it. Per item
        its rejection code, or None."""
        follower = RegistryFollower(DEFAULTS, scratch, Metrics.create(CollectorRegistry()))
        consumer, producer = _FakeConsumer(), _FakeProducer()
        follower.consumer, follower.producer = consumer, producer  # type: ignore[assignment]
        tp = _TP("registry", 0)
        consumer.pending = {tp: [_Msg(offset + i, h.key, h.value) for i, h in enumerate(items)]}
        outcomes: list[str | None] = [None] * len(items)
        try:
            asyncio.run(follower.poll())
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001
            self.stats.fail("uncaught", "the registry follower raised", _trace(), items)
            return ["uncaught"] * len(items)
        for _key, value in producer.sent:
            letter = orjson.loads(value)
            i = letter["offset"] - offset
            outcomes[i] = letter.get("code") or "no_code"
            if not str(letter.get("reason", "")).strip():
                self.stats.fail("empty_reason", f"registry: code {letter.get('code')!r}", inputs=[items[i]])
            if letter.get("code") == BUG:
                self.stats.fail("bug", f"registry: {letter.get('reason')}", inputs=[items[i]])
        try:
            units = snapshot(self.merged, scratch)
            orjson.dumps(units)
            stage_two(units, scratch, self.thresholds, read_to(self.merged))
            m = Metrics.create(CollectorRegistry())
            m.tally.update(units)
            generate_latest(m.registry)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001
            accepted = [h for h, o in zip(items, outcomes, strict=True) if o is None]
            self.stats.fail("uncaught", "the snapshot against the changed registry", _trace(), accepted)
        return outcomes


class _TP(tuple[str, int]):
    """aiokafka's TopicPartition, as far as the follower reads it."""

    def __new__(cls, topic: str, partition: int) -> _TP:
        return super().__new__(cls, (topic, partition))

    @property
    def topic(self) -> str:
        return self[0]

    @property
    def partition(self) -> int:
        return self[1]


class _FakeConsumer:
    def __init__(self) -> None:
        self.pending: dict[Any, list[_Msg]] = {}

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[_Msg]]:
        out, self.pending = self.pending, {}
        return out


class _FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any:
        self.sent.append((key or b"", value or b""))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


# -- in process -----------------------------------------------------------------------------------
class Progress:
    def __init__(self, total: int, what: str, enabled: bool = True) -> None:
        # a line rewritten in place: only on a terminal, a log file would get every version
        self.total, self.what, self.enabled = total, what, enabled and sys.stderr.isatty()
        self.t0 = self.last = time.monotonic()

    def __call__(self, done: int, extra: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 1.0):
            return
        self.last = now
        rate = done / max(1e-9, now - self.t0)
        sys.stderr.write(f"\r{self.what} {done:,}/{self.total:,}  {rate:,.0f}/s  {extra}\x1b[K")
        sys.stderr.flush()

    def note(self, text: str) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= 1.0:
            self.last = now
            sys.stderr.write(f"\r{text}\x1b[K")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
