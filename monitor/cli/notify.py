"""The notification commands: subscribe, subscriptions, unsubscribe, deliveries, notify."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import redis
import redis.asyncio as aioredis

from monitor.errors import MonitorError
from monitor.notify.model import Subscription, new_subscription
from monitor.notify.store import Store
from monitor.settings import Settings

T = TypeVar("T")
SettingsOf = Callable[[argparse.Namespace], Settings]


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` against the notification store; a Redis failure is one line."""
    if not settings.redis_url:
        raise MonitorError("TABMON_REDIS_URL is empty: subscriptions are kept in Redis")

    async def go() -> T:
        client: Any = aioredis.from_url(settings.redis_url)
        try:
            return await work(Store(client, settings.app_id))
        finally:
            await client.aclose()

    try:
        return asyncio.run(go())
    except redis.RedisError as exc:
        raise MonitorError(f"cannot use Redis at {settings.redis_url}: {exc}") from None
    except ValueError as exc:  # a malformed URL
        raise MonitorError(f"TABMON_REDIS_URL={settings.redis_url!r}: {exc}") from None


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def cmd_subscribe(args: argparse.Namespace, settings: Settings) -> int:
    sub = new_subscription(
        args.webhook,
        regions=_split(args.region),
        kinds=_split(args.kind),
        min_severity=args.min_severity,
        secret=args.secret,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _with_store(settings, lambda store: store.add(sub))
    if args.json:
        print(orjson.dumps({**sub.masked(), "secret": sub.secret}).decode())
        return 0
    print(f"subscription {sub.sub_id}: {_describe(sub)}")
    print(f"secret {sub.secret}")
    print("  (shown once: the receiver checks X-Tabmon-Signature with it, see docs/notifications.md)")
    return 0


def _describe(sub: Subscription) -> str:
    return (
        f"{sub.webhook}  regions {','.join(sub.regions) or 'all'}  kinds {','.join(sub.kinds) or 'all'}"
        f"  min severity {sub.min_severity}"
    )


def cmd_subscriptions(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> list[dict[str, Any]]:
        rows = []
        for sub in (await store.subscriptions()).values():
            rows.append({**sub.masked(), "pending": await store.pending_count(sub.sub_id)})
        return rows

    rows = _with_store(settings, work)
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not rows:
        print("no subscriptions")
        return 0
    for r in rows:
        print(
            f"{r['id']}  {r['webhook']}  regions {','.join(r['regions'])}  kinds {','.join(r['kinds'])}"
            f"  min severity {r['min_severity']}  secret {r['secret']}  pending {r['pending']}"
            f"  since {r['created']}"
        )
    return 0


def cmd_unsubscribe(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    cancelled = _with_store(settings, lambda store: store.remove(args.id, now))
    if cancelled is None:
        raise MonitorError(f"no subscription {args.id!r} (tabmon subscriptions lists them)")
    print(f"removed {args.id}; {cancelled} undelivered notification(s) cancelled; its ledger is kept")
    return 0


LEDGER_COLUMNS = (
    "seq",
    "delivery_id",
    "event",
    "kind",
    "severity",
    "unit_id",
    "status",
    "attempts",
    "http_status",
    "delivered_at",
    "digest",
)


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> tuple[bool, list[dict[str, Any]]]:
        return await store.exists(args.id), await store.ledger(args.id)

    exists, entries = _with_store(settings, work)
    if not exists and not entries:
        raise MonitorError(f"no subscription {args.id!r} and no ledger for it")
    if args.json:
        print(orjson.dumps(entries, option=orjson.OPT_INDENT_2).decode())
        return 0
    print("  ".join(LEDGER_COLUMNS))
    for e in entries:
        cells = [str(e.get(c) if e.get(c) is not None else "-") for c in LEDGER_COLUMNS]
        cells[-1] = cells[-1][:12]
        print("  ".join(cells))
    by_status: dict[str, int] = {}
    for e in entries:
        by_status[e["status"]] = by_status.get(e["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "nothing yet"
    print(f"{len(entries)} notification(s): {summary}")
    return 0


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.notify.service import run_notifier

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_notifier(settings)
    return 0


def add_commands(
    sub: Any, conn_args: Callable[[argparse.ArgumentParser], None], settings_of: SettingsOf
) -> None:
    """Register the commands on the ``tabmon`` parser's subparsers."""

    def bind(cmd: Callable[[argparse.Namespace, Settings], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: cmd(args, settings_of(args))

    p = sub.add_parser("subscribe", help="subscribe a webhook to findings; prints its id and secret")
    p.add_argument("--webhook", required=True, metavar="URL", help="http(s) URL the findings are POSTed to")
    p.add_argument(
        "--region",
        action="extend",
        nargs="+",
        metavar="REC",
        help="only findings in these regions (REC codes, KZ for national); default all",
    )
    p.add_argument(
        "--kind",
        action="extend",
        nargs="+",
        metavar="KIND",
        help="only these finding kinds (forensic_* for every forensic test); default all",
    )
    p.add_argument(
        "--min-severity", default="info", metavar="SEVERITY", help="info (default), warning or critical"
    )
    p.add_argument("--secret", help="the signing secret (default: a new random one)")
    p.add_argument("--json", action="store_true", help="print the subscription as JSON")
    conn_args(p)
    p.set_defaults(func=bind(cmd_subscribe))
    p = sub.add_parser("subscriptions", help="list the subscriptions (secrets masked)")
    p.add_argument("--json", action="store_true")
    conn_args(p)
    p.set_defaults(func=bind(cmd_subscriptions))
    p = sub.add_parser("unsubscribe", help="remove a subscription (its ledger is kept)")
    p.add_argument("id")
    conn_args(p)
    p.set_defaults(func=bind(cmd_unsubscribe))
    p = sub.add_parser("deliveries", help="the delivery ledger of a subscription")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="every ledger entry as JSON")
    conn_args(p)
    p.set_defaults(func=bind(cmd_deliveries))
    p = sub.add_parser("notify", help="deliver findings to the subscribed webhooks until Ctrl-C")
    conn_args(p)
    p.set_defaults(func=bind(cmd_notify))
