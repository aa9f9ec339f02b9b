"""The fuzz harness through the broker (load/fuzz.py --broker): real Tansu, redis-server and
a worker, then a SIGKILL and a restart."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "load")]

from fuzz_harness import (
    BROKER_MAX,
    INPUT_TOPICS,
    ROUTED,
    TOTAL_FIELDS,
    Harness,
    Progress,
    Stats,
)
from fuzz_oracle import (
    Oracle,
    _kind,
    _targets,
    accepted_by_unit,
    exactness,
    first_difference,
    interleave,
    units_touched,
)

from monitor.adapters import procs, readmodel
from monitor.contract import build
from monitor.errors import MonitorError
from monitor.settings import Settings
from monitor.tally.intake import BUG
from monitor.testing import InMemoryTally, scrape_metric
from monitor.worker.ingest import INPUT_KINDS
from producers.elections.synthetic import generate
from producers.hostile.feed import Hostile, HostileInputs, known_inputs


# -- through the broker ---------------------------------------------------------------------------
@dataclass
class BrokerRun:
    stats: Stats
    sent: Counter[str]  # topic -> messages sent
    skipped: int  # generated with neither key nor value: kafka-python cannot send those
    registry_sent: int
    units: dict[str, dict[str, Any]]
    letters: dict[tuple[str, int, int], dict[str, Any]]  # (topic, partition, offset) -> dead letter
    metrics: dict[str, dict[str, float]]  # topic -> {"events", "rejected", "ends"}
    reference_codes: Counter[tuple[str, str]]
    pristine: list[str]
    send_seconds: float
    caught_up_seconds: float
    proc: subprocess.Popen[bytes] | None = None
    restarted: bool = False


def broker_inputs(
    election: Any, n: int, seed: int, registry_n: int
) -> tuple[list[list[tuple[str, Hostile]]], list[Hostile], int]:
    """(groups of labelled input messages, hostile registry records, skipped): what the broker
    mode sends, a group at a time, each folded into the tally before the next (the named
    inputs whose order matters a message a group, then the rest). Registry records go only if
    the worker's follower rejects them: one it takes would change the registry under the
    comparison with the generator's truth."""
    targets = _targets(election)
    gen = HostileInputs(election, seed=seed, recs=targets)
    known = known_inputs(election, targets)
    hostile: list[tuple[str, Hostile]] = []
    skipped = 0
    for label, h in gen.labelled(n):
        if (h.key is None and h.value is None) or len(h.key or b"") + len(h.value or b"") > BROKER_MAX:
            skipped += 1
            continue
        hostile.append((label, h))
    valid = [Hostile(e.topic, e.key.encode(), orjson.dumps(e.value)) for e in election.events]
    groups = [
        [
            (f"known:{k.name}", h)
            for k in known
            if not k.flush_between
            for h in k.inputs
            if h.topic != "registry"
        ]
    ]
    groups += [[(f"known:{k.name}", h)] for k in known if k.flush_between for h in k.inputs]
    groups.append(list(interleave(valid, iter(hostile), len(hostile))))
    candidates = [h for k in known for h in k.inputs if h.topic == "registry"]
    candidates += list(gen.registry_inputs(registry_n))
    harness = Harness(election.registry, Stats())
    outcomes = harness.registry_round(build(election.registry), candidates, 0)
    registry = [h for h, code in zip(candidates, outcomes, strict=True) if code is not None]
    sendable = [
        h
        for h in registry
        if (h.key is not None or h.value is not None)
        and len(h.key or b"") + len(h.value or b"") <= BROKER_MAX
    ]
    return groups, sendable, skipped + len(registry) - len(sendable)


