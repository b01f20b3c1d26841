"""`qaf allocate` and what its source files hold: rows not read (exit 1, trial 3 F7) and which
problem is reported first when both files are wrong (trial 3 F5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.workdir import init_directory

runner = CliRunner()


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("northvale")
    init_directory(d, demo=True)
    return d


@pytest.fixture
def work(authority: Path, tmp_path: Path) -> Path:
    d = tmp_path / "northvale"
    shutil.copytree(authority, d)
    return d


def allocate(work: Path, *args: str) -> object:
    return runner.invoke(
        app,
        [
            "allocate",
            "--config",
            str(work / "qaf.toml"),
            "--as-of",
            "2026-12-01",
            "--month",
            "2026-12",
            "--seed",
            "7",
            *args,
        ],
    )


def edit_cases(work: Path, change: dict[tuple[int, str], object]) -> None:
    """Set cells of the demo case list: {(sheet row, header): value}."""
    path = work / "data" / "cases.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    columns = {c.value: c.column for c in ws[1]}
    for (row, header), value in change.items():
        ws.cell(row, columns[header]).value = value
    wb.save(path)


def test_rule_I1_a_broken_case_list_is_reported_before_a_missing_roster(work: Path) -> None:
    """Rule I1 (F5): with the case list broken and staff.csv gone, the case list's problem
    is the one reported, as when the roster is there but broken."""
    edit_cases(work, {(1, "Allocated Team"): "Team"})
    (work / "data" / "staff.csv").unlink()
    result = allocate(work, "--dry-run")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert 'the case list has no column "Allocated Team" (for team)' in err
    assert "staff.path" not in err


def test_rule_I1_an_unreadable_case_list_is_reported_before_a_missing_roster(
    work: Path,
) -> None:
    """Rule I1 (F5): a case list that is not a workbook, and no roster: the case list's I1."""
    (work / "data" / "cases.xlsx").write_bytes(b"%PDF-1.4 not a workbook")
    (work / "data" / "staff.csv").unlink()
    result = allocate(work, "--dry-run")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "cases.xlsx" in err and "PDF" in err and "staff.path" not in err


def test_rule_I1_a_missing_roster_alone_names_its_setting(work: Path) -> None:
    """Rule I1: with a good case list, the missing roster is reported naming staff.path."""
    staff = work / "data" / "staff.csv"
    staff.unlink()
    result = allocate(work, "--dry-run")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert result.stderr.strip() == (  # type: ignore[attr-defined]
        f"Error: {work / 'qaf.toml'}: staff.path: {staff} does not exist"
    )
