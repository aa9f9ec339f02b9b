"""A clean synthetic election gives no finding of any kind, at the end and at every point of
the night; each anomaly injected into it gives exactly the findings it should."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from detect_cases import CLOSE, clean_election, state_of

from monitor.detect import Thresholds
from producers.elections.synthetic import ELECTION_DAY


def _found(election, until=None, t=None):
    return state_of(election, until).findings(t)


def test_a_clean_election_gives_no_finding():
    assert _found(clean_election()) == []


@pytest.mark.parametrize("hour", [11, 15, 20.25, 22, 24, 26, 30])
def test_nor_at_any_point_of_the_night(hour):
    # partial data must not look like an anomaly: summaries before their stations, reports
    # before the close, protocols before the reports
    assert _found(clean_election(), ELECTION_DAY + timedelta(hours=hour)) == []


@pytest.mark.slow
def test_a_large_clean_election_gives_no_finding():
    from producers.elections.synthetic import generate

    assert _found(generate(3000, 100, seed=9, evote_ballots=8000)) == []


# -- injections ----------------------------------------------------------------------------------


def _inject(change):
    """The clean election with ``change(events)`` applied to a deep copy of its events."""
    el = clean_election()
    events = [replace(e, value=copy.deepcopy(e.value)) for e in el.events]
    events = change(events) or events
    return replace(el, events=events)


def _station(pick):
    """The first station of the clean election whose final turnout report satisfies ``pick``."""
    truth = clean_election().truth
    return next(s for s in sorted(truth.turnout) if pick(truth.turnout[s]))


def _summary(events, uid):
    return next(e for e in events if e.topic == "summaries" and e.key == uid)


def _kinds(findings):
    return Counter((f.kind, f.station_id or f.unit_id, f.subject) for f in findings)


def test_a_burst_of_voters_in_one_window():
    sid = _station(lambda r: r["registered"] > 1000)

    def burst(events):
        extra = clean_election().truth.turnout[sid]["registered"] * 3 // 10
        for e in events:
            if e.topic == "turnout" and e.key == sid and e.value["seq"] >= 4:
                e.value["voted"] += extra  # 30 % of the list between 14:00 and 16:00

    assert _kinds(_found(_inject(burst))) == {
        ("turnout_jump", sid, "pace-4"): 1,
        ("turnout_jump", sid, "peers-4"): 1,
    }


def test_ballots_counted_after_the_close():
    sid = _station(lambda r: 500 <= r["registered"] <= 1900)

    def stuffed(events):
        extra = 100  # more than 5 % of the list
        for e in events:
            if e.topic == "protocols" and e.key == sid:
                f = e.value["figures"]
                f["issued_in_station"] += extra
                f["ballots_cancelled"] -= extra
                f["ballots_found"] += extra
                f["votes"]["Nur Otan"] += extra

    found = _kinds(_found(_inject(stuffed)))
    # the TEC's summary, made of the counts before, no longer adds up to its protocols
    tec = clean_election().truth.station_tec[sid]
    assert found == {
        ("turnout_jump", sid, "protocol"): 1,
        ("valid_exceeds_turnout", sid, ""): 1,
        ("summary_mismatch", tec, ""): 1,
    }


def test_additions_at_one_station_and_a_cluster_in_one_tec():
    truth = clean_election().truth
    big = _station(lambda r: 600 <= r["registered"] <= 1900)
    tec = truth.station_tec[big]
    small = [
        s
        for s in sorted(truth.turnout)
        if truth.station_tec[s] == tec and s != big and truth.turnout[s]["registered"] <= 900
    ][:2]
    added = {big: 100, small[0]: 30, small[1]: 30}  # 30 is 3 % of a list up to 1,000

    def add(events):
        for e in events:
            if e.topic == "turnout" and e.key in added and e.value["seq"] == 6:
                e.value["added"] += added[e.key]
                e.value["registered"] += added[e.key]

    assert _kinds(_found(_inject(add))) == {
        ("list_additions", big, "station"): 1,
        ("list_additions", tec, "cluster"): 1,
    }


def test_one_token_at_two_stations():
    def second(events):
        ballots = [e for e in events if e.topic == "evote"]
        a = ballots[0]
        b = next(e for e in ballots if e.key != a.key)
        again = copy.deepcopy(b.value)
        again["voter_token"] = a.value["voter_token"]
        return [*events, replace(b, value=again)]

    [f] = _found(_inject(second))
    assert f.kind == "evote_multiple" and len(f.evidence["stations"]) == 2


def test_a_missing_pec_protocol():
    sid = _station(lambda r: True)

    def drop(events):
        return [
            e for e in events if not (e.topic == "protocols" and e.key == sid and e.value["source"] == "pec")
        ]

    assert _kinds(_found(_inject(drop))) == {("late_protocol", sid, ""): 1}


def test_the_late_protocols_of_the_night_are_the_stations_without_one_by_the_deadline():
    el = clean_election()
    at = ELECTION_DAY + timedelta(hours=22)
    t = Thresholds(polls_close=CLOSE, protocol_grace=timedelta(hours=1, minutes=30))
    found = [f for f in _found(el, at, t) if f.kind == "late_protocol"]
    late = {f.station_id for f in found}
    deadline = CLOSE + t.protocol_grace
    on_time = {
        e.key for e in el.events if e.topic == "protocols" and e.value["source"] == "pec" and e.at <= deadline
    }
    assert late == set(el.truth.pec) - on_time and 0 < len(late) < len(el.truth.pec)
    # those in by now, though late, say when they came; the others that they are missing
    arrived = {
        e.key: e.at
        for e in el.events
        if e.topic == "protocols" and e.value["source"] == "pec" and deadline < e.at <= at
    }
    assert arrived and {f.station_id for f in found if f.evidence["pec_recorded_at"]} == set(arrived)
    for f in found:
        if f.station_id in arrived:
            assert f.evidence["pec_recorded_at"] == arrived[f.station_id].isoformat()


def test_a_tec_summary_that_moves_votes():
    tec = sorted(clean_election().truth.station_tec.values())[0]

    def move(events):
        votes = _summary(events, tec).value["figures"]["votes"]
        votes["ANSDP"] -= 50
        votes["Nur Otan"] += 50

    found = _found(_inject(move))
    # the TEC against its stations, and its region, whose summary has the true sum, against it
    assert _kinds(found) == {("summary_mismatch", tec, ""): 1, ("summary_mismatch", tec.split("-")[0], ""): 1}
    assert next(f for f in found if f.unit_id == tec).evidence["delta"] == {"ANSDP": -50, "Nur Otan": 50}


def test_a_region_that_revises_its_turnout():
    rec = sorted(clean_election().truth.station_rec.values())[0]

    def revise(events):
        first = _summary(events, rec)
        v2 = copy.deepcopy(first.value)
        more = v2["figures"]["registered"] * 3 // 100  # three points
        v2["version"] = 2
        v2["figures"]["issued_in_station"] += more
        v2["figures"]["ballots_cancelled"] -= more
        return [*events, replace(first, at=first.at + timedelta(hours=2), value=v2)]

    found = _kinds(_found(_inject(revise)))
    # the revision; the region no longer equals its TECs; the CEC summary, the sum of the
    # first versions, no longer equals the regions
    assert found == {
        ("turnout_revised", rec, "v2"): 1,
        ("summary_mismatch", rec, ""): 1,
        ("summary_mismatch", "KZ", ""): 1,
    }
