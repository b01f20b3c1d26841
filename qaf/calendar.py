"""Working days, bank holidays, durations, monthly audit cycles and due dates.

A **working day** is Monday to Friday except the bank holidays of the chosen
region (England & Wales by default, with substitute days and one-offs such as
the 2022-09-19 state funeral and the 2023-05-08 coronation, taken from the
``holidays`` package with ``subdiv="ENG"``) and any extra local closure days
from the configuration (e.g. a council's Christmas closure).

Counting convention, used everywhere in qaf:

* ``working_days_between(start, end)`` counts the working days ``w`` with
  ``start < w <= end``: it **excludes its first day and includes its last**.
  With ``start`` = due date and ``end`` = today it is "working days late":
  due Monday, today Tuesday -> 1 working day late; today = due date -> 0.
* ``add_working_days(d, n)`` is the n-th working day *after* ``d`` (``d`` itself
  is not counted), so ``working_days_between(d, add_working_days(d, n)) == n``.

A **cycle** is one month, written ``"YYYY-MM"`` (rule C1: 12 a year); it runs
from its first working day (the allocation date) to its last working day
(rule C2). Due dates are computed by :meth:`WorkingCalendar.due_date`.

Speed: a calendar keeps a sorted list of the ordinal numbers of its working
days for a contiguous range of years, extended lazily as dates outside it are
touched; counting and adding working days are two binary searches
(``O(log n)``), never a day-by-day loop. Holiday tables are cached per region
and year for the whole process, so constructing a calendar is cheap.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, cast

from dateutil.relativedelta import relativedelta

Unit = Literal["working_days", "days", "weeks", "hours", "months"]

# ---------------------------------------------------------------------------
# Regions and holiday tables

REGIONS: Mapping[str, str] = {
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}
# Other spellings people put in a config file, folded by _region_key.
_REGION_ALIASES: Mapping[str, str] = {
    "england and wales": "england-and-wales",
    "england": "england-and-wales",
    "eng": "england-and-wales",
    "ew": "england-and-wales",
    "e&w": "england-and-wales",
    "sct": "scotland",
    "northern ireland": "northern-ireland",
    "nir": "northern-ireland",
    "ni": "northern-ireland",
}

LOCAL_CLOSURE = "Local closure"


def region_subdivision(region: str) -> str:
    """The ``holidays`` subdivision code of a region name; ValueError if unknown."""
    key = re.sub(r"[\s_\-]+", " ", region.strip().casefold())
    name = _REGION_ALIASES.get(key, key.replace(" ", "-"))
    if name not in REGIONS:
        allowed = ", ".join(f'"{r}"' for r in REGIONS)
        raise ValueError(f'unknown bank holiday region "{region}": expected one of {allowed}')
    return REGIONS[name]


@lru_cache(maxsize=1024)
def _bank_holidays(subdiv: str, year: int) -> Mapping[date, str]:
    """Bank holidays of one UK subdivision in one year (cached per process and on disk)."""
    if year < 1 or year > 9999:
        return {}
    cached = _disk_cache().get(f"{subdiv}:{year}")
    if cached is not None:
        return {date.fromisoformat(d): name for d, name in cached.items()}
    table = _from_library(subdiv, year)
    if CACHE_FIRST_YEAR <= year <= CACHE_LAST_YEAR:
        _fill_disk_cache(subdiv)
    return table


def _from_library(subdiv: str, year: int) -> dict[date, str]:
    import holidays  # imported lazily: it loads every country (~0.2 s)

    table = holidays.country_holidays("GB", subdiv=subdiv, years=year)
    return {d: str(name) for d, name in table.items() if d.year == year}


# The holidays package is the source of truth; importing it costs every command ~0.2 s,
# so its UK tables are kept in a small JSON file keyed by the package's version.
CACHE_FIRST_YEAR, CACHE_LAST_YEAR = 2000, 2045
_DISK: dict[str, dict[str, str]] | None = None


def _holidays_version() -> str | None:
    """The installed holidays package's version, from the name of its ``.dist-info``
    folder (importing ``importlib.metadata`` to ask costs every command ~15 ms)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("holidays")
        if spec is not None and spec.origin:
            found = list(Path(spec.origin).parent.parent.glob("holidays-*.dist-info"))
            if len(found) == 1:
                return found[0].name[len("holidays-") : -len(".dist-info")]
        from importlib.metadata import version

        return version("holidays")
    except Exception:
        return None


