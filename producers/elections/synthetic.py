"""A synthetic, clean 2007-style Majilis election for tabmon, with its ground truth.

Everything this module produces is SYNTHETIC. The structure follows the published figures
(/work/shared/kz2007/published_figures.json): 16 RECs, 205 TECs, 9,727 stations, the ballot
order, at most 3,000 voters per station, about 1,512 e-voting stations. Per-station numbers are
drawn from ``random.Random`` streams seeded from ``seed`` (never the global random state) and
are only calibrated to be plausible. The election is clean: every protocol satisfies the
control relations of CONTRACT.md and every level agrees; anomalies are injected elsewhere.

Events follow CONTRACT.md v1. The registry starts with a ``ballot`` record, a documented
extension naming the parties in ballot order. ``Truth`` is kept from the generator's own
per-station numbers, never by summing the events back, so it can check a tally.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any

from monitor.contract import CEC_ID, REC_CODES
from producers.elections.files import registry_to_json as registry_to_json  # re-exported
from producers.elections.files import to_jsonl as to_jsonl  # re-exported
from producers.elections.parts import Election, TimedEvent, Truth, sum_figures
from producers.elections.parts import apportion as _apportion
from producers.elections.parts import cumulative as _cumulative
from producers.elections.parts import soft_cap as _soft_cap
from producers.elections.spill import time_ordered

PARTIES = ("ANSDP", "Nur Otan", "PPK", "Auyl", "Ak Zhol", "Rukhaniyat", "CPPK")  # ballot order
REGIONS: dict[str, str] = dict(REC_CODES)  # the contract's region codes, in contract order
TZ = timezone(timedelta(hours=6))
ELECTION_DAY = datetime(2007, 8, 18, tzinfo=TZ)
POLLS_OPEN = ELECTION_DAY + timedelta(hours=8)
POLLS_CLOSE = ELECTION_DAY + timedelta(hours=20)  # the last turnout report is at the close
REPORT_TIMES = tuple(ELECTION_DAY + timedelta(hours=h) for h in (10, 12, 14, 16, 18, 20))
MAX_REGISTERED = 3000
MIN_REGISTERED = 200

# Synthetic calibration per region: (electorate in thousands, median station size,
# mean final turnout, mean Nur Otan share of valid votes). Electorates are rough guesses
# that sum to about the 8.8 million published; city stations are larger; Almaty City's
# turnout is low as reported on election night.
_PROFILE: dict[str, tuple[int, int, float, float]] = {
    "AKM": (530, 700, 0.70, 0.89),
    "AKT": (440, 700, 0.70, 0.89),
    "ALR": (1040, 700, 0.84, 0.91),
    "ATY": (300, 820, 0.72, 0.90),
    "EKZ": (1000, 700, 0.68, 0.87),
    "ZHA": (600, 700, 0.76, 0.90),
    "WKZ": (410, 700, 0.62, 0.88),
    "KAR": (970, 920, 0.62, 0.86),
    "KOS": (640, 700, 0.72, 0.91),
    "KZY": (360, 700, 0.80, 0.92),
    "MAN": (220, 920, 0.58, 0.88),
    "PAV": (540, 920, 0.64, 0.87),
    "NKZ": (460, 700, 0.72, 0.90),
    "SKZ": (1150, 820, 0.78, 0.90),
    "AST": (340, 1750, 0.55, 0.84),
    "ALA": (850, 1750, 0.30, 0.80),
}
_URBAN = frozenset({"AST", "ALA"})
# National proportions of the smaller parties (published valid votes), varied per region.
_MINOR = {
    "ANSDP": 269310,
    "PPK": 46436,
    "Auyl": 89855,
    "Ak Zhol": 183346,
    "Rukhaniyat": 22159,
    "CPPK": 76799,
}
_CONCENTRATION = 300.0  # Dirichlet concentration of station shares around the region mean
# Share of the day's voters in each window 08-10, 10-12, ..., 18-20 (jittered per station).
_DAY_CURVE = (0.13, 0.19, 0.19, 0.18, 0.16, 0.15)
_DAY_SECONDS = 12 * 3600


class _Station:
    """One station's plan while generating (internal)."""

    __slots__ = (
        "sid",
        "tec",
        "rec",
        "baseline",
        "evoting",
        "added",
        "voted",
        "electronic",
        "cum",
        "added_cum",
    )

    def __init__(self, sid: str, tec: str, rec: str, baseline: int) -> None:
        self.sid, self.tec, self.rec, self.baseline = sid, tec, rec, baseline
        self.evoting = False
        self.added = self.voted = self.electronic = 0  # final figures of election day
        self.cum: list[float] = []  # cumulative share of the day's voters at each report
        self.added_cum: list[float] = []  # the same for list additions


