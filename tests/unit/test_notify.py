"""Notifications, the pure core: validation, matching, dedup, signing, backoff, outcomes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import orjson
import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from monitor.cli.main import main
from monitor.contract import original_bytes
from monitor.detect.findings import Finding, to_record
from monitor.errors import ConfigError
from monitor.notify import consume, model
from monitor.notify.consume import Consumer, decode, plan, triage
from monitor.notify.deliver import Delivery, Sender
from monitor.notify.metrics import NotifyMetrics
from monitor.notify.model import (
    Backoff,
    Incoming,
    Subscription,
    content_digest,
    matches,
    new_subscription,
    outcome,
    sign,
    verify,
)
from monitor.settings import Settings

T0 = "2007-08-18T20:00:00+00:00"
NOW = datetime(2007, 8, 18, 21, tzinfo=UTC)


def rec(
    kind="protocol_altered", severity="warning", unit="AKM-T01", station="AKM-101", updated=T0, **evidence
):
    level = "station" if station else ("cec" if unit == "KZ" else "tec")
    f = Finding(kind, severity, level, unit, station, evidence or {"x": 1}, "One sentence.")
    return to_record(f, first_seen=T0, updated=updated)


def sub(**kw) -> Subscription:
    return new_subscription("http://127.0.0.1:9/hook", **kw)


# -- validating what a person types ----------------------------------------------------------------
@pytest.mark.parametrize("url", ["ftp://x/hook", "hook", "http://", "http://a b/", "http://h:99999/"])
def test_bad_webhooks_are_rejected(url):
    with pytest.raises(ConfigError, match="webhook"):
        new_subscription(url)


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"kinds": ["turnout_jumps"]}, "unknown kind 'turnout_jumps'"),
        ({"kinds": ["forensic"]}, "unknown kind"),
        ({"regions": ["ALM"]}, "unknown region 'ALM'"),
        ({"min_severity": "high"}, "unknown severity 'high'"),
        ({"secret": "short"}, "at least 16"),
    ],
)
def test_bad_filters_are_rejected_with_what_is_allowed(kw, says):
    with pytest.raises(ConfigError, match=says) as info:
        sub(**kw)
    assert "\n" not in str(info.value)


def test_a_subscription_normalises_regions_and_makes_a_secret():
    s = sub(regions=["akm", "KZ", "AKM"], kinds=["forensic_*", "late_protocol"])
    assert s.regions == ("AKM", "KZ")
    assert s.kinds == ("forensic_*", "late_protocol")
    assert len(s.secret) == 64 and int(s.secret, 16) >= 0
    assert s.secret != sub().secret and s.sub_id != sub().sub_id
    assert Subscription.from_json(s.to_json()) == s
    assert s.secret not in orjson.dumps(s.masked()).decode()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--webhook", "localhost:8080/hook"], "is not an http:// or https:// URL"),
        (["--webhook", "http://h/", "--kind", "protocol-altered"], "unknown kind 'protocol-altered'"),
        (["--webhook", "http://h/", "--min-severity", "severe"], "unknown severity 'severe'"),
        (["--webhook", "http://h/", "--region", "AKM,XYZ"], "unknown region 'XYZ'"),
    ],
)
def test_subscribe_says_what_is_wrong_in_one_line(capsys, argv, says):
    # the Redis URL points nowhere: validation comes first, so nothing is written
    assert main(["subscribe", *argv, "--redis-url", "redis://127.0.0.1:9/0"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and err.startswith("tabmon: error: ")


# -- matching ------------------------------------------------------------------------------------
def test_matching_by_region_kind_and_severity():
    akm_warn = sub(regions=["AKM"], min_severity="warning")
    assert matches(akm_warn, rec(severity="warning"))
    assert matches(akm_warn, rec(severity="critical"))
    assert not matches(akm_warn, rec(severity="info"))
    assert not matches(akm_warn, rec(unit="ALA-T01", station="ALA-3"))
    national = sub(regions=["KZ"])
    assert matches(national, rec("summary_mismatch", unit="KZ", station=None))
    assert not matches(national, rec())
    forensic = sub(kinds=["forensic_*"])
    assert matches(forensic, rec("forensic_last_digit"))
    assert not matches(forensic, rec("protocol_altered"))
    assert matches(sub(kinds=["forensic_last_digit"]), rec("forensic_last_digit"))
    assert not matches(sub(kinds=["forensic_last_digit"]), rec("forensic_turnout_share"))
    everything = sub()
    assert all(matches(everything, rec(severity=sv)) for sv in ("info", "warning", "critical"))


def test_region_falls_back_to_the_id_without_rec_id():
    r = rec(unit="MAN-T03", station="MAN-88")
    del r["rec_id"]
    assert matches(sub(regions=["MAN"]), r) and not matches(sub(regions=["AKM"]), r)


# -- deduplication ---------------------------------------------------------------------------------
def _plan(subs, items, seen=None):
    seen = dict(seen or {})
    for s in subs:
        for it in items:
            seen.setdefault((s.sub_id, it.finding_id), None)
    return plan(subs, items, seen, NOW)


def test_the_same_finding_twice_is_one_notification():
    s = sub()
    a = rec()
    later = {**a, "updated": "2007-08-19T01:00:00+00:00"}  # an emitter restarted: same content
    out = _plan([s], [Incoming(a, 0, 1), Incoming(a, 0, 2), Incoming(later, 0, 3)])
    assert [(e.note.event, e.note.delivery_id) for e in out] == [("new", a["finding_id"] + ".1")]


def test_changed_content_is_one_update_each_time():
    s = sub()
    a = rec(gap=1)
    b = {**a, "evidence": {"gap": 2}, "updated": "2007-08-18T22:00:00+00:00"}
    c = {**b, "severity": "critical", "updated": "2007-08-18T23:00:00+00:00"}
    out = _plan([s], [Incoming(x, 0, i) for i, x in enumerate([a, b, b, c, a])])
    assert [(e.note.event, e.note.n) for e in out] == [
        ("new", 1),
        ("updated", 2),
        ("updated", 3),
        ("updated", 4),
    ]
    assert [orjson.loads(e.body)["finding"]["evidence"] for e in out] == [
        {"gap": 1},
        {"gap": 2},
        {"gap": 2},
        {"gap": 1},
    ]
    assert content_digest(a) == content_digest({**a, "updated": "x", "first_seen": "y"})
    assert content_digest(a) != content_digest(b)


def test_a_reread_after_a_crash_notifies_nothing_again():
    """A batch recorded before a crash and read again (the commit did not happen)."""
    s = sub()
    a = rec(gap=1)
    b = {**a, "evidence": {"gap": 2}}
    first = _plan([s], [Incoming(a, 2, 10), Incoming(b, 2, 11)])
    seen = {(s.sub_id, a["finding_id"]): first[-1].note.seen}
    assert _plan([s], [Incoming(a, 2, 10), Incoming(b, 2, 11)], seen) == []
    # ... while the same stale content at a later offset is a real re-emission
    again = _plan([s], [Incoming(a, 2, 12)], seen)
    assert [(e.note.event, e.note.n) for e in again] == [("updated", 3)]


def test_severity_changes_for_a_subscriber_with_a_least_severity():
    s = sub(min_severity="critical")
    info = rec(severity="info")
    crit = {**info, "severity": "critical", "updated": "2007-08-18T22:00:00+00:00"}
    low = {**crit, "severity": "warning", "updated": "2007-08-18T23:00:00+00:00"}
    out = _plan([s], [Incoming(x, 0, i) for i, x in enumerate([info, crit, low])])
    # not told of it while info; new when it becomes critical; told it went down to warning
    assert [(e.note.event, orjson.loads(e.body)["finding"]["severity"]) for e in out] == [
        ("new", "critical"),
        ("updated", "warning"),
    ]


def test_out_of_scope_pairs_are_never_notified():
    s = sub(regions=["ALA"])
    assert plan([s], [Incoming(rec(), 0, 1)], {}, NOW) == []


def test_the_body_is_the_record_wrapped_with_the_event():
    s = sub()
    a = rec()
    [e] = _plan([s], [Incoming(a, 0, 1)])
    assert orjson.loads(e.body) == {
        "event": "new",
        "delivery_id": a["finding_id"] + ".1",
        "subscription_id": s.sub_id,
        "finding": a,
    }
    assert e.entry["status"] == "pending" and e.entry["digest"] == content_digest(a)


_REST = b'"kind":"k","unit_id":"KZ","explanation":"x","evidence":{}'


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (None, "malformed_json"),
        (b"", "malformed_json"),
        (b"not json", "malformed_json"),
        (b"[]", "not_an_object"),
        (b"null", "not_an_object"),
        (b'"finding"', "not_an_object"),
        (b'{"type":"turnout"}', "wrong_type"),
        (b'{"type":"finding","finding_id":"a\\"b","severity":"info",' + _REST + b"}", "bad_value"),
        (b'{"type":"finding","finding_id":"ab","severity":"loud",' + _REST + b"}", "bad_value"),
        (b'{"type":"finding","finding_id":"ab",' + _REST + b"}", "missing_field"),
        (b'{"type":"finding","finding_id":7,"severity":"info",' + _REST + b"}", "wrong_type"),
        (
            b'{"type":"finding","finding_id":"ab","severity":"info","updated":[1],' + _REST + b"}",
            "wrong_type",
        ),
        (
            b'{"type":"finding","finding_id":"ab","severity":"info","rec_id":"'
            + b"A" * 65
            + b'",'
            + _REST
            + b"}",
            "bad_value",
        ),
    ],
)
def test_records_that_are_not_findings_are_refused_with_a_code(raw, code):
    with pytest.raises(ValueError) as info:
        decode(raw)
    assert isinstance(info.value, model.Unusable) and info.value.code == code
    assert info.value.code in model.REJECTIONS and str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("end", ["\n", "\r", "\r\n", "\x00", " "])
def test_a_finding_id_with_a_final_newline_is_refused(end):
    """``$`` matched before a final newline: the id then broke the X-Tabmon-Delivery header at
    every attempt, and the subscriber's sender retried it for ever."""
    record = rec()
    model.check_finding(dict(record))
    with pytest.raises(model.Unusable, match="finding_id") as info:
        decode(orjson.dumps({**record, "finding_id": record["finding_id"] + end}))
    assert info.value.code == "bad_value"


