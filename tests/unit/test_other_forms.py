"""Every detector that applies to a definition's form finds what is planted in its night.

A clean synthetic night of kz2023 and of Indonesia raises nothing (tests/integration/
test_elections.py); that alone cannot tell a detector that works from one that never looks
at another form (summary_mismatch once compared kz2007's fields whatever the definition, and
late_protocol had no close of polls unless one was configured). Here each anomaly is planted
at one station of a clean night, fed to the in-memory tally, and must be found there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime

import pytest

from monitor.election import load
from monitor.testing import InMemoryTally
from producers.elections.night import Night, generate

Plant = Callable[[Night, list], str]  # edits the events, returns the station planted at


def _own(n: Night, events: list, sid: str) -> list:
    d = n.definition
    return [
        e
        for e in events
        if e.topic == "protocols"
        and e.key == sid
        and "contest" not in e.value
        and e.value["source"] == d.station_source
    ]


def _reports(events: list, sid: str) -> list:
    return sorted((e for e in events if e.topic == "turnout" and e.key == sid), key=lambda e: e.value["seq"])


def unanimous(n: Night, events: list) -> str:
    sid = sorted(n.truth)[7]
    for e in events:
        if e.topic == "protocols" and e.key == sid and "contest" not in e.value:
            votes = e.value["figures"]["votes"]
            total, first = sum(votes.values()), next(iter(votes))
            votes.update(dict.fromkeys(votes, 0), **{first: total})
    return sid


def missing(n: Night, events: list) -> str:
    sid = sorted(n.truth)[8]
    events[:] = [e for e in events if not (e.topic == "protocols" and e.key == sid)]
    return sid


def crowded(n: Night, events: list) -> str:
    """Participants at 99 % of the list in the station's own protocol."""
    d, sid = n.definition, sorted(n.truth)[3]
    (e,) = _own(n, events, sid)
    f = e.value["figures"]
    field = next(x for x in d.fields if x.startswith(("issued_in_station", "voted")))  # a participant
    registered = d.quantity("registered", [f[x] for x in d.fields])
    took = d.quantity("participants", [f[x] for x in d.fields])
    f[field] += round(0.99 * registered) - took
    return sid


def jump(n: Night, events: list) -> str:
    sid = sorted(n.truth)[4]
    reports = _reports(events, sid)
    for e in reports[len(reports) // 2 :]:
        e.value["voted"] = min(e.value["registered"], e.value["voted"] + int(0.4 * e.value["registered"]))
    return sid


def additions(n: Night, events: list) -> str:
    sid = sorted(n.truth)[5]
    for e in _reports(events, sid):
        e.value["added"] = int(0.3 * e.value["registered"])
    return sid


def valid_above_turnout(n: Night, events: list) -> str:
    sid = sorted(n.truth)[6]
    last = _reports(events, sid)[-1]
    last.value["voted"] = int(last.value["voted"] * 0.6)
    return sid


CASES = [
    ("kz2023", "unanimous_result", unanimous),
    ("kz2023", "late_protocol", missing),
    ("kz2023", "turnout_implausible", crowded),
    ("kz2023", "turnout_jump", jump),
    ("kz2023", "list_additions", additions),
    ("kz2023", "valid_exceeds_turnout", valid_above_turnout),
    ("indonesia", "unanimous_result", unanimous),
    ("indonesia", "late_protocol", missing),
    ("indonesia", "turnout_implausible", crowded),
]


@pytest.fixture(scope="module")
def nights() -> dict[str, Night]:
    return {name: generate(load(name), 150, seed=5) for name in ("kz2023", "indonesia")}


@pytest.mark.parametrize(("election", "kind", "plant"), CASES, ids=[f"{e}-{k}" for e, k, _ in CASES])
def test_a_planted_anomaly_is_found_on_the_definitions_form(nights, election, kind, plant):
    n = nights[election]
    events = [copy.deepcopy(e) for e in n.events]
    sid = plant(n, events)
    tally = InMemoryTally(n.registry, definition=n.definition)
    for e in events:
        tally.feed(e.topic, e.key, e.value)
    assert not tally.rejected, tally.rejected[:2]
    late = datetime(2030, 1, 1, tzinfo=n.definition.polls_close.tzinfo)  # long past every deadline
    found = tally.findings(now=late)
    assert kind in {f.kind for f in found if f.station_id == sid}
    clean = InMemoryTally(n.registry, definition=n.definition)
    clean.feed_events(n.events)
    assert kind not in {f.kind for f in clean.findings(now=late) if f.station_id == sid}
