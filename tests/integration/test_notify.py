"""Notifications through real processes: Tansu, redis-server, `tabmon notify` subprocesses and
real HTTP receivers. Findings are produced to the `alerts` topic as the emitter does (the
contract record, keyed by finding_id)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from kafka import KafkaProducer

from integration.webhook import (
    T0,
    Receiver,
    finding,
    ledger,
    notifiers,
    nsettings,
    produce,
    receivers,
    subscribe,
    tabmon,
)
from monitor.adapters import procs
from monitor.contract import original_bytes
from monitor.notify.consume import record
from monitor.notify.model import Incoming
from monitor.notify.store import Store
from monitor.testing import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["nsettings", "notifiers", "receivers"]  # fixtures, used by name


def got(r: Receiver) -> list[tuple[str, str, str]]:
    """(finding_id, event, severity) of every POST received, sorted."""
    return sorted(
        (x.payload["finding"]["finding_id"], x.event, x.payload["finding"]["severity"]) for x in r.snapshot()
    )


def test_each_matching_subscriber_gets_each_finding_once(nsettings, notifiers, receivers):
    s = nsettings
    all_id, everything = subscribe(s, receivers)
    akm_id, akm = subscribe(s, receivers, "--region", "akm", "--min-severity", "warning")
    ev_id, evote = subscribe(s, receivers, "--kind", "evote_multiple", "--region", "ALA", "KZ")
    fo_id, forensic = subscribe(s, receivers, "--kind", "forensic_*")
    f1 = finding("protocol_altered", "critical", "AKM-T01", "AKM-101", moved=40)
    f2 = finding("unanimous_result", "info", "AKM-T01", "AKM-102", votes=310)
    f3 = finding("evote_multiple", "warning", "ALA", None, tokens=3)
    f4 = finding("summary_mismatch", "warning", "KZ", None, diff=12)
    f5 = finding("turnout_jump", "warning", "AKM-T02", "AKM-103", jump=0.4)
    f6 = finding("forensic_last_digit", "info", "KAR-T02", None, p=0.001)
    f7 = finding("evote_multiple", "critical", "KAR", None, tokens=9)
    first = [f1, f2, f3, f4, f5, f6, f7]
    notifiers.start()
    # every record twice, and f1 once more with the same content and a later `updated`
    produce(s, [*first, *first, {**f1, "updated": "2007-08-18T21:00:00+00:00"}])
    ids = {f["finding_id"]: f"f{n}" for n, f in enumerate(first, start=1)}
    everything.wait_for(7, 60, "to the catch-all subscriber")
    akm.wait_for(2, 30)
    evote.wait_for(1, 30)
    forensic.wait_for(1, 30)

    def names(r: Receiver) -> list[tuple[str, str]]:
        return sorted((ids[fid], ev) for fid, ev, _sev in got(r))

    assert names(everything) == [(f, "new") for f in ("f1", "f2", "f3", "f4", "f5", "f6", "f7")]
    assert names(akm) == [("f1", "new"), ("f5", "new")]
    assert names(evote) == [("f3", "new")]  # f7 is in KAR
    assert names(forensic) == [("f6", "new")]

    # Re-emissions with new content: f2's evidence changes (still info), then f2 becomes
    # critical; f5 drops to info, which the AKM subscriber was told of, so it hears of it.
    f2b = {**f2, "evidence": {"votes": 355}, "updated": "2007-08-18T22:00:00+00:00"}
    f2c = {**f2b, "severity": "critical", "updated": "2007-08-18T23:00:00+00:00"}
    f5b = {**f5, "severity": "info", "updated": "2007-08-18T22:00:00+00:00"}
    produce(s, [f2b, f5b, f2b, f2c, f5b])
    everything.wait_for(10, 30)
    akm.wait_for(4, 30)
    assert names(everything) == sorted(
        [(f, "new") for f in ("f1", "f2", "f3", "f4", "f5", "f6", "f7")]
        + [("f2", "updated"), ("f2", "updated"), ("f5", "updated")]
    )
    assert sorted(got(akm)) == sorted(
        [
            (f1["finding_id"], "new", "critical"),
            (f5["finding_id"], "new", "warning"),
            (f5["finding_id"], "updated", "info"),
            (f2["finding_id"], "new", "critical"),
        ]
    )
    assert names(evote) == [("f3", "new")] and names(forensic) == [("f6", "new")]

    for sub_id, r in ((all_id, everything), (akm_id, akm), (ev_id, evote), (fo_id, forensic)):
        posts = r.snapshot()
        assert all(p.signature_ok for p in posts)
        assert len({p.delivery_id for p in posts}) == len(posts), "a notification arrived twice"
        entries = ledger(s, sub_id)
        # the ledger is the audit trail: one entry per POST received, each delivered, HTTP 200
        assert sorted(e["delivery_id"] for e in entries) == sorted(p.delivery_id for p in posts)
        assert {(e["status"], e["http_status"]) for e in entries} == {("delivered", 200)}
        by_id = {p.delivery_id: p for p in posts}
        for e in entries:
            assert by_id[e["delivery_id"]].event == e["event"]
            assert by_id[e["delivery_id"]].payload["finding"]["finding_id"] == e["finding_id"]
    # updates of one finding arrive in the order they were emitted
    f2_posts = [
        p.payload["finding"]
        for p in everything.snapshot()
        if p.payload["finding"]["finding_id"] == f2["finding_id"]
    ]
    assert [p["updated"] for p in f2_posts] == [T0, f2b["updated"], f2c["updated"]]
    assert notifiers.metric("tabmon_notify_deliveries_total", 'status="delivered"') == 10 + 4 + 1 + 1
    assert notifiers.metric("tabmon_notify_pending") == 0


def test_a_receiver_down_for_a_while_gets_everything_when_back(nsettings, notifiers, receivers):
    s = nsettings
    down_id, down = subscribe(s, receivers, start=False)
    up_id, up = subscribe(s, receivers)
    records = [finding("turnout_jump", "warning", "PAV-T01", f"PAV-{n}", jump=n) for n in range(20)]
    notifiers.start()
    produce(s, records)
    # the other subscriber is not held up by the one that is down
    assert len(up.wait_for(20, 30)) == 20
    time.sleep(3)  # a few rounds of backoff against the closed port
    waiting = ledger(s, down_id)
    assert len(waiting) == 20 and all(e["status"] != "delivered" for e in waiting)
    assert sum(e["attempts"] for e in waiting) >= 2
    assert notifiers.metric("tabmon_notify_retries_total", 'outcome="unavailable"') >= 2
    assert notifiers.metric("tabmon_notify_pending", down_id) == 20
    down.start()
    posts = down.wait_for(20, 30)
    assert sorted(p.payload["finding"]["finding_id"] for p in posts) == sorted(
        r["finding_id"] for r in records
    )
    assert len(posts) == 20 and all(p.signature_ok and p.event == "new" for p in posts)
    entries = ledger(s, down_id)
    assert {e["status"] for e in entries} == {"delivered"}
    assert max(e["attempts"] for e in entries) >= 2  # the one that probed while it was down
    assert len(up.snapshot()) == 20


def test_a_refused_delivery_is_given_up_after_the_bound(nsettings, notifiers, receivers):
    s = dataclasses.replace(nsettings, notify_max_refusals=3)
    notifiers.settings = s
    refusing_id, refusing = subscribe(s, receivers, status=400)
    ok_id, ok = subscribe(s, receivers)
    records = [finding("late_protocol", "info", "MAN-T03", f"MAN-{n}") for n in range(3)]
    notifiers.start()
    produce(s, records)
    ok.wait_for(3, 30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        entries = ledger(s, refusing_id)
        if len(entries) == 3 and all(e["status"] == "failed" for e in entries):
            break
        time.sleep(0.3)
    assert [(e["status"], e["refusals"], e["attempts"], e["http_status"]) for e in entries] == [
        ("failed", 3, 3, 400)
    ] * 3
    assert notifiers.metric("tabmon_notify_deliveries_total", 'status="failed"') == 3
    assert refusing.snapshot() == []  # it answered 400: nothing was accepted


def _stream(n: int, updates: int) -> list[dict[str, Any]]:
    """n findings over the regions, then a re-emission with new evidence of the first
    ``updates`` of them, interleaved: what a worker emits through a night."""
    regions = [
        "AKM",
        "AKT",
        "ALR",
        "ATY",
        "EKZ",
        "ZHA",
        "WKZ",
        "KAR",
        "KOS",
        "KZY",
        "MAN",
        "PAV",
        "NKZ",
        "SKZ",
        "AST",
        "ALA",
    ]
    first = [
        finding(
            "arithmetic_inconsistent", "warning", f"{regions[i % 16]}-T01", f"{regions[i % 16]}-{i}", gap=i
        )
        for i in range(n)
    ]
    later = [{**f, "evidence": {"gap": -1}, "updated": "2007-08-18T22:00:00+00:00"} for f in first[:updates]]
    out: list[dict[str, Any]] = []
    for i, f in enumerate(first):
        out.append(f)
        if i % 3 == 2 and later:
            out.append(later.pop(0))
    return out + later


def test_notifier_killed_mid_stream_duplicates_nothing_and_loses_nothing(nsettings, notifiers, receivers):
    s = nsettings
    all_id, everything = subscribe(s, receivers)
    akm_id, akm = subscribe(s, receivers, "--region", "AKM", "ALA")
    records = _stream(300, 60)
    expected_all = 300 + 60
    expected_akm = sum(1 for r in records if r["rec_id"] in ("AKM", "ALA"))
    first = notifiers.start()

    def send_paced() -> None:
        for i in range(0, len(records), 10):
            produce(s, records[i : i + 10])
            time.sleep(0.05)

    sender = threading.Thread(target=send_paced)
    sender.start()
    deadline = time.monotonic() + 60
    while len(everything.snapshot()) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    procs.kill(first)  # SIGKILL, mid-stream
    killed_at = len(everything.snapshot())
    assert 0 < killed_at < expected_all, "the notifier was not killed mid-stream"
    sender.join()
    notifiers.start()
    posts = everything.wait_for(expected_all, 90, "after the restart")
    akm_posts = akm.wait_for(expected_akm, 30)
    for posts_, n in ((posts, expected_all), (akm_posts, expected_akm)):
        # every notification (a finding, or its update) is there, under one delivery id each
        notes = {
            (p.payload["finding"]["finding_id"], p.payload["finding"]["evidence"]["gap"] < 0) for p in posts_
        }
        assert len(notes) == n and len({p.delivery_id for p in posts_}) == n
        assert _only_retransmissions(posts_)
        assert all(p.signature_ok for p in posts_)
    events = Counter(p.event for p in {p.delivery_id: p for p in posts}.values())
    assert events == {"new": 300, "updated": 60}
    entries = ledger(s, all_id)
    assert len(entries) == expected_all and {e["status"] for e in entries} == {"delivered"}
    assert len(ledger(s, akm_id)) == expected_akm


def test_notifier_stopped_mid_stream_sends_nothing_twice(nsettings, notifiers, receivers):
    """SIGTERM lets the POSTs under way finish and be recorded: not even a retransmission."""
    s = nsettings
    _sub_id, r = subscribe(s, receivers)
    records = _stream(200, 40)
    first = notifiers.start()
    produce(s, records)
    deadline = time.monotonic() + 60
    while len(r.snapshot()) < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert procs.stop(first, grace=15) == 0  # a clean exit, not the SIGKILL of the grace
    stopped_at = len(r.snapshot())
    assert stopped_at < 240, "the notifier was not stopped mid-stream"
    notifiers.start()
    posts = r.wait_for(240, 90, "after the restart")
    assert len(posts) == 240 and len({p.delivery_id for p in posts}) == 240
    assert {p.attempt for p in posts} == {1}


def _only_retransmissions(posts: list[Any]) -> bool:
    """HTTP delivery is at least once: a kill between the receiver's 200 and the ledger write
    sends that one delivery again, with the same id and a higher X-Tabmon-Attempt. Allow
    exactly that, for at most the one POST in flight at the kill."""
    by_id: dict[str, list[Any]] = {}
    for p in posts:
        by_id.setdefault(p.delivery_id, []).append(p)
    repeated = [ps for ps in by_id.values() if len(ps) > 1]
    return len(repeated) <= 1 and all(
        len(ps) == 2 and ps[0].body == ps[1].body and ps[1].attempt > ps[0].attempt for ps in repeated
    )


def test_a_batch_recorded_but_not_committed_is_not_notified_again(nsettings, notifiers, receivers):
    """The crash window between recording a batch in Redis and committing its offsets, made
    deterministic: the first three messages are recorded as a notifier would, and nothing is
    committed; the notifier started next reads them again from offset 0."""
    s = nsettings
    sub_id, r = subscribe(s, receivers)
    a = finding("turnout_revised", "warning", "AKT", None, change=1)
    a2 = {**a, "evidence": {"change": 2}, "updated": "2007-08-18T22:00:00+00:00"}
    c = finding("turnout_revised", "warning", "ATY", None, change=1)
    d = finding("turnout_revised", "warning", "EKZ", None, change=1)
    where = produce(s, [a, a2, c, d])

    async def record_first_three() -> None:
        client = aioredis.from_url(s.redis_url)
        store = Store(client, s.app_id)
        batch = [Incoming(x, m.partition, m.offset) for x, m in zip([a, a2, c], where, strict=False)]
        recorded = await record(store, await store.subscriptions(), batch)
        assert [n.event for n in recorded] == ["new", "updated", "new"]
        await client.aclose()

    asyncio.run(record_first_three())
    notifiers.start()
    r.wait_for(4, 30)
    assert sorted(
        (p.payload["finding"]["unit_id"], p.event, p.payload["finding"]["evidence"]["change"])
        for p in r.snapshot()
    ) == [("AKT", "new", 1), ("AKT", "updated", 2), ("ATY", "new", 1), ("EKZ", "new", 1)]
    assert len(ledger(s, sub_id)) == 4


def _send_raw(settings: Any, messages: list[tuple[bytes, bytes | None]]) -> None:
    """(key, value) pairs to the alerts topic, all to partition 0: they are read in this order."""
    p = KafkaProducer(bootstrap_servers=settings.broker, linger_ms=5)
    futures = [p.send(settings.topic("alerts"), key=k, value=v, partition=0) for k, v in messages]
    p.flush()
    p.close()
    for f in futures:
        f.get(timeout=10)


def test_records_it_cannot_use_are_dead_lettered_and_never_stop_the_notifier(nsettings, notifiers, receivers):
    """Before, a finding nested 300 deep crashed the notifier at every restart (orjson reads it
    but cannot write it again), and a finding id ending in a newline wedged its subscriber (the
    header could never be sent, retried for ever)."""
    s = nsettings
    sub_id, r = subscribe(s, receivers)
    good = [finding("turnout_jump", "warning", "SKZ-T01", f"SKZ-{n}", jump=n) for n in range(4)]
    newline = finding("turnout_jump", "critical", "SKZ-T01", "SKZ-90", jump=9)
    newline["finding_id"] += "\n"
    deep = b'{"a":' * 300 + b"1" + b"}" * 300
    too_deep = orjson.dumps(
        {**finding("turnout_jump", "critical", "SKZ-T01", "SKZ-91"), "evidence": "E"}
    ).replace(b'"E"', deep)
    hostile = {
        "bad_value": orjson.dumps(newline),
        "too_deep": too_deep,
        "malformed_json": b'{"type": "finding", "finding_id": ',
        "not_an_object": b'[{"type": "finding"}]',
    }
    g = [orjson.dumps(f) for f in good]
    values = [
        g[0],
        hostile["bad_value"],
        g[1],
        hostile["too_deep"],
        g[2],
        hostile["malformed_json"],
        hostile["not_an_object"],
        g[3],
    ]
    proc = notifiers.start()
    _send_raw(s, [(b"k", v) for v in values])
    posts = r.wait_for(4, 60)
    deadline = time.monotonic() + 30
    while len(letters := read_topic(s.broker, s.topic("deadletter"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert proc.poll() is None, "the notifier stopped"
    # the findings, each once, and nothing else
    assert sorted(p.payload["finding"]["finding_id"] for p in posts) == sorted(f["finding_id"] for f in good)
    assert len({p.delivery_id for p in posts}) == len(posts) == 4 and all(p.signature_ok for p in posts)
    assert {(e["status"], e["finding_id"]) for e in ledger(s, sub_id)} == {
        ("delivered", f["finding_id"]) for f in good
    }
    # each of the others on deadletter: where it was, why, and its bytes
    assert sorted((x["offset"], x["code"]) for x in letters) == [
        (1, "bad_value"),
        (3, "too_deep"),
        (5, "malformed_json"),
        (6, "not_an_object"),
    ]
    for x in letters:
        assert x["type"] == "rejected" and x["topic"] == s.topic("alerts") and x["partition"] == 0
        assert x["reason"] and original_bytes(x) == hostile[x["code"]]
    for code in hostile:
        assert notifiers.metric("tabmon_notify_invalid_records_total", f'reason="{code}"') == 1
    assert notifiers.metric("tabmon_notify_findings_consumed_total") == 4
    # the batch was committed with its rejections: a restart reads and rejects nothing again
    assert procs.stop(proc, grace=15) == 0
    again = notifiers.start()
    _send_raw(s, [(b"k", orjson.dumps(finding("turnout_jump", "warning", "SKZ-T01", "SKZ-50", jump=50)))])
    assert len(r.wait_for(5, 30)) == 5
    assert again.poll() is None and len(read_topic(s.broker, s.topic("deadletter"))) == 4


def test_subscription_commands_against_redis(nsettings, receivers):
    s = nsettings
    code, out, err = tabmon(
        s,
        "subscribe",
        "--webhook",
        "https://ops.example/hook",
        "--region",
        "AKM",
        "--kind",
        "evote_multiple",
        "forensic_*",
        "--min-severity",
        "critical",
        "--secret",
        "my-own-secret-of-24-chars",
    )
    assert code == 0, err
    sub_id = re.search(r"^subscription (s-[0-9a-f]{12}):", out, re.M).group(1)
    assert "secret my-own-secret-of-24-chars" in out
    code, out, _ = tabmon(s, "subscriptions")
    assert sub_id in out and "my-o********" in out and "my-own-secret" not in out
    assert "regions AKM" in out and "kinds evote_multiple,forensic_*" in out and "critical" in out
    code, out, _ = tabmon(s, "subscriptions", "--json")
    [row] = json.loads(out)
    assert row["id"] == sub_id and row["pending"] == 0 and row["secret"] == "my-o********"
    code, out, _ = tabmon(s, "deliveries", sub_id)
    assert code == 0 and "0 notification(s): nothing yet" in out
    assert tabmon(s, "unsubscribe", sub_id)[0] == 0
    code, _, err = tabmon(s, "unsubscribe", sub_id)
    assert code == 2 and f"no subscription {sub_id!r}" in err and err.count("\n") == 1
    code, _, err = tabmon(s, "deliveries", "s-000000000000")
    assert code == 2 and err.count("\n") == 1
    code, out, _ = tabmon(s, "subscriptions")
    assert out.strip() == "no subscriptions"
    down = dataclasses.replace(s, redis_url=f"redis://127.0.0.1:{procs.free_port()}/0")
    code, _, err = tabmon(down, "subscriptions")
    assert code == 2 and err.startswith("tabmon: error: cannot use Redis") and err.count("\n") == 1
