"""The embedded default: broker, redis, a worker, a replay with a progress bar, the tally live.

Every process started here is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from monitor.adapters import procs, readmodel
from monitor.adapters.admin import ensure_topics
from monitor.alerting import findings_seq_key
from monitor.cli import render, sources
from monitor.cli.progress import wait_caught_up as wait_caught_up_plain
from monitor.errors import MonitorError
from monitor.settings import Settings

console = Console()


def _send_with_progress(
    settings: Settings,
    messages: Iterable[Any],
    total: int | None,
    speed: float,
    client: Any = None,
    should_stop: Any = None,
    top: str = "KZ",
) -> int:
    from producers.replay import send

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[clock]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("replaying", total=total, clock="")
        last_live = [0.0]

        def progress(sent: int, at: datetime | None) -> None:
            clock = f"drill clock {at:%d %b %H:%M}" if at else ""
            if client is not None and time.monotonic() - last_live[0] > 1:
                last_live[0] = time.monotonic()
                cec = readmodel.read_unit(client, settings.app_id, top)
                if cec:
                    clock += (
                        f"  | tally: {cec['official']['stations_reported']:,} stations,"
                        f" {cec['official']['valid']:,} valid votes"
                    )
            bar.update(task, completed=sent, clock=clock)

        return send(settings, messages, speed=speed, progress=progress, should_stop=should_stop)


def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    from producers.replay import send

    replay = sources.load_messages(args.source, args)
    ensure_topics(settings)
    n_registry = send(settings, replay.registry)
    stop = _CtrlC()
    n = _send_with_progress(settings, replay.events, replay.n_events, args.speed, should_stop=stop)
    of = f" of {replay.n_events:,}" if replay.n_events is not None else ""
    where = f" (stopped by Ctrl-C at {n:,}{of})" if stop.hit else ""
    console.print(f"sent {n_registry:,} registry records and {n:,} events to {settings.broker}{where}")
    return 130 if stop.hit else 0


class _CtrlC:
    """Turns SIGINT into a request to stop sending, so the producer flushes what it has."""

    def __init__(self) -> None:
        import signal

        self.hit = False
        signal.signal(signal.SIGINT, self._on)

    def _on(self, *_: Any) -> None:
        self.hit = True

    def __call__(self) -> bool:
        return self.hit


def drill_report_command(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.drill import check as drill
    from producers.elections.kz2007.night import build, expected

    client = readmodel.sync_client(settings.redis_url)
    try:
        if readmodel.read_unit(client, settings.app_id, "KZ") is None:
            raise MonitorError(
                f"no tally in {settings.redis_url} under {settings.app_id!r}:"
                " run the drill first (tabmon demo, or a worker and"
                " tabmon replay kz2007)"
            )
        lines = drill.report(
            expected(), drill.from_redis(client, settings.app_id, build(seed=args.seed).registry)
        )
    except redis.RedisError as exc:
        raise MonitorError(f"cannot read the read model at {settings.redis_url}: {exc}") from None
    return _print_drill(lines, as_json=args.json)


def _print_drill(lines: list[Any], as_json: bool = False) -> int:
    from dataclasses import asdict

    from monitor.drill import check as drill

    if as_json:
        sys.stdout.write(
            orjson.dumps([asdict(ln) for ln in lines], option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    else:
        console.print(drill.table(lines))
    ok = sum(ln.match for ln in lines)
    console.print(
        f"{ok} of {len(lines)} published figures match", style="bold" if ok == len(lines) else "bold red"
    )
    return 0 if ok == len(lines) else 1


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    d = settings.definition()
    if args.unit is None:
        args.unit = d.file.levels[0].pattern
    client = readmodel.sync_client(settings.redis_url)
    try:
        unit = readmodel.read_unit(client, settings.app_id, args.unit)
        meta = readmodel.read_meta(client, settings.app_id)
        station = None if unit else readmodel.read_station(client, settings.app_id, args.unit)
    except redis.RedisError as exc:
        raise MonitorError(f"cannot read the read model at {settings.redis_url}: {exc}") from None
    if station is not None:
        if args.json:
            sys.stdout.write(orjson.dumps(station, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            console.print(render.station_table(args.unit, station, (meta or {}).get("parties", []), d))
        return 0
    if unit is None:
        raise MonitorError(
            f"no snapshot of unit {args.unit!r} in {settings.redis_url} under"
            f" {settings.app_id!r} (is a worker running? is the id right?)"
        )
    if args.json:
        sys.stdout.write(orjson.dumps(unit, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    console.print(render.unit_table(unit))
    console.print(render.coverage_line(unit))
    for cid, c in sorted(unit.get("contests", {}).items()):  # a district held in this unit
        console.print(render.contest_table(cid, c))
    if meta:
        console.print(f"[dim]snapshot {meta['updated_at']} by {meta['worker']}[/dim]")
    return 0


@contextmanager
def embedded(workdir: Path, app_id: str = "tabmon-demo") -> Iterator[Settings]:
    """A Tansu broker and a redis-server on free ports, stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    broker_port, redis_port = procs.free_port(), procs.free_port()
    broker = redis_proc = None
    try:
        broker = procs.start_broker(broker_port, workdir / "broker.log")
        redis_proc = procs.start_redis(redis_port, workdir / "redis", workdir / "redis.log")
        yield Settings.from_env(
            broker=f"127.0.0.1:{broker_port}",
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            app_id=app_id,
            metrics_port=procs.free_port(),
            session_timeout=6.0,
        )
    finally:
        procs.stop(redis_proc)
        procs.stop(broker)


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.masked().items():
        env[f"TABMON_{name.upper()}"] = str(value)
    env["TABMON_REDIS_URL"] = settings.redis_url  # unmasked
    return env


