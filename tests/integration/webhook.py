"""A real HTTP webhook receiver for the notification tests: http.server in a thread.

It checks every signature the way a subscriber would (its own HMAC, hmac.compare_digest),
records every POST it answered 2xx, and can be taken down (the port closed: connection
refused) and brought back on the same port.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor import procs


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
                        receiver.received.append(Received(
                            self.headers["X-Tabmon-Delivery"], int(self.headers["X-Tabmon-Attempt"]),
                            self.headers["X-Tabmon-Event"], body, ok, json.loads(body)))  # fmt: skip
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
