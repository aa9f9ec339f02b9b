"""Scale: synthetic nights of any size through the real pipeline, with one worker or several.

Each night is written once with ``tabmon generate`` (kept in ``--nights`` for the next run),
sent with ``tabmon replay`` and tallied by ``tabmon worker`` processes on an embedded broker
and redis-server. For each size and worker count it prints the events/s and the cost per
event, the peak memory of every process, and whether every TEC, REC and the national totals
equal the generator's own sums (the summaries it wrote into the night) in both views.

    python load/scale.py --stations 10000 100000 --workers 1 2
    python load/scale.py --stations 1050000 --live --json out.json --plot cost.svg

Two ways to time a night:
- preloaded (default): the replay sends the whole night first; the workers are then started
  and timed from the first snapshot to the snapshot holding the last event (the worker's own
  rate; as in load/bench.py);
- ``--live``: the workers are started first and the replay sent while they tally; timed from
  the replay's start to the snapshot holding the last event (the whole night end to end).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.adapters import procs, readmodel
from monitor.adapters.admin import ensure_topics
from monitor.cli.demo import embedded, start_worker, worker_env
from monitor.cli.progress import wait_caught_up
from monitor.contract.events import FIGURE_FIELDS
from monitor.drill.report import svg

FIXED = FIGURE_FIELDS  # the 2007 form the synthetic night is written on


@dataclasses.dataclass
class Child:
    """A finished child process: its wall time, peak resident memory and exit code."""

    seconds: float
    peak_mib: float
    returncode: int


def run_child(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Child:
    """Run ``cmd`` to its end; its own peak RSS from ``wait4`` (not the largest of all children)."""
    t0 = time.monotonic()
    proc = procs._popen(list(cmd), log, env=env)
    return finish(proc, t0)


def finish(proc: subprocess.Popen[bytes], t0: float) -> Child:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Child(time.monotonic() - t0, usage.ru_maxrss / 1024, proc.returncode)


def night_file(nights: Path, stations: int, tecs: int, log: Path) -> tuple[Path, Child | None]:
    """The night of ``stations`` as a JSON-lines file, generated unless already there."""
    path = nights / f"synthetic-{stations}-{tecs}-2007.jsonl"
    if path.is_file():
        return path, None
    nights.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    cmd = [sys.executable, "-m", "monitor.cli", "generate", "synthetic", "--stations", str(stations)]
    child = run_child([*cmd, "--tecs", str(tecs), "--seed", "2007", "-o", str(part)], log)
    if child.returncode != 0:
        raise SystemExit(f"tabmon generate failed with {child.returncode}; see {log}")
    part.rename(path)
    return path, child


def generator_sums(path: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """(events, unit -> its summary) of a night file: the generator's own sums per unit."""
    events, sums = 0, {}
    with path.open("rb") as f:
        for line in f:
            if line.startswith(b'{"at":null'):
                continue  # a registry record
            events += 1
            if b'"topic":"summaries"' in line:
                v = orjson.loads(line)["value"]
                sums[v["unit_id"]] = v
    return events, sums


def differences(units: dict[str, dict[str, Any]], sums: dict[str, dict[str, Any]]) -> list[str]:
    """Every unit whose tally in either view differs from the generator's summary of it."""
    out = []
    for uid, summary in sums.items():
        unit = units.get(uid)
        if unit is None:
            out.append(f"{uid}: missing from the snapshot")
            continue
        want = summary["figures"]
        for view in ("protocol", "official"):
            got = unit[view]
            if got["stations_reported"] != summary["stations_included"]:
                out.append(
                    f"{uid} {view}: {got['stations_reported']} stations, not {summary['stations_included']}"
                )
            out += [f"{uid} {view} {k}: {got[k]} != {want[k]}" for k in FIXED if got[k] != want[k]]
            out += [
                f"{uid} {view} {p}: {got['votes'][p]} != {n}"
                for p, n in want["votes"].items()
                if got["votes"][p] != n
            ]
    return out


def _redis_peak_mib(client: Any) -> float:
    return int(client.info("memory")["used_memory_peak"]) / 2**20


