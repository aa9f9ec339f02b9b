"""Detectors: pure functions from the tally's state to findings (docs/detectors.md).

No Kafka, Faust or Redis here. Each detector reads what its producer holds
(docs/architecture.md, "Findings") and never raises on partial or odd data:

- :func:`detect_station`: one station's protocols document (stage one);
- :func:`turnout_findings`: one station's turnout document (stage one);
- :func:`token_findings`: one voter token's e-ballots (stage one, ``evote-tokens``);
- :func:`unit_findings`: the stage-two snapshot of every unit;
- :func:`sweep_findings`: the combined station read model (stage-two owner);
- :func:`detect_all`: all of them over one tally state, for in-memory use and tests.
"""

from monitor.detect.catalogue import detect_all
from monitor.detect.findings import Finding, finding_id
from monitor.detect.station import detect_station
from monitor.detect.sweep import sweep_findings
from monitor.detect.tokens import token_findings
from monitor.detect.turnout import turnout_findings
from monitor.detect.units import unit_findings
from monitor.election.thresholds import Thresholds

__all__ = [
    "Finding",
    "Thresholds",
    "detect_all",
    "detect_station",
    "finding_id",
    "sweep_findings",
    "token_findings",
    "turnout_findings",
    "unit_findings",
]
