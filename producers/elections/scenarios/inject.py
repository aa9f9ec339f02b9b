"""Scenario library: anomalies injected into a clean synthetic election, with the ground truth.

``inject(generate(...), per_kind=3, seed=1)`` returns a :class:`Scenario`: the election with
each deterministic kind of the contract injected at stations or units drawn by a seeded
``random.Random`` (never the global state), and one :class:`Injection` per anomaly present.

Each injection changes what it means to change and keeps the rest of the station consistent:
the control relations of CONTRACT.md hold unless breaking one is the point, turnout reports
are rescaled with a protocol whose voters change, and every commission summary stays the sum
of its children (a TEC summary sums its stations' PEC protocols, a REC or the CEC summary its
children's latest summaries, as ``monitor.detect.units`` compares them). Magnitudes are set
clearly beyond the detector thresholds (``monitor.detect.thresholds.Thresholds``), usually at
twice a threshold, and other quantities clearly below theirs. Where one anomaly cannot come
without another, both are recorded, the second with ``implied_by``:

- protocol_altered/tec: the TEC enters altered figures and its summary sums what it entered,
  so the summary no longer matches the PEC protocols (summary_mismatch at the TEC);
- turnout_jump/protocol: a PEC protocol far above the final report has more valid votes than
  that report has voters (valid_exceeds_turnout at the station);
- unanimous_result/full_turnout: every vote to one party with every voter on the list
  (turnout_implausible);
- turnout_revised: a new summary version cannot differ from the previous one and still equal
  the same children (summary_mismatch at the unit);
- valid_exceeds_turnout/summary: a summary with more valid votes than the unit's voters does
  not sum its children (summary_mismatch at the unit);
- any unit whose valid votes end up above its reported voters beyond the unit threshold
  (computed from the final figures, usually none).

Events stay in time order, follow the contract (nothing is rejected), and every event of a
station or unit no injection touches is the original one (``Scenario.touched``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.contract import CEC_ID
from monitor.election.thresholds import Thresholds
from producers.elections.scenarios.edit import (
    Editor,
    Flat,
    leader,
    nested,
    participants,
    recount,
    runner_up,
    scaled_reports,
    valid,
)
from producers.elections.scenarios.place import Places
from producers.elections.scenarios.units import UnitInjections, implied_unit_excess
from producers.elections.synthetic import POLLS_CLOSE, Election, TimedEvent, Truth, _apportion

VARIANTS: dict[str, tuple[str, ...]] = {
    "protocol_altered": ("cec", "version", "observer", "tec"),
    "summary_mismatch": ("tec", "rec", "cec"),
    "arithmetic_inconsistent": ("received", "found", "votes"),
    "turnout_implausible": ("warning", "critical"),
    "turnout_jump": ("report", "protocol"),
    "turnout_revised": ("rec", "tec"),
    "list_additions": ("station",),
    "unanimous_result": ("every", "no_invalid", "near", "full_turnout"),
    "valid_exceeds_turnout": ("station", "summary"),
    "evote_multiple": ("same_station", "cross_station"),
    "late_protocol": ("never", "late"),
}
KINDS = tuple(VARIANTS)
# (kind, variant) injected into commission summaries rather than at a station
UNIT_VARIANTS = frozenset(
    {
        *((k, v) for k in ("summary_mismatch", "turnout_revised") for v in VARIANTS[k]),
        ("valid_exceeds_turnout", "summary"),
    }
)


@dataclass(frozen=True)
class Injection:
    """One anomaly present in the scenario's events."""

    kind: str
    variant: str
    unit_id: str  # the station's TEC for station anomalies; the unit otherwise
    station_id: str | None
    index: int  # position in Scenario.election.events of the event that makes it visible
    at: datetime  # that event's time on the election clock
    subject: str = ""  # the voter token, for evote_multiple
    stations: tuple[str, ...] = ()  # every station involved (two for a token across stations)
    implied_by: str = ""  # the kind whose injection brings this one along; "" if injected


