"""The Redis read model: the latest snapshot per unit, written at a bounded rate.

Keys (``<prefix>`` defaults to ``tabmon``):
- ``<prefix>:unit:<unit_id>``: JSON snapshot of one unit (CEC ``KZ``, a REC, a TEC);
- ``<prefix>:station:<station_id>``: a hash with a JSON field per input kind (``protocols``:
  every source's latest figures and all versions, the official source; ``turnout``: every
  report; ``evote``: ballots), written by the ingest service at each flush for the stations
  that changed;
- ``<prefix>:meta``: JSON with ``updated_at``, the registry summary, the parties and the
  watermarks (per input topic-partition, the next offset folded into the tally).
"""

from __future__ import annotations

from typing import Any

import orjson


def unit_key(prefix: str, unit_id: str) -> str:
    return f"{prefix}:unit:{unit_id}"


def meta_key(prefix: str) -> str:
    return f"{prefix}:meta"


async def write_snapshot(client: Any, prefix: str, units: dict[str, dict[str, Any]],
                         meta: dict[str, Any]) -> None:  # fmt: skip
    """Write every unit and the meta in one round trip (redis.asyncio client)."""
    pipe = client.pipeline(transaction=True)
    for uid, snap in units.items():
        pipe.set(unit_key(prefix, uid), orjson.dumps(snap))
    pipe.set(meta_key(prefix), orjson.dumps(meta))
    await pipe.execute()


def station_key(prefix: str, station_id: str) -> str:
    return f"{prefix}:station:{station_id}"


async def write_stations(client: Any, prefix: str, docs: dict[str, dict[str, bytes]]) -> None:
    """One hash per station, one field per input kind (protocols, turnout, evote): each
    partition writes only what it knows, and the latest write of a field is the latest state."""
    pipe = client.pipeline(transaction=False)
    for sid, fields in docs.items():
        pipe.hset(station_key(prefix, sid), mapping=fields)
    await pipe.execute()


def read_station(client: Any, prefix: str, station_id: str) -> dict[str, Any] | None:
    raw = client.hgetall(station_key(prefix, station_id))
    if not raw:
        return None
    return {k.decode(): orjson.loads(v) for k, v in raw.items()}


def read_unit(client: Any, prefix: str, unit_id: str) -> dict[str, Any] | None:
    raw = client.get(unit_key(prefix, unit_id))
    return None if raw is None else orjson.loads(raw)


def read_meta(client: Any, prefix: str) -> dict[str, Any] | None:
    raw = client.get(meta_key(prefix))
    return None if raw is None else orjson.loads(raw)
