"""A replay file read as a stream: what it yields, in which order, within which window."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from monitor.cli.sources import DRILL_TZ, ReplayFile, replay_line
from monitor.errors import ConfigError
from producers.elections.synthetic import generate
from producers.replay import messages_of


@pytest.fixture(scope="module")
def small():
    return generate(30, 10, seed=5, evote_ballots=50)


def _write(path, msgs) -> None:
    path.write_bytes(b"".join(replay_line(m) + b"\n" for m in msgs))


def test_lines_written_read_back_as_the_same_messages(small, tmp_path):
    want_reg, want_ev = messages_of(small.registry, []), messages_of([], small.events)
    _write(tmp_path / "n.jsonl", want_reg + want_ev)
    f = ReplayFile(tmp_path / "n.jsonl")
    assert (f.n_registry, f.n_events) == (len(want_reg), len(want_ev))
    assert list(f.registry()) == want_reg and list(f.events()) == want_ev
    r = f.replay()
    assert list(r.events) == list(r.events) == want_ev  # each pass reads the file again


def test_registry_lines_go_first_wherever_they_are(small, tmp_path):
    reg, ev = messages_of(small.registry, []), messages_of([], small.events)
    mixed = ev[:7] + reg[:3] + ev[7:20] + reg[3:]
    _write(tmp_path / "m.jsonl", mixed)
    f = ReplayFile(tmp_path / "m.jsonl")
    assert list(f.registry()) == reg and list(f.events()) == ev[:20]


def test_the_window_cuts_the_file_as_it_cuts_an_election(small, tmp_path):
    ev = messages_of([], small.events)
    _write(tmp_path / "w.jsonl", ev)
    f = ReplayFile(tmp_path / "w.jsonl", "12:00", "2007-08-18 20:00")
    lo = datetime(2007, 8, 18, 12, tzinfo=DRILL_TZ)
    hi = datetime(2007, 8, 18, 20, tzinfo=DRILL_TZ)
    want = [m for m in ev if lo <= m.at < hi]
    assert 0 < len(want) < len(ev)
    assert list(f.events()) == want and f.n_events == len(want)


def test_a_bad_line_is_found_before_anything_is_read_out(small, tmp_path):
    ev = messages_of([], small.events)
    path = tmp_path / "b.jsonl"
    _write(path, ev)
    with path.open("ab") as fh:
        fh.write(orjson.dumps({"at": None, "topic": "turnout", "key": "", "value": {}}) + b"\n")
    with pytest.raises(ConfigError, match=rf"{path}:{len(ev) + 1}: .*non-empty"):
        ReplayFile(path)
