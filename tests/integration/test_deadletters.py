"""Bad input lands in the dead-letter topic with its reason and bytes; the tally is untouched."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from truth import compare, expected_totals

from integration.conftest import caught_up
from monitor.contract import original_bytes
from producers.elections.synthetic import generate
from producers.replay import Message, messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _bad_messages(station: str) -> dict[str, Message]:
    good = {
        "type": "turnout",
        "v": 1,
        "station_id": station,
        "seq": 9,
        "reported_at": "2007-08-18T21:00:00+06:00",
        "registered": 5,
        "added": 0,
        "voted": 1,
    }
    missing = {k: v for k, v in good.items() if k != "voted"}
    negative = dict(good, voted=-4)
    unknown = dict(good, station_id="ALR-99999")
    oversized = dict(good, padding="x" * 70_000)
    k = station.encode()
    return {
        "malformed_json": Message("turnout", k, b'{"type": "turnout", "v": 1, "station_id": '),
        "missing_field": Message("turnout", k, orjson.dumps(missing)),
        "negative_count": Message("turnout", k, orjson.dumps(negative)),
        "unknown_station": Message("turnout", b"ALR-99999", orjson.dumps(unknown)),
        "oversized": Message("turnout", k, orjson.dumps(oversized)),
        "not_an_object": Message("protocols", k, b"[1, 2, 3]"),
        "bad_time": Message("turnout", k, orjson.dumps(dict(good, reported_at="18/08/2007 21:00"))),
    }


async def _read_all(broker: str, topic: str, n: int, timeout: float = 30) -> list[dict]:
    c = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False)
    await c.start()
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        await c.seek_to_beginning(tp)
        out: list[dict] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < n and asyncio.get_running_loop().time() < deadline:
            for msgs in (await c.getmany(timeout_ms=500)).values():
                out += [orjson.loads(m.value) | {"_key": m.key.decode()} for m in msgs]
        return out
    finally:
        await c.stop()


def test_each_bad_message_lands_in_deadletter_with_its_reason(settings, workers):
    election = generate(40, 16, seed=5, evote_ballots=100)
    station = next(iter(election.truth.pec))
    bad = _bad_messages(station)
    send(settings, messages_of(election.registry, []))
    proc = workers.start()
    events = messages_of([], election.events)
    mid = len(events) // 2  # bad input in the middle of good input
    send(settings, [*events[:mid], *bad.values(), *events[mid:]])
    units = caught_up(settings, proc=proc)
    parties = election.parties
    assert compare(units, expected_totals(election.truth, parties), parties) == []

    letters = asyncio.run(_read_all(settings.broker, settings.topic("deadletter"), len(bad)))
    by_code = {letter["code"]: letter for letter in letters}
    assert sorted(by_code) == sorted(bad), letters
    for code, message in bad.items():
        letter = by_code[code]
        assert letter["type"] == "rejected" and letter["v"] == 1
        assert letter["topic"] == settings.topic(message.topic)
        assert letter["reason"], code
        assert letter["_key"] == f"{letter['topic']}/{letter['partition']}/{letter['offset']}"
        if code == "oversized":
            assert letter["raw_truncated"] and letter["raw_size"] == len(message.value)
            assert original_bytes(letter) == message.value[: settings.deadletter_raw_limit]
        else:
            assert original_bytes(letter) == message.value
    assert "voted" in by_code["missing_field"]["reason"]
    assert "ALR-99999" in by_code["unknown_station"]["reason"]
    assert workers.metric("tabmon_rejected_total") == len(bad)
    assert workers.metric("tabmon_rejected_total", 'reason="oversized"') == 1
    evotes = sum(1 for e in election.events if e.topic == "evote")
    assert workers.metric("tabmon_events_total") == len(election.events) + evotes
