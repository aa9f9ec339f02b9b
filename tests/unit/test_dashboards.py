"""The dashboards: the committed JSON is what dashboards/build.py generates, and it passes the
lint (queries, datasource, variables, metric names a worker exports, ids, layout)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from dashboards import build, lint
from dashboards.panels import DATASOURCE_UID
from monitor.adapters.metrics import Metrics
from monitor.election import load

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"


@pytest.fixture(scope="module")
def generated() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in build.generate().items()}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every sample name a worker's registry serves (monitor.adapters.metrics.Metrics, as the worker
    builds it), including families that have no samples before the first event."""
    return lint.exported_names(Metrics.create(CollectorRegistry()).registry.collect())


def test_committed_json_is_what_build_generates():
    for name, text in build.generate().items():
        path = DASHBOARDS / name
        assert path.exists(), f"{name} is not committed: run python -m dashboards.build"
        assert path.read_text() == text, f"{name} is out of date: run python -m dashboards.build"
    committed = {p.name for p in DASHBOARDS.glob("*.json")}
    assert committed == set(build.generate()), "a committed dashboard has no source in build.py"


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    assert build.main(["--out", str(tmp_path)]) == 0
    assert build.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "region.json").write_text("{}\n")
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    assert "region.json" in capsys.readouterr().err


def test_every_dashboard_passes_the_lint(generated, exported):
    found = {name: lint.problems(d, exported) for name, d in generated.items()}
    assert found == {name: [] for name in generated}


def test_the_dashboards_the_operations_room_needs(generated):
    titles = {d["uid"]: {p["title"] for p in lint.panels(d)} for d in generated.values()}
    assert set(titles) == {
        "tabmon-national",
        "tabmon-region",
        "tabmon-station",
        "tabmon-findings",
        "tabmon-pipeline",
        "tabmon-levels-kz2007",
    }
    assert {
        "Stations reported over the night",
        "Turnout through the day",
        "Seat projection",
        "Votes per party: protocols and official result",
        "Findings by kind and severity",
        "Votes moved between protocols and official result",
    } <= titles["tabmon-national"]
    variables = {d["uid"]: [v["name"] for v in d["templating"]["list"]] for d in generated.values()}
    assert variables["tabmon-region"] == ["rec", "tec"]
    assert "station" in variables["tabmon-station"]
    assert variables["tabmon-levels-kz2007"] == ["rec", "tec"]


@pytest.mark.parametrize(("name", "levels"), [("indonesia", 5), ("kz2023", 3), ("kz2007", 3)])
def test_the_levels_board_has_a_row_per_level_of_any_definition(name, levels, exported, tmp_path):
    assert build.main(["--election", name, "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("levels-*.json")
    board = json.loads(path.read_text())
    assert lint.problems(board, exported) == []
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert len(rows) == levels  # the country and every level down to the commissions
    d = load(name)
    assert [v["name"] for v in board["templating"]["list"]] == list(d.levels[1:-1])
    assert rows[0].endswith(d.file.levels[0].pattern) and rows[-1].endswith(f"${d.levels[-2]}")
    turnout = any(p["title"] == "Turnout" for p in lint.panels(board))
    assert turnout == bool(d.file.turnout.reports)


def test_an_unknown_definition_is_a_one_line_error(tmp_path, capsys):
    assert build.main(["--election", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err


def test_the_lint_finds_each_kind_of_mistake(generated, exported):
    d = copy.deepcopy(generated["region.json"])
    graphs = [p for p in d["panels"] if p["type"] != "row"]
    graphs[1]["id"] = graphs[0]["id"]
    graphs[2]["targets"][0]["expr"] = 'rate(tabmon_no_such_metric{unit="$nowhere"}[5m])'
    graphs[3]["targets"] = []
    graphs[4]["datasource"] = {"type": "prometheus", "uid": "someone-else"}
    graphs[5]["gridPos"] = dict(graphs[6]["gridPos"])
    d["panels"].append(
        {"type": "row", "title": "empty", "panels": [], "gridPos": {"x": 0, "y": 999, "w": 24, "h": 1}}
    )
    d["templating"]["list"][1]["query"] = "query_result(up)"
    found = "\n".join(lint.problems(d, exported))
    for expected in (
        f"panel id {graphs[0]['id']} is used more than once",
        "metric tabmon_no_such_metric is not exported",
        "variable $nowhere is not defined",
        "no query",
        "datasource is not tabmon-prometheus",
        "overlaps",
        "row 'empty' has no panels",
        "query is not label_values",
    ):
        assert expected in found, (expected, found)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (party) (tabmon_votes{level="cec",party=~"Nur.*"})', {"tabmon_votes"}),
        ("histogram_quantile(0.95, sum by (le) (rate(a_bucket[$__rate_interval])))", {"a_bucket"}),
        ("a / ignoring(figure) group_left b and on (unit) c offset 5m", {"a", "b", "c"}),
        ("1000 * min_over_time(timestamp(x{k='v'})[$__range:]) > 1e3", {"x"}),
        ("time() - up", {"up"}),
    ],
)
def test_metric_names_of_an_expression(expr, names):
    assert lint.metric_names(expr) == names


def test_provisioning_points_grafana_at_the_dashboards_datasource():
    prov = DASHBOARDS / "provisioning"
    [ds] = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "prometheus"
    [provider] = yaml.safe_load((prov / "dashboards" / "tabmon.yml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
