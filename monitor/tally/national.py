"""Stage two of the tally: merge the partials of every input partition into totals per unit.

A partial is the absolute state of some TECs in one topic-partition, stamped with the offset
watermark it was taken at (see :mod:`.partition`). Merging keeps, per (partition, TEC), the
entry with the highest watermark, and per unit the summary with the highest version, so the
same partial delivered twice, late or after a restart changes nothing. Totals are then derived
from the merged state, never accumulated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from monitor.contract import Registry
from monitor.election import Definition
from monitor.tally.partition import TOKEN_BALLOTS_KEPT, cap_versions
from monitor.tally.seats import allocate
from monitor.tally.shapes import (
    CommissionSums,
    ContestSums,
    Merged,
    Named,
    Partial,
    Partials,
    Seats,
    Snapshot,
    SummaryRecord,
    UnitSnapshot,
)
from monitor.tally.sums import UNANIMOUS_KEYS, participants


def merge(state: Merged | None, partial: Partial) -> tuple[Merged, bool]:
    """Fold one partial into the merged state of its topic-partition; (new state, changed).

    ``epoch`` says which assignment of the partition a partial comes from. The first partial
    of a newer epoch is complete (stage one publishes nothing while it rebuilds), so it
    replaces the state: what an earlier owner published can no longer linger. An older epoch
    is ignored; within one epoch, entries merge by watermark and version."""
    epoch = partial.get("epoch", 0)
    if state is not None and epoch < state.get("epoch", 0):
        return state, False
    if state is None or epoch > state.get("epoch", 0):
        state = {"kind": partial["kind"], "epoch": epoch, "wm": -1, "tecs": {}, "summaries": {}}
    # the latest event time the partition has read: the monitor's clock (late protocols)
    state["clock"] = max(state.get("clock", 0.0), partial.get("clock", 0.0))
    wm = partial["wm"]
    changed = wm > state["wm"]
    if wm >= state["wm"]:  # how far behind the broker the partition was at that partial
        behind = partial.get("behind", 0)
        settled = partial.get("settled")
        # a partition that fell behind without reading anything new (or whose forwards
        # reached their homes) changes the state too: the detectors that wait for settled
        # inputs must see it
        changed = changed or behind != state.get("behind", 0) or settled != state.get("settled")
        state["behind"], state["settled"] = behind, settled
        state["src"], state["pending"] = partial.get("src", {}), partial.get("pending", 0)
    if changed:
        state["wm"] = wm
    tecs = state["tecs"]
    for tec, data in partial["tecs"].items():
        cur = tecs.get(tec)
        if cur is None or wm > cur[0]:
            tecs[tec] = [wm, data]
            changed = True
    changed = _merge_summaries(state["summaries"], partial["summaries"]) or changed
    for contest, by_unit in partial.get("contest_summaries", {}).items():
        sums = state.setdefault("contest_summaries", {}).setdefault(contest, {})
        changed = _merge_summaries(sums, by_unit) or changed
    tokens = state.setdefault("tokens", {})
    for token, ballots in partial.get("tokens", {}).items():
        union = sorted({tuple(b) for b in tokens.get(token, ())} | {tuple(b) for b in ballots})
        union = union[:TOKEN_BALLOTS_KEPT]  # as the store keeps them: the earliest-sorted
        if union != [tuple(b) for b in tokens.get(token, ())]:
            tokens[token] = [list(b) for b in union]
            changed = True
    return state, changed


def _merge_summaries(
    sums: dict[str, dict[str, SummaryRecord]], partial: dict[str, list[SummaryRecord]]
) -> bool:
    """Fold a partial's summary versions (unit -> records) into ``sums`` (unit -> version ->
    record); True if any changed."""
    changed = False
    for unit, versions in partial.items():
        known = sums.setdefault(unit, {})
        for rec in versions:
            v = str(rec["version"])
            kept = known.get(v)
            if kept is None or _summary_rank(rec) > _summary_rank(kept):
                known[v] = rec
                changed = True
                cap_versions(known)
    return changed


def _summary_rank(rec: SummaryRecord) -> tuple[Any, ...]:
    """Of two records of one summary version, the one the store keeps is the larger by
    figures, then stations included, time and level (partition._summary_key): stage two must
    choose alike, or what it shows would depend on which flush each record fell in."""
    return (rec["figures"], rec["stations_included"], rec["recorded_at"], rec["level"])


def clock(partials: Partials) -> float:
    """The latest event time (unix seconds) any partition has read; 0.0 before any."""
    return max((state.get("clock", 0.0) for state in partials.values()), default=0.0)


COMPARED_KINDS = ("protocols", "summaries", "turnout")  # the inputs commissions' figures meet


def read_to(
    partials: Partials, expected: Iterable[str] = (), kinds: tuple[str, ...] = COMPARED_KINDS
) -> float:
    """The event time (unix seconds) up to which every partition of ``kinds`` has been read,
    as their last partials say: a partition read to the broker's end, with no forward still
    on its way home, counts as read to any time (``math.inf`` when all are); one behind as
    read to its latest event time, or to just before its earliest forward not yet published
    by its home (``settled``); and one of ``expected`` (``topic:partition``) with no partial
    yet as read to nothing (0.0). A comparison across partitions of what was recorded before
    this time sees all of it (records reach a partition in about the order of their time)."""
    if any(tp not in partials for tp in expected):
        return 0.0
    return min(
        (
            math.inf if state.get("behind", 0) == 0 else state.get("settled") or state.get("clock", 0.0)
            for state in partials.values()
            if state.get("kind") in kinds
        ),
        default=math.inf,
    )


def _add(acc: list[int], xs: list[int]) -> None:
    for i, x in enumerate(xs):
        acc[i] += x


class _Unit:
    __slots__ = (
        "pec",
        "official",
        "moved",
        "n_pec",
        "n_official",
        "n_altered",
        "unanimous",
        "turnout",
        "n_turnout",
        "by_seq",
        "evote",
    )

    def __init__(self, width: int) -> None:
        self.pec = [0] * width
        self.official = [0] * width
        self.moved = [0] * width
        self.n_pec = self.n_official = self.n_altered = self.n_turnout = self.evote = 0
        self.unanimous = [0] * len(UNANIMOUS_KEYS)
        self.turnout = [0, 0, 0]
        self.by_seq: dict[str, list[int]] = {}

    def add(self, o: _Unit) -> None:
        for mine, theirs in (
            (self.pec, o.pec),
            (self.official, o.official),
            (self.moved, o.moved),
            (self.turnout, o.turnout),
            (self.unanimous, o.unanimous),
        ):
            _add(mine, theirs)
        self.n_pec += o.n_pec
        self.n_official += o.n_official
        self.n_altered += o.n_altered
        self.n_turnout += o.n_turnout
        self.evote += o.evote
        for seq, xs in o.by_seq.items():
            _add(self.by_seq.setdefault(seq, [0, 0, 0, 0]), xs)

    def add_wire(self, d: CommissionSums) -> None:
        if "pec" in d:
            _add(self.pec, d["pec"])
            _add(self.official, d["official"])
            _add(self.moved, d["moved"])
            _add(self.unanimous, d["unanimous"])
            self.n_pec += d["n_pec"]
            self.n_official += d["n_official"]
            self.n_altered += d["n_altered"]
        if "turnout" in d:
            _add(self.turnout, d["turnout"])
            self.n_turnout += d["n_turnout"]
            for seq, xs in d["by_seq"].items():
                _add(self.by_seq.setdefault(seq, [0, 0, 0, 0]), xs)
        self.evote += d.get("evote", 0)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def view(figures: Sequence[int], parties: Sequence[str], d: Definition) -> Named:
    """A figures vector as named figures, party votes, valid votes and participants."""
    n = len(d.fields)
    named: Named = dict(zip(d.fields, figures[:n], strict=True))
    votes = dict(zip(parties, figures[n:], strict=True))
    named["votes"] = votes
    named["valid"] = sum(votes.values())
    # Voters who took part, as the definition counts them (the seat threshold's base).
    named["participants"] = participants(figures, d)
    if "registered" not in named:  # a quantity of the form's fields (Indonesia: dpt + dptb + dpk)
        named["registered"] = d.quantity("registered", figures)
    return named


def snapshot(
    partials: Partials,
    registry: Registry,
    *,
    seats: int | None = None,
    threshold: float | None = None,
    method: str | None = None,
) -> Snapshot:
    """Totals for every unit of every level (in kz2007: the CEC, every REC and TEC), derived
    from the merged partials. Seats follow the first contest's rule in the definition;
    ``seats``, ``threshold`` and ``method`` override its parts (TABMON_SEATS ...)."""
    parties = registry.parties
    width = len(registry.definition.fields) + len(parties)
    tec_units: dict[str, _Unit] = {t: _Unit(width) for t in registry.tec_rec}
    summaries: dict[str, dict[str, SummaryRecord]] = {}
    tokens: dict[str, list[list[str]]] = {}
    contests: dict[tuple[str, str], ContestSums] = {}  # (contest, commission) -> sums
    contest_summaries: dict[tuple[str, str], dict[str, SummaryRecord]] = {}  # (contest, unit) -> versions
    for state in partials.values():
        for tec, (_wm, data) in state["tecs"].items():
            u = tec_units.get(tec)
            if u is None:
                u = tec_units[tec] = _Unit(width)
            u.add_wire(data)
            for cid, c in data.get("contests", {}).items():
                _add_contest(contests, (cid, tec), c)
        for unit, versions in state["summaries"].items():
            summaries.setdefault(unit, {}).update(versions)
        for cid, by_unit in state.get("contest_summaries", {}).items():
            for unit, versions in by_unit.items():
                contest_summaries.setdefault((cid, unit), {}).update(versions)
        tokens.update(state.get("tokens", {}))
    # Every level above the commissions is a roll-up of the commissions under it, however
    # many levels the definition has: each commission is added once to each of its ancestors.
    top = registry.top_id
    level_units: dict[str, _Unit] = {top: _Unit(width)}
    for uid in registry.unit_level:
        if uid not in tec_units:
            level_units[uid] = _Unit(width)
    for r in registry.rec_tecs:
        level_units.setdefault(r, _Unit(width))
    for tec, u in tec_units.items():
        for a in _chain(registry, tec):
            level_units.setdefault(a, _Unit(width)).add(u)
    lists = _registry_figures(registry)
    out: Snapshot = {}
    units: list[tuple[str, str, str | None, _Unit]] = []
    order = {lv: i for i, lv in enumerate(registry.definition.levels)}
    for uid, u in [*level_units.items(), *tec_units.items()]:
        level = _level(registry, uid)
        units.append((uid, level, None if uid == top else _parent(registry, uid), u))
    units.sort(key=lambda x: order.get(x[1], len(order)))  # stable: registration order within a level
    for uid, level, parent, u in units:
        n = lists.get(uid, {}).get("stations", 0)
        snap = _unit_snapshot(uid, level, parent, u, n, registry)
        snap["registry"] = {k: v for k, v in lists.get(uid, _NO_FIGURES).items() if k != "stations"}
        if uid in summaries:
            snap["summary_versions"] = _summary_views(summaries[uid], parties, registry.definition)
            snap["summary"] = snap["summary_versions"][-1]
        out[uid] = snap
    _evote_multiple(out, tokens, registry)
    _contest_views(out, contests, contest_summaries, registry)
    rule = registry.definition.contests[0].seats
    if rule is not None or seats is not None:
        n = seats if seats is not None else rule.seats if rule else 1
        share = threshold if threshold is not None else rule.threshold if rule else 0.0
        how = method or (rule.method if rule else "hare")
        base = rule.threshold_base if rule else "participants"
        out[top]["seats"] = {
            name: _seats(out[top][name], n, share, how, base) for name in ("protocol", "official")
        }
    return out


def _add_contest(acc: dict[tuple[str, str], ContestSums], key: tuple[str, str], c: ContestSums) -> None:
    """Add one contest entry (a partial's shape: pec, official, n_pec, n_official) into ``acc``."""
    cur = acc.get(key)
    if cur is None:
        acc[key] = {
            "pec": list(c["pec"]),
            "official": list(c["official"]),
            "n_pec": c["n_pec"],
            "n_official": c["n_official"],
        }
        return
    _add(cur["pec"], c["pec"])
    _add(cur["official"], c["official"])
    cur["n_pec"] += c["n_pec"]
    cur["n_official"] += c["n_official"]


def _summary_views(
    versions: dict[str, SummaryRecord], selections: Sequence[str], d: Definition
) -> list[Named]:
    """A unit's summary versions, oldest first, each as named figures."""
    return [
        {
            "version": s["version"],
            "recorded_at": s["recorded_at"],
            "stations_included": s["stations_included"],
            **view(s["figures"], selections, d),
        }
        for s in (versions[v] for v in sorted(versions, key=int))
    ]


def _contest_views(
    out: Snapshot,
    by_tec: dict[tuple[str, str], ContestSums],
    summaries: dict[tuple[str, str], dict[str, SummaryRecord]],
    registry: Registry,
) -> None:
    """Each later contest in every unit it is tallied in: its commissions and their
    ancestors up to the unit where it is held (above it, the contest is not one result),
    with the summaries those units published of it. Its seats are allocated in that unit."""
    d = registry.definition
    units: dict[tuple[str, str], ContestSums] = {}
    for (cid, tec), sums in by_tec.items():
        held = d.contest(cid).unit or registry.top_id
        chain = [tec, *_chain(registry, tec)]
        for uid in chain[: chain.index(held) + 1] if held in chain else []:
            _add_contest(units, (cid, uid), sums)
    for cid, uid in summaries:  # a summary before any of its stations' protocols
        if (cid, uid) not in units:
            width = len(d.fields) + len(d.selections[cid])
            units[(cid, uid)] = {"pec": [0] * width, "official": [0] * width, "n_pec": 0, "n_official": 0}
    for (cid, uid), sums in sorted(units.items()):
        pec, official, n_pec, n_official = sums["pec"], sums["official"], sums["n_pec"], sums["n_official"]
        if uid not in out:
            continue
        contest, selections = d.contest(cid), d.selections[cid]
        n = out[uid]["stations"]
        doc: dict[str, Any] = {
            "name": contest.name,
            "held_in": contest.unit or registry.top_id,
            "protocol": {"stations_reported": n_pec, "coverage": _pct(n_pec, n), **view(pec, selections, d)},
            "official": {
                "stations_reported": n_official,
                "coverage": _pct(n_official, n),
                **view(official, selections, d),
            },
        }
        if (cid, uid) in summaries:
            doc["summary_versions"] = _summary_views(summaries[(cid, uid)], selections, d)
            doc["summary"] = doc["summary_versions"][-1]
        rule = contest.seats
        if rule is not None and uid == doc["held_in"]:
            doc["seats"] = {
                name: _seats(doc[name], rule.seats, rule.threshold, rule.method, rule.threshold_base)
                for name in ("protocol", "official")
            }
        out[uid].setdefault("contests", {})[cid] = doc


_NO_FIGURES = {"registered_baseline": 0, "evoting_stations": 0, "evoting_baseline": 0, "stations": 0}


def _chain(registry: Registry, uid: str) -> list[str]:
    """The units a commission (or station) counts in, nearest first, ending at the top: its
    registered ancestors, else (no unit record yet) the region its stations name."""
    chain = registry.ancestors(uid)
    if not chain or chain[-1] != registry.top_id:
        rec = registry.stations[uid].rec_id if uid in registry.stations else registry.tec_rec.get(uid)
        chain = [a for a in chain if a != rec]
        if rec is not None and rec != uid:
            chain.append(rec)
        chain.append(registry.top_id)
    return chain


def _level(registry: Registry, uid: str) -> str:
    try:
        return registry.level_of(uid)
    except KeyError:  # a commission seen in partials before its unit record
        return registry.commission_level


def _parent(registry: Registry, uid: str) -> str | None:
    chain = _chain(registry, uid)
    return chain[0] if chain else None


def _registry_figures(registry: Registry) -> dict[str, dict[str, int]]:
    """Per unit, from the registry: its stations, their lists before election day, and how
    many stations (and voters on their lists) have e-voting. Computed once per state of the
    registry (``Registry.derived``): the snapshot reads it, never changes it."""
    cached: dict[str, dict[str, int]] | None = registry.derived.get("unit_figures")
    if cached is None:
        cached = registry.derived["unit_figures"] = _count_registry(registry)
    return cached


def _count_registry(registry: Registry) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    chains: dict[str, list[str]] = {}  # per commission: computed once
    for st in registry.stations.values():
        chain = chains.get(st.tec_id)
        if chain is None:
            chain = chains[st.tec_id] = [st.tec_id, *_chain(registry, st.tec_id)]
        for uid in chain:
            f = out.get(uid)
            if f is None:
                f = out[uid] = dict(_NO_FIGURES)
            f["stations"] += 1
            f["registered_baseline"] += st.registered_baseline
            if st.evoting:
                f["evoting_stations"] += 1
                f["evoting_baseline"] += st.registered_baseline
    return out


def _evote_multiple(out: Snapshot, tokens: dict[str, list[list[str]]], registry: Registry) -> None:
    """Voter tokens used for more than one ballot, nationally and per REC and TEC."""
    for u in out.values():
        u["evote_multiple"] = {"tokens": 0, "ballots": 0, "stations": 0}
    stations: dict[str, set[str]] = {}
    for ballots in tokens.values():
        if len(ballots) < 2:
            continue
        units_hit: set[str] = set()
        for station_id, _issued_at in ballots:
            st = registry.stations.get(station_id)
            for uid in [st.tec_id, *_chain(registry, st.tec_id)] if st else (registry.top_id,):
                if uid in out:
                    out[uid]["evote_multiple"]["ballots"] += 1
                    stations.setdefault(uid, set()).add(station_id)
                    units_hit.add(uid)
        for uid in units_hit:
            out[uid]["evote_multiple"]["tokens"] += 1
    for uid, ss in stations.items():
        out[uid]["evote_multiple"]["stations"] = len(ss)


def _unit_snapshot(
    uid: str, level: str, parent: str | None, u: _Unit, n: int, registry: Registry
) -> UnitSnapshot:
    parties = registry.parties
    registered, added, voted = u.turnout
    d = registry.definition
    protocol = view(u.pec, parties, d)
    official = view(u.official, parties, d)
    moved = view(u.moved, parties, d)
    by_report = {
        seq: {"registered": r, "added": a, "voted": v, "stations_reported": k, "percent": _pct(v, r)}
        for seq, (r, a, v, k) in sorted(u.by_seq.items(), key=lambda x: int(x[0]))
    }
    return {
        "unit_id": uid,
        "level": level,
        "parent_id": parent,
        "name": registry.names.get(uid, uid),
        "stations": n,
        "turnout": {
            "registered": registered,
            "added": added,
            "voted": voted,
            "percent": _pct(voted, registered),
            "stations_reported": u.n_turnout,
            "coverage": _pct(u.n_turnout, n),
            "by_report": by_report,
        },
        "altered_stations": u.n_altered,
        "unanimous_stations": dict(zip(UNANIMOUS_KEYS, u.unanimous, strict=True)),
        "protocol": {"stations_reported": u.n_pec, "coverage": _pct(u.n_pec, n), **protocol},
        "official": {"stations_reported": u.n_official, "coverage": _pct(u.n_official, n), **official},
        # Votes moved between the PEC protocols and the official result, per party, over the
        # stations whose PEC protocol is in: positive means the official result has more.
        "moved": {
            "votes": moved["votes"],
            "invalid": moved[d.fields[d.rejected]] if d.rejected is not None else 0,
            "valid": moved["valid"],
        },
        "evote_ballots": u.evote,
    }


def _seats(v: Named, seats: int, threshold: float, method: str, base: str) -> Seats:
    res = allocate(v["votes"], v[base], seats=seats, threshold=threshold, method=method)
    return {
        "method": res.method,
        "threshold_votes": res.threshold_votes,
        "qualified": list(res.qualified),
        "seats": res.seats,
    }
