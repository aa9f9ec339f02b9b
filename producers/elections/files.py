"""An election written to files: its replay lines, and its registry as a JSON array."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson

from producers.elections.parts import Election
from producers.replay import registry_key


def to_jsonl(election: Election, path: str | Path) -> None:
    """One line per event ``{"at","topic","key","value"}``, registry records first (timed an
    hour before the first event)."""
    first = election.events[0].at if election.events else None
    reg_at = (first - timedelta(hours=1)).isoformat() if first is not None else None
    with open(path, "wb") as fh:
        for rec in election.registry:
            line = {"at": reg_at, "topic": "registry", "key": registry_key(rec), "value": rec}
            fh.write(orjson.dumps(line) + b"\n")
        for ev in election.events:
            line = {"at": ev.at.isoformat(), "topic": ev.topic, "key": ev.key, "value": ev.value}
            fh.write(orjson.dumps(line) + b"\n")


def registry_to_json(election: Election, path: str | Path) -> None:
    """The registry as a JSON array, one record per line."""
    with open(path, "wb") as fh:
        fh.write(b"[\n" + b",\n".join(orjson.dumps(r) for r in election.registry) + b"\n]\n")
