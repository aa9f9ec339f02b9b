"""Station detectors over one station's protocols document (every source, every version).

Stage one runs them on the document of the protocols partition alone (docs/architecture.md,
"Findings"). Each returns findings and never raises on partial data: a missing source or
field, or figures of the wrong shape, mean the detector says nothing about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from monitor.contract import default_definition
from monitor.detect.findings import Finding
from monitor.detect.shape import as_dict, as_int_key, delta, gainer, named, participants
from monitor.election.thresholds import DEFAULTS, Thresholds

if TYPE_CHECKING:
    from monitor.election import Definition

__all__ = ["SOURCE_ORDER", "Thresholds", "control_breaks", "detect_station"]

SOURCE_ORDER = ("pec", "observer", "tec", "rec", "cec")


def _source_rank(src: str) -> tuple[int, str]:
    return (SOURCE_ORDER.index(src) if src in SOURCE_ORDER else len(SOURCE_ORDER), src)


def control_breaks(
    f: dict[str, int], parties: Sequence[str], definition: Definition | None = None
) -> list[str]:
    """The control relations of the election definition (kz2007's are CONTRACT.md's) that a
    protocol breaks, as the definition writes them."""
    d = definition or default_definition()
    return d.broken([f[k] for k in d.fields] + [f[p] for p in parties])


def detect_station(
    sid: str,
    tec: str,
    doc: dict[str, Any],
    parties: Sequence[str],
    t: Thresholds = DEFAULTS,
    definition: Definition | None = None,
) -> list[Finding]:
    """Every station-level finding of one station's ``{"protocols": ...}`` document, on the
    definition's form (kz2007's when None)."""
    d = definition or default_definition()
    prot = as_dict(as_dict(doc).get("protocols"))
    sources = {}
    for src, entry in as_dict(prot.get("sources")).items():
        f = named(as_dict(entry).get("figures"), parties, d)
        if f is not None:
            sources[src] = f
    out: list[Finding] = []
    for src, f in sources.items():
        out += _arithmetic(sid, tec, src, f, parties, d)
    own = d.station_source
    if own in sources:
        out += _turnout(sid, tec, sources[own], t)
    official = prot.get("official_source")
    if isinstance(official, str) and official in sources:
        out += _unanimous(sid, tec, sources[official], official, parties, t)
    out += _altered(sid, tec, sources, parties, d)
    out += _altered_versions(sid, tec, as_dict(prot.get("versions")), parties, d)
    out += _later_contests(sid, tec, as_dict(prot.get("contests")), d)
    if d.station_level != "pec":  # the findings are about a station, by its level's name
        out = [replace(f, level=d.station_level) for f in out]
    return out


def _arithmetic(
    sid: str, tec: str, src: str, f: dict[str, int], parties: Sequence[str], d: Definition
) -> list[Finding]:
    breaks = control_breaks(f, parties, d)
    if not breaks:
        return []
    return [
        Finding(
            "arithmetic_inconsistent",
            "warning",
            "pec",
            tec,
            sid,
            {"source": src, "broken": breaks},
            f"The {src} protocol of station {sid} breaks {len(breaks)} control"
            f" relation{'s' if len(breaks) > 1 else ''}: {breaks[0]}.",
            subject=src,
        )
    ]


def _turnout(sid: str, tec: str, f: dict[str, int], t: Thresholds) -> list[Finding]:
    registered, voted = f["registered"], participants(f)
    if registered <= t.min_voters or voted < t.turnout_warning * registered:
        return []
    critical = voted >= t.turnout_critical * registered
    return [
        Finding(
            "turnout_implausible",
            "critical" if critical else "warning",
            "pec",
            tec,
            sid,
            {"registered": registered, "voted": voted, "percent": round(100 * voted / registered, 2)},
            f"Station {sid} reports {voted:,} voters of {registered:,} registered"
            f" ({100 * voted / registered:.1f} %).",
        )
    ]


def _unanimous(
    sid: str, tec: str, f: dict[str, int], source: str, parties: Sequence[str], t: Thresholds
) -> list[Finding]:
    valid = sum(f[p] for p in parties)
    voters = valid + f["invalid"]
    if valid == 0 or voters <= t.min_voters:
        return []
    leader = max(parties, key=lambda p: f[p])
    share = f[leader] / valid
    if share < t.unanimous_warning:
        return []
    every = f[leader] == valid
    return [
        Finding(
            "unanimous_result",
            "critical" if every else "warning",
            "pec",
            tec,
            sid,
            {
                "party": leader,
                "votes": f[leader],
                "valid": valid,
                "invalid": f["invalid"],
                "source": source,
                "no_invalid": f["invalid"] == 0,
            },
            f"At station {sid} {leader} has {'every' if every else f'{100 * share:.1f} % of the'}"
            f" valid vote ({f[leader]:,} of {valid:,})"
            + (", and not one ballot was invalid." if f["invalid"] == 0 else "."),
        )
    ]


def _altered(
    sid: str, tec: str, sources: dict[str, dict[str, int]], parties: Sequence[str], d: Definition
) -> list[Finding]:
    """Figures that differ between the station's own protocol and any later source."""
    own = d.station_source
    base = sources.get(own) if own is not None else None
    if base is None:
        return []
    # the first commission on the way up whose figures are no longer the station's
    ranked = sorted((r, s) for s, r in d.official_rank.items() if s != own)
    first = next((s for _r, s in ranked if s in sources and sources[s] != base), None)
    out = []
    for src in d.sources:
        if src == own:
            continue
        other = sources.get(src)
        if other is None or other == base:
            continue
        diff = delta(base, other)
        votes = {p: x for p, x in diff.items() if p in parties}
        win = gainer(votes)
        out.append(
            Finding(
                "protocol_altered",
                "critical" if votes else "warning",
                "pec",
                tec,
                sid,
                {"compared": [own, src], "delta": diff, "net_beneficiary": win, "first_changed_at": first},
                f"The {src} figures of station {sid} differ from its PEC protocol"
                + (f": {win} {votes[win]:+,} votes." if win else f" in {len(diff)} figures."),
                subject=f"pec-{src}",
            )
        )
    return out


