"""Region-wide falsification patterns injected into a clean synthetic election (SYNTHETIC).

Each scenario takes an ``Election`` from ``producers.elections.synthetic.generate`` (clean: every source
of a station carries the same figures) and returns an :class:`Injection`: a new election in
which, in the chosen regions, a share of stations carries the pattern, and the ground truth
(regions, stations, the forensic kinds expected to see it). The input is not modified.

Every changed protocol still satisfies the control relations of CONTRACT.md: a ballot added
for the leader is issued, found and counted, and taken from the unused ballots. The final
turnout report follows the protocol, and the TEC, REC and CEC summaries are re-summed, so
the only trace is the statistical one the forensics look for.

- ``stuff_ballots``: extra ballots for the region's leader at a share of stations, a random
  part of those who did not vote (turnout and leader share rise together);
- ``round_percentages``: turnout and the leader's share written as whole percentages (turnout
  rounded up by adding ballots for the leader, the share by moving votes);
- ``round_counts``: the leader's count written as a multiple of five (invented figures).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from producers.elections import synthetic as S
from producers.elections.synthetic import Election, TimedEvent, Truth

Figures = dict[str, Any]  # a protocol's figures as in the contract (with "votes")


@dataclass(frozen=True)
class Injection:
    election: Election
    scenario: str
    regions: tuple[str, ...]  # the ground truth: regions where the pattern was injected
    stations: tuple[str, ...]  # the stations whose protocols changed
    kinds: tuple[str, ...]  # forensic kinds expected to see it


# ---- the scenarios ---------------------------------------------------------------------


def stuff_ballots(
    el: Election,
    regions: Sequence[str],
    *,
    share: float = 0.2,
    strength: tuple[float, float] = (0.2, 0.6),
    seed: int = 0,
) -> Injection:
    """At ``share`` of the stations of each region, ballots for the leader are added: a
    uniform ``strength`` part of the voters on the list who did not vote."""
    rng = random.Random(f"forensic/stuff/{seed}")

    def stuff(f: Figures, leader: str) -> Figures | None:
        room = f["registered"] - participants(f)
        x = round(rng.uniform(*strength) * room)
        return add_ballots(f, leader, x) if x > 0 else None

    return _inject(
        el, "ballot_stuffing", regions, share, rng, stuff, ("forensic_fingerprint", "forensic_excess_votes")
    )


def round_percentages(
    el: Election, regions: Sequence[str], *, share: float = 0.15, seed: int = 0
) -> Injection:
    """At ``share`` of the stations of each region, turnout is rounded up to a whole percent
    (ballots added for the leader) and the leader's share to the nearest whole percent."""
    rng = random.Random(f"forensic/round/{seed}")

    def rounded(f: Figures, leader: str) -> Figures | None:
        reg = f["registered"]
        if reg == 0:
            return None
        pct = math.ceil(100 * participants(f) / reg)
        out = add_ballots(f, leader, _nearest(reg * pct / 100) - participants(f))
        valid = sum(out["votes"].values())
        if valid == 0:
            return None
        target = _nearest(valid * _nearest(100 * out["votes"][leader] / valid) / 100)
        return move_votes(out, leader, target - out["votes"][leader])

    return _inject(el, "round_percentages", regions, share, rng, rounded, ("forensic_round_percent",))


def round_counts(el: Election, regions: Sequence[str], *, share: float = 0.3, seed: int = 0) -> Injection:
    """At ``share`` of the stations of each region, the leader's count is written as the
    nearest multiple of five (ballots added or removed to match)."""
    rng = random.Random(f"forensic/digits/{seed}")

    def five(f: Figures, leader: str) -> Figures | None:
        votes = f["votes"][leader]
        x = 5 * _nearest(votes / 5) - votes
        if x > f["registered"] - participants(f):
            x -= 5
        return add_ballots(f, leader, x) if x != 0 else None

    return _inject(el, "round_counts", regions, share, rng, five, ("forensic_last_digit",))


SCENARIOS: dict[str, Callable[..., Injection]] = {
    "ballot_stuffing": stuff_ballots,
    "round_percentages": round_percentages,
    "round_counts": round_counts,
}


def pick_regions(el: Election, k: int, seed: int = 0) -> tuple[str, ...]:
    """``k`` regions of the election, chosen at random (sorted)."""
    regions = sorted(set(el.truth.station_rec.values()))
    return tuple(sorted(random.Random(f"forensic/regions/{seed}").sample(regions, k)))


# ---- consistent changes to one protocol ------------------------------------------------


