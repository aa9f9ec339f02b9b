"""Statistical forensics per region over the station read model (docs/forensics.md).

Four tests, recomputed on whatever protocols have arrived: the last digits of vote counts,
whole-percent peaks in turnout and in the leader's share, the turnout vs leader-share
fingerprint, and the excess votes by turnout binning. They answer "does this region's
distribution look like counted votes?", never "was this station falsified?": every finding
is a statistical signal, labelled so, with level ``rec`` (or ``cec`` for the national pool).

False alarms are controlled at ``alpha`` per sweep across every region and test
(Bonferroni), with a minimum number of usable stations before a test speaks. Odd or partial
data (a missing source, a short figures vector, nobody registered) drops that station from
the tests it cannot serve; it never raises.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.contract import Registry
from monitor.detect import stats
from monitor.detect.findings import Finding
from monitor.detect.shape import counts
from monitor.election import Definition
from monitor.election.thresholds import ForensicThresholds, forensic_of_definition

KINDS = ("forensic_last_digit", "forensic_round_percent", "forensic_fingerprint", "forensic_excess_votes")
REGIONAL_TESTS = 5  # last digit, whole-percent turnout, whole-percent share, fingerprint, excess
NATIONAL_TESTS = 3  # last digit and the two whole-percent tests: pooling regions keeps their null
_SIGNAL = "a statistical signal, not proof"


@dataclass(frozen=True, slots=True)
class _Row:
    """One station's official figures, reduced to what the tests use."""

    registered: int
    participants: int
    votes: tuple[int, ...]

    @property
    def valid(self) -> int:
        return sum(self.votes)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A test's result on one region: significant or not is decided by the caller."""

    kind: str
    p_value: float
    evidence: dict[str, Any]
    sentence: str  # what was seen, without the conclusion
    subject: str = ""
    large_enough: bool = True  # the effect-size floor, where the test has one


_Test = Callable[[Sequence[_Row], int, ForensicThresholds], _Outcome | None]


@dataclass(frozen=True)
class Statistic:
    """One test on one unit, significant or not: what the findings are made from."""

    kind: str
    subject: str
    level: str  # "rec", or "cec" for the national pool
    unit_id: str
    p_value: float
    level_used: float  # the corrected significance level, alpha / tests_corrected
    large_enough: bool  # the test's effect-size floor (True where it has none)
    evidence: dict[str, Any]
    explanation: str

    @property
    def significant(self) -> bool:
        return self.large_enough and self.p_value < self.level_used


def forensic_findings(
    stations: Mapping[str, Any], registry: Registry, t: ForensicThresholds | None = None
) -> list[Finding]:
    """Every forensic finding over the station read model (station -> kind -> document);
    ``t`` None: the defaults with the definition's own."""
    t = t or forensic_of_definition(registry.definition)
    out = []
    for s in forensic_statistics(stations, registry, t):
        if s.significant:
            severity = "warning" if s.p_value < t.alpha_warning * s.level_used / t.alpha else "info"
            out.append(
                Finding(
                    s.kind, severity, s.level, s.unit_id, None, s.evidence, s.explanation, subject=s.subject
                )
            )
    return out


def forensic_statistics(
    stations: Mapping[str, Any], registry: Registry, t: ForensicThresholds | None = None
) -> list[Statistic]:
    """Every test that the data allows, per region then national, with its p-value."""
    t = t or forensic_of_definition(registry.definition)
    d = registry.definition
    by_rec = _rows_by_region(stations, registry)
    m = sweep_size(registry, by_rec)
    out: list[Statistic] = []
    for rec in sorted(by_rec):
        out += _run(rec, d.levels[1], registry.names.get(rec, rec), by_rec[rec], _REGIONAL, t, m)
    everyone = [r for rec in sorted(by_rec) for r in by_rec[rec]]
    top = registry.top_id
    out += _run(top, d.top, registry.names.get(top, top), everyone, _NATIONAL, t, m)
    return out


def sweep_size(registry: Registry, regions_with_data: Iterable[str] = ()) -> int:
    """m of the Bonferroni correction: every test the sweep can run, data or not, so the
    threshold does not move as regions report."""
    regions = set(registry.rec_tecs) | set(regions_with_data)
    return REGIONAL_TESTS * max(1, len(regions)) + NATIONAL_TESTS


