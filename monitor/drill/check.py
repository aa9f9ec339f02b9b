"""The check against the report: each published figure beside what the monitor measured.

``expected`` comes from the dataset (``producers.elections.kz2007.night.expected()``): ids, the report's
value and source. ``measure`` reads only the monitor's own outputs (the unit snapshots and
the station documents of the read model) and answers in the shape of the expected value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.contract import FIGURE_FIELDS, Registry

Units = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Line:
    id: str
    what: str
    report_says: str
    monitor_shows: str
    match: bool
    source: str


class Measured:
    """What the monitor shows: unit snapshots, station documents, the registry's layout."""

    def __init__(
        self, units: Units, station: Callable[[str], dict[str, Any] | None], registry: Registry
    ) -> None:
        self.units = units
        self._station = station
        self.registry = registry
        self.parties = list(registry.parties)
        self.tec_stations = registry.tec_stations
        self.tec_by_name = {registry.names.get(t, t): t for t in registry.tec_rec}

    def stations_of(self, unit: str) -> list[str]:
        tecs = self.registry.rec_tecs.get(unit, [unit])
        return [sid for tec in tecs for sid in self.tec_stations.get(tec, [])]

    def official(self, sid: str) -> dict[str, int]:
        doc = (self._station(sid) or {}).get("protocols", {})
        return self.figures(sid, doc.get("official_source") or "pec")

    def unit(self, uid: str) -> dict[str, Any]:
        u = self.units.get(uid)
        if u is None:
            raise LookupError(f"no snapshot for unit {uid}")
        return u

    def tec(self, name: str) -> str:
        for full, tec in self.tec_by_name.items():
            if full.lower().startswith(name.lower()):
                return tec
        raise LookupError(f"no TEC named {name!r}")

    def figures(self, sid: str, source: str) -> dict[str, int]:
        """A station's latest figures from one source, by name."""
        doc = self._station(sid) or {}
        src = doc.get("protocols", {}).get("sources", {}).get(source)
        if src is None:
            raise LookupError(f"no {source} protocol for {sid}")
        names = [*FIGURE_FIELDS, *self.parties]
        return dict(zip(names, src["figures"], strict=True))

    def version_figures(self, sid: str, source: str, version: int) -> dict[str, int]:
        doc = self._station(sid) or {}
        figs = doc.get("protocols", {}).get("versions", {}).get(source, {}).get(str(version))
        if figs is None:
            raise LookupError(f"no {source} version {version} for {sid}")
        return dict(zip([*FIGURE_FIELDS, *self.parties], figs, strict=True))

    def diff(self, sid: str, a: str, b: str) -> dict[str, int]:
        """Per party and invalid: figures of source ``b`` minus source ``a``."""
        fa, fb = self.figures(sid, a), self.figures(sid, b)
        return {k: fb[k] - fa[k] for k in (*self.parties, "invalid")}

    def altered_in(self, tec: str) -> list[str]:
        """Stations of a TEC whose official figures differ from their PEC protocol."""
        out = []
        for sid in self.tec_stations.get(tec, []):
            doc = (self._station(sid) or {}).get("protocols", {})
            srcs = doc.get("sources", {})
            off = doc.get("official_source")
            if "pec" in srcs and off and srcs[off]["figures"] != srcs["pec"]["figures"]:
                out.append(sid)
        return sorted(out)


def _night(u: dict[str, Any]) -> dict[str, Any]:
    reports: dict[str, dict[str, Any]] = u["turnout"]["by_report"]
    return reports[max(reports, key=int)]


def _revision_pp(u: dict[str, Any]) -> float | None:
    vs: list[dict[str, int]] = u.get("summary_versions", [])
    if len(vs) < 2:
        return None
    first, last = vs[0], vs[-1]
    return round(
        100 * (last["participants"] / last["registered"] - first["participants"] / first["registered"]), 1
    )


