"""The fuzz harness at small scale: no input stops the monitor's in-process path, each one is
tallied or rejected with a code and a reason, and the totals stay exact (load/fuzz.py runs
the same at a million inputs). Each named hostile input is a regression case of its own."""

from __future__ import annotations

import random

import orjson
import pytest
from conftest_helpers import load_fuzz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from truth import expected_totals

from monitor.adapters.metrics import Metrics
from monitor.contract import MAX_COUNT, MAX_SEQ, build
from monitor.tally.intake import BUG
from producers.elections.synthetic import generate
from producers.hostile.feed import NUMBERS, TIMES, Hostile, HostileInputs, dumps, known_inputs

fuzz = load_fuzz()
ELECTION = generate(60, 8, seed=17, evote_ballots=120)
PARTIES = ELECTION.parties
VALID = [Hostile(e.topic, e.key.encode(), orjson.dumps(e.value)) for e in ELECTION.events]
KNOWN = {k.name: k for k in known_inputs(ELECTION)}
# Failures of a kind found by this harness and not fixed yet, set aside by the other tests
# (none now: stage two's merge once kept an equal summary version by its figures alone,
# test_known_summary_tie_shows_the_larger_record_whatever_the_flushes).
OPEN_BUGS: set[str] = set()


class Run:
    """The valid events, then ``inputs``, through the harness; the outcome of each input."""

    def __init__(self, *rounds: list[Hostile], valid: list[Hostile] = VALID) -> None:
        self.stats = fuzz.Stats()
        self.harness = fuzz.Harness(ELECTION.registry, self.stats, partitions=3, sweep_every=1)
        self.oracle = fuzz.Oracle(ELECTION.truth, PARTIES)
        self.touched: set[str] = set()
        self.outcomes: list[list[str | None]] = []
        for items, is_valid in [(valid, True), *((r, False) for r in rounds)]:
            codes = self.harness.round(items)
            self.outcomes.append(codes)
            for h, code in zip(items, codes, strict=True):
                assert not (is_valid and code is not None), f"a valid event was rejected: {code}"
                if code is None:
                    self.oracle.add(h.topic, h.value)
                    if not is_valid:
                        self.touched |= fuzz.units_touched(h, self.harness.registry)
        self.harness.sweep()

    def failures(self) -> list[str]:
        return [f"{f.what}: {f.detail}\n{f.trace}" for f in self.stats.failures if f.what not in OPEN_BUGS]

    def exact(self) -> list[str]:
        """Every unit against the oracle, and the untouched ones against the truth."""
        fuzz.exactness(self.stats, self.harness.units, self.oracle, ELECTION, self.touched)
        return self.failures()

    def reasons(self) -> list[tuple[str, str]]:
        return [(f.what, f.detail) for f in self.stats.failures]


def _assert_clean(run: Run) -> None:
    assert run.failures() == []
    assert run.exact() == []


# -- hypothesis: structure-aware and byte-level, through the worker's path ------------------------
_IDS = sorted({e.key for e in ELECTION.events})
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(NUMBERS)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from([*TIMES, *_IDS[:5], "\ud800", "ALR-811\n", "SKZ-T:KZ", "a/b", ""]),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=6,
)
_keys = st.none() | st.binary(max_size=12) | st.sampled_from([k.encode() for k in _IDS])


def _paths(obj, prefix=()):
    for k, v in obj.items():
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from _paths(v, (*prefix, k))


@st.composite
def structured(draw):
    """A valid event with fields set, deleted or added, maybe another key or topic."""
    base = draw(st.sampled_from(VALID))
    obj = orjson.loads(base.value)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(obj))
        action = draw(st.sampled_from(["set", "set", "delete", "add"]))
        if action == "add" or not paths:
            obj[draw(st.text(max_size=6))] = draw(_json)
            continue
        path = draw(st.sampled_from(paths))
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_json)
    key = draw(st.just(base.key) | _keys)
    topic = draw(st.just(base.topic) | st.sampled_from(list(fuzz.INPUT_TOPICS)))
    return Hostile(topic, key, dumps(obj, ascii_only=draw(st.booleans())))


