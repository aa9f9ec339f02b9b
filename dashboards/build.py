"""The Grafana dashboards of the operations room, generated: ``python -m dashboards.build``
writes dashboards/*.json; ``--check`` exits 1 if the committed files differ from this source.

Metric names and labels are those of docs/architecture.md ("Metrics" and "Findings").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards.levels import levels_board
from dashboards.panels import (
    Board,
    Json,
    bars,
    dashboard_links,
    keep_columns,
    matrix,
    one,
    stat,
    table,
    timeseries,
    variable,
)
from dashboards.pipeline_board import pipeline
from dashboards.unit_panels import (
    MOVED,
    RATE,
    at_unit,
    coverage,
    findings_by_kind,
    flagged,
    m,
    reported_over_night,
    turnout_by_report,
    turnout_now,
    turnout_over_night,
    units_table,
    votes_both_views,
    votes_moved,
)
from monitor.errors import MonitorError

HERE = Path(__file__).resolve().parent


def national() -> Board:
    b = Board(
        "tabmon-national",
        "tabmon: national overview",
        "The election night nationally: coverage, turnout, both views of the vote, the votes "
        "moved, the seat projection and the findings.",
        links=dashboard_links(),
    )
    kz = at_unit("cec", "KZ")
    b.row("Coverage and turnout")
    b.add(coverage(kz), 10, 5)
    b.add(turnout_now(kz), 4, 5)
    b.add(flagged(kz), 10, 5)
    b.add(reported_over_night(kz), 12)
    b.add(turnout_by_report(kz), 6)
    b.add(turnout_over_night(kz), 6)
    b.row("The vote")
    b.add(votes_both_views(kz), 10)
    b.add(votes_moved(kz), 7)
    b.add(
        table(
            "Seat projection",
            [(one("tabmon_seats_projected"), "")],
            "Seats per party projected from each view of the national tally.",
            transformations=matrix("party", "view"),
        ),
        7,
    )
    b.add(
        timeseries("Votes moved through the night", [(one(m("tabmon_votes_moved", kz)), "{{party}}")], MOVED),
        12,
    )
    b.add(units_table("Regions", 'level="rec"', "REC", "Per REC"), 12)
    b.row("Findings")
    b.add(findings_by_kind(), 12)
    b.add(
        timeseries(
            "Findings known through the night",
            [(f"sum by (severity) ({one('tabmon_findings')})", "{{severity}}")],
            "Findings currently known, by severity.",
            stacked=True,
        ),
        12,
    )
    return b


def region() -> Board:
    rec_var = variable("rec", "REC", 'label_values(tabmon_stations{level="rec"}, unit)')
    tec_var = variable("tec", "TEC", 'label_values(tabmon_stations{level="tec",unit=~"$rec-.*"}, unit)')
    b = Board(
        "tabmon-region",
        "tabmon: region drill-down",
        "One regional commission (REC) and one of its territorial commissions (TEC).",
        variables=[rec_var, tec_var],
        links=dashboard_links(),
    )
    rec, tec = at_unit("rec", "$rec"), at_unit("tec", "$tec")
    b.row("Region $rec")
    b.add(coverage(rec), 10, 5)
    b.add(turnout_now(rec), 4, 5)
    b.add(flagged(rec), 10, 5)
    b.add(reported_over_night(rec), 12)
    b.add(turnout_by_report(rec), 6)
    b.add(
        bars(
            "Turnout in each version of the REC summary",
            [(one(m("tabmon_summary_turnout_ratio", rec)), "version {{version}}")],
            "Participants / registered in every version of the region's summary protocol: a later "
            "version with a different turnout is a revision.",
            unit="percentunit",
            decimals=1,
        ),
        6,
    )
    b.add(votes_both_views(rec), 8)
    b.add(votes_moved(rec), 8)
    b.add(findings_by_kind("$rec"), 8)
    b.add(units_table("TECs of $rec", 'level="tec",unit=~"$rec-.*"', "TEC", "Per TEC of the region"), 24, 9)
    b.row("TEC $tec")
    b.add(coverage(tec), 10, 5)
    b.add(turnout_now(tec), 4, 5)
    b.add(flagged(tec), 10, 5)
    b.add(votes_both_views(tec), 8)
    b.add(votes_moved(tec), 8)
    b.add(
        table(
            "Findings in $tec",
            [(one('tabmon_finding_info{unit="$tec"}'), "")],
            "Findings whose unit is this TEC (its stations' findings carry the TEC as unit).",
            transformations=keep_columns("severity", "kind", "station", "finding_id", sort_by="severity"),
            links={"station": STATION_LINK},
        ),
        8,
    )
    return b


STATION_LINK = "/d/tabmon-station/?var-station=${__value.raw}&${__url_time_range}"


def station() -> Board:
    rec_var = variable("rec", "REC", "label_values(tabmon_finding_info, rec)", include_all=True)
    st_var = variable("station", "Station", 'label_values(tabmon_finding_info{rec=~"$rec"}, station)')
    b = Board(
        "tabmon-station",
        "tabmon: station detail",
        "A flagged station: its findings and its figures as each source reported them. Only "
        "stations with a finding are exported per station.",
        variables=[rec_var, st_var],
        links=dashboard_links(),
    )
    sel = 'station="$station"'
    b.add(
        table(
            "Findings at $station",
            [(one(m("tabmon_finding_info", sel)), "")],
            "Every finding currently known for the station.",
            transformations=keep_columns("severity", "kind", "unit", "rec", "finding_id", sort_by="severity"),
        ),
        24,
        6,
    )
    b.add(
        table(
            "Figures by source",
            [(one(m("tabmon_station_figures", sel)), "")],
            "The station's latest figures from each source (PEC protocol, TEC, REC, CEC entries).",
            transformations=matrix("field", "source"),
        ),
        12,
        12,
    )
    pec = one(f'tabmon_station_figures{{{sel},source="pec"}}')
    others = one(f'tabmon_station_figures{{{sel},source!="pec"}}')
    b.add(
        bars(
            "Differences from the PEC protocol",
            [(f"({others} - ignoring(source) group_left {pec}) != 0", "{{source}}: {{field}}")],
            "Each source's figure minus the PEC protocol's, where they differ.",
        ),
        12,
        12,
    )
    b.add(its_tec(sel), 24, 5)
    return b


def its_tec(sel: str) -> Json:
    """The station's TEC (the unit of its findings), to see how unusual the station is there."""

    def of_its_tec(name: str, **labels: str) -> str:
        return f"{one(m(name, '', level='tec', **labels))} and on (unit) tabmon_finding_info{{{sel}}}"

    return stat(
        "Its TEC",
        [
            (f"100 * {of_its_tec('tabmon_turnout_ratio')}", "{{unit}} turnout %"),
            (of_its_tec("tabmon_stations"), "stations"),
            (of_its_tec("tabmon_altered_stations"), "altered stations"),
            (of_its_tec("tabmon_unanimous_stations", size="all"), "unanimous stations"),
        ],
        "The territorial commission of the station (the unit of its findings).",
        decimals=1,
    )


