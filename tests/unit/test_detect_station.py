"""Station detectors (protocols document): hand-made edges, then the 2007 drill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from detect_cases import drill_findings, figures, protocols_doc

from monitor.detect import Thresholds, detect_station, finding_id

ANNEX = Path(__file__).resolve().parents[3] / "shared" / "kz2007" / "annex_protocols.json"
PARTIES = ("A", "B", "C")


def _run(doc, t=None):
    return detect_station("AKM-1", "AKM-T01", {"protocols": doc}, PARTIES, t or Thresholds())


def _kinds(doc, t=None):
    return [(f.kind, f.severity, f.subject) for f in _run(doc, t)]


def test_a_clean_protocol_seen_by_every_source_gives_nothing():
    f = figures()
    assert _kinds(protocols_doc("cec", pec={1: f}, observer={1: f}, tec={1: f}, cec={1: f})) == []


# -- protocol_altered between versions of one source ---------------------------------------------


def test_a_new_version_of_one_source_is_compared_with_the_previous_one():
    v1 = figures(votes=(150, 430, 10))
    v2 = figures(votes=(80, 500, 10))  # 70 votes moved from A to B, as at station 70
    [f] = detect_station("AKM-1", "AKM-T01", {"protocols": protocols_doc("pec", pec={1: v1, 2: v2})}, PARTIES)
    assert (f.kind, f.severity, f.subject) == ("protocol_altered", "critical", "pec-v1-v2")
    assert f.evidence["delta"] == {"A": -70, "B": 70}
    assert f.evidence["net_beneficiary"] == "B" and f.evidence["versions"] == [1, 2]
    assert f.evidence["compared"] == ["pec", "pec"] and f.evidence["first_changed_at"] == "pec"


def test_each_change_between_consecutive_versions_is_its_own_finding():
    a, b = figures(), figures(votes=(101, 479, 10))
    doc = protocols_doc("tec", pec={1: a}, tec={1: a, 2: a, 3: b})
    assert _kinds(doc) == [
        ("protocol_altered", "critical", "pec-tec"),
        ("protocol_altered", "critical", "tec-v2-v3"),
    ]


def test_a_version_change_outside_the_votes_is_a_warning():
    a = figures()
    b = figures(registered=1001)
    assert _kinds(protocols_doc("pec", pec={1: a, 2: b})) == [("protocol_altered", "warning", "pec-v1-v2")]


def test_an_equal_new_version_says_nothing():
    assert _kinds(protocols_doc("pec", pec={1: figures(), 2: figures()})) == []


def test_the_id_of_a_version_change_does_not_depend_on_its_evidence():
    one = protocols_doc("pec", pec={1: figures(), 2: figures(votes=(90, 490, 10))})
    other = protocols_doc("pec", pec={1: figures(), 2: figures(votes=(0, 580, 10))})
    [f], [g] = (detect_station("AKM-1", "AKM-T01", {"protocols": d}, PARTIES) for d in (one, other))
    assert f.evidence != g.evidence and f.finding_id == g.finding_id
    assert f.finding_id == finding_id("protocol_altered", "AKM-T01", "AKM-1", "pec-v1-v2")


# -- the thresholds of the existing station kinds --------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "voted", "expected"),
    [
        (1000, 949, None),
        (1000, 950, "warning"),
        (1000, 999, "warning"),
        (1000, 1000, "critical"),
        (200, 200, None),  # not over 200 registered
        (201, 201, "critical"),
    ],
)
def test_turnout_implausible_edges(registered, voted, expected):
    f = figures(registered=registered, voted=voted, votes=(0, voted - 10, 0))
    got = [s for k, s, _ in _kinds(protocols_doc("pec", pec={1: f})) if k == "turnout_implausible"]
    assert got == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("votes", "invalid", "expected"),
    [
        ((0, 590, 0), 10, "critical"),
        ((5, 585, 0), 10, "warning"),  # 585/590 = 99.15 %
        ((6, 584, 0), 10, None),  # 98.98 %
    ],
)
def test_unanimous_edges(votes, invalid, expected):
    f = figures(votes=votes, invalid=invalid)
    got = [s for k, s, _ in _kinds(protocols_doc("pec", pec={1: f})) if k == "unanimous_result"]
    assert got == ([expected] if expected else [])


def test_arithmetic_names_the_broken_relation():
    f = figures()
    f["ballots_found"] += 5  # found > issued, and the balance with the votes breaks too
    [finding] = [x for x in _run(protocols_doc("pec", pec={1: f})) if x.kind == "arithmetic_inconsistent"]
    assert finding.evidence["broken"] == [
        "ballots_found <= issued_in_station + issued_mobile",
        "ballots_found + voted_electronic = invalid + sum(votes)",
    ]


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"protocols": None},
        {"protocols": []},
        {"protocols": {"sources": {"pec": {"figures": [1, 2]}}}},
        {"protocols": {"sources": {"cec": {"figures": []}}, "official_source": "cec"}},
        {"protocols": {"sources": {"pec": {}}, "official_source": "nowhere"}},
        {"protocols": {"sources": {"pec": {"figures": [True] * 12}}}},
        {"protocols": {"sources": {"pec": {"figures": [-1] * 12}}}},
        {"protocols": {"sources": {"pec": {"figures": ["1"] * 12}}}},
        {"protocols": {"versions": {"pec": {"x": [1] * 12, "2": None, "3": [0] * 12}}}},
        {"protocols": {"versions": {"pec": [1, 2]}, "sources": "pec"}},
        {"protocols": {"versions": {"unknown-source": {"1": [0] * 12}}}},
    ],
)
def test_partial_data_says_nothing_and_never_raises(doc):
    assert detect_station("ALR-1", "ALR-T01", doc, PARTIES) == []


# -- the 2007 drill ------------------------------------------------------------------------------


def test_every_annex_station_is_flagged_with_the_exact_deltas():
    if not ANNEX.exists():
        pytest.skip("the shared annex file is not beside the checkout")
    altered = {
        f.station_id: f
        for f in drill_findings()
        if f.kind == "protocol_altered" and f.evidence["compared"] == ["pec", "cec"]
    }
    regions = {
        "Almaty City": "ALA",
        "Almaty Region": "ALR",
        "Manghystau Region": "MAN",
        "Akmola Region": "AKM",
        "Zhambyl Region": "ZHA",
        "West Kazakhstan": "WKZ",
        "Kostanai Region": "KOS",
        "Pavlodar Region": "PAV",
        "South Kazakhstan Region": "SKZ",
        "North Kazakhstan Region": "NKZ",
        "Kyzylorda Region": "KZY",
        "Aktobe Region": "AKT",
    }
    for row in json.loads(ANNEX.read_text()):
        sid = f"{regions[row['region']]}-{row['station']}"
        f = altered[sid]
        pec, cec = row["pec_protocol"], row["cec_data"]
        want = {
            p: cec["votes"][p] - pec["votes"][p] for p in pec["votes"] if cec["votes"][p] != pec["votes"][p]
        }
        got = {k: v for k, v in f.evidence["delta"].items() if k in pec["votes"]}
        assert got == want, sid
        assert f.severity == "critical"


def test_drill_station_findings_agree_with_the_report():
    drill = drill_findings()
    unanimous = [f for f in drill if f.kind == "unanimous_result" and f.severity == "critical"]
    assert len(unanimous) == 242  # report XIV: 242 stations with more than 200 voters
    assert sum(f.evidence["no_invalid"] for f in unanimous) == 138
    turnout = {f.station_id: f.severity for f in drill if f.kind == "turnout_implausible"}
    assert turnout["ALR-811"] == "critical" and turnout["EKZ-236"] == "critical"
    assert turnout["KOS-107"] == "warning" and turnout["ATY-160"] == "warning"
    broken = {
        f.station_id for f in drill if f.kind == "arithmetic_inconsistent" and f.evidence["source"] == "pec"
    }
    assert {"ZHA-140", "AST-37", "EKZ-236"} <= broken
    karatau = next(
        f
        for f in drill
        if f.station_id == "ZHA-414"
        and f.kind == "protocol_altered"
        and f.evidence["compared"] == ["pec", "tec"]
    )
    assert karatau.evidence["delta"]["Nur Otan"] == 1648 - 1257
    assert karatau.evidence["first_changed_at"] == "tec"


def test_station_70s_second_protocol_is_flagged():
    # report XIII.C fn 80: observers were given 947 votes for Nur Otan, later a printed copy
    # with 208 more at the expense of the other parties
    [f] = [f for f in drill_findings() if f.kind == "protocol_altered" and f.evidence.get("versions")]
    assert (f.station_id, f.subject, f.severity) == ("MAN-70", "pec-v1-v2", "critical")
    assert f.evidence["delta"]["Nur Otan"] == 208
    assert sum(v for k, v in f.evidence["delta"].items() if k != "Nur Otan") == -208
    assert f.evidence["net_beneficiary"] == "Nur Otan"
