"""False alarms and power of the statistical forensics at the documented thresholds.

All data is SYNTHETIC (producers.elections.synthetic, producers.elections.scenarios.forensic). For each seed:

- a clean election (``generate``), its protocols fed in arrival order into the in-memory
  tally, the forensics run at several looks (shares of the protocol events): false alarms
  at the last look and at any look;
- each scenario at each strength in ``--regions`` regions picked at random (on
  ``--injected-seeds`` of the seeds):
  power (injected regions where the expected kind is found) at the last look and at the
  half-way look, false alarms elsewhere, and for ballot stuffing the estimated excess
  against the ballots actually added.

    python load/forensics_quality.py                       # 100 seeds (40 injected), 9,727 stations
    python load/forensics_quality.py --seeds 4 --injected-seeds 2 --stations 2000 --tecs 60
    python load/forensics_quality.py --drill               # the 2007 drill, what it says
    python load/forensics_quality.py --digit-floors --seeds 4  # the last-digit test's count floor
    python load/forensics_quality.py --summarise seeds.jsonl   # the summary of an earlier --jsonl
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from monitor.contract import build
from monitor.detect.findings import Finding
from monitor.detect.forensics import (
    KINDS,
    REGIONAL_TESTS,
    ForensicThresholds,
    forensic_findings,
    sweep_size,
)
from monitor.detect.stats import chi2_sf
from monitor.testing import InMemoryTally
from producers.elections.scenarios import forensic as FS
from producers.elections.synthetic import Election, generate

LOOKS = (0.1, 0.25, 0.5, 0.75, 1.0)  # shares of the protocol events in arrival order
HEAVY = (0.5, 1.0)  # stuffing: a part of the non-voters drawn from this, not the default
CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    *(("ballot_stuffing", {"share": s}) for s in (0.1, 0.2, 0.3)),
    ("ballot_stuffing", {"share": 0.3, "strength": HEAVY}),
    *(("round_percentages", {"share": s}) for s in (0.05, 0.1, 0.15)),
    *(("round_counts", {"share": s}) for s in (0.1, 0.2, 0.3)),
)


def looks(el: Election, at: Sequence[float]) -> tuple[list[list[Finding]], float]:
    """Forensic findings after each share of the protocol events, and seconds per sweep."""
    tally = InMemoryTally(el.registry, partitions=4)
    protocols = [e for e in el.events if e.topic == "protocols"]
    out, fed, spent = [], 0, 0.0
    for share in at:
        upto = round(share * len(protocols))
        for e in protocols[fed:upto]:
            tally.feed(e.topic, e.key, e.value)
        fed = upto
        tally.flush()
        t0 = time.perf_counter()
        out.append(forensic_findings(tally.stations, tally.registry, ForensicThresholds()))
        spent += time.perf_counter() - t0
    return out, spent / len(at)


def _brief(fs: list[Finding]) -> list[dict[str, Any]]:
    return [
        {
            "unit": f.unit_id,
            "kind": f.kind,
            "subject": f.subject,
            "severity": f.severity,
            "p": f.evidence["p_value"],
            "top": f.evidence.get("top_percents", [[None]])[0][0],
        }
        for f in fs
    ]


def one_seed(job: tuple[int, int, int, int, bool]) -> dict[str, Any]:
    seed, n_stations, n_tecs, n_regions, inject = job
    clean = generate(n_stations, n_tecs, seed=seed)
    at_looks, sweep = looks(clean, LOOKS)
    res: dict[str, Any] = {
        "seed": seed,
        "sweep_seconds": sweep,
        "clean": [_brief(fs) for fs in at_looks],
        "tests_per_sweep": sweep_size(build(clean.registry)),
        "injected": [],
    }
    regions = FS.pick_regions(clean, n_regions, seed)
    n_all = len(set(clean.truth.station_rec.values()))
    for case, (name, kwargs) in enumerate(CASES if inject else ()):
        inj = FS.SCENARIOS[name](clean, regions, seed=seed, **kwargs)
        half, last = looks(inj.election, (0.5, 1.0))[0]
        res["injected"].append(
            {
                "case": case,
                "regions": regions,
                "kinds": inj.kinds,
                "n_regions": n_all,
                "half": _brief(half),
                "last": _brief(last),
                "added": _leader_added(clean, inj),
                "excess": {
                    f.unit_id: f.evidence["excess_votes"] for f in last if f.kind == "forensic_excess_votes"
                },
            }
        )
    return res


def _leader_added(clean: Election, inj: FS.Injection) -> dict[str, int]:
    """Net votes the injection gave each region's leader (the ground truth of the excess)."""
    out: Counter[str] = Counter()
    leaders = FS.leaders(clean.truth)
    for sid in inj.stations:
        rec = clean.truth.station_rec[sid]
        p = leaders[rec]
        out[rec] += inj.election.truth.official[sid]["votes"][p] - clean.truth.official[sid]["votes"][p]
    return dict(out)