@dataclass
class Scenario:
    election: Election  # the injected events and a truth updated to their figures
    injections: list[Injection]
    touched: frozenset[str]  # station and unit ids whose events were changed, added or removed
    thresholds: Thresholds  # what the magnitudes were set against (polls_close set)


def scenario_thresholds(t: Thresholds | None = None) -> Thresholds:
    """The detector thresholds for a synthetic election: the defaults with its close of polls."""
    t = t or Thresholds()
    return t if t.polls_close is not None else replace(t, polls_close=POLLS_CLOSE)


def inject(
    election: Election,
    per_kind: int = 3,
    *,
    seed: int = 0,
    kinds: Iterable[str] = KINDS,
    thresholds: Thresholds | None = None,
) -> Scenario:
    """``per_kind`` anomalies of each kind (variants in turn), where eligible stations exist."""
    t = scenario_thresholds(thresholds)
    inj = _Injector(election, random.Random(f"tabmon-scenarios/{seed}"), t)
    for kind in kinds:
        if kind not in VARIANTS:
            raise ValueError(f"unknown scenario kind {kind!r}; known: {', '.join(KINDS)}")
        variants = VARIANTS[kind]
        done = tried = 0
        while done < per_kind and tried < per_kind + 2 * len(variants):
            # a variant without an eligible place is skipped for the next one
            done += inj.apply(kind, variants[tried % len(variants)])
            tried += 1
    return inj.finish(election)


