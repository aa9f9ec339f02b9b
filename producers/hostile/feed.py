"""Hostile input derived from a valid election: what a broken or malicious producer can put on
the monitor's topics. For the fuzz harness (load/fuzz.py) and its tests (tests/unit/test_fuzz.py,
tests/integration/test_fuzz_broker.py).

Each input is a :class:`Hostile` ``(topic, key, value)``, key and value as a consumer hands
them over: bytes, or None. Every draw comes from a ``random.Random`` seeded from ``seed``
(never the global state), so a seed and a count give the same inputs on every machine. Inputs
are derived only from the events and records of the RECs in ``recs``: the other RECs are
never named by a hostile input, so their totals must stay exactly the generator's truth.

Two families, from the valid events of the election:

- structure-aware: a valid event with one or more fields mutated (wrong types, sizes,
  nesting, unicode, numbers and times at the edges, ids with separators, duplicated, missing
  and extra fields), its key or its topic changed, its value dropped; also valid restatements
  (the same event encoded otherwise) and valid changes (other figures, a later version);
- byte-level: the valid encoded message with bits flipped, truncated, bytes inserted or
  deleted, digits rewritten, padded to the size limit, or spliced with another message.

:func:`registry_inputs` does the same to registry records; :func:`known_inputs` are the named
inputs that every version of the monitor must handle, each a regression case.
"""

from __future__ import annotations

from typing import Any

import orjson

from monitor.contract import MAX_COUNT
from producers.hostile.mutations import HostileInputs
from producers.hostile.values import NUMBERS, TIMES, Hostile, Known, _Raw, dumps, nested

__all__ = ["NUMBERS", "TIMES", "Hostile", "HostileInputs", "Known", "dumps", "known_inputs"]


def _turnout(
    station: str, seq: int, registered: int, added: int, voted: int, at: str = "2007-08-18T20:30:00+06:00"
) -> dict[str, Any]:
    return {
        "type": "turnout",
        "v": 1,
        "station_id": station,
        "seq": seq,
        "reported_at": at,
        "registered": registered,
        "added": added,
        "voted": voted,
    }


def known_inputs(election: Any, recs: list[str] | None = None) -> list[Known]:
    """The named hostile inputs, each a regression case (tests/unit/test_fuzz.py), about the
    stations of ``recs`` (default: any)."""
    stations = [
        r for r in election.registry if r["type"] == "station" and (recs is None or r["rec_id"] in recs)
    ]
    by_tec: dict[str, list[dict[str, Any]]] = {}
    for s in stations:
        by_tec.setdefault(s["tec_id"], []).append(s)
    pair = next(ss for ss in by_tec.values() if len(ss) >= 2)
    st, st2 = pair[0], pair[1]
    sid, rec = st["station_id"], st["rec_id"]
    k = sid.encode()
    deep = b'{"v":' + b"[" * 1000 + b"]" * 1000 + b"}"
    huge = f"{rec}-" + "1" * 61_440  # a 60 KB station id, in a message under the size limit
    far = "9999-12-31T23:59:59-23:59"
    registry_station = {
        "type": "station",
        "v": 1,
        "station_id": sid,
        "tec_id": st["tec_id"],
        "rec_id": rec,
        "name": "PS",
        "registered_baseline": 100,
        "evoting": False,
    }

    def turnout(*args: Any, key: bytes = k, **kw: Any) -> Hostile:
        return Hostile("turnout", key, orjson.dumps(_turnout(*args, **kw)))

    big = 2**64 - 1
    summary = next(
        e
        for e in election.events
        if e.topic == "summaries"
        and e.value["level"] == "tec"
        and (recs is None or e.value["unit_id"].split("-")[0] in recs)
    )
    unit = summary.value["unit_id"]
    return [
        Known(
            "deep_nesting",
            "a turnout message {'v': [[[...]]]} nested 1000 levels, about 2 KB",
            (
                Hostile("turnout", k, deep),
                Hostile("turnout", k, dumps(dict(_turnout(sid, 7, 1, 0, 1), voted=_Raw(nested(1000))))),
            ),
        ),
        Known(
            "count_overflow",
            "two turnout reports in one TEC with registered = 2**64 - 1: their sum does not fit 64 bits",
            (
                turnout(sid, 7, big, 0, 0),
                turnout(st2["station_id"], 7, big, 0, 0, key=st2["station_id"].encode()),
            ),
        ),
        Known(
            "count_at_bound",
            "two turnout reports in one TEC at the largest count the contract"
            " takes: accepted, and their sum must serialise and stay exact",
            (
                turnout(sid, 7, MAX_COUNT, MAX_COUNT, MAX_COUNT),
                turnout(
                    st2["station_id"], 7, MAX_COUNT, MAX_COUNT, MAX_COUNT, key=st2["station_id"].encode()
                ),
            ),
        ),
        Known(
            "far_time",
            f"reported_at {far!r}: a valid ISO 8601 time past year 9999 in UTC",
            (turnout(sid, 7, 10, 0, 1, at=far),),
        ),
        Known(
            "newline_id",
            "a station id ending in a newline (a finding id and an HTTP header would"
            " carry it): in an event and its key, in the event alone, and in the"
            " registry (a station and a TEC); in the key alone it is nothing (the"
            " key is not read)",
            (
                turnout(sid + "\n", 7, 10, 0, 1, key=k + b"\n"),
                turnout(sid + "\n", 7, 10, 0, 1),
                Hostile("registry", k, orjson.dumps(dict(registry_station, station_id=f"{rec}-9998\n"))),
                Hostile(
                    "registry",
                    k,
                    orjson.dumps(
                        {
                            "type": "unit",
                            "v": 1,
                            "level": "tec",
                            "unit_id": f"{rec}-T77\n",
                            "parent_id": rec,
                            "name": "TEC",
                        }
                    ),
                ),
            ),
        ),
        Known(
            "separator_tec",
            "a registry station whose tec_id is 'SKZ-T:KZ' (':' separates the read model's keys)",
            (
                Hostile(
                    "registry",
                    b"SKZ-9999",
                    orjson.dumps(
                        dict(registry_station, station_id="SKZ-9999", tec_id="SKZ-T:KZ", rec_id="SKZ")
                    ),
                ),
            ),
        ),
        Known(
            "many_reports",
            "300 turnout reports of one station, seq 1 to 300",
            tuple(
                turnout(
                    sid,
                    q,
                    2000,
                    q,
                    min(2000, 5 * q),
                    at=f"2007-08-18T{8 + q * 12 // 300:02d}:{q % 60:02d}:00+06:00",
                )
                for q in range(1, 301)
            ),
        ),
        Known(
            "huge_id",
            "a turnout report whose station id (and key) is 60 KB",
            (turnout(huge, 7, 10, 0, 1, key=huge.encode()),),
        ),
        Known(
            "summary_tie",
            "a TEC's summary with stations_included 0, then the same summary as"
            " the TEC signed it (same version, same figures), in two flushes:"
            " the second is the larger record and must be the one shown",
            (
                Hostile("summaries", unit.encode(), orjson.dumps(dict(summary.value, stations_included=0))),
                Hostile("summaries", unit.encode(), orjson.dumps(summary.value)),
            ),
            flush_between=True,
        ),
    ]
