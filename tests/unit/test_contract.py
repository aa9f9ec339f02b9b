"""Contract v1 decoding: each rejection code and its reason, valid events, garbage."""

from __future__ import annotations

import copy
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.contract import DECODERS, Evote, Protocol, Summary, Turnout, build, parse
from monitor.contract import validate_record as validate_registry_record
from monitor.errors import ContractError
from producers.elections.synthetic import generate

LIMIT = 65536
TOPICS = ("turnout", "protocols", "summaries", "evote")
# The fixed figures of a protocol as CONTRACT.md lists them, in that order.
CONTRACT_FIGURES = (
    "registered",
    "added",
    "ballots_received",
    "ballots_cancelled",
    "issued_in_station",
    "issued_mobile",
    "voted_electronic",
    "ballots_found",
    "invalid",
)


@pytest.fixture(scope="module")
def election():
    return generate(40, 16, seed=1)


@pytest.fixture(scope="module")
def registry(election):
    return build(election.registry)


@pytest.fixture(scope="module")
def samples(election):
    """One valid (key, value) per input topic; protocol is a PEC one, summary a TEC one."""
    out = {}
    for e in election.events:
        if e.topic in out:
            continue
        if e.topic == "summaries" and e.value["level"] != "tec":
            continue
        out[e.topic] = (e.key, e.value)
    assert set(out) == set(TOPICS)
    return out


def decode(topic, obj, registry, key=None, limit=LIMIT):
    raw = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    return DECODERS[topic](parse(raw, limit), registry)  # the key is not read


def rejected(topic, obj, registry, key=None, limit=LIMIT) -> ContractError:
    with pytest.raises(ContractError) as info:
        decode(topic, obj, registry, key, limit)
    return info.value


def sample(samples, topic):
    key, value = samples[topic]
    return key.encode(), copy.deepcopy(value)


# --- valid events ------------------------------------------------------------------------------


def test_valid_turnout_decodes_to_its_values(samples, registry):
    key, v = sample(samples, "turnout")
    rec = decode("turnout", v, registry, key)
    assert rec == Turnout(
        v["station_id"], v["seq"], v["reported_at"], v["registered"], v["added"], v["voted"]
    )


def test_valid_evote_decodes_to_its_values(samples, registry):
    key, v = sample(samples, "evote")
    rec = decode("evote", v, registry, key)
    assert rec == Evote(v["station_id"], v["voter_token"], v["issued_at"])


def test_valid_protocol_figures_follow_contract_order_then_ballot_order(samples, registry):
    key, v = sample(samples, "protocols")
    # Distinct values per field, and the votes object written in reverse ballot order: the
    # vector must follow the contract's field order and the ballot, not the message.
    figures = {name: 100 + i for i, name in enumerate(CONTRACT_FIGURES)}
    parties = list(registry.parties)
    figures["votes"] = {p: 1000 + i for i, p in reversed(list(enumerate(parties)))}
    v["figures"] = figures
    v["source"], v["version"] = "observer", 3
    rec = decode("protocols", v, registry, key)
    assert isinstance(rec, Protocol)
    assert rec.station_id == v["station_id"] and rec.source == "observer" and rec.version == 3
    assert rec.recorded_at == v["recorded_at"]
    assert rec.figures == tuple(range(100, 109)) + tuple(range(1000, 1000 + len(parties)))


@pytest.mark.parametrize("topic", ["turnout", "protocols", "evote"])
def test_a_decoded_station_id_is_the_registrys_own_string(samples, registry, topic):
    """The stores key their state by it: one string per station, not one per event."""
    _key, v = sample(samples, topic)
    rec = decode(topic, v, registry)
    assert rec.station_id == v["station_id"]
    assert rec.station_id is registry.stations[v["station_id"]].station_id
    if topic == "protocols":
        assert rec.source is decode(topic, v, registry).source  # the source, one string too


def test_valid_protocol_from_the_generator(samples, registry):
    key, v = sample(samples, "protocols")
    rec = decode("protocols", v, registry, key)
    f = v["figures"]
    assert rec.figures[:9] == tuple(f[name] for name in CONTRACT_FIGURES)
    assert rec.figures[9:] == tuple(f["votes"][p] for p in registry.parties)
    assert len(rec.figures) == 9 + len(registry.parties)


