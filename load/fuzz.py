"""Fuzz harness: no input stops the monitor. Every message is tallied or dead-lettered with a
reason, and the totals of what was tallied stay exact.

    python load/fuzz.py --inputs 1000000     # in process, through the worker's own steps
    python load/fuzz.py --broker 10000       # real processes: Tansu, redis-server, one worker
    python load/fuzz.py                      # both, at their defaults

Both modes build a small synthetic election and send its valid events interleaved with
hostile inputs (producers/hostile.py) derived from the events of half of its RECs; the other
half is never named by a hostile input, so its units must equal the generator's truth
exactly. Every unit, its tally and its commission's summaries, must equal what an
independent oracle makes of the accepted messages (:class:`Oracle`: plain dictionaries, the
contract's rules, nothing from monitor.tally); in process after every flush, not only at the
end. The named inputs of ``producers.hostile.known_inputs`` go first.

In process (``--inputs``), :class:`Harness` drives what the worker drives, in the worker's
order: per input partition (a CRC-32 of the key) the one per-message step
(``monitor.tally.intake.Intake``), each rejection made into its dead letter, each new
e-ballot forwarded to an ``evote-tokens`` partition, and every ``--flush-every`` messages the
flush: station documents and partials as bytes, the stage-two merge, the snapshot, the
detectors of both stages, the findings as records, and now and then the sweep and the
Prometheus exposition. (``monitor.testing.InMemoryTally`` runs the same tally, but keeps
neither a rejection's offset and exception nor the documents and tokens the detectors need.)
Hostile registry records go through the worker's registry follower into a copy of the
registry, and the snapshot is taken against that copy.

Through the broker (``--broker``), the same inputs go to a real worker; afterwards the worker
must be alive, every message on every input topic counted once as accepted or rejected, the
dead-letter topic hold exactly the rejections (each with a reason, the rejection codes the
reference's), and the read model equal an in-process reference tally fed the same messages.
Then the worker is killed (SIGKILL) and another started, which re-reads every message from
offset 0: it must stay up and end with the same totals and dead letters (``--no-restart``
skips this). An input larger than a broker takes (about 1 MB), or with neither key nor value
(kafka-python refuses it), is generated but not sent.

Exit code 1 on any failure: an exception that escaped, a rejection with no reason, a ``bug``
rejection (unless ``--allow-bugs``), a valid event refused, a total that is not exact. The
inputs behind each failure are written to a JSON-lines file (key and value in base64).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import platform
import subprocess
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from truth import FIXED, compare, expected_totals  # noqa: E402

from monitor import procs, readmodel  # noqa: E402
from monitor.alerting.emit import content_digest  # noqa: E402
from monitor.alerting.runner import stage_one, stage_two, sweep  # noqa: E402
from monitor.contract import DEFAULT_WINDOW, TimeWindow  # noqa: E402
from monitor.deadletter import dead_letter, original_bytes  # noqa: E402
from monitor.detect import Finding, Thresholds  # noqa: E402
from monitor.detect.findings import to_record  # noqa: E402
from monitor.errors import ContractError, MonitorError  # noqa: E402
from monitor.metrics import Metrics  # noqa: E402
from monitor.registry import CEC_ID, Registry, build  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.tally import PartitionStore, merge, snapshot  # noqa: E402
from monitor.tally.intake import BUG, Forward, Intake, Rejection  # noqa: E402
from monitor.tally.national import clock, read_to  # noqa: E402
from monitor.tally.partition import VERSIONS_KEPT  # noqa: E402
from monitor.tally.route import ROUTED_TOPICS, Router  # noqa: E402
from monitor.testing import InMemoryTally, scrape_metric  # noqa: E402
from monitor.worker.follower import RegistryFollower  # noqa: E402
from monitor.worker.ingest import INPUT_KINDS, STORE_KINDS  # noqa: E402
from producers.hostile import Hostile, HostileInputs, known_inputs  # noqa: E402
from producers.synthetic import generate  # noqa: E402

try:  # stage two checks each partial whole before it merges it (where the worker does)
    from monitor.tally.wire import check_partial
except ImportError:  # pragma: no cover - a worker without the check merges what it reads
    check_partial = None

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
TOTAL_FIELDS = ("protocol", "official", "moved", "turnout", "evote_ballots", "altered_stations",
                "unanimous_stations", "evote_multiple", "summary_versions", "stations")  # fmt: skip


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

    def fail(self, what: str, detail: str, trace: str = "", inputs: Iterable[Hostile] = (),
             once: bool = False) -> None:  # fmt: skip
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

    def __init__(self, registry_records: list[dict[str, Any]], stats: Stats, *, partitions: int = 4,
                 max_bytes: int = DEFAULTS.max_message_bytes,
                 raw_limit: int = DEFAULTS.deadletter_raw_limit, window: TimeWindow = DEFAULT_WINDOW,
                 thresholds: Thresholds | None = None, sweep_every: int = 100) -> None:  # fmt: skip
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
            intake = self.intakes[tp] = Intake(store, self.registry, self.max_bytes, self.window,
                                               partition=tp[1], routes=self.routes)  # fmt: skip
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
                    self.stats.fail("forward_rejected", f"a forwarded event was rejected ({code})",
                                    inputs=[h])  # fmt: skip
            # an event forwarded home is applied there; only a new e-ballot goes on, to tokens
            if [f for f in again if f.kind != "tokens" or f.partition is None]:
                self.stats.fail("forwarded_twice", "an event was forwarded again from its home")
            forwards = [f for f in again if f.kind == "tokens"]
        self._round += [h for h, o in zip(items, outcomes, strict=True) if o is None]
        self.flush()
        return outcomes

    def _consume(self, items: Sequence[Hostile], partitions: Sequence[int | None] | None = None
                 ) -> tuple[list[str | None], list[Forward]]:  # fmt: skip
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
                self.stats.fail("uncaught", f"Intake.batch raised on {topic}[{partition}]", _trace(),
                                [items[index[(*tp, m.offset)]] for m in messages])  # fmt: skip
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
                self.stats.fail("lost", f"{len(messages)} messages in, {res.accepted} accepted,"
                                        f" {res.rerouted} forwarded home and {len(res.rejected)}"
                                        f" rejected on {topic}[{partition}]",
                                inputs=[items[index[(*tp, m.offset)]] for m in messages])  # fmt: skip
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
            key, value = dead_letter(topic=topic, partition=partition, offset=r.offset, code=r.code,
                                     reason=r.reason, raw=r.raw, limit=self.raw_limit)  # fmt: skip
            letter = orjson.loads(value)
            raw = r.raw or b""
            wrong = [what for what, ok in (
                ("key", key == f"{topic}/{partition}/{r.offset}".encode()),
                ("reason", isinstance(letter.get("reason"), str) and letter["reason"].strip() != ""),
                ("code", letter.get("code") == r.code), ("raw_size", letter.get("raw_size") == len(raw)),
                ("raw", original_bytes(letter) == raw[: self.raw_limit]),
                ("raw_truncated", letter.get("raw_truncated") == (len(raw) > self.raw_limit)),
                (f"size {len(value):,} > {self.letter_bound:,}", len(value) <= self.letter_bound),
            ) if not ok]  # fmt: skip
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
                docs = store.take_station_docs()
                for sid, doc in docs.items():  # to Redis and back, as the sweep reads them
                    self.stations.setdefault(sid, {})[kind] = orjson.loads(orjson.dumps(doc))
                wm = sum(n for (topic, p), n in self.next.items() if p == tp[1] and self.kinds[topic] == kind)
                step = "stage-one detectors"
                if wm == self.published.get(tp):
                    if docs:
                        findings += stage_one(kind, docs, {}, registry, t)
                    continue
                step = "partial"
                partial = store.take_partial(wm) or {"kind": kind, "wm": wm, "tecs": {}, "summaries": {}}
                step = "stage-one detectors"
                findings += stage_one(kind, docs, partial.get("tokens", {}), registry, t)
                step = "partial to bytes"
                partial.update(tp=name, epoch=1, clock=self.clock.get(tp, 0.0), behind=0)
                wire = orjson.loads(orjson.dumps(partial))
                if check_partial is not None:
                    step = "stage two's check of the partial"
                    check_partial(wire, len(registry.parties))
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


# -- what the totals must be ----------------------------------------------------------------------
class Oracle:
    """The tally of the accepted messages by the contract's rules, in plain dictionaries:
    per (station, source) the highest version wins and equal versions keep the larger figures;
    per station the turnout report with the highest seq (equal seq: the larger figures); the
    official view is the highest level present; an e-ballot is (token, station, issued_at);
    per unit and summary version the larger record (figures, then stations included, recorded
    at, level), the lowest version and the latest others kept."""

    def __init__(self, truth: Any, parties: tuple[str, ...]) -> None:
        self.station_tec, self.station_rec = truth.station_tec, truth.station_rec
        self.parties = parties
        self.protocols: dict[str, dict[str, tuple[int, tuple[int, ...]]]] = {}
        self.turnout: dict[str, dict[int, tuple[int, int, int]]] = {}
        self.ballots: dict[str, set[tuple[str, str]]] = {}
        self.summaries: dict[str, dict[int, tuple[Any, ...]]] = {}

    def _figures(self, f: dict[str, Any]) -> tuple[int, ...]:
        return tuple(f[k] for k in FIXED) + tuple(f["votes"][p] for p in self.parties)

    def add(self, topic: str, value: bytes | None) -> None:
        if topic not in ("turnout", "protocols", "evote", "summaries") or value is None:
            return  # token ballots are not in the totals compared
        e = orjson.loads(value)
        if topic == "summaries":
            record = (self._figures(e["figures"]), e["stations_included"], e["recorded_at"], e["level"])
            versions = self.summaries.setdefault(e["unit_id"], {})
            versions[e["version"]] = max(versions.get(e["version"], record), record)
            if len(versions) > VERSIONS_KEPT:
                del versions[sorted(versions)[1]]
            return
        sid = e["station_id"]
        if topic == "turnout":
            fig = (e["registered"], e["added"], e["voted"])
            reports = self.turnout.setdefault(sid, {})
            reports[e["seq"]] = max(reports.get(e["seq"], fig), fig)
        elif topic == "protocols":
            fig = self._figures(e["figures"])
            sources = self.protocols.setdefault(sid, {})
            cur = sources.get(e["source"])
            sources[e["source"]] = max(cur, (e["version"], fig)) if cur else (e["version"], fig)
        else:
            self.ballots.setdefault(sid, set()).add((e["voter_token"], e["issued_at"]))

    def truth(self) -> Any:
        """A ``Truth`` as tests/truth.py reads it."""

        def named(fig: tuple[int, ...]) -> dict[str, Any]:
            return {**dict(zip(FIXED, fig, strict=False)),
                    "votes": dict(zip(self.parties, fig[len(FIXED):], strict=True))}  # fmt: skip

        pec, official = {}, {}
        for sid, sources in self.protocols.items():
            if "pec" in sources:
                pec[sid] = named(sources["pec"][1])
            ranked = [s for s in sources if s in RANK]
            if ranked:
                official[sid] = named(sources[max(ranked, key=RANK.__getitem__)][1])
        turnout = {sid: dict(zip(("registered", "added", "voted"), reports[max(reports)], strict=True))
                   for sid, reports in self.turnout.items()}  # fmt: skip
        return SimpleNamespace(station_tec=self.station_tec, station_rec=self.station_rec, pec=pec,
                               official=official, turnout=turnout,
                               evote_ballots={s: len(b) for s, b in self.ballots.items()})  # fmt: skip


def units_touched(h: Hostile, registry: Registry) -> set[str]:
    """The units whose totals an accepted message can change."""
    try:
        e = orjson.loads(h.value or b"null")
        uid = e.get("station_id") or e.get("unit_id")
    except (orjson.JSONDecodeError, AttributeError):
        return {CEC_ID}
    st = registry.stations.get(uid)
    if st is not None:
        return {CEC_ID, st.rec_id, st.tec_id}
    rec = registry.tec_rec.get(uid)
    return {CEC_ID, uid} | ({rec} if rec else set())


def exactness(stats: Stats, units: dict[str, dict[str, Any]], oracle: Oracle, election: Any,
              touched: set[str], oracle_inputs: dict[str, list[Hostile]] | None = None,
              truth: bool = True) -> tuple[int, list[str]]:  # fmt: skip
    """Every unit against the oracle, the untouched ones against the generator's truth too
    (``truth``: once every valid event is in); the number of units checked against the
    truth, and their ids."""
    parties = election.parties
    diffs = compare(units, expected_totals(oracle.truth(), parties), parties)
    for d in diffs[:20]:
        stats.fail("totals", f"against the oracle of the accepted messages: {d}", once=True)
    if len(diffs) > 20:
        stats.failure_counts["totals"] += len(diffs) - 20
    pristine = {u: e for u, e in expected_totals(election.truth, parties).items() if u not in touched}
    diffs = compare(units, pristine, parties) if truth else []
    for d in diffs[:20]:
        stats.fail("truth", f"a unit no accepted hostile message touched: {d}", once=True)
    if len(diffs) > 20:
        stats.failure_counts["truth"] += len(diffs) - 20
    for uid, unit in units.items():  # the commissions' own summaries, every version kept
        got = [(v["version"], (tuple(v[k] for k in FIXED) + tuple(v["votes"][p] for p in parties),
                               v["stations_included"], v["recorded_at"]))
               for v in unit.get("summary_versions", [])]  # fmt: skip
        want = [(version, r[:3]) for version, r in sorted(oracle.summaries.get(uid, {}).items())]
        if got != want:
            where = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                         min(len(got), len(want)))  # fmt: skip
            stats.fail("summaries", f"{uid}: summary version {_at(got, where)} in the snapshot, the"
                                    f" accepted messages say {_at(want, where)}",
                       inputs=oracle_inputs.get(uid, []) if oracle_inputs else [], once=True)  # fmt: skip
    return len(pristine), sorted(pristine)


def _at(items: list[Any], i: int) -> str:
    if i >= len(items):
        return "(none)"
    version, (fig, included, at) = items[i]
    return f"{version} (stations_included {included}, recorded_at {at}, figures {list(fig)})"


def accepted_by_unit(by_unit: dict[str, list[Hostile]], h: Hostile) -> None:
    """The first accepted summaries of each unit, valid and hostile: a reproducer when the
    unit's summary comes out wrong (its order matters, so all of them)."""
    if h.topic == "summaries" and h.value is not None:
        kept = by_unit.setdefault(orjson.loads(h.value)["unit_id"], [])
        if len(kept) < 20:
            kept.append(h)


