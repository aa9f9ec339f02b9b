"""Reading the read model defensively: detectors say nothing about data they cannot read.

The documents come back from Redis as JSON, written by another process, possibly by another
version of it. A detector must never raise on them (issue 4), so each value is checked for
the shape it should have, and anything else reads as absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.contract import default_definition
from monitor.election import Definition

# The figures in words, for explanations read aloud.
FIELD_WORDS = {
    "registered": "registered voters",
    "added": "voters added on the day",
    "ballots_received": "ballots received",
    "ballots_cancelled": "cancelled ballots",
    "issued_in_station": "ballots issued in the station",
    "issued_mobile": "ballots issued outside",
    "voted_electronic": "electronic votes",
    "ballots_found": "ballots found",
    "invalid": "invalid ballots",
}


_INT_ONLY = frozenset((int,))


def as_dict(x: object) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def as_count(x: object) -> int | None:
    """A count: an int >= 0 (not a bool), else None."""
    if isinstance(x, int) and not isinstance(x, bool) and x >= 0:
        return x
    return None


def counts(x: object, n: int | None = None) -> tuple[int, ...] | None:
    """A sequence of counts (of length ``n`` if given), else None."""
    if not isinstance(x, list | tuple) or (n is not None and len(x) != n):
        return None
    # exact types (a bool is an int, and not a count), checked at C level: this runs for
    # every protocol and report of the read model at each sweep
    if not _INT_ONLY.issuperset(map(type, x)) or (x and min(x) < 0):
        return None
    return tuple(x)


_ISSUED = frozenset(("issued_in_station", "issued_mobile", "voted_electronic"))


def participants(f: dict[str, int]) -> int:
    """Voters who took part (named figures): the definition's quantity, which :func:`named`
    puts in; else kz2007's, who received a ballot in the station, by mobile box, or
    electronically (the vector form: :func:`monitor.tally.sums.participants`)."""
    p = f.get("participants")
    if p is not None:
        return p
    return f["issued_in_station"] + f["issued_mobile"] + f["voted_electronic"]


def as_int_key(x: object) -> int | None:
    """A version or seq as stored in the read model (JSON object keys are strings)."""
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    if isinstance(x, str) and x.isdigit():
        return int(x)
    return None


def named(figures: object, parties: Sequence[str], d: Definition | None = None) -> dict[str, int] | None:
    """A figures vector (the definition's fields, then the parties) as a dict, or None if it
    is not one. What the detectors read of every form is put in where the form has no field of
    that name: ``registered`` and ``participants`` (the definition's quantities) and
    ``invalid`` (the rejected ballots). kz2007's dict is its fields and parties alone, as
    :func:`participants` computes from them."""
    d = d or default_definition()
    names = [*d.fields, *parties]
    values = counts(figures, len(names))
    if values is None:
        return None
    out = dict(zip(names, values, strict=True))
    n = len(d.fields)
    if "registered" not in out:
        out["registered"] = d.quantity("registered", values)
    if "participants" not in out and not _ISSUED.issubset(out):  # kz2007's form: participants()
        out["participants"] = d.participants(values, n)
    if "invalid" not in out:
        out["invalid"] = values[d.rejected] if d.rejected is not None else 0
    return out


def summary_figures(view: dict[str, Any], d: Definition | None = None) -> dict[str, int] | None:
    """The figures of a snapshot view (fixed fields and ``votes``) as one flat dict."""
    out: dict[str, int] = {}
    for name in (d or default_definition()).fields:
        v = as_count(view.get(name))
        if v is None:
            return None
        out[name] = v
    votes = view.get("votes")
    if not isinstance(votes, dict) or not votes:
        return None
    for party, v in votes.items():
        c = as_count(v)
        if c is None or not isinstance(party, str) or party in out:
            return None
        out[party] = c
    return out


def parse_time(x: object) -> datetime | None:
    """An ISO 8601 time with an offset, else None."""
    if not isinstance(x, str):
        return None
    try:
        t = datetime.fromisoformat(x)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def delta(base: dict[str, int], other: dict[str, int]) -> dict[str, int]:
    """other - base for every field where they differ (fields of ``base`` only)."""
    return {k: other[k] - v for k, v in base.items() if k in other and other[k] != v}


def gainer(votes_delta: dict[str, int]) -> str | None:
    """The party that gained most votes, if any gained (ties: first in ballot order)."""
    if not votes_delta or max(votes_delta.values()) <= 0:
        return None
    return max(votes_delta, key=lambda p: votes_delta[p])
