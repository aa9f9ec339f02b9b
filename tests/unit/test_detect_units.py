"""Unit detectors over the stage-two snapshot: summary_mismatch, turnout_revised and
valid_exceeds_turnout, on hand-made nights fed through the real tally."""

from __future__ import annotations

import copy
import math

import pytest
from detect_cases import Night, figures, moved, total

from monitor.detect import Thresholds, unit_findings

F = [figures(), figures(voted=500, votes=(50, 440, 0)), figures(voted=700, votes=(200, 480, 10))]
STATIONS = ("AKM-1", "AKM-2", "AKM-3")


def _of(units, kind, t=None):
    return {f.unit_id: f for f in unit_findings(units, t or Thresholds()) if f.kind == kind}


def _pec_night(n=3):
    night = Night()
    for sid, f in zip(STATIONS[:n], F[:n], strict=True):
        night.protocol(sid, f)
    return night


# -- summary_mismatch ----------------------------------------------------------------------------


def test_a_summary_equal_to_its_stations_gives_nothing():
    night = _pec_night().summary("tec", "AKM-T01", total(*F), 3).summary("rec", "AKM", total(*F), 3)
    assert unit_findings(night.units()) == []


def test_a_tec_summary_is_compared_with_its_stations_pec_protocols():
    # the Rudniy case (report XIV fn 93): the TEC's figures give Nur Otan more than the PEC
    # protocols add up to, and ANSDP less
    night = _pec_night().summary("tec", "AKM-T01", moved(total(*F), A=-30, B=30), 3)
    f = _of(night.units(), "summary_mismatch")["AKM-T01"]
    assert (f.severity, f.level, f.station_id) == ("critical", "tec", None)
    assert f.evidence["delta"] == {"A": -30, "B": 30} and f.evidence["net_beneficiary"] == "B"
    assert f.evidence["children_in"] == 3 and f.evidence["children_total"] == 3
    assert f.evidence["complete"] is True and "+30 votes for B" in f.explanation


def test_while_stations_are_missing_only_a_shortfall_counts():
    # two of three PEC protocols in: the summary's excess may be the third station's ...
    night = _pec_night(2).summary("tec", "AKM-T01", moved(total(*F), B=30), 3)
    assert _of(night.units(), "summary_mismatch") == {}
    # ... but fewer votes than two stations already have cannot be explained by the third
    night = _pec_night(2).summary("tec", "AKM-T01", moved(total(F[0], F[1]), A=-1, B=1), 3)
    f = _of(night.units(), "summary_mismatch")["AKM-T01"]
    assert f.evidence["delta"] == {"A": -1} and f.evidence["complete"] is False
    assert f.evidence["children_in"] == 2 and "(2 of 3 in)" in f.explanation


def test_a_summary_of_fewer_stations_than_are_in_says_nothing():
    night = _pec_night().summary("tec", "AKM-T01", moved(total(F[0], F[1]), A=-5), 2)
    assert _of(night.units(), "summary_mismatch") == {}


def test_a_rec_summary_is_compared_with_its_tecs_summaries():
    # a turnout revision (report XIV fn 91): ballots issued up, cancelled down, votes equal
    night = _pec_night().summary("tec", "AKM-T01", total(*F), 3)
    night.summary("rec", "AKM", moved(total(*F), issued_in_station=90, ballots_cancelled=-90), 3)
    f = _of(night.units(), "summary_mismatch")["AKM"]
    assert f.severity == "warning" and f.level == "rec"
    assert f.evidence["delta"] == {"ballots_cancelled": -90, "issued_in_station": 90}
    assert f.evidence["compared_with"] == "TECs' latest summaries" and f.evidence["net_beneficiary"] is None


def test_the_cec_summary_is_compared_with_the_regions_summaries():
    night = _pec_night().summary("rec", "AKM", total(*F), 3).summary("cec", "KZ", moved(total(*F), C=7), 3)
    f = _of(night.units(), "summary_mismatch")["KZ"]
    assert f.level == "cec" and f.evidence["delta"] == {"C": 7}


def test_only_the_latest_version_is_compared():
    night = _pec_night().summary("tec", "AKM-T01", moved(total(*F), B=5), 3)
    night.summary("tec", "AKM-T01", total(*F), 3, version=2)
    assert _of(night.units(), "summary_mismatch") == {}


# -- turnout_revised -----------------------------------------------------------------------------


def _revised(*participants, registered=1000):
    night = Night()
    for v, p in enumerate(participants, start=1):
        f = figures(registered=registered, voted=p, votes=(0, p, 0), invalid=0)
        night.summary("rec", "AKM", f, 3, version=v)
    return [
        (f.severity, f.evidence["from_version"], f.evidence["to_version"], f.evidence["points"])
        for f in unit_findings(night.units())
        if f.kind == "turnout_revised"
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (519, []),
        (520, [("warning", 1, 2, 2.0)]),
        (549, [("warning", 1, 2, 4.9)]),
        (550, [("critical", 1, 2, 5.0)]),
        (480, [("warning", 1, 2, -2.0)]),
    ],
)
def test_revision_edges(after, expected):
    assert _revised(500, after) == expected


def test_a_revision_in_small_steps_is_seen_against_the_first_version():
    assert _revised(500, 515, 530) == [("warning", 1, 3, 3.0)]


def test_a_revision_taken_back_is_seen_against_the_previous_version():
    assert _revised(500, 519, 499) == [("warning", 2, 3, -2.0)]


def test_each_revision_has_its_own_id():
    night = Night()
    for v, p in enumerate((500, 540, 580), start=1):
        night.summary("rec", "AKM", figures(voted=p, votes=(0, p, 0), invalid=0), 3, version=v)
    found = [f for f in unit_findings(night.units()) if f.kind == "turnout_revised"]
    assert [f.subject for f in found] == ["v2", "v3"] and len({f.finding_id for f in found}) == 2


