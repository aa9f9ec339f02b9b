"""A finding per CONTRACT.md's ``alerts``: deterministic id, evidence, one sentence."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "critical")
# CONTRACT.md, "alerts": the documented detector kinds (the statistical signals, an extension,
# are ``monitor.detect.forensics.KINDS``)
KINDS = (
    "protocol_altered",
    "summary_mismatch",
    "arithmetic_inconsistent",
    "turnout_implausible",
    "turnout_jump",
    "turnout_revised",
    "list_additions",
    "unanimous_result",
    "valid_exceeds_turnout",
    "evote_multiple",
    "late_protocol",
)


def finding_id(kind: str, unit_id: str, station_id: str | None, subject: str = "") -> str:
    """The same anomaly gives the same id, whatever its evidence says now: a finding whose
    evidence changes is re-emitted under its id (contract: ``finding_id``). ``subject`` tells
    apart two anomalies of one kind at one place (e.g. which sources disagree)."""
    basis = "|".join((kind, unit_id, station_id or "", subject))
    return hashlib.sha256(basis.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    level: str
    unit_id: str
    station_id: str | None
    evidence: dict[str, Any]
    explanation: str
    subject: str = ""
    finding_id: str = field(init=False)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        object.__setattr__(
            self, "finding_id", finding_id(self.kind, self.unit_id, self.station_id, self.subject)
        )


def rec_of(unit_id: str) -> str:
    """The region of a unit or station id (``KZ`` for the CEC): ids start with the REC code."""
    return unit_id.split("-", 1)[0]


def to_record(f: Finding, first_seen: str, updated: str) -> dict[str, Any]:
    """The contract's ``finding`` record. ``rec_id`` is a documented extension (docs/contract.md):
    the region, for routing by region without parsing ids."""
    return {
        "type": "finding",
        "v": 1,
        "finding_id": f.finding_id,
        "kind": f.kind,
        "severity": f.severity,
        "level": f.level,
        "unit_id": f.unit_id,
        "station_id": f.station_id,
        "rec_id": rec_of(f.station_id or f.unit_id),
        "first_seen": first_seen,
        "updated": updated,
        "evidence": f.evidence,
        "explanation": f.explanation,
    }