@pytest.mark.parametrize("level", ["tec", "rec", "cec"])
def test_valid_summary_at_each_level(election, registry, level):
    e = next(e for e in election.events if e.topic == "summaries" and e.value["level"] == level)
    v = e.value
    rec = decode("summaries", v, registry, e.key.encode())
    assert isinstance(rec, Summary)
    assert (rec.level, rec.unit_id, rec.version) == (level, v["unit_id"], v["version"])
    assert rec.recorded_at == v["recorded_at"]
    assert rec.stations_included == v["stations_included"]
    f = v["figures"]
    expected = [f[name] for name in CONTRACT_FIGURES] + [f["votes"][p] for p in registry.parties]
    assert rec.figures == tuple(expected)


@pytest.mark.parametrize("topic", TOPICS)
def test_the_key_is_not_read(samples, registry, topic):
    """Where an event belongs follows from what it is about (monitor.tally.route): a missing
    or another station's key changes nothing."""
    key, v = sample(samples, topic)
    other = next(s for s in registry.stations if s.encode() != key).encode()
    assert (
        decode(topic, v, registry, None)
        == decode(topic, v, registry, key)
        == decode(topic, v, registry, other)
    )


@pytest.mark.parametrize("topic", TOPICS)
def test_unknown_extra_fields_are_ignored(samples, registry, topic):
    key, v = sample(samples, topic)
    base = decode(topic, v, registry, key)
    v["comment"] = "entered by hand"
    v["extra"] = {"nested": [1, 2, {"x": None}]}
    v["v2_field"] = -5  # a negative number in an unknown field is not a count
    if "figures" in v:
        v["figures"]["notes"] = "smudged"
    assert decode(topic, v, registry, key) == base


def test_every_generated_event_decodes(election, registry):
    for e in election.events:
        decode(e.topic, e.value, registry, e.key.encode())


# --- rejections --------------------------------------------------------------------------------


def test_oversized(samples, registry):
    key, v = sample(samples, "turnout")
    raw = orjson.dumps(v)
    assert decode("turnout", raw, registry, key, limit=len(raw)).station_id == v["station_id"]
    exc = rejected("turnout", raw, registry, key, limit=len(raw) - 1)
    assert exc.code == "oversized"
    assert str(len(raw)) in exc.detail and str(len(raw) - 1) in exc.detail


@pytest.mark.parametrize(
    "raw", [b'{"type": "turnout", "v": 1', b"", b"\xff\xfe{}", b"{'v': 1}", b'{"v": 1} trailing']
)
def test_malformed_json(registry, raw):
    exc = rejected("turnout", raw, registry)
    assert exc.code == "malformed_json"
    assert "JSON" in exc.detail


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"[1, 2]", "list"), (b'"turnout"', "str"), (b"1", "int"), (b"null", "NoneType")]
)
def test_not_an_object(registry, raw, kind):
    exc = rejected("turnout", raw, registry)
    assert exc.code == "not_an_object"
    assert kind in exc.detail


@pytest.mark.parametrize("v", [2, 0, "1", 1.0, True, None, [1]])
def test_bad_version(samples, registry, v):
    key, obj = sample(samples, "turnout")
    obj["v"] = v
    exc = rejected("turnout", obj, registry, key)
    assert exc.code == "bad_version"
    assert "'v'" in exc.detail and repr(v) in exc.detail


def test_missing_version(samples, registry):
    key, obj = sample(samples, "evote")
    del obj["v"]
    exc = rejected("evote", obj, registry, key)
    assert exc.code == "bad_version" and "None" in exc.detail


REQUIRED = {
    "turnout": ["station_id", "seq", "reported_at", "registered", "added", "voted"],
    "protocols": [
        "station_id",
        "source",
        "version",
        "recorded_at",
        "figures",
        *(f"figures.{f}" for f in CONTRACT_FIGURES),
        "figures.votes",
    ],
    "summaries": [
        "level",
        "unit_id",
        "version",
        "recorded_at",
        "stations_included",
        "figures",
        *(f"figures.{f}" for f in CONTRACT_FIGURES),
        "figures.votes",
    ],
    "evote": ["station_id", "voter_token", "issued_at"],
}


