"""The station read model against a real redis-server: what a flush writes is what the sweep,
the CLI and the drill report read back, whole or by what changed."""

from __future__ import annotations

import asyncio

import orjson
import redis
import redis.asyncio as aioredis

from monitor.adapters import readmodel


def _doc(n: int) -> bytes:
    return orjson.dumps({"sources": {"pec": {"version": 1, "figures": [n, n + 1]}}})


def test_station_documents_round_trip_whole_and_incrementally(redis_url: str) -> None:
    prefix = "rm-test"
    sync = redis.Redis.from_url(redis_url)
    sync.delete(*(sync.keys(f"{prefix}:*") or [b"none"]))
    # ids with a colon, as the contract allows: the key's kind comes before the id
    ids = [f"S:{i:05d}" for i in range(4500)]  # more than one MSET and MGET chunk

    async def go() -> tuple[dict, set[str], set[str], dict]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            docs = {sid: {"protocols": _doc(i)} for i, sid in enumerate(ids)}
            docs[ids[0]]["turnout"] = orjson.dumps({"reports": {"1": [10, 0, 5]}})
            await readmodel.write_stations(client, prefix, docs)
            cache = readmodel.StationCache(client, prefix)
            first = await cache.refresh()  # the whole model: every station written so far
            whole = {sid: cache.docs.parsed(sid) for sid in cache.docs}
            # a second partition writes another kind of one station; the first, a newer figure
            await readmodel.write_stations(client, prefix, {ids[7]: {"evote": orjson.dumps({"ballots": 3})}})
            await readmodel.write_stations(client, prefix, {ids[8]: {"protocols": _doc(1000)}})
            changed = await cache.refresh()
            return whole, first, changed, cache.docs
        finally:
            await client.aclose()

    whole, first, changed, docs = asyncio.run(go())
    assert first == set(ids)
    assert whole[ids[0]] == {
        "protocols": {"sources": {"pec": {"version": 1, "figures": [0, 1]}}},
        "turnout": {"reports": {"1": [10, 0, 5]}},
    }
    assert whole[ids[4499]] == {"protocols": {"sources": {"pec": {"version": 1, "figures": [4499, 4500]}}}}
    assert changed == {ids[7], ids[8]}
    assert docs.parsed(ids[7]) == {"protocols": orjson.loads(_doc(7)), "evote": {"ballots": 3}}
    assert docs[ids[8]]["protocols"]["sources"]["pec"]["figures"] == [1000, 1001]

    assert readmodel.read_station(sync, prefix, ids[7]) == docs.parsed(ids[7])
    assert readmodel.read_station(sync, prefix, "S:none") is None
    some = readmodel.read_stations(sync, prefix, [ids[0], "S:none", *ids[1:2500]], chunk=1000)
    assert set(some) == set(ids[:2500]) and some[ids[0]] == docs.parsed(ids[0])


def test_a_snapshot_of_more_units_than_an_mset_takes_is_written_whole_with_its_meta(redis_url: str) -> None:
    prefix = "rm-snap"
    sync = redis.Redis.from_url(redis_url)
    sync.delete(*(sync.keys(f"{prefix}:*") or [b"none"]))
    units = {f"T:{i:05d}": {"unit_id": f"T:{i:05d}", "stations": i} for i in range(readmodel.CHUNK * 2 + 7)}

    async def go() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await readmodel.write_snapshot(client, prefix, units, {"watermarks": {"protocols:0": 9}})
        finally:
            await client.aclose()

    asyncio.run(go())
    assert all(readmodel.read_unit(sync, prefix, uid) == snap for uid, snap in units.items())
    assert readmodel.read_meta(sync, prefix) == {"watermarks": {"protocols:0": 9}}
