"""Dates in SurveyMonkey exports (rule I3): Date/Time answers month first or day first
(`[tool.surveymonkey] date_order`, else the order the export's unambiguous dates show, else
an error naming the setting), with a time or without, and the forms Excel leaves when an
export is opened and saved again ("02-Jan-26", "2-Jan", serial numbers)."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qaf.calendar import DateOrder, numeric_date_readings, parse_ordered_date
from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from qaf.register import Register
from qaf.samples.simulate import simulate_answers, write_surveymonkey_export
from qaf.surveymonkey import read_export_csv
from tests.ingest_books import allocation, setup_register

AS_OF = date(2027, 1, 8)
EXCEL_EPOCH = date(1899, 12, 30)
DATE_QUESTION = "Date of audit (dd/mm/yyyy)"


def serial(d: date) -> int:
    return (d - EXCEL_EPOCH).days


# ------------------------------------------------------------------ the parser


@pytest.mark.parametrize(
    "value,order,expected",
    [
        ("12/01/2026", "month-first", date(2026, 12, 1)),
        ("12/01/2026", "day-first", date(2026, 1, 12)),
        ("12/01/2026 09:14:00 AM", "month-first", date(2026, 12, 1)),
        ("12/01/2026 9:14 PM", "month-first", date(2026, 12, 1)),
        ("12/1/2026 21:14", "month-first", date(2026, 12, 1)),  # re-saved by US Excel
        ("12/01/2026 09:14", "day-first", date(2026, 1, 12)),  # re-saved by UK Excel
        (" 12/01/26 ", "month-first", date(2026, 12, 1)),
        ("12-01-2026", "month-first", date(2026, 12, 1)),
        ("12.01.2026", "day-first", date(2026, 1, 12)),
        ("11/14/2024 10:02:31 AM", "month-first", date(2024, 11, 14)),
        ("14/11/2024", "day-first", date(2024, 11, 14)),
        ("05/05/2026", "month-first", date(2026, 5, 5)),
        ("2026-12-01", "day-first", date(2026, 12, 1)),  # ISO, whatever the order
        ("2026-12-01 09:14:00", "month-first", date(2026, 12, 1)),
        ("02-Jan-26", "month-first", date(2026, 1, 2)),  # Excel dd-mmm-yy
        ("2-Jan-2026", "day-first", date(2026, 1, 2)),
        ("1 December 2026", "month-first", date(2026, 12, 1)),
        ("December 1, 2026", "day-first", date(2026, 12, 1)),
        ("46022", "month-first", date(2025, 12, 31)),  # Excel serial number as text
        ("46022.6", "day-first", date(2025, 12, 31)),
        (46022, "day-first", date(2025, 12, 31)),
        ("", "day-first", None),
        (None, "month-first", None),
    ],
)
def test_i3_dates_in_a_known_order(value: object, order: DateOrder, expected: date | None) -> None:
    assert parse_ordered_date(value, order) == expected


@pytest.mark.parametrize(
    "value,near,expected",
    [
        ("2-Jan", date(2026, 1, 20), date(2026, 1, 2)),
        ("2-Jan", date(2025, 12, 20), date(2026, 1, 2)),  # nearest: next January
        ("30-Dec", date(2027, 1, 5), date(2026, 12, 30)),  # nearest: last December
        ("02-Dec", date(2026, 12, 10), date(2026, 12, 2)),
        ("29-Feb", date(2028, 3, 1), date(2028, 2, 29)),
    ],
)
def test_i3_excel_day_month_without_year_takes_the_nearest_year(
    value: str, near: date, expected: date
) -> None:
    assert parse_ordered_date(value, "month-first", near=near) == expected


@pytest.mark.parametrize(
    "value,order,message",
    [
        (
            "11/14/2024",
            "day-first",
            "'11/14/2024' is not a date read day first (dd/mm/yyyy); read the other way round "
            "it would be 14 November 2024: check the date order",
        ),
        (
            "14/11/2024 10:02 AM",
            "month-first",
            "'14/11/2024 10:02 AM' is not a date read month first (mm/dd/yyyy); read the other "
            "way round it would be 14 November 2024: check the date order",
        ),
        ("13/13/2026", "day-first", "'13/13/2026' is not a date read day first (dd/mm/yyyy)"),
        ("12/01/2026 13:14 PM", "month-first", "is not a date read month first"),
        ("2-Jan", "day-first", "'2-Jan' has no year"),
        ("31-Feb", "day-first", "no day 31 in that month"),
        ("soon", "month-first", "'soon' is not a date"),
    ],
)
def test_i3_unreadable_dates_say_why(value: str, order: DateOrder, message: str) -> None:
    near = date(2026, 3, 1) if value == "31-Feb" else None
    with pytest.raises(ValueError) as e:
        parse_ordered_date(value, order, near=near)
    assert message in str(e.value)


@pytest.mark.parametrize(
    "value,readings",
    [
        ("03/12/2026", (date(2026, 12, 3), date(2026, 3, 12))),
        ("15/12/2026", (date(2026, 12, 15), None)),
        ("12/15/2026 9:14 AM", (None, date(2026, 12, 15))),
        ("2026-12-03", None),
        ("02-Jan-26", None),
        (46022, None),
    ],
)
def test_i3_numeric_date_readings(value: object, readings: object) -> None:
    assert numeric_date_readings(value) == readings


@st.composite
def written(draw: st.DrawFn) -> tuple[date, DateOrder, str]:
    """A date as SurveyMonkey or Excel may write it, in a chosen order."""
    d = draw(st.dates(min_value=date(1970, 1, 1), max_value=date(2068, 12, 31)))
    order: DateOrder = draw(st.sampled_from(["day-first", "month-first"]))
    pad = draw(st.booleans())
    a, b = (d.day, d.month) if order == "day-first" else (d.month, d.day)
    first, second = (f"{a:02d}", f"{b:02d}") if pad else (str(a), str(b))
    year = f"{d.year}" if draw(st.booleans()) else f"{d.year % 100:02d}"
    sep = draw(st.sampled_from(["/", "-", "."]))
    time = draw(
        st.sampled_from(["", " 09:14:00 AM", " 9:14 PM", " 21:14", " 12:00:59 am", " 00:05"])
    )
    return d, order, f"{first}{sep}{second}{sep}{year}{time}"


@given(written())
def test_i3_any_date_written_in_its_order_reads_back(case: tuple[date, DateOrder, str]) -> None:
    d, order, text = case
    assert parse_ordered_date(text, order) == d


@given(st.dates(min_value=date(1928, 1, 1), max_value=date(2150, 12, 31)))  # 5-digit serials
def test_i3_excel_serial_numbers_read_back(d: date) -> None:
    assert parse_ordered_date(str(serial(d)), "month-first") == d
    assert parse_ordered_date(f"{serial(d)}.25", "day-first") == d


@given(
    st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31)),
    st.integers(min_value=-150, max_value=150),
)
def test_i3_day_month_without_year_within_five_months(d: date, offset: int) -> None:
    text = f"{d.day}-{d:%b}"
    assert parse_ordered_date(text, "day-first", near=d + timedelta(days=offset)) == d


# ------------------------------------------------------------------ whole exports


def config(small_dir: Path, date_order: str | None) -> Config:
    path = small_dir / "qaf.toml"
    text = path.read_text(encoding="utf-8")
    line = next((x for x in text.splitlines() if x.startswith("date_order =")), None)
    new = f'date_order = "{date_order}"' if date_order else ""
    if line is not None:
        text = text.replace(line, new)
    elif new:
        text = text.replace("[tool.surveymonkey]\n", f"[tool.surveymonkey]\n{new}\n", 1)
    path.write_text(text, encoding="utf-8")
    return read_config(path)


ALLOCS = [
    allocation("2026-12-001", "P000001", "Tia Manager"),
    allocation("2026-12-002", "P000002", "Lee Manager"),
    allocation("2026-12-003", "P000003", "Tia Manager"),
]


def export(cfg: Config, tmp_path: Path, audit_dates: list[date], written: list[str]) -> Path:
    """Three responses whose "Date of audit" answers are ``written`` (End Date follows the
    real audit dates, month first, as SurveyMonkey writes it)."""
    tool = cfg.tools["case-audit"]
    rng = random.Random(5)
    rets = [
        replace(simulate_answers(a, tool, rng), audit_date=d, actions=())
        for a, d in zip(ALLOCS, audit_dates, strict=True)
    ]
    path = write_surveymonkey_export(rets, tool, tmp_path / "export.csv")
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    col = rows[0].index(DATE_QUESTION)
    for row, text in zip(rows[2:], written, strict=True):
        row[col] = text
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return path


def ingest(cfg: Config, path: Path) -> list[tuple[str, list[tuple[str, str | None, str]]]]:
    setup_register(cfg, ALLOCS)
    report = ingest_paths(cfg, [path], as_of=AS_OF)
    return [
        (f.status, [(p.rule, p.cell, p.message) for p in f.problems if p.rule == "I3"])
        for f in report.files
    ]


def stored_dates(cfg: Config) -> list[str]:
    with Register.open(cfg.register_path) as reg:
        return [r[0] for r in reg.query("SELECT audit_date FROM returns ORDER BY audit_id")]


DEC = [date(2026, 12, 1), date(2026, 12, 3), date(2026, 12, 11)]


def test_i3_month_first_date_time_answers_when_configured(small_dir: Path, tmp_path: Path) -> None:
    cfg = config(small_dir, "month-first")
    path = export(
        cfg, tmp_path, DEC, ["12/01/2026 09:14:00 AM", "12/03/2026", "12/11/2026 4:05 PM"]
    )
    assert ingest(cfg, path) == [("accepted", [])] * 3
    assert stored_dates(cfg) == ["2026-12-01", "2026-12-03", "2026-12-11"]


def test_i3_day_first_when_configured(small_dir: Path, tmp_path: Path) -> None:
    cfg = config(small_dir, "day-first")
    path = export(cfg, tmp_path, DEC, ["01/12/2026", "03/12/2026 10:00", "11/12/2026"])
    assert ingest(cfg, path) == [("accepted", [])] * 3
    assert stored_dates(cfg) == ["2026-12-01", "2026-12-03", "2026-12-11"]


def test_i3_a_date_against_the_configured_order_is_refused(small_dir: Path, tmp_path: Path) -> None:
    cfg = config(small_dir, "day-first")
    path = export(cfg, tmp_path, DEC, ["01/12/2026", "12/15/2026", "11/12/2026"])
    result = ingest(cfg, path)
    assert [s for s, _ in result] == ["rejected"] * 3  # the file is accepted whole or not at all
    assert result[1][1] == [
        (
            "I3",
            "M4",
            "the date of audit: '12/15/2026' is not a date read day first (dd/mm/yyyy); read "
            "the other way round it would be 15 December 2026: check the date order",
        )
    ]


SETTING = (
    'set date_order = "day-first" or "month-first" (the format of the survey\'s date question) '
    'under [tool.surveymonkey] of tool "case-audit"'
)


def ambiguous(text: str, day_first: str, month_first: str, why: str) -> str:
    return (
        f"the date of audit: {text!r} could be {day_first} (day first) or {month_first} "
        f"(month first), and {why}: {SETTING}"
    )


def test_i3_order_found_from_an_unambiguous_date(small_dir: Path, tmp_path: Path) -> None:
    cfg = config(small_dir, None)
    path = export(cfg, tmp_path, DEC, ["12/01/2026", "12/03/2026 09:14:00 AM", "12/11/2026"])
    nothing = "no date in this export shows which comes first"
    assert ingest(cfg, path) == [
        (
            "rejected",
            [("I3", "M3", ambiguous("12/01/2026", "12 January 2026", "1 December 2026", nothing))],
        ),
        (
            "rejected",
            [
                (
                    "I3",
                    "M4",
                    ambiguous(
                        "12/03/2026 09:14:00 AM", "12 March 2026", "3 December 2026", nothing
                    ),
                )
            ],
        ),
        (
            "rejected",
            [
                (
                    "I3",
                    "M5",
                    ambiguous("12/11/2026", "12 November 2026", "11 December 2026", nothing),
                )
            ],
        ),
    ]
    # one response with a day above 12 settles the order for the whole export
    days = [date(2026, 12, 1), date(2026, 12, 3), date(2026, 12, 15)]
    path = export(cfg, tmp_path, days, ["12/01/2026", "12/03/2026 09:14:00 AM", "12/15/2026"])
    cfg.register_path.unlink()
    assert ingest(cfg, path) == [("accepted", [])] * 3
    assert stored_dates(cfg) == ["2026-12-01", "2026-12-03", "2026-12-15"]


def test_i3_an_export_showing_both_orders_needs_the_setting(
    small_dir: Path, tmp_path: Path
) -> None:
    cfg = config(small_dir, None)
    path = export(cfg, tmp_path, DEC, ["15/12/2026", "12/03/2026", "12/16/2026"])
    result = ingest(cfg, path)
    both = (
        "this export writes dates both day first ('15/12/2026' (cell M3)) and month first "
        "('12/16/2026' (cell M5))"
    )
    assert result[1] == (
        "rejected",
        [("I3", "M4", ambiguous("12/03/2026", "12 March 2026", "3 December 2026", both))],
    )
    assert result[0][1] == [] and result[2][1] == []  # unambiguous ones read fine


def test_i3_excel_re_saved_dates(small_dir: Path, tmp_path: Path) -> None:
    """An export opened and saved again in Excel: dd-mmm-yy, d-mmm (year from the End
    Date), a serial number; the End Date itself turned into a serial with a time."""
    cfg = config(small_dir, None)
    path = export(cfg, tmp_path, DEC, ["01-Dec-26", "3-Dec", str(serial(DEC[2]))])
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    rows[4][rows[0].index("End Date")] = f"{serial(DEC[2])}.6875"
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    assert ingest(cfg, path) == [("accepted", [])] * 3
    assert stored_dates(cfg) == ["2026-12-01", "2026-12-03", "2026-12-11"]
    raws = read_export_csv(path.read_bytes(), "export.csv", cfg.tools)
    assert raws[2].received_on == DEC[2]


def test_i3_bad_date_order_setting_is_a_config_error(small_dir: Path) -> None:
    from qaf.problems import ConfigError

    with pytest.raises(ConfigError) as e:
        config(small_dir, "US")
    assert str(e.value).endswith(
        'tool[0].surveymonkey.date_order: "US" is not one of "day-first" | "month-first"'
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.integers(min_value=1, max_value=31), min_size=3, max_size=3),
    st.sampled_from(["day-first", "month-first"]),
)
def test_i3_order_of_a_whole_export_is_found_or_asked_for(
    small_dir: Path, tmp_path_factory: pytest.TempPathFactory, days: list[int], order: DateOrder
) -> None:
    """Without date_order: every date is read right when one of them shows the order (a day
    above 12); otherwise each ambiguous one is an I3 error (12/12 reads the same both ways)."""
    cfg = config(small_dir, None)  # the same folder for every example: idempotent
    dates = [date(2026, 12, d) for d in days]
    texts = [d.strftime("%d/%m/%Y" if order == "day-first" else "%m/%d/%Y") for d in dates]
    path = export(cfg, tmp_path_factory.mktemp("h"), dates, texts)
    raws = read_export_csv(path.read_bytes(), "export.csv", cfg.tools)
    settled = any(d > 12 for d in days)
    for raw, d in zip(raws, dates, strict=True):
        problems = [p for p in raw.problems if p.rule == "I3"]
        if settled or d.day == 12:
            assert not problems and raw.fields["Date of audit"].value == d
        else:
            assert len(problems) == 1 and "could be" in problems[0].message
