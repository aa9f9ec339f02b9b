"""Several contests per station (contract v2 ``contest``): kz2023's party lists and its
single-member districts, decoded against the definition and tallied where each is held."""

from __future__ import annotations

import copy

import pytest

from monitor.contract import build, decode_protocol
from monitor.detect.findings import finding_id
from monitor.election import load
from monitor.errors import ContractError
from monitor.tally import take_partial
from monitor.testing import InMemoryTally
from producers.elections.night import generate


@pytest.fixture(scope="module")
def night():
    d = load("kz2023")
    return generate(d, 120, seed=9)


@pytest.fixture(scope="module")
def registry(night):
    return build(night.registry, definition=night.definition)


def _district_protocol(night):
    e = next(e for e in night.events if e.topic == "protocols" and "contest" in e.value)
    return copy.deepcopy(e.value)


def test_a_district_protocol_decodes_with_its_own_candidates(night, registry):
    obj = _district_protocol(night)
    p = decode_protocol(obj, registry)
    assert p.contest == obj["contest"]
    assert len(p.figures) == len(night.definition.fields) + len(night.definition.selections[p.contest])


def test_no_contest_or_the_first_contest_is_the_party_list(night, registry):
    e = next(e for e in night.events if e.topic == "protocols" and "contest" not in e.value)
    obj = copy.deepcopy(e.value)
    assert decode_protocol(obj, registry).contest == ""
    obj["contest"] = "mazhilis_list"
    assert decode_protocol(obj, registry).contest == ""


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda o: o.update(contest="smd_99"), "unknown_contest"),
        (lambda o: o.update(contest=7), "unknown_contest"),
        (lambda o: o["figures"]["votes"].update(a=1), "unknown_party"),
        (lambda o: o["figures"]["votes"].pop("c1"), "missing_party"),
    ],
)
def test_a_protocol_naming_a_contest_wrongly_is_rejected(night, registry, change, code):
    obj = _district_protocol(night)
    change(obj)
    with pytest.raises(ContractError) as info:
        decode_protocol(obj, registry)
    assert info.value.code == code


def test_a_station_outside_the_district_cannot_vote_in_it(night, registry):
    obj = _district_protocol(night)
    held = night.definition.contest(obj["contest"]).unit
    other = next(c for c in night.definition.contests[1:] if c.unit != held)
    obj["contest"] = other.id
    obj["figures"]["votes"] = dict.fromkeys(night.definition.selections[other.id], 0)
    with pytest.raises(ContractError) as info:
        decode_protocol(obj, registry)
    assert info.value.code == "wrong_contest" and held not in str(info.value.detail)


def test_a_later_version_of_a_district_protocol_replaces_it_and_order_does_not_matter(night):
    d = night.definition
    obj = _district_protocol(night)
    newer = copy.deepcopy(obj)
    newer["version"] = 2
    first = next(iter(newer["figures"]["votes"]))
    newer["figures"]["votes"][first] += 10
    newer["figures"]["ballots_found"] += 10
    totals = []
    for events in ([obj, newer], [newer, obj, newer]):
        tally = InMemoryTally(night.registry, definition=d)
        for v in events:
            tally.feed("protocols", v["station_id"], v)
        tally.flush()
        unit = d.contest(obj["contest"]).unit
        totals.append(tally.snapshot()[unit]["contests"][obj["contest"]]["official"]["votes"])
    assert totals[0] == totals[1]
    assert totals[0][first] == obj["figures"]["votes"][first] + 10


def test_stage_two_refuses_a_district_entry_of_the_wrong_width(night):
    from monitor.tally.partition import PartitionStore
    from monitor.tally.wire import check_partial

    d = night.definition
    store = PartitionStore("protocols", build(night.registry, definition=d))
    for e in night.events:
        if e.topic == "protocols":
            store.apply_record(decode_protocol(e.value, store.registry))
    partial = take_partial(store, 10)
    partial["tp"] = "protocols:0"
    widths = {c: len(d.fields) + len(d.selections[c]) for c in d.contest_ids[1:]}
    args = (len(store.registry.parties), len(d.fields), d.summary_levels)
    assert check_partial(partial, *args, widths) is partial
    entry = next(x for x in partial["tecs"].values() if "contests" in x)
    entry["contests"][next(iter(entry["contests"]))]["pec"].append(0)
    with pytest.raises(ContractError, match="the contest's pec"):
        check_partial(partial, *args, widths)
    entry["contests"] = {"smd_99": {}}
    with pytest.raises(ContractError, match="not a later contest"):
        check_partial(partial, *args, widths)


