"""Turnout-report detectors for one station: its own pace, and additions to its list.

Stage one runs them on the document of the turnout partition alone (``{"reports": {seq:
[registered, added, voted]}}``). Reports are cumulative; seq 1..6 are the 10:00 ... 20:00
reports (CONTRACT.md), so a window is the two hours before a report, and the first one
starts at the opening of the polls with no voter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from monitor.detect.findings import Finding
from monitor.detect.shape import as_dict, as_int_key, counts
from monitor.election.thresholds import DEFAULTS, Thresholds

__all__ = ["Window", "pace_jump", "reports_of", "turnout_findings", "windows"]

Report = tuple[int, int, int]  # registered, added, voted


@dataclass(frozen=True)
class Window:
    """Voters between two consecutive reports a station sent, per report interval (so a
    missing report does not read as a doubled window)."""

    seq: int  # the report that closes the window
    start: int  # the report that opens it; 0 is the opening of the polls
    registered: int  # on the list at ``seq`` (> 0)
    voters: float  # voters per interval

    @property
    def points(self) -> float:
        return 100.0 * self.voters / self.registered

    def span(self) -> str:
        return (
            f"before its report {self.seq}"
            if self.start == 0
            else f"between its reports {self.start} and {self.seq}"
        )


def reports_of(turnout_doc: object) -> dict[int, Report]:
    """A turnout document's reports by seq; unreadable entries are left out."""
    out: dict[int, Report] = {}
    for key, value in as_dict(as_dict(turnout_doc).get("reports")).items():
        seq, figures = as_int_key(key), counts(value, 3)
        if seq is not None and seq > 0 and figures is not None:
            out[seq] = (figures[0], figures[1], figures[2])
    return out


def windows(reports: dict[int, Report]) -> list[Window]:
    """The station's windows; none if its cumulative count ever goes down (its reports then
    say nothing reliable about its pace)."""
    out, prev_seq, prev_voted = [], 0, 0
    for seq in sorted(reports):
        registered, _added, voted = reports[seq]
        if voted < prev_voted:
            return []
        if registered > 0:  # a report of an empty list says nothing about pace
            out.append(Window(seq, prev_seq, registered, (voted - prev_voted) / (seq - prev_seq)))
        prev_seq, prev_voted = seq, voted
    return out


def pace_jump(w: Window, own: Sequence[Window], ratio: float, t: Thresholds) -> float | None:
    """The station's median pace in its other windows if ``w`` is at least ``ratio`` times
    that and the excess is large both in voters and in share of the list; else None."""
    others = [o.voters for o in own if o.seq != w.seq]
    if len(others) + 1 < t.pace_min_windows:
        return None
    pace = median(others)
    excess = w.voters - pace
    if (
        w.voters >= ratio * pace
        and excess >= t.jump_min_votes
        and 100.0 * excess / w.registered >= t.jump_min_points
    ):
        return pace
    return None


def turnout_findings(
    sid: str, tec: str, turnout_doc: dict[str, Any], t: Thresholds = DEFAULTS
) -> list[Finding]:
    """``turnout_jump`` against the station's own pace and ``list_additions`` for one
    station, from its turnout document alone."""
    reports = reports_of(turnout_doc)
    own = windows(reports)
    out: list[Finding] = []
    for w in own:
        pace = pace_jump(w, own, t.pace_ratio, t)
        if pace is not None:
            out.append(_pace_finding(sid, tec, w, pace))
    if reports:
        last = max(reports)
        out += _additions(sid, tec, last, reports[last], t)
    return out


def _pace_finding(sid: str, tec: str, w: Window, pace: float) -> Finding:
    ratio = round(w.voters / pace, 1) if pace > 0 else None
    return Finding(
        "turnout_jump",
        "warning",
        "pec",
        tec,
        sid,
        {
            "check": "own_pace",
            "seq": w.seq,
            "from_seq": w.start,
            "voters": round(w.voters),
            "points": round(w.points, 1),
            "own_median_voters": round(pace, 1),
            "ratio": ratio,
            "registered": w.registered,
        },
        f"Station {sid} reported {round(w.voters):,} voters {w.span()}, "
        + (
            f"{ratio} times its pace in its other windows."
            if ratio
            else "after almost none in its other windows."
        ),
        subject=f"pace-{w.seq}",
    )


def _additions(sid: str, tec: str, seq: int, report: Report, t: Thresholds) -> list[Finding]:
    registered, added, voted = report
    if registered == 0 or added < t.additions_votes or added < t.additions_share * registered:
        return []
    share = added / registered
    severity = "critical" if share >= t.additions_critical_share else "warning"
    return [
        Finding(
            "list_additions",
            severity,
            "pec",
            tec,
            sid,
            {
                "check": "station",
                "seq": seq,
                "added": added,
                "registered": registered,
                "percent_of_list": round(100 * share, 2),
                "percent_of_voters": round(100 * added / voted, 2) if voted else None,
            },
            f"Station {sid} added {added:,} voters to its list on election day,"
            f" {100 * share:.1f} % of the list.",
            subject="station",
        )
    ]
