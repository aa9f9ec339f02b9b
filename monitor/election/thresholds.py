"""Every threshold of the deterministic detectors, with its default (docs/detectors.md).

One frozen object, built once and handed to every detector, so that a finding can always be
traced to the numbers that decided it. Defaults come from issue 4 where it gives them
(turnout 95 %/100 % over 200 registered, unanimity 99 %, a revision of 2 points) and were
otherwise set so that a clean synthetic election and the parts of the 2007 drill that
encode no anomaly give no finding (tests/unit/test_detect_*.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta


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
