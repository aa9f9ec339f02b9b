"""Detectors: pure functions from the tally's state to findings (issue 4, in progress).

No Kafka, Faust or Redis here. Station detectors read a station document of the read model
(``monitor.tally.derive.station_doc`` as JSON: per source the latest figures and every
version) and return findings; wiring them to the ``alerts`` topic comes next.
"""

from .findings import Finding, finding_id
from .station import Thresholds, detect_station

__all__ = ["Finding", "Thresholds", "detect_station", "finding_id"]
