"""The drill report: every published figure of 2007, measured by the tally (in memory here;
tests/integration/test_drill.py does the same through a broker and a worker)."""

from __future__ import annotations

import pytest

from monitor.drill import check as drill
from monitor.testing import InMemoryTally
from producers.elections.kz2007.night import build, expected


@pytest.fixture(scope="module")
def night():
    return build(seed=2007)


def _lines(night, events):
    tally = InMemoryTally(night.registry, partitions=8)
    tally.feed_events(events, flush_every=25_000)
    assert tally.rejected == []
    return drill.report(expected(), drill.from_memory(tally))


def test_every_published_figure_matches(night):
    lines = _lines(night, night.events)
    failed = [(ln.id, ln.report_says, ln.monitor_shows) for ln in lines if not ln.match]
    assert failed == []
    assert len(lines) == len(expected()) >= 100


def test_a_night_cut_before_the_cec_publication_does_not_match(night):
    """Without the CEC's per-station data (published from 28 August) Annex 1 cannot match:
    the report must say so rather than pass."""
    cutoff = min(e.at for e in night.events if e.topic == "protocols" and e.value["source"] == "cec")
    lines = {ln.id: ln for ln in _lines(night, [e for e in night.events if e.at < cutoff])}
    assert not lines["annex1.Nur Otan"].match
    assert not lines["annex.ALR-811"].match
    assert lines["turnout.night.voters"].match  # the election-night figures are all in


@pytest.mark.parametrize(
    ("want", "shown", "ok"),
    [
        (5247720, 5247720, True),
        (5247720, 5247721, False),
        ({"min": 50001}, 50001, True),
        ({"min": 50001}, 50000, False),
        ({"min": 48500, "max": 48999}, 49000, False),
        (22.5, 22.46, True),
        (22.5, 22.44, False),
        (64.56, 64.5599, True),
        (["AKT-276", "AKT-291"], ["AKT-291", "AKT-276"], True),
        (["AKT-276"], ["AKT-291"], False),
        (
            {"Nur Otan": 187, "ballots_cancelled": -187},
            {"Nur Otan": 187, "ballots_cancelled": -187, "station": "AST-37"},
            True,
        ),
        ({"Nur Otan": 187}, {"Nur Otan": 186}, False),
        ({"Nur Otan": 187}, {}, False),
    ],
)
def test_matches(want, shown, ok):
    assert drill.matches(want, shown) is ok