def _split(path):
    return path.split(".") if isinstance(path, str) else list(path)


def _delete(obj, path):
    *parents, last = _split(path)
    for p in parents:
        obj = obj[p]
    del obj[last]


def _set(obj, path, value):
    *parents, last = _split(path)
    for p in parents:
        obj = obj[p]
    obj[last] = value


@pytest.mark.parametrize(("topic", "path"), [(t, p) for t, paths in REQUIRED.items() for p in paths])
def test_missing_field(samples, registry, topic, path):
    key, obj = sample(samples, topic)
    _delete(obj, path)
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "missing_field"
    assert path.split(".")[-1] in exc.detail


COUNTS = {
    "turnout": ["seq", "registered", "added", "voted"],
    "protocols": [
        "version",
        *(f"figures.{f}" for f in CONTRACT_FIGURES),
        "figures.votes.Nur Otan",
        "figures.votes.CPPK",
    ],
    "summaries": ["version", "stations_included", "figures.invalid", "figures.votes.ANSDP"],
}
COUNT_CASES = [(t, p) for t, paths in COUNTS.items() for p in paths]


@pytest.mark.parametrize(("topic", "path"), COUNT_CASES)
@pytest.mark.parametrize("bad", ["12", 12.0, 12.5, [12], {"n": 12}])
def test_count_of_wrong_type(samples, registry, topic, path, bad):
    key, obj = sample(samples, topic)
    _set(obj, path, bad)
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "wrong_type"
    assert path.split(".")[-1] in exc.detail and repr(bad) in exc.detail


@pytest.mark.parametrize(("topic", "path"), COUNT_CASES)
@pytest.mark.parametrize("flag", [True, False])
def test_bool_is_not_a_count(samples, registry, topic, path, flag):
    """True == 1 and isinstance(True, int) in Python; the contract wants JSON integers."""
    key, obj = sample(samples, topic)
    _set(obj, path, flag)
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "wrong_type"
    assert path.split(".")[-1] in exc.detail and repr(flag) in exc.detail


@pytest.mark.parametrize(("topic", "path"), COUNT_CASES)
def test_negative_count(samples, registry, topic, path):
    key, obj = sample(samples, topic)
    _set(obj, path, -3)
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "negative_count"
    assert path.split(".")[-1] in exc.detail and "-3" in exc.detail


@pytest.mark.parametrize(
    ("topic", "path", "bad"),
    [
        ("turnout", "station_id", 811),
        ("turnout", "station_id", ""),
        ("evote", "voter_token", ""),
        ("evote", "voter_token", None),
        ("evote", "issued_at", 1187445600),
        ("summaries", "unit_id", ["AKM"]),
        ("protocols", "figures", [1, 2, 3]),
        ("protocols", "figures.votes", [1, 2, 3]),
    ],
)
def test_wrong_type_of_other_fields(samples, registry, topic, path, bad):
    key, obj = sample(samples, topic)
    _set(obj, path, bad)
    exc = rejected(topic, obj, registry, key if path != "unit_id" else None)
    assert exc.code == "wrong_type"
    assert path.split(".")[-1] in exc.detail


@pytest.mark.parametrize("topic", TOPICS)
def test_event_of_another_type_on_a_topic(samples, registry, topic):
    other = {"turnout": "evote", "protocols": "turnout", "summaries": "protocol", "evote": "summary"}[topic]
    key, obj = sample(samples, topic)
    obj["type"] = other
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "wrong_type"
    assert repr(other) in exc.detail


def test_zero_seq_or_version_is_rejected(samples, registry):
    key, obj = sample(samples, "turnout")
    obj["seq"] = 0
    exc = rejected("turnout", obj, registry, key)
    assert exc.code == "wrong_type"
    assert "'seq'" in exc.detail and ">= 1" in exc.detail


@pytest.mark.parametrize("topic", ["turnout", "protocols", "evote"])
def test_unknown_station(samples, registry, topic):
    key, obj = sample(samples, topic)
    obj["station_id"] = "AKM-99999"
    assert "AKM-99999" not in registry.stations
    exc = rejected(topic, obj, registry, b"AKM-99999")
    assert exc.code == "unknown_station"
    assert "AKM-99999" in exc.detail


