"""Statistical forensics: silent on clean elections, finding injected regions, never raising."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import orjson
import pytest

from monitor.contract import Registry
from monitor.detect.findings import SEVERITIES
from monitor.detect.forensics import (
    KINDS,
    ForensicThresholds,
    forensic_findings,
    forensic_statistics,
    sweep_size,
)
from monitor.detect.station import control_breaks
from monitor.detect.stats import binom_sf, chi2_sf, normal_sf, spearman
from monitor.testing import InMemoryTally
from producers.elections.scenarios import forensic as FS
from producers.elections.synthetic import PARTIES, Election, generate

STATIONS, TECS = 3000, 80  # about 190 stations a region: small enough to be quick
INJECTED = ("EKZ", "SKZ")


def read_model(el: Election, share: float = 1.0) -> tuple[dict[str, Any], Registry]:
    """The station read model after ``share`` of the protocol events, as a worker keeps it."""
    tally = InMemoryTally(el.registry, partitions=4)
    protocols = [e for e in el.events if e.topic == "protocols"]
    tally.feed_events(protocols[: round(share * len(protocols))])
    return tally.stations, tally.registry


@pytest.fixture(scope="module")
def clean() -> Election:
    return generate(STATIONS, TECS, seed=1)


@pytest.fixture(
    scope="module",
    params=[
        ("ballot_stuffing", {"share": 0.4, "strength": (0.5, 1.0)}),
        ("round_percentages", {"share": 0.3}),
        ("round_counts", {"share": 0.5}),
    ],
    ids=lambda p: p[0],
)
def injected(request: pytest.FixtureRequest, clean: Election) -> FS.Injection:
    name, kwargs = request.param
    inj: FS.Injection = FS.SCENARIOS[name](clean, INJECTED, seed=1, **kwargs)
    return inj


@pytest.fixture(scope="module")
def clean_model(clean: Election) -> tuple[dict[str, Any], Registry]:
    return read_model(clean)


@pytest.fixture(scope="module")
def injected_model(injected: FS.Injection) -> tuple[dict[str, Any], Registry]:
    return read_model(injected.election)


# ---- clean elections -------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_models(clean_model: Any) -> dict[int, tuple[dict[str, Any], Registry]]:
    return {1: clean_model, **{s: read_model(generate(STATIONS, TECS, seed=s)) for s in (2, 3, 4)}}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_clean_elections_give_no_finding(clean_models: Any, seed: int) -> None:
    stations, registry = clean_models[seed]
    stats = forensic_statistics(stations, registry)
    assert {s.kind for s in stats} == set(KINDS)  # every test ran, and none spoke
    assert forensic_findings(stations, registry) == []


def test_the_correction_is_what_keeps_clean_elections_silent(clean_models: Any) -> None:
    """Over four clean elections some of the 83 tests per sweep fall below alpha = 0.01 by
    chance: without the correction across regions and tests they would be findings."""
    t = ForensicThresholds()
    below_alpha = []
    for stations, registry in clean_models.values():
        assert sweep_size(registry) == 5 * 16 + 3
        below_alpha += [
            s for s in forensic_statistics(stations, registry, t) if s.large_enough and s.p_value < t.alpha
        ]
    assert below_alpha
    assert not any(s.significant for s in below_alpha)
    assert all(s.level_used == pytest.approx(t.alpha / 83) for s in below_alpha)


# ---- injected regions ------------------------------------------------------------------


def test_injected_regions_are_found(injected: FS.Injection, injected_model: Any) -> None:
    found = forensic_findings(*injected_model)
    flagged = {f.unit_id for f in found if f.kind in injected.kinds}
    assert flagged - {"KZ"} == set(injected.regions)
    # nothing in the regions left alone
    assert {f.unit_id for f in found} <= {*injected.regions, "KZ"}


def test_findings_are_labelled_as_statistical_signals(injected_model: Any) -> None:
    found = forensic_findings(*injected_model)
    assert found
    for f in found:
        assert f.kind in KINDS and f.severity in ("info", "warning") and f.station_id is None
        assert (f.level, f.unit_id == "KZ") in {("rec", False), ("cec", True)}
        assert f.evidence["statistical_signal"] is True
        assert 0.0 <= f.evidence["p_value"] < f.evidence["alpha"] / f.evidence["tests_corrected"]
        assert f.evidence["n_stations"] >= ForensicThresholds().min_stations
        assert "statistical signal, not proof" in f.explanation
        orjson.dumps(f.evidence)  # goes out as JSON
    assert len({f.finding_id for f in found}) == len(found)  # subjects keep them apart


def test_stuffing_excess_is_near_the_ballots_added(clean: Election) -> None:
    inj = FS.stuff_ballots(clean, INJECTED, share=0.4, strength=(0.5, 1.0), seed=1)
    leaders = FS.leaders(clean.truth)
    added = {rec: 0 for rec in INJECTED}
    for sid in inj.stations:
        rec, p = clean.truth.station_rec[sid], leaders[clean.truth.station_rec[sid]]
        added[rec] += inj.election.truth.pec[sid]["votes"][p] - clean.truth.pec[sid]["votes"][p]
    # the estimate, significant or not (its power is the test above's business)
    excess = {
        s.unit_id: s.evidence
        for s in forensic_statistics(*read_model(inj.election))
        if s.kind == "forensic_excess_votes"
    }
    for rec in INJECTED:
        ev = excess[rec]
        # within three standard errors and a quarter of the truth
        assert abs(ev["excess_votes"] - added[rec]) < max(3 * ev["standard_error"], added[rec] / 4), rec


def test_scenarios_keep_every_protocol_consistent(injected: FS.Injection, clean: Election) -> None:
    el = injected.election
    assert injected.stations and clean.truth.pec != el.truth.pec
    by_station: dict[str, list[dict[str, Any]]] = {}
    for e in el.events:
        if e.topic in ("protocols", "turnout"):
            by_station.setdefault(e.value["station_id"], []).append(e.value)
    for sid in injected.stations:
        assert clean.truth.station_rec[sid] in injected.regions
        pec = el.truth.pec[sid]
        flat = {**pec, **pec["votes"]}
        assert control_breaks(flat, PARTIES) == []
        protocols = [v for v in by_station[sid] if v["type"] == "protocol"]
        assert protocols and all(v["figures"] == pec for v in protocols)
        reports = sorted((v for v in by_station[sid] if v["type"] == "turnout"), key=lambda v: v["seq"])
        assert reports[-1]["voted"] == FS.participants(pec)
        assert all(a["voted"] <= b["voted"] for a, b in zip(reports, reports[1:], strict=False))
    # every summary is still the sum of its stations
    for e in el.events:
        if e.topic == "summaries":
            v = e.value
            members = [
                s
                for s in el.truth.pec
                if v["unit_id"] in ("KZ", el.truth.station_tec[s], el.truth.station_rec[s])
            ]
            assert v["figures"]["votes"] == {
                p: sum(el.truth.pec[s]["votes"][p] for s in members) for p in PARTIES
            }
            assert v["figures"]["ballots_found"] == sum(el.truth.pec[s]["ballots_found"] for s in members)


def test_a_scenario_leaves_its_input_alone(clean: Election) -> None:
    before = orjson.dumps([e.value for e in clean.events])
    FS.stuff_ballots(clean, INJECTED, seed=2)
    assert orjson.dumps([e.value for e in clean.events]) == before
    with pytest.raises(ValueError):
        FS.round_counts(clean, ("XYZ",))


# ---- thresholds --------------------------------------------------------------------------


def test_min_stations_keeps_a_thin_region_silent(clean: Election) -> None:
    inj = FS.round_counts(clean, INJECTED, share=0.5, seed=1)
    stations, registry = read_model(inj.election)
    thin = {
        sid: d for sid, d in stations.items() if not sid.startswith("EKZ-") or int(sid.split("-")[1]) <= 120
    }
    strict = forensic_findings(thin, registry, replace(ForensicThresholds(), min_stations=150))
    assert "EKZ" not in [f.unit_id for f in strict] and "SKZ" in [f.unit_id for f in strict]
    default = forensic_findings(thin, registry)
    assert "EKZ" in [f.unit_id for f in default if f.kind == "forensic_last_digit"]


def test_small_counts_are_left_out_of_the_digit_test(clean_model: Any) -> None:
    """Counts under 100 have no uniform last digit (small parties' counts pile up on low
    digits): let them in and the clean election fails the test."""
    stations, registry = clean_model
    loose = replace(ForensicThresholds(), digit_min_count=10)
    assert [f.kind for f in forensic_findings(stations, registry, loose)].count("forensic_last_digit")
    assert forensic_findings(stations, registry) == []


def test_thresholds_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        ForensicThresholds(alpha=0.0)
    with pytest.raises(ValueError):
        ForensicThresholds(mode_bin=0.0)
    with pytest.raises(ValueError):
        ForensicThresholds(min_stations=1)


# ---- partial and odd data ----------------------------------------------------------------


@pytest.mark.parametrize("share", [0.0, 0.02, 0.1, 0.3, 0.6])
def test_partial_data_never_raises(injected: FS.Injection, share: float) -> None:
    stations, registry = read_model(injected.election, share)
    for f in forensic_findings(stations, registry):
        assert f.evidence["n_stations"] >= 50


def _doc(figures: Any, official: Any = "pec") -> dict[str, Any]:
    return {
        "protocols": {"sources": {"pec": {"version": 1, "figures": figures}}, "official_source": official}
    }


FINE = [800, 0, 800, 200, 580, 20, 0, 600, 10, 20, 500, 10, 20, 20, 10, 10]


@pytest.mark.parametrize(
    "doc",
    [
        {},
        None,
        7,
        {"protocols": None},
        {"protocols": {"sources": None}},
        {"protocols": {"sources": {"pec": None}}},
        {"protocols": {"sources": {"pec": {}}}},
        _doc([1, 2]),
        _doc([]),
        _doc(None),
        _doc("text"),
        _doc([1.5] * 16),
        _doc([True] * 16),
        _doc([-1] * 16),
        _doc(FINE[:-1]),
        _doc([*FINE, 1]),
        _doc([0] * 16),
    ],
)
def test_odd_documents_say_nothing_and_never_raise(clean_model: Any, doc: Any) -> None:
    stations, registry = clean_model
    sids = sorted(registry.stations)[:400]
    assert forensic_findings({sid: doc for sid in sids}, registry) == []
    # mixed with good data, the odd ones are simply left out
    assert forensic_findings({**stations, **{sid: doc for sid in sids}}, registry) == []


@pytest.mark.parametrize("official", [None, 3, "rec", "observer"])
def test_a_missing_official_source_falls_back_to_the_pec(clean_model: Any, official: Any) -> None:
    stations, registry = clean_model
    pec_only = {
        sid: {
            "protocols": {"sources": {"pec": d["protocols"]["sources"]["pec"]}, "official_source": official}
        }
        for sid, d in stations.items()
    }
    want = [(s.unit_id, s.kind, s.subject, s.p_value) for s in forensic_statistics(stations, registry)]
    assert [
        (s.unit_id, s.kind, s.subject, s.p_value) for s in forensic_statistics(pec_only, registry)
    ] == want


def _every_station(stations: dict[str, Any], change: Any) -> dict[str, Any]:
    out = {}
    for sid, d in stations.items():
        figures = list(d["protocols"]["sources"]["pec"]["figures"])
        change(figures)
        out[sid] = _doc(figures)
    return out


def _nobody_registered(f: list[int]) -> None:
    f[0] = f[1] = 0


def _no_valid_vote(f: list[int]) -> None:
    f[8] += sum(f[9:])
    f[9:] = [0] * 7


def _one_party(f: list[int]) -> None:
    f[10] += sum(f[9:]) - f[10]
    f[9:] = [0 if i != 1 else f[10] for i in range(7)]


@pytest.mark.parametrize("change", [_nobody_registered, _no_valid_vote, _one_party])
def test_degenerate_elections_say_nothing(clean_model: Any, change: Any) -> None:
    stations, registry = clean_model
    assert forensic_findings(_every_station(stations, change), registry) == []


def test_odd_registries_and_tiny_inputs_say_nothing(clean_model: Any) -> None:
    stations, registry = clean_model
    assert forensic_findings({}, registry) == []
    assert forensic_findings(stations, Registry()) == []  # no station known: nothing to place
    one = dict([next(iter(stations.items()))])
    assert forensic_findings(one, registry) == []
    assert forensic_findings({"NOPE-1": _doc(FINE), **one}, registry) == []


# ---- the arithmetic ----------------------------------------------------------------------


def test_tail_probabilities_match_known_values() -> None:
    assert chi2_sf(16.918978, 9) == pytest.approx(0.05, rel=1e-5)  # table values
    assert chi2_sf(21.665994, 9) == pytest.approx(0.01, rel=1e-5)
    assert chi2_sf(2.0, 2) == pytest.approx(math.exp(-1.0), rel=1e-12)
    assert chi2_sf(0.0, 9) == 1.0 and chi2_sf(400.0, 9) < 1e-70
    assert normal_sf(1.959964) == pytest.approx(0.025, rel=1e-5)
    exact = sum(math.comb(20, i) * 0.3**i * 0.7 ** (20 - i) for i in range(9, 21))
    assert binom_sf(9, 20, 0.3) == pytest.approx(exact, rel=1e-12)
    assert binom_sf(0, 20, 0.3) == 1.0 and binom_sf(21, 20, 0.3) == 0.0
    assert spearman([1, 2, 2, 3], [10, 20, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


@pytest.mark.slow
def test_the_2007_drill_runs_through() -> None:
    """The drill's figures are mostly synthetic: only that the forensics run on it, and say
    what they say in the documented shape (docs/forensics.md reports what that is)."""
    from producers.elections.kz2007.night import build as drill

    stations, registry = read_model(drill(seed=2007))
    for f in forensic_findings(stations, registry):
        assert f.kind in KINDS and f.severity in SEVERITIES and f.evidence["statistical_signal"]
