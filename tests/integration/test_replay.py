"""`tabmon replay` against a real broker: the window of the night, and the pacing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest

from monitor.cli.progress import end_offsets
from monitor.cli.sources import DRILL_TZ
from producers.elections.synthetic import generate

pytestmark = [pytest.mark.integration]


def _replay(settings, *args):
    env = dict(
        os.environ, TABMON_BROKER=settings.broker, TABMON_TOPIC_PREFIX=settings.topic_prefix, COLUMNS="120"
    )
    t0 = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "replay",
            "synthetic",
            "--stations",
            "40",
            "--tecs",
            "16",
            "--evotes",
            "200",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out, time.monotonic() - t0


def test_replay_sends_only_the_window_and_paces_by_the_drill_clock(settings):
    election = generate(40, 16, seed=2007, evote_ballots=200)
    lo = datetime(2007, 8, 18, 19, 30, tzinfo=DRILL_TZ)
    hi = datetime(2007, 8, 18, 20, 30, tzinfo=DRILL_TZ)
    expected = [e for e in election.events if lo <= e.at < hi]
    assert expected, "the window must hold events for the test to mean anything"
    out, seconds = _replay(settings, "--from", "19:30", "--until", "20:30", "--speed", "3600")
    assert out.returncode == 0, out.stderr
    sent = int(re.search(r"and ([\d,]+) events", out.stdout).group(1).replace(",", ""))
    assert sent == len(expected)
    assert sum(end_offsets(settings).values()) == len(expected)
    span = (max(e.at for e in expected) - min(e.at for e in expected)).total_seconds()
    assert seconds >= 0.9 * span / 3600  # 3,600 times faster than the drill clock, not faster
