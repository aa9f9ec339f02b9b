"""Which client the replay should produce with: kafka-python, aiokafka (send and its batch
builder) and confluent-kafka (librdkafka), each sending the same night's messages to an
embedded Tansu broker, timed from the first send to the last acknowledgement.

    python load/producers.py                     # 9,727 synthetic stations, 3 rounds
    python load/producers.py --stations 20000 --rounds 5 --clients confluent aiokafka

Each client's messages are then counted on the broker (read back), so a client that
drops messages cannot look fast. Prints events/s per client and round, and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from confluent_kafka import KafkaError

from monitor.adapters import procs
from monitor.adapters.admin import ensure_topics
from monitor.settings import Settings
from monitor.topics import INPUTS
from producers.elections.synthetic import generate
from producers.replay import messages_of


def kafka_python(settings: Settings, msgs) -> None:
    from producers.replay import producer

    prod = producer(settings)
    try:
        for m in msgs:
            prod.send(settings.topic(m.topic), key=m.key, value=m.value)
        prod.flush()
    finally:
        prod.close()


def aiokafka_send(settings: Settings, msgs) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        prod = AIOKafkaProducer(
            bootstrap_servers=settings.broker, linger_ms=10, max_batch_size=512 * 1024, acks=1
        )
        await prod.start()
        try:
            pending = []
            for m in msgs:
                pending.append(await prod.send(settings.topic(m.topic), key=m.key, value=m.value))
                if len(pending) >= 20000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
        finally:
            await prod.stop()

    asyncio.run(run())


def aiokafka_batch(settings: Settings, msgs) -> None:
    """aiokafka's batch builder: one batch per partition, filled until full, then sent."""
    from aiokafka import AIOKafkaProducer

    from monitor.tally.route import home_of

    async def run() -> None:
        prod = AIOKafkaProducer(bootstrap_servers=settings.broker, acks=1, max_batch_size=512 * 1024)
        await prod.start()
        try:
            open_: dict[tuple[str, int], object] = {}
            sends = []
            for m in msgs:
                where = (settings.topic(m.topic), home_of(m.key, settings.partitions))
                batch = open_.get(where)
                if batch is None:
                    batch = open_[where] = prod.create_batch()
                if batch.append(key=m.key, value=m.value, timestamp=None) is None:
                    batch.close()
                    sends.append(await prod.send_batch(batch, where[0], partition=where[1]))
                    batch = open_[where] = prod.create_batch()
                    batch.append(key=m.key, value=m.value, timestamp=None)
            for (topic, part), batch in open_.items():
                batch.close()
                sends.append(await prod.send_batch(batch, topic, partition=part))
            await asyncio.gather(*sends)
        finally:
            await prod.stop()

    asyncio.run(run())


def confluent(settings: Settings, msgs) -> None:
    from confluent_kafka import Producer

    prod = Producer(
        {
            "bootstrap.servers": settings.broker,
            "partitioner": "murmur2_random",
            "linger.ms": 10,
            "batch.size": 1024 * 1024,
            "acks": 1,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    produce, poll = prod.produce, prod.poll
    for i, m in enumerate(msgs):
        while True:
            try:
                produce(settings.topic(m.topic), m.value, m.key)
                break
            except BufferError:
                poll(0.05)
        if i % 10000 == 0:
            poll(0)
    left = prod.flush(60)
    if left:
        raise RuntimeError(f"confluent-kafka: {left} messages not delivered")


def replay(settings: Settings, msgs) -> None:
    """What ``tabmon replay`` sends with (producers/replay.py)."""
    from producers.replay import send

    send(settings, msgs)


CLIENTS = {
    "replay": replay,
    "kafka-python": kafka_python,
    "aiokafka": aiokafka_send,
    "aiokafka-batch": aiokafka_batch,
    "confluent": confluent,
}


def landed(settings: Settings) -> int:
    """The messages on the broker in the input topics, counted by reading them back (Tansu's
    high watermarks are not a count of records)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": settings.broker,
            "group.id": "producers-bench",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    tps = [TopicPartition(settings.topic(t), p, 0) for t in INPUTS for p in range(settings.partitions)]
    c.assign(tps)
    done: set[tuple[str, int]] = set()
    total = 0
    try:
        while len(done) < len(tps):
            batch = c.consume(10000, timeout=5)
            if not batch:
                raise RuntimeError("no message and no end of partition for 5 s")
            for m in batch:
                err = m.error()
                if err is None:
                    total += 1
                elif err.code() == KafkaError._PARTITION_EOF:
                    done.add((m.topic(), m.partition()))
                else:
                    raise RuntimeError(str(err))
        return total
    finally:
        c.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=9727)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", nargs="+", default=list(CLIENTS), choices=list(CLIENTS))
    args = ap.parse_args(argv)
    election = generate(args.stations, min(205, args.stations))
    msgs = messages_of([], election.events)
    print(f"{len(msgs):,} events of {args.stations:,} synthetic stations", flush=True)
    rates: dict[str, list[float]] = {c: [] for c in args.clients}
    with tempfile.TemporaryDirectory() as tmp:
        port = procs.free_port()
        broker = procs.start_broker(port, Path(tmp) / "broker.log")
        try:
            for r in range(args.rounds):
                for name in args.clients:
                    settings = Settings(broker=f"127.0.0.1:{port}", topic_prefix=f"r{r}-{name}-")
                    ensure_topics(settings)
                    t0 = time.perf_counter()
                    CLIENTS[name](settings, msgs)
                    dt = time.perf_counter() - t0
                    n = landed(settings)
                    if n != len(msgs):
                        raise SystemExit(f"{name}: {n:,} of {len(msgs):,} messages on the broker")
                    rates[name].append(len(msgs) / dt)
                    print(f"round {r + 1} {name:13s} {len(msgs) / dt:10,.0f} events/s", flush=True)
        finally:
            procs.stop(broker)
    for name, rs in rates.items():
        print(f"median {name:13s} {statistics.median(rs):10,.0f} events/s  ({len(rs)} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
