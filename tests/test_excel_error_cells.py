"""Trial 3 F8: an Excel error cell (#N/A from a broken lookup, #VALUE! ...) is read as its
text, not as a blank: in a case list (rule S3), as the same list saved as CSV holds it, and
in a returned workbook (rules G1, I3, E3: a broken formula is not an empty box).

python-calamine gives an error cell as "" (tested below), so a date column's #N/A went
unnoticed in an XLSX list while the CSV warned "'#N/A' is not a date". Read whole or cut
in two (qaf.sheetsplit), the XLSX now gives what the CSV gives.
"""

from __future__ import annotations

import csv
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from qaf import sheetsplit
from qaf.config import SourceSpec
from qaf.sources import CaseList, read_cases, read_staff
from qaf.xlsxparse import error_cells

MAPPING = {
    "case_id": "Person ID",
    "team": "Team",
    "worker": "Worker",
    "service": "Service",
    "category": "Category",
    "last_visit": "Date of Last Visit",
}
ERRORS = ("#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!")
ROWS = 3000
# (data row, column, error): a date column in the first part and in the second, and the
# team (a required column) in each part
BROKEN = {
    (10, 5): "#N/A",
    (20, 5): "#VALUE!",
    (1400, 5): "#REF!",
    (2500, 5): "#DIV/0!",
    (2600, 5): "#NAME?",
    (2700, 5): "#NULL!",
    (2800, 5): "#NUM!",
    (30, 1): "#N/A",
    (2900, 1): "#REF!",
}


def _row(i: int) -> list[object]:
    return [
        f"P{i:05d}",
        f"Team {i % 7}",
        f"Worker {i % 13}",
        "Service",
        "CP",
        datetime(2026, 1 + i % 12, 1 + i % 28),
    ]


