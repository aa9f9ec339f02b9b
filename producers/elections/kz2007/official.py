"""The CEC per-station data of the 2007 drill (source ``cec``, the "official" figures).

Order: the published station data (Annexes 2-3), the documented TEC cases (Khromtauskiy,
Kostanaiskiy District, Rudniy City, Karatau, Saryarka PS 37), the unanimous stations, then
a SYNTHETIC inflation over a random share of the remaining stations, solved so that Annex 1
per party, the CEC's 6,082,430 participants and the Karaganda / South Kazakhstan excesses
hold exactly. Every station not altered keeps its PEC figures.
"""

from __future__ import annotations

import random
from collections import Counter

from producers.elections.kz2007 import data as D
from producers.elections.kz2007.counts import MINOR, NO, Books, participants, valid
from producers.elections.kz2007.layout import DrillStation, apportion_capped, ceil50
from producers.elections.synthetic import PARTIES, _copy_figures

BIG_P, SMALL_P, OVER1000_P = (215, 980), (1, 190), (1030, 2900)  # unanimous size bands (voters)
LOCKED_TECS = frozenset({"Khromtauskiy TEC", "Kostanaiskiy District TEC", "Rudniy City TEC"})
HEADROOM = 0.955  # inflated stations stay under 95.5 % of the list before invalid ballots
MAX_INVALID = 0.05  # and their invalid ballots under 5 % of the valid votes


def derive(pec: dict, votes: dict[str, int], invalid: int, missing: int | None = None) -> dict:
    """CEC figures for a station: new votes and invalid, the ballot arithmetic made to agree."""
    if missing is None:
        missing = pec["issued_in_station"] + pec["issued_mobile"] - pec["ballots_found"]
    found = sum(votes.values()) + invalid - pec["voted_electronic"]
    if found < 0:
        raise ValueError("fewer votes than electronic ballots")
    paper = found + missing
    mobile = min(pec["issued_mobile"], paper)
    received = pec["ballots_received"] if pec["ballots_received"] >= paper else ceil50(paper)
    return {
        **pec,
        "ballots_received": received,
        "ballots_cancelled": received - paper,
        "issued_in_station": paper - mobile,
        "issued_mobile": mobile,
        "ballots_found": found,
        "invalid": invalid,
        "votes": {p: votes[p] for p in PARTIES},
    }


def official_data(stations: list[DrillStation], books: Books, rng: random.Random) -> None:
    """Fill ``books.official`` for every station (see the module docstring for the order)."""
    off = books.official
    for _, sid, _, _, cec in D.ANNEX:
        votes, inv = D.annex_votes(cec)
        off[sid] = derive(books.pec[sid], votes, inv)
    for sid in ("AST-37", "ZHA-414", "ZHA-411", *D.KARATAU_EXTRA):
        off[sid] = _copy_figures(books.tec[sid])
    z140 = books.pec["ZHA-140"]  # the PEC's votes, its ballots found reconciled upstream
    off["ZHA-140"] = derive(z140, z140["votes"], z140["invalid"], missing=0)
    room = {st.sid: st.baseline + st.added - participants(books.pec[st.sid]) for st in stations}
    _khromtauskiy(books, room, rng)
    _kostanaiskiy(books, rng)
    _rudniy([st.sid for st in stations if st.tec_name == "Rudniy City TEC"], books, room, rng)
    for st in stations:
        documented = st.real and st.sid not in D.UNANIMOUS_EXAMPLES
        if st.sid not in off and (documented or st.tec_name in LOCKED_TECS):
            off[st.sid] = _copy_figures(books.pec[st.sid])
    _unanimous(stations, books, rng)
    free = [st for st in stations if st.sid not in off]
    inflated = [st for st in free if rng.random() < D.INFLATED_SHARE[st.rec]]
    chosen = {st.sid for st in inflated}
    plain = [st.sid for st in free if st.sid not in chosen]
    for sid in plain:
        off[sid] = _copy_figures(books.pec[sid])
    for sid in rng.sample(plain, D.OBSERVER_COPIES - len(books.observer)):
        books.observer[sid] = _copy_figures(books.pec[sid])
    _inflate(inflated, stations, books, rng)


