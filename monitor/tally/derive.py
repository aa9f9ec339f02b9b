"""What a partition hands on at a flush: the partial (its changed commissions' sums and
summaries) and the documents of its changed stations.

Plain functions over a :class:`~.partition.PartitionStore`'s state, called at flush time for
the commissions and stations that changed; never on the per-event hot path. A commission's
sums are kept by the store as events arrive (:mod:`.sums`): a flush copies them.
"""

from __future__ import annotations

from monitor.contract import Summary
from monitor.contract.values import MAX_SEQ, MAX_VERSION
from monitor.tally.packed import unpack
from monitor.tally.partition import PartitionStore
from monitor.tally.shapes import (
    CommissionSums,
    ContestDoc,
    Partial,
    ProtocolsDoc,
    StationDoc,
    SummaryRecord,
)
from monitor.tally.sums import ProtocolTotals


def tec_partial(store: PartitionStore, tec: str) -> CommissionSums:
    """The sums over this partition's stations of one commission, for this topic's kind: the
    commission's sums as its stations' events keep them (monitor.tally.sums), copied."""
    if store.kind == "protocols":
        totals = store.protocol_totals.get(tec)
        out = totals.wire() if totals is not None else ProtocolTotals(store.width).wire()
        contests = {
            c: store.contest_totals[(tec, c)].wire() for c in sorted(store.commission_contests.get(tec, ()))
        }
        if contests:
            out["contests"] = contests
        return out
    if store.kind == "turnout":
        registered, added, voted, n = store.turnout_totals.get(tec, (0, 0, 0, 0))
        by_seq = store.turnout_by_seq.get(tec, {})
        return {
            "turnout": [registered, added, voted],
            "n_turnout": n,
            "by_seq": {str(q): list(by_seq[q]) for q in sorted(by_seq)},
        }
    return {"evote": store.evote_totals.get(tec, 0)}


def _contest_docs(store: PartitionStore, sid: str) -> dict[str, ContestDoc]:
    """The station's protocols of later contests: contest -> the latest of each source."""
    d = store.registry.definition
    out: dict[str, ContestDoc] = {}
    for c in sorted(store.contests_of[sid]):
        official = store.contest_official.get((sid, c))
        out[c] = {
            "sources": {
                src: {"version": v, "figures": unpack(f)}
                for src, (v, f) in store.contest_protocols[(sid, c)].items()
            },
            "official_source": d.source_of_rank[official[0]] if official else None,
        }
    return out


# versions and seqs as the documents' keys (the contract bounds both)
_KEYS = [str(i) for i in range(max(MAX_VERSION, MAX_SEQ) + 1)]


def station_doc(store: PartitionStore, sid: str) -> StationDoc:
    """What this partition knows of one station, for the station read model, its figures
    unpacked into tuples (orjson writes them as arrays)."""
    if store.kind == "protocols":
        sources = store.protocols.get(sid, {})
        doc: ProtocolsDoc = {
            "sources": {
                src: {"version": h[-1][0], "figures": unpack(h[-1][1])} for src, h in sources.items()
            },
            # every version seen, with its figures: what changed between versions is evidence
            "versions": {src: {_KEYS[v]: unpack(f) for v, f in h} for src, h in sources.items()},
            "official_source": store.registry.definition.source_of_rank[store.official[sid][0]]
            if sid in store.official
            else None,
            "pec_recorded_at": store.pec_first_at[sid][1] if sid in store.pec_first_at else None,
        }
        if sid in store.contests_of:
            doc["contests"] = _contest_docs(store, sid)
        return doc
    if store.kind == "turnout":
        flat = unpack(store.turnout_reports[sid])  # (seq, registered, added, voted) for each
        return {"reports": {_KEYS[flat[i]]: flat[i + 1 : i + 4] for i in range(0, len(flat), 4)}}
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
