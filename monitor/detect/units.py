"""Unit detectors over the stage-two snapshot (TECs, RECs, the CEC): ``summary_mismatch``,
``turnout_revised`` and ``valid_exceeds_turnout`` at unit level.

The snapshot is ``monitor.tally.snapshot``'s: per unit the protocol and official views, the
turnout with ``by_report``, and ``summary_versions`` when the commission sent summaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from monitor.contract import default_definition
from monitor.detect.findings import Finding
from monitor.detect.shape import (
    FIELD_WORDS,
    as_count,
    as_dict,
    delta,
    gainer,
    parse_time,
    summary_figures,
)
from monitor.election import Definition
from monitor.election.thresholds import DEFAULTS, Thresholds

__all__ = ["unit_findings"]

# How a finding names what a unit's summary was compared with. A unit with child units in the
# snapshot is compared with their latest summaries; one without (a commission, whose children
# are stations) with its stations' protocols. The words for kz2007's levels are the drill's.
_CHILDREN = {
    "tec": "stations' PEC protocols",
    "rec": "TECs' latest summaries",
    "cec": "regions' latest summaries",
}


def _compared_with(level: str, kids: list[dict[str, Any]]) -> str:
    words = _CHILDREN.get(level)
    if words is not None:
        return words
    if not kids:
        return "stations' protocols"
    return f"{kids[0].get('level', 'child')} units' latest summaries"


def unit_findings(
    units: Mapping[str, Mapping[str, Any]],
    t: Thresholds = DEFAULTS,
    read_to: float | None = None,
    definition: Definition | None = None,
) -> list[Finding]:
    """Every unit-level finding of one snapshot.

    ``definition``: the election's (kz2007's when None): its fields are what a summary is
    compared on, its summary levels the units that are checked (a unit of another level in
    the snapshot is odd, and says nothing).

    ``read_to``: the event time (unix seconds) up to which every input partition had been
    read when the snapshot was taken, ``math.inf`` when each was read to its end (see
    :func:`monitor.tally.national.read_to`); None: a consistent state, as in memory. Live,
    partitions are read at different paces, and a summary can be folded in before a protocol
    version sent hours before it (seen on the drill through the real pipeline: a TEC summary
    read before a station's revised PEC protocol). So a summary is compared with its children
    only once everything recorded before it has been read, and the unit-level
    ``valid_exceeds_turnout`` (turnout against protocols, with no one time to wait for) only
    when every input partition is read to its end. ``turnout_revised`` compares one
    summary's versions, which one partition holds in order: it never waits."""
    read_to = math.inf if read_to is None else read_to
    d = definition or default_definition()
    levels = d.summary_levels
    snap = as_dict(units)
    children: dict[str, list[dict[str, Any]]] = {}
    for u in snap.values():
        parent = as_dict(u).get("parent_id")
        if isinstance(parent, str):
            children.setdefault(parent, []).append(u)
    out: list[Finding] = []
    for uid in sorted(snap):
        u = as_dict(snap[uid])
        if u.get("level") not in levels:
            continue
        if _read_past(as_dict(u.get("summary")).get("recorded_at"), read_to):
            out += _summary_mismatch(uid, u, children.get(uid, []), d)
        out += _contest_summaries(uid, u, children.get(uid, []), read_to, d)
        if read_to == math.inf:
            out += _valid_exceeds(uid, u, t)
        out += _turnout_revised(uid, u, t)
    return out


def _read_past(recorded_at: object, read_to: float) -> bool:
    """Everything recorded before ``recorded_at`` has been read (an unreadable time: only
    once everything has)."""
    at = parse_time(recorded_at)
    return read_to == math.inf or (at is not None and at.timestamp() <= read_to)


def _place(u: dict[str, Any], uid: str) -> str:
    if "parent_id" in u and u["parent_id"] is None:
        return "the whole country"
    name = u.get("name")
    return name if isinstance(name, str) and name else uid


# -- summary_mismatch ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Children:
    figures: dict[str, int]  # summed
    n_in: int  # children whose figures are in
    n_total: int  # children the unit has
    stations: int  # stations those children cover


def _children_of(
    u: dict[str, Any], kids: list[dict[str, Any]], keys: list[str], d: Definition
) -> _Children | None:
    """The sum of a unit's children's latest figures: its stations' PEC protocols for a TEC
    (the Rudniy comparison, report XIV fn 93), its children's latest summaries above."""
    if not kids:
        view = as_dict(u.get("protocol"))
        f, n = summary_figures(view, d), as_count(view.get("stations_reported"))
        total = as_count(u.get("stations"))
        if f is None or not n or sorted(f) != keys:
            return None
        return _Children(f, n, total if total is not None else n, n)
    sums, n_in, covered = dict.fromkeys(keys, 0), 0, 0
    for kid in kids:
        summary = as_dict(kid.get("summary"))
        f, n = summary_figures(summary, d), as_count(summary.get("stations_included"))
        if f is None or n is None:
            continue  # a child without a readable summary is not in yet
        if sorted(f) != keys:
            return None  # children on another ballot: nothing sensible to compare
        for k in keys:
            sums[k] += f[k]
        n_in, covered = n_in + 1, covered + n
    return _Children(sums, n_in, len(kids), covered) if n_in else None


def _contest_summaries(
    uid: str, u: dict[str, Any], kids: list[dict[str, Any]], read_to: float, d: Definition
) -> list[Finding]:
    """Each later contest's summary in this unit (a single-member district's result, as its
    commission published it) against the same contest in its children: their summaries of
    it, or at a commission its stations' protocols of it."""
    out: list[Finding] = []
    for cid, doc in sorted(as_dict(u.get("contests")).items()):
        c = as_dict(doc)
        if "summary" not in c or not _read_past(as_dict(c.get("summary")).get("recorded_at"), read_to):
            continue
        place = {**c, "level": u.get("level"), "stations": u.get("stations"), "parent_id": u.get("parent_id")}
        place["name"] = u.get("name")
        theirs = [
            {**as_dict(as_dict(k.get("contests")).get(cid)), "level": k.get("level")}
            for k in kids
            if cid in as_dict(k.get("contests"))
        ]
        out += _summary_mismatch(uid, place, theirs, d, cid, str(c.get("name") or cid))
    return out


def _summary_mismatch(
    uid: str,
    u: dict[str, Any],
    kids: list[dict[str, Any]],
    d: Definition,
    contest: str = "",
    contest_name: str = "",
) -> list[Finding]:
    """A unit's summary (of the first contest, or of ``contest``) against its children's."""
    summary = as_dict(u.get("summary"))
    s, included = summary_figures(summary, d), as_count(summary.get("stations_included"))
    if s is None or included is None:
        return []
    c = _children_of(u, kids, sorted(s), d)
    if c is None or c.stations > included:
        return []  # the children cover stations the summary does not claim: cannot tell
    complete = c.stations == included
    diff = delta(c.figures, s)
    if not complete:  # children still missing can only add: only a shortfall is certain
        diff = {k: x for k, x in diff.items() if x < 0}
    if not diff:
        return []
    diff = {k: diff[k] for k in s if k in diff}  # fixed fields first, then the ballot order
    parties = [k for k in summary.get("votes", {}) if k in diff]
    level = str(u["level"])
    version = summary.get("version")
    return [
        Finding(
            "summary_mismatch",
            "critical" if parties else "warning",
            level,
            uid,
            None,
            {
                **({"contest": contest} if contest else {}),
                "version": version,
                "compared_with": _compared_with(level, kids),
                "children_in": c.n_in,
                "children_total": c.n_total,
                "stations_included": included,
                "stations_covered": c.stations,
                "complete": complete,
                "delta": diff,
                "net_beneficiary": gainer({p: diff[p] for p in parties}),
            },
            f"The summary of {contest_name + ' in ' if contest else ''}{_place(u, uid)} (version {version})"
            " differs from the sum of its"
            f" {_compared_with(level, kids)}"
            + ("" if complete else f" ({c.n_in} of {c.n_total} in)")
            + f" {_largest(diff, parties)}.",
            contest,  # the subject: a district's summary is not the unit's party-list one
        )
    ]


def _largest(d: dict[str, int], parties: list[str]) -> str:
    """The change to read aloud: the largest in votes if any party's votes differ, else the
    largest figures (at most three)."""
    if parties:
        p = max(parties, key=lambda k: (abs(d[k]), d[k] > 0))  # on a tie, name the gainer
        others = len(parties) - 1
        more = "" if not others else f" (and {others} other part{'y' if others == 1 else 'ies'})"
        return f"by {d[p]:+,} votes for {p}{more}"
    keys = sorted(d, key=lambda k: -abs(d[k]))[:3]
    return "in " + ", ".join(f"{FIELD_WORDS.get(k, k)} ({d[k]:+,})" for k in keys)


# -- turnout_revised -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    version: int
    registered: int
    participants: int
    recorded_at: object

    @property
    def percent(self) -> float:
        return 100.0 * self.participants / self.registered


def _versions(u: dict[str, Any]) -> list[_Version]:
    """The summary's versions with their list size and participants, as the snapshot's view
    counts them on the definition's form."""
    raw = u.get("summary_versions")
    out = []
    for s in raw if isinstance(raw, list) else []:
        s = as_dict(s)
        v, reg, took = (
            as_count(s.get("version")),
            as_count(s.get("registered")),
            as_count(s.get("participants")),
        )
        if v is None or not reg or took is None:
            continue
        out.append(_Version(v, reg, took, s.get("recorded_at")))
    return sorted(out, key=lambda x: x.version)


def _turnout_revised(uid: str, u: dict[str, Any], t: Thresholds) -> list[Finding]:
    """Each new version against its predecessor, and against the last version already
    flagged (the first one at the start), so that a revision made in small steps is seen."""
    versions = _versions(u)
    if len(versions) < 2:
        return []
    out: list[Finding] = []
    anchor = versions[0]
    for prev, cur in pairwise(versions):
        step, drift = cur.percent - prev.percent, cur.percent - anchor.percent
        if max(abs(step), abs(drift)) < t.revised_points - 1e-9:
            continue
        base = prev if abs(step) >= abs(drift) else anchor
        out.append(_revised(uid, u, base, cur, t))
        anchor = cur
    return out


def _revised(uid: str, u: dict[str, Any], a: _Version, b: _Version, t: Thresholds) -> Finding:
    points = b.percent - a.percent
    severity = "critical" if abs(points) >= t.revised_critical_points - 1e-9 else "warning"
    return Finding(
        "turnout_revised",
        severity,
        str(u["level"]),
        uid,
        None,
        {
            "from_version": a.version,
            "to_version": b.version,
            "percent_before": round(a.percent, 2),
            "percent_after": round(b.percent, 2),
            "points": round(points, 2),
            "registered": [a.registered, b.registered],
            "participants": [a.participants, b.participants],
            "recorded_at": [a.recorded_at, b.recorded_at],
        },
        f"Version {b.version} of the summary of {_place(u, uid)} {'raises' if points > 0 else 'lowers'}"
        f" turnout from {a.percent:.1f} % to {b.percent:.1f} % ({points:+.1f} points).",
        subject=f"v{b.version}",
    )


# -- valid_exceeds_turnout -----------------------------------------------------------------------


def _valid_exceeds(uid: str, u: dict[str, Any], t: Thresholds) -> list[Finding]:
    """Valid votes (official figures of the unit's stations, or its latest summary) above the
    voters of the final turnout reports (report XIV and fn 92: 209,081 nationally, more than
    50,000 in Karaganda, almost 49,000 in South Kazakhstan)."""
    final = as_dict(as_dict(as_dict(u.get("turnout")).get("by_report")).get(str(t.final_report_seq)))
    voted, covered = as_count(final.get("voted")), as_count(final.get("stations_reported"))
    # Only with every station's final report in: the counts alone cannot say which stations
    # the two sides cover, and live, the protocols of some stations are folded in before the
    # reports of others (a transient excess seen on the drill through the real pipeline).
    if voted is None or not covered or covered != as_count(u.get("stations")):
        return []
    valid: dict[str, int] = {}
    official = as_dict(u.get("official"))
    n, v = as_count(official.get("stations_reported")), as_count(official.get("valid"))
    if n and v is not None and n <= covered:  # never more stations than the reports cover
        valid["official"] = v
    summary = as_dict(u.get("summary"))
    n, v = as_count(summary.get("stations_included")), as_count(summary.get("valid"))
    if n and v is not None and n <= covered:
        valid["summary"] = v
    if not valid:
        return []
    basis = max(valid, key=lambda k: valid[k])
    excess = valid[basis] - voted
    if excess < max(t.valid_excess_votes, t.valid_excess_unit_share * voted, 1):
        return []
    said = (
        "the official figures of its stations"
        if basis == "official"
        else f"its summary, version {summary.get('version')}"
    )
    return [
        Finding(
            "valid_exceeds_turnout",
            "critical",
            str(u["level"]),
            uid,
            None,
            {
                "voted": voted,
                "report_seq": t.final_report_seq,
                "stations_reported": covered,
                "valid": valid,
                "basis": basis,
                "excess": excess,
                "summary_version": summary.get("version") if "summary" in valid else None,
            },
            f"In {_place(u, uid)}, the valid votes in {said} exceed"
            f" the voters of the final turnout reports by {excess:,}.",
        )
    ]
