"""Tests for qaf.calendar: working days, durations, cycles, due dates, cell dates.

Rules: C1 (12 monthly cycles), C2 (allocation on the first working day, due on the
last working day or after N weeks), T1-T5 (timescales in working days, hours,
weeks; "working days late" for the escalation ladders).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaf.calendar import (
    Duration,
    WorkingCalendar,
    cycle_of,
    cycle_start_end,
    cycles_between,
    parse_cycle,
    parse_date,
    parse_duration,
    parse_quarter,
    parse_us_datetime,
    quarter_of,
    shift_cycle,
)

EW = WorkingCalendar()


# ---------------------------------------------------------------------------
# A naive reference: day by day, straight from the definition.


def naive_is_working(cal: WorkingCalendar, d: date) -> bool:
    return d.weekday() < 5 and cal.holiday_name(d) is None


def naive_between(cal: WorkingCalendar, start: date, end: date) -> int:
    """Working days w with start < w <= end; negative mirror when end < start."""
    if end < start:
        return -naive_between(cal, end, start)
    count = 0
    d = start + timedelta(days=1)
    while d <= end:
        count += naive_is_working(cal, d)
        d += timedelta(days=1)
    return count


def naive_add(cal: WorkingCalendar, d: date, n: int) -> date:
    if n == 0:
        while not naive_is_working(cal, d):
            d += timedelta(days=1)
        return d
    step = 1 if n > 0 else -1
    left = abs(n)
    while left:
        d += timedelta(days=step)
        if naive_is_working(cal, d):
            left -= 1
    return d


# ---------------------------------------------------------------------------
# Bank holidays (England & Wales)


@pytest.mark.parametrize(
    ("day", "name_part"),
    [
        (date(2026, 1, 1), "New Year"),
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 4, 6), "Easter Monday"),
        (date(2026, 5, 4), "May"),  # early May bank holiday
        (date(2026, 5, 25), "Spring"),
        (date(2026, 8, 31), "Summer"),
        (date(2026, 12, 25), "Christmas"),
        (date(2026, 12, 28), "Boxing Day"),  # 26th is Saturday: substitute Monday
        (date(2021, 12, 27), "Christmas"),  # 25th and 26th on a weekend
        (date(2021, 12, 28), "Boxing"),
        (date(2022, 12, 26), "Boxing"),  # 25th on Sunday
        (date(2022, 12, 27), "Christmas"),
        (date(2022, 1, 3), "New Year"),  # 1 Jan 2022 was Saturday
        (date(2022, 6, 2), "Spring"),  # moved for the Platinum Jubilee
        (date(2022, 6, 3), "Jubilee"),
        (date(2022, 9, 19), "Funeral"),
        (date(2023, 5, 8), "Coronation"),
        (date(2027, 3, 29), "Easter Monday"),
    ],
)
def test_bank_holidays_england_and_wales_are_not_working_days(day: date, name_part: str) -> None:
    assert day.weekday() < 5
    assert not EW.is_working_day(day)
    name = EW.holiday_name(day)
    assert name is not None and name_part.lower() in name.lower()


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 4, 2),  # Thursday before Easter
        date(2026, 4, 7),  # Tuesday after Easter
        date(2022, 5, 30),  # last Monday of May 2022, not the spring holiday that year
        date(2023, 5, 9),
        date(2026, 12, 24),
        date(2026, 12, 29),
        date(2026, 12, 31),
    ],
)
def test_ordinary_weekdays_are_working_days(day: date) -> None:
    assert EW.is_working_day(day)
    assert EW.holiday_name(day) is None


def test_weekends_are_not_working_days() -> None:
    assert not EW.is_working_day(date(2026, 11, 14))  # Saturday
    assert not EW.is_working_day(date(2026, 11, 15))  # Sunday
    assert EW.holiday_name(date(2026, 11, 14)) is None
    # a holiday on a weekend keeps its name; its substitute is the working-day change
    assert EW.holiday_name(date(2021, 12, 25)) == "Christmas Day"


def test_datetime_is_treated_as_its_date() -> None:
    assert not EW.is_working_day(datetime(2026, 4, 6, 9, 30))
    assert EW.roll_forward(datetime(2026, 4, 3, 17, 0)) == date(2026, 4, 7)


def test_regions_differ_and_unknown_region_names_the_allowed_ones() -> None:
    scotland = WorkingCalendar("scotland")
    ni = WorkingCalendar("northern-ireland")
    assert scotland.is_working_day(date(2026, 4, 6))  # no Easter Monday in Scotland
    assert not scotland.is_working_day(date(2026, 1, 2))  # 2 January
    assert not scotland.is_working_day(date(2026, 11, 30))  # St Andrew's Day
    assert not ni.is_working_day(date(2026, 3, 17))  # St Patrick's Day
    assert EW.is_working_day(date(2026, 3, 17))
    assert WorkingCalendar("England and Wales").is_working_day(date(2026, 1, 2))
    with pytest.raises(ValueError, match=r"england-and-wales.*scotland.*northern-ireland"):
        WorkingCalendar("wales-and-the-marches")


def test_extra_local_closures() -> None:
    closures = [date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)]
    council = WorkingCalendar(extra_closures=closures)
    for d in closures:
        assert not council.is_working_day(d)
        assert council.holiday_name(d) == "Local closure"
    assert council.last_working_day(2026, 12) == date(2026, 12, 24)
    assert council.working_days_between(date(2026, 12, 24), date(2027, 1, 4)) == 1
    assert EW.working_days_between(date(2026, 12, 24), date(2027, 1, 4)) == 4
    named = WorkingCalendar(extra_closures={date(2026, 12, 29): "Council Christmas closure"})
    assert named.holiday_name(date(2026, 12, 29)) == "Council Christmas closure"
    assert not named.is_working_day(date(2026, 12, 29))


# ---------------------------------------------------------------------------
# Rolling and counting


def test_roll_forward_and_back() -> None:
    assert EW.roll_forward(date(2026, 4, 3)) == date(2026, 4, 7)  # Good Friday -> Tuesday
    assert EW.roll_back(date(2026, 4, 6)) == date(2026, 4, 2)  # Easter Monday -> Thursday
    assert EW.roll_forward(date(2026, 11, 12)) == date(2026, 11, 12)
    assert EW.roll_back(date(2026, 11, 12)) == date(2026, 11, 12)
    assert EW.roll_forward(date(2021, 12, 25)) == date(2021, 12, 29)


def test_working_days_between_excludes_first_day_and_includes_last() -> None:
    # rule T4: "working days late" = working_days_between(due, today)
    mon, tue, fri = date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 13)
    assert EW.working_days_between(mon, mon) == 0  # due today: not late
    assert EW.working_days_between(mon, tue) == 1  # first day excluded, last included
    assert EW.working_days_between(mon, fri) == 4
    assert EW.working_days_between(fri, date(2026, 11, 16)) == 1  # Sat, Sun skipped; Mon counts
    assert EW.working_days_between(fri, date(2026, 11, 15)) == 0  # weekend only
    # a due date on a weekend: Saturday -> Monday is 1 working day late
    assert EW.working_days_between(date(2026, 11, 14), date(2026, 11, 16)) == 1
    # negative when end < start: the mirror count
    assert EW.working_days_between(fri, mon) == -4
    # across Easter 2026: Thu 2 Apr -> Tue 7 Apr is one working day
    assert EW.working_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1
    # across Christmas 2022 (26th and 27th substitute days)
    assert EW.working_days_between(date(2022, 12, 23), date(2022, 12, 28)) == 1


def test_add_working_days() -> None:
    assert EW.add_working_days(date(2026, 11, 13), 1) == date(2026, 11, 16)  # Fri + 1 = Mon
    assert EW.add_working_days(date(2026, 11, 14), 1) == date(2026, 11, 16)  # Sat + 1 = Mon
    assert EW.add_working_days(date(2026, 11, 14), 0) == date(2026, 11, 16)  # roll forward
    assert EW.add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)  # over Easter
    assert EW.add_working_days(date(2026, 4, 7), -1) == date(2026, 4, 2)
    assert EW.add_working_days(date(2023, 5, 5), 1) == date(2023, 5, 9)  # coronation Monday
    assert EW.add_working_days(date(2022, 9, 16), 1) == date(2022, 9, 20)  # state funeral
    assert EW.add_working_days(date(2026, 1, 1), 2600) == naive_add(EW, date(2026, 1, 1), 2600)
    assert EW.add_working_days(date(2026, 1, 1), -2600) == naive_add(EW, date(2026, 1, 1), -2600)


def test_working_days_list() -> None:
    days = EW.working_days(date(2026, 4, 1), date(2026, 4, 8))
    assert days == [date(2026, 4, 1), date(2026, 4, 2), date(2026, 4, 7), date(2026, 4, 8)]
    assert EW.working_days(date(2026, 4, 8), date(2026, 4, 1)) == []


def test_calendar_far_from_start_year_extends_lazily() -> None:
    cal = WorkingCalendar()
    assert cal.working_days_between(date(2026, 1, 1), date(2026, 1, 2)) == 1
    # far in both directions after the first use
    assert cal.working_days_between(date(1995, 3, 1), date(2040, 3, 1)) == naive_between(
        cal, date(1995, 3, 1), date(2040, 3, 1)
    )
    assert cal.roll_back(date(1990, 1, 1)) == date(1989, 12, 29)


def test_dates_near_the_end_of_time_raise_overflow() -> None:
    with pytest.raises(OverflowError):
        WorkingCalendar().add_working_days(date(9999, 12, 30), 5)


# ---------------------------------------------------------------------------
# Hypothesis properties against the naive reference

dates = st.dates(min_value=date(2015, 1, 1), max_value=date(2032, 12, 31))
closure_sets = st.lists(
    st.dates(min_value=date(2015, 1, 1), max_value=date(2032, 12, 31)), max_size=5
)


@settings(max_examples=200, deadline=None)
@given(d=dates, n=st.integers(min_value=1, max_value=400))
def test_add_then_count_round_trips(d: date, n: int) -> None:
    result = EW.add_working_days(d, n)
    assert EW.is_working_day(result)
    assert EW.working_days_between(d, result) == n
    assert result == naive_add(EW, d, n)


@settings(max_examples=200, deadline=None)
@given(d=dates, n=st.integers(min_value=-400, max_value=0))
def test_add_backwards_matches_reference(d: date, n: int) -> None:
    result = EW.add_working_days(d, n)
    assert EW.is_working_day(result)
    assert result == naive_add(EW, d, n)


@settings(max_examples=200, deadline=None)
@given(a=dates, b=dates, c=dates)
def test_between_is_antisymmetric_and_additive(a: date, b: date, c: date) -> None:
    assert EW.working_days_between(a, b) == -EW.working_days_between(b, a)
    assert EW.working_days_between(a, b) + EW.working_days_between(b, c) == EW.working_days_between(
        a, c
    )


@settings(max_examples=100, deadline=None)
@given(a=dates, span=st.integers(min_value=-60, max_value=60), closures=closure_sets)
def test_between_matches_naive_reference(a: date, span: int, closures: list[date]) -> None:
    cal = WorkingCalendar(extra_closures=closures)
    b = a + timedelta(days=span)
    assert cal.working_days_between(a, b) == naive_between(cal, a, b)
    assert cal.roll_forward(a) == naive_add(cal, a, 0)
    assert cal.is_working_day(a) == naive_is_working(cal, a)


@settings(max_examples=100, deadline=None)
@given(d=dates)
def test_roll_forward_and_back_are_the_nearest_working_days(d: date) -> None:
    fwd, back = EW.roll_forward(d), EW.roll_back(d)
    assert EW.is_working_day(fwd) and EW.is_working_day(back)
    assert back <= d <= fwd
    assert EW.working_days_between(back, fwd) == (0 if back == fwd else 1)


# ---------------------------------------------------------------------------
# Durations (T1-T5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 working days", Duration(2, "working_days")),  # T4
        ("1 working day", Duration(1, "working_days")),  # T1
        ("3 Working Days", Duration(3, "working_days")),  # T1 amendments
        ("2 wd", Duration(2, "working_days")),
        ("2WD", Duration(2, "working_days")),
        ("10 business days", Duration(10, "working_days")),  # T2
        ("  5   working-days ", Duration(5, "working_days")),
        ("4 weeks", Duration(4, "weeks")),  # T5
        ("1 week", Duration(1, "weeks")),
        ("six weeks", Duration(6, "weeks")),
        ("7 days", Duration(7, "days")),
        ("14 calendar days", Duration(14, "days")),
        ("48 hours", Duration(48, "hours")),  # T3
        ("48hrs", Duration(48, "hours")),
        ("3 months", Duration(3, "months")),  # T7
        ("1 calendar month", Duration(1, "months")),
        ("two working days", Duration(2, "working_days")),
        ("0 days", Duration(0, "days")),
    ],
)
def test_parse_duration_good(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "weeks", "2", "2 fortnights", "-2 days", "2.5 days", "a few days", "2 days late"]
)
def test_parse_duration_bad(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(2, "working_days"), "2 working days"),
        (Duration(1, "working_days"), "1 working day"),
        (Duration(4, "weeks"), "4 weeks"),
        (Duration(48, "hours"), "48 hours"),
        (Duration(3, "months"), "3 months"),
        (Duration(1, "months"), "1 month"),
    ],
)
def test_duration_str_round_trips(duration: Duration, text: str) -> None:
    assert str(duration) == text
    assert parse_duration(str(duration)) == duration


def test_add_durations() -> None:
    fri = date(2026, 11, 13)
    assert EW.add(fri, parse_duration("1 working day")) == date(2026, 11, 16)  # T1
    assert EW.add(fri, parse_duration("48 hours")) == date(2026, 11, 17)  # T3 = 2 working days
    assert EW.add(fri, parse_duration("25 hours")) == date(2026, 11, 17)  # ceil(25/24) = 2
    assert EW.add(fri, parse_duration("24 hours")) == date(2026, 11, 16)
    # T5 calendar weeks: no rolling, a Friday stays a Friday
    assert EW.add(fri, parse_duration("4 weeks")) == date(2026, 12, 11)
    assert EW.add(date(2026, 10, 31), parse_duration("7 days")) == date(2026, 11, 7)  # Saturday
    assert EW.add(date(2026, 1, 31), parse_duration("1 month")) == date(2026, 2, 28)
    assert EW.add(date(2026, 12, 25), parse_duration("3 months")) == date(2027, 3, 25)
    # T4 ladder: 2 working days after a Thursday-before-Easter deadline
    assert EW.add(date(2026, 4, 2), parse_duration("2 working days")) == date(2026, 4, 8)


# ---------------------------------------------------------------------------
# Months, cycles and due dates (C1, C2)


@pytest.mark.parametrize(
    ("year", "month", "first", "last"),
    [
        (2026, 12, date(2026, 12, 1), date(2026, 12, 31)),  # 31st is Thursday
        (2027, 1, date(2027, 1, 4), date(2027, 1, 29)),  # 1 Jan Friday holiday; 31st Sunday
        (2026, 8, date(2026, 8, 3), date(2026, 8, 28)),  # 1st Sat; 31st summer bank holiday
        (2026, 11, date(2026, 11, 2), date(2026, 11, 30)),  # 1st is Sunday
        (2026, 5, date(2026, 5, 1), date(2026, 5, 29)),  # 25th spring, 31st Sunday
        (2022, 1, date(2022, 1, 4), date(2022, 1, 31)),  # 1st Sat, 3rd substitute holiday
        (2021, 12, date(2021, 12, 1), date(2021, 12, 31)),  # 27/28 substitute days
        (2027, 3, date(2027, 3, 1), date(2027, 3, 31)),  # Easter 2027 in March
        (2026, 4, date(2026, 4, 1), date(2026, 4, 30)),
    ],
)
def test_first_and_last_working_day(year: int, month: int, first: date, last: date) -> None:
    # rule C2: allocations on the first working day, due on the last
    assert EW.first_working_day(year, month) == first
    assert EW.last_working_day(year, month) == last
    assert EW.cycle_window(f"{year:04d}-{month:02d}") == (first, last)


def test_a_month_without_working_days_is_an_error() -> None:
    closed = [date(2026, 2, 1) + timedelta(days=i) for i in range(28)]
    cal = WorkingCalendar(extra_closures=closed)
    with pytest.raises(ValueError, match="no working day"):
        cal.first_working_day(2026, 2)


@pytest.mark.parametrize(
    ("cycle", "rule", "due"),
    [
        ("2026-12", "last-working-day", date(2026, 12, 31)),  # C2 Haringey
        ("2027-01", "last-working-day", date(2027, 1, 29)),
        ("2026-08", "Last working day", date(2026, 8, 28)),
        ("2026-12", "4 weeks", date(2026, 12, 29)),  # C2 Lancashire; Tue 1 Dec + 4 weeks
        ("2026-11", "4 weeks", date(2026, 11, 30)),  # Mon 2 Nov + 4 weeks
        ("2026-03", "4 weeks", date(2026, 3, 30)),
        ("2027-03", "4 weeks", date(2027, 3, 30)),  # 29th is Easter Monday: rolled forward
        ("2026-12", "20 working days", date(2026, 12, 31)),
        ("2026-12", "28 days", date(2026, 12, 29)),
        ("2026-12", "1 month", date(2027, 1, 4)),  # 1 Jan 2027 holiday -> Mon 4 Jan
        ("2026-07", "1 month", date(2026, 8, 3)),  # 1 Aug is Saturday -> Monday
    ],
)
def test_due_date_rules(cycle: str, rule: str, due: date) -> None:
    # rule C2
    assert EW.due_date(cycle, rule) == due
    assert EW.is_working_day(due)


def test_due_date_bad_rule() -> None:
    with pytest.raises(ValueError, match="not a due rule"):
        EW.due_date("2026-12", "whenever")
    with pytest.raises(ValueError, match="not a cycle"):
        EW.due_date("2026-13", "4 weeks")


@pytest.mark.parametrize("text", ["2026-12", " 2026-12 ", "2027-01"])
def test_parse_cycle_good(text: str) -> None:
    assert parse_cycle(text) == text.strip()


@pytest.mark.parametrize("text", ["2026-1", "2026-13", "2026-00", "12/2026", "202612", "Dec 2026"])
def test_parse_cycle_bad(text: str) -> None:
    with pytest.raises(ValueError, match="not a cycle"):
        parse_cycle(text)


def test_cycle_helpers() -> None:
    # rule C1: 12 cycles a year
    assert len(cycles_between("2026-01", "2026-12")) == 12
    assert cycles_between("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert cycles_between("2026-12", "2026-11") == []
    assert shift_cycle("2026-12", 1) == "2027-01"
    assert shift_cycle("2026-01", -1) == "2025-12"
    assert shift_cycle("2026-06", 24) == "2028-06"
    assert cycle_of(date(2026, 12, 15)) == "2026-12"
    assert cycle_start_end("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    assert cycle_start_end("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))


@given(st.integers(min_value=1900, max_value=2100), st.integers(1, 12), st.integers(-500, 500))
def test_shift_cycle_matches_months_between(year: int, month: int, n: int) -> None:
    cycle = f"{year:04d}-{month:02d}"
    shifted = shift_cycle(cycle, n)
    assert parse_cycle(shifted) == shifted
    assert shift_cycle(shifted, -n) == cycle
    if n >= 0:
        assert len(cycles_between(cycle, shifted)) == n + 1


# ---------------------------------------------------------------------------
# Quarters (P1)


@pytest.mark.parametrize(
    ("text", "financial", "cycles"),
    [
        ("2026Q3", False, ("2026-07", "2026-08", "2026-09")),
        ("2026-Q3", False, ("2026-07", "2026-08", "2026-09")),
        ("q3 2026", False, ("2026-07", "2026-08", "2026-09")),
        (" 2026 q1 ", False, ("2026-01", "2026-02", "2026-03")),
        ("2026Q4", False, ("2026-10", "2026-11", "2026-12")),
        ("2026Q1", True, ("2026-04", "2026-05", "2026-06")),
        ("2026Q4", True, ("2027-01", "2027-02", "2027-03")),
        ("Q4 2026/27", True, ("2027-01", "2027-02", "2027-03")),
        ("2026-27 Q2", True, ("2026-07", "2026-08", "2026-09")),
    ],
)
def test_parse_quarter(text: str, financial: bool, cycles: tuple[str, ...]) -> None:
    assert parse_quarter(text, financial_year=financial) == cycles


@pytest.mark.parametrize(
    ("text", "financial"),
    [
        ("2026Q5", False),
        ("2026", False),
        ("Q3", False),
        ("2026/27 Q1", False),
        ("2026/28 Q1", True),
    ],
)
def test_parse_quarter_bad(text: str, financial: bool) -> None:
    with pytest.raises(ValueError, match="not a quarter"):
        parse_quarter(text, financial_year=financial)


@pytest.mark.parametrize(
    ("cycle", "financial", "quarter"),
    [
        ("2026-08", False, "2026Q3"),
        ("2026-01", False, "2026Q1"),
        ("2026-12", False, "2026Q4"),
        ("2026-04", True, "2026Q1"),
        ("2026-08", True, "2026Q2"),
        ("2027-02", True, "2026Q4"),
        ("2027-03", True, "2026Q4"),
    ],
)
def test_quarter_of(cycle: str, financial: bool, quarter: str) -> None:
    assert quarter_of(cycle, financial_year=financial) == quarter
    assert cycle in parse_quarter(quarter, financial_year=financial)


# ---------------------------------------------------------------------------
# Dates in cells


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 11, 12), date(2026, 11, 12)),
        (datetime(2026, 11, 12, 14, 30), date(2026, 11, 12)),
        (46000, date(2025, 12, 9)),  # Excel serial, 1900 system
        (46000.75, date(2025, 12, 9)),  # fraction is the time of day
        (46338, date(2026, 11, 12)),
        ("46338", date(2026, 11, 12)),  # a serial that went through CSV
        (61, date(1900, 3, 1)),
        (59, date(1900, 2, 28)),  # before Excel's phantom 29/02/1900
        ("12/11/2026", date(2026, 11, 12)),  # UK day first
        ("03/04/2026", date(2026, 4, 3)),
        ("3/4/26", date(2026, 4, 3)),
        ("1/2/99", date(1999, 2, 1)),
        ("12/11/2026 ", date(2026, 11, 12)),  # trailing space
        ("\u00a012/11/2026", date(2026, 11, 12)),
        ("12.11.2026", date(2026, 11, 12)),
        ("12-11-2026", date(2026, 11, 12)),
        ("12/11/2026 00:00", date(2026, 11, 12)),
        ("12/11/2026 14:05:09", date(2026, 11, 12)),
        ("2026-11-12", date(2026, 11, 12)),
        ("2026-11-12 00:00:00", date(2026, 11, 12)),
        ("2026-11-12T09:15:00", date(2026, 11, 12)),
        ("12 Nov 2026", date(2026, 11, 12)),
        ("12-Nov-2026", date(2026, 11, 12)),
        ("12-nov-26", date(2026, 11, 12)),
        ("12th November 2026", date(2026, 11, 12)),
        ("1st Sept 2026", date(2026, 9, 1)),
        ("Thursday 12 November 2026", date(2026, 11, 12)),
        ("Thu, 12 Nov 2026", date(2026, 11, 12)),
        ("November 12, 2026", date(2026, 11, 12)),
    ],
)
def test_parse_date_good(value: object, expected: date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", [None, "", "   ", "\u00a0", float("nan")])
def test_parse_date_blank_is_none(value: object) -> None:
    assert parse_date(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "31/02/2026",  # no such day
        "29/02/2026",
        "11/14/2024",  # US order is not guessed
        "2026-13-01",
        "12 Smarch 2026",
        "tomorrow",
        "12/11",
        "N/A",
        60,  # Excel's phantom 29/02/1900
        0,
        -5,
        True,
        [2026, 11, 12],
    ],
)
def test_parse_date_bad(value: object) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        parse_date(value)


def test_parse_date_pandas_missing_values() -> None:
    pd = pytest.importorskip("pandas")
    assert parse_date(pd.NaT) is None
    assert parse_date(pd.Timestamp("2026-11-12 10:00")) == date(2026, 11, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11/14/2024 10:02:31 AM", datetime(2024, 11, 14, 10, 2, 31)),
        ("11/14/2024 10:02:31 PM", datetime(2024, 11, 14, 22, 2, 31)),
        ("11/14/2024 12:02:31 AM", datetime(2024, 11, 14, 0, 2, 31)),
        ("11/14/2024 12:02:31 PM", datetime(2024, 11, 14, 12, 2, 31)),
        ("1/2/2025 9:05 am", datetime(2025, 1, 2, 9, 5)),
        ("01/02/2025 21:05:00", datetime(2025, 1, 2, 21, 5)),
        ("11/14/2024", datetime(2024, 11, 14)),
        (" 11/14/2024 10:02:31 AM ", datetime(2024, 11, 14, 10, 2, 31)),
        ("2024-11-14 10:02:31", datetime(2024, 11, 14, 10, 2, 31)),
    ],
)
def test_parse_us_datetime(text: str, expected: datetime) -> None:
    assert parse_us_datetime(text) == expected


@pytest.mark.parametrize("text", ["14/11/2024 10:02:31 AM", "11/14/2024 13:02 PM", "", "soon"])
def test_parse_us_datetime_bad(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date and time"):
        parse_us_datetime(text)


# ---------------------------------------------------- command-line days and months (F20)


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_parse_day_reads_iso_and_uk_day_first_alike(d: date) -> None:
    from qaf.calendar import parse_day

    assert parse_day(d.isoformat()) == d
    assert parse_day(d.strftime("%d/%m/%Y")) == d
    assert parse_day(f"{d.day}/{d.month}/{d.year:04d}") == d
    assert parse_day(f" {d.day:02d}-{d.month:02d}-{d.year:04d} ") == d
    assert parse_day(f"{d.day:02d}.{d.month:02d}.{d.year:04d}") == d


@given(st.text(max_size=12))
def test_parse_day_returns_a_date_or_says_what_is_expected(text: str) -> None:
    from qaf.calendar import parse_day

    try:
        result = parse_day(text)
    except ValueError as e:
        assert "is not a date" in str(e) and "dd/mm/yyyy" in str(e)
    else:
        assert isinstance(result, date)


@pytest.mark.parametrize(
    "text,message",
    [
        ("31/11/2026", "there is no day 31/11/2026"),
        ("12/14/2026", "there is no day 12/14/2026"),  # US order is not guessed
        ("2026/12/07", 'expected dd/mm/yyyy or YYYY-MM-DD, e.g. "07/12/2026"'),
        ("07/12/26", "expected dd/mm/yyyy"),  # the year in full on the command line
        ("tomorrow", "expected dd/mm/yyyy"),
    ],
)
def test_parse_day_refuses_with_reasons(text: str, message: str) -> None:
    from qaf.calendar import parse_day

    with pytest.raises(ValueError, match=re.escape(message)):
        parse_day(text)


@given(st.integers(1, 9999), st.integers(1, 12))
def test_parse_month_reads_numbers_and_names(year: int, month: int) -> None:
    from qaf.calendar import parse_month

    cycle = f"{year:04d}-{month:02d}"
    name = date(2000, month, 1).strftime("%B")
    for text in (cycle, f"{name} {year:04d}", f"{name[:3]} {year:04d}", f"{month}/{year:04d}"):
        assert parse_month(text) == cycle
    assert parse_month(f"  {name.upper()}-{year:04d} ") == cycle


@pytest.mark.parametrize("text", ["2026-13", "13/2026", "Dec", "Decembre 2026", "2026", ""])
def test_parse_month_refuses_with_the_expected_forms(text: str) -> None:
    from qaf.calendar import parse_month

    with pytest.raises(ValueError, match=r'expected YYYY-MM or a month and year, e\.g\. "2026-12"'):
        parse_month(text)


@pytest.mark.parametrize(
    ("text", "near", "expected"),
    [
        ("3rd Oct", date(2026, 10, 20), date(2026, 10, 3)),
        ("2-Jan", date(2026, 12, 20), date(2027, 1, 2)),  # Excel's display of "2 January"
        ("18 dec", date(2027, 1, 8), date(2026, 12, 18)),
        ("29 Feb", date(2027, 11, 1), date(2028, 2, 29)),  # the only February 29 near
        ("12/10/2026", date(2026, 10, 20), None),  # has its year: not this function's
        ("Dec 18", date(2027, 1, 8), None),  # month first: not read without a year
    ],
)
def test_rule_i3_a_day_and_month_without_a_year_takes_the_nearest_year(
    text: str, near: date, expected: date | None
) -> None:
    from qaf.calendar import year_less_date

    assert year_less_date(text, near) == expected


def test_rule_i3_an_impossible_day_without_a_year_is_an_error() -> None:
    from qaf.calendar import year_less_date

    with pytest.raises(ValueError, match="no day 31 in that month"):
        year_less_date("31 Feb", date(2026, 10, 20))
