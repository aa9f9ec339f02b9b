"""The tally: pure state and arithmetic, no Kafka, Faust or Redis."""

from .national import merge, snapshot, view
from .partition import PartitionStore
from .seats import METHODS, SeatResult, allocate

__all__ = [
    "METHODS",
    "PartitionStore",
    "SeatResult",
    "allocate",
    "merge",
    "snapshot",
    "view",
]
