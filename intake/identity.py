"""Pure helpers for patient identity: normalisation for matching, age, reference codes.

No Django imports: these rules are shared by the form, the API and the data generator.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata

# Read aloud over the phone: no 0/O, 1/I/L, 5/S or 2/Z pairs to confuse.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"
REFERENCE_LENGTH = 8

_NON_NAME = re.compile(r"[^a-z]")
_NON_DIGIT = re.compile(r"\D")

# The matching keys' widths (the Patient columns). Folding can lengthen text ("ß" -> "ss",
# "ﬃ" -> "ffi"), so a name or address within its own limit can fold to more: the keys are cut
# to these widths, the same cut for storing and for looking up. PostgreSQL refused the longer
# key, failing the submission (a review found it); two people alike in the first 150 letters
# of their folded family name must still share a birth date and a phone or email to match.
FAMILY_NAME_KEY_MAX = 150
GIVEN_NAME_KEY_MAX = 150
EMAIL_KEY_MAX = 254


def _fold_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_NAME.sub("", stripped)


def normalise_family_name(name: str) -> str:
    """Fold case, accents, spaces, hyphens and apostrophes: "O'Brien-Núñez" -> "obriennunez"."""
    return _fold_name(name)[:FAMILY_NAME_KEY_MAX]


def normalise_given_name(name: str) -> str:
    """The given name folded as the family name is ("Zoë" -> "zoe"), for the staff search:
    a name typed without its accents is found. Empty for a name without Latin letters."""
    return _fold_name(name)[:GIVEN_NAME_KEY_MAX]


def normalise_phone(phone: str) -> str:
    """Digits only, with a leading international 44 turned into the national 0.

    Matching must not split one patient into two because one form said
    "+44 7700 900123" and the other "07700900123".
    """
    digits = _NON_DIGIT.sub("", phone or "")
    if phone.strip().startswith("+") and digits.startswith("44"):
        digits = "0" + digits[2:]
    elif digits.startswith("0044"):
        digits = "0" + digits[4:]
    return digits


def normalise_email(email: str) -> str:
    return (email or "").strip().casefold()[:EMAIL_KEY_MAX]


def age_on(birth: dt.date, on: dt.date) -> int:
    """Completed years on a date (spec §1 A): 29 February birthdays turn on 1 March."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def format_reference(reference: str) -> str:
    """Shown to patients in two groups of four: "ABCD-EFGH"."""
    half = len(reference) // 2
    return f"{reference[:half]}-{reference[half:]}"


def parse_reference(text: str) -> str:
    """Accept what a patient reads out: any case, spaces or dashes."""
    return re.sub(r"[\s-]", "", text).upper()


def new_references(count: int) -> list[str]:
    """``count`` references at once (the bulk writer): one random draw each instead of eight."""
    alphabet, base, length = REFERENCE_ALPHABET, len(REFERENCE_ALPHABET), REFERENCE_LENGTH
    space = base**length
    out = []
    for _ in range(count):
        number = secrets.randbelow(space)
        chars = []
        for _position in range(length):
            number, digit = divmod(number, base)
            chars.append(alphabet[digit])
        out.append("".join(chars))
    return out
