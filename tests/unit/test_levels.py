"""A level no code names: a district between the TEC and the REC, totals and summary checks
at every level (the election definition drives the depth, not TEC/REC/CEC by name)."""

from __future__ import annotations

import random

import pytest
import yaml

from monitor.election import BUILTIN, load, parse
from monitor.testing import InMemoryTally

PARTIES = ["A", "B", "C"]
FIELDS = load("kz2007").fields
AT = "2007-08-18T21:00:00+06:00"


def _definition():
    raw = yaml.safe_load((BUILTIN / "kz2007.yaml").read_text())
    raw["election"]["id"] = "districts"
    district = {
        "id": "district",
        "name": "District Election Commission",
        "parent": "rec",
        "cdf_type": "other",
        "pattern": "{rec}-D[0-9]{2}",
    }
    raw["levels"].insert(2, district)
    raw["levels"][3].update(parent="district", pattern="{district}-T[0-9]{2}")
    return parse(yaml.safe_dump(raw), "districts")


def _registry(rng: random.Random):
    records = [{"v": 1, "type": "ballot", "parties": PARTIES}]
    stations = []
    for rec in ("AKM", "KAR"):
        records.append(
            {"v": 1, "type": "unit", "level": "rec", "unit_id": rec, "parent_id": "KZ", "name": rec}
        )
        for d in (1, 2):
            did = f"{rec}-D{d:02d}"
            records.append(
                {"v": 1, "type": "unit", "level": "district", "unit_id": did, "parent_id": rec, "name": did}
            )
            for t in (1, 2, 3):
                tid = f"{did}-T{t:02d}"
                records.append(
                    {"v": 1, "type": "unit", "level": "tec", "unit_id": tid, "parent_id": did, "name": tid}
                )
                for _ in range(rng.randint(1, 4)):
                    sid = f"{rec}-{len(stations) + 1}"
                    stations.append((sid, tid))
                    records.append(
                        {
                            "v": 1,
                            "type": "station",
                            "station_id": sid,
                            "parent_id": tid,
                            "name": sid,
                            "registered_baseline": 1000,
                            "evoting": False,
                        }
                    )
    return records, stations


def _figures(rng: random.Random) -> list[int]:
    votes = [rng.randint(0, 200) for _ in PARTIES]
    invalid = rng.randint(0, 10)
    found = sum(votes) + invalid
    return [1000, rng.randint(0, 20), found + 5, 5, found, 0, 0, found, invalid, *votes]


def _protocol(sid: str, figures: list[int]) -> dict:
    f = dict(zip(FIELDS, figures, strict=False))
    f["votes"] = dict(zip(PARTIES, figures[len(FIELDS) :], strict=True))
    return {
        "type": "protocol",
        "v": 1,
        "station_id": sid,
        "source": "pec",
        "version": 1,
        "recorded_at": AT,
        "figures": f,
    }


def _summary(level: str, uid: str, figures: list[int], n: int) -> dict:
    f = dict(zip(FIELDS, figures, strict=False))
    f["votes"] = dict(zip(PARTIES, figures[len(FIELDS) :], strict=True))
    return {
        "type": "summary",
        "v": 1,
        "level": level,
        "unit_id": uid,
        "version": 1,
        "recorded_at": AT,
        "stations_included": n,
        "figures": f,
    }


def _add(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


@pytest.fixture(scope="module")
def night():
    rng = random.Random(7)
    d = _definition()
    records, stations = _registry(rng)
    tally = InMemoryTally(records, definition=d, partitions=3)
    assert tally.registry.level_of("AKM-D01") == "district"
    truth: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    for sid, tid in stations:
        f = _figures(rng)
        assert tally.feed("protocols", sid, _protocol(sid, f)) or tally.rejected == []
        for uid in [tid, *tally.registry.ancestors(tid)]:
            truth[uid] = _add(truth.get(uid, [0] * len(f)), f)
            counts[uid] = counts.get(uid, 0) + 1
    assert not tally.rejected, tally.rejected[:3]
    return d, tally, truth, counts


def test_totals_are_exact_at_every_level(night):
    d, tally, truth, counts = night
    tally.flush()
    snap = tally.snapshot()
    levels = {u["level"] for u in snap.values()}
    assert levels == {"cec", "rec", "district", "tec"}
    assert snap["AKM-D01"]["parent_id"] == "AKM" and snap["AKM-D01-T01"]["parent_id"] == "AKM-D01"
    for uid, want in truth.items():
        p = snap[uid]["protocol"]
        got = [p[f] for f in FIELDS] + [p["votes"][x] for x in PARTIES]
        assert got == want, uid
        assert snap[uid]["stations"] == counts[uid] == p["stations_reported"], uid


def test_summaries_are_checked_at_every_level(night):
    d, tally, truth, counts = night
    # every commission sends a summary; one district's adds 40 votes for B
    for uid, f in truth.items():
        level = tally.registry.level_of(uid)
        sent = list(f)
        if uid == "KAR-D02":
            sent[len(FIELDS) + 1] += 40
        assert tally.feed("summaries", uid, _summary(level, uid, sent, counts[uid])), tally.rejected
    found = [f for f in tally.findings() if f.kind == "summary_mismatch"]
    # the district is flagged against its TECs' summaries, and the region above it, whose
    # districts' summaries now sum to more than its own
    by_unit = {f.unit_id: f for f in found}
    assert set(by_unit) == {"KAR-D02", "KAR"}, sorted(by_unit)
    assert by_unit["KAR-D02"].level == "district"
    assert by_unit["KAR-D02"].evidence["delta"] == {"B": 40}
    assert by_unit["KAR-D02"].evidence["compared_with"] == "tec units' latest summaries"


def test_an_id_against_the_levels_is_rejected():
    d = _definition()
    records, _ = _registry(random.Random(1))
    bad = dict(records[3], unit_id="AKM-D01-T01", parent_id="AKM-D02")  # names D01, parent D02
    with pytest.raises(Exception, match="names district AKM-D01"):
        InMemoryTally([*records[:3], bad], definition=d)
    tally = InMemoryTally(records, definition=d)
    tally.feed("summaries", "AKM-D09", _summary("district", "AKM-D09", [0] * 12, 0))
    assert [code for code, _ in [(e.code, e) for _, e in tally.rejected]] == ["unknown_unit"]
