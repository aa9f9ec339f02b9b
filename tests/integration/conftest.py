"""Real processes for integration tests: one Tansu broker and one redis-server per session,
a unique application id and topic prefix per test, workers as real subprocesses."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from monitor.adapters import procs, readmodel
from monitor.adapters.admin import ensure_topics
from monitor.cli.demo import start_worker
from monitor.cli.progress import end_offsets, wait_caught_up
from monitor.settings import Settings
from monitor.testing import scrape_metric


@pytest.fixture(scope="session")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def broker(logdir: Path) -> Iterator[str]:
    port = procs.free_port()
    proc = procs.start_broker(port, logdir / "broker.log")
    yield f"127.0.0.1:{port}"
    procs.stop(proc)


@pytest.fixture(scope="session")
def redis_url(logdir: Path) -> Iterator[str]:
    port = procs.free_port()
    proc = procs.start_redis(port, logdir / "redis", logdir / "redis.log")
    yield f"redis://127.0.0.1:{port}/0"
    procs.stop(proc)


@pytest.fixture
def settings(broker: str, redis_url: str) -> Settings:
    """Fresh names for this test: its own app id (groups, Redis keys) and topic prefix."""
    tag = uuid.uuid4().hex[:8]
    s = Settings.from_env(
        {},
        broker=broker,
        redis_url=redis_url,
        app_id=f"t{tag}",
        topic_prefix=f"t{tag}.",
        partitions=4,
        flush_interval=0.2,
        snapshot_interval=0.3,
        session_timeout=6.0,
        metrics_port=procs.free_port(),
    )
    ensure_topics(s)
    return s


class Workers:
    """``tabmon worker`` processes started with ``settings``, stopped at the end of a test."""

    command = "worker"

    def __init__(self, settings: Settings, logdir: Path, name: str) -> None:
        self.settings, self.logdir, self.name = settings, logdir, name
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def metrics_port(self) -> int:
        return self.settings.metrics_port

    def start(self) -> subprocess.Popen[bytes]:
        log = self.logdir / f"{self.name}-{self.command}{len(self.procs)}.log"
        proc = start_worker(self.settings, log, self.command)
        self.procs.append(proc)
        return proc

    def metric(self, name: str, labels: str = "") -> float:
        """Sum of a metric's samples on the process's /metrics whose labels contain ``labels``."""
        return scrape_metric(self.metrics_port, name, labels) or 0.0

    def stop_all(self) -> None:
        for p in self.procs:
            procs.stop(p, grace=15)


@pytest.fixture
def workers(settings: Settings, logdir: Path, request: pytest.FixtureRequest) -> Iterator[Workers]:
    w = Workers(settings, logdir, request.node.name)
    yield w
    w.stop_all()


def wait_for(
    settings: Settings,
    predicate: Callable[[dict[str, Any] | None], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
) -> dict[str, Any] | None:
    client = redis.Redis.from_url(settings.redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker exited with {proc.returncode} while waiting for {what}")
        meta = readmodel.read_meta(client, settings.app_id)
        if predicate(meta):
            return meta
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def caught_up(
    settings: Settings, timeout: float = 90, proc: subprocess.Popen[bytes] | None = None
) -> dict[str, dict[str, Any]]:
    """Wait until the snapshot has folded in every input message; return all units."""
    client = redis.Redis.from_url(settings.redis_url)
    assert sum(end_offsets(settings).values()) > 0, "nothing was sent"

    def alive() -> None:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker exited with {proc.returncode}")

    wait_caught_up(
        settings, lambda: readmodel.read_meta(client, settings.app_id), timeout=timeout, check=alive
    )
    time.sleep(settings.snapshot_interval * 2)  # a snapshot taken after the last merge
    return readmodel.read_units(client, settings.app_id)