def _station_size(rng: random.Random, median: int, urban: bool) -> int:
    """A list size in [200, 3000], log-normal around the region's median (rejection)."""
    mu, sigma = math.log(median), (0.28 if urban else 0.55)
    while True:
        x = round(rng.lognormvariate(mu, sigma))
        if MIN_REGISTERED <= x <= MAX_REGISTERED:
            return x


def _layout(n_stations: int, n_tecs: int, rng: random.Random) -> tuple[list, list[_Station]]:
    """Units (RECs, TECs) and stations, TECs and stations apportioned by electorate."""
    codes = list(REGIONS) if n_tecs >= len(REGIONS) else list(REGIONS)[:n_tecs]
    tecs_per = _apportion(n_tecs, [_PROFILE[c][0] for c in codes], [1] * len(codes))
    station_weights = [_PROFILE[c][0] / _PROFILE[c][1] for c in codes]
    stations_per = _apportion(n_stations, station_weights, tecs_per)
    recs = [
        {"type": "unit", "v": 1, "level": "rec", "unit_id": c, "parent_id": CEC_ID, "name": REGIONS[c]}
        for c in codes
    ]
    tecs, stations = [], []
    for code, n_t, n_s in zip(codes, tecs_per, stations_per, strict=True):
        _, median, _, _ = _PROFILE[code]
        sizes = _apportion(n_s, [rng.uniform(0.5, 1.5) for _ in range(n_t)], [1] * n_t)
        number = 0
        for t, size in enumerate(sizes, start=1):
            tec_id = f"{code}-T{t:02d}"
            name = f"{REGIONS[code]} TEC {t} (synthetic)"
            tecs.append(
                {"type": "unit", "v": 1, "level": "tec", "unit_id": tec_id, "parent_id": code, "name": name}
            )
            for _ in range(size):
                number += 1
                baseline = _station_size(rng, median, code in _URBAN)
                stations.append(_Station(f"{code}-{number}", tec_id, code, baseline))
    return recs + tecs, stations


def _choose_evoting(stations: list[_Station], share: float, rng: random.Random) -> None:
    """Mark round(share * n) stations, weighted to large and urban ones (weighted sampling)."""
    k = max(0, min(len(stations), round(share * len(stations))))
    keys = []
    for i, st in enumerate(stations):
        w = st.baseline**3 * (4.0 if st.rec in _URBAN else 1.0)
        keys.append((math.log(1.0 - rng.random()) / w, i))
    for _, i in sorted(keys, reverse=True)[:k]:
        stations[i].evoting = True


def _party_shares(codes: list[str], rng: random.Random) -> dict[str, list[float]]:
    """Each region's mean share per party in ballot order (Nur Otan dominant)."""
    out = {}
    for code in codes:
        nur = _PROFILE[code][3]
        minor = {p: w * rng.uniform(0.6, 1.6) for p, w in _MINOR.items()}
        msum = sum(minor.values())
        out[code] = [nur if p == "Nur Otan" else (1 - nur) * minor[p] / msum for p in PARTIES]
    return out


def _split_votes(valid: int, mean: list[float], rng: random.Random) -> dict[str, int]:
    """Dirichlet-like shares around the region's mean, rounded to sum exactly to ``valid``."""
    draws = [rng.gammavariate(_CONCENTRATION * m, 1.0) for m in mean]
    counts = _apportion(valid, draws)
    return dict(zip(PARTIES, counts, strict=True))


def _at_fraction(cum: list[float], u: float) -> int:
    """Seconds after 08:00 at which the day curve ``cum`` reaches fraction ``u``."""
    lo = 0.0
    for i, hi in enumerate(cum):
        if u <= hi or i == len(cum) - 1:
            frac = (u - lo) / (hi - lo) if hi > lo else 0.0
            return min(_DAY_SECONDS - 1, int((i + frac) * 7200))
        lo = hi
    raise AssertionError("unreachable")


