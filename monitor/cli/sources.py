"""Where a replay comes from: the 2007 drill, a synthetic election, a synthetic night of any
election definition, or a JSON-lines file; and the window of the night to send (``--from`` /
``--until``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from monitor import topics
from monitor.errors import ConfigError

ELECTIONS = ("kz2007", "synthetic")  # and any election definition (docs/election-definition.md)
DRILL_TZ = timezone(timedelta(hours=6))
DRILL_DAY = "2007-08-18"


def load_election(name: str, args: argparse.Namespace) -> Any:
    """An ``Election`` (registry, events, truth) by name."""
    if name == "kz2007":
        from producers.elections.kz2007.night import build

        return build(seed=args.seed)
    if name == "synthetic":
        from producers.elections.synthetic import generate

        stations = 9727 if args.stations is None else args.stations
        if stations < 1 or args.tecs < 1:
            raise ConfigError("--stations and --tecs must be at least 1")
        try:
            return generate(stations, args.tecs, seed=args.seed, evote_ballots=args.evotes)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return definition_night(name, args)


def definition_election(name: str) -> str:
    """What a worker is told to load (``TABMON_ELECTION``) for ``--election name``: a file's
    absolute path, else the built-in name."""
    path = Path(name)
    return str(path.resolve()) if path.is_file() else name


def definition_night(name: str, args: argparse.Namespace) -> Any:
    """A synthetic night of an election definition (a built-in name or a file)."""
    from monitor.election import load
    from monitor.election.load import builtin_names
    from producers.elections.night import FormError, PatternNotWritable, generate

    path = Path(name)
    if not path.is_file() and name not in builtin_names():
        raise ConfigError(
            f"unknown election {name!r}: kz2007, synthetic, a built-in definition"
            f" ({', '.join(builtin_names())}) or a definition file"
        )
    definition = load(name)
    if args.stations is not None and args.stations < 1:
        raise ConfigError("--stations must be at least 1")
    try:
        return generate(definition, args.stations, seed=args.seed)
    except (FormError, PatternNotWritable, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


@dataclass
class Replay:
    """What a replay sends: the registry, then the events, each a stream that can be read
    again, and how many of each (for the progress bar)."""

    registry: Iterable[Any]
    events: Iterable[Any]
    n_registry: int | None  # None: not known before they are read (a streamed night)
    n_events: int | None


def load_messages(source: str, args: argparse.Namespace) -> Replay:
    """The registry and the events (within ``--from``/``--until``) of a source: an election
    name, a definition, or a JSON-lines file (read as a stream, checked whole first)."""
    from producers.replay import messages_of

    start, until = getattr(args, "start", None), getattr(args, "until", None)
    if source == "synthetic":
        return _streamed_synthetic(args, start, until)
    if source in ELECTIONS or _is_definition(source):
        e = load_election(source, args)
        registry, events = messages_of(e.registry, []), window(messages_of([], e.events), start, until)
        return Replay(registry, events, len(registry), len(events))
    return ReplayFile(Path(source), start, until).replay()


def _streamed_synthetic(args: argparse.Namespace, start: str | None, until: str | None) -> Replay:
    """The synthetic night as a stream (``producers.elections.synthetic.stream``): memory
    holds the stations' plan and one run of events, whatever the size."""
    from producers.elections.synthetic import stream
    from producers.replay import Message, messages_of

    stations = 9727 if args.stations is None else args.stations
    if stations < 1 or args.tecs < 1:
        raise ConfigError("--stations and --tecs must be at least 1")
    lo, hi = bounds(start, until)
    try:
        registry, events = stream(stations, args.tecs, seed=args.seed, evote_ballots=args.evotes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    def messages() -> Iterator[Message]:
        for e in events:
            if (lo is None or e.at >= lo) and (hi is None or e.at < hi):
                yield Message(e.topic, e.key.encode(), orjson.dumps(e.value), e.at)

    return Replay((messages_of([r], [])[0] for r in registry), messages(), None, None)


class ReplayFile:
    """A JSON-lines replay file (``{"at", "topic", "key", "value"}`` per line; registry lines
    go first whatever their place). Read whole once to check every line (the first mistake is
    a one-line error, before anything is sent) and count, then as a stream: memory does not
    grow with the file."""

    def __init__(self, path: Path, start: str | None = None, until: str | None = None) -> None:
        self.path = path
        self.lo, self.hi = bounds(start, until)
        self.n_registry = self.n_events = 0
        for m in self._read():
            if m.topic == "registry":
                self.n_registry += 1
            elif self._within(m):
                self.n_events += 1

    def replay(self) -> Replay:
        return Replay(_Again(self.registry), _Again(self.events), self.n_registry, self.n_events)

    def registry(self) -> Iterator[Any]:
        return (m for m in self._read() if m.topic == "registry")

    def events(self) -> Iterator[Any]:
        return (m for m in self._read() if m.topic != "registry" and self._within(m))

    def _within(self, m: Any) -> bool:
        return m.at is None or ((self.lo is None or m.at >= self.lo) and (self.hi is None or m.at < self.hi))

    def _read(self) -> Iterator[Any]:
        path = self.path
        if not path.is_file():
            raise ConfigError(
                f"replay source {str(path)!r} does not exist or is not a file"
                f" (elections: {', '.join(ELECTIONS)})"
            )
        try:
            with path.open("rb") as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        yield _replay_line(orjson.loads(line))
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                        raise ConfigError(f"{path}:{n}: not a replay line ({exc})") from None
        except OSError as exc:
            raise ConfigError(f"replay source {str(path)!r} cannot be read: {exc.strerror}") from None


class _Again:
    """An iterable that calls ``make`` for every pass over it."""

    def __init__(self, make: Callable[[], Iterator[Any]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[Any]:
        return self.make()


def write_jsonl(replay: Replay, out: Path) -> tuple[int, int]:
    """The registry then the events as replay lines, to a file; how many of each."""
    counts = []
    try:
        with out.open("wb") as fh:
            for part in (replay.registry, replay.events):
                n = 0
                for m in part:
                    fh.write(replay_line(m) + b"\n")
                    n += 1
                counts.append(n)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(out)!r}: {exc.strerror}") from None
    return counts[0], counts[1]


def replay_line(m: Any) -> bytes:
    """A message as one replay line (what ``_replay_line`` reads back to the same message)."""
    row = {
        "at": m.at.isoformat() if m.at is not None else None,
        "topic": m.topic,
        "key": m.key.decode(),
        "value": orjson.Fragment(m.value),
    }
    return orjson.dumps(row)


def _is_definition(source: str) -> bool:
    from monitor.election.load import builtin_names

    return source in builtin_names() or Path(source).suffix.lower() in (".yaml", ".yml")


REPLAY_TOPICS = (topics.REGISTRY, *topics.INPUTS)


def _replay_line(row: dict[str, Any]) -> Any:
    """One line of a replay file: ``{"at", "topic", "key", "value"}``."""
    from producers.replay import Message

    if row["topic"] not in REPLAY_TOPICS:
        raise ValueError(f"topic {row['topic']!r} is not one of {', '.join(REPLAY_TOPICS)}")
    if not isinstance(row["key"], str) or not row["key"]:
        raise ValueError(f"key {row['key']!r} must be a non-empty string")
    at = datetime.fromisoformat(row["at"]) if row.get("at") else None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=DRILL_TZ)  # the drill clock's offset, as for --from/--until
    return Message(row["topic"], row["key"].encode(), orjson.dumps(row["value"]), at)


def parse_clock(text: str, flag: str) -> datetime:
    """A point on the drill clock: ISO 8601, ``YYYY-MM-DD HH:MM`` or ``HH:MM`` (18 August),
    +06:00 unless an offset is given."""
    raw = text.strip()
    candidate = f"{DRILL_DAY}T{raw}" if len(raw) <= 5 and ":" in raw else raw
    try:
        t = datetime.fromisoformat(candidate)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected HH:MM, 'YYYY-MM-DD HH:MM' or ISO 8601") from None
    return t if t.tzinfo else t.replace(tzinfo=DRILL_TZ)


def bounds(start: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``--from`` and ``--until`` as points on the drill clock (None where not given)."""
    lo = parse_clock(start, "--from") if start else None
    hi = parse_clock(until, "--until") if until else None
    if lo and hi and hi <= lo:
        raise ConfigError(f"--until {until!r} is not after --from {start!r}")
    return lo, hi


def window(events: list[Any], start: str | None, until: str | None) -> list[Any]:
    """The events with ``start <= at < until`` (events without a time are kept)."""
    lo, hi = bounds(start, until)
    if lo is None and hi is None:
        return events
    return [m for m in events if m.at is None or ((lo is None or m.at >= lo) and (hi is None or m.at < hi))]