def measure(
    path: Path, events: int, sums: dict, workers: int, live: bool, workdir: Path, timeout: float
) -> dict:
    """One night through ``workers`` workers on a fresh broker and redis-server."""
    import redis

    workdir.mkdir(parents=True, exist_ok=True)
    with embedded(workdir, app_id="scale") as s:
        s = dataclasses.replace(s, session_timeout=10.0)
        ensure_topics(s)
        client = redis.Redis.from_url(s.redis_url)
        broker_pid = _pid_listening(s.broker)
        replay_cmd = [sys.executable, "-m", "monitor.cli", "replay", str(path), "--speed", "0"]
        replay_cmd += ["--broker", s.broker, "--redis-url", s.redis_url, "--app-id", s.app_id]
        replay_log = workdir / "replay.log"
        replay: Child | None = None
        if not live:
            replay = run_child(replay_cmd, replay_log, env=worker_env(s))
            if replay.returncode != 0:
                raise SystemExit(f"tabmon replay failed with {replay.returncode}; see {replay_log}")
        procs_w = [
            start_worker(dataclasses.replace(s, metrics_port=procs.free_port()), workdir / f"worker-{i}.log")
            for i in range(workers)
        ]
        try:
            marks: dict[str, float] = {}
            t_replay = time.monotonic()
            live_proc = procs._popen(replay_cmd, replay_log, env=worker_env(s)) if live else None
            last_print = [time.monotonic()]

            def note(meta: dict | None, left: int) -> None:
                now = time.monotonic()
                if meta is not None and "first" not in marks:
                    marks["first"] = now
                if meta is not None and left == 0:
                    marks.setdefault("last", now)
                else:
                    marks.pop("last", None)
                if now - last_print[0] >= 15:
                    last_print[0] = now
                    print(f"    ... {left:,} events still to fold in", flush=True)

            def alive() -> None:
                for i, w in enumerate(procs_w):
                    if w.poll() is not None:
                        raise SystemExit(f"worker {i} exited with {w.returncode}; see {workdir}")

            if live_proc is not None:
                replay = finish(live_proc, t_replay)
                if replay.returncode != 0:
                    raise SystemExit(f"tabmon replay failed with {replay.returncode}; see {replay_log}")
            wait_caught_up(
                s,
                lambda: readmodel.read_meta(client, s.app_id),
                timeout=timeout,
                on_poll=note,
                check=alive,
                interval=0.05,
            )
            start = t_replay if live else marks["first"]
            elapsed = marks["last"] - start
            time.sleep(s.snapshot_interval * 2)
            diffs = differences(readmodel.read_units(client, s.app_id), sums)
            assert replay is not None
            return {
                "events": events,
                "workers": workers,
                "mode": "live" if live else "preloaded",
                "seconds": elapsed,
                "events_per_s": events / elapsed,
                "us_per_event": elapsed / events * 1e6,
                "exact": not diffs,
                "diffs": diffs[:10],
                "worker_peak_mib": [procs.peak_rss_mib(w.pid) for w in procs_w],
                "replay_seconds": replay.seconds,
                "replay_peak_mib": replay.peak_mib,
                "broker_peak_mib": procs.peak_rss_mib(broker_pid) if broker_pid else math.nan,
                "redis_peak_mib": _redis_peak_mib(client),
            }
        finally:
            for w in procs_w:
                procs.stop(w, grace=20)


