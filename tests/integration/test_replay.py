"""`tabmon replay` against a real broker: the window of the night, and the pacing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest

from monitor.cli.progress import end_offsets
from monitor.cli.sources import DRILL_TZ
from producers.elections.synthetic import generate

pytestmark = [pytest.mark.integration]


def _replay(settings, *args):
    env = dict(
        os.environ, TABMON_BROKER=settings.broker, TABMON_TOPIC_PREFIX=settings.topic_prefix, COLUMNS="120"
    )
    t0 = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "replay",
            "synthetic",
            "--stations",
            "40",
            "--tecs",
            "16",
            "--evotes",
            "200",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out, time.monotonic() - t0


def test_replay_sends_only_the_window_and_paces_by_the_drill_clock(settings):
    election = generate(40, 16, seed=2007, evote_ballots=200)
    lo = datetime(2007, 8, 18, 19, 30, tzinfo=DRILL_TZ)
    hi = datetime(2007, 8, 18, 20, 30, tzinfo=DRILL_TZ)
    expected = [e for e in election.events if lo <= e.at < hi]
    assert expected, "the window must hold events for the test to mean anything"
    out, seconds = _replay(settings, "--from", "19:30", "--until", "20:30", "--speed", "3600")
    assert out.returncode == 0, out.stderr
    sent = int(re.search(r"and ([\d,]+) events", out.stdout).group(1).replace(",", ""))
    assert sent == len(expected)
    assert sum(end_offsets(settings).values()) == len(expected)
    span = (max(e.at for e in expected) - min(e.at for e in expected)).total_seconds()
    assert seconds >= 0.9 * span / 3600  # 3,600 times faster than the drill clock, not faster


def _read_back(settings, topic: str) -> dict[int, list]:
    """Every message of a topic, per partition in offset order (confluent-kafka, no group)."""
    import confluent_kafka

    c = confluent_kafka.Consumer(
        {
            "bootstrap.servers": settings.broker,
            "group.id": "read-back",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "fetch.message.max.bytes": 16 * 1024 * 1024,
        }
    )
    tps = [confluent_kafka.TopicPartition(settings.topic(topic), p, 0) for p in range(settings.partitions)]
    c.assign(tps)
    out: dict[int, list] = {p: [] for p in range(settings.partitions)}
    done: set[int] = set()
    try:
        while len(done) < len(tps):
            batch = c.consume(5000, timeout=10)
            assert batch, "no message and no end of partition for 10 s"
            for m in batch:
                if m.error() is None:
                    out[m.partition()].append((m.key(), m.value()))
                else:
                    assert m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF, m.error()
                    done.add(m.partition())
        return out
    finally:
        c.close()


def test_the_replay_puts_each_message_home_once_in_order_and_the_end_offsets_count_them(settings):
    """The batch sender: every keyed message on murmur2(key) % partitions (the partition the
    monitor calls its home), each once, in the order sent within its partition; a message
    larger than a batch and one without a key go through too. The end offsets, read after
    batches of thousands, equal the messages sent (Tansu's latest offset alone does not)."""
    from monitor.adapters.admin import ensure_topics
    from monitor.tally.route import home_of
    from producers.replay import BATCH_BYTES, Message, send

    ensure_topics(settings)
    msgs = [Message("turnout", f"AKM-{i % 997}".encode(), b'{"n":%d}' % i) for i in range(12000)]
    msgs.insert(5000, Message("turnout", b"ALR-1", b'"' + b"x" * (2 * BATCH_BYTES) + b'"'))
    msgs.append(Message("turnout", None, b'{"n":"keyless"}'))
    assert send(settings, msgs) == len(msgs)
    got = _read_back(settings, "turnout")
    assert sum(len(v) for v in got.values()) == len(msgs)
    for m in msgs:
        if m.key is not None:
            assert (m.key, m.value) in got[home_of(m.key, settings.partitions)] or m.value.startswith(b'"x')
    for p in range(settings.partitions):
        sent_here = [
            (m.key, m.value) for m in msgs if m.key is not None and home_of(m.key, settings.partitions) == p
        ]
        assert [kv for kv in got[p] if kv[0] is not None] == sent_here
    assert any(kv == (None, b'{"n":"keyless"}') for v in got.values() for kv in v)
    assert sum(end_offsets(settings).values()) == len(msgs)


def test_a_generated_file_replays_the_same_messages(settings, tmp_path):
    """`tabmon generate` writes what `tabmon replay` of the election sends; replaying the file
    sends exactly those messages."""
    from monitor.cli.sources import ReplayFile
    from producers.replay import messages_of

    env = dict(os.environ, TABMON_BROKER=settings.broker, TABMON_TOPIC_PREFIX=settings.topic_prefix)
    out = tmp_path / "night.jsonl"
    args = ("--stations", "40", "--tecs", "16", "--evotes", "200")
    run = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "generate", "synthetic", *args, "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    election = generate(40, 16, seed=2007, evote_ballots=200)
    want = messages_of(election.registry, []) + messages_of([], election.events)
    f = ReplayFile(out)
    assert [*f.registry(), *f.events()] == want
    run = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "replay", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f"{len(election.registry):,} registry records and {len(election.events):,} events" in run.stdout
    assert sum(end_offsets(settings).values()) == len(election.events)
    got = _read_back(settings, "protocols")
    assert sorted(v for part in got.values() for v in part) == sorted(
        (m.key, m.value) for m in want if m.topic == "protocols"
    )