def _kind(f: str, otherwise: str = "totals") -> str:
    """A commission's own summaries fail as their own kind: the tally's totals are the rest."""
    return "summaries" if f == "summary_versions" else otherwise


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two JSON values first differ, and how."""
    if type(a) is dict and type(b) is dict:
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{path}.{k}")
    if type(a) is list and type(b) is list and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path or 'the value'}: {_short(a)} != {_short(b)}"


def interleave(valid: Sequence[Hostile], labelled: Iterator[tuple[str, Hostile]], n: int
               ) -> Iterator[tuple[str, Hostile]]:  # fmt: skip
    """The valid events spread evenly through ``n`` hostile inputs (label "valid")."""
    step = (n + 1) / (len(valid) + 1)
    j, nxt = 0, step
    for i, item in enumerate(labelled, start=1):
        while j < len(valid) and nxt <= i:
            yield "valid", valid[j]
            j, nxt = j + 1, nxt + step
        yield item
    for v in valid[j:]:
        yield "valid", v


def _targets(election: Any) -> list[str]:
    """Every other REC: the hostile inputs name only these."""
    return sorted({r["rec_id"] for r in election.registry if r["type"] == "station"})[::2]


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


def run_inputs(n: int, *, seed: int, stations: int, tecs: int, flush_every: int, partitions: int,
               registry_n: int, progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """The in-process mode; the figures of the summary."""
    t0 = time.monotonic()
    election = generate(stations, tecs, seed=seed, evote_ballots=2 * stations)
    targets = _targets(election)
    gen = HostileInputs(election, seed=seed, recs=targets)
    stats = Stats()
    harness = Harness(election.registry, stats, partitions=partitions)
    oracle = Oracle(election.truth, election.parties)
    valid = [Hostile(e.topic, e.key.encode(), orjson.dumps(e.value)) for e in election.events]
    knowns = known_inputs(election, targets)
    known = [(f"known:{k.name}", h) for k in knowns for h in k.inputs]
    touched: set[str] = set()
    by_unit: dict[str, list[Hostile]] = {}
    bar = Progress(n + len(valid) + len(known), "inputs", progress)
    stream = interleave(valid, gen.labelled(n), n)
    done = 0

    def feed(chunk: list[tuple[str, Hostile]]) -> None:
        events = [h for _, h in chunk]
        outcomes = harness.round(events)
        for (label, h), code in zip(chunk, outcomes, strict=True):
            counts = stats.by_mutation.setdefault(label.split(":")[0], Counter())
            counts["accepted" if code is None else code] += 1
            if label == "valid":
                stats.valid += 1
                if code is not None:
                    stats.fail("valid_rejected", f"a valid event was rejected: {code}", inputs=[h])
            else:
                stats.hostile += 1
            if code is None:
                oracle.add(h.topic, h.value)
                accepted_by_unit(by_unit, h)
                if label != "valid":
                    touched.update(units_touched(h, harness.registry))

    for k in knowns:  # first, each in its rounds
        inputs = [(f"known:{k.name}", h) for h in k.inputs if h.topic != "registry"]
        for chunk in ([[item] for item in inputs] if k.flush_between else [inputs]):
            if chunk:
                feed(chunk)
                done += len(chunk)
                exactness(stats, harness.units, oracle, election, touched, by_unit, truth=False)
    while True:
        chunk = [item for _, item in zip(range(flush_every), stream, strict=False)]
        if not chunk:
            break
        feed(chunk)
        done += len(chunk)
        # exact at every flush, not only at the end: a wrong total a later input overwrites
        # is still a wrong total the read model showed
        exactness(stats, harness.units, oracle, election, touched, by_unit, truth=False)
        bar(done, f"rejected {sum(stats.rejected.values()):,}  failures {sum(stats.failure_counts.values())}")
    bar(done, force=True)
    bar.done()
    try:
        harness.sweep()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001
        stats.fail("uncaught", "the last sweep", _trace())
    checked, pristine = exactness(stats, harness.units, oracle, election, touched, by_unit)
    # registry records last: against a copy of the registry, the snapshot of the final tally
    scratch = build(election.registry)
    registry_items = [h for k in knowns for h in k.inputs if h.topic == "registry"]
    registry_items += list(gen.registry_inputs(registry_n))
    for i in range(0, len(registry_items), 500):
        part = registry_items[i:i + 500]
        for code in harness.registry_round(scratch, part, i):
            stats.registry["accepted" if code is None else code] += 1
    wall = time.monotonic() - t0
    return {"mode": "inputs", "election": election, "stats": stats, "wall": wall, "targets": targets,
            "checked": checked, "pristine": pristine, "units": len(harness.units),
            "total": done, "registry_n": len(registry_items)}  # fmt: skip


# -- through the broker ---------------------------------------------------------------------------
@dataclass
class BrokerRun:
    stats: Stats
    sent: Counter[str]  # topic -> messages sent
    skipped: int  # generated with neither key nor value: kafka-python cannot send those
    registry_sent: int
    units: dict[str, dict[str, Any]]
    letters: dict[tuple[str, int, int], dict[str, Any]]  # (topic, partition, offset) -> dead letter
    metrics: dict[str, dict[str, float]]  # topic -> {"events", "rejected", "ends"}
    reference_codes: Counter[tuple[str, str]]
    pristine: list[str]
    send_seconds: float
    caught_up_seconds: float
    proc: subprocess.Popen[bytes] | None = None
    restarted: bool = False


def broker_inputs(election: Any, n: int, seed: int, registry_n: int
                  ) -> tuple[list[list[tuple[str, Hostile]]], list[Hostile], int]:  # fmt: skip
    """(groups of labelled input messages, hostile registry records, skipped): what the broker
    mode sends, a group at a time, each folded into the tally before the next (the named
    inputs whose order matters a message a group, then the rest). Registry records go only if
    the worker's follower rejects them: one it takes would change the registry under the
    comparison with the generator's truth."""
    targets = _targets(election)
    gen = HostileInputs(election, seed=seed, recs=targets)
    known = known_inputs(election, targets)
    hostile: list[tuple[str, Hostile]] = []
    skipped = 0
    for label, h in gen.labelled(n):
        if (h.key is None and h.value is None) or len(h.key or b"") + len(h.value or b"") > BROKER_MAX:
            skipped += 1
            continue
        hostile.append((label, h))
    valid = [Hostile(e.topic, e.key.encode(), orjson.dumps(e.value)) for e in election.events]
    groups = [[(f"known:{k.name}", h) for k in known if not k.flush_between
               for h in k.inputs if h.topic != "registry"]]  # fmt: skip
    groups += [[(f"known:{k.name}", h)] for k in known if k.flush_between for h in k.inputs]
    groups.append(list(interleave(valid, iter(hostile), len(hostile))))
    candidates = [h for k in known for h in k.inputs if h.topic == "registry"]
    candidates += list(gen.registry_inputs(registry_n))
    harness = Harness(election.registry, Stats())
    outcomes = harness.registry_round(build(election.registry), candidates, 0)
    registry = [h for h, code in zip(candidates, outcomes, strict=True) if code is not None]
    sendable = [h for h in registry if (h.key is not None or h.value is not None)
                and len(h.key or b"") + len(h.value or b"") <= BROKER_MAX]  # fmt: skip
    return groups, sendable, skipped + len(registry) - len(sendable)


