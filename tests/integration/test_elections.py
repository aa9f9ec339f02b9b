"""Every built-in election definition on the real path: its synthetic night through Tansu, a
worker (TABMON_ELECTION) and redis-server, with exact totals at every level of each and no
finding but the ones the night plants; and ``tabmon demo --election`` for each."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
import redis

from integration.conftest import caught_up
from monitor.adapters import readmodel
from monitor.cli.demo import settled_findings
from monitor.cli.main import main
from monitor.election import load
from producers.elections.night import generate
from producers.replay import messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZES = {"kz2023": 400, "indonesia": 500}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_exact_totals_at_every_level_and_only_the_planted_findings(
    name, settings, workers, tmp_path, monkeypatch, capsys
):
    d = load(name)
    night = generate(d, SIZES[name], seed=11)
    workers.settings = settings = dataclasses.replace(
        settings, election=name, polls_close=d.polls_close.isoformat()
    )
    send(settings, messages_of(night.registry, []))
    proc = workers.start()
    send(settings, messages_of([], night.events))
    units = caught_up(settings, timeout=180, proc=proc)
    top = d.file.levels[0].pattern
    assert set(units) == {top, *night.level}, set(units) ^ {top, *night.level}
    for uid, unit in units.items():
        want, stations = night.expected(uid), len(night.under(uid))
        assert unit["level"] == (night.level.get(uid) or d.top)
        assert unit["stations"] == stations, uid
        for view in ("protocol", "official"):
            assert unit[view]["votes"] == want["votes"], (uid, view)
            assert unit[view]["stations_reported"] == stations, (uid, view)
        if unit["level"] in d.summary_levels:
            assert unit["summary"]["stations_included"] == stations, uid
    for c in d.contests[1:]:  # each district its own contest, tallied where it is held
        held = units[c.unit]["contests"][c.id]
        assert held["official"]["votes"] == night.expected_contest(c.id, c.unit)["votes"], c.id
        assert sum(held["seats"]["official"]["seats"].values()) == 1
        assert held["summary"]["votes"] == held["protocol"]["votes"], c.id  # the district's own summary
        assert held["summary"]["stations_included"] == len(night.under(c.unit)), c.id
    assert len(d.contests) == 1 or all("contests" not in u for u in units.values() if u["level"] != "okrug")
    seats = units[top]["seats"]["official"]
    rule = d.contests[0].seats
    assert rule is not None and sum(seats["seats"].values()) == rule.seats
    client = redis.Redis.from_url(settings.redis_url)
    found = Counter((f["kind"], f.get("station_id")) for f in settled_findings(settings, client))
    planted = Counter()
    for sid in night.misread:
        planted[("arithmetic_inconsistent", sid)] += 1
        planted[("protocol_altered", sid)] += 1
    assert found == planted
    assert bool(planted) == (name == "indonesia")
    sid = next(iter(night.misread or night.truth))
    doc = readmodel.read_station(client, settings.app_id, sid)
    assert doc is not None and d.station_source in doc["protocols"]["sources"]
    # the live tally as the CDF, through the command line
    monkeypatch.setenv("TABMON_ELECTION", name)
    out = tmp_path / "cdf.json"
    argv = ["export", "--cdf", top, "--redis-url", settings.redis_url, "--app-id", settings.app_id]
    assert main([*argv, "--out", str(out)]) == 0
    cdf = json.loads(out.read_text())
    schema = json.loads((Path(__file__).parents[1] / "schemas" / "nist-1500-100-v2.json").read_text())
    jsonschema.validate(cdf, schema, cls=jsonschema.Draft4Validator)
    (contest,) = cdf["Election"][0]["Contest"]
    for sel in contest["ContestSelection"]:
        total = next(c["Count"] for c in sel["VoteCounts"] if c["GpUnitId"] == f"gpu-{top}")
        assert total == night.expected(top)["votes"][sel["@id"].removeprefix("selection-")]
    assert main([*argv[:2], "NOPE", *argv[3:]]) == 2  # an unknown unit: one line, exit 2
    conn = argv[3:]
    assert main(["status", *conn]) == 0  # the country, by default
    if len(d.contests) > 1:  # a district: its own contest below the party lists
        c = d.contests[1]
        capsys.readouterr()
        assert main(["status", c.unit, *conn]) == 0
        shown = capsys.readouterr().out
        assert c.name in shown and "seats (official)" in shown, shown
    capsys.readouterr()
    assert main(["status", sid, *conn]) == 0  # a station, its sources in the definition's order
    shown = capsys.readouterr().out
    assert d.station_source in shown and d.fields[0] in shown, shown


@pytest.mark.parametrize("name", sorted(SIZES))
def test_tabmon_demo_runs_each_definition(name, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "demo",
            "--election",
            name,
            "--stations",
            "120",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, COLUMNS="160"),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "(synthetic)" in text and "replayed and tallied" in text, text[-3000:]
    second = load(name).levels[1].upper()
    assert f"Regions ({second})" in text
    assert ("arithmetic_inconsistent" in text) == (name == "indonesia"), text[-3000:]
    assert "stopped: worker, redis-server, broker" in text


@pytest.mark.parametrize("name", sorted(SIZES))
def test_the_level_by_level_board_of_each_definition_shows_data(name, settings, workers, logdir, tmp_path):
    """Every query of ``dashboards.build --election NAME`` against a real Prometheus scraping
    a worker that tallied that definition's night, the variables set to one unit per level."""
    from dashboards import lint
    from dashboards.build import generate as boards
    from integration.test_dashboards import Prometheus, _resolve_variables, _run_panels

    d = load(name)
    night = generate(d, 150, seed=12)
    workers.settings = settings = dataclasses.replace(
        settings, election=name, polls_close=d.polls_close.isoformat()
    )
    prom = Prometheus(
        tmp_path / "prometheus", [f"127.0.0.1:{settings.metrics_port}"], logdir / f"prom-{name}.log"
    )
    try:
        send(settings, messages_of(night.registry, []))
        proc = workers.start()
        send(settings, messages_of([], night.events))
        caught_up(settings, timeout=180, proc=proc)
        sid = next(iter(night.truth))
        chain, uid = {}, sid
        while uid in night.parent:
            uid = night.parent[uid]
            chain[night.level.get(uid, d.top)] = uid
        top = d.file.levels[0].pattern
        expr = f'max(tabmon_stations_reported{{level="{d.top}",unit="{top}",view="official"}})'
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = prom.query(expr)
            if r and float(r[0]["value"][1]) == len(night.truth):
                break
            time.sleep(1)
        time.sleep(3)
        (text,) = boards(name).values()
        board = json.loads(text)
        problems: list[str] = []
        values = _resolve_variables(prom, board, chain, problems)
        empty: list[str] = []
        errors: list[str] = []
        ran = _run_panels(prom, board, values, time.time(), empty, errors)
        assert ran == len(list(lint.queries(board))) > 0
        assert not (problems or errors or empty), "\n".join([*problems, *errors, *empty])
    finally:
        prom.stop()
