"""The Indonesia-shaped definition (synthetic) through the tally: six levels, the C1 form,
three candidate pairs, and a Sirekap-style misread that the detectors must flag."""

from __future__ import annotations

import random

import pytest

from monitor.election import load
from monitor.testing import InMemoryTally

AT = "2024-02-14T15:00:00+07:00"
PAIRS = ("01", "02", "03")


def _registry():
    records, tps = [], []
    for p in ("31", "32"):
        records.append(
            {"v": 1, "type": "unit", "level": "provinsi", "unit_id": p, "parent_id": "ID", "name": p}
        )
        kab = f"{p}.71"
        kec = f"{kab}.01"
        records.append(
            {"v": 1, "type": "unit", "level": "kabupaten", "unit_id": kab, "parent_id": p, "name": kab}
        )
        records.append(
            {"v": 1, "type": "unit", "level": "kecamatan", "unit_id": kec, "parent_id": kab, "name": kec}
        )
        for k in (1001, 1002):
            kel = f"{kec}.{k}"
            records.append(
                {"v": 1, "type": "unit", "level": "kelurahan", "unit_id": kel, "parent_id": kec, "name": kel}
            )
            for n in (1, 2, 3):
                sid = f"{kel}-{n:03d}"
                tps.append(sid)
                records.append(
                    {
                        "v": 1,
                        "type": "station",
                        "station_id": sid,
                        "parent_id": kel,
                        "name": f"TPS {n:03d}",
                        "registered_baseline": 280,
                        "evoting": False,
                    }
                )
    return records, tps


def _c1(rng: random.Random) -> dict[str, int | dict[str, int]]:
    dpt, dptb, dpk = 270, rng.randint(0, 5), rng.randint(0, 5)
    voted = [rng.randint(180, 250), rng.randint(0, dptb), rng.randint(0, dpk)]
    used = sum(voted)
    received = dpt + round(dpt * 0.02)
    returned = rng.randint(0, 3)
    invalid = rng.randint(0, 6)
    valid = used - invalid
    a = rng.randint(0, valid)
    b = rng.randint(0, valid - a)
    votes = {"01": a, "02": b, "03": valid - a - b}
    return {
        "dpt": dpt,
        "dptb": dptb,
        "dpk": dpk,
        "voted_dpt": voted[0],
        "voted_dptb": voted[1],
        "voted_dpk": voted[2],
        "ballots_received": received,
        "ballots_returned": returned,
        "ballots_unused": received - used - returned,
        "ballots_used": used,
        "valid_total": valid,
        "invalid": invalid,
        "votes": votes,
    }


def _protocol(sid: str, source: str, figures: dict) -> dict:
    return {
        "type": "protocol",
        "v": 1,
        "station_id": sid,
        "source": source,
        "version": 1,
        "recorded_at": AT,
        "figures": figures,
    }


@pytest.fixture(scope="module")
def night():
    rng = random.Random(2024)
    records, tps = _registry()
    tally = InMemoryTally(records, definition=load("indonesia"))
    forms = {sid: _c1(rng) for sid in tps}
    misread = tps[4]
    for sid, f in forms.items():
        tally.feed("protocols", sid, _protocol(sid, "kpps", f))
        read = {**f, "votes": dict(f["votes"])}
        if sid == misread:  # Sirekap reads a pair's 1 as 7 in the hundreds: 1xx -> 7xx
            read["votes"]["02"] += 600
        tally.feed("protocols", sid, _protocol(sid, "sirekap", read))
    assert not tally.rejected, tally.rejected[:3]
    tally.flush()
    return tally, forms, misread


def test_totals_are_exact_at_all_six_levels(night):
    tally, forms, _ = night
    snap = tally.snapshot()
    assert {u["level"] for u in snap.values()} == {
        "national",
        "provinsi",
        "kabupaten",
        "kecamatan",
        "kelurahan",
    }
    for uid, unit in snap.items():
        sids = [s for s in forms if uid == "ID" or uid in tally.registry.ancestors(s)]
        assert unit["stations"] == len(sids), uid
        p = unit["protocol"]
        assert p["stations_reported"] == len(sids)
        for pair in PAIRS:
            assert p["votes"][pair] == sum(forms[s]["votes"][pair] for s in sids), (uid, pair)
        assert p["participants"] == sum(
            forms[s]["voted_dpt"] + forms[s]["voted_dptb"] + forms[s]["voted_dpk"] for s in sids
        )
        assert p["invalid"] == sum(forms[s]["invalid"] for s in sids)
    assert snap["ID"]["seats"]["protocol"]["qualified"]  # a plurality winner is named


def test_the_sirekap_misread_is_flagged_and_nothing_else(night):
    tally, _, misread = night
    found = tally.findings()
    arithmetic = [f for f in found if f.kind == "arithmetic_inconsistent"]
    assert [(f.station_id, f.evidence["source"]) for f in arithmetic] == [(misread, "sirekap")]
    assert arithmetic[0].evidence["broken"] == ["sum(votes) = valid_total"]
    assert arithmetic[0].level == "tps"
    altered = [f for f in found if f.kind == "protocol_altered"]
    assert [(f.station_id, f.evidence["compared"]) for f in altered] == [(misread, ["kpps", "sirekap"])]
    assert altered[0].evidence["delta"]["02"] == 600