def _cache_file() -> Path | None:
    ver = _holidays_version()
    if ver is None:
        return None
    from qaf.cachedir import cache_folder

    return cache_folder() / f"bank-holidays-{ver}.json"


def _disk_cache() -> dict[str, dict[str, str]]:
    global _DISK
    if _DISK is None:
        _DISK = {}
        path = _cache_file()
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    _DISK = data
            except (OSError, ValueError):
                pass  # a broken cache is rebuilt from the library
    return _DISK


def _fill_disk_cache(subdiv: str) -> None:
    """Compute every cached year of ``subdiv`` once and save them (best effort)."""
    cache = _disk_cache()
    for year in range(CACHE_FIRST_YEAR, CACHE_LAST_YEAR + 1):
        key = f"{subdiv}:{year}"
        if key not in cache:
            cache[key] = {d.isoformat(): n for d, n in sorted(_from_library(subdiv, year).items())}
    path = _cache_file()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: the library is asked again next time


# ---------------------------------------------------------------------------
# Durations

_UNIT_WORDS: Mapping[str, Unit] = {
    "working day": "working_days",
    "working days": "working_days",
    "work day": "working_days",
    "work days": "working_days",
    "workday": "working_days",
    "workdays": "working_days",
    "business day": "working_days",
    "business days": "working_days",
    "wd": "working_days",
    "wds": "working_days",
    "day": "days",
    "days": "days",
    "calendar day": "days",
    "calendar days": "days",
    "d": "days",
    "week": "weeks",
    "weeks": "weeks",
    "calendar week": "weeks",
    "calendar weeks": "weeks",
    "wk": "weeks",
    "wks": "weeks",
    "w": "weeks",
    "hour": "hours",
    "hours": "hours",
    "hr": "hours",
    "hrs": "hours",
    "h": "hours",
    "month": "months",
    "months": "months",
    "calendar month": "months",
    "calendar months": "months",
}

_NUMBER_WORDS: Mapping[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "twenty": 20,
    "twenty four": 24,
    "forty eight": 48,
    "seventy two": 72,
}

_UNIT_NAMES: Mapping[Unit, tuple[str, str]] = {
    "working_days": ("working day", "working days"),
    "days": ("day", "days"),
    "weeks": ("week", "weeks"),
    "hours": ("hour", "hours"),
    "months": ("month", "months"),
}


@dataclass(frozen=True)
class Duration:
    """An amount of time as the framework documents state it ("2 working days")."""

    amount: int
    unit: Unit

    def __str__(self) -> str:
        one, many = _UNIT_NAMES[self.unit]
        return f"{self.amount} {one if abs(self.amount) == 1 else many}"