def run_broker(settings: Settings, start: Callable[[], subprocess.Popen[bytes]], election: Any, n: int,
               *, seed: int, registry_n: int, timeout: float = 600, progress: bool = True
               ) -> BrokerRun:  # fmt: skip
    """Send the registry, start a worker (``start``), send the valid events and ``n`` hostile
    inputs, wait until the tally has caught up, and check what the worker did. The worker is
    left running (``.proc``): the caller stops it."""
    import redis

    from monitor.progress import end_offsets
    from producers.replay import Message, messages_of, send

    stats = Stats()
    groups, registry_hostile, skipped = broker_inputs(election, n, seed, registry_n)
    messages = [m for group in groups for m in group]
    send(settings, messages_of(election.registry, [])
         + [Message("registry", h.key, h.value) for h in registry_hostile])  # type: ignore[arg-type]
    proc = start()
    run = BrokerRun(stats, Counter(), skipped, len(registry_hostile), {}, {}, {}, Counter(), [], 0.0, 0.0,
                    proc)  # fmt: skip
    client = redis.Redis.from_url(settings.redis_url)
    for group in groups[:-1]:  # each folded in before the next: a flush between them
        send(settings, [Message(h.topic, h.key, h.value) for _, h in group])  # type: ignore[arg-type]
        for _, h in group:
            run.sent[h.topic] += 1
        try:
            wait_folded(settings, client, proc, {settings.topic(t): k for t, k in run.sent.items()},
                        timeout, Progress(0, "", progress))  # fmt: skip
        except (TimeoutError, ProcessLookupError) as exc:
            stats.fail("worker_exited" if isinstance(exc, ProcessLookupError) else "timeout", str(exc))
            return run
    bar = Progress(len(groups[-1]), "sent", progress)
    t0 = time.monotonic()
    send(settings, [Message(h.topic, h.key, h.value) for _, h in groups[-1]],  # type: ignore[arg-type]
         progress=lambda sent, _at: bar(sent), should_stop=lambda: proc.poll() is not None)
    bar.done()
    run.send_seconds = time.monotonic() - t0
    for _, h in groups[-1]:
        run.sent[h.topic] += 1

    # the reference: the same messages through the same tally in this process
    reference = InMemoryTally(election.registry, partitions=settings.partitions,
                              max_bytes=settings.max_message_bytes,
                              window=settings.time_window())  # fmt: skip
    oracle = Oracle(election.truth, election.parties)
    touched: set[str] = set()
    by_unit: dict[str, list[Hostile]] = {}
    for label, h in messages:
        kind = INPUT_TOPICS[h.topic]
        before = len(reference.rejected)
        reference.feed(kind, h.key, h.value)
        mine = [e for k, e in reference.rejected[before:] if k == kind]
        if mine:
            run.reference_codes[(h.topic, mine[0].code)] += 1
            if label == "valid":
                stats.fail("valid_rejected", f"a valid event was rejected: {mine[0].code}", inputs=[h])
        else:
            oracle.add(h.topic, h.value)
            accepted_by_unit(by_unit, h)
            if label != "valid":
                touched.update(units_touched(h, reference.registry))
        if len(reference.rejected) - before > len(mine):
            stats.fail("forward_rejected", "a forwarded e-ballot was rejected", inputs=[h])
    reference.flush()
    expected_units = reference.snapshot()
    # each new e-ballot of an evote partition was forwarded once (one station, one partition)
    forwards = sum(len(store.ballots) for store in reference.stores.values() if store.kind == "evote")

    expected = {settings.topic(t): run.sent[t] + (forwards if t == "evote-tokens" else 0)
                for t in INPUT_TOPICS}  # fmt: skip
    bar = Progress(0, "", progress)
    try:
        meta = wait_folded(settings, client, proc, expected, timeout, bar)
    except (TimeoutError, ProcessLookupError) as exc:
        stats.fail("worker_exited" if isinstance(exc, ProcessLookupError) else "timeout", str(exc))
        return run
    run.caught_up_seconds = time.monotonic() - t0
    run.units = readmodel.read_units(client, settings.app_id)
    folded: Counter[str] = Counter()
    for tp, wm in meta["watermarks"].items():
        folded[tp.rsplit(":", 1)[0]] += wm

    # counted once each: accepted or rejected, per topic; the registry's rejections too
    ends: Counter[str] = Counter()
    for tp, end in end_offsets(settings).items():
        ends[tp.rsplit(":", 1)[0]] += end
    port = settings.metrics_port
    for topic in (*INPUT_TOPICS, *ROUTED):
        name = settings.topic(topic)
        label = f'topic="{name}"'
        m = {"events": scrape_metric(port, "tabmon_events_total", label) or 0.0,
             "rerouted": scrape_metric(port, "tabmon_rerouted_events_total", label) or 0.0,
             "rejected": scrape_metric(port, "tabmon_rejected_total", label) or 0.0,
             "ends": float(max(ends[name], folded[name]))}  # fmt: skip
        run.metrics[topic] = m
        if topic in ROUTED:
            continue  # how many arrive away from home depends on the producer: checked below
        # evote-tokens is its own routed topic: what it forwards home lands on it again
        again = m["rerouted"] if topic == "evote-tokens" else 0.0
        if not m["events"] + m["rerouted"] + m["rejected"] == m["ends"] == expected[name] + again:
            stats.fail("counted", f"{topic}: {m['events']:.0f} accepted + {m['rerouted']:.0f}"
                                  f" forwarded home + {m['rejected']:.0f} rejected, {m['ends']:.0f}"
                                  f" on the topic, {expected[name]} sent or forwarded")  # fmt: skip
    # each event forwarded home is applied there once, and nothing else is on a routed topic
    rerouted = sum(run.metrics[t]["rerouted"] for t in INPUT_KINDS)
    applied = sum(run.metrics[t]["events"] + run.metrics[t]["rejected"] for t in ROUTED)
    if not rerouted == applied == sum(run.metrics[t]["ends"] for t in ROUTED):
        stats.fail("counted", f"{rerouted:.0f} events forwarded home, {applied:.0f} applied there")
    reg = settings.topic("registry")
    run.metrics["registry"] = {
        "rejected": scrape_metric(port, "tabmon_rejected_total", f'topic="{reg}"') or 0.0,
        "events": 0.0, "ends": float(len(election.registry) + run.registry_sent)}  # fmt: skip
    if run.metrics["registry"]["rejected"] != run.registry_sent:
        stats.fail("counted", f"registry: {run.metrics['registry']['rejected']:.0f} rejected of"
                              f" {run.registry_sent} hostile records sent")  # fmt: skip
    bugs = scrape_metric(port, "tabmon_rejected_total", f'reason="{BUG}"') or 0.0
    if bugs:
        stats.fail("bug", f"{bugs:.0f} messages rejected with the code bug (see the worker's log)")
    detector_errors = scrape_metric(port, "tabmon_detector_errors_total") or 0.0
    if detector_errors:
        stats.fail("detector_error", f"the detectors raised {detector_errors:.0f} times (see the log)")

    # the dead letters: exactly the rejections, each with its reason
    want = sum(int(m["rejected"]) for m in run.metrics.values())
    run.letters = read_letters(settings, want, timeout=60)
    got: Counter[str] = Counter()
    codes: Counter[tuple[str, str]] = Counter()
    prefix = settings.topic("")
    for (topic, _p, _o), letter in run.letters.items():
        short = topic[len(prefix):] if topic.startswith(prefix) else topic
        got[short] += 1
        codes[(short, letter.get("code", ""))] += 1
        if not str(letter.get("reason", "")).strip() or not letter.get("code"):
            stats.fail("empty_reason", f"a dead letter without a reason or code: {letter}")
        stats.rejected[(short, letter.get("code", ""))] += 1
    for topic, m in run.metrics.items():
        if got[topic] != m["rejected"]:
            stats.fail("deadletters", f"{topic}: {got[topic]} dead letters for {m['rejected']:.0f}"
                                      " rejections")  # fmt: skip
    input_codes = Counter({k: v for k, v in codes.items() if k[0] != "registry"})
    if input_codes != run.reference_codes:
        diff = (input_codes - run.reference_codes) + (run.reference_codes - input_codes)
        stats.fail("codes", f"the worker's rejection codes differ from the reference's: {dict(diff)}")

    # the totals: the reference, the oracle, and for the units no hostile input touched, the truth
    for uid, exp in expected_units.items():
        got_unit = run.units.get(uid)
        if got_unit is None:
            stats.fail("totals", f"{uid}: missing from the read model")
            continue
        for f in TOTAL_FIELDS:
            if got_unit.get(f) != exp.get(f):
                stats.fail(_kind(f), f"{uid} {f}, the worker's read model against the reference:"
                                     f" {first_difference(got_unit.get(f), exp.get(f))}",
                           inputs=by_unit.get(uid, []))  # fmt: skip
    _checked, run.pristine = exactness(stats, run.units, oracle, election, touched, by_unit)
    stats.hostile = sum(1 for label, _ in messages if label != "valid")
    stats.valid = len(messages) - stats.hostile
    if proc.poll() is not None:
        stats.fail("worker_exited", f"the worker exited with code {proc.returncode}")
    return run


