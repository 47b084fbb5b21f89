import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referrals.calendar import (
    URGENCIES,
    WorkingCalendar,
    due_at,
    is_open,
    is_working_day,
    next_opening,
    parse_holidays,
    parse_hours,
    parse_time_zone,
    parse_working_days,
    working_days_after,
)

LONDON = zoneinfo.ZoneInfo("Europe/London")
MON_FRI = frozenset({1, 2, 3, 4, 5})

# England and Wales bank holidays around Easter and Christmas 2026.
GOOD_FRIDAY = dt.date(2026, 4, 3)
EASTER_MONDAY = dt.date(2026, 4, 6)
CHRISTMAS = dt.date(2026, 12, 25)  # a Friday
BOXING_DAY_SUBSTITUTE = dt.date(2026, 12, 28)  # Monday, as Boxing Day falls on a Saturday


def london_clinic(*holidays: dt.date) -> WorkingCalendar:
    return WorkingCalendar(
        tz=LONDON,
        working_days=MON_FRI,
        opens=dt.time(8, 0),
        closes=dt.time(18, 0),
        holidays=frozenset(holidays),
    )


def seven_day_clinic() -> WorkingCalendar:
    # Open through the small hours so that daylight-saving jumps fall inside opening hours.
    return WorkingCalendar(
        tz=LONDON,
        working_days=frozenset(range(1, 8)),
        opens=dt.time(0, 0),
        closes=dt.time(23, 59),
        holidays=frozenset(),
    )


def london(y: int, m: int, d: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hour, minute, second, tzinfo=LONDON)


def utc(y: int, m: int, d: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hour, minute, second, tzinfo=dt.UTC)


# --- due_at: a table of cases (London is on GMT = UTC until 29 March 2026) ---------------------

DUE_CASES = [
    # (case, submitted, urgency, expected due in UTC)
    ("weekday morning, emergency", london(2026, 1, 14, 10, 0), "emergency", utc(2026, 1, 14, 11)),
    ("weekday morning, urgent", london(2026, 1, 14, 10, 0), "urgent", utc(2026, 1, 15, 18)),
    ("weekday morning, routine", london(2026, 1, 14, 10, 0), "routine", utc(2026, 1, 21, 18)),
    ("evening, emergency", london(2026, 1, 14, 20, 0), "emergency", utc(2026, 1, 15, 9)),
    ("evening, urgent", london(2026, 1, 14, 20, 0), "urgent", utc(2026, 1, 15, 18)),
    ("before opening, emergency", london(2026, 1, 14, 6, 30), "emergency", utc(2026, 1, 14, 9)),
    # Urgent counts from the submission date, not from the next opening.
    ("before opening, urgent", london(2026, 1, 14, 6, 30), "urgent", utc(2026, 1, 15, 18)),
    ("exactly at opening, emergency", london(2026, 1, 14, 8, 0), "emergency", utc(2026, 1, 14, 9)),
    ("exactly at closing, emergency", london(2026, 1, 14, 18, 0), "emergency", utc(2026, 1, 15, 9)),
    ("friday evening, emergency", london(2026, 1, 16, 19, 0), "emergency", utc(2026, 1, 19, 9)),
    ("friday evening, urgent", london(2026, 1, 16, 19, 0), "urgent", utc(2026, 1, 19, 18)),
    ("friday evening, routine", london(2026, 1, 16, 19, 0), "routine", utc(2026, 1, 23, 18)),
    ("saturday, emergency", london(2026, 1, 17, 11, 0), "emergency", utc(2026, 1, 19, 9)),
    ("saturday, urgent", london(2026, 1, 17, 11, 0), "urgent", utc(2026, 1, 19, 18)),
    ("sunday, routine", london(2026, 1, 18, 11, 0), "routine", utc(2026, 1, 23, 18)),
]


@pytest.mark.parametrize(
    ("submitted", "urgency", "expected"),
    [case[1:] for case in DUE_CASES],
    ids=[case[0] for case in DUE_CASES],
)
def test_due_at_follows_the_working_calendar(
    submitted: dt.datetime, urgency: str, expected: dt.datetime
) -> None:
    due = due_at(urgency, submitted, london_clinic())

    assert due == expected
    assert due.tzinfo is dt.UTC


