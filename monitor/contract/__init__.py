"""What comes in, checked: every input record decoded and validated against the election
definition, or refused with a stable code and a sentence (docs/contract.md).

- ``values``: the contract version, the bounds and the checks of one field;
- ``events``: turnout, protocol, summary and e-vote events, one typed record per kind;
- ``registry``: the units and stations of the ``registry`` topic, checked against the
  definition;
- ``deadletter``: the record a refused message becomes on the dead-letter topic.
"""

from monitor.contract.deadletter import dead_letter, original_bytes
from monitor.contract.events import (
    DECODERS,
    DEFAULT_WINDOW,
    FIGURE_FIELDS,
    N_FIXED,
    SOURCES,
    SUMMARY_LEVELS,
    Evote,
    Protocol,
    Summary,
    TimeWindow,
    Turnout,
    decode_evote,
    decode_protocol,
    decode_summary,
    decode_turnout,
)
from monitor.contract.registry import (
    CEC_ID,
    REC_CODES,
    Registry,
    Station,
    build,
    default_definition,
    load_records,
    validate_record,
)
from monitor.contract.values import (
    MAX_COUNT,
    MAX_NAME,
    MAX_PARTIES,
    MAX_SEQ,
    MAX_TIME,
    MAX_TOKEN,
    MAX_VERSION,
    VERSION,
    parse,
    parse_json,
)

__all__ = [
    "CEC_ID",
    "DECODERS",
    "DEFAULT_WINDOW",
    "FIGURE_FIELDS",
    "MAX_COUNT",
    "MAX_NAME",
    "MAX_PARTIES",
    "MAX_SEQ",
    "MAX_TIME",
    "MAX_TOKEN",
    "MAX_VERSION",
    "N_FIXED",
    "REC_CODES",
    "SOURCES",
    "SUMMARY_LEVELS",
    "VERSION",
    "Evote",
    "Protocol",
    "Registry",
    "Station",
    "Summary",
    "TimeWindow",
    "Turnout",
    "build",
    "dead_letter",
    "decode_evote",
    "decode_protocol",
    "decode_summary",
    "decode_turnout",
    "default_definition",
    "load_records",
    "original_bytes",
    "parse",
    "parse_json",
    "validate_record",
]