TIMES = {
    "turnout": "reported_at",
    "protocols": "recorded_at",
    "summaries": "recorded_at",
    "evote": "issued_at",
}


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize(
    "bad",
    [
        "yesterday evening",
        "2007-08-18 at 20:00",
        "18/08/2007 20:00",
        "2007-08-18T20:00:00+24:00",
        "2007-13-01T20:00:00+06:00",
    ],
)
def test_bad_time(samples, registry, topic, bad):
    key, obj = sample(samples, topic)
    obj[TIMES[topic]] = bad
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "bad_time"
    assert TIMES[topic] in exc.detail and repr(bad) in exc.detail


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("naive", ["2007-08-18T20:00:00", "2007-08-18", "2007-08-18T20:00"])
def test_time_without_utc_offset(samples, registry, topic, naive):
    key, obj = sample(samples, topic)
    obj[TIMES[topic]] = naive
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "bad_time"
    assert "offset" in exc.detail and repr(naive) in exc.detail
    # ... and the same time with an offset (or Z) is fine.
    for ok in ("2007-08-18T20:00:00+06:00", "2007-08-18T14:00:00Z"):
        obj[TIMES[topic]] = ok
        decode(topic, obj, registry, key)


@pytest.mark.parametrize("source", ["voter", "PEC", "", None, 1])
def test_bad_source(samples, registry, source):
    key, obj = sample(samples, "protocols")
    obj["source"] = source
    exc = rejected("protocols", obj, registry, key)
    assert exc.code == "bad_source"
    assert repr(source) in exc.detail


@pytest.mark.parametrize("source", ["pec", "observer", "tec", "rec", "cec"])
def test_every_contract_source_accepted(samples, registry, source):
    key, obj = sample(samples, "protocols")
    obj["source"] = source
    assert decode("protocols", obj, registry, key).source == source


@pytest.mark.parametrize("level", ["pec", "station", "TEC", "", None])
def test_bad_level(samples, registry, level):
    key, obj = sample(samples, "summaries")
    obj["level"] = level
    exc = rejected("summaries", obj, registry, key)
    assert exc.code == "bad_level"
    assert repr(level) in exc.detail


def test_unknown_unit(samples, registry):
    _, obj = sample(samples, "summaries")
    rec = next(iter(registry.rec_tecs))
    tec = registry.rec_tecs[rec][0]
    cases = [
        ("rec", "XYZ"),  # no such region
        ("tec", f"{rec}-T99"),  # no such TEC
        ("rec", tec),  # a TEC id as a REC
        ("tec", rec),  # a REC id as a TEC
        ("cec", rec),  # only KZ is the CEC
        ("rec", "KZ"),
    ]
    for level, uid in cases:
        bad = dict(obj, level=level, unit_id=uid)
        exc = rejected("summaries", bad, registry, uid.encode())
        assert exc.code == "unknown_unit", (level, uid)
        assert repr(uid) in exc.detail and level in exc.detail


def test_known_units_at_each_level(samples, registry):
    _, obj = sample(samples, "summaries")
    rec = next(iter(registry.rec_tecs))
    for level, uid in [("cec", "KZ"), ("rec", rec), ("tec", registry.rec_tecs[rec][0])]:
        got = decode("summaries", dict(obj, level=level, unit_id=uid), registry, uid.encode())
        assert (got.level, got.unit_id) == (level, uid)


@pytest.mark.parametrize("topic", ["protocols", "summaries"])
def test_missing_party(samples, registry, topic):
    key, obj = sample(samples, topic)
    del obj["figures"]["votes"]["Nur Otan"]
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "missing_party"
    assert "Nur Otan" in exc.detail


@pytest.mark.parametrize("topic", ["protocols", "summaries"])
def test_unknown_party(samples, registry, topic):
    key, obj = sample(samples, topic)
    obj["figures"]["votes"]["Greens of Kazakhstan"] = 0
    exc = rejected(topic, obj, registry, key)
    assert exc.code == "unknown_party"
    assert "Greens of Kazakhstan" in exc.detail


