"""The check against the report: each published figure beside what the monitor measured.

``expected`` comes from the dataset (``producers.kz2007.expected()``): ids, the report's
value and source. ``measure`` reads only the monitor's own outputs (the unit snapshots and
the station documents of the read model) and answers in the shape of the expected value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .contract import FIGURE_FIELDS

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

    def __init__(self, units: Units, station: Callable[[str], dict[str, Any] | None],
                 parties: list[str], tec_stations: dict[str, list[str]],
                 tec_names: dict[str, str]) -> None:  # fmt: skip
        self.units = units
        self._station = station
        self.parties = parties
        self.tec_stations = tec_stations
        self.tec_by_name = {name: tec for tec, name in tec_names.items()}

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
    reports = u["turnout"]["by_report"]
    return reports[max(reports, key=int)]


def _revision_pp(u: dict[str, Any]) -> float | None:
    vs = u.get("summary_versions", [])
    if len(vs) < 2:
        return None
    first, last = vs[0], vs[-1]
    return round(100 * (last["participants"] / last["registered"]
                        - first["participants"] / first["registered"]), 1)  # fmt: skip


def measure(fid: str, m: Measured) -> Any:
    """The monitor's figure for one expected id."""
    head, _, rest = fid.partition(".")
    kz = m.unit("KZ")
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
            return sum(1 for u in m.units.values() if u["level"] == "rec"
                       and len(u.get("summary_versions", [])) == 1)  # fmt: skip
        return _revision_pp(m.unit(rest.split(".")[0]))
    if head == "valid_exceeds":
        u = kz if rest == "national" else m.unit(rest)
        return u["official"]["valid"] - _night(u)["voted"]
    if head == "unanimous":
        if rest.endswith(".all_sizes"):
            return m.unit(rest.split(".")[0])["unanimous_stations"]["all"]
        key = {"over200": "over_200", "over1000": "over_1000",
               "zero_invalid": "over_200_no_invalid"}[rest]  # fmt: skip
        return kz["unanimous_stations"][key]
    if head == "evote":
        if rest == "ballots":
            return kz["evote_ballots"]
        if rest in ("multi_tokens", "multi_ballots"):
            return kz["evote_multiple"]["tokens" if rest == "multi_tokens" else "ballots"]
        rec, what = rest.split(".")
        return m.unit(rec)["evote_multiple"]["ballots" if what == "multi_ballots" else "stations"]
    return _measure_station_cases(head, rest, m)


def _measure_station_cases(head: str, rest: str, m: Measured) -> Any:
    if head == "annex":
        return m.diff(rest, "pec", "cec")
    if head == "karatau":
        return m.diff(f"ZHA-{rest}", "pec", "tec")
    if head == "rudniy":
        moved = m.unit(m.tec("Rudniy"))["moved"]["votes"]
        return {"Nur Otan": moved["Nur Otan"], "ANSDP": moved["ANSDP"]}
    if head in ("khromtauskiy", "kostanaiskiy"):
        tec = m.tec("Khromtauskiy" if head == "khromtauskiy" else "Kostanaiskiy District")
        altered = m.altered_in(tec)
        if head == "khromtauskiy":
            return altered
        d = {sid: m.diff(sid, "pec", "cec") for sid in altered}
        return {"stations": altered,
                "lower_ansdp": sum(x["ANSDP"] < 0 for x in d.values()),
                "higher_auyl": sum(x["Auyl"] > 0 for x in d.values()),
                "higher_nur_otan": sum(x["Nur Otan"] > 0 for x in d.values())}  # fmt: skip
    if head == "saryarka":
        a, b = m.figures("AST-37", "pec"), m.figures("AST-37", "tec")
        return {"Nur Otan": b["Nur Otan"] - a["Nur Otan"],
                "ballots_cancelled": b["ballots_cancelled"] - a["ballots_cancelled"]}  # fmt: skip
    if head == "implausible":
        f = m.figures(rest, "pec")
        return {"registered": f["registered"], "participants": _participants(f)}
    raise LookupError(f"no measurement for {head}.{rest}")


def _participants(f: dict[str, int]) -> int:
    return f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"]


def matches(expected: Any, shown: Any) -> bool:
    """Does the monitor's figure agree with the report's? Ranges, rounding, lists, dicts."""
    if isinstance(expected, dict) and ("min" in expected or "max" in expected):
        return (isinstance(shown, int | float)
                and expected.get("min", shown) <= shown <= expected.get("max", shown))  # fmt: skip
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
            shown: Any = measure(e["id"], measured)
            ok = matches(e["value"], shown)
            text = _say(shown)
        except (LookupError, KeyError, ZeroDivisionError) as exc:
            ok, text = False, f"not measured ({exc})"
        says = e.get("report_says") or _say(e["value"])
        lines.append(Line(e["id"], e.get("what", ""), says, text, ok, e.get("source", "")))
    return lines


def from_redis(client: Any, prefix: str, registry_records: list[dict[str, Any]]) -> Measured:
    """The monitor's read model in Redis, with the dataset's registry for the layout."""
    from . import readmodel
    from .registry import build

    reg = build(registry_records)
    units = {}
    for key in client.scan_iter(f"{prefix}:unit:*"):
        uid = key.decode().rsplit(":", 1)[1]
        units[uid] = readmodel.read_unit(client, prefix, uid)
    meta = readmodel.read_meta(client, prefix) or {}
    names = {t: reg.names.get(t, t) for t in reg.tec_rec}
    return Measured(units, lambda sid: readmodel.read_station(client, prefix, sid),
                    meta.get("parties", list(reg.parties)), reg.tec_stations, names)  # fmt: skip


def table(lines: list[Line]) -> Any:
    from rich.table import Table

    t = Table(title="2007 drill: report says / monitor shows", title_justify="left")
    for col in ("figure", "report says", "monitor shows", "match", "source"):
        t.add_column(col, overflow="fold")
    for ln in lines:
        t.add_row(f"{ln.id}\n[dim]{ln.what}[/dim]" if ln.what else ln.id, ln.report_says,
                  ln.monitor_shows, "[green]yes[/green]" if ln.match else "[red]NO[/red]",
                  ln.source)  # fmt: skip
    return t