def nested(depth: int, record: dict | None = None) -> bytes:
    """A finding whose evidence is ``depth`` objects deep, written by hand: orjson would refuse."""
    deep = b'{"a":' * depth + b"1" + b"}" * depth
    return orjson.dumps({**(record or rec()), "evidence": "EVIDENCE"}).replace(b'"EVIDENCE"', deep)


def test_evidence_nested_300_deep_is_refused_by_decode_with_a_reason():
    # orjson reads it (up to 1024 levels) but cannot write it again (at most 254), and the
    # notifier writes every finding again: its digest, the body it signs
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(orjson.loads(nested(300)))
    with pytest.raises(model.Unusable, match="nested 301 levels deep") as info:
        decode(nested(300))
    assert info.value.code == "too_deep"
    with pytest.raises(model.Unusable) as info:
        decode(nested(2000))  # beyond orjson's own limit
    assert info.value.code == "malformed_json"
    # the deepest record accepted is written again with room to spare
    deepest = decode(nested(model.MAX_DEPTH - 1))
    assert model.nesting(deepest) == model.MAX_DEPTH
    [e] = _plan([sub()], [Incoming(deepest, 0, 1)])
    assert orjson.loads(e.body)["finding"] == deepest
    with pytest.raises(model.Unusable):
        decode(nested(model.MAX_DEPTH))