def run_broker(
    settings: Settings,
    start: Callable[[], subprocess.Popen[bytes]],
    election: Any,
    n: int,
    *,
    seed: int,
    registry_n: int,
    timeout: float = 600,
    progress: bool = True,
) -> BrokerRun:
    """Send the registry, start a worker (``start``), send the valid events and ``n`` hostile
    inputs, wait until the tally has caught up, and check what the worker did. The worker is
    left running (``.proc``): the caller stops it."""
    import redis

    from monitor.cli.progress import end_offsets
    from producers.replay import Message, messages_of, send

    stats = Stats()
    groups, registry_hostile, skipped = broker_inputs(election, n, seed, registry_n)
    messages = [m for group in groups for m in group]
    send(
        settings,
        messages_of(election.registry, []) + [Message("registry", h.key, h.value) for h in registry_hostile],
    )  # type: ignore[arg-type]
    proc = start()
    run = BrokerRun(
        stats, Counter(), skipped, len(registry_hostile), {}, {}, {}, Counter(), [], 0.0, 0.0, proc
    )
    client = redis.Redis.from_url(settings.redis_url)
    for group in groups[:-1]:  # each folded in before the next: a flush between them
        send(settings, [Message(h.topic, h.key, h.value) for _, h in group])  # type: ignore[arg-type]
        for _, h in group:
            run.sent[h.topic] += 1
        try:
            wait_folded(
                settings,
                client,
                proc,
                {settings.topic(t): k for t, k in run.sent.items()},
                timeout,
                Progress(0, "", progress),
            )
        except (TimeoutError, ProcessLookupError) as exc:
            stats.fail("worker_exited" if isinstance(exc, ProcessLookupError) else "timeout", str(exc))
            return run
    bar = Progress(len(groups[-1]), "sent", progress)
    t0 = time.monotonic()
    send(
        settings,
        [Message(h.topic, h.key, h.value) for _, h in groups[-1]],  # type: ignore[arg-type]
        progress=lambda sent, _at: bar(sent),
        should_stop=lambda: proc.poll() is not None,
    )
    bar.done()
    run.send_seconds = time.monotonic() - t0
    for _, h in groups[-1]:
        run.sent[h.topic] += 1

    # the reference: the same messages through the same tally in this process
    reference = InMemoryTally(
        election.registry,
        partitions=settings.partitions,
        max_bytes=settings.max_message_bytes,
        window=settings.time_window(),
    )
    oracle = Oracle(election.truth, election.parties)
    touched: set[str] = set()
    by_unit: dict[str, list[Hostile]] = {}
    for label, h in messages:
        kind = INPUT_TOPICS[h.topic]
        before = len(reference.rejected)
        reference.feed(kind, h.key, h.value)
        mine = [e for k, e in reference.rejected[before:] if k == kind]
        if mine:
            run.reference_codes[(h.topic, mine[0].code)] += 1
            if label == "valid":
                stats.fail("valid_rejected", f"a valid event was rejected: {mine[0].code}", inputs=[h])
        else:
            oracle.add(h.topic, h.value)
            accepted_by_unit(by_unit, h)
            if label != "valid":
                touched.update(units_touched(h, reference.registry))
        if len(reference.rejected) - before > len(mine):
            stats.fail("forward_rejected", "a forwarded e-ballot was rejected", inputs=[h])
    reference.flush()
    expected_units = reference.snapshot()
    # each new e-ballot of an evote partition was forwarded once (one station, one partition)
    forwards = sum(len(store.ballots) for store in reference.stores.values() if store.kind == "evote")

    expected = {
        settings.topic(t): run.sent[t] + (forwards if t == "evote-tokens" else 0) for t in INPUT_TOPICS
    }
    bar = Progress(0, "", progress)
    try:
        meta = wait_folded(settings, client, proc, expected, timeout, bar)
    except (TimeoutError, ProcessLookupError) as exc:
        stats.fail("worker_exited" if isinstance(exc, ProcessLookupError) else "timeout", str(exc))
        return run
    run.caught_up_seconds = time.monotonic() - t0
    run.units = readmodel.read_units(client, settings.app_id)
    folded: Counter[str] = Counter()
    for tp, wm in meta["watermarks"].items():
        folded[tp.rsplit(":", 1)[0]] += wm

    # counted once each: accepted or rejected, per topic; the registry's rejections too
    ends: Counter[str] = Counter()
    for tp, end in end_offsets(settings).items():
        ends[tp.rsplit(":", 1)[0]] += end
    port = settings.metrics_port
    for topic in (*INPUT_TOPICS, *ROUTED):
        name = settings.topic(topic)
        label = f'topic="{name}"'
        m = {
            "events": scrape_metric(port, "tabmon_events_total", label) or 0.0,
            "rerouted": scrape_metric(port, "tabmon_rerouted_events_total", label) or 0.0,
            "rejected": scrape_metric(port, "tabmon_rejected_total", label) or 0.0,
            "ends": float(max(ends[name], folded[name])),
        }
        run.metrics[topic] = m
        if topic in ROUTED:
            continue  # how many arrive away from home depends on the producer: checked below
        # evote-tokens is its own routed topic: what it forwards home lands on it again
        again = m["rerouted"] if topic == "evote-tokens" else 0.0
        if not m["events"] + m["rerouted"] + m["rejected"] == m["ends"] == expected[name] + again:
            stats.fail(
                "counted",
                f"{topic}: {m['events']:.0f} accepted + {m['rerouted']:.0f}"
                f" forwarded home + {m['rejected']:.0f} rejected, {m['ends']:.0f}"
                f" on the topic, {expected[name]} sent or forwarded",
            )
    # each event forwarded home is applied there once, and nothing else is on a routed topic
    rerouted = sum(run.metrics[t]["rerouted"] for t in INPUT_KINDS)
    applied = sum(run.metrics[t]["events"] + run.metrics[t]["rejected"] for t in ROUTED)
    if not rerouted == applied == sum(run.metrics[t]["ends"] for t in ROUTED):
        stats.fail("counted", f"{rerouted:.0f} events forwarded home, {applied:.0f} applied there")
    reg = settings.topic("registry")
    run.metrics["registry"] = {
        "rejected": scrape_metric(port, "tabmon_rejected_total", f'topic="{reg}"') or 0.0,
        "events": 0.0,
        "ends": float(len(election.registry) + run.registry_sent),
    }
    if run.metrics["registry"]["rejected"] != run.registry_sent:
        stats.fail(
            "counted",
            f"registry: {run.metrics['registry']['rejected']:.0f} rejected of"
            f" {run.registry_sent} hostile records sent",
        )
    bugs = scrape_metric(port, "tabmon_rejected_total", f'reason="{BUG}"') or 0.0
    if bugs:
        stats.fail("bug", f"{bugs:.0f} messages rejected with the code bug (see the worker's log)")
    detector_errors = scrape_metric(port, "tabmon_detector_errors_total") or 0.0
    if detector_errors:
        stats.fail("detector_error", f"the detectors raised {detector_errors:.0f} times (see the log)")

    # the dead letters: exactly the rejections, each with its reason
    want = sum(int(m["rejected"]) for m in run.metrics.values())
    run.letters = read_letters(settings, want, timeout=60)
    got: Counter[str] = Counter()
    codes: Counter[tuple[str, str]] = Counter()
    prefix = settings.topic("")
    for (topic, _p, _o), letter in run.letters.items():
        short = topic[len(prefix) :] if topic.startswith(prefix) else topic
        got[short] += 1
        codes[(short, letter.get("code", ""))] += 1
        if not str(letter.get("reason", "")).strip() or not letter.get("code"):
            stats.fail("empty_reason", f"a dead letter without a reason or code: {letter}")
        stats.rejected[(short, letter.get("code", ""))] += 1
    for topic, m in run.metrics.items():
        if got[topic] != m["rejected"]:
            stats.fail(
                "deadletters", f"{topic}: {got[topic]} dead letters for {m['rejected']:.0f} rejections"
            )
    input_codes = Counter({k: v for k, v in codes.items() if k[0] != "registry"})
    if input_codes != run.reference_codes:
        diff = (input_codes - run.reference_codes) + (run.reference_codes - input_codes)
        stats.fail("codes", f"the worker's rejection codes differ from the reference's: {dict(diff)}")

    # the totals: the reference, the oracle, and for the units no hostile input touched, the truth
    for uid, exp in expected_units.items():
        got_unit = run.units.get(uid)
        if got_unit is None:
            stats.fail("totals", f"{uid}: missing from the read model")
            continue
        for f in TOTAL_FIELDS:
            if got_unit.get(f) != exp.get(f):
                stats.fail(
                    _kind(f),
                    f"{uid} {f}, the worker's read model against the reference:"
                    f" {first_difference(got_unit.get(f), exp.get(f))}",
                    inputs=by_unit.get(uid, []),
                )
    _checked, run.pristine = exactness(stats, run.units, oracle, election, touched, by_unit)
    stats.hostile = sum(1 for label, _ in messages if label != "valid")
    stats.valid = len(messages) - stats.hostile
    if proc.poll() is not None:
        stats.fail("worker_exited", f"the worker exited with code {proc.returncode}")
    return run


