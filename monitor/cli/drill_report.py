"""``tabmon drill-report --html OUT_DIR``: read the read model once, write ``index.html``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from monitor.drill.report.data import drill_data
from monitor.drill.report.page import render
from monitor.errors import ConfigError, MonitorError
from monitor.settings import Settings

PAGE = "index.html"


def output_dir(path: str) -> Path:
    """Check, before anything is read, that the page can go to ``path``: a directory, or a
    path whose nearest existing parent is a writable directory. Nothing is created yet, so a
    failure later (Redis) leaves nothing behind."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--html {path!r} is a file, not a directory")
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"--html {path!r}: cannot create the directory: {str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--html {path!r}: {str(existing)!r} is not writable")
    return out


def write_page(out: Path, html: str) -> Path:
    """Create the directory if needed and write through a temporary file and a rename: a
    failed write leaves the previous page whole."""
    target = out / PAGE
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".index-", suffix=".html")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(html)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    return target


def html_command(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from monitor.adapters.readmodel import read_findings, read_meta, read_stations, read_units, sync_client
    from monitor.contract import build as build_registry
    from producers.elections.kz2007.night import build

    out = output_dir(args.html)
    client = sync_client(settings.redis_url)
    try:
        units = read_units(client, settings.app_id)
        if "KZ" not in units:
            raise MonitorError(
                f"no tally in {settings.redis_url} under {settings.app_id!r}: run"
                " the drill first (tabmon demo, or a worker and tabmon replay kz2007)"
            )
        registry = build_registry(build(seed=args.seed).registry)
        stations = read_stations(client, settings.app_id, list(registry.stations))
        findings = read_findings(client, settings.app_id)
        meta = read_meta(client, settings.app_id) or {}
    except redis.RedisError as exc:
        raise MonitorError(f"cannot read the read model at {settings.redis_url}: {exc}") from None
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = drill_data(
        units,
        stations,
        registry,
        findings,
        snapshot_at=str(meta.get("updated_at", "")),
        generated_at=now,
        origin=f"{settings.app_id!r} in the read model",
    )
    target = write_page(out, render(data))
    ok = sum(ln.match for ln in data.lines)
    print(
        f"wrote {target}: {ok} of {len(data.lines)} published figures match, {len(findings):,} findings",
        file=sys.stdout,
    )
    return 0 if ok == len(data.lines) else 1