def test_real_findings_pass_as_they_are():
    for record in (rec(), rec("summary_mismatch", unit="KZ", station=None), rec("forensic_last_digit")):
        assert decode(orjson.dumps(record)) == record
    bare = {k: v for k, v in rec().items() if k not in ("station_id", "rec_id", "first_seen", "updated")}
    assert decode(orjson.dumps(bare)) == bare
    assert model.nesting({"a": [1, {"b": []}]}) == 4 and model.nesting(5) == 0


# -- signing -----------------------------------------------------------------------------------------
def test_signature_verifies_on_the_receiver_side():
    secret = "0123456789abcdef0123"
    body = _plan([sub()], [Incoming(rec(), 0, 1)])[0].body
    header = sign(body, secret)
    # what a receiver writes, without tabmon's code
    mine = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mine, header)
    assert verify(body, header, secret)
    assert not verify(body + b" ", header, secret)
    assert not verify(body, header, secret + "x")
    assert not verify(body, header.replace("sha256=", "sha1="), secret)


# -- retrying ----------------------------------------------------------------------------------------
def test_backoff_doubles_up_to_the_cap_without_jitter():
    b = Backoff(base=0.5, cap=10, jitter=0)
    assert [b.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert b.delay(10_000) == 10


def test_backoff_jitter_stays_in_its_share_and_spreads():
    b = Backoff(base=1, cap=300, jitter=0.5)
    rng = random.Random(1)
    delays = [b.delay(4, rng) for _ in range(500)]
    assert all(4 <= d <= 8 for d in delays)  # full wait 8 s, half of it drawn at random
    assert max(delays) - min(delays) > 3.5
    assert all(b.delay(30, rng) <= 300 for _ in range(100))


def test_refusals_are_bounded_unavailability_is_not():
    b = Backoff(max_refusals=3)
    assert not b.gives_up(2) and b.gives_up(3)
    assert [outcome(x) for x in (200, 204, None, 503, 429, 408, 502, 504, 400, 401, 500, 301)] == [
        "delivered",
        "delivered",
        *["unavailable"] * 6,
        *["refused"] * 4,
    ]


# -- settings and metrics ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TABMON_NOTIFY_LEASE": "5", "TABMON_NOTIFY_TIMEOUT": "5"}, "must be longer than"),
        ({"TABMON_NOTIFY_JITTER": "1.5"}, "TABMON_NOTIFY_JITTER"),
        ({"TABMON_NOTIFY_MAX_REFUSALS": "0"}, "TABMON_NOTIFY_MAX_REFUSALS"),
        ({"TABMON_NOTIFY_BACKOFF_BASE": "0"}, "TABMON_NOTIFY_BACKOFF_BASE"),
        ({"TABMON_NOTIFY_POLL_INTERVAL": "nan"}, "TABMON_NOTIFY_POLL_INTERVAL"),
    ],
)
def test_notify_settings_are_checked(env, says):
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(env)


