"""Which client the ingest stage should consume with: aiokafka (the worker's, ``getmany``
batches) against confluent-kafka (librdkafka, ``consume`` batches), each reading the same
night's input topics from an embedded Tansu broker from offset 0, ``orjson.loads`` per message:
the raw ceiling with each client.

    python load/consumers.py                      # 9,727 synthetic stations, 5 rounds
    python load/consumers.py --stations 100000 --rounds 3

Each read is counted, so a client that stops early cannot look fast. Prints messages/s per
client and round, and the medians; the clients alternate within each round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.adapters import procs
from monitor.adapters.admin import ensure_topics
from monitor.settings import Settings
from monitor.topics import INPUTS
from producers.elections.synthetic import generate
from producers.replay import messages_of, send


def aiokafka_read(settings: Settings, n: int) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run() -> int:
        c = AIOKafkaConsumer(
            bootstrap_servers=settings.broker,
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 << 20,
            fetch_max_bytes=16 << 20,
        )
        await c.start()
        try:
            tps = [TopicPartition(settings.topic(t), p) for t in INPUTS for p in range(settings.partitions)]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            got = 0
            while got < n:
                for msgs in (await c.getmany(timeout_ms=200, max_records=settings.batch_size)).values():
                    for m in msgs:
                        orjson.loads(m.value)
                    got += len(msgs)
            return got
        finally:
            await c.stop()

    return asyncio.run(run())


def confluent_read(settings: Settings, n: int) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": settings.broker,
            "group.id": "consumers-bench",
            "enable.auto.commit": False,
            "fetch.max.bytes": 16 << 20,
            "max.partition.fetch.bytes": 4 << 20,
        }
    )
    c.assign([TopicPartition(settings.topic(t), p, 0) for t in INPUTS for p in range(settings.partitions)])
    got = 0
    try:
        while got < n:
            batch = c.consume(settings.batch_size, timeout=0.2)
            for m in batch:
                if m.error() is None:
                    orjson.loads(m.value())
                    got += 1
        return got
    finally:
        c.close()


CLIENTS = {"aiokafka": aiokafka_read, "confluent": confluent_read}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=9727)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    msgs = messages_of([], generate(args.stations, min(205, args.stations)).events)
    n = len(msgs)
    print(f"{n:,} events of {args.stations:,} synthetic stations", flush=True)
    rates: dict[str, list[float]] = {c: [] for c in CLIENTS}
    with tempfile.TemporaryDirectory() as tmp:
        port = procs.free_port()
        broker = procs.start_broker(port, Path(tmp) / "broker.log")
        try:
            settings = Settings(broker=f"127.0.0.1:{port}")
            ensure_topics(settings)
            send(settings, msgs)
            for r in range(args.rounds):
                for name, read in CLIENTS.items():
                    t0 = time.perf_counter()
                    got = read(settings, n)
                    dt = time.perf_counter() - t0
                    if got != n:
                        raise SystemExit(f"{name} read {got:,} of {n:,} messages")
                    rates[name].append(n / dt)
                    print(f"round {r + 1} {name:<10} {n / dt:>10,.0f} msg/s", flush=True)
        finally:
            procs.stop(broker)
    for name, r in rates.items():
        print(f"median {name:<10} {statistics.median(r):>10,.0f} msg/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