def _run(
    unit: str,
    level: str,
    name: str,
    rows: Sequence[_Row],
    tests: Sequence[_Test],
    t: ForensicThresholds,
    m: int,
) -> list[Statistic]:
    if len(rows) < t.min_stations:
        return []
    leader = _leader(rows)
    if leader is None:
        return []
    out = []
    for test in tests:
        o = test(rows, leader, t)
        if o is None:
            continue
        evidence = {
            **o.evidence,
            "p_value": o.p_value,
            "alpha": t.alpha,
            "tests_corrected": m,
            "statistical_signal": True,
        }
        out.append(
            Statistic(
                o.kind,
                o.subject,
                level,
                unit,
                o.p_value,
                t.alpha / m,
                o.large_enough,
                evidence,
                f"In {name} {o.sentence} ({_p(o.p_value)}): {_SIGNAL}.",
            )
        )
    return out


def _p(p: float) -> str:
    return f"p = {p:.1e}" if p >= 1e-300 else "p < 1e-300"


# ---- reading the read model ------------------------------------------------------------


def _rows_by_region(stations: Mapping[str, Any], registry: Registry) -> dict[str, list[_Row]]:
    out: dict[str, list[_Row]] = {}
    d = registry.definition
    for sid in sorted(stations):
        station = registry.stations.get(sid)
        row = _official_row(stations[sid], d, len(registry.parties)) if station is not None else None
        if station is not None and row is not None:
            out.setdefault(station.rec_id, []).append(row)
    return out


def _official_row(doc: Any, d: Definition, parties: int) -> _Row | None:
    """The official figures (``official_source``, else the station's own), or None if unusable."""
    prot = doc.get("protocols") if isinstance(doc, Mapping) else None
    sources = prot.get("sources") if isinstance(prot, Mapping) else None
    if not isinstance(sources, Mapping):
        return None
    official = prot.get("official_source") if isinstance(prot, Mapping) else None
    entry = sources.get(official) if isinstance(official, str) else None
    if entry is None:
        entry = sources.get(d.station_source or "pec")
    n = len(d.fields)
    figures = counts(entry.get("figures") if isinstance(entry, Mapping) else None, n + parties)
    if figures is None:
        return None
    return _Row(d.quantity("registered", figures), d.participants(figures, n), tuple(figures[n:]))


def _leader(rows: Sequence[_Row]) -> int | None:
    if not rows or not rows[0].votes:
        return None
    totals = [sum(col) for col in zip(*(r.votes for r in rows), strict=True)]
    return max(range(len(totals)), key=lambda i: totals[i]) if max(totals) > 0 else None


# ---- (1) last digits -------------------------------------------------------------------


def _last_digit(rows: Sequence[_Row], leader: int, t: ForensicThresholds) -> _Outcome | None:
    """Chi-square of the last digits of every party's counts >= digit_min_count vs uniform."""
    digits = [0] * 10
    used = 0
    for r in rows:
        big = [v for v in r.votes if v >= t.digit_min_count]
        used += bool(big)
        for v in big:
            digits[v % 10] += 1
    n = sum(digits)
    if used < t.min_stations or n < t.digit_min_counts:
        return None
    expected = n / 10
    chi2 = sum((d - expected) ** 2 / expected for d in digits)
    top = max(range(10), key=lambda d: digits[d])
    return _Outcome(
        "forensic_last_digit",
        stats.chi2_sf(chi2, 9),
        {
            "chi_square": round(chi2, 2),
            "df": 9,
            "digit_counts": digits,
            "n_counts": n,
            "n_stations": used,
            "min_count": t.digit_min_count,
            "most_frequent_digit": top,
        },
        f"the last digits of {n:,} vote counts of at least {t.digit_min_count} are far from"
        f" uniform (chi-square {chi2:.1f}; {top} is the last digit of {digits[top]:,})",
    )


# ---- (2) whole percentages -------------------------------------------------------------