def start_worker(settings: Settings, log: Path, command: str = "worker") -> subprocess.Popen[bytes]:
    """``tabmon <command>`` (a worker, or the notifier) with ``settings`` in its environment."""
    return procs._popen([sys.executable, "-m", "monitor.cli", command], log, env=worker_env(settings))


def wait_caught_up(
    settings: Settings, client: Any, worker: subprocess.Popen[bytes], timeout: float = 600, top: str = "KZ"
) -> dict[str, Any]:
    """Show the live national tally until the snapshot has folded in every sent message."""
    with Live(console=console, refresh_per_second=2, transient=True) as live:

        def show(meta: dict[str, Any] | None, left: int) -> None:
            cec = readmodel.read_unit(client, settings.app_id, top)
            if cec is not None:
                live.update(
                    Group(render.unit_table(cec, "Live national tally"), f"{left:,} events still to fold in")
                )

        def alive() -> None:
            if worker.poll() is not None:
                raise MonitorError(f"the worker exited with code {worker.returncode}")

        return wait_caught_up_plain(
            settings,
            lambda: readmodel.read_meta(client, settings.app_id),
            timeout=timeout,
            on_poll=show,
            check=alive,
        )


def settled_findings(settings: Settings, client: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """The findings once the detectors have seen everything: no station document waiting
    for the sweep, and no new finding for longer than a sweep interval."""
    seq_key, changed = findings_seq_key(settings.app_id), readmodel.changed_key(settings.app_id)
    quiet_for = settings.sweep_interval + 2 * settings.snapshot_interval
    deadline = time.monotonic() + timeout
    last, since = client.get(seq_key), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        seq = client.get(seq_key)
        if seq != last or client.scard(changed):
            last, since = seq, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            break
    return readmodel.read_findings(client, settings.app_id)


def _example_station(election: Any) -> str:
    """A station worth looking at: ALR-811 of the 2007 report, a misread one, else the first."""
    ids = [r["station_id"] for r in election.registry if r.get("type") == "station"]
    misread = sorted(getattr(election, "misread", {}))
    return "ALR-811" if "ALR-811" in ids else (misread or ids)[0]


def _what(args: argparse.Namespace, election: Any) -> str:
    if args.election == "kz2007":
        return "the 2007 drill"
    if args.election == "synthetic":
        return "a synthetic 2007-shaped election"
    f = election.definition.file.election
    return f"{f.name}{'' if f.synthetic else ' (a synthetic night)'}"


def run_demo(args: argparse.Namespace) -> int:
    from producers.replay import messages_of

    procs.interrupt_on_signals()
    workdir = args.workdir / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    console.print(f"[bold]tabmon demo[/bold]: logs in {workdir}")
    election = sources.load_election(args.election, args)
    definition = getattr(election, "definition", None)
    console.print(
        f"{_what(args, election)} (seed {args.seed}): {len(election.registry):,} registry"
        f" records, {len(election.events):,} events"
    )
    worker = None
    with embedded(workdir) as settings:
        settings = _demo_settings(settings, args, definition)
        d = settings.definition()
        top = d.file.levels[0].pattern
        try:
            console.print(f"broker {settings.broker}, redis {settings.redis_url}")
            ensure_topics(settings)
            from producers.replay import send

            send(settings, messages_of(election.registry, []))
            worker = start_worker(settings, workdir / "worker.log")
            console.print(
                f"worker pid {worker.pid}, metrics on http://127.0.0.1:{settings.metrics_port}/metrics"
            )
            client = redis.Redis.from_url(settings.redis_url)
            t0 = time.monotonic()
            events = messages_of([], election.events)
            _send_with_progress(settings, events, len(events), args.speed, client, top=top)
            wait_caught_up(settings, client, worker, top=top)
            elapsed = time.monotonic() - t0
            units = {
                u: readmodel.read_unit(client, settings.app_id, u)
                for u in [top, *sorted({r["unit_id"] for r in election.registry if r.get("type") == "unit"})]
            }
            console.print(render.summary({k: v for k, v in units.items() if v}, d))
            console.print(render.findings_summary(settled_findings(settings, client)))
            if args.election == "kz2007":
                from monitor.drill import check as drill
                from producers.elections.kz2007.night import expected

                _print_drill(
                    drill.report(expected(), drill.from_redis(client, settings.app_id, election.registry))
                )
            console.print(
                f"{len(events):,} events replayed and tallied in {elapsed:.1f} s"
                f" ({len(events) / elapsed:,.0f} events/s end to end); worker peak"
                f" memory {procs.peak_rss_mib(worker.pid):,.0f} MiB"
            )
            if args.keep_running:
                console.print(
                    "running. In another shell:\n  export"
                    f" TABMON_BROKER={settings.broker}"
                    f" TABMON_REDIS_URL={settings.redis_url}"
                    f" TABMON_APP_ID={settings.app_id}"
                    + (f" TABMON_ELECTION={settings.election}" if definition is not None else "")
                    + f"\n  tabmon status; tabmon status {_example_station(election)}"
                    + ("; tabmon drill-report" if args.election == "kz2007" else "")
                    + "\nCtrl-C stops all",
                    soft_wrap=True,
                )
                worker.wait()
        except KeyboardInterrupt:
            console.print("\nstopping ...")
        finally:
            procs.stop(worker, grace=15)
    console.print("stopped: worker, redis-server, broker")
    return 0


def _demo_settings(settings: Settings, args: argparse.Namespace, definition: Any) -> Settings:
    """The embedded settings for this night: its definition and its close of polls."""
    if definition is None:
        from producers.elections.synthetic import POLLS_CLOSE

        # both 2007 datasets close the polls at 20.00 hrs on 18 August 2007, the last
        # turnout report of the day (report 003, XIII)
        return dataclasses.replace(settings, polls_close=POLLS_CLOSE.isoformat())
    return dataclasses.replace(
        settings,
        election=sources.definition_election(args.election),
        polls_close=definition.polls_close.isoformat(),
    )
