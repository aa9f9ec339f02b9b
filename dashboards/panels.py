"""Small builders for Grafana dashboard JSON: targets, panels, template variables, a board
that lays panels out on Grafana's 24-column grid and numbers them.

Plain dictionaries on purpose: the JSON they make is what a reviewer reads in the diff, and
nothing here needs more than a function per panel type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The Prometheus datasource every panel uses; provisioned with this uid by
# dashboards/provisioning/datasources/prometheus.yml.
DATASOURCE_UID = "tabmon-prometheus"
DS = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39  # Grafana 10.4 and 11
GRID_WIDTH = 24

Json = dict[str, Any]


def one(expr: str) -> str:
    """Tally and findings gauges come from the single worker that owns the stage-2 table. While
    the table changes hands two workers may briefly export the same series: keep one, never
    add them up."""
    return f"max without (instance, job) ({expr})"


def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> Json:
    return {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "instant": instant,
        "range": not instant,
        "format": "table" if table else "time_series",
    }


def _panel(
    kind: str,
    title: str,
    targets: list[Json],
    description: str,
    unit: str,
    options: Json,
    custom: Json | None = None,
    decimals: int | None = None,
) -> Json:
    for ref, t in zip("ABCDEFGHIJ", targets, strict=False):
        t["refId"] = ref
    defaults: Json = {"unit": unit}
    if custom is not None:
        defaults["custom"] = custom
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
    }


def _reduce(calc: str = "lastNotNull") -> Json:
    return {"calcs": [calc], "fields": "", "values": False}


def stat(
    title: str,
    exprs: list[tuple[str, str]],
    description: str,
    unit: str = "short",
    decimals: int | None = None,
) -> Json:
    """One big number per query (instant), e.g. stations reported of stations."""
    targets = [target(e, legend, instant=True) for e, legend in exprs]
    options = {
        "reduceOptions": _reduce(),
        "colorMode": "value",
        "graphMode": "none",
        "textMode": "value_and_name",
        "orientation": "auto",
        "justifyMode": "auto",
    }
    return _panel("stat", title, targets, description, unit, options, decimals=decimals)


def timeseries(
    title: str, exprs: list[tuple[str, str]], description: str, unit: str = "short", stacked: bool = False
) -> Json:
    """How a figure moved through the night (range queries)."""
    targets = [target(e, legend) for e, legend in exprs]
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 20 if stacked else 0,
        "showPoints": "never",
        "spanNulls": True,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
    }
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel("timeseries", title, targets, description, unit, options, custom)


def bars(
    title: str,
    exprs: list[tuple[str, str]],
    description: str,
    unit: str = "short",
    decimals: int | None = None,
) -> Json:
    """One horizontal bar per series, the latest value (instant queries)."""
    targets = [target(e, legend, instant=True) for e, legend in exprs]
    options = {
        "reduceOptions": _reduce(),
        "orientation": "horizontal",
        "displayMode": "basic",
        "showUnfilled": True,
        "valueMode": "color",
        "namePlacement": "left",
    }
    return _panel("bargauge", title, targets, description, unit, options, decimals=decimals)


def table(
    title: str,
    exprs: list[tuple[str, str]],
    description: str,
    unit: str = "short",
    transformations: list[Json] | None = None,
    links: dict[str, str] | None = None,
) -> Json:
    """Rows from instant queries in table format; ``links`` makes a column's cells links
    (column -> URL with ``${__value.raw}``), e.g. from the feed to the station detail."""
    targets = [target(e, legend, instant=True, table=True) for e, legend in exprs]
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    p = _panel("table", title, targets, description, unit, options)
    p["transformations"] = transformations or []
    for column, url in (links or {}).items():
        p["fieldConfig"]["overrides"].append(
            {
                "matcher": {"id": "byName", "options": column},
                "properties": [{"id": "links", "value": [{"title": f"open {column}", "url": url}]}],
            }
        )
    return p


def matrix(rows: str, columns: str) -> list[Json]:
    """Transformations that turn (rows, columns, Value) table rows into a grid."""
    return [
        {
            "id": "groupingToMatrix",
            "options": {"rowField": rows, "columnField": columns, "valueField": "Value"},
        }
    ]


def keep_columns(
    *names: str, rename: dict[str, str] | None = None, sort_by: str | None = None, desc: bool = False
) -> list[Json]:
    """Show only these columns, in this order (drops Time and the job/instance labels)."""
    steps: list[Json] = [
        {"id": "filterFieldsByName", "options": {"include": {"names": list(names)}}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {},
                "renameByName": rename or {},
                "indexByName": {n: i for i, n in enumerate(names)},
            },
        },
    ]
    if sort_by is not None:
        steps.append({"id": "sortBy", "options": {"sort": [{"field": sort_by, "desc": desc}]}})
    return steps


def merged_columns(
    *names: str, rename: dict[str, str] | None = None, sort_by: str | None = None, desc: bool = False
) -> list[Json]:
    """Several instant queries joined on their labels, one ``Value #<refId>`` column each."""
    return [{"id": "merge", "options": {}}, *keep_columns(*names, rename=rename, sort_by=sort_by, desc=desc)]


def variable(name: str, label: str, query: str, *, include_all: bool = False) -> Json:
    """A query variable. ``query`` is always ``label_values(<selector>, <label>)``, so that
    the tests can resolve it through Prometheus' series API as Grafana does."""
    v: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": include_all,
        "includeAll": include_all,
        "current": {},
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }
    if include_all:
        v["allValue"] = ".*"
    return v


@dataclass
class Board:
    """A dashboard being laid out: panels fill rows of the grid left to right."""

    uid: str
    title: str
    description: str
    variables: list[Json] = field(default_factory=list)
    panels: list[Json] = field(default_factory=list)
    links: list[Json] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_height: int = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"x": 0, "y": self._y, "w": GRID_WIDTH, "h": 1},
            }
        )
        self._y += 1

    def add(self, panel: Json, w: int, h: int = 8) -> None:
        if self._x + w > GRID_WIDTH:
            self._newline()
        panel["gridPos"] = {"x": self._x, "y": self._y, "w": w, "h": h}
        self.panels.append(panel)
        self._x += w
        self._row_height = max(self._row_height, h)

    def _newline(self) -> None:
        self._y += self._row_height
        self._x, self._row_height = 0, 0

    def to_json(self) -> Json:
        for n, p in enumerate(self.panels, start=1):
            p["id"] = n
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["tabmon"],
            "timezone": "utc",
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": "10s",
            "time": {"from": "now-12h", "to": "now"},
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "links": self.links,
            "panels": self.panels,
        }


def dashboard_links() -> list[Json]:
    """Every tabmon dashboard links to the others, keeping the time range and variables."""
    return [
        {
            "title": "tabmon",
            "type": "dashboards",
            "tags": ["tabmon"],
            "asDropdown": True,
            "includeVars": True,
            "keepTime": True,
        }
    ]