def _copy_figures(f: dict) -> dict:
    return {**f, "votes": dict(f["votes"])}


def _sum_figures(items: list[dict]) -> dict:
    return sum_figures(items, PARTIES)


def _secs(rng: random.Random, lo: int, hi: int) -> timedelta:
    return timedelta(seconds=rng.randint(lo, hi))


def _event(at: datetime, topic: str, key: str, **fields: Any) -> TimedEvent:
    """An event whose value is ``{"type": ..., "v": 1, ...fields}``."""
    return TimedEvent(at, topic, key, {"type": fields.pop("type"), "v": 1, **fields})


def _plan_day(stations: list[_Station], rng: random.Random) -> None:
    """Final additions and voters per station, and its day curves (voters, additions)."""
    for st in stations:
        st.added = round(st.baseline * 0.02 * rng.random() ** 3)
        rate = _soft_cap(max(0.15, rng.gauss(_PROFILE[st.rec][2], 0.06)))
        st.voted = round((st.baseline + st.added) * rate)
        st.cum, st.added_cum = _cumulative(rng, _DAY_CURVE), _cumulative(rng, (1.0,) * 6)


def _allocate_evotes(stations: list[_Station], total: int, rng: random.Random) -> None:
    """Spread ``total`` e-ballots over e-voting stations by voters, at most half of each."""
    ev = [st for st in stations if st.evoting]
    alloc = _apportion(total, [st.voted * rng.uniform(0.5, 1.5) for st in ev])
    for st, n in zip(ev, alloc, strict=True):
        st.electronic = min(n, st.voted // 2)


def _evote_events(st: _Station, out: list, tokens: set[str], rng: random.Random) -> list[int]:
    """The station's e-ballots, timed by its day curve before 20:00; their seconds after 08:00."""
    secs = sorted(_at_fraction(st.cum, rng.random()) for _ in range(st.electronic))
    for s in secs:
        token = f"{rng.getrandbits(128):032x}"
        while token in tokens:
            token = f"{rng.getrandbits(128):032x}"
        tokens.add(token)
        at = POLLS_OPEN + timedelta(seconds=s)
        out.append(
            _event(
                at,
                "evote",
                st.sid,
                type="evote",
                station_id=st.sid,
                voter_token=token,
                issued_at=at.isoformat(),
            )
        )
    return secs


def _turnout_events(st: _Station, evote_secs: list[int], out: list, rng: random.Random) -> dict:
    """Reports seq 1..6: paper voters along the curve plus e-ballots already issued."""
    paper, j, last = st.voted - st.electronic, 0, {}
    for seq, (t0, c, ac) in enumerate(zip(REPORT_TIMES, st.cum, st.added_cum, strict=True), 1):
        at = t0 + _secs(rng, 0, 540)  # on or after the hour, so 20:00 sees every e-ballot
        since_open = (at - POLLS_OPEN).total_seconds()
        while j < len(evote_secs) and evote_secs[j] <= since_open:
            j += 1
        add = round(st.added * ac)
        last = {"registered": st.baseline + add, "added": add, "voted": round(paper * c) + j}
        out.append(
            _event(
                at,
                "turnout",
                st.sid,
                type="turnout",
                station_id=st.sid,
                seq=seq,
                reported_at=at.isoformat(),
                **last,
            )
        )
    assert last["voted"] == st.voted and last["added"] == st.added
    return last


def _count(st: _Station, last: dict, shares: list[float], rng: random.Random) -> dict:
    """The PEC protocol figures; every control relation of CONTRACT.md holds by construction."""
    e = st.electronic
    paper = st.voted - e
    mobile = round(paper * rng.uniform(0.0, 0.02 if st.rec in _URBAN else 0.06))
    received = math.ceil(st.baseline * rng.uniform(1.0, 1.01) / 50) * 50  # packs of 50
    missing = 0 if rng.random() < 0.75 else min(paper, rng.randint(1, 3))  # taken away
    found = paper - missing
    invalid = round(found * rng.uniform(0.005, 0.03))
    return {
        "registered": last["registered"],
        "added": last["added"],
        "ballots_received": received,
        "ballots_cancelled": received - paper,
        "issued_in_station": paper - mobile,
        "issued_mobile": mobile,
        "voted_electronic": e,
        "ballots_found": found,
        "invalid": invalid,
        "votes": _split_votes(found + e - invalid, shares, rng),
    }


def _protocol_events(sid: str, figures: dict, out: list, rng: random.Random) -> datetime:
    """pec, sometimes an observer copy, tec, cec, all the same figures; the tec time."""
    pec_at = ELECTION_DAY + timedelta(hours=20, minutes=30) + _secs(rng, 0, 12540)
    timeline = [("pec", pec_at)]
    if rng.random() < 0.05:
        timeline.append(("observer", pec_at + _secs(rng, 300, 3600)))
    tec_at = pec_at + _secs(rng, 1800, 10800)
    lo = max(ELECTION_DAY + timedelta(hours=26), tec_at + timedelta(minutes=10))
    cec_at = lo + _secs(rng, 0, int((ELECTION_DAY + timedelta(hours=34) - lo).total_seconds()))
    for source, at in [*timeline, ("tec", tec_at), ("cec", cec_at)]:
        out.append(
            _event(
                at,
                "protocols",
                sid,
                type="protocol",
                station_id=sid,
                source=source,
                version=1,
                recorded_at=at.isoformat(),
                figures=_copy_figures(figures),
            )
        )
    return tec_at


@dataclass
class _Plan:
    """A night planned and not yet timed: units, stations, shares and the clock's streams."""

    units: list[dict]
    stations: list[_Station]
    shares: dict[str, list[float]]
    rng_count: random.Random
    rng_evote: random.Random
    rng_clock: random.Random


def _plan(
    n_stations: int, n_tecs: int, seed: int, evote_share: float, evote_ballots: int, with_evotes: bool
) -> _Plan:
    if n_tecs < 1 or n_stations < n_tecs:
        raise ValueError(f"need 1 <= n_tecs <= n_stations, got {n_tecs} TECs, {n_stations}")
    if not 0.0 <= evote_share <= 1.0 or evote_ballots < 0:
        raise ValueError("evote_share must be in [0, 1] and evote_ballots >= 0")
    # Independent streams, so one aspect (e.g. the clock) can change without moving the rest.
    rng_layout, rng_day, rng_count, rng_evote, rng_clock = (
        random.Random(f"tabmon-synthetic/{seed}/{part}")
        for part in ("layout", "day", "count", "evote", "clock")
    )
    units, stations = _layout(n_stations, n_tecs, rng_layout)
    _choose_evoting(stations, evote_share, rng_layout)
    shares = _party_shares([u["unit_id"] for u in units if u["level"] == "rec"], rng_layout)
    _plan_day(stations, rng_day)  # before e-votes: they are apportioned by voters
    if with_evotes and evote_ballots:
        _allocate_evotes(stations, evote_ballots, rng_evote)
    return _Plan(units, stations, shares, rng_count, rng_evote, rng_clock)


def _registry(plan: _Plan) -> Iterator[dict]:
    yield {"type": "ballot", "v": 1, "parties": list(PARTIES)}
    yield from plan.units
    for st in plan.stations:
        yield {
            "type": "station",
            "v": 1,
            "station_id": st.sid,
            "tec_id": st.tec,
            "rec_id": st.rec,
            "name": f"PS {st.sid.split('-')[1]} (synthetic)",
            "registered_baseline": st.baseline,
            "evoting": st.evoting,
        }


class _Night:
    """The stations' events in generation order, and what the summaries need of them: each
    TEC's stations and sums (in the stations' order), its last tec entry, the latest time."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.tec_sums: dict[str, tuple[int, dict]] = {}
        self.tec_times: dict[str, datetime] = {}
        self.latest: datetime | None = None

    def stations(self, out: list[TimedEvent]) -> Iterator[tuple[_Station, dict, dict]]:
        """Append each station's events to ``out``; yield (station, its figures, its last
        turnout report) after each."""
        p, tokens = self.plan, set[str]()
        for st in p.stations:
            n0 = len(out)
            evote_secs = _evote_events(st, out, tokens, p.rng_evote)
            last = _turnout_events(st, evote_secs, out, p.rng_clock)
            figures = _count(st, last, p.shares[st.rec], p.rng_count)
            tec_at = _protocol_events(st.sid, figures, out, p.rng_clock)
            n, acc = self.tec_sums.get(st.tec, (0, None))
            self.tec_sums[st.tec] = (n + 1, _sum_figures([acc, figures] if acc else [figures]))
            self.tec_times[st.tec] = max(tec_at, self.tec_times.get(st.tec, tec_at))
            at = max(e.at for e in out[n0:])
            self.latest = at if self.latest is None else max(self.latest, at)
            yield st, figures, last

    def summaries(self) -> list[TimedEvent]:
        return _summaries(self.tec_sums, self.tec_times, self.latest, self.plan.rng_clock)


def generate(
    n_stations: int = 9727,
    n_tecs: int = 205,
    *,
    seed: int = 2007,
    evote_share: float = 1512 / 9727,
    evote_ballots: int = 20000,
    with_evotes: bool = True,
) -> Election:
    """A clean synthetic election: registry, time-ordered events and the ground truth."""
    plan = _plan(n_stations, n_tecs, seed, evote_share, evote_ballots, with_evotes)
    night = _Night(plan)
    events: list[TimedEvent] = []
    truth = Truth({}, {}, {}, {}, {}, {})
    for st, figures, last in night.stations(events):
        sid = st.sid
        truth.station_tec[sid], truth.station_rec[sid] = st.tec, st.rec
        truth.pec[sid], truth.official[sid] = _copy_figures(figures), _copy_figures(figures)
        truth.turnout[sid], truth.evote_ballots[sid] = dict(last), st.electronic
    events.extend(night.summaries())
    events.sort(key=attrgetter("at"))  # stable: ties keep generation order
    return Election(seed, PARTIES, list(_registry(plan)), events, truth)


def stream(
    n_stations: int = 9727,
    n_tecs: int = 205,
    *,
    seed: int = 2007,
    evote_share: float = 1512 / 9727,
    evote_ballots: int = 20000,
    with_evotes: bool = True,
    spill_events: int = 100_000,
) -> tuple[Iterator[dict], Iterator[TimedEvent]]:
    """The same night as ``generate`` (the same registry and events in the same order) as two
    streams, without the truth: the registry records, then the events in clock order. The
    events are generated in runs of about ``spill_events``, each sorted and spilled to a
    temporary file, then merged: memory holds the stations' plan and one run, not the night."""
    plan = _plan(n_stations, n_tecs, seed, evote_share, evote_ballots, with_evotes)
    return _registry(plan), time_ordered(_runs(plan, spill_events), TZ)


