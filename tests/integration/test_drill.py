"""The whole 2007 drill through a real broker and worker: every published figure matches."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from monitor import drill
from producers.kz2007 import build, expected
from producers.replay import messages_of, send

from .conftest import caught_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_2007_drill_reproduces_every_published_figure(settings, workers):
    night = build(seed=2007)
    send(settings, messages_of(night.registry, []))
    proc = workers.start()
    send(settings, messages_of([], night.events))
    caught_up(settings, timeout=600, proc=proc)

    client = redis.Redis.from_url(settings.redis_url)
    lines = drill.report(expected(), drill.from_redis(client, settings.app_id, night.registry))
    failed = [(ln.id, ln.report_says, ln.monitor_shows) for ln in lines if not ln.match]
    assert failed == []

    env = {"TABMON_REDIS_URL": settings.redis_url, "TABMON_APP_ID": settings.app_id,
           "PATH": "/usr/bin:/bin", "COLUMNS": "200"}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "drill-report"], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert f"{len(lines)} of {len(lines)} published figures match" in out.stdout
