"""Pure helpers for patient identity: normalisation for matching, age, reference codes.

No Django imports: these rules are shared by the form, the API and the data generator.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from typing import Final

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


def _unaccented(name: str) -> str:
    if name.isascii():
        # ASCII has no accents or compatibility forms: NFKD leaves it as it is and no character
        # is a combining mark, so the character loop below (a generator step per letter, the
        # most of a key's cost) would only copy it. Most names are ASCII.
        return name.casefold()
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _fold_name(name: str) -> str:
    return _NON_NAME.sub("", _unaccented(name))


def normalise_family_name(name: str) -> str:
    """Fold case, accents, spaces, hyphens and apostrophes: "O'Brien-Núñez" -> "obriennunez".

    A name without Latin letters keeps its own letters, folded alike ("ИВАНОВА" ->
    "иванова"). It folded to nothing, read as no name at all, and the patient was refused
    (a QA round found "Иванова" and "李" refused); a name with Latin letters keeps the key it
    has always had, so stored patients still match."""
    key = _fold_name(name) or "".join(ch for ch in _unaccented(name) if ch.isalpha())
    return key[:FAMILY_NAME_KEY_MAX]


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


_MONTHS: Final = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
# A date as written in a letter or said on the phone: "17 May 1980", "17th Sept. 1980",
# "17-May-1980" or "May 17, 1980". The year has four digits, as in the numeric forms. Not
# strptime's %b: that reads the process's locale, and knows neither "Sept" nor "June".
_SEP = r"[\s,./-]+"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR: Final = re.compile(rf"{_DAY}{_SEP}([a-z]+){_SEP}(\d{{4}})", re.I | re.A)
_MONTH_DAY_YEAR: Final = re.compile(rf"([a-z]+){_SEP}{_DAY}{_SEP}(\d{{4}})", re.I | re.A)


def _month_number(word: str) -> int | None:
    """1-12 for an English month name or its first three letters or more ("Sep", "Sept")."""
    word = word.lower()
    if len(word) < 3:
        return None
    return next((n for n, name in enumerate(_MONTHS, 1) if name.startswith(word)), None)


def parse_typed_date(text: str) -> dt.date | None:
    """A date as staff or a patient type it: 17/05/1980, 1980-05-17, 17-05-1980, 17.05.1980, or
    with the month by name ("17 May 1980", "May 17, 1980"); None for anything else."""
    text = text.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    if found := _DAY_MONTH_YEAR.fullmatch(text):
        day, month, year = found.groups()
    elif found := _MONTH_DAY_YEAR.fullmatch(text):
        month, day, year = found.groups()
    else:
        return None
    number = _month_number(month)
    try:
        return dt.date(int(year), number, int(day)) if number else None
    except ValueError:
        return None
