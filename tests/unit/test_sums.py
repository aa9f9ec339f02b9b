"""A commission's sums kept by deltas (monitor.tally.sums) are exactly what adding up its
stations from scratch gives, after any sequence of events in any order: new protocols,
older and equal versions, every source (official ranks), later contests, turnout reports
out of order and revised, e-ballots and their redeliveries."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.contract import Evote, Protocol, Registry, Turnout, build
from monitor.election import load
from monitor.tally import PartitionStore, take_partial
from monitor.tally.derive import tec_partial
from monitor.tally.packed import unpack
from monitor.tally.sums import unanimity, vsum
from producers.elections.night import generate

KZ2023 = load("kz2023")
NIGHT = generate(KZ2023, 40, seed=3)
REGISTRY: Registry = build(NIGHT.registry, definition=KZ2023)
STATIONS = sorted(REGISTRY.stations)
# a few stations, two to a commission, so that events meet: versions, sources, revisions
PICKED = sorted(
    {
        s
        for t in sorted({REGISTRY.stations[x].tec_id for x in STATIONS})[:4]
        for s in sorted(x for x in STATIONS if REGISTRY.stations[x].tec_id == t)[:2]
    }
)
SOURCES = KZ2023.sources
WIDTH = len(KZ2023.fields) + len(REGISTRY.parties)
AT = "2023-03-19T21:00:00+06:00"


def _district(sid: str) -> str | None:
    """The later contest a station votes in (its single-member district), if any."""
    ancestors = REGISTRY.ancestors(sid)
    return next((c.id for c in KZ2023.contests[1:] if c.unit in ancestors), None)


# -- the reference: adding up every station of a commission, as a flush once did ---------------
def _unpacked(entry: tuple[int, bytes] | None) -> tuple[int, tuple[int, ...]] | None:
    return None if entry is None else (entry[0], unpack(entry[1]))


def recount(store: PartitionStore, tec: str) -> dict:
    d, w = store.registry.definition, store.width
    own = d.station_source or ""
    stations: Iterable[str] = store.members().get(tec, ())
    if store.kind == "turnout":
        latest = [t[1] for t in map(store.latest_turnout, stations) if t is not None]
        by_seq = store.turnout_by_seq.get(tec, {})
        return {
            "turnout": vsum(latest, 3),
            "n_turnout": len(latest),
            "by_seq": {str(q): list(by_seq[q]) for q in sorted(by_seq)},
        }
    if store.kind == "evote":
        return {"evote": sum(store.evotes.get(s, 0) for s in stations)}
    pec, official, moved_off, moved_pec, unanimous, altered = [], [], [], [], [0, 0, 0, 0], 0
    contests: dict[str, tuple[list, list]] = {}
    for sid in stations:
        history = store.protocols.get(sid, {}).get(own)
        p = _unpacked(history[-1]) if history else None
        o = _unpacked(store.official.get(sid))
        if p is not None:
            pec.append(p[1])
        if o is not None:
            official.append(o[1])
            unanimous = [a + b for a, b in zip(unanimous, unanimity(o[1], d), strict=True)]
            if p is not None:
                moved_off.append(o[1])
                moved_pec.append(p[1])
                altered += o[1] != p[1]
        for c in store.contests_of.get(sid, ()):
            cp, co = contests.setdefault(c, ([], []))
            x = _unpacked(store.contest_protocols[(sid, c)].get(own))
            y = _unpacked(store.contest_official.get((sid, c)))
            if x is not None:
                cp.append(x[1])
            if y is not None:
                co.append(y[1])
    out = {
        "pec": vsum(pec, w),
        "official": vsum(official, w),
        "moved": [a - b for a, b in zip(vsum(moved_off, w), vsum(moved_pec, w), strict=True)],
        "n_pec": len(pec),
        "n_official": len(official),
        "n_altered": altered,
        "unanimous": unanimous,
    }
    if contests:
        out["contests"] = {
            c: {
                "pec": vsum(cp, len(d.fields) + len(d.selections[c])),
                "official": vsum(co, len(d.fields) + len(d.selections[c])),
                "n_pec": len(cp),
                "n_official": len(co),
            }
            for c, (cp, co) in sorted(contests.items())
        }
    return out


# -- random events -------------------------------------------------------------------------------
_count = st.integers(0, 400)


@st.composite
def protocols(draw) -> Protocol:
    sid = draw(st.sampled_from(PICKED))
    contest = _district(sid) if draw(st.booleans()) else None
    n = len(KZ2023.selections[contest]) if contest else len(REGISTRY.parties)
    figures = tuple(draw(st.lists(_count, min_size=len(KZ2023.fields) + n, max_size=len(KZ2023.fields) + n)))
    if draw(st.booleans()):  # a unanimous result now and then
        figures = figures[: len(KZ2023.fields)] + (figures[len(KZ2023.fields)],) + (0,) * (n - 1)
    return Protocol(sid, draw(st.sampled_from(SOURCES)), draw(st.integers(1, 3)), AT, figures, contest or "")


@st.composite
def turnouts(draw) -> Turnout:
    sid = draw(st.sampled_from(PICKED))
    return Turnout(sid, draw(st.integers(1, 4)), AT, draw(_count), draw(_count), draw(_count))


@st.composite
def evotes(draw) -> Evote:
    return Evote(draw(st.sampled_from(PICKED)), f"t{draw(st.integers(0, 30))}", AT)


def _check(store: PartitionStore, kind_events: list, flush_every: int) -> None:
    for i, e in enumerate(kind_events):
        store.apply_record(e)
        if flush_every and i % flush_every == 0:
            take_partial(store, i)  # a flush between events changes nothing in the sums
        for tec in store.members():
            assert tec_partial(store, tec) == recount(store, tec), (store.kind, tec, i)


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(events=st.lists(protocols(), max_size=60), flush_every=st.integers(0, 7))
def test_protocol_sums_are_the_stations_added_up(events, flush_every):
    _check(PartitionStore("protocols", REGISTRY), events, flush_every)


@FAST
@given(events=st.lists(turnouts(), max_size=60), flush_every=st.integers(0, 7))
def test_turnout_sums_are_the_stations_added_up(events, flush_every):
    _check(PartitionStore("turnout", REGISTRY), events, flush_every)


@FAST
@given(events=st.lists(evotes(), max_size=60), flush_every=st.integers(0, 7))
def test_evote_sums_are_the_stations_added_up(events, flush_every):
    _check(PartitionStore("evote", REGISTRY), events, flush_every)


def test_the_sums_of_a_whole_night_are_the_stations_added_up():
    """The generator's night, every protocol and report: kz2023's two ballots per station."""
    from monitor.contract import DECODERS

    stores = {k: PartitionStore(k, REGISTRY) for k in ("protocols", "turnout")}
    for e in NIGHT.events:
        if e.topic in stores:
            stores[e.topic].apply_record(DECODERS[e.topic](e.value, REGISTRY))
    for store in stores.values():
        assert store.members()
        for tec in store.members():
            assert tec_partial(store, tec) == recount(store, tec)
    assert any("contests" in tec_partial(stores["protocols"], t) for t in stores["protocols"].members())


def test_the_units_registry_figures_follow_every_registry_record():
    """The snapshot's per-unit registry figures are counted once per state of the registry
    (not at every snapshot), and a record that changes the registry changes them."""
    from monitor.tally import snapshot

    registry = build(NIGHT.registry, definition=KZ2023)
    top = registry.top_id
    before = snapshot({}, registry)[top]
    assert before["stations"] == len(registry.stations)
    assert snapshot({}, registry)[top]["stations"] == before["stations"]  # counted once, the same
    tec = sorted(registry.tec_stations)[0]
    rec = registry.ancestors(tec)[-2] if len(registry.ancestors(tec)) > 1 else top
    sid = f"{rec}-999"
    registry.apply(
        {
            "v": 1,
            "type": "station",
            "station_id": sid,
            "parent_id": tec,
            "name": "new",
            "registered_baseline": 700,
            "evoting": False,
        }
    )
    after = snapshot({}, registry)
    assert after[top]["stations"] == before["stations"] + 1
    assert after[top]["registry"]["registered_baseline"] == before["registry"]["registered_baseline"] + 700
    assert after[tec]["stations"] == len(registry.tec_stations[tec])