def test_metrics_in_a_fresh_registry():
    r = CollectorRegistry()
    m = NotifyMetrics.create(r)
    NotifyMetrics.create(CollectorRegistry())  # a second container does not collide
    m.deliveries.labels("s-1", "delivered").inc(3)
    m.retries.labels("s-1", "unavailable").inc()
    m.pending.labels("s-1").set(7)
    m.enqueued.labels("updated").inc()
    assert (
        r.get_sample_value("tabmon_notify_deliveries_total", {"subscription": "s-1", "status": "delivered"})
        == 3
    )
    assert (
        r.get_sample_value("tabmon_notify_retries_total", {"subscription": "s-1", "outcome": "unavailable"})
        == 1
    )
    assert r.get_sample_value("tabmon_notify_pending", {"subscription": "s-1"}) == 7
    assert r.get_sample_value("tabmon_notify_enqueued_total", {"event": "updated"}) == 1


# -- the documentation -----------------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def test_the_receiver_snippet_in_the_docs_verifies_real_signatures():
    text = DOC.read_text()
    snippet = re.search(r"## Verifying the signature.*?```python\n(.*?)```", text, re.S).group(1)
    serve = 'HTTPServer(("0.0.0.0", 8080), Hook).serve_forever()'
    assert serve in snippet
    code = snippet.replace(serve, "")  # define everything, serve nothing
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)  # noqa: S102 - our own documentation
    body = _plan([sub()], [Incoming(rec(), 0, 1)])[0].body
    secret = "0123456789abcdef0123"
    assert scope["verified"](body, sign(body, secret), secret)
    assert not scope["verified"](body, sign(body, secret + "!"), secret)


