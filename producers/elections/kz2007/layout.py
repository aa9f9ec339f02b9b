"""The 2007 drill's registry and election day: units, stations, lists, turnout, e-ballots.

Station numbers, TECs and the figures the report gives are real (producers.elections.kz2007.data);
everything else is SYNTHETIC, drawn from seeded ``random.Random`` streams and then solved so
that the published totals hold exactly (``apportion_capped``).
"""

from __future__ import annotations

import math
import random

from producers.elections.kz2007 import data as D
from producers.elections.synthetic import (
    _DAY_CURVE,
    _PROFILE,
    CEC_ID,
    MAX_REGISTERED,
    REGIONS,
    TimedEvent,
    _apportion,
    _choose_evoting,
    _cumulative,
    _Station,
    _station_size,
)

URBAN_MEDIAN = 1750  # list size of a city station (synthetic.py uses it for Astana, Almaty)
SMALL_SIZES = (15, 235)  # village stations: list size before scaling
NIGHT_SIGMA = 0.06  # spread of station turnout around the region's mean


class DrillStation(_Station):
    """A station of the drill: the synthetic plan plus its number, TEC name and case flags."""

    __slots__ = ("number", "tec_name", "real", "size", "small", "urban", "added1")

    def __init__(self, sid: str, tec: str, rec: str, tec_name: str, real: bool) -> None:
        super().__init__(sid, tec, rec, 0)
        self.number = int(sid.split("-")[1])
        self.tec_name, self.real = tec_name, real
        self.size, self.small, self.urban, self.added1 = 0, False, False, 0


def apportion_capped(
    total: int, weights: list[float], caps: list[int], mins: list[int] | None = None
) -> list[int]:
    """Split ``total`` into integers ``mins[i] <= x[i] <= caps[i]`` in proportion to the
    weights where the caps allow (water-filling), rounded by largest remainder."""
    n = len(weights)
    alloc = list(mins) if mins is not None else [0] * n
    rest = total - sum(alloc)
    room = [c - a for c, a in zip(caps, alloc, strict=True)]
    if rest < 0 or rest > sum(room) or min(room, default=0) < 0:
        raise ValueError(f"cannot split {total} within the bounds")
    if rest == 0:
        return alloc
    weighted = [i for i in range(n) if weights[i] > 0 and room[i] > 0]
    if sum(room[i] for i in weighted) <= rest:  # the weighted fill up; the rest share equally
        for i in weighted:
            alloc[i] += room[i]
        spare = [i for i in range(n) if weights[i] <= 0 and room[i] > 0]
        extra = apportion_capped(total - sum(alloc), [1.0] * len(spare), [room[i] for i in spare])
        for i, x in zip(spare, extra, strict=True):
            alloc[i] += x
        return alloc
    capped, wsum, level = 0, sum(weights[i] for i in weighted), 0.0
    for i in sorted(weighted, key=lambda i: (room[i] / weights[i], i)):
        if capped + room[i] / weights[i] * wsum >= rest:
            level = (rest - capped) / wsum
            break
        capped += room[i]
        wsum -= weights[i]
    share = {i: min(room[i], level * weights[i]) for i in weighted}
    floors = {i: min(room[i], int(x)) for i, x in share.items()}
    left = rest - sum(floors.values())
    order = sorted((i for i in weighted if floors[i] < room[i]), key=lambda i: (floors[i] - share[i], i))
    for i in order[:left]:
        floors[i] += 1
    for i, x in floors.items():
        alloc[i] += x
    return alloc


# --- units and stations ---------------------------------------------------------------------


def _tec_counts() -> dict[str, int]:
    codes = [c for c in REGIONS if c not in D.FIXED_TEC_COUNTS]
    rest = D.TECS - sum(D.FIXED_TEC_COUNTS.values())
    mins = [max(1, len(D.NAMED_TECS[c])) for c in codes]
    counts = _apportion(rest, [_PROFILE[c][0] for c in codes], mins)
    return {**dict(zip(codes, counts, strict=True)), **D.FIXED_TEC_COUNTS}


def _reserved() -> dict[str, str | None]:
    """Real station id -> its TEC name (None: a synthetic TEC of its region)."""
    out: dict[str, str | None] = {sid: tec for _, sid, tec, _, _ in D.ANNEX}
    for sid, tec in D.PLACED.items():
        out.setdefault(sid, tec)
    return out


def _numbers(sizes: list[tuple[str, int]], reserved: dict[int, str]) -> dict[str, list[int]]:
    """Station numbers per TEC: real ones kept; a TEC with real ones continues from its lowest."""
    top = max(sum(n for _, n in sizes), max(reserved, default=0))
    free = [n for n in range(1, top + 1) if n not in reserved]
    out = {t: sorted(n for n, tt in reserved.items() if tt == t) for t, _ in sizes}
    anchored = sorted((out[t][0], t) for t, _ in sizes if out[t])
    plain = [t for t, _ in sizes if not out[t]]
    need = dict(sizes)
    for anchor, tec in [*anchored, *((0, t) for t in plain)]:
        k = need[tec] - len(out[tec])
        take = [n for n in free if n >= anchor][:k]
        take += [n for n in free if n < anchor][: k - len(take)]
        out[tec] = sorted(out[tec] + take)
        taken = set(take)
        free = [n for n in free if n not in taken]
    return out