class _Injector(Places):
    def __init__(self, election: Election, rng: random.Random, t: Thresholds) -> None:
        super().__init__(election, rng, t)
        self.units = UnitInjections(self)

    # -- shared facts of a station ---------------------------------------------------------
    def pec(self, sid: str) -> Flat:
        return self.ed.figures(sid, "pec")

    def rate(self, sid: str) -> float:
        f = self.pec(sid)
        return participants(f) / f["registered"]

    def big(self, sid: str, factor: float = 1.5) -> bool:
        """More than ``factor`` times the voters below which detectors keep quiet."""
        f = self.pec(sid)
        return valid(f, self.parties) + f["invalid"] > factor * self.t.min_voters

    def apply(self, kind: str, variant: str) -> bool:
        if (kind, variant) in UNIT_VARIANTS:
            return self.units.apply(kind, variant)
        method: Callable[[str], bool] = getattr(self, kind)
        return method(variant)

    # -- station kinds -----------------------------------------------------------------------
    def protocol_altered(self, variant: str) -> bool:
        """Votes moved from the runner-up to the leader (5 % of the valid votes, at least 20)."""

        def ok(sid: str) -> bool:
            f = self.pec(sid)
            v = valid(f, self.parties)
            m = max(20, round(0.05 * v))
            return f[runner_up(f, self.parties)] >= m and (f[leader(f, self.parties)] + m) / v <= 0.97

        sid = self.station(ok)
        if sid is None:
            return False
        true = self.pec(sid)
        top, second = leader(true, self.parties), runner_up(true, self.parties)
        m = max(20, round(0.05 * valid(true, self.parties)))
        altered = {**true, top: true[top] + m, second: true[second] - m}
        ed = self.ed
        pec_at = ed.event(ed.pos(sid, "pec")).at
        tec_pos = ed.pos(sid, "tec")
        if variant == "cec":  # only the published figures differ (report Annex 2, 3)
            ed.set_protocols(sid, altered, ["cec"])
            self.record("protocol_altered", variant, ed.pos(sid, "cec"), station=sid)
        elif variant == "version":  # a second PEC version, before the TEC enters it (XIII.C fn 80)
            at = pec_at + (ed.event(tec_pos).at - pec_at) / 2
            pos = ed.add(_protocol(at, sid, "pec", 2, altered, self.parties))
            ed.restate(sid, altered, ["tec", "cec"], follow=None)
            ed.add_to_summaries(ed.units_above(sid), _minus(altered, true))
            self.record("protocol_altered", variant, pos, station=sid)
        elif variant == "observer":  # the observer's copy keeps the count, the protocol does not
            obs = ed.protocol(sid, "observer")
            if obs is None:
                obs = ed.add(
                    _protocol(pec_at + timedelta(minutes=15), sid, "observer", 1, true, self.parties)
                )
            ed.restate(sid, altered, ["pec", "tec", "cec"])
            self.record("protocol_altered", variant, obs, station=sid)
        else:  # tec: the TEC enters altered figures and sums them into its summary
            ed.restate(sid, altered, ["tec", "cec"], follow="tec")
            self.record("protocol_altered", variant, tec_pos, station=sid)
            self.record(
                "summary_mismatch",
                variant,
                ed.summary(ed.stations[sid].tec_id),
                unit=ed.stations[sid].tec_id,
                implied_by="protocol_altered",
            )
        return True

    def arithmetic_inconsistent(self, variant: str) -> bool:
        """One control relation broken in every copy of the protocol."""
        k = self.rng.randint(10, 30)

        def ok(sid: str) -> bool:
            return self.pec(sid)[leader(self.pec(sid), self.parties)] > k

        sid = self.station(ok)
        if sid is None:
            return False
        f = self.pec(sid)
        if variant == "received":  # a pack of 50 ballots unaccounted for
            f["ballots_received"] += 50
        elif variant == "found":  # more ballots in the boxes than were issued
            paper = f["issued_in_station"] + f["issued_mobile"]
            f["invalid"] += paper + k - f["ballots_found"]
            f["ballots_found"] = paper + k
        else:  # votes that do not add up to the ballots counted
            f[leader(f, self.parties)] -= k
        self.ed.restate(sid, f)
        self.record("arithmetic_inconsistent", variant, self.ed.pos(sid, "pec"), station=sid)
        return True

    def turnout_implausible(self, variant: str) -> bool:
        """Participation at 97.5 % (warning) or exactly 100 % (critical), reports rescaled."""
        target = 1.0 if variant == "critical" else (self.t.turnout_warning + 1.0) / 2
        sid = self.station(lambda s: self.big(s) and 0.74 <= self.rate(s) < self.t.turnout_warning - 0.1)
        if sid is None:
            return False
        self._rescale(sid, target)
        self.record("turnout_implausible", variant, self.ed.pos(sid, "pec"), station=sid)
        return True

    def _rescale(self, sid: str, target: float) -> Flat:
        """The station's participation (protocol and reports) set to ``target`` of its list."""
        f = self.pec(sid)
        voters = math.floor(target * f["registered"])
        new = recount(f, self.parties, paper=voters - f["voted_electronic"])
        self.ed.restate(sid, new)
        self.ed.set_reports(sid, scaled_reports(self.ed.report_figures(sid), voters))
        return new

    def turnout_jump(self, variant: str) -> bool:
        t = self.t
        if variant == "report":  # one window holds 8/13 of the day's voters, 8 times the others
            sid = self.station(lambda s: self.rate(s) >= 0.5 and participants(self.pec(s)) >= 300)
            if sid is None:
                return False
            reports = self.ed.report_figures(sid)
            # not before the window that gives the station a pace of its own to compare with
            j = self.rng.randint(max(2, t.pace_min_windows), len(reports) - 1)
            weights = [8 if i == j else 1 for i in range(1, len(reports) + 1)]
            windows = _apportion(reports[-1][2], weights)
            cum = [sum(windows[:i]) for i in range(1, len(windows) + 1)]
            self.ed.set_reports(sid, [(r, a, v) for (r, a, _), v in zip(reports, cum, strict=True)])
            self.record("turnout_jump", variant, self.ed.report_positions(sid)[j - 1], station=sid)
            return True
        # protocol: the PEC protocol counts 3 times the gap threshold more voters than the report
        gap = 3 * t.protocol_gap_points / 100
        sid = self.station(lambda s: self.big(s) and self.rate(s) <= t.turnout_warning - gap - 0.1)
        if sid is None:
            return False
        f = self.pec(sid)
        more = max(math.ceil(gap * f["registered"]), 3 * t.protocol_gap_votes)
        paper = f["issued_in_station"] + f["issued_mobile"] + more
        self.ed.restate(sid, recount(f, self.parties, paper=paper))
        pos = self.ed.pos(sid, "pec")
        self.record("turnout_jump", variant, pos, station=sid)
        self.record("valid_exceeds_turnout", variant, pos, station=sid, implied_by="turnout_jump")
        return True

    def list_additions(self, variant: str) -> bool:
        """A quarter of the baseline added on the day (20 % of the list, 4 times the share
        threshold), at least 3 times the absolute one; the added vote at the station's rate."""
        t = self.t
        least = 3 * t.additions_votes

        def ok(sid: str) -> bool:
            return self.ed.stations[sid].baseline >= 4 * least and self.pec(sid)["added"] < least

        sid = self.station(ok)
        if sid is None:
            return False
        f = self.pec(sid)
        extra = math.ceil(0.25 * self.ed.stations[sid].baseline) - f["added"]
        more = round(extra * self.rate(sid))
        paper = f["issued_in_station"] + f["issued_mobile"] + more
        self.ed.restate(sid, recount(f, self.parties, paper=paper, extra_added=extra))
        reports = scaled_reports(self.ed.report_figures(sid), participants(f) + more, extra)
        self.ed.set_reports(sid, reports)
        first = next(
            i for i, (r, a, _v) in enumerate(reports) if a >= t.additions_votes and a >= t.additions_share * r
        )
        self.record("list_additions", variant, self.ed.report_positions(sid)[first], station=sid)
        return True

    def unanimous_result(self, variant: str) -> bool:
        full = variant == "full_turnout"
        sid = self.station(lambda s: self.big(s) and (not full or self.rate(s) >= 0.74))
        if sid is None:
            return False
        f = self._rescale(sid, 1.0) if full else self.pec(sid)
        top = leader(f, self.parties)
        v = valid(f, self.parties)
        if variant == "no_invalid":
            v, f["invalid"] = v + f["invalid"], 0
        others = max(1, round(0.004 * v)) if variant == "near" else 0  # 99.6 %: over the 99 % bar
        rest = _apportion(others, [float(p != top) for p in self.parties])
        for p, n in zip(self.parties, rest, strict=True):
            f[p] = n
        f[top] = v - others
        self.ed.restate(sid, f)
        pos = self.ed.pos(sid, "pec")
        self.record("unanimous_result", variant, pos, station=sid)
        if full:
            self.record("turnout_implausible", variant, pos, station=sid, implied_by="unanimous_result")
        return True

    def valid_exceeds_turnout(self, variant: str) -> bool:
        """The final report understated: twice the threshold fewer voters than valid votes,
        while the protocol stays within 60 % of the gap threshold of it (no turnout_jump)."""
        t = self.t

        m = 2 * max(t.valid_excess_votes, 1)

        def ok(sid: str) -> bool:  # the protocol's voters above the report: the gap it leaves
            f = self.pec(sid)
            gap = participants(f) - (valid(f, self.parties) - m)
            return 100 * gap / f["registered"] < 0.6 * t.protocol_gap_points

        sid = self.station(lambda s: not self.ed.stations[s].evoting and ok(s))
        if sid is None:
            return False
        understated = valid(self.pec(sid), self.parties) - m
        self.ed.set_reports(sid, scaled_reports(self.ed.report_figures(sid), understated))
        self.record("valid_exceeds_turnout", variant, self.ed.pos(sid, "pec"), station=sid)
        return True

    def evote_multiple(self, variant: str) -> bool:
        """A later ballot takes an earlier ballot's token (counts per station unchanged)."""
        ed = self.ed
        if variant == "same_station":
            sid = self.station(lambda s: len(ed.ballots.get(s, ())) >= 2)
            if sid is None:
                return False
            first, second = sorted(self.rng.sample(ed.ballots[sid], 2), key=lambda p: ed.event(p).at)
            stations: tuple[str, ...] = (sid,)
        else:
            a = self.station(lambda s: bool(ed.ballots.get(s)))
            region = ed.stations[a].rec_id if a else ""
            b = self.station(lambda s: bool(ed.ballots.get(s)) and ed.stations[s].rec_id != region)
            if a is None or b is None:
                return False
            first, second = sorted(
                (self.rng.choice(ed.ballots[a]), self.rng.choice(ed.ballots[b])), key=lambda p: ed.event(p).at
            )
            stations = (ed.event(first).key, ed.event(second).key)
        if ed.event(first).at == ed.event(second).at:
            return False
        token = ed.event(first).value["voter_token"]
        ed.replace(second, voter_token=token)
        self.record(
            "evote_multiple",
            variant,
            second,
            station=ed.event(second).key,
            subject=token,
            stations=stations,
            unit=CEC_ID,
        )
        return True

    def late_protocol(self, variant: str) -> bool:
        """No PEC protocol (nor its observer copy) by the deadline; ``late`` sends it 8 hours
        after the deadline, so the monitor has hours in which to see it missing."""
        sid = self.station(lambda s: True)
        if sid is None:
            return False
        ed = self.ed
        deadline = self.t.protocol_deadline
        assert deadline is not None
        for source in ("observer", "pec"):
            pos = ed.protocol(sid, source)
            if pos is None:
                continue
            if variant == "never":
                ed.remove(pos)
            else:
                at = deadline + timedelta(hours=8, minutes=10 if source == "observer" else 0)
                ed.replace(pos, at=at, recorded_at=at.isoformat())
        self.record("late_protocol", variant, -1, station=sid)  # -1: the first event at the deadline
        return True

    # -- the end -----------------------------------------------------------------------------
    def finish(self, election: Election) -> Scenario:
        for p in implied_unit_excess(self.ed, self.parties, self.t, self.pending):
            self.pending.append(p)
        events, index = self.ed.finish()
        deadline = self.t.protocol_deadline
        assert deadline is not None
        at_deadline = next((i for i, ev in enumerate(events) if ev.at >= deadline), len(events) - 1)
        injections = []
        for p in self.pending:
            i = at_deadline if p.pos < 0 else index[p.pos]
            injections.append(
                Injection(
                    p.kind,
                    p.variant,
                    p.unit_id,
                    p.station_id,
                    i,
                    events[i].at,
                    p.subject,
                    p.stations,
                    p.implied_by,
                )
            )
        injections.sort(key=lambda x: (x.index, x.kind, x.station_id or x.unit_id))
        out = Election(
            election.seed, election.parties, election.registry, events, _truth(election.truth, self.ed)
        )
        return Scenario(out, injections, frozenset(self.ed.touched), self.t)


