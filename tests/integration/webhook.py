"""What the notification tests share: a real HTTP webhook receiver (http.server in a
thread), `tabmon notify` subprocesses, subscribing through the command line, producing
findings to `alerts` as the emitter does.

The receiver checks every signature the way a subscriber would (its own HMAC,
hmac.compare_digest), records every POST it answered 2xx, and can be taken down (the port
closed: connection refused) and brought back on the same port. Test modules import the
fixtures they use from here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from integration.conftest import Workers
from monitor.adapters import procs
from monitor.cli.main import main
from monitor.detect.findings import Finding, to_record
from monitor.settings import Settings

T0 = "2007-08-18T20:00:00+00:00"


@dataclass
class Received:
    delivery_id: str
    attempt: int
    event: str
    body: bytes
    signature_ok: bool
    payload: dict[str, Any]


def signature_ok(body: bytes, header: str, secret: str) -> bool:
    """The receiver's side, written independently of the monitor's code."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


class Receiver:
    def __init__(self, secret: str = "", status: int = 200) -> None:
        self.port = procs.free_port()
        self.secret = secret
        self.status = status
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = signature_ok(body, self.headers.get("X-Tabmon-Signature", ""), receiver.secret)
                status = receiver.status
                if 200 <= status < 300:
                    with receiver.lock:
                        receiver.received.append(
                            Received(
                                self.headers["X-Tabmon-Delivery"],
                                int(self.headers["X-Tabmon-Attempt"]),
                                self.headers["X-Tabmon-Event"],
                                body,
                                ok,
                                json.loads(body),
                            )
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(self, n: int, timeout: float, what: str = "") -> list[Received]:
        """Wait until at least ``n`` distinct deliveries arrived; then a little more, so that
        anything extra (a duplicate) has the time to arrive too."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len({r.delivery_id for r in self.snapshot()}) >= n:
                time.sleep(1.0)
                return self.snapshot()
            time.sleep(0.1)
        got = len({r.delivery_id for r in self.snapshot()})
        raise AssertionError(f"timed out after {timeout} s with {got} of {n} deliveries {what}")


@pytest.fixture
def nsettings(settings: Settings) -> Settings:
    """Short waits, so that retries and a lease left by a killed notifier pass quickly."""
    s = dataclasses.replace(
        settings,
        notify_backoff_base=0.2,
        notify_backoff_max=1.0,
        notify_poll_interval=0.2,
        notify_lease=3.0,
        notify_timeout=2.0,
        notify_metrics_port=procs.free_port(),
    )
    s.validate()
    return s


class Notifiers(Workers):
    """``tabmon notify`` processes, as :class:`Workers` are workers."""

    command = "notify"

    @property
    def metrics_port(self) -> int:
        return self.settings.notify_metrics_port


@pytest.fixture
def notifiers(nsettings: Settings, logdir: Path, request: pytest.FixtureRequest) -> Iterator[Notifiers]:
    n = Notifiers(nsettings, logdir, request.node.name)
    yield n
    n.stop_all()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.stop()


def tabmon(settings: Settings, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--redis-url", settings.redis_url, "--app-id", settings.app_id])
    return code, out.getvalue(), err.getvalue()


def subscribe(
    settings: Settings, receivers: list[Receiver], *flags: str, status: int = 200, start: bool = True
) -> tuple[str, Receiver]:
    r = Receiver(status=status)
    receivers.append(r)
    code, out, err = tabmon(settings, "subscribe", "--webhook", r.url, "--json", *flags)
    assert code == 0, err
    sub = json.loads(out)
    r.secret = sub["secret"]
    if start:
        r.start()
    return sub["id"], r


def finding(
    kind: str, severity: str, unit: str, station: str | None, updated: str = T0, **evidence: Any
) -> dict[str, Any]:
    level = "station" if station else ("cec" if unit == "KZ" else "tec")
    f = Finding(kind, severity, level, unit, station, evidence or {"x": 1}, f"{kind} at {station or unit}.")
    return to_record(f, first_seen=T0, updated=updated)


def produce(settings: Settings, records: list[dict[str, Any]]) -> list[Any]:
    """Send as the emitter does (keyed by finding_id); returns where each record landed."""
    p = KafkaProducer(bootstrap_servers=settings.broker, linger_ms=5)
    futures = [
        p.send(settings.topic("alerts"), key=rec["finding_id"].encode(), value=orjson.dumps(rec))
        for rec in records
    ]
    p.flush()
    p.close()
    return [f.get(timeout=10) for f in futures]


def ledger(settings: Settings, sub_id: str) -> list[dict[str, Any]]:
    code, out, err = tabmon(settings, "deliveries", sub_id, "--json")
    assert code == 0, err
    entries: list[dict[str, Any]] = json.loads(out)
    return entries


def read_alerts(settings: Settings, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Every record on the alerts topic, in partition then offset order. It reads up to the
    high watermark of the fetch responses: the broker's ListOffsets answer is not used, since
    Tansu answers it with the base offset of the last batch plus one, short of the end when
    that batch holds several records."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = settings.topic("alerts")

    async def read() -> list[dict[str, Any]]:
        c = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False)
        await c.start()
        try:
            tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            got: dict[Any, list[dict[str, Any]]] = {tp: [] for tp in tps}
            deadline = time.monotonic() + timeout
            while True:
                for tp, msgs in (await c.getmany(timeout_ms=200)).items():
                    got[tp] += [orjson.loads(m.value) for m in msgs]
                marks = [c.highwater(tp) for tp in tps]
                positions = [await c.position(tp) for tp in tps]
                if all(m is not None and p >= m for p, m in zip(positions, marks, strict=True)):
                    return [r for tp in tps for r in got[tp]]
                assert time.monotonic() < deadline, f"reading {topic} took longer than {timeout} s"
        finally:
            await c.stop()

    return asyncio.run(read())