def test_emergency_submitted_in_opening_hours_is_due_an_hour_later_even_past_closing() -> None:
    # Team decision (docs/CLINICAL_DECISIONS.md, "Due times"): one real hour after submission,
    # not 30 minutes today plus 30 minutes after the next opening.
    due = due_at("emergency", london(2026, 1, 14, 17, 30), london_clinic())

    assert due == utc(2026, 1, 14, 18, 30)


def test_emergency_one_second_before_closing_is_still_in_opening_hours() -> None:
    due = due_at("emergency", london(2026, 1, 14, 17, 59, 59), london_clinic())

    assert due == utc(2026, 1, 14, 18, 59, 59)


def test_closing_time_itself_counts_as_closed() -> None:
    clinic = london_clinic()

    assert is_open(london(2026, 1, 14, 8, 0), clinic)
    assert is_open(london(2026, 1, 14, 17, 59, 59), clinic)
    assert not is_open(london(2026, 1, 14, 18, 0), clinic)
    assert not is_open(london(2026, 1, 14, 7, 59, 59), clinic)


def test_weekend_is_closed_during_weekday_hours() -> None:
    assert not is_open(london(2026, 1, 17, 10, 0), london_clinic())


# --- holidays -----------------------------------------------------------------------------------


def test_holiday_is_closed_and_emergency_waits_for_the_next_opening() -> None:
    clinic = london_clinic(CHRISTMAS, BOXING_DAY_SUBSTITUTE)
    christmas_morning = london(2026, 12, 25, 10, 0)

    assert not is_open(christmas_morning, clinic)
    assert due_at("emergency", christmas_morning, clinic) == utc(2026, 12, 29, 9)


def test_urgent_skips_a_holiday_on_the_next_working_day() -> None:
    # Thursday 24 December: Friday is Christmas Day.
    clinic = london_clinic(CHRISTMAS)

    assert due_at("urgent", london(2026, 12, 24, 12, 0), clinic) == utc(2026, 12, 28, 18)


def test_urgent_skips_a_run_of_holidays_and_a_weekend() -> None:
    # Christmas Day (Fri), the weekend, then the Boxing Day substitute (Mon).
    clinic = london_clinic(CHRISTMAS, BOXING_DAY_SUBSTITUTE)

    assert due_at("urgent", london(2026, 12, 24, 12, 0), clinic) == utc(2026, 12, 29, 18)


def test_routine_counts_five_working_days_across_holidays() -> None:
    clinic = london_clinic(CHRISTMAS, BOXING_DAY_SUBSTITUTE, dt.date(2027, 1, 1))

    # Tue 29, Wed 30, Thu 31 Dec, (Fri 1 Jan holiday, weekend), Mon 4, Tue 5 Jan.
    assert due_at("routine", london(2026, 12, 24, 12, 0), clinic) == utc(2027, 1, 5, 18)


def test_holiday_on_a_weekend_changes_nothing() -> None:
    with_saturday_holiday = london_clinic(dt.date(2026, 12, 26))

    assert due_at("urgent", london(2026, 12, 23, 12, 0), with_saturday_holiday) == utc(
        2026, 12, 24, 18
    )


def test_custom_working_days_skip_non_working_weekdays() -> None:
    tue_to_sat = WorkingCalendar(
        tz=LONDON,
        working_days=frozenset({2, 3, 4, 5, 6}),
        opens=dt.time(9, 0),
        closes=dt.time(17, 0),
    )

    # Saturday evening: Sunday and Monday are not working days.
    assert due_at("urgent", london(2026, 1, 17, 19, 0), tue_to_sat) == utc(2026, 1, 20, 17)
    assert due_at("emergency", london(2026, 1, 17, 19, 0), tue_to_sat) == utc(2026, 1, 20, 10)
    # Saturday is a working day here.
    assert is_open(london(2026, 1, 17, 10, 0), tue_to_sat)


