"""``tabmon export --cdf UNIT``: the live tally of a unit and its children in NIST SP 1500-100
(Election Results Reporting Common Data Format, version 2), JSON.

The report is a summary of one view (official by default, or the station protocols): one
ReportingUnit per unit; the contests tallied in those units (the first in every unit, a
district where it is held), with a VoteCounts of type ``total`` per selection and unit; and
BallotCounts per unit from the fields the definition maps onto the CDF (``cdf: BallotsCast``,
``BallotsRejected``).
tests/unit/test_export.py validates it against the published schema (tests/schemas/).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from monitor import __version__
from monitor.adapters import readmodel
from monitor.election import Definition
from monitor.election.model import Contest
from monitor.errors import MonitorError
from monitor.settings import Settings

__all__ = ["add_arguments", "cdf_report", "export_command"]

VIEWS = ("official", "protocol")
_T = "ElectionResults."


def _text(s: str) -> dict[str, Any]:
    return {
        "@type": _T + "InternationalizedText",
        "Text": [{"@type": _T + "LanguageString", "Content": s, "Language": "en"}],
    }


def _gp(uid: str) -> str:
    return f"gpu-{uid}"


def cdf_report(
    unit_id: str,
    units: dict[str, dict[str, Any]],
    definition: Definition,
    view: str = "official",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The ElectionReport of ``unit_id`` and its child units, from a snapshot (unit -> its
    document, as the read model holds it). KeyError if the unit is not in it."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}")
    d, unit = definition, units[unit_id]
    top = d.file.levels[0].pattern
    children = [u for uid, u in units.items() if u.get("parent_id") == unit_id and uid != unit_id]
    exported = [unit, *sorted(children, key=lambda u: u["unit_id"])]
    cdf_type = {lv.id: lv.cdf_type for lv in d.file.levels}
    contest = d.contests[0]
    selections = list(unit[view]["votes"])
    gp_units = [
        {
            "@id": _gp(u["unit_id"]),
            "@type": _T + "ReportingUnit",
            "Type": cdf_type.get(u["level"], "other"),
            "Name": _text(u.get("name") or u["unit_id"]),
            "TotalSubUnits": u["stations"],
            "SubUnitsReported": u[view]["stations_reported"],
            "VotersRegistered": _quantity(u[view], "registered", d, selections),
            "VotersParticipated": u[view]["participants"],
            **({"ComposingGpUnitIds": [_gp(c["unit_id"]) for c in exported[1:]]} if u is unit else {}),
        }
        for u in exported
    ]
    known = {u["unit_id"] for u in exported}
    # the first contest from each unit's views; a later one (a district) where it is tallied
    tallied: list[tuple[Contest, list[tuple[str, dict[str, int]]]]] = [
        (contest, [(u["unit_id"], u[view]["votes"]) for u in exported])
    ]
    for c in d.contests[1:]:
        counted = [
            (u["unit_id"], u["contests"][c.id][view]["votes"])
            for u in exported
            if c.id in u.get("contests", {})
        ]
        if counted:
            tallied.append((c, counted))
    contest_docs: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    parties: list[dict[str, Any]] = []
    for c, counted in tallied:
        district = c.unit or top
        if district not in known:  # the contest's district, named
            known.add(district)
            level = d.levels[0] if district == top else c.level
            gp_units.append(
                {
                    "@id": _gp(district),
                    "@type": _T + "ReportingUnit",
                    "Type": cdf_type[level],
                    "Name": _text(units.get(district, {}).get("name") or district),
                }
            )
        first = c is contest
        doc, people = _contest(c, selections if first else list(counted[0][1]), counted, district, first)
        contest_docs.append(doc)
        (parties if c.type == "party" else candidates).extend(people)
    e = d.file.election
    election: dict[str, Any] = {
        "@type": _T + "Election",
        "ElectionScopeId": _gp(top),
        "Name": _text(e.name),
        "StartDate": e.date.isoformat(),
        "EndDate": e.date.isoformat(),
        "Type": "general",
        "Contest": contest_docs,
        "BallotCounts": [_ballot_counts(u, view, d) for u in exported],
    }
    if candidates:
        election["Candidate"] = candidates
    complete = all(u[view]["stations_reported"] == u["stations"] for u in exported)
    when = (now or datetime.now(UTC)).replace(microsecond=0)
    report: dict[str, Any] = {
        "@type": _T + "ElectionReport",
        "Format": "summary-contest",
        "GeneratedDate": when.isoformat(),
        "Issuer": "tabmon",
        "IssuerAbbreviation": "tabmon",
        "VendorApplicationId": f"tabmon {__version__}",
        "SequenceStart": 1,
        "SequenceEnd": 1,
        "Status": "unofficial-complete" if complete else "unofficial-partial",
        "IsTest": e.synthetic,
        "Notes": f"tabmon's live tally of {unit_id} and its {len(children)} child units, the {view}"
        " view" + (" (SYNTHETIC data)" if e.synthetic else ""),
        "Election": [election],
        "GpUnit": gp_units,
    }
    if parties:
        report["Party"] = parties
    return report


def _contest(
    c: Contest, selections: list[str], counted: list[tuple[str, dict[str, int]]], district: str, first: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A contest with a ``total`` VoteCounts per selection and unit, and its parties or
    candidates (ids prefixed by the contest for a later one: districts reuse ``c1``)."""
    party = c.type == "party"
    names = {s.id: s.name for s in c.selections or ()}
    tag = "" if first else f"{c.id}-"
    selection_docs, people = [], []
    for i, s in enumerate(selections, 1):
        ref_id = f"party-{s}" if party else f"candidate-{tag}{s}"
        counts = [
            {"@type": _T + "VoteCounts", "GpUnitId": _gp(uid), "Type": "total", "Count": votes[s]}
            for uid, votes in counted
        ]
        selection_docs.append(
            {
                "@id": f"selection-{tag}{s}",
                "@type": _T + ("PartySelection" if party else "CandidateSelection"),
                "SequenceOrder": i,
                **({"PartyIds": [ref_id]} if party else {"CandidateIds": [ref_id]}),
                "VoteCounts": counts,
            }
        )
        kind = "Party" if party else "Candidate"
        people.append(
            {"@id": ref_id, "@type": _T + kind, ("Name" if party else "BallotName"): _text(names.get(s, s))}
        )
    doc: dict[str, Any] = {
        "@id": f"contest-{c.id}",
        "@type": _T + ("PartyContest" if party else "CandidateContest"),
        "ElectionDistrictId": _gp(district),
        "Name": c.name,
        "ContestSelection": selection_docs,
    }
    if not party:
        doc["VotesAllowed"] = 1
        if c.seats is not None:
            doc["NumberElected"] = c.seats.seats
    return doc, people


