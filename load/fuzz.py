"""Fuzz harness: no input stops the monitor. Every message is tallied or dead-lettered with a
reason, and the totals of what was tallied stay exact.

    python load/fuzz.py --inputs 1000000     # in process, through the worker's own steps
    python load/fuzz.py --broker 10000       # real processes: Tansu, redis-server, one worker
    python load/fuzz.py                      # both, at their defaults

Both modes build a small synthetic election and send its valid events interleaved with
hostile inputs (producers/hostile/feed.py) derived from the events of half of its RECs; the other
half is never named by a hostile input, so its units must equal the generator's truth
exactly. Every unit, its tally and its commission's summaries, must equal what an
independent oracle makes of the accepted messages (:class:`Oracle`: plain dictionaries, the
contract's rules, nothing from monitor.tally); in process after every flush, not only at the
end. The named inputs of ``producers.hostile.feed.known_inputs`` go first.

In process (``--inputs``), :class:`Harness` drives what the worker drives, in the worker's
order: per input partition (a CRC-32 of the key) the one per-message step
(``monitor.tally.intake.Intake``), each rejection made into its dead letter, each new
e-ballot forwarded to an ``evote-tokens`` partition, and every ``--flush-every`` messages the
flush: station documents and partials as bytes, the stage-two merge, the snapshot, the
detectors of both stages, the findings as records, and now and then the sweep and the
Prometheus exposition. (``monitor.testing.InMemoryTally`` runs the same tally, but keeps
neither a rejection's offset and exception nor the documents and tokens the detectors need.)
Hostile registry records go through the worker's registry follower into a copy of the
registry, and the snapshot is taken against that copy.

Through the broker (``--broker``), the same inputs go to a real worker; afterwards the worker
must be alive, every message on every input topic counted once as accepted or rejected, the
dead-letter topic hold exactly the rejections (each with a reason, the rejection codes the
reference's), and the read model equal an in-process reference tally fed the same messages.
Then the worker is killed (SIGKILL) and another started, which re-reads every message from
offset 0: it must stay up and end with the same totals and dead letters (``--no-restart``
skips this). An input larger than a broker takes (about 1 MB), or with neither key nor value
(kafka-python refuses it), is generated but not sent.

Exit code 1 on any failure: an exception that escaped, a rejection with no reason, a ``bug``
rejection (unless ``--allow-bugs``), a valid event refused, a total that is not exact. The
inputs behind each failure are written to a JSON-lines file (key and value in base64).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "load")]

from fuzz_broker import BrokerRun, broker_main, restart, run_broker
from fuzz_harness import (
    BROKER_MAX,
    DEFAULTS,
    INPUT_TOPICS,
    SMALL_SLACK,
    TOTAL_FIELDS,
    Failure,
    Harness,
    Progress,
    Stats,
    _trace,
)
from fuzz_oracle import (
    Oracle,
    _targets,
    accepted_by_unit,
    exactness,
    interleave,
    units_touched,
)

from monitor.adapters import procs
from monitor.contract import build
from producers.elections.synthetic import generate
from producers.hostile.feed import Hostile, HostileInputs, known_inputs

# What the tests take from this script (it is the harness's face; its rooms are fuzz_*.py)
__all__ = [
    "INPUT_TOPICS",
    "SMALL_SLACK",
    "TOTAL_FIELDS",
    "Harness",
    "Oracle",
    "Stats",
    "_targets",
    "exactness",
    "main",
    "restart",
    "run_broker",
    "show_input",
    "units_touched",
]


def run_inputs(
    n: int,
    *,
    seed: int,
    stations: int,
    tecs: int,
    flush_every: int,
    partitions: int,
    registry_n: int,
    progress: bool = True,
) -> dict[str, Any]:
    """The in-process mode; the figures of the summary."""
    t0 = time.monotonic()
    election = generate(stations, tecs, seed=seed, evote_ballots=2 * stations)
    targets = _targets(election)
    gen = HostileInputs(election, seed=seed, recs=targets)
    stats = Stats()
    harness = Harness(election.registry, stats, partitions=partitions)
    oracle = Oracle(election.truth, election.parties)
    valid = [Hostile(e.topic, e.key.encode(), orjson.dumps(e.value)) for e in election.events]
    knowns = known_inputs(election, targets)
    known = [(f"known:{k.name}", h) for k in knowns for h in k.inputs]
    touched: set[str] = set()
    by_unit: dict[str, list[Hostile]] = {}
    bar = Progress(n + len(valid) + len(known), "inputs", progress)
    stream = interleave(valid, gen.labelled(n), n)
    done = 0

    def feed(chunk: list[tuple[str, Hostile]]) -> None:
        events = [h for _, h in chunk]
        outcomes = harness.round(events)
        for (label, h), code in zip(chunk, outcomes, strict=True):
            counts = stats.by_mutation.setdefault(label.split(":")[0], Counter())
            counts["accepted" if code is None else code] += 1
            if label == "valid":
                stats.valid += 1
                if code is not None:
                    stats.fail("valid_rejected", f"a valid event was rejected: {code}", inputs=[h])
            else:
                stats.hostile += 1
            if code is None:
                oracle.add(h.topic, h.value)
                accepted_by_unit(by_unit, h)
                if label != "valid":
                    touched.update(units_touched(h, harness.registry))

    for k in knowns:  # first, each in its rounds
        inputs = [(f"known:{k.name}", h) for h in k.inputs if h.topic != "registry"]
        for chunk in [[item] for item in inputs] if k.flush_between else [inputs]:
            if chunk:
                feed(chunk)
                done += len(chunk)
                exactness(stats, harness.units, oracle, election, touched, by_unit, truth=False)
    while True:
        chunk = [item for _, item in zip(range(flush_every), stream, strict=False)]
        if not chunk:
            break
        feed(chunk)
        done += len(chunk)
        # exact at every flush, not only at the end: a wrong total a later input overwrites
        # is still a wrong total the read model showed
        exactness(stats, harness.units, oracle, election, touched, by_unit, truth=False)
        bar(done, f"rejected {sum(stats.rejected.values()):,}  failures {sum(stats.failure_counts.values())}")
    bar(done, force=True)
    bar.done()
    try:
        harness.sweep()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001
        stats.fail("uncaught", "the last sweep", _trace())
    checked, pristine = exactness(stats, harness.units, oracle, election, touched, by_unit)
    # registry records last: against a copy of the registry, the snapshot of the final tally
    scratch = build(election.registry)
    registry_items = [h for k in knowns for h in k.inputs if h.topic == "registry"]
    registry_items += list(gen.registry_inputs(registry_n))
    for i in range(0, len(registry_items), 500):
        part = registry_items[i : i + 500]
        for code in harness.registry_round(scratch, part, i):
            stats.registry["accepted" if code is None else code] += 1
    wall = time.monotonic() - t0
    return {
        "mode": "inputs",
        "election": election,
        "stats": stats,
        "wall": wall,
        "targets": targets,
        "checked": checked,
        "pristine": pristine,
        "units": len(harness.units),
        "total": done,
        "registry_n": len(registry_items),
    }


# -- the summary ----------------------------------------------------------------------------------
def _codes_table(rejected: Counter[tuple[str, str]]) -> list[str]:
    by_code: Counter[str] = Counter()
    for (_topic, code), k in rejected.items():
        by_code[code] += k
    width = max((len(c) for c in by_code), default=4)
    return [f"  {code:<{width}}  {k:>10,}" for code, k in by_code.most_common()]


def _verdict(stats: Stats, what: str) -> str:
    n = stats.failure_counts[what]
    return "exact" if what != "restart" and not n else "ok" if not n else f"{n:,} FAILED (below)"


def _failures(stats: Stats, allow_bugs: bool) -> list[str]:
    counts = Counter(stats.failure_counts)
    if allow_bugs:
        counts.pop("bug", None)
    return [f"{what} {k:,}" for what, k in counts.items() if k]


def write_failures(stats: Stats, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for f in stats.failures:
            out.write(
                orjson.dumps(
                    {
                        "what": f.what,
                        "detail": f.detail,
                        "traceback": f.trace,
                        "inputs": [
                            {
                                "topic": h.topic,
                                "key": None if h.key is None else base64.b64encode(h.key).decode(),
                                "value": None if h.value is None else base64.b64encode(h.value).decode(),
                            }
                            for h in f.inputs[:200]
                        ],
                    }
                )
                + b"\n"
            )


def show_input(h: Hostile) -> str:
    def cut(b: bytes | None) -> str:
        if b is None:
            return "None"
        return repr(b if len(b) <= 160 else b[:160] + b"...") + f" ({len(b):,} bytes)"

    return f"topic={h.topic!r} key={cut(h.key)} value={cut(h.value)}"


def summary(out: dict[str, Any], args: argparse.Namespace, command: str) -> tuple[list[str], Stats]:
    e = out["election"]
    lines = [
        f"command: {command}",
        f"election: synthetic, seed {args.seed}, {args.stations} stations, {args.tecs} TECs,"
        f" {len(e.events):,} valid events; hostile inputs name the RECs"
        f" {', '.join(_targets(e))} only",
    ]
    if out["mode"] == "inputs":
        s: Stats = out["stats"]
        total = out["total"]
        lines += [
            f"mode: in process, {args.partitions} partitions per topic, a flush every {args.flush_every:,}"
            f" messages ({s.flushes:,} flushes, {s.sweeps} sweeps, {s.findings:,} findings recorded)",
            f"inputs: {s.hostile:,} hostile + {s.valid:,} valid = {total:,};"
            f" {s.forwards:,} e-ballots forwarded",
            f"wall time {out['wall']:.1f} s, {total / out['wall']:,.0f} inputs/s",
            f"accepted {sum(s.accepted.values()):,} (by topic: "
            + ", ".join(f"{t} {k:,}" for t, k in sorted(s.accepted.items()))
            + ")",
            f"rejected {sum(s.rejected.values()):,}, by code:",
            *_codes_table(s.rejected),
            f"hostile registry records: {out['registry_n']:,}: "
            + ", ".join(f"{c} {k:,}" for c, k in s.registry.most_common()),
            f"dead letters: {s.letters:,}; the largest {s.letter_max:,} bytes"
            f" ({s.letter_max / DEFAULTS.deadletter_raw_limit:.2f} x the raw limit of"
            f" {DEFAULTS.deadletter_raw_limit:,}); {s.letters_over_small:,} over the raw limit"
            f" + {SMALL_SLACK:,}",
            f"totals, at every flush: the tally's figures of {out['units']} units against the oracle of"
            f" the accepted messages: {_verdict(s, 'totals')}; the commissions' summaries:"
            f" {_verdict(s, 'summaries')}; the {out['checked']} units no accepted hostile message"
            f" touched against the generator's truth, at the end: {_verdict(s, 'truth')}"
            f" ({', '.join(out['pristine'])})",
            "accepted by mutation: "
            + ", ".join(
                f"{name} {c['accepted']:,}/{sum(c.values()):,}" for name, c in sorted(s.by_mutation.items())
            ),
        ]
    else:
        run: BrokerRun = out["run"]
        s = run.stats
        sent = sum(run.sent.values())
        lines += [
            f"mode: broker (Tansu, redis-server, one worker), {args.partitions} partitions per topic;"
            f" logs in {out['workdir']}",
            f"inputs: {s.hostile:,} hostile + {s.valid:,} valid = {sent:,} messages"
            f" ({run.skipped} generated with neither key nor value, or over {BROKER_MAX:,} bytes, not"
            " sent: kafka-python or the broker refuses them);"
            f" {run.registry_sent:,} hostile registry records, all refused by the follower",
            f"sent in {run.send_seconds:.1f} s, tally caught up {run.caught_up_seconds:.1f} s after the first"
            f" send: {sent / max(run.caught_up_seconds, 1e-9):,.0f} messages/s end to end;"
            f" wall time {out['wall']:.1f} s",
            "per topic (accepted + rejected = on the topic): "
            + "; ".join(
                f"{t} {m['events']:,.0f} + {m['rejected']:,.0f} = {m['ends']:,.0f}"
                for t, m in run.metrics.items()
                if t != "registry"
            )
            + f"; registry: {run.metrics.get('registry', {}).get('rejected', 0):,.0f} rejected of"
            f" {run.registry_sent:,} hostile records ({len(e.registry):,} valid ones applied)",
            f"dead letters: {len(run.letters):,} distinct, by code:",
            *_codes_table(s.rejected),
            f"totals: {len(run.units)} units in the read model against the reference tally and the"
            f" oracle: {_verdict(s, 'totals')}; the commissions' summaries: {_verdict(s, 'summaries')};"
            f" the {len(run.pristine)} untouched units against the generator's truth: {_verdict(s, 'truth')}",
            "restart: "
            + (
                "SIGKILL, a new worker re-read every message from offset 0:"
                f" {_verdict(s, 'restart')} (up, the same tally at every unit, the same"
                " dead letters"
                + (
                    "; but a commission's summary changed, see the summaries below)"
                    if any("after the restart" in f.detail for f in s.failures if f.what == "summaries")
                    else ")"
                )
                if run.restarted
                else "not done"
            ),
        ]
    failed = _failures(s, args.allow_bugs)
    fc = s.failure_counts
    lines.append(
        f"uncaught exceptions {fc['uncaught']}, empty reasons {fc['empty_reason']},"
        f" bug rejections {fc['bug']}"
    )
    lines.append("RESULT: " + ("PASS" if not failed else "FAIL: " + ", ".join(failed)))
    return lines, s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, help="hostile inputs in process (default 1,000,000)")
    ap.add_argument("--broker", type=int, help="hostile inputs through a real worker (default 10,000)")
    ap.add_argument("--seed", type=int, default=2007)
    ap.add_argument("--stations", type=int, default=200)
    ap.add_argument("--tecs", type=int, default=20)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--flush-every", type=int, default=1000, help="messages between two flushes")
    ap.add_argument(
        "--registry", type=int, help="hostile registry records (default: inputs / 100, broker inputs / 20)"
    )
    ap.add_argument("--allow-bugs", action="store_true", help="report bug rejections, do not fail on them")
    ap.add_argument("--failures", type=Path, help="where to write the failing inputs (JSON lines)")
    ap.add_argument("--workdir", type=Path, help="logs of the broker mode (default .tabmon/fuzz-<time>)")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    ap.add_argument(
        "--no-restart",
        action="store_true",
        help="broker mode: do not SIGKILL and restart the worker at the end",
    )
    args = ap.parse_args(argv)
    modes = {"inputs": args.inputs, "broker": args.broker}
    if args.inputs is None and args.broker is None:
        modes = {"inputs": 1_000_000, "broker": 10_000}
    procs.interrupt_on_signals()  # Ctrl-C and SIGTERM stop every process started here
    # the follower logs each registry record it rejects; the summary counts them instead
    logging.getLogger("tabmon").addHandler(logging.NullHandler())
    logging.getLogger("tabmon").propagate = False
    stamp = time.strftime("%Y%m%d-%H%M%S")
    failures_path = args.failures or ROOT / ".tabmon" / f"fuzz-failures-{stamp}.jsonl"
    ok = True
    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    every: list[Failure] = []
    for mode, n in modes.items():
        if not n:
            continue
        command = f".venv/bin/python load/fuzz.py --{mode} {n}"
        if mode == "inputs":
            out = run_inputs(
                n,
                seed=args.seed,
                stations=args.stations,
                tecs=args.tecs,
                flush_every=args.flush_every,
                partitions=args.partitions,
                registry_n=args.registry if args.registry is not None else max(1000, n // 100),
                progress=not args.quiet,
            )
        else:
            out = broker_main(n, args)
        lines, stats = summary(out, args, command)
        print(f"\n## fuzz: {'in process' if mode == 'inputs' else 'through the broker'}\n")
        print("\n".join(lines))
        print(f"machine: {machine}")
        ok = ok and not _failures(stats, args.allow_bugs)
        every += stats.failures
        for f in stats.failures[:5]:
            print(f"\n{f.what}: {f.detail}")
            for h in f.inputs[:3]:
                print(f"  input: {show_input(h)}")
            if f.trace:
                print("  " + f.trace.strip().replace("\n", "\n  "))
    if every:
        write_failures(Stats(failures=every), failures_path)
        print(f"\nthe failing inputs: {failures_path}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every process started here is stopped", file=sys.stderr)
        sys.exit(130)
