"""Findings on their way out: to the ``alerts`` topic, the Redis read model and Prometheus.

The detectors (:mod:`monitor.detect`) decide; this room only delivers, once per change.
"""

from monitor.adapters.readmodel import findings_key, findings_seq_key
from monitor.alerting.emit import Emitter, content_digest

__all__ = ["Emitter", "content_digest", "findings_key", "findings_seq_key"]
