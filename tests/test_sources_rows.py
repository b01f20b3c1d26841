"""Case list rows that are not cases (trial findings F5, F22; rule S3, and A2 which needs
the team): blank required values, footers and notes, merged cells filled down."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import SourceSpec
from qaf.problems import QafError
from qaf.sources import read_cases
from tests.conftest import CASE_HEADERS, write_csv

MAPPING = {
    "case_id": "Person ID",
    "team": "Team",
    "worker": "Worker",
    "service": "Service",
    "category": "Category",
    "status": "Status",
}
HEADERS = list(MAPPING.values())


def cases_xlsx(path: Path, rows: list[list[object]], merges: tuple[str, ...] = ()) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Open cases"
    ws.append(HEADERS)
    for row in rows:
        ws.append(row)
    for m in merges:
        ws.merge_cells(m)
    wb.save(path)
    return path


def test_merged_team_cell_is_filled_down_to_every_row_of_the_range(tmp_path: Path) -> None:
    # F5, rule A2: a team merged over two rows means that team on both
    path = cases_xlsx(
        tmp_path / "c.xlsx",
        [
            ["P1", "Assessment A", "Pat Quill", "Front door", "CiN", "Open"],
            ["P2", "Assessment A", "Pat Quill", "Front door", "CiN", "Open"],
            ["P3", None, "Pat Quill", "Front door", "CP", "Open"],
        ],
        merges=("B3:B4",),
    )
    cases = read_cases(SourceSpec(path, MAPPING))
    assert [(c.case_id, c.team) for c in cases.cases] == [
        ("P1", "Assessment A"),
        ("P2", "Assessment A"),
        ("P3", "Assessment A"),
    ]
    assert cases.problems == ()


@pytest.mark.parametrize(
    ("footer", "merged"),
    [
        ("Total: 62 rows", False),
        ("Total: 62 rows", True),  # merged across the whole row: every column holds the text
        ("Grand total 62", False),
        ("Count of records: 3", False),
        ("Report run on 30/11/2026 by Mosaic", False),
        ("Page 1 of 1", False),
        ("Children in need: open cases", True),  # a note merged across the row
    ],
)
def test_footer_and_note_rows_are_reported_and_never_cases(
    tmp_path: Path, footer: str, merged: bool
) -> None:
    # F22, rule S3: the footer "Total: 62 rows" was allocated to a Head of Service as a case
    path = cases_xlsx(
        tmp_path / "c.xlsx",
        [["P1", "A", "W", "S", "CiN", "Open"], [footer]],
        merges=("A3:F3",) if merged else (),
    )
    cases = read_cases(SourceSpec(path, MAPPING))
    assert [c.case_id for c in cases.cases] == ["P1"]
    [p] = cases.problems
    assert (p.rule, p.level, p.sheet, p.cell) == ("S3", "warning", "Open cases", "row 3")
    assert p.message.startswith(f'"{footer}" is not a case (')
    assert str(p) == f"{path}, sheet Open cases, row 3: [S3] warning: {p.message}"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ["P2", "", "W", "S", "CiN", "Open"],
            'case P2: team ("Team") is blank; the row is not read as a case '
            "(fill it in the case list)",
        ),
        (
            ["P2", "A", " ", "", "CiN", "Open"],
            'case P2: worker ("Worker") and service ("Service") are blank; the row is not '
            "read as a case (fill it in the case list)",
        ),
        (
            ["P2", "A", "W", "S", None, "Open"],
            'case P2: category ("Category") is blank; the row is not read as a case '
            "(fill it in the case list)",
        ),
    ],
)
def test_blank_required_value_is_an_error_with_its_row(
    tmp_path: Path, row: list[str], message: str
) -> None:
    # F5, rule S3 (and A2: without its team, independence cannot be checked)
    path = write_csv(tmp_path / "c.csv", HEADERS, [["P1", "A", "W", "S", "CiN", "Open"], row])
    cases = read_cases(SourceSpec(path, MAPPING))
    assert [c.case_id for c in cases.cases] == ["P1"]
    [p] = cases.problems
    assert (p.rule, p.level, p.cell, p.message) == ("S3", "error", "row 3", message)


def test_case_ids_of_another_shape_are_still_cases(tmp_path: Path) -> None:
    # rule S3: a differently shaped ID is not enough to drop a row
    rows = [
        ["P100001", "A", "W", "S", "CiN", "Open"],
        ["100002", "A", "W", "S", "CiN", "Open"],
        ["MOS-3 (transferred)", "A", "W", "S", "CiN", "Open"],
        ["Totalis-4", "A", "W", "S", "CiN", "Open"],
    ]
    path = write_csv(tmp_path / "c.csv", HEADERS, rows)
    cases = read_cases(SourceSpec(path, MAPPING))
    assert [c.case_id for c in cases.cases] == [r[0] for r in rows]
    assert cases.problems == ()


def test_config_check_counts_only_real_cases_and_lists_the_rows(small_dir: Path) -> None:
    # F5: "63 cases" for 62 real ones; the footer and the blank team are reported (S3)
    write_csv(
        small_dir / "data" / "cases.csv",
        CASE_HEADERS,
        [
            ["P000001", "Ada Fictional", "Team A", "Sam Worker", "Service 1", "CiN", "Open"],
            ["P000002", "Ben Fictional", "", "Sam Worker", "Service 1", "CP", "Open"],
            ["Total: 2 rows", "", "", "", "", "", ""],
        ],
    )
    result = CliRunner().invoke(
        app, ["config", "check", "--config", str(small_dir / "qaf.toml"), "--format", "json"]
    )
    assert result.exit_code == 1
    cases = small_dir / "data" / "cases.csv"
    assert f"case list: {cases} — 1 cases, 1 open" in result.stderr
    assert (
        f'{cases}, row 3: [S3] error: case P000002: team ("Allocated Team") is blank; '
        "the row is not read as a case (fill it in the case list)"
    ) in result.stderr
    assert (
        f'{cases}, row 4: [S3] warning: "Total: 2 rows" is not a case (a total or note row); '
        "skipped"
    ) in result.stderr


# ---------------------------------------------------------------- header row (F3)

CASES = ["Child Unique ID", "Child Name", "Allocated Team", "Allocated Worker"]
CASES += ["Service Area", "Category", "Case Status"]
FIELDS = ("case_id", "name", "team", "worker", "service", "category")


def mosaic_export(path: Path, *, title_rows: int = 2, read_me: bool = True) -> Path:
    """A Mosaic-style export: a "Read me" sheet first, a merged title above the headers."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    if read_me:
        ws.title = "Read me"
        ws["A1"] = "Case list export - run 30/11/2026 - OFFICIAL SENSITIVE"
        ws = wb.create_sheet("Open cases")
    else:
        ws.title = "Open cases"
    ws["A1"] = "Open cases report"
    ws.merge_cells("A1:G1")
    for _ in range(title_rows - 1):
        ws.append([])
    ws.append(CASES)
    ws.append(["P000001", "Ada Fictional", "Team A", "Sam Worker", "Service 1", "CiN", "Open"])
    ws.append(["P000002", "Ben Fictional", "Team A", "Sam Worker", "Service 1", "CP", "Open"])
    ws.append(["P000001", "Ada Fictional", "Team A", "Sam Worker", "Service 1", "CiN", "Open"])
    wb.save(path)
    return path


