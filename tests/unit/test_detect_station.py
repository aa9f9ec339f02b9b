"""Station detectors on the 2007 drill and on a clean synthetic election."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from monitor.detect import Finding, detect_station, finding_id
from monitor.testing import InMemoryTally
from producers.kz2007 import build
from producers.synthetic import generate

ANNEX = Path(__file__).resolve().parents[3] / "shared" / "kz2007" / "annex_protocols.json"


def _findings(election):
    tally = InMemoryTally(election.registry, partitions=4)
    tally.feed_events(election.events)
    reg = tally.registry
    out: list[Finding] = []
    for sid, doc in tally.stations.items():
        out += detect_station(sid, reg.stations[sid].tec_id, doc, reg.parties)
    return out


@pytest.fixture(scope="module")
def drill():
    return _findings(build(seed=2007))


def test_a_clean_election_gives_no_finding():
    assert _findings(generate(120, 16, seed=3, evote_ballots=300)) == []


def test_every_annex_station_is_flagged_with_the_exact_deltas(drill):
    if not ANNEX.exists():
        pytest.skip("the shared annex file is not beside the checkout")
    altered = {f.station_id: f for f in drill
               if f.kind == "protocol_altered" and f.evidence["compared"] == ["pec", "cec"]}
    regions = {"Almaty City": "ALA", "Almaty Region": "ALR", "Manghystau Region": "MAN",
               "Akmola Region": "AKM", "Zhambyl Region": "ZHA", "West Kazakhstan": "WKZ",
               "Kostanai Region": "KOS", "Pavlodar Region": "PAV", "South Kazakhstan Region": "SKZ",
               "North Kazakhstan Region": "NKZ", "Kyzylorda Region": "KZY", "Aktobe Region": "AKT"}
    for row in json.loads(ANNEX.read_text()):
        sid = f"{regions[row['region']]}-{row['station']}"
        f = altered[sid]
        pec, cec = row["pec_protocol"], row["cec_data"]
        want = {p: cec["votes"][p] - pec["votes"][p] for p in pec["votes"]
                if cec["votes"][p] != pec["votes"][p]}
        got = {k: v for k, v in f.evidence["delta"].items() if k in pec["votes"]}
        assert got == want, sid
        assert f.severity == "critical"


def test_drill_findings_agree_with_the_report(drill):
    unanimous = [f for f in drill if f.kind == "unanimous_result" and f.severity == "critical"]
    assert len(unanimous) == 242  # report XIV: 242 stations with more than 200 voters
    assert sum(f.evidence["no_invalid"] for f in unanimous) == 138
    turnout = {f.station_id: f.severity for f in drill if f.kind == "turnout_implausible"}
    assert turnout["ALR-811"] == "critical" and turnout["EKZ-236"] == "critical"
    assert turnout["KOS-107"] == "warning" and turnout["ATY-160"] == "warning"
    broken = {f.station_id for f in drill
              if f.kind == "arithmetic_inconsistent" and f.evidence["source"] == "pec"}
    assert {"ZHA-140", "AST-37", "EKZ-236"} <= broken
    karatau = next(f for f in drill if f.station_id == "ZHA-414" and f.kind == "protocol_altered"
                   and f.evidence["compared"] == ["pec", "tec"])
    assert karatau.evidence["delta"]["Nur Otan"] == 1648 - 1257
    assert karatau.evidence["first_changed_at"] == "tec"


def test_ids_are_stable_and_distinct(drill):
    ids = Counter(f.finding_id for f in drill)
    assert max(ids.values()) == 1
    f = drill[0]
    assert f.finding_id == finding_id(f.kind, f.unit_id, f.station_id, f.subject)


@pytest.mark.parametrize("doc", [
    {}, {"protocols": None}, {"protocols": {"sources": {"pec": {"figures": [1, 2]}}}},
    {"protocols": {"sources": {"cec": {"figures": []}}, "official_source": "cec"}},
    {"protocols": {"sources": {"pec": {}}, "official_source": "nowhere"}},
])  # fmt: skip
def test_partial_data_says_nothing_and_never_raises(doc):
    assert detect_station("ALR-1", "ALR-T01", doc, ("A", "B")) == []
