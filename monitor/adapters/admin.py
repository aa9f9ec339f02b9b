"""Topics: create what the monitor reads and writes (kafka-python admin client)."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from monitor import topics
from monitor.errors import ProcessError
from monitor.settings import Settings

COMPACTED = {"cleanup.policy": "compact"}


def topic_specs(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """name -> (partitions, config) of every topic tabmon owns."""
    p = settings.partitions
    t = settings.topic
    return {
        t(topics.REGISTRY): (1, COMPACTED),
        **{t(name): (p, {}) for name in topics.INPUTS},
        # where events are forwarded home (monitor.tally.route); evote-tokens: e-ballots
        # re-keyed by voter token
        **{t(name): (p, {}) for name in topics.ROUTED.values()},
        t(topics.DEADLETTER): (1, {}),
        t(topics.ALERTS): (p, {}),  # findings, keyed by finding_id
        # not compacted: a partial holds only the TECs that changed
        t(topics.PARTIALS): (1, {"max.message.bytes": str(topics.PARTIAL_MAX_BYTES)}),
    }


def admin_client(settings: Settings, timeout: float = 20.0) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=settings.broker, client_id="tabmon-admin")
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise ProcessError(f"no Kafka broker at {settings.broker}: {exc}") from None
            time.sleep(0.5)


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; returns the names created."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(name, n, 1, topic_configs=cfg)
            for name, (n, cfg) in topic_specs(settings).items()
            if name not in existing
        ]
        created = []
        for topic in new:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
