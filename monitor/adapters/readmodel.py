"""The Redis read model: the latest snapshot per unit, written at a bounded rate.

Keys (``<prefix>`` defaults to ``tabmon``):
- ``<prefix>:unit:<unit_id>``: JSON snapshot of one unit (CEC ``KZ``, a REC, a TEC);
- ``<prefix>:station:<kind>:<station_id>``: JSON, what one input kind holds of a station
  (``protocols``: every source's latest figures and all versions, the official source;
  ``turnout``: every report; ``evote``: ballots), written by the ingest service at each flush
  for the stations that changed. One string per kind, not a hash per station: a flush writes
  them with a few ``MSET`` and the sweep reads them with ``MGET``, about five times faster
  than a command per station (load/RESULTS.md, "Scale");
- ``<prefix>:stations:changed``: a set of the stations written since the sweep last read;
- ``<prefix>:meta``: JSON with ``updated_at``, the registry summary, the parties and the
  watermarks (per source topic-partition, input or routed, the next offset folded into the
  tally), ``forwards_pending`` (forwards the stores still wait on) and ``rollup_pending``
  (commissions folded in whose totals a later snapshot brings);
- ``<prefix>:findings`` and ``<prefix>:findings:seq``: the findings (see
  :mod:`monitor.alerting.emit`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from monitor.errors import MonitorError


def sync_client(redis_url: str) -> Any:
    """A redis-py client for the commands that read the model; an empty or malformed URL is
    one clear error, not a traceback."""
    import redis

    if not redis_url:
        raise MonitorError("TABMON_REDIS_URL is empty: the read model is disabled")
    try:
        return redis.Redis.from_url(redis_url)
    except ValueError as exc:
        raise MonitorError(f"TABMON_REDIS_URL={redis_url!r}: {exc}") from None


def unit_key(prefix: str, unit_id: str) -> str:
    return f"{prefix}:unit:{unit_id}"


def meta_key(prefix: str) -> str:
    return f"{prefix}:meta"


def findings_key(prefix: str) -> str:
    return f"{prefix}:findings"


def findings_seq_key(prefix: str) -> str:
    return f"{prefix}:findings:seq"


async def write_snapshot(
    client: Any, prefix: str, units: Mapping[str, Mapping[str, Any]], meta: dict[str, Any]
) -> None:
    """Write every unit and the meta in one round trip and one transaction (redis.asyncio
    client), the units ``CHUNK`` to an ``MSET``: for the 25,000 units of a 1,050,000-station
    night a ``SET`` each took three times as long (load/snapshot_write.py)."""
    pipe = client.pipeline(transaction=True)
    keyed = [(unit_key(prefix, uid), orjson.dumps(snap)) for uid, snap in units.items()]
    for i in range(0, len(keyed), CHUNK):
        pipe.mset(dict(keyed[i : i + CHUNK]))
    pipe.set(meta_key(prefix), orjson.dumps(meta))
    await pipe.execute()


STATION_KINDS = ("protocols", "turnout", "evote")  # the input kinds with station documents
CHUNK = 2000  # keys per MSET or MGET


def station_key(prefix: str, kind: str, station_id: str) -> str:
    return f"{prefix}:station:{kind}:{station_id}"


def _station_keys(prefix: str, station_ids: Sequence[str]) -> list[str]:
    """Every kind's key of every station, station by station."""
    return [station_key(prefix, k, sid) for sid in station_ids for k in STATION_KINDS]


def _station_docs(station_ids: Sequence[str], values: Sequence[bytes | None]) -> dict[str, dict[str, Any]]:
    """station -> kind -> document, from ``_station_keys``' values (stations with none left out)."""
    n, out = len(STATION_KINDS), {}
    for i, sid in enumerate(station_ids):
        mine = values[n * i : n * i + n]
        doc = {k: orjson.loads(v) for k, v in zip(STATION_KINDS, mine, strict=True) if v is not None}
        if doc:
            out[sid] = doc
    return out


async def write_stations(client: Any, prefix: str, docs: dict[str, dict[str, bytes]]) -> None:
    """One key per station and input kind (protocols, turnout, evote): each partition writes
    only what it knows, and the latest write of a key is the latest state."""
    items = [
        (station_key(prefix, kind, sid), doc) for sid, kinds in docs.items() for kind, doc in kinds.items()
    ]
    pipe = client.pipeline(transaction=False)
    for i in range(0, len(items), CHUNK):
        pipe.mset(dict(items[i : i + CHUNK]))
    pipe.sadd(changed_key(prefix), *docs)  # for the sweep's incremental reload
    await pipe.execute()


def changed_key(prefix: str) -> str:
    return f"{prefix}:stations:changed"