def measure(fid: str, m: Measured, want: Any = None) -> Any:
    """The monitor's figure for one expected id (``want``, the expected value, says which
    party or station a figure is about where the id does not)."""
    head, _, rest = fid.partition(".")
    kz = m.unit("KZ")
    if head == "commissions":
        if rest == "pec":
            return kz["stations"]
        return sum(1 for u in m.units.values() if u["level"] == rest)
    if fid == "electorate.baseline":
        return kz["registry"]["registered_baseline"]
    if fid == "evote.stations":
        return kz["registry"]["evoting_stations"]
    if fid == "evote.electorate_share":
        r = kz["registry"]
        return round(100 * r["evoting_baseline"] / r["registered_baseline"])
    if fid == "added.before_10":
        return kz["turnout"]["by_report"]["1"]["added"]
    if head == "annex1":
        return kz["official"]["valid"] if rest == "total" else kz["official"]["votes"][rest]
    if fid == "participants.cec":
        return kz["official"]["participants"]
    if fid == "electorate.end_of_day":
        return _night(kz)["registered"]
    if fid == "added.10_to_20":
        reports = kz["turnout"]["by_report"]
        return reports["6"]["registered"] - reports["1"]["registered"]
    if fid == "turnout.night.voters":
        return _night(kz)["voted"]
    if fid == "turnout.night.percent":
        n = _night(kz)
        return round(100 * n["voted"] / n["registered"], 2)
    if head == "turnout":  # turnout.<REC>.percent
        n = _night(m.unit(rest.split(".")[0]))
        return round(100 * n["voted"] / n["registered"], 1)
    if head == "revision":
        if rest == "unchanged_recs":
            return sum(
                1 for u in m.units.values() if u["level"] == "rec" and len(u.get("summary_versions", [])) == 1
            )
        return _revision_pp(m.unit(rest.split(".")[0]))
    if head == "valid_exceeds":
        u = kz if rest == "national" else m.unit(rest)
        return u["official"]["valid"] - _night(u)["voted"]
    if head == "unanimous":
        return _measure_unanimous(rest, m, kz)
    if head == "evote":
        if rest == "ballots":
            return kz["evote_ballots"]
        if rest in ("multi_tokens", "multi_ballots"):
            return kz["evote_multiple"]["tokens" if rest == "multi_tokens" else "ballots"]
        rec, what = rest.split(".")
        return m.unit(rec)["evote_multiple"]["ballots" if what == "multi_ballots" else "stations"]
    return _measure_station_cases(head, rest, m, want)


def _ballots(f: dict[str, int], parties: list[str]) -> int:
    """Ballots counted: valid votes and invalid ballots."""
    return sum(f[p] for p in parties) + f["invalid"]


def _measure_unanimous(rest: str, m: Measured, kz: dict[str, Any]) -> Any:
    keys = {
        "over200": "over_200",
        "over1000": "over_1000",
        "zero_invalid": "over_200_no_invalid",
        "total": "all",
    }
    if rest in keys:
        return kz["unanimous_stations"][keys[rest]]
    unit, _, what = rest.partition(".")
    if what == "all_sizes":
        return m.unit(unit)["unanimous_stations"]["all"]
    if what == "1300_1800":  # report fn 95: stations of 1,300 to 1,800 votes, none invalid
        n = 0
        for sid in m.stations_of(unit):
            f = m.official(sid)
            valid = sum(f[p] for p in m.parties)
            if (
                valid
                and max(f[p] for p in m.parties) == valid
                and f["invalid"] == 0
                and 1300 <= valid <= 1800
            ):
                n += 1
        return n
    f = m.official(rest)  # an example station
    leader = max(m.parties, key=lambda p: f[p])
    return {"voters": _ballots(f, m.parties), leader: f[leader], "invalid": f["invalid"]}


def _stations_where(m: Measured, tec: str, test: Callable[[str], bool]) -> list[str]:
    return sorted(sid for sid in m.tec_stations.get(tec, []) if test(sid))


def _measure_station_cases(head: str, rest: str, m: Measured, want: Any) -> Any:
    want = want if isinstance(want, dict) else {}
    if head == "annex":
        return m.diff(rest, "pec", "cec")
    if head == "karatau":
        if rest == "nur_otan_higher":

            def higher(sid: str) -> bool:
                try:
                    return m.diff(sid, "pec", "tec")["Nur Otan"] > 0
                except LookupError:
                    return False

            return _stations_where(m, m.tec("Karatau"), higher)
        party = want.get("party", "Nur Otan")
        sid = f"ZHA-{rest}"
        return {"party": party, "pec": m.figures(sid, "pec")[party], "tec": m.figures(sid, "tec")[party]}
    if head in ("rudniy", "khromtauskiy", "kostanaiskiy"):
        name = {"rudniy": "Rudniy", "khromtauskiy": "Khromtauskiy", "kostanaiskiy": "Kostanaiskiy District"}[
            head
        ]
        return _measure_tec_case(rest, m, m.tec(name))
    if head == "saryarka":
        a, b = m.figures("AST-37", "pec"), m.figures("AST-37", "tec")
        return {
            "station": "AST-37",
            "Nur Otan": b["Nur Otan"] - a["Nur Otan"],
            "ballots_cancelled": b["ballots_cancelled"] - a["ballots_cancelled"],
        }
    if head == "zhambyl":
        sid = f"ZHA-{rest}"
        pec, obs = m.figures(sid, "pec"), m.figures(sid, "observer")
        return {
            "station": sid,
            "Nur Otan": pec["Nur Otan"] - obs["Nur Otan"],
            "invalid": pec["invalid"] - obs["invalid"],
            "participants_minus_found": _participants(pec) - pec["ballots_found"],
        }
    if head == "manghystau":
        sid = f"MAN-{rest}"
        parties = list(want.get("pec", {"ANSDP": 0, "Nur Otan": 0, "Ak Zhol": 0}))
        obs, pec = m.figures(sid, "observer"), m.figures(sid, "pec")
        return {"observer": {p: obs[p] for p in parties}, "pec": {p: pec[p] for p in parties}}
    if head == "station70":
        sid = want.get("station", "")
        v1, v2 = m.version_figures(sid, "pec", 1), m.version_figures(sid, "pec", 2)
        others = [p for p in m.parties if p != "Nur Otan"]
        return {
            "station": sid,
            "v1": v1["Nur Otan"],
            "v2": v2["Nur Otan"],
            "others": sum(v2[p] for p in others) - sum(v1[p] for p in others),
        }
    if head == "implausible":
        f = m.figures(rest, "pec")
        return {"registered": f["registered"], "voted": _participants(f)}
    raise LookupError(f"no measurement for {head}.{rest}")


