"""The whole 2007 drill through a real broker and worker: every published figure matches."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
import redis

from integration.conftest import caught_up
from integration.test_drill_page import check_the_drill_page
from monitor.cli.demo import settled_findings
from monitor.drill import check as drill
from monitor.testing import InMemoryTally
from producers.elections.kz2007.night import build, expected
from producers.replay import messages_of, send

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_2007_drill_reproduces_every_published_figure(settings, workers, tmp_path):
    night = build(seed=2007)
    send(settings, messages_of(night.registry, []))
    proc = workers.start()
    send(settings, messages_of([], night.events))
    caught_up(settings, timeout=600, proc=proc)

    client = redis.Redis.from_url(settings.redis_url)
    _findings_are_those_of_the_same_detectors_in_memory(settings, client, night)
    lines = drill.report(expected(), drill.from_redis(client, settings.app_id, night.registry))
    failed = [(ln.id, ln.report_says, ln.monitor_shows) for ln in lines if not ln.match]
    assert failed == []

    env = {
        "TABMON_REDIS_URL": settings.redis_url,
        "TABMON_APP_ID": settings.app_id,
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "200",
    }
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "drill-report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert f"{len(lines)} of {len(lines)} published figures match" in out.stdout

    check_the_drill_page(settings, client, night, tmp_path / "page")  # the same replay


def _findings_are_those_of_the_same_detectors_in_memory(settings, client, night) -> None:
    """The live path (stage one at each flush, stage two at each snapshot, the sweep, each
    over partial and growing data) ends with the findings the detectors give on the whole
    drill at once, with the same evidence; late_protocol aside (no close set here)."""
    live = {r["finding_id"]: r for r in settled_findings(settings, client, timeout=120)}
    tally = InMemoryTally(night.registry, partitions=settings.partitions)
    tally.feed_events(night.events)
    want = {f.finding_id: f for f in tally.findings()}
    assert len(want) > 1000  # the drill is full of anomalies (tests/unit/test_detect_drill.py)
    missing = sorted((f.kind, f.station_id or f.unit_id) for i, f in want.items() if i not in live)
    assert missing == []
    differ = [
        (i, want[i].kind) for i in want if orjson.loads(orjson.dumps(want[i].evidence)) != live[i]["evidence"]
    ]
    assert differ == []
    # what the live path found beyond the final state: findings raised on partial data.
    # None for the deterministic kinds. A statistical signal is retested at every sweep on
    # the protocols in so far, and may pass its threshold at one look and not at the end
    # (docs/forensics.md: measured at 2 in 100 clean elections over five looks); on the
    # drill's manipulated official figures one fingerprint region came and went in one run.
    extra = sorted((r["kind"], r["station_id"] or r["unit_id"]) for i, r in live.items() if i not in want)
    assert [e for e in extra if not e[0].startswith("forensic_")] == []
    assert len(extra) <= 2, extra
