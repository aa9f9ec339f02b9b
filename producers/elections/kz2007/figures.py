"""Every figure the 2007 drill must reproduce, with its source: ``expected()``.

Each figure is ``{"id", "what", "value", "source"}``; threshold figures add ``report_says``
(the report's wording) and ``condition`` ({"min": .., "max": ..}) so a report can print
"report says / monitor shows / match"; ``approximate`` marks a value only the condition
binds. ``source`` is a section or footnote of the OSCE/ODIHR final report (30 October 2007),
or "synthetic: <method>" for values the drill chose. The values do not depend on the seed.
"""

from __future__ import annotations

from typing import Any

from producers.elections.kz2007 import data as D
from producers.elections.synthetic import PARTIES, REGIONS


def _fig(fid: str, value: Any, source: str, what: str, **extra: Any) -> dict:
    """One figure; a source that is not synthetic is a place in the report."""
    src = source if source.startswith("synthetic") else f"report {source}"
    return {"id": fid, "what": what, "value": value, "source": src, **extra}


def _night() -> list[dict]:
    pct = round(100 * D.NIGHT_VOTERS / D.REGISTERED_END_OF_DAY, 2)
    before_10 = D.REGISTERED_END_OF_DAY - D.REGISTERED_BASELINE - D.ADDED_10_TO_20
    return [
        _fig("commissions.rec", 16, "V.A fn 14", "RECs"),
        _fig("commissions.tec", D.TECS, "V.A", "TECs"),
        _fig("commissions.pec", D.STATIONS, "V.A", "polling stations"),
        _fig("evote.stations", D.EVOTE_STATIONS, "XIII.B", "stations with e-voting"),
        _fig(
            "evote.electorate_share",
            33,
            "XIII.B",
            "per cent of the lists (registered_baseline) at e-voting stations",
            report_says="approximately 33 per cent",
            condition={"min": 32.5, "max": 33.5},
            approximate=True,
        ),
        _fig(
            "electorate.baseline",
            D.REGISTERED_BASELINE,
            "V.B",
            "voters on the lists before election day (sum of registered_baseline)",
        ),
        _fig(
            "electorate.end_of_day",
            D.REGISTERED_END_OF_DAY,
            "XIV",
            "registered voters in the 20:00 turnout reports",
        ),
        _fig(
            "added.10_to_20",
            D.ADDED_10_TO_20,
            "XIII.A",
            "registered at 20:00 minus registered at 10:00 (turnout reports)",
            report_says="some 32,000",
            condition={"min": 31_500, "max": 32_499},
        ),
        _fig(
            "added.before_10",
            before_10,
            "synthetic: 8,870,146 - 8,830,324 - 32,000",
            "voters added to the lists by the 10:00 reports",
        ),
        _fig("turnout.night.voters", D.NIGHT_VOTERS, "XIV", "voters in the 20:00 turnout reports"),
        _fig("turnout.night.percent", pct, "XIV", "20:00 voters / registered, per cent, 2 decimals"),
        _fig(
            "turnout.ALA.percent",
            D.REGION_PERCENT["ALA"],
            "XIV",
            "Almaty City 20:00 turnout, per cent, 1 decimal",
        ),
        _fig(
            "turnout.ALR.percent",
            D.REGION_PERCENT["ALR"],
            "XIV (the preliminary statement: 86)",
            "Almaty Region 20:00 turnout, per cent, 1 decimal",
        ),
        *(
            _fig(
                f"revision.{rec}.pp",
                pp,
                "XIV fn 91",
                f"{REGIONS[rec]}: REC summary v2 minus v1 turnout, percentage points",
            )
            for rec, pp in D.REVISION_PP.items()
        ),
        _fig(
            "revision.unchanged_recs",
            16 - len(D.REVISION_PP),
            "XIV fn 91",
            "RECs whose turnout was not revised (one summary version)",
            recs=[r for r in REGIONS if r not in D.REVISION_PP],
        ),
    ]


