"""What a partition's stations add up to: the per-TEC partial and the per-station document.

Plain functions over a :class:`~.partition.PartitionStore`'s state, called at flush time for
the TECs and stations that changed; never on the per-event hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.contract import Summary
from monitor.election import Definition
from monitor.tally.partition import PartitionStore
from monitor.tally.shapes import (
    CommissionSums,
    ContestDoc,
    ContestSums,
    Partial,
    ProtocolsDoc,
    StationDoc,
    SummaryRecord,
)

UNANIMOUS_KEYS = ("all", "over_200", "over_1000", "over_200_no_invalid")


def vsum(vectors: Sequence[Sequence[int]], width: int) -> list[int]:
    return [sum(col) for col in zip(*vectors, strict=True)] if vectors else [0] * width


def participants(f: Sequence[int], d: Definition) -> int:
    """Voters who took part, as the definition counts them (kz2007: everyone who received a
    ballot, in the station, by mobile box, or electronically)."""
    return d.participants(f, len(d.fields))


def unanimity(f: Sequence[int], d: Definition) -> tuple[int, int, int, int]:
    """(all, over_200, over_1000, over_200_no_invalid) as 0/1 for one station's figures.

    Unanimous: one party has every valid vote (report XIV: Nur Otan at hundreds of stations).
    over_200: more than 200 voters participated; over_1000: of those, more than 1,000 ballots
    counted (valid + invalid); over_200_no_invalid: of those over 200, not one invalid ballot.
    """
    votes = f[len(d.fields) :]
    valid = sum(votes)
    if valid == 0 or max(votes) != valid:
        return (0, 0, 0, 0)
    big = participants(f, d) > 200
    invalid = f[d.rejected] if d.rejected is not None else 0
    return (1, int(big), int(big and valid + invalid > 1000), int(big and invalid == 0))


def protocols_partial(store: PartitionStore, stations: Iterable[str]) -> CommissionSums:
    w = store.width
    d = store.registry.definition
    own = d.station_source or ""
    pec, official, moved_off, moved_pec = [], [], [], []
    unanimous = [0, 0, 0, 0]
    altered = 0
    for sid in stations:
        p = store.protocols.get(sid, {}).get(own)
        o = store.official.get(sid)
        if p is not None:
            pec.append(p[1])
        if o is not None:
            official.append(o[1])
            for i, x in enumerate(unanimity(o[1], d)):
                unanimous[i] += x
            if p is not None:  # moved: official - pec where the PEC protocol is in
                moved_off.append(o[1])
                moved_pec.append(p[1])
                altered += o[1] != p[1]
    moved = [a - b for a, b in zip(vsum(moved_off, w), vsum(moved_pec, w), strict=True)]
    out: CommissionSums = {
        "pec": vsum(pec, w),
        "official": vsum(official, w),
        "moved": moved,
        "n_pec": len(pec),
        "n_official": len(official),
        "n_altered": altered,
        "unanimous": unanimous,
    }
    contests = _contests_partial(store, stations) if store.contests_of else {}
    if contests:
        out["contests"] = contests
    return out


def _contests_partial(store: PartitionStore, stations: Iterable[str]) -> dict[str, ContestSums]:
    """The later contests' sums over these stations: contest -> the same as the first's,
    without the moved votes and unanimity."""
    d = store.registry.definition
    own = d.station_source or ""
    by: dict[str, tuple[list[tuple[int, ...]], list[tuple[int, ...]]]] = {}
    for sid in stations:
        for c in store.contests_of.get(sid, ()):
            pec, official = by.setdefault(c, ([], []))
            p = store.contest_protocols[(sid, c)].get(own)
            o = store.contest_official.get((sid, c))
            if p is not None:
                pec.append(p[1])
            if o is not None:
                official.append(o[1])
    out: dict[str, ContestSums] = {}
    for c in sorted(by):
        w = len(d.fields) + len(d.selections[c])
        pec, official = by[c]
        out[c] = {
            "pec": vsum(pec, w),
            "official": vsum(official, w),
            "n_pec": len(pec),
            "n_official": len(official),
        }
    return out


def turnout_partial(store: PartitionStore, tec: str) -> CommissionSums:
    latest = [
        store.turnout_latest[sid][1] for sid in store.members.get(tec, ()) if sid in store.turnout_latest
    ]
    by_seq = store.turnout_by_seq.get(tec, {})
    return {
        "turnout": vsum(latest, 3),
        "n_turnout": len(latest),
        "by_seq": {str(q): list(by_seq[q]) for q in sorted(by_seq)},
    }


def tec_partial(store: PartitionStore, tec: str) -> CommissionSums:
    """The sums over this partition's stations of one TEC, for this topic's kind."""
    stations = store.members.get(tec, ())
    if store.kind == "protocols":
        return protocols_partial(store, stations)
    if store.kind == "turnout":
        return turnout_partial(store, tec)
    return {"evote": sum(store.evotes.get(s, 0) for s in stations)}


def _contest_docs(store: PartitionStore, sid: str) -> dict[str, ContestDoc]:
    """The station's protocols of later contests: contest -> the latest of each source."""
    d = store.registry.definition
    out: dict[str, ContestDoc] = {}
    for c in sorted(store.contests_of[sid]):
        official = store.contest_official.get((sid, c))
        out[c] = {
            "sources": {
                src: {"version": v, "figures": f} for src, (v, f) in store.contest_protocols[(sid, c)].items()
            },
            "official_source": d.source_of_rank[official[0]] if official else None,
        }
    return out


