"""What the drill page shows, gathered once and derived by pure functions.

``ReportData`` holds the monitor's outputs as the read model has them: the unit snapshots,
the station documents, the findings records, plus the check against the report
(``monitor.drill.check.Line``). It is filled from Redis (``from_redis``) or from an in-memory tally
(``from_memory``); everything after that is a function of it, so the page is tested without
Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.contract import FIGURE_FIELDS, Registry
from monitor.drill.check import Line, Measured, report

# Commission levels from the bottom up. An observer copy is not a level: it moves no votes.
LEVELS = ("pec", "tec", "rec", "cec")
INVALID = "invalid"


@dataclass(frozen=True)
class ReportData:
    units: dict[str, dict[str, Any]]
    stations: dict[str, dict[str, Any]]  # station id -> read-model document (kind -> JSON)
    registry: Registry
    lines: list[Line]
    findings: list[dict[str, Any]] = field(default_factory=list)  # contract `finding` records
    published: dict[str, str] = field(default_factory=dict)  # station id -> where the report has it
    report_labels: dict[str, str] = field(default_factory=dict)  # turnout seq -> "10:00"
    title: str = "Drill report"
    snapshot_at: str = ""
    generated_at: str = ""
    origin: str = ""  # where the figures were read, for the page's header

    @property
    def parties(self) -> list[str]:
        return list(self.registry.parties)

    def recs(self) -> list[str]:
        """The regions that have a snapshot, in registry order."""
        return [r for r in self.registry.rec_tecs if r in self.units]

    def rec_of(self, sid: str) -> str:
        st = self.registry.stations.get(sid)
        return st.rec_id if st else sid.split("-", 1)[0]

    def tec_of(self, sid: str) -> str:
        st = self.registry.stations.get(sid)
        return st.tec_id if st else ""

    def name(self, uid: str) -> str:
        return self.registry.names.get(uid, uid)


def named(figures: Sequence[int], parties: Sequence[str]) -> dict[str, int] | None:
    names = [*FIGURE_FIELDS, *parties]
    return dict(zip(names, figures, strict=True)) if len(figures) == len(names) else None


def sources_of(doc: dict[str, Any] | None, parties: Sequence[str]) -> dict[str, dict[str, int]]:
    """A station's latest figures per source, by name (sources of the wrong shape left out)."""
    out = {}
    for src, entry in ((doc or {}).get("protocols", {}).get("sources") or {}).items():
        f = named(entry.get("figures", ()), parties)
        if f is not None:
            out[src] = f
    return out


def official_source(doc: dict[str, Any] | None) -> str | None:
    src = (doc or {}).get("protocols", {}).get("official_source")
    return src if isinstance(src, str) else None


def leader(units: dict[str, dict[str, Any]]) -> str | None:
    """The national winner in the official view (the protocol view before any official figure)."""
    kz = units.get("KZ")
    if kz is None:
        return None
    for view in ("official", "protocol"):
        votes = kz.get(view, {}).get("votes", {})
        if votes and any(votes.values()):
            return str(max(votes, key=lambda p: votes[p]))
    return None


def participants(f: dict[str, int]) -> int:
    return f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"]


def turnout_and_share(f: dict[str, int], party: str, parties: Sequence[str]) -> tuple[float, float] | None:
    """Per cent turnout (participants of registered) and ``party``'s per cent of the valid votes."""
    valid = sum(f[p] for p in parties)
    if f["registered"] <= 0 or valid <= 0:
        return None
    return 100 * participants(f) / f["registered"], 100 * f[party] / valid


@dataclass(frozen=True)
class StationPoint:
    sid: str
    rec: str
    pec: tuple[float, float] | None
    official: tuple[float, float] | None
    altered: bool  # the official figures differ from the PEC protocol


def station_points(data: ReportData, party: str) -> list[StationPoint]:
    """Turnout and ``party``'s share per station, in the PEC protocol and the official view."""
    out = []
    for sid, doc in data.stations.items():
        srcs = sources_of(doc, data.parties)
        off = official_source(doc)
        pec, official = srcs.get("pec"), srcs.get(off) if off else None
        out.append(
            StationPoint(
                sid,
                data.rec_of(sid),
                turnout_and_share(pec, party, data.parties) if pec else None,
                turnout_and_share(official, party, data.parties) if official else None,
                pec is not None and official is not None and pec != official,
            )
        )
    return out


def vote_delta(a: dict[str, int], b: dict[str, int], parties: Sequence[str]) -> dict[str, int]:
    """Per party and invalid: ``b`` minus ``a``."""
    return {k: b[k] - a[k] for k in (*parties, INVALID)}


