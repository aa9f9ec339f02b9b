"""Writing a snapshot's units to Redis: a SET per unit against MSETs of ``readmodel.CHUNK``.

A snapshot that writes every unit (at the first snapshot, and once a minute, ``FULL_WRITE_EVERY``)
writes 25,000 of them at 1,050,000 stations, in one transaction, while the event loop waits.
This starts a local redis-server and times both ways over synthetic units of about 2.5 KB
(a unit snapshot's size at that scale), the two alternated in each round.

    python load/snapshot_write.py --units 25000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.adapters import procs, readmodel


async def one_set_each(client: Any, units: dict[str, Any]) -> None:
    """The way before: a SET per unit in one transaction."""
    pipe = client.pipeline(transaction=True)
    for uid, snap in units.items():
        pipe.set(readmodel.unit_key("bench", uid), orjson.dumps(snap))
    pipe.set(readmodel.meta_key("bench"), b"{}")
    await pipe.execute()


async def run(url: str, n: int, rounds: int) -> None:
    units = {f"T{i:05d}": {"unit_id": f"T{i:05d}", "figures": list(range(i, i + 300))} for i in range(n)}
    client = aioredis.Redis.from_url(url)
    try:
        for r in range(1, rounds + 1):
            t0 = time.perf_counter()
            await one_set_each(client, units)
            t1 = time.perf_counter()
            await readmodel.write_snapshot(client, "bench", units, {})
            t2 = time.perf_counter()
            print(f"round {r}: a SET per unit {t1 - t0:.2f} s, MSETs of {readmodel.CHUNK} {t2 - t1:.2f} s")
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=25_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    port = procs.free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = procs.start_redis(port, Path(workdir))
        try:
            asyncio.run(run(f"redis://127.0.0.1:{port}/0", args.units, args.rounds))
        finally:
            procs.stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