def _later_contests(sid: str, tec: str, contests: dict[str, Any], d: Definition) -> list[Finding]:
    """A later contest's protocols (a single-member district's) checked as the first's are:
    each source against the relations, and the sources against the station's own."""
    out = []
    for cid in sorted(contests):
        selections = d.selections.get(cid)
        if selections is None:
            continue
        sources = {}
        for src, entry in as_dict(as_dict(contests[cid]).get("sources")).items():
            f = named(as_dict(entry).get("figures"), selections, d)
            if f is not None:
                sources[src] = f
        found = [x for src, f in sources.items() for x in _arithmetic(sid, tec, src, f, selections, d)]
        found += _altered(sid, tec, sources, selections, d)
        name = d.contest(cid).name
        out += [
            replace(
                x,
                evidence={"contest": cid, **x.evidence},
                explanation=f"{name}: {x.explanation}",
                subject=f"{cid}:{x.subject}",
            )
            for x in found
        ]
    return out


def _altered_versions(
    sid: str, tec: str, versions: dict[str, Any], parties: Sequence[str], d: Definition | None = None
) -> list[Finding]:
    """Figures that changed between versions n and n+1 of one source (report XIII.C fn 80:
    station 70's protocol gave Nur Otan 208 more votes an hour after the first copy)."""
    out = []
    for src in sorted(versions, key=_source_rank):
        seen: dict[int, dict[str, int]] = {}
        for key, figures in as_dict(versions[src]).items():
            v, f = as_int_key(key), named(figures, parties, d)
            if v is not None and f is not None:
                seen[v] = f
        order = sorted(seen)
        for a, b in zip(order, order[1:], strict=False):
            diff = delta(seen[a], seen[b])
            if not diff:
                continue
            votes = {p: x for p, x in diff.items() if p in parties}
            win = gainer(votes)
            out.append(
                Finding(
                    "protocol_altered",
                    "critical" if votes else "warning",
                    "pec",
                    tec,
                    sid,
                    {
                        "compared": [src, src],
                        "versions": [a, b],
                        "delta": diff,
                        "net_beneficiary": win,
                        "first_changed_at": src,
                    },
                    f"Version {b} of the {src} protocol of station {sid} differs from version {a}"
                    + (f": {win} {votes[win]:+,} votes." if win else f" in {len(diff)} figures."),
                    subject=f"{src}-v{a}-v{b}",
                )
            )
    return out