def parse_duration(text: str) -> Duration:
    """Read "2 working days", "1 working day", "2 wd", "4 weeks", "7 days", "48 hours",
    "3 months", "1 calendar month" (any case and spacing; "two weeks" also works).

    Units: working days (also "wd", "business days"), days (calendar days), weeks,
    hours, months (calendar months). Raises ValueError naming the accepted forms.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration: expected text such as '2 working days'")
    t = re.sub(r"[\s_\-]+", " ", text.replace("\u00a0", " ").strip().casefold())
    t = t.rstrip(".")
    amount: int | None = None
    unit: Unit | None = None
    m = re.match(r"^(\d+)\s*([a-z& ]+)$", t)
    if m:
        amount, unit = int(m.group(1)), _UNIT_WORDS.get(m.group(2).strip())
    else:
        tokens = t.split(" ")
        for k in (2, 1):
            number = _NUMBER_WORDS.get(" ".join(tokens[:k]))
            if number is not None and len(tokens) > k:
                amount, unit = number, _UNIT_WORDS.get(" ".join(tokens[k:]))
                break
    if amount is None or unit is None:
        raise ValueError(
            f'"{text}" is not a duration: expected a whole number and a unit, such as '
            '"2 working days", "2 wd", "4 weeks", "7 days", "48 hours" or "3 months"'
        )
    return Duration(amount, unit)


# ---------------------------------------------------------------------------
# The working calendar


class WorkingCalendar:
    """Working days of one region, plus extra local closure days.

    ``extra_closures`` may be dates or a mapping of date to a name
    ("Council Christmas closure"); a closure on a weekend changes nothing.
    Construction is cheap: nothing is computed until a date is asked about.
    """

    def __init__(
        self,
        region: str = "england-and-wales",
        extra_closures: Iterable[date] = (),
    ) -> None:
        self.region = region
        self._subdiv = region_subdivision(region)
        names: dict[date, str] = {}
        if isinstance(extra_closures, Mapping):
            items = cast(Mapping[date, str], extra_closures)
            for d, name in items.items():
                names[_as_date(d)] = str(name) if name else LOCAL_CLOSURE
        else:
            for d in extra_closures:
                names[_as_date(d)] = LOCAL_CLOSURE
        self._closures: Mapping[date, str] = names
        self._closure_years: dict[int, frozenset[int]] = {}
        for d in names:
            self._closure_years[d.year] = self._closure_years.get(d.year, frozenset()) | {
                d.toordinal()
            }
        # Sorted ordinals of every working day in years [_lo, _hi]; empty until first use.
        self._days: list[int] = []
        self._lo = 0
        self._hi = -1

    def __repr__(self) -> str:
        extra = f", {len(self._closures)} extra closures" if self._closures else ""
        return f"WorkingCalendar({self.region!r}{extra})"

    # -- single days --------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Monday-Friday and neither a bank holiday nor a local closure."""
        d = _as_date(d)
        if d.weekday() >= 5:
            return False
        if d in _bank_holidays(self._subdiv, d.year):
            return False
        return d not in self._closures

    def holiday_name(self, d: date) -> str | None:
        """The bank holiday's (or local closure's) name on ``d``, else None.

        A bank holiday falling on a weekend still has its name ("Christmas Day"
        on Saturday 2021-12-25); the substitute day is "Christmas Day (observed)".
        """
        d = _as_date(d)
        name = _bank_holidays(self._subdiv, d.year).get(d)
        if name is not None:
            return name
        return self._closures.get(d)

    def roll_forward(self, d: date) -> date:
        """``d`` if it is a working day, else the next working day."""
        d = _as_date(d)
        o = d.toordinal()
        self._cover(d.year, d.year + 1)
        i = bisect_left(self._days, o)
        while i >= len(self._days):
            self._grow(0, 1)
            i = bisect_left(self._days, o)
        return date.fromordinal(self._days[i])

    def roll_back(self, d: date) -> date:
        """``d`` if it is a working day, else the previous working day."""
        d = _as_date(d)
        o = d.toordinal()
        self._cover(d.year - 1, d.year)
        i = bisect_right(self._days, o) - 1
        while i < 0:
            self._grow(1, 0)
            i = bisect_right(self._days, o) - 1
        return date.fromordinal(self._days[i])

    # -- counting -----------------------------------------------------------

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after ``d`` (``d`` itself is not counted).

        ``n = 0`` gives ``roll_forward(d)``; a negative ``n`` goes back: the
        |n|-th working day before ``d``. Friday + 1 = Monday; Saturday + 1 = Monday;
        Thursday 2026-04-02 + 1 = Tuesday 2026-04-07 (Good Friday, Easter Monday).
        """
        d = _as_date(d)
        if n == 0:
            return self.roll_forward(d)
        o = d.toordinal()
        if n > 0:
            self._cover(d.year, d.year + n // 240 + 1)
            while True:
                i = bisect_right(self._days, o) + n - 1
                if i < len(self._days):
                    return date.fromordinal(self._days[i])
                self._grow(0, (i - len(self._days)) // 240 + 1)
        self._cover(d.year + n // 240 - 1, d.year)
        while True:
            i = bisect_left(self._days, o) + n
            if i >= 0:
                return date.fromordinal(self._days[i])
            self._grow(-i // 240 + 1, 0)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days ``w`` with ``start < w <= end``: excludes ``start``, includes ``end``.

        Negative (minus the mirror count) when ``end < start``; 0 when equal. With
        ``start`` = due date and ``end`` = today this is "working days late" (rule T4).
        Antisymmetric and additive: between(a, b) + between(b, c) == between(a, c).
        """
        start = _as_date(start)
        end = _as_date(end)
        if start == end:
            return 0
        if end < start:
            return -self.working_days_between(end, start)
        self._cover(start.year, end.year)
        days = self._days
        return bisect_right(days, end.toordinal()) - bisect_right(days, start.toordinal())

    def working_days(self, start: date, end: date) -> list[date]:
        """The working days from ``start`` to ``end``, both included, in order."""
        start = _as_date(start)
        end = _as_date(end)
        if end < start:
            return []
        self._cover(start.year, end.year)
        days = self._days
        lo = bisect_left(days, start.toordinal())
        hi = bisect_right(days, end.toordinal())
        return [date.fromordinal(o) for o in days[lo:hi]]

    def add(self, d: date, duration: Duration) -> date:
        """``d`` plus a duration.

        * working days: :meth:`add_working_days` (a working day);
        * days, weeks: calendar arithmetic; months: ``relativedelta`` (31 Jan + 1 month
          = 28/29 Feb). These are calendar dates and are **not** rolled to a working
          day: a deadline on a Saturday is fine for "late after the deadline";
        * hours: ``ceil(hours / 24)`` working days, so "48 hours" = 2 working days
          (rule T3, Bedford §3: remedial actions notified within 48 hours).
        """
        d = _as_date(d)
        n = duration.amount
        unit = duration.unit
        if unit == "working_days":
            return self.add_working_days(d, n)
        if unit == "days":
            return d + timedelta(days=n)
        if unit == "weeks":
            return d + timedelta(weeks=n)
        if unit == "months":
            return d + relativedelta(months=n)
        if unit == "hours":
            wd = math.ceil(abs(n) / 24)
            return self.add_working_days(d, wd if n >= 0 else -wd)
        raise ValueError(f"unknown duration unit {unit!r}")

    # -- months and cycles --------------------------------------------------

    def first_working_day(self, year: int, month: int) -> date:
        """The first working day of a month (the allocation date of its cycle, rule C2)."""
        first = date(year, month, 1)
        d = self.roll_forward(first)
        if (d.year, d.month) != (year, month):
            raise ValueError(f"{year:04d}-{month:02d} has no working day")
        return d

    def last_working_day(self, year: int, month: int) -> date:
        """The last working day of a month (the default due date of its cycle, rule C2)."""
        last = date(year, month, 1) + relativedelta(months=1, days=-1)
        d = self.roll_back(last)
        if (d.year, d.month) != (year, month):
            raise ValueError(f"{year:04d}-{month:02d} has no working day")
        return d

    def cycle_window(self, cycle: str) -> tuple[date, date]:
        """First and last working day of a cycle: the cycle runs between them (C1, C2)."""
        year, month = _cycle_parts(cycle)
        return self.first_working_day(year, month), self.last_working_day(year, month)

    def due_date(self, cycle: str, rule: str) -> date:
        """Due date of an allocation made in ``cycle`` under a due rule (rule C2).

        * ``"last-working-day"``: the last working day of the cycle month (Haringey);
        * a duration (``"4 weeks"``, ``"20 working days"``, ``"28 days"``, ``"1 month"``):
          counted from the cycle's first working day (the allocation date) and
          rolled forward to a working day (Lancashire: 4 weeks).
        """
        year, month = _cycle_parts(cycle)
        key = re.sub(r"[\s_\-]+", " ", rule.strip().casefold())
        if key in ("last working day", "last working day of month", "end of cycle"):
            return self.last_working_day(year, month)
        try:
            duration = parse_duration(rule)
        except ValueError:
            raise ValueError(
                f'"{rule}" is not a due rule: expected "last-working-day" or a duration '
                'such as "4 weeks", "20 working days" or "1 month"'
            ) from None
        start = self.first_working_day(year, month)
        return self.roll_forward(self.add(start, duration))

    # -- internals ----------------------------------------------------------

    def _cover(self, y0: int, y1: int) -> None:
        """Make ``self._days`` hold every working day of the years ``y0..y1``.

        Years outside those a ``date`` can hold are ignored (see ``_grow``).
        """
        if self._lo <= y0 and y1 <= self._hi:
            return
        y0 = max(y0, date.min.year)
        y1 = min(y1, date.max.year)
        if self._hi < self._lo:
            self._days = self._year_days(y0, y1)
            self._lo, self._hi = y0, y1
            return
        if y0 < self._lo:
            self._days = self._year_days(y0, self._lo - 1) + self._days
            self._lo = y0
        if y1 > self._hi:
            self._days.extend(self._year_days(self._hi + 1, y1))
            self._hi = y1

    def _grow(self, back: int, forward: int) -> None:
        """Cover ``back`` more years before and ``forward`` more after the current range."""
        if (back and self._lo <= date.min.year) or (forward and self._hi >= date.max.year):
            raise OverflowError("date value out of range")
        self._cover(self._lo - back, self._hi + forward)

    def _year_days(self, y0: int, y1: int) -> list[int]:
        out: list[int] = []
        for year in range(y0, y1 + 1):
            closed = {d.toordinal() for d in _bank_holidays(self._subdiv, year)}
            closed |= self._closure_years.get(year, frozenset())
            out.extend(_weekday_ordinals(year) if not closed else _open(year, closed))
        return out


