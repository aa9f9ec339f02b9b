"""tabmon: a streaming tabulation integrity monitor for election-night result protocols."""

from .contract import DECODERS, FIGURE_FIELDS, Evote, Protocol, Summary, Turnout, parse
from .errors import ConfigError, ContractError, MonitorError, ProcessError
from .registry import CEC_ID, REC_CODES, Registry, Station
from .settings import Settings

__version__ = "0.1.0"
__all__ = [
    "CEC_ID",
    "DECODERS",
    "FIGURE_FIELDS",
    "REC_CODES",
    "ConfigError",
    "ContractError",
    "Evote",
    "MonitorError",
    "ProcessError",
    "Protocol",
    "Registry",
    "Settings",
    "Station",
    "Summary",
    "Turnout",
    "parse",
]
