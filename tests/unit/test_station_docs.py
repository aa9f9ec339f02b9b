"""The sweep's station documents kept as JSON and parsed when read
(monitor.adapters.readmodel.StationDocs): the detectors find the same as on parsed ones."""

from __future__ import annotations

import orjson
import pytest

from monitor.adapters.readmodel import StationDocs
from monitor.alerting.runner import sweep
from monitor.election.thresholds import of_definition
from monitor.testing import InMemoryTally
from producers.elections.kz2007.night import build


@pytest.fixture(scope="module")
def drill():
    night = build(seed=2007)
    tally = InMemoryTally(night.registry, partitions=8)
    tally.feed_events(night.events, flush_every=25_000)
    return tally, max(e.at for e in night.events).timestamp()


def test_the_sweep_finds_the_same_on_documents_kept_as_json(drill):
    tally, now = drill
    t = of_definition(tally.registry.definition)
    docs = StationDocs()
    for sid, kinds in tally.stations.items():
        docs.put(sid, {k: orjson.dumps(doc) for k, doc in kinds.items()})
    parsed = sweep(tally.stations, tally.registry, t, now)
    kept = sweep(docs, tally.registry, t, now)
    assert len(parsed) > 1000  # the drill's sweep has plenty to find
    assert sorted(f.finding_id for f in kept) == sorted(f.finding_id for f in parsed)
    assert [f.evidence for f in sorted(kept, key=lambda f: f.finding_id)] == [
        f.evidence for f in sorted(parsed, key=lambda f: f.finding_id)
    ]


def test_a_station_kept_as_json_reads_like_its_documents(drill):
    tally, _ = drill
    sid = next(iter(tally.stations))
    docs = StationDocs()
    docs.put(sid, {k: orjson.dumps(doc) for k, doc in tally.stations[sid].items()})
    assert docs.parsed(sid) == tally.stations[sid]
    assert docs[sid].get("protocols") == tally.stations[sid].get("protocols")
    assert docs[sid].get("nothing") is None and docs.parsed("nowhere") is None
    assert sid in docs and len(docs) == 1