def _minus(a: Flat, b: Flat) -> Flat:
    return {k: a[k] - b[k] for k in a}


def _protocol(
    at: datetime, sid: str, source: str, version: int, f: Flat, parties: Sequence[str]
) -> TimedEvent:
    return TimedEvent(
        at,
        "protocols",
        sid,
        {
            "type": "protocol",
            "v": 1,
            "station_id": sid,
            "source": source,
            "version": version,
            "recorded_at": at.isoformat(),
            "figures": nested(f, parties),
        },
    )


def _truth(old: Truth, ed: Editor) -> Truth:
    """The generator's truth with the figures of every touched station as now emitted."""
    new = Truth(
        dict(old.station_tec),
        dict(old.station_rec),
        dict(old.pec),
        dict(old.official),
        dict(old.turnout),
        dict(old.evote_ballots),
        dict(old.tec),
        dict(old.observer),
    )
    for sid in ed.touched & set(ed.stations):
        pec = ed.protocol(sid, "pec")
        if pec is None:
            new.pec.pop(sid, None)
        else:
            new.pec[sid] = nested(ed.figures(sid, "pec"), ed.parties)
        new.official[sid] = nested(ed.figures(sid, "cec"), ed.parties)
        r, a, v = ed.report_figures(sid)[-1]
        new.turnout[sid] = {"registered": r, "added": a, "voted": v}
    return new
