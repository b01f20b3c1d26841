"""`qaf allocate` and what its source files hold: rows not read (exit 1, trial 3 F7) and which
problem is reported first when both files are wrong (trial 3 F5)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from qaf.cli import app
from qaf.register import Register

runner = CliRunner()


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


def case_id(work: Path, row: int) -> str:
    ws = openpyxl.load_workbook(work / "data" / "cases.xlsx", read_only=True).worksheets[0]
    return str(next(ws.iter_rows(min_row=row, max_row=row, values_only=True))[0])


def test_rule_S3_rows_not_read_make_allocate_exit_1_and_say_so(work: Path) -> None:
    """Rule S3 (F7): a blank team and a repeated case ID are errors ("the row is not read as
    a case"): the cycle is allocated and recorded without them, and the run exits 1."""
    again = case_id(work, 5)
    edit_cases(work, {(10, "Allocated Team"): None, (12, "Child Unique ID"): again})
    result = allocate(work)
    assert result.exit_code == 1, result.stderr  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert lines[-1] == (
        "Exit 1: 2 rows of the case list not read as cases (the errors above): allocated "
        "without them; fix the file and allocate again with --replace to include them"
    )
    assert any(
        ln.endswith(
            f"row 12: [S3] error: case ID {again} appears again (first on row 5); the later "
            "row was ignored"
        )
        for ln in lines
    )
    assert any("row 10: [S3] error: case " in ln for ln in lines)
    with Register.open(work / "qaf.db") as reg:  # recorded all the same
        assert reg.scalar("SELECT count(*) FROM cycles WHERE cycle = '2026-12'") == 1


def test_rule_S3_rows_not_read_exit_1_on_a_dry_run_and_in_json(work: Path) -> None:
    """Rule S3 (F7): the same exit code whatever the output; a dry run says to fix first."""
    edit_cases(work, {(10, "Allocated Team"): None})
    dry = allocate(work, "--dry-run")
    assert dry.exit_code == 1  # type: ignore[attr-defined]
    assert dry.stderr.splitlines()[-1] == (  # type: ignore[attr-defined]
        "Exit 1: 1 row of the case list not read as cases (the errors above): allocated "
        "without them; fix the file before allocating"
    )
    assert allocate(work, "--dry-run", "--format", "json").exit_code == 1  # type: ignore[attr-defined]


def test_rule_S3_warnings_alone_keep_exit_0(work: Path) -> None:
    """Rule S3: a footer row and a date that is not a date are warnings: exit 0."""
    edit_cases(
        work,
        {(1300, "Child Unique ID"): "Total: 1260 rows", (7, "Date of Last Visit"): "not a date"},
    )
    result = allocate(work, "--dry-run")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "[S3] warning" in err and "Exit 1" not in err


def test_rule_A2_a_name_twice_in_the_roster_exits_1(work: Path) -> None:
    """Rule A2 (F7): the roster's later row of a repeated name is ignored (an error): exit 1."""
    staff = work / "data" / "staff.csv"
    lines = staff.read_text(encoding="utf-8").splitlines()
    staff.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    result = allocate(work, "--dry-run")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert result.stderr.splitlines()[-1] == (  # type: ignore[attr-defined]
        "Exit 1: 1 row of the roster ignored (the errors above): allocated without them; fix "
        "the file before allocating"
    )


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