def _pid_listening(address: str) -> int | None:
    """The pid of the process listening on ``host:port`` (the embedded broker), from /proc."""
    port = int(address.rsplit(":", 1)[1])
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def plot(rows: list[dict], path: Path) -> None:
    """Cost per event against stations (log scale), a line per worker count, as an SVG file."""
    w, h, left, right, top, bottom = 560.0, 320.0, 64.0, 20.0, 28.0, 44.0
    xs = [math.log10(r["stations"]) for r in rows]
    ys = [r["us_per_event"] for r in rows]
    sx = svg.Linear(math.floor(min(xs)), math.ceil(max(xs)), left, w - right)
    sy = svg.Linear(0.0, max(ys) * 1.15, h - bottom, top)
    body = [
        svg.x_axis(sx, h - bottom, range(int(sx.d0), int(sx.d1) + 1), "stations", "10^{:g}", grid_to=top),
        svg.y_axis(sy, left, svg.ticks(0.0, sy.d1), "µs per event", grid_to=w - right),
    ]
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for i, workers in enumerate(sorted({r["workers"] for r in rows})):
        mine = sorted((r for r in rows if r["workers"] == workers), key=lambda r: r["stations"])
        pts = [(sx(math.log10(r["stations"])), sy(r["us_per_event"])) for r in mine]
        color = colors[i % len(colors)]
        body.append(svg.polyline(pts, color))
        for r, (x, y) in zip(mine, pts, strict=True):
            body.append(svg.marker(x, y, color, f"{r['stations']:,} stations: {r['us_per_event']:.1f} µs"))
        body.append(svg.text(w - right - 4, top + 14 * (i + 1), f"{workers} worker(s)", "legend", "end"))
        body[-1] = body[-1].replace("<text", f'<text fill="{color}"', 1)
    style = (
        "<style>.axis{stroke:#333}.grid{stroke:#ddd}.series{fill:none;stroke-width:2}"
        "text{font:11px sans-serif}</style>"
    )
    markup = svg.svg(w, h, style + "".join(body), "Cost per event against stations (synthetic nights)")
    path.write_text(markup.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--tecs", type=int, default=0, help="TECs (default: 205 per 9,727 stations, as in 2007)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--live", action="store_true", help="send the night while the workers tally")
    ap.add_argument("--nights", type=Path, default=Path(tempfile.gettempdir()) / "tabmon-nights")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds a night may take to tally")
    ap.add_argument("--json", type=Path, help="write the rows here too")
    ap.add_argument("--plot", type=Path, help="write the cost per event as an SVG here")
    args = ap.parse_args()
    if min(args.stations) < 1 or min(args.workers) < 1:
        raise SystemExit("--stations and --workers take positive numbers")
    procs.interrupt_on_signals()
    rows = []
    base = Path(tempfile.mkdtemp(prefix="tabmon-scale-"))
    print(f"logs in {base}; nights kept in {args.nights}", flush=True)
    for stations in args.stations:
        tecs = args.tecs or max(1, round(stations / 9727 * 205))
        path, gen = night_file(args.nights, stations, tecs, base / f"generate-{stations}.log")
        if gen is not None:
            print(
                f"{stations:,} stations: generated in {gen.seconds:.0f} s, peak {gen.peak_mib:.0f} MiB",
                flush=True,
            )
        events, sums = generator_sums(path)
        for workers in args.workers:
            print(
                f"{stations:,} stations ({tecs:,} TECs, {events:,} events), {workers} worker(s) ...",
                flush=True,
            )
            row = measure(
                path, events, sums, workers, args.live, base / f"{stations}-{workers}", args.timeout
            )
            row.update(stations=stations, tecs=tecs)
            rows.append(row)
            print(
                f"  {row['events_per_s']:>9,.0f} events/s  {row['us_per_event']:6.1f} µs/event"
                f"  ({row['seconds']:.1f} s {row['mode']}); exact: {row['exact']};"
                f" worker peak {', '.join(f'{m:.0f}' for m in row['worker_peak_mib'])} MiB;"
                f" replay {events / row['replay_seconds']:,.0f} events/s,"
                f" peak {row['replay_peak_mib']:.0f} MiB;"
                f" broker {row['broker_peak_mib']:.0f} MiB; redis {row['redis_peak_mib']:.0f} MiB",
                flush=True,
            )
            for d in row["diffs"]:
                print(f"    {d}")
    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"machine: {machine}")
    if args.json:
        args.json.write_text(
            orjson.dumps({"rows": rows, "machine": machine}, option=orjson.OPT_INDENT_2).decode()
        )
    if args.plot:
        plot(rows, args.plot)
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
