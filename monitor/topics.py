"""Every topic tabmon reads or writes, by its unprefixed name (``Settings.topic`` adds
``TABMON_TOPIC_PREFIX``). docs/architecture.md draws the flow between them."""

from __future__ import annotations

__all__ = ["ALERTS", "DEADLETTER", "EVOTE", "INPUTS", "PARTIALS", "PROTOCOLS", "REGISTRY", "ROUTED"]

REGISTRY = "registry"  # units, stations and the ballot (compacted, one partition)
TURNOUT = "turnout"
PROTOCOLS = "protocols"
SUMMARIES = "summaries"
EVOTE = "evote"
INPUTS = (TURNOUT, PROTOCOLS, SUMMARIES, EVOTE)  # what producers send, beside the registry
# Where an event of each store kind is forwarded home (monitor.tally.route); for ``tokens``
# the only one: e-ballots re-keyed by voter token.
ROUTED = {
    "turnout": "turnout-routed",
    "protocols": "protocols-routed",
    "summaries": "summaries-routed",
    "evote": "evote-routed",
    "tokens": "evote-tokens",
}
DEADLETTER = "deadletter"  # every rejected message, with its reason
ALERTS = "alerts"  # findings, keyed by finding_id
PARTIALS = "tally-partials"  # stage one's partial tallies, read by stage two (one partition)
# The first partial of a rebuilt partition holds every commission of the partition: a
# partition's state was 2.15 MB at 823,236 stations in 8 partitions (load/RESULTS.md, "Scale"),
# above Kafka's default 1 MB message. The partials topic, its producers and its consumer allow
# this much.
PARTIAL_MAX_BYTES = 16 * 1024 * 1024
