"""Unit scenarios (commission summaries) and the unit anomalies other injections imply.

A TEC summary is compared with the sum of its stations' PEC protocols, a REC or the CEC
summary with its children's latest summaries (``monitor.detect.units``). So a change made
to one summary is also added to the summaries above it: the parents keep summing their
children, and the anomaly stays where it was put.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.contract import CEC_ID, default_definition
from monitor.election.thresholds import Thresholds
from producers.elections.scenarios.edit import Editor, Flat, flat, leader, nested, runner_up, valid
from producers.elections.scenarios.place import Pending, Places
from producers.elections.synthetic import TimedEvent


class UnitInjections:
    def __init__(self, inj: Places) -> None:
        self.inj = inj
        self.ed: Editor = inj.ed

    def apply(self, kind: str, variant: str) -> bool:
        if kind == "summary_mismatch":
            return self.summary_mismatch(variant)
        if kind == "turnout_revised":
            return self.turnout_revised(variant)
        return self.valid_exceeds_summary()

    def unit(self, level: str, ok: Callable[[str], bool] = lambda uid: True) -> str | None:
        """An unused unit of ``level`` with a summary passing ``ok``; TECs without injected
        stations first."""
        if level == "cec":
            cands = [CEC_ID]
        elif level == "rec":
            cands = sorted(self.ed.rec_tecs)
        else:
            cands = sorted(self.ed.tec_stations)
            self.inj.rng.shuffle(cands)
            cands.sort(key=lambda u: u in self.inj.used_tecs)  # stable: shuffled within each group
        if level == "rec":
            self.inj.rng.shuffle(cands)
        for uid in cands:
            if uid not in self.inj.used and uid in self.ed.summaries and ok(uid):
                self.inj.used.add(uid)
                if level == "tec":
                    self.inj.used_tecs.add(uid)
                return uid
        return None

    def parents(self, uid: str) -> list[str]:
        """The units whose summaries sum this one's: a TEC's REC and the CEC, a REC's CEC."""
        if uid == CEC_ID:
            return []
        if uid in self.ed.rec_tecs:
            return [CEC_ID]
        rec = next(r for r, tecs in self.ed.rec_tecs.items() if uid in tecs)
        return [rec, CEC_ID]

    def figures(self, uid: str, version: int = 1) -> Flat:
        return flat(self.ed.event(self.ed.summary(uid, version)).value["figures"])

    def summary_mismatch(self, level: str) -> bool:
        """A summary gives its leader 1 % of the valid votes (at least 100) more, taken from
        the runner-up (Rudniy, report XIV fn 93); the summaries above add the same."""
        uid = self.unit(level)
        if uid is None:
            return False
        f = self.figures(uid)
        parties = self.ed.parties
        top, second = leader(f, parties), runner_up(f, parties)
        m = min(max(100, round(0.01 * valid(f, parties))), f[second])
        delta = {top: m, second: -m}
        self.ed.add_to_summaries([uid, *self.parents(uid)], delta)
        self.inj.record("summary_mismatch", level, self.ed.summary(uid), unit=uid)
        return True

    def turnout_revised(self, level: str) -> bool:
        """A second version raising the unit's turnout by 4 to 5.5 points (twice the threshold
        and more): ballots issued instead of cancelled, as in the 2007 revisions (XIV fn 91)."""
        t: Thresholds = self.inj.t
        uid = self.unit(level)
        if uid is None:
            return False
        f = self.figures(uid)
        points = self.inj.rng.uniform(2 * t.revised_points, 2 * t.revised_points + 1.5)
        more = math.ceil(points / 100 * f["registered"])
        if more > f["ballots_cancelled"]:
            return False
        v1 = self.ed.event(self.ed.summary(uid))
        at = self._revision_time(uid, v1.at)
        revised = {
            **f,
            "issued_in_station": f["issued_in_station"] + more,
            "ballots_cancelled": f["ballots_cancelled"] - more,
        }
        pos = self.ed.add(_summary(at, v1.value, 2, revised, self.ed.parties))
        self.ed.add_to_summaries(self.parents(uid), {"issued_in_station": more, "ballots_cancelled": -more})
        self.inj.record("turnout_revised", level, pos, unit=uid)
        self.inj.record("summary_mismatch", level, pos, unit=uid, implied_by="turnout_revised")
        return True

    def _revision_time(self, uid: str, first: datetime) -> datetime:
        """After version 1 and before the parent's summary, which must already include it."""
        parents = self.parents(uid)
        if not parents:
            return first + timedelta(hours=1)
        parent_at = self.ed.event(self.ed.summary(parents[0])).at
        return first + min((parent_at - first) / 2, timedelta(hours=self.inj.rng.uniform(1, 3)))

    def valid_exceeds_summary(self) -> bool:
        """A TEC summary with more valid votes than its stations' final reports have voters:
        twice the unit threshold beyond them, added to the leader as ballots issued and
        found, so the summary itself still adds up (report XIV fn 92)."""
        t: Thresholds = self.inj.t
        # a TEC whose valid votes are below its voters so far: the summary alone crosses
        uid = self.unit("tec", lambda u: unit_excess(self.ed, u, self.ed.tec_stations[u], t)[0] < 0)
        if uid is None:
            return False
        f = self.figures(uid)
        excess, voted = unit_excess(self.ed, uid, self.ed.tec_stations[uid], t)
        x = -excess + 2 * max(t.valid_excess_votes, math.ceil(t.valid_excess_unit_share * voted))
        if x > f["ballots_cancelled"]:
            return False
        top = leader(f, self.ed.parties)
        delta = {"issued_in_station": x, "ballots_cancelled": -x, "ballots_found": x, top: x}
        self.ed.add_to_summaries([uid, *self.parents(uid)], delta)
        pos = self.ed.summary(uid)
        self.inj.record("valid_exceeds_turnout", "summary", pos, unit=uid)
        self.inj.record("summary_mismatch", "summary", pos, unit=uid, implied_by="valid_exceeds_turnout")
        return True


