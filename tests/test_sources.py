"""Case list and roster readers: column mapping, messy headers, duplicates (S3, A3)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest

from qaf.config import SourceSpec
from qaf.problems import QafError
from qaf.sources import read_cases, read_staff
from tests.conftest import write_csv

MAPPING = {
    "case_id": "Person ID",
    "team": "Team",
    "worker": "Worker",
    "service": "Service",
    "category": "Category",
    "status": "Status",
}


def test_case_list_csv_with_mapped_headers_in_any_case_and_spacing(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        [" person id ", "TEAM", "Worker:", "Service", "Category", "Status"],
        [["1001", "A", "W", "S", "CP", "Open"], ["1002", "A", "W", "S", "CiN", "Closed"]],
    )
    cases = read_cases(SourceSpec(path, MAPPING, closed=("Closed",)))
    assert [c.case_id for c in cases.cases] == ["1001", "1002"]
    assert [c.case_id for c in cases.open_cases(("closed",))] == ["1001"]  # rule S3


def test_missing_mapped_column_names_the_column_and_the_file(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv", ["Person ID", "Team", "Service", "Category"], [["1", "A", "S", "CP"]]
    )
    with pytest.raises(QafError) as e:
        read_cases(SourceSpec(path, MAPPING))
    assert '"Worker" (for worker)' in str(e.value)
    assert str(path) in str(e.value)


def test_duplicate_case_ids_are_reported_with_rows(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        list(MAPPING.values()),
        [
            ["1", "A", "W", "S", "CP", "Open"],
            ["2", "A", "W", "S", "CP", "Open"],
            ["1", "B", "X", "S", "CP", "Open"],
        ],
    )
    cases = read_cases(SourceSpec(path, MAPPING))
    assert [c.case_id for c in cases.cases] == ["1", "2"]
    assert len(cases.problems) == 1
    assert cases.problems[0].cell == "row 4"
    assert "first on row 2" in cases.problems[0].message


def test_case_list_xlsx_with_title_rows_blank_rows_and_bom_csv(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([])
    ws.append([*list(MAPPING.values()), "Date of Birth"])
    ws.append([1001, "A", "W", "S", "CP", "Open", date(2015, 3, 4)])
    ws.append([])
    ws.append(["1002 ", "B", "W", "S", "CP", "Open", None])
    wb.save(tmp_path / "c.xlsx")
    cases = read_cases(SourceSpec(tmp_path / "c.xlsx", {**MAPPING, "dob": "Date of Birth"}))
    assert [c.case_id for c in cases.cases] == ["1001", "1002"]
    assert cases.cases[0].extra["dob"] == date(2015, 3, 4)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(
        "\ufeff".encode() + b"Person ID,Team,Worker,Service,Category,Status\r\n9,A,W,S,CP,Open\r\n"
    )
    assert read_cases(SourceSpec(bom, MAPPING)).cases[0].case_id == "9"


def test_roster_availability_and_absence_dates_rule_A3(small_dir: Path) -> None:
    from qaf.config import read_config

    cfg = read_config(small_dir / "qaf.toml")
    roster = read_staff(cfg.staff)
    lee = roster.by_name("lee manager")
    assert lee is not None and lee.available is False
    assert lee.absent_from == date(2026, 11, 1)
    tia = roster.by_name("Tia Manager")
    assert tia is not None and tia.available_on(date(2026, 12, 1))
    assert [s.name for s in roster.with_role("team manager")] == ["Tia Manager", "Lee Manager"]


def test_not_a_spreadsheet_is_a_plain_error(tmp_path: Path) -> None:
    bad = tmp_path / "cases.xls"
    bad.write_bytes(b"\xd0\xcf\x11\xe0old excel")
    with pytest.raises(QafError, match=r"saved as \.xlsx"):
        read_cases(SourceSpec(bad, MAPPING))
