"""The level-by-level board of any election definition: a row per level, from the country
down to the commissions above the stations, each with a variable choosing its unit.

``python -m dashboards.build`` writes it for kz2007 (dashboards/levels.json);
``python -m dashboards.build --election NAME_OR_FILE --out DIR`` for another definition.
"""

from __future__ import annotations

from dashboards.panels import Board, dashboard_links, variable
from dashboards.unit_panels import (
    at_unit,
    coverage,
    flagged,
    reported_over_night,
    turnout_now,
    units_table,
    votes_both_views,
    votes_moved,
)
from monitor.election import Definition


def _children(d: Definition, i: int, unit: str) -> str:
    """The selector of the units of level ``i + 1`` in the unit ``unit`` of level ``i``: by
    the id's prefix where the child's pattern starts with the parent's id, else every unit of
    the level (Prometheus has no parent label)."""
    child, parent = d.file.levels[i + 1], d.levels[i]
    sel = f'level="{child.id}"'
    if i > 0 and child.pattern.startswith("{" + parent + "}"):
        sel += f',unit=~"{unit}.*"'
    return sel


def levels_board(d: Definition) -> Board:
    levels = d.file.levels
    inner = list(range(1, len(levels) - 1))  # the units between the country and the stations
    variables = [
        variable(
            levels[i].id,
            levels[i].name,
            f"label_values(tabmon_stations{{{_children(d, i - 1, '$' + levels[i - 1].id)}}}, unit)",
        )
        for i in inner
    ]
    title = d.file.election.name + (" (synthetic)" if d.file.election.synthetic else "")
    b = Board(
        f"tabmon-levels-{d.name}",
        f"tabmon: {title}, level by level",
        "A row per level of the election definition, from the country down to the commissions"
        " above the polling stations: coverage, turnout, both views of the vote and the votes"
        " moved in the chosen unit, and the units of the level below.",
        variables=variables,
        links=dashboard_links(),
    )
    reports = bool(d.file.turnout.reports)
    for i in [0, *inner]:
        lv = levels[i]
        unit = lv.pattern if i == 0 else f"${lv.id}"
        sel = at_unit(lv.id, unit)
        b.row(f"{lv.name}: {unit}")
        b.add(coverage(sel), 10 if reports else 14, 5)
        if reports:
            b.add(turnout_now(sel), 4, 5)
        b.add(flagged(sel), 10, 5)
        b.add(reported_over_night(sel), 8)
        b.add(votes_both_views(sel), 8)
        b.add(votes_moved(sel), 8)
        if i + 1 < len(levels) - 1:
            child = levels[i + 1]
            b.add(
                units_table(
                    f"{child.name} in {unit}",
                    _children(d, i, unit),
                    child.id.upper(),
                    f"Per unit of level {child.id}",
                    turnout=reports,
                ),
                24,
                9,
            )
    return b