def wait_folded(settings: Settings, client: Any, proc: subprocess.Popen[bytes], expected: dict[str, int],
                timeout: float, bar: Progress) -> dict[str, Any]:  # fmt: skip
    """The read model's meta once its snapshot has folded in every message sent (``expected``:
    topic -> messages on it) and a snapshot after that is written. The snapshot's watermarks
    are what it holds; the broker's end offsets alone can run short (Tansu reports the start
    of a partition's last batch plus one)."""
    from monitor.progress import wait_caught_up

    def alive() -> None:
        if proc.poll() is not None:
            raise ProcessLookupError(f"the worker exited with code {proc.returncode}")

    def read() -> dict[str, Any] | None:
        return readmodel.read_meta(client, settings.app_id)

    deadline = time.monotonic() + timeout
    try:
        wait_caught_up(settings, read, timeout=timeout, check=alive,
                       on_poll=lambda _m, left: bar.note(f"waiting for the tally: {left:,} behind")
                       )  # fmt: skip
    except MonitorError as exc:
        raise TimeoutError(str(exc)) from None
    while True:
        alive()
        meta = read() or {}
        folded: Counter[str] = Counter()
        for tp, wm in meta.get("watermarks", {}).items():
            folded[tp.rsplit(":", 1)[0]] += wm
        left = sum(max(0, n - folded[t]) for t, n in expected.items())
        bar.note(f"waiting for the tally: {left:,} behind")
        if left == 0:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the tally did not fold in every message within {timeout:.0f} s"
                               f" ({left:,} behind)")  # fmt: skip
        time.sleep(0.3)
    bar.done()
    time.sleep(settings.snapshot_interval * 2 + settings.flush_interval)  # a snapshot after the last merge
    return read() or meta