def test_the_docs_name_every_metric_and_setting_of_the_notifier():
    text = DOC.read_text()
    r = CollectorRegistry()
    NotifyMetrics.create(r)
    names = {m.name + ("_total" if m.type == "counter" else "") for m in r.collect()}
    documented = set(re.findall(r"`(tabmon_notify_[a-z_]+)`", text))
    assert documented == names
    settings = {f"TABMON_{n.upper()}" for n in Settings.__dataclass_fields__ if n.startswith("notify_")}
    assert set(re.findall(r"`(TABMON_NOTIFY_[A-Z_]+)`", text)) == settings


@pytest.mark.parametrize("url", ["http://a..b/", "http://[::1/", "http://" + "x" * 64 + ".org/"])
def test_a_webhook_aiohttp_could_not_use_is_refused_when_subscribing(url):
    with pytest.raises(ConfigError, match="is not a valid URL"):
        model.check_webhook(url)


@pytest.mark.parametrize("drop", ["evidence", "explanation"])
def test_a_finding_without_evidence_or_explanation_is_skipped_not_fatal(drop):
    record = {
        "type": "finding",
        "v": 1,
        "finding_id": "f1",
        "kind": "late_protocol",
        "severity": "warning",
        "unit_id": "KAR-T01",
        "evidence": {},
        "explanation": "x",
    }
    model.check_finding(dict(record))
    del record[drop]
    with pytest.raises(ValueError, match=drop):
        model.check_finding(record)


# -- records the notifier cannot use: one at a time, never the batch -----------------------------------
def hostile() -> dict[str, bytes | None]:
    """What a record on `alerts` could hold, beside findings, by the code it is refused with."""
    r = rec(station="AKM-999")
    return {
        "bad_value": orjson.dumps({**r, "finding_id": r["finding_id"] + "\n"}),
        "too_deep": nested(300),
        "malformed_json": b"{not json",
        "not_an_object": b"[1, 2]",
    }


def batch_of(values: list[bytes | None], topic: str = "t.alerts") -> dict:
    """A fetched batch as aiokafka gives it: offsets 0.. on partition 0."""
    tp = TopicPartition(topic, 0)
    return {
        tp: [
            SimpleNamespace(topic=topic, partition=0, offset=i, key=None, value=v)
            for i, v in enumerate(values)
        ]
    }


def test_triage_keeps_the_findings_and_rejects_the_rest_with_a_reason():
    good = [rec(station=f"AKM-{n}") for n in range(3)]
    bad = hostile()
    values = [orjson.dumps(good[0]), *bad.values(), orjson.dumps(good[1]), None, orjson.dumps(good[2])]
    found, rejected = triage(batch_of(values))
    assert [(i.finding, i.offset) for i in found] == [(good[0], 0), (good[1], 5), (good[2], 7)]
    assert [(r.offset, r.code) for r in rejected] == [
        (1, "bad_value"),
        (2, "too_deep"),
        (3, "malformed_json"),
        (4, "not_an_object"),
        (6, "malformed_json"),
    ]
    assert all(r.reason and r.raw == values[r.offset] and r.error is None for r in rejected)


class MemoryStore:
    """The store's part in recording, in memory: the Redis one runs in the integration tests."""

    def __init__(self, subs: list[Subscription]) -> None:
        self.subs = {s.sub_id: s for s in subs}
        self.state: dict = {}
        self.recorded: list = []

    async def subscriptions(self):
        return dict(self.subs)

    async def seen(self, pairs):
        return [self.state.get(p) for p in pairs]

    async def enqueue(self, items):
        for it in items:
            self.state[(it.note.sub_id, it.note.finding_id)] = it.note.seen
            self.recorded.append(it)
        return [1] * len(items)


