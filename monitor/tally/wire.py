"""The partial as it crosses ``tally-partials``, checked before stage two merges it.

Stage one writes partials (:meth:`.partition.PartitionStore.take_partial`, stamped by the
ingest service with ``tp``, ``epoch``, ``clock`` and ``behind``). The topic is internal, but
a bug, an older version or a stray producer can put anything on it, and stage two keeps the
merged state for good: a partial is checked whole before it changes anything, so a bad one
is dead-lettered and never half-merged, and the snapshot never meets a vector of the wrong
width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from monitor.contract import MAX_COUNT, N_FIXED, Registry
from monitor.errors import ContractError
from monitor.tally.partition import KINDS, TOKEN_BALLOTS_KEPT, VERSIONS_KEPT
from monitor.tally.shapes import Partial
from monitor.tally.sums import UNANIMOUS_KEYS

# Sums over a registry's stations are at most this (64-bit signed, as every figure is serialised).
_MOST = 2**63 - 1
_TURNOUT_WIDTH = 3
_BY_SEQ_WIDTH = 4  # registered, added, voted, stations


def _bad(what: str) -> ContractError:
    return ContractError("bad_partial", f"partial: {what}")


def _int(x: object, what: str, low: int = 0) -> int:
    if type(x) is not int or not low <= x <= _MOST:
        raise _bad(f"{what} must be an integer of at least {low}")
    return x


def _vector(x: object, width: int, what: str, low: int = 0) -> None:
    if type(x) is not list or len(x) != width:
        raise _bad(f"{what} must be a list of {width} integers")
    for v in x:
        _int(v, what, low)


def _dict(x: object, what: str) -> dict[str, Any]:
    if type(x) is not dict:
        raise _bad(f"{what} must be an object")
    return x


def _tec_data(kind: str, d: object, width: int, contests: Mapping[str, int]) -> None:
    d = _dict(d, "a TEC entry")
    if kind == "protocols":
        for name in ("pec", "official"):
            _vector(d.get(name), width, name)
        for contest, data in _dict(d.get("contests", {}), "contests").items():
            if contest not in contests:
                raise _bad(f"contests names {contest[:60]!r}, not a later contest of the definition")
            data = _dict(data, "a contest's entry")
            for name in ("pec", "official"):
                _vector(data.get(name), contests[contest], f"the contest's {name}")
            for name in ("n_pec", "n_official"):
                _int(data.get(name), name)
        _vector(d.get("moved"), width, "moved", low=-_MOST)  # official - pec: may be negative
        for name in ("n_pec", "n_official", "n_altered"):
            _int(d.get(name), name)
        _vector(d.get("unanimous"), len(UNANIMOUS_KEYS), "unanimous")
    elif kind == "turnout":
        _vector(d.get("turnout"), _TURNOUT_WIDTH, "turnout")
        _int(d.get("n_turnout"), "n_turnout")
        for seq, xs in _dict(d.get("by_seq"), "by_seq").items():
            if not seq.isdigit():
                raise _bad("by_seq keys must be report numbers")
            _vector(xs, _BY_SEQ_WIDTH, "by_seq")
    else:
        _int(d.get("evote"), "evote")


def _summary(rec: object, width: int, levels: Sequence[str]) -> None:
    rec = _dict(rec, "a summary")
    if rec.get("level") not in levels or type(rec.get("recorded_at")) is not str:
        raise _bad("a summary needs a level and recorded_at")
    _int(rec.get("version"), "version", low=1)
    _int(rec.get("stations_included"), "stations_included")
    _vector(rec.get("figures"), width, "summary figures")
    if max(rec["figures"], default=0) > MAX_COUNT:
        raise _bad("summary figures above the contract's bound")


def _summaries(by_unit: object, width: int, levels: Sequence[str]) -> None:
    for versions in _dict(by_unit, "summaries").values():
        if type(versions) is not list or not 0 < len(versions) <= VERSIONS_KEPT:
            raise _bad(f"a unit's summaries must be a list of 1 to {VERSIONS_KEPT} versions")
        for rec in versions:
            _summary(rec, width, levels)


def check_partial(
    partial: object,
    parties: int,
    fields: int = N_FIXED,
    levels: Sequence[str] = ("tec", "rec", "cec"),
    contests: Mapping[str, int] | None = None,
) -> Partial:
    """The partial if stage two can merge it, else ContractError ``bad_partial`` naming what
    is wrong. ``parties``: how many parties the ballot has, ``fields`` how many figures its
    protocol has (together, the width of every vector), ``levels`` the definition's summary
    levels (kz2007's by default), ``contests`` the width of each later contest's vectors."""
    p = _dict(partial, "the partial")
    width = fields + parties
    kind = p.get("kind")
    if kind not in KINDS:
        raise _bad(f"kind must be one of {KINDS}")
    if type(p.get("tp")) is not str or not p["tp"]:
        raise _bad("tp must name the input partition")
    _int(p.get("wm"), "wm")
    _int(p.get("epoch", 0), "epoch")
    _int(p.get("behind", 0), "behind")
    _int(p.get("pending", 0), "pending")
    for name, t in (("clock", p.get("clock", 0.0)), ("settled", p.get("settled") or 0.0)):
        if type(t) not in (int, float) or not 0 <= t < 1e11:  # settled may be null
            raise _bad(f"{name} must be a time in unix seconds")
    for tp, offset in _dict(p.get("src", {}), "src").items():
        if not tp:
            raise _bad("src must name topic-partitions")
        _int(offset, "a source's offset")
    for data in _dict(p.get("tecs"), "tecs").values():
        _tec_data(kind, data, width, contests or {})
    _summaries(p.get("summaries"), width, levels)
    for contest, by_unit in _dict(p.get("contest_summaries", {}), "contest_summaries").items():
        if contest not in (contests or {}):
            raise _bad(f"contest_summaries names {contest[:60]!r}, not a later contest of the definition")
        _summaries(by_unit, (contests or {})[contest], levels)
    for ballots in _dict(p.get("tokens", {}), "tokens").values():
        if type(ballots) is not list or len(ballots) > TOKEN_BALLOTS_KEPT:
            raise _bad(f"a token's ballots must be a list of at most {TOKEN_BALLOTS_KEPT}")
        for b in ballots:
            if type(b) is not list or len(b) != 2 or not all(type(x) is str for x in b):
                raise _bad("a ballot must be [station_id, issued_at]")
    return cast(Partial, p)  # checked whole above: this is what makes it one


def check_partial_for(partial: object, registry: Registry) -> Partial:
    """:func:`check_partial` with the widths and levels of the registry's definition: what
    stage two runs on every partial, in the worker and in the in-memory tally alike."""
    d = registry.definition
    return check_partial(
        partial,
        len(registry.parties),
        len(d.fields),
        d.summary_levels,
        {c: len(d.fields) + len(d.selections[c]) for c in d.contest_ids[1:]},
    )
