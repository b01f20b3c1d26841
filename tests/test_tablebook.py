"""qaf.tablebook: the allocation list written directly as XML reads back as the
xlsxwriter workbook it replaces did (issue 8): the same sheets, values, types, styles,
frozen header, filter and widths, in calamine, openpyxl and LibreOffice. Formula-like
text stays text (DESIGN §6); the same tables give the same bytes (rule S2)."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from qaf.allocate import AllocationResult, History, ModerationPick, Unallocated, allocate_cycle
from qaf.allocate_run import calendar_for
from qaf.config import read_config
from qaf.sources import read_cases, read_staff
from qaf.tablebook import Table, table_workbook, text_element
from qaf.workbooks import (
    DOC_DATE,
    FORMULA_STARTS,
    allocation_tables,
    allocation_workbook_bytes,
    sheet_names,
)
from qaf.workdir import init_directory

FORMULA = "=cmd|' /C calc'!A0"


def write_cell(  # the oracle's: how qaf wrote cells with xlsxwriter until tablebook
    ws: Any,
    row: int,
    col: int,
    value: Any,
    fmt: Any = None,
    *,
    date_fmt: Any = None,
    quoted: Any = None,
) -> None:
    """Write one value with xlsxwriter, never as a formula.

    Strings are string cells (``quoted`` format for formula-like text, which
    should carry ``quote_prefix``); dates get ``date_fmt``; numbers are numbers;
    None is a blank.
    """
    if type(value) is str:  # the common case first
        ws.write_string(
            row, col, value, quoted if (quoted and value.startswith(FORMULA_STARTS)) else fmt
        )
    elif value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, datetime | date):
        ws.write_datetime(row, col, value, date_fmt or fmt)
    else:
        text = str(value)
        ws.write_string(
            row, col, text, quoted if (quoted and text.startswith(FORMULA_STARTS)) else fmt
        )


def new_workbook(target: io.BytesIO) -> Any:
    """An in-memory xlsxwriter workbook that never turns text into formulas or links."""
    import xlsxwriter  # only when a workbook is made: its import takes ~50 ms

    wb = xlsxwriter.Workbook(
        target,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    wb.set_properties({"author": "qaf", "created": DOC_DATE})
    return wb


MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[AllocationResult, dict[str, str]]:
    """The demo authority's allocation, some of it made messy, and the tools' names."""
    folder = tmp_path_factory.mktemp("northvale")
    init_directory(folder, demo=True)
    cfg = read_config(folder / "qaf.toml")
    cases, staff = read_cases(cfg.cases).cases, read_staff(cfg.staff).staff
    result = allocate_cycle("2026-12", cases, staff, cfg, calendar_for(cfg), History(), 7)
    names = {tool_id: tool.name for tool_id, tool in cfg.tools.items()}
    return _messy(result), names


def _messy(result: AllocationResult) -> AllocationResult:
    first, second, third, fourth, *rest = result.allocations
    obrien = "Siobhán O'Brien"
    changed = (
        dataclasses.replace(
            first,
            auditor=obrien,
            case_id=FORMULA,
            worker="Bell\x07Ringer",
            team="Team _x0041_ & <North>",
        ),
        dataclasses.replace(
            second,
            auditor=obrien,
            reaudit_of="A-2026-11-0003",
            reaudit_round=2,
            subject=" leading space",
            service="Line one\nLine two",
        ),
        dataclasses.replace(third, worker="+44 7700 900123", auditor_email="@handle"),
        dataclasses.replace(fourth, category="-1", auditor='Zoë — 日本 "Quoted" & Co'),
    )
    return dataclasses.replace(result, allocations=(*changed, *rest))


def _with_leftovers(result: AllocationResult) -> AllocationResult:
    unallocated = (Unallocated("P000009", "no auditor may audit this case"),)
    moderation = (
        ModerationPick(
            "A-2026-12-0001", 4, "P000001", "Tia Forbes", None, "random 15%", "Mo Derator",
            "mo@example.org", date(2027, 1, 8),
        ),
    )  # fmt: skip
    return dataclasses.replace(result, unallocated=unallocated, moderation=moderation)


def xlsxwriter_book(tables: list[Table], title: str) -> bytes:
    """The allocation workbook as qaf wrote it with xlsxwriter before issue 8 (the oracle)."""
    buf = io.BytesIO()
    wb = new_workbook(buf)
    wb.set_properties({"title": title, "author": "qaf", "created": DOC_DATE})
    head = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    day = wb.add_format({"num_format": "dd/mm/yyyy"})
    quoted = wb.add_format({"quote_prefix": True})
    for name, headers, rows in tables:
        ws = wb.add_worksheet(name)
        widths = [len(h) for h in headers]
        for c, h in enumerate(headers):
            ws.write_string(0, c, h, head)
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row):
                write_cell(ws, r, c, v, date_fmt=day, quoted=quoted)
                width = 10 if type(v) is date else 0 if v is None else len(str(v))
                widths[c] = max(widths[c], width)
        for c, width in enumerate(widths):
            ws.set_column(c, c, min(width + 2, 60))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)
    wb.close()
    return buf.getvalue()


def calamine_sheets(data: bytes) -> dict[str, list[list[Any]]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def openpyxl_cells(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every cell's value, type and style as openpyxl reads them, by sheet."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {
        ws.title: [
            (
                cell.coordinate,
                cell.value,
                cell.data_type,
                cell.number_format,
                bool(cell.font.b),
                cell.fill.fill_type,
                cell.fill.fgColor.rgb if cell.fill.fill_type else None,
                cell.border.left.style,
                cell.border.bottom.style,
                bool(cell.quotePrefix),
            )
            for row in ws.iter_rows()
            for cell in row
        ]
        for ws in book.worksheets
    }


def openpyxl_layout(data: bytes) -> dict[str, tuple[Any, ...]]:
    """Each sheet's frozen cell, filter range and column widths (column letter -> width)."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    layout = {}
    for ws in book.worksheets:
        widths = {
            openpyxl.utils.get_column_letter(i): d.width
            for d in ws.column_dimensions.values()
            for i in range(d.min, d.max + 1)
        }
        layout[ws.title] = (ws.freeze_panes, ws.auto_filter.ref, widths)
    props = book.properties
    layout[""] = (props.title, props.creator, props.created)
    return layout