# -- valid_exceeds_turnout for a unit ------------------------------------------------------------


def _exceeding(excess, reports=(6, 6, 6)):
    """Three stations: final reports of 600 voters each, protocols with ``excess`` more valid
    votes in all (at the first station)."""
    night = Night()
    for i, (sid, seq) in enumerate(zip(STATIONS, reports, strict=True)):
        night.turnout(sid, seq, 1000, 0, 600)
        f = figures(votes=(100, 500 + (excess if i == 0 else 0), 0), invalid=0)
        night.protocol(sid, f, source="cec")
    return night


@pytest.mark.parametrize(("excess", "flagged"), [(9, False), (10, True)])
def test_valid_votes_above_the_final_reports(excess, flagged):
    found = _of(_exceeding(excess).units(), "valid_exceeds_turnout")
    assert sorted(found) == (["AKM", "AKM-T01", "KZ"] if flagged else [])
    if flagged:
        f = found["AKM"]
        assert (f.evidence["voted"], f.evidence["excess"], f.evidence["basis"]) == (1800, 10, "official")
        assert f.severity == "critical"


def test_for_a_unit_the_excess_must_also_be_half_a_percent_of_its_voters():
    t = Thresholds(valid_excess_unit_share=0.01)  # 18 of 1,800 voters
    assert _of(_exceeding(17).units(), "valid_exceeds_turnout", t) == {}
    assert sorted(_of(_exceeding(18).units(), "valid_exceeds_turnout", t)) == ["AKM", "AKM-T01", "KZ"]


def test_without_every_final_report_a_unit_says_nothing():
    # one station's latest report is the 18:00 one: its voters are not all in
    assert _of(_exceeding(100, reports=(6, 6, 5)).units(), "valid_exceeds_turnout") == {}


def test_a_summary_above_the_final_reports_counts_too():
    night = Night()
    for sid in STATIONS:
        night.turnout(sid, 6, 1000, 0, 600)
    night.summary("rec", "AKM", total(*[figures(votes=(100, 500, 10))] * 3), 3)
    f = _of(night.units(), "valid_exceeds_turnout")["AKM"]
    assert (f.evidence["basis"], f.evidence["excess"], f.evidence["summary_version"]) == ("summary", 30, 1)


# -- odd snapshots -------------------------------------------------------------------------------


def _corrupt(units, path, value):
    units = copy.deepcopy(units)
    node = units
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return units


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("AKM-T01", "summary"), None),
        (("AKM-T01", "summary", "votes"), {"A": "x"}),
        (("AKM-T01", "summary", "stations_included"), None),
        (("AKM-T01", "protocol"), []),
        (("AKM-T01", "protocol", "stations_reported"), 0),
        (("AKM-T01", "summary", "votes"), {"Z": 1}),
        (("AKM-T01", "level"), "pec"),
        (("AKM-T01", "summary", "registered"), -5),
    ],
)
def test_an_odd_snapshot_says_nothing_and_never_raises(path, value):
    units = _pec_night().summary("tec", "AKM-T01", moved(total(*F), B=30), 3).units()
    assert "AKM-T01" in _of(units, "summary_mismatch")  # the finding the corruption removes
    assert "AKM-T01" not in _of(_corrupt(units, path, value), "summary_mismatch")


@pytest.mark.parametrize(
    "units",
    [
        {},
        None,
        [],
        {"KZ": None},
        {"KZ": {"level": "cec"}},
        {"KZ": {"level": "cec", "summary_versions": [None, 3]}},
        {"KZ": {"level": "cec", "turnout": {"by_report": {"6": {"voted": 10, "stations_reported": "all"}}}}},
        {"KZ": {"level": "cec", "summary_versions": [{"version": 1, "registered": 0}]}},
    ],
)
def test_missing_parts_say_nothing(units):
    assert unit_findings(units) == []


# -- waiting for the inputs to be read (live, partitions are read at different paces) --------


def test_a_summary_waits_until_everything_recorded_before_it_is_read():
    """The drill through the real pipeline once read a TEC summary before a station's revised
    PEC protocol recorded hours earlier, and flagged a mismatch the final state does not have.
    A summary is compared only once every input partition is read past its time."""
    from datetime import datetime

    night = _pec_night().summary("tec", "AKM-T01", moved(total(*F), A=-30, B=30), 3)
    units = night.units()
    at = datetime.fromisoformat(units["AKM-T01"]["summary"]["recorded_at"]).timestamp()
    mismatch = "summary_mismatch"
    assert _read(units, at - 1, mismatch) == {}  # a partition is still before the summary
    for read_to in (at, at + 3600, math.inf, None):  # read past it, to the end, in memory
        assert sorted(_read(units, read_to, mismatch)) == ["AKM-T01"]


def test_turnout_against_protocols_of_a_unit_waits_for_every_input_read_to_its_end():
    units = _exceeding(10).units()
    assert _read(units, 1e12, "valid_exceeds_turnout") == {}  # one partition behind, however far on
    assert sorted(_read(units, math.inf, "valid_exceeds_turnout")) == ["AKM", "AKM-T01", "KZ"]


def test_a_revision_never_waits():
    night = _pec_night().summary("tec", "AKM-T01", total(*F), 3)
    night.summary("tec", "AKM-T01", moved(total(*F), issued_in_station=100, ballots_cancelled=-100), 3, 2)
    assert sorted(_read(night.units(), 0.0, "turnout_revised")) == ["AKM-T01"]


def _read(units, read_to, kind):
    return {f.unit_id: f for f in unit_findings(units, Thresholds(), read_to) if f.kind == kind}
