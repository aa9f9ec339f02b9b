"""Tests for monitor.tally.seats (2007 Majilis party-list allocation)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.tally.seats import METHODS, SeatResult, allocate

# Report Annex 1: valid party-list votes and voters who participated.
VOTES_2007 = {
    "Nur Otan": 5247720,
    "ANSDP": 269310,
    "Ak Zhol": 183346,
    "Auyl": 89855,
    "CPPK": 76799,
    "PPK": 46436,
    "Rukhaniyat": 22159,
}
PARTICIPANTS_2007 = 6082430

# Textbook example (100,000 votes, 10 seats, no threshold).
TEXTBOOK = {"A": 47000, "B": 16000, "C": 15800, "D": 12000, "E": 6100, "F": 3100}


@pytest.mark.parametrize("method", METHODS)
def test_2007_nur_otan_takes_all_98_seats(method: str) -> None:
    result = allocate(VOTES_2007, PARTICIPANTS_2007, method=method)
    assert result.seats == {p: (98 if p == "Nur Otan" else 0) for p in VOTES_2007}
    assert result.qualified == ("Nur Otan",)
    assert result.method == method
    # 7 % of 6,082,430 participants = 425,770.1 votes.
    assert result.threshold_votes == pytest.approx(425770.1)


def test_result_shape_follows_ballot_order() -> None:
    votes = {"Z": 100, "A": 5000, "M": 4000}
    result = allocate(votes, 9100, seats=10)
    assert isinstance(result, SeatResult)
    assert list(result.seats) == ["Z", "A", "M"]
    assert result.qualified == ("A", "M")
    assert result.seats["Z"] == 0


def test_exactly_at_threshold_qualifies() -> None:
    result = allocate({"A": 700, "B": 9300}, 10000)
    assert result.qualified == ("A", "B")
    # Hare: quota 10000/98; A = 6.86 quotas -> 6 automatic + largest remainder.
    assert result.seats == {"A": 7, "B": 91}


def test_one_vote_below_threshold_does_not_qualify() -> None:
    result = allocate({"A": 699, "B": 9301}, 10000)
    assert result.qualified == ("B",)
    assert result.seats == {"A": 0, "B": 98}


def test_threshold_is_compared_exactly_not_in_floating_point() -> None:
    # In floats 0.07 * 100 == 7.000000000000001, and Fraction(0.07) * 100 is
    # also slightly above 7, so either mistake would reject this party.
    result = allocate({"A": 7, "B": 93}, 100)
    assert result.qualified == ("A", "B")
    assert result.seats["A"] > 0


def test_threshold_is_measured_against_participants_not_valid_votes() -> None:
    # A has 690 / 9690 = 7.12 % of the valid votes, but only 6.9 % of the
    # 10,000 voters who participated (310 ballots were invalid), so it fails.
    votes = {"A": 690, "B": 9000}
    assert votes["A"] / sum(votes.values()) >= 0.07
    result = allocate(votes, 10000)
    assert result.qualified == ("B",)
    assert result.seats == {"A": 0, "B": 98}
    assert result.threshold_votes == pytest.approx(700.0)


def test_textbook_hare_largest_remainder() -> None:
    # Quota 100000 / 10 = 10000.
    #   A 4.70 -> 4 r .70 | B 1.60 -> 1 r .60 | C 1.58 -> 1 r .58
    #   D 1.20 -> 1 r .20 | E 0.61 -> 0 r .61 | F 0.31 -> 0 r .31
    # 7 automatic seats; the 3 left go to the largest remainders A, E, B.
    result = allocate(TEXTBOOK, 100000, seats=10, threshold=0.0, method="hare")
    assert result.seats == {"A": 5, "B": 2, "C": 1, "D": 1, "E": 1, "F": 0}


def test_textbook_dhondt_differs_from_hare() -> None:
    # Quotients v/1, v/2, ...:
    #   A 47000 23500 15667 11750 9400 (7833) | B 16000 8000 | C 15800 7900
    #   D 12000 (6000) | E (6100) | F (3100)
    # The 10 largest: 47000 23500 16000 15800 15667 12000 11750 9400 8000 7900
    # -> A 5, B 2, C 2, D 1; E's 6100 misses, unlike under Hare.
    result = allocate(TEXTBOOK, 100000, seats=10, threshold=0.0, method="dhondt")
    assert result.seats == {"A": 5, "B": 2, "C": 2, "D": 1, "E": 0, "F": 0}
    hare = allocate(TEXTBOOK, 100000, seats=10, threshold=0.0, method="hare")
    assert result.seats != hare.seats


def test_textbook_sainte_lague() -> None:
    # Quotients v/1, v/3, v/5, ...:
    #   A 47000 15667 9400 (6714 would be 7th) ... -> listing the 10 largest:
    #   47000 16000 15800 15667 12000 9400 6714 6100 5333 5267
    #   (A, B, C, A, D, A, A, E, B, C) -> A 4, B 2, C 2, D 1, E 1
    result = allocate(TEXTBOOK, 100000, seats=10, threshold=0.0, method="sainte_lague")
    assert result.seats == {"A": 4, "B": 2, "C": 2, "D": 1, "E": 1, "F": 0}


def test_textbook_droop() -> None:
    # Quota floor(100000 / 11) + 1 = 9091.
    #   A 5.17 -> 5 | B 1.76 -> 1 | C 1.74 -> 1 | D 1.32 -> 1 | E 0.67 | F 0.34
    # 8 automatic seats; the 2 left go to the largest remainders B (.76), C (.74).
    result = allocate(TEXTBOOK, 100000, seats=10, threshold=0.0, method="droop")
    assert result.seats == {"A": 5, "B": 2, "C": 2, "D": 1, "E": 0, "F": 0}


@pytest.mark.parametrize("method", METHODS)
def test_equal_votes_tie_goes_to_earlier_on_ballot(method: str) -> None:
    assert allocate({"X": 50, "Y": 50}, 100, seats=1, method=method).seats == {"X": 1, "Y": 0}
    assert allocate({"Y": 50, "X": 50}, 100, seats=1, method=method).seats == {"Y": 1, "X": 0}


def test_equal_remainder_tie_goes_to_more_votes_before_ballot_order() -> None:
    # Hare quota 40 / 2 = 20: A 1.5 quotas, B 0.5 quotas; equal remainders,
    # A has more votes so it takes the last seat even though B is listed first.
    assert allocate({"B": 10, "A": 30}, 40, seats=2, threshold=0.0).seats == {"B": 0, "A": 2}


def test_hare_remainders_are_compared_exactly() -> None:
    # Quota 1933222 / 12.  A = 6 + 424464/966611 quotas, B = 0 + 424464/966611
    # quotas -- exactly the same remainder, since (A - B) * 12 = 6 * 1933222 --
    # and C = 5 + 117683/966611 quotas.  One seat is left; the tie goes to A
    # (more votes).  With a float quota B's remainder comes out larger and B
    # would wrongly take it.
    votes = {"A": 1037355, "B": 70744, "C": 825123}
    result = allocate(votes, 1933222, seats=12, threshold=0.0)
    assert result.seats == {"A": 7, "B": 0, "C": 5}


def test_equal_quotient_tie_goes_to_more_votes_before_ballot_order() -> None:
    # D'Hondt second seat: A 200/2 = 100 ties B 100/1; A has more votes.
    result = allocate({"B": 100, "A": 200}, 300, seats=2, threshold=0.0, method="dhondt")
    assert result.seats == {"B": 0, "A": 2}


@pytest.mark.parametrize(
    ("votes", "participants"),
    [
        ({"A": 600, "B": 600}, 10000),  # everybody under 7 %
        ({"A": 0, "B": 0}, 100),  # nobody voted for a party
        ({"A": 0, "B": 0}, 0),  # nobody participated
        ({"A": 5}, 0),  # inconsistent data: votes but no participants
        ({}, 100),
    ],
)
@pytest.mark.parametrize("method", METHODS)
def test_no_party_qualifies_gives_all_zeros(votes: dict[str, int], participants: int, method: str) -> None:
    result = allocate(votes, participants, method=method)
    assert result.seats == dict.fromkeys(votes, 0)
    assert result.qualified == ()


def test_zero_threshold_still_excludes_parties_without_votes() -> None:
    result = allocate({"A": 10, "B": 0}, 10, seats=3, threshold=0.0)
    assert result.qualified == ("A",)
    assert result.seats == {"A": 3, "B": 0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "imperiali"}, "unknown method 'imperiali'"),
        ({"seats": 0}, "seats must be at least 1"),
        ({"seats": -5}, "seats must be at least 1"),
        ({"threshold": 1.0}, "threshold must be in"),
        ({"threshold": -0.01}, "threshold must be in"),
        ({"threshold": math.nan}, "threshold must be in"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate({"A": 10}, 10, **kwargs)  # type: ignore[arg-type]


def test_negative_votes_raise_value_error_naming_the_party() -> None:
    with pytest.raises(ValueError, match="negative.*'B'"):
        allocate({"A": 10, "B": -1}, 10)


def test_negative_participants_raise_value_error() -> None:
    with pytest.raises(ValueError, match="participants must not be negative"):
        allocate({"A": 10}, -1)


# --- properties -------------------------------------------------------------

vote_lists = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=8)
thresholds = st.one_of(
    st.sampled_from([0.0, 0.05, 0.07, 0.1, 0.25]),
    st.floats(min_value=0.0, max_value=0.5),
)


def as_votes(counts: list[int]) -> dict[str, int]:
    return {f"p{i}": v for i, v in enumerate(counts)}


@given(
    counts=vote_lists,
    invalid=st.integers(min_value=0, max_value=10**5),
    seats=st.integers(min_value=1, max_value=150),
    threshold=thresholds,
    method=st.sampled_from(METHODS),
)
def test_property_seat_total_and_qualification(
    counts: list[int], invalid: int, seats: int, threshold: float, method: str
) -> None:
    votes = as_votes(counts)
    participants = sum(counts) + invalid
    result = allocate(votes, participants, seats=seats, threshold=threshold, method=method)

    needed = Fraction(str(threshold)) * participants
    expected_qualified = tuple(p for p, v in votes.items() if v > 0 and participants > 0 and v >= needed)
    assert result.qualified == expected_qualified
    assert list(result.seats) == list(votes)
    assert all(n >= 0 for n in result.seats.values())
    assert sum(result.seats.values()) == (seats if result.qualified else 0)
    for party, n in result.seats.items():
        if party not in result.qualified:
            assert n == 0


@given(
    counts=vote_lists,
    index=st.integers(min_value=0, max_value=7),
    gain=st.integers(min_value=1, max_value=10**5),
    invalid=st.integers(min_value=0, max_value=10**5),
    seats=st.integers(min_value=1, max_value=150),
    threshold=thresholds,
)
def test_property_dhondt_party_gaining_votes_never_loses_seats(
    counts: list[int], index: int, gain: int, invalid: int, seats: int, threshold: float
) -> None:
    index %= len(counts)
    # Participants fixed across both runs, large enough for either.
    participants = sum(counts) + gain + invalid

    def dhondt_seats(values: list[int]) -> int:
        result = allocate(as_votes(values), participants, seats=seats, threshold=threshold, method="dhondt")
        return result.seats[f"p{index}"]

    more = list(counts)
    more[index] += gain
    assert dhondt_seats(more) >= dhondt_seats(counts)


@given(
    counts=vote_lists,
    invalid=st.integers(min_value=0, max_value=10**5),
    seats=st.integers(min_value=1, max_value=150),
    threshold=thresholds,
)
def test_property_hare_seats_within_one_of_quota(
    counts: list[int], invalid: int, seats: int, threshold: float
) -> None:
    votes = as_votes(counts)
    participants = sum(counts) + invalid
    result = allocate(votes, participants, seats=seats, threshold=threshold, method="hare")
    if not result.qualified:
        return
    quota = Fraction(sum(votes[p] for p in result.qualified), seats)
    for party in result.qualified:
        lower = math.floor(votes[party] / quota)
        assert result.seats[party] in (lower, lower + 1)


@given(
    counts=vote_lists,
    invalid=st.integers(min_value=0, max_value=10**5),
    seats=st.integers(min_value=1, max_value=150),
    threshold=thresholds,
)
def test_property_droop_keeps_automatic_seats_and_never_overallocates(
    counts: list[int], invalid: int, seats: int, threshold: float
) -> None:
    votes = as_votes(counts)
    participants = sum(counts) + invalid
    result = allocate(votes, participants, seats=seats, threshold=threshold, method="droop")
    if not result.qualified:
        return
    quota = sum(votes[p] for p in result.qualified) // (seats + 1) + 1
    for party in result.qualified:
        assert result.seats[party] >= votes[party] // quota
    assert sum(result.seats.values()) == seats


def test_plurality_elects_the_most_votes_and_ties_go_to_the_ballot_order():
    assert allocate(
        {"01": 40, "02": 90, "03": 20}, 150, seats=1, threshold=0.0, method="plurality"
    ).seats == {
        "01": 0,
        "02": 1,
        "03": 0,
    }
    assert allocate({"A": 5, "B": 5}, 10, seats=1, threshold=0.0, method="plurality").seats == {
        "A": 1,
        "B": 0,
    }
