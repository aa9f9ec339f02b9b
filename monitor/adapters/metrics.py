"""Prometheus metrics: one typed container, created with a registry and a prefix.

Pipeline health is counted as it happens; the tally is exported from the latest snapshot by a
collector at scrape time, so a scrape never races an update. Series exist per unit of every
level of the definition (labels ``level`` and ``unit``: in kz2007 per REC, TEC and nationally),
never per station. Findings are counted per region (label ``rec``: the unit on the level
below the top, whatever the definition calls it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(eq=False)  # registries hash collectors by identity
class TallyCollector(Collector):
    """Exports the latest tally snapshot; ``update`` swaps it in atomically."""

    prefix: str
    units: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    last_event: dict[str, float] = field(default_factory=dict)  # topic -> unix time
    # the commissions' level (the one above the stations): no per-report series for it
    commission_level: str = "tec"

    def update(self, units: Mapping[str, Mapping[str, Any]]) -> None:
        self.units = units

    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        lab = ["level", "unit"]
        votes = GaugeMetricFamily(
            f"{p}_votes", "Valid votes per party in a view of the tally", labels=["view", *lab, "party"]
        )
        moved = GaugeMetricFamily(
            f"{p}_votes_moved",
            "Official result minus PEC protocols, per party, over stations with a PEC protocol",
            labels=[*lab, "party"],
        )
        invalid = GaugeMetricFamily(
            f"{p}_invalid_ballots", "Invalid ballots in a view", labels=["view", *lab]
        )
        participants = GaugeMetricFamily(
            f"{p}_participants", "Voters who received a ballot, in a view", labels=["view", *lab]
        )
        reported = GaugeMetricFamily(
            f"{p}_stations_reported",
            "Stations in the unit with a turnout report, a PEC protocol, or an official figure",
            labels=["view", *lab],
        )
        stations = GaugeMetricFamily(f"{p}_stations", "Stations in the unit", labels=lab)
        turnout = GaugeMetricFamily(
            f"{p}_turnout_voters",
            "Latest turnout reports summed: registered, added, voted",
            labels=["figure", *lab],
        )
        ratio = GaugeMetricFamily(
            f"{p}_turnout_ratio", "Voted / registered from the latest turnout reports", labels=lab
        )
        evote = GaugeMetricFamily(f"{p}_evote_ballots", "Electronic ballots received", labels=lab)
        seats = GaugeMetricFamily(
            f"{p}_seats_projected", "Seat projection nationally", labels=["view", "party"]
        )
        for uid, u in list(self.units.items()):
            lv = [u["level"], uid]
            stations.add_metric(lv, u["stations"])
            t = u["turnout"]
            for fig in ("registered", "added", "voted"):
                turnout.add_metric([fig, *lv], t[fig])
            if t["registered"]:
                ratio.add_metric(lv, t["voted"] / t["registered"])
            reported.add_metric(["turnout", *lv], t["stations_reported"])
            evote.add_metric(lv, u["evote_ballots"])
            for view in ("protocol", "official"):
                v = u[view]
                reported.add_metric([view, *lv], v["stations_reported"])
                invalid.add_metric([view, *lv], v["invalid"])
                participants.add_metric([view, *lv], v["participants"])
                for party, n in v["votes"].items():
                    votes.add_metric([view, *lv, party], n)
            for party, n in u["moved"]["votes"].items():
                moved.add_metric([*lv, party], n)
            for view, s in u.get("seats", {}).items():
                for party, n in s["seats"].items():
                    seats.add_metric([view, party], n)
        yield from self._findings_families(p, lab)
        since = GaugeMetricFamily(
            f"{p}_seconds_since_last_event",
            "Seconds since the last event arrived on a topic",
            labels=["topic"],
        )
        now = time.time()
        for topic, ts in list(self.last_event.items()):  # the event loop may add meanwhile
            since.add_metric([topic], max(0.0, now - ts))
        yield from (
            votes,
            moved,
            invalid,
            participants,
            reported,
            stations,
            turnout,
            ratio,
            evote,
            seats,
            since,
        )

    def _findings_families(self, p: str, lab: list[str]) -> Iterator[Metric]:
        """What the drill and the operations room look for beyond the totals."""
        unanimous = GaugeMetricFamily(
            f"{p}_unanimous_stations",
            "Stations where one party has every valid vote (official view), by size class",
            labels=["size", *lab],
        )
        altered = GaugeMetricFamily(
            f"{p}_altered_stations",
            "Stations whose official figures differ from their PEC protocol",
            labels=lab,
        )
        multi = GaugeMetricFamily(
            f"{p}_evote_multiple",
            "Voter tokens used for more than one e-ballot: tokens, ballots, stations",
            labels=["what", *lab],
        )
        curve = GaugeMetricFamily(
            f"{p}_turnout_report_voters",
            "Turnout reports summed per report of the day (REC and national)",
            labels=["figure", "report", *lab],
        )
        summary = GaugeMetricFamily(
            f"{p}_summary_turnout_ratio",
            "Participants / registered in each version of a unit's summary",
            labels=["version", *lab],
        )
        for uid, u in self.units.items():
            lv = [u["level"], uid]
            for size, n in u.get("unanimous_stations", {}).items():
                unanimous.add_metric([size, *lv], n)
            altered.add_metric(lv, u.get("altered_stations", 0))
            for what, n in u.get("evote_multiple", {}).items():
                multi.add_metric([what, *lv], n)
            if u["level"] == self.commission_level:
                continue  # keep cardinality to the levels above the commissions
            for seq, rep in u["turnout"].get("by_report", {}).items():
                for fig in ("registered", "added", "voted"):
                    curve.add_metric([fig, seq, *lv], rep[fig])
            for v in u.get("summary_versions", []):
                if v["registered"]:
                    summary.add_metric([str(v["version"]), *lv], v["participants"] / v["registered"])
        yield from (unanimous, altered, multi, curve, summary)


@dataclass(eq=False)
class FindingsCollector(Collector):
    """Exports the findings the stage-two owner knows (from the read model), and the figures
    of flagged stations only: per-station series exist for those, never for every station."""

    prefix: str
    records: list[dict[str, Any]] = field(default_factory=list)
    station_figures: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    def update(
        self, records: list[dict[str, Any]], station_figures: dict[str, dict[str, dict[str, int]]]
    ) -> None:
        self.records, self.station_figures = records, station_figures

    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        counts = GaugeMetricFamily(
            f"{p}_findings",
            "Findings known, by kind, severity and region",
            labels=["kind", "severity", "rec"],
        )
        info = GaugeMetricFamily(
            f"{p}_finding_info",
            "One series per finding (value 1)",
            labels=["finding_id", "kind", "severity", "rec", "unit", "station"],
        )
        figures = GaugeMetricFamily(
            f"{p}_station_figures",
            "Figures of flagged stations, per source (protocol fields and parties)",
            labels=["station", "source", "field"],
        )
        n: dict[tuple[str, str, str], int] = {}
        for r in self.records:
            key = (r["kind"], r["severity"], r["rec_id"])
            n[key] = n.get(key, 0) + 1
            info.add_metric(
                [r["finding_id"], r["kind"], r["severity"], r["rec_id"], r["unit_id"], r["station_id"] or ""],
                1,
            )
        for key, k in sorted(n.items()):
            counts.add_metric(list(key), k)
        for sid, sources in self.station_figures.items():
            for source, named in sources.items():
                for name, x in named.items():
                    figures.add_metric([sid, source, name], x)
        yield from (counts, info, figures)


@dataclass
class Metrics:
    """Every metric of a worker. Build with :meth:`create`; tests pass a fresh registry."""

    registry: CollectorRegistry
    events: Counter
    rejected: Counter
    replayed: Counter
    rerouted: Counter
    lag: Gauge
    offset: Gauge
    alive: Gauge
    heartbeat: Gauge
    partials: Counter
    snapshot_seconds: Histogram
    batch_seconds: Histogram
    detect_seconds: Histogram
    findings_emitted: Counter
    detector_errors: Counter
    tally: TallyCollector
    findings: FindingsCollector

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None, prefix: str = "tabmon") -> Metrics:
        r = registry if registry is not None else CollectorRegistry()
        tally = TallyCollector(prefix)
        r.register(tally)
        findings = FindingsCollector(prefix)
        r.register(findings)
        return cls(
            registry=r,
            events=Counter(
                f"{prefix}_events", "Events accepted into the tally, by topic", ["topic"], registry=r
            ),
            rejected=Counter(
                f"{prefix}_rejected", "Events sent to the dead-letter topic", ["topic", "reason"], registry=r
            ),
            replayed=Counter(
                f"{prefix}_replayed_events",
                "Events re-read to rebuild partition state after an assignment",
                ["topic"],
                registry=r,
            ),
            rerouted=Counter(
                f"{prefix}_rerouted_events",
                "Events read where their producer put them and forwarded to their home"
                " partition (docs/architecture.md, Routing)",
                ["topic"],
                registry=r,
            ),
            lag=Gauge(
                f"{prefix}_consumer_lag_messages",
                "Messages on the broker not yet folded into the tally",
                ["topic"],
                registry=r,
            ),
            offset=Gauge(
                f"{prefix}_last_processed_offset",
                "Next offset to process per input partition",
                ["topic", "partition"],
                registry=r,
            ),
            alive=Gauge(f"{prefix}_agent_up", "1 while an agent's loop is running", ["agent"], registry=r),
            heartbeat=Gauge(
                f"{prefix}_agent_heartbeat_timestamp_seconds",
                "Unix time of an agent's last loop iteration",
                ["agent"],
                registry=r,
            ),
            partials=Counter(
                f"{prefix}_partials_published", "Partial tallies published to stage two", registry=r
            ),
            snapshot_seconds=Histogram(
                f"{prefix}_snapshot_duration_seconds", "Time to derive a tally snapshot", registry=r
            ),
            batch_seconds=Histogram(
                f"{prefix}_ingest_batch_duration_seconds",
                "Time to decode, validate and apply one fetched batch",
                registry=r,
            ),
            detect_seconds=Histogram(
                f"{prefix}_detect_duration_seconds",
                "Time to run the detectors over what changed, by stage",
                ["stage"],
                registry=r,
            ),
            findings_emitted=Counter(
                f"{prefix}_findings_emitted",
                "Findings sent to the alerts topic (new or updated)",
                ["kind", "severity", "change"],
                registry=r,
            ),
            detector_errors=Counter(
                f"{prefix}_detector_errors",
                "Detector runs that raised (a bug): the findings of that station,"
                " token or stage are missing until it is fixed",
                ["stage"],
                registry=r,
            ),
            tally=tally,
            findings=findings,
        )


def serve_metrics(registry: CollectorRegistry, host: str, port: int, setting: str) -> int:
    """Serve ``registry`` on http://host:port/metrics in a thread; the port served (``port``
    0: a free one). A port already taken is one clear error naming the ``setting`` to change."""
    from prometheus_client import start_http_server

    from monitor.errors import ConfigError

    try:
        server, _thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port} ({exc.strerror}); set {setting}") from None
    served: int = server.server_port
    return served
