"""Several contests per station (contract v2 ``contest``): kz2023's party lists and its
single-member districts, decoded against the definition and tallied where each is held."""

from __future__ import annotations

import copy

import pytest

from monitor.contract import build, decode_protocol
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