@st.composite
def damaged(draw):
    """A valid message with bytes flipped, inserted, deleted, cut or spliced."""
    base = draw(st.sampled_from(VALID))
    raw = bytearray(base.value)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, max(0, len(raw) - 1)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "splice"]))
        if op == "flip" and raw:
            raw[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            raw[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del raw[i : i + draw(st.integers(1, 4))]
        elif op == "cut":
            del raw[i:]
        else:
            other = draw(st.sampled_from(VALID)).value
            raw = raw[:i] + other[draw(st.integers(0, len(other) - 1)) :]
    return Hostile(base.topic, draw(st.just(base.key) | _keys), bytes(raw))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=st.lists(structured(), min_size=1, max_size=6))
def test_structure_aware_inputs_are_tallied_or_rejected_and_totals_stay_exact(inputs):
    _assert_clean(Run(inputs))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=st.lists(damaged(), min_size=1, max_size=6))
def test_damaged_bytes_are_tallied_or_rejected_and_totals_stay_exact(inputs):
    _assert_clean(Run(inputs))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_generator_s_inputs_at_small_scale(seed):
    """Every mutation of producers/hostile/feed.py, a few thousand inputs, flushed as the worker does."""
    gen = HostileInputs(ELECTION, seed=seed, recs=fuzz._targets(ELECTION))
    labelled = list(gen.labelled(3000))
    run = Run(*[[h for _, h in labelled[i : i + 500]] for i in range(0, len(labelled), 500)])
    _assert_clean(run)
    codes = [c for out in run.outcomes[1:] for c in out]
    assert codes.count(None) > 100 and len(set(codes)) > 10  # some taken, many kinds refused
    assert run.stats.letters == sum(c is not None for c in codes)
    # the RECs no hostile input names are untouched, and equal the truth
    checked, pristine = fuzz.exactness(run.stats, run.harness.units, run.oracle, ELECTION, run.touched)
    assert set(gen.recs).isdisjoint(pristine) and checked > 0


def test_hostile_registry_records_go_through_the_follower_into_a_copy():
    gen = HostileInputs(ELECTION, seed=3)
    run = Run()
    scratch = build(ELECTION.registry)
    items = list(gen.registry_inputs(400))
    codes = run.harness.registry_round(scratch, items, 0)
    assert run.failures() == []
    assert BUG not in codes and codes.count(None) > 0 and len(set(codes)) > 5


def test_the_generator_is_deterministic():
    a = list(HostileInputs(ELECTION, seed=9).inputs(300))
    b = list(HostileInputs(ELECTION, seed=9).inputs(300))
    assert a == b and a != list(HostileInputs(ELECTION, seed=10).inputs(300))


# -- the named hostile inputs ---------------------------------------------------------------------
def _rejected_with_a_reason(name: str) -> Run:
    inputs = [h for h in KNOWN[name].inputs if h.topic != "registry"]
    run = Run(inputs)
    assert run.failures() == []
    for h, code in zip(inputs, run.outcomes[-1], strict=True):
        assert code is not None, f"{name}: accepted {fuzz.show_input(h)}"
        assert code != BUG
    assert run.stats.letters == len(inputs)
    registry = [h for h in KNOWN[name].inputs if h.topic == "registry"]
    if registry:
        codes = run.harness.registry_round(build(ELECTION.registry), registry, 0)
        assert None not in codes and BUG not in codes, codes
        assert run.failures() == []  # each with a reason (the harness checks every dead letter)
    assert run.exact() == []
    return run


@pytest.mark.parametrize(
    "name", ["deep_nesting", "far_time", "newline_id", "separator_tec", "huge_id", "count_overflow"]
)
def test_known_hostile_input_is_rejected_with_a_reason(name):
    _rejected_with_a_reason(name)