def wait_folded(
    settings: Settings,
    client: Any,
    proc: subprocess.Popen[bytes],
    expected: dict[str, int],
    timeout: float,
    bar: Progress,
) -> dict[str, Any]:
    """The read model's meta once its snapshot has folded in every message sent (``expected``:
    topic -> messages on it) and a snapshot after that is written. The snapshot's watermarks
    are what it holds; the broker's end offsets alone can run short (Tansu reports the start
    of a partition's last batch plus one)."""
    from monitor.cli.progress import wait_caught_up

    def alive() -> None:
        if proc.poll() is not None:
            raise ProcessLookupError(f"the worker exited with code {proc.returncode}")

    def read() -> dict[str, Any] | None:
        return readmodel.read_meta(client, settings.app_id)

    deadline = time.monotonic() + timeout
    try:
        wait_caught_up(
            settings,
            read,
            timeout=timeout,
            check=alive,
            on_poll=lambda _m, left: bar.note(f"waiting for the tally: {left:,} behind"),
        )
    except MonitorError as exc:
        raise TimeoutError(str(exc)) from None
    while True:
        alive()
        meta = read() or {}
        folded: Counter[str] = Counter()
        for tp, wm in meta.get("watermarks", {}).items():
            folded[tp.rsplit(":", 1)[0]] += wm
        left = sum(max(0, n - folded[t]) for t, n in expected.items())
        bar.note(f"waiting for the tally: {left:,} behind")
        if left == 0:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the tally did not fold in every message within {timeout:.0f} s ({left:,} behind)"
            )
        time.sleep(0.3)
    bar.done()
    time.sleep(settings.snapshot_interval * 2 + settings.flush_interval)  # a snapshot after the last merge
    return read() or meta


