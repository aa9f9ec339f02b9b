"""What crosses a stage of the tally, typed: the partial on ``tally-partials``, the merged
state stage two keeps per input partition, the unit snapshot, and the station documents of
the read model.

On the wire each is JSON; these are their shapes. A partial is checked whole on its way into
stage two (:mod:`.wire`), which is what makes a message a :class:`Partial`. A figures vector
is as wide as the definition's fields plus the contest's selections; named figures (a
``view``) are keyed by the definition's field names, so they stay a mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

Vector = list[int]
Named = dict[str, Any]  # the definition's fields by name, with votes, valid, participants


# -- the partial: stage one's sums of the commissions that changed ---------------------------
class ContestSums(TypedDict):
    """A later contest's sums over a commission's stations."""

    pec: Vector
    official: Vector
    n_pec: int
    n_official: int


class CommissionSums(TypedDict, total=False):
    """One commission's sums in one input partition, for the partition's kind: protocols
    (``pec`` to ``unanimous``, and ``contests``), turnout (``turnout``, ``n_turnout``,
    ``by_seq``) or e-votes (``evote``)."""

    pec: Vector
    official: Vector
    moved: Vector  # official - pec, over the stations with both: may be negative
    n_pec: int
    n_official: int
    n_altered: int
    unanimous: Vector  # as monitor.tally.sums.UNANIMOUS_KEYS
    contests: dict[str, ContestSums]
    turnout: Vector  # registered, added, voted
    n_turnout: int
    by_seq: dict[str, Vector]  # report number -> registered, added, voted, stations
    evote: int


class SummaryRecord(TypedDict):
    """One version of a unit's summary protocol."""

    level: str
    version: int
    recorded_at: str
    stations_included: int
    figures: Vector


class Partial(TypedDict):
    """The absolute state of what changed in one input partition since its last partial."""

    kind: str
    wm: int  # the next offset to read: the partial covers everything below it
    tecs: dict[str, CommissionSums]
    summaries: dict[str, list[SummaryRecord]]
    contest_summaries: NotRequired[dict[str, dict[str, list[SummaryRecord]]]]  # later contests'
    tokens: NotRequired[dict[str, list[list[str]]]]  # voter token -> [station, issued_at]
    # stamped by the ingest service
    tp: NotRequired[str]  # the store's input partition, "topic:partition"
    epoch: NotRequired[int]  # when its worker took the partition (ns): later replaces earlier
    clock: NotRequired[float]  # the latest event time read (unix seconds)
    behind: NotRequired[int]  # messages not read yet, forwards on their way included
    settled: NotRequired[float | None]  # complete up to this event time, when behind
    src: NotRequired[dict[str, int]]  # each source's next offset
    pending: NotRequired[int]  # forwards not yet published by their homes


class Merged(TypedDict):
    """Stage two's state of one input partition: the latest entry per commission (with the
    watermark it came with), every summary version, the voter tokens."""

    kind: str
    epoch: int
    wm: int
    # commission -> (wm, its CommissionSums as JSON): kept for every (partition, commission)
    # through the night, and parsed only when the rollup re-derives the commission
    tecs: dict[str, tuple[int, bytes]]
    summaries: dict[str, dict[str, SummaryRecord]]  # unit -> version -> record
    contest_summaries: NotRequired[dict[str, dict[str, dict[str, SummaryRecord]]]]  # contest -> the same
    tokens: NotRequired[dict[str, list[list[str]]]]
    clock: NotRequired[float]
    behind: NotRequired[int]
    settled: NotRequired[float | None]
    src: NotRequired[dict[str, int]]
    pending: NotRequired[int]


Partials = dict[str, Merged]  # input partition -> its merged state


# -- the unit snapshot: totals of one unit of any level -------------------------------------
class Seats(TypedDict):
    method: str
    threshold_votes: float
    qualified: list[str]
    seats: dict[str, int]


class UnitSnapshot(TypedDict):
    """A unit's totals (``tabmon status UNIT``, the ``tabmon:unit:<id>`` document)."""

    unit_id: str
    level: str
    parent_id: str | None
    name: str
    stations: int
    turnout: dict[str, Any]  # registered, added, voted, percent, coverage, by_report
    altered_stations: int
    unanimous_stations: dict[str, int]
    protocol: Named  # with stations_reported and coverage
    official: Named
    moved: dict[str, Any]  # votes (per selection), invalid, valid
    evote_ballots: int
    registry: NotRequired[dict[str, int]]
    summary_versions: NotRequired[list[Named]]
    summary: NotRequired[Named]
    evote_multiple: NotRequired[dict[str, int]]
    contests: NotRequired[dict[str, dict[str, Any]]]  # a later contest held in or under it
    seats: NotRequired[dict[str, Seats]]  # by view (protocol, official), at the top unit


Snapshot = dict[str, UnitSnapshot]  # unit -> its totals, top unit first


# -- station documents: what one partition knows of a station, per kind ---------------------
class SourceEntry(TypedDict):
    version: int
    figures: Sequence[int]


class ContestDoc(TypedDict):
    sources: dict[str, SourceEntry]
    official_source: str | None


class ProtocolsDoc(TypedDict):
    sources: dict[str, SourceEntry]  # source -> its latest version
    versions: dict[str, dict[str, Sequence[int]]]  # source -> version -> figures
    official_source: str | None
    pec_recorded_at: str | None
    contests: NotRequired[dict[str, ContestDoc]]


class TurnoutDoc(TypedDict):
    reports: dict[str, Sequence[int]]  # report number -> registered, added, voted


class EvoteDoc(TypedDict):
    ballots: int


StationDoc = ProtocolsDoc | TurnoutDoc | EvoteDoc
