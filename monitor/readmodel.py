"""The Redis read model: the latest snapshot per unit, written at a bounded rate.

Keys (``<prefix>`` defaults to ``tabmon``):
- ``<prefix>:unit:<unit_id>``: JSON snapshot of one unit (CEC ``KZ``, a REC, a TEC);
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


def read_unit(client: Any, prefix: str, unit_id: str) -> dict[str, Any] | None:
    raw = client.get(unit_key(prefix, unit_id))
    return None if raw is None else orjson.loads(raw)


def read_meta(client: Any, prefix: str) -> dict[str, Any] | None:
    raw = client.get(meta_key(prefix))
    return None if raw is None else orjson.loads(raw)
