"""The scenario library: every injected anomaly is really in the events, from its triggering
event on, and nothing else changed.

The checks below read the events themselves (plain loops over the JSON values, nothing from
producers.elections.scenarios.inject or monitor.detect but the threshold numbers), so an injector that records
an anomaly it did not make, or makes one it does not record, fails here.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import timedelta

import orjson
import pytest
from truth import FIXED

from monitor.contract import default_definition
from monitor.testing import InMemoryTally
from producers.elections.scenarios.inject import KINDS, VARIANTS, inject, scenario_thresholds
from producers.elections.synthetic import generate

T = scenario_thresholds()
DEADLINE = T.polls_close + T.protocol_grace  # type: ignore[operator]


@pytest.fixture(scope="module")
def clean():
    return generate(240, 24, seed=41, evote_ballots=700)


@pytest.fixture(scope="module")
def scenario(clean):
    before = orjson.dumps([e.value for e in clean.events])
    sc = inject(clean, per_kind=len(max(VARIANTS.values(), key=len)), seed=7)
    assert orjson.dumps([e.value for e in clean.events]) == before, "the clean election was mutated"
    return sc


# -- an independent reading of the events ----------------------------------------------------


class View:
    """What a prefix of the events says, per station and unit."""

    def __init__(self, election, events):
        self.parties = election.parties
        self.station_tec = {r["station_id"]: r["tec_id"] for r in election.registry if r["type"] == "station"}
        self.tec_rec = {
            r["unit_id"]: r["parent_id"]
            for r in election.registry
            if r["type"] == "unit" and r["level"] == "tec"
        }
        self.protocols, self.reports, self.tokens, self.summaries = {}, {}, Counter(), {}
        self.pec_times, self.included = {}, {}
        for ev in events:
            v = ev.value
            if ev.topic == "protocols":
                self.protocols.setdefault(v["station_id"], {})[(v["source"], v["version"])] = v["figures"]
                if v["source"] == "pec":
                    self.pec_times.setdefault(v["station_id"], ev.at)
            elif ev.topic == "turnout":
                self.reports.setdefault(v["station_id"], {})[v["seq"]] = v
            elif ev.topic == "evote":
                self.tokens[v["voter_token"]] += 1
            elif ev.topic == "summaries":
                self.summaries.setdefault(v["unit_id"], {})[v["version"]] = v["figures"]
                self.included[(v["unit_id"], v["version"])] = v["stations_included"]

    def latest(self, sid, source):
        versions = {v: f for (s, v), f in self.protocols.get(sid, {}).items() if s == source}
        return versions[max(versions)] if versions else None

    def official(self, sid):
        rank = default_definition().official_rank
        ranked = [s for s in rank if self.latest(sid, s) is not None]
        return self.latest(sid, max(ranked, key=rank.__getitem__)) if ranked else None

    def final_voted(self, sid):
        final = self.reports.get(sid, {}).get(T.final_report_seq)
        return final["voted"] if final else None

    # -- station conditions --------------------------------------------------------------
    def station_kinds(self, sid):
        out = set()
        prots = list(self.protocols.get(sid, {}).values())
        if any(orjson.dumps(a) != orjson.dumps(prots[0]) for a in prots):
            out.add("protocol_altered")
        if any(breaks(f) for f in prots):
            out.add("arithmetic_inconsistent")
        pec = self.latest(sid, "pec")
        if pec and pec["registered"] > T.min_voters and voters(pec) >= T.turnout_warning * pec["registered"]:
            out.add("turnout_implausible")
        if self.pace_jump(sid) or self.protocol_gap(sid):
            out.add("turnout_jump")
        reports = self.reports.get(sid)
        if reports:
            last = reports[max(reports)]
            if last["added"] >= T.additions_votes and last["added"] >= T.additions_share * last["registered"]:
                out.add("list_additions")
        off = self.official(sid)
        if off:
            valid = sum(off["votes"].values())
            top = max(off["votes"].values())
            if valid + off["invalid"] > T.min_voters and top >= T.unanimous_warning * valid:
                out.add("unanimous_result")
        valids = [sum(f["votes"].values()) for f in (pec, off) if f]
        voted = self.final_voted(sid)
        if valids and voted is not None and max(valids) - voted >= T.valid_excess_votes:
            out.add("valid_exceeds_turnout")
        return out

    def pace_jump(self, sid):
        reports = self.reports.get(sid, {})
        cum = [0] + [reports[q]["voted"] for q in sorted(reports)]
        win = [b - a for a, b in zip(cum, cum[1:], strict=False)]
        for i, w in enumerate(win):
            others = win[:i] + win[i + 1 :]
            if len(win) < T.pace_min_windows:
                return False
            pace = statistics.median(others)
            registered = reports[sorted(reports)[i]]["registered"]
            if (
                w >= T.pace_ratio * pace
                and w - pace >= T.jump_min_votes
                and 100 * (w - pace) / registered >= T.jump_min_points
            ):
                return True
        return False

    def protocol_gap(self, sid):
        pec, voted = self.latest(sid, "pec"), self.final_voted(sid)
        if pec is None or voted is None:
            return False
        gap = voters(pec) - voted
        return gap >= T.protocol_gap_votes and 100 * gap / pec["registered"] >= T.protocol_gap_points

    # -- unit conditions -------------------------------------------------------------------
    def stations_of(self, uid):
        return [s for s, tec in self.station_tec.items() if uid in (tec, self.tec_rec[tec], "KZ")]

    def children_sum(self, uid):
        """The children's figures summed, and how many stations they cover."""
        if uid in self.tec_rec:
            figs = [(self.latest(s, "pec"), 1) for s in self.stations_of(uid)]
        else:
            recs = sorted(set(self.tec_rec.values()))
            kids = [t for t, r in self.tec_rec.items() if r == uid] if uid != "KZ" else recs
            figs = [
                (self.summaries[k][max(self.summaries[k])], self.included[(k, max(self.summaries[k]))])
                for k in kids
                if k in self.summaries
            ]
        figs = [(f, n) for f, n in figs if f is not None]
        return add_up([f for f, _ in figs], self.parties), sum(n for _, n in figs)

    def mismatch(self, uid, version):
        """The summary differs from its children; while children are missing (fewer stations
        than it claims), only a summary below them is certain."""
        kids, covered = self.children_sum(uid)
        s, k = flat_(self.summaries[uid][version]), flat_(kids)
        if covered == self.included[(uid, version)]:
            return s != k
        return any(s[f] < k[f] for f in s)

    def unit_kinds(self, uid):
        out = set()
        versions = self.summaries.get(uid, {})
        if any(self.mismatch(uid, v) for v in versions):
            out.add("summary_mismatch")
        pct = [100 * voters(f) / f["registered"] for _, f in sorted(versions.items())]
        if any(abs(b - a) >= T.revised_points for a, b in zip(pct, pct[1:], strict=False)):
            out.add("turnout_revised")
        sids = self.stations_of(uid)
        voted = sum(self.final_voted(s) or 0 for s in sids)
        official = sum(sum(f["votes"].values()) for f in map(self.official, sids) if f)
        summary = sum(versions[max(versions)]["votes"].values()) if versions else 0
        if max(official, summary) - voted >= max(T.valid_excess_votes, T.valid_excess_unit_share * voted):
            out.add("valid_exceeds_turnout")
        return out

    def kinds_at(self, place):
        if place in self.station_tec:
            out = self.station_kinds(place)
            if place not in self.pec_times or self.pec_times[place] >= DEADLINE:
                out.add("late_protocol")
            return out
        return self.unit_kinds(place)


