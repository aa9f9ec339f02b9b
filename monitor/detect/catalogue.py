"""The whole catalogue at once, run the way the worker runs it, for in-memory use and tests.

Each detector sees what its producer sees (docs/architecture.md, "Findings"): the station
detectors one kind of document at a time, as a stage-one partition holds it; the token
detector one token's ballots; the unit detectors the stage-two snapshot; the sweep the
combined station read model. Each finding therefore has exactly one producer here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from monitor.contract import Registry
from monitor.detect.findings import Finding
from monitor.detect.shape import as_dict
from monitor.detect.station import detect_station
from monitor.detect.sweep import sweep_findings
from monitor.detect.tokens import token_findings
from monitor.detect.turnout import turnout_findings
from monitor.detect.units import unit_findings
from monitor.election.thresholds import DEFAULTS, Thresholds

__all__ = ["detect_all", "station_findings"]

STATION_KINDS = ("protocols", "turnout")  # the documents a station detector reads alone


def station_findings(
    kind: str, sid: str, doc: object, registry: Registry, t: Thresholds = DEFAULTS
) -> list[Finding]:
    """The findings one kind of a station's document decides alone, as the stage-one
    partition of that kind holds it; nothing for a station the registry does not know."""
    st = registry.stations.get(sid)
    if st is None:
        return []
    if kind == "protocols":
        return detect_station(sid, st.tec_id, {"protocols": doc}, registry.parties, t, registry.definition)
    if kind == "turnout":
        return turnout_findings(sid, st.tec_id, as_dict(doc), t)
    return []


def detect_all(
    stations: dict[str, dict[str, Any]],
    units: Mapping[str, Mapping[str, Any]],
    tokens: Mapping[str, Iterable[object]],
    registry: Registry,
    t: Thresholds = DEFAULTS,
    now: datetime | None = None,
) -> list[Finding]:
    """Every deterministic finding of a tally state: ``stations`` the station read model,
    ``units`` the stage-two snapshot, ``tokens`` voter token -> its (station_id, issued_at)
    ballots, ``now`` the event-time clock."""
    out: list[Finding] = []
    for sid, doc in sorted(as_dict(stations).items()):
        doc = as_dict(doc)
        for kind in STATION_KINDS:
            if kind in doc:
                out += station_findings(kind, sid, doc[kind], registry, t)
    for token in sorted(tokens):
        out += token_findings(token, tokens[token], registry)
    out += unit_findings(units, t, definition=registry.definition)
    out += sweep_findings(stations, registry, t, now)
    return out