@lru_cache(maxsize=512)
def _weekday_ordinals(year: int) -> tuple[int, ...]:
    """Ordinals of every Monday-Friday in a year."""
    first = date(year, 1, 1).toordinal()
    last = date(year, 12, 31).toordinal()
    # date.fromordinal(o).weekday() == (o - 1) % 7 (ordinal 1 is Monday 0001-01-01)
    return tuple(o for o in range(first, last + 1) if (o - 1) % 7 < 5)


def _open(year: int, closed: set[int] | frozenset[int]) -> list[int]:
    return [o for o in _weekday_ordinals(year) if o not in closed]


def _as_date(d: object) -> date:
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    raise TypeError(f"expected a date, got {type(d).__name__}: {d!r}")


# ---------------------------------------------------------------------------
# Cycles and quarters

_CYCLE_RE = re.compile(r"^(\d{4})-(\d{2})$")


def _cycle_parts(cycle: str) -> tuple[int, int]:
    m = _CYCLE_RE.match(cycle.strip()) if isinstance(cycle, str) else None
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1:
        raise ValueError(f'"{cycle}" is not a cycle: expected a month as YYYY-MM, e.g. "2026-12"')
    return int(m.group(1)), int(m.group(2))


def parse_cycle(text: str) -> str:
    """A cycle (one month, rule C1) written strictly as ``YYYY-MM``: "2026-12".

    Surrounding spaces are ignored; "2026-1", "12/2026", "2026-13" raise ValueError.
    """
    year, month = _cycle_parts(text)
    return f"{year:04d}-{month:02d}"


