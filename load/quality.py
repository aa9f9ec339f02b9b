"""Detector accuracy at national scale: a synthetic election with injected anomalies, scored
per kind (injected, flagged, precision, recall, and latency from the triggering event's send
to the finding's arrival on ``alerts``).

    python load/quality.py --mode memory      # in memory, no broker: precision and recall
    python load/quality.py                    # through Tansu, redis-server and one worker
    python load/quality.py --speed 0          # ... replayed as fast as it goes

The broker mode starts a Tansu broker, a redis-server and one worker as ``tabmon demo`` does,
sends the registry, waits for the worker to own its partitions, then replays the events
(paced by the election clock, ``--speed`` times real time; 0: no pacing) while a consumer with
its own group reads ``alerts`` and stamps each finding's arrival. Send and arrival times are
taken in this process on one monotonic clock: a send time is when the event was handed to the
producer. Exits non-zero when a deterministic kind misses its target or no finding arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.adapters import procs, readmodel
from monitor.adapters.admin import ensure_topics
from monitor.cli.demo import embedded, settled_findings, start_worker
from monitor.cli.progress import EndOffsets, behind, wait_caught_up
from monitor.detect.findings import to_record
from monitor.drill import harness as quality_run
from monitor.drill import quality
from monitor.election.thresholds import ForensicThresholds
from monitor.settings import Settings
from monitor.tally.route import ROUTED_TOPICS
from monitor.testing import scrape_metric
from monitor.worker.ingest import INPUT_KINDS
from producers.elections.scenarios.inject import Scenario, inject
from producers.elections.synthetic import generate
from producers.replay import messages_of, producer, send


def report(title: str, scores: dict[str, quality.KindScore], false: list[Any]) -> list[str]:
    print(f"\n{title}\n{quality.table(scores)}")
    fails = quality.failures(scores)
    for s in scores.values():
        if not s.statistical and (s.missed or s.false):
            print(f"  {s.kind}: missed {s.missed[:5]}, false {s.false[:5]}")
    shown: Counter[str] = Counter()
    for f in false:  # what the false alarms said, a few per kind
        rec = f if isinstance(f, dict) else to_record(f, "", "")
        if not rec["kind"].startswith(quality.STATISTICAL_PREFIX) and shown[rec["kind"]] < 3:
            shown[rec["kind"]] += 1
            print(f"  false {rec['kind']}: {rec['explanation']} {orjson.dumps(rec['evidence']).decode()}")
    print(
        "targets (recall 1.0, precision >= 0.99, nothing where nothing was injected):",
        "met" if not fails else "MISSED\n  " + "\n  ".join(fails),
    )
    return fails


# -- in memory -------------------------------------------------------------------------------


def run_memory(sc: Scenario, clean: Any, every: timedelta) -> dict[str, Any]:
    t0 = time.perf_counter()
    seen = quality_run.run(
        sc.election.registry, sc.election.events, sc.thresholds, every=every, forensic=ForensicThresholds()
    )
    took = time.perf_counter() - t0
    found = [s.finding for s in seen.values()]
    scores = quality.score(sc.injections, found)
    false = quality.unmatched(sc.injections, found)
    fails = report(f"in memory, injected election ({took:.0f} s)", scores, false)
    t0 = time.perf_counter()
    seen_clean = quality_run.run(
        clean.registry, clean.events, sc.thresholds, every=every, forensic=ForensicThresholds()
    )
    kinds = Counter(s.finding.kind for s in seen_clean.values())
    print(
        f"\nin memory, the same election clean ({time.perf_counter() - t0:.0f} s): findings by kind"
        f" {dict(kinds) or 'none'}"
    )
    fails += [
        f"clean election: {n} {k} findings"
        for k, n in kinds.items()
        if not k.startswith(quality.STATISTICAL_PREFIX)
    ]
    return {
        "seconds": took,
        "scores": _plain(scores),
        "clean": dict(kinds),
        "false": [to_record(f, "", "") for f in false],
        "failures": fails,
    }


# -- through the broker ----------------------------------------------------------------------


class AlertsReader(threading.Thread):
    """Reads ``alerts`` with its own consumer group and stamps each record's arrival."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
            self.ready.set()

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        s = self.settings
        c = AIOKafkaConsumer(
            s.topic("alerts"),
            bootstrap_servers=s.broker,
            group_id=f"{s.app_id}-quality-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await c.start()
        try:
            while not self.stop.is_set():
                batch = await c.getmany(timeout_ms=100)
                now = time.monotonic()
                if c.assignment():
                    self.ready.set()
                for msgs in batch.values():
                    self.arrivals += [(now, orjson.loads(m.value)) for m in msgs]
        finally:
            await c.stop()

    def first_arrivals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for at, rec in self.arrivals:
            out.setdefault(rec["finding_id"], at)
        return out


class Backlog(threading.Thread):
    """Samples, twice a second, how many sent events the read model has not folded in yet
    (the snapshot's watermarks against the broker's end offsets), to explain latencies."""

    def __init__(self, settings: Settings, client: Any, t0: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.client, self.t0 = settings, client, t0
        self.samples: list[tuple[float, int]] = []
        self.most, self.most_at = 0, 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        ends = EndOffsets(self.settings)
        try:
            while not self.stop.wait(0.5):
                n = behind(readmodel.read_meta(self.client, self.settings.app_id), ends.read())
                at = time.monotonic() - self.t0
                self.samples.append((round(at, 1), n))
                if n > self.most:
                    self.most, self.most_at = n, at
        finally:
            ends.close()


def _metric(port: int, name: str, labels: str) -> float | None:
    """None too while the worker does not listen yet."""
    try:
        return scrape_metric(port, name, labels, timeout=2)
    except OSError:
        return None


def detector_time(port: int) -> dict[str, tuple[float, float]]:
    """Seconds the worker spent in its detectors and how many runs, by stage."""
    out = {}
    for stage in ("stage1", "stage2", "sweep"):
        total = _metric(port, "tabmon_detect_duration_seconds_sum", f'stage="{stage}"')
        runs = _metric(port, "tabmon_detect_duration_seconds_count", f'stage="{stage}"')
        out[stage] = (total or 0.0, runs or 0.0)
    return out


def wait_worker_ready(settings: Settings, worker: Any, log: Path, timeout: float = 60) -> None:
    """The ingest loop is up and owns every partition it reads, input and routed (it logs
    each assignment)."""
    want = (len(INPUT_KINDS) + len(ROUTED_TOPICS)) * settings.partitions
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited with {worker.returncode}; see {log}")
        up = _metric(settings.metrics_port, "tabmon_agent_up", 'agent="ingest"')
        assigned = len(set(re.findall(r"assigned (\S+:\d+)", log.read_text(errors="replace"))))
        if up == 1 and assigned >= want:
            return
        time.sleep(0.2)
    raise SystemExit(f"the worker did not own its {want} input partitions within {timeout:.0f} s; see {log}")


def replay_timed(settings: Settings, events: list[Any], speed: float) -> dict[int, float]:
    """Send the events in order, paced by their clock at ``speed`` (0: as fast as it goes);
    event index -> when it was handed to the producer."""
    msgs = messages_of([], events)
    prod = producer(settings)
    sent: dict[int, float] = {}
    wall0, first = time.monotonic(), msgs[0].at
    try:
        for i, m in enumerate(msgs):
            if speed > 0 and m.at is not None and first is not None:
                delay = (m.at - first).total_seconds() / speed - (time.monotonic() - wall0)
                if delay > 0:
                    prod.flush()
                    time.sleep(delay)
            prod.send(settings.topic(m.topic), key=m.key, value=m.value)
            sent[i] = time.monotonic()
        prod.flush()
    finally:
        prod.close()
    return sent


def run_broker(sc: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    import redis

    with tempfile.TemporaryDirectory() as tmp, embedded(Path(tmp), app_id="quality") as base:
        close = sc.thresholds.polls_close
        settings = dataclasses.replace(
            base, polls_close=close.isoformat() if close else "", sweep_interval=args.sweep_interval
        )
        ensure_topics(settings)
        reader = AlertsReader(settings)
        reader.start()
        send(settings, messages_of(sc.election.registry, []))
        log = Path(tmp) / "worker.log"
        worker = start_worker(settings, log)
        try:
            wait_worker_ready(settings, worker, log)
            if not reader.ready.wait(60) or reader.error is not None:
                raise SystemExit(f"the alerts consumer did not start: {reader.error}")
            client = redis.Redis.from_url(settings.redis_url)
            t0 = time.monotonic()
            backlog = Backlog(settings, client, t0)
            backlog.start()
            sent = replay_timed(settings, sc.election.events, args.speed)
            replayed = time.monotonic() - t0

            def alive() -> None:
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with {worker.returncode}; see {log}")

            wait_caught_up(
                settings,
                lambda: readmodel.read_meta(client, settings.app_id),
                timeout=args.timeout,
                check=alive,
            )
            caught_up = time.monotonic() - t0
            in_redis = {r["finding_id"] for r in settled_findings(settings, client, timeout=args.timeout)}
            deadline = time.monotonic() + 30  # the consumer may trail Redis by a fetch or two
            while not in_redis <= set(reader.first_arrivals()) and time.monotonic() < deadline:
                time.sleep(0.2)
            peak = procs.peak_rss_mib(worker.pid)
            backlog.stop.set()
            detect = detector_time(settings.metrics_port)
            worker_log_tail = log.read_text(errors="replace")[-2000:]
        finally:
            procs.stop(worker, grace=15)
            reader.stop.set()
            reader.join(10)
    arrived = reader.first_arrivals()
    if not arrived:
        raise SystemExit(
            "no finding arrived on the alerts topic: the worker emits none (is the"
            " detection wired?). Worker log tail:\n" + worker_log_tail
        )
    records = {r["finding_id"]: r for _, r in reader.arrivals}
    scores = quality.score(sc.injections, records.values(), sent=sent, arrived=arrived)
    false = quality.unmatched(sc.injections, records.values())
    fails = report(
        f"through the broker, one worker: {len(sent):,} events replayed in {replayed:.1f} s"
        f" (speed {args.speed or 'max'}), tallied {caught_up:.1f} s after the first;"
        f" {len(arrived)} findings, {len(reader.arrivals)} emissions; worker peak"
        f" memory {peak:.0f} MiB; backlog at most {backlog.most:,} events"
        f" ({backlog.most_at:.0f} s into the replay); time in the detectors: "
        + ", ".join(f"{k} {s:.1f} s in {n:.0f} runs" for k, (s, n) in detect.items()),
        scores,
        false,
    )
    missing = in_redis - set(arrived)
    if missing:
        fails.append(f"{len(missing)} findings in Redis never arrived on alerts")
    return {
        "replay_seconds": replayed,
        "caught_up_seconds": caught_up,
        "findings": len(arrived),
        "emissions": len(reader.arrivals),
        "peak_rss_mib": peak,
        "scores": _plain(scores),
        "backlog_max": backlog.most,
        "detect_seconds": detect,
        "backlog": backlog.samples,
        "false": false,
        "failures": fails,
    }


def _plain(scores: dict[str, quality.KindScore]) -> dict[str, Any]:
    out = {}
    for k, s in scores.items():
        lat = s.latencies
        out[k] = {
            "injected": s.injected,
            "implied": s.implied,
            "flagged": s.flagged,
            "correct": s.correct,
            "detected": s.detected,
            "precision": s.precision,
            "recall": s.recall,
            "p50": quality.percentile(lat, 50),
            "p95": quality.percentile(lat, 95),
            "max": max(lat) if lat else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=9727)
    ap.add_argument("--seed", type=int, default=2007, help="of the synthetic election")
    ap.add_argument("--scenario-seed", type=int, default=1)
    ap.add_argument("--per-kind", type=int, default=10, help="anomalies injected per kind")
    ap.add_argument("--mode", choices=("broker", "memory", "both"), default="broker")
    ap.add_argument(
        "--speed",
        type=float,
        default=1200.0,
        help="times real time on the election clock; 0: as fast as it goes",
    )
    ap.add_argument(
        "--sweep-interval",
        type=float,
        default=Settings().sweep_interval,
        help="the worker's TABMON_SWEEP_INTERVAL, seconds",
    )
    ap.add_argument(
        "--every",
        type=float,
        default=15.0,
        help="memory mode: minutes of election clock between two detector runs",
    )
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    tecs = min(205, args.stations)
    t0 = time.perf_counter()
    clean = generate(args.stations, tecs, seed=args.seed)
    sc = inject(clean, per_kind=args.per_kind, seed=args.scenario_seed)
    injected = Counter(i.kind for i in sc.injections)
    print(
        f"synthetic election: {args.stations:,} stations, {tecs} TECs, seed {args.seed};"
        f" {len(sc.election.events):,} events; {len(sc.injections)} anomalies"
        f" (scenario seed {args.scenario_seed}): {dict(injected)}"
        f" [{time.perf_counter() - t0:.1f} s]",
        flush=True,
    )
    out: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    }
    if args.mode in ("memory", "both"):
        out["memory"] = run_memory(sc, clean, timedelta(minutes=args.every))
    if args.mode in ("broker", "both"):
        out["broker"] = run_broker(sc, args)
    print(f"\nmachine: {out['machine']}")
    if args.json:
        args.json.write_text(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    fails = [f for part in ("memory", "broker") for f in out.get(part, {}).get("failures", [])]
    if fails:
        raise SystemExit(f"{len(fails)} targets missed")


if __name__ == "__main__":
    main()
