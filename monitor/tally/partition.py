"""Stage one of the tally: the state of one input topic-partition.

It keeps the latest absolute figures per key: per station and source for protocols, per
station for turnout, per unit for summaries, the set of ballots for e-votes and, re-keyed by
voter token, the ballots of each token. Whatever order events come in, however often one is
delivered, the state is the same: the latest version wins, and on a tie the larger figures
win; sets only grow. So re-reading the partition from offset 0 rebuilds it exactly.

Per-TEC partial sums and per-station documents are derived at flush time (:mod:`.derive`),
only for what changed: the hot path stores the figures packed (:mod:`.packed`: the store
holds every station of the partition for the night) and marks a TEC and a station dirty.
No Kafka, Faust or Redis here: the ingest service feeds records in and takes partials out.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from datetime import datetime
from typing import Any

from monitor.contract import Evote, Protocol, Registry, Summary, Turnout
from monitor.tally.packed import pack, unpack
from monitor.tally.sums import ContestTotals, ProtocolTotals

Figures = tuple[int, ...]
Packed = bytes  # a tuple of counts packed (monitor.tally.packed): what the store keeps
History = tuple[tuple[int, Packed], ...]  # a (station, source)'s versions, in order
KINDS = ("turnout", "protocols", "summaries", "evote", "tokens")
# Histories are capped (docs/contract.md, "Bounds"), so that no producer can grow a station's
# state, document or partial without end. What is kept is a function of what was received,
# never of the order it came in: the first version and the latest VERSIONS_KEPT - 1 of each
# (station, source) protocol and each unit's summary; the TOKEN_BALLOTS_KEPT earliest-sorted
# (station, issued_at) ballots of a voter token. (Turnout reports are bounded by MAX_SEQ.)
VERSIONS_KEPT = 16
TOKEN_BALLOTS_KEPT = 100


_TIMES: dict[str, float] = {}  # ISO time -> unix seconds: reports share their times of day


def timestamp(iso: str) -> float:
    """Unix seconds of an ISO 8601 time the contract accepted (parsed once per distinct text)."""
    t = _TIMES.get(iso)
    if t is None:
        if len(_TIMES) >= 100_000:  # bounded, whatever the variety of times
            _TIMES.clear()
        t = _TIMES[iso] = datetime.fromisoformat(iso).timestamp()
    return t


def cap_versions(versions: dict[Any, Any], key: Callable[[Any], int] = int) -> bool:
    """Drop the second-lowest version once there are more than VERSIONS_KEPT: what stays is
    the lowest and the highest others, whatever the order versions came in. True if the
    dict changed. Called after each insertion, so at most one is ever over."""
    if len(versions) <= VERSIONS_KEPT:
        return False
    del versions[sorted(versions, key=key)[1]]
    return True


def _newer(version: int, figures: Figures, cur: tuple[int, Packed] | None) -> bool:
    """Latest version wins; equal versions keep the larger figures so order never matters."""
    return cur is None or version > cur[0] or (version == cur[0] and figures > unpack(cur[1]))


def _figures(entry: tuple[int, Packed] | None) -> Figures | None:
    """The figures of a (version or rank, packed figures) entry, or None."""
    return None if entry is None else unpack(entry[1])


def ballot_key(e: Evote) -> str:
    """An e-ballot as one string: its token, its time, then its station, NUL-separated. The
    contract keeps NUL out of a token (printable ASCII) and a time (ISO 8601), so the first two
    NULs end them and two ballots have the same key only when they are the same ballot."""
    return f"{e.voter_token}\0{e.issued_at}\0{e.station_id}"


def _summary_key(s: Summary) -> tuple[Any, ...]:
    return (s.figures, s.stations_included, s.recorded_at, s.level)


class PartitionStore:
    """All that one topic-partition of one input topic contributes."""

    def __init__(self, kind: str, registry: Registry) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown partition kind {kind!r}")
        self.kind = kind
        self.registry = registry
        self.width = len(registry.definition.fields) + len(registry.parties)
        self._tec_of: dict[str, str] = {}  # station seen in this partition -> its commission
        self.dirty: set[str] = set()  # TECs
        self.dirty_stations: set[str] = set()
        # protocols: station -> source -> every version seen, (version, figures) in order of
        # version: the latest is the last (on a tie the larger figures were kept). The figures
        # are packed (monitor.tally.packed), one object shared with ``official``
        self.protocols: dict[str, dict[str, History]] = {}
        self.official: dict[str, tuple[int, Packed]] = {}  # station -> (rank, figures)
        # the later contests of the definition (the first is the ballot's, above):
        # (station, contest) -> source -> latest (version, figures), and the official ones
        self.contest_protocols: dict[tuple[str, str], dict[str, tuple[int, Packed]]] = {}
        self.contest_official: dict[tuple[str, str], tuple[int, Packed]] = {}
        self.contests_of: dict[str, set[str]] = {}  # station -> its later contests seen here
        # per commission, what its stations add up to, kept by deltas (monitor.tally.sums):
        # a flush copies them, whatever the commission's size
        self.protocol_totals: dict[str, ProtocolTotals] = {}
        self.contest_totals: dict[tuple[str, str], ContestTotals] = {}  # (commission, contest)
        self.commission_contests: dict[str, set[str]] = {}  # commission -> its later contests
        self.turnout_totals: dict[str, list[int]] = {}  # registered, added, voted, stations
        self.evote_totals: dict[str, int] = {}
        # station -> (unix time, as recorded) of its earliest PEC protocol: a late one is
        # a finding even when it arrives between two sweeps
        self.pec_first_at: dict[str, tuple[float, str]] = {}
        # station -> the latest event time among its protocols or turnout reports here: its
        # state holds every event up to it once every partition is read that far, and only
        # then is it a state the night really passed through (what stage one detects on)
        self.latest_at: dict[str, float] = {}
        # turnout: every report of a station, packed flat in order of seq: (seq, registered,
        # added, voted) for each (the latest is the last)
        self.turnout_reports: dict[str, Packed] = {}
        # tec -> seq -> [registered, added, voted, stations]: kept by exact deltas against the
        # stored reports (re-summing every report at each flush dominated the flush time)
        self.turnout_by_seq: dict[str, dict[int, list[int]]] = {}
        # evote: the set of ballots (a redelivered ballot is the same element), each one string
        # (ballot_key): a tuple of three strings cost twice as much
        self.ballots: set[str] = set()
        self.evotes: dict[str, int] = {}
        # tokens (evote re-keyed by voter token): token -> its (station, issued_at) ballots in
        # order (a tuple: nearly every token has one ballot, and a set costs 216 bytes)
        self.token_ballots: dict[str, tuple[tuple[str, str], ...]] = {}
        self.dirty_tokens: set[str] = set()
        # summaries: unit -> version -> record; a later contest's: (contest, unit) -> the same
        self.summaries: dict[str, dict[int, Summary]] = {}
        self.dirty_summaries: set[str] = set()
        self.contest_summaries: dict[tuple[str, str], dict[int, Summary]] = {}
        self.dirty_contest_summaries: set[tuple[str, str]] = set()
        by_kind: dict[str, Callable[[Any], bool]] = {
            "protocols": self.apply_protocol,
            "turnout": self.apply_turnout,
            "evote": self.apply_evote,
            "summaries": self.apply_summary,
            "tokens": self.apply_token,
        }
        # A store serves one topic, so one kind of record: the hot path calls this directly.
        self.apply_record: Callable[[Any], bool] = by_kind[kind]  # the one way in

    def _touch(self, station_id: str) -> str:
        """Mark a station and its commission changed; its commission."""
        tec = self._tec_of.get(station_id)
        if tec is None:  # first event of this station in this partition
            tec = self._tec_of[station_id] = self.registry.stations[station_id].tec_id
        self.dirty.add(tec)
        self.dirty_stations.add(station_id)
        return tec

    def members(self) -> dict[str, list[str]]:
        """commission -> its stations seen in this partition (built on each call: for checks)."""
        out: dict[str, list[str]] = {}
        for sid, tec in self._tec_of.items():
            out.setdefault(tec, []).append(sid)
        return out

    def _seen_at(self, sid: str, at: float) -> None:
        if at > self.latest_at.get(sid, 0.0):
            self.latest_at[sid] = at

    def apply_protocol(self, p: Protocol) -> bool:
        if p.contest:
            return self._apply_contest(p)
        sid, figures = p.station_id, p.figures
        packed = pack(figures)
        recorded = timestamp(p.recorded_at)
        self._seen_at(sid, recorded)
        d = self.registry.definition
        if p.source == d.station_source:
            at = (recorded, p.recorded_at)
            first = self.pec_first_at.get(sid)
            if first is None or at < first:
                self.pec_first_at[sid] = at
                self.dirty_stations.add(sid)
        sources = self.protocols.get(sid)
        if sources is None:
            sources = self.protocols[sid] = {}
        history = sources.get(p.source, ())
        i = bisect_left(history, (p.version,))
        prior = history[i][1] if i < len(history) and history[i][0] == p.version else None
        if prior is not None and (prior == packed or figures < unpack(prior)):
            return False  # a redelivery (or the smaller of two conflicting copies)
        new = (*history[:i], (p.version, packed), *history[i + (prior is not None) :])
        if len(new) > VERSIONS_KEPT:  # the first and the latest others stay (cap_versions)
            new = new[:1] + new[2:]
        own = d.station_source or ""
        own_history = sources.get(own)
        old_own = own_history[-1] if own_history else None
        sources[p.source] = new
        if history and new[-1] is history[-1]:  # an older version: the station's history only
            self.dirty_stations.add(sid)
            return False
        own_history = sources.get(own)
        old_off = self.official.get(sid)
        rank = d.official_rank.get(p.source)
        if rank is not None and (old_off is None or rank >= old_off[0]):
            self.official[sid] = (rank, packed)
        tec = self._touch(sid)
        new_own, new_off = own_history[-1] if own_history else None, self.official.get(sid)
        if new_own is not old_own or new_off is not old_off:
            totals = self.protocol_totals.get(tec)
            if totals is None:
                totals = self.protocol_totals[tec] = ProtocolTotals(self.width)
            totals.replace((_figures(old_own), _figures(old_off)), (_figures(new_own), _figures(new_off)), d)
        return True

    def _apply_contest(self, p: Protocol) -> bool:
        """A protocol of a later contest: tallied per commission like the first contest's
        (latest version per source, the highest-ranked source official); its history and the
        station detectors are the first contest's only."""
        sid, key = p.station_id, (p.station_id, p.contest)
        sources = self.contest_protocols.get(key)
        if sources is None:
            sources = self.contest_protocols[key] = {}
            self.contests_of.setdefault(sid, set()).add(p.contest)
        if not _newer(p.version, p.figures, sources.get(p.source)):
            return False
        d = self.registry.definition
        own = d.station_source or ""
        old_own, old_off = sources.get(own), self.contest_official.get(key)
        packed = pack(p.figures)
        sources[p.source] = (p.version, packed)
        rank = d.official_rank.get(p.source)
        if rank is not None and (old_off is None or rank >= old_off[0]):
            self.contest_official[key] = (rank, packed)
        tec = self._touch(sid)
        totals = self.contest_totals.get((tec, p.contest))
        if totals is None:  # in the commission's partial from its first protocol, of any source
            width = len(d.fields) + len(d.selections[p.contest])
            totals = self.contest_totals[(tec, p.contest)] = ContestTotals(width)
            self.commission_contests.setdefault(tec, set()).add(p.contest)
        new_own, new_off = sources.get(own), self.contest_official.get(key)
        if new_own is not old_own or new_off is not old_off:
            totals.replace((_figures(old_own), _figures(old_off)), (_figures(new_own), _figures(new_off)))
        return True

    def apply_turnout(self, t: Turnout) -> bool:
        sid, seq, figures = t.station_id, t.seq, (t.registered, t.added, t.voted)
        self._seen_at(sid, timestamp(t.reported_at))
        packed = self.turnout_reports.get(sid)
        flat = unpack(packed) if packed is not None else ()
        i = bisect_left(flat[0::4], seq)
        at = 4 * i
        prior = flat[at + 1 : at + 4] if at < len(flat) and flat[at] == seq else None
        if prior is not None and figures <= prior:
            return False  # a redelivery (or the smaller of two conflicting reports)
        rest = at + 4 if prior is not None else at
        new = (*flat[:at], seq, *figures, *flat[rest:])
        self.turnout_reports[sid] = pack(new)
        tec = self._touch(sid)  # a late earlier report still changes the curve
        if new[-4:] != flat[-4:]:  # the latest report changed: the commission's sums follow
            totals = self.turnout_totals.get(tec)
            if totals is None:
                totals = self.turnout_totals[tec] = [0, 0, 0, 0]
            before = flat[-3:] if flat else (0, 0, 0)
            latest = new[-3:]
            totals[0] += latest[0] - before[0]
            totals[1] += latest[1] - before[1]
            totals[2] += latest[2] - before[2]
            totals[3] += not flat
        by_seq = self.turnout_by_seq.setdefault(tec, {})
        acc = by_seq.get(seq)
        if acc is None:
            acc = by_seq[seq] = [0, 0, 0, 0]
        if prior is None:
            acc[0] += figures[0]
            acc[1] += figures[1]
            acc[2] += figures[2]
            acc[3] += 1
        else:
            acc[0] += figures[0] - prior[0]
            acc[1] += figures[1] - prior[1]
            acc[2] += figures[2] - prior[2]
        return True

    def latest_turnout(self, sid: str) -> tuple[int, Figures] | None:
        """The station's latest (seq, (registered, added, voted)), or None."""
        packed = self.turnout_reports.get(sid)
        if packed is None:
            return None
        flat = unpack(packed)
        return flat[-4], flat[-3:]

    def apply_evote(self, e: Evote) -> bool:
        ballot = ballot_key(e)
        if ballot in self.ballots:
            return False
        self.ballots.add(ballot)
        self.evotes[e.station_id] = self.evotes.get(e.station_id, 0) + 1
        tec = self._touch(e.station_id)
        self.evote_totals[tec] = self.evote_totals.get(tec, 0) + 1
        return True

    def apply_token(self, e: Evote) -> bool:
        ballots = self.token_ballots.get(e.voter_token, ())
        ballot = (e.station_id, e.issued_at)
        i = bisect_left(ballots, ballot)
        if i < len(ballots) and ballots[i] == ballot:
            return False
        if i >= TOKEN_BALLOTS_KEPT:  # keep the earliest-sorted: order-independent
            return False
        ballots = (*ballots[:i], ballot, *ballots[i : TOKEN_BALLOTS_KEPT - 1])
        self.token_ballots[e.voter_token] = ballots
        if len(ballots) > 1:  # only tokens used more than once matter downstream
            self.dirty_tokens.add(e.voter_token)
        return True

    def apply_summary(self, s: Summary) -> bool:
        if s.contest:
            versions = self.contest_summaries.setdefault((s.contest, s.unit_id), {})
        else:
            versions = self.summaries.setdefault(s.unit_id, {})
        cur = versions.get(s.version)
        # equal versions: the larger record wins, whatever the order (figures, then the rest)
        if cur is not None and _summary_key(s) <= _summary_key(cur):
            return False
        versions[s.version] = s
        if cap_versions(versions) and s.version not in versions:
            return False  # the new version was the one dropped
        if s.contest:
            self.dirty_contest_summaries.add((s.contest, s.unit_id))
        else:
            self.dirty_summaries.add(s.unit_id)
        return True
