"""The drill page's plots, each a pure function from figures to inline SVG.

Every region's data is drawn in a ``<g>`` or ``<svg>`` carrying ``data-region``, so a test
(or a curious trainer with the page source) can find a region's marks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from monitor.drill.report.data import INVALID, Moves, StationPoint
from monitor.drill.report.svg import (
    Linear,
    dots,
    esc,
    line,
    marker,
    polyline,
    rect,
    sequential,
    svg,
    text,
    ticks,
    x_axis,
    y_axis,
)

# Okabe-Ito, in ballot order: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#8C6D31")
INVALID_COLOR = "#9a9a9a"
NATIONAL_COLOR = "#8a8a8a"
REGION_COLOR = "#0072B2"
ALTERED_COLOR = "#D55E00"
FROM_COLOR = "#9e9e9e"


def party_colors(parties: Sequence[str]) -> dict[str, str]:
    colors = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(parties)}
    colors[INVALID] = INVALID_COLOR
    return colors


def _pct(num: int, den: int) -> float | None:
    return 100 * num / den if den else None


# --- turnout through the day ------------------------------------------------------------------


def turnout_curve(unit: dict[str, Any]) -> list[tuple[int, float, dict[str, Any]]]:
    """(report seq, per cent voted, the report's figures) for each turnout report of a unit."""
    out = []
    for seq, r in sorted(unit.get("turnout", {}).get("by_report", {}).items(), key=lambda kv: int(kv[0])):
        pct = _pct(r["voted"], r["registered"])
        if pct is not None:
            out.append((int(seq), pct, r))
    return out


def summary_turnouts(unit: dict[str, Any]) -> list[tuple[int, float]]:
    """(version, per cent) of each version of the commission's own summary protocol."""
    out = []
    for v in unit.get("summary_versions", []):
        pct = _pct(v["participants"], v["registered"])
        if pct is not None:
            out.append((int(v["version"]), pct))
    return out


def turnout_panel(
    unit: dict[str, Any], national: dict[str, Any], labels: dict[str, str], seqs: Sequence[int]
) -> str:
    """One region: its turnout at each report beside the nation's (grey), then the turnout of
    each version of its summary protocol (a second dot means it was revised after the close)."""
    w, h, left, right, top, bottom = 236, 168, 30, 10, 30, 24
    last = max(seqs) + 1  # the slot of the summary protocol
    sx = Linear(min(seqs) - 0.3, last + 0.3, left, w - right)
    sy = Linear(0, 100, h - bottom, top)
    rid = unit["unit_id"]
    curve = turnout_curve(unit)
    final = f"{curve[-1][1]:.1f} %" if curve else "no report"
    body = [
        text(left - 26, 13, f"{rid} {unit.get('name', rid)}", "panel-title"),
        text(w - right, 13, final, "panel-value", "end"),
        y_axis(sy, left, [0, 25, 50, 75, 100], grid_to=w - right),
        line(sx.r0, sy(0), sx.r1, sy(0), "axis"),
    ]
    for s in seqs:
        body.append(text(sx(s), h - bottom + 12, labels.get(str(s), f"#{s}").split(":")[0], "tick", "middle"))
    body.append(text(sx(last), h - bottom + 12, "REC", "tick", "middle"))
    nat = turnout_curve(national)
    if nat:
        body.append(polyline([(sx(s), sy(p)) for s, p, _ in nat], NATIONAL_COLOR, "series national"))
    if curve:
        body.append(polyline([(sx(s), sy(p)) for s, p, _ in curve], REGION_COLOR))
    for s, p, r in curve:
        when = labels.get(str(s), f"report {s}")
        body.append(
            marker(
                sx(s),
                sy(p),
                REGION_COLOR,
                f"{rid} {when}: {p:.2f} % ({r['voted']:,} of {r['registered']:,} registered)",
            )
        )
    versions = summary_turnouts(unit)
    for i, (v, p) in enumerate(versions):
        revised = i > 0 and abs(p - versions[0][1]) >= 0.05
        title = f"{rid} summary protocol v{v}: {p:.2f} %"
        if revised:
            title += f" ({p - versions[0][1]:+.1f} points on v{versions[0][0]})"
        body.append(
            marker(sx(last), sy(p), ALTERED_COLOR if revised else "#ffffff", title, 3.2, "mark summary")
        )
        if revised:
            body.append(text(sx(last) - 6, sy(p) - 6, f"{p - versions[0][1]:+.1f}", "revised", "end"))
    return svg(
        w,
        h,
        "".join(body),
        f"Turnout through the day, {rid}",
        "plot panel",
        {"plot": "turnout", "region": rid},
    )


def turnout_grid(units: dict[str, dict[str, Any]], recs: Sequence[str], labels: dict[str, str]) -> str:
    """Small multiples, the regions ordered by their last report's turnout, highest first."""
    national = units.get("KZ", {})
    seqs = sorted({s for r in recs for s, _, _ in turnout_curve(units[r])}) or [1]

    def final(rid: str) -> float:
        c = turnout_curve(units[rid])
        return c[-1][1] if c else -1.0

    ordered = sorted(recs, key=lambda r: (-final(r), r))
    return "".join(turnout_panel(units[r], national, labels, seqs) for r in ordered)


# --- the fingerprint ---------------------------------------------------------------------------


def _domain_turnout(points: Sequence[StationPoint]) -> float:
    """0 to 100 %, or further where a station reports more participants than registered."""
    most = max((p[0] for sp in points for p in (sp.pec, sp.official) if p), default=100.0)
    return max(100.0, math.ceil(most / 5) * 5)


def _domain_share(points: Sequence[StationPoint]) -> float:
    """The lowest share shown, a multiple of 10: no empty band below the lowest station."""
    least = min((p[1] for sp in points for p in (sp.pec, sp.official) if p), default=0.0)
    return min(50.0, math.floor(least / 10) * 10)


def histogram2d(
    cells: Sequence[tuple[float, float]], x_max: float, size: float = 2.5
) -> dict[tuple[int, int], int]:
    """Counts per cell of ``size`` points of turnout (x) by ``size`` points of share (y)."""
    counts: dict[tuple[int, int], int] = {}
    top_x, top_y = int(x_max / size) - 1, int(100 / size) - 1
    for x, y in cells:
        key = (min(int(x // size), top_x), min(int(y // size), top_y))
        counts[key] = counts.get(key, 0) + 1
    return counts


def view_points(points: Sequence[StationPoint], view: str) -> list[tuple[float, float]]:
    return [p for p in (sp.pec if view == "pec" else sp.official for sp in points) if p]


def fingerprint(
    xy: Sequence[tuple[float, float]],
    view: str,
    party: str,
    x_max: float,
    y_min: float,
    peak: int,
    size: float = 2.5,
) -> str:
    """The national 2-D histogram of stations by turnout and ``party``'s share, in one view.
    Colour is the log of the count against ``peak`` (shared by both views, so they compare)."""
    w, h, left, right, top, bottom = 440, 360, 44, 12, 28, 40
    sx, sy = Linear(0, x_max, left, w - right), Linear(y_min, 100, h - bottom, top)
    cw, ch = sx(size) - sx(0), sy(0) - sy(size)
    body = [rect(left, top, w - left - right, h - top - bottom, "#ffffff", cls="frame")]
    for (i, j), c in sorted(histogram2d(xy, x_max, size).items()):
        shade = sequential(0.15 + 0.85 * math.log1p(c) / math.log1p(max(peak, 1)))
        where = f"turnout {i * size:g}-{(i + 1) * size:g} %, {party} {j * size:g}-{(j + 1) * size:g} %"
        body.append(
            rect(
                sx(i * size),
                sy((j + 1) * size),
                cw,
                ch,
                shade,
                f"{where}: {c:,} station{'s' if c != 1 else ''}",
                "cell",
            )
        )
    body += [
        x_axis(sx, h - bottom, ticks(0, x_max, 5), "turnout (participants of registered), %"),
        y_axis(sy, left, ticks(y_min, 100, 5), f"{party}'s share of the valid votes, %"),
    ]
    title = "PEC protocols" if view == "pec" else "official figures"
    return svg(
        w,
        h,
        "".join(body),
        f"Fingerprint, {title}: {len(xy):,} stations",
        data={"plot": "fingerprint", "view": view, "stations": len(xy)},
    )


def fingerprints(points: Sequence[StationPoint], party: str) -> str:
    """The PEC protocols' fingerprint beside the official one, on one colour scale."""
    x_max, y_min = _domain_turnout(points), _domain_share(points)
    views = {v: view_points(points, v) for v in ("pec", "official")}
    peak = max((max(histogram2d(xy, x_max).values(), default=0) for xy in views.values()), default=1)
    return "".join(fingerprint(xy, v, party, x_max, y_min, peak) for v, xy in views.items())


def region_scatter(rid: str, name: str, points: Sequence[StationPoint], x_max: float, y_min: float) -> str:
    """One region's stations in the official view: unchanged ones in blue, altered ones in red
    with, in grey over the blue, where their PEC protocol had put them."""
    w, h, left, right, top, bottom = 236, 196, 30, 10, 38, 24
    sx, sy = Linear(0, x_max, left, w - right), Linear(y_min, 100, h - bottom, top)
    same = [sp.official for sp in points if sp.official and not sp.altered]
    moved = [sp.official for sp in points if sp.official and sp.altered]
    came = [sp.pec for sp in points if sp.pec and sp.altered]
    body = [
        text(left - 26, 13, f"{rid} {name}", "panel-title"),
        text(left - 26, 27, f"{len(moved):,} of {len(same) + len(moved):,} stations altered", "panel-value"),
        y_axis(sy, left, ticks(y_min, 100, 3), grid_to=w - right),
        x_axis(sx, h - bottom, ticks(0, x_max, 4), grid_to=top),
        dots(((sx(x), sy(y)) for x, y in same), REGION_COLOR, "unchanged"),
        dots(((sx(x), sy(y)) for x, y in came), FROM_COLOR, "pec-of-altered"),
        dots(((sx(x), sy(y)) for x, y in moved), ALTERED_COLOR, "altered"),
    ]
    return svg(
        w,
        h,
        "".join(body),
        f"Turnout and the leader's share, {rid}",
        "plot panel",
        {"plot": "scatter", "region": rid},
    )


def region_scatters(points: Sequence[StationPoint], recs: Sequence[str], names: dict[str, str]) -> str:
    x_max, y_min = _domain_turnout(points), _domain_share(points)
    by_rec: dict[str, list[StationPoint]] = {}
    for sp in points:
        by_rec.setdefault(sp.rec, []).append(sp)
    return "".join(region_scatter(r, names.get(r, r), by_rec.get(r, []), x_max, y_min) for r in recs)


# --- votes moved between levels -----------------------------------------------------------------


def moved_chart(
    step: tuple[str, str],
    per_rec: dict[str, dict[str, int]],
    recs: Sequence[str],
    keys: Sequence[str],
    colors: dict[str, str],
    party: str,
) -> str:
    """Diverging stacked bars, a row per region: votes gained to the right of zero, votes lost
    to the left, a segment per party (and invalid ballots)."""
    rows = sorted(recs, key=lambda r: (-per_rec.get(r, {}).get(party, 0), r))
    row_h, left, right, top = 20, 46, 150, 8
    w, h = 900, top + row_h * len(rows) + 34
    gain = max((sum(v for v in per_rec.get(r, {}).values() if v > 0) for r in rows), default=0)
    loss = max((-sum(v for v in per_rec.get(r, {}).values() if v < 0) for r in rows), default=0)
    reach = max(gain, loss, 1)
    sx = Linear(-reach, reach, left, w - right)
    body = [x_axis(sx, top + row_h * len(rows) + 2, ticks(-reach, reach, 8), "votes", "{:,.0f}", grid_to=top)]
    for i, rid in enumerate(rows):
        y, delta = top + i * row_h, per_rec.get(rid, {})
        segs = [
            f'<g data-region="{esc(rid)}" data-step="{step[0]}-{step[1]}">',
            text(left - 6, y + row_h - 6, rid, "row-label", "end"),
        ]
        pos = neg = 0
        for k in keys:
            v = delta.get(k, 0)
            if v == 0:
                continue
            a, b = (pos, pos + v) if v > 0 else (neg + v, neg)
            pos, neg = (pos + v, neg) if v > 0 else (pos, neg + v)
            segs.append(
                rect(
                    sx(a),
                    y + 3,
                    sx(b) - sx(a),
                    row_h - 6,
                    colors[k],
                    f"{rid}, {k}: {v:+,} votes ({step[0].upper()} to {step[1].upper()})",
                    "seg",
                )
            )
        net = delta.get(party, 0)
        note = f"{party} {net:+,}" if net else ("no change" if not any(delta.values()) else "")
        segs.append(text(w - right + 6, y + row_h - 6, note, "row-note"))
        body.append("".join(segs) + "</g>")
    body.append(line(sx(0), top, sx(0), top + row_h * len(rows), "zero"))
    label = f"Votes moved from the {step[0].upper()} to the {step[1].upper()} figures, by region and party"
    return svg(w, h, "".join(body), label, data={"plot": "moved", "step": f"{step[0]}-{step[1]}"})


def moved_charts(moves: Moves, recs: Sequence[str], parties: Sequence[str], party: str) -> list[str]:
    colors = party_colors(parties)
    keys = [*parties, INVALID]
    return [moved_chart(step, per_rec, recs, keys, colors, party) for step, per_rec in moves.items()]


def legend(parties: Sequence[str]) -> str:
    colors = party_colors(parties)
    items = [
        f'<span class="key"><i style="background:{colors[k]}"></i>{esc(k)}</span>'
        for k in (*parties, INVALID)
    ]
    return f'<p class="legend">{"".join(items)}</p>'