# --- daylight saving in Europe/London -----------------------------------------------------------
# Clocks go forward at 01:00 GMT on Sunday 29 March 2026 and back at 02:00 BST on Sunday
# 25 October 2026.


def test_spring_change_weekend_saturday_submission() -> None:
    clinic = london_clinic()
    saturday = london(2026, 3, 28, 12, 0)  # GMT

    # Monday 30 March is on BST: 08:00 local is 07:00 UTC, 18:00 local is 17:00 UTC.
    assert due_at("emergency", saturday, clinic) == utc(2026, 3, 30, 8)
    assert due_at("urgent", saturday, clinic) == utc(2026, 3, 30, 17)
    assert due_at("routine", saturday, clinic) == utc(2026, 4, 3, 17)


def test_spring_change_with_easter_bank_holidays() -> None:
    clinic = london_clinic(GOOD_FRIDAY, EASTER_MONDAY)

    # Mon 30, Tue 31 Mar, Wed 1, Thu 2 Apr, (Good Friday, weekend, Easter Monday), Tue 7 Apr.
    assert due_at("routine", london(2026, 3, 28, 12, 0), clinic) == utc(2026, 4, 7, 17)


def test_spring_change_friday_evening_to_monday() -> None:
    friday_evening = london(2026, 3, 27, 19, 0)  # GMT, so 19:00 UTC

    assert due_at("emergency", friday_evening, london_clinic()) == utc(2026, 3, 30, 8)
    assert due_at("urgent", friday_evening, london_clinic()) == utc(2026, 3, 30, 17)


def test_autumn_change_weekend_sunday_submission() -> None:
    clinic = london_clinic()
    sunday = london(2026, 10, 25, 12, 0)  # GMT again

    # Monday 26 October is on GMT: local times equal UTC.
    assert due_at("emergency", sunday, clinic) == utc(2026, 10, 26, 9)
    assert due_at("urgent", sunday, clinic) == utc(2026, 10, 26, 18)
    assert due_at("routine", sunday, clinic) == utc(2026, 10, 30, 18)


def test_autumn_change_friday_evening_to_monday() -> None:
    friday_evening = london(2026, 10, 23, 19, 0)  # BST, so 18:00 UTC

    assert due_at("emergency", friday_evening, london_clinic()) == utc(2026, 10, 26, 9)
    assert due_at("urgent", friday_evening, london_clinic()) == utc(2026, 10, 26, 18)


@pytest.mark.parametrize(
    "submitted",
    [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)],
    ids=["first 01:30 (BST)", "second 01:30 (GMT)"],
)
def test_autumn_repeated_hour_counts_from_the_same_local_date(submitted: dt.datetime) -> None:
    assert submitted.astimezone(LONDON).time() == dt.time(1, 30)
    assert due_at("urgent", submitted, london_clinic()) == utc(2026, 10, 26, 18)


def test_emergency_hour_across_the_spring_jump_is_one_real_hour() -> None:
    submitted = utc(2026, 3, 29, 0, 30)  # 00:30 GMT

    due = due_at("emergency", submitted, seven_day_clinic())

    assert due == utc(2026, 3, 29, 1, 30)
    assert due.astimezone(LONDON).time() == dt.time(2, 30)  # the wall clock jumped


def test_emergency_hour_across_the_autumn_fold_is_one_real_hour() -> None:
    submitted = utc(2026, 10, 25, 0, 30)  # 01:30 BST

    due = due_at("emergency", submitted, seven_day_clinic())

    assert due == utc(2026, 10, 25, 1, 30)
    assert due.astimezone(LONDON).time() == dt.time(1, 30)  # the wall clock repeated


def test_next_opening_on_the_day_the_clocks_change() -> None:
    seven_days_from_eight = WorkingCalendar(
        tz=LONDON,
        working_days=frozenset(range(1, 8)),
        opens=dt.time(8, 0),
        closes=dt.time(18, 0),
    )

    assert next_opening(utc(2026, 3, 28, 20), seven_days_from_eight) == utc(2026, 3, 29, 7)
    assert next_opening(utc(2026, 10, 24, 20), seven_days_from_eight) == utc(2026, 10, 25, 8)