def _is_whole_percent(k: int, n: int) -> bool:
    """k is the count nearest to a whole percentage of n: what writing "80 %" yields."""
    pct = math.floor(100 * k / n + 0.5)
    return k == math.floor(n * pct / 100 + 0.5)


def _whole_percent(
    pairs: Sequence[tuple[int, int]], what: str, subject: str, t: ForensicThresholds
) -> _Outcome | None:
    """Stations whose count is a whole percent of the denominator, vs chance.

    0 % and 100 % are left out: unanimity and full turnout have detectors of their own, and
    are not what writing a round figure looks like. With n >= 100, exactly 99 of the n - 1
    counts from 1 to n - 1 are whole percents, so a count spread smoothly over many of them
    hits with probability 99 / (n - 1). The number of hits is then Poisson-binomial; its
    tail is bounded above by the binomial with the mean probability (Hoeffding 1956), which
    gives a conservative p-value."""
    usable = [(k, n) for k, n in pairs if n >= t.round_min_denominator and 0 < k < n]
    if len(usable) < t.min_stations:
        return None
    hits = Counter(math.floor(100 * k / n + 0.5) for k, n in usable if _is_whole_percent(k, n))
    observed = sum(hits.values())
    p_mean = sum(99 / (n - 1) for _, n in usable) / len(usable)
    expected = p_mean * len(usable)
    if observed <= expected + 1:  # not above chance; and Hoeffding's bound holds from there up
        return None
    return _Outcome(
        "forensic_round_percent",
        stats.binom_sf(observed, len(usable), p_mean),
        {
            "subject": subject,
            "hits": observed,
            "expected": round(expected, 1),
            "n_stations": len(usable),
            "min_denominator": t.round_min_denominator,
            "top_percents": [[pct, c] for pct, c in hits.most_common(5)],
        },
        f"{observed:,} of {len(usable):,} stations report {what} at exactly a whole percent"
        f" where {expected:.0f} are expected by chance",
        subject,
    )


def _round_turnout(rows: Sequence[_Row], leader: int, t: ForensicThresholds) -> _Outcome | None:
    return _whole_percent([(r.participants, r.registered) for r in rows], "a turnout", "turnout", t)


def _round_share(rows: Sequence[_Row], leader: int, t: ForensicThresholds) -> _Outcome | None:
    return _whole_percent([(r.votes[leader], r.valid) for r in rows], "the leader's share", "leader_share", t)


# ---- (3) turnout vs leader share -------------------------------------------------------


def _turnout_share(rows: Sequence[_Row], leader: int) -> list[tuple[float, float, _Row]]:
    """(turnout, leader share, row) of stations where both are defined; turnout capped at 1."""
    return [
        (min(1.0, r.participants / r.registered), r.votes[leader] / r.valid, r)
        for r in rows
        if r.registered > 0 and r.valid > 0
    ]


def _fingerprint(rows: Sequence[_Row], leader: int, t: ForensicThresholds) -> _Outcome | None:
    """Positive rank correlation of leader share with turnout (one-sided, Fisher z)."""
    pts = _turnout_share(rows, leader)
    if len(pts) < t.min_stations:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    rho, b = stats.spearman(xs, ys), stats.slope(xs, ys)
    if rho is None or b is None:
        return None
    # Fisher z of Spearman's rho, variance 1.06 / (n - 3) (Fieller, Hartley and Pearson 1957)
    z = math.atanh(max(-0.999999, min(0.999999, rho))) * math.sqrt((len(pts) - 3) / 1.06)
    corner = [p for p in pts if p[0] >= t.corner and p[1] >= t.corner]
    leader_votes = sum(p[2].votes[leader] for p in pts)
    return _Outcome(
        "forensic_fingerprint",
        stats.normal_sf(z),
        {
            "spearman_rho": round(rho, 4),
            "slope": round(b, 4),
            "n_stations": len(pts),
            "corner": t.corner,
            "corner_stations": len(corner),
            "corner_share_of_leader_votes": round(sum(p[2].votes[leader] for p in corner) / leader_votes, 4)
            if leader_votes
            else 0.0,
        },
        f"the leader's share rises with turnout across {len(pts):,} stations (Spearman"
        f" {rho:.2f}, {100 * b:.0f} points of share per 100 points of turnout)",
        large_enough=rho >= t.fingerprint_min_rho,
    )


