"""The Grafana dashboards of the operations room, generated: ``python -m dashboards.build``
writes dashboards/*.json; ``--check`` exits 1 if the committed files differ from this source.

Metric names and labels are those of docs/architecture.md ("Metrics" and "Findings").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards.panels import (
    Board,
    Json,
    bars,
    dashboard_links,
    keep_columns,
    matrix,
    merged_columns,
    one,
    stat,
    table,
    timeseries,
    variable,
)

HERE = Path(__file__).resolve().parent
RATE = "$__rate_interval"
REPORTS = "Turnout reports of the day: 1 = 10:00, 2 = 12:00, ... 6 = 20:00."
MOVED = (
    "Official result minus the PEC protocols, per party, over the stations with a PEC protocol: "
    "positive means votes the official result gained."
)


def _unit(level: str, unit: str) -> str:
    return f'level="{level}",unit="{unit}"'


def m(name: str, sel: str, **labels: str) -> str:
    """A selector: ``name{sel,label="value",...}``."""
    matchers = [sel, *(f'{k}="{v}"' for k, v in labels.items())]
    return f"{name}{{{','.join(x for x in matchers if x)}}}"


def coverage(sel: str) -> Json:
    return stat(
        "Stations reported",
        [
            (one(m("tabmon_stations", sel)), "stations"),
            (one(m("tabmon_stations_reported", sel, view="turnout")), "turnout reports"),
            (one(m("tabmon_stations_reported", sel, view="protocol")), "PEC protocols"),
            (one(m("tabmon_stations_reported", sel, view="official")), "official figures"),
        ],
        "Stations in the unit, and how many have sent a turnout report, a PEC protocol, an official figure.",
    )


def turnout_now(sel: str) -> Json:
    return stat(
        "Turnout",
        [(one(m("tabmon_turnout_ratio", sel)), "voted / registered")],
        "From the latest turnout report of every station that reported.",
        unit="percentunit",
        decimals=1,
    )


def flagged(sel: str) -> Json:
    return stat(
        "Flagged stations",
        [
            (one(m("tabmon_altered_stations", sel)), "official differs from protocol"),
            (one(m("tabmon_unanimous_stations", sel, size="all")), "unanimous"),
            (one(m("tabmon_unanimous_stations", sel, size="over_1000")), "unanimous, over 1000 voters"),
            (one(m("tabmon_evote_multiple", sel, what="stations")), "e-voting tokens used twice"),
        ],
        "Counted by the tally (official view); each flagged station is also a finding.",
    )


def reported_over_night(sel: str) -> Json:
    return timeseries(
        "Stations reported over the night",
        [(one(m("tabmon_stations_reported", sel)), "{{view}}"), (one(m("tabmon_stations", sel)), "stations")],
        "Coverage as it grew: turnout reports, PEC protocols, official figures.",
    )


def turnout_by_report(sel: str) -> Json:
    voted = one(m("tabmon_turnout_report_voters", sel, figure="voted"))
    registered = one(m("tabmon_turnout_report_voters", sel, figure="registered"))
    return bars(
        "Turnout through the day",
        [(f"{voted} / ignoring(figure) {registered}", "report {{report}}")],
        f"Voted / registered summed over the stations' reports of each time of day. {REPORTS}",
        unit="percentunit",
        decimals=1,
    )


def turnout_over_night(sel: str) -> Json:
    return timeseries(
        "Turnout as reports arrived",
        [(one(m("tabmon_turnout_ratio", sel)), "turnout")],
        "Voted / registered from the latest report of each station, as the night went on.",
        unit="percentunit",
    )


def votes_both_views(sel: str) -> Json:
    return table(
        "Votes per party: protocols and official result",
        [(one(m("tabmon_votes", sel)), "")],
        "Protocol view: the PEC protocols as signed. Official view: per station, the highest "
        "commission that has recorded it (CEC, REC, TEC, PEC).",
        transformations=matrix("party", "view"),
    )


def votes_moved(sel: str) -> Json:
    return bars(
        "Votes moved between protocols and official result",
        [(one(m("tabmon_votes_moved", sel)), "{{party}}")],
        MOVED,
    )


def findings_by_kind(rec: str = "") -> Json:
    sel = f'{{rec="{rec}"}}' if rec else ""
    return table(
        "Findings by kind and severity",
        [(f"sum by (kind, severity) ({one(f'tabmon_findings{sel}')})", "")],
        "Findings currently known, counted by the stage-2 worker.",
        transformations=matrix("kind", "severity"),
    )


def national() -> Board:
    b = Board(
        "tabmon-national",
        "tabmon: national overview",
        "The election night nationally: coverage, turnout, both views of the vote, the votes "
        "moved, the seat projection and the findings.",
        links=dashboard_links(),
    )
    kz = _unit("cec", "KZ")
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


def units_table(title: str, sel: str, column: str, description: str) -> Json:
    """One row per unit, a column per figure. Every query keeps only ``unit`` so that the
    merge joins the rows on it."""
    return table(
        title,
        [
            (f"sum by (unit) (abs({one(m('tabmon_votes_moved', sel))}))", ""),
            (f"max by (unit) ({m('tabmon_altered_stations', sel)})", ""),
            (f"100 * max by (unit) ({m('tabmon_turnout_ratio', sel)})", ""),
            (f"max by (unit) ({m('tabmon_stations_reported', sel, view='official')})", ""),
        ],
        f"{description}: votes moved (the absolute per-party differences added up), stations whose "
        "official figures differ from their PEC protocol, turnout, stations with an official figure.",
        transformations=merged_columns(
            "unit",
            "Value #A",
            "Value #B",
            "Value #C",
            "Value #D",
            sort_by="votes moved",
            desc=True,
            rename={
                "unit": column,
                "Value #A": "votes moved",
                "Value #B": "altered stations",
                "Value #C": "turnout %",
                "Value #D": "official stations",
            },
        ),
    )


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
    rec, tec = _unit("rec", "$rec"), _unit("tec", "$tec")
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


W = 'instance=~"$instance"'


def per_second(name: str, by: str = "") -> str:
    """Rate of a worker counter, summed over the chosen workers."""
    grouping = f"sum by ({by})" if by else "sum"
    return f"{grouping} (rate({name}{{{W}}}[{RATE}]))"


def p95(histogram: str, by: str = "") -> str:
    grouping = ", ".join(x for x in ("le", by) if x)
    return f"histogram_quantile(0.95, sum by ({grouping}) (rate({histogram}_bucket{{{W}}}[{RATE}])))"


def pipeline() -> Board:
    inst = variable("instance", "Worker", "label_values(tabmon_agent_up, instance)", include_all=True)
    b = Board(
        "tabmon-pipeline",
        "tabmon: pipeline health",
        "The workers: liveness, throughput, lag, rejections, rebuilds.",
        variables=[inst],
        links=dashboard_links(),
    )
    b.row("Liveness")
    b.add(
        stat(
            "Agents running",
            [(f"sum by (agent) (tabmon_agent_up{{{W}}})", "{{agent}}")],
            "Workers whose ingest / aggregate loop is running (tabmon_agent_up).",
        ),
        6,
        5,
    )
    b.add(
        stat(
            "Workers scraped",
            [(f"sum(up{{{W}}})", "up"), (f"count(up{{{W}}})", "targets")],
            "Worker /metrics endpoints Prometheus reached at its last scrape.",
        ),
        6,
        5,
    )
    b.add(
        timeseries(
            "Seconds since the last heartbeat",
            [(f"time() - tabmon_agent_heartbeat_timestamp_seconds{{{W}}}", "{{instance}} {{agent}}")],
            "A loop that stops iterating shows here before anything else.",
            unit="s",
        ),
        6,
        5,
    )
    b.add(
        timeseries(
            "Seconds since the last event",
            [(f"min by (topic) (tabmon_seconds_since_last_event{{{W}}})", "{{topic}}")],
            "Per input topic; quiet topics are normal between turnout reports.",
            unit="s",
        ),
        6,
        5,
    )
    b.row("Throughput and lag")
    b.add(
        timeseries(
            "Events accepted per second",
            [(per_second("tabmon_events_total", "topic"), "{{topic}}")],
            "Events folded into the tally, by topic.",
            unit="ops",
        ),
        8,
    )
    b.add(
        timeseries(
            "Consumer lag",
            [(f"sum by (topic) (tabmon_consumer_lag_messages{{{W}}})", "{{topic}}")],
            "Messages on the broker not yet processed.",
        ),
        8,
    )
    b.add(
        timeseries(
            "Published per second",
            [
                (per_second("tabmon_partials_published_total"), "partials to stage two"),
                (per_second("tabmon_findings_emitted_total"), "findings to alerts"),
            ],
            "What the workers send on: partial tallies and findings.",
            unit="ops",
        ),
        8,
    )
    b.add(
        timeseries(
            "Processing time (p95)",
            [
                (p95("tabmon_ingest_batch_duration_seconds"), "ingest batch"),
                (p95("tabmon_snapshot_duration_seconds"), "snapshot"),
                (p95("tabmon_detect_duration_seconds", "stage"), "detectors {{stage}}"),
            ],
            "Time to decode and apply one fetched batch; to derive a snapshot of the tally; to run the "
            "detectors over what changed.",
            unit="s",
        ),
        8,
    )
    b.add(
        timeseries(
            "Events re-read to rebuild state",
            [(per_second("tabmon_replayed_events_total", "instance"), "{{instance}}")],
            "After a start, restart or rebalance a worker re-reads its partitions from offset 0.",
            unit="ops",
        ),
        8,
    )
    b.add(
        table(
            "Partitions per worker",
            [(f"tabmon_last_processed_offset{{{W}}}", "")],
            "Who owns which input partition, and the next offset it will process.",
            transformations=keep_columns(
                "instance", "topic", "partition", "Value", rename={"Value": "next offset"}, sort_by="topic"
            ),
        ),
        8,
    )
    b.row("Rejections")
    b.add(
        timeseries(
            "Rejected per second",
            [(per_second("tabmon_rejected_total", "topic, reason"), "{{topic}} {{reason}}")],
            "Messages sent to the dead-letter topic, by reason code.",
            unit="ops",
        ),
        10,
    )
    b.add(
        table(
            "Rejected since each worker started",
            [(f"sum by (topic, reason) (tabmon_rejected_total{{{W}}})", "")],
            "Dead letters by topic and reason code (docs/contract.md lists the codes).",
            transformations=keep_columns(
                "topic", "reason", "Value", rename={"Value": "rejected"}, sort_by="rejected", desc=True
            ),
        ),
        10,
    )
    b.add(
        stat(
            "Monitor errors",
            [
                (f'sum(tabmon_rejected_total{{{W},reason="bug"}}) or vector(0)', "messages (bug)"),
                (f"sum(tabmon_detector_errors_total{{{W}}}) or vector(0)", "detector errors"),
            ],
            "Messages that raised an error the contract does not know, dead-lettered with the code bug,"
            " and detector runs that raised: the monitor's faults, each one alerted"
            " (docs/runbooks/input_bug.md). Zero is the only good value.",
        ),
        4,
    )
    return b


BOARDS = {
    "national": national,
    "region": region,
    "station": station,
    "findings": findings_feed,
    "pipeline": pipeline,
}


def render(board: Board) -> str:
    return json.dumps(board.to_json(), indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{name}.json": render(make()) for name, make in BOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a committed file differs")
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write (default: dashboards/)")
    args = ap.parse_args(argv)
    stale = []
    for name, text in generate().items():
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