def _fed(night, extra):
    tally = InMemoryTally(night.registry, definition=night.definition)
    for e in night.events:
        tally.feed(e.topic, e.key, e.value)
    for v in extra:
        tally.feed("protocols", v["station_id"], v)
    tally.flush()
    return tally


def test_a_district_protocol_that_breaks_a_relation_or_differs_upstream_is_found(night):
    obj = _district_protocol(night)
    broken = copy.deepcopy(obj)  # the station's own, a vote added that no ballot accounts for
    broken["version"] = 2
    first = next(iter(broken["figures"]["votes"]))
    broken["figures"]["votes"][first] += 40
    entered = copy.deepcopy(obj)  # the district commission moves 25 votes to the first candidate
    entered["source"] = "okrug"
    second = list(entered["figures"]["votes"])[1]
    entered["figures"]["votes"][first] += 25
    entered["figures"]["votes"][second] -= 25
    found = _fed(night, [broken, entered]).findings()
    mine = [f for f in found if f.station_id == obj["station_id"]]
    assert sorted((f.kind, f.evidence.get("contest"), f.evidence.get("source")) for f in mine) == [
        ("arithmetic_inconsistent", obj["contest"], "pec"),
        ("protocol_altered", obj["contest"], None),
    ]
    altered = next(f for f in mine if f.kind == "protocol_altered")
    assert altered.evidence["compared"] == ["pec", "okrug"]
    assert altered.evidence["delta"][first] == 25 - 40 and altered.evidence["delta"][second] == -25
    assert altered.explanation.startswith(night.definition.contest(obj["contest"]).name)
    assert all(f.station_id != obj["station_id"] for f in found if f not in mine)


def test_a_first_contest_version_change_is_found_on_any_form():
    d = load("indonesia")
    n = generate(d, 60, seed=2)
    e = next(e for e in n.events if e.topic == "protocols" and e.value["source"] == "kpps")
    later = copy.deepcopy(e.value)
    later["version"] = 2
    votes = later["figures"]["votes"]
    votes["01"], votes["02"] = votes["01"] + 7, votes["02"] - 7
    found = [f for f in _fed(n, [later]).findings() if f.station_id == e.key and f.kind == "protocol_altered"]
    versions = [f for f in found if "versions" in f.evidence]  # the others: kpps v2 against sirekap's copy
    assert [f.evidence["versions"] for f in versions] == [[1, 2]]
    assert versions[0].evidence["delta"] == {"01": 7, "02": -7}


# -- a later contest's summaries: each district commission's own result -------------------------
def _district_summary(night):
    e = next(e for e in night.events if e.topic == "summaries" and "contest" in e.value)
    return copy.deepcopy(e.value)


def test_a_district_summary_is_kept_in_the_district_and_equals_its_protocols(night):
    tally = _fed(night, [])
    units = tally.snapshot()
    d = night.definition
    summarised = {
        (e.value["contest"], e.key) for e in night.events if e.topic == "summaries" and "contest" in e.value
    }
    assert len(summarised) == len(
        [c for c in d.contests[1:] if c.unit in units]
    )  # one per district held here
    for cid, uid in summarised:
        doc = units[uid]["contests"][cid]
        assert doc["held_in"] == uid
        want = night.expected_contest(cid, uid)
        assert {k: doc["summary"][k] for k in want} == want
        assert doc["summary"]["stations_included"] == doc["protocol"]["stations_reported"]
    assert not [f for f in tally.findings() if f.kind == "summary_mismatch"]


