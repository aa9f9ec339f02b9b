"""Counts kept compact: a tuple of non-negative integers as one ``bytes`` object.

Stage one keeps every station's figures for the night (each source's protocols and their
versions, every turnout report). As tuples of Python ints they cost about 28 bytes per count
above 256 plus 8 per slot; packed they cost 4 (8 when a count does not fit in 32 bits) and
one object header. ``load/memory.py`` measures what a station costs either way.

A packed value starts with its width (4 or 8 bytes per count), then the counts, little-endian.
The encoding is canonical (the narrowest width that holds every count), so two packed values
are equal exactly when their tuples are; their order as bytes is not the tuples' order:
compare :func:`unpack`-ed tuples.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

NARROW = 1 << 32
_PACK: dict[tuple[int, int], struct.Struct] = {}  # (width, n) -> the width byte, then n counts
_UNPACK: dict[tuple[int, int], struct.Struct] = {}  # (width, n) -> n counts


def _formats(width: int, n: int) -> struct.Struct:
    code = "I" if width == 4 else "Q"
    _UNPACK[(width, n)] = struct.Struct(f"<{n}{code}")
    s = _PACK[(width, n)] = struct.Struct(f"<B{n}{code}")
    return s


def pack(counts: Sequence[int]) -> bytes:
    """``counts`` (each 0 to 2**64 - 1) as one bytes object."""
    width = 4 if not counts or max(counts) < NARROW else 8
    s = _PACK.get((width, len(counts))) or _formats(width, len(counts))
    return s.pack(width, *counts)


def unpack(packed: bytes) -> tuple[int, ...]:
    """The counts :func:`pack` was given, as a tuple."""
    width = packed[0]
    key = (width, (len(packed) - 1) // width)
    s = _UNPACK.get(key)
    if s is None:
        _formats(*key)
        s = _UNPACK[key]
    return s.unpack_from(packed, 1)
