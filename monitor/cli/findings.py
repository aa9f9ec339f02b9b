"""``tabmon findings``: the findings in the read model, filtered, newest first."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson
import redis
from rich.console import Console
from rich.table import Table

from monitor.adapters import readmodel
from monitor.detect.findings import KINDS as CONTRACT_KINDS
from monitor.detect.findings import SEVERITIES
from monitor.detect.forensics import KINDS as FORENSIC_KINDS
from monitor.errors import MonitorError
from monitor.settings import Settings

KINDS = (*CONTRACT_KINDS, *FORENSIC_KINDS)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kind",
        action="append",
        choices=KINDS,
        metavar="KIND",
        help=f"only this kind (repeatable): {', '.join(KINDS)}",
    )
    p.add_argument(
        "--region",
        action="append",
        metavar="REC",
        help="only this region's findings (repeatable), e.g. KAR; KZ for national",
    )
    p.add_argument("--station", help="only this station's findings")
    p.add_argument("--min-severity", choices=SEVERITIES, default="info")
    p.add_argument("--limit", type=int, default=50, help="most rows to print (default 50; 0: all)")
    p.add_argument("--json", action="store_true", help="print the records as JSON lines")


def select(records: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    floor = SEVERITIES.index(args.min_severity)
    regions = {r.upper() for r in args.region} if args.region else None
    return [
        r
        for r in records
        if (not args.kind or r["kind"] in args.kind)
        and (regions is None or r["rec_id"] in regions)
        and (args.station is None or r["station_id"] == args.station)
        and SEVERITIES.index(r["severity"]) >= floor
    ]


def findings_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit < 0:
        raise MonitorError(f"--limit must be >= 0, got {args.limit}")
    client = readmodel.sync_client(settings.redis_url)
    try:
        records = readmodel.read_findings(client, settings.app_id)
    except redis.RedisError as exc:
        raise MonitorError(f"cannot read the findings at {settings.redis_url}: {exc}") from None
    chosen = select(records, args)
    shown = chosen[: args.limit] if args.limit else chosen
    if args.json:
        sys.stdout.write("".join(orjson.dumps(r).decode() + "\n" for r in shown))
        return 0
    table = Table(
        title=f"Findings: {len(chosen):,} of {len(records):,}"
        + (f", newest {len(shown)} shown" if len(shown) < len(chosen) else "")
    )
    for col in ("updated", "severity", "kind", "where", "explanation"):
        table.add_column(col, overflow="fold")
    for r in shown:
        table.add_row(
            r["updated"][:19], r["severity"], r["kind"], r["station_id"] or r["unit_id"], r["explanation"]
        )
    Console().print(table)
    return 0
