"""Findings through the real path: a worker on Tansu and redis-server emits each anomaly to
``alerts`` once, re-emits it under its id when the evidence changes, and a restart emits
nothing again."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from datetime import timedelta

import orjson
import pytest
import redis

from integration.conftest import caught_up
from monitor.adapters import readmodel
from monitor.alerting import content_digest
from monitor.testing import read_topic
from producers.elections.synthetic import TimedEvent, generate
from producers.replay import messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _altered(event: TimedEvent, version: int, moved: int, hours: int) -> TimedEvent:
    """The event's protocol again, as a later version with ``moved`` votes taken from the
    strongest party and given to the weakest: the control relations still hold."""
    value = copy.deepcopy(event.value)
    votes = value["figures"]["votes"]
    strong, weak = max(votes, key=votes.get), min(votes, key=votes.get)
    assert votes[strong] >= moved
    votes[weak] += moved
    votes[strong] -= moved
    at = event.at + timedelta(hours=hours)
    value.update(version=version, recorded_at=at.isoformat())
    return TimedEvent(at, event.topic, event.key, value)


@pytest.fixture(scope="module")
def election():
    return generate(120, 12, seed=11, evote_ballots=400)


def _cec_protocol(election) -> TimedEvent:
    return next(e for e in election.events if e.topic == "protocols" and e.value["source"] == "cec")


def _pec_cec(alerts: list[dict], sid: str) -> list[dict]:
    return [
        a
        for a in alerts
        if a["kind"] == "protocol_altered"
        and a["station_id"] == sid
        and a["evidence"].get("compared") == ["pec", "cec"]
    ]


def _alerts_when(settings, predicate, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        alerts = read_topic(settings.broker, settings.topic("alerts"))
        if predicate(alerts) or time.monotonic() > deadline:
            return alerts
        time.sleep(0.5)


def _eventually(check, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_an_alteration_is_emitted_once_updated_once_and_not_again_after_a_restart(
    settings, workers, election
):
    cec = _cec_protocol(election)
    sid = cec.key
    send(settings, messages_of(election.registry, [*election.events, _altered(cec, 2, 40, 30)]))
    first = workers.start()
    caught_up(settings, proc=first)
    alerts = _alerts_when(settings, lambda a: _pec_cec(a, sid))
    [found] = _pec_cec(alerts, sid)
    assert found["severity"] == "critical" and found["rec_id"] == sid.split("-")[0]
    assert sum(found["evidence"]["delta"].values()) == 0  # votes moved, none added
    # a clean election plus one alteration: nothing is flagged anywhere else
    assert {a["station_id"] for a in alerts} == {sid}

    # the CEC corrects the figures again: the same finding, new evidence, re-emitted once
    send(settings, messages_of([], [_altered(cec, 3, 60, 31)]))
    alerts = _alerts_when(settings, lambda a: len(_pec_cec(a, sid)) == 2)
    old, new = _pec_cec(alerts, sid)
    assert new["finding_id"] == old["finding_id"] and new["first_seen"] == old["first_seen"]
    assert new["updated"] > old["updated"] and new["evidence"] != old["evidence"]

    # the read model and the metrics agree with the topic
    client = redis.Redis.from_url(settings.redis_url)
    stored = {r["finding_id"]: r for r in readmodel.read_findings(client, settings.app_id)}
    latest = {a["finding_id"]: a for a in alerts}
    assert stored == latest
    n_altered = sum(1 for r in stored.values() if r["kind"] == "protocol_altered")
    _eventually(
        lambda: workers.metric("tabmon_findings", 'kind="protocol_altered"') == n_altered,
        "tabmon_findings to count the findings",
    )
    assert workers.metric("tabmon_finding_info", f'station="{sid}"') >= 1
    party = min(cec.value["figures"]["votes"], key=cec.value["figures"]["votes"].get)
    pec_votes = next(
        e for e in election.events if e.topic == "protocols" and e.key == sid and e.value["source"] == "pec"
    ).value["figures"]["votes"][party]
    assert (
        workers.metric("tabmon_station_figures", f'station="{sid}",source="pec",field="{party}"') == pec_votes
    )

    # the command line shows the same findings
    env = {**os.environ, "TABMON_REDIS_URL": settings.redis_url, "TABMON_APP_ID": settings.app_id}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "findings",
            "--json",
            "--station",
            sid,
            "--kind",
            "protocol_altered",
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    listed = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert {r["finding_id"] for r in listed} == {
        r["finding_id"] for r in stored.values() if r["kind"] == "protocol_altered"
    }
    table = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "findings"], env=env, capture_output=True, check=True, text=True
    ).stdout
    assert sid in table and "protocol_altered" in table

    # a restart rebuilds everything from offset 0 and detects it all again: nothing new leaves
    workers.stop_all()
    before = len(alerts)
    second = workers.start()
    caught_up(settings, proc=second)
    time.sleep(settings.sweep_interval + 2)
    after = read_topic(settings.broker, settings.topic("alerts"))
    assert len(after) == before, [a for a in after[before:]]
    by_id: dict[str, list[str]] = {}
    for a in after:
        by_id.setdefault(a["finding_id"], []).append(content_digest(a))
    for digests in by_id.values():  # never the same content twice in a row under one id
        assert all(x != y for x, y in zip(digests, digests[1:], strict=False))


def test_a_summary_read_before_an_earlier_protocol_version_is_not_called_a_mismatch(
    settings, workers, election
):
    """Live, partitions are read at different paces. Here a station's revised PEC protocol
    sits behind a backlog in its partition while the TEC summary that agrees with it (recorded
    an hour later) is read at once: compared then, the summary would differ from the PEC
    protocols read so far, a mismatch the night does not have (seen on the drill through
    the real pipeline). The worker waits until the protocols are read past the summary."""
    from monitor.contract import FIGURE_FIELDS

    pec = [e for e in election.events if e.topic == "protocols" and e.value["source"] == "pec"]
    tec_summary = next(e for e in election.events if e.topic == "summaries" and e.value["level"] == "tec")
    tec = tec_summary.key
    tec_of = {r["station_id"]: r["tec_id"] for r in election.registry if r.get("type") == "station"}
    mine = [e for e in pec if tec_of[e.key] == tec]
    assert len(mine) >= 3
    revised = _altered(mine[0], 2, 40, 1)
    latest = [revised.value["figures"]] + [e.value["figures"] for e in mine[1:]]
    at = revised.at + timedelta(hours=1)
    summary = TimedEvent(
        at,
        "summaries",
        tec,
        {
            **tec_summary.value,
            "version": 1,
            "recorded_at": at.isoformat(),
            "stations_included": len(mine),
            "figures": {
                **{k: sum(f[k] for f in latest) for k in FIGURE_FIELDS},
                "votes": {p: sum(f["votes"][p] for f in latest) for p in latest[0]["votes"]},
            },
        },
    )
    backlog = [mine[0]] * 60_000  # the same protocol again: it changes no total
    send(settings, messages_of(election.registry, [*mine, *backlog, revised, summary]))
    proc = workers.start()
    caught_up(settings, timeout=180, proc=proc)
    time.sleep(2)  # a snapshot and its stage two after the last merge

    # the order this test is about did happen: the summary was folded in before the revised
    # protocol, the last message of its partition, was read (its partition had published
    # nothing yet, or a partial short of its end)
    partials = read_topic(settings.broker, settings.topic("tally-partials"))
    first_summary = next(i for i, p in enumerate(partials) if tec in p.get("summaries", {}))
    revised_tp = next(
        p["tp"] for p in reversed(partials) if p["kind"] == "protocols" and p["wm"] > len(backlog)
    )
    end = max(p["wm"] for p in partials if p["tp"] == revised_tp)
    before = [p for p in partials[:first_summary] if p["tp"] == revised_tp]
    assert not before or before[-1]["wm"] < end, (
        "the protocol backlog was read before the summary: nothing tested"
    )

    alerts = read_topic(settings.broker, settings.topic("alerts"))
    assert [a for a in alerts if a["kind"] == "summary_mismatch"] == []
    # and the revision itself is seen
    assert any(a["kind"] == "protocol_altered" and a["station_id"] == mine[0].key for a in alerts)
