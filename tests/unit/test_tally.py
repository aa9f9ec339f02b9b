"""The pure tally against ground truth: exact totals, duplicates, reordering, restarts."""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from truth import compare, expected_totals

from monitor.contract import DECODERS, build, parse
from monitor.tally import PartitionStore, take_station_docs
from monitor.testing import InMemoryTally
from producers.elections.synthetic import generate

PARTITIONS = 3


@pytest.fixture(scope="module")
def election():
    return generate(80, 20, seed=11, evote_ballots=400)


def partition_of(key: str) -> int:
    return sum(key.encode()) % PARTITIONS


def run(election, events, flush_every: int = 50):
    """The whole tally in memory, as a worker would run it (monitor.testing)."""
    tally = InMemoryTally(election.registry, partitions=PARTITIONS)
    tally.feed_events(events, flush_every)
    assert tally.rejected == []
    return tally.registry, tally.snapshot()


def test_exact_totals_at_every_level(election):
    registry, snap = run(election, election.events)
    expected = expected_totals(election.truth, registry.parties)
    assert set(expected) <= set(snap)
    assert compare(snap, expected, registry.parties) == []
    # The CEC is the sum of everything: spot-check one figure against a direct sum.
    nur = sum(f["votes"]["Nur Otan"] for f in election.truth.pec.values())
    assert snap["KZ"]["protocol"]["votes"]["Nur Otan"] == nur


def test_clean_election_moves_no_votes(election):
    _, snap = run(election, election.events)
    assert all(v == 0 for v in snap["KZ"]["moved"]["votes"].values())


def test_every_event_twice_and_reordered_within_station(election):
    events = list(election.events) * 2
    rng = random.Random(5)
    by_station: dict[str, list] = {}
    for e in events:
        by_station.setdefault(e.key, []).append(e)
    for evs in by_station.values():
        rng.shuffle(evs)
    shuffled = [e for k in sorted(by_station) for e in by_station[k]]
    registry, snap = run(election, shuffled)
    assert compare(snap, expected_totals(election.truth, registry.parties), registry.parties) == []


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), dup=st.floats(0, 1), flush_every=st.integers(1, 400))
def test_any_order_any_duplication_same_totals(election, seed, dup, flush_every):
    rng = random.Random(seed)
    events = [e for e in election.events for _ in range(2 if rng.random() < dup else 1)]
    rng.shuffle(events)
    registry, snap = run(election, events, flush_every)
    assert compare(snap, expected_totals(election.truth, registry.parties), registry.parties) == []


def test_altered_cec_figures_show_as_moved_votes(election):
    """Official view follows the highest level; the difference is the votes moved."""
    events = list(election.events)
    target = next(e for e in events if e.topic == "protocols" and e.value["source"] == "cec")
    forged = dict(target.value, version=2)
    figs = dict(forged["figures"])
    votes = dict(figs["votes"])
    votes["Nur Otan"] += 100
    votes["ANSDP"] -= min(100, votes["ANSDP"])
    taken = target.value["figures"]["votes"]["ANSDP"] - votes["ANSDP"]
    figs["votes"] = votes
    forged["figures"] = figs
    events.append(type(target)(target.at, target.topic, target.key, forged))
    registry, snap = run(election, events)
    sid = target.key
    for unit in ("KZ", election.truth.station_rec[sid], election.truth.station_tec[sid]):
        assert snap[unit]["moved"]["votes"]["Nur Otan"] == 100
        assert snap[unit]["moved"]["votes"]["ANSDP"] == -taken
    assert snap["KZ"]["protocol"]["votes"] == run(election, election.events)[1]["KZ"]["protocol"]["votes"]


def test_lower_level_never_overrides_higher(election):
    """A late PEC revision changes the protocol view, not a station the CEC already has."""
    events = list(election.events)
    pec = next(e for e in events if e.topic == "protocols" and e.value["source"] == "pec")
    revised = dict(pec.value, version=2)
    figs = dict(revised["figures"], invalid=revised["figures"]["invalid"] + 7)
    revised["figures"] = figs
    events.append(type(pec)(pec.at, pec.topic, pec.key, revised))
    registry, snap = run(election, events)
    base = run(election, election.events)[1]
    assert snap["KZ"]["protocol"]["invalid"] == base["KZ"]["protocol"]["invalid"] + 7
    assert snap["KZ"]["official"]["invalid"] == base["KZ"]["official"]["invalid"]
    assert snap["KZ"]["moved"]["invalid"] == -7


def test_seats_projected_in_both_views(election):
    _, snap = run(election, election.events)
    for view in ("protocol", "official"):
        seats = snap["KZ"]["seats"][view]
        assert sum(seats["seats"].values()) == 98
        assert seats["seats"]["Nur Otan"] >= 1
        votes = snap["KZ"][view]["votes"]
        participants = snap["KZ"][view]["participants"]
        for party in seats["qualified"]:
            assert votes[party] * 100 >= 7 * participants