def restart(settings: Settings, run: BrokerRun, start: Callable[[], subprocess.Popen[bytes]],
            timeout: float = 300) -> subprocess.Popen[bytes]:  # fmt: skip
    """SIGKILL the worker of ``run`` and start another, which re-reads every message from
    offset 0 (the hostile ones too); it must stay up and end with the same totals and the same
    dead letters (one sent again is the same one: same topic, partition and offset). Failures
    go to ``run.stats``; the new worker is returned, running."""
    import socket

    import redis

    stats = run.stats
    assert run.proc is not None
    procs.kill(run.proc)
    proc = run.proc = start()
    client = redis.Redis.from_url(settings.redis_url)
    me = f"{socket.gethostname()}:{proc.pid}"
    t0 = time.monotonic()
    while (readmodel.read_meta(client, settings.app_id) or {}).get("worker") != me:
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            stats.fail("restart", f"no snapshot by the restarted worker (exit code {proc.poll()})")
            return proc
        time.sleep(0.3)
    # Its first snapshot may come from the recovered table, before stage one has re-read its
    # partitions: wait until every message accepted before is accepted or replayed again
    port = settings.metrics_port
    accepted = sum(m["events"] for t, m in run.metrics.items() if t != "registry")
    while True:
        try:
            again = ((scrape_metric(port, "tabmon_replayed_events_total") or 0.0)
                     + (scrape_metric(port, "tabmon_events_total") or 0.0))  # fmt: skip
        except OSError:  # the metrics endpoint is not up yet
            again = 0.0
        if again >= accepted:
            break
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            stats.fail("restart", f"the restarted worker re-read {again:.0f} of the {accepted:.0f}"
                                  f" accepted messages (exit code {proc.poll()})")  # fmt: skip
            return proc
        time.sleep(0.3)
    expected = {settings.topic(t): int(m["ends"]) for t, m in run.metrics.items() if t != "registry"}
    try:  # and a snapshot taken after that
        wait_folded(settings, client, proc, expected, timeout, Progress(0, "", False))
    except (TimeoutError, ProcessLookupError) as exc:
        stats.fail("restart", f"after the restart: {exc}")
        return proc
    units = readmodel.read_units(client, settings.app_id)
    for uid, before in run.units.items():
        for f in TOTAL_FIELDS:
            after = units.get(uid, {}).get(f)
            if after != before.get(f):
                stats.fail(_kind(f, "restart"), f"{uid} {f}, after the restart against before:"
                                      f" {first_difference(after, before.get(f))}")  # fmt: skip
    if not scrape_metric(port, "tabmon_replayed_events_total"):
        stats.fail("restart", "the restarted worker replayed nothing: it did not rebuild from the log")
    if scrape_metric(port, "tabmon_rejected_total", f'reason="{BUG}"'):
        stats.fail("bug", "the restarted worker rejected messages with the code bug")
    letters = read_letters(settings, len(run.letters), timeout=60)
    if set(letters) != set(run.letters):
        stats.fail("restart", f"{len(letters)} distinct dead letters after the restart,"
                              f" {len(run.letters)} before")  # fmt: skip
    if proc.poll() is not None:
        stats.fail("worker_exited", f"the restarted worker exited with code {proc.returncode}")
    run.restarted = True
    return proc


