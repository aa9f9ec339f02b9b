"""``tabmon export --cdf``: a unit's tally in NIST SP 1500-100 (v2) JSON, valid against the
published schema (tests/schemas/nist-1500-100-v2.json) and equal to the tally it exports."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from monitor.cli.export import cdf_report
from monitor.election import load
from monitor.testing import InMemoryTally
from producers.elections.night import generate

SCHEMA_PATH = Path(__file__).parents[1] / "schemas" / "nist-1500-100-v2.json"
SHA256 = "55c1c6382bf5ba369ae05d58c3f4bab6b487a2e8c01720ee87209b9a85e5d3db"  # tests/schemas/README.md


@pytest.fixture(scope="module")
def validator():
    raw = SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SHA256, "the vendored schema changed: see its README"
    schema = json.loads(raw)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def _snapshot(name: str, stations: int = 300):
    d = load(name)
    n = generate(d, stations, seed=2)
    tally = InMemoryTally(n.registry, definition=d)
    for e in n.events:
        tally.feed(e.topic, e.key, e.value)
    tally.flush()
    return d, n, tally.snapshot()


def _errors(validator, doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("name", ["kz2023", "indonesia", "kz2007"])
@pytest.mark.parametrize("view", ["official", "protocol"])
def test_the_top_and_a_region_are_valid_cdf_and_equal_the_tally(validator, name, view):
    d, n, snap = _snapshot(name)
    top = d.file.levels[0].pattern
    region = next(u for u, lv in n.level.items() if lv == d.levels[1])
    for uid in (top, region):
        doc = cdf_report(uid, snap, d, view, now=datetime(2026, 12, 2, tzinfo=UTC))
        assert _errors(validator, doc) == [], (name, uid)
        children = [u for u, p in n.parent.items() if p == uid and u in n.level]
        units = {g["@id"] for g in doc["GpUnit"]}
        assert {f"gpu-{c}" for c in children} | {f"gpu-{uid}"} <= units
        contest = doc["Election"][0]["Contest"][0]  # the first: the one every unit holds
        for sel in contest["ContestSelection"]:
            party = sel["@id"].removeprefix("selection-")
            counts = {c["GpUnitId"]: c["Count"] for c in sel["VoteCounts"]}
            assert counts[f"gpu-{uid}"] == n.expected(uid)["votes"][party]
            assert sum(counts[f"gpu-{c}"] for c in children) == counts[f"gpu-{uid}"]
        assert doc["Status"] == "unofficial-complete" and doc["IsTest"] == d.file.election.synthetic
        rejected = {b["GpUnitId"]: b.get("BallotsRejected") for b in doc["Election"][0]["BallotCounts"]}
        assert rejected[f"gpu-{uid}"] == snap[uid][view]["invalid"]


def test_a_candidate_contest_names_its_candidates_and_seats(validator):
    d, _, snap = _snapshot("indonesia", 120)
    doc = cdf_report("ID", snap, d)
    (contest,) = doc["Election"][0]["Contest"]
    assert contest["@type"] == "ElectionResults.CandidateContest" and contest["NumberElected"] == 1
    assert [c["@id"] for c in doc["Election"][0]["Candidate"]] == [
        "candidate-01",
        "candidate-02",
        "candidate-03",
    ]
    assert "Party" not in doc


def test_a_partial_tally_is_unofficial_partial(validator):
    d = load("kz2023")
    n = generate(d, 200, seed=3)
    tally = InMemoryTally(n.registry, definition=d)
    for e in n.events[: len(n.events) // 2]:
        tally.feed(e.topic, e.key, e.value)
    tally.flush()
    doc = cdf_report("KZ", tally.snapshot(), d)
    assert doc["Status"] == "unofficial-partial" and _errors(validator, doc) == []


def test_a_document_the_schema_refuses_is_refused(validator):
    """The schema is strict: the test above can fail."""
    d, _, snap = _snapshot("kz2023", 60)
    doc = cdf_report("KZ", snap, d)
    doc["Status"] = "live"
    doc["GpUnit"][0]["Colour"] = "red"
    assert len(_errors(validator, doc)) == 2


def test_a_regions_districts_are_exported_as_their_own_contests(validator):
    d, n, snap = _snapshot("kz2023", 300)
    region = "ALA"
    doc = cdf_report(region, snap, d)
    assert _errors(validator, doc) == []
    districts = {c.id: c.unit for c in d.contests[1:] if c.unit.startswith(region + "-")}
    contests = {c["@id"].removeprefix("contest-"): c for c in doc["Election"][0]["Contest"][1:]}
    assert set(contests) == set(districts) and len(districts) > 1
    for cid, c in contests.items():
        assert (
            c["@type"] == "ElectionResults.CandidateContest"
            and c["ElectionDistrictId"] == f"gpu-{districts[cid]}"
        )
        want = n.expected_contest(cid, districts[cid])["votes"]
        got = {
            s["@id"].removeprefix(f"selection-{cid}-"): s["VoteCounts"][0]["Count"]
            for s in c["ContestSelection"]
        }
        assert got == want
    candidates = [x["@id"] for x in doc["Election"][0]["Candidate"]]
    assert len(candidates) == len(set(candidates))  # each district's c1 is its own candidate
