"""The sweep: detectors that need several stations or several kinds of one station.

The stage-two owner runs it over the combined station read model (station_id -> {"protocols",
"turnout", "evote"}) every sweep interval (docs/architecture.md, "Findings"):
``turnout_jump`` against the TEC's peers and between the final report and the PEC protocol,
clusters of ``list_additions`` within a TEC, ``valid_exceeds_turnout`` at stations, and
``late_protocol``.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from monitor.contract import Registry
from monitor.detect.findings import Finding
from monitor.detect.shape import as_dict, named, parse_time, participants
from monitor.detect.turnout import Report, Window, pace_jump, reports_of, windows
from monitor.election import Definition
from monitor.election.thresholds import DEFAULTS, Thresholds

__all__ = ["sweep_findings"]

_MAD_TO_SD = 1.4826  # the MAD of a normal sample times this estimates its standard deviation


def sweep_findings(
    stations: dict[str, dict[str, Any]],
    registry: Registry,
    t: Thresholds = DEFAULTS,
    now: datetime | None = None,
) -> list[Finding]:
    """Every cross-station and cross-kind finding of the station read model at ``now`` (the
    event-time clock, needed only for ``late_protocol``)."""
    docs = as_dict(stations)
    d = registry.definition
    own, level = d.station_source or "pec", d.station_level
    by_tec: dict[str, list[str]] = {}
    for sid in sorted(docs):
        st = registry.stations.get(sid)
        if st is not None:  # a station the registry does not know: nothing to compare it with
            by_tec.setdefault(st.tec_id, []).append(sid)
    out: list[Finding] = []
    for tec, sids in sorted(by_tec.items()):
        reports = {sid: reports_of(as_dict(docs[sid]).get("turnout")) for sid in sids}
        out += _peer_jumps(tec, reports, t, level)
        out += _additions_cluster(tec, registry.names.get(tec, tec), reports, t, d.levels[-2])
        for sid in sids:
            final = _final(reports[sid], t)
            if final is None:
                continue  # both checks compare the protocol with the final report
            prot = as_dict(as_dict(docs[sid]).get("protocols"))
            sources = _figures(prot, registry.parties, own, d)
            out += _protocol_above_report(sid, tec, sources.get(own), final, t, level)
            out += _valid_exceeds(sid, tec, sources, final, registry.parties, t, level)
    out += _late_protocols(docs, registry, t, now)
    return out


def _figures(
    prot: dict[str, Any], parties: tuple[str, ...], own: str, d: Definition
) -> dict[str, dict[str, int]]:
    """The station's own (PEC) and the official figures of a station, where readable."""
    sources = as_dict(prot.get("sources"))
    official = prot.get("official_source")
    out = {}
    for src in (own, official if isinstance(official, str) else own):
        f = named(as_dict(sources.get(src)).get("figures"), parties, d)
        if f is not None:
            out[src] = f
    return out


def _final(reports: dict[int, Report], t: Thresholds) -> tuple[int, Report] | None:
    """The station's final report, if it has sent it (an earlier one is not the close) and
    it has a list (a report of zero registered is not one to compare with)."""
    if not reports or max(reports) < t.final_report_seq:
        return None
    last = max(reports)
    return (last, reports[last]) if reports[last][0] > 0 else None


# -- turnout_jump against the TEC's peers --------------------------------------------------------