@pytest.mark.parametrize("leftovers", [False, True], ids=["nothing-left-over", "left-over"])
def test_reads_back_as_the_xlsxwriter_workbook_did(
    demo: tuple[AllocationResult, dict[str, str]], leftovers: bool
) -> None:
    """Every sheet name and cell value (calamine and openpyxl), every cell's type and style,
    frozen header, filter range, column widths and document properties are those of the
    xlsxwriter workbook; with nothing unallocated there is no "Unallocated" sheet and an
    empty "Moderation" one."""
    result, names = demo
    if leftovers:
        result = _with_leftovers(result)
    new = allocation_workbook_bytes(result, names)
    old = xlsxwriter_book(allocation_tables(result, names), "Allocation 2026-12")
    assert calamine_sheets(new) == calamine_sheets(old)
    assert openpyxl_cells(new) == openpyxl_cells(old)
    assert openpyxl_layout(new) == openpyxl_layout(old)
    sheets = list(calamine_sheets(new))
    auditors = sorted({a.auditor for a in result.allocations})
    tail = ["Unallocated", "Moderation"] if leftovers else ["Moderation"]
    assert sheets == ["Allocations", *sheet_names(auditors), *tail]
    assert "Siobhán O'Brien" in sheets


def test_styles_dates_and_formula_text(demo: tuple[AllocationResult, dict[str, str]]) -> None:
    """DESIGN §6: text like a formula is a string cell with the quote prefix, never a
    formula; the header is bold on a blue fill with a border; dates are dates, dd/mm/yyyy."""
    result, names = demo
    book = openpyxl.load_workbook(io.BytesIO(allocation_workbook_bytes(result, names)))
    ws = book["Allocations"]
    header = ws["A1"]
    assert header.value == "Audit ID" and header.font.b and header.border.left.style == "thin"
    assert header.fill.fgColor.rgb == "FFD9E1F2"
    formula = ws["B2"]
    assert (formula.value, formula.data_type, formula.quotePrefix) == (FORMULA, "s", True)
    assert not ws["A2"].quotePrefix
    due = ws["L2"]
    assert due.is_date and due.number_format == "dd/mm/yyyy"
    assert due.value == datetime.combine(result.allocations[0].due, datetime.min.time())
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:O{len(result.allocations) + 1}"
    assert ws.column_dimensions["B"].width == pytest.approx(len(FORMULA) + 2, abs=1)


def test_filter_names_quote_the_sheet_name(demo: tuple[AllocationResult, dict[str, str]]) -> None:
    """Each sheet's filter has Excel's hidden _xlnm._FilterDatabase name, the sheet name
    quoted ('O''Brien'); the sheet names are escaped in workbook.xml."""
    result, names = demo
    with zipfile.ZipFile(io.BytesIO(allocation_workbook_bytes(result, names))) as z:
        workbook = ElementTree.fromstring(z.read("xl/workbook.xml"))
    sheets = [s.get("name") for s in workbook.iter(f"{MAIN}sheet")]
    defined = {
        int(d.get("localSheetId", "-1")): (d.get("name"), d.get("hidden"), d.text)
        for d in workbook.iter(f"{MAIN}definedName")
    }
    assert len(defined) == len(sheets)
    obrien = sheets.index("Siobhán O'Brien")
    assert defined[obrien] == ("_xlnm._FilterDatabase", "1", "'Siobhán O''Brien'!$A$1:$O$3")
    assert 'Zoë — 日本 "Quoted" & Co' in sheets
    assert defined[len(sheets) - 1][2] == "'Moderation'!$A$1:$H$2"  # an empty table: one row