def restart(
    settings: Settings, run: BrokerRun, start: Callable[[], subprocess.Popen[bytes]], timeout: float = 300
) -> subprocess.Popen[bytes]:
    """SIGKILL the worker of ``run`` and start another, which re-reads every message from
    offset 0 (the hostile ones too); it must stay up and end with the same totals and the same
    dead letters (one sent again is the same one: same topic, partition and offset). Failures
    go to ``run.stats``; the new worker is returned, running."""
    import socket

    import redis

    stats = run.stats
    assert run.proc is not None
    procs.kill(run.proc)
    proc = run.proc = start()
    client = redis.Redis.from_url(settings.redis_url)
    me = f"{socket.gethostname()}:{proc.pid}"
    t0 = time.monotonic()
    while (readmodel.read_meta(client, settings.app_id) or {}).get("worker") != me:
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            stats.fail("restart", f"no snapshot by the restarted worker (exit code {proc.poll()})")
            return proc
        time.sleep(0.3)
    # Its first snapshot may come from the recovered table, before stage one has re-read its
    # partitions: wait until every message accepted before is accepted or replayed again
    port = settings.metrics_port
    accepted = sum(m["events"] for t, m in run.metrics.items() if t != "registry")
    while True:
        try:
            again = (scrape_metric(port, "tabmon_replayed_events_total") or 0.0) + (
                scrape_metric(port, "tabmon_events_total") or 0.0
            )
        except OSError:  # the metrics endpoint is not up yet
            again = 0.0
        if again >= accepted:
            break
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            stats.fail(
                "restart",
                f"the restarted worker re-read {again:.0f} of the {accepted:.0f}"
                f" accepted messages (exit code {proc.poll()})",
            )
            return proc
        time.sleep(0.3)
    expected = {settings.topic(t): int(m["ends"]) for t, m in run.metrics.items() if t != "registry"}
    try:  # and a snapshot taken after that
        wait_folded(settings, client, proc, expected, timeout, Progress(0, "", False))
    except (TimeoutError, ProcessLookupError) as exc:
        stats.fail("restart", f"after the restart: {exc}")
        return proc
    units = readmodel.read_units(client, settings.app_id)
    for uid, before in run.units.items():
        for f in TOTAL_FIELDS:
            after = units.get(uid, {}).get(f)
            if after != before.get(f):
                stats.fail(
                    _kind(f, "restart"),
                    f"{uid} {f}, after the restart against before: {first_difference(after, before.get(f))}",
                )
    if not scrape_metric(port, "tabmon_replayed_events_total"):
        stats.fail("restart", "the restarted worker replayed nothing: it did not rebuild from the log")
    if scrape_metric(port, "tabmon_rejected_total", f'reason="{BUG}"'):
        stats.fail("bug", "the restarted worker rejected messages with the code bug")
    letters = read_letters(settings, len(run.letters), timeout=60)
    if set(letters) != set(run.letters):
        stats.fail(
            "restart", f"{len(letters)} distinct dead letters after the restart, {len(run.letters)} before"
        )
    if proc.poll() is not None:
        stats.fail("worker_exited", f"the restarted worker exited with code {proc.returncode}")
    run.restarted = True
    return proc


