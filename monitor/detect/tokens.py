"""``evote_multiple``: one voter token behind more than one electronic ballot.

Stage one runs it in the partition of the ``evote-tokens`` topic, where every ballot of a
token meets (docs/architecture.md), as soon as a token has a second ballot. Report XIII.B:
585 tokens cast 1,324 e-ballots, 441 of them at 10 South Kazakhstan stations.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.contract import CEC_ID, Registry
from monitor.detect.findings import Finding
from monitor.detect.shape import parse_time

__all__ = ["token_findings"]


def _ballots(raw: Iterable[object]) -> list[tuple[str, str]]:
    """Distinct (station_id, issued_at) pairs in time order; unreadable entries left out."""
    out = set()
    for b in raw:
        if isinstance(b, list | tuple) and len(b) == 2 and all(isinstance(x, str) for x in b):
            out.add((b[0], b[1]))
    return sorted(out, key=lambda b: (_when(b[1]), b[1], b[0]))


def _when(issued_at: str) -> float:
    t = parse_time(issued_at)
    return t.timestamp() if t is not None else float("inf")


def _clock(issued_at: str) -> str:
    """The time of day as written at the station (its own offset), for reading aloud."""
    t = parse_time(issued_at)
    return t.strftime("%H:%M") if t is not None else issued_at


def token_findings(token: str, ballots: Iterable[object], registry: Registry) -> list[Finding]:
    """A finding when ``token`` has two ballots or more. Its id depends on the token alone
    (national level, no station), so a third ballot, wherever it is cast, re-emits the same
    finding with new evidence instead of raising a second one."""
    if not isinstance(token, str) or not token:
        return []
    seen = _ballots(ballots) if isinstance(ballots, Iterable) else []
    if len(seen) < 2:
        return []
    stations = sorted({s for s, _ in seen})
    known = [registry.stations[s] for s in stations if s in registry.stations]
    tecs = sorted({st.tec_id for st in known})
    recs = sorted({st.rec_id for st in known})
    where = (
        f"station {stations[0]}"
        if len(stations) == 1
        else f"{len(stations)} stations ({', '.join(stations)})"
    )
    return [
        Finding(
            "evote_multiple",
            "critical",
            "cec",
            CEC_ID,
            None,
            {
                "voter_token": token,
                "ballots": [{"station_id": s, "issued_at": at} for s, at in seen],
                "n_ballots": len(seen),
                "stations": stations,
                "tecs": tecs,
                "recs": recs,
            },
            f"One voter token cast {len(seen)} electronic ballots at {where},"
            f" between {_clock(seen[0][1])} and {_clock(seen[-1][1])}.",
            subject=token,
        )
    ]