def participants(f: Figures) -> int:
    return int(f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"])


def _nearest(x: float) -> int:
    return math.floor(x + 0.5)


def add_ballots(f: Figures, party: str, x: int) -> Figures:
    """``x`` paper ballots (negative: removed) issued in the station, found and counted for
    ``party``, taken from (returned to) the unused ballots; more packs of 50 if needed."""
    removable = min(f["issued_in_station"], f["ballots_found"], f["votes"][party])
    if x > f["registered"] - participants(f) or -x > removable:
        raise ValueError(f"cannot add {x} ballots to this protocol")
    out = {**f, "votes": dict(f["votes"])}
    out["issued_in_station"] += x
    out["ballots_found"] += x
    out["votes"][party] += x
    out["ballots_cancelled"] -= x
    if out["ballots_cancelled"] < 0:
        packs = 50 * math.ceil(-out["ballots_cancelled"] / 50)
        out["ballots_received"] += packs
        out["ballots_cancelled"] += packs
    return out


def move_votes(f: Figures, party: str, x: int) -> Figures:
    """``x`` votes moved to ``party`` from the others, largest first (negative: the other
    way, to the largest other party); the number of valid votes is unchanged."""
    out = {**f, "votes": dict(f["votes"])}
    votes = out["votes"]
    others = sorted((p for p in votes if p != party), key=lambda p: -votes[p])
    if x < 0:
        take = min(-x, votes[party])
        votes[party] -= take
        votes[others[0]] += take
        return out
    for p in others:
        take = min(x, votes[p])
        votes[p] -= take
        votes[party] += take
        x -= take
    return out


# ---- applying a change to the whole election -------------------------------------------


def leaders(truth: Truth) -> dict[str, str]:
    """Each region's leader: the party with the most official votes there."""
    totals: dict[str, dict[str, int]] = {}
    for sid, f in truth.official.items():
        t = totals.setdefault(truth.station_rec[sid], {})
        for p, v in f["votes"].items():
            t[p] = t.get(p, 0) + v
    return {rec: max(t, key=lambda p: t[p]) for rec, t in totals.items()}


def _inject(
    el: Election,
    name: str,
    regions: Sequence[str],
    share: float,
    rng: random.Random,
    change: Callable[[Figures, str], Figures | None],
    kinds: tuple[str, ...],
) -> Injection:
    unknown = set(regions) - set(el.truth.station_rec.values())
    if unknown:
        raise ValueError(f"no stations in region(s) {sorted(unknown)}")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    leaders_ = leaders(el.truth)
    new: dict[str, Figures] = {}
    for rec in sorted(regions):
        members = sorted(s for s, r in el.truth.station_rec.items() if r == rec)
        for sid in rng.sample(members, round(share * len(members))):
            try:
                f = change(el.truth.pec[sid], leaders_[rec])
            except ValueError:  # no consistent way to make this change here: leave it
                f = None
            if f is not None and f != el.truth.pec[sid]:
                new[sid] = f
    election = _with_figures(el, new)
    return Injection(election, name, tuple(sorted(regions)), tuple(sorted(new)), kinds)


def _with_figures(el: Election, new: dict[str, Figures]) -> Election:
    """The election with these stations' protocols (every source), final turnout report and
    every summary above them replaced."""
    pec = {**el.truth.pec, **new}
    turnout = {
        sid: {**t, "voted": participants(pec[sid])} if sid in new else t
        for sid, t in el.truth.turnout.items()
    }
    sums = _unit_sums(el.truth, pec, set(new))
    events = [_changed(ev, new, sums) for ev in el.events]
    truth = replace(el.truth, pec=pec, official={**el.truth.official, **new}, turnout=turnout)
    return Election(el.seed, el.parties, el.registry, events, truth)


def _unit_sums(truth: Truth, pec: dict[str, Figures], changed: set[str]) -> dict[str, Figures]:
    """New summary figures of every unit holding a changed station."""
    members: dict[str, list[str]] = {}
    for sid in truth.station_tec:
        for unit in (truth.station_tec[sid], truth.station_rec[sid], S.CEC_ID):
            members.setdefault(unit, []).append(sid)
    return {
        u: S._sum_figures([pec[s] for s in sids]) for u, sids in members.items() if changed.intersection(sids)
    }


def _changed(ev: TimedEvent, new: dict[str, Figures], sums: dict[str, Figures]) -> TimedEvent:
    v = ev.value
    if ev.topic == "protocols" and v["station_id"] in new:
        return replace(ev, value={**v, "figures": S._copy_figures(new[v["station_id"]])})
    if ev.topic == "turnout" and v["station_id"] in new:
        # reports are cumulative: none may exceed the protocol's participation
        voted = participants(new[v["station_id"]])
        last = v["seq"] == len(S.REPORT_TIMES)
        return replace(ev, value={**v, "voted": voted if last else min(v["voted"], voted)})
    if ev.topic == "summaries" and v["unit_id"] in sums:
        return replace(ev, value={**v, "figures": S._copy_figures(sums[v["unit_id"]])})
    return ev
