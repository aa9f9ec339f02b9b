"""Exact whatever client produced it: feeds on Kafka clients whose partitioners differ.

The same night, with anomalies injected, is produced five ways through Tansu, redis-server
and a worker: all through kafka-python (murmur2 by key, the partitions tabmon calls home);
the TEC and CEC protocols and summaries through confluent-kafka's defaults (librdkafka,
CRC32 of the key) and the rest through kafka-python, as two systems of one deployment would;
every message to a random partition; each message through one of the three at random; and
that mixture again with the worker SIGKILLed mid-night. Each run must give the generator's
totals at every level and exactly the findings the detectors give on the whole night in
memory (the single-client run included), and say how many events it forwarded home.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable, Sequence

import confluent_kafka  # a test dependency (pyproject.toml)
import orjson
import pytest
import redis
from kafka import KafkaProducer
from truth import compare, expected_totals

from integration.conftest import caught_up, wait_for
from monitor.adapters import procs
from monitor.adapters.admin import ensure_topics
from monitor.cli.demo import settled_findings
from monitor.settings import Settings
from monitor.testing import InMemoryTally
from producers.elections.scenarios.inject import inject
from producers.elections.synthetic import generate
from producers.replay import Message, messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Client = Callable[[Message], str]  # which client sends a message: kafka, confluent, random


@pytest.fixture(scope="module")
def night():
    election = generate(600, 40, seed=12, evote_ballots=800)
    return inject(election, per_kind=2, seed=12)


@pytest.fixture(scope="module")
def expected_findings(night):
    tally = InMemoryTally(night.election.registry)
    tally.feed_events(night.election.events)
    now = max(e.at for e in night.election.events)
    every = tally.findings(night.thresholds, now)
    found = {
        f.finding_id: orjson.loads(orjson.dumps(f.evidence))
        for f in every
        if not f.kind.startswith("forensic_")
    }
    kinds = {f.kind for f in every}
    # the comparison must not be vacuous: the kinds the issue names are there
    assert {"protocol_altered", "late_protocol", "turnout_jump", "summary_mismatch"} <= kinds
    return found


class Producers:
    """kafka-python by key, confluent-kafka with its defaults, kafka-python to a random
    partition; a run of messages for one client is flushed before the next client sends, so
    that the night reaches the broker in its order whatever sends it."""

    def __init__(self, settings: Settings, seed: int) -> None:
        self.settings = settings
        self.kafka = KafkaProducer(bootstrap_servers=settings.broker, linger_ms=5, acks=1)
        self.confluent = confluent_kafka.Producer({"bootstrap.servers": settings.broker})
        self.rng = random.Random(seed)
        self.partitions = settings.partitions

    def send(self, messages: Sequence[Message], client: Client) -> None:
        current = None
        for m in messages:
            name = client(m)
            if name != current:
                self.flush()
                current = name
            topic = self.settings.topic(m.topic)
            if name == "confluent":
                self.confluent.produce(topic, value=m.value, key=m.key)
                self.confluent.poll(0)
            elif name == "random":
                self.kafka.send(
                    topic, value=m.value, key=m.key, partition=self.rng.randrange(self.partitions)
                )
            else:
                self.kafka.send(topic, value=m.value, key=m.key)
        self.flush()

    def flush(self) -> None:
        self.kafka.flush()
        assert self.confluent.flush(30) == 0

    def close(self) -> None:
        self.kafka.close()


def _commissions_on_confluent(m: Message) -> str:
    """The issue's deployment: TEC and CEC figures from one system, the rest from another."""
    v = orjson.loads(m.value)
    if m.topic == "summaries" or (m.topic == "protocols" and v.get("source") in ("tec", "cec")):
        return "confluent"
    return "kafka"


def _mixed(seed: int) -> Client:
    rng = random.Random(seed)
    return lambda m: rng.choice(("kafka", "confluent", "random"))


CLIENTS: dict[str, Client] = {
    "kafka-python": lambda m: "kafka",
    "commissions-on-confluent": _commissions_on_confluent,
    "random-partitions": lambda m: "random",
    "mixed": _mixed(5),
}


def _fresh(settings: Settings) -> Settings:
    tag = uuid.uuid4().hex[:8]
    s = dataclasses.replace(settings, app_id=f"t{tag}", topic_prefix=f"t{tag}.")
    ensure_topics(s)
    return s


def _run(settings, workers, night, client: Client, kill_midway: bool = False):
    s = dataclasses.replace(_fresh(settings), polls_close=night.thresholds.polls_close.isoformat())
    workers.settings = s
    election = night.election
    send(s, messages_of(election.registry, []))
    proc = workers.start()
    events = messages_of([], election.events)
    producers = Producers(s, seed=3)
    try:
        if kill_midway:
            half = len(events) // 2
            producers.send(events[:half], client)
            wait_for(
                s,
                lambda m: m is not None and sum(m["watermarks"].values()) > half // 3,
                90,
                "the first worker to make progress",
                proc,
            )
            procs.kill(proc)
            producers.send(events[half:], client)
            proc = workers.start()
        else:
            producers.send(events, client)
    finally:
        producers.close()
    units = caught_up(s, timeout=180, proc=proc)
    client_r = redis.Redis.from_url(s.redis_url)
    findings = {
        r["finding_id"]: r
        for r in settled_findings(s, client_r, timeout=120)
        if not r["kind"].startswith("forensic_")
    }
    return s, units, findings, proc


@pytest.mark.parametrize("name", [*CLIENTS, "mixed-sigkill"])
def test_totals_and_findings_do_not_depend_on_the_producers_partitioner(
    settings, workers, night, expected_findings, name
):
    client = CLIENTS["mixed" if name == "mixed-sigkill" else name]
    s, units, live, proc = _run(settings, workers, night, client, kill_midway=name == "mixed-sigkill")
    parties = night.election.parties
    assert compare(units, expected_totals(night.election.truth, parties), parties) == []
    missing = sorted(expected_findings.keys() - live.keys())
    extra = sorted(
        (live[i]["kind"], live[i]["station_id"] or live[i]["unit_id"])
        for i in live.keys() - expected_findings.keys()
    )
    assert (missing, extra) == ([], [])
    assert [i for i in live if live[i]["evidence"] != expected_findings[i]] == []
    assert proc.poll() is None
    rerouted = workers.metric("tabmon_rerouted_events_total")
    if name == "kafka-python":
        assert rerouted == 0  # murmur2 by the station's id: every event is at home already
    else:
        assert rerouted > 0
    assert workers.metric("tabmon_rejected_total") == 0
