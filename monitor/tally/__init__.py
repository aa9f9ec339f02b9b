"""The tally: pure state and arithmetic, no Kafka, Faust or Redis."""

from monitor.tally.derive import take_partial, take_station_docs
from monitor.tally.national import merge, snapshot, view
from monitor.tally.partition import PartitionStore
from monitor.tally.seats import METHODS, SeatResult, allocate

__all__ = [
    "METHODS",
    "PartitionStore",
    "SeatResult",
    "allocate",
    "merge",
    "snapshot",
    "take_partial",
    "take_station_docs",
    "view",
]
