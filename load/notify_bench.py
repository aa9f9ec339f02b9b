"""Notification throughput: findings on `alerts` to signed webhook POSTs, through the embedded
broker and redis-server, one `tabmon notify` process and local receivers (http.server).

    python load/notify_bench.py                       # 2,000 findings, 1 and 4 subscribers
    python load/notify_bench.py --findings 5000 --subscribers 1 4

The findings are synthetic (one per station, warning, spread over the regions). Timed: from
the first message produced to the last notification acknowledged by every receiver. Each
receiver checks every signature and counts distinct delivery ids.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import hmac
import io
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.adapters import procs
from monitor.adapters.admin import ensure_topics
from monitor.cli.demo import embedded, start_worker
from monitor.contract import REC_CODES
from monitor.detect.findings import Finding, to_record

T0 = "2007-08-18T20:00:00+00:00"


class Receiver:
    def __init__(self) -> None:
        self.port = procs.free_port()
        self.secret = ""
        self.ids: set[str] = set()
        self.posts = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                mac = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    receiver.posts += 1
                    receiver.ids.add(self.headers["X-Tabmon-Delivery"])
                    if not hmac.compare_digest(mac, self.headers["X-Tabmon-Signature"]):
                        receiver.bad_signatures += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def run(n_findings: int, n_subs: int, workdir: Path) -> dict[str, float]:
    from monitor.cli.main import main

    with embedded(workdir, app_id=f"nb{n_subs}") as base:
        s = dataclasses.replace(base, topic_prefix=f"nb{n_subs}.", notify_metrics_port=procs.free_port())
        ensure_topics(s)
        receivers = [Receiver() for _ in range(n_subs)]
        for r in receivers:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert (
                    main(
                        [
                            "subscribe",
                            "--webhook",
                            f"http://127.0.0.1:{r.port}/",
                            "--json",
                            "--redis-url",
                            s.redis_url,
                            "--app-id",
                            s.app_id,
                        ]
                    )
                    == 0
                )
            r.secret = json.loads(out.getvalue())["secret"]
        notifier = start_worker(s, workdir / f"notify{n_subs}.log", "notify")
        try:
            regions = list(REC_CODES)
            records = [
                to_record(
                    Finding(
                        "turnout_jump", "warning", "station", f"{r}-T01", f"{r}-{i}", {"jump": i}, "A jump."
                    ),
                    T0,
                    T0,
                )
                for i in range(n_findings)
                for r in [regions[i % len(regions)]]
            ]
            time.sleep(5)  # the notifier joins its group before the clock starts
            producer = KafkaProducer(bootstrap_servers=s.broker, linger_ms=5)
            t0 = time.perf_counter()
            for rec in records:
                producer.send(s.topic("alerts"), key=rec["finding_id"].encode(), value=orjson.dumps(rec))
            producer.flush()
            deadline = time.monotonic() + 600
            while any(len(r.ids) < n_findings for r in receivers):
                if time.monotonic() > deadline or notifier.poll() is not None:
                    raise SystemExit(f"stalled: {[len(r.ids) for r in receivers]} of {n_findings}")
                time.sleep(0.05)
            seconds = time.perf_counter() - t0
            rss = procs.peak_rss_mib(notifier.pid)
        finally:
            procs.stop(notifier)
            for r in receivers:
                r.server.shutdown()
        posts = sum(r.posts for r in receivers)
        return {
            "subscribers": n_subs,
            "findings": n_findings,
            "seconds": seconds,
            "notifications_per_s": n_findings * n_subs / seconds,
            "posts": posts,
            "duplicates": posts - n_findings * n_subs,
            "bad_signatures": sum(r.bad_signatures for r in receivers),
            "peak_rss_mib": rss,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=2000)
    ap.add_argument("--subscribers", type=int, nargs="+", default=[1, 4])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.subscribers:
            r = run(args.findings, n, Path(tmp) / f"s{n}")
            print(
                f"{r['subscribers']} subscriber(s), {r['findings']:,} findings: {r['seconds']:.1f} s,"
                f" {r['notifications_per_s']:,.0f} notifications/s, {r['posts']:,} POSTs"
                f" ({r['duplicates']} duplicates, {r['bad_signatures']} bad signatures),"
                f" notifier peak RSS {r['peak_rss_mib']:.0f} MiB"
            )


if __name__ == "__main__":
    main()