def _khromtauskiy(books: Books, room: dict[str, int], rng: random.Random) -> None:
    """The five unpublished altered protocols follow the trend of PS 276 and 295 (Annex 3)."""
    for sid in D.KHROMTAUSKIY_ALTERED:
        if sid in books.official:
            continue
        pec = books.pec[sid]
        v = pec["votes"]
        new = {
            **v,
            "ANSDP": round(v["ANSDP"] * rng.uniform(0.02, 0.15)),
            "Ak Zhol": round(v["Ak Zhol"] * rng.uniform(0.05, 0.6)),
        }
        for p in ("PPK", "Auyl", "Rukhaniyat"):  # bounded so the list still holds them all
            new[p] += min(rng.randint(5, 20), max(0, room[sid]) // 4)
        moved = sum(v.values()) - sum(new.values())
        new[NO] += max(0, moved) + min(max(0, room[sid] + min(0, moved)), rng.randint(0, 120))
        books.official[sid] = derive(pec, new, pec["invalid"])


def _kostanaiskiy(books: Books, rng: random.Random) -> None:
    """ANSDP lower in all 19; of the 13 unpublished, Auyl up in 8, Nur Otan up in 1 (Annex 3)."""
    rest = [sid for sid in D.KOSTANAISKIY_ALTERED if sid not in books.official]
    rng.shuffle(rest)
    roles = ["nur"] + ["auyl"] * 8 + ["akzhol"] * (len(rest) - 9)
    for sid, role in zip(rest, roles, strict=True):
        pec = books.pec[sid]
        new = dict(pec["votes"])
        if role == "nur":  # like PS 537: the small parties' votes go to Nur Otan
            new[NO] += new["ANSDP"] + new["PPK"] - new["PPK"] // 2
            new["ANSDP"], new["PPK"] = 0, new["PPK"] // 2
        else:  # like PS 563 and 565: ANSDP's votes go to Auyl (or, SYNTHETIC, to Ak Zhol)
            cut = new["ANSDP"] - rng.randint(0, min(5, new["ANSDP"] - 1))
            new["ANSDP"] -= cut
            new["Auyl" if role == "auyl" else "Ak Zhol"] += cut
        books.official[sid] = derive(pec, new, pec["invalid"])


def _rudniy(tec: list[str], books: Books, room: dict[str, int], rng: random.Random) -> None:
    """Rudniy City: CEC data Nur Otan +6,201 and ANSDP -764 over its 25 protocols (XIV fn 93)."""
    done = [sid for sid in tec if sid in books.official]
    todo = [sid for sid in tec if sid not in books.official]
    moved = {
        p: sum(books.official[s]["votes"][p] - books.pec[s]["votes"][p] for s in done) for p in D.RUDNIY_MOVED
    }
    rooms = [max(0, room[sid]) for sid in todo]
    adds = apportion_capped(D.RUDNIY_MOVED[NO] - moved[NO], [r * rng.uniform(0.5, 1.5) for r in rooms], rooms)
    have = [books.pec[sid]["votes"]["ANSDP"] - 1 for sid in todo]
    cuts = apportion_capped(moved["ANSDP"] - D.RUDNIY_MOVED["ANSDP"], [float(h) for h in have], have)
    for sid, add, cut in zip(todo, adds, cuts, strict=True):
        pec = books.pec[sid]
        new = dict(pec["votes"])
        new[NO] += add
        new["ANSDP"] -= cut
        for p in ("PPK", "Ak Zhol", "CPPK"):  # "fewer discrepancies" for the other parties
            new[p] -= rng.randint(0, min(4, max(0, new[p] - 1)))
        books.official[sid] = derive(pec, new, round(pec["invalid"] * rng.uniform(0.4, 1.0)))


def is_unanimous(f: dict) -> bool:
    return 0 < f["votes"][NO] == valid(f)


def _band(voters: int) -> str:
    return "over1000" if voters > 1000 else "big" if voters > 200 else "small"


def _unanimous(stations: list[DrillStation], books: Books, rng: random.Random) -> None:
    """Stations where the CEC data gives Nur Otan every valid vote (report XIV, fn 94-95).

    Their participants stay the PEC protocol's, every ballot not invalid goes to Nur Otan.
    """
    off, pec = books.official, books.pec
    free = [st for st in stations if st.sid not in off]
    voters = {st.sid: participants(pec[st.sid]) for st in free}
    similar = sorted(
        st.sid
        for st in free
        if st.rec == "ALR" and st.sid not in D.UNANIMOUS_EXAMPLES and 1300 <= voters[st.sid] <= 1800
    )
    invalid = {sid: inv for sid, (_, inv) in D.UNANIMOUS_EXAMPLES.items()}
    invalid.update(dict.fromkeys(rng.sample(similar, D.UNANIMOUS_ALR_SIMILAR), 0))
    known = [(s, participants(f), f["invalid"]) for s, f in off.items() if is_unanimous(f)]  # MAN-105
    known += [(s, voters[s], inv) for s, inv in invalid.items()]
    have = Counter((s.split("-")[0], _band(p)) for s, p, _ in known)
    zero_big = sum(p > 200 and inv == 0 for _, p, inv in known)
    big_new = []
    for rec, (n_all, n_big, n_over) in D.UNANIMOUS_PLAN.items():
        need = {"over1000": n_over, "big": n_big - n_over, "small": n_all - n_big}
        for band, (lo, hi) in (("over1000", OVER1000_P), ("big", BIG_P), ("small", SMALL_P)):
            k = need[band] - have[rec, band]
            pool = [
                st.sid
                for st in free
                if st.rec == rec and st.sid not in invalid and lo <= voters[st.sid] <= hi
            ]
            if not 0 <= k <= len(pool):
                raise ValueError(f"cannot pick {k} unanimous {band} stations in {rec}")
            for sid in rng.sample(pool, k):
                if band == "small":  # village stations: mostly no invalid ballot either
                    invalid[sid] = 0 if voters[sid] < 5 or rng.random() < 0.85 else 1
                else:
                    big_new.append(sid)
    zero = set(rng.sample(big_new, D.UNANIMOUS_ZERO_INVALID - zero_big))
    for sid in big_new:
        invalid[sid] = 0 if sid in zero else max(1, round(voters[sid] * rng.uniform(0.003, 0.015)))
    for sid, inv in invalid.items():
        votes = {**dict.fromkeys(PARTIES, 0), NO: voters[sid] - inv}
        off[sid] = derive(pec[sid], votes, inv, missing=0)


def _inflate(
    infl: list[DrillStation], stations: list[DrillStation], books: Books, rng: random.Random
) -> None:
    """Nur Otan up, the others down at the inflated stations, solved to the published totals."""
    off, pec = books.official, books.pec
    known = list(off)
    weight = [rng.uniform(0.3, 1.7) * D.INFLATION_WEIGHT.get(st.rec, 1.0) for st in infl]
    pecs = [pec[st.sid] for st in infl]
    cuts = [dict.fromkeys(MINOR, 0) for _ in infl]
    keep = [max(MINOR, key=lambda p, f=f: (f["votes"][p], -MINOR.index(p))) for f in pecs]
    for p in MINOR:  # Annex 1 for each party but Nur Otan, taken from the inflated stations
        total = sum(f["votes"][p] for f in pecs) - (D.ANNEX1[p] - sum(off[s]["votes"][p] for s in known))
        avail = [f["votes"][p] - (k == p) for f, k in zip(pecs, keep, strict=True)]
        share = apportion_capped(total, [a * w for a, w in zip(avail, weight, strict=True)], avail)
        for c, n in zip(cuts, share, strict=True):
            c[p] = n
    missing = [f["issued_in_station"] + f["issued_mobile"] - f["ballots_found"] for f in pecs]
    base = [valid(f) - sum(c.values()) for f, c in zip(pecs, cuts, strict=True)]
    reg = [f["registered"] for f in pecs]
    caps = [max(0, int(HEADROOM * r) - b - m) for r, b, m in zip(reg, base, missing, strict=True)]
    add_total = D.ANNEX1[NO] - sum(off[s]["votes"][NO] for s in known) - sum(f["votes"][NO] for f in pecs)
    groups: dict[str, list[int]] = {"KAR": [], "SKZ": [], "rest": []}
    for i, st in enumerate(infl):
        groups[st.rec if st.rec in D.VALID_EXCESS else "rest"].append(i)
    targets = {}
    for g in D.VALID_EXCESS:
        voted = sum(st.voted for st in stations if st.rec == g)
        rest = sum(valid(off[s]) for s in known if s.startswith(g + "-"))
        targets[g] = voted + D.VALID_EXCESS[g] - rest - sum(base[i] for i in groups[g])
    targets["rest"] = add_total - sum(targets.values())
    adds = [0] * len(infl)
    for g, idx in groups.items():
        share = apportion_capped(targets[g], [caps[i] * weight[i] for i in idx], [caps[i] for i in idx])
        for i, n in zip(idx, share, strict=True):
            adds[i] = n
    # invalid ballots: whatever makes the participants 6,082,430 (CEC), spread by valid votes
    new_valid = [b + a for b, a in zip(base, adds, strict=True)]
    inv_total = (
        D.CEC_PARTICIPANTS
        - D.ANNEX1_TOTAL
        - sum(missing)
        - sum(participants(off[s]) - valid(off[s]) for s in known)
    )
    inv_caps = [
        min(r - v - m, round(MAX_INVALID * v)) for r, v, m in zip(reg, new_valid, missing, strict=True)
    ]
    invalid = apportion_capped(inv_total, [v * rng.uniform(0.6, 1.4) for v in new_valid], inv_caps)
    for st, f, c, add, inv in zip(infl, pecs, cuts, adds, invalid, strict=True):
        votes = {p: f["votes"][p] - c.get(p, 0) for p in PARTIES}
        votes[NO] += add
        off[st.sid] = derive(f, votes, inv)