def voters(f):
    return f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"]


def breaks(f):
    paper, valid = f["issued_in_station"] + f["issued_mobile"], sum(f["votes"].values())
    return [
        f["ballots_received"] != paper + f["ballots_cancelled"],
        f["ballots_found"] > paper,
        f["ballots_found"] + f["voted_electronic"] != f["invalid"] + valid,
        paper + f["voted_electronic"] > f["registered"],
        f["added"] > f["registered"],
    ].count(True)


def flat_(f):
    return {**{k: f[k] for k in FIXED}, **f["votes"]}


def add_up(figs, parties):
    out = dict.fromkeys(FIXED, 0) | {"votes": dict.fromkeys(parties, 0)}
    for f in figs:
        for k in FIXED:
            out[k] += f[k]
        for p in parties:
            out["votes"][p] += f["votes"][p]
    return out


def place_of(inj):
    return inj.subject if inj.kind == "evote_multiple" else (inj.station_id or inj.unit_id)


# -- the tests ---------------------------------------------------------------------------------


def test_every_kind_and_variant_is_injected(scenario):
    got = {(i.kind, i.variant) for i in scenario.injections if not i.implied_by}
    assert got == {(k, v) for k, vs in VARIANTS.items() for v in vs}
    assert {i.kind for i in scenario.injections} == set(KINDS)


