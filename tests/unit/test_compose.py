"""docker-compose.yml (the production path) without a Docker engine: valid against the Compose
specification, images pinned, every file it names present, every dependency a service, no
two services on one host port, and the pieces wired to each other (workers, Prometheus,
Alertmanager, Grafana, the drill)."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from monitor.cli.main import parser
from monitor.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with every variable unset; ${VAR:?msg} becomes a sample."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", r"sample-\1", value)


def host_port(mapping: str | int) -> int:
    """The host side of a short port mapping: 9090:9090, 127.0.0.1:6379:6379."""
    parts = str(mapping).split(":")
    return int(parts[-2] if len(parts) > 1 else parts[0])


def bind_sources(svc: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for v in svc.get("volumes", []):
        src, target = v.split(":")[:2]
        if src.startswith((".", "/")):
            out.append((src, target))
    return out


def test_compose_file_is_valid_against_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_vendored_schema_is_the_documented_copy():
    note = (SCHEMA.parent / "README.md").read_text()
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() in note


def test_the_schema_rejects_what_compose_would_reject(compose):
    """The vendored schema is strict enough to catch a typo and a wrong condition."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    typo = {
        **compose,
        "services": {**compose["services"], "redis": {**compose["services"]["redis"], "restrat": "always"}},
    }
    assert not validator.is_valid(typo)
    worker = {**compose["services"]["worker-1"], "depends_on": {"topics": {"condition": "done"}}}
    assert not validator.is_valid({**compose, "services": {**compose["services"], "worker-1": worker}})


def test_every_image_is_pinned(compose):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name}: no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and "$" not in tag, f"{name}: image {image!r} is not pinned"
        if "build" in svc:  # our own image carries the package version
            assert image == f"tabmon:{version}", name


def test_every_file_the_stack_names_exists(compose):
    for name, svc in compose["services"].items():
        if "build" in svc:
            context = ROOT / svc["build"]
            assert (context / "Dockerfile").is_file(), name
        for src, _ in bind_sources(svc):
            assert (ROOT / src).exists(), f"{name}: {src} does not exist"
        entry = svc.get("entrypoint")
        if entry and entry[0] == "/bin/sh":  # a script of ours, mounted into the container
            assert entry[1] in {t for _, t in bind_sources(svc)}, f"{name}: {entry[1]} is not mounted"
    named = set(compose.get("volumes", {}))
    for name, svc in compose["services"].items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if not src.startswith((".", "/")):
                assert src in named, f"{name}: volume {src} is not declared"


def test_dependencies_are_services_and_health_conditions_have_a_healthcheck(compose):
    services = compose["services"]
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services and dep != name, f"{name} depends on {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy"
            if spec["condition"] == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} is one-shot"


def test_no_two_services_publish_one_host_port(compose):
    seen: dict[int, str] = {}
    for name, svc in compose["services"].items():
        for mapping in svc.get("ports", []):
            port = host_port(mapping)
            assert port not in seen, f"{name} and {seen[port]} both publish {port}"
            seen[port] = name


def test_two_workers_share_the_partitions_on_distinct_metrics_ports(compose):
    services = compose["services"]
    workers = {n: s for n, s in services.items() if s.get("command") == ["worker"]}
    assert len(workers) == 2
    known = {f"TABMON_{f.upper()}" for f in Settings.__dataclass_fields__}
    settings = {}
    for name, svc in workers.items():
        env = svc["environment"]
        assert set(env) <= known, set(env) - known
        settings[name] = Settings.from_env({k: interpolate(str(v)) for k, v in env.items()})
        assert [host_port(p) for p in svc["ports"]] == [settings[name].metrics_port]
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert len({s.app_id for s in settings.values()}) == 1  # one consumer group
    assert len({s.metrics_port for s in settings.values()}) == 2
    assert len({(s.broker, s.redis_url, s.partitions) for s in settings.values()}) == 1
    # Prometheus scrapes exactly these two, at the port each one listens on
    prom = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "tabmon")
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{n}:{s.metrics_port}" for n, s in settings.items()}


def test_redis_persists_the_read_model(compose):
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert any(v.split(":")[1] == "/data" and not v.startswith(".") for v in redis["volumes"])


def test_the_tabmon_commands_parse_with_tabmon_own_command_line(compose):
    """topics, worker and the drill replay are real tabmon subcommands with valid flags."""
    commands = {
        n: [interpolate(str(a)) for a in s["command"]] for n, s in compose["services"].items() if "build" in s
    }
    assert commands["drill"][:2] == ["replay", "kz2007"]
    for name, argv in commands.items():
        args = parser().parse_args(argv)
        assert args.command == argv[0], name
    drill = compose["services"]["drill"]
    assert drill["profiles"] == ["drill"]  # never replayed by a plain `docker compose up`
    assert drill.get("restart") == "no"


def test_prometheus_loads_the_repository_config_and_rules(compose):
    prom = compose["services"]["prometheus"]
    mounts = dict(bind_sources(prom))
    config = next(a.split("=", 1)[1] for a in prom["command"] if a.startswith("--config.file="))
    assert mounts["./ops/prometheus/prometheus.yml"] == config
    doc = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    rules_dir = mounts["./ops/prometheus/rules"]
    for pattern in doc["rule_files"]:
        assert f"{Path(config).parent}/{pattern}".startswith(rules_dir + "/")
        assert list((ROOT / "ops/prometheus").glob(pattern)), pattern
    am = {t for a in doc["alerting"]["alertmanagers"] for sc in a["static_configs"] for t in sc["targets"]}
    assert {t.split(":")[0] for t in am} <= set(compose["services"])


def test_grafana_is_provisioned_from_the_repository(compose):
    grafana = compose["services"]["grafana"]
    mounts = dict(bind_sources(grafana))
    assert mounts["./dashboards/provisioning"] == "/etc/grafana/provisioning"
    prov = ROOT / "dashboards/provisioning"
    providers = yaml.safe_load((prov / "dashboards/tabmon.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == [mounts["./dashboards"]]
    sources = [
        s
        for f in sorted((prov / "datasources").glob("*.yml"))
        for s in yaml.safe_load(f.read_text())["datasources"]
    ]
    hosts = {re.match(r"http://([^:/]+)", s["url"]).group(1) for s in sources}  # type: ignore[union-attr]
    assert hosts <= set(compose["services"])
    assert [s["type"] for s in sources if s.get("isDefault")] == ["prometheus"]  # Grafana allows one
    assert len({s["uid"] for s in sources}) == len(sources)


def test_alertmanager_needs_its_webhook_base_url(compose):
    env = compose["services"]["alertmanager"]["environment"]
    assert re.fullmatch(r"\$\{OPS_WEBHOOK_BASE_URL:\?.+\}", env["OPS_WEBHOOK_BASE_URL"])
