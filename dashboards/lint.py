"""Checks on generated dashboards that Grafana itself would not make: every panel queries the
tabmon datasource, every variable it uses exists, every metric it names is one a worker
exports, no two panels share an id or a place on the grid, no empty rows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from dashboards.panels import DATASOURCE_UID, GRID_WIDTH

Json = dict[str, Any]

# Series Prometheus makes itself for every target; panels may use them.
PROMETHEUS_SERIES = frozenset({"up"})
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "untyped": ("",),
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
        "atan2",
    }
)
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels left out)."""
    s = _STRING.sub(" ", expr)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = _GROUPING.sub(" ", s)
    return {n for n in _IDENT.findall(s) if n.lower() not in _KEYWORDS}


def variables_used(text: str) -> set[str]:
    """Grafana variables referenced in a query or title, Grafana's own (``$__...``) left out."""
    names = {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(text)}
    return {n for n in names if not n.startswith("__")}


def exported_names(families: Iterable[Any]) -> set[str]:
    """Sample names of metric families (``prometheus_client`` ``collect()`` output), also when a
    family has no samples yet: a labelled counter nobody incremented still names its series."""
    names: set[str] = set()
    for fam in families:
        names.update(fam.name + suffix for suffix in _SUFFIXES.get(fam.type, ("",)))
        names.update(s.name for s in fam.samples)
    return names


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, including those inside collapsed rows."""
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])


def queries(dashboard: Json) -> Iterator[tuple[Json, Json]]:
    """(panel, target) for every query of every panel."""
    for p in panels(dashboard):
        for t in p.get("targets", []):
            yield p, t


def problems(dashboard: Json, exported: set[str]) -> list[str]:
    """Everything wrong with one dashboard, one sentence each; empty when it is fine."""
    out: list[str] = []
    names = [v["name"] for v in dashboard["templating"]["list"]]
    out += _variable_problems(dashboard["templating"]["list"], exported)
    out += _layout_problems(dashboard)
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("datasource", {}).get("uid") != DATASOURCE_UID:
            out.append(f"{where}: datasource is not {DATASOURCE_UID}")
        if not p.get("targets"):
            out.append(f"{where}: no query")
        refs = [t.get("refId") for t in p.get("targets", [])]
        if len(set(refs)) != len(refs):
            out.append(f"{where}: repeated refId")
        for t in p.get("targets", []):
            expr = t.get("expr", "").strip()
            if not expr:
                out.append(f"{where}: a query without an expression")
            if t.get("datasource", {}).get("uid") != DATASOURCE_UID:
                out.append(f"{where}: a query whose datasource is not {DATASOURCE_UID}")
            for name in sorted(metric_names(expr) - exported - PROMETHEUS_SERIES):
                out.append(f"{where}: metric {name} is not exported by the monitor")
            for var in sorted(variables_used(expr + p.get("title", "")) - set(names)):
                out.append(f"{where}: variable ${var} is not defined")
    return list(dict.fromkeys(out))  # a metric or variable used twice in a panel: said once


def _variable_problems(variables: list[Json], exported: set[str]) -> list[str]:
    out, seen = [], set()
    for v in variables:
        m = LABEL_VALUES.match(v.get("query", ""))
        if v.get("datasource", {}).get("uid") != DATASOURCE_UID:
            out.append(f"variable ${v['name']}: datasource is not {DATASOURCE_UID}")
        if m is None:
            out.append(f"variable ${v['name']}: query is not label_values(<selector>, <label>)")
            continue
        for name in sorted(metric_names(m["selector"]) - exported):
            out.append(f"variable ${v['name']}: metric {name} is not exported by the monitor")
        for var in sorted(variables_used(m["selector"]) - seen):
            out.append(f"variable ${v['name']}: uses ${var}, which is not defined before it")
        if v["name"] in seen:
            out.append(f"variable ${v['name']}: defined twice")
        seen.add(v["name"])
    return out


def _layout_problems(dashboard: Json) -> list[str]:
    """Unique ids, panels inside the grid and not on top of each other, no empty rows."""
    out = []
    ids = [p.get("id") for p in panels(dashboard)]
    for dup in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        out.append(f"panel id {dup} is used more than once")
    cells: dict[tuple[int, int], str] = {}
    top = dashboard["panels"]
    for n, p in enumerate(top):
        g = p["gridPos"]
        if g["x"] < 0 or g["x"] + g["w"] > GRID_WIDTH:
            out.append(f"panel {p.get('id')} {p.get('title')!r} is outside the grid")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    out.append(f"panel {p.get('id')} {p.get('title')!r} overlaps {cells[(x, y)]!r}")
                    break
                cells[(x, y)] = p.get("title", "")
            else:
                continue
            break
        if p["type"] == "row" and not p.get("panels") and (n + 1 == len(top) or top[n + 1]["type"] == "row"):
            out.append(f"row {p.get('title')!r} has no panels")
    return out
