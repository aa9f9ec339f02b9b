"""One typed settings object, built once at start-up from ``TABMON_*`` variables.

Nothing here is read at import time: call :meth:`Settings.from_env` where a process starts.
Every variable is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.contract import DEFAULT_WINDOW, TimeWindow
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.election import Definition
from monitor.tally.seats import METHODS

PREFIX = "TABMON_"
SEAT_METHODS = METHODS


@dataclass(frozen=True, slots=True)
class Settings:
    broker: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, host:port[,host:port]."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis for the read model; empty string disables it."""
    app_id: str = "tabmon"
    """Faust application id; also the prefix of the ingest consumer group."""
    topic_prefix: str = ""
    """Prepended to every topic name (lets several elections share one broker)."""
    partitions: int = 8
    """Partitions of the input topics when tabmon creates them."""
    registry_file: str = ""
    """A registry file (JSON array or JSON lines) loaded at start-up, before the topic."""
    metrics_port: int = 9108
    """Port of the worker's Prometheus endpoint (/metrics); 0 picks a free one."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics endpoint binds to (0.0.0.0 in a container)."""
    flush_interval: float = 0.5
    """Seconds between two publications of the per-partition partial tallies."""
    snapshot_interval: float = 1.0
    """Seconds between two snapshots of the tally (Redis read model, metrics)."""
    max_message_bytes: int = 65536
    """Messages larger than this are rejected as oversized."""
    deadletter_raw_limit: int = 16384
    """Bytes of the original message kept in a dead letter."""
    seats: int = 0
    """Seats to allocate; 0: the first contest's in the election definition (kz2007: 98)."""
    threshold: float = -1.0
    """Share a party needs for seats; below 0: the definition's (kz2007: 7 % of participants)."""
    seat_method: str = ""
    """hare | droop | dhondt | sainte_lague | plurality; empty: the definition's (kz2007: hare)."""
    session_timeout: float = 10.0
    """Consumer group session timeout in seconds (how long a killed worker holds partitions)."""
    batch_size: int = 5000
    """Most records the ingest consumer takes in one fetch."""
    gc_young: int = 50_000
    """Net allocations between two young collections of the worker's cyclic collector
    (CPython's default: 700); 0 keeps CPython's collector as it is (monitor/worker/heap.py)."""
    sweep_interval: float = 5.0
    """Most often, in seconds, the detectors comparing stations run over the read model."""
    election: str = "kz2007"
    """The election definition: a built-in name or a YAML/JSON file (docs/election-definition.md)."""
    thresholds_file: str = ""
    """A JSON object overriding detector thresholds by name (docs/detectors.md)."""
    polls_close: str = ""
    """When the polls close (ISO 8601 with offset): PEC protocols are late after it plus
    the grace (docs/detectors.md, late_protocol); empty: no late_protocol finding."""
    accept_days_before: float = 60.0
    """With TABMON_POLLS_CLOSE: event times earlier than this many days before it are rejected."""
    accept_days_after: float = 180.0
    """With TABMON_POLLS_CLOSE: event times later than this many days after it are rejected."""
    log_level: str = "info"
    notify_backoff_base: float = 1.0
    """Seconds before the first retry of a webhook delivery; doubled at each failure."""
    notify_backoff_max: float = 300.0
    """No wait between two delivery attempts is longer than this (seconds)."""
    notify_jitter: float = 0.5
    """Share of each wait drawn at random, so retries of many deliveries spread out."""
    notify_max_refusals: int = 30
    """Refusals (non-2xx answers other than 408, 429, 502-504) before a delivery is given up."""
    notify_timeout: float = 10.0
    """Seconds a webhook has to answer one POST."""
    notify_poll_interval: float = 1.0
    """Seconds between two looks at the subscriptions and the due retries."""
    notify_lease: float = 30.0
    """Seconds a notifier holds a subscriber; a killed notifier's subscribers wait this long."""
    notify_metrics_port: int = 9110
    """Port of the notifier's Prometheus endpoint (/metrics); 0 picks a free one."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build the settings from ``TABMON_*`` variables; ``overrides`` win over both."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if name in env and f.name not in overrides:
                values[f.name] = _convert(name, env[name], f.type)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.seat_method and self.seat_method not in SEAT_METHODS:
            raise ConfigError(
                f"TABMON_SEAT_METHOD={self.seat_method!r} is not one of {', '.join(SEAT_METHODS)}"
            )
        if not (0 <= self.threshold < 1 or self.threshold == -1):
            raise ConfigError(
                f"TABMON_THRESHOLD={self.threshold} must be in [0, 1) (or -1: the definition's)"
            )
        if self.seats < 0:
            raise ConfigError("TABMON_SEATS must be at least 1 (or 0: the definition's)")
        if self.gc_young < 0:
            raise ConfigError("TABMON_GC_YOUNG must be at least 1 (or 0: CPython's collector)")
        for name in ("partitions", "max_message_bytes", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"TABMON_{name.upper()} must be at least 1")
        for name in (
            "flush_interval",
            "snapshot_interval",
            "session_timeout",
            "sweep_interval",
            "accept_days_before",
            "accept_days_after",
            "notify_backoff_base",
            "notify_backoff_max",
            "notify_timeout",
            "notify_poll_interval",
            "notify_lease",
        ):
            if not getattr(self, name) > 0:  # also rejects nan
                raise ConfigError(f"TABMON_{name.upper()} must be positive")
        if self.polls_close:
            try:
                close = datetime.fromisoformat(self.polls_close)
            except ValueError:
                close = None
            if close is None or close.tzinfo is None:
                raise ConfigError(
                    f"TABMON_POLLS_CLOSE={self.polls_close!r} is not an ISO 8601"
                    " time with a UTC offset (e.g. 2007-08-18T20:00:00+06:00)"
                )
        if self.log_level.upper() not in logging.getLevelNamesMapping():
            raise ConfigError(
                f"TABMON_LOG_LEVEL={self.log_level!r} is not a logging level"
                " (debug, info, warning, error, critical)"
            )
        self._validate_notify()

    def _validate_notify(self) -> None:
        if self.notify_max_refusals < 1:
            raise ConfigError("TABMON_NOTIFY_MAX_REFUSALS must be at least 1")
        if not 0 <= self.notify_jitter <= 1:
            raise ConfigError(f"TABMON_NOTIFY_JITTER={self.notify_jitter} must be in [0, 1]")
        if self.notify_lease <= self.notify_timeout:
            # a lease that ran out during a POST would let a second notifier send the same
            raise ConfigError(
                f"TABMON_NOTIFY_LEASE={self.notify_lease} must be longer than"
                f" TABMON_NOTIFY_TIMEOUT={self.notify_timeout}"
            )

    def time_window(self) -> TimeWindow:
        """The event times the contract accepts: around the close of polls when it is set
        (TABMON_ACCEPT_DAYS_BEFORE / _AFTER), else the contract's default window."""
        if not self.polls_close:
            return DEFAULT_WINDOW
        close = datetime.fromisoformat(self.polls_close)
        window = TimeWindow.around(
            close, timedelta(days=self.accept_days_before), timedelta(days=self.accept_days_after)
        )
        # never wider than the default: no accepted time can overflow the clock
        return TimeWindow(
            max(window.earliest, DEFAULT_WINDOW.earliest), min(window.latest, DEFAULT_WINDOW.latest)
        )

    def definition(self) -> Definition:
        """The election definition ``TABMON_ELECTION`` names, loaded and checked (call it where a
        process starts: it reads a file)."""
        from monitor.election import load

        return load(self.election)

    def seat_overrides(self) -> dict[str, Any]:
        """The seat rule's parts these settings set (the rest come from the definition)."""
        return {
            "seats": self.seats or None,
            "threshold": None if self.threshold < 0 else self.threshold,
            "method": self.seat_method or None,
        }

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def masked(self) -> dict[str, Any]:
        """The settings as a dict for logs, with any password in a URL masked."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["redis_url"] = _mask_url(self.redis_url)
        return out


def _convert(name: str, raw: str, kind: Any) -> Any:
    kind = kind if isinstance(kind, str) else kind.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from None
    return raw


def _mask_url(url: str) -> str:
    # redis://user:secret@host -> redis://user:***@host
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
