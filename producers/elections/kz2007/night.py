"""The 18 August 2007 Majilis election night as a tabmon drill: registry, events, ground truth.

``build(seed)`` returns the same ``Election`` / ``Truth`` / ``TimedEvent`` types as
producers.elections.synthetic, with the events of CONTRACT.md v1 on the drill clock (+06:00):

- e-ballots 08:00-20:00 on 18 August; turnout reports seq 1..6 at 10, 12, ..., 20 h;
- PEC protocols 20:30-02:00 (station 70 has two versions), observer copies near them;
- TEC entries 21:00-04:30 on 19 August and each TEC's summary after its stations;
- REC summaries v1 02:00-06:00 (the sum of their PEC protocols) and the four turnout
  revisions (v2) before 09:00; the CEC summary v1 at 09:00 (preliminary), v2 on 22 August
  (the decree, Annex 1); the CEC per-station data 28 August - 27 September (report XIV).

Every figure the observers published holds exactly (``expected()`` lists them with their
sources, docs/drill-2007.md explains the synthetic parts). The rest is synthetic and seeded.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from operator import attrgetter

from producers.elections.kz2007 import data as D
from producers.elections.kz2007.counts import Books, fixed_night, pec_protocols
from producers.elections.kz2007.figures import expected
from producers.elections.kz2007.layout import DrillStation, choose_evoting, layout, plan_night, share_tokens
from producers.elections.kz2007.official import official_data
from producers.elections.synthetic import (
    CEC_ID,
    ELECTION_DAY,
    PARTIES,
    Election,
    TimedEvent,
    Truth,
    _copy_figures,
    _event,
    _evote_events,
    _secs,
    _sum_figures,
    _turnout_events,
)

__all__ = ["EXPECTED", "build", "expected"]

NIGHT = ELECTION_DAY + timedelta(hours=20, minutes=30)  # first PEC protocols
REC_FROM = ELECTION_DAY + timedelta(hours=26)  # 02:00 on 19 August
CEC_PRELIMINARY = ELECTION_DAY + timedelta(hours=33)  # 09:00 on 19 August
CEC_DECREE = ELECTION_DAY + timedelta(days=4, hours=12)  # 22 August
PUBLICATION = ELECTION_DAY + timedelta(days=10, hours=10)  # 28 August, 10:00
PUBLICATION_DAYS = 31  # to 27 September


def build(seed: int = 2007) -> Election:
    """The drill election for ``seed``: byte-identical events for the same seed."""
    rng = {
        part: random.Random(f"tabmon-kz2007/{seed}/{part}")
        for part in ("layout", "day", "evote", "count", "official", "clock")
    }
    units, stations = layout(rng["layout"])
    fixed = fixed_night(rng["count"])
    plan_night(stations, fixed, rng["day"])
    choose_evoting(stations, set(fixed), rng["evote"])
    events: list[TimedEvent] = []
    truth = Truth({}, {}, {}, {}, {}, {})
    ballots: dict[str, list[TimedEvent]] = {}
    tokens: set[str] = set()
    for st in stations:
        ballots[st.sid] = []
        secs = _evote_events(st, ballots[st.sid], tokens, rng["evote"])
        events.extend(ballots[st.sid])
        truth.turnout[st.sid] = _turnout_events(st, secs, events, rng["clock"])
        truth.station_tec[st.sid], truth.station_rec[st.sid] = st.tec, st.rec
        truth.evote_ballots[st.sid] = st.electronic
    share_tokens(ballots, stations, rng["evote"])
    books = pec_protocols(stations, rng["count"])
    official_data(stations, books, rng["official"])
    events += _protocol_events(stations, books, rng["clock"])
    events.sort(key=attrgetter("at"))  # stable: ties keep generation order
    truth.pec, truth.official = books.pec, books.official
    truth.tec, truth.observer = books.tec, books.observer
    registry = [{"type": "ballot", "v": 1, "parties": list(PARTIES)}, *units]
    registry += [
        {
            "type": "station",
            "v": 1,
            "station_id": st.sid,
            "tec_id": st.tec,
            "rec_id": st.rec,
            "name": _station_name(st),
            "registered_baseline": st.baseline,
            "evoting": st.evoting,
        }
        for st in stations
    ]
    return Election(seed, PARTIES, registry, events, truth)


def _station_name(st: DrillStation) -> str:
    return f"PS {st.number}" if st.real else f"PS {st.number} (synthetic)"


def _protocol(at: datetime, sid: str, source: str, version: int, figures: dict) -> TimedEvent:
    return _event(
        at,
        "protocols",
        sid,
        type="protocol",
        station_id=sid,
        source=source,
        version=version,
        recorded_at=at.isoformat(),
        figures=_copy_figures(figures),
    )


def _summary(at: datetime, level: str, uid: str, version: int, n: int, figures: dict) -> TimedEvent:
    return _event(
        at,
        "summaries",
        uid,
        type="summary",
        level=level,
        unit_id=uid,
        version=version,
        recorded_at=at.isoformat(),
        stations_included=n,
        figures=figures,
    )


def _protocol_events(stations: list[DrillStation], books: Books, rng: random.Random) -> list[TimedEvent]:
    """Station protocols by source, then the TEC, REC and CEC summaries."""
    out: list[TimedEvent] = []
    tec_done: dict[str, datetime] = {}
    tecs = list(dict.fromkeys(st.tec for st in stations))
    day_of = dict(zip(rng.sample(tecs, len(tecs)), range(len(tecs)), strict=True))
    for st in stations:
        sid = st.sid
        at = NIGHT + _secs(rng, 0, 16200)  # by 01:00
        for version, f in enumerate(books.pec_earlier.get(sid, []), start=1):
            out.append(_protocol(at, sid, "pec", version, f))
            at += _secs(rng, 1800, 3600)
        out.append(_protocol(at, sid, "pec", len(books.pec_earlier.get(sid, [])) + 1, books.pec[sid]))
        if sid in books.observer:
            out.append(_protocol(at + _secs(rng, 300, 2400), sid, "observer", 1, books.observer[sid]))
        tec_at = at + _secs(rng, 1800, 9000)
        out.append(_protocol(tec_at, sid, "tec", 1, books.tec[sid]))
        tec_done[st.tec] = max(tec_at, tec_done.get(st.tec, tec_at))
        day = day_of[st.tec] * PUBLICATION_DAYS // len(tecs)
        cec_at = PUBLICATION + timedelta(days=day) + _secs(rng, 0, 8 * 3600)
        out.append(_protocol(cec_at, sid, "cec", 1, books.official[sid]))
    out += _summaries(stations, books, tec_done, rng)
    return out


def _summaries(
    stations: list[DrillStation], books: Books, tec_done: dict[str, datetime], rng: random.Random
) -> list[TimedEvent]:
    by_tec: dict[str, list[str]] = {}
    for st in stations:
        by_tec.setdefault(st.tec, []).append(st.sid)
    out = []
    rec_ready: dict[str, datetime] = {}
    for tec, sids in by_tec.items():
        at = tec_done[tec] + _secs(rng, 300, 1800)
        out.append(_summary(at, "tec", tec, 1, len(sids), _sum_figures([books.tec[s] for s in sids])))
        rec = tec.split("-")[0]
        rec_ready[rec] = max(at, rec_ready.get(rec, at))
    latest = []
    for rec, ready in rec_ready.items():
        sids = [st.sid for st in stations if st.rec == rec]
        first = _sum_figures([books.pec[s] for s in sids])
        at = max(REC_FROM, ready) + _secs(rng, 300, 2400)
        out.append(_summary(at, "rec", rec, 1, len(sids), first))
        latest.append(first)
        if rec in D.REVISION_PP:  # the turnout revised after the close (report XIV fn 91)
            revised = _copy_figures(first)
            more = round(D.REVISION_PP[rec] / 100 * first["registered"])
            revised["issued_in_station"] += more
            revised["ballots_cancelled"] -= more
            out.append(_summary(at + _secs(rng, 3600, 9000), "rec", rec, 2, len(sids), revised))
            latest[-1] = revised
    n = len(stations)
    out.append(_summary(CEC_PRELIMINARY, "cec", CEC_ID, 1, n, _sum_figures(latest)))
    decree = _sum_figures([books.official[st.sid] for st in stations])
    out.append(_summary(CEC_DECREE, "cec", CEC_ID, 2, n, decree))
    return out


EXPECTED = expected()  # the same list, for readers who want a constant