def _results() -> list[dict]:
    kar, skz = D.VALID_EXCEEDS["KAR"], D.VALID_EXCEEDS["SKZ"]
    return [
        _fig(
            "participants.cec",
            D.CEC_PARTICIPANTS,
            "XIII.B",
            "participants in the CEC data (paper in station + mobile + electronic)",
        ),
        *(
            _fig(f"annex1.{p}", D.ANNEX1[p], "Annex 1", f"valid votes for {p} in the CEC data")
            for p in PARTIES
        ),
        _fig("annex1.total", D.ANNEX1_TOTAL, "Annex 1", "valid votes in the CEC data"),
        _fig(
            "valid_exceeds.national",
            D.ANNEX1_TOTAL - D.NIGHT_VOTERS,
            "XIV",
            "valid votes (CEC data) minus election-night voters",
            report_says="more than 200,000",
            condition={"min": 200_001},
        ),
        _fig(
            "valid_exceeds.KAR",
            D.VALID_EXCESS["KAR"],
            "XIV fn 92 (synthetic: the exact value)",
            "Karaganda: valid votes (CEC data) minus 20:00 voters",
            report_says="more than 50,000",
            condition={"min": kar[0]},
        ),
        _fig(
            "valid_exceeds.SKZ",
            D.VALID_EXCESS["SKZ"],
            "XIV fn 92 (synthetic: the exact value)",
            "South Kazakhstan: valid votes (CEC data) minus 20:00 voters",
            report_says="almost 49,000",
            condition={"min": skz[0], "max": skz[1]},
        ),
        _fig("evote.ballots", D.EVOTE_BALLOTS, "XIII.B", "distinct electronic ballots (evote events)"),
        _fig(
            "evote.multi_tokens",
            D.EVOTE_MULTI_TOKENS,
            "XIII.B",
            "voter tokens used for more than one e-ballot",
        ),
        _fig("evote.multi_ballots", D.EVOTE_MULTI_BALLOTS, "XIII.B", "e-ballots cast with those tokens"),
        _fig(
            "evote.SKZ.multi_ballots",
            D.EVOTE_SKZ_BALLOTS,
            "XIII.B",
            "of those ballots, cast at South Kazakhstan stations",
        ),
        _fig(
            "evote.SKZ.multi_stations",
            D.EVOTE_SKZ_STATIONS,
            "XIII.B",
            "South Kazakhstan stations where they were cast",
        ),
    ]


def _unanimous() -> list[dict]:
    total = sum(a for a, _, _ in D.UNANIMOUS_PLAN.values())
    out = [
        _fig(
            "unanimous.over200",
            D.UNANIMOUS_OVER200,
            "XIV",
            "stations where Nur Otan got every valid vote (CEC data), participants > 200",
        ),
        _fig("unanimous.over1000", D.UNANIMOUS_OVER1000, "XIV fn 95", "of those, valid + invalid > 1,000"),
        _fig("unanimous.zero_invalid", D.UNANIMOUS_ZERO_INVALID, "XIV", "of those, no invalid ballot"),
        _fig(
            "unanimous.total",
            total,
            "synthetic: sum of the per-REC counts",
            "unanimous stations of any size, nationally",
            report_says="hundreds",
            condition={"min": 200, "max": 999},
        ),
        _fig(
            "unanimous.ALR.1300_1800",
            D.UNANIMOUS_ALR_SIMILAR,
            "XIV fn 95",
            "Almaty Region unanimous stations with 1,300-1,800 votes and no invalid ballot",
        ),
    ]
    for rec, (n_all, _, _) in D.UNANIMOUS_PLAN.items():
        src = "XIV fn 94" if rec in D.UNANIMOUS_REPORTED else "synthetic: chosen per REC"
        out.append(_fig(f"unanimous.{rec}.all_sizes", n_all, src, f"unanimous stations in {REGIONS[rec]}"))
    for sid, (voters, inv) in D.UNANIMOUS_EXAMPLES.items():
        value = {"voters": voters, "Nur Otan": voters - inv, "invalid": inv}
        out.append(
            _fig(
                f"unanimous.{sid}",
                value,
                "XIV fn 95",
                f"{sid} in the CEC data: participants, Nur Otan votes, invalid",
            )
        )
    return out


def _annex() -> list[dict]:
    out = []
    for annex, sid, tec, pec, cec in D.ANNEX:
        diff = {p: c - q for p, c, q in zip(PARTIES, cec, pec, strict=False)}
        diff["invalid"] = cec[-1] - pec[-1]
        src = f"Annex {annex}" + (" (TEC: synthetic)" if sid == "KZY-294" else "")
        what = f"{sid} ({tec}): CEC data minus PEC protocol, per party and invalid"
        out.append(_fig(f"annex.{sid}", diff, src, what, tec=tec))
    return out


