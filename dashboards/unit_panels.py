"""The panels that show one unit (any level) and tables of units: shared by the boards.

A unit is selected by its ``level`` and ``unit`` labels (docs/architecture.md, "Metrics").
"""

from __future__ import annotations

from dashboards.panels import (
    Json,
    bars,
    matrix,
    merged_columns,
    one,
    stat,
    table,
    timeseries,
)

RATE = "$__rate_interval"
REPORTS = "Turnout reports of the day: 1 = 10:00, 2 = 12:00, ... 6 = 20:00."
MOVED = (
    "Official result minus the PEC protocols, per party, over the stations with a PEC protocol: "
    "positive means votes the official result gained."
)


def at_unit(level: str, unit: str) -> str:
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


def units_table(title: str, sel: str, column: str, description: str, turnout: bool = True) -> Json:
    """One row per unit, a column per figure. Every query keeps only ``unit`` so that the
    merge joins the rows on it. ``turnout`` False: an election without turnout reports."""
    queries = [
        (f"sum by (unit) (abs({one(m('tabmon_votes_moved', sel))}))", "votes moved"),
        (f"max by (unit) ({m('tabmon_altered_stations', sel)})", "altered stations"),
        (f"100 * max by (unit) ({m('tabmon_turnout_ratio', sel)})", "turnout %"),
        (f"max by (unit) ({m('tabmon_stations_reported', sel, view='official')})", "official stations"),
    ]
    if not turnout:
        del queries[2]
    refs = [f"Value #{chr(ord('A') + i)}" for i in range(len(queries))]
    return table(
        title,
        [(q, "") for q, _ in queries],
        f"{description}: votes moved (the absolute per-party differences added up), stations whose "
        "official figures differ from their PEC protocol, "
        + ("turnout, " if turnout else "")
        + "stations with an official figure.",
        transformations=merged_columns(
            "unit",
            *refs,
            sort_by="votes moved",
            desc=True,
            rename={"unit": column, **{r: name for r, (_, name) in zip(refs, queries, strict=True)}},
        ),
    )