def test_submission_in_another_time_zone_uses_the_clinics_local_date() -> None:
    # 20:00 in New York on Friday is 01:00 on Saturday in London.
    new_york_friday = dt.datetime(2026, 1, 16, 20, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York"))

    assert due_at("urgent", new_york_friday, london_clinic()) == utc(2026, 1, 19, 18)


# --- helpers and rejections ---------------------------------------------------------------------


def test_next_opening_at_opening_time_is_that_moment() -> None:
    assert next_opening(london(2026, 1, 14, 8, 0), london_clinic()) == utc(2026, 1, 14, 8)


def test_next_opening_during_a_session_is_the_next_session() -> None:
    assert next_opening(london(2026, 1, 16, 9, 0), london_clinic()) == utc(2026, 1, 19, 8)


def test_working_days_after_counts_strictly_after_the_date() -> None:
    clinic = london_clinic()

    assert working_days_after(dt.date(2026, 1, 16), 1, clinic) == dt.date(2026, 1, 19)
    assert working_days_after(dt.date(2026, 1, 14), 5, clinic) == dt.date(2026, 1, 21)
    with pytest.raises(ValueError, match="at least 1"):
        working_days_after(dt.date(2026, 1, 14), 0, clinic)


def test_is_working_day_excludes_weekends_and_holidays() -> None:
    clinic = london_clinic(CHRISTMAS)

    assert is_working_day(dt.date(2026, 12, 24), clinic)
    assert not is_working_day(CHRISTMAS, clinic)
    assert not is_working_day(dt.date(2026, 12, 26), clinic)


@pytest.mark.parametrize("urgency", URGENCIES)
def test_due_at_rejects_a_naive_datetime(urgency: str) -> None:
    with pytest.raises(ValueError, match="aware"):
        due_at(urgency, dt.datetime(2026, 1, 14, 10, 0), london_clinic())


def test_is_open_and_next_opening_reject_naive_datetimes() -> None:
    naive = dt.datetime(2026, 1, 14, 10, 0)
    with pytest.raises(ValueError, match="aware"):
        is_open(naive, london_clinic())
    with pytest.raises(ValueError, match="aware"):
        next_opening(naive, london_clinic())


def test_due_at_rejects_an_unknown_urgency() -> None:
    with pytest.raises(ValueError, match="unknown urgency 'soon'"):
        due_at("soon", london(2026, 1, 14, 10, 0), london_clinic())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"working_days": frozenset()}, "at least one weekday"),
        ({"working_days": frozenset({0, 1})}, "ISO weekdays"),
        ({"opens": dt.time(18, 0), "closes": dt.time(8, 0)}, "at least one hour"),
        ({"opens": dt.time(8, 0), "closes": dt.time(8, 30)}, "at least one hour"),
        ({"opens": dt.time(8, 0, tzinfo=dt.UTC)}, "naive"),
    ],
)
def test_working_calendar_rejects_impossible_settings(
    changes: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "tz": LONDON,
        "working_days": MON_FRI,
        "opens": dt.time(8, 0),
        "closes": dt.time(18, 0),
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(**fields)  # type: ignore[arg-type]


# --- parsers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", {1, 2, 3, 4, 5}),
        ("1,2,3,4,5", {1, 2, 3, 4, 5}),
        (" Mon - Fri ", {1, 2, 3, 4, 5}),
        ("mon-wed,fri", {1, 2, 3, 5}),
        ("sat,sun", {6, 7}),
        ("1-7", {1, 2, 3, 4, 5, 6, 7}),
        ("tuesday,thursday", {2, 4}),
    ],
)
def test_parse_working_days_accepts_names_numbers_and_ranges(text: str, expected: set[int]) -> None:
    assert parse_working_days(text) == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("mon,,fri", "empty item"),
        ("mon-fry", "'fry' is not a weekday"),
        ("0,1", "'0' is not a weekday"),
        ("8", "'8' is not a weekday"),
        ("fri-mon", "runs backwards"),
    ],
)
def test_parse_working_days_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_working_days(text)


