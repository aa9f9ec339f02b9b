"""A synthetic night for any definition (producers/night): ids from the level patterns,
protocols that keep the definition's relations, summaries that are exact sums, and the
tally in memory exact at every level with no finding but the ones the night plants."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from monitor.contract import build
from monitor.election import load, parse
from monitor.election.load import BUILTIN, builtin_names
from monitor.testing import InMemoryTally
from producers.elections.night import FormError, FormFiller, IdWriter, PatternNotWritable, generate


@pytest.mark.parametrize(
    ("pattern", "n", "ancestors", "want"),
    [
        ("[0-9]{2}", 1, {}, "01"),
        ("[0-9]{2}", 42, {}, "42"),
        ("{rec}-[0-9]{1,6}", 5, {"rec": "AKM"}, "AKM-5"),
        ("{rec}-T[0-9]{2,4}", 7, {"rec": "ALA"}, "ALA-T07"),
        ("{kelurahan}-[0-9]{3}", 12, {"kelurahan": "31.71.01.1001"}, "31.71.01.1001-012"),
        ("{provinsi}\\.[0-9]{2}", 3, {"provinsi": "31"}, "31.03"),
        ("AKM|AKT|ALR", 2, {}, "AKT"),
    ],
)
def test_ids_are_written_from_the_pattern(pattern, n, ancestors, want):
    assert IdWriter("x", pattern).nth(n, ancestors) == want


def test_a_pattern_holds_only_so_many_ids_under_one_parent():
    w = IdWriter("rec", "AKM|AKT")
    assert w.capacity == 2
    with pytest.raises(PatternNotWritable, match="holds 2 ids"):
        w.nth(3, {})
    assert IdWriter("x", "[0-9]{2}").capacity == 99


@pytest.mark.parametrize("pattern", ["[0-9]+", "(AKM|AKT)-[0-9]{2}", "[^0-9]{2}", "A.B"])
def test_a_pattern_it_cannot_enumerate_is_a_one_line_error(pattern):
    with pytest.raises(PatternNotWritable) as info:
        IdWriter("tec", pattern)
    assert "\n" not in str(info.value) and "give the registry yourself" in str(info.value)


@pytest.mark.parametrize("name", builtin_names())
def test_filled_forms_keep_every_relation(name):
    d = load(name)
    filler, rng = FormFiller(d), random.Random(name)
    for _ in range(300):
        registered = rng.randint(20, 3000)
        took_part = rng.randint(1, registered)
        invalid = rng.randint(0, took_part // 20)
        votes = [rng.randint(0, took_part - invalid) for _ in range(3)]
        votes[-1] = max(0, took_part - invalid - sum(votes[:-1]))
        if sum(votes) != took_part - invalid:
            continue
        fields = filler.fill(rng, registered, took_part, invalid, votes)
        vector = [*fields, *votes]
        assert d.broken(vector) == [], (name, dict(zip(d.fields, fields, strict=True)))
        assert d.quantity("registered", vector) == registered
        assert d.participants(vector, len(d.fields)) == took_part
        assert min(fields) >= 0


def test_relations_that_no_protocol_keeps_are_a_one_line_error():
    text = (
        (BUILTIN / "kz2023.yaml")
        .read_text()
        .replace(
            "  - id: additions_within_list\n",
            "  - id: impossible\n    check: invalid > registered\n  - id: additions_within_list\n",
        )
    )
    filler = FormFiller(parse(text, "impossible.yaml"))
    with pytest.raises(FormError) as info:
        filler.fill(random.Random(1), 500, 300, 5, [100, 95, 100])
    assert "\n" not in str(info.value) and "invalid > registered" in str(info.value)


@pytest.fixture(scope="module", params=["kz2023", "indonesia", "kz2007"])
def night(request):
    d = load(request.param)
    n = generate(d, 600, seed=5)
    tally = InMemoryTally(n.registry, definition=d)
    for e in n.events:
        tally.feed(e.topic, e.key, e.value)
    tally.flush()
    return n, tally


def test_the_night_is_registered_and_deterministic(night):
    n, _ = night
    reg = build(n.registry, definition=n.definition)
    assert len(reg.stations) == 600 == len(n.truth)
    again = generate(n.definition, 600, seed=5)
    assert again.registry == n.registry and [e.value for e in again.events] == [e.value for e in n.events]
    levels = Counter(n.level.values())
    assert set(levels) == set(n.definition.levels[1:-1])  # a unit at every level in between


def test_kz2023s_districts_are_its_contests_units():
    n = generate(load("kz2023"), 300, seed=5)
    districts = {c.unit for c in n.definition.contests if c.unit}
    assert {u for u, lv in n.level.items() if lv == "okrug"} == districts


def test_each_district_contest_is_tallied_exactly_where_it_is_held(night):
    n, tally = night
    snap = tally.snapshot()
    later = [c for c in n.definition.contests[1:]]
    assert {c for _, c in n.contest_truth} == {c.id for c in later}  # every station voted in one
    for c in later:
        held = snap[c.unit]["contests"][c.id]
        want = n.expected_contest(c.id, c.unit)
        assert held["official"]["votes"] == want["votes"] == held["protocol"]["votes"], c.id
        assert held["official"]["stations_reported"] == len(n.under(c.unit))
        winner = max(want["votes"], key=lambda s: (want["votes"][s], -list(want["votes"]).index(s)))
        assert held["seats"]["official"]["seats"][winner] == 1
    assert all("contests" not in u for uid, u in snap.items() if n.level.get(uid) != "okrug")


def test_every_summary_is_the_exact_sum_of_its_stations(night):
    n, _ = night
    summaries = [e.value for e in n.events if e.topic == "summaries"]
    assert {s["level"] for s in summaries} == set(n.definition.summary_levels)
    for s in summaries:
        if "contest" in s:  # a later contest's, where it is held: the sum of its protocols
            assert s["figures"] == n.expected_contest(s["contest"], s["unit_id"])
            assert n.definition.contest(s["contest"]).unit == s["unit_id"]
        else:
            assert s["figures"] == n.expected(s["unit_id"])
        assert s["stations_included"] == len(n.under(s["unit_id"]))


def test_the_tally_is_exact_at_every_level(night):
    n, tally = night
    assert not tally.rejected, tally.rejected[:3]
    snap = tally.snapshot()
    top = n.definition.file.levels[0].pattern
    assert set(snap) == {top, *n.level}
    for uid, unit in snap.items():
        want = n.expected(uid)
        for view in ("protocol", "official"):
            assert unit[view]["votes"] == want["votes"], (uid, view)
            assert unit[view]["stations_reported"] == len(n.under(uid))
        assert unit["stations"] == len(n.under(uid))


def test_only_the_planted_misreads_are_found(night):
    n, tally = night
    found = Counter((f.kind, f.station_id) for f in tally.findings())
    want = Counter()
    for sid in n.misread:
        want[("arithmetic_inconsistent", sid)] += 1
        want[("protocol_altered", sid)] += 1
    assert found == want
    assert bool(n.misread) == (n.definition.name == "indonesia")