# ---- (4) excess votes by turnout binning -----------------------------------------------


def _turnout_mode(pts: Sequence[tuple[float, float, _Row]], t: ForensicThresholds) -> float:
    """The low-turnout mode: bins of mode_bin weighted by participants, smoothed by a moving
    sum (so whole-percent spikes do not decide it), then the lowest-turnout local maximum at
    least mode_peak_share of the highest. Not simply the highest: where stuffing is heavy,
    the stuffed stations pile up at high turnout and make the tallest peak themselves."""
    nbins = round(1 / t.mode_bin) + 1
    hist = [0] * nbins
    for x, _, r in pts:
        hist[min(nbins - 1, int(x / t.mode_bin))] += r.participants
    w = t.mode_smooth
    smooth = [sum(hist[max(0, i - w) : i + w + 1]) for i in range(nbins)]
    floor = t.mode_peak_share * max(smooth)
    best = next(
        i
        for i in range(nbins)
        if smooth[i] >= floor
        and smooth[i] >= (smooth[i - 1] if i else 0)
        and smooth[i] >= (smooth[i + 1] if i + 1 < nbins else 0)
    )
    return (best + 1) * t.mode_bin  # the top edge of the modal bin


def _ratio_var(group: Sequence[tuple[float, float, _Row]], leader: int) -> tuple[float, float, int]:
    """Leader share of the group's valid votes, its variance as a ratio estimator, its votes."""
    votes = sum(p[2].valid for p in group)
    share = sum(p[2].votes[leader] for p in group) / votes
    n = len(group)
    ss = sum((p[2].votes[leader] - share * p[2].valid) ** 2 for p in group)
    return share, n / (n - 1) * ss / votes**2, votes


def _excess(rows: Sequence[_Row], leader: int, t: ForensicThresholds) -> _Outcome | None:
    """Shpilkin's estimate: above the turnout mode, the leader keeps the share it has at and
    below the mode; every vote beyond that is excess. Significant if the share above the
    mode exceeds the share below by more than chance (z on ratio estimators, one-sided)."""
    pts = _turnout_share(rows, leader)
    if len(pts) < t.min_stations:
        return None
    mode = _turnout_mode(pts, t)
    low = [p for p in pts if p[0] < mode]
    high = [p for p in pts if p[0] >= mode]
    if min(len(low), len(high)) < t.excess_min_group:
        return None
    s_low, v_low, _ = _ratio_var(low, leader)
    s_high, v_high, votes_high = _ratio_var(high, leader)
    if s_low >= 1.0 or v_low + v_high <= 0.0:
        return None
    z = (s_high - s_low) / math.sqrt(v_low + v_high)
    excess = votes_high * (s_high - s_low) / (1 - s_low)
    se = votes_high * math.sqrt(v_low + v_high) / (1 - s_low)
    leader_votes = sum(p[2].votes[leader] for p in pts)
    return _Outcome(
        "forensic_excess_votes",
        stats.normal_sf(z),
        {
            "excess_votes": round(excess),
            "standard_error": round(se),
            "share_of_leader_votes": round(excess / leader_votes, 4),
            "mode_turnout": round(mode, 3),
            "leader_share_below_mode": round(s_low, 4),
            "leader_share_above_mode": round(s_high, 4),
            "stations_below_mode": len(low),
            "stations_above_mode": len(high),
            "n_stations": len(pts),
        },
        f"turnout binning estimates {excess:,.0f} excess votes for the leader"
        f" ({100 * excess / leader_votes:.1f} % of its votes; its share is {100 * s_high:.1f} %"
        f" above the turnout mode of {100 * mode:.0f} % and {100 * s_low:.1f} % below it)",
        large_enough=excess >= t.excess_min_share * leader_votes,
    )


_REGIONAL: tuple[_Test, ...] = (_last_digit, _round_turnout, _round_share, _fingerprint, _excess)
_NATIONAL: tuple[_Test, ...] = (_last_digit, _round_turnout, _round_share)