def test_parse_hours_reads_opening_and_closing() -> None:
    assert parse_hours("08:00-18:00") == (dt.time(8, 0), dt.time(18, 0))
    assert parse_hours(" 07:30 - 19:15 ") == (dt.time(7, 30), dt.time(19, 15))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8-18", "HH:MM-HH:MM"),
        ("08:00", "HH:MM-HH:MM"),
        ("08:00-25:00", "not a valid time"),
        ("08:60-18:00", "not a valid time"),
        ("18:00-08:00", "at least one hour"),
        ("08:00-08:30", "at least one hour"),
    ],
)
def test_parse_hours_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(text)


def test_parse_holidays_reads_dates() -> None:
    assert parse_holidays("2026-12-25, 2026-12-28") == frozenset({CHRISTMAS, BOXING_DAY_SUBSTITUTE})
    assert parse_holidays("") == frozenset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-25,", "'' is not a date"),
        ("25/12/2026", "YYYY-MM-DD"),
        ("20261225", "YYYY-MM-DD"),
        ("2026-02-30", "not a real date"),
    ],
)
def test_parse_holidays_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_holidays(text)


def test_parse_time_zone() -> None:
    assert parse_time_zone("Europe/London") == LONDON
    for bad in ["", "Mars/Olympus", "../etc"]:
        with pytest.raises(ValueError, match="time zone"):
            parse_time_zone(bad)


# --- properties ---------------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    working_days = draw(st.frozensets(st.integers(1, 7), min_size=1))
    # Daytime hours: real clinics do not open inside the small-hours daylight-saving jumps.
    opens_minute = draw(st.integers(5 * 60, 12 * 60))
    closes_minute = draw(st.integers(opens_minute + 60, 23 * 60))
    holidays = draw(
        st.frozensets(st.dates(dt.date(2025, 12, 1), dt.date(2027, 3, 31)), max_size=40)
    )
    return WorkingCalendar(
        tz=zoneinfo.ZoneInfo(draw(st.sampled_from(ZONES))),
        working_days=working_days,
        opens=dt.time(*divmod(opens_minute, 60)),
        closes=dt.time(*divmod(closes_minute, 60)),
        holidays=holidays,
    )


submissions = st.datetimes(
    min_value=dt.datetime(2026, 1, 1),
    max_value=dt.datetime(2026, 12, 31),
    timezones=st.sampled_from([zoneinfo.ZoneInfo(name) for name in ZONES]),
)


@given(calendar=calendars(), submitted=submissions)
def test_due_times_are_after_submission_and_ordered_by_urgency(
    calendar: WorkingCalendar, submitted: dt.datetime
) -> None:
    emergency, urgent, routine = (due_at(u, submitted, calendar) for u in URGENCIES)

    assert submitted < emergency <= urgent <= routine
    for due in (emergency, urgent, routine):
        assert due.tzinfo is dt.UTC


@given(calendar=calendars(), submitted=submissions)
def test_emergency_due_time_is_one_hour_after_an_open_moment(
    calendar: WorkingCalendar, submitted: dt.datetime
) -> None:
    start = due_at("emergency", submitted, calendar) - dt.timedelta(hours=1)

    assert is_open(start, calendar)
    # PEP 495: a local time in a DST gap never compares equal across zones; compare instants.
    assert start == submitted.astimezone(dt.UTC) or not is_open(submitted, calendar)


@given(calendar=calendars(), submitted=submissions)
def test_urgent_and_routine_fall_at_closing_time_on_a_working_day(
    calendar: WorkingCalendar, submitted: dt.datetime
) -> None:
    for urgency in ("urgent", "routine"):
        local_due = due_at(urgency, submitted, calendar).astimezone(calendar.tz)
        assert local_due.time() == calendar.closes
        assert is_working_day(local_due.date(), calendar)
        assert local_due.date() > submitted.astimezone(calendar.tz).date()