def layout(rng: random.Random) -> tuple[list[dict], list[DrillStation]]:
    """RECs, TECs (named first), and stations with their real or synthetic numbers and sizes."""
    reserved = _reserved()
    tec_counts = _tec_counts()
    weights = [
        _PROFILE[c][0] / D.COUNT_MEDIAN.get(c, _PROFILE[c][1]) * (1 + 2.5 * D.SMALL_SHARE[c]) for c in REGIONS
    ]
    station_counts = dict(zip(REGIONS, _apportion(D.STATIONS, weights), strict=True))
    units = [
        {"type": "unit", "v": 1, "level": "rec", "unit_id": c, "parent_id": CEC_ID, "name": REGIONS[c]}
        for c in REGIONS
    ]
    stations: list[DrillStation] = []
    for code in REGIONS:
        named = D.NAMED_TECS[code]
        n_syn = tec_counts[code] - len(named)
        names = [*named, *(f"{REGIONS[code]} TEC {i} (synthetic)" for i in range(1, n_syn + 1))]
        ids = {name: f"{code}-T{i:02d}" for i, name in enumerate(names, start=1)}
        synthetic = names[len(named) :]
        placed: dict[int, str] = {}
        for sid, tec in reserved.items():
            if sid.startswith(code + "-"):
                placed[int(sid.split("-")[1])] = ids[tec if tec else rng.choice(synthetic)]
        fixed = {ids[t]: n for t, n in D.TEC_SIZES.items() if t in ids}
        free_tecs = [ids[n] for n in names if ids[n] not in fixed]
        mins = [max(1, sum(1 for t in placed.values() if t == tec)) for tec in free_tecs]
        spread = _apportion(
            station_counts[code] - sum(fixed.values()), [rng.uniform(0.5, 1.5) for _ in free_tecs], mins
        )
        sizes = {**fixed, **dict(zip(free_tecs, spread, strict=True))}
        numbers = _numbers([(ids[n], sizes[ids[n]]) for n in names], placed)
        for name in names:
            tec_id = ids[name]
            units.append(
                {"type": "unit", "v": 1, "level": "tec", "unit_id": tec_id, "parent_id": code, "name": name}
            )
            urban = name in D.URBAN_TECS or code in ("AST", "ALA")
            for num in numbers[tec_id]:
                sid = f"{code}-{num}"
                st = DrillStation(sid, tec_id, code, name, sid in reserved)
                st.urban = urban
                st.small = not urban and rng.random() < D.SMALL_SHARE[code] and name not in D.TEC_SIZES
                if st.small:
                    st.size = rng.randint(*SMALL_SIZES)
                else:
                    st.size = _station_size(rng, URBAN_MEDIAN if urban else _PROFILE[code][1], urban)
                stations.append(st)
    return units, stations


# --- election day -----------------------------------------------------------------------------


