"""Alertmanager's routing of the operations room: amtool checks the config and shows where
alerts carrying the labels our rules give them go; start.sh puts the webhook base URL in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AM = ROOT / "ops" / "alertmanager"
CONFIG = AM / "alertmanager.yml"
START = AM / "start.sh"
PLACEHOLDER = "http://ops-webhook.invalid"

AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool not found: install the Debian package `prometheus-alertmanager`"
    " (scripts/install-system-deps.sh)",
)

# (labels of an alert, the receivers it must reach): labels as ops/prometheus/rules sets them
ROUTES = [
    (
        "alertname=TabmonCriticalFinding component=findings severity=critical kind=protocol_altered rec=KAR",
        "duty-officer,desk-central",
    ),
    (
        "alertname=TabmonWarningFinding component=findings severity=warning kind=unanimous_result rec=KAR",
        "desk-central",
    ),
    (
        "alertname=TabmonCriticalFinding component=findings severity=critical"
        " kind=valid_exceeds_turnout rec=KZ",
        "duty-officer,desk-national",
    ),
    (
        "alertname=TabmonCriticalFinding component=findings severity=critical kind=turnout_revised rec=MAN",
        "duty-officer,desk-west",
    ),
    (
        "alertname=TabmonWarningFinding component=findings severity=warning kind=list_additions rec=AST",
        "desk-central",
    ),
    (
        "alertname=TabmonCriticalFinding component=findings severity=critical kind=evote_multiple rec=KZ",
        "duty-officer,desk-national",
    ),
    (
        "alertname=TabmonWarningFinding component=findings severity=warning kind=unanimous_result rec=SKZ",
        "desk-south",
    ),
    (
        "alertname=TabmonWarningFinding component=findings severity=warning kind=late_protocol rec=PAV",
        "desk-north",
    ),
    (
        "alertname=TabmonCriticalFinding component=findings severity=critical kind=turnout_jump rec=EKZ",
        "duty-officer,desk-east",
    ),
    (
        "alertname=TabmonForensicSignal component=findings severity=info kind=forensic_last_digit rec=SKZ",
        "analysts",
    ),
    ("alertname=TabmonFindingsSurge component=findings severity=warning kind=unanimous_result", "ops-room"),
    (
        "alertname=TabmonWorkerDown component=pipeline severity=critical instance=worker-1:9108",
        "pipeline-on-call",
    ),
    (
        "alertname=TabmonRejectionSpike component=pipeline severity=warning topic=protocols"
        " reason=unknown_station",
        "pipeline-on-call",
    ),
]


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert AMTOOL is not None
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_amtool
def test_amtool_checks_the_config():
    out = amtool("check-config", str(CONFIG))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@needs_amtool
@pytest.mark.parametrize(("labels", "receivers"), ROUTES, ids=[r[1] + ":" + r[0].split()[3] for r in ROUTES])
def test_an_alert_reaches_its_desks(labels, receivers):
    out = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={receivers}",
        *labels.split(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receivers


def test_every_receiver_is_reached_by_some_alert():
    doc = yaml.safe_load(CONFIG.read_text())
    declared = {r["name"] for r in doc["receivers"]}
    reached = {name for _, receivers in ROUTES for name in receivers.split(",")}
    assert declared == reached


def test_every_receiver_is_a_webhook_under_the_placeholder_base():
    doc = yaml.safe_load(CONFIG.read_text())
    for r in doc["receivers"]:
        urls = [w["url"] for w in r.get("webhook_configs", [])]
        assert urls == [f"{PLACEHOLDER}/{r['name']}"], r["name"]


def test_the_routed_labels_are_the_labels_the_rules_give():
    """The routes match on component, severity and rec: every alert rule sets the first two."""
    groups = [
        g
        for f in sorted((ROOT / "ops/prometheus/rules").glob("*.yml"))
        for g in yaml.safe_load(f.read_text())["groups"]
    ]
    rules = [r for g in groups for r in g["rules"] if "alert" in r]
    routed = {labels.split()[0].split("=")[1] for labels, _ in ROUTES}
    assert {r["alert"] for r in rules} >= routed
    for r in rules:
        assert {"component", "severity"} <= set(r["labels"]), r["alert"]


def run_start(tmp_path: Path, base: str | None) -> tuple[subprocess.CompletedProcess[str], Path]:
    rendered = tmp_path / "alertmanager.yml"
    env = {
        "PATH": os.environ["PATH"],
        "AM_TEMPLATE": str(CONFIG),
        "AM_RENDERED": str(rendered),
        "AM_BINARY": "echo",
    }
    if base is not None:
        env["OPS_WEBHOOK_BASE_URL"] = base
    out = subprocess.run(
        ["sh", str(START), "--web.listen-address=:9093"], capture_output=True, text=True, env=env, timeout=30
    )
    return out, rendered


@needs_amtool
def test_start_puts_the_base_url_in_every_receiver(tmp_path):
    out, rendered = run_start(tmp_path, "https://room.example.org/hooks/tabmon/")
    assert out.returncode == 0, out.stderr
    # the process it starts: Alertmanager on the rendered copy, extra arguments passed on
    assert out.stdout.split() == [
        f"--config.file={rendered}",
        "--storage.path=/alertmanager",
        "--web.listen-address=:9093",
    ]
    text = rendered.read_text()
    assert PLACEHOLDER not in text
    doc = yaml.safe_load(text)
    for r in doc["receivers"]:
        assert r["webhook_configs"][0]["url"] == f"https://room.example.org/hooks/tabmon/{r['name']}"
    check = amtool("check-config", str(rendered))
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    "base", [None, "", "room.example.org", "https://a.example.org/x|y", "https://a.example.org/?a=1&b=2"]
)
def test_start_refuses_a_missing_or_unusable_base_url(tmp_path, base):
    out, rendered = run_start(tmp_path, base)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "OPS_WEBHOOK_BASE_URL" in out.stderr
    assert not rendered.exists() and out.stdout == ""


def test_the_config_is_what_the_kz2007_definition_generates():
    from monitor.alerting.routing import alertmanager_config
    from monitor.election import load

    assert CONFIG.read_text() == alertmanager_config(load("kz2007")), (
        "regenerate: tabmon definition alertmanager kz2007 --out ops/alertmanager/alertmanager.yml"
    )


def test_a_desk_moved_in_the_definition_moves_in_the_routing(tmp_path):
    from monitor.alerting.routing import alertmanager_config
    from monitor.election import parse
    from monitor.election.load import BUILTIN

    text = (
        (BUILTIN / "kz2007.yaml").read_text().replace("    KAR: desk-central\n", "    KAR: desk-karaganda\n")
    )
    config = yaml.safe_load(alertmanager_config(parse(text, "moved.yaml")))
    (findings,) = [r for r in config["route"]["routes"] if r.get("routes")]
    by_desk = {r["receiver"]: r["matchers"] for r in findings["routes"]}
    assert by_desk["desk-karaganda"] == ['rec="KAR"'] and by_desk["desk-central"] == ['rec="AST"']
    assert "desk-karaganda" in {r["name"] for r in config["receivers"]}


@needs_amtool
@pytest.mark.parametrize("name", ["kz2023", "indonesia"])
def test_every_definitions_routing_passes_amtool_and_routes_its_country(name, tmp_path):
    from monitor.cli.main import main

    path = tmp_path / "alertmanager.yml"
    assert main(["definition", "alertmanager", name, "--out", str(path)]) == 0
    assert "SUCCESS" in amtool("check-config", str(path)).stdout
    top = {"kz2023": "KZ", "indonesia": "ID"}[name]
    out = amtool("config", "routes", "test", f"--config.file={path}", "component=findings", f"rec={top}")
    assert out.stdout.strip() == "desk-national", out.stdout + out.stderr
