"""The pipeline board: workers, lag, rejections, rebuilds (the on-call's)."""

from __future__ import annotations

from dashboards.panels import (
    Board,
    dashboard_links,
    keep_columns,
    stat,
    table,
    timeseries,
    variable,
)
from dashboards.unit_panels import RATE

W = 'instance=~"$instance"'


def per_second(name: str, by: str = "") -> str:
    """Rate of a worker counter, summed over the chosen workers."""
    grouping = f"sum by ({by})" if by else "sum"
    return f"{grouping} (rate({name}{{{W}}}[{RATE}]))"


def p95(histogram: str, by: str = "") -> str:
    grouping = ", ".join(x for x in ("le", by) if x)
    return f"histogram_quantile(0.95, sum by ({grouping}) (rate({histogram}_bucket{{{W}}}[{RATE}])))"


def pipeline() -> Board:
    inst = variable("instance", "Worker", "label_values(tabmon_agent_up, instance)", include_all=True)
    b = Board(
        "tabmon-pipeline",
        "tabmon: pipeline health",
        "The workers: liveness, throughput, lag, rejections, rebuilds.",
        variables=[inst],
        links=dashboard_links(),
    )
    b.row("Liveness")
    b.add(
        stat(
            "Agents running",
            [(f"sum by (agent) (tabmon_agent_up{{{W}}})", "{{agent}}")],
            "Workers whose ingest / aggregate loop is running (tabmon_agent_up).",
        ),
        6,
        5,
    )
    b.add(
        stat(
            "Workers scraped",
            [(f"sum(up{{{W}}})", "up"), (f"count(up{{{W}}})", "targets")],
            "Worker /metrics endpoints Prometheus reached at its last scrape.",
        ),
        6,
        5,
    )
    b.add(
        timeseries(
            "Seconds since the last heartbeat",
            [(f"time() - tabmon_agent_heartbeat_timestamp_seconds{{{W}}}", "{{instance}} {{agent}}")],
            "A loop that stops iterating shows here before anything else.",
            unit="s",
        ),
        6,
        5,
    )
    b.add(
        timeseries(
            "Seconds since the last event",
            [(f"min by (topic) (tabmon_seconds_since_last_event{{{W}}})", "{{topic}}")],
            "Per input topic; quiet topics are normal between turnout reports.",
            unit="s",
        ),
        6,
        5,
    )
    b.row("Throughput and lag")
    b.add(
        timeseries(
            "Events accepted per second",
            [(per_second("tabmon_events_total", "topic"), "{{topic}}")],
            "Events folded into the tally, by topic.",
            unit="ops",
        ),
        8,
    )
    b.add(
        timeseries(
            "Consumer lag",
            [(f"sum by (topic) (tabmon_consumer_lag_messages{{{W}}})", "{{topic}}")],
            "Messages on the broker not yet processed.",
        ),
        8,
    )
    b.add(
        timeseries(
            "Published per second",
            [
                (per_second("tabmon_partials_published_total"), "partials to stage two"),
                (per_second("tabmon_findings_emitted_total"), "findings to alerts"),
            ],
            "What the workers send on: partial tallies and findings.",
            unit="ops",
        ),
        8,
    )
    b.add(
        timeseries(
            "Processing time (p95)",
            [
                (p95("tabmon_ingest_batch_duration_seconds"), "ingest batch"),
                (p95("tabmon_snapshot_duration_seconds"), "snapshot"),
                (p95("tabmon_detect_duration_seconds", "stage"), "detectors {{stage}}"),
            ],
            "Time to decode and apply one fetched batch; to derive a snapshot of the tally; to run the "
            "detectors over what changed.",
            unit="s",
        ),
        8,
    )
    b.add(
        timeseries(
            "Events re-read to rebuild state",
            [(per_second("tabmon_replayed_events_total", "instance"), "{{instance}}")],
            "After a start, restart or rebalance a worker re-reads its partitions from offset 0.",
            unit="ops",
        ),
        8,
    )
    b.add(
        table(
            "Partitions per worker",
            [(f"tabmon_last_processed_offset{{{W}}}", "")],
            "Who owns which input partition, and the next offset it will process.",
            transformations=keep_columns(
                "instance", "topic", "partition", "Value", rename={"Value": "next offset"}, sort_by="topic"
            ),
        ),
        8,
    )
    b.row("Rejections")
    b.add(
        timeseries(
            "Rejected per second",
            [(per_second("tabmon_rejected_total", "topic, reason"), "{{topic}} {{reason}}")],
            "Messages sent to the dead-letter topic, by reason code.",
            unit="ops",
        ),
        10,
    )
    b.add(
        table(
            "Rejected since each worker started",
            [(f"sum by (topic, reason) (tabmon_rejected_total{{{W}}})", "")],
            "Dead letters by topic and reason code (docs/contract.md lists the codes).",
            transformations=keep_columns(
                "topic", "reason", "Value", rename={"Value": "rejected"}, sort_by="rejected", desc=True
            ),
        ),
        10,
    )
    b.add(
        stat(
            "Monitor errors",
            [
                (f'sum(tabmon_rejected_total{{{W},reason="bug"}}) or vector(0)', "messages (bug)"),
                (f"sum(tabmon_detector_errors_total{{{W}}}) or vector(0)", "detector errors"),
            ],
            "Messages that raised an error the contract does not know, dead-lettered with the code bug,"
            " and detector runs that raised: the monitor's faults, each one alerted"
            " (docs/runbooks/input_bug.md). Zero is the only good value.",
        ),
        4,
    )
    return b
