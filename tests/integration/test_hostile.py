"""No message stops the monitor, through the real path: Tansu, redis-server, worker processes.

Each input below once stopped a worker, and since a restarted worker re-reads its partitions
from offset 0, stopped it again at every restart. Now each is dead-lettered with its reason,
the worker and its restarts stay up, and the totals of the valid events stay exact.
"""

from __future__ import annotations

import orjson
import pytest
from truth import compare, expected_totals

from integration.conftest import caught_up
from monitor.adapters import procs
from monitor.testing import read_topic
from producers.elections.synthetic import generate
from producers.replay import Message, messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEEP = b'{"v":' + b"[" * 1000 + b"]" * 1000 + b"}"  # 2 KB; repr() of it raised RecursionError


@pytest.fixture(scope="module")
def election():
    return generate(60, 8, seed=21, evote_ballots=120)


def _hostile_registry(election) -> list[Message]:
    st = next(r for r in election.registry if r["type"] == "station")
    rec = st["rec_id"]
    bad = [
        # a TEC id holding ':' once replaced the national unit KZ in the read model
        dict(st, station_id=f"{rec}-9999", tec_id=f"{rec}-T:KZ"),
        # '$' let a final newline through into ids, and from there into HTTP headers
        dict(st, station_id=f"{rec}-9998\n"),
        {"type": "unit", "v": 1, "level": "tec", "unit_id": f"{rec}-T77\n", "parent_id": rec, "name": "x"},
        dict(st, station_id=f"{rec}-9997", name="n" * 5000),
    ]
    return [Message("registry", f"bad-{i}".encode(), orjson.dumps(r)) for i, r in enumerate(bad)] + [
        Message("registry", b"bad-json", b"not json"),
        Message("registry", b"bad-deep", DEEP),
    ]


def test_hostile_input_is_dead_lettered_and_no_restart_stops_on_it(settings, workers, election):
    station = next(iter(election.truth.pec))
    hostile_registry = _hostile_registry(election)
    send(settings, messages_of(election.registry, []) + hostile_registry)
    first = workers.start()
    events = messages_of([], election.events)
    mid = len(events) // 2
    hostile = [
        Message("turnout", station.encode(), DEEP),
        Message("turnout", None, DEEP),
        Message("protocols", station.encode(), DEEP),
        Message("turnout", station.encode(), None),  # no value at all
        # a partial stage one would never write: wrong width, then not an object
        Message(
            "tally-partials",
            b"x",
            b'{"tp":"x","kind":"protocols","wm":1,"epoch":1,"tecs":{"AKM-T01":{"pec":[1]}},"summaries":{}}',
        ),
        Message("tally-partials", b"y", b"null"),
    ]
    send(settings, [*events[:mid], *hostile, *events[mid:]])
    units = caught_up(settings, proc=first)
    parties = election.parties
    assert compare(units, expected_totals(election.truth, parties), parties) == []
    assert units["KZ"]["level"] == "cec" and units["KZ"]["stations"] == 60

    letters = read_topic(settings.broker, settings.topic("deadletter"))
    by_topic: dict[str, list[dict]] = {}
    for letter in letters:
        by_topic.setdefault(letter["topic"].removeprefix(settings.topic_prefix), []).append(letter)
    assert len(by_topic["turnout"]) == 3 and len(by_topic["protocols"]) == 1
    assert len(by_topic["tally-partials"]) == 2
    assert {x["code"] for x in by_topic["tally-partials"]} == {"bad_partial"}
    assert len(by_topic["registry"]) == len(hostile_registry)
    assert all(x["reason"] and x["code"] != "bug" for x in letters), letters
    assert all(len(x["reason"]) <= 500 for x in letters)
    assert workers.metric("tabmon_rejected_total", 'reason="bug"') == 0

    # a crash and a restart: the new worker re-reads everything above from offset 0
    procs.kill(first)
    second = workers.start()
    units = caught_up(settings, timeout=120, proc=second)
    assert compare(units, expected_totals(election.truth, parties), parties) == []
    assert second.poll() is None
    # and once more, stopped cleanly this time
    procs.stop(second)
    third = workers.start()
    units = caught_up(settings, timeout=120, proc=third)
    assert compare(units, expected_totals(election.truth, parties), parties) == []
    assert third.poll() is None
