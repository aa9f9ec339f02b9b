"""The emitter: a finding goes out once per content, keeps its id and first_seen."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from monitor.alerting import Emitter, content_digest
from monitor.alerting.runner import thresholds_from
from monitor.detect import Finding, Thresholds
from monitor.errors import ConfigError
from monitor.settings import Settings


class Broker:
    """An in-memory stand-in for aiokafka's send: awaiting it gives the delivery future."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, dict]] = []
        self.fail = fail

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        if self.fail:
            fut.set_exception(ConnectionError("broker gone"))
        else:
            self.sent.append((topic, key, orjson.loads(value)))
            fut.set_result(None)
        return fut


def finding(delta: int = 5, severity: str = "critical") -> Finding:
    return Finding(
        "protocol_altered",
        severity,
        "pec",
        "KAR-T01",
        "KAR-12",
        {"delta": {"Nur Otan": delta}},
        f"Nur Otan {delta:+} votes.",
        subject="pec-cec",
    )


def clock_from(*stamps: str):
    it = iter(stamps)
    return lambda: next(it)


def run(coro):
    return asyncio.run(coro)


def test_a_finding_is_sent_once_however_often_it_is_detected():
    broker = Broker()
    em = Emitter(broker.send, "alerts", None, "t", clock=clock_from("t1", "t2", "t3"))
    sent = run(em.emit([finding(), finding()]))
    assert len(sent) == 1 and len(broker.sent) == 1
    assert run(em.emit([finding()])) == []
    topic, key, rec = broker.sent[0]
    assert topic == "alerts" and key == rec["finding_id"].encode()
    assert rec["type"] == "finding" and rec["v"] == 1 and rec["rec_id"] == "KAR"
    assert rec["first_seen"] == rec["updated"] == "t1"


def test_changed_evidence_is_re_emitted_with_the_same_id_and_first_seen():
    broker = Broker()
    em = Emitter(broker.send, "alerts", None, "t", clock=clock_from("t1", "t2"))

    async def both():
        await em.emit([finding(5)])
        await em.emit([finding(7)])

    run(both())
    first, second = (r for _, _, r in broker.sent)
    assert first["finding_id"] == second["finding_id"]
    assert second["first_seen"] == "t1" and second["updated"] == "t2"
    assert second["evidence"]["delta"] == {"Nur Otan": 7}


def test_a_severity_change_alone_is_re_emitted():
    broker = Broker()
    em = Emitter(broker.send, "alerts", None, "t")

    async def both():
        await em.emit([finding(severity="warning")])
        await em.emit([finding(severity="critical")])

    run(both())
    assert [r["severity"] for _, _, r in broker.sent] == ["warning", "critical"]


def test_a_failed_delivery_raises_and_is_not_remembered():
    em = Emitter(Broker(fail=True).send, "alerts", None, "t")
    with pytest.raises(ConnectionError):
        run(em.emit([finding()]))
    broker = Broker()
    em._send = broker.send
    run(em.emit([finding()]))
    assert len(broker.sent) == 1  # sent again: it was never acknowledged


def test_the_digest_is_the_same_for_a_finding_and_its_record():
    from monitor.detect.findings import to_record

    f = finding()
    assert content_digest(f) == content_digest(orjson.loads(orjson.dumps(to_record(f, "a", "b"))))
    assert content_digest(f) != content_digest(finding(6))


def test_thresholds_file_overrides_by_name(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        '{"min_voters": 300, "turnout_warning": 1, "protocol_grace": 3600,'
        ' "polls_close": "2007-08-18T20:00:00+06:00"}'
    )
    t = thresholds_from(Settings(thresholds_file=str(path)))
    assert t.min_voters == 300 and t.turnout_warning == 1.0
    assert t.protocol_grace.total_seconds() == 3600 and t.polls_close.utcoffset().seconds == 6 * 3600
    assert t.unanimous_warning == Thresholds().unanimous_warning


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"no_such": 1}', "unknown threshold 'no_such'"),
        ('{"min_voters": "200"}', "min_voters must be int"),
        ('{"polls_close": "20:00"}', "polls_close must be an ISO 8601 time"),
        ('{"polls_close": "2007-08-18T20:00:00"}', "polls_close must carry a UTC offset"),
        ('{"protocol_grace": -1}', "protocol_grace must be a number of seconds"),
        ('{"min_voters": -1}', "min_voters must be >= 0"),
        ("[1]", "must be a JSON object"),
        ("{", "not JSON"),
    ],
)
def test_a_bad_thresholds_file_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as exc:
        thresholds_from(Settings(thresholds_file=str(path)))
    assert "\n" not in str(exc.value)


def test_forget_drops_the_memory_of_what_was_sent():
    broker = Broker()
    em = Emitter(broker.send, "alerts", None, "t")

    async def twice():
        await em.emit([finding()])
        em.forget()  # with no Redis to recall from, the finding is new again
        await em.emit([finding()])

    run(twice())
    assert len(broker.sent) == 2