def _summary(at: datetime, v1: dict[str, Any], version: int, f: Flat, parties: Sequence[str]) -> TimedEvent:
    value = {**v1, "version": version, "recorded_at": at.isoformat(), "figures": nested(f, parties)}
    return TimedEvent(at, "summaries", v1["unit_id"], value)


def _final_voted(ed: Editor, sid: str, t: Thresholds) -> int:
    reports = ed.reports.get(sid, {})
    pos = reports.get(t.final_report_seq)
    return 0 if pos is None else int(ed.event(pos).value["voted"])


def _official_valid(ed: Editor, sid: str) -> int | None:
    rank = default_definition().official_rank
    ranked = [(rank[s], s) for s in rank if ed.protocol(sid, s) is not None]
    return valid(ed.figures(sid, max(ranked)[1]), ed.parties) if ranked else None


def unit_excess(ed: Editor, uid: str, sids: Sequence[str], t: Thresholds) -> tuple[int, int]:
    """(valid votes above the final reports' voters, those voters) of a unit: the valid votes
    of its stations' official figures or of its latest summary, whichever is more."""
    voted = sum(_final_voted(ed, s, t) for s in sids)
    official = sum(v for v in (_official_valid(ed, s) for s in sids) if v is not None)
    versions = ed.summaries.get(uid, {})
    summary = valid(flat(ed.event(versions[max(versions)]).value["figures"]), ed.parties) if versions else 0
    return max(official, summary) - voted, voted


def implied_unit_excess(
    ed: Editor, parties: Sequence[str], t: Thresholds, pending: list[Pending]
) -> list[Pending]:
    """``valid_exceeds_turnout`` at every unit whose final figures cross the unit threshold
    and that no injection recorded: the sum of several stations' anomalies, or one station's
    in a small unit. Triggered by the latest injection inside the unit."""

    stations_of: dict[str, list[str]] = {CEC_ID: sorted(ed.stations)}
    for rec, tecs in ed.rec_tecs.items():
        stations_of[rec] = [s for tec in tecs for s in ed.tec_stations[tec]]
    stations_of.update(ed.tec_stations)
    recorded = {p.unit_id for p in pending if p.kind == "valid_exceeds_turnout" and p.station_id is None}
    out = []
    for uid, sids in sorted(stations_of.items()):
        if uid in recorded:
            continue
        excess, voted = unit_excess(ed, uid, sids, t)
        if excess < max(t.valid_excess_votes, t.valid_excess_unit_share * voted):
            continue
        inside = [p for p in pending if p.unit_id == uid or (p.station_id in set(sids))]
        if not inside:
            raise AssertionError(f"unit {uid} has valid votes above its turnout with no injection in it")
        timed = [p for p in inside if p.pos >= 0]  # late_protocol's trigger is not an event yet
        last = max(timed, key=lambda p: ed.event(p.pos).at) if timed else inside[0]
        out.append(
            Pending(
                "valid_exceeds_turnout",
                last.variant,
                uid,
                None,
                last.pos,
                implied_by=last.implied_by or last.kind,
            )
        )
    return out
