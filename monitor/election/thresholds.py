"""Every threshold of the deterministic detectors, with its default (docs/detectors.md).

One frozen object, built once and handed to every detector, so that a finding can always be
traced to the numbers that decided it. Defaults come from issue 4 where it gives them
(turnout 95 %/100 % over 200 registered, unanimity 99 %, a revision of 2 points) and were
otherwise set so that a clean synthetic election and the parts of the 2007 drill that
encode no anomaly give no finding (tests/unit/test_detect_*.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.election.definition import Definition


@dataclass(frozen=True)
class Thresholds:
    # -- station protocols --------------------------------------------------------------------
    min_voters: int = 200  # below this, unanimity and near-100 % turnout are unremarkable
    turnout_warning: float = 0.95  # participants / registered in the PEC protocol
    turnout_critical: float = 1.00
    unanimous_warning: float = 0.99  # the leader's share of the valid votes
    # -- turnout reports ----------------------------------------------------------------------
    final_report_seq: int = 6  # the report at the close (20:00); earlier ones are incomplete
    pace_ratio: float = 3.0  # a window's voters over the median of the station's other windows
    pace_min_windows: int = 3  # windows needed before a station has a pace to compare with
    jump_min_points: float = 10.0  # ... and the excess is at least this share of the list
    jump_min_votes: int = 50  # ... and at least this many voters
    peer_z: float = 5.0  # robust score of a window against the TEC's stations in that window
    peer_min_stations: int = 5  # stations of the TEC with that window, for a peer median
    peer_mad_floor_points: float = 1.0  # spread assumed at least this, so equal peers are not 0
    peer_own_ratio: float = 2.0  # and the window is also above the station's own pace
    protocol_gap_points: float = 5.0  # PEC participants above the final report, share of list
    protocol_gap_votes: int = 20  # ... and in voters
    # -- election-day additions to the list ---------------------------------------------------
    additions_share: float = 0.05  # added / registered in the latest report
    additions_votes: int = 50  # ... and at least this many added (both must hold)
    additions_critical_share: float = 0.15
    cluster_share: float = 0.03  # a lower bar for stations counted in a TEC's cluster
    cluster_votes: int = 20
    cluster_min_stations: int = 3
    # -- commission summaries -----------------------------------------------------------------
    revised_points: float = 2.0  # turnout moved by a new version of a summary
    revised_critical_points: float = 5.0
    valid_excess_votes: int = 10  # valid votes above the final report's voters (per station)
    valid_excess_unit_share: float = 0.005  # for a unit: also at least this share of its voters
    # -- late protocols -----------------------------------------------------------------------
    polls_close: datetime | None = None  # tz-aware; None: late_protocol says nothing
    protocol_grace: timedelta = timedelta(hours=6)  # after the close, a PEC protocol is late

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"threshold {f.name} must be >= 0, got {value}")
        if self.polls_close is not None and self.polls_close.tzinfo is None:
            raise ValueError("threshold polls_close must carry a UTC offset")
        if self.protocol_grace < timedelta(0):
            raise ValueError("threshold protocol_grace must be >= 0")

    @property
    def protocol_deadline(self) -> datetime | None:
        """When a PEC protocol not yet recorded becomes late; None without a close of polls."""
        return None if self.polls_close is None else self.polls_close + self.protocol_grace


DEFAULTS = Thresholds()  # the documented defaults, shared (the object is immutable)


@dataclass(frozen=True)
class ForensicThresholds:
    # Family-wise false-alarm level of one sweep: each test is run at alpha / m, m being
    # every test of every region in the registry plus the national ones (Bonferroni).
    alpha: float = 0.01
    # Family-wise level below which a signal is a warning rather than info.
    alpha_warning: float = 1e-4
    # A test says nothing about a region with fewer usable stations: partial data early in
    # the night is small and lumpy.
    min_stations: int = 50
    # Last digits are uniform only for counts spread over many tens; on clean synthetic data
    # counts >= 10 fail the test nationally (p < 1e-180), counts >= 100 pass (load/RESULTS.md).
    digit_min_count: int = 100
    digit_min_counts: int = 100  # chi-square needs >= 10 expected per digit
    # A station's denominator (registered, or valid votes) for the whole-percent test: below
    # 200 too many counts land on a whole percent by chance for the test to see anything.
    round_min_denominator: int = 200
    # Fingerprint: Spearman correlation of leader share on turnout, significant and at least this.
    fingerprint_min_rho: float = 0.2
    corner: float = 0.9  # "high turnout and high share": both at least this (evidence only)
    # Excess votes: turnout bins for the mode, smoothing half-width in bins, how tall a peak
    # must be (share of the tallest) to be the low-turnout mode, stations per side, and the
    # smallest excess worth reporting, as a share of the leader's votes in the region.
    mode_bin: float = 0.01
    mode_smooth: int = 2
    mode_peak_share: float = 0.5
    excess_min_group: int = 20
    excess_min_share: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha_warning <= self.alpha < 1.0:
            raise ValueError("need 0 < alpha_warning <= alpha < 1")
        if not 0.0 < self.mode_bin <= 0.5 or self.mode_smooth < 0 or not 0 < self.mode_peak_share <= 1:
            raise ValueError("need 0 < mode_bin <= 0.5, mode_smooth >= 0, 0 < mode_peak_share <= 1")
        if min(self.min_stations, self.excess_min_group) < 4 or self.round_min_denominator < 100:
            raise ValueError("need min_stations, excess_min_group >= 4 and round_min_denominator >= 100")


def of_definition(definition: Definition | None) -> Thresholds:
    """The defaults with a definition's own: its close of polls (its date and ``polls_close``
    in its time zone: the late-protocol deadline counts from it), the report at the close is
    its last turnout report (kz2007: the sixth, at 20:00), then its ``detectors`` part."""
    if definition is None:
        return DEFAULTS
    given: dict[str, Any] = {"polls_close": definition.polls_close}
    reports = definition.file.turnout.reports
    if reports:
        given["final_report_seq"] = len(reports)
    names = {f.name for f in fields(Thresholds)}
    given.update({k: v for k, v in definition.file.detectors.items() if k in names})  # checked at load
    return replace(DEFAULTS, **given)


def forensic_of_definition(definition: Definition | None) -> ForensicThresholds:
    """The statistical signals' defaults with a definition's own (its ``detectors`` part)."""
    base = ForensicThresholds()
    if definition is None:
        return base
    names = {f.name for f in fields(ForensicThresholds)}
    given: dict[str, Any] = {k: v for k, v in definition.file.detectors.items() if k in names}
    return replace(base, **given)
