"""Throughput benchmark: (a) the pure tally hot path, (b) end to end through the embedded
broker with one worker, totals checked exact, (c) a raw aiokafka consume-and-decode ceiling
on the same broker. Prints a table; ``--json`` also writes the figures to a file.

    python load/bench.py                 # the full synthetic election (9,727 stations)
    python load/bench.py --copies 8      # every event eight times: a longer run, same totals
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from truth import compare, expected_totals

from monitor.adapters import procs, readmodel
from monitor.adapters.admin import ensure_topics
from monitor.cli.demo import embedded, start_worker
from monitor.cli.progress import wait_caught_up
from monitor.contract import DECODERS, build, parse
from monitor.settings import Settings
from monitor.tally import (
    PartitionStore,
    take_partial,
    take_station_docs,
)
from monitor.tally.intake import Intake
from monitor.tally.route import Router
from monitor.testing import scrape_metric
from producers.elections.synthetic import generate
from producers.replay import messages_of, send

FLUSH_SECONDS = Settings().flush_interval  # the worker's rule: partials every flush_interval
BATCH = Settings().batch_size  # records of one fetch


@dataclass(frozen=True, slots=True)
class _Msg:
    offset: int
    key: bytes
    value: bytes


def bench_pure(election, rounds: int) -> dict[str, float]:
    """(a) events/s of the tally alone (records already decoded), and with decode+validate;
    partials and station documents derived every flush_interval, as the worker does."""
    registry = build(election.registry)
    raw = [(e.topic, e.key.encode(), orjson.dumps(e.value)) for e in election.events]
    records = [(t, DECODERS[t](parse(v, 65536), registry)) for t, k, v in raw]

    def run(decode: bool) -> float:
        stores = {k: PartitionStore(k, registry) for k in DECODERS}
        t0 = last = time.perf_counter()
        for i, (t, _k, v) in enumerate(raw):
            record = DECODERS[t](parse(v, 65536), registry) if decode else records[i][1]
            stores[t].apply_record(record)
            if i % 1000 == 0 and time.perf_counter() - last >= FLUSH_SECONDS:
                for s in stores.values():  # derive partials and station documents, as a flush does
                    take_partial(s, i)
                    take_station_docs(s)
                last = time.perf_counter()
        for s in stores.values():
            take_partial(s, len(raw))
            take_station_docs(s)
        return len(raw) / (time.perf_counter() - t0)

    def run_intake() -> float:
        """The worker's own step (monitor.tally.intake), routing included, every event at home
        (as kafka-python delivers them): batches as a fetch brings them."""
        routes = {k: Router(k, 1) for k in (*DECODERS, "tokens")}
        intakes = {
            k: Intake(PartitionStore(k, registry), registry, 65536, partition=0, routes=routes)
            for k in DECODERS
        }
        batches: dict[str, list[_Msg]] = {k: [] for k in DECODERS}
        t0 = last = time.perf_counter()
        for i, (t, k, v) in enumerate(raw):
            batch = batches[t]
            batch.append(_Msg(i, k, v))
            if len(batch) == BATCH:
                intakes[t].batch(batch)
                batch.clear()
            if i % 1000 == 0 and time.perf_counter() - last >= FLUSH_SECONDS:
                for x in intakes.values():
                    take_partial(x.store, i)
                    take_station_docs(x.store)
                last = time.perf_counter()
        for t, batch in batches.items():
            intakes[t].batch(batch)
            take_partial(intakes[t].store, len(raw))
            take_station_docs(intakes[t].store)
        return len(raw) / (time.perf_counter() - t0)

    return {
        "tally": max(run(False) for _ in range(rounds)),
        "decode_validate_tally": max(run(True) for _ in range(rounds)),
        "intake": max(run_intake() for _ in range(rounds)),
    }


def _metric(port: int, name: str, labels: str = "") -> float:
    """Sum of a metric's samples whose labels contain ``labels``."""
    return scrape_metric(port, name, labels) or 0.0


def _send_anywhere(settings: Settings, events) -> None:
    import random

    from producers.replay import producer

    prod, rng = producer(settings), random.Random(1)
    try:
        for m in events:
            prod.send(
                settings.topic(m.topic),
                key=m.key,
                value=m.value,
                partition=rng.randrange(settings.partitions),
            )
        prod.flush()
    finally:
        prod.close()