class _Kinds(dict):  # type: ignore[type-arg]
    """One station's documents by kind, each kept as the JSON Redis holds and parsed when read."""

    __slots__ = ()

    def __getitem__(self, kind: str) -> Any:
        return orjson.loads(dict.__getitem__(self, kind))

    def get(self, kind: str, default: Any = None) -> Any:
        raw = dict.get(self, kind)
        return default if raw is None else orjson.loads(raw)

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        return ((k, orjson.loads(v)) for k, v in dict.items(self))

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (orjson.loads(v) for v in dict.values(self))


class StationDocs(dict):  # type: ignore[type-arg]
    """station -> kind -> document, as the detectors read them, with every document kept as
    the JSON Redis holds and parsed only when a detector reads it: parsed, a station's
    documents took eight times the memory (load/memory.py), and the stage-two owner keeps
    every station's."""

    __slots__ = ()

    def put(self, station_id: str, raw: dict[str, bytes]) -> None:
        dict.__setitem__(self, station_id, _Kinds(raw))

    def parsed(self, station_id: str) -> dict[str, Any] | None:
        kinds = dict.get(self, station_id)
        return None if kinds is None else dict(kinds.items())


class StationCache:
    """Every station document, kept in step with Redis: loaded whole once, then only the
    stations written since (``write_stations`` adds them to a set the cache empties). The
    documents stay JSON until a detector reads them (:class:`StationDocs`)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.docs = StationDocs()
        self.loaded = False

    async def refresh(self) -> set[str]:
        """Reload what changed; returns the station ids reloaded."""
        if not self.loaded:
            # forget the changed set first: a write after this lands in it for next time
            await self.client.delete(changed_key(self.prefix))
            ids = set()
            for kind in STATION_KINDS:
                keys = self.client.scan_iter(match=station_key(self.prefix, kind, "*"), count=CHUNK)
                start = len(station_key(self.prefix, kind, ""))
                ids |= {k.decode()[start:] async for k in keys}
            self.loaded = True
        else:
            pipe = self.client.pipeline(transaction=True)
            pipe.smembers(changed_key(self.prefix))
            pipe.delete(changed_key(self.prefix))
            members, _ = await pipe.execute()
            ids = {m.decode() for m in members}
        ordered = sorted(ids)
        step = CHUNK // len(STATION_KINDS)
        n = len(STATION_KINDS)
        for i in range(0, len(ordered), step):
            chunk = ordered[i : i + step]
            values = await self.client.mget(_station_keys(self.prefix, chunk))
            for j, sid in enumerate(chunk):
                raw = {
                    k: v
                    for k, v in zip(STATION_KINDS, values[n * j : n * j + n], strict=True)
                    if v is not None
                }
                if raw:
                    self.docs.put(sid, raw)
        return ids


def read_station(client: Any, prefix: str, station_id: str) -> dict[str, Any] | None:
    return _station_docs([station_id], client.mget(_station_keys(prefix, [station_id]))).get(station_id)


def read_unit(client: Any, prefix: str, unit_id: str) -> dict[str, Any] | None:
    raw = client.get(unit_key(prefix, unit_id))
    return None if raw is None else orjson.loads(raw)


def read_units(client: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """Every unit's latest snapshot (sync client), in one round trip after the scan."""
    keys = sorted(client.scan_iter(unit_key(prefix, "*")))
    values = client.mget(keys) if keys else []
    start = len(unit_key(prefix, ""))  # the id is everything after the prefix, ':' or not
    return {k.decode()[start:]: orjson.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}


def read_stations(
    client: Any, prefix: str, station_ids: Sequence[str], chunk: int = 1000
) -> dict[str, dict[str, Any]]:
    """The documents of these stations (sync client), one ``MGET`` per chunk."""
    out = {}
    for i in range(0, len(station_ids), chunk):
        ids = station_ids[i : i + chunk]
        out.update(_station_docs(ids, client.mget(_station_keys(prefix, ids))))
    return out


def read_findings(client: Any, prefix: str) -> list[dict[str, Any]]:
    """Every finding's latest record, most recently updated first (sync client)."""
    raw = client.hvals(findings_key(prefix))
    return sorted((orjson.loads(v) for v in raw), key=lambda r: (r["updated"], r["finding_id"]), reverse=True)


async def read_meta_async(client: Any, prefix: str) -> dict[str, Any] | None:
    """The meta (redis.asyncio client)."""
    raw = await client.get(meta_key(prefix))
    return None if raw is None else orjson.loads(raw)


def read_meta(client: Any, prefix: str) -> dict[str, Any] | None:
    raw = client.get(meta_key(prefix))
    return None if raw is None else orjson.loads(raw)
