"""The per-message step: every message is applied or rejected, and none raises out of it."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest

from monitor.alerting.runner import stage_one
from monitor.contract import build
from monitor.detect import Thresholds
from monitor.tally import PartitionStore, take_station_docs
from monitor.tally.intake import BUG, Intake
from producers.elections.synthetic import generate


@dataclass(frozen=True)
class Msg:
    offset: int
    key: bytes | None
    value: bytes | None


@pytest.fixture(scope="module")
def election():
    return generate(30, 6, seed=4, evote_ballots=60)


@pytest.fixture(scope="module")
def registry(election):
    return build(election.registry)


def _messages(election, topic: str) -> list[Msg]:
    events = [e for e in election.events if e.topic == topic]
    return [Msg(i, e.key.encode(), orjson.dumps(e.value)) for i, e in enumerate(events)]


def _intake(registry, kind: str) -> Intake:
    return Intake(PartitionStore(kind, registry), registry, 65536)


def test_a_bug_rejects_its_message_alone_and_the_partition_goes_on(election, registry, monkeypatch):
    msgs = _messages(election, "turnout")
    victim = msgs[3].key
    intake = _intake(registry, "turnout")
    real = intake.store.apply_record

    def apply(record):
        if record.station_id.encode() == victim:
            raise RecursionError("maximum recursion depth exceeded")
        return real(record)

    monkeypatch.setattr(intake.store, "apply_record", apply)
    res = intake.batch(msgs)
    bad = [m for m in msgs if m.key == victim]
    assert [r.offset for r in res.rejected] == [m.offset for m in bad]
    assert {r.code for r in res.rejected} == {BUG}
    assert all("RecursionError" in r.reason and r.error is not None for r in res.rejected)
    assert res.accepted == len(msgs) - len(bad)
    assert victim.decode() not in intake.store.turnout_reports
    assert len(intake.store.turnout_reports) == len({m.key for m in msgs}) - 1


def test_memory_errors_are_the_process_failing_not_the_message(election, registry, monkeypatch):
    intake = _intake(registry, "turnout")

    def apply(record):
        raise MemoryError

    monkeypatch.setattr(intake.store, "apply_record", apply)
    with pytest.raises(MemoryError):
        intake.batch(_messages(election, "turnout")[:1])


def test_below_the_committed_offset_nothing_is_rejected_or_forwarded_again(election, registry):
    msgs = _messages(election, "evote")
    deep = b'{"v":' + b"[" * 1000 + b"]" * 1000 + b"}"
    hostile = [Msg(len(msgs), b"x", deep), Msg(len(msgs) + 1, None, None)]
    first = _intake(registry, "evote").batch(msgs + hostile)
    assert [r.code for r in first.rejected] == ["bad_version", "malformed_json"]
    assert len(first.forwards) == len(msgs) and first.accepted == len(msgs)
    again = _intake(registry, "evote").batch(msgs + hostile, replay_until=len(msgs) + 2)
    assert again.rejected == [] and again.forwards == [] and again.replayed == len(msgs)
    assert again.clock == first.clock


def test_stage_one_detectors_raising_on_one_station_cost_that_station_alone(election, registry, monkeypatch):
    intake = _intake(registry, "protocols")
    intake.batch(_messages(election, "protocols"))
    docs = take_station_docs(intake.store)
    victim = sorted(docs)[0]
    import monitor.alerting.runner as runner

    real = runner.station_findings

    def findings(kind, sid, doc, reg, t):
        if sid == victim:
            raise ValueError("a detector bug")
        return real(kind, sid, doc, reg, t)

    monkeypatch.setattr(runner, "station_findings", findings)
    errors: list = []
    stage_one("protocols", docs, {}, registry, Thresholds(), errors)
    assert [what for what, _ in errors] == [f"station {victim}"]
    with pytest.raises(ValueError, match="a detector bug"):  # no list given: the caller's to handle
        stage_one("protocols", docs, {}, registry, Thresholds())