def read_letters(
    settings: Settings, want: int, timeout: float = 60
) -> dict[tuple[str, int, int], dict[str, Any]]:
    """The dead-letter topic, once it holds ``want`` distinct letters (or ``timeout``): a dead
    letter sent twice (after a restart) has the same topic, partition and offset."""
    from monitor.testing import read_topic

    deadline = time.monotonic() + timeout
    while True:
        read = read_topic(settings.broker, settings.topic("deadletter"), timeout=timeout)
        letters = {(d["topic"], d["partition"], d["offset"]): d for d in read}
        if len(letters) >= want or time.monotonic() > deadline:
            return letters
        time.sleep(1.0)


def broker_main(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from monitor.adapters.admin import ensure_topics
    from monitor.cli.demo import start_worker

    t0 = time.monotonic()
    workdir = Path(args.workdir or ROOT / ".tabmon" / f"fuzz-{time.strftime('%Y%m%d-%H%M%S')}")
    workdir.mkdir(parents=True, exist_ok=True)
    election = generate(args.stations, args.tecs, seed=args.seed, evote_ballots=2 * args.stations)
    broker = redis_proc = worker = None
    try:
        broker_port, redis_port = procs.free_port(), procs.free_port()
        broker = procs.start_broker(broker_port, workdir / "broker.log")
        redis_proc = procs.start_redis(redis_port, workdir / "redis", workdir / "redis.log")
        settings = Settings.from_env(
            {},
            broker=f"127.0.0.1:{broker_port}",
            app_id="fuzz",
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            partitions=args.partitions,
            metrics_port=procs.free_port(),
            session_timeout=6.0,
        )
        ensure_topics(settings)
        log = workdir / "worker.log"
        run = run_broker(
            settings,
            lambda: start_worker(settings, log),
            election,
            n,
            seed=args.seed,
            registry_n=args.registry if args.registry is not None else max(100, n // 20),
            progress=not args.quiet,
        )
        worker = run.proc
        if not args.no_restart and worker is not None and worker.poll() is None:
            worker = restart(settings, run, lambda: start_worker(settings, workdir / "worker-restarted.log"))
    finally:
        procs.stop(worker, grace=15)
        procs.stop(redis_proc)
        procs.stop(broker)
    return {
        "mode": "broker",
        "run": run,
        "election": election,
        "wall": time.monotonic() - t0,
        "workdir": workdir,
        "log": log,
    }