# ---- the summary -----------------------------------------------------------------------


def _rate(hits: int, n: int) -> str:
    return f"{hits}/{n} ({100 * hits / n:.3g} %)" if n else "-"


def summarise(results: list[dict[str, Any]]) -> list[str]:
    n = len(results)
    injected = sum(bool(r["injected"]) for r in results)
    lines = [
        f"seeds: {n} clean, {injected} injected; mean forensic sweep at full data: "
        f"{statistics.mean(r['sweep_seconds'] for r in results):.2f} s",
        "",
        "clean elections: elections with at least one finding",
        "",
        "| kind | last look | any look |",
        "|---|---|---|",
    ]
    for kind in (*KINDS, "any"):
        last = sum(any(kind in ("any", f["kind"]) for f in r["clean"][-1]) for r in results)
        anyl = sum(any(kind in ("any", f["kind"]) for fs in r["clean"] for f in fs) for r in results)
        lines.append(f"| {kind} | {_rate(last, n)} | {_rate(anyl, n)} |")
    found = Counter((f["kind"], f["subject"], f["unit"], f["top"]) for r in results for f in r["clean"][-1])
    tests = sum(r["tests_per_sweep"] for r in results)
    lines += [
        "",
        f"tests run at the last look: {tests:,} (region-tests and national); findings among"
        f" them: {_rate(sum(found.values()), tests)}",
        "",
        f"clean findings at the last look (kind, subject, unit, top whole percent): {dict(found)}",
        "",
        "injected: power = injected regions where an expected kind is found",
        "",
        "| scenario | injected at | power, half the protocols | power, all |"
        " false alarms elsewhere (region-tests) | excess estimated / added (median) |",
        "|---|---|---|---|---|---|",
    ]
    for case, (name, kwargs) in enumerate(CASES):
        runs = [i for r in results for i in r["injected"] if i["case"] == case]
        label = ", ".join(f"{k} {v}" for k, v in kwargs.items())
        if runs:
            lines.append(_power_row(name, label, runs))
    return lines


def _power_row(name: str, label: str, runs: list[dict[str, Any]]) -> str:
    n_inj = sum(len(i["regions"]) for i in runs)

    def found(i: dict[str, Any], look: str) -> int:
        return sum(any(f["unit"] == rec and f["kind"] in i["kinds"] for f in i[look]) for rec in i["regions"])

    elsewhere = sum(f["unit"] not in i["regions"] and f["unit"] != "KZ" for i in runs for f in i["last"])
    region_tests = sum(i["n_regions"] - len(i["regions"]) for i in runs) * REGIONAL_TESTS
    ratios = [
        i["excess"][rec] / i["added"][rec]
        for i in runs
        for rec in i["excess"]
        if rec in i["regions"] and i["added"].get(rec)
    ]
    ratio = f"{statistics.median(ratios):.2f} (n={len(ratios)})" if ratios else "-"
    return (
        f"| {name} | {label} | {_rate(sum(found(i, 'half') for i in runs), n_inj)} |"
        f" {_rate(sum(found(i, 'last') for i in runs), n_inj)} | {_rate(elsewhere, region_tests)} |"
        f" {ratio} |"
    )


# ---- the 2007 drill --------------------------------------------------------------------