def _peer_jumps(
    tec: str, reports: dict[str, dict[int, Report]], t: Thresholds, level: str = "pec"
) -> list[Finding]:
    """A window far above the same window at the TEC's other stations (robust score: median
    and MAD of the share of the list), and also above the station's own pace, so that a
    station whose whole day runs high is not read as a jump."""
    own = {sid: windows(r) for sid, r in reports.items()}
    by_seq: dict[int, list[tuple[str, Window]]] = {}
    for sid, ws in own.items():
        for w in ws:
            by_seq.setdefault(w.seq, []).append((sid, w))
    out = []
    for _seq, entries in sorted(by_seq.items()):
        if len(entries) < t.peer_min_stations:
            continue
        points = [w.points for _, w in entries]
        mid = median(points)
        scale = max(_MAD_TO_SD * median(abs(p - mid) for p in points), t.peer_mad_floor_points)
        for sid, w in entries:
            excess = w.points - mid
            z = excess / scale
            if z < t.peer_z or excess < t.jump_min_points or excess * w.registered / 100 < t.jump_min_votes:
                continue
            pace = pace_jump(w, own[sid], t.peer_own_ratio, t)
            if pace is not None:
                out.append(_peer_finding(sid, tec, w, mid, z, len(entries), pace, level))
    return out


def _peer_finding(
    sid: str, tec: str, w: Window, mid: float, z: float, n: int, pace: float, level: str
) -> Finding:
    return Finding(
        "turnout_jump",
        "warning",
        level,
        tec,
        sid,
        {
            "check": "tec_peers",
            "seq": w.seq,
            "from_seq": w.start,
            "voters": round(w.voters),
            "points": round(w.points, 1),
            "peer_median_points": round(mid, 1),
            "robust_z": round(z, 1),
            "peers": n,
            "own_median_voters": round(pace, 1),
            "registered": w.registered,
        },
        f"Station {sid} reported {w.points:.1f} % of its list {w.span()}, against a median of"
        f" {mid:.1f} % at the {n} stations of its TEC.",
        subject=f"peers-{w.seq}",
    )


# -- turnout_jump: the PEC protocol against the final report -------------------------------------


def _protocol_above_report(
    sid: str, tec: str, pec: dict[str, int] | None, final: tuple[int, Report], t: Thresholds, level: str
) -> list[Finding]:
    if pec is None:
        return []
    seq, (registered, _added, voted) = final
    voters = participants(pec)
    gap = voters - voted
    if gap < t.protocol_gap_votes or 100 * gap / registered < t.protocol_gap_points:
        return []
    return [
        Finding(
            "turnout_jump",
            "warning",
            level,
            tec,
            sid,
            {
                "check": "protocol_vs_report",
                "seq": seq,
                "report_voted": voted,
                "protocol_participants": voters,
                "gap": gap,
                "points": round(100 * gap / registered, 1),
                "registered": registered,
            },
            f"The PEC protocol of station {sid} counts {voters:,} voters, {gap:,} more than its"
            f" final turnout report ({100 * gap / registered:.1f} % of the list).",
            subject="protocol",
        )
    ]


# -- valid_exceeds_turnout at a station ----------------------------------------------------------


def _valid_exceeds(
    sid: str,
    tec: str,
    sources: dict[str, dict[str, int]],
    final: tuple[int, Report],
    parties: tuple[str, ...],
    t: Thresholds,
    level: str,
) -> list[Finding]:
    """Valid votes in the PEC protocol or the official figures above the voters of the final
    report: the station-level form of report XIV's 200,000 (the report alone cannot say it,
    the protocol alone cannot either)."""
    seq, (_registered, _added, voted) = final
    valid = {src: sum(f[p] for p in parties) for src, f in sources.items()}
    if not valid:
        return []
    basis = max(valid, key=lambda s: valid[s])
    excess = valid[basis] - voted
    if excess < max(t.valid_excess_votes, 1):
        return []
    return [
        Finding(
            "valid_exceeds_turnout",
            "critical",
            level,
            tec,
            sid,
            {"voted": voted, "report_seq": seq, "valid": valid, "basis": basis, "excess": excess},
            f"At station {sid} the {basis} figures count {valid[basis]:,} valid votes,"
            f" {excess:,} more than the voters of its final turnout report.",
        )
    ]


# -- list_additions: clusters within a TEC -------------------------------------------------------


