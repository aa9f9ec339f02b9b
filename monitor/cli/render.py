"""Tables a person reads: the tally of a unit and the summary per level (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table

from monitor.contract import FIGURE_FIELDS

if TYPE_CHECKING:
    from monitor.election import Definition


def _n(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def _p(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} %"


def unit_table(u: dict[str, Any], title: str | None = None) -> Table:
    """Votes per party in both views and the votes moved between them, for one unit."""
    t = Table(title=title or f"{u['name']} ({u['unit_id']}, {u['level'].upper()})", title_justify="left")
    t.add_column("party")
    t.add_column("PEC protocols", justify="right")
    t.add_column("official", justify="right")
    t.add_column("moved", justify="right")
    seats = u.get("seats", {})
    if seats:
        t.add_column("seats (protocols)", justify="right")
        t.add_column("seats (official)", justify="right")
    prot, off = u["protocol"], u["official"]
    for party in prot["votes"]:
        row = [party, _n(prot["votes"][party]), _n(off["votes"][party]), f"{u['moved']['votes'][party]:+,}"]
        if seats:
            row += [str(seats["protocol"]["seats"][party]), str(seats["official"]["seats"][party])]
        t.add_row(*row)
    t.add_row("invalid", _n(prot["invalid"]), _n(off["invalid"]), f"{u['moved']['invalid']:+,}")
    t.add_row("valid", _n(prot["valid"]), _n(off["valid"]), f"{u['moved']['valid']:+,}")
    return t


def coverage_line(u: dict[str, Any]) -> str:
    tr = u["turnout"]
    return (
        f"stations {u['stations']:,}; turnout reports {tr['stations_reported']:,}"
        f" ({_p(tr['coverage'])}): registered {_n(tr['registered'])}, added on the day"
        f" {_n(tr['added'])}, voted {_n(tr['voted'])} ({_p(tr['percent'])}); PEC protocols"
        f" {u['protocol']['stations_reported']:,}, official {u['official']['stations_reported']:,};"
        f" e-ballots {u['evote_ballots']:,}"
    )


def level_table(units: list[dict[str, Any]], title: str) -> Table:
    """One row per unit: coverage, turnout and the leader in both views."""
    t = Table(title=title, title_justify="left")
    for col, just in (
        ("unit", "left"),
        ("name", "left"),
        ("stations", "right"),
        ("reported", "right"),
        ("turnout", "right"),
        ("added", "right"),
        ("valid (official)", "right"),
        ("moved to leader", "right"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for u in units:
        votes = u["official"]["votes"]
        leader = max(votes, key=lambda p: votes[p]) if any(votes.values()) else None
        moved = f"{u['moved']['votes'][leader]:+,} {leader}" if leader else "-"
        t.add_row(
            u["unit_id"],
            u["name"],
            _n(u["stations"]),
            _n(u["official"]["stations_reported"]),
            _p(u["turnout"]["percent"]),
            _n(u["turnout"]["added"]),
            _n(u["official"]["valid"]),
            moved,
        )
    return t


def summary(units: dict[str, dict[str, Any]], definition: Definition) -> Group:
    """The end-of-run summary: the country in full, then the level below it, a unit a row."""
    top, second = definition.levels[0], definition.levels[1]
    country = units[definition.file.levels[0].pattern]
    regions = sorted((u for u in units.values() if u["level"] == second), key=lambda u: u["unit_id"])
    parts: list[Any] = [
        unit_table(country, "National" if top == "national" else f"National ({top.upper()})"),
        coverage_line(country),
        level_table(regions, f"Regions ({second.upper()})"),
    ]
    held = [
        (cid, c)
        for u in units.values()
        for cid, c in u.get("contests", {}).items()
        if c.get("held_in") == u["unit_id"]
    ]
    if held:
        parts.append(contests_table(sorted(held, key=lambda x: x[0])))
    return Group(*parts)


def contest_table(cid: str, c: dict[str, Any]) -> Table:
    """A later contest in one unit: votes per selection in both views, and its seats."""
    t = Table(title=f"{c['name']} ({cid}, held in {c['held_in']})", title_justify="left")
    for col in (
        "selection",
        "protocols",
        "official",
        "moved",
        *(["seats (official)"] if "seats" in c else []),
    ):
        t.add_column(col, justify="left" if col == "selection" else "right")
    prot, off = c["protocol"], c["official"]
    for s in off["votes"]:
        row = [s, _n(prot["votes"][s]), _n(off["votes"][s]), f"{off['votes'][s] - prot['votes'][s]:+,}"]
        if "seats" in c:
            row.append(str(c["seats"]["official"]["seats"][s]))
        t.add_row(*row)
    t.add_row("valid", _n(prot["valid"]), _n(off["valid"]), f"{off['valid'] - prot['valid']:+,}")
    return t


def contests_table(contests: list[tuple[str, dict[str, Any]]]) -> Table:
    """One row per later contest (a single-member district) in the unit it is held in."""
    t = Table(title=f"Contests held in one unit ({len(contests)})", title_justify="left")
    for col, just in (
        ("contest", "left"),
        ("unit", "left"),
        ("reported", "right"),
        ("leader (official)", "left"),
        ("votes", "right"),
        ("share", "right"),
        ("moved", "right"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for cid, c in contests:
        off, prot = c["official"], c["protocol"]
        votes = off["votes"]
        leader = max(votes, key=lambda p: votes[p]) if any(votes.values()) else None
        t.add_row(
            cid,
            c["held_in"],
            f"{off['stations_reported']:,}",
            leader or "-",
            _n(votes[leader]) if leader else "-",
            _p(100 * votes[leader] / off["valid"]) if leader and off["valid"] else "-",
            f"{sum(abs(off['votes'][p] - prot['votes'][p]) for p in votes):,}",
        )
    return t


def station_table(
    sid: str, doc: dict[str, Any], parties: list[str], definition: Definition | None = None
) -> Group:
    """Every source's latest figures for one station side by side (in the definition's order
    of sources), and its turnout reports."""
    prot = doc.get("protocols", {})
    order = definition.sources if definition is not None else ("pec", "observer", "tec", "rec", "cec")
    fields = definition.fields if definition is not None else FIGURE_FIELDS
    sources = [s for s in order if s in prot.get("sources", {})]
    official = prot.get("official_source")
    t = Table(title=f"Station {sid}", title_justify="left")
    t.add_column("figure")
    for s in sources:
        versions = prot["versions"].get(s, {})
        mark = " (official)" if s == official else ""
        t.add_column(
            f"{s} v{prot['sources'][s]['version']}{mark}"
            + (f"\n{len(versions)} versions" if len(versions) > 1 else ""),
            justify="right",
        )
    names = [*fields, *parties]
    for i, name in enumerate(names):
        t.add_row(name, *[_n(prot["sources"][s]["figures"][i]) for s in sources])
    parts: list[Any] = [t] if sources else [f"Station {sid}: no protocol yet"]
    reports = doc.get("turnout", {}).get("reports", {})
    if reports:
        parts.append(
            "turnout reports (seq: registered / added / voted): "
            + "; ".join(f"{q}: {r:,} / {a:,} / {v:,}" for q, (r, a, v) in reports.items())
        )
    if "evote" in doc:
        parts.append(f"e-ballots: {doc['evote']['ballots']:,}")
    return Group(*parts)


def findings_summary(records: list[dict[str, Any]]) -> Table:
    """How many findings of each kind, by severity."""
    t = Table(title=f"Findings: {len(records):,}", title_justify="left")
    t.add_column("kind")
    sevs = ("critical", "warning", "info")
    for sev in sevs:
        t.add_column(sev, justify="right")
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        row = counts.setdefault(r["kind"], {})
        row[r["severity"]] = row.get(r["severity"], 0) + 1
    for kind in sorted(counts, key=lambda k: (-sum(counts[k].values()), k)):
        t.add_row(kind, *[_n(counts[kind].get(sev, 0)) for sev in sevs])
    return t
