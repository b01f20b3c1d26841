"""Case list and roster readers: column mapping, messy headers, duplicates (S3, A3)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from qaf.config import Limits, SourceSpec
from qaf.problems import QafError
from qaf.sources import read_cases, read_staff
from qaf.xlsxsafe import UnreadableFile
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
    bad.write_bytes(OLE + b"\0" * 600 + "Workbook".encode("utf-16-le"))
    with pytest.raises(QafError, match=r"save it as \.xlsx"):
        read_cases(SourceSpec(bad, MAPPING))


# ------------------------------------------------ untrusted case lists and rosters (rule I1)

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _good_xlsx(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(MAPPING.values()))
    ws.append(["1001", "A", "W", "S", "CP", "Open"])
    wb.save(path)
    return path


def _replace_part(path: Path, name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, data if info.filename == name else zin.read(info))
    return buf.getvalue()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(2, 10))
    + b"]><worksheet>&lol9;</worksheet>"
)


def _hostile(kind: str, tmp_path: Path) -> bytes:
    good = _good_xlsx(tmp_path / "good.xlsx")
    if kind == "zip bomb":
        return _replace_part(good, "xl/worksheets/sheet1.xml", b"<x>" + b" " * (8 << 20) + b"</x>")
    if kind == "billion laughs":
        return _replace_part(good, "xl/worksheets/sheet1.xml", BILLION_LAUGHS)
    if kind == "external entity":
        xxe = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><workbook>&x;</workbook>'
        return _replace_part(good, "xl/workbook.xml", xxe)
    if kind == "truncated":
        return good.read_bytes()[:700]
    if kind == "far-away cell":  # one stray cell would make the grid 17 billion cells
        with zipfile.ZipFile(good) as z:
            sheet = z.read("xl/worksheets/sheet1.xml")
        stray = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
        sheet = sheet.replace(b"</sheetData>", stray + b"</sheetData>")
        return _replace_part(good, "xl/worksheets/sheet1.xml", sheet)
    return {
        "renamed PDF": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        "old xls": OLE + b"\0" * 600 + "Workbook".encode("utf-16-le"),
        "password-protected": OLE
        + b"\0" * 600
        + "EncryptionInfo".encode("utf-16-le")
        + "EncryptedPackage".encode("utf-16-le"),
        "0-byte": b"",
    }[kind]


HOSTILE = [
    ("zip bomb", "zip bomb"),
    ("billion laughs", "DOCTYPE/ENTITY"),
    ("external entity", "DOCTYPE/ENTITY"),
    ("truncated", "damaged"),
    ("far-away cell", "reaching cell XFD1048576: too large to read"),
    ("renamed PDF", "is a PDF"),
    ("old xls", "old Excel .xls"),
    ("password-protected", "password-protected"),
    ("0-byte", "is empty (0 bytes)"),
]


@pytest.mark.parametrize(("kind", "expected"), HOSTILE)
@pytest.mark.parametrize("which", ["cases", "staff"])
def test_hostile_case_list_or_roster_is_refused_in_one_line_rule_I1(
    tmp_path: Path, kind: str, expected: str, which: str
) -> None:
    """The case list and roster pass the same xlsxsafe checks as returns (issue 7 item 1)."""
    path = tmp_path / f"{which}.xlsx"
    path.write_bytes(_hostile(kind, tmp_path))
    reader = read_cases if which == "cases" else read_staff
    with pytest.raises(UnreadableFile) as e:
        reader(SourceSpec(path, MAPPING))
    message = str(e.value)
    assert expected in message
    assert message.startswith(f"{path}: [I1] {which}.xlsx ")
    assert "\n" not in message and e.value.exit_code == 2


@pytest.mark.parametrize("suffix", [".csv", ".xls", ".pdf"])
def test_a_workbook_or_pdf_under_any_name_is_judged_by_its_bytes(
    tmp_path: Path, suffix: str
) -> None:
    pdf = tmp_path / f"cases{suffix}"
    pdf.write_bytes(_hostile("renamed PDF", tmp_path))
    with pytest.raises(UnreadableFile, match="is a PDF"):
        read_cases(SourceSpec(pdf, MAPPING))
    book = tmp_path / f"book{suffix}"
    book.write_bytes(_good_xlsx(tmp_path / "g.xlsx").read_bytes())
    assert [c.case_id for c in read_cases(SourceSpec(book, MAPPING)).cases] == ["1001"]


def test_binary_csv_is_refused_and_utf16_csv_is_read(tmp_path: Path) -> None:
    binary = tmp_path / "cases.csv"
    binary.write_bytes(b"Person ID\x00\x01\x02")
    with pytest.raises(UnreadableFile, match="not a text CSV"):
        read_cases(SourceSpec(binary, MAPPING))
    utf16 = tmp_path / "unicode.csv"
    text = "\t".join(MAPPING.values()) + "\r\n" + "\t".join(["7", "A", "W", "S", "CP", "Open"])
    utf16.write_bytes(text.encode("utf-16"))
    assert [c.case_id for c in read_cases(SourceSpec(utf16, MAPPING)).cases] == ["7"]


def test_limits_from_the_config_apply_to_the_case_list(tmp_path: Path) -> None:
    path = _good_xlsx(tmp_path / "cases.xlsx")
    with pytest.raises(UnreadableFile, match="max_file_mb"):
        read_cases(SourceSpec(path, MAPPING), Limits(max_file_mb=0.001))


def test_allocate_with_a_hostile_case_list_exits_2_with_one_line(small_dir: Path) -> None:
    """`qaf allocate` names the file and rule I1 and records nothing (issue 7 item 1)."""
    from typer.testing import CliRunner

    from qaf.cli import app

    toml = small_dir / "qaf.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("data/cases.csv", "data/cases.xlsx"),
        encoding="utf-8",
    )
    (small_dir / "data" / "cases.xlsx").write_bytes(_hostile("billion laughs", small_dir))
    result = CliRunner().invoke(
        app, ["allocate", "--month", "2026-12", "--seed", "1", "--config", str(toml)]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "cases.xlsx" in lines[0] and "[I1]" in lines[0] and "DOCTYPE" in lines[0]
    assert not (small_dir / "qaf.db").exists() or _no_cycles(small_dir)


def _no_cycles(folder: Path) -> bool:
    import sqlite3

    con = sqlite3.connect(folder / "qaf.db")
    try:
        return con.execute("SELECT count(*) FROM cycles").fetchone()[0] == 0
    finally:
        con.close()


def test_the_readers_fast_case_is_the_case_the_dataclass_makes() -> None:
    """qaf.records.new_case (the case list reader's 50,000 rows) makes the same immutable
    Case as ``Case(...)``, each value in its field."""
    from qaf.records import Case, new_case

    values = ("P1", "Team A", "Wren Ash", "Safeguarding", "CP", "Open", "Ada", {"dob": "x"})
    made = new_case(values)
    assert type(made) is Case
    assert made == Case(*values) and repr(made) == repr(Case(*values))
    assert (made.case_id, made.team, made.status, made.name) == ("P1", "Team A", "Open", "Ada")
    assert made.value("dob") == "x" and made.value("category") == "CP"
    with pytest.raises(AttributeError):
        made.team = "Team B"  # type: ignore[misc]
    assert Case("P2", "T", "W", "S", "C").extra == {}


def test_a_cases_other_columns_read_from_its_row_equal_the_dictionary_of_them() -> None:
    """Case.extra is read from the row when asked for (issue 8): text stripped, a datetime
    cell a date, anything else its text; equal to the dictionary, and shown as one."""
    from datetime import datetime

    from qaf.sources import RowCells

    row = ["P1", " N1 ", datetime(2015, 3, 4, 0, 0), date(2020, 1, 2), 7.0, None]
    cells = RowCells(row, {"primary_need": 1, "dob": 2, "last_visit": 3, "ref": 4, "x": 5})
    expected = {
        "primary_need": "N1",
        "dob": date(2015, 3, 4),
        "last_visit": date(2020, 1, 2),
        "ref": "7",
        "x": "",
    }
    assert cells == expected and expected == cells
    assert cells.get("dob") == date(2015, 3, 4) and cells.get("missing") is None
    assert repr(cells) == repr(expected) and len(cells) == 5
