"""The README's main command: the embedded demo runs and leaves nothing listening."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _ports(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text)]


def test_demo_runs_to_a_summary_and_stops_everything_on_ctrl_c(tmp_path):
    env = dict(os.environ, COLUMNS="160", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "demo",
            "--election",
            "synthetic",
            "--stations",
            "80",
            "--tecs",
            "16",
            "--evotes",
            "300",
            "--workdir",
            str(tmp_path),
            "--keep-running",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        out = []
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if "Ctrl-C stops all" in line or time.monotonic() > deadline:
                break
        text = "".join(out)
        assert "National (CEC)" in text, text
        assert "Regions (REC)" in text and "replayed and tallied" in text
        ports = _ports(text)  # broker, redis, metrics
        assert len(ports) >= 3 and all(_listening(p) for p in ports[:3]), text
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        assert "stopped: worker, redis-server, broker" in rest
        time.sleep(0.5)
        assert not any(_listening(p) for p in ports), f"still listening: {ports}"
    finally:
        if proc.poll() is None:  # a failed assertion must not leave a demo running
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def test_demo_started_in_the_background_stops_on_sigterm_and_sigint(tmp_path):
    """`kill` (SIGTERM), and SIGINT even where the shell started the demo with SIGINT ignored."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "demo",
                "--election",
                "synthetic",
                "--stations",
                "40",
                "--tecs",
                "16",
                "--evotes",
                "100",
                "--workdir",
                str(tmp_path / sig.name),
                "--keep-running",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        try:
            assert proc.stdout is not None
            text = ""
            for line in proc.stdout:
                text += line
                if "Ctrl-C stops all" in line:
                    break
            ports = _ports(text)
            assert len(ports) >= 3, text
            proc.send_signal(sig)
            rest, _ = proc.communicate(timeout=60)
            assert "stopped: worker, redis-server, broker" in rest, rest
            time.sleep(0.5)
            assert not any(_listening(p) for p in ports), f"{sig.name}: still listening: {ports}"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def test_broker_command_stops_its_broker_on_sigterm():
    from monitor.adapters.procs import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "Tansu broker on" in proc.stdout.readline()
        assert _listening(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        time.sleep(0.5)
        assert not _listening(port), "the Tansu broker outlived `tabmon broker`"
    finally:
        if proc.poll() is None:
            proc.kill()


def _tansu_on(port: int) -> list[int]:
    """Pids of Tansu brokers listening on ``port``, read from /proc (the broker may not be
    accepting connections yet, or may be orphaned by a parent that died)."""
    needle = f"tcp://127.0.0.1:{port}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tansu") and needle in argv:
            pids.append(int(entry))
    return pids


def _broker_start_time() -> float:
    """Seconds from launching `tabmon broker` to its announcement, on this machine now."""
    from monitor.adapters.procs import free_port

    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "Tansu broker on" in proc.stdout.readline()
        return time.monotonic() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@pytest.fixture(scope="module")
def broker_start_time() -> float:
    return _broker_start_time()


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1, 1.3])
def test_broker_command_leaves_no_broker_whenever_the_signal_lands(fraction, broker_start_time):
    """SIGTERM at any point of `tabmon broker`'s start, before or after it announces the
    broker, leaves no Tansu process behind (Tansu runs in its own session, so nothing else
    would stop an orphan). The signal is timed as a fraction of the measured start."""
    from monitor.adapters.procs import free_port

    delay = fraction * broker_start_time
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "broker", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        # Before the handler is installed Python dies of the signal, with no broker started yet;
        # from then on a stop asked for is a clean exit.
        assert proc.wait(30) in (0, -signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _tansu_on(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _tansu_on(port), f"a Tansu broker outlived `tabmon broker` (SIGTERM after {delay} s)"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for pid in _tansu_on(port):
            os.kill(pid, signal.SIGKILL)
