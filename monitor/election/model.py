"""The election definition's shape: what a file must hold, checked field by field.

The names follow NIST SP 1500-100 (Election Results Reporting) where they mean the same:
a level's units are its GpUnits (``cdf_type`` is their ReportingUnitType), a contest is a
PartyContest or CandidateContest, its selections are the BallotSelections, and a protocol's
fields map onto the CDF's SummaryCounts. docs/election-definition.md explains every part.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# ReportingUnitType of NIST SP 1500-100 (the JSON CDF's spelling)
REPORTING_UNIT_TYPES = (
    "ballot-batch",
    "ballot-style-area",
    "borough",
    "city",
    "city-council",
    "combined-precinct",
    "congressional",
    "country",
    "county",
    "county-council",
    "drop-box",
    "judicial",
    "municipality",
    "polling-place",
    "precinct",
    "school",
    "special",
    "split-precinct",
    "state",
    "state-house",
    "state-senate",
    "town",
    "township",
    "utility",
    "village",
    "vote-center",
    "ward",
    "water",
    "other",
)
# Fields of the CDF's SummaryCounts a protocol field can stand for
SUMMARY_COUNTS = ("BallotsCast", "BallotsOutstanding", "BallotsRejected", "Overvotes", "Undervotes")
SEAT_METHODS = ("hare", "droop", "dhondt", "sainte_lague", "plurality")

Ident = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
DeskName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,59}$")]  # an Alertmanager receiver
Name = Annotated[str, Field(min_length=1, max_length=200)]


class Part(BaseModel):
    """Every part of a definition: unknown keys are mistakes, and nothing changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Election(Part):
    id: Ident
    name: Name
    date: date
    timezone: Name  # an IANA zone (Asia/Almaty) or a fixed offset (+06:00)
    polls_open: time
    polls_close: time
    synthetic: bool  # True: invented for drills and tests, and every output says so
    source: Annotated[
        str, Field(min_length=1, max_length=1000)
    ]  # where its figures come from (a report, a law), or what it was modelled on


class Level(Part):
    id: Ident
    name: Name
    parent: Ident | None = None  # the level above; None only for the top
    cdf_type: Literal[REPORTING_UNIT_TYPES]  # type: ignore[valid-type]
    # A unit id matches this whole; {level} stands for the id of the unit's ancestor there.
    pattern: Annotated[str, Field(min_length=1, max_length=500)]
    summaries: bool = True  # its commissions publish a summary protocol (not for stations)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(re.sub(r"\{[a-z][a-z0-9_]*\}", "X", v))
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return v


class Source(Part):
    id: Ident
    name: Name
    level: Ident | None = None  # the commission level that records it; None: never official


class ProtocolField(Part):
    id: Ident
    name: Name
    cdf: Literal[SUMMARY_COUNTS] | None = None  # type: ignore[valid-type]


class Quantity(Part):
    id: Ident
    name: Name
    expr: Annotated[str, Field(min_length=1, max_length=500)]


class Relation(Part):
    id: Ident
    check: Annotated[str, Field(min_length=1, max_length=500)]
    severity: Literal["hard", "soft"] = "hard"  # hard: a correct protocol never breaks it
    note: str = ""


class Selection(Part):
    id: Annotated[str, Field(min_length=1, max_length=200)]
    name: Name
    party: Name | None = None


class SeatRule(Part):
    seats: Annotated[int, Field(ge=1, le=10_000)]
    method: Literal[SEAT_METHODS]  # type: ignore[valid-type]
    threshold: Annotated[float, Field(ge=0, lt=1)] = 0.0
    threshold_base: Literal["participants", "valid"] = "valid"


class Contest(Part):
    id: Ident
    name: Name
    type: Literal["party", "candidate"]  # NIST PartyContest / CandidateContest
    level: Ident  # each unit of this level holds one such contest (the top: one for the country)
    unit: Annotated[str, Field(min_length=1, max_length=200)] | None = None  # held in this unit only
    # None: the registry's ballot record names them (kz2007 announces its parties that way)
    selections: tuple[Selection, ...] | None = None
    seats: SeatRule | None = None


class Turnout(Part):
    reports: tuple[time, ...] = ()  # local times of the cumulative reports; none: no intraday reports


class Alerting(Part):
    # top-level unit id -> the desk its findings are routed to; others go to the default
    desks: dict[str, DeskName] = {}
    default_desk: DeskName = "desk-national"


class Misread(Part):
    """A digit misread on a copy of the station's protocol (Sirekap's of 2024)."""

    source: Ident  # the copy that misreads (a source recorded by no commission)
    stations: Annotated[int, Field(ge=0, le=10_000)] = 5


class Demo(Part):
    """The synthetic night ``tabmon demo --election`` replays for this definition."""

    stations: Annotated[int, Field(ge=1, le=2_000_000)] = 2000
    registered_median: Annotated[int, Field(ge=1, le=100_000)] = 700  # voters on a station's list
    registered_max: Annotated[int, Field(ge=1, le=100_000)] = 3000
    turnout: Annotated[float, Field(gt=0, le=1)] = 0.7  # mean share of the list who vote
    copies: dict[Ident, Annotated[float, Field(ge=0, le=1)]] = {}  # source -> share of stations
    misread: Misread | None = None


class DefinitionFile(Part):
    tabmon_definition: Literal[1]
    election: Election
    levels: tuple[Level, ...] = Field(min_length=2, max_length=12)
    sources: tuple[Source, ...] = Field(min_length=1, max_length=20)
    fields: tuple[ProtocolField, ...] = Field(min_length=1, max_length=60)
    quantities: tuple[Quantity, ...] = ()
    relations: tuple[Relation, ...] = ()
    contests: tuple[Contest, ...] = Field(min_length=1, max_length=5_000)
    turnout: Turnout = Turnout()
    detectors: dict[Ident, float | int] = {}
    alerting: Alerting = Alerting()
    demo: Demo = Demo()
