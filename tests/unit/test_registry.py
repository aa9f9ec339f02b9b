"""The station registry: building, levels, station counts, loading files, record validation."""

from __future__ import annotations

import copy
from collections import Counter

import orjson
import pytest

from monitor.contract import CEC_ID, build, load_records
from monitor.contract import validate_record as validate_registry_record
from monitor.errors import ConfigError, ContractError
from producers.elections.synthetic import generate


@pytest.fixture(scope="module")
def election():
    return generate(40, 16, seed=1)


@pytest.fixture
def records(election):
    return copy.deepcopy(election.registry)


@pytest.fixture(scope="module")
def registry(election):
    return build(election.registry)


def _of(records, kind, **match):
    return [r for r in records if r["type"] == kind and all(r[k] == v for k, v in match.items())]


def test_build_applies_every_record(records, registry):
    stations = _of(records, "station")
    units = _of(records, "unit")
    ballot = _of(records, "ballot")[0]
    assert registry.parties == tuple(ballot["parties"])
    assert set(registry.stations) == {s["station_id"] for s in stations}
    assert len(registry.stations) == 40
    assert set(registry.rec_tecs) == {u["unit_id"] for u in units if u["level"] == "rec"}
    assert set(registry.tec_rec) == {u["unit_id"] for u in units if u["level"] == "tec"}
    assert len(registry.tec_rec) == 16
    for u in units:
        assert registry.names[u["unit_id"]] == u["name"]
        if u["level"] == "tec":
            assert registry.tec_rec[u["unit_id"]] == u["parent_id"]
            assert u["unit_id"] in registry.rec_tecs[u["parent_id"]]
    for s in stations:
        st = registry.stations[s["station_id"]]
        assert (st.tec_id, st.rec_id, st.name) == (s["tec_id"], s["rec_id"], s["name"])
        assert (st.registered_baseline, st.evoting) == (s["registered_baseline"], s["evoting"])
        assert s["station_id"] in registry.tec_stations[s["tec_id"]]


def test_summary_line_counts(registry):
    n_rec = len(registry.rec_tecs)
    assert registry.summary() == f"{n_rec} RECs, 16 TECs, 40 stations, 7 parties"


def test_level_of(records, registry):
    assert registry.level_of(CEC_ID) == "cec"
    for u in _of(records, "unit"):
        assert registry.level_of(u["unit_id"]) == u["level"]
    for s in _of(records, "station"):
        assert registry.level_of(s["station_id"]) == "pec"
    for unknown in ("XYZ", "AKM-T99", "AKM-99999", ""):
        with pytest.raises(KeyError):
            registry.level_of(unknown)


def test_stations_in_each_level(records, registry):
    stations = _of(records, "station")
    per_rec = Counter(s["rec_id"] for s in stations)
    per_tec = Counter(s["tec_id"] for s in stations)
    assert registry.stations_in(CEC_ID) == len(stations) == 40
    for u in _of(records, "unit", level="tec"):
        assert registry.stations_in(u["unit_id"]) == per_tec[u["unit_id"]]
    for u in _of(records, "unit", level="rec"):
        rec = u["unit_id"]
        assert registry.stations_in(rec) == per_rec[rec]
        assert registry.stations_in(rec) == sum(registry.stations_in(t) for t in registry.rec_tecs[rec])
    assert sum(registry.stations_in(r) for r in registry.rec_tecs) == 40
    assert registry.stations_in(stations[0]["station_id"]) == 1
    with pytest.raises(KeyError):
        registry.stations_in("XYZ")


def test_station_moved_to_a_new_tec_of_its_rec(records):
    """A REC with two TECs counts the stations of both; moving a station moves its count."""
    reg = build(records)
    rec = next(r for r in reg.rec_tecs if reg.stations_in(r) >= 2)
    assert len(reg.rec_tecs[rec]) == 1  # 16 TECs for 16 RECs: one each
    a = reg.rec_tecs[rec][0]
    b = f"{rec}-T{len(reg.tec_rec) + 50:02d}"
    assert b not in reg.tec_rec
    before = reg.stations_in(a)
    unit = {"type": "unit", "v": 1, "level": "tec", "unit_id": b, "parent_id": rec, "name": "New TEC"}
    moved = dict(_of(records, "station", station_id=reg.tec_stations[a][0])[0], tec_id=b)
    reg = build([*records, unit, moved])
    assert reg.rec_tecs[rec] == [a, b]
    assert reg.level_of(b) == "tec"
    assert reg.stations[moved["station_id"]].tec_id == b
    assert (reg.stations_in(a), reg.stations_in(b)) == (before - 1, 1)
    assert reg.stations_in(rec) == before == reg.stations_in(a) + reg.stations_in(b)
    assert reg.stations_in(CEC_ID) == 40
    reg.apply(moved)  # the same record again changes nothing
    assert (reg.stations_in(a), reg.stations_in(b), reg.stations_in(rec)) == (before - 1, 1, before)


def test_load_records_from_json_array(tmp_path, records):
    path = tmp_path / "registry.json"
    path.write_bytes(b"  \n" + orjson.dumps(records, option=orjson.OPT_INDENT_2))
    assert load_records(path) == records
    assert load_records(str(path)) == records


def test_load_records_from_json_lines(tmp_path, records):
    path = tmp_path / "registry.jsonl"
    lines = [orjson.dumps(r) for r in records]
    lines.insert(3, b"   ")  # blank lines are skipped
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    loaded = load_records(path)
    assert loaded == records
    assert build(loaded).stations_in(CEC_ID) == 40


