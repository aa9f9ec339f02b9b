"""The tally: pure state and arithmetic, no Kafka, Faust or Redis."""

from .derive import OFFICIAL_RANK
from .national import merge, snapshot, view
from .partition import PartitionStore
from .seats import METHODS, SeatResult, allocate

__all__ = [
    "METHODS",
    "OFFICIAL_RANK",
    "PartitionStore",
    "SeatResult",
    "allocate",
    "merge",
    "snapshot",
    "view",
]
