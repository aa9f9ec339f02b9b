"""The Prometheus alert rules: promtool checks them and runs their unit tests (each alert made
to fire and to stay quiet), and every alert leads to a runbook page that exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli.findings import KINDS

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "ops" / "prometheus"
RULES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))
RUNBOOKS = ROOT / "docs" / "runbooks"

# The finding kinds of the event contract (CONTRACT.md, output `alerts`), each with its page;
# the statistical forensics (forensic_*) share one page.
FINDING_KINDS = (
    "protocol_altered",
    "summary_mismatch",
    "arithmetic_inconsistent",
    "turnout_implausible",
    "turnout_jump",
    "turnout_revised",
    "list_additions",
    "unanimous_result",
    "valid_exceeds_turnout",
    "evote_multiple",
    "late_protocol",
)
FORENSIC_KINDS = tuple(k for k in KINDS if k.startswith("forensic_"))
SEVERITIES = {"critical", "warning", "info"}

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not found: install the Debian package `prometheus` (scripts/install-system-deps.sh)",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


def alert_rules() -> list[dict[str, Any]]:
    return [
        r for f in RULES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r
    ]


def rule_test_cases() -> list[dict[str, Any]]:
    return [
        case
        for f in RULE_TESTS
        for t in yaml.safe_load(f.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
    ]


@needs_promtool
def test_the_monitor_emits_the_contract_kinds_and_forensics_only():
    assert set(KINDS) == set(FINDING_KINDS) | set(FORENSIC_KINDS)
    assert FORENSIC_KINDS


@needs_promtool
def test_promtool_checks_the_rules():
    out = promtool("check", "rules", *map(str, RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(RULES) >= 2


@needs_promtool
def test_promtool_checks_the_prometheus_config_with_its_rules():
    out = promtool("check", "config", str(PROM / "prometheus.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
    for f in RULES:  # the config's rule_files glob finds every rule file
        assert str(f) in out.stdout + out.stderr, f


@needs_promtool
def test_promtool_unit_tests_of_the_rules_pass():
    out = promtool("test", "rules", *map(str, RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_is_made_to_fire_and_to_stay_quiet():
    cases = rule_test_cases()
    for rule in alert_rules():
        name = rule["alert"]
        assert any(c["alertname"] == name and c.get("exp_alerts") for c in cases), f"{name} never fires"
        assert any(c["alertname"] == name and not c.get("exp_alerts") for c in cases), (
            f"{name} is never shown to stay quiet"
        )


def test_every_alert_has_a_severity_a_component_and_a_runbook():
    rules = alert_rules()
    assert len(rules) >= 10
    for rule in rules:
        labels, notes = rule.get("labels", {}), rule.get("annotations", {})
        assert labels.get("severity") in SEVERITIES, rule["alert"]
        assert labels.get("component") in {"findings", "pipeline"}, rule["alert"]
        url = notes.get("runbook_url", "")
        assert url.startswith("docs/runbooks/") and url.endswith(".md"), rule["alert"]
        if "{{" not in url:
            assert (ROOT / url).is_file(), f"{rule['alert']}: {url} does not exist"


def test_runbook_links_rendered_in_the_rule_tests_exist():
    urls = {a["exp_annotations"]["runbook_url"] for c in rule_test_cases() for a in c.get("exp_alerts") or []}
    assert len(urls) >= 10
    missing = sorted(u for u in urls if not (ROOT / u).is_file())
    assert missing == []


def _per_kind_test(rules_file: Path) -> dict[str, Any]:
    """A promtool test: a critical finding of every kind in Karaganda, appearing at 1m."""
    series = [
        {"series": 'prometheus_tsdb_lowest_timestamp_seconds{job="prometheus"}', "values": "0x5"},
        {"series": 'up{job="tabmon",instance="worker-1:9108"}', "values": "1x5"},
    ]
    for kind in (*FINDING_KINDS, *FORENSIC_KINDS):
        labels = f'job="tabmon",kind="{kind}",severity="critical",rec="KAR"'
        series.append({"series": f"tabmon_findings{{{labels}}}", "values": "_ 1x4"})
    critical = [
        {
            "exp_labels": {"severity": "critical", "component": "findings", "kind": k, "rec": "KAR"},
            "exp_annotations": {
                "summary": f"1 new critical {k} finding(s) in KAR in the last 15 minutes",
                "runbook_url": f"docs/runbooks/{k}.md",
            },
        }
        for k in FINDING_KINDS
    ]
    forensic = [
        {
            "exp_labels": {"severity": "info", "component": "findings", "kind": k, "rec": "KAR"},
            "exp_annotations": {
                "summary": f"Statistical signal {k} in KAR: a pattern to examine,"
                " not proof of an irregularity",
                "runbook_url": "docs/runbooks/forensics.md",
            },
        }
        for k in FORENSIC_KINDS
    ]
    return {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "TabmonCriticalFinding", "exp_alerts": critical},
                    {"eval_time": "2m", "alertname": "TabmonForensicSignal", "exp_alerts": forensic},
                ],
            }
        ],
    }


@needs_promtool
def test_a_critical_finding_of_every_kind_links_its_own_runbook_page(tmp_path):
    test_file = tmp_path / "kinds_test.yml"
    test_file.write_text(yaml.safe_dump(_per_kind_test(PROM / "rules" / "findings.yml")))
    out = promtool("test", "rules", str(test_file))
    assert out.returncode == 0, out.stdout + out.stderr
    for kind in FINDING_KINDS:
        assert (RUNBOOKS / f"{kind}.md").is_file(), kind
    assert (RUNBOOKS / "forensics.md").is_file()


def test_runbook_pages_say_what_it_means_what_to_check_and_whom_to_call():
    pages = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")
    assert {f"{k}.md" for k in FINDING_KINDS} <= {p.name for p in pages}
    for page in pages:
        text = page.read_text()
        for heading in ("## What it means", "## Check first", "## Whom to call"):
            assert heading in text, f"{page.name}: no {heading!r}"


def test_finding_pages_cite_the_report():
    for kind in (*FINDING_KINDS, "forensics"):
        text = (RUNBOOKS / f"{kind}.md").read_text()
        cited = re.search(r"report 003, (XIII|XIV|V\.|Annex)", text, re.I)
        assert cited, f"{kind}.md cites no report passage"


def test_runbook_index_links_every_page_and_only_pages_that_exist():
    index = (RUNBOOKS / "README.md").read_text()
    links = set(re.findall(r"\]\(([a-z_]+\.md)\)", index))
    pages = {p.name for p in RUNBOOKS.glob("*.md") if p.name != "README.md"}
    assert links == pages
    alerts = {r["alert"] for r in alert_rules()}
    assert alerts <= set(re.findall(r"`(Tabmon[A-Za-z]+)`", index))
