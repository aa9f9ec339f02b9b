"""Tests for producers.elections.synthetic (the clean synthetic election and its ground truth)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest
from truth import FIXED as FIELDS

from producers.elections.synthetic import PARTIES, REGIONS, TZ, Election, generate, registry_to_json, to_jsonl

DAY = datetime(2007, 8, 18, tzinfo=TZ)
STATION_RE = re.compile(r"^([A-Z]{3})-([1-9][0-9]*)$")
TEC_RE = re.compile(r"^([A-Z]{3})-T([0-9]{2,})$")


@pytest.fixture(scope="module")
def small() -> Election:
    return generate(60, 20, seed=11)


@pytest.fixture(scope="module")
def full() -> tuple[Election, float]:
    t0 = time.perf_counter()
    el = generate()
    return el, time.perf_counter() - t0


def stations(el: Election) -> list[dict]:
    return [r for r in el.registry if r["type"] == "station"]


def units(el: Election, level: str) -> list[dict]:
    return [r for r in el.registry if r["type"] == "unit" and r["level"] == level]


def values(el: Election, topic: str) -> list[dict]:
    return [ev.value for ev in el.events if ev.topic == topic]


def protocols(el: Election, source: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for p in values(el, "protocols"):
        if p["source"] == source:
            assert p["station_id"] not in out, "one version 1 per (station, source)"
            out[p["station_id"]] = p
    return out


def control_violations(f: dict) -> list[str]:
    paper = f["issued_in_station"] + f["issued_mobile"]
    bad = []
    if f["ballots_received"] != paper + f["ballots_cancelled"]:
        bad.append("received")
    if f["ballots_found"] > paper:
        bad.append("found")
    if f["ballots_found"] + f["voted_electronic"] != f["invalid"] + sum(f["votes"].values()):
        bad.append("balance")
    if paper + f["voted_electronic"] > f["registered"]:
        bad.append("issued")
    if f["added"] > f["registered"]:
        bad.append("added")
    return bad


def sum_figures(items: list[dict]) -> dict:
    out = {k: sum(f[k] for f in items) for k in FIELDS}
    out["votes"] = {p: sum(f["votes"][p] for f in items) for p in PARTIES}
    return out


def check_control_relations(el: Election) -> None:
    pec = protocols(el, "pec")
    assert set(pec) == {s["station_id"] for s in stations(el)}
    for sid, p in pec.items():
        f = p["figures"]
        assert list(f) == [*FIELDS, "votes"] and tuple(f["votes"]) == PARTIES, sid
        counts = [f[k] for k in FIELDS] + list(f["votes"].values())
        assert all(type(x) is int and x >= 0 for x in counts), sid
        assert control_violations(f) == [], sid


# --- determinism --------------------------------------------------------------------------


def test_same_seed_gives_identical_output(tmp_path) -> None:
    a, b = generate(60, 20, seed=5), generate(60, 20, seed=5)
    assert a.registry == b.registry and a.events == b.events
    assert a.truth == b.truth
    to_jsonl(a, tmp_path / "a.jsonl")
    to_jsonl(b, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_different_seed_gives_different_output() -> None:
    a, b = generate(60, 20, seed=5), generate(60, 20, seed=6)
    assert a.events != b.events
    assert [s["registered_baseline"] for s in stations(a)] != [s["registered_baseline"] for s in stations(b)]


# --- structure ----------------------------------------------------------------------------


@pytest.mark.parametrize(("n_stations", "n_tecs"), [(60, 20), (40, 16), (16, 16), (10, 5), (5, 1), (300, 40)])
def test_counts_match_arguments(n_stations: int, n_tecs: int) -> None:
    el = generate(n_stations, n_tecs, seed=3)
    recs, tecs, sts = units(el, "rec"), units(el, "tec"), stations(el)
    assert len(sts) == n_stations
    assert len(tecs) == n_tecs
    expected_recs = list(REGIONS) if n_tecs >= 16 else list(REGIONS)[:n_tecs]
    assert [r["unit_id"] for r in recs] == expected_recs
    assert all(r["parent_id"] == "KZ" and r["name"] == REGIONS[r["unit_id"]] for r in recs)
    # every REC has a TEC, every TEC has a station, parents are consistent
    tec_parent = {t["unit_id"]: t["parent_id"] for t in tecs}
    assert set(tec_parent.values()) == set(expected_recs)
    assert Counter(s["tec_id"] for s in sts).keys() == tec_parent.keys()
    assert all(tec_parent[s["tec_id"]] == s["rec_id"] for s in sts)


def test_registry_order_and_ballot_record(small: Election) -> None:
    reg = small.registry
    assert reg[0] == {"type": "ballot", "v": 1, "parties": list(PARTIES)}
    kinds = [r.get("level", r["type"]) for r in reg[1:]]
    assert kinds == sorted(kinds, key=["rec", "tec", "station"].index)
    assert small.parties == PARTIES
    assert all(r["v"] == 1 for r in reg)


def test_ids_match_patterns(small: Election) -> None:
    numbers: dict[str, list[int]] = defaultdict(list)
    for s in stations(small):
        m = STATION_RE.match(s["station_id"])
        assert m and m.group(1) == s["rec_id"], s
        assert TEC_RE.match(s["tec_id"]).group(1) == s["rec_id"], s
        assert s["name"] == f"PS {m.group(2)} (synthetic)"
        numbers[s["rec_id"]].append(int(m.group(2)))
    for rec, nums in numbers.items():
        assert sorted(nums) == list(range(1, len(nums) + 1)), rec
    for t in units(small, "tec"):
        m = TEC_RE.match(t["unit_id"])
        assert m and m.group(1) == t["parent_id"]
        assert t["name"] == f"{REGIONS[t['parent_id']]} TEC {int(m.group(2))} (synthetic)"


def test_too_few_stations_raises() -> None:
    with pytest.raises(ValueError):
        generate(19, 20)
    with pytest.raises(ValueError):
        generate(5, 0)


def test_registered_baseline_within_cap(small: Election) -> None:
    sizes = [s["registered_baseline"] for s in stations(generate(2000, 60, seed=1))]
    assert all(200 <= n <= 3000 for n in sizes)
    assert sum(800 <= n <= 2000 for n in sizes) > len(sizes) // 4  # skewed, many mid-size


# --- turnout ------------------------------------------------------------------------------


def test_turnout_reports_rise_through_the_day(small: Election) -> None:
    baseline = {s["station_id"]: s["registered_baseline"] for s in stations(small)}
    reports: dict[str, list[dict]] = defaultdict(list)
    for t in values(small, "turnout"):
        reports[t["station_id"]].append(t)
    assert reports.keys() == baseline.keys()
    for sid, rs in reports.items():
        rs.sort(key=lambda r: r["seq"])
        assert [r["seq"] for r in rs] == [1, 2, 3, 4, 5, 6]
        for r, hour in zip(rs, (10, 12, 14, 16, 18, 20), strict=True):
            at = datetime.fromisoformat(r["reported_at"])
            assert timedelta(0) <= at - (DAY + timedelta(hours=hour)) <= timedelta(minutes=15)
            assert r["registered"] == baseline[sid] + r["added"]
            assert r["voted"] <= r["registered"]
        for a, b in zip(rs, rs[1:], strict=False):
            assert a["voted"] <= b["voted"] and a["added"] <= b["added"], sid
        assert rs[-1]["added"] <= 0.02 * baseline[sid] + 1
        assert small.truth.turnout[sid] == {k: rs[-1][k] for k in ("registered", "added", "voted")}


def test_regional_turnout_differs(full: tuple[Election, float]) -> None:
    el = full[0]
    voted, reg = Counter(), Counter()
    for sid, t in el.truth.turnout.items():
        voted[el.truth.station_rec[sid]] += t["voted"]
        reg[el.truth.station_rec[sid]] += t["registered"]
    rate = {r: voted[r] / reg[r] for r in reg}
    assert 0.2 < rate["ALA"] < 0.4
    assert all(0.5 < v < 0.9 for r, v in rate.items() if r != "ALA")


# --- protocols ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("with_evotes", [True, False])
def test_pec_protocols_satisfy_control_relations(seed: int, with_evotes: bool) -> None:
    check_control_relations(generate(60, 20, seed=seed, with_evotes=with_evotes))


def test_control_check_detects_a_broken_protocol(small: Election) -> None:
    f = dict(next(iter(small.truth.pec.values())))
    f["ballots_cancelled"] += 1
    assert control_violations(f) == ["received"]


def test_pec_matches_last_turnout_report(small: Election) -> None:
    for sid, p in protocols(small, "pec").items():
        f, last = p["figures"], small.truth.turnout[sid]
        assert (f["registered"], f["added"]) == (last["registered"], last["added"])
        assert f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"] == last["voted"]
        assert small.truth.pec[sid] == f


def test_all_sources_carry_the_same_figures_at_the_right_times(small: Election) -> None:
    pec, tec, cec = (protocols(small, s) for s in ("pec", "tec", "cec"))
    observer = protocols(small, "observer")
    assert pec.keys() == tec.keys() == cec.keys() and observer.keys() <= pec.keys()
    for sid, p in pec.items():
        t_pec, t_tec, t_cec = (datetime.fromisoformat(x[sid]["recorded_at"]) for x in (pec, tec, cec))
        assert DAY + timedelta(hours=20, minutes=30) <= t_pec < DAY + timedelta(days=1)
        assert timedelta(minutes=30) <= t_tec - t_pec <= timedelta(hours=3)
        assert max(DAY + timedelta(hours=26), t_tec) <= t_cec <= DAY + timedelta(hours=34)
        assert tec[sid]["figures"] == cec[sid]["figures"] == p["figures"]
        if sid in observer:
            assert observer[sid]["figures"] == p["figures"]
        assert all(x[sid]["version"] == 1 for x in (pec, tec, cec))


def test_truth_official_equals_cec_figures(small: Election) -> None:
    cec = protocols(small, "cec")
    assert small.truth.official == {sid: p["figures"] for sid, p in cec.items()}
    reg = {s["station_id"]: s for s in stations(small)}
    assert small.truth.station_tec == {sid: s["tec_id"] for sid, s in reg.items()}
    assert small.truth.station_rec == {sid: s["rec_id"] for sid, s in reg.items()}


def test_pec_figures_are_plausible(small: Election) -> None:
    for sid, f in small.truth.pec.items():
        found, valid = f["ballots_found"], sum(f["votes"].values())
        assert round(0.005 * found) <= f["invalid"] <= round(0.03 * found), sid
        assert f["issued_mobile"] <= 0.06 * (f["issued_in_station"] + f["issued_mobile"]) + 1
        assert 0.7 < f["votes"]["Nur Otan"] / valid < 0.98, sid
        assert f["ballots_received"] >= f["registered"] - f["added"], sid


def test_truth_figures_are_distinct_objects(small: Election) -> None:
    event_figs = {id(v["figures"]) for v in values(small, "protocols") + values(small, "summaries")}
    for sid in small.truth.pec:
        pec, official = small.truth.pec[sid], small.truth.official[sid]
        assert pec is not official and pec["votes"] is not official["votes"]
        assert id(pec) not in event_figs and id(official) not in event_figs


def test_truth_is_not_shared_with_events(small: Election) -> None:
    el = generate(60, 20, seed=11)
    p = next(v for v in values(el, "protocols") if v["source"] == "pec")
    p["figures"]["votes"]["Nur Otan"] += 1000
    assert el.truth.pec[p["station_id"]] == small.truth.pec[p["station_id"]]


# --- summaries ----------------------------------------------------------------------------


def test_summaries_equal_sums_of_children(small: Election) -> None:
    tec_figs = {sid: p["figures"] for sid, p in protocols(small, "tec").items()}
    members: dict[str, list[str]] = defaultdict(list)
    for s in stations(small):
        members[s["tec_id"]].append(s["station_id"])
        members[s["rec_id"]].append(s["station_id"])
        members["KZ"].append(s["station_id"])
    summaries = values(small, "summaries")
    levels = Counter(s["level"] for s in summaries)
    assert levels == {"tec": 20, "rec": 16, "cec": 1}
    for s in summaries:
        sids = members[s["unit_id"]]
        assert s["stations_included"] == len(sids), s["unit_id"]
        assert s["figures"] == sum_figures([tec_figs[x] for x in sids]), s["unit_id"]
        assert s["version"] == 1
    by_unit = {s["unit_id"]: s["figures"] for s in summaries}
    for rec in {s["rec_id"] for s in stations(small)}:
        children = [by_unit[t["unit_id"]] for t in units(small, "tec") if t["parent_id"] == rec]
        assert by_unit[rec] == sum_figures(children)


def test_summaries_follow_their_children(small: Election) -> None:
    tec_at: dict[str, datetime] = {}
    for ev in small.events:
        if ev.topic == "protocols" and ev.value["source"] == "tec":
            tec = small.truth.station_tec[ev.key]
            tec_at[tec] = max(ev.at, tec_at.get(tec, ev.at))
    summary_at = {ev.key: ev.at for ev in small.events if ev.topic == "summaries"}
    for t in units(small, "tec"):
        assert summary_at[t["unit_id"]] > tec_at[t["unit_id"]]
        assert summary_at[t["parent_id"]] > summary_at[t["unit_id"]]
    last = small.events[-1]
    assert (last.topic, last.key, last.value["level"]) == ("summaries", "KZ", "cec")


# --- e-votes ------------------------------------------------------------------------------


def test_evote_count_equals_voted_electronic(small: Election) -> None:
    evoting = {s["station_id"] for s in stations(small) if s["evoting"]}
    per_station = Counter(v["station_id"] for v in values(small, "evote"))
    assert per_station and per_station.keys() <= evoting
    for sid, p in protocols(small, "pec").items():
        assert p["figures"]["voted_electronic"] == per_station.get(sid, 0), sid
        assert small.truth.evote_ballots[sid] == per_station.get(sid, 0), sid


def test_evotes_are_well_formed(small: Election) -> None:
    evs = [ev for ev in small.events if ev.topic == "evote"]
    tokens = [ev.value["voter_token"] for ev in evs]
    assert len(set(tokens)) == len(tokens)
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)
    for ev in evs:
        assert ev.key == ev.value["station_id"]
        assert DAY + timedelta(hours=8) <= ev.at < DAY + timedelta(hours=20)
        assert set(ev.value) == {"type", "v", "station_id", "voter_token", "issued_at"}


def test_evoted_ballots_appear_in_turnout_in_time(small: Election) -> None:
    issued: dict[str, list[datetime]] = defaultdict(list)
    for ev in small.events:
        if ev.topic == "evote":
            issued[ev.key].append(ev.at)
    for t in values(small, "turnout"):
        at = datetime.fromisoformat(t["reported_at"])
        assert t["voted"] >= sum(x <= at for x in issued[t["station_id"]])


def test_without_evotes() -> None:
    on, off = generate(60, 20, seed=4), generate(60, 20, seed=4, with_evotes=False)
    assert off.registry == on.registry  # the evoting flag does not depend on with_evotes
    assert not values(off, "evote")
    assert all(f["voted_electronic"] == 0 for f in off.truth.pec.values())
    check_control_relations(off)


def test_evote_total_near_requested() -> None:
    el = generate(600, 40, seed=9, evote_ballots=3000)
    assert len(values(el, "evote")) == 3000


# --- events and files ---------------------------------------------------------------------


def test_events_sorted_and_timestamped(small: Election) -> None:
    ats = [ev.at for ev in small.events]
    assert ats == sorted(ats)
    time_field = {
        "turnout": "reported_at",
        "protocols": "recorded_at",
        "summaries": "recorded_at",
        "evote": "issued_at",
    }
    for ev in small.events:
        assert ev.at.utcoffset() == timedelta(hours=6)
        assert ev.value[time_field[ev.topic]] == ev.at.isoformat()
        assert ev.value[time_field[ev.topic]].endswith("+06:00")
        key = ev.value["unit_id"] if ev.topic == "summaries" else ev.value["station_id"]
        assert ev.key == key


def test_to_jsonl_and_registry_json(small: Election, tmp_path) -> None:
    to_jsonl(small, tmp_path / "e.jsonl")
    registry_to_json(small, tmp_path / "r.json")
    lines = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    n = len(small.registry)
    assert len(lines) == n + len(small.events)
    assert [x["value"] for x in lines[:n]] == small.registry
    assert lines[0]["key"] == "ballot" and {x["topic"] for x in lines[:n]} == {"registry"}
    reg_at = datetime.fromisoformat(lines[0]["at"])
    assert reg_at == small.events[0].at - timedelta(hours=1)
    for x, ev in zip(lines[n:], small.events, strict=True):
        assert x == {"at": ev.at.isoformat(), "topic": ev.topic, "key": ev.key, "value": ev.value}
    assert json.loads((tmp_path / "r.json").read_text()) == small.registry


# --- full size ----------------------------------------------------------------------------


@pytest.mark.slow
def test_full_size_election(full: tuple[Election, float]) -> None:
    el, seconds = full
    sts = stations(el)
    assert len(sts) == 9727 and len(units(el, "tec")) == 205 and len(units(el, "rec")) == 16
    assert sum(s["evoting"] for s in sts) == 1512
    assert all(200 <= s["registered_baseline"] <= 3000 for s in sts)
    assert 7_500_000 < sum(s["registered_baseline"] for s in sts) < 10_500_000
    check_control_relations(el)
    assert el.truth.official == {sid: p["figures"] for sid, p in protocols(el, "cec").items()}
    n_evotes = len(values(el, "evote"))
    assert 19_000 <= n_evotes <= 20_000
    assert sum(el.truth.evote_ballots.values()) == n_evotes
    ats = [ev.at for ev in el.events]
    assert ats == sorted(ats)
    cec = next(s for s in values(el, "summaries") if s["level"] == "cec")
    assert cec["stations_included"] == 9727
    assert cec["figures"] == sum_figures(list(el.truth.official.values()))
    nur = cec["figures"]["votes"]["Nur Otan"] / sum(cec["figures"]["votes"].values())
    assert 0.8 < nur < 0.92
    assert seconds < 30, f"generate() took {seconds:.1f}s"


@pytest.mark.parametrize("spill", [1, 997, 10**9])
def test_the_streamed_night_is_the_generated_night_byte_for_byte(spill) -> None:
    """stream() spills sorted runs and merges them: the same registry and the same events in
    the same order (ties included) as generate(), whatever the size of a run."""
    from monitor.cli.sources import replay_line
    from producers.elections.synthetic import stream
    from producers.replay import messages_of

    el = generate(300, 20, seed=9, evote_ballots=400)
    registry, events = stream(300, 20, seed=9, evote_ballots=400, spill_events=spill)
    assert list(registry) == el.registry
    got = [replay_line(m) for m in messages_of([], list(events))]
    assert got == [replay_line(m) for m in messages_of([], el.events)]
    assert len({e.at for e in el.events}) < len(el.events)  # ties exist, so order is tested
