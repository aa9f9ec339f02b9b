"""Prometheus metrics: the tally exported from a real snapshot, counters, no per-station series."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.adapters.metrics import Metrics
from monitor.election import load
from monitor.testing import InMemoryTally
from producers.elections.night import generate as night
from producers.elections.synthetic import generate

PARTITIONS = 3
MOVED = 25


def run(election, events, flush_every: int = 50):
    """The whole tally in memory (monitor.testing), as tests/unit/test_tally does."""
    tally = InMemoryTally(election.registry, partitions=PARTITIONS)
    tally.feed_events(events, flush_every)
    return tally.registry, tally.snapshot()


@pytest.fixture(scope="module")
def election():
    return generate(40, 16, seed=1)


@pytest.fixture(scope="module")
def tallied(election):
    """A clean election plus one CEC protocol forged to move MOVED votes ANSDP -> Nur Otan."""
    events = list(election.events)
    target = next(
        e
        for e in events
        if e.topic == "protocols"
        and e.value["source"] == "cec"
        and e.value["figures"]["votes"]["ANSDP"] >= MOVED
    )
    forged = dict(target.value, version=2)
    votes = dict(forged["figures"]["votes"])
    votes["Nur Otan"] += MOVED
    votes["ANSDP"] -= MOVED
    forged["figures"] = dict(forged["figures"], votes=votes)
    events.append(type(target)(target.at, target.topic, target.key, forged))
    registry, snap = run(election, events)
    return registry, snap, target.key


@pytest.fixture
def metrics(tallied):
    m = Metrics.create(CollectorRegistry(), prefix="tabmon")
    m.tally.update(tallied[1])
    return m


def value(m, name, **labels):
    return m.registry.get_sample_value(name, labels)


def test_national_votes_per_view_and_party(election, tallied, metrics):
    registry, snap, _ = tallied
    for view in ("protocol", "official"):
        for party in registry.parties:
            got = value(metrics, "tabmon_votes", view=view, level="cec", unit="KZ", party=party)
            assert got == snap["KZ"][view]["votes"][party]
    # ... and those are the generator's own numbers, not just the snapshot echoed back.
    pec_nur = sum(f["votes"]["Nur Otan"] for f in election.truth.pec.values())
    assert pec_nur > 0
    assert (
        value(metrics, "tabmon_votes", view="protocol", level="cec", unit="KZ", party="Nur Otan") == pec_nur
    )
    assert (
        value(metrics, "tabmon_votes", view="official", level="cec", unit="KZ", party="Nur Otan")
        == pec_nur + MOVED
    )


def test_rec_and_tec_series(tallied, metrics):
    registry, snap, sid = tallied
    station = registry.stations[sid]
    for unit, level in ((station.rec_id, "rec"), (station.tec_id, "tec")):
        for view in ("protocol", "official"):
            for party in registry.parties:
                got = value(metrics, "tabmon_votes", view=view, level=level, unit=unit, party=party)
                assert got == snap[unit][view]["votes"][party]
            assert (
                value(metrics, "tabmon_invalid_ballots", view=view, level=level, unit=unit)
                == snap[unit][view]["invalid"]
            )
            assert (
                value(metrics, "tabmon_participants", view=view, level=level, unit=unit)
                == snap[unit][view]["participants"]
            )
        assert value(metrics, "tabmon_stations", level=level, unit=unit) == registry.stations_in(unit)
    # A unit exported at the wrong level does not exist.
    assert (
        value(metrics, "tabmon_votes", view="official", level="tec", unit=station.rec_id, party="Nur Otan")
        is None
    )


def test_every_unit_exported(tallied, metrics):
    registry, snap, _ = tallied
    units = {"KZ", *registry.rec_tecs, *registry.tec_rec}
    for uid in units:
        assert value(metrics, "tabmon_stations", level=registry.level_of(uid), unit=uid) == (
            registry.stations_in(uid)
        )


def test_moved_votes(tallied, metrics):
    registry, snap, sid = tallied
    station = registry.stations[sid]
    for unit, level in (("KZ", "cec"), (station.rec_id, "rec"), (station.tec_id, "tec")):
        assert value(metrics, "tabmon_votes_moved", level=level, unit=unit, party="Nur Otan") == MOVED
        assert value(metrics, "tabmon_votes_moved", level=level, unit=unit, party="ANSDP") == -MOVED
        assert (
            value(metrics, "tabmon_votes_moved", level=level, unit=unit, party="PPK")
            == snap[unit]["moved"]["votes"]["PPK"]
            == 0
        )
    other = next(t for t in registry.tec_rec if t != station.tec_id)
    assert value(metrics, "tabmon_votes_moved", level="tec", unit=other, party="Nur Otan") == 0


def test_seats(tallied, metrics):
    registry, snap, _ = tallied
    for view in ("protocol", "official"):
        seats = {p: value(metrics, "tabmon_seats_projected", view=view, party=p) for p in registry.parties}
        expected = snap["KZ"]["seats"][view]["seats"]
        assert {p: n for p, n in seats.items() if n is not None} == expected
        assert sum(expected.values()) == 98
        assert seats["Nur Otan"] >= 1


def test_stations_reported_per_view(tallied, metrics):
    registry, snap, sid = tallied
    for view in ("turnout", "protocol", "official"):
        got = value(metrics, "tabmon_stations_reported", view=view, level="cec", unit="KZ")
        assert got == 40  # a complete election: every station reported in every view
        assert got == snap["KZ"][view]["stations_reported"]
        tec = registry.stations[sid].tec_id
        assert value(
            metrics, "tabmon_stations_reported", view=view, level="tec", unit=tec
        ) == registry.stations_in(tec)


def test_turnout_figures(election, tallied, metrics):
    registry, snap, _ = tallied
    truth = election.truth.turnout
    for fig in ("registered", "added", "voted"):
        got = value(metrics, "tabmon_turnout_voters", figure=fig, level="cec", unit="KZ")
        assert got == sum(t[fig] for t in truth.values()) == snap["KZ"]["turnout"][fig]
    ratio = value(metrics, "tabmon_turnout_ratio", level="cec", unit="KZ")
    registered = sum(t["registered"] for t in truth.values())
    assert ratio == pytest.approx(sum(t["voted"] for t in truth.values()) / registered)
    assert 0 < ratio < 1
    assert (
        value(metrics, "tabmon_evote_ballots", level="cec", unit="KZ")
        == sum(election.truth.evote_ballots.values())
        > 0
    )


def test_turnout_ratio_absent_without_registered_voters(election, tallied):
    """A unit with nothing reported has no ratio (no division by zero, no fake 0 %)."""
    registry, snap, _ = tallied
    empty = run(election, [])[1]
    m = Metrics.create(CollectorRegistry())
    m.tally.update(empty)
    assert value(m, "tabmon_turnout_voters", figure="registered", level="cec", unit="KZ") == 0
    assert value(m, "tabmon_turnout_ratio", level="cec", unit="KZ") is None
    assert value(m, "tabmon_stations", level="cec", unit="KZ") == 40


def test_counters_end_in_total(metrics):
    metrics.events.labels(topic="turnout").inc(3)
    metrics.events.labels(topic="turnout").inc()
    metrics.rejected.labels(topic="protocols", reason="unknown_station").inc()
    metrics.partials.inc(2)
    assert value(metrics, "tabmon_events_total", topic="turnout") == 4
    assert value(metrics, "tabmon_rejected_total", topic="protocols", reason="unknown_station") == 1
    assert value(metrics, "tabmon_partials_published_total") == 2
    assert value(metrics, "tabmon_events_total", topic="evote") is None
    for family in metrics.registry.collect():
        if family.type == "counter":
            for s in family.samples:
                assert s.name.endswith(("_total", "_created")), s.name


def test_gauges_and_histograms(metrics):
    metrics.lag.labels(topic="turnout").set(17)
    metrics.offset.labels(topic="turnout", partition="2").set(99)
    metrics.batch_seconds.observe(0.2)
    assert value(metrics, "tabmon_consumer_lag_messages", topic="turnout") == 17
    assert value(metrics, "tabmon_last_processed_offset", topic="turnout", partition="2") == 99
    assert value(metrics, "tabmon_ingest_batch_duration_seconds_count") == 1


def test_seconds_since_last_event(metrics):
    metrics.tally.last_event["turnout"] = time.time() - 30
    got = value(metrics, "tabmon_seconds_since_last_event", topic="turnout")
    assert 30 <= got < 60
    assert value(metrics, "tabmon_seconds_since_last_event", topic="evote") is None


def test_no_per_station_series(tallied, metrics):
    registry, _, _ = tallied
    metrics.events.labels(topic="turnout").inc()
    units, values = set(), set()
    for family in metrics.registry.collect():
        for s in family.samples:
            values.update(s.labels.values())
            if "unit" in s.labels:
                units.add(s.labels["unit"])
    assert units == {"KZ", *registry.rec_tecs, *registry.tec_rec}
    assert not values & set(registry.stations)


def test_two_metrics_on_two_registries_do_not_collide(tallied):
    _, snap, _ = tallied
    a = Metrics.create(CollectorRegistry(), prefix="tabmon")
    b = Metrics.create(CollectorRegistry(), prefix="tabmon")
    a.events.labels(topic="turnout").inc(5)
    a.tally.update(snap)
    assert value(a, "tabmon_events_total", topic="turnout") == 5
    assert value(b, "tabmon_events_total", topic="turnout") is None
    labels = {"view": "official", "level": "cec", "unit": "KZ", "party": "Nur Otan"}
    assert value(a, "tabmon_votes", **labels) == snap["KZ"]["official"]["votes"]["Nur Otan"]
    assert value(b, "tabmon_votes", **labels) is None
    b.tally.update({})
    assert value(a, "tabmon_votes", **labels) is not None


def test_prefix_names_every_series(tallied):
    m = Metrics.create(CollectorRegistry(), prefix="drill")
    m.tally.update(tallied[1])
    m.events.labels(topic="turnout").inc()
    names = {s.name for f in m.registry.collect() for s in f.samples}
    assert "drill_events_total" in names and "drill_votes" in names
    assert all(n.startswith("drill_") for n in names)


def test_findings_figures_are_exported():
    units = {
        "KZ": {
            "level": "cec",
            "unit_id": "KZ",
            "stations": 3,
            "turnout": {
                "registered": 10,
                "added": 1,
                "voted": 5,
                "stations_reported": 3,
                "by_report": {
                    "1": {"registered": 9, "added": 0, "voted": 2},
                    "6": {"registered": 10, "added": 1, "voted": 5},
                },
            },
            "evote_ballots": 4,
            "protocol": {"stations_reported": 0, "invalid": 0, "participants": 0, "votes": {}},
            "official": {"stations_reported": 0, "invalid": 0, "participants": 0, "votes": {}},
            "moved": {"votes": {}},
            "altered_stations": 2,
            "unanimous_stations": {"all": 3, "over_200": 1, "over_1000": 0, "over_200_no_invalid": 1},
            "evote_multiple": {"tokens": 1, "ballots": 3, "stations": 2},
            "summary_versions": [
                {"version": 1, "registered": 200, "participants": 100},
                {"version": 2, "registered": 200, "participants": 120},
            ],
        },
    }
    reg = CollectorRegistry()
    m = Metrics.create(reg, prefix="tabmon")
    m.tally.update(units)
    lv = {"level": "cec", "unit": "KZ"}
    assert reg.get_sample_value("tabmon_unanimous_stations", {"size": "over_200", **lv}) == 1
    assert reg.get_sample_value("tabmon_altered_stations", lv) == 2
    assert reg.get_sample_value("tabmon_evote_multiple", {"what": "ballots", **lv}) == 3
    assert reg.get_sample_value("tabmon_turnout_report_voters", {"figure": "voted", "report": "1", **lv}) == 2
    assert reg.get_sample_value("tabmon_summary_turnout_ratio", {"version": "2", **lv}) == 0.6


@pytest.mark.parametrize("name", ["indonesia", "kz2023"])
def test_any_definitions_tally_is_exported(name):
    """Every unit of every level, on a form whose list size is a quantity (Indonesia's DPT +
    DPTb + DPK): a scrape that raised would serve nothing at all."""
    d = load(name)
    n = night(d, 150, seed=1)
    tally = InMemoryTally(n.registry, definition=d)
    for e in n.events:
        tally.feed(e.topic, e.key, e.value)
    tally.flush()
    metrics = Metrics.create(CollectorRegistry())
    metrics.tally.commission_level = d.levels[-2]
    metrics.tally.update(tally.snapshot())
    text = generate_latest(metrics.registry).decode()
    top = d.file.levels[0].pattern
    assert f'tabmon_stations{{level="{d.top}",unit="{top}"}} 150.0' in text
    levels = {lv for lv in d.levels[:-1]}
    assert all(f'level="{lv}"' in text for lv in levels)
    assert f'tabmon_turnout_report_voters{{figure="voted",level="{d.levels[-2]}"' not in text