def point_at(small_dir: Path, path: Path, sheet: str | None = None) -> Path:
    toml = small_dir / "qaf.toml"
    text = toml.read_text(encoding="utf-8").replace("data/cases.csv", str(path))
    if sheet:
        text = text.replace('# sheet = "Open cases"', f'sheet = "{sheet}"')
    toml.write_text(text, encoding="utf-8")
    return toml


def test_header_row_below_title_rows_is_found(tmp_path: Path) -> None:
    # F3: headers on row 3 under a merged title; row numbers stay the spreadsheet's (S3)
    path = mosaic_export(tmp_path / "cases.xlsx", read_me=False)
    mapping = dict(zip(FIELDS, CASES[:6], strict=True))
    cases = read_cases(SourceSpec(path, mapping))
    assert [c.case_id for c in cases.cases] == ["P000001", "P000002"]
    [dup] = cases.problems
    assert (dup.rule, dup.cell) == ("S3", "row 6")
    assert "first on row 4" in dup.message


def test_csv_with_title_rows_above_the_headers(tmp_path: Path) -> None:
    # F3: the same for a CSV export
    path = write_csv(
        tmp_path / "c.csv",
        ["Open cases report - run 30/11/2026"],
        [[], HEADERS, ["P1", "A", "W", "S", "CiN", "Open"]],
    )
    assert [c.case_id for c in read_cases(SourceSpec(path, MAPPING)).cases] == ["P1"]


def test_list_on_another_sheet_names_the_sheet_to_set_exit_1(
    small_dir: Path, tmp_path: Path
) -> None:
    # F3: the error names the workbook's sheets and the `sheet` key; a source file problem
    # is exit 1 (config check --help), not 2
    path = mosaic_export(tmp_path / "cases.xlsx")
    toml = point_at(small_dir, path)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(toml)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}, sheet Read me: the case list has no column "
        '"Child Unique ID" (for case_id), "Allocated Team" (for team), "Allocated Worker" '
        '(for worker), "Service Area" (for service), "Category" (for category); its columns '
        "are: Case list export - run 30/11/2026 - OFFICIAL SENSITIVE (row 1). Fix the file or "
        'the column mapping in qaf.toml. The workbook\'s sheets are "Read me", "Open cases", '
        'and the columns are on sheet "Open cases": set sheet = "Open cases" under [cases] in '
        "qaf.toml\n"
    )
    point_at(small_dir, path, sheet="Open cases")
    ok = CliRunner().invoke(app, ["config", "check", "--config", str(toml)])
    assert f"case list: {path} — 2 cases, 2 open" in ok.stderr
    assert ok.exit_code == 1  # the duplicate P000001 on row 6 (S3 error)


def test_headers_not_in_the_first_rows_say_where_qaf_looked(tmp_path: Path) -> None:
    # F3: more than 10 title rows: not found, and the message says how far qaf looked
    path = mosaic_export(tmp_path / "cases.xlsx", title_rows=11, read_me=False)
    mapping = dict(zip(FIELDS, CASES[:6], strict=True))
    with pytest.raises(QafError) as e:
        read_cases(SourceSpec(path, mapping))
    assert e.value.exit_code == 1
    assert str(e.value).endswith(
        "its columns are: Open cases report (row 1). Fix the file or the column mapping in "
        "qaf.toml (qaf looks for the column names in the first 10 rows)"
    )


@pytest.mark.parametrize("framework", ["generic", "haringey", "bedford", "lancashire", "rochdale"])
def test_init_config_has_commented_sheet_lines(tmp_path: Path, framework: str) -> None:
    # F3: a `sheet = "..."` line to uncomment under [cases] and [staff]
    result = CliRunner().invoke(app, ["init", str(tmp_path / "c"), "--framework", framework])
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "c" / "qaf.toml").read_text(encoding="utf-8")
    cases = text[text.index("[cases]") : text.index("[staff]")]
    staff = text[text.index("[staff]") :].split("\n[", 1)[0]
    assert '# sheet = "Open cases"' in cases
    assert '# sheet = "Staff"' in staff
