"""Baseline for comparison: a plain Faust agent that decodes each event and writes the latest
figures per station to a Table, one event at a time, the textbook way.

    python load/faust_baseline.py --events 60000

Starts its own Tansu broker; prints events/s from the agent's first event to its last.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENT = r"""
import os, time, faust, orjson
n = int(os.environ["N"])
app = faust.App("baseline", broker="kafka://" + os.environ["BROKER"], store="memory://",
                web_enabled=False, topic_disable_leader=True, key_serializer="json",
                value_serializer="json", topic_partitions=4, broker_session_timeout=6)
topic = app.topic("turnout", key_serializer="raw", value_serializer="raw", partitions=4)
latest = app.Table("latest", default=None, partitions=4)
state = {"n": 0, "t0": None}

@app.agent(topic)
async def tally(stream):
    async for value in stream:
        state["t0"] = state["t0"] or time.perf_counter()
        e = orjson.loads(value)
        cur = latest.get(e["station_id"])
        if cur is None or e["seq"] > cur[0]:
            latest[e["station_id"]] = [e["seq"], e["registered"], e["added"], e["voted"]]
        state["n"] += 1
        if state["n"] >= n:
            # Faust redirects stdout into its log: hand the figure over in a file.
            with open(os.environ["RESULT"], "w") as f:
                f.write(f"{n / (time.perf_counter() - state['t0']):.0f}")
            os._exit(0)

app.main()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60000)
    args = ap.parse_args()
    import orjson
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from monitor.adapters import procs
    from producers.elections.synthetic import generate

    port = procs.free_port()
    with tempfile.TemporaryDirectory() as tmp:
        broker = procs.start_broker(port, Path(tmp) / "broker.log")
        try:
            bs = f"127.0.0.1:{port}"
            KafkaAdminClient(bootstrap_servers=bs).create_topics([NewTopic("turnout", 4, 1)])
            events = [e for e in generate(seed=2007, with_evotes=False).events if e.topic == "turnout"]
            prod = KafkaProducer(bootstrap_servers=bs, linger_ms=10, batch_size=512 * 1024)
            for i in range(args.events):
                e = events[i % len(events)]
                prod.send("turnout", key=e.key.encode(), value=orjson.dumps(e.value))
            prod.flush()
            script = Path(tmp) / "agent.py"
            script.write_text(AGENT)
            result = Path(tmp) / "result"
            env = dict(os.environ, N=str(args.events), BROKER=bs, RESULT=str(result))
            t0 = time.monotonic()
            subprocess.run(
                [sys.executable, str(script), "worker", "-l", "warn"],
                env=env,
                capture_output=True,
                timeout=900,
                cwd=tmp,
            )
            if not result.exists():
                raise SystemExit("the Faust agent did not finish; no result")
            rate = result.read_text()
            print(
                f"Faust agent, table update per event: {int(rate):,} events/s"
                f" ({args.events:,} turnout events, {time.monotonic() - t0:.0f} s wall)"
            )
        finally:
            procs.stop(broker)


if __name__ == "__main__":
    main()
