"""The 2007 drill's station protocols on election night: PEC, observer copies, TEC entries.

PEC protocols agree with the 20:00 turnout reports (synthetic.py's clean count); the cases
the report documents (producers.elections.kz2007.data) are set on top. The CEC per-station data is
producers.elections.kz2007.official; docs/drill-2007.md explains both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from producers.elections.kz2007 import data as D
from producers.elections.kz2007.layout import DrillStation, apportion_capped, ceil50
from producers.elections.synthetic import PARTIES, _copy_figures, _count, _party_shares, _split_votes

NO = "Nur Otan"
MINOR = tuple(p for p in PARTIES if p != NO)


@dataclass
class Books:
    """Per station figures by source (final versions), plus earlier PEC versions."""

    pec: dict[str, dict] = field(default_factory=dict)
    pec_earlier: dict[str, list[dict]] = field(default_factory=dict)
    observer: dict[str, dict] = field(default_factory=dict)
    tec: dict[str, dict] = field(default_factory=dict)
    official: dict[str, dict] = field(default_factory=dict)


def participants(f: dict) -> int:
    return f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"]


def valid(f: dict) -> int:
    return sum(f["votes"].values())


# --- fixed night figures --------------------------------------------------------------------


def fixed_night(rng: random.Random) -> dict[str, tuple[int, int]]:
    """(registered, voted at 20:00) of every station whose protocol the drill fixes."""
    out = dict(D.FIXED_NIGHT)
    for _, sid, _, pec, cec in D.ANNEX:
        voted = sum(pec)  # the protocol's valid + invalid: no ballot went missing
        most = max(voted, sum(cec))  # the list holds the CEC's participants too
        out[sid] = (min(3000, max(most, round(most / rng.uniform(0.62, 0.92)))), voted)
    out.update(D.IMPLAUSIBLE)
    return out


# --- PEC protocols ----------------------------------------------------------------------------


def _pec_shares(stations: list[DrillStation], rng: random.Random) -> dict[str, list[float]]:
    """Region means per party at the PEC: synthetic.py's regional mix, scaled per party so
    that the national PEC totals stand a fixed factor over Annex 1 (Nur Otan: the rest)."""
    regional = _party_shares(list(D.NAMED_TECS), rng)
    voters: dict[str, int] = {}
    for st in stations:
        voters[st.rec] = voters.get(st.rec, 0) + st.voted
    for i, p in enumerate(PARTIES):
        if p != NO:
            now = sum(voters[r] * s[i] for r, s in regional.items())
            k = D.ANNEX1[p] * D.PEC_OVER_ANNEX1.get(p, 1.15) / now
            for s in regional.values():
                s[i] *= k
    nur = PARTIES.index(NO)
    for s in regional.values():
        s[nur] = 1.0 - sum(x for i, x in enumerate(s) if i != nur)
    return regional


def _assemble(
    st: DrillStation, paper: int, found: int, invalid: int, votes: dict, rng: random.Random
) -> dict:
    """A protocol from its count (paper ballots issued, found, invalid, votes)."""
    mobile = round(paper * rng.uniform(0.0, 0.02 if st.urban else 0.06))
    received = ceil50(max(st.baseline, paper) * rng.uniform(1.0, 1.01))
    return {
        "registered": st.baseline + st.added,
        "added": st.added,
        "ballots_received": received,
        "ballots_cancelled": received - paper,
        "issued_in_station": paper - mobile,
        "issued_mobile": mobile,
        "voted_electronic": st.electronic,
        "ballots_found": found,
        "invalid": invalid,
        "votes": {p: votes[p] for p in PARTIES},
    }


def _force(votes: dict[str, int], party: str, value: int) -> None:
    """Set one party's votes, taking or giving the difference from the others by weight."""
    diff = value - votes[party]
    others = [p for p in PARTIES if p != party]
    caps = [votes[p] if diff > 0 else abs(diff) for p in others]
    share = apportion_capped(abs(diff), [votes[p] + 0.01 for p in others], caps)
    for p, n in zip(others, share, strict=True):
        votes[p] += -n if diff > 0 else n
    votes[party] = value


def _generic(st: DrillStation, shares: list[float], rng: random.Random) -> dict:
    """synthetic.py's clean protocol, with at least one vote off Nur Otan and enough ballots."""
    f = _count(st, {"registered": st.baseline + st.added, "added": st.added}, shares, rng)
    paper = f["issued_in_station"] + f["issued_mobile"]
    if f["ballots_cancelled"] < 0:
        f["ballots_received"] = ceil50(paper)
        f["ballots_cancelled"] = f["ballots_received"] - paper
    v = f["votes"]
    if v[NO] and v[NO] == sum(v.values()):  # never unanimous by chance (see unanimous cases)
        v[NO] -= 1
        v["ANSDP"] += 1
    return f