def test_known_huge_id_has_a_short_reason_and_a_bounded_dead_letter():
    run = _rejected_with_a_reason("huge_id")
    assert run.stats.letter_max <= run.harness.raw_limit + fuzz.SMALL_SLACK


def test_known_counts_at_the_bound_serialise_and_stay_exact():
    """Two reports of one TEC at the largest count the contract takes: accepted, the partial
    crosses as bytes, and the TEC's turnout is exactly their sum with the other stations'."""
    inputs = list(KNOWN["count_at_bound"].inputs)
    run = Run(inputs)
    assert run.outcomes[-1] == [None, None]
    assert run.failures() == [] and run.exact() == []
    tec = run.harness.registry.stations[orjson.loads(inputs[0].value)["station_id"]].tec_id
    assert run.harness.units[tec]["turnout"]["registered"] >= 2 * MAX_COUNT


def test_known_300_reports_of_one_station_are_bounded_and_make_bounded_series():
    inputs = list(KNOWN["many_reports"].inputs)
    run = Run(inputs)
    codes = run.outcomes[-1]
    assert codes[:MAX_SEQ] == [None] * MAX_SEQ  # the reports the contract takes ...
    assert all(c not in (None, BUG) for c in codes[MAX_SEQ:])  # ... and the rest refused
    assert run.failures() == [] and run.exact() == []

    def series(r: Run) -> int:
        metrics = Metrics.create(CollectorRegistry())
        metrics.tally.update(r.harness.units)
        name = "tabmon_turnout_report_voters"
        return sum(len(m.samples) for m in metrics.tally.collect() if m.name == name)

    n = series(run)
    recs = len(run.harness.registry.rec_tecs)
    assert n <= 3 * MAX_SEQ * (recs + 1)  # three figures per report, per REC and nationally
    assert n == series(Run(inputs[:MAX_SEQ])) == series(Run(inputs[:MAX_SEQ] + inputs[MAX_SEQ:][::-1]))


def test_known_summary_tie_shows_the_larger_record_whatever_the_flushes():
    """Reproducer (also through a real worker, load/fuzz.py --broker): on topic ``summaries``,
    key the TEC's id, its valid summary with ``stations_included`` 0, a flush, then the valid
    summary itself. The store keeps the second (the larger record), and so must the read
    model, whichever flush each came in (stage two's merge once kept the first, and a restart,
    a rebuild in one partial, then changed what it showed)."""
    first, second = KNOWN["summary_tie"].inputs
    run = Run([first], [second], valid=[h for h in VALID if h != second])  # the TEC's own comes last
    assert run.outcomes[1:] == [[None], [None]]
    unit = orjson.loads(second.value)["unit_id"]
    shown = run.harness.units[unit]["summary"]["stations_included"]
    assert shown == orjson.loads(second.value)["stations_included"], shown


def test_every_known_input_is_named_and_covered():
    assert set(KNOWN) == {
        "deep_nesting",
        "count_overflow",
        "count_at_bound",
        "far_time",
        "newline_id",
        "separator_tec",
        "many_reports",
        "huge_id",
        "summary_tie",
    }
    deep = KNOWN["deep_nesting"].inputs[0].value
    assert deep.count(b"[") == 1000 and 1900 < len(deep) < 2100
    assert len(orjson.loads(KNOWN["huge_id"].inputs[0].value)["station_id"]) >= 60_000


def test_the_oracle_agrees_with_the_truth_on_the_valid_events():
    """The harness's independent reference: on the clean election it is the generator's truth."""
    oracle = fuzz.Oracle(ELECTION.truth, PARTIES)
    for h in random.Random(1).sample(VALID, len(VALID)):  # any order
        oracle.add(h.topic, h.value)
    assert expected_totals(oracle.truth(), PARTIES) == expected_totals(ELECTION.truth, PARTIES)