def level_steps(doc: dict[str, Any] | None, parties: Sequence[str]) -> list[tuple[str, str, dict[str, int]]]:
    """The votes a station's figures gained or lost at each level on the way from its PEC
    protocol up to the official source: (from, to, delta) for consecutive levels present.
    The deltas add up to official minus PEC, the tally's votes moved."""
    srcs = sources_of(doc, parties)
    off = official_source(doc)
    if "pec" not in srcs or off not in LEVELS:
        return []
    chain = [lv for lv in LEVELS[: LEVELS.index(off) + 1] if lv in srcs]
    return [(a, b, vote_delta(srcs[a], srcs[b], parties)) for a, b in zip(chain, chain[1:], strict=False)]


Moves = dict[tuple[str, str], dict[str, dict[str, int]]]  # (from, to) -> rec -> key -> votes


def moves_between_levels(data: ReportData) -> Moves:
    """Per step between levels, per region, per party and invalid: the votes moved."""
    keys = (*data.parties, INVALID)
    out: Moves = {}
    for sid, doc in data.stations.items():
        for a, b, delta in level_steps(doc, data.parties):
            per_rec = out.setdefault((a, b), {})
            acc = per_rec.setdefault(data.rec_of(sid), dict.fromkeys(keys, 0))
            for k, v in delta.items():
                acc[k] += v
    order = {lv: i for i, lv in enumerate(LEVELS)}
    return dict(sorted(out.items(), key=lambda kv: (order[kv[0][1]], order[kv[0][0]])))


@dataclass(frozen=True)
class Flagged:
    sid: str
    tec: str
    rec: str
    official_source: str
    diff: dict[str, int]  # official minus PEC protocol, per party and invalid
    other: dict[str, int]  # the other figures that changed, official minus PEC
    published: str | None  # where the report published this station's figures
    findings: list[dict[str, Any]]


def findings_by_station(findings: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f.get("station_id"):
            out.setdefault(str(f["station_id"]), []).append(f)
    return out


def flagged_stations(data: ReportData) -> list[Flagged]:
    """Stations whose official figures differ from their PEC protocol, by region (registry
    order) and then by the votes the leader gained, largest first."""
    parties = data.parties
    found = findings_by_station(data.findings)
    win = leader(data.units) or (parties[0] if parties else "")
    rows = []
    for sid, doc in data.stations.items():
        srcs, off = sources_of(doc, parties), official_source(doc)
        pec = srcs.get("pec")
        if pec is None or off is None or off not in srcs or srcs[off] == pec:
            continue
        f = srcs[off]
        other = {k: f[k] - pec[k] for k in FIGURE_FIELDS if k != INVALID and f[k] != pec[k]}
        rows.append(
            Flagged(
                sid,
                data.tec_of(sid),
                data.rec_of(sid),
                off,
                vote_delta(pec, f, parties),
                other,
                data.published.get(sid),
                found.get(sid, []),
            )
        )
    rank = {r: i for i, r in enumerate(data.registry.rec_tecs)}
    rows.sort(key=lambda r: (rank.get(r.rec, len(rank)), -r.diff.get(win, 0), r.sid))
    return rows


def published_stations(expected: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The stations whose per-party figures the report published (``annex.<station>`` ids),
    with the report's reference."""
    return {e["id"].split(".", 1)[1]: e.get("source", "") for e in expected if e["id"].startswith("annex.")}


# --- filling it ------------------------------------------------------------------------------


def from_memory(
    tally: Any, lines: list[Line], findings: Iterable[dict[str, Any]] = (), **page: Any
) -> ReportData:
    """The same data from a :class:`monitor.testing.InMemoryTally` (no Redis)."""
    return ReportData(tally.snapshot(), dict(tally.stations), tally.registry, lines, list(findings), **page)


def drill_data(
    units: dict[str, dict[str, Any]],
    stations: dict[str, dict[str, Any]],
    registry: Registry,
    findings: list[dict[str, Any]],
    **page: Any,
) -> ReportData:
    """The 2007 drill's page data: the check against the report and the stations it published,
    measured from the given outputs exactly as ``tabmon drill-report`` does."""
    from producers.elections.kz2007.night import expected
    from producers.elections.synthetic import REPORT_TIMES

    figures = expected()
    lines = report(figures, Measured(units, stations.get, registry))
    labels = {str(i + 1): t.strftime("%H:%M") for i, t in enumerate(REPORT_TIMES)}
    page.setdefault("title", "The 2007 drill: Majilis election night, 18 August 2007")
    return ReportData(units, stations, registry, lines, findings, published_stations(figures), labels, **page)