def findings_feed() -> Board:
    variables = [
        variable("rec", "REC", "label_values(tabmon_findings, rec)", include_all=True),
        variable("kind", "Kind", "label_values(tabmon_findings, kind)", include_all=True),
        variable("severity", "Severity", "label_values(tabmon_findings, severity)", include_all=True),
    ]
    b = Board(
        "tabmon-findings",
        "tabmon: findings feed",
        "Every finding the detectors have raised, newest first, with the station detail a click away.",
        variables=variables,
        links=dashboard_links(),
    )
    sel = 'rec=~"$rec",kind=~"$kind",severity=~"$severity"'
    b.add(
        stat(
            "Findings",
            [(f"sum by (severity) ({one(f'tabmon_findings{{{sel}}}')})", "{{severity}}")],
            "Findings currently known, by severity.",
        ),
        8,
        5,
    )
    b.add(
        timeseries(
            "Findings emitted per second",
            [
                (
                    f'sum by (kind, change) (rate(tabmon_findings_emitted_total{{kind=~"$kind",'
                    f'severity=~"$severity"}}[{RATE}]))',
                    "{{kind}} ({{change}})",
                )
            ],
            "New and updated findings sent to the alerts topic, all regions (the counter has no region).",
        ),
        16,
        5,
    )
    info = one(m("tabmon_finding_info", sel))
    b.add(
        table(
            "Feed",
            [(f"1000 * min_over_time(timestamp({info})[$__range:])", "")],
            "One row per finding. First seen: when Prometheus first scraped it within the "
            "dashboard's time range.",
            unit="dateTimeAsIso",
            transformations=keep_columns(
                "Value",
                "severity",
                "kind",
                "rec",
                "unit",
                "station",
                "finding_id",
                rename={"Value": "first seen"},
                sort_by="first seen",
                desc=True,
            ),
            links={"station": STATION_LINK},
        ),
        24,
        14,
    )
    b.add(
        table(
            "Findings per region",
            [(f"sum by (rec, severity) ({one(f'tabmon_findings{{{sel}}}')})", "")],
            "Findings currently known per REC (KZ: national findings).",
            transformations=matrix("rec", "severity"),
        ),
        12,
        9,
    )
    b.add(
        timeseries(
            "Findings known through the night",
            [(f"sum by (kind) ({one(f'tabmon_findings{{{sel}}}')})", "{{kind}}")],
            "Findings currently known, by kind.",
            stacked=True,
        ),
        12,
        9,
    )
    return b


def levels() -> Board:
    from monitor.election import load

    return levels_board(load("kz2007"))


BOARDS = {
    "national": national,
    "region": region,
    "station": station,
    "findings": findings_feed,
    "pipeline": pipeline,
    "levels": levels,
}


def render(board: Board) -> str:
    return json.dumps(board.to_json(), indent=2, ensure_ascii=False) + "\n"


def generate(election: str | None = None) -> dict[str, str]:
    """File name -> JSON text of every dashboard (kz2007's); with ``election``, the
    level-by-level board of that definition alone (``levels-<id>.json``)."""
    if election is not None:
        from monitor.election import load

        d = load(election)
        return {f"levels-{d.name}.json": render(levels_board(d))}
    return {f"{name}.json": render(make()) for name, make in BOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a committed file differs")
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write (default: dashboards/)")
    ap.add_argument(
        "--election",
        metavar="NAME_OR_FILE",
        help="write only the level-by-level board of this election definition (levels-<id>.json)",
    )
    args = ap.parse_args(argv)
    stale = []
    try:
        boards = generate(args.election)
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, text in boards.items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"error: out of date, run python -m dashboards.build: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
