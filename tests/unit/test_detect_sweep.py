"""The sweep over the station read model: TEC peers, protocol vs final report, valid votes
above the final report, clusters of additions, late protocols."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from detect_cases import CLOSE, figures, paced, protocols_doc, registry, turnout_doc

from monitor.detect import Thresholds, sweep_findings, turnout_findings

REG = registry(n_tecs=1, per_tec=6)
SIDS = [f"AKM-{i}" for i in range(1, 7)]


def _run(stations, t=None, now=None, reg=REG):
    return sweep_findings(stations, reg, t or Thresholds(), now)


def _kinds(stations, **kw):
    return sorted((f.kind, f.station_id or f.unit_id, f.subject) for f in _run(stations, **kw))


# -- turnout_jump against the TEC's peers --------------------------------------------------------


def _peers(x_windows, peer_window4=(100, 100, 100, 100, 100)):
    docs = {
        sid: {"turnout": paced(1000, [100, 100, 100, w4, 100, 100])}
        for sid, w4 in zip(SIDS[1:], peer_window4, strict=True)
    }
    docs[SIDS[0]] = {"turnout": paced(1000, x_windows)}
    return docs


def test_a_window_far_above_the_peers_and_above_its_own_pace():
    docs = _peers([100, 100, 100, 250, 100, 100])
    [f] = _run(docs)
    assert (f.kind, f.station_id, f.subject, f.severity) == ("turnout_jump", "AKM-1", "peers-4", "warning")
    assert f.evidence["peer_median_points"] == 10.0 and f.evidence["points"] == 25.0
    assert f.evidence["peers"] == 6 and f.evidence["robust_z"] == 15.0  # spread floored at 1 point
    # its own pace alone (2.5 times) is not enough for stage one
    assert turnout_findings("AKM-1", "AKM-T01", docs["AKM-1"]["turnout"]) == []


def test_the_robust_score_uses_the_median_and_the_mad_of_the_peers():
    docs = _peers([100, 100, 100, 300, 100, 100], peer_window4=(80, 90, 100, 110, 120))
    [f] = [f for f in _run(docs) if f.subject == "peers-4"]
    # points 8, 9, 10, 11, 12, 30: median 10.5; deviations 2.5 1.5 .5 .5 1.5 19.5: MAD 1.5
    assert f.evidence["peer_median_points"] == 10.5
    assert f.evidence["robust_z"] == round(19.5 / (1.4826 * 1.5), 1)


@pytest.mark.parametrize(("z", "flagged"), [(15.0, True), (15.01, False)])
def test_peer_score_edge(z, flagged):
    assert bool(_run(_peers([100, 100, 100, 250, 100, 100]), t=Thresholds(peer_z=z))) is flagged


@pytest.mark.parametrize(("w4", "flagged"), [(200, True), (199, False)])
def test_the_window_must_also_be_twice_the_stations_own_pace(w4, flagged):
    # 200: twice its pace, +10 points over the peers; 199: neither
    assert bool(_run(_peers([100, 100, 100, w4, 100, 100]))) is flagged


def test_a_station_whose_whole_day_runs_high_is_not_a_jump():
    assert _run(_peers([250, 250, 250, 250, 250, 250])) == []


def test_fewer_than_five_stations_have_no_peer_median():
    docs = {sid: doc for sid, doc in _peers([100, 100, 100, 400, 100, 100]).items() if sid <= "AKM-4"}
    assert _run(docs) == []


# -- turnout_jump: the PEC protocol above the final report ---------------------------------------


def _protocol_vs_report(registered, report_voted, protocol_voted, last_seq=6):
    reports = [(registered, 0, report_voted * q // last_seq) for q in range(1, last_seq + 1)]
    f = figures(registered=registered, voted=protocol_voted, votes=(0, protocol_voted, 0), invalid=0)
    return {"AKM-1": {"turnout": turnout_doc(*reports), "protocols": protocols_doc("pec", pec={1: f})}}


@pytest.mark.parametrize(
    ("registered", "report", "protocol", "flagged"),
    [
        (1000, 600, 650, True),  # 50 voters, 5 points of the list
        (1000, 600, 649, False),  # 4.9 points
        (300, 100, 120, True),  # 20 voters, 6.7 points
        (300, 100, 119, False),  # 19 voters
    ],
)
def test_protocol_above_the_final_report_edges(registered, report, protocol, flagged):
    found = [f for f in _run(_protocol_vs_report(registered, report, protocol)) if f.kind == "turnout_jump"]
    assert [f.subject for f in found] == (["protocol"] if flagged else [])
    if flagged:
        assert found[0].evidence["gap"] == protocol - report and found[0].evidence["seq"] == 6


def test_before_the_final_report_the_protocol_is_not_compared():
    assert _run(_protocol_vs_report(1000, 500, 900, last_seq=5)) == []


# -- valid_exceeds_turnout at a station ----------------------------------------------------------


def _valid_vs_report(pec_valid, cec_valid=None):
    pec = figures(votes=(100, pec_valid - 100, 0), invalid=0)
    versions = {"pec": {1: pec}}
    if cec_valid is not None:
        versions["cec"] = {1: figures(votes=(100, cec_valid - 100, 0), invalid=0)}
    doc = protocols_doc("cec" if cec_valid is not None else "pec", **versions)
    return {"AKM-1": {"turnout": paced(1000, [100] * 6), "protocols": doc}}


@pytest.mark.parametrize(
    ("pec", "cec", "expected"),
    [
        (600, None, None),
        (609, None, None),
        (610, None, ("pec", 10)),
        (600, 610, ("cec", 10)),
        (600, 609, None),
        (620, 610, ("pec", 20)),
    ],
)
def test_valid_votes_above_the_final_report(pec, cec, expected):
    found = [f for f in _run(_valid_vs_report(pec, cec)) if f.kind == "valid_exceeds_turnout"]
    got = [(f.evidence["basis"], f.evidence["excess"]) for f in found]
    assert got == ([expected] if expected else [])
    if expected:
        assert found[0].severity == "critical" and found[0].level == "pec"


# -- list_additions: clusters within a TEC -------------------------------------------------------


@pytest.mark.parametrize(
    ("added", "n", "flagged"),
    [
        (30, 3, True),
        (30, 2, False),
        (29, 3, False),  # 2.9 % of 1,000
        (20, 3, True),  # 20 of 600: 3.3 % and 20 voters
    ],
)
def test_additions_cluster_edges(added, n, flagged):
    size = 600 if added == 20 else 1000
    docs = {sid: {"turnout": turnout_doc((size, added if i < n else 0, 300))} for i, sid in enumerate(SIDS)}
    found = [f for f in _run(docs) if f.kind == "list_additions"]
    want = [("tec", "AKM-T01", "cluster")] if flagged else []
    assert [(f.level, f.unit_id, f.subject) for f in found] == want
    if flagged:
        assert [s["station_id"] for s in found[0].evidence["stations"]] == SIDS[:n]
        assert found[0].evidence["added"] == added * n


# -- late_protocol -------------------------------------------------------------------------------


def _late(now, t=None):
    t = t or Thresholds(polls_close=CLOSE)
    reg = registry(n_tecs=1, per_tec=3)
    docs = {
        "AKM-1": {"protocols": protocols_doc("pec", pec={1: figures()})},
        "AKM-2": {"protocols": protocols_doc("tec", tec={1: figures()}), "turnout": paced(1000, [1])},
    }
    return [f for f in sweep_findings(docs, reg, t, now) if f.kind == "late_protocol"]


def test_a_station_without_a_pec_protocol_after_the_grace_is_late():
    assert _late(CLOSE + timedelta(hours=6) - timedelta(seconds=1)) == []
    found = _late(CLOSE + timedelta(hours=6))
    assert [(f.station_id, f.unit_id, f.severity) for f in found] == [
        ("AKM-2", "AKM-T01", "warning"),
        ("AKM-3", "AKM-T01", "warning"),
    ]
    assert found[0].evidence["pec_recorded_at"] is None
    assert "6 hours after the close" in found[0].explanation


def test_a_late_finding_does_not_change_as_other_sources_come_in():
    reg = registry(n_tecs=1, per_tec=3)
    now = CLOSE + timedelta(hours=7)
    t = Thresholds(polls_close=CLOSE)
    bare = {"AKM-1": {"protocols": protocols_doc("pec", pec={1: figures()})}}
    more = {**bare, "AKM-2": {"protocols": protocols_doc("tec", tec={1: figures()})}}

    def late(docs):
        return [f for f in sweep_findings(docs, reg, t, now) if f.station_id == "AKM-2"]

    assert late(bare) == late(more)


def test_a_protocol_recorded_after_the_deadline_is_late_whenever_the_sweep_sees_it():
    reg = registry(n_tecs=1, per_tec=3)
    t = Thresholds(polls_close=CLOSE)
    at = CLOSE + timedelta(hours=8)
    doc = protocols_doc("pec", pec={1: figures()}) | {"pec_recorded_at": at.isoformat()}
    docs = {sid: {"protocols": doc} for sid in ("AKM-1", "AKM-2", "AKM-3")}
    # even with no clock (a worker catching up): the protocol's own time decides
    for now in (None, at + timedelta(days=2)):
        found = [f for f in sweep_findings(docs, reg, t, now) if f.kind == "late_protocol"]
        assert len(found) == 3 and all(f.evidence["hours_late"] == 2.0 for f in found)
    on_time = doc | {"pec_recorded_at": (CLOSE + timedelta(hours=6)).isoformat()}
    assert [
        f for f in sweep_findings({"AKM-1": {"protocols": on_time}}, reg, t, None) if f.station_id == "AKM-1"
    ] == []


def test_a_late_finding_does_not_change_as_the_clock_moves():
    assert _late(CLOSE + timedelta(hours=6)) == _late(CLOSE + timedelta(days=3))


def test_the_grace_is_a_threshold():
    t = Thresholds(polls_close=CLOSE, protocol_grace=timedelta(minutes=30))
    assert len(_late(CLOSE + timedelta(minutes=30), t)) == 2


@pytest.mark.parametrize("now", [None, datetime(2007, 8, 20)])  # no clock; no UTC offset
def test_without_a_clock_or_a_close_nothing_is_late(now):
    assert _late(now) == []
    assert _late(CLOSE + timedelta(days=1), Thresholds()) == []


# -- odd read models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stations",
    [
        {},
        None,
        [],
        {"AKM-1": None},
        {"AKM-1": []},
        {"ZZZ-1": {"turnout": paced(1000, [100] * 6)}},
        {
            "AKM-1": {
                "turnout": {"reports": {"6": [0, 0, 10]}},
                "protocols": protocols_doc("pec", pec={1: figures()}),
            }
        },
        {"AKM-1": {"turnout": None, "protocols": {"sources": {"pec": {"figures": "x"}}}}},
        {sid: {"turnout": {"reports": {"1": [1000, 0, "x"]}}} for sid in SIDS},
    ],
)
def test_odd_documents_say_nothing_and_never_raise(stations):
    assert _run(stations, t=Thresholds(polls_close=CLOSE), now=CLOSE) == []