def uk_date(d: date | str) -> str:
    """A date as people in England read it, dd/mm/yyyy, for messages and tables (an ISO
    string is accepted too); JSON and CSV keep ISO dates."""
    day = date.fromisoformat(d[:10]) if isinstance(d, str) else d
    return f"{day:%d/%m/%Y}"


def cycle_of(d: date) -> str:
    """The cycle a date falls in: 2026-12-15 -> "2026-12"."""
    d = _as_date(d)
    return f"{d.year:04d}-{d.month:02d}"


def cycle_start_end(cycle: str) -> tuple[date, date]:
    """Calendar first and last day of a cycle's month (see also ``cycle_window``)."""
    year, month = _cycle_parts(cycle)
    first = date(year, month, 1)
    return first, first + relativedelta(months=1, days=-1)


def shift_cycle(cycle: str, n: int) -> str:
    """The cycle ``n`` months later (earlier if negative): ("2026-12", 1) -> "2027-01"."""
    year, month = _cycle_parts(cycle)
    index = year * 12 + (month - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def cycles_between(first: str, last: str) -> list[str]:
    """Every cycle from ``first`` to ``last``, both included; empty if last < first."""
    y0, m0 = _cycle_parts(first)
    y1, m1 = _cycle_parts(last)
    a = y0 * 12 + m0 - 1
    b = y1 * 12 + m1 - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(a, b + 1)]


_QUARTER_YEAR = r"(\d{4})(?:\s*[/-]\s*(\d{2}|\d{4}))?"
_QUARTER_RES = (
    re.compile(rf"^{_QUARTER_YEAR}\s*[-/ ]?\s*q([1-4])$"),
    re.compile(rf"^q([1-4])\s*[-/ ]?\s*(?:fy\s*)?{_QUARTER_YEAR}$"),
)


