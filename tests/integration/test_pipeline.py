"""The real path: Tansu broker, redis-server and worker processes, totals against truth."""

from __future__ import annotations

import random

import pytest
from conftest_helpers import split_by_station
from truth import compare, expected_totals

from integration.conftest import caught_up, wait_for
from monitor.adapters import procs
from producers.elections.synthetic import generate
from producers.replay import messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _evotes(election) -> int:
    return sum(1 for e in election.events if e.topic == "evote")


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
    # every event once, and every distinct e-ballot once more, re-keyed by its voter token
    assert workers.metric("tabmon_events_total") == len(election.events) + _evotes(election)
    assert workers.metric("tabmon_events_total", "evote-tokens") == _evotes(election)
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
    # duplicates are counted as received, but a duplicate e-ballot is not forwarded again
    assert workers.metric("tabmon_events_total") == 2 * len(election.events) + _evotes(election)


def test_sigkill_mid_replay_then_restart_equals_truth(settings, workers, election):
    send(settings, messages_of(election.registry, []))
    first = workers.start()
    half = len(election.events) // 2
    send(settings, messages_of([], election.events[:half]))
    # The first worker has folded in and committed part of the night ...
    wait_for(
        settings,
        lambda m: m is not None and sum(m["watermarks"].values()) > half // 2,
        90,
        "the first worker to make progress",
        first,
    )
    procs.kill(first)  # ... and dies without leaving its group.
    send(settings, messages_of([], election.events[half:]))
    second = workers.start()
    units = caught_up(settings, timeout=120, proc=second)
    parties = election.parties
    assert compare(units, expected_totals(election.truth, parties), parties) == []
    # The restarted worker really rebuilt state from the log rather than starting blank.
    assert workers.metric("tabmon_replayed_events_total") > 0


def test_registry_from_file_only_and_status_command(settings, workers, election, tmp_path):
    """No registry on the topic: the worker takes it from TABMON_REGISTRY_FILE."""
    import dataclasses
    import json
    import subprocess
    import sys

    from producers.elections.synthetic import registry_to_json

    path = tmp_path / "registry.json"
    registry_to_json(election, path)
    workers.settings = dataclasses.replace(settings, registry_file=str(path))
    proc = workers.start()
    send(settings, messages_of([], election.events))
    units = caught_up(settings, proc=proc)
    parties = election.parties
    assert compare(units, expected_totals(election.truth, parties), parties) == []

    rec = election.truth.station_rec[next(iter(election.truth.pec))]
    env = {"TABMON_REDIS_URL": settings.redis_url, "TABMON_APP_ID": settings.app_id, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "status", rec, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == units[rec]
    table = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert table.returncode == 0 and "Nur Otan" in table.stdout
    assert f"{units['KZ']['official']['votes']['Nur Otan']:,}" in table.stdout
    sid = next(s for s, n in election.truth.evote_ballots.items() if n > 0)
    doc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "status", sid, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doc.returncode == 0, doc.stderr
    station = json.loads(doc.stdout)
    pec = station["protocols"]["sources"]["pec"]["figures"]
    assert pec[-len(parties) :] == [election.truth.pec[sid]["votes"][p] for p in parties]
    assert station["protocols"]["official_source"] == "cec"
    last = election.truth.turnout[sid]
    assert station["turnout"]["reports"]["6"] == [last["registered"], last["added"], last["voted"]]
    assert station["evote"]["ballots"] == election.truth.evote_ballots[sid]
    shown = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "status", sid],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "cec v1 (official)" in shown.stdout, shown.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "status", "NOPE-T99"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "NOPE-T99" in missing.stderr


def test_stage_two_moves_to_the_surviving_worker_rebuilt_from_the_partials(
    settings, workers, election, logdir
):
    """Two workers; the one holding ``tally-partials`` is SIGKILLed mid-night. The other takes
    the partials, reads them again from offset 0 into a fresh state, and its totals are exact;
    a forged partial the first worker dead-lettered is not dead-lettered a second time."""
    import dataclasses
    import time

    from kafka import KafkaProducer

    from integration.conftest import Workers
    from monitor.testing import read_topic

    forged = b'{"kind": "protocols", "wm": -1, "tp": "protocols:0", "tecs": {}, "summaries": {}}'
    producer = KafkaProducer(bootstrap_servers=settings.broker)
    producer.send(settings.topic("tally-partials"), forged, key=b"protocols:0").get(timeout=30)
    producer.close()
    send(settings, messages_of(election.registry, []))
    other = Workers(dataclasses.replace(settings, metrics_port=procs.free_port()), logdir, "second")
    try:
        pair = [workers.start(), other.start()]
        half = len(election.events) // 2
        send(settings, messages_of([], election.events[:half]))
        meta = wait_for(
            settings,
            lambda m: m is not None and sum(m["watermarks"].values()) > half // 2,
            90,
            "stage two to make progress",
            pair[0],
        )
        time.sleep(2.5)  # its position is committed every second: the dead letter is on record
        owner = next(p for p in pair if meta["worker"].endswith(f":{p.pid}"))
        survivor = next(p for p in pair if p is not owner)
        procs.kill(owner)
        send(settings, messages_of([], election.events[half:]))
        units = caught_up(settings, timeout=180, proc=survivor)
        parties = election.parties
        assert compare(units, expected_totals(election.truth, parties), parties) == []
        meta = wait_for(settings, lambda m: m is not None, 5, "the meta", survivor)
        assert meta["worker"].endswith(f":{survivor.pid}")
        letters = [
            d
            for d in read_topic(settings.broker, settings.topic("deadletter"))
            if d["topic"].endswith("tally-partials")
        ]
        assert [d["code"] for d in letters] == ["bad_partial"]
    finally:
        other.stop_all()
