"""docker-compose.yml (the production path) parses, pins every image and wires the worker."""

from __future__ import annotations

from pathlib import Path

import yaml

from monitor.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_pins_images_and_configures_the_worker():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "redis", "worker"} <= set(services)
    for name, svc in services.items():
        image = svc.get("image")
        if image is None:
            assert "build" in svc, name
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned"
    env = services["worker"]["environment"]
    known = {f"TABMON_{f.upper()}" for f in Settings.__dataclass_fields__}
    assert set(env) <= known, set(env) - known
    # The settings object accepts what compose gives it.
    Settings.from_env({k: str(v) for k, v in env.items()})
    assert services["worker"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
