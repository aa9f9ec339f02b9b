"""Turnout detectors of one station (stage one): its own pace and additions to its list."""

from __future__ import annotations

import pytest
from detect_cases import paced, turnout_doc

from monitor.detect import Thresholds, turnout_findings


def _run(doc, t=None):
    return turnout_findings("AKM-1", "AKM-T01", doc, t or Thresholds())


def _jumps(doc, t=None):
    return [(f.subject, f.evidence["seq"]) for f in _run(doc, t) if f.kind == "turnout_jump"]


# -- turnout_jump against the station's own pace -------------------------------------------------


def test_an_even_day_gives_nothing():
    assert _run(paced(1000, [100, 120, 110, 100, 90, 100])) == []


@pytest.mark.parametrize(
    ("registered", "last", "flagged"),
    [
        (1000, 300, True),  # three times the median of 100, +200 voters, +20 points
        (1000, 299, False),  # under three times
        (2000, 300, True),  # +200 voters = exactly 10 points of the list
        (2001, 300, False),  # 9.995 points
    ],
)
def test_pace_ratio_and_share_of_the_list(registered, last, flagged):
    got = _jumps(paced(registered, [100, 100, 100, 100, 100, last]))
    assert got == ([("pace-6", 6)] if flagged else [])


@pytest.mark.parametrize(("last", "flagged"), [(60, True), (59, False)])
def test_pace_needs_fifty_voters_above_the_pace(last, flagged):
    # a small list: 6 times the pace and 16 points, but the excess must be 50 voters
    assert _jumps(paced(300, [10, 10, 10, 10, 10, last])) == ([("pace-6", 6)] if flagged else [])


def test_a_jump_early_in_the_day_is_found_when_the_later_reports_are_in():
    doc = paced(1000, [400, 100, 100])
    assert _jumps(doc) == [("pace-1", 1)]
    f = _run(doc)[0]
    assert f.evidence["ratio"] == 4.0 and f.evidence["own_median_voters"] == 100
    assert f.severity == "warning" and "before its report 1" in f.explanation


def test_two_windows_are_not_yet_a_pace():
    assert _jumps(paced(1000, [100, 900])) == []
    assert _jumps(paced(1000, [100, 900]), Thresholds(pace_min_windows=2)) == [("pace-2", 2)]


def test_a_missing_report_is_not_read_as_a_doubled_window():
    # reports 1, 2, 4, 5: 200 voters between 2 and 4 are 100 per interval, the usual pace
    doc = turnout_doc((1000, 0, 100), (1000, 0, 200), (1000, 0, 400), (1000, 0, 500), seqs=(1, 2, 4, 5))
    assert _jumps(doc, Thresholds(pace_ratio=1.5, jump_min_votes=1, jump_min_points=0)) == []


def test_after_almost_nothing_any_large_window_is_a_jump():
    [f] = _run(paced(1000, [0, 0, 0, 0, 0, 200]))
    assert f.evidence["ratio"] is None and "almost none" in f.explanation


# -- list_additions at one station ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "added", "expected"),
    [
        (1000, 50, "warning"),  # 5 % and 50 voters: both thresholds met
        (1000, 49, None),  # 4.9 %, 49 voters
        (1001, 50, None),  # 50 voters but 4.995 % of the list
        (500, 30, None),  # 6 % but only 30 voters
        (1000, 149, "warning"),
        (1000, 150, "critical"),  # 15 % of the list
    ],
)
def test_additions_need_both_the_share_and_the_number(registered, added, expected):
    doc = turnout_doc((registered - added, 0, 10), (registered, added, 300))
    got = [(f.severity, f.evidence["seq"]) for f in _run(doc) if f.kind == "list_additions"]
    assert got == ([(expected, 2)] if expected else [])


def test_additions_are_read_from_the_latest_report_whatever_the_arrival_order():
    doc = {"reports": {"3": [1100, 100, 500], "1": [1000, 0, 100]}}
    [f] = [f for f in _run(doc) if f.kind == "list_additions"]
    assert f.evidence["added"] == 100 and f.evidence["percent_of_list"] == pytest.approx(9.09)
    assert f.evidence["percent_of_voters"] == 20.0 and f.subject == "station"


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"reports": None},
        {"reports": []},
        {"reports": {"1": [0, 0, 0]}},
        {"reports": {"1": [0, 0, 0], "2": [0, 0, 500]}},  # zero registered: nothing to compare with
        {"reports": {"x": [1000, 50, 100], "0": [1000, 500, 100], "-1": [1, 1, 1]}},
        {"reports": {"1": [1000, 0], "2": [1000, 0, "5"], "3": None, "4": [1000.0, 0, 9]}},
        {"reports": {"1": [1000, 0, 500], "2": [1000, 0, 100], "3": [1000, 0, 50]}},  # going down
        None,
        [],
    ],
)
def test_partial_data_says_nothing_and_never_raises(doc):
    assert _run(doc) == []
