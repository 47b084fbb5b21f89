"""Realistic generated cases for ``manage.py generate_cases``: identities, times and histories.

Pure Python over a seeded ``random.Random``: the same seed gives the same cases. Answers come
from ``intake.sampling.random_answers`` (valid by construction); identities mix new people with a
small pool of repeat patients (sometimes writing their phone number another way, sometimes with a
new number but the same email) so that matching and open-referral linking happen; times are
spread over the period in order, batch by batch; histories follow each referral's urgency.

Each batch draws from its own generator seeded with (seed, batch number), and each referral's
history from one seeded with (seed, creation time, queue): any batch can be made on its own, in
any process and in any order, and the same seed and batch size give the same cases whatever the
number of worker processes (``generate_cases --workers``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import math
import random
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from django.conf import settings

from intake.bulk import BulkSubmission, HistoryStep
from intake.identity import age_on
from intake.models import ContactMethod
from intake.questionnaire import FIELD_BY_CODE
from intake.sampling import random_answers
from intake.services import CONTACT_METHODS, PatientDetails
from referrals.models import Action, Referral

GIVEN_NAMES: Final = (
    "Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Grace", "Hamid", "Isla", "Jonas", "Kemi",
    "Liam", "Maya", "Niamh", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera",
    "Wei", "Xavier", "Yusuf", "Zoe", "Aoife", "Bogdan", "Carys", "Dmitri",
)  # fmt: skip
FAMILY_NAMES: Final = (
    "Okafor", "Smith", "Jones", "Williams", "Brown", "Taylor", "Davies", "Evans", "Wilson",
    "Thomas", "Johnson", "Roberts", "Walker", "Wright", "Patel", "Khan", "Singh", "Nguyen",
    "O'Brien", "Núñez", "Smith-Jones", "McDonald", "Kowalski", "Müller", "Da Silva", "Hughes",
    "Edwards", "Green", "Hall", "Lewis", "Harris", "Clarke", "Jackson", "Wood", "Turner",
    "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker",
    "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker",
    "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly",
)  # fmt: skip
MAIL_DOMAINS: Final = ("example.com", "example.org", "example.net")

REPEAT_SHARE: Final = 0.2
# Of the repeats, how many are someone who wrote in recently (a second form within days, which
# joins the open referral) rather than a returning patient from the pool.
RECENT_SHARE: Final = 0.4
RECENT_PEOPLE: Final = 200
CANCEL_SHARE: Final = 0.04
DECLINE_SHARE: Final = 0.06
RELEASE_SHARE: Final = 0.05
CANCEL_REASON: Final = "The patient withdrew the request."
DECLINE_REASON: Final = "Not suitable for this clinic: advised to see the GP."
_AGE = FIELD_BY_CODE["age_years"]
MIN_AGE: Final = _AGE.min_value or 0
MAX_AGE: Final = _AGE.max_value or 200
MINUTE: Final = dt.timedelta(minutes=1)
HOUR: Final = dt.timedelta(hours=1)
DAY: Final = dt.timedelta(days=1)


def pool_size_for(count: int) -> int:
    """Repeat patients: about one per fifty cases, so each comes back about ten times."""
    return max(10, min(20_000, count // 50))


def _phone(rng: random.Random) -> str:
    digits = f"7{rng.randrange(10**9):09d}"
    return f"0{digits[:4]} {digits[4:]}"


def _other_form(phone: str) -> str:
    """The same number written the other way (07700 900123 <-> +44 7700900123); both normalise
    to the same key. Applying it twice gives the first form back, however often a repeat
    patient writes in."""
    digits = phone.replace(" ", "")
    if digits.startswith("+44"):
        national = "0" + digits[3:]
        return f"{national[:5]} {national[5:]}"
    return "+44 " + digits[1:]


def _birth_date(rng: random.Random, age: int, on: dt.date) -> dt.date:
    """A birth date giving ``age`` completed years on ``on``."""
    try:
        anniversary = on.replace(year=on.year - age)
    except ValueError:  # 29 February
        anniversary = on.replace(year=on.year - age, day=28)
    born = anniversary - dt.timedelta(days=rng.randrange(365))
    return born if age_on(born, on) == age else anniversary


@functools.cache
def _handle(given: str, family: str) -> str:
    """The email handle of a name: remembered, as the names come from the short lists above
    (a character loop per new person otherwise)."""
    return "".join(ch for ch in f"{given}.{family}".lower() if ch.isascii() and ch not in " '")


def _contact(rng: random.Random, given: str, family: str) -> tuple[str, str, str]:
    roll = rng.random()
    email = f"{_handle(given, family)}{rng.randrange(1000)}@{rng.choice(MAIL_DOMAINS)}"
    if roll < 0.1:
        return "", email, ContactMethod.EMAIL
    phone = _phone(rng)
    if roll < 0.4:
        return phone, email, rng.choice(CONTACT_METHODS)
    return phone, "", ContactMethod.PHONE


class HistoryDraws:
    """The few random numbers of one referral's history, drawn from a hash of its key.

    A history is a function of its referral alone (the writer may build it again for an item it
    redoes), so each one needs its own generator. ``random.Random(key)`` spends about 5 µs
    seeding the Mersenne Twister's 624 words for some ten draws; BLAKE2b gives eight 53-bit
    uniforms per 64-byte digest in about half a microsecond, and chains for more. Test data,
    not secrets.
    """

    __slots__ = ("digest", "used")

    def __init__(self, key: str) -> None:
        self.digest = hashlib.blake2b(key.encode(), digest_size=64).digest()
        self.used = 0

    def random(self) -> float:
        """Uniform in [0, 1)."""
        if self.used == 64:
            self.digest = hashlib.blake2b(self.digest, digest_size=64).digest()
            self.used = 0
        word = int.from_bytes(self.digest[self.used : self.used + 8], "big")
        self.used += 8
        return (word >> 11) * 2.0**-53

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def expovariate(self, rate: float) -> float:
        return -math.log(1.0 - self.random()) / rate

    def choice[T](self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]


class CaseGenerator:
    """Streams batches of BulkSubmission in time order, and writes histories for referrals."""

    def __init__(
        self,
        *,
        seed: int,
        count: int,
        start: dt.datetime,
        end: dt.datetime,
        staff: Mapping[str, Sequence[int]],
        now: dt.datetime | None = None,
        repeat_share: float = REPEAT_SHARE,
        history_share: float = 1.0,
    ) -> None:
        # Reproducible test data, not secrets.
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311
        self.count = count
        self.start = start
        self.end = end
        self.now = now or end
        self.staff = staff
        self.repeat_share = repeat_share
        self.history_share = history_share
        # The clinic's zone, in which intake_prepare dates a submission.
        self.tz = settings.CLINIC_CALENDAR.tz
        # Who wrote in recently in this batch, and whether they came from the pool.
        self.recent: deque[tuple[PatientDetails, bool]] = deque(maxlen=RECENT_PEOPLE)
        pool_rng = random.Random(seed + 2)  # noqa: S311
        self.pool = [
            self._new_identity(pool_rng, rng_age=True) for _ in range(pool_size_for(count))
        ]

    # --- identities -------------------------------------------------------------------------
    def _new_identity(
        self, rng: random.Random, *, rng_age: bool = False, age: int = 40, on: dt.date | None = None
    ) -> PatientDetails:
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        phone, email, preferred = _contact(rng, given, family)
        if rng_age:
            # Old enough at the start of the period and young enough at its end.
            age, on = rng.randint(20, 95), self.start.astimezone(self.tz).date()
        assert on is not None  # noqa: S101 - new people pass the submission date
        return PatientDetails(
            given_name=given,
            family_name=family,
            date_of_birth=_birth_date(rng, age, on),
            phone=phone,
            email=email,
            preferred_contact=preferred,
        )

    def _repeat(self) -> tuple[PatientDetails, bool]:
        """A person who wrote in before, and whether they come from the pool (and so may be
        stored already, by an earlier batch or run)."""
        rng = self.rng
        if self.recent and rng.random() < RECENT_SHARE:
            person, pooled = rng.choice(self.recent)
        else:
            person, pooled = rng.choice(self.pool), True
        roll = rng.random()
        if person.phone and roll < 0.3:
            return _with(person, phone=_other_form(person.phone)), pooled
        if person.email and roll < 0.4:
            # A new phone number: matched on the email, and the number is updated.
            person = _with(person, phone=_phone(rng), preferred_contact=ContactMethod.PHONE)
        return person, pooled

    # --- submissions ------------------------------------------------------------------------
    def batch_count(self, batch: int) -> int:
        return -(-self.count // batch)

    def batches(self, batch: int) -> Iterator[list[BulkSubmission]]:
        """``count`` submissions in batches of ``batch``, each batch later than the one before."""
        for index in range(self.batch_count(batch)):
            yield self.batch(index, batch)

    def batch(self, index: int, batch: int) -> list[BulkSubmission]:
        """Batch number ``index`` (from 0) of ``batches(batch)``, made on its own."""
        if not 0 <= index < self.batch_count(batch):
            raise IndexError(index)
        self.rng = random.Random(f"batch:{self.seed}:{index}")  # noqa: S311
        self.recent.clear()
        span = (self.end - self.start).total_seconds()
        done = index * batch
        size = min(batch, self.count - done)
        low = self.start + dt.timedelta(seconds=span * done / self.count)
        width = span * size / self.count
        offsets = sorted(self.rng.random() * width for _ in range(size))
        return [self._submission(low + dt.timedelta(seconds=offset)) for offset in offsets]

    def _submission(self, at: dt.datetime) -> BulkSubmission:
        answers = random_answers(self.rng)
        age = answers.pop("age_years")
        on = at.astimezone(self.tz).date()
        patient: PatientDetails | None = None
        pooled = False
        if self.rng.random() < self.repeat_share:
            patient, pooled = self._repeat()
            if not MIN_AGE <= age_on(patient.date_of_birth, on) <= MAX_AGE:
                # A birthday since their last form took them past the questionnaire's range.
                patient, pooled = None, False
        if patient is None:
            patient = self._new_identity(self.rng, age=age, on=on)
        self.recent.append((patient, pooled))
        return BulkSubmission(
            patient=patient, answers=answers, submitted_at=at, may_be_stored=pooled
        )

    # --- histories --------------------------------------------------------------------------
    def history(self, referral: Referral) -> list[HistoryStep]:
        """Claimed about as fast as its urgency asks, then contacted, scheduled and completed;
        a few cancelled, declined or released. Only what has happened by ``now`` is kept."""
        staff = self.staff.get(referral.queue, ())
        if not staff:
            return []
        rng = HistoryDraws(
            f"history:{self.seed}:{referral.created_at.isoformat()}:{referral.queue}"
        )
        if rng.random() >= self.history_share:
            return []
        created = referral.created_at
        steps: list[HistoryStep] = []
        roll = rng.random()
        if roll < CANCEL_SHARE:
            steps.append(
                HistoryStep(
                    Action.CANCEL, created + rng.uniform(1, 120) * HOUR, None, CANCEL_REASON
                )
            )
            return self._until_now(steps)
        if referral.urgency == "emergency":
            at = created + rng.uniform(2, 14) * MINUTE
        elif referral.urgency == "urgent":
            at = created + rng.uniform(0.5, 20) * HOUR
        else:
            at = created + rng.expovariate(1 / 3) * DAY + 10 * MINUTE
        clinician = rng.choice(staff)
        steps.append(HistoryStep(Action.CLAIM, at, clinician))
        if roll < CANCEL_SHARE + RELEASE_SHARE:
            at += rng.uniform(0.2, 30) * HOUR
            steps.append(HistoryStep(Action.RELEASE, at, clinician))
            at += rng.uniform(0.1, 10) * HOUR
            clinician = rng.choice(staff)
            steps.append(HistoryStep(Action.CLAIM, at, clinician))
        if roll > 1 - DECLINE_SHARE:
            at += rng.uniform(0.2, 48) * HOUR
            steps.append(HistoryStep(Action.DECLINE, at, clinician, DECLINE_REASON))
            return self._until_now(steps)
        at += rng.uniform(0.2, 48) * HOUR
        steps.append(HistoryStep(Action.CONTACT, at, clinician))
        at += rng.uniform(1, 72) * HOUR
        steps.append(HistoryStep(Action.SCHEDULE, at, clinician))
        at += rng.uniform(1, 21) * DAY
        steps.append(HistoryStep(Action.COMPLETE, at, clinician))
        return self._until_now(steps)

    def _until_now(self, steps: list[HistoryStep]) -> list[HistoryStep]:
        return [step for step in steps if step.at <= self.now]


def _with(person: PatientDetails, **changes: Any) -> PatientDetails:
    return dataclasses.replace(person, **changes)