def test_a_district_summary_that_differs_from_its_protocols_is_found_as_the_districts(night):
    obj = _district_summary(night)
    obj["version"] = 2
    first, second = list(obj["figures"]["votes"])[:2]
    obj["figures"]["votes"][first] += 30
    obj["figures"]["votes"][second] -= 30
    tally = _fed(night, [])
    tally.feed("summaries", obj["unit_id"], obj)
    found = [f for f in tally.findings() if f.kind == "summary_mismatch"]
    assert [(f.unit_id, f.subject, f.evidence["contest"]) for f in found] == [
        (obj["unit_id"], obj["contest"], obj["contest"])
    ]
    (f,) = found
    assert f.evidence["delta"] == {first: 30, second: -30}
    assert f.evidence["compared_with"] == "stations' protocols" and f.evidence["complete"]
    assert f.explanation.startswith(f"The summary of {night.definition.contest(obj['contest']).name} in ")
    # not the unit's party-list summary: another subject, another id
    assert f.finding_id != finding_id("summary_mismatch", obj["unit_id"], None)


@pytest.mark.parametrize("election", ["kz2023", "indonesia"])
def test_a_first_contest_summary_or_its_revision_is_checked_on_the_definitions_form(election):
    """summary_mismatch and turnout_revised read the definition's fields and quantities,
    not kz2007's: on another form they used to find nothing."""
    d = load(election)
    n = generate(d, 150, seed=5)
    e = next(
        e
        for e in n.events
        if e.topic == "summaries" and "contest" not in e.value and e.value["level"] != d.top
    )
    tampered = copy.deepcopy(e.value)
    tampered["version"] = 2
    first, second = list(tampered["figures"]["votes"])[:2]
    tampered["figures"]["votes"][first] += 20
    tampered["figures"]["votes"][second] -= 20
    tally = _fed(n, [])
    assert [f for f in tally.findings() if f.kind in ("summary_mismatch", "turnout_revised")] == []
    tally.feed("summaries", e.key, tampered)
    found = [f for f in tally.findings() if f.kind == "summary_mismatch"]
    # the unit against its stations or children, and its parent against its children's summaries
    parent = n.parent[e.key]
    assert sorted((f.unit_id, f.evidence["delta"]) for f in found) == sorted(
        [(e.key, {first: 20, second: -20}), (parent, {first: -20, second: 20})]
    )
    assert "contest" not in found[0].evidence
    raised = copy.deepcopy(tampered)  # version 3: the turnout raised by 12 points
    raised["version"] = 3
    registered = d.quantity("registered", [raised["figures"][f] for f in d.fields])
    more = round(0.12 * registered)
    field = next(
        f for f in d.fields if f.startswith(("issued_in_station", "voted"))
    )  # counted in participants
    raised["figures"][field] += more
    tally.feed("summaries", e.key, raised)
    revised = [f for f in tally.findings() if f.kind == "turnout_revised" and f.unit_id == e.key]
    assert [f.evidence["to_version"] for f in revised] == [3]
    assert revised[0].evidence["points"] >= 11


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda o: o.update(contest="smd_99"), "unknown_contest"),
        (lambda o: o.update(unit_id="KZ", level="cec"), "wrong_contest"),
        (lambda o: o["figures"]["votes"].update(a=1), "unknown_party"),
    ],
)
def test_a_summary_naming_a_contest_wrongly_is_rejected(night, registry, change, code):
    from monitor.contract import decode_summary

    obj = _district_summary(night)
    assert decode_summary(obj, registry).contest == obj["contest"]
    change(obj)
    with pytest.raises(ContractError) as exc:
        decode_summary(obj, registry)
    assert exc.value.code == code


def test_stage_two_refuses_contest_summaries_of_an_unknown_contest_or_width(night):
    from monitor.tally.partition import PartitionStore
    from monitor.tally.wire import check_partial_for

    store = PartitionStore("summaries", build(night.registry, definition=night.definition))
    from monitor.contract import decode_summary

    for e in night.events:
        if e.topic == "summaries":
            store.apply_record(decode_summary(e.value, store.registry))
    partial = take_partial(store, 10)
    partial["tp"] = "summaries:0"
    assert check_partial_for(partial, store.registry) is partial
    cid = next(iter(partial["contest_summaries"]))
    records = next(iter(partial["contest_summaries"][cid].values()))
    records[0]["figures"].append(0)
    with pytest.raises(ContractError, match="summary figures"):
        check_partial_for(partial, store.registry)
    partial["contest_summaries"] = {"smd_99": {}}
    with pytest.raises(ContractError, match="not a later contest"):
        check_partial_for(partial, store.registry)
