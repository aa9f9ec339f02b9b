"""Scoring detectors against a known truth (monitor.drill.quality), and the detectors themselves
scored on a small injected election run through the in-memory tally."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from monitor.detect import Finding, detect_all
from monitor.detect.findings import to_record
from monitor.drill import harness as quality_run
from monitor.drill import quality
from producers.elections.scenarios.inject import KINDS, inject
from producers.elections.synthetic import generate


@dataclass(frozen=True)
class Truth:
    kind: str
    unit_id: str
    station_id: str | None
    index: int = 0
    subject: str = ""
    implied_by: str = ""


def finding(kind: str, station: str | None, unit: str = "ALR-T01", subject: str = "", **evidence) -> Finding:
    level = "pec" if station else "tec"
    return Finding(kind, "warning", level, unit, station, evidence, "x.", subject=subject)


# -- scoring on hand-made cases ----------------------------------------------------------------


def test_counts_precision_and_recall_per_kind():
    truth = [
        Truth("unanimous_result", "ALR-T01", "ALR-1"),
        Truth("unanimous_result", "ALR-T01", "ALR-2"),
        Truth("unanimous_result", "ALR-T02", "ALR-9"),
        Truth("summary_mismatch", "ALR-T03", None),
    ]
    found = [
        finding("unanimous_result", "ALR-1"),
        finding("unanimous_result", "ALR-2"),
        finding("unanimous_result", "ALR-5"),  # nothing there
        finding("summary_mismatch", None, unit="ALR-T03"),
        finding("turnout_jump", "ALR-1"),
    ]  # a kind never injected
    s = quality.score(truth, found)
    u = s["unanimous_result"]
    assert (u.injected, u.flagged, u.correct, u.detected) == (3, 3, 2, 2)
    assert u.precision == pytest.approx(2 / 3) and u.recall == pytest.approx(2 / 3)
    assert u.missed == [("station", "ALR-9")] and u.false == [("station", "ALR-5")]
    assert (s["summary_mismatch"].precision, s["summary_mismatch"].recall) == (1.0, 1.0)
    j = s["turnout_jump"]
    assert (j.injected, j.flagged, j.precision, j.recall) == (0, 1, 0.0, None)
    fails = quality.failures(s)
    assert any(f.startswith("unanimous_result: recall") for f in fails)
    assert any(f.startswith("unanimous_result: precision") for f in fails)
    assert any(f.startswith("turnout_jump: 1 findings where nothing") for f in fails)
    assert not any(f.startswith("summary_mismatch") for f in fails)


def test_a_finding_must_be_of_the_same_kind_at_the_same_place():
    truth = [Truth("protocol_altered", "ALR-T01", "ALR-1"), Truth("turnout_revised", "ALR", None)]
    found = [
        finding("arithmetic_inconsistent", "ALR-1"),  # right station, wrong kind
        finding("turnout_revised", "ALR-3", unit="ALR"),  # a station finding is not the unit's
        finding("turnout_revised", None, unit="AKM"),
    ]  # another unit
    s = quality.score(truth, found)
    assert s["protocol_altered"].detected == 0 and s["turnout_revised"].detected == 0
    assert s["turnout_revised"].correct == 0 and s["turnout_revised"].flagged == 2


def test_several_findings_of_one_anomaly_are_all_correct_and_detect_it_once():
    truth = [Truth("protocol_altered", "ALR-T01", "ALR-1")]
    found = [
        finding("protocol_altered", "ALR-1", subject="pec-tec"),
        finding("protocol_altered", "ALR-1", subject="pec-cec"),
    ]
    s = quality.score(truth, found)["protocol_altered"]
    assert (s.flagged, s.correct, s.detected, s.precision, s.recall) == (2, 2, 1, 1.0, 1.0)


def test_a_token_is_the_place_of_multiple_e_voting():
    truth = [Truth("evote_multiple", "KZ", "ALR-1", subject="abc")]
    right = finding("evote_multiple", None, unit="KZ", subject="abc", voter_token="abc")
    wrong = finding("evote_multiple", None, unit="KZ", subject="def", voter_token="def")
    s = quality.score(truth, [right, wrong])["evote_multiple"]
    assert (s.flagged, s.correct, s.detected) == (2, 1, 1)
    assert s.false == [("token", "def")]


def test_re_emissions_count_once_and_latency_is_from_send_to_first_arrival():
    truth = [
        Truth("late_protocol", "ALR-T01", "ALR-1", index=7),
        Truth("late_protocol", "ALR-T01", "ALR-2", index=9),
    ]
    f1, f2 = finding("late_protocol", "ALR-1"), finding("late_protocol", "ALR-2")
    r1 = to_record(f1, "2007-08-19T02:00:00Z", "2007-08-19T02:00:00Z")
    r1_again = {**r1, "updated": "2007-08-19T03:00:00Z", "evidence": {"more": 1}}
    r2 = to_record(f2, "2007-08-19T02:00:00Z", "2007-08-19T02:00:00Z")
    seen = [
        quality.as_seen(r1_again, arrived=12.0),
        quality.as_seen(r1, arrived=10.5),
        quality.as_seen(r2, arrived=20.0),
    ]
    s = quality.score(truth, seen, sent={7: 10.0, 9: 11.0})["late_protocol"]
    assert s.flagged == 2 and s.detected == 2
    assert sorted(s.latencies) == [pytest.approx(0.5), pytest.approx(9.0)]
    by_map = quality.score(
        truth, [r1, r2], sent={7: 10.0, 9: 11.0}, arrived={f1.finding_id: 13.0, f2.finding_id: 11.5}
    )["late_protocol"]
    assert sorted(by_map.latencies) == [pytest.approx(0.5), pytest.approx(3.0)]
    assert quality.score(truth, [r1, r2])["late_protocol"].latencies == []  # no times: no latency


def test_an_implied_entry_is_counted_and_a_duplicate_place_once():
    truth = [
        Truth("summary_mismatch", "ALR-T01", None, implied_by="protocol_altered"),
        Truth("summary_mismatch", "ALR-T01", None),
        Truth("summary_mismatch", "ALR-T02", None, implied_by="turnout_revised"),
    ]
    s = quality.score(truth, [])["summary_mismatch"]
    assert (s.injected, s.implied, s.recall) == (2, 1, 0.0)


def test_statistical_kinds_are_counted_but_not_held_to_the_targets():
    s = quality.score([], [finding("forensic_last_digit", None, unit="ALR")])
    assert s["forensic_last_digit"].flagged == 1 and s["forensic_last_digit"].statistical
    assert quality.failures(s) == []
    assert "forensic_last_digit (statistical)" in quality.table(s)


def test_percentile_is_nearest_rank():
    xs = [float(x) for x in range(1, 101)]
    assert quality.percentile(xs, 50) == 50.0 and quality.percentile(xs, 95) == 95.0
    assert quality.percentile(xs, 100) == 100.0 and quality.percentile([3.0], 95) == 3.0
    assert quality.percentile([], 50) is None


def test_the_table_has_a_line_per_kind_with_its_figures():
    truth = [Truth("unanimous_result", "ALR-T01", "ALR-1", index=1)]
    seen = quality.as_seen(finding("unanimous_result", "ALR-1"), arrived=3.25)
    s = quality.score(truth, [seen], sent={1: 1.0})
    lines = quality.table(s).splitlines()
    assert lines[0].split()[:3] == ["kind", "injected", "implied"]
    assert lines[2].split() == [
        "unanimous_result",
        "1",
        "0",
        "1",
        "1",
        "1",
        "1.000",
        "1.000",
        "2.25",
        "2.25",
        "2.25",
    ]


# -- the detectors on a small injected election ------------------------------------------------


@pytest.fixture(scope="module")
def small():
    clean = generate(240, 24, seed=43, evote_ballots=700)
    return clean, inject(clean, per_kind=4, seed=11)


def test_the_detectors_meet_the_targets_on_injected_scenarios(small):
    _clean, sc = small
    seen = quality_run.run(sc.election.registry, sc.election.events, sc.thresholds)
    scores = quality.score(sc.injections, [s.finding for s in seen.values()])
    print(quality.table(scores))
    assert set(KINDS) <= set(scores)
    assert quality.failures(scores) == []


def test_a_clean_election_gives_no_finding(small):
    clean, sc = small
    seen = quality_run.run(clean.registry, clean.events, sc.thresholds)
    assert [s.finding.explanation for s in seen.values()] == []


def test_the_incremental_run_finds_what_detect_all_finds():
    sc = inject(generate(120, 12, seed=44, evote_ballots=300), per_kind=2, seed=12)
    every = timedelta(hours=1)
    full = quality_run.run(sc.election.registry, sc.election.events, sc.thresholds, every=every, full=True)
    inc = quality_run.run(sc.election.registry, sc.election.events, sc.thresholds, every=every)
    assert len(full) > 20

    def first(run):
        return {k: (v.index, v.finding) for k, v in run.items()}

    assert first(inc) == first(full)


def test_late_protocols_are_flagged_even_when_no_check_fell_between_deadline_and_arrival(small):
    _clean, sc = small
    late = [i for i in sc.injections if i.kind == "late_protocol" and i.variant == "late"]
    assert late
    # one run that only looks at the very end: the late protocols have arrived by then, and
    # their own recorded time says they were late
    seen = quality_run.run(sc.election.registry, sc.election.events, sc.thresholds, every=timedelta(days=9))
    found = {s.finding.station_id: s.finding for s in seen.values() if s.finding.kind == "late_protocol"}
    assert {i.station_id for i in late} <= set(found)
    assert all(found[i.station_id].evidence["pec_recorded_at"] for i in late)
    never = {i.station_id for i in sc.injections if i.kind == "late_protocol" and i.variant == "never"}
    assert never and never <= set(found)
    assert all(found[sid].evidence["pec_recorded_at"] is None for sid in never)


def test_detect_all_over_the_final_state_agrees(small):
    """The last checkpoint of a run is detect_all over the final tally state."""
    from monitor.testing import InMemoryTally

    _clean, sc = small
    tally = InMemoryTally(sc.election.registry, partitions=4)
    tally.feed_events(sc.election.events)
    tokens = tally.tokens()
    final = detect_all(
        tally.stations, tally.snapshot(), tokens, tally.registry, sc.thresholds, sc.election.events[-1].at
    )
    seen = quality_run.run(sc.election.registry, sc.election.events, sc.thresholds)
    assert {f.finding_id for f in final} <= set(seen)
