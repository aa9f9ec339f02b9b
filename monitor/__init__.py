"""tabmon: a streaming tabulation integrity monitor for election-night result protocols."""

from monitor.contract import (
    CEC_ID,
    DECODERS,
    FIGURE_FIELDS,
    REC_CODES,
    Evote,
    Protocol,
    Registry,
    Station,
    Summary,
    Turnout,
    parse,
)
from monitor.errors import ConfigError, ContractError, MonitorError, ProcessError
from monitor.settings import Settings

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