def test_party_renamed_is_missing(samples, registry):
    key, obj = sample(samples, "protocols")
    votes = obj["figures"]["votes"]
    votes["Nur-Otan"] = votes.pop("Nur Otan")
    exc = rejected("protocols", obj, registry, key)
    assert exc.code == "missing_party" and "Nur Otan" in exc.detail


@pytest.mark.parametrize("topic", ["protocols", "summaries"])
def test_no_ballot(election, samples, topic):
    no_ballot = build([r for r in election.registry if r["type"] != "ballot"])
    assert no_ballot.parties == ()
    key, obj = sample(samples, topic)
    exc = rejected(topic, obj, no_ballot, key)
    assert exc.code == "no_ballot"
    assert "ballot" in exc.detail or "parties" in exc.detail
    # Station events without figures do not need the ballot.
    tkey, turnout = sample(samples, "turnout")
    decode("turnout", turnout, no_ballot, tkey)


def test_error_carries_code_and_detail_in_its_message(samples, registry):
    key, obj = sample(samples, "turnout")
    obj["voted"] = -1
    exc = rejected("turnout", obj, registry, key)
    assert str(exc) == f"{exc.code}: {exc.detail}"


# --- registry records --------------------------------------------------------------------------


def test_registry_record_version_must_be_integer_one(election):
    rec = dict(election.registry[1])
    validate_registry_record(rec)
    for v in (True, 1.0, 2, None):
        with pytest.raises(ContractError) as info:
            validate_registry_record(dict(rec, v=v))
        assert info.value.code == "bad_version"


# --- garbage never crashes ---------------------------------------------------------------------

_IDS = [
    "AKM-1",
    "AKM-T01",
    "AKM",
    "KZ",
    "ALR-811",
    "MAN-T03",
    "Nur Otan",
    "ANSDP",
    "pec",
    "cec",
    "tec",
    "rec",
    "turnout",
    "protocol",
    "summary",
    "evote",
    "2007-08-18T20:00:00+06:00",
    "2007-08-18T20:00:00",
    "2007-08-18",
    "+06:00",
    "\u0000",
    "\ud800",
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(_IDS)
)
_json = st.recursive(
    _scalars,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(_IDS), kids, max_size=4)
    ),
    max_leaves=8,
)
_keys = (
    st.none() | st.binary(max_size=10) | st.sampled_from([s.encode("utf-8", "surrogatepass") for s in _IDS])
)


def _paths(obj, prefix=()):
    for k, v in obj.items():
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from _paths(v, (*prefix, k))


def _must_not_crash(raw, key, registry):
    for topic in TOPICS:
        try:
            DECODERS[topic](parse(raw, 4096), registry)
        except ContractError as exc:
            assert exc.code and exc.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=300), key=_keys)
def test_random_bytes_only_raise_contract_errors(registry, raw, key):
    _must_not_crash(raw, key, registry)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_json, key=_keys)
def test_random_json_only_raises_contract_errors(registry, value, key):
    _must_not_crash(json.dumps(value).encode(), key, registry)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), topic=st.sampled_from(TOPICS), key=_keys)
def test_mutated_valid_events_only_raise_contract_errors(samples, registry, data, topic, key):
    """Start from a valid event, then replace, delete or add fields with random JSON."""
    obj = copy.deepcopy(samples[topic][1])
    for _ in range(data.draw(st.integers(1, 4))):
        paths = list(_paths(obj))
        action = data.draw(st.sampled_from(["set", "delete", "add"]))
        if action == "add" or not paths:
            obj[data.draw(st.text(max_size=6) | st.sampled_from(_IDS))] = data.draw(_json)
            continue
        path = data.draw(st.sampled_from(paths))
        if action == "delete":
            _delete(obj, path)
        else:
            _set(obj, path, data.draw(_json))
    raw = json.dumps(obj).encode()
    _must_not_crash(raw, key, registry)
    # Byte-level damage to the same message.
    if raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        cut = data.draw(st.integers(0, 3))
        damaged = raw[:i] + data.draw(st.binary(max_size=3)) + raw[i + cut :]
        _must_not_crash(damaged, key, registry)
