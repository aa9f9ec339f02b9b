"""One unit's snapshot, and what it reads of the registry: the named views of a figures
vector, the unit's place (level, parent, the units it counts in), the registry's figures per
unit, the voter tokens used more than once, the seats (used by :mod:`.rollup`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.contract import Registry
from monitor.election import Definition
from monitor.tally.seats import allocate
from monitor.tally.shapes import CommissionSums, Merged, Named, Seats, SummaryRecord, UnitSnapshot
from monitor.tally.sums import UNANIMOUS_KEYS, participants


def add(acc: list[int], xs: Sequence[int], sign: int = 1) -> None:
    if sign > 0:
        for i, x in enumerate(xs):
            acc[i] += x
    else:
        for i, x in enumerate(xs):
            acc[i] -= x


class UnitSums:
    """A unit's sums: one commission's over every partition, or a unit's over its commissions."""

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
        "seq_refs",
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
        # per turnout report, how many of the units added in have it: a report no commission
        # under the unit has is not in its totals, as when they are added up from scratch
        self.seq_refs: dict[str, int] = {}

    def add(self, o: UnitSums, sign: int = 1) -> None:
        """Add (``sign`` 1) or take out (-1) a commission's totals."""
        for mine, theirs in (
            (self.pec, o.pec),
            (self.official, o.official),
            (self.moved, o.moved),
            (self.turnout, o.turnout),
            (self.unanimous, o.unanimous),
        ):
            add(mine, theirs, sign)
        self.n_pec += sign * o.n_pec
        self.n_official += sign * o.n_official
        self.n_altered += sign * o.n_altered
        self.n_turnout += sign * o.n_turnout
        self.evote += sign * o.evote
        for seq, xs in o.by_seq.items():
            cur = self.by_seq.get(seq)
            if cur is None:
                cur = self.by_seq[seq] = [0, 0, 0, 0]
            add(cur, xs, sign)
            refs = self.seq_refs.get(seq, 0) + sign
            if refs:
                self.seq_refs[seq] = refs
            else:
                del self.seq_refs[seq], self.by_seq[seq]

    def add_wire(self, d: CommissionSums) -> None:
        if "pec" in d:
            add(self.pec, d["pec"])
            add(self.official, d["official"])
            add(self.moved, d["moved"])
            add(self.unanimous, d["unanimous"])
            self.n_pec += d["n_pec"]
            self.n_official += d["n_official"]
            self.n_altered += d["n_altered"]
        if "turnout" in d:
            add(self.turnout, d["turnout"])
            self.n_turnout += d["n_turnout"]
            for seq, xs in d["by_seq"].items():
                add(self.by_seq.setdefault(seq, [0, 0, 0, 0]), xs)
        self.evote += d.get("evote", 0)


def pct(part: int, whole: int) -> float | None:
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


NO_FIGURES = {"registered_baseline": 0, "evoting_stations": 0, "evoting_baseline": 0, "stations": 0}
NO_EVOTE = {"tokens": 0, "ballots": 0, "stations": 0}


def summary_views(
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


def ancestry(registry: Registry, uid: str) -> list[str]:
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


def level_of(registry: Registry, uid: str) -> str:
    try:
        return registry.level_of(uid)
    except KeyError:  # a commission seen in partials before its unit record
        return registry.commission_level


def parent_of(registry: Registry, uid: str) -> str | None:
    units = ancestry(registry, uid)
    return units[0] if units else None


def registry_figures(registry: Registry) -> dict[str, dict[str, int]]:
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
            chain = chains[st.tec_id] = [st.tec_id, *ancestry(registry, st.tec_id)]
        for uid in chain:
            f = out.get(uid)
            if f is None:
                f = out[uid] = dict(NO_FIGURES)
            f["stations"] += 1
            f["registered_baseline"] += st.registered_baseline
            if st.evoting:
                f["evoting_stations"] += 1
                f["evoting_baseline"] += st.registered_baseline
    return out


def evote_multiple(parts: Iterable[Merged], registry: Registry) -> dict[str, dict[str, int]]:
    """Voter tokens used for more than one ballot, per unit they were used in (its stations,
    their commission and every unit above): only the units with any."""
    tokens: dict[str, list[list[str]]] = {}
    for state in parts:
        tokens.update(state.get("tokens", {}))
    out: dict[str, dict[str, int]] = {}
    stations: dict[str, set[str]] = {}
    for ballots in tokens.values():
        if len(ballots) < 2:
            continue
        units_hit: set[str] = set()
        for station_id, _issued_at in ballots:
            st = registry.stations.get(station_id)
            for uid in [st.tec_id, *ancestry(registry, st.tec_id)] if st else (registry.top_id,):
                out.setdefault(uid, dict(NO_EVOTE))["ballots"] += 1
                stations.setdefault(uid, set()).add(station_id)
                units_hit.add(uid)
        for uid in units_hit:
            out[uid]["tokens"] += 1
    for uid, ss in stations.items():
        out[uid]["stations"] = len(ss)
    return out


def unit_snapshot(
    uid: str, level: str, parent: str | None, u: UnitSums, n: int, registry: Registry
) -> UnitSnapshot:
    parties = registry.parties
    registered, added, voted = u.turnout
    d = registry.definition
    protocol = view(u.pec, parties, d)
    official = view(u.official, parties, d)
    moved = view(u.moved, parties, d)
    by_report = {
        seq: {"registered": r, "added": a, "voted": v, "stations_reported": k, "percent": pct(v, r)}
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
            "percent": pct(voted, registered),
            "stations_reported": u.n_turnout,
            "coverage": pct(u.n_turnout, n),
            "by_report": by_report,
        },
        "altered_stations": u.n_altered,
        "unanimous_stations": dict(zip(UNANIMOUS_KEYS, u.unanimous, strict=True)),
        "protocol": {"stations_reported": u.n_pec, "coverage": pct(u.n_pec, n), **protocol},
        "official": {"stations_reported": u.n_official, "coverage": pct(u.n_official, n), **official},
        # Votes moved between the PEC protocols and the official result, per party, over the
        # stations whose PEC protocol is in: positive means the official result has more.
        "moved": {
            "votes": moved["votes"],
            "invalid": moved[d.fields[d.rejected]] if d.rejected is not None else 0,
            "valid": moved["valid"],
        },
        "evote_ballots": u.evote,
    }


def seats_of(v: Named, seats: int, threshold: float, method: str, base: str) -> Seats:
    res = allocate(v["votes"], v[base], seats=seats, threshold=threshold, method=method)
    return {
        "method": res.method,
        "threshold_votes": res.threshold_votes,
        "qualified": list(res.qualified),
        "seats": res.seats,
    }