def bench_end_to_end(
    settings: Settings, election, copies: int, workdir: Path, anywhere: bool = False
) -> dict[str, float]:
    """(b) preload the broker, start one worker, time from its first event to the last.

    Progress is read from the Redis read model (the watermarks of the snapshot), not from the
    worker's /metrics: scraping ~5,000 series at a high rate would cost the worker the CPU
    being measured. Both ends lag by the same flush + snapshot delay, which cancels out.
    """
    import redis

    events = messages_of([], election.events) * copies
    send(settings, messages_of(election.registry, []))
    if anywhere:  # every message to a random partition: most of them are forwarded home
        _send_anywhere(settings, events)
    else:
        send(settings, events)
    n = len(events)
    client = redis.Redis.from_url(settings.redis_url)
    worker = start_worker(settings, workdir / "bench-worker.log")
    try:
        marks: dict[str, float] = {}

        def note(meta: dict | None, left: int) -> None:
            now = time.monotonic()
            if meta is not None and "first" not in marks:
                marks["first"] = now
            if meta is not None and left == 0:
                marks.setdefault("last", now)
            else:
                marks.pop("last", None)

        def alive() -> None:
            if worker.poll() is not None:
                raise SystemExit(f"worker exited with {worker.returncode}; see {workdir}")

        wait_caught_up(
            settings,
            lambda: readmodel.read_meta(client, settings.app_id),
            timeout=600,
            on_poll=note,
            check=alive,
            interval=0.02,
        )
        elapsed = marks["last"] - marks["first"]
        time.sleep(settings.snapshot_interval * 2)
        units = readmodel.read_units(client, settings.app_id)
        diffs = compare(units, expected_totals(election.truth, election.parties), election.parties)
        # events_total counts each event once where it is applied (at home: where it arrived,
        # or its routed topic), and each distinct e-ballot once more, forwarded to evote-tokens
        accepted = _metric(settings.metrics_port, "tabmon_events_total") - _metric(
            settings.metrics_port, "tabmon_events_total", f'topic="{settings.topic("evote-tokens")}"'
        )
        rerouted = _metric(settings.metrics_port, "tabmon_rerouted_events_total")
        return {
            "events": n,
            "accepted": accepted,
            "rerouted": rerouted,
            "seconds": elapsed,
            "events_per_s": n / elapsed,
            "exact": not diffs and accepted == n,
            "diffs": len(diffs),
            "peak_rss_mib": procs.peak_rss_mib(worker.pid),
        }
    finally:
        procs.stop(worker, grace=15)


async def _raw_ceiling(settings: Settings, n: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(
        bootstrap_servers=settings.broker,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=16 << 20,
    )
    await c.start()
    try:
        tps = [TopicPartition(settings.topic(k), p) for k in DECODERS for p in range(settings.partitions)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        got = 0
        t0 = time.perf_counter()
        while got < n:
            for msgs in (await c.getmany(timeout_ms=200, max_records=20000)).values():
                for m in msgs:
                    orjson.loads(m.value)
                got += len(msgs)
        return n / (time.perf_counter() - t0)
    finally:
        await c.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=9727)
    ap.add_argument("--copies", type=int, default=4, help="send every event this many times")
    ap.add_argument("--rounds", type=int, default=3, help="repetitions of (a); best is kept")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument(
        "--anywhere",
        action="store_true",
        help="(b) with every message sent to a random partition (forwarded home)",
    )
    ap.add_argument(
        "--gc-young",
        type=int,
        default=Settings().gc_young,
        help="(b) the worker's TABMON_GC_YOUNG (0: CPython's collector)",
    )
    args = ap.parse_args()
    tecs = min(205, args.stations)
    print(f"synthetic election: {args.stations:,} stations, {tecs} TECs, seed 2007", flush=True)
    election = generate(args.stations, tecs, seed=2007)
    a = bench_pure(election, args.rounds)
    print(f"(a) tally hot path           {a['tally']:>12,.0f} events/s")
    print(f"    decode+validate+tally    {a['decode_validate_tally']:>12,.0f} events/s")
    print(f"    the intake step, batched {a['intake']:>12,.0f} events/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp, embedded(Path(tmp), app_id="bench") as s:
        s = Settings.from_env({}, **{**s.masked(), "redis_url": s.redis_url, "gc_young": args.gc_young})
        ensure_topics(s)
        b = bench_end_to_end(s, election, args.copies, Path(tmp), args.anywhere)
        c = asyncio.run(_raw_ceiling(s, b["events"]))
    print(
        f"(b) end to end, one worker   {b['events_per_s']:>12,.0f} events/s"
        f"  ({b['events']:,} events in {b['seconds']:.2f} s, {b['rerouted']:,.0f} forwarded home;"
        f" totals exact: {b['exact']};"
        f" worker peak RSS {b['peak_rss_mib']:.0f} MiB)"
    )
    print(f"(c) raw aiokafka + orjson    {c:>12,.0f} events/s")
    print(f"    (b) / (c)                {b['events_per_s'] / c:>12.2f}")
    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"machine: {machine}")
    if args.json:
        args.json.write_text(
            orjson.dumps({"a": a, "b": b, "c": c, "machine": machine}, option=orjson.OPT_INDENT_2).decode()
        )
    if not b["exact"]:
        raise SystemExit(f"end-to-end totals differ from ground truth in {b['diffs']} figures")


if __name__ == "__main__":
    main()
