"""Detector accuracy against a known truth: per kind, precision, recall and latency.

Pure scoring, no Kafka or Redis: the truth is a list of injected anomalies (anything with
``kind``, ``unit_id``, ``station_id``, ``index``, ``subject`` and ``implied_by``, such as
``producers.elections.scenarios.inject.Injection``), the findings are ``monitor.detect.Finding`` objects or
the contract's ``finding`` records (dicts, as read from the ``alerts`` topic).

Matching rule: a finding matches a truth entry of the same ``kind`` at the same place, where
the place is

- the station (``station_id``) when the truth names one;
- the unit (``unit_id``, with ``station_id`` null on the finding) for unit anomalies;
- the voter token for ``evote_multiple`` (the truth's ``subject``, the finding's
  ``evidence.voter_token``): one token spans stations, so the token is the anomaly.

Findings are counted once per ``finding_id`` (a re-emission with new evidence is the same
finding; its first arrival counts). Per kind: ``flagged`` findings, ``correct`` ones (they
match a truth entry), ``injected`` truth entries (distinct places, the implied ones included)
and ``detected`` ones (matched by at least one finding). Precision = correct / flagged,
recall = detected / injected. Latency of a detected entry: the first arrival of a matching
finding minus the time its triggering event was sent, when both times are given.

Kinds starting with ``forensic_`` are statistical signals over regions, not anomalies at a
place: they are counted, never scored against the targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

STATISTICAL_PREFIX = "forensic_"
Place = tuple[str, str]  # ("station" | "unit" | "token", id)


class TruthEntry(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def unit_id(self) -> str: ...
    @property
    def station_id(self) -> str | None: ...
    @property
    def index(self) -> int: ...
    @property
    def subject(self) -> str: ...
    @property
    def implied_by(self) -> str: ...


@dataclass(frozen=True)
class Seen:
    """A finding as scored: what it is, where, and when it first arrived (if known)."""

    finding_id: str
    kind: str
    place: Place
    arrived: float | None = None


@dataclass
class KindScore:
    kind: str
    injected: int = 0
    implied: int = 0  # of the injected entries, those another injection brought along
    flagged: int = 0
    correct: int = 0
    detected: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, one per detected entry timed
    missed: list[Place] = field(default_factory=list)
    false: list[Place] = field(default_factory=list)  # places of findings matching nothing

    @property
    def statistical(self) -> bool:
        return self.kind.startswith(STATISTICAL_PREFIX)

    @property
    def precision(self) -> float | None:
        return self.correct / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.injected if self.injected else None


def truth_place(t: TruthEntry) -> Place:
    if t.kind == "evote_multiple" and t.subject:
        return ("token", t.subject)
    return ("station", t.station_id) if t.station_id else ("unit", t.unit_id)


def finding_place(kind: str, unit_id: str, station_id: str | None, evidence: Mapping[str, Any]) -> Place:
    if kind == "evote_multiple" and isinstance(evidence.get("voter_token"), str):
        return ("token", evidence["voter_token"])
    return ("station", station_id) if station_id else ("unit", unit_id)


def as_seen(finding: Any, arrived: float | None = None) -> Seen:
    """A ``Finding`` or a contract ``finding`` record (dict) as scored."""
    if isinstance(finding, Mapping):
        get = finding.get
    else:

        def get(name: str, default: Any = None) -> Any:
            return getattr(finding, name, default)

    evidence = get("evidence") or {}
    place = finding_place(
        str(get("kind")),
        str(get("unit_id")),
        get("station_id"),
        evidence if isinstance(evidence, Mapping) else {},
    )
    return Seen(str(get("finding_id")), str(get("kind")), place, arrived)


def _distinct(findings: Iterable[Any], arrived: Mapping[str, float] | None) -> list[Seen]:
    """One per finding id, with its earliest arrival."""
    out: dict[str, Seen] = {}
    for f in findings:
        s = f if isinstance(f, Seen) else as_seen(f)
        if arrived is not None and s.finding_id in arrived:
            s = Seen(s.finding_id, s.kind, s.place, arrived[s.finding_id])
        cur = out.get(s.finding_id)
        if cur is None or (s.arrived is not None and (cur.arrived is None or s.arrived < cur.arrived)):
            out[s.finding_id] = s
    return list(out.values())


def score(
    truth: Iterable[TruthEntry],
    findings: Iterable[Any],
    *,
    sent: Mapping[int, float] | None = None,
    arrived: Mapping[str, float] | None = None,
) -> dict[str, KindScore]:
    """Per kind scores. ``sent``: event index -> when it was sent; ``arrived``: finding id ->
    when it arrived (same clock); findings may also carry their arrival (``Seen``)."""
    scores: dict[str, KindScore] = {}
    expected: dict[str, dict[Place, TruthEntry]] = {}
    for t in truth:
        places = expected.setdefault(t.kind, {})
        p = truth_place(t)
        if p not in places or (places[p].implied_by and not t.implied_by):
            places[p] = t  # one entry per place; an injected one wins over an implied one
    for kind, places in expected.items():
        s = scores.setdefault(kind, KindScore(kind))
        s.injected = len(places)
        s.implied = sum(1 for t in places.values() if t.implied_by)
    first: dict[tuple[str, Place], float | None] = {}
    for f in _distinct(findings, arrived):
        s = scores.setdefault(f.kind, KindScore(f.kind))
        s.flagged += 1
        if f.place not in expected.get(f.kind, {}):
            s.false.append(f.place)
            continue
        s.correct += 1
        key = (f.kind, f.place)
        cur = first.get(key)
        if key not in first or (f.arrived is not None and (cur is None or f.arrived < cur)):
            first[key] = f.arrived
    for kind, places in expected.items():
        s = scores[kind]
        for p, t in places.items():
            if (kind, p) not in first:
                s.missed.append(p)
                continue
            s.detected += 1
            at = first[(kind, p)]
            if at is not None and sent is not None and t.index in sent:
                s.latencies.append(at - sent[t.index])
    return dict(sorted(scores.items()))


def unmatched(truth: Iterable[TruthEntry], findings: Iterable[Any]) -> list[Any]:
    """The findings (as given) that match no truth entry: the false alarms, for a look."""
    places = {(t.kind, truth_place(t)) for t in truth}
    return [f for f in findings if ((s := as_seen(f)).kind, s.place) not in places]


def percentile(xs: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no data."""
    if not xs:
        return None
    ordered = sorted(xs)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[min(len(ordered), int(rank)) - 1]