def test_same_tables_same_bytes_rule_s2(demo: tuple[AllocationResult, dict[str, str]]) -> None:
    result, names = demo
    assert allocation_workbook_bytes(result, names) == allocation_workbook_bytes(result, names)
    with zipfile.ZipFile(io.BytesIO(allocation_workbook_bytes(result, names))) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert z.testzip() is None


@pytest.mark.parametrize(
    ("text", "xml"),
    [
        ("plain", "<t>plain</t>"),
        ("A & B <C>", "<t>A &amp; B &lt;C&gt;</t>"),
        ("\"quoted\" 'too'", "<t>\"quoted\" 'too'</t>"),
        ("bell\x07", "<t>bell_x0007_</t>"),
        ("nul\x00 esc\x1b", "<t>nul_x0000_ esc_x001B_</t>"),
        ("cr\rlf\ntab\t", '<t xml:space="preserve">cr_x000D_lf\ntab\t</t>'),
        ("_x0041_", "<t>_x005F_x0041_</t>"),
        ("_xZZZZ_ _x41_", "<t>_xZZZZ_ _x41_</t>"),
        ("\ufffe", "<t>_xFFFE_</t>"),
        (" edge ", '<t xml:space="preserve"> edge </t>'),
        ("Zoë — 日本", "<t>Zoë — 日本</t>"),
    ],
)
def test_text_is_escaped_as_excel_does(text: str, xml: str) -> None:
    """XML escapes; characters XML 1.0 forbids as Excel's _xHHHH_ (xlsxwriter's rule), a
    literal _xHHHH_ guarded by _x005F_; newlines and tabs kept."""
    assert text_element(text) == xml


def test_every_value_type_reads_back() -> None:
    """str, None and "" (blank), bool, int, float, date, datetime, and other values as text;
    the same in calamine and openpyxl as xlsxwriter's workbook."""
    rows = [
        ["text", None, True, 3, 2.5, date(2026, 12, 24), datetime(2026, 12, 24, 13, 30)],
        ["", False, -7, 1e20, float("nan"), date(2000, 1, 1), Path("other/value")],
        ["@sum", "line\nbreak", 0, 0.1, None, None, "tab\tinside"],
        ["a row shorter than the headers, and wider than the column", 12],
    ]
    tables: list[Table] = [("Values", [f"Column {i}" for i in range(7)], rows)]
    new = table_workbook(tables, title="Values")
    old = xlsxwriter_book(
        [(n, h, [[_nan_as_text(v) for v in r] for r in rs]) for n, h, rs in tables], "Values"
    )
    assert calamine_sheets(new) == calamine_sheets(old)
    assert openpyxl_cells(new) == openpyxl_cells(old)
    assert openpyxl_layout(new) == openpyxl_layout(old)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4), st.text(min_size=1, max_size=31))
def test_any_text_reads_back_as_xlsxwriter_wrote_it(texts: list[str], sheet: str) -> None:
    """Whatever the text (control characters, _xHHHH_, XML specials, edge spaces), both
    readers give what they gave for the xlsxwriter workbook; sheet names as sheet_names
    makes them."""
    name = sheet_names([sheet])[0]
    tables: list[Table] = [(name, ["Text"], [[t] for t in texts])]
    new, old = table_workbook(tables), xlsxwriter_book(tables, "")
    assert calamine_sheets(new) == calamine_sheets(old)
    assert openpyxl_cells(new) == openpyxl_cells(old)


def _nan_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, float) and value != value else value


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_same(
    demo: tuple[AllocationResult, dict[str, str]], tmp_path: Path
) -> None:
    """LibreOffice shows every sheet of the new workbook as it showed the xlsxwriter one
    (values as displayed: dates by their number format, formula-like text as text)."""
    result, names = demo
    result = _with_leftovers(result)
    (tmp_path / "new.xlsx").write_bytes(allocation_workbook_bytes(result, names))
    old = xlsxwriter_book(allocation_tables(result, names), "Allocation 2026-12")
    (tmp_path / "old.xlsx").write_bytes(old)
    every_sheet = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            every_sheet,
            "--outdir",
            str(tmp_path / "csv"),
            str(tmp_path / "new.xlsx"),
            str(tmp_path / "old.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    new_sheets = {p.name[4:]: p.read_text("utf-8") for p in (tmp_path / "csv").glob("new-*.csv")}
    old_sheets = {p.name[4:]: p.read_text("utf-8") for p in (tmp_path / "csv").glob("old-*.csv")}
    assert len(new_sheets) == len(calamine_sheets(old)) and new_sheets == old_sheets
    assert FORMULA in new_sheets["Allocations.csv"]


def test_sheet_names_xml_can_hold_and_excel_can_count() -> None:
    """A roster name with a character XML cannot hold still makes a sheet name; the length
    is counted as Excel counts it (UTF-16: a character beyond U+FFFF takes two)."""
    names = ["Bell\x07Ringer", "Tab\tName", "\ufffe", "O'Brien", "0" * 22 + "𐀀" * 5]
    assert sheet_names(names) == ["Bell_Ringer", "Tab_Name", "_", "O'Brien", "0" * 22 + "𐀀" * 4]