def _quantity(v: dict[str, Any], name: str, d: Definition, selections: list[str]) -> int:
    if name in v:
        return int(v[name])
    vector = [int(v.get(f, 0)) for f in d.fields] + [int(v["votes"][s]) for s in selections]
    return d.quantity(name, vector)


def _ballot_counts(u: dict[str, Any], view: str, d: Definition) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": _T + "BallotCounts", "GpUnitId": _gp(u["unit_id"]), "Type": "total"}
    for f in d.file.fields:
        if f.cdf in ("BallotsCast", "BallotsOutstanding", "BallotsRejected") and f.id in u[view]:
            out[f.cdf] = u[view][f.id]
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cdf", metavar="UNIT", required=True, help="the unit whose tally (and children's) to write"
    )
    p.add_argument("--view", choices=VIEWS, default="official", help="official (default) or protocol")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    d = settings.definition()
    client = readmodel.sync_client(settings.redis_url)
    try:
        units = readmodel.read_units(client, settings.app_id)
    except redis.RedisError as exc:
        raise MonitorError(f"cannot read the read model at {settings.redis_url}: {exc}") from None
    if args.cdf not in units:
        raise MonitorError(
            f"no snapshot of unit {args.cdf!r} in {settings.redis_url} under {settings.app_id!r}"
            f" (is a worker running with TABMON_ELECTION={settings.election}? is the id right?)"
        )
    data = orjson.dumps(cdf_report(args.cdf, units, d, args.view), option=orjson.OPT_INDENT_2) + b"\n"
    if args.out:
        try:
            with open(args.out, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise MonitorError(f"cannot write {args.out}: {exc.strerror}") from None
    else:
        sys.stdout.buffer.write(data)
    return 0