def drill() -> list[str]:
    """What the forensics say on the 2007 drill, in the official view and in the PEC view."""
    from producers.elections.kz2007.night import build

    el = build(seed=2007)
    tally = InMemoryTally(el.registry, partitions=4)
    tally.feed_events([e for e in el.events if e.topic == "protocols"])
    official = forensic_findings(tally.stations, tally.registry)
    pec_view = {
        sid: {"protocols": {**d["protocols"], "official_source": "pec"}} for sid, d in tally.stations.items()
    }
    pec = forensic_findings(pec_view, tally.registry)
    moved: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for sid, f in el.truth.official.items():
        rec, pec_votes = el.truth.station_rec[sid], el.truth.pec[sid]["votes"]
        moved[rec] += f["votes"]["Nur Otan"] - pec_votes["Nur Otan"]
        others[rec] += sum(v - pec_votes[p] for p, v in f["votes"].items() if p != "Nur Otan")
    lines = ["| view | findings by kind |", "|---|---|"]
    for view, fs in (("official", official), ("pec", pec)):
        kinds = Counter(f"{f.kind}{'/' + f.subject if f.subject else ''}" for f in fs)
        lines.append(f"| {view} | {dict(sorted(kinds.items()))} |")
    lines += [
        "",
        "| region | excess estimated (official view) | Nur Otan, official minus PEC |"
        " other parties, official minus PEC |",
        "|---|---|---|---|",
    ]
    for f in official:
        if f.kind == "forensic_excess_votes":
            u = f.unit_id
            lines.append(f"| {u} | {f.evidence['excess_votes']:,} | {moved[u]:+,} | {others[u]:+,} |")
    lines.append(f"| all 16 | | {sum(moved.values()):+,} | {sum(others.values()):+,} |")
    return lines


def digit_floors(seeds: Sequence[int], n_stations: int, n_tecs: int) -> list[str]:
    """Why counts under ``digit_min_count`` stay out of the last-digit test: its p-value on
    clean elections with lower floors (national pool, and the lowest of the 16 regions)."""
    floors = (10, 20, 30, 50, 100)
    lines = [
        "| seed | " + " | ".join(f"counts >= {f}: national p, lowest regional p" for f in floors) + " |",
        "|---|" + "---|" * len(floors),
    ]
    for seed in seeds:
        el = generate(n_stations, n_tecs, seed=seed)
        cells = []
        for floor in floors:
            per: dict[str, list[int]] = {}
            for sid, f in el.truth.official.items():
                digits = per.setdefault(el.truth.station_rec[sid], [0] * 10)
                for v in f["votes"].values():
                    digits[v % 10] += v >= floor
            national = [sum(col) for col in zip(*per.values(), strict=True)]
            cells.append(f"{_chi2_p(national):.1e}, {min(_chi2_p(d) for d in per.values()):.1e}")
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return lines


def _chi2_p(digits: Sequence[int]) -> float:
    e = sum(digits) / 10
    return chi2_sf(sum((d - e) ** 2 / e for d in digits), 9)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument(
        "--injected-seeds",
        type=int,
        default=40,
        help="of the seeds, how many (spread evenly) also run every injected scenario",
    )
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--stations", type=int, default=9727)
    ap.add_argument("--tecs", type=int, default=205)
    ap.add_argument("--regions", type=int, default=3, help="regions injected per election")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--drill", action="store_true", help="run the 2007 drill only")
    ap.add_argument(
        "--digit-floors",
        action="store_true",
        help="only the last-digit test on clean elections with lower count floors",
    )
    ap.add_argument("--jsonl", help="also write each seed's findings here, one line per seed, as they come")
    ap.add_argument("--summarise", metavar="JSONL", help="only summarise the seeds of an earlier --jsonl")
    args = ap.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    t0 = time.perf_counter()
    if args.drill:
        print("\n".join(drill()))
    elif args.digit_floors:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        print("\n".join(digit_floors(seeds, args.stations, args.tecs)))
    elif args.summarise:
        lines = Path(args.summarise).read_bytes().splitlines()
        print("\n".join(summarise([orjson.loads(line) for line in lines if line])))
    else:
        k, n = args.injected_seeds, args.seeds  # injected seeds spread evenly over the run
        jobs = [
            (args.first_seed + i, args.stations, args.tecs, args.regions, i * k // n != (i + 1) * k // n)
            for i in range(n)
        ]
        out = open(args.jsonl, "wb") if args.jsonl else None  # noqa: SIM115 - written as seeds finish
        results = []
        with Pool(args.jobs) as pool:
            for res in pool.imap(one_seed, jobs, chunksize=1):
                results.append(res)
                print(f"seed {res['seed']} done ({len(results)}/{len(jobs)})", file=sys.stderr, flush=True)
                if out is not None:
                    out.write(orjson.dumps(res) + b"\n")
                    out.flush()
        if out is not None:
            out.close()
        print("\n".join(summarise(results)))
    print(f"\ntook {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
