"""Decoding: the contract's decoders (orjson, then checks by hand) against a typed decoder
(msgspec Structs with the bounds as constraints, the registry checks by hand), on the
turnout reports and protocols of a synthetic night. Prints messages/s per way and topic.

    pip install msgspec        # not a dependency of tabmon: only this measurement uses it
    python load/decoders.py --stations 9727 --rounds 5

What the typed decoder here checks is what the contract's does for these two kinds on the
2007 form: the type and version, every count an exact integer within 0 and the contract's
maximum, the station in the registry, the source one of the definition's, the time ISO 8601
with an offset and inside the window, the parties those of the ballot. It exists to be
measured; the worker keeps the contract's decoders (load/RESULTS.md says why).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import msgspec

from monitor.contract import DECODERS, build, parse
from monitor.contract.events import DEFAULT_WINDOW, Protocol, Turnout
from monitor.contract.values import MAX_COUNT, MAX_SEQ, MAX_TIME, MAX_VERSION
from monitor.errors import ContractError
from producers.elections.synthetic import generate

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class TurnoutMsg(msgspec.Struct):
    type: Literal["turnout"]
    v: Literal[1]
    station_id: str
    seq: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
    reported_at: Annotated[str, msgspec.Meta(max_length=MAX_TIME)]
    registered: Count
    added: Count
    voted: Count


class Figures(msgspec.Struct):
    registered: Count
    added: Count
    ballots_received: Count
    ballots_cancelled: Count
    issued_in_station: Count
    issued_mobile: Count
    voted_electronic: Count
    ballots_found: Count
    invalid: Count
    votes: dict[str, Count]


class ProtocolMsg(msgspec.Struct):
    type: Literal["protocol"]
    v: Literal[1]
    station_id: str
    source: str
    version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]
    recorded_at: Annotated[str, msgspec.Meta(max_length=MAX_TIME)]
    figures: Figures


def _time(x: str) -> str:
    t = datetime.fromisoformat(x)
    if t.tzinfo is None or not DEFAULT_WINDOW.earliest <= t <= DEFAULT_WINDOW.latest:
        raise ContractError("bad_time", x)
    return x


def typed_decoders(registry: Any) -> dict[str, Callable[[bytes], Any]]:
    turnout_dec = msgspec.json.Decoder(TurnoutMsg)
    protocol_dec = msgspec.json.Decoder(ProtocolMsg)
    stations, sources, parties = registry.stations, registry.definition.sources, registry.parties

    def turnout(raw: bytes) -> Turnout:
        m = turnout_dec.decode(raw)
        st = stations.get(m.station_id)
        if st is None:
            raise ContractError("unknown_station", m.station_id)
        return Turnout(st.station_id, m.seq, _time(m.reported_at), m.registered, m.added, m.voted)

    def protocol(raw: bytes) -> Protocol:
        m = protocol_dec.decode(raw)
        st = stations.get(m.station_id)
        if st is None:
            raise ContractError("unknown_station", m.station_id)
        if m.source not in sources:
            raise ContractError("bad_source", m.source)
        f, votes = m.figures, m.figures.votes
        if len(votes) != len(parties):
            raise ContractError("unknown_party", str(sorted(votes)))
        fixed = [f.registered, f.added, f.ballots_received, f.ballots_cancelled, f.issued_in_station]
        fixed += [f.issued_mobile, f.voted_electronic, f.ballots_found, f.invalid]
        try:
            figures = tuple(fixed + [votes[p] for p in parties])
        except KeyError as exc:
            raise ContractError("missing_party", str(exc)) from None
        return Protocol(st.station_id, sys.intern(m.source), m.version, _time(m.recorded_at), figures, "")

    return {"turnout": turnout, "protocols": protocol}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=9727)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    election = generate(args.stations, min(205, args.stations), seed=2007)
    registry = build(election.registry)
    typed = typed_decoders(registry)
    for topic in ("turnout", "protocols"):
        raws = [orjson.dumps(e.value) for e in election.events if e.topic == topic]
        contract = DECODERS[topic]
        for raw in raws[:2000]:  # both ways give the same record
            assert typed[topic](raw) == contract(parse(raw, 65536), registry), raw

        def floor(raws: list[bytes] = raws) -> None:
            for r in raws:
                orjson.loads(r)

        def the_contract(raws: list[bytes] = raws, c: Callable[..., Any] = contract) -> None:
            for r in raws:
                c(parse(r, 65536), registry)

        def typed_way(raws: list[bytes] = raws, d: Callable[[bytes], Any] = typed[topic]) -> None:
            for r in raws:
                d(r)

        ways: dict[str, Callable[[], None]] = {
            "orjson.loads alone (the floor)": floor,
            "the contract (orjson + checks)": the_contract,
            "msgspec Structs + registry checks": typed_way,
        }
        rates: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(args.rounds):  # alternated within each round
            for name, run in ways.items():
                t0 = time.perf_counter()
                run()
                rates[name].append(len(raws) / (time.perf_counter() - t0))
        print(f"{topic} ({len(raws):,} messages), median of {args.rounds} rounds:")
        for name, r in rates.items():
            print(f"  {name:<36} {statistics.median(r):>12,.0f} msg/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