def failures(
    scores: Mapping[str, KindScore],
    min_recall: float = 1.0,
    min_precision: float = 0.99,
) -> list[str]:
    """Why the deterministic kinds miss the targets (none: they meet them). A deterministic
    kind with no truth must have no finding (a clean election gives none)."""
    out = []
    for s in scores.values():
        if s.statistical:
            continue
        if s.injected == 0:
            if s.flagged:
                out.append(f"{s.kind}: {s.flagged} findings where nothing was injected, e.g. {s.false[0]}")
            continue
        if (s.recall or 0.0) < min_recall:
            out.append(f"{s.kind}: recall {s.recall:.3f} < {min_recall}; missed e.g. {s.missed[:3]}")
        if s.flagged and (s.precision or 0.0) < min_precision:
            out.append(f"{s.kind}: precision {s.precision:.3f} < {min_precision}; false e.g. {s.false[:3]}")
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def table(scores: Mapping[str, KindScore]) -> str:
    """A plain-text table, one line per kind; latencies in seconds."""
    head = (
        "kind",
        "injected",
        "implied",
        "flagged",
        "correct",
        "detected",
        "precision",
        "recall",
        "p50 s",
        "p95 s",
        "max s",
    )
    rows = [head]
    for s in scores.values():
        lat = s.latencies
        rows.append(
            (
                s.kind + (" (statistical)" if s.statistical else ""),
                str(s.injected),
                str(s.implied),
                str(s.flagged),
                str(s.correct),
                str(s.detected),
                _fmt(s.precision, ".3f"),
                _fmt(s.recall, ".3f"),
                _fmt(percentile(lat, 50), ".2f"),
                _fmt(percentile(lat, 95), ".2f"),
                _fmt(max(lat) if lat else None, ".2f"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