def test_events_stay_in_time_order_and_within_the_contract(scenario):
    events = scenario.election.events
    assert all(a.at <= b.at for a, b in zip(events, events[1:], strict=False))
    tally = InMemoryTally(scenario.election.registry, partitions=3)
    tally.feed_events(events)
    assert tally.rejected == []


def test_the_clean_election_has_none_of_these_anomalies(clean):
    view = View(clean, clean.events)
    places = [*view.station_tec, *view.tec_rec, *set(view.tec_rec.values()), "KZ"]
    assert {p: k for p in places if (k := view.kinds_at(p))} == {}
    assert max(view.tokens.values()) == 1


def test_each_anomaly_is_in_the_events_and_nothing_else_is(scenario):
    el = scenario.election
    view = View(el, el.events)
    want: dict[str, set[str]] = {}
    for inj in scenario.injections:
        if inj.kind != "evote_multiple":
            want.setdefault(place_of(inj), set()).add(inj.kind)
    places = [*view.station_tec, *view.tec_rec, *set(view.tec_rec.values()), "KZ"]
    got = {p: k for p in places if (k := view.kinds_at(p))}
    assert got == want
    multi = {tok for tok, n in view.tokens.items() if n > 1}
    assert multi == {i.subject for i in scenario.injections if i.kind == "evote_multiple"}


def test_each_anomaly_appears_with_its_triggering_event(scenario):
    el = scenario.election
    for inj in scenario.injections:
        ev = el.events[inj.index]
        assert ev.at == inj.at
        if inj.kind == "late_protocol":
            assert el.events[inj.index - 1].at < DEADLINE <= ev.at
            assert inj.station_id not in View(el, el.events[: inj.index + 1]).pec_times
            continue
        if inj.implied_by and inj.station_id is None and inj.kind == "valid_exceeds_turnout":
            continue  # the sum of several stations: present at the end (checked above)
        before, after = View(el, el.events[: inj.index]), View(el, el.events[: inj.index + 1])
        if inj.kind == "evote_multiple":
            assert (before.tokens[inj.subject], after.tokens[inj.subject]) == (1, 2)
            assert ev.value["voter_token"] == inj.subject
            continue
        place = place_of(inj)
        assert ev.key == place or ev.key in (inj.unit_id, inj.station_id)
        assert inj.kind not in before.kinds_at(place), inj
        assert inj.kind in after.kinds_at(place), inj


def test_only_the_injected_places_changed(clean, scenario):
    def by_key(events):
        out: dict[str, list[bytes]] = {}
        for e in events:
            out.setdefault(e.key, []).append(orjson.dumps([e.at.isoformat(), e.topic, e.value]))
        return out

    a, b = by_key(clean.events), by_key(scenario.election.events)
    changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    assert changed == scenario.touched
    view = View(clean, clean.events)
    allowed = set()
    for inj in scenario.injections:
        allowed |= set(inj.stations) | {inj.unit_id}
        for sid in inj.stations:  # a station's change reaches its TEC, REC and CEC summaries
            allowed |= {view.station_tec[sid], view.tec_rec[view.station_tec[sid]], "KZ"}
        if inj.station_id is None and inj.unit_id in view.tec_rec:
            allowed |= {view.tec_rec[inj.unit_id], "KZ"}
        if inj.station_id is None and inj.unit_id in set(view.tec_rec.values()):
            allowed.add("KZ")
    assert changed <= allowed


def test_the_same_seed_gives_the_same_scenario(clean, scenario):
    again = inject(clean, per_kind=len(max(VARIANTS.values(), key=len)), seed=7)
    assert again.injections == scenario.injections
    other = inject(clean, per_kind=len(max(VARIANTS.values(), key=len)), seed=8)
    assert {i.station_id for i in other.injections} != {i.station_id for i in scenario.injections}


def test_the_truth_follows_the_injected_figures(scenario):
    el = scenario.election
    view = View(el, el.events)
    for sid in el.truth.station_tec:
        assert el.truth.pec.get(sid) == view.latest(sid, "pec"), sid
        assert el.truth.official[sid] == view.official(sid), sid


def test_late_protocols_come_after_the_deadline_or_never(scenario):
    view = View(scenario.election, scenario.election.events)
    late = [i for i in scenario.injections if i.kind == "late_protocol"]
    assert {i.variant for i in late} == {"never", "late"}
    for inj in late:
        at = view.pec_times.get(inj.station_id)
        assert (at is None) == (inj.variant == "never")
        assert at is None or at >= DEADLINE + timedelta(hours=1)


def test_an_unknown_kind_is_refused(clean):
    with pytest.raises(ValueError, match="unknown scenario kind"):
        inject(clean, kinds=["protocol_alterd"])