def _measure_tec_case(what: str, m: Measured, tec: str) -> Any:
    if what == "stations":
        return m.unit(tec)["stations"]
    if what == "moved":
        moved = m.unit(tec)["moved"]["votes"]
        return {"Nur Otan": moved["Nur Otan"], "ANSDP": moved["ANSDP"]}
    altered = m.altered_in(tec)
    if what == "altered":
        return altered
    d = [m.diff(sid, "pec", "cec") for sid in altered]
    counts = {
        "lower_ansdp": sum(x["ANSDP"] < 0 for x in d),
        "higher_auyl": sum(x["Auyl"] > 0 for x in d),
        "higher_nur_otan": sum(x["Nur Otan"] > 0 for x in d),
    }
    if what in counts:
        return counts[what]
    raise LookupError(f"no measurement for {what} of {tec}")


def _participants(f: dict[str, int]) -> int:
    return f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"]


def matches(expected: Any, shown: Any) -> bool:
    """Does the monitor's figure agree with the report's? Ranges, rounding, lists, dicts."""
    if isinstance(expected, dict) and ("min" in expected or "max" in expected):
        return isinstance(shown, int | float) and expected.get("min", shown) <= shown <= expected.get(
            "max", shown
        )
    if isinstance(expected, float):
        decimals = len(repr(expected).split(".")[1]) if "." in repr(expected) else 0
        return isinstance(shown, int | float) and round(shown, decimals) == expected
    if isinstance(expected, list):
        return isinstance(shown, list) and sorted(map(str, shown)) == sorted(map(str, expected))
    if isinstance(expected, dict) and isinstance(shown, dict):
        return all(k in shown and matches(v, shown[k]) for k, v in expected.items())
    return bool(expected == shown)


def _say(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, dict):
        return ", ".join(f"{k} {_say(v)}" for k, v in x.items())
    if isinstance(x, list):
        return f"{len(x)}: " + ", ".join(map(str, x))
    return str(x)


def report(expected: list[dict[str, Any]], measured: Measured) -> list[Line]:
    lines = []
    for e in expected:
        try:
            shown: Any = measure(e["id"], measured, e["value"])
            ok = matches(e["value"], shown)
            text = _say(shown)
        except (LookupError, KeyError, ValueError, ZeroDivisionError) as exc:
            ok, text = False, f"not measured ({exc})"
        says = e.get("report_says") or _say(e["value"])
        lines.append(Line(e["id"], e.get("what", ""), says, text, ok, e.get("source", "")))
    return lines


def from_redis(client: Any, prefix: str, registry_records: list[dict[str, Any]]) -> Measured:
    """The monitor's read model in Redis, with the dataset's registry for the layout."""
    from monitor.adapters import readmodel
    from monitor.contract import build

    reg = build(registry_records)
    units = readmodel.read_units(client, prefix)
    return Measured(units, lambda sid: readmodel.read_station(client, prefix, sid), reg)


def table(lines: list[Line]) -> Any:
    from rich.table import Table

    t = Table(title="2007 drill: report says / monitor shows", title_justify="left")
    for col in ("figure", "report says", "monitor shows", "match", "source"):
        t.add_column(col, overflow="fold")
    for ln in lines:
        t.add_row(
            f"{ln.id}\n[dim]{ln.what}[/dim]" if ln.what else ln.id,
            ln.report_says,
            ln.monitor_shows,
            "[green]yes[/green]" if ln.match else "[red]NO[/red]",
            ln.source,
        )
    return t


def from_memory(tally: Any) -> Measured:
    """The same measurements from a :class:`monitor.testing.InMemoryTally` (no broker)."""
    return Measured(tally.snapshot(), tally.stations.get, tally.registry)