def _one_line_config_error(fn, *args) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    msg = _one_line_config_error(load_records, path)
    assert str(path) in msg


def test_directory_is_not_a_registry_file(tmp_path):
    msg = _one_line_config_error(load_records, tmp_path)
    assert str(tmp_path) in msg


@pytest.mark.parametrize(
    "content",
    [b"AKM,Akmola\nAKT,Aktobe\n", b'[{"type": "unit",', b'{"type": "unit"}\n{"type": \n', b"\xff\xfe\x00"],
)
def test_non_json_file(tmp_path, content):
    path = tmp_path / "registry.csv"
    path.write_bytes(content)
    msg = _one_line_config_error(load_records, path)
    assert str(path) in msg and "JSON" in msg


@pytest.mark.parametrize("content", [b"[1, 2]", b'{"a": 1}\n[2]\n', b'"registry"', b"42\n"])
def test_file_of_non_objects(tmp_path, content):
    path = tmp_path / "registry.json"
    path.write_bytes(content)
    msg = _one_line_config_error(load_records, path)
    assert str(path) in msg and "objects" in msg


def test_bad_record_is_named_by_number(records):
    records[4] = dict(records[4], v=2)
    msg = _one_line_config_error(build, records, "regs.json")
    assert msg.startswith("regs.json: record 5:")
    assert "'v'" in msg


def test_bad_station_record_named_in_file_order(tmp_path, records):
    i = next(i for i, r in enumerate(records) if r["type"] == "station")
    records[i] = dict(records[i], registered_baseline=-10)
    path = tmp_path / "registry.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records))
    msg = _one_line_config_error(build, load_records(path), str(path))
    assert f"record {i + 1}:" in msg and str(path) in msg and "registered_baseline" in msg


# --- validate_registry_record ------------------------------------------------------------------


def test_every_generated_record_is_valid(records):
    for r in records:
        validate_registry_record(r)


def _station(records):
    return dict(_of(records, "station")[0])


def _reject(record) -> ContractError:
    with pytest.raises(ContractError) as info:
        validate_registry_record(record)
    return info.value


def test_station_id_must_match_its_rec(records):
    st = _station(records)
    other = next(r for r in ("AKM", "AKT", "ALR") if r != st["rec_id"])
    bad = dict(st, station_id=f"{other}-{st['station_id'].split('-')[1]}")
    exc = _reject(bad)
    assert exc.code == "unknown_unit" and bad["station_id"] in exc.detail


@pytest.mark.parametrize("sid", ["811", "ALR811", "ALR-", "alr-811", "ALR-T01", "XYZ-811"])
def test_malformed_station_id(sid):
    exc = _reject(
        {
            "type": "station",
            "v": 1,
            "station_id": sid,
            "tec_id": "ALR-T01",
            "rec_id": "ALR",
            "name": "PS",
            "registered_baseline": 1000,
            "evoting": False,
        }
    )
    assert exc.code == "unknown_unit" and repr(sid) in exc.detail


def test_station_in_a_tec_of_another_rec(records):
    st = _station(records)
    other = next(r for r in ("AKM", "AKT", "ALR") if r != st["rec_id"])
    exc = _reject(dict(st, tec_id=f"{other}-T01"))
    assert exc.code == "unknown_unit" and st["station_id"] in exc.detail


def test_tec_under_the_wrong_rec():
    good = {"type": "unit", "v": 1, "level": "tec", "unit_id": "MAN-T03", "parent_id": "MAN", "name": "Aktau"}
    validate_registry_record(good)
    exc = _reject(dict(good, parent_id="AKM"))
    assert exc.code == "unknown_unit" and "MAN-T03" in exc.detail and "AKM" in exc.detail
    exc = _reject(dict(good, unit_id="MAN-3"))
    assert exc.code == "unknown_unit" and "MAN-3" in exc.detail


def test_rec_must_be_a_region_under_the_cec():
    good = {"type": "unit", "v": 1, "level": "rec", "unit_id": "MAN", "parent_id": "KZ", "name": "Manghystau"}
    validate_registry_record(good)
    for bad in (dict(good, unit_id="XYZ"), dict(good, parent_id="AKM")):
        exc = _reject(bad)
        assert exc.code == "unknown_unit" and repr(bad["unit_id"]) in exc.detail
    exc = _reject(dict(good, level="pec"))
    assert exc.code == "bad_level" and "pec" in exc.detail


@pytest.mark.parametrize(
    "parties", [["Nur Otan", "ANSDP", "Nur Otan"], [], ["Nur Otan", ""], ["Nur Otan", 7], "Nur Otan"]
)
def test_bad_ballot(parties):
    exc = _reject({"type": "ballot", "v": 1, "parties": parties})
    assert exc.code == "wrong_type" and "parties" in exc.detail


def test_ballot_without_parties():
    exc = _reject({"type": "ballot", "v": 1})
    assert exc.code == "missing_field" and "parties" in exc.detail


@pytest.mark.parametrize("evoting", [1, 0, "true", None])
def test_evoting_must_be_a_bool(records, evoting):
    exc = _reject(dict(_station(records), evoting=evoting))
    assert exc.code == "wrong_type" and "evoting" in exc.detail


def test_station_baseline_is_a_count(records):
    exc = _reject(dict(_station(records), registered_baseline=True))
    assert exc.code == "wrong_type" and "registered_baseline" in exc.detail


def test_unknown_record_type_and_non_objects():
    assert _reject({"type": "party", "v": 1}).code == "unknown_type"
    assert _reject(["station"]).code == "not_an_object"
    assert _reject({"type": "ballot", "v": 2, "parties": ["A"]}).code == "bad_version"
