"""evote_multiple: one voter token behind several e-ballots (stage one, evote-tokens)."""

from __future__ import annotations

import pytest
from detect_cases import registry

from monitor.detect import finding_id, token_findings

REG = registry(n_tecs=2, per_tec=2)  # AKM-1, AKM-2 in AKM-T01; AKM-3, AKM-4 in AKM-T02
T1, T2, T3 = "2007-08-18T10:00:00+06:00", "2007-08-18T11:30:00+06:00", "2007-08-18T09:00:00+06:00"


def test_one_ballot_is_not_multiple_voting():
    assert token_findings("tok", [("AKM-1", T1)], REG) == []
    assert token_findings("tok", [("AKM-1", T1), ["AKM-1", T1]], REG) == []  # a redelivery


def test_the_second_ballot_is_flagged_with_its_stations_and_times():
    [f] = token_findings("tok", [("AKM-3", T2), ("AKM-1", T1)], REG)
    assert (f.kind, f.severity, f.level, f.unit_id, f.station_id) == (
        "evote_multiple",
        "critical",
        "cec",
        "KZ",
        None,
    )
    assert f.evidence["ballots"] == [
        {"station_id": "AKM-1", "issued_at": T1},
        {"station_id": "AKM-3", "issued_at": T2},
    ]
    assert f.evidence["stations"] == ["AKM-1", "AKM-3"] and f.evidence["tecs"] == ["AKM-T01", "AKM-T02"]
    assert f.evidence["recs"] == ["AKM"] and f.evidence["n_ballots"] == 2
    assert "2 electronic ballots at 2 stations" in f.explanation and "10:00 and 11:30" in f.explanation


def test_a_third_ballot_keeps_the_id_and_changes_the_evidence():
    [two] = token_findings("tok", [("AKM-1", T1), ("AKM-1", T2)], REG)
    # the third is earlier and elsewhere: nothing about the place may enter the id
    [three] = token_findings("tok", [("AKM-1", T1), ("AKM-1", T2), ("AKM-4", T3)], REG)
    assert two.finding_id == three.finding_id == finding_id("evote_multiple", "KZ", None, "tok")
    assert two.evidence != three.evidence and three.evidence["ballots"][0]["station_id"] == "AKM-4"
    assert token_findings("other", [("AKM-1", T1), ("AKM-1", T2)], REG)[0].finding_id != two.finding_id


def test_a_station_the_registry_does_not_know_is_still_listed():
    [f] = token_findings("tok", [("ZZZ-9", T1), ("AKM-1", T2)], REG)
    assert f.evidence["stations"] == ["AKM-1", "ZZZ-9"] and f.evidence["tecs"] == ["AKM-T01"]


@pytest.mark.parametrize(
    ("token", "ballots"),
    [
        ("", [("AKM-1", T1), ("AKM-1", T2)]),
        (None, [("AKM-1", T1), ("AKM-1", T2)]),
        ("tok", None),
        ("tok", 5),
        ("tok", [("AKM-1",), ("AKM-1", T1, "x"), (1, 2), "AKM-1"]),
        ("tok", [("AKM-1", T1), None]),
    ],
)
def test_partial_data_says_nothing_and_never_raises(token, ballots):
    assert token_findings(token, ballots, REG) == []


def test_an_unreadable_time_is_kept_as_written():
    [f] = token_findings("tok", [("AKM-1", "noon"), ("AKM-1", T1)], REG)
    assert f.evidence["ballots"][-1]["issued_at"] == "noon"
