"""The real path: Tansu broker, redis-server and worker processes, totals against truth."""

from __future__ import annotations

import random

import pytest
from conftest_helpers import split_by_station
from truth import compare, expected_totals

from monitor import procs
from producers.replay import messages_of, send
from producers.synthetic import generate

from .conftest import caught_up, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def election():
    return generate(240, 24, seed=7, evote_ballots=1500)


def test_exact_totals_at_every_level(settings, workers, election):
    send(settings, messages_of(election.registry, []))
    proc = workers.start()
    send(settings, messages_of([], election.events))
    units = caught_up(settings, proc=proc)
    parties = election.parties
    assert compare(units, expected_totals(election.truth, parties), parties) == []
    assert units["KZ"]["official"]["stations_reported"] == 240
    assert workers.metric("tabmon_events_total") == len(election.events)
    assert workers.metric("tabmon_rejected_total") == 0


def test_every_event_twice_and_reordered_gives_identical_totals(settings, workers, election):
    rng = random.Random(3)
    events = split_by_station(list(election.events) * 2, rng)
    send(settings, messages_of(election.registry, []))
    proc = workers.start()
    send(settings, messages_of([], events))
    units = caught_up(settings, proc=proc)
    parties = election.parties
    assert compare(units, expected_totals(election.truth, parties), parties) == []
    assert workers.metric("tabmon_events_total") == 2 * len(election.events)


def test_sigkill_mid_replay_then_restart_equals_truth(settings, workers, election):
    send(settings, messages_of(election.registry, []))
    first = workers.start()
    half = len(election.events) // 2
    send(settings, messages_of([], election.events[:half]))
    # The first worker has folded in and committed part of the night ...
    wait_for(settings, lambda m: m is not None and sum(m["watermarks"].values()) > half // 2,
             90, "the first worker to make progress", first)  # fmt: skip
    procs.kill(first)  # ... and dies without leaving its group.
    send(settings, messages_of([], election.events[half:]))
    second = workers.start()
    units = caught_up(settings, timeout=120, proc=second)
    parties = election.parties
    assert compare(units, expected_totals(election.truth, parties), parties) == []
    # The restarted worker really rebuilt state from the log rather than starting blank.
    assert workers.metric("tabmon_replayed_events_total") > 0