def _cases() -> list[dict]:
    s70 = {
        "station": "MAN-70",
        "v1": D.STATION70_NUR_OTAN,
        "v2": D.STATION70_NUR_OTAN + D.STATION70_MOVED,
        "others": -D.STATION70_MOVED,
    }
    z140 = {
        "station": "ZHA-140",
        "Nur Otan": D.ZHAMBYL_140["nur_otan"],
        "invalid": D.ZHAMBYL_140["invalid"],
        "participants_minus_found": D.ZHAMBYL_140["gap"],
    }
    s37 = {"station": "AST-37", "Nur Otan": D.SARYARKA_37, "ballots_cancelled": -D.SARYARKA_37}
    m45 = {"observer": dict(D.MANGHYSTAU_45_OBSERVED), "pec": {"ANSDP": 19, "Nur Otan": 578, "Ak Zhol": 72}}
    return [
        _fig(
            "karatau.414",
            dict(D.KARATAU_414),
            "XIII.E fn 90",
            "ZHA-414 (Karatau TEC): Nur Otan in the PEC protocol and in the TEC entry",
        ),
        _fig(
            "karatau.411",
            dict(D.KARATAU_411),
            "XIII.E fn 90",
            "ZHA-411 (Karatau TEC): ANSDP in the PEC protocol and in the TEC entry",
        ),
        _fig(
            "karatau.nur_otan_higher",
            sorted(["ZHA-411", "ZHA-414", *D.KARATAU_EXTRA]),
            "XIII.E ('in all five cases'; synthetic: the other three stations)",
            "Karatau stations whose TEC entry has more Nur Otan votes than the PEC protocol",
        ),
        _fig(
            "rudniy.moved",
            dict(D.RUDNIY_MOVED),
            "XIV fn 93",
            "Rudniy City TEC: CEC data minus the 25 PEC protocols, summed",
        ),
        _fig("rudniy.stations", D.TEC_SIZES["Rudniy City TEC"], "XIV fn 93", "stations in Rudniy City TEC"),
        _fig(
            "khromtauskiy.altered",
            list(D.KHROMTAUSKIY_ALTERED),
            "Annex 3",
            "Khromtauskiy TEC stations whose CEC data differs from the PEC protocol",
        ),
        _fig("khromtauskiy.stations", 26, "Annex 3 (19 + 7)", "stations in Khromtauskiy TEC"),
        _fig(
            "kostanaiskiy.altered",
            list(D.KOSTANAISKIY_ALTERED),
            "Annex 3",
            "Kostanaiskiy District TEC stations whose CEC data differs from the PEC protocol",
        ),
        _fig("kostanaiskiy.stations", 72, "Annex 3", "stations in Kostanaiskiy District TEC"),
        *(
            _fig(
                f"kostanaiskiy.{k}", v, "Annex 3", f"of the 19 altered: {k.replace('_', ' ')} in the CEC data"
            )
            for k, v in D.KOSTANAISKIY_COUNTS.items()
        ),
        _fig("saryarka.37", s37, "XIII.D fn 87", "AST-37 (Saryarka TEC): TEC entry minus PEC protocol"),
        _fig(
            "zhambyl.140",
            z140,
            "XIII.C fn 80",
            "ZHA-140: PEC protocol minus the observed count; PEC participants minus ballots found",
        ),
        _fig(
            "manghystau.45",
            m45,
            "XIII.C fn 80, Annex 3",
            "MAN-45: the count observed by the IEOM and the PEC protocol",
        ),
        _fig(
            "station70",
            s70,
            "XIII.C fn 80 (synthetic: region MAN)",
            "station 70: Nur Otan in PEC protocol versions 1 and 2, change of the others",
        ),
        *(
            _fig(
                f"implausible.{sid}",
                {"registered": r, "voted": v},
                "XIII.C fn 83" + (" (synthetic: region EKZ)" if sid == "EKZ-236" else ""),
                f"{sid} PEC protocol: registered voters and participants",
            )
            for sid, (r, v) in D.IMPLAUSIBLE.items()
        ),
    ]


def expected() -> list[dict]:
    """Every published figure of the drill (and the synthetic values it depends on)."""
    return [*_night(), *_results(), *_unanimous(), *_annex(), *_cases()]