def station_doc(store: PartitionStore, sid: str) -> StationDoc:
    """What this partition knows of one station, for the station read model. Tuples stay
    tuples (orjson writes them as arrays): copying them here cost more than the tally."""
    if store.kind == "protocols":
        latest = store.protocols.get(sid, {})
        versions = store.versions
        doc: ProtocolsDoc = {
            "sources": {src: {"version": v, "figures": f} for src, (v, f) in latest.items()},
            # every version seen, with its figures: what changed between versions is evidence
            "versions": {src: {str(v): f for v, f in versions[(sid, src)].items()} for src in latest},
            "official_source": store.registry.definition.source_of_rank[store.official[sid][0]]
            if sid in store.official
            else None,
            "pec_recorded_at": store.pec_first_at[sid][1] if sid in store.pec_first_at else None,
        }
        if sid in store.contests_of:
            doc["contests"] = _contest_docs(store, sid)
        return doc
    if store.kind == "turnout":
        return {"reports": {str(q): v for q, v in store.turnout_reports[sid].items()}}
    return {"ballots": store.evotes.get(sid, 0)}


def _records(versions: dict[int, Summary]) -> list[SummaryRecord]:
    return [
        {
            "level": s.level,
            "version": s.version,
            "recorded_at": s.recorded_at,
            "stations_included": s.stations_included,
            "figures": list(s.figures),
        }
        for _, s in sorted(versions.items())
    ]


def take_partial(store: PartitionStore, watermark: int) -> Partial | None:
    """The absolute state of what changed since the last call, stamped with ``watermark``
    (the next offset to read). None when nothing changed."""
    if not (store.dirty or store.dirty_summaries or store.dirty_contest_summaries or store.dirty_tokens):
        return None
    partial: Partial = {
        "kind": store.kind,
        "wm": watermark,
        "tecs": {t: tec_partial(store, t) for t in sorted(store.dirty)},
        "summaries": {unit: _records(store.summaries[unit]) for unit in sorted(store.dirty_summaries)},
    }
    if store.dirty_contest_summaries:
        by_contest: dict[str, dict[str, list[SummaryRecord]]] = {}
        for cid, unit in sorted(store.dirty_contest_summaries):
            by_contest.setdefault(cid, {})[unit] = _records(store.contest_summaries[(cid, unit)])
        partial["contest_summaries"] = by_contest
    if store.dirty_tokens:
        partial["tokens"] = {t: sorted(map(list, store.token_ballots[t])) for t in sorted(store.dirty_tokens)}
    store.dirty.clear()
    store.dirty_summaries.clear()
    store.dirty_contest_summaries.clear()
    store.dirty_tokens.clear()
    return partial


def take_station_docs(store: PartitionStore) -> dict[str, StationDoc]:
    """station -> what this partition knows of it, for the stations that changed."""
    docs = {sid: station_doc(store, sid) for sid in sorted(store.dirty_stations)}
    store.dirty_stations.clear()
    return docs