def _move_unused(f: dict, n: int) -> None:
    """n unused ballots counted as Nur Otan votes, so that the protocol still reconciles."""
    f["votes"][NO] += n
    f["issued_in_station"] += n
    f["ballots_found"] += n
    f["ballots_cancelled"] -= n


def pec_protocols(stations: list[DrillStation], rng: random.Random) -> Books:
    """PEC protocols (and observer copies, TEC entries) with the documented cases."""
    shares = _pec_shares(stations, rng)
    books = Books()
    annex = {sid: (pec, cec) for _, sid, _, pec, cec in D.ANNEX}
    annex2 = [sid for a, sid, _, _, _ in D.ANNEX if a == 2]
    for st in stations:
        sid = st.sid
        if sid in annex:
            votes, inv = D.annex_votes(annex[sid][0])
            f = _assemble(st, st.voted, st.voted, inv, votes, rng)
        elif sid == "ZHA-140":
            f = _zhambyl_140(st, shares[st.rec], rng, books)
        elif sid == "MAN-70":
            votes = {p: D.STATION70_V1[p] for p in PARTIES}
            first = _assemble(st, st.voted, st.voted, D.STATION70_V1["invalid"], votes, rng)
            f = _copy_figures(first)
            for p, n in D.STATION70_TAKEN.items():
                f["votes"][p] -= n
            f["votes"][NO] += D.STATION70_MOVED
            books.pec_earlier[sid] = [first]
        elif sid in ("ZHA-414", "ZHA-411"):
            case = D.KARATAU_414 if sid == "ZHA-414" else D.KARATAU_411
            inv = D.KARATAU_INVALID[sid]
            votes = _split_votes(st.voted - inv, shares[st.rec], rng)
            _force(votes, case["party"], case["pec"])
            f = _assemble(st, st.voted, st.voted, inv, votes, rng)
        else:
            f = _generic(st, shares[st.rec], rng)
            floor = {**dict.fromkeys(D.KOSTANAISKIY_ALTERED, 2), "ZHA-412": 40}.get(sid, 0)
            if f["votes"]["ANSDP"] < floor:
                _force(f["votes"], "ANSDP", floor)
        books.pec[sid] = f
    for sid in [*annex2, "MAN-45", "KOS-107", "ATY-160", "EKZ-236"]:
        books.observer[sid] = _copy_figures(books.pec[sid])
    observed = {**D.MANGHYSTAU_45_OBSERVED, **D.MANGHYSTAU_45_REST}
    man45 = books.observer["MAN-45"]
    man45["votes"] = {p: observed[p] for p in PARTIES}
    man45["invalid"] = observed["invalid"]
    _tec_entries(books)
    return books


def _zhambyl_140(st: DrillStation, shares: list[float], rng: random.Random, books: Books) -> dict:
    """Observer copy = the count; PEC = 409 ballots more than found, on Nur Otan and invalid."""
    case = D.ZHAMBYL_140
    found = st.voted - case["gap"]
    inv = D.ZHAMBYL_140_INVALID
    books.observer[st.sid] = _assemble(st, st.voted, found, inv, _split_votes(found - inv, shares, rng), rng)
    f = _copy_figures(books.observer[st.sid])
    f["votes"][NO] += case["nur_otan"]
    f["invalid"] += case["invalid"]
    return f


def _tec_entries(books: Books) -> None:
    """TEC entries equal the PEC protocols except in Karatau and at Saryarka PS 37."""
    books.tec = {sid: _copy_figures(f) for sid, f in books.pec.items()}
    t414 = books.tec["ZHA-414"]
    _move_unused(t414, D.KARATAU_414["tec"] - D.KARATAU_414["pec"])
    t411 = books.tec["ZHA-411"]
    taken = D.KARATAU_411["pec"] - D.KARATAU_411["tec"]
    t411["votes"]["ANSDP"] -= taken
    t411["votes"][NO] += taken
    for sid, (added, from_ansdp) in D.KARATAU_EXTRA.items():
        t = books.tec[sid]
        t["votes"]["ANSDP"] -= from_ansdp
        t["votes"][NO] += from_ansdp
        _move_unused(t, added - from_ansdp)
    # PS 37: the PEC protocol did not reconcile (187 ballots counted as unused and missing from
    # the votes); the TEC added them to Nur Otan. The PEC version is the unreconciled one.
    pec37 = books.pec["AST-37"]
    pec37["votes"][NO] -= D.SARYARKA_37
    pec37["ballots_cancelled"] += D.SARYARKA_37