class Producer:
    """Takes dead letters as aiokafka's producer does: ``send`` gives a future, done at the ack."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict]] = []

    async def send(self, topic, value, key):
        self.sent.append((topic, key, orjson.loads(value)))
        ack = asyncio.get_running_loop().create_future()
        ack.set_result(None)
        return ack


def _consumer(subs: list[Subscription]) -> tuple[Consumer, MemoryStore, Producer, list[str]]:
    woken: list[str] = []
    store = MemoryStore(subs)
    c = Consumer(Settings.from_env({}, topic_prefix="t."), store, NotifyMetrics.create(), woken.append)
    c.producer = Producer()
    return c, store, c.producer, woken


def test_a_batch_mixing_findings_and_hostile_records_records_the_findings_and_dead_letters_the_rest(
    monkeypatch,
):
    s = sub()
    good = [rec(station=f"AKM-{n}") for n in range(3)]
    boom = rec(station="AKM-666")  # a valid finding on which deciding raises: a bug, its alone
    real_payload = consume.payload

    def payload(note, finding):
        if finding["finding_id"] == boom["finding_id"]:
            raise KeyError("no such thing")
        return real_payload(note, finding)

    monkeypatch.setattr(consume, "payload", payload)
    bad = hostile()
    values = [
        *bad.values(),
        orjson.dumps(good[0]),
        orjson.dumps(boom),
        orjson.dumps(good[1]),
        orjson.dumps(good[2]),
    ]
    c, store, producer, woken = _consumer([s])
    asyncio.run(c._handle(batch_of(values)))
    assert [it.note.finding_id for it in store.recorded] == [f["finding_id"] for f in good]
    assert woken == [s.sub_id] * 3
    letters = {v["offset"]: v for _topic, _key, v in producer.sent}
    assert {t for t, _k, _v in producer.sent} == {"t.deadletter"}
    assert {k for _t, k, _v in producer.sent} == {f"t.alerts/0/{n}".encode() for n in (0, 1, 2, 3, 5)}
    assert {n: v["code"] for n, v in letters.items()} == {
        0: "bad_value",
        1: "too_deep",
        2: "malformed_json",
        3: "not_an_object",
        5: "bug",
    }
    assert letters[5]["reason"] == "unexpected KeyError while deciding: \"'no such thing'\""
    assert all(v["type"] == "rejected" and v["topic"] == "t.alerts" for v in letters.values())
    assert all(original_bytes(letters[n]) == values[n] for n in letters)
    r = c.metrics.registry
    assert r.get_sample_value("tabmon_notify_findings_consumed_total") == 3
    assert {
        code: r.get_sample_value("tabmon_notify_invalid_records_total", {"reason": code})
        for code in model.REJECTIONS
    } == {
        "malformed_json": 1,
        "not_an_object": 1,
        "wrong_type": 0,
        "missing_field": 0,
        "bad_value": 1,
        "too_deep": 1,
        "bug": 1,
    }
    # read again (no commit): the rejections are the same, nothing is recorded twice
    asyncio.run(c._handle(batch_of(values)))
    assert len(store.recorded) == 3 and len(producer.sent) == 10


def test_memory_running_out_is_not_one_records_fault(monkeypatch):
    def payload(note, finding):
        raise MemoryError

    monkeypatch.setattr(consume, "payload", payload)
    c, store, producer, _woken = _consumer([sub()])
    with pytest.raises(MemoryError):
        asyncio.run(c._handle(batch_of([orjson.dumps(rec())])))
    assert store.recorded == [] and producer.sent == []


def test_a_delivery_id_recorded_before_ids_were_matched_whole_is_given_up_not_retried_for_ever():
    s = sub()
    did = "f-1\n.1"
    entry = {
        "delivery_id": did,
        "finding_id": "f-1\n",
        "event": "new",
        "attempts": 0,
        "refusals": 0,
        "status": "pending",
        "next_attempt_at": 0,
    }
    saved: list[dict] = []

    class Store:
        async def body(self, sub_id, delivery_id):
            return b"{}"

        async def save(self, sub_id, e):
            saved.append(dict(e))

    async def attempt() -> str:
        async with aiohttp.ClientSession() as http:
            d = Delivery(
                Store(), http, NotifyMetrics.create(), Backoff(), timeout=1, lease=5, poll=1, holder="test"
            )
            return await Sender(s, d).attempt(did, entry)

    assert asyncio.run(attempt()) == "refused"
    assert [(e["status"], e["attempts"]) for e in saved] == [("failed", 0)]
    assert "header" in saved[-1]["last_error"]
    assert model.usable_delivery_id(rec()["finding_id"] + ".12")


def test_the_docs_list_every_rejection_code():
    section = re.search(r"## Records it cannot use\n(.*?)\n## ", DOC.read_text(), re.S).group(1)
    assert re.findall(r"^\| `([a-z_]+)` \|", section, re.M) == list(model.REJECTIONS)
