"""Imperial height and weight become whole centimetres and kilograms, rounded half up (§1 A)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.units import feet_inches_to_cm, stones_pounds_to_kg


@pytest.mark.parametrize(
    ("feet", "inches", "cm"),
    [
        (6, 3, 191),  # 190.5: the spec's own example, a half rounded up
        (2, 1, 64),  # 63.5: another exact half
        (5, 0, 152),  # 152.4
        (5, 7, 170),  # 170.18
        (5, Decimal("7.5"), 171),  # 171.45
        (4, 0, 122),  # 121.92
        (3, 11, 119),  # 119.38: just under the form's 120 cm
        (7, 2, 218),  # 218.44
        (7, 3, 221),  # 220.98: just over the form's 220 cm
        (0, 75, 191),  # all in inches
    ],
)
def test_feet_and_inches_become_whole_centimetres(feet, inches, cm):
    assert feet_inches_to_cm(feet, inches) == cm


@pytest.mark.parametrize(
    ("stones", "pounds", "kg"),
    [
        (11, 0, 70),  # 69.853
        (10, 7, 67),  # 66.678
        (0, 110, 50),  # 49.895
        (15, 10, 100),  # 99.790
        (4, 10, 30),  # 29.937: the form's lowest weight
        (39, 5, 250),  # 249.929: the form's highest weight
        (9, Decimal("6.5"), 60),  # 60.101
        (0, Decimal("1.1023114"), 1),  # 0.50000004: just over a half
        (0, Decimal("1.1023113"), 0),  # 0.49999999: just under
    ],
)
def test_stones_and_pounds_become_whole_kilograms(stones, pounds, kg):
    assert stones_pounds_to_kg(stones, pounds) == kg


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


@given(
    feet=st.integers(0, 8),
    tenths_of_inch=st.integers(0, 119),
)
def test_height_matches_exact_rational_arithmetic(feet, tenths_of_inch):
    inches = Decimal(tenths_of_inch) / 10
    exact = (feet * 12 + Fraction(tenths_of_inch, 10)) * Fraction(254, 100)
    assert feet_inches_to_cm(feet, inches) == _half_up(exact)


@given(stones=st.integers(0, 40), tenths_of_pound=st.integers(0, 139))
def test_weight_matches_exact_rational_arithmetic(stones, tenths_of_pound):
    pounds = Decimal(tenths_of_pound) / 10
    exact = (stones * 14 + Fraction(tenths_of_pound, 10)) * Fraction(45359237, 10**8)
    assert stones_pounds_to_kg(stones, pounds) == _half_up(exact)