def _additions_cluster(
    tec: str, name: str, reports: dict[str, dict[int, Report]], t: Thresholds, level: str = "tec"
) -> list[Finding]:
    """Several stations of one TEC adding voters on the day (report XIII.A fn 70: a bus
    group added to the list at one station after another)."""
    members, registered_all, added_all = [], 0, 0
    for sid, r in sorted(reports.items()):
        if not r:
            continue
        registered, added, _voted = r[max(r)]
        registered_all, added_all = registered_all + registered, added_all + added
        if registered and added >= t.cluster_votes and added >= t.cluster_share * registered:
            members.append((sid, added, registered))
    if len(members) < max(t.cluster_min_stations, 1):
        return []
    added = sum(a for _, a, _ in members)
    return [
        Finding(
            "list_additions",
            "warning",
            level,
            tec,
            None,
            {
                "check": "tec_cluster",
                "n_stations": len(members),
                "stations": [
                    {"station_id": s, "added": a, "percent_of_list": round(100 * a / r, 2)}
                    for s, a, r in members
                ],
                "added": added,
                "tec_added": added_all,
                "tec_percent_of_list": round(100 * added_all / registered_all, 2) if registered_all else None,
            },
            f"{len(members)} stations of {name} added {added:,} voters to their lists on election day,"
            f" each at least {t.cluster_votes} and {100 * t.cluster_share:.0f} % of its list.",
            subject="cluster",
        )
    ]


# -- late_protocol -------------------------------------------------------------------------------


def _late_protocols(
    docs: dict[str, Any], registry: Registry, t: Thresholds, now: datetime | None
) -> list[Finding]:
    """The one producer of ``late_protocol``: stations whose PEC protocol was recorded after
    the deadline (from the protocol's own time, whenever the sweep sees it) and, once the
    clock has passed the deadline, stations with none. ``now`` None: the clock cannot be
    trusted yet (the worker is catching up), so nothing is said to be missing."""
    close, deadline = t.polls_close, t.protocol_deadline
    if close is None or deadline is None:
        return []
    missing = isinstance(now, datetime) and now.tzinfo is not None and now >= deadline
    d = registry.definition
    own, level = d.station_source or "pec", d.station_level
    out = []
    for sid in sorted(registry.stations):
        tec = registry.stations[sid].tec_id
        prot = as_dict(as_dict(docs.get(sid)).get("protocols"))
        if own in as_dict(prot.get("sources")):
            out += late_arrival(sid, tec, prot, t, level)
        elif missing:
            # evidence and sentence must not move with the clock or with other sources
            # coming in, or the finding would be re-emitted at every sweep
            out.append(
                Finding(
                    "late_protocol",
                    "warning",
                    level,
                    tec,
                    sid,
                    {
                        "polls_close": close.isoformat(),
                        "deadline": deadline.isoformat(),
                        "pec_recorded_at": None,
                    },
                    f"Station {sid} has no PEC protocol {_hours(t)} hours after the close of polls.",
                )
            )
    return out


def _hours(t: Thresholds) -> str:
    return f"{t.protocol_grace.total_seconds() / 3600:g}"


def late_arrival(
    sid: str, tec: str, protocols_doc: dict[str, Any], t: Thresholds, level: str = "pec"
) -> list[Finding]:
    """A PEC protocol recorded after the deadline, from the protocol's own time: the same
    finding as a missing one (same id), so a station first flagged as missing is re-emitted
    once with the time its protocol came, and one that came late between two sweeps is
    flagged all the same."""
    close, deadline = t.polls_close, t.protocol_deadline
    at = parse_time(protocols_doc.get("pec_recorded_at"))
    if close is None or deadline is None or at is None or at <= deadline:
        return []
    late_by = (at - deadline).total_seconds() / 3600
    return [
        Finding(
            "late_protocol",
            "warning",
            level,
            tec,
            sid,
            {
                "polls_close": close.isoformat(),
                "deadline": deadline.isoformat(),
                "pec_recorded_at": at.isoformat(),
                "hours_late": round(late_by, 2),
            },
            f"The PEC protocol of station {sid} was recorded {late_by:.1f} hours after the"
            f" deadline of {_hours(t)} hours after the close of polls.",
        )
    ]
