"""The drill page: one self-contained HTML document from a :class:`ReportData`.

No script, no font, no image file and no URL: the styles are inline and the plots are SVG
in the page, so the file opens the same offline, attached to a mail or on a projector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from monitor.drill.check import Line
from monitor.drill.report import plots
from monitor.drill.report.data import (
    INVALID,
    Flagged,
    ReportData,
    flagged_stations,
    leader,
    moves_between_levels,
    station_points,
)
from monitor.drill.report.svg import esc

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0;
background:#f6f6f4}
main{max-width:1240px;margin:0 auto;padding:18px 24px 60px}
h1{font-size:26px;margin:8px 0 2px}h2{font-size:20px;margin:34px 0 6px;border-top:1px solid #ddd;
padding-top:18px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#666;margin:0 0 14px}.lead{max-width:860px;color:#333}
nav a{margin-right:14px;color:#0b5394;text-decoration:none}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px 14px;min-width:150px}
.card b{display:block;font-size:22px}.card span{color:#666;font-size:12px}
.card.bad b{color:#b3261e}.card.good b{color:#1e7b34}
.grid{display:flex;flex-wrap:wrap;gap:8px}
svg.plot{background:#fff;border:1px solid #e2e2e2;border-radius:4px;font-size:10px}
svg .axis,svg .zero{stroke:#777;stroke-width:1}svg .grid{stroke:#ececec;stroke-width:1}
svg .tick{fill:#666}svg .axis-label{fill:#444;font-size:11px}
svg .panel-title{font-weight:600;font-size:11px}svg .panel-value{fill:#444;font-size:11px}
svg .series{fill:none;stroke-width:2}svg .national{stroke-dasharray:4 3;stroke-width:1.5}
svg .summary{stroke:#D55E00;stroke-width:1.3}svg .revised{fill:#D55E00;font-weight:600}
svg .dots{stroke-linecap:round;stroke-width:2.6;fill:none;opacity:.75}
svg .frame{stroke:#ddd}svg .row-label{font-weight:600;font-size:11px}svg .row-note{fill:#444;font-size:11px}
svg .seg:hover,svg .cell:hover{stroke:#000;stroke-width:1}
.legend .key{margin-right:14px;white-space:nowrap}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px;border-radius:2px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e2e2e2;padding:3px 7px;vertical-align:top}
th{background:#f0f0ee;text-align:left;position:sticky;top:0}
td.id{white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.up{color:#1e7b34}td.down{color:#b3261e}td.zero{color:#bbb}
tr.no td{background:#fdecea}td.yes{color:#1e7b34;font-weight:600}td.no{color:#b3261e;font-weight:700}
.what{color:#666;font-size:12px}.tag{display:inline-block;background:#eef;border-radius:3px;
padding:0 5px;margin:1px 2px;font-size:11px}.tag.critical{background:#fbd9d3}.tag.warning{background:#fdf0c8}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""


def render(data: ReportData) -> str:
    """The whole page."""
    sections = [
        _header(data),
        _turnout(data),
        _fingerprint(data),
        _moved(data),
        _flagged(data),
        _findings(data),
        _report_table(data.lines),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(data.title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )


def _signed_cell(v: int) -> str:
    cls = "up" if v > 0 else "down" if v < 0 else "zero"
    return f'<td class="num {cls}">{v:+,}</td>' if v else '<td class="num zero">0</td>'


def _card(value: str, what: str, cls: str = "") -> str:
    return f'<div class="card {cls}"><b>{esc(value)}</b><span>{esc(what)}</span></div>'


def _cards(data: ReportData) -> list[str]:
    """The night in a few figures, each a card."""
    kz, party = data.units.get("KZ", {}), leader(data.units)
    ok = sum(ln.match for ln in data.lines)
    cards = []
    if data.lines:
        cards.append(
            _card(
                f"{ok} of {len(data.lines)}",
                "published figures the monitor reproduces",
                "good" if ok == len(data.lines) else "bad",
            )
        )
    if kz:
        reported, stations = kz.get("official", {}).get("stations_reported", 0), kz.get("stations", 0)
        cards.append(_card(f"{reported:,} of {stations:,}", "stations with official figures"))
        if kz.get("turnout", {}).get("percent") is not None:
            cards.append(_card(f"{kz['turnout']['percent']:.2f} %", "turnout in the last report of the day"))
        if party:
            moved = kz["moved"]["votes"][party]
            cards.append(
                _card(
                    f"{moved:+,}",
                    f"votes moved to {party}, official minus PEC protocols",
                    "bad" if moved else "",
                )
            )
        cards.append(
            _card(
                f"{kz.get('altered_stations', 0):,}",
                "stations whose official figures differ from their PEC protocol",
            )
        )
        cards.append(
            _card(
                f"{kz.get('unanimous_stations', {}).get('all', 0):,}",
                "stations where one party has every valid vote",
            )
        )
    cards.append(_card(f"{len(data.findings):,}", "findings in the read model"))
    return cards


NAV = (
    ("turnout", "Turnout"),
    ("fingerprint", "Fingerprint"),
    ("moved", "Votes moved"),
    ("flagged", "Flagged stations"),
    ("findings", "Findings"),
    ("report", "Report says"),
)


def _header(data: ReportData) -> str:
    meta = " · ".join(
        x
        for x in (
            f"figures of {data.snapshot_at}" if data.snapshot_at else "",
            f"read from {data.origin}" if data.origin else "",
            f"page made {data.generated_at}" if data.generated_at else "",
        )
        if x
    )
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in NAV)
    return (
        f'<header><h1>{esc(data.title)}</h1><p class="sub">{esc(meta)}</p><nav>{nav}</nav>'
        f'<div class="cards">{"".join(_cards(data))}</div></header>'
    )


def _section(anchor: str, title: str, lead: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2><p class="lead">{lead}</p>{body}</section>'


def _turnout(data: ReportData) -> str:
    lead = (
        "Each region's turnout at each report of the day (blue) against the national curve"
        " (grey, dashed). At the right, <b>REC</b>: the turnout in the region's summary"
        " protocol, one dot per version; a red dot with a figure is a revision after the"
        " close, in percentage points. Regions are ordered from the highest turnout."
    )
    grid = plots.turnout_grid(data.units, data.recs(), data.report_labels)
    return _section("turnout", "Turnout through the day", lead, f'<div class="grid">{grid}</div>')


def _fingerprint(data: ReportData) -> str:
    party = leader(data.units)
    if party is None:
        return _section("fingerprint", "Turnout and the leader's share", "No protocol yet.", "")
    points = station_points(data, party)
    lead = (
        f"Every station by its turnout (across) and {esc(party)}'s share of the valid votes"
        " (up), in the PEC protocols and in the official figures; darker cells hold more"
        " stations. A clean count gives one round cloud. A tail towards the top right, where"
        " turnout and the leader's share rise together, is what stuffed boxes and rewritten"
        " protocols leave behind."
    )
    regions = (
        '<h3>By region, official figures</h3><p class="lead">Blue: stations whose official'
        " figures are their PEC protocol's. Red: stations whose figures were changed above"
        " the station, with, in grey, where their own protocol had put them.</p>"
        f'<div class="grid">{plots.region_scatters(points, data.recs(), data.registry.names)}</div>'
    )
    return _section(
        "fingerprint",
        "Turnout and the leader's share: the fingerprint",
        lead,
        f'<div class="grid">{plots.fingerprints(points, party)}</div>{regions}',
    )


def _moved(data: ReportData) -> str:
    party = leader(data.units) or (data.parties[0] if data.parties else "")
    moves = moves_between_levels(data)
    kz = data.units.get("KZ", {}).get("moved", {})
    total = ", ".join(f"{k} {v:+,}" for k, v in kz.get("votes", {}).items())
    lead = (
        "Votes gained (right of zero) and lost (left) by each party when a commission above"
        " the station recorded different figures from the station's, for each step up the"
        f" levels, by region. Nationally, official minus PEC protocols: {esc(total)}"
        + (f", invalid {kz['invalid']:+,}" if "invalid" in kz else "")
        + "."
    )
    svgs = plots.moved_charts(moves, data.recs(), data.parties, party)
    charts = "".join(
        f"<h3>{esc(a.upper())} to {esc(b.upper())}</h3>{svg}" for (a, b), svg in zip(moves, svgs, strict=True)
    )
    body = charts or "<p>No station has figures above its PEC protocol yet.</p>"
    return _section("moved", "Votes moved between levels", lead, plots.legend(data.parties) + body)


def _tags(findings: Sequence[dict[str, Any]]) -> str:
    return "".join(
        f'<span class="tag {esc(f.get("severity", ""))}" title="{esc(f.get("explanation", ""))}">'
        f"{esc(f.get('kind', ''))}</span>"
        for f in findings
    )


def _flagged_row(r: Flagged, data: ReportData, line: Line | None) -> str:
    published = esc(r.published or "")
    if line is not None:  # the report's figure for this station, measured: does it match?
        published += f' <span class="{"yes" if line.match else "no"}">{"✓" if line.match else "✗"}</span>'
    other = ", ".join(f"{k} {v:+,}" for k, v in r.other.items())
    cells = "".join(_signed_cell(r.diff[k]) for k in (*data.parties, INVALID))
    return (
        f'<tr data-station="{esc(r.sid)}"><td class="id">{esc(r.sid)}</td>'
        f"<td>{esc(data.name(r.tec))}</td><td>{esc(r.official_source)}</td>{cells}"
        f'<td class="what">{esc(other)}</td><td>{published}</td><td>{_tags(r.findings)}</td></tr>'
    )


def _flagged_table(rows: Sequence[Flagged], data: ReportData, table_id: str) -> str:
    lines = {ln.id: ln for ln in data.lines}
    head = "".join(f"<th>{esc(p)}</th>" for p in (*data.parties, INVALID))
    return (
        f'<table id="{table_id}"><thead><tr><th>station</th><th>TEC</th><th>official</th>{head}'
        "<th>other figures changed</th><th>in the report</th><th>findings</th></tr></thead><tbody>"
        + "".join(_flagged_row(r, data, lines.get(f"annex.{r.sid}")) for r in rows)
        + "</tbody></table>"
    )


def _flagged(data: ReportData) -> str:
    rows = flagged_stations(data)
    published = sorted(
        (r for r in rows if r.published), key=lambda r: list(data.published).index(r.sid)
    )  # the report's order
    missing = [sid for sid in data.published if sid not in {r.sid for r in rows}]
    per_rec = Counter(r.rec for r in rows)
    lead = (
        f"{len(rows):,} stations whose official figures differ from their PEC protocol:"
        " per party and invalid ballots, official minus protocol. "
        + esc(", ".join(f"{r} {per_rec[r]:,}" for r in data.recs() if per_rec[r]))
        + "."
    )
    body = ""
    if data.published:
        body += (
            f"<h3>The {len(data.published)} stations the report published protocol by protocol</h3>"
            + _flagged_table(published, data, "flagged-published")
        )
        if missing:
            body += (
                "<p><b>Published but not flagged</b> (the official figures equal the PEC"
                f" protocol, or one of them is missing): {esc(', '.join(missing))}</p>"
            )
    body += (
        f"<details><summary>All {len(rows):,} flagged stations, by region, the largest gain"
        " first</summary>" + _flagged_table(rows, data, "flagged-all") + "</details>"
    )
    return _section("flagged", "Flagged stations: the PEC protocol against the official figures", lead, body)


def _findings(data: ReportData) -> str:
    if not data.findings:
        return _section(
            "findings",
            "Findings",
            "The read model holds no finding yet: the detectors have not reported, or run elsewhere.",
            "",
        )
    kinds = Counter((f.get("kind", "?"), f.get("severity", "?")) for f in data.findings)
    sev = sorted({s for _, s in kinds}, key=lambda s: SEVERITY_ORDER.get(s, 9))
    names = sorted({k for k, _ in kinds})
    head = "".join(f"<th>{esc(s)}</th>" for s in sev)
    rows = "".join(
        f"<tr><td>{esc(k)}</td>" + "".join(f'<td class="num">{kinds[(k, s)]:,}</td>' for s in sev) + "</tr>"
        for k in names
    )
    body = f"<table><thead><tr><th>kind</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
    wide = _about_regions(data.findings)
    if wide:
        body += f"<h3>About regions and the nation ({len(wide):,})</h3>" + _findings_table(wide, True)
    for k in names:
        these = sorted((f for f in data.findings if f.get("kind") == k), key=_finding_order)
        body += (
            f'<details data-kind="{esc(k)}"><summary>{esc(k)}: {len(these):,}</summary>'
            + _findings_table(these)
            + "</details>"
        )
    return _section(
        "findings",
        "Findings",
        f"{len(data.findings):,} findings from the detectors, by kind and severity.",
        body,
    )


def _about_regions(findings: Sequence[dict[str, Any]], most: int = 50) -> list[dict[str, Any]]:
    """Findings about a region or the nation (TEC and station ids have a dash), of the kinds
    that have few such findings: the handful a trainer reads first. A kind with many (one per
    voter token, say) stays folded in its own list below."""
    wide = [f for f in findings if not f.get("station_id") and "-" not in str(f.get("unit_id"))]
    per_kind = Counter(f.get("kind") for f in wide)
    return sorted((f for f in wide if per_kind[f.get("kind")] <= most), key=_finding_order)


def _finding_order(f: dict[str, Any]) -> tuple[int, str]:
    return SEVERITY_ORDER.get(f.get("severity", ""), 9), str(f.get("station_id") or f.get("unit_id"))


def _findings_table(findings: Sequence[dict[str, Any]], with_kind: bool = False) -> str:
    kind = "<th>kind</th>" if with_kind else ""
    return (
        f"<table><thead><tr>{kind}<th>severity</th><th>where</th><th>explanation</th><th>updated</th>"
        "</tr></thead><tbody>" + "".join(_finding_row(f, with_kind) for f in findings) + "</tbody></table>"
    )


def _finding_row(f: dict[str, Any], with_kind: bool) -> str:
    where = f.get("station_id") or f.get("unit_id") or ""
    kind = f"<td>{esc(f.get('kind', ''))}</td>" if with_kind else ""
    # no data-finding here: each finding is listed once with its id, in its kind's table
    attr = "" if with_kind else f' data-finding="{esc(f.get("finding_id", ""))}"'
    when = str(f.get("updated", ""))[:16].replace("T", " ")  # to the minute
    return (
        f'<tr{attr}>{kind}<td>{esc(f.get("severity", ""))}</td><td class="id">{esc(where)}</td>'
        f'<td>{esc(f.get("explanation", ""))}</td><td class="id">{esc(when)}</td></tr>'
    )


def _report_table(lines: Sequence[Line]) -> str:
    if not lines:
        return _section("report", "Report says / monitor shows", "No published figure to check.", "")
    ok = sum(ln.match for ln in lines)
    rows = "".join(
        f'<tr class="{"yes" if ln.match else "no"}" data-figure="{esc(ln.id)}"><td>{esc(ln.id)}'
        f'<div class="what">{esc(ln.what)}</div></td><td>{esc(ln.report_says)}</td>'
        f"<td>{esc(ln.monitor_shows)}</td>"
        f'<td class="{"yes" if ln.match else "no"}">{"✓ yes" if ln.match else "✗ NO"}</td>'
        f"<td>{esc(ln.source)}</td></tr>"
        for ln in lines
    )
    table = (
        '<table id="report-lines"><thead><tr><th>figure</th><th>report says</th><th>monitor shows</th>'
        f"<th>match</th><th>source</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return _section(
        "report", "Report says / monitor shows", f"{ok} of {len(lines)} published figures match.", table
    )
