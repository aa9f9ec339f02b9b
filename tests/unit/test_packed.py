"""Packed counts (monitor.tally.packed): what the stores keep instead of tuples of ints."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.values import MAX_COUNT
from monitor.tally.packed import NARROW, pack, unpack

counts = st.lists(st.integers(0, MAX_COUNT), max_size=40).map(tuple)


@given(counts)
def test_unpack_gives_back_what_was_packed(xs: tuple[int, ...]) -> None:
    assert unpack(pack(xs)) == xs


@given(counts, counts)
def test_two_packed_values_are_equal_exactly_when_their_counts_are(
    a: tuple[int, ...], b: tuple[int, ...]
) -> None:
    assert (pack(a) == pack(b)) == (a == b)


def test_counts_take_four_bytes_each_until_one_needs_eight() -> None:
    assert len(pack((NARROW - 1,) * 15)) == 1 + 4 * 15
    assert len(pack((0,) * 14 + (NARROW,))) == 1 + 8 * 15
    assert unpack(pack((NARROW, 0))) == (NARROW, 0) and unpack(pack(())) == ()
