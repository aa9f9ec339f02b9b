"""Prometheus metrics of the notifier: one typed container, created with a registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.notify.model import REJECTIONS


@dataclass
class NotifyMetrics:
    registry: CollectorRegistry
    consumed: Counter
    invalid: Counter
    enqueued: Counter
    deliveries: Counter
    retries: Counter
    pending: Gauge
    up: Gauge
    heartbeat: Gauge
    post_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None, prefix: str = "tabmon") -> NotifyMetrics:
        r = registry if registry is not None else CollectorRegistry()
        p = f"{prefix}_notify"
        metrics = cls(
            registry=r,
            consumed=Counter(
                f"{p}_findings_consumed", "Finding records read from the alerts topic and used", registry=r
            ),
            invalid=Counter(
                f"{p}_invalid_records",
                "Records on the alerts topic not used, by reason (logged, dead-lettered)",
                ["reason"],
                registry=r,
            ),
            enqueued=Counter(
                f"{p}_enqueued",
                "Notifications recorded as pending, by event (new, updated)",
                ["event"],
                registry=r,
            ),
            deliveries=Counter(
                f"{p}_deliveries",
                "Deliveries that ended: delivered (2xx) or failed (given up)",
                ["subscription", "status"],
                registry=r,
            ),
            retries=Counter(
                f"{p}_retries",
                "Attempts that failed and will be retried, by outcome (unavailable, refused)",
                ["subscription", "outcome"],
                registry=r,
            ),
            pending=Gauge(
                f"{p}_pending", "Notifications not yet delivered nor given up", ["subscription"], registry=r
            ),
            up=Gauge(f"{p}_up", "1 while a notifier loop runs (consumer, senders)", ["loop"], registry=r),
            heartbeat=Gauge(
                f"{p}_heartbeat_timestamp_seconds",
                "Unix time of a loop's last iteration",
                ["loop"],
                registry=r,
            ),
            post_seconds=Histogram(f"{p}_post_duration_seconds", "Time of one webhook POST", registry=r),
        )
        for reason in REJECTIONS:  # every reason is a series from the start: a rate works at once
            metrics.invalid.labels(reason)
        return metrics