def parse_quarter(text: str, financial_year: bool = False) -> tuple[str, ...]:
    """The three cycles of a quarter: "2026Q3" -> ("2026-07", "2026-08", "2026-09").

    Accepts "2026Q3", "2026-Q3", "2026 Q3", "Q3 2026", any case. With
    ``financial_year`` the year is the one the financial year starts in (April):
    "2026Q1" -> April-June 2026, "2026Q4" -> January-March 2027; the forms
    "2026/27 Q1" and "Q1 2026-27" are then accepted too.
    """
    t = re.sub(r"\s+", " ", str(text).strip().casefold())
    year = quarter = None
    second: str | None = None
    m = _QUARTER_RES[0].match(t)
    if m:
        year, second, quarter = int(m.group(1)), m.group(2), int(m.group(3))
    else:
        m = _QUARTER_RES[1].match(t)
        if m:
            quarter, year, second = int(m.group(1)), int(m.group(2)), m.group(3)
    if year is None or quarter is None:
        raise ValueError(f'"{text}" is not a quarter: expected e.g. "2026Q3" or "Q3 2026"')
    if second is not None:
        following = int(second) if len(second) == 4 else (year // 100) * 100 + int(second)
        if not financial_year or following != year + 1:
            raise ValueError(
                f'"{text}" is not a quarter: a year range such as "2026/27" is only for '
                "financial years and must name consecutive years"
            )
    first_month = 3 * (quarter - 1) + (4 if financial_year else 1)
    start = f"{year:04d}-01"
    return tuple(shift_cycle(start, first_month - 1 + i) for i in range(3))


def quarter_of(cycle: str, financial_year: bool = False) -> str:
    """The quarter a cycle falls in: "2026-08" -> "2026Q3"; financial: "2027-02" -> "2026Q4"."""
    year, month = _cycle_parts(cycle)
    if financial_year:
        if month < 4:
            year -= 1
        month = (month - 4) % 12 + 1
    return f"{year:04d}Q{(month - 1) // 3 + 1}"


# ---------------------------------------------------------------------------
# Dates in cells

_EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_EXCEL_MAX_SERIAL = date.max.toordinal() - _EXCEL_EPOCH

_MONTHS: Mapping[str, int] = {
    name: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_WEEKDAY = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*,?\s+)?"
_TIME = r"(?:[ t]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:am|pm)?(?:z|[+-]\d{2}:?\d{2})?)?"
_NUMERIC_DMY = re.compile(
    rf"^(\d{{1,2}})\s*([/.\-])\s*(\d{{1,2}})\s*\2\s*(\d{{2}}|\d{{4}}){_TIME}$"
)
_ISO = re.compile(rf"^(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME}$")
_ISO_SLASH = re.compile(rf"^(\d{{4}})/(\d{{1,2}})/(\d{{1,2}}){_TIME}$")
_TEXT_DMY = re.compile(
    rf"^{_WEEKDAY}(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?[\s\-/.]*([a-z]+)\.?,?[\s\-/.]*"
    rf"(\d{{2}}|\d{{4}}){_TIME}$"
)
_TEXT_MDY = re.compile(
    rf"^{_WEEKDAY}([a-z]+)\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}}){_TIME}$"
)
_SERIAL_TEXT = re.compile(r"^\d{5}(?:\.\d+)?$")


def _full_year(y: str) -> int:
    """Two-digit years: 00-68 -> 2000s, 69-99 -> 1900s (the POSIX / Python rule)."""
    n = int(y)
    if len(y) == 2:
        return n + (2000 if n < 69 else 1900)
    return n


def _excel_serial(value: float, original: object) -> date:
    if not math.isfinite(value) or value < 1 or value >= _EXCEL_MAX_SERIAL + 1:
        raise ValueError(f"{original!r} is not a date (not an Excel date serial number)")
    whole = int(value)
    if whole == 60:
        raise ValueError(f"{original!r} is not a date (Excel serial 60 is 29/02/1900)")
    if whole < 60:  # Excel's 1900 leap-year bug: serials before 1 March 1900 are off by one
        whole += 1
    return date.fromordinal(_EXCEL_EPOCH + whole)


def _build(year: int, month: int, day: int, original: object) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(
            f"{original!r} is not a date (no day {day:02d}/{month:02d}/{year:04d}; "
            "dates are read day first, dd/mm/yyyy)"
        ) from None


def parse_date(value: object) -> date | None:
    """A spreadsheet or CSV cell as a date.

    Accepts ``date``/``datetime`` objects (pandas ``Timestamp`` too); Excel serial
    numbers in the 1900 system (46000 -> 2025-12-09; any fraction is the time and
    is dropped); text "dd/mm/yyyy", "d/m/yy", "dd.mm.yyyy", "dd-mm-yyyy",
    "yyyy-mm-dd", "12 Nov 2026", "12-Nov-2026", "12th November 2026",
    "Thursday 12 November 2026", "November 12, 2026", each optionally followed by
    a time (dropped). Numeric dates are always read **day first** (UK): "03/04/2026"
    is 3 April, and "11/14/2024" is rejected, not silently read as US. Two-digit
    years: 00-68 -> 20xx, 69-99 -> 19xx.

    Returns None for a blank cell (None, empty or whitespace text, NaN/NaT);
    raises ``ValueError("... is not a date")`` for anything else.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value != value:  # pandas NaT
            return None
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        return _excel_serial(number, value)
    if not isinstance(value, str):
        if value != value:  # NaT and other "missing" markers
            return None
        raise ValueError(f"{value!r} is not a date")
    text = value.replace("\u00a0", " ").strip()
    if not text:
        return None
    t = re.sub(r"\s+", " ", text.casefold())
    if _SERIAL_TEXT.match(t):
        return _excel_serial(float(t), value)
    m = _NUMERIC_DMY.match(t)
    if m:
        return _build(_full_year(m.group(4)), int(m.group(3)), int(m.group(1)), value)
    m = _ISO.match(t) or _ISO_SLASH.match(t)
    if m:
        return _build(int(m.group(1)), int(m.group(2)), int(m.group(3)), value)
    m = _TEXT_DMY.match(t)
    if m and m.group(2) in _MONTHS:
        return _build(_full_year(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)), value)
    m = _TEXT_MDY.match(t)
    if m and m.group(1) in _MONTHS:
        return _build(int(m.group(3)), _MONTHS[m.group(1)], int(m.group(2)), value)
    raise ValueError(
        f"{value!r} is not a date (expected e.g. 12/11/2026, 2026-11-12 or 12 Nov 2026)"
    )


_US_DATETIME = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4})"
    r"(?:[ t]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(am|pm)?)?$"
)


def parse_us_datetime(text: str) -> datetime:
    """A SurveyMonkey timestamp, month first: "11/14/2024 10:02:31 AM".

    Seconds and AM/PM are optional (24-hour time without AM/PM); a date alone is
    midnight. ISO "2024-11-14 10:02:31" is accepted too (re-saved exports).
    """
    t = re.sub(r"\s+", " ", str(text).replace("\u00a0", " ").strip().casefold())
    m = _US_DATETIME.match(t)
    if m:
        month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hour = int(m.group(4) or 0)
        minute = int(m.group(5) or 0)
        second = int(m.group(6) or 0)
        ampm = m.group(7)
        if ampm:
            if not 1 <= hour <= 12:
                raise ValueError(f"{text!r} is not a date and time (hour {hour} with {ampm})")
            hour = hour % 12 + (12 if ampm == "pm" else 0)
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date and time (expected month first, "
                "e.g. 11/14/2024 10:02:31 AM)"
            ) from None
    try:
        return datetime.fromisoformat(t.upper())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date and time (expected month first, e.g. 11/14/2024 10:02:31 AM)"
        ) from None


# ------------------------------------------------------------ dates in a known order

DateOrder = Literal["day-first", "month-first"]
DATE_ORDERS: tuple[DateOrder, ...] = ("day-first", "month-first")

_NUMERIC_DATE = re.compile(
    r"^(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{2}|\d{4})"
    r"(?:[ t]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(am|pm)?)?$"
)
# Excel's "d-mmm" display of a date typed without a year ("2-Jan"): the year is lost.
_DAY_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?[\s\-/.]*([a-z]+)\.?$")


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def numeric_date_readings(value: object) -> tuple[date | None, date | None] | None:
    """(day-first reading, month-first reading) of a numeric date such as "03/12/2026" or
    "12/01/2026 09:14:00 AM" (each None when impossible); None when ``value`` is not
    written that way. Equal readings (05/05/2026) are not ambiguous."""
    if not isinstance(value, str):
        return None
    t = re.sub(r"\s+", " ", value.replace("\u00a0", " ").strip().casefold())
    m = _NUMERIC_DATE.match(t)
    if not m:
        return None
    a, b, year = int(m.group(1)), int(m.group(3)), _full_year(m.group(4))
    if m.group(5) is not None:
        hour, minute, second = int(m.group(5)), int(m.group(6)), int(m.group(7) or 0)
        if minute > 59 or second > 59 or hour > (12 if m.group(8) else 23):
            return None, None
    return _date_or_none(year, b, a), _date_or_none(year, a, b)


def parse_ordered_date(value: object, order: DateOrder, *, near: date | None = None) -> date | None:
    """A date written by a system whose numeric order is known (a SurveyMonkey Date/Time
    answer, its Start/End Date), also after a trip through Excel.

    Numeric dates ("12/01/2026", "12/1/26", "12-01-2026", with an optional time
    "09:14:00 AM" or "21:14", which is dropped) are read in ``order``; one that is only
    valid the other way round is an error saying so. Everything ``parse_date`` reads is
    read too: ISO dates, Excel serial numbers ("46022"), month names ("02-Jan-26",
    "12 November 2026"). Excel's "2-Jan" (a date without its year) takes the year that
    puts it nearest to ``near`` (e.g. the day the response was submitted); without
    ``near`` it is an error. Blank -> None; anything else raises ``ValueError``.
    """
    readings = numeric_date_readings(value)
    if readings is not None:
        day_first, month_first = readings
        chosen, other = (day_first, month_first) if order == "day-first" else readings[::-1]
        if chosen is not None:
            return chosen
        shape = "dd/mm/yyyy" if order == "day-first" else "mm/dd/yyyy"
        hint = (
            f"; read the other way round it would be {other.day} {MONTH_NAMES[other.month]} "
            f"{other.year}: check the date order"
            if other is not None
            else ""
        )
        raise ValueError(f"{value!r} is not a date read {order.replace('-', ' ')} ({shape}){hint}")
    if _day_and_month(value) is not None:
        return year_less_date(value, near)
    return parse_date(value)


def _day_and_month(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    t = re.sub(r"\s+", " ", value.replace("\u00a0", " ").strip().casefold())
    m = _DAY_MONTH.match(t)
    return (int(m.group(1)), _MONTHS[m.group(2)]) if m and m.group(2) in _MONTHS else None


def year_less_date(value: object, near: date | None) -> date | None:
    """A day and month written without a year ("3rd Oct", Excel's "2-Jan") in the year
    that puts it nearest ``near``; None when ``value`` is not written that way. Raises
    ``ValueError`` for an impossible day ("31 Feb") or when there is no ``near``."""
    day_month = _day_and_month(value)
    if day_month is None:
        return None
    return _nearest_year(day_month[0], day_month[1], near, value)


MONTH_NAMES = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _nearest_year(day: int, month: int, near: date | None, original: object) -> date:
    if near is None:
        raise ValueError(
            f"{original!r} has no year (Excel shows a date typed without one like this); "
            "write the full date"
        )
    candidates = [
        d for y in (near.year - 1, near.year, near.year + 1) if (d := _date_or_none(y, month, day))
    ]
    if not candidates:
        raise ValueError(f"{original!r} is not a date (no day {day} in that month)")
    return min(candidates, key=lambda d: (abs((d - near).days), d))


# ---------------------------------------------------------------------------
# Dates and months typed on the command line (F20)

_MONTH_TEXT = re.compile(r"^([a-z]+)\.?[\s\-/]*(\d{4})$")
_MONTH_NUMERIC = re.compile(r"^(\d{1,2})\s*[/.\-]\s*(\d{4})$")
_DAY_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_UK = re.compile(r"^(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4})$")


def parse_month(text: str) -> str:
    """A month typed on the command line as a cycle: "2026-12", "Dec 2026", "December 2026",
    "dec-2026" or "12/2026" -> "2026-12" (as "Q3 2026" is accepted for a quarter).

    Raises ValueError saying what is expected.
    """
    t = re.sub(r"\s+", " ", str(text).strip().casefold())
    try:
        return parse_cycle(t)
    except ValueError:
        pass
    year = month = None
    m = _MONTH_TEXT.match(t)
    if m and m.group(1) in _MONTHS:
        year, month = int(m.group(2)), _MONTHS[m.group(1)]
    m = _MONTH_NUMERIC.match(t)
    if m and 1 <= int(m.group(1)) <= 12:
        year, month = int(m.group(2)), int(m.group(1))
    if year is None or month is None or year < 1:
        raise ValueError(
            f'"{text}" is not a month: expected YYYY-MM or a month and year, '
            'e.g. "2026-12" or "Dec 2026"'
        )
    return f"{year:04d}-{month:02d}"


def parse_day(text: str) -> date:
    """A date typed on the command line: YYYY-MM-DD or, as UK users write it, dd/mm/yyyy
    (day first; "-" or "." also separate): "2026-12-07", "07/12/2026", "7/12/2026".

    Raises ValueError saying what is expected (or which day does not exist).
    """
    t = str(text).strip()
    m = _DAY_ISO.match(t)
    if m:
        return _cli_day(int(m.group(1)), int(m.group(2)), int(m.group(3)), text)
    m = _DAY_UK.match(t)
    if m:
        return _cli_day(int(m.group(4)), int(m.group(3)), int(m.group(1)), text)
    raise ValueError(
        f'"{text}" is not a date: expected dd/mm/yyyy or YYYY-MM-DD, e.g. "07/12/2026"'
    )


def _cli_day(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(
            f'"{text}" is not a date: there is no day {day:02d}/{month:02d}/{year:04d} '
            "(dates are day first, dd/mm/yyyy, or YYYY-MM-DD)"
        ) from None