def test_late_older_version_never_replaces_a_newer_one(election):
    """v2 arrives first, v1 (the older figures) arrives late: the total keeps v2."""
    events = list(election.events)
    i, pec = next(
        (i, e) for i, e in enumerate(events) if e.topic == "protocols" and e.value["source"] == "pec"
    )
    v2 = dict(pec.value, version=2)
    v2["figures"] = dict(v2["figures"], invalid=v2["figures"]["invalid"] + 3)
    events.insert(i, type(pec)(pec.at, pec.topic, pec.key, v2))  # v2 before v1
    turnout = [e for e in events if e.topic == "turnout" and e.key == pec.key]
    last = max(turnout, key=lambda e: e.value["seq"])
    events.remove(last)
    events.append(last)  # the highest seq is also the last to arrive ...
    first = min(turnout, key=lambda e: e.value["seq"])
    events.append(first)  # ... and a stale seq 1 arrives after it
    registry, snap = run(election, events)
    base = run(election, election.events)[1]
    assert snap["KZ"]["protocol"]["invalid"] == base["KZ"]["protocol"]["invalid"] + 3
    assert snap["KZ"]["turnout"] == base["KZ"]["turnout"]


def _events_of(election, topic):
    return [e for e in election.events if e.topic == topic]


def test_turnout_curve_per_report_equals_the_sum_of_the_reports(election):
    _, snap = run(election, election.events)
    for seq in range(1, 7):
        reports = [e.value for e in _events_of(election, "turnout") if e.value["seq"] == seq]
        got = snap["KZ"]["turnout"]["by_report"][str(seq)]
        assert got["registered"] == sum(r["registered"] for r in reports)
        assert got["voted"] == sum(r["voted"] for r in reports)
        assert got["stations_reported"] == len(reports)
    assert snap["KZ"]["turnout"]["by_report"]["6"]["voted"] == snap["KZ"]["turnout"]["voted"]


