"""The whole catalogue on the 2007 drill: the findings agree with the report's counts.

Expected values are the report's (003, the OSCE/ODIHR final report; sections cited) or are
recomputed here from the drill's events and ground truth, never from the tally.
"""

from __future__ import annotations

from collections import Counter

from detect_cases import drill, drill_findings


def _of(kind, level=None):
    return [f for f in drill_findings() if f.kind == kind and (level is None or f.level == level)]


def test_ids_are_unique_and_each_kind_is_accounted_for():
    found = drill_findings()
    assert max(Counter(f.finding_id for f in found).values()) == 1
    # kinds the drill does not encode (docs/drill-2007.md: reports climb along the day curve,
    # additions are at most a tenth of a list and spread by size, every PEC protocol is in)
    kinds = Counter(f.kind for f in found)
    assert kinds["turnout_jump"] == kinds["list_additions"] == kinds["late_protocol"] == 0


def test_the_e_voting_tokens():
    # report XIII.B: 585 tokens cast 1,324 e-ballots; 441 of them at 10 South Kazakhstan stations
    found = _of("evote_multiple")
    assert len(found) == 585 and sum(f.evidence["n_ballots"] for f in found) == 1324
    skz = [b for f in found for b in f.evidence["ballots"] if b["station_id"].startswith("SKZ-")]
    assert len(skz) == 441 and len({b["station_id"] for b in skz}) == 10
    # and exactly the tokens the events show used twice or more
    ballots: dict[str, set] = {}
    for e in drill().events:
        if e.topic == "evote":
            ballots.setdefault(e.value["voter_token"], set()).add((e.key, e.value["issued_at"]))
    assert {f.subject for f in found} == {t for t, b in ballots.items() if len(b) > 1}


def test_the_four_revisions():
    # report XIV fn 91: Manghystau +8.8, West Kazakhstan +7.7, Almaty region +4, Atyrau +2.4;
    # unchanged in the 12 other regions
    regional = {f.unit_id: f.evidence["points"] for f in _of("turnout_revised", "rec")}
    assert {u: round(p, 1) for u, p in regional.items()} == {"MAN": 8.8, "WKZ": 7.7, "ALR": 4.0, "ATY": 2.4}
    severities = {f.unit_id: f.severity for f in _of("turnout_revised", "rec")}
    assert severities == {"MAN": "critical", "WKZ": "critical", "ALR": "warning", "ATY": "warning"}
    # the decree (22 August) against the preliminary national figure: 6,082,430 participants
    # (report XIII.B) where the morning's sum of the regions had fewer
    [cec] = _of("turnout_revised", "cec")
    assert cec.evidence["participants"][1] == 6_082_430 and cec.evidence["points"] > 2


def test_valid_votes_above_turnout_in_karaganda_and_south_kazakhstan():
    regional = {f.unit_id: f.evidence["excess"] for f in _of("valid_exceeds_turnout", "rec")}
    # report XIV fn 92: "in Karaganda the discrepancy was of more than 50,000, in South
    # Kazakhstan almost 49,000": the two largest of all regions
    assert regional["KAR"] > 50_000 and 48_500 <= regional["SKZ"] < 49_000
    assert sorted(regional, key=regional.get)[-2:] == ["SKZ", "KAR"]
    # report XIV: the valid votes (5,935,625, Annex 1) exceed the election-night voters
    # (5,726,544) by more than 200,000
    [national] = _of("valid_exceeds_turnout", "cec")
    assert national.evidence["excess"] == 5_935_625 - 5_726_544
    assert national.evidence["valid"] == {"official": 5_935_625, "summary": 5_935_625}


def test_valid_votes_above_turnout_at_stations_match_the_ground_truth():
    truth = drill().truth
    want = {}
    for sid, off in truth.official.items():
        excess = sum(off["votes"].values()) - truth.turnout[sid]["voted"]
        if excess >= 10:
            want[sid] = excess
    got = {f.station_id: f.evidence["excess"] for f in _of("valid_exceeds_turnout", "pec")}
    assert got == want and len(got) > 1000


def test_summaries_that_do_not_add_up():
    found = {f.unit_id: f for f in _of("summary_mismatch")}
    assert set(found) == {"ZHA-T04", "AST-T01", "ZHA", "AST", "MAN", "WKZ", "ALR", "ATY", "KZ"}
    # report XIII.E fn 90: "in all five cases, the TEC summary showed a higher vote total for
    # Nur Otan than did the PEC protocols" (Karatau; 391 + 59 + 164 + 143 + 238 more votes)
    karatau = found["ZHA-T04"]
    assert karatau.evidence["delta"]["Nur Otan"] == 995 and karatau.evidence["net_beneficiary"] == "Nur Otan"
    assert karatau.evidence["children_in"] == karatau.evidence["children_total"] == 51
    # report XIII.D fn 87: at Saryarka TEC 187 unused ballots were added to Nur Otan for PS 37
    assert found["AST-T01"].evidence["delta"] == {"ballots_cancelled": -187, "Nur Otan": 187}
    # the regional summaries of the night are sums of PEC protocols, so where a TEC altered
    # them the region no longer adds up to its TECs (docs/drill-2007.md)
    assert found["ZHA"].evidence["delta"]["Nur Otan"] == -995
    assert found["AST"].evidence["delta"]["Nur Otan"] == -187
    # the four revisions raise ballots issued in the station without any TEC's figures moving
    for rec in ("MAN", "WKZ", "ALR", "ATY"):
        d = found[rec].evidence["delta"]
        assert set(d) == {"ballots_cancelled", "issued_in_station"} and d["issued_in_station"] > 0
        assert found[rec].severity == "warning"
    # the decree against the regions' summaries: Nur Otan up, every other party down (XIV)
    d = found["KZ"].evidence["delta"]
    parties = ("ANSDP", "PPK", "Auyl", "Ak Zhol", "Rukhaniyat", "CPPK")
    assert d["Nur Otan"] > 0 and all(d[p] < 0 for p in parties)