def _runs(plan: _Plan, spill_events: int) -> Iterator[list[TimedEvent]]:
    """The night in runs of about ``spill_events`` events, in the order of generation."""
    night = _Night(plan)
    buf: list[TimedEvent] = []
    for st, _, _ in night.stations(buf):
        st.cum = st.added_cum = []  # the plan of a station already generated
        if len(buf) >= spill_events:
            yield buf  # written out before the next is asked for
            buf.clear()  # the one list the stations append to
    buf.extend(night.summaries())
    yield buf


def _summaries(
    tec_sums: dict[str, tuple[int, dict]],
    tec_times: dict[str, datetime],
    latest: datetime | None,
    rng: random.Random,
) -> list[TimedEvent]:
    """TEC summaries after their last station's tec protocol, RECs after their TECs, CEC last."""
    out: list[TimedEvent] = []

    def emit(level: str, uid: str, at: datetime, n: int, f: dict) -> None:
        out.append(
            _event(
                at,
                "summaries",
                uid,
                type="summary",
                level=level,
                unit_id=uid,
                version=1,
                recorded_at=at.isoformat(),
                stations_included=n,
                figures=f,
            )
        )

    rec_parts: dict[str, list[tuple[datetime, int, dict]]] = {}
    for tec, (n, f) in tec_sums.items():
        at = tec_times[tec] + _secs(rng, 600, 2400)
        emit("tec", tec, at, n, f)
        rec_parts.setdefault(tec.split("-")[0], []).append((at, n, f))
    rec_totals = []
    for rec, parts in rec_parts.items():
        at = max(p[0] for p in parts) + _secs(rng, 600, 2400)
        n, f = sum(p[1] for p in parts), _sum_figures([p[2] for p in parts])
        emit("rec", rec, at, n, f)
        rec_totals.append((n, f))
    last = max(ev.at for ev in out) if latest is None else max(latest, *(ev.at for ev in out))
    at = last + _secs(rng, 1200, 3600)
    emit("cec", CEC_ID, at, sum(n for n, _ in rec_totals), _sum_figures([f for _, f in rec_totals]))
    return out
