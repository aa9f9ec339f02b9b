"""The fuzz harness's broker mode at small scale (load/fuzz.py --broker runs it at 10,000):
hostile messages through a real worker, then a SIGKILL and a restart that re-reads them all.
No message stops the worker, each is counted once as accepted or rejected, the dead letters
are exactly the rejections, and the totals equal the reference, before and after."""

from __future__ import annotations

import pytest
from conftest_helpers import load_fuzz

from integration.conftest import caught_up
from producers.elections.synthetic import generate

pytestmark = [pytest.mark.integration, pytest.mark.slow]


fuzz = load_fuzz()


def _failures(stats) -> list[str]:
    return [f"{f.what}: {f.detail} {[fuzz.show_input(h) for h in f.inputs[:2]]}" for f in stats.failures]


def test_hostile_messages_through_a_worker_and_a_restart(settings, workers):
    election = generate(60, 8, seed=23, evote_ballots=120)
    run = fuzz.run_broker(
        settings, workers.start, election, 500, seed=5, registry_n=40, timeout=180, progress=False
    )
    assert _failures(run.stats) == []
    first = run.proc
    assert first is not None and first.poll() is None
    assert sum(m["rejected"] for m in run.metrics.values()) == len(run.letters) > 100
    assert run.pristine  # some units no accepted hostile message touched: equal to the truth

    # a crash, then a worker that re-reads every hostile message from offset 0
    second = fuzz.restart(settings, run, workers.start, timeout=180)
    assert _failures(run.stats) == []
    assert second.poll() is None, "the restarted worker stopped on the hostile input"
    assert workers.metric("tabmon_replayed_events_total") > 0  # rebuilt from the log
    assert workers.metric("tabmon_rejected_total", 'reason="bug"') == 0
    units = caught_up(settings, proc=second)
    for uid, before in run.units.items():
        for f in fuzz.TOTAL_FIELDS:
            assert units[uid].get(f) == before.get(f), (uid, f)