def plan_night(stations: list[DrillStation], fixed: dict[str, tuple[int, int]], rng: random.Random) -> None:
    """Lists, additions and 20:00 voters, solved to the published totals; day curves."""
    total_added = D.REGISTERED_END_OF_DAY - D.REGISTERED_BASELINE
    added = apportion_capped(
        total_added, [st.size * rng.random() ** 3 for st in stations], [st.size // 10 for st in stations]
    )
    first = D.REGISTERED_END_OF_DAY - D.REGISTERED_BASELINE - D.ADDED_10_TO_20
    added1 = apportion_capped(first, [a * rng.uniform(0.5, 1.5) for a in added], added)
    for st, a, a1 in zip(stations, added, added1, strict=True):
        st.added, st.added1 = a, a1
        if st.sid in fixed:
            st.baseline = fixed[st.sid][0] - a
            st.voted = fixed[st.sid][1]
            assert 1 <= st.baseline <= MAX_REGISTERED, st.sid
    free = [st for st in stations if st.sid not in fixed]
    rest = D.REGISTERED_BASELINE - sum(st.baseline for st in stations if st.sid in fixed)
    base = apportion_capped(
        rest, [float(st.size) for st in free], [MAX_REGISTERED] * len(free), [1] * len(free)
    )
    for st, b in zip(free, base, strict=True):
        st.baseline = b
    _solve_voters(free, [st for st in stations if st.sid in fixed], rng)
    for st in stations:
        st.cum = _cumulative(rng, _DAY_CURVE)
        later = _cumulative(rng, (1.0,) * 5)
        start = st.added1 / st.added if st.added else 0.0
        st.added_cum = [start, *(start + (1.0 - start) * c for c in later)]


def _solve_voters(free: list[DrillStation], fixed: list[DrillStation], rng: random.Random) -> None:
    """20:00 voters: Almaty City at 22.5 %, Almaty Region at 90 %, the nation at 5,726,544."""

    def group(st: DrillStation) -> str:
        return st.rec if st.rec in D.REGION_PERCENT else "rest"

    registered: dict[str, int] = {}
    for st in (*free, *fixed):
        registered[group(st)] = registered.get(group(st), 0) + st.baseline + st.added
    target = {g: round(pct / 100 * registered[g]) for g, pct in D.REGION_PERCENT.items()}
    target["rest"] = D.NIGHT_VOTERS - sum(target.values())
    for st in fixed:
        target[group(st)] -= st.voted
    for g in target:
        members = [st for st in free if group(st) == g]
        weights = []
        for st in members:
            mean = D.REGION_PERCENT[g] / 100 if g in D.REGION_PERCENT else _PROFILE[st.rec][2]
            rate = min(0.97, max(0.08, rng.gauss(mean, NIGHT_SIGMA)))
            weights.append((st.baseline + st.added) * rate)
        caps = [st.baseline + st.added for st in members]
        votes = apportion_capped(target[g], weights, caps, [1] * len(members))
        for st, v in zip(members, votes, strict=True):
            st.voted = v


def choose_evoting(stations: list[DrillStation], excluded: set[str], rng: random.Random) -> None:
    """1,512 e-voting stations (weighted to large, urban ones), 123,932 e-ballots among them."""
    eligible = [st for st in stations if st.sid not in excluded]
    _choose_evoting(eligible, D.EVOTE_STATIONS / len(eligible), rng)
    # "approximately 33 per cent of the electorate" (XIII.B): trade the smallest e-voting
    # stations for the largest others until they hold a third of the lists
    small = sorted((st for st in eligible if st.evoting), key=lambda st: (st.baseline, st.sid))
    large = sorted((st for st in eligible if not st.evoting), key=lambda st: (-st.baseline, st.sid))
    total = sum(st.baseline for st in stations)
    held = sum(st.baseline for st in small)
    for a, b in zip(small, large, strict=False):
        if held >= D.EVOTE_SHARE * total or a.baseline >= b.baseline:
            break
        a.evoting, b.evoting = False, True
        held += b.baseline - a.baseline
    ev = [st for st in eligible if st.evoting]
    counts = apportion_capped(
        D.EVOTE_BALLOTS, [st.voted * rng.uniform(0.5, 1.5) for st in ev], [st.voted // 2 for st in ev]
    )
    for st, n in zip(ev, counts, strict=True):
        st.electronic = n


def share_tokens(
    ballots: dict[str, list[TimedEvent]], stations: list[DrillStation], rng: random.Random
) -> None:
    """Make 585 tokens cast 1,324 ballots: 441 at 10 SKZ stations, the rest elsewhere."""
    ev = [st for st in stations if st.electronic]
    skz = sorted((st for st in ev if st.rec == "SKZ"), key=lambda st: (-st.electronic, st.sid))
    skz = rng.sample(skz[: 3 * D.EVOTE_SKZ_STATIONS], D.EVOTE_SKZ_STATIONS)
    others = [st for st in ev if st.rec != "SKZ"]
    pools = {st.sid: rng.sample(ballots[st.sid], len(ballots[st.sid])) for st in ev}
    n_skz_tokens = 190  # SYNTHETIC: 441 ballots by 190 voter ids
    plans = [
        (skz, n_skz_tokens, D.EVOTE_SKZ_BALLOTS, 0.5),
        (others, D.EVOTE_MULTI_TOKENS - n_skz_tokens, D.EVOTE_MULTI_BALLOTS - D.EVOTE_SKZ_BALLOTS, 0.25),
    ]
    for group, n_tokens, n_ballots, cross in plans:
        sizes = [2] * n_tokens
        for _ in range(n_ballots - 2 * n_tokens):
            sizes[rng.randrange(n_tokens)] += 1
        by_tec: dict[str, list[DrillStation]] = {}
        for st in group:
            by_tec.setdefault(st.tec, []).append(st)
        for i, k in enumerate(sizes):
            if len(group) <= n_tokens and i < len(group):
                home = group[i]  # each of the 10 SKZ stations has at least one multiple voter
            else:
                home = rng.choice([st for st in group if len(pools[st.sid]) >= 2 * k])
            mates = [st for st in by_tec[home.tec] if st is not home and len(pools[st.sid]) >= k]
            if mates and rng.random() < cross:
                picked = _pick(pools[home.sid], k - k // 2) + _pick(pools[rng.choice(mates).sid], k // 2)
            else:
                picked = _pick(pools[home.sid], k)
            token = picked[0].value["voter_token"]
            for e in picked:
                e.value["voter_token"] = token


def _pick(pool: list[TimedEvent], k: int) -> list[TimedEvent]:
    """Take k ballots of one station at distinct times (never the same token/station/time)."""
    out, seen, i = [], set(), 0
    while len(out) < k:
        if pool[i].value["issued_at"] in seen:
            i += 1
            continue
        seen.add(pool[i].value["issued_at"])
        out.append(pool.pop(i))
    return out


def ceil50(x: float) -> int:
    return math.ceil(x / 50) * 50
