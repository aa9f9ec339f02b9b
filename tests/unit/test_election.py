"""The election definition: the built-in ones load, every mistake is one line, relations hold."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from monitor.cli.main import main
from monitor.election import BUILTIN, DefinitionError, ExpressionError, builtin_names, load, parse
from monitor.election.expr import compile_expression, compile_relation, figure_names

KZ2007 = yaml.safe_load((BUILTIN / "kz2007.yaml").read_text())


def _with(change) -> dict:
    raw = copy.deepcopy(KZ2007)
    change(raw)
    return raw


def _problems(raw: dict) -> list[str]:
    with pytest.raises(DefinitionError) as exc:
        parse(yaml.safe_dump(raw), "test")
    return exc.value.problems


def test_three_definitions_are_built_in():
    assert builtin_names() == ["indonesia", "kz2007", "kz2023"]
    shapes = {n: load(n) for n in builtin_names()}
    assert shapes["kz2007"].levels == ("cec", "rec", "tec", "pec")
    assert len(shapes["indonesia"].levels) == 6
    assert not shapes["kz2007"].file.election.synthetic
    assert shapes["kz2023"].file.election.synthetic and shapes["indonesia"].file.election.synthetic
    # kz2023: one national list and 29 single-member districts, each its own contest
    contests = shapes["kz2023"].contests
    assert [c.level for c in contests].count("okrug") == 29
    assert len({c.unit for c in contests if c.level == "okrug"}) == 29


def test_kz2007_keeps_the_drills_rules():
    d = load("kz2007")
    assert d.fields[:2] == ("registered", "added") and len(d.fields) == 9
    assert d.summary_levels == ("cec", "rec", "tec")
    assert d.sources == ("pec", "observer", "tec", "rec", "cec")
    assert d.official_rank["cec"] > d.official_rank["rec"] > d.official_rank["tec"] > d.official_rank["pec"]
    assert "observer" not in d.official_rank
    assert d.polls_close.isoformat() == "2007-08-18T20:00:00+06:00"
    assert [t.hour for t in d.report_times] == [10, 12, 14, 16, 18, 20]
    seats = d.contest("majilis").seats
    assert seats is not None and (seats.seats, seats.threshold, seats.threshold_base) == (
        98,
        0.07,
        "participants",
    )


@pytest.mark.parametrize(
    ("level", "unit", "ancestors"),
    [
        ("tec", "AKM-T01", {"rec": "AKM"}),
        ("pec", "ALA-123456", {"rec": "ALA"}),
        ("tec", "XXX-T01", None),  # not one of the 16 regions
        ("pec", "AKM-1234567", None),
        ("pec", "AKM-12\n", None),  # matched whole
        ("rec", "AKM", {}),
        ("cec", "KZ", {}),
    ],
)
def test_unit_ids_match_their_level_whole(level, unit, ancestors):
    assert load("kz2007").patterns[level].match(unit) == ancestors


def test_ancestors_nest_through_six_levels():
    p = load("indonesia").patterns["tps"]
    assert p.match("31.71.01.1001-003") == {"kelurahan": "31.71.01.1001"}
    assert p.match("31.71.01.100-003") is None
    assert load("indonesia").patterns["kelurahan"].match("31.71.01.1001") == {"kecamatan": "31.71.01"}


# An oracle written apart from the definition: CONTRACT.md's five relations, by hand.
def _contract_breaks(f: tuple[int, ...]) -> list[str]:
    reg, add, rec, canc, ins, mob, ev, found, inv = f[:9]
    valid = sum(f[9:])
    out = []
    if rec != ins + mob + canc:
        out.append("ballots_received = issued_in_station + issued_mobile + ballots_cancelled")
    if found > ins + mob:
        out.append("ballots_found <= issued_in_station + issued_mobile")
    if found + ev != inv + valid:
        out.append("ballots_found + voted_electronic = invalid + sum(votes)")
    if ins + mob + ev > reg:
        out.append("issued_in_station + issued_mobile + voted_electronic <= registered")
    if add > reg:
        out.append("added <= registered")
    return out


@given(st.lists(st.integers(0, 60), min_size=9, max_size=16))
def test_kz2007_relations_are_the_contracts(figures):
    f = tuple(figures)
    assert load("kz2007").broken(f) == _contract_breaks(f)


def test_quantities_compile_from_fields_and_each_other():
    d = load("kz2007")
    f = (1000, 5, 600, 10, 500, 40, 30, 530, 7, 300, 253)
    assert d.quantity("issued", f) == 540
    assert d.quantity("participants", f) == 570
    assert load("indonesia").quantity("registered", (200, 5, 3, *(0,) * 9, 1, 1, 1)) == 208


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a <= registered", "unknown name 'a'"),
        ("registered", "compares two expressions"),
        ("registered * added <= 1", "only a whole number may multiply"),
        ("registered <= registered", "compares no figure"),
        ("registered <= 1e5", "unexpected 'e5'"),
        ("registered <= (added", "ends too early"),
        ("registered <= added)", "unexpected ')'"),
        ("sum(added) <= registered", "sum(...) takes only 'votes'"),
        ("registered <= added <= 3", "unexpected '<='"),
        ("__import__('os') = 1", 'unexpected "__import__'),
        ("registered <= " + "1" * 13, "too large"),
        ("added <= " + " + ".join(["registered"] * 200), "at most 500 characters"),
    ],
)
def test_a_bad_relation_says_why(text, message):
    names = figure_names(load("kz2007").fields)
    with pytest.raises(ExpressionError, match=None) as exc:
        compile_relation(text, names, 9)
    assert message in str(exc.value)


def test_expressions_are_linear_and_exact():
    names = figure_names(("a", "b"))
    e = compile_expression("2 * (a - b) + -b + 3 * 4 - sum(votes)", names)
    assert e((5, 1, 7, 2), 2) == 2 * 4 - 1 + 12 - 9
    r = compile_relation("a = 2*b", names, 2)
    assert r.holds((4, 2)) and not r.holds((4, 3))
    assert compile_relation("a > b", names, 2).holds((3, 2))
    assert not compile_relation("a < b", names, 2).holds((3, 3))
    assert compile_relation("a >= b", names, 2).holds((3, 3))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r["levels"][2].update(parent="cec"), "levels[2].parent: is 'cec', must be 'rec'"),
        (lambda r: r["levels"][0].update(parent="rec"), "levels[0].parent: is 'rec', must be absent"),
        (
            lambda r: r["levels"][2].update(pattern="{pec}-T1"),
            "levels[2].pattern: {pec} is not a level above",
        ),
        (
            lambda r: r["levels"][2].update(pattern="[unclosed"),
            "levels[2].pattern: Value error, not a regular",
        ),
        (
            lambda r: r["levels"][0].update(pattern="[A-Z]{2}"),
            "levels[0].pattern: the top level has one unit",
        ),
        (lambda r: r["levels"][3].update(summaries=True), "levels[3].summaries: the last level"),
        (lambda r: r["levels"][1].update(cdf_type="region"), "levels[1].cdf_type: Input should be"),
        (lambda r: r["levels"][1].update(colour="red"), "levels[1].colour: unknown key (a typo?)"),
        (lambda r: r["sources"].append({"id": "pec", "name": "again"}), "sources: 'pec' appears twice"),
        (lambda r: r["sources"][0].update(level="tec"), "sources: one source is the station's own"),
        (lambda r: r["sources"][1].update(level="ward"), "sources[1].level: 'ward' is not a level"),
        (lambda r: r["fields"].append({"id": "votes", "name": "v"}), "fields: 'votes' is reserved"),
        (
            lambda r: r["relations"][0].update(check="ballots_received = nothing"),
            "relations[0].check: unknown",
        ),
        (lambda r: r["quantities"].pop(), "quantities: 'participants'"),
        (
            lambda r: r["quantities"].append({"id": "registered", "name": "x", "expr": "added"}),
            "quantities[2].id: 'registered' is already",
        ),
        (lambda r: r["contests"][0].update(level="pec"), "contests[0].level: 'pec' is not a level above"),
        (
            lambda r: r["contests"][0]["seats"].update(method="plurality"),
            "contests[0].seats: plurality elects one",
        ),
        (lambda r: r["contests"][0]["seats"].update(threshold=1.5), "contests[0].seats.threshold"),
        (lambda r: r["turnout"].update(reports=["12:00", "10:00"]), "turnout.reports: times must rise"),
        (
            lambda r: r["turnout"].update(reports=["21:00"]),
            "turnout.reports: the last report is at or before",
        ),
        (lambda r: r["election"].update(timezone="Mars/Olympus"), "election.timezone: unknown time zone"),
        (lambda r: r["election"].update(polls_open="21:00"), "election.polls_open: must be before"),
        (lambda r: r["election"].pop("synthetic"), "election.synthetic: required and missing"),
        (lambda r: r["election"].update(id="KZ 2007"), "election.id: 'KZ 2007' must be lower-case"),
        (lambda r: r.update(detectors={"turnout_warnin": 0.9}), "detectors.turnout_warnin: not a detector"),
        (lambda r: r.update(detectors={"min_voters": 2.5}), "detectors.min_voters: must be a whole number"),
        (
            lambda r: r["alerting"]["desks"].update(XYZ="desk-x"),
            "alerting.desks: 'XYZ' is not an id of level",
        ),
        (lambda r: r.update(tabmon_definition=2), "tabmon_definition: Input should be 1"),
    ],
)
def test_every_mistake_is_one_line_naming_where(change, problem):
    problems = _problems(_with(change))
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems[0]
    assert "\n" not in problems[0]


def test_several_mistakes_are_all_reported():
    def two(r):
        r["levels"][2]["parent"] = "cec"
        r["turnout"]["reports"] = ["12:00", "10:00"]

    assert len(_problems(_with(two))) == 2


def test_a_file_that_is_not_yaml_or_json_says_so(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("levels: [\n")
    with pytest.raises(DefinitionError, match=r"not valid YAML at line \d"):
        load(bad)
    bad.write_text('{"levels": ')
    with pytest.raises(DefinitionError, match="not valid JSON"):
        load(bad)
    bad.write_text("- a list\n")
    with pytest.raises(DefinitionError, match="the file: Input should be"):
        load(bad)


def test_json_and_yaml_say_the_same(tmp_path: Path):
    import orjson

    path = tmp_path / "kz.json"
    path.write_bytes(orjson.dumps(KZ2007))
    assert load(path).file == load("kz2007").file


def test_definition_check_prints_a_line_per_mistake(tmp_path: Path, capsys):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(_with(lambda r: r["levels"][2].update(parent="cec", colour=1))))
    assert main(["definition", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tabmon: error: election definition {path}: levels[2].colour")
    path.write_text(yaml.safe_dump(_with(lambda r: r["levels"][2].update(parent="cec"))))
    assert main(["definition", "check", str(path)]) == 2
    assert "levels[2].parent" in capsys.readouterr().err
    assert main(["definition", "check", "kz2023"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: kz2023 (synthetic):") and "30 contests" in out
    assert main(["definition", "check", str(tmp_path / "none.yaml")]) == 2
    assert "is neither a file nor a built-in name" in capsys.readouterr().err
    assert main(["definition", "list"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_the_worker_takes_the_definition_and_its_detector_defaults(tmp_path: Path):
    from monitor.alerting.runner import thresholds_from
    from monitor.errors import ConfigError
    from monitor.settings import Settings

    s = Settings.from_env({"TABMON_ELECTION": "indonesia"})
    d = s.definition()
    assert d.name == "indonesia"
    assert thresholds_from(s, d).min_voters == 100  # the definition's default
    assert thresholds_from(s).min_voters == 200  # without it, the documented default
    overrides = tmp_path / "t.json"
    overrides.write_text('{"min_voters": 50}')
    s = Settings.from_env({"TABMON_ELECTION": "indonesia", "TABMON_THRESHOLDS_FILE": str(overrides)})
    assert thresholds_from(s, s.definition()).min_voters == 50  # the file wins
    with pytest.raises(ConfigError, match="neither a file nor a built-in name"):
        Settings.from_env({"TABMON_ELECTION": "atlantis"}).definition()


def test_a_definition_loaded_again_gives_the_same_findings():
    """The worker loads its definition itself (TABMON_ELECTION): kz2007 loaded anew must read
    protocols exactly as the default does, evidence included."""
    from monitor.detect.station import detect_station

    parties = ("A", "B")
    pec = [1000, 0, 600, 10, 500, 40, 30, 570, 7, 300, 263]
    tec = [*pec[:4], 520, *pec[5:9], 280, 283]  # 20 ballots issued more, 20 votes moved to B
    doc = {
        "protocols": {"sources": {"pec": {"figures": pec}, "tec": {"figures": tec}}, "official_source": "tec"}
    }
    default = detect_station("AKM-1", "AKM-T01", doc, parties)
    again = detect_station("AKM-1", "AKM-T01", doc, parties, definition=load("kz2007"))
    assert "protocol_altered" in [f.kind for f in default]
    assert [(f.finding_id, f.evidence) for f in again] == [(f.finding_id, f.evidence) for f in default]
