"""Imperial height and weight to the whole centimetres and kilograms the questionnaire stores.

Spec §1 A: 1 inch = 2.54 cm and 1 lb = 0.45359237 kg exactly, rounded half up to a whole number,
in decimal arithmetic so that a binary float cannot turn 190.5 into 190.4999... Pure Python.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final

CM_PER_INCH: Final = Decimal("2.54")
KG_PER_POUND: Final = Decimal("0.45359237")
INCHES_PER_FOOT: Final = 12
POUNDS_PER_STONE: Final = 14


def _convert(whole: int, per_whole: int, part: Decimal | int, factor: Decimal) -> int:
    """(whole * per_whole + part) * factor, exact, rounded half up to a whole number.

    Exact whatever the size: the context holds every digit (a form field may send an absurd
    number of feet, which the questionnaire's range then refuses; the default 28 digits made
    ``quantize`` raise instead, a 500 a review found)."""
    part = Decimal(part)
    digits = len(str(abs(whole))) + len(str(part)) + 20
    with localcontext(prec=max(28, digits)):
        value = (whole * per_whole + part) * factor
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def feet_inches_to_cm(feet: int, inches: Decimal | int = 0) -> int:
    """6 ft 3 in is 190.5 cm, stored as 191."""
    return _convert(feet, INCHES_PER_FOOT, inches, CM_PER_INCH)


def stones_pounds_to_kg(stones: int, pounds: Decimal | int = 0) -> int:
    """11 st 0 lb is 69.853... kg, stored as 70."""
    return _convert(stones, POUNDS_PER_STONE, pounds, KG_PER_POUND)
