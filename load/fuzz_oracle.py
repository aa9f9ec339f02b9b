"""What the fuzz harness's totals must be (load/fuzz.py): an oracle of plain dictionaries
over the accepted messages, independent of monitor.tally, and the comparisons with it."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "load")]

from fuzz_harness import (
    RANK,
    Stats,
    _short,
)
from truth import FIXED, compare, expected_totals

from monitor.contract import CEC_ID, Registry
from monitor.tally.partition import VERSIONS_KEPT
from producers.hostile.feed import Hostile


# -- what the totals must be ----------------------------------------------------------------------
class Oracle:
    """The tally of the accepted messages by the contract's rules, in plain dictionaries:
    per (station, source) the highest version wins and equal versions keep the larger figures;
    per station the turnout report with the highest seq (equal seq: the larger figures); the
    official view is the highest level present; an e-ballot is (token, station, issued_at);
    per unit and summary version the larger record (figures, then stations included, recorded
    at, level), the lowest version and the latest others kept."""

    def __init__(self, truth: Any, parties: tuple[str, ...]) -> None:
        self.station_tec, self.station_rec = truth.station_tec, truth.station_rec
        self.parties = parties
        self.protocols: dict[str, dict[str, tuple[int, tuple[int, ...]]]] = {}
        self.turnout: dict[str, dict[int, tuple[int, int, int]]] = {}
        self.ballots: dict[str, set[tuple[str, str]]] = {}
        self.summaries: dict[str, dict[int, tuple[Any, ...]]] = {}

    def _figures(self, f: dict[str, Any]) -> tuple[int, ...]:
        return tuple(f[k] for k in FIXED) + tuple(f["votes"][p] for p in self.parties)

    def add(self, topic: str, value: bytes | None) -> None:
        if topic not in ("turnout", "protocols", "evote", "summaries") or value is None:
            return  # token ballots are not in the totals compared
        e = orjson.loads(value)
        if topic == "summaries":
            record = (self._figures(e["figures"]), e["stations_included"], e["recorded_at"], e["level"])
            versions = self.summaries.setdefault(e["unit_id"], {})
            versions[e["version"]] = max(versions.get(e["version"], record), record)
            if len(versions) > VERSIONS_KEPT:
                del versions[sorted(versions)[1]]
            return
        sid = e["station_id"]
        if topic == "turnout":
            fig = (e["registered"], e["added"], e["voted"])
            reports = self.turnout.setdefault(sid, {})
            reports[e["seq"]] = max(reports.get(e["seq"], fig), fig)
        elif topic == "protocols":
            fig = self._figures(e["figures"])
            sources = self.protocols.setdefault(sid, {})
            cur = sources.get(e["source"])
            sources[e["source"]] = max(cur, (e["version"], fig)) if cur else (e["version"], fig)
        else:
            self.ballots.setdefault(sid, set()).add((e["voter_token"], e["issued_at"]))

    def truth(self) -> Any:
        """A ``Truth`` as tests/truth.py reads it."""

        def named(fig: tuple[int, ...]) -> dict[str, Any]:
            return {
                **dict(zip(FIXED, fig, strict=False)),
                "votes": dict(zip(self.parties, fig[len(FIXED) :], strict=True)),
            }

        pec, official = {}, {}
        for sid, sources in self.protocols.items():
            if "pec" in sources:
                pec[sid] = named(sources["pec"][1])
            ranked = [s for s in sources if s in RANK]
            if ranked:
                official[sid] = named(sources[max(ranked, key=RANK.__getitem__)][1])
        turnout = {
            sid: dict(zip(("registered", "added", "voted"), reports[max(reports)], strict=True))
            for sid, reports in self.turnout.items()
        }
        return SimpleNamespace(
            station_tec=self.station_tec,
            station_rec=self.station_rec,
            pec=pec,
            official=official,
            turnout=turnout,
            evote_ballots={s: len(b) for s, b in self.ballots.items()},
        )


def units_touched(h: Hostile, registry: Registry) -> set[str]:
    """The units whose totals an accepted message can change."""
    try:
        e = orjson.loads(h.value or b"null")
        uid = e.get("station_id") or e.get("unit_id")
    except (orjson.JSONDecodeError, AttributeError):
        return {CEC_ID}
    st = registry.stations.get(uid)
    if st is not None:
        return {CEC_ID, st.rec_id, st.tec_id}
    rec = registry.tec_rec.get(uid)
    return {CEC_ID, uid} | ({rec} if rec else set())


def exactness(
    stats: Stats,
    units: dict[str, dict[str, Any]],
    oracle: Oracle,
    election: Any,
    touched: set[str],
    oracle_inputs: dict[str, list[Hostile]] | None = None,
    truth: bool = True,
) -> tuple[int, list[str]]:
    """Every unit against the oracle, the untouched ones against the generator's truth too
    (``truth``: once every valid event is in); the number of units checked against the
    truth, and their ids."""
    parties = election.parties
    diffs = compare(units, expected_totals(oracle.truth(), parties), parties)
    for d in diffs[:20]:
        stats.fail("totals", f"against the oracle of the accepted messages: {d}", once=True)
    if len(diffs) > 20:
        stats.failure_counts["totals"] += len(diffs) - 20
    pristine = {u: e for u, e in expected_totals(election.truth, parties).items() if u not in touched}
    diffs = compare(units, pristine, parties) if truth else []
    for d in diffs[:20]:
        stats.fail("truth", f"a unit no accepted hostile message touched: {d}", once=True)
    if len(diffs) > 20:
        stats.failure_counts["truth"] += len(diffs) - 20
    for uid, unit in units.items():  # the commissions' own summaries, every version kept
        got = [
            (
                v["version"],
                (
                    tuple(v[k] for k in FIXED) + tuple(v["votes"][p] for p in parties),
                    v["stations_included"],
                    v["recorded_at"],
                ),
            )
            for v in unit.get("summary_versions", [])
        ]
        want = [(version, r[:3]) for version, r in sorted(oracle.summaries.get(uid, {}).items())]
        if got != want:
            where = next(
                (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                min(len(got), len(want)),
            )
            stats.fail(
                "summaries",
                f"{uid}: summary version {_at(got, where)} in the snapshot, the"
                f" accepted messages say {_at(want, where)}",
                inputs=oracle_inputs.get(uid, []) if oracle_inputs else [],
                once=True,
            )
    return len(pristine), sorted(pristine)


def _at(items: list[Any], i: int) -> str:
    if i >= len(items):
        return "(none)"
    version, (fig, included, at) = items[i]
    return f"{version} (stations_included {included}, recorded_at {at}, figures {list(fig)})"


def accepted_by_unit(by_unit: dict[str, list[Hostile]], h: Hostile) -> None:
    """The first accepted summaries of each unit, valid and hostile: a reproducer when the
    unit's summary comes out wrong (its order matters, so all of them)."""
    if h.topic == "summaries" and h.value is not None:
        kept = by_unit.setdefault(orjson.loads(h.value)["unit_id"], [])
        if len(kept) < 20:
            kept.append(h)


def _kind(f: str, otherwise: str = "totals") -> str:
    """A commission's own summaries fail as their own kind: the tally's totals are the rest."""
    return "summaries" if f == "summary_versions" else otherwise


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two JSON values first differ, and how."""
    if type(a) is dict and type(b) is dict:
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{path}.{k}")
    if type(a) is list and type(b) is list and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path or 'the value'}: {_short(a)} != {_short(b)}"


def interleave(
    valid: Sequence[Hostile], labelled: Iterator[tuple[str, Hostile]], n: int
) -> Iterator[tuple[str, Hostile]]:
    """The valid events spread evenly through ``n`` hostile inputs (label "valid")."""
    step = (n + 1) / (len(valid) + 1)
    j, nxt = 0, step
    for i, item in enumerate(labelled, start=1):
        while j < len(valid) and nxt <= i:
            yield "valid", valid[j]
            j, nxt = j + 1, nxt + step
        yield item
    for v in valid[j:]:
        yield "valid", v


def _targets(election: Any) -> list[str]:
    """Every other REC: the hostile inputs name only these."""
    return sorted({r["rec_id"] for r in election.registry if r["type"] == "station"})[::2]