def _xlsx(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Cases")
    dates = wb.add_format({"num_format": "dd/mm/yyyy"})
    ws.write_row(0, 0, list(MAPPING.values()))
    for i in range(1, ROWS + 1):
        for c, v in enumerate(_row(i)):
            error = BROKEN.get((i, c))
            if error is not None:  # a formula whose cached result is the error
                ws.write_formula(i, c, "=VLOOKUP(A1,Z:Z,2,FALSE)", None, error)
            elif isinstance(v, datetime):
                ws.write_datetime(i, c, v, dates)
            else:
                ws.write(i, c, v)
    wb.close()
    return path


def _csv(path: Path) -> Path:
    """The same list as Excel saves it as CSV: the error's text in the cell."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(MAPPING.values())
        for i in range(1, ROWS + 1):
            row = [v.strftime("%d/%m/%Y") if isinstance(v, datetime) else v for v in _row(i)]
            for (r, c), error in BROKEN.items():
                if r == i:
                    row[c] = error
            w.writerow(row)
    return path


def _read(path: Path, monkeypatch: pytest.MonkeyPatch, *, split: bool) -> CaseList:
    with monkeypatch.context() as m:
        m.setattr(sheetsplit, "two_cores", lambda: split)
        m.setattr(sheetsplit, "SPLIT_FROM", 1)
        return read_cases(SourceSpec(path, MAPPING))


def _said(found: CaseList) -> list[tuple[str | None, str, str]]:
    return [(p.cell, p.level, p.message) for p in found.problems]


def test_calamine_reads_an_error_cell_as_blank(tmp_path: Path) -> None:
    """Why qaf looks for error cells itself: python-calamine gives every one of them as ""."""
    path = _xlsx(tmp_path / "cases.xlsx")
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert [rows[r][c] for r, c in BROKEN] == [""] * len(BROKEN)


def test_rule_S3_an_error_cell_in_xlsx_warns_as_the_same_list_as_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule S3 (F8): the XLSX list, read whole, gives the CSV's problems, row for row."""
    xlsx = _read(_xlsx(tmp_path / "cases.xlsx"), monkeypatch, split=False)
    as_csv = _read(_csv(tmp_path / "cases.csv"), monkeypatch, split=False)
    assert _said(xlsx) == _said(as_csv)
    assert _said(xlsx)[0] == (
        "row 11",
        "warning",
        "last_visit (\"Date of Last Visit\"): '#N/A' is not a date "
        "(expected e.g. 12/11/2026, 2026-11-12 or 12 Nov 2026)",
    )
    assert [c.case_id for c in xlsx.cases] == [c.case_id for c in as_csv.cases]
    assert "P00030" not in {c.case_id for c in xlsx.cases}  # an #N/A team: rule S3, below
    dated = {p.message.split("'")[1] for p in xlsx.problems if "is not a date" in p.message}
    assert dated == set(ERRORS)


def test_rule_S3_error_cells_read_cut_in_two_as_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule S3 (F8): error cells in both parts of a cut list: the same cases and problems."""
    path = _xlsx(tmp_path / "cases.xlsx")
    whole = _read(path, monkeypatch, split=False)
    cut = _read(path, monkeypatch, split=True)
    assert cut == whole
    assert len([p for p in whole.problems if "is not a date" in p.message]) == 7


def test_rule_S3_an_error_cell_in_a_roster_is_its_text(tmp_path: Path) -> None:
    """The roster is read the same way: an #N/A e-mail address is not an empty one."""
    path = tmp_path / "staff.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["Name", "Email", "Role", "Team", "Service", "Line Manager"])
    ws.write_row(1, 0, ["Tia Manager", "", "Team Manager", "Team A", "S1", "Quin Hos"])
    ws.write_formula(1, 1, "=VLOOKUP(A2,Z:Z,2,FALSE)", None, "#N/A")
    wb.close()
    columns = {
        "name": "Name",
        "email": "Email",
        "role": "Role",
        "team": "Team",
        "service": "Service",
        "manager": "Line Manager",
    }
    roster = read_staff(SourceSpec(path, columns))
    assert [m.email for m in roster.staff] == ["#N/A"]


def test_rules_A1_A2_an_error_cell_in_the_roster_is_warned_about(tmp_path: Path) -> None:
    """Rules A1, A2 (trial 4): an #N/A team (nobody's team: the independence rule cannot
    keep its holder from their own team's cases) or e-mail was read without a word."""
    path = tmp_path / "staff.csv"
    path.write_text(
        "Name,Email,Role,Team,Service\n"
        "Tia Manager,#N/A,Team Manager,Team A,S1\n"
        "Ola Manager,ola@example.org,Team Manager,#REF!,S1\n"
        "Una Manager,una@example.org,Team Manager,Team B,S1\n",
        encoding="utf-8",
    )
    columns = {"name": "Name", "email": "Email", "role": "Role", "team": "Team"}
    columns["service"] = "Service"
    roster = read_staff(SourceSpec(path, columns))
    assert len(roster.staff) == 3
    assert [(p.rule, p.level, p.cell, p.message) for p in roster.problems] == [
        (
            "A1",
            "warning",
            "row 2",
            '"Tia Manager": email ("Email") is an Excel error (#N/A), read as it stands: '
            "fix the formula or the value in the roster",
        ),
        (
            "A2",
            "warning",
            "row 3",
            '"Ola Manager": team ("Team") is an Excel error (#REF!), read as it stands: '
            "fix the formula or the value in the roster",
        ),
    ]


@pytest.mark.parametrize(
    ("xml", "found"),
    [
        (b'<row r="2"><c r="O2" t="e"><v>#N/A</v></c></row>', [(1, 14, "#N/A")]),
        (b'<c r="B7" s="3" t="e"><f>1/0</f><v>#DIV/0!</v></c>', [(6, 1, "#DIV/0!")]),
        (b'<c t="e" r="AA10"><v>#REF!</v></c>', [(9, 26, "#REF!")]),
        (b'<c r="C3" t="e"><v> #NAME? </v></c>', [(2, 2, "#NAME?")]),
        (b'<c r="C3" t="e"/>', []),  # no value: a blank cell
        (b'<c t="e"><v>#N/A</v></c>', []),  # no position of its own: left out
        (b'<c r="C3" t="s"><v>0</v></c><c r="D3"><v>1</v></c>', []),
    ],
)
def test_error_cells_are_found_with_their_position(xml: bytes, found: list[object]) -> None:
    assert error_cells(xml) == found


def test_rules_G1_I3_E3_an_error_cell_in_a_return_is_named_not_taken_as_blank(
    small_dir: Path, tmp_path: Path
) -> None:
    """A return whose final grade, date of audit and "Is the child safe?" hold #N/A: each
    is reported as what it holds (before, the grade before discussion was taken as final
    with a G4 warning, and the safety answer was "not answered")."""
    from qaf.config import read_config
    from qaf.ingest import ingest_paths
    from tests.ingest_books import allocation, setup_register
    from tests.test_ingest import find, grade_cell, make_return

    cfg = read_config(small_dir / "qaf.toml")
    alloc = allocation()
    setup_register(cfg, [alloc])
    path, _ = make_return(cfg, alloc, tmp_path / "returns" / "a.xlsx")
    cells = [grade_cell(path, "D2"), find(path, "Date of audit"), find(path, "Is the child safe?")]
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    for ref in cells:
        broken = f'<c r="{ref}" t="e"><f>VLOOKUP(A1,Z:Z,2,0)</f><v>#N/A</v></c>'
        xml = re.sub(rf'<c r="{ref}"[^>]*?(/>|>.*?</c>)', broken, xml, count=1, flags=re.S)
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, part in parts.items():
            z.writestr(name, part)
    [f] = ingest_paths(cfg, [path], as_of=date(2027, 1, 8), dry_run=True).files
    assert f.status == "rejected"
    said = [(p.cell, p.rule, p.level, p.message) for p in f.problems]
    assert said == [
        (
            cells[0],
            "G1",
            "error",
            'domain D2 "Risk is identified, responded to and reduced in a…": "#N/A" is not '
            'a grade: expected one of "Outstanding", "Good", "Requires Improvement", '
            '"Inadequate" or 1-4',
        ),
        (
            cells[1],
            "I3",
            "error",
            "the date of audit: '#N/A' is not a date (expected e.g. 12/11/2026, 2026-11-12 or "
            "12 Nov 2026)",
        ),
        (
            cells[2],
            "E3",
            "error",
            '"#N/A" is not an answer to "Is the child safe?" (expected Yes or No)',
        ),
    ]


@pytest.mark.parametrize("split", [False, True])
def test_rule_S3_an_error_cell_in_a_required_column_is_an_error_not_a_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: bool
) -> None:
    """Rule S3 (trial 4): an #N/A team was read as a team called "#N/A": a team of its own,
    given an audit by the stratified sample, with no independence check against the case's
    real team. Like a blank team it is an error, the row not read, in XLSX and CSV alike."""
    for found in (
        _read(_xlsx(tmp_path / "cases.xlsx"), monkeypatch, split=split),
        _read(_csv(tmp_path / "cases.csv"), monkeypatch, split=split),
    ):
        teams = {c.team for c in found.cases}
        assert not teams & {"#N/A", "#REF!"}
        assert {"P00030", "P02900"}.isdisjoint(c.case_id for c in found.cases)
        said = [(c, lvl, m) for c, lvl, m in _said(found) if "Excel error" in m]
        assert said == [
            (
                "row 31",
                "error",
                'case P00030: team ("Team") is an Excel error (#N/A); the row is not read '
                "as a case (fix the formula or the value in the case list)",
            ),
            (
                "row 2901",
                "error",
                'case P02900: team ("Team") is an Excel error (#REF!); the row is not read '
                "as a case (fix the formula or the value in the case list)",
            ),
        ]
