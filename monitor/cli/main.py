"""``tabmon``: the command line. Every error is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from monitor.cli.definition import add_commands as add_definition_commands
from monitor.cli.notify import add_commands as add_notify_commands
from monitor.errors import MonitorError
from monitor.settings import Settings


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {
        k: v
        for k, v in (
            ("broker", getattr(args, "broker", None)),
            ("redis_url", getattr(args, "redis_url", None)),
            ("registry_file", getattr(args, "registry_file", None)),
            ("app_id", getattr(args, "app_id", None)),
        )
        if v is not None
    }
    return Settings.from_env(**overrides, **extra)


def cmd_broker(args: argparse.Namespace) -> int:
    from monitor.adapters import procs

    # Ctrl-C and SIGTERM only set a flag: an exception raised wherever the signal lands could
    # fall between starting the broker and holding it, and the broker runs in its own session,
    # so nothing else would stop it. A signal during the start stops the broker once it is up.
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    proc = procs.start_broker(args.port)
    try:
        if not stopping.is_set():
            print(f"Tansu broker on 127.0.0.1:{args.port} (pid {proc.pid}); Ctrl-C stops it", flush=True)
        while not stopping.is_set() and proc.poll() is None:
            stopping.wait(0.2)
        if proc.poll() is not None:
            print(f"tabmon: error: the Tansu broker exited with code {proc.returncode}", file=sys.stderr)
            return 1
        return 0
    finally:
        procs.stop(proc)


def cmd_topics(args: argparse.Namespace) -> int:
    from monitor.adapters.admin import ensure_topics

    created = ensure_topics(_settings(args))
    print("created: " + (", ".join(created) if created else "nothing (all topics exist)"))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from monitor.worker.app import run_worker

    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_worker(settings)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from monitor.cli.demo import replay_command

    return replay_command(args, _settings(args))


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.cli.demo import status_command

    return status_command(args, _settings(args))


def cmd_drill_report(args: argparse.Namespace) -> int:
    if args.html is not None:
        from monitor.cli.drill_report import html_command

        return html_command(args, _settings(args))
    from monitor.cli.demo import drill_report_command

    return drill_report_command(args, _settings(args))


def cmd_findings(args: argparse.Namespace) -> int:
    from monitor.cli.findings import findings_command

    return findings_command(args, _settings(args))


def cmd_export(args: argparse.Namespace) -> int:
    from monitor.cli.export import export_command

    return export_command(args, _settings(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.cli.demo import run_demo

    return run_demo(args)


def cmd_generate(args: argparse.Namespace) -> int:
    from monitor.cli import sources

    replay = sources.load_messages(args.source, args)
    n_registry, n_events = sources.write_jsonl(replay, args.out)
    print(
        f"wrote {n_registry + n_events:,} lines to {args.out}: {n_registry:,} registry records, then"
        f" {n_events:,} events in clock order (tabmon replay {args.out})"
    )
    return 0


def _election_args(p: argparse.ArgumentParser, speed: bool = True) -> None:
    p.add_argument(
        "--stations",
        type=int,
        default=None,
        help="stations of a synthetic election (default 9,727; a definition's: its demo.stations)",
    )
    p.add_argument("--tecs", type=int, default=205, help="TECs (default 205)")
    p.add_argument("--seed", type=int, default=2007, help="seed of the synthetic election")
    p.add_argument("--evotes", type=int, default=20000, help="electronic ballots (synthetic)")
    if speed:
        p.add_argument(
            "--speed",
            type=float,
            default=0.0,
            help="time compression of the election clock (0 = as fast as possible)",
        )
    p.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help="send only events at or after TIME (HH:MM on 18 Aug, or ISO 8601)",
    )
    p.add_argument("--until", metavar="TIME", help="send only events before TIME")


def _conn_args(p: argparse.ArgumentParser, registry: bool = False) -> None:
    p.add_argument("--broker", help="Kafka bootstrap servers (TABMON_BROKER)")
    p.add_argument("--redis-url", help="Redis URL (TABMON_REDIS_URL)")
    p.add_argument("--app-id", help="application id, the Redis key prefix (TABMON_APP_ID)")
    if registry:
        p.add_argument("--registry-file", help="registry JSON or JSON lines (TABMON_REGISTRY_FILE)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tabmon", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("demo", help="run everything embedded: broker, redis, worker, replay")
    p.add_argument(
        "--election",
        default="kz2007",
        metavar="NAME_OR_FILE",
        help="kz2007: the 2007 drill (default); synthetic: a clean 2007-shaped night; or an"
        " election definition, built in (kz2023, indonesia) or a YAML file: its synthetic night",
    )
    _election_args(p)
    p.add_argument("--workdir", type=Path, default=Path(".tabmon"), help="logs and state")
    p.add_argument(
        "--keep-running", action="store_true", help="after the summary keep every process up until Ctrl-C"
    )
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    p.add_argument("--port", type=int, default=9092)
    p.set_defaults(func=cmd_broker)
    p = sub.add_parser("topics", help="create the topics tabmon reads and writes")
    _conn_args(p)
    p.set_defaults(func=cmd_topics)
    p = sub.add_parser("worker", help="run a monitor worker until Ctrl-C")
    _conn_args(p, registry=True)
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("replay", help="send an election into the broker")
    p.add_argument(
        "source",
        help="kz2007 (the 2007 drill), synthetic, an election definition (a built-in name or a"
        " .yaml file: its synthetic night; run the worker with TABMON_ELECTION set to it),"
        " or a JSON-lines file",
    )
    _election_args(p)
    _conn_args(p)
    p.set_defaults(func=cmd_replay)
    p = sub.add_parser(
        "generate", help="write an election's registry and events to a JSON-lines file, for tabmon replay"
    )
    p.add_argument(
        "source",
        help="kz2007, synthetic, an election definition (built-in name or .yaml file) or a"
        " JSON-lines file (to cut with --from/--until)",
    )
    p.add_argument("-o", "--out", type=Path, required=True, metavar="FILE.jsonl", help="the file to write")
    _election_args(p, speed=False)
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("status", help="print the live tally of a unit from the read model")
    p.add_argument(
        "unit", nargs="?", default=None, help="a unit or station id (default: the country, KZ in kz2007)"
    )
    p.add_argument("--json", action="store_true", help="print the raw snapshot as JSON")
    _conn_args(p)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "drill-report", help="each figure the 2007 report published beside what the monitor shows"
    )
    p.add_argument("--seed", type=int, default=2007, help="seed the drill was replayed with")
    p.add_argument("--json", action="store_true", help="print the lines as JSON")
    p.add_argument(
        "--html",
        metavar="OUT_DIR",
        help="write the report with its plots to OUT_DIR/index.html (one self-contained page)",
    )
    _conn_args(p)
    p.set_defaults(func=cmd_drill_report)
    from monitor.cli.findings import add_arguments

    p = sub.add_parser("findings", help="list the findings in the read model, newest first")
    add_arguments(p)
    _conn_args(p)
    p.set_defaults(func=cmd_findings)
    from monitor.cli.export import add_arguments as add_export_arguments

    p = sub.add_parser(
        "export", help="write a unit's live tally and its children's in NIST SP 1500-100 JSON (the CDF)"
    )
    add_export_arguments(p)
    _conn_args(p)
    p.set_defaults(func=cmd_export)
    add_notify_commands(sub, _conn_args, _settings)
    add_definition_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MonitorError as exc:
        print(f"tabmon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