def _short(x: Any) -> str:
    text = orjson.dumps(x, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) < 300 else text[:300] + "..."


def read_letters(settings: Settings, want: int, timeout: float = 60
                 ) -> dict[tuple[str, int, int], dict[str, Any]]:  # fmt: skip
    """The dead-letter topic, once it holds ``want`` distinct letters (or ``timeout``): a dead
    letter sent twice (after a restart) has the same topic, partition and offset."""
    from monitor.testing import read_topic

    deadline = time.monotonic() + timeout
    while True:
        read = read_topic(settings.broker, settings.topic("deadletter"), timeout=timeout)
        letters = {(d["topic"], d["partition"], d["offset"]): d for d in read}
        if len(letters) >= want or time.monotonic() > deadline:
            return letters
        time.sleep(1.0)


def broker_main(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from monitor.admin import ensure_topics
    from monitor.demo import start_worker

    t0 = time.monotonic()
    workdir = Path(args.workdir or ROOT / ".tabmon" / f"fuzz-{time.strftime('%Y%m%d-%H%M%S')}")
    workdir.mkdir(parents=True, exist_ok=True)
    election = generate(args.stations, args.tecs, seed=args.seed, evote_ballots=2 * args.stations)
    broker = redis_proc = worker = None
    try:
        broker_port, redis_port = procs.free_port(), procs.free_port()
        broker = procs.start_broker(broker_port, workdir / "broker.log")
        redis_proc = procs.start_redis(redis_port, workdir / "redis", workdir / "redis.log")
        settings = Settings.from_env({}, broker=f"127.0.0.1:{broker_port}", app_id="fuzz",
                                     redis_url=f"redis://127.0.0.1:{redis_port}/0",
                                     partitions=args.partitions, metrics_port=procs.free_port(),
                                     session_timeout=6.0)  # fmt: skip
        ensure_topics(settings)
        log = workdir / "worker.log"
        run = run_broker(settings, lambda: start_worker(settings, log), election, n, seed=args.seed,
                         registry_n=args.registry if args.registry is not None else max(100, n // 20),
                         progress=not args.quiet)  # fmt: skip
        worker = run.proc
        if not args.no_restart and worker is not None and worker.poll() is None:
            worker = restart(settings, run, lambda: start_worker(settings, workdir / "worker-restarted.log"))
    finally:
        procs.stop(worker, grace=15)
        procs.stop(redis_proc)
        procs.stop(broker)
    return {"mode": "broker", "run": run, "election": election, "wall": time.monotonic() - t0,
            "workdir": workdir, "log": log}  # fmt: skip


# -- the summary ----------------------------------------------------------------------------------
def _codes_table(rejected: Counter[tuple[str, str]]) -> list[str]:
    by_code: Counter[str] = Counter()
    for (_topic, code), k in rejected.items():
        by_code[code] += k
    width = max((len(c) for c in by_code), default=4)
    return [f"  {code:<{width}}  {k:>10,}" for code, k in by_code.most_common()]


def _verdict(stats: Stats, what: str) -> str:
    n = stats.failure_counts[what]
    return "exact" if what != "restart" and not n else "ok" if not n else f"{n:,} FAILED (below)"


def _failures(stats: Stats, allow_bugs: bool) -> list[str]:
    counts = Counter(stats.failure_counts)
    if allow_bugs:
        counts.pop("bug", None)
    return [f"{what} {k:,}" for what, k in counts.items() if k]


def write_failures(stats: Stats, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for f in stats.failures:
            out.write(orjson.dumps({
                "what": f.what, "detail": f.detail, "traceback": f.trace,
                "inputs": [{"topic": h.topic,
                            "key": None if h.key is None else base64.b64encode(h.key).decode(),
                            "value": None if h.value is None else base64.b64encode(h.value).decode()}
                           for h in f.inputs[:200]],
            }) + b"\n")  # fmt: skip


def show_input(h: Hostile) -> str:
    def cut(b: bytes | None) -> str:
        if b is None:
            return "None"
        return repr(b if len(b) <= 160 else b[:160] + b"...") + f" ({len(b):,} bytes)"

    return f"topic={h.topic!r} key={cut(h.key)} value={cut(h.value)}"


def summary(out: dict[str, Any], args: argparse.Namespace, command: str) -> tuple[list[str], Stats]:
    e = out["election"]
    lines = [f"command: {command}",
             f"election: synthetic, seed {args.seed}, {args.stations} stations, {args.tecs} TECs,"
             f" {len(e.events):,} valid events; hostile inputs name the RECs"
             f" {', '.join(_targets(e))} only"]  # fmt: skip
    if out["mode"] == "inputs":
        s: Stats = out["stats"]
        total = out["total"]
        lines += [
            f"mode: in process, {args.partitions} partitions per topic, a flush every {args.flush_every:,}"
            f" messages ({s.flushes:,} flushes, {s.sweeps} sweeps, {s.findings:,} findings recorded)",
            f"inputs: {s.hostile:,} hostile + {s.valid:,} valid = {total:,};"
            f" {s.forwards:,} e-ballots forwarded",
            f"wall time {out['wall']:.1f} s, {total / out['wall']:,.0f} inputs/s",
            f"accepted {sum(s.accepted.values()):,} (by topic: "
            + ", ".join(f"{t} {k:,}" for t, k in sorted(s.accepted.items())) + ")",
            f"rejected {sum(s.rejected.values()):,}, by code:", *_codes_table(s.rejected),
            f"hostile registry records: {out['registry_n']:,}: "
            + ", ".join(f"{c} {k:,}" for c, k in s.registry.most_common()),
            f"dead letters: {s.letters:,}; the largest {s.letter_max:,} bytes"
            f" ({s.letter_max / DEFAULTS.deadletter_raw_limit:.2f} x the raw limit of"
            f" {DEFAULTS.deadletter_raw_limit:,}); {s.letters_over_small:,} over the raw limit"
            f" + {SMALL_SLACK:,}",
            f"totals, at every flush: the tally's figures of {out['units']} units against the oracle of"
            f" the accepted messages: {_verdict(s, 'totals')}; the commissions' summaries:"
            f" {_verdict(s, 'summaries')}; the {out['checked']} units no accepted hostile message"
            f" touched against the generator's truth, at the end: {_verdict(s, 'truth')}"
            f" ({', '.join(out['pristine'])})",
            "accepted by mutation: " + ", ".join(
                f"{name} {c['accepted']:,}/{sum(c.values()):,}" for name, c in sorted(s.by_mutation.items())),
        ]  # fmt: skip
    else:
        run: BrokerRun = out["run"]
        s = run.stats
        sent = sum(run.sent.values())
        lines += [
            f"mode: broker (Tansu, redis-server, one worker), {args.partitions} partitions per topic;"
            f" logs in {out['workdir']}",
            f"inputs: {s.hostile:,} hostile + {s.valid:,} valid = {sent:,} messages"
            f" ({run.skipped} generated with neither key nor value, or over {BROKER_MAX:,} bytes, not"
            " sent: kafka-python or the broker refuses them);"
            f" {run.registry_sent:,} hostile registry records, all refused by the follower",
            f"sent in {run.send_seconds:.1f} s, tally caught up {run.caught_up_seconds:.1f} s after the first"
            f" send: {sent / max(run.caught_up_seconds, 1e-9):,.0f} messages/s end to end;"
            f" wall time {out['wall']:.1f} s",
            "per topic (accepted + rejected = on the topic): " + "; ".join(
                f"{t} {m['events']:,.0f} + {m['rejected']:,.0f} = {m['ends']:,.0f}"
                for t, m in run.metrics.items() if t != "registry")
            + f"; registry: {run.metrics.get('registry', {}).get('rejected', 0):,.0f} rejected of"
              f" {run.registry_sent:,} hostile records ({len(e.registry):,} valid ones applied)",
            f"dead letters: {len(run.letters):,} distinct, by code:", *_codes_table(s.rejected),
            f"totals: {len(run.units)} units in the read model against the reference tally and the"
            f" oracle: {_verdict(s, 'totals')}; the commissions' summaries: {_verdict(s, 'summaries')};"
            f" the {len(run.pristine)} untouched units against the generator's truth: {_verdict(s, 'truth')}",
            "restart: " + ("SIGKILL, a new worker re-read every message from offset 0:"
                           f" {_verdict(s, 'restart')} (up, the same tally at every unit, the same"
                           " dead letters" + ("; but a commission's summary changed, see the"
                                              " summaries below)" if any(
                               "after the restart" in f.detail for f in s.failures
                               if f.what == "summaries") else ")")
                           if run.restarted else "not done"),
        ]  # fmt: skip
    failed = _failures(s, args.allow_bugs)
    fc = s.failure_counts
    lines.append(f"uncaught exceptions {fc['uncaught']}, empty reasons {fc['empty_reason']},"
                 f" bug rejections {fc['bug']}")  # fmt: skip
    lines.append("RESULT: " + ("PASS" if not failed else "FAIL: " + ", ".join(failed)))
    return lines, s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, help="hostile inputs in process (default 1,000,000)")
    ap.add_argument("--broker", type=int, help="hostile inputs through a real worker (default 10,000)")
    ap.add_argument("--seed", type=int, default=2007)
    ap.add_argument("--stations", type=int, default=200)
    ap.add_argument("--tecs", type=int, default=20)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--flush-every", type=int, default=1000, help="messages between two flushes")
    ap.add_argument("--registry", type=int, help="hostile registry records (default: inputs / 100,"
                                                 " broker inputs / 20)")  # fmt: skip
    ap.add_argument("--allow-bugs", action="store_true", help="report bug rejections, do not fail on them")
    ap.add_argument("--failures", type=Path, help="where to write the failing inputs (JSON lines)")
    ap.add_argument("--workdir", type=Path, help="logs of the broker mode (default .tabmon/fuzz-<time>)")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    ap.add_argument("--no-restart", action="store_true",
                    help="broker mode: do not SIGKILL and restart the worker at the end")  # fmt: skip
    args = ap.parse_args(argv)
    modes = {"inputs": args.inputs, "broker": args.broker}
    if args.inputs is None and args.broker is None:
        modes = {"inputs": 1_000_000, "broker": 10_000}
    procs.interrupt_on_signals()  # Ctrl-C and SIGTERM stop every process started here
    # the follower logs each registry record it rejects; the summary counts them instead
    logging.getLogger("tabmon").addHandler(logging.NullHandler())
    logging.getLogger("tabmon").propagate = False
    stamp = time.strftime("%Y%m%d-%H%M%S")
    failures_path = args.failures or ROOT / ".tabmon" / f"fuzz-failures-{stamp}.jsonl"
    ok = True
    machine = (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
               f" Python {platform.python_version()}")  # fmt: skip
    every: list[Failure] = []
    for mode, n in modes.items():
        if not n:
            continue
        command = f".venv/bin/python load/fuzz.py --{mode} {n}"
        if mode == "inputs":
            out = run_inputs(n, seed=args.seed, stations=args.stations, tecs=args.tecs,
                             flush_every=args.flush_every, partitions=args.partitions,
                             registry_n=args.registry if args.registry is not None else max(1000, n // 100),
                             progress=not args.quiet)  # fmt: skip
        else:
            out = broker_main(n, args)
        lines, stats = summary(out, args, command)
        print(f"\n## fuzz: {'in process' if mode == 'inputs' else 'through the broker'}\n")
        print("\n".join(lines))
        print(f"machine: {machine}")
        ok = ok and not _failures(stats, args.allow_bugs)
        every += stats.failures
        for f in stats.failures[:5]:
            print(f"\n{f.what}: {f.detail}")
            for h in f.inputs[:3]:
                print(f"  input: {show_input(h)}")
            if f.trace:
                print("  " + f.trace.strip().replace("\n", "\n  "))
    if every:
        write_failures(Stats(failures=every), failures_path)
        print(f"\nthe failing inputs: {failures_path}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every process started here is stopped", file=sys.stderr)
        sys.exit(130)
