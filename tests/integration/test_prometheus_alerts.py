"""The alert rules in a real Prometheus (Debian package `prometheus`): the repository's config
loads with every rule group, and a worker's real metrics make a finding alert fire with the
labels Alertmanager routes on."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from integration.conftest import caught_up
from monitor.adapters import procs, readmodel
from producers.elections.synthetic import TimedEvent, generate
from producers.replay import messages_of, send

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "ops" / "prometheus"
BINARY = shutil.which("prometheus")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        BINARY is None,
        reason="prometheus not found: install the Debian package"
        " `prometheus` (scripts/install-system-deps.sh)",
    ),
]


class Prometheus:
    def __init__(self, config: Path, workdir: Path, port: int) -> None:
        assert BINARY is not None
        self.port = port
        workdir.mkdir(parents=True)
        self.log = workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait(lambda: self._ready(), "Prometheus to be ready", timeout=30)

    def _ready(self) -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/{path}", timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def wait(self, check: Callable[[], Any], what: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log: {self.log.read_text()[-2000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        procs.stop(self.proc)


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    started: list[Prometheus] = []

    def start(config: Path, port: int | None = None) -> Prometheus:
        p = Prometheus(config, tmp_path / f"prom{len(started)}", port or procs.free_port())
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def rule_names() -> dict[str, list[str]]:
    out = {}
    for f in sorted((PROM / "rules").glob("*.yml")):
        for g in yaml.safe_load(f.read_text())["groups"]:
            out[g["name"]] = [r.get("alert") or r["record"] for r in g["rules"]]
    return out


def test_prometheus_loads_the_repository_config_and_every_rule(prometheus_factory):
    prom = prometheus_factory(PROM / "prometheus.yml")
    groups = {g["name"]: [r["name"] for r in g["rules"]] for g in prom.api("rules")["groups"]}
    assert groups == rule_names()

    def workers() -> set[str]:
        return {
            t["labels"]["instance"]
            for t in prom.api("targets")["activeTargets"]
            if t["labels"]["job"] == "tabmon"
        }

    assert prom.wait(workers, "the scrape targets", timeout=20) == {"worker-1:9108", "worker-2:9109"}

    # every rule is evaluated without an error (an expression Prometheus cannot run shows here)
    def evaluated() -> list[dict[str, Any]] | None:
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        return rules if all(r["health"] != "unknown" for r in rules) else None

    rules = prom.wait(evaluated, "every rule to be evaluated once", timeout=40)
    assert [r["name"] for r in rules if r["health"] != "ok"] == []


def _altered(event: TimedEvent, moved: int) -> TimedEvent:
    """The CEC's figures for a station again, version 2, with ``moved`` votes taken from the
    strongest party and given to the weakest."""
    value = copy.deepcopy(event.value)
    votes = value["figures"]["votes"]
    strong, weak = max(votes, key=votes.get), min(votes, key=votes.get)
    votes[weak] += moved
    votes[strong] -= moved
    at = event.at + timedelta(hours=2)
    value.update(version=2, recorded_at=at.isoformat())
    return TimedEvent(at, event.topic, event.key, value)


@pytest.mark.slow
def test_a_worker_finding_fires_the_alert_the_room_routes(prometheus_factory, settings, workers, tmp_path):
    election = generate(120, 12, seed=5, evote_ballots=200)
    cec = next(e for e in election.events if e.topic == "protocols" and e.value["source"] == "cec")
    rec = cec.key.split("-")[0]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(f) for f in sorted((PROM / "rules").glob("*.yml"))],
        "scrape_configs": [
            {"job_name": "tabmon", "static_configs": [{"targets": [f"127.0.0.1:{settings.metrics_port}"]}]},
            {"job_name": "prometheus", "static_configs": [{"targets": ["PROMETHEUS"]}]},
        ],
    }
    send(settings, messages_of(election.registry, [*election.events, _altered(cec, 30)]))
    proc = workers.start()
    caught_up(settings, proc=proc)
    port = procs.free_port()  # Prometheus scrapes itself: its storage's age guards "new"
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config).replace("PROMETHEUS", f"127.0.0.1:{port}"))
    prom = prometheus_factory(path, port)

    def firing() -> list[dict[str, Any]]:
        return [a for a in prom.api("alerts")["alerts"] if a["state"] == "firing"]

    def the_alert() -> dict[str, Any] | None:
        return next(
            (
                a
                for a in firing()
                if a["labels"]["alertname"] == "TabmonCriticalFinding"
                and a["labels"].get("kind") == "protocol_altered"
            ),
            None,
        )

    alert = prom.wait(the_alert, "TabmonCriticalFinding for protocol_altered", timeout=60)
    assert alert["labels"] == {
        "alertname": "TabmonCriticalFinding",
        "severity": "critical",
        "component": "findings",
        "kind": "protocol_altered",
        "rec": rec,
    }
    assert alert["annotations"]["runbook_url"] == "docs/runbooks/protocol_altered.md"
    # as many as the read model holds (the CEC's figures against the PEC's, and version 1 vs 2),
    # once the last of them has been scraped and evaluated
    client = redis.Redis.from_url(settings.redis_url)
    key = ("protocol_altered", "critical", rec)

    def counted() -> bool:
        n = sum(
            1
            for r in readmodel.read_findings(client, settings.app_id)
            if (r["kind"], r["severity"], r["rec_id"]) == key
        )
        alert = the_alert()
        return (
            n >= 1
            and alert is not None
            and alert["annotations"]["summary"]
            == (f"{n} new critical protocol_altered finding(s) in {rec} in the last 15 minutes")
        )

    prom.wait(counted, "the alert to count the findings of the read model", timeout=30)
    # a clean election apart from that station: no other finding alert, no pipeline alert
    assert [a["labels"]["alertname"] for a in firing()] == ["TabmonCriticalFinding"]
