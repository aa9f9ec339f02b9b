"""The command line: every error is one line on stderr starting `tabmon: error:` and exit code 2.

Each case fails before any broker or Redis would be needed (or, for `status`, talks to a port
where nothing listens), so these run as plain subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]


def tabmon(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TABMON_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), clean.get("PYTHONPATH")]))
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tabmon: error: "), lines[0]
    return lines[0]


def test_replay_of_a_missing_file(tmp_path):
    msg = one_line_error(tabmon("replay", "/nonexistent/file.jsonl", cwd=tmp_path))
    assert "/nonexistent/file.jsonl" in msg


def test_replay_file_with_a_non_json_line(tmp_path):
    good = orjson.dumps(
        {
            "at": "2007-08-18T10:00:01+06:00",
            "topic": "turnout",
            "key": "AKM-1",
            "value": {"type": "turnout", "v": 1},
        }
    ).decode()
    path = tmp_path / "events.jsonl"
    path.write_text(f'{good}\n\n{good}\n{{"at": "2007-08-18T10:00:01+06:00", "topic": \n')
    msg = one_line_error(tabmon("replay", str(path), cwd=tmp_path))
    assert f"{path}:4:" in msg  # the blank line 2 still counts


def test_replay_line_missing_its_topic(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"key": "AKM-1", "value": {}}\n')
    msg = one_line_error(tabmon("replay", str(path), cwd=tmp_path))
    assert f"{path}:1:" in msg and "topic" in msg


def test_worker_with_a_missing_registry_file(tmp_path):
    msg = one_line_error(tabmon("worker", "--registry-file", "/nonexistent.json", cwd=tmp_path))
    assert "/nonexistent.json" in msg


def test_worker_with_a_bad_registry_record(tmp_path):
    path = tmp_path / "registry.jsonl"
    path.write_text(
        '{"type": "ballot", "v": 1, "parties": ["A", "B"]}\n'
        '{"type": "unit", "v": 1, "level": "rec", "unit_id": "XYZ",'
        ' "parent_id": "KZ", "name": "Nowhere"}\n'
    )
    msg = one_line_error(tabmon("worker", "--registry-file", str(path), cwd=tmp_path))
    assert "record 2" in msg and "XYZ" in msg


def test_worker_with_a_bad_log_level(tmp_path):
    proc = tabmon(
        "worker", "--registry-file", "/nonexistent.json", cwd=tmp_path, env={"TABMON_LOG_LEVEL": "loud"}
    )
    assert "TABMON_LOG_LEVEL" in one_line_error(proc)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TABMON_SEAT_METHOD": "bogus"}, "TABMON_SEAT_METHOD"),
        ({"TABMON_PARTITIONS": "abc"}, "TABMON_PARTITIONS"),
        ({"TABMON_THRESHOLD": "1.5"}, "TABMON_THRESHOLD"),
    ],
)
def test_topics_with_bad_settings(tmp_path, env, needle):
    msg = one_line_error(tabmon("topics", env=env, cwd=tmp_path))
    assert needle in msg and next(iter(env.values())) in msg


def test_status_without_redis(tmp_path):
    msg = one_line_error(tabmon("status", "--redis-url", "redis://127.0.0.1:1/0", cwd=tmp_path))
    assert "redis://127.0.0.1:1/0" in msg


@pytest.mark.parametrize("args", [("topics", "--bogus"), ("--bogus",), ("frobnicate",), ()])
def test_argparse_usage_errors(tmp_path, args):
    proc = tabmon(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: tabmon")
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("tabmon")
    assert proc.stdout == ""


def test_replay_window_flags_are_checked_in_one_line(tmp_path):
    import subprocess
    import sys

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "replay",
            "synthetic",
            "--stations",
            "20",
            "--tecs",
            "16",
            "--from",
            "nonsense",
            "--broker",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("tabmon: error: --from 'nonsense'") and bad.stderr.count("\n") == 1
    backwards = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "replay",
            "synthetic",
            "--stations",
            "20",
            "--tecs",
            "16",
            "--from",
            "20:00",
            "--until",
            "10:00",
            "--broker",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert backwards.returncode == 2 and "is not after" in backwards.stderr


def test_window_keeps_the_events_of_the_window():
    from datetime import datetime

    from monitor.cli.sources import DRILL_TZ, window
    from producers.replay import Message

    def at(h):
        return Message("turnout", b"k", b"{}", datetime(2007, 8, 18, h, tzinfo=DRILL_TZ))

    events = [at(h) for h in range(8, 23)]
    kept = window(events, "10:00", "2007-08-18 20:00")
    assert [m.at.hour for m in kept] == list(range(10, 20))
    assert window(events, None, None) == events


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b'{"at": null, "topic": "tally-partials", "key": "x", "value": {}}', "is not one of"),
        (b'{"at": null, "topic": "turnout", "key": null, "value": {}}', "must be a non-empty string"),
    ],
)
def test_replay_file_lines_with_a_bad_topic_or_key_are_refused(tmp_path, line, says):
    import subprocess
    import sys

    f = tmp_path / "bad.jsonl"
    f.write_bytes(line + b"\n")
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "replay", str(f), "--broker", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert f"{f}:1:" in out.stderr and says in out.stderr


def test_status_with_the_read_model_disabled_says_so():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "status", "--redis-url", ""],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "disabled" in out.stderr


def test_replay_file_times_without_offset_take_the_drill_clock(tmp_path):
    from monitor.cli.sources import DRILL_TZ, _replay_line

    m = _replay_line({"at": "2007-08-18T20:00:00", "topic": "turnout", "key": "ALR-1", "value": {}})
    assert m.at.tzinfo == DRILL_TZ


@pytest.mark.parametrize("command", [("findings",), ("drill-report",), ("drill-report", "--html", "out")])
@pytest.mark.parametrize(("url", "says"), [("", "disabled"), ("notaurl://x", "notaurl://x")])
def test_read_model_commands_with_an_unusable_redis_url(tmp_path, command, url, says):
    # drill-report --html once crashed with a traceback here
    msg = one_line_error(tabmon(*command, env={"TABMON_REDIS_URL": url}, cwd=tmp_path))
    assert says in msg
