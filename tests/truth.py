"""Ground truth for tests: totals summed directly from the generator's per-station numbers.

Deliberately independent of monitor.tally: plain dictionaries and loops, nothing shared with
the code under test but the field names of the contract.
"""

from __future__ import annotations

from typing import Any

FIXED = (
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


def _units_of(truth: Any, sid: str) -> list[str]:
    return ["KZ", truth.station_rec[sid], truth.station_tec[sid]]


def expected_totals(truth: Any, parties: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """unit -> {"protocol": {field/party: n}, "official": {...}, "turnout": {...}, counts}."""
    out: dict[str, dict[str, Any]] = {}

    def unit(u: str) -> dict[str, Any]:
        if u not in out:
            out[u] = {
                "protocol": {k: 0 for k in (*FIXED, *parties)},
                "official": {k: 0 for k in (*FIXED, *parties)},
                "moved": {p: 0 for p in parties},
                "turnout": {"registered": 0, "added": 0, "voted": 0},
                "n_pec": 0,
                "n_official": 0,
                "n_turnout": 0,
                "evote": 0,
            }
        return out[u]

    for sid in truth.station_tec:
        for u in _units_of(truth, sid):
            t = unit(u)
            pec = truth.pec.get(sid)
            off = truth.official.get(sid)
            if pec is not None:
                t["n_pec"] += 1
                for k in FIXED:
                    t["protocol"][k] += pec[k]
                for p in parties:
                    t["protocol"][p] += pec["votes"][p]
            if off is not None:
                t["n_official"] += 1
                for k in FIXED:
                    t["official"][k] += off[k]
                for p in parties:
                    t["official"][p] += off["votes"][p]
                    if pec is not None:
                        t["moved"][p] += off["votes"][p] - pec["votes"][p]
            tr = truth.turnout.get(sid)
            if tr is not None:
                t["n_turnout"] += 1
                for k in ("registered", "added", "voted"):
                    t["turnout"][k] += tr[k]
            t["evote"] += truth.evote_ballots.get(sid, 0)
    return out


def compare(
    snapshot: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]], parties: tuple[str, ...]
) -> list[str]:
    """Every difference between a monitor snapshot and the expected totals, as text."""
    diffs: list[str] = []
    for uid, e in expected.items():
        s = snapshot.get(uid)
        if s is None:
            diffs.append(f"{uid}: missing from the snapshot")
            continue
        for view in ("protocol", "official"):
            for k in FIXED:
                if s[view][k] != e[view][k]:
                    diffs.append(f"{uid} {view} {k}: monitor {s[view][k]} != truth {e[view][k]}")
            for p in parties:
                if s[view]["votes"][p] != e[view][p]:
                    diffs.append(f"{uid} {view} {p}: monitor {s[view]['votes'][p]} != truth {e[view][p]}")
        for p in parties:
            if s["moved"]["votes"][p] != e["moved"][p]:
                diffs.append(f"{uid} moved {p}: monitor {s['moved']['votes'][p]} != {e['moved'][p]}")
        for k in ("registered", "added", "voted"):
            if s["turnout"][k] != e["turnout"][k]:
                diffs.append(f"{uid} turnout {k}: monitor {s['turnout'][k]} != {e['turnout'][k]}")
        pairs = [
            ("n_pec", s["protocol"]["stations_reported"]),
            ("n_official", s["official"]["stations_reported"]),
            ("n_turnout", s["turnout"]["stations_reported"]),
            ("evote", s["evote_ballots"]),
        ]
        for name, got in pairs:
            if got != e[name]:
                diffs.append(f"{uid} {name}: monitor {got} != truth {e[name]}")
    return diffs
