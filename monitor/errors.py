"""The one root error of the monitor and its kinds.

Every error the monitor raises on purpose derives from :class:`MonitorError`, so a caller
can catch the project's failures without catching its bugs.
"""

from __future__ import annotations

import reprlib
from pathlib import Path

# The code of a rejection whose cause is the monitor's, not the message's: something raised
# that no check knows (counted, logged with its traceback, alerted).
BUG = "bug"
# What a rejection's sentence shows of a value: bounded in length and depth, whatever it is.
_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlong = 2, 60, 60, 40
_SHOW.maxdict = _SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxset = 4


def show(x: object) -> str:
    """A value as a rejection's sentence shows it: never long, never deep (``reprlib``)."""
    return _SHOW.repr(x)


def bug_reason(exc: BaseException, doing: str = "decoding or applying") -> str:
    """The sentence of a ``bug`` rejection: what was raised, bounded."""
    return f"unexpected {type(exc).__name__} while {doing}: {show(str(exc))}"


class MonitorError(Exception):
    """Root of every error tabmon raises on purpose."""


class ConfigError(MonitorError):
    """A setting, flag or file given to tabmon is wrong; the message says which and why."""


class ContractError(MonitorError):
    """An event breaks the event contract (CONTRACT.md v1).

    ``code`` is a short, stable label (used as a metric label and in dead letters);
    ``detail`` is the sentence a person reads.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def read_input_file(path: str | Path, what: str, hint: str = "") -> bytes:
    """The bytes of a file given to tabmon, or a one-line ConfigError naming ``what`` it is."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {str(p)!r} does not exist or is not a file{hint}")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {str(p)!r} cannot be read: {exc.strerror}") from None


class ProcessError(MonitorError):
    """An external process (broker, redis-server, worker) failed to start or stopped."""