def test_summary_revision_keeps_every_version(election):
    rec = next(e for e in _events_of(election, "summaries") if e.value["level"] == "rec")
    v2 = dict(rec.value, version=2)
    v2["figures"] = dict(v2["figures"], issued_in_station=v2["figures"]["issued_in_station"] + 50)
    events = [*election.events, type(rec)(rec.at, rec.topic, rec.key, v2)]
    _, snap = run(election, events)
    versions = snap[rec.key]["summary_versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["participants"] - versions[0]["participants"] == 50
    assert snap[rec.key]["summary"]["version"] == 2


def _forged_cec(election, station_event, votes_of):
    figs = dict(station_event.value["figures"])
    figs["votes"] = votes_of(figs)
    value = dict(station_event.value, version=station_event.value["version"] + 1, figures=figs)
    return type(station_event)(station_event.at, station_event.topic, station_event.key, value)


def test_unanimous_and_altered_stations_are_counted_per_unit(election):
    cec = [e for e in _events_of(election, "protocols") if e.value["source"] == "cec"]
    big = next(e for e in cec if e.value["figures"]["issued_in_station"] > 300)

    def all_to_leader(figs):
        valid = sum(figs["votes"].values())
        return {p: (valid if p == "Nur Otan" else 0) for p in figs["votes"]}

    events = [*election.events, _forged_cec(election, big, all_to_leader)]
    _, snap = run(election, events)
    sid = big.key
    for unit in ("KZ", election.truth.station_rec[sid], election.truth.station_tec[sid]):
        assert snap[unit]["unanimous_stations"]["all"] == 1
        assert snap[unit]["unanimous_stations"]["over_200"] == 1
        assert snap[unit]["altered_stations"] == 1
    base = run(election, election.events)[1]
    assert base["KZ"]["unanimous_stations"]["all"] == 0 and base["KZ"]["altered_stations"] == 0


def test_a_voter_token_used_at_two_stations_in_different_partitions_is_found(election):
    votes = _events_of(election, "evote")
    first = votes[0]
    other = next(e for e in votes if partition_of(e.key) != partition_of(first.key))
    again = dict(other.value, voter_token=first.value["voter_token"])
    events = [*election.events, type(other)(other.at, other.topic, other.key, again)]
    _, snap = run(election, events)
    assert snap["KZ"]["evote_multiple"] == {"tokens": 1, "ballots": 2, "stations": 2}
    assert snap["KZ"]["evote_ballots"] == len(votes) + 1
    base = run(election, election.events)[1]
    assert base["KZ"]["evote_multiple"] == {"tokens": 0, "ballots": 0, "stations": 0}


def test_station_documents_hold_every_source_and_version(election):
    registry = build(election.registry)
    store = PartitionStore("protocols", registry)
    sid = next(iter(election.truth.pec))
    mine = [e for e in _events_of(election, "protocols") if e.key == sid]
    for e in mine:
        store.apply_record(DECODERS["protocols"](parse(orjson.dumps(e.value), 65536), registry))
    doc = orjson.loads(orjson.dumps(take_station_docs(store)[sid]))  # as the read model has it
    assert doc["official_source"] == "cec"
    assert set(doc["sources"]) == {e.value["source"] for e in mine}
    pec = election.truth.pec[sid]
    assert doc["sources"]["pec"]["figures"][-len(election.parties) :] == [
        pec["votes"][p] for p in election.parties
    ]
    assert take_station_docs(store) == {}  # taken: nothing changed since


def test_a_newer_owner_replaces_what_an_earlier_owner_published():
    """After a rebuild the first partial is complete: it replaces the partition's state, so a
    TEC the earlier owner published but the new state no longer has cannot linger."""
    from monitor.tally import merge

    def partial(epoch, wm, tecs):
        return {"kind": "turnout", "epoch": epoch, "wm": wm, "tecs": tecs, "summaries": {}}

    old, _ = merge(None, partial(1, 50, {"A": {"x": 1}, "B": {"x": 2}}))
    new, changed = merge(old, partial(2, 10, {"A": {"x": 3}}))  # lower watermark, newer epoch
    assert changed and set(new["tecs"]) == {"A"} and orjson.loads(new["tecs"]["A"][1]) == {"x": 3}
    stale, changed = merge(new, partial(1, 99, {"B": {"x": 9}}))  # a late partial of the old owner
    assert not changed and set(stale["tecs"]) == {"A"}
    same, changed = merge(stale, partial(2, 20, {"B": {"x": 4}}))  # same epoch: merged by watermark
    assert changed and set(same["tecs"]) == {"A", "B"}


def test_the_protocol_partitions_backlog_is_the_latest_partials():
    import math

    from monitor.tally.national import merge, read_to

    def partial(kind, wm, behind):
        return {
            "kind": kind,
            "wm": wm,
            "epoch": 1,
            "tecs": {},
            "summaries": {},
            "behind": behind,
            "clock": float(wm),
        }

    merged = {}
    for tp, kind, wm, behind in [
        ("protocols:0", "protocols", 10, 40),
        ("protocols:1", "protocols", 5, 0),
        ("turnout:0", "turnout", 9, 70),
        ("protocols:0", "protocols", 50, 0),
        ("protocols:0", "protocols", 20, 30),
    ]:  # a late, older partial
        merged[tp], _ = merge(merged.get(tp), partial(kind, wm, behind))
    # turnout's backlog does not hold the clock back
    assert read_to(merged, kinds=("protocols",)) == math.inf
    merged["protocols:1"], _ = merge(merged["protocols:1"], partial("protocols", 6, 12))
    assert read_to(merged, kinds=("protocols",)) == 6.0


def test_the_time_every_input_partition_is_read_to():
    import math

    from monitor.tally.national import merge, read_to

    def partial(kind, wm, behind, clock):
        return {
            "kind": kind,
            "wm": wm,
            "epoch": 1,
            "tecs": {},
            "summaries": {},
            "behind": behind,
            "clock": clock,
        }

    merged = {}
    for tp, kind, wm, behind, clock in [
        ("protocols:0", "protocols", 10, 40, 100.0),
        ("summaries:0", "summaries", 5, 0, 300.0),
        ("turnout:0", "turnout", 9, 0, 50.0),
        ("evote:0", "evote", 3, 99, 10.0),
    ]:
        merged[tp], _ = merge(merged.get(tp), partial(kind, wm, behind, clock))
    # protocols:0 is behind at 100; turnout:0 at its end counts as read to any time; the
    # e-ballots are never compared with commissions' figures
    assert read_to(merged) == 100.0
    merged["protocols:0"], changed = merge(merged["protocols:0"], partial("protocols", 50, 0, 400.0))
    assert changed and read_to(merged) == math.inf
    # falling behind without reading anything new is a change: the snapshot must see it
    merged["summaries:0"], changed = merge(merged["summaries:0"], partial("summaries", 5, 2, 300.0))
    assert changed and read_to(merged) == 300.0
    _, changed = merge(merged["summaries:0"], partial("summaries", 5, 2, 300.0))
    assert not changed
    # a partition of the topics that has published nothing yet: nothing is read past
    assert read_to(merged, ["protocols:0", "summaries:0"]) == 300.0
    assert read_to(merged, ["protocols:0", "protocols:1"]) == 0.0
