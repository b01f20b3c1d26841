"""The one-pass reader (qaf.xlsxparse) against python-calamine, cell for cell (rule I1).

``qaf.xlsxsafe.read_workbook`` reads a checked workbook from the XML parts its
safety checks already decompressed, and falls back to calamine for anything it
does not handle with certainty. These tests read every kind of .xlsx the suite
has or builds both ways and assert the same ``Workbook``: sheet names and order,
visibility, every cell's value *and type*, merged ranges. Workbooks Excel,
LibreOffice, openpyxl and xlsxwriter write must take the fast path (a fallback
there would silently cost the speed it exists for); odd ones may fall back, but
never differ. Refusals (rule I1) keep their exact messages.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from qaf import xlsxparse
from qaf.auditbook import write_audit_workbooks
from qaf.config import GRADE_DISPLAYS, Limits, read_config
from qaf.samples.simulate import (
    MESSY_KINDS,
    SimulatedReturn,
    fill_workbook,
    fill_workbook_fast,
    simulate_answers,
)
from qaf.sheetsplit import sheet_part
from qaf.workdir import PRESETS, preset_text
from qaf.xlsxparse import error_cells
from qaf.xlsxsafe import (
    Sheet,
    UnreadableFile,
    Workbook,
    _read_fast,
    _read_with_calamine,
    check_parts,
    check_zip,
    read_workbook,
)
from tests.ingest_books import allocation
from tests.zip_parts import zip_of, zip_parts

LIMITS = Limits()
NS = (
    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)


# ------------------------------------------------------------------ comparing


def typed(sheets: tuple[Sheet, ...]) -> list[object]:
    """Everything a Sheet holds, with each value's type (1.0 == True == 1 in Python)."""
    return [
        (s.name, s.visible, s.merged, [[(type(v).__name__, v) for v in row] for row in s.rows])
        for s in sheets
    ]


def fast_sheets(path: Path) -> tuple[Sheet, ...] | None:
    """The fast reader alone: None when it would hand the workbook to calamine."""
    data = path.read_bytes()
    deferred: list[str] = []
    parts = check_parts(check_zip(data, path, LIMITS), path, data, deferred=deferred)
    return _read_fast(parts, deferred, path)


def old_read(path: Path) -> Workbook | str:
    """The reader before this one: every check in zip order, then calamine."""
    data = path.read_bytes()
    try:
        check_parts(check_zip(data, path, LIMITS), path, data)
        return _read_with_calamine(path, data)
    except UnreadableFile as e:
        return str(e)


def new_read(path: Path) -> Workbook | str:
    try:
        return read_workbook(path, LIMITS)
    except UnreadableFile as e:
        return str(e)


def assert_same(path: Path, *, fast: bool = True) -> None:
    """Rule I1: the fast reader gives calamine's Workbook (and is used when ``fast``)."""
    mine = fast_sheets(path)
    if fast:
        assert mine is not None, f"{path.name} fell back to calamine"
    theirs = _read_with_calamine(path, path.read_bytes())
    if mine is not None:
        assert typed(mine) == typed(theirs.sheets)
    assert typed(error_cells_blank(read_workbook(path, LIMITS), path)) == typed(theirs.sheets)


def error_cells_blank(wb: Workbook, path: Path) -> tuple[Sheet, ...]:
    """read_workbook's sheets with the Excel error cells blank again, as both readers give
    them (read_workbook puts their text back: trial 3 F8)."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    for sheet in wb.sheets:
        found = sheet_part(parts, lambda _names, name=sheet.name: name)  # type: ignore[misc]
        for r, c, _text in error_cells(parts[found[1]]) if found else ():
            sheet.rows[r][c] = None
    return wb.sheets


def test_an_error_cell_is_read_as_its_text(tmp_path: Path) -> None:
    """Trial 3 F8: both readers give an Excel error cell as blank; read_workbook gives its
    text, so a broken formula in a grade or date box is not taken for an empty box."""
    path = tmp_path / "errors.xlsx"
    path.write_bytes(raw_book([RAW_SHEETS["booleans-errors-formulas"][0], data("")], strings=SST))
    rows = read_workbook(path, LIMITS).sheets[0].rows
    assert (rows[0][2], rows[0][3], rows[4][0]) == ("#N/A", "#DIV/0!", "#REF!")
    assert _read_with_calamine(path, path.read_bytes()).sheets[0].rows[0][2] is None


# ------------------------------------------------------------------ qaf's own workbooks


@pytest.mark.parametrize("display", GRADE_DISPLAYS)
@pytest.mark.parametrize("preset", PRESETS)
def test_audit_workbooks_of_every_preset_and_display(
    tmp_path: Path, preset: str, display: str
) -> None:
    """Rule I1: blank audit workbooks (xlsxwriter) of every tool, every grade display."""
    (tmp_path / "qaf.toml").write_text(preset_text(preset), encoding="utf-8")
    cfg = read_config(tmp_path / "qaf.toml")
    allocs = [
        allocation(f"2026-12-{i:03d}", f"P{i:06d}", tool=name) for i, name in enumerate(cfg.tools)
    ]
    for path in write_audit_workbooks(allocs, cfg.tools, "Northvale", tmp_path / "out", display):
        assert_same(path)


@pytest.fixture(scope="module")
def generic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    d = tmp_path_factory.mktemp("generic")
    (d / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    cfg = read_config(d / "qaf.toml")
    [blank] = write_audit_workbooks([allocation()], cfg.tools, "Northvale", d / "blank")
    return cfg, blank


@pytest.mark.parametrize("messy", [(), *((k,) for k in MESSY_KINDS), MESSY_KINDS])
def test_returns_filled_by_openpyxl_with_every_messy_variant(
    generic: tuple[Any, Path], tmp_path: Path, messy: tuple[str, ...]
) -> None:
    """Rule I1: returns as staff send them: text dates, merged cells, extra sheets, RI ..."""
    cfg, blank = generic
    tool = cfg.tools["case-audit"]
    ret = simulate_answers(allocation(), tool, random.Random(len(messy)))
    ret = SimulatedReturn(**{**ret.__dict__, "messy": messy})
    assert_same(fill_workbook(blank, tmp_path / "r.xlsx", ret, tool))


def test_returns_filled_in_place_like_the_year_long_simulation(
    generic: tuple[Any, Path], tmp_path: Path
) -> None:
    cfg, blank = generic
    tool = cfg.tools["case-audit"]
    for seed in range(5):
        ret = simulate_answers(allocation(), tool, random.Random(seed))
        assert_same(fill_workbook_fast(blank, tmp_path / f"r{seed}.xlsx", ret, tool))


def test_the_benchmark_returns(tmp_path: Path) -> None:
    """Rule I1: the generated returns bench/run.py ingests, when its cache is there."""
    cache = Path(__file__).resolve().parents[1] / "bench" / ".cache"
    paths = sorted(cache.glob("returns-*/first-1000/*.xlsx"))[:25]
    if not paths:
        pytest.skip("no benchmark cache")
    for path in paths:
        assert_same(path)


# ------------------------------------------------------------------ openpyxl features


def _rich() -> CellRichText:
    return CellRichText(
        "Plain then ", TextBlock(InlineFont(b=True), "bold"), TextBlock(InlineFont(i=True), " <&>")
    )


def openpyxl_book(path: Path, *, epoch_1904: bool = False) -> Path:
    wb = OpenpyxlWorkbook()
    if epoch_1904:
        wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    assert ws is not None
    ws.title = "Audit & <review>"
    rows: list[list[object]] = [
        ["Audit ID", "2026-12-001", 7, 7.25, -0.5, 1e-9, 123456789012345678],
        ["Date of audit", date(2026, 12, 10), datetime(2026, 12, 10, 14, 30, 15), time(9, 45)],
        ["Text date", "10/12/2026", "10 Dec 2026", "2026-12-10", "last Tuesday"],
        ["Booleans", True, False, "TRUE", ""],
        ["Formula", "=1+1", "=A1", '="a"&"b"', "=SUM(C1:D1)"],
        ["Specials", "<&>\"'", "  lead and trail  ", "tab\there", "line\nbreak", "cr\r\nlf"],
        ["Unicode", "Zoë Ångström 王秀英", "👍🏽 👨‍👩‍👧‍👦", "\u202eRTL", "_x0041_ literal"],
        ["Rich", _rich()],
        ["Numbers", 0, -0.0, 1e300, 3.141592653589793, 2958465, 60],
    ]
    for row in rows:
        ws.append(row)
    ws["B12"] = date(1900, 1, 1)
    ws["C12"] = date(1900, 3, 1)
    ws["D12"] = datetime(9999, 12, 31, 23, 59, 59)
    for ref, fmt in (("B13", "dd/mm/yyyy hh:mm"), ("C13", "0.00%"), ("D13", "[h]:mm:ss")):
        ws[ref] = 1.5
        ws[ref].number_format = fmt
    ws["E13"] = 45000
    ws["E13"].number_format = '"Day "d'
    ws.merge_cells("A15:C16")
    ws["A15"] = "Merged"
    ws.merge_cells("E15:E20")
    ws["H30"] = "far corner"
    hidden = wb.create_sheet("qaf")
    hidden["A1"] = "audit_id"
    hidden.sheet_state = "hidden"
    very = wb.create_sheet("very")
    very["B2"] = 1
    very.sheet_state = "veryHidden"
    wb.create_sheet("Empty")
    extra = wb.create_sheet("Notes (extra)")
    extra["A1"] = "My own notes"
    extra.merge_cells("A1:D1")
    wb.save(path)
    return path


def test_openpyxl_workbook_with_every_kind_of_cell(tmp_path: Path) -> None:
    """Rule I1: dates, times, datetimes, booleans, formulas, rich text, merged cells,
    hidden and very hidden sheets, an empty sheet, XML specials and unicode."""
    path = openpyxl_book(tmp_path / "a.xlsx")
    # [h]:mm:ss is a duration, which calamine returns as timedelta: that book falls back
    assert fast_sheets(path) is None
    assert_same(path, fast=False)
    wb = OpenpyxlWorkbook()
    ws = wb.active
    assert ws is not None
    ws["A1"] = 1.5
    ws["A1"].number_format = "[h]:mm:ss"
    wb.save(tmp_path / "duration.xlsx")
    assert fast_sheets(tmp_path / "duration.xlsx") is None


def test_openpyxl_workbook_without_durations_is_read_fast(tmp_path: Path) -> None:
    assert_same(without_durations(openpyxl_book(tmp_path / "a.xlsx")))


def test_1904_workbook(tmp_path: Path) -> None:
    path = without_durations(openpyxl_book(tmp_path / "a.xlsx", epoch_1904=True))
    assert b'date1904="1"' in zip_parts(path)["xl/workbook.xml"]
    assert_same(path)


# ------------------------------------------------------------------ raw XML


STYLES = (
    '<numFmts count="4"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="165" formatCode="&quot;Q&quot;0"/>'
    '<numFmt numFmtId="166" formatCode="[Red]#,##0*y"/>'
    '<numFmt numFmtId="167" formatCode="h:mm AM/PM"/></numFmts>'
    '<cellXfs count="8"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/>'
    '<xf numFmtId="165"/><xf numFmtId="166"/><xf numFmtId="167"/><xf numFmtId="22"/>'
    '<xf fontId="0"/></cellXfs>'
)


def raw_book(
    sheets: list[str],
    *,
    strings: str | None = None,
    styles: str = STYLES,
    workbook_pr: str = "",
    states: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    targets: tuple[str, ...] = (),
) -> bytes:
    """A workbook written XML by XML, as odd producers might."""
    sheet_list = "".join(
        f'<sheet name="{names[i] if i < len(names) else f"S{i + 1}"}" sheetId="{i + 1}"'
        + (f' state="{states[i]}"' if i < len(states) and states[i] else "")
        + f' r:id="rId{i + 1}"/>'
        for i in range(len(sheets))
    )
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" Type="{rel}/worksheet" '
        f'Target="{targets[i] if i < len(targets) else f"worksheets/sheet{i + 1}.xml"}"/>'
        for i in range(len(sheets))
    )
    parts = {
        "[Content_Types].xml": b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"/>',
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ).encode(),
        "xl/workbook.xml": f"<workbook {NS}>{workbook_pr}<sheets>{sheet_list}</sheets></workbook>".encode(),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{rels}</Relationships>"
        ).encode(),
        "xl/styles.xml": f"<styleSheet {NS}>{styles}</styleSheet>".encode(),
    }
    for i, sheet in enumerate(sheets):
        xml = sheet if sheet.startswith("<worksheet") else f"<worksheet {NS}>{sheet}</worksheet>"
        parts[f"xl/worksheets/sheet{i + 1}.xml"] = xml.encode()
    if strings is not None:
        parts["xl/sharedStrings.xml"] = f"<sst {NS}>{strings}</sst>".encode()
    return zip_of(parts)


def data(cells: str) -> str:
    return f"<sheetData>{cells}</sheetData>"


SST = (
    "<si><t>plain</t></si>"
    '<si><t xml:space="preserve">  kept  </t></si>'
    "<si><t>  trimmed\t</t></si>"
    '<si><r><t>rich </t></r><r><rPr><b/><sz val="11"/><color rgb="FF0000FF"/>'
    '<rFont val="Calibri"/></rPr><t xml:space="preserve">text </t></r>'
    '<rPh sb="0" eb="1"><t>PHONETIC</t></rPh><phoneticPr fontId="1"/></si>'
    "<si><t>a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x42;</t></si>"
    "<si><t>line\r\nbreak\rcr &#13;kept</t></si>"
    "<si><t>_x000D_ _x0041__x0042_ _x005F_x0041_ _x00e9_ _x0100_ _x00zz_</t></si>"
    "<si><t/></si>"
    "<si><t>a</t><t>b</t></si>"
    "<si><t>Zoë 王秀英 👍🏽</t></si>"
)

# Sheet XML, and whether the fast reader must read it (False: it may fall back).
RAW_SHEETS: dict[str, tuple[str, bool]] = {
    "excel-shared-strings": (
        data(
            '<row r="1" spans="1:3" x14ac:dyDescent="0.25"><c r="A1" t="s"><v>0</v></c>'
            '<c r="B1" s="1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" t="s"><v>4</v></c>'
            '<c r="C2" t="s"><v>5</v></c><c r="D2" t="s"><v>6</v></c></row>'
            '<row r="3"><c r="A3" t="s"><v>7</v></c><c r="B3" t="s"><v>8</v></c>'
            '<c r="C3" t="s"><v>9</v></c><c r="D3" s="1" t="s"><v></v></c></row>'
        ),
        True,
    ),
    "numbers-and-dates": (
        data(
            '<row r="1"><c r="A1"><v>42</v></c><c r="B1" s="1"><v>46035</v></c>'
            '<c r="C1" s="1"><v>46035.5</v></c><c r="D1" s="2"><v>0.25</v></c>'
            '<c r="E1" s="6"><v>1</v></c><c r="F1" s="1"><v>60</v></c>'
            '<c r="G1" s="1"><v>59</v></c><c r="H1" s="1"><v>61</v></c></row>'
            '<row r="2"><c r="A2" s="3"><v>7</v></c><c r="B2" s="4"><v>7</v></c>'
            '<c r="C2" s="5"><v>0.75</v></c><c r="D2" s="7"><v>46035</v></c>'
            '<c r="E2" s="99"><v>46035</v></c><c r="F2" s="1"><v>-5</v></c>'
            '<c r="G2" s="1"><v>2958465.5</v></c><c r="H2" s="1"><v>2958466</v></c>'
            '<c r="I2" s="1"><v>3000000</v></c><c r="J2" s="1"><v>1e300</v></c>'
            '<c r="K2" s="1"><v>2958465.99999999</v></c><c r="L2" s="1"><v>-693594</v></c>'
            '<c r="M2" s="1"><v>-1500000.25</v></c><c r="N2" s="2"><v>-0.0000001</v></c>'
            '<c r="O2" s="1"><v>-89999999.5</v></c></row>'
            '<row r="3"><c r="A3" n="1"><v>1E+3</v></c><c r="B3"><v>-0</v></c>'
            '<c r="C3" s="1"><v>46035.99999999</v></c><c r="D3" s="1"><v>0.999999999999</v></c>'
            '<c r="E3"><v>1.7976931348623157e308</v></c><c r="F3" t="n"><v>3</v></c></row>'
        ),
        True,
    ),
    "booleans-errors-formulas": (
        data(
            '<row r="1"><c r="A1" t="b"><v>1</v></c><c r="B1" t="b"><v>0</v></c>'
            '<c r="C1" t="e"><v>#N/A</v></c><c r="D1" t="e"><v>#DIV/0!</v></c></row>'
            '<row r="2"><c r="A2"><f>1+1</f><v>2</v></c><c r="B2" t="str"><f>"a"&amp;"b"</f>'
            '<v>ab</v></c><c r="C2" t="str"><f>""</f><v></v></c>'
            '<c r="D2"><f>SUM(A1:A2)</f></c></row>'
            '<row r="3"><c r="A3"><f t="shared" ref="A3:A5" si="0">A2+1</f><v>3</v></c></row>'
            '<row r="4"><c r="A4"><f t="shared" si="0"/><v>4</v></c></row>'
            '<row r="5"><c r="A5" t="e"><f t="shared" si="0"/><v>#REF!</v></c>'
            '<c r="G5" t="str"><v/></c></row>'
        ),
        True,
    ),
    "inline-strings": (
        data(
            '<row r="1"><c r="A1" t="inlineStr"><is><t>inline &amp; &#233;</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t xml:space="preserve"> kept </t></is></c>'
            '<c r="C1" t="inlineStr"><is><t> trimmed </t></is></c>'
            '<c r="D1" t="inlineStr"><is><r><t>ri</t></r><r><rPr><i/></rPr><t>ch</t></r>'
            "</is></c>"
            '<c r="E1" t="inlineStr"><is><t></t></is></c><c r="F1" t="inlineStr"/>'
            '<c r="G1" t="inlineStr"><v>ignored</v></c>'
            '<c r="H1" t="inlineStr"><is><t>x_x000D_y\r\nz</t></is></c></row>'
        ),
        True,
    ),
    "cells-and-rows-without-r": (
        data(
            '<row><c t="inlineStr"><is><t>a</t></is></c><c><v>1</v></c></row>'
            "<row><c/><c><v>2</v></c></row>"
            '<row r="5"><c><v>5</v></c><c r="D5"><v>6</v></c><c><v>7</v></c></row>'
            "<row/>"
            "<row><c><v>8</v></c></row>"
        ),
        True,
    ),
    "empty-rows-and-far-empties": (
        data(
            '<row r="1"><c r="B1"><v>1</v></c></row><row r="2"></row><row r="3"/>'
            '<row r="9"><c r="Z9" s="1"/></row>'
        ),
        True,
    ),
    "later-cell-wins": (
        data('<row r="1"><c r="A1"><v>1</v></c><c r="A1"><v>2</v></c></row>'),
        True,
    ),
    "merged-and-dimension": (
        '<dimension ref="A1:C3"/>'
        + data('<row r="1"><c r="A1" t="inlineStr"><is><t>m</t></is></c></row>')
        + '<mergeCells count="3"><mergeCell ref="A1:C1"/><mergeCell ref="B2:B3"/>'
        '<mergeCell ref="D4"/></mergeCells><pageMargins left="0.7" right="0.7" top="0.75" '
        'bottom="0.75" header="0.3" footer="0.3"/>',
        True,
    ),
    "empty-sheet": ("<sheetData/>", True),
    "pretty-printed": (
        '<sheetData>\n  <row r="1">\n    <c r="A1"><v>1</v></c>\n  </row>\n</sheetData>',
        True,
    ),
    "iso-date-cell": (
        data('<row r="1"><c r="A1" t="d"><v>2026-01-02T03:04:05</v></c></row>'),
        False,
    ),
    "unknown-error": (data('<row r="1"><c r="A1" t="e"><v>#SPILL!</v></c></row>'), False),
    "attributes-out-of-order": (
        data('<row r="1"><c t="s" r="A1"><v>0</v></c><c s="1" r="B1"><v>2</v></c></row>'),
        False,
    ),
    "prefixed-elements": (
        '<x:sheetData xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row></x:sheetData>',
        False,
    ),
    "text-holds-r-attributes": (
        data('<row r="1"><c r="A1" t="inlineStr"><is><t>r="B7" r="C3"</t></is></c></row>'),
        True,
    ),
    "shared-string-index-with-many-digits": (
        data('<row r="1"><c r="A1" t="s"><v>' + "1" * 5000 + "</v></c></row>"),
        False,
    ),
    "number-python-reads-differently": (
        data('<row r="1"><c r="A1"><v>1_000</v></c><c r="B1"><v> 2</v></c></row>'),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(RAW_SHEETS))
def test_raw_xml_sheets(tmp_path: Path, name: str) -> None:
    """Rule I1: shapes other producers write, and shapes only a test would."""
    sheet, must_be_fast = RAW_SHEETS[name]
    path = tmp_path / f"{name}.xlsx"
    path.write_bytes(raw_book([sheet, data("")], strings=SST))
    assert_same(path, fast=must_be_fast)


def test_sheet_order_names_visibility_and_targets(tmp_path: Path) -> None:
    cells = data('<row r="1"><c r="A1"><v>1</v></c></row>')
    path = tmp_path / "wb.xlsx"
    path.write_bytes(
        raw_book(
            [cells, cells, cells, cells],
            names=("Zed &amp; co", "Alpha_x0041_", "&lt;hidden&gt;", "Ünïcode 📋"),
            states=("visible", "", "hidden", "veryHidden"),
            targets=(
                "/xl/worksheets/sheet1.xml",
                "worksheets/sheet2.xml",
                "worksheets/sheet3.xml",
                "worksheets/sheet4.xml",
            ),
            workbook_pr='<workbookPr date1904="true"/>',
        )
    )
    assert_same(path)
    odd = tmp_path / "odd-target.xlsx"  # calamine looks for xl/xl/worksheets/... and skips it
    odd.write_bytes(
        raw_book([cells, cells], targets=("worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"))
    )
    assert fast_sheets(odd) is None
    assert len(read_workbook(odd, LIMITS).sheets) == 1
    wb = read_workbook(path, LIMITS)
    assert [(s.name, s.visible) for s in wb.sheets] == [
        ("Zed & co", True),
        ("Alpha_x0041_", True),
        ("<hidden>", False),
        ("Ünïcode 📋", False),
    ]


def test_strict_ooxml_and_utf16_parts_fall_back(tmp_path: Path) -> None:
    cells = data('<row r="1"><c r="A1"><v>1</v></c></row>')
    path = tmp_path / "strict.xlsx"
    book = raw_book([cells])
    parts = {}
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        for name in z.namelist():
            parts[name] = z.read(name)
    strict = parts["xl/workbook.xml"].replace(
        b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        b"http://purl.oclc.org/ooxml/spreadsheetml/main",
    )
    path.write_bytes(zip_of({**parts, "xl/workbook.xml": strict}))
    assert fast_sheets(path) is None
    utf16 = parts["xl/worksheets/sheet1.xml"].decode().replace("<worksheet", "<worksheet", 1)
    path.write_bytes(zip_of({**parts, "xl/worksheets/sheet1.xml": utf16.encode("utf-16")}))
    assert fast_sheets(path) is None
    assert new_read(path) == old_read(path)


# ------------------------------------------------------------------ refusals


def test_extent_is_checked_exactly_as_before_even_when_deferred(tmp_path: Path) -> None:
    """Rule I1: a sheet reaching too far is refused with the same message, before a later
    part's DTD, and an r="..." inside text counts as it always did."""
    far = data('<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    in_text = data('<row r="1"><c r="A1" t="inlineStr"><is><t>r="XFD1048576"</t></is></c></row>')
    for name, sheets in (("far", [far]), ("in-text", [in_text]), ("second", [data(""), far])):
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(raw_book(sheets))
        assert "too large to read" in str(old_read(path))
        assert new_read(path) == old_read(path)
    parts = zip_parts(tmp_path / "far.xlsx")
    parts["xl/styles.xml"] = b'<!DOCTYPE x [<!ENTITY a "b">]><styleSheet/>'
    both = tmp_path / "both.xlsx"
    both.write_bytes(zip_of(parts))
    assert new_read(both) == old_read(both)
    reordered = {k: v for k, v in parts.items() if "sheet1" not in k}
    reordered["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"]
    both.write_bytes(zip_of(reordered))
    assert "DOCTYPE" in str(new_read(both))
    assert new_read(both) == old_read(both)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.conftest import build_small_dir
    from tests.test_adversarial import good_return, workbook_corpus

    base = tmp_path_factory.mktemp("corpus")
    cfg = read_config(build_small_dir(base) / "qaf.toml")
    return workbook_corpus(cfg, good_return(cfg, base), base)


def test_adversarial_corpus_reads_or_refuses_exactly_as_before(corpus: dict[str, Path]) -> None:
    """Rule I1: every hostile or broken file of the corpus: the same Workbook, or the
    same one-line refusal, as the calamine reader gave."""
    fast = 0
    for name, path in sorted(corpus.items()):
        before, now = old_read(path), new_read(path)
        if isinstance(before, str):
            assert now == before, name
        else:
            assert isinstance(now, Workbook), (name, now)
            assert typed(now.sheets) == typed(before.sheets), name
            fast += fast_sheets(path) is not None
    assert fast >= 20  # the accepted ones are read by the fast reader, not handed back


def test_randomly_corrupted_sheet_xml_never_differs(corpus: dict[str, Path]) -> None:
    """Rule I1: damage inside the XML either reads the same, falls back, or is refused."""
    good = corpus["emoji"].parent / "good" / "2026-12-001.xlsx"
    parts = zip_parts(good)
    rng = random.Random(5)
    target = corpus["emoji"].parent / "fuzz.xlsx"
    for seed in range(150):
        name = ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/workbook.xml")[seed % 3]
        b = bytearray(parts[name])
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.choice(b'<>/"=&;abc 01rst')
        target.write_bytes(zip_of({**parts, name: bytes(b)}))
        before, now = old_read(target), new_read(target)
        if isinstance(now, Workbook) and isinstance(before, Workbook):
            assert typed(now.sheets) == typed(before.sheets), seed
        elif isinstance(before, str):
            assert isinstance(now, str) or fast_sheets(target) is not None, seed


def test_unpack_cache_serves_only_identical_parts(tmp_path: Path) -> None:
    """A part of the same size but other bytes is unpacked and checked afresh."""
    cells = data('<row r="1"><c r="A1"><v>1</v></c></row>')
    one = tmp_path / "one.xlsx"
    one.write_bytes(raw_book([cells]))
    assert typed(read_workbook(one, LIMITS).sheets)[0][3] == [[("float", 1.0)]]
    two = tmp_path / "two.xlsx"
    two.write_bytes(raw_book([cells.replace("<v>1</v>", "<v>2</v>")]))
    assert typed(read_workbook(two, LIMITS).sheets)[0][3] == [[("float", 2.0)]]
    raw = bytearray(one.read_bytes())
    at = raw.find(b"xl/worksheets/sheet1.xml") + len("xl/worksheets/sheet1.xml")
    raw[at + 5] ^= 0x01  # flip a compressed byte of the sheet: its CRC no longer matches
    tampered = tmp_path / "tampered.xlsx"
    tampered.write_bytes(bytes(raw))
    assert new_read(tampered) == old_read(tampered)
    assert isinstance(new_read(tampered), str)


# ------------------------------------------------------------------ LibreOffice


def without_durations(path: Path) -> Path:
    """The book with openpyxl's [h]:mm:ss (built-in 46, a duration) shown as h:mm:ss."""
    parts = zip_parts(path)
    styles = parts["xl/styles.xml"].replace(b'numFmtId="46"', b'numFmtId="21"')
    path.write_bytes(zip_of({**parts, "xl/styles.xml": styles}))
    return path


@pytest.fixture(scope="module")
def libreoffice_books(
    tmp_path_factory: pytest.TempPathFactory, generic: tuple[Any, Path]
) -> list[Path]:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    base = tmp_path_factory.mktemp("lo")
    src = base / "src"
    src.mkdir()
    without_durations(openpyxl_book(src / "features.xlsx"))
    without_durations(openpyxl_book(src / "features1904.xlsx", epoch_1904=True))
    cfg, blank = generic
    tool = cfg.tools["case-audit"]
    ret = simulate_answers(allocation(), tool, random.Random(1))
    ret = SimulatedReturn(**{**ret.__dict__, "messy": MESSY_KINDS})
    fill_workbook(blank, src / "messy-return.xlsx", ret, tool)
    shutil.copy(blank, src / "blank-return.xlsx")
    out = base / "out"
    profile = base / "profile"
    cmd = [
        soffice,
        f"-env:UserInstallation=file://{profile}",
        "--headless",
        "--convert-to",
        "xlsx",
        "--outdir",
        str(out),
        *map(str, sorted(src.glob("*.xlsx"))),
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    except (subprocess.SubprocessError, OSError) as e:
        pytest.skip(f"LibreOffice could not convert: {e}")
    books = sorted(out.glob("*.xlsx"))
    if not books:
        pytest.skip("LibreOffice wrote nothing")
    return books


def test_workbooks_saved_by_libreoffice(libreoffice_books: list[Path]) -> None:
    """Rule I1: LibreOffice's shared strings, styles and row attributes."""
    for path in libreoffice_books:
        mine = fast_sheets(path)
        theirs = _read_with_calamine(path, path.read_bytes())
        if mine is not None:
            assert typed(mine) == typed(theirs.sheets), path.name
        assert typed(read_workbook(path, LIMITS).sheets) == typed(theirs.sheets)
    assert len(libreoffice_books) == 4
    assert all(fast_sheets(p) is not None for p in libreoffice_books)


# ------------------------------------------------------------------ hypothesis

_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="".join(map(chr, (*range(0, 9), 11, 12, *range(14, 32)))),
    ),
    max_size=40,
)
_VALUE = st.one_of(
    _TEXT,
    st.sampled_from(["<&>", "_x0041_", "_x000D_", " lead", "trail\t", "a\r\nb", "&amp;"]),
    st.floats(min_value=-8e7, allow_nan=False, allow_infinity=False),  # -1e13: chrono panics
    st.integers(min_value=-80_000_000, max_value=2**53),
    st.booleans(),
    st.dates(min_value=date(1900, 3, 1)),
    st.datetimes(min_value=datetime(1900, 3, 1)).map(lambda d: d.replace(microsecond=0)),
    st.times().map(lambda t: t.replace(microsecond=0)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(st.tuples(st.integers(1, 12), st.integers(1, 6), _VALUE), max_size=25))
def test_random_cells_written_by_openpyxl_read_back_equal(
    tmp_path_factory: pytest.TempPathFactory, cells: list[tuple[int, int, Any]]
) -> None:
    """Rule I1: text with XML specials and any script, numbers, booleans, dates, times."""
    wb = OpenpyxlWorkbook()
    ws = wb.active
    assert ws is not None
    for r, c, v in cells:
        if isinstance(v, str) and v.startswith("="):
            v = " " + v  # openpyxl would write a formula
        ws.cell(row=r, column=c, value=v)
    path = tmp_path_factory.mktemp("h") / "h.xlsx"
    wb.save(path)
    assert_same(path)


_XML_TEXT = st.lists(
    st.sampled_from(
        [
            *"ab _x0123456789ABCDEFdz\t\r\n",
            *("&amp;", "&lt;", "&#13;", "&#x41;", "&#32;", "&#9;", "&apos;", '"', ">"),
            *("é", "王", "\u00a0", "_x00", "_x0020_", "_x000D_"),
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.tuples(_XML_TEXT, st.booleans()), min_size=1, max_size=6),
    serials=st.lists(
        st.tuples(
            st.floats(min_value=-1000, max_value=3_000_000, allow_nan=False), st.integers(0, 7)
        ),
        max_size=6,
    ),
)
def test_random_raw_text_and_serials_read_like_calamine(
    tmp_path_factory: pytest.TempPathFactory,
    texts: list[tuple[str, bool]],
    serials: list[tuple[float, int]],
) -> None:
    """Rule I1: line ends, entities, _xHHHH_ escapes and white space in shared, inline and
    formula strings; date serials in every kind of number format."""

    def t(text: str, keep: bool) -> str:
        return f'<t xml:space="preserve">{text}</t>' if keep else f"<t>{text}</t>"

    strings = "".join(f"<si>{t(x, k)}</si>" for x, k in texts)
    row1 = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is>{t(x, k)}</is></c>'
        for i, (x, k) in enumerate(texts)
    )
    row2 = "".join(f'<c r="{chr(65 + i)}2" t="s"><v>{i}</v></c>' for i in range(len(texts)))
    row3 = "".join(
        f'<c r="{chr(65 + i)}3" t="str"><v>{x}</v></c>' for i, (x, _) in enumerate(texts)
    )
    row4 = "".join(
        f'<c r="{chr(65 + i)}4" s="{s}"><v>{v!r}</v></c>' for i, (v, s) in enumerate(serials)
    )
    sheet = data(f'<row r="1">{row1}</row><row r="2">{row2}</row><row r="3">{row3}</row>')
    sheet = sheet.replace("</sheetData>", f'<row r="4">{row4}</row></sheetData>')
    path = tmp_path_factory.mktemp("x") / "x.xlsx"
    path.write_bytes(raw_book([sheet], strings=strings))
    assert_same(path, fast=False)


def test_a_serial_that_makes_calamine_panic_is_one_plain_line(tmp_path: Path) -> None:
    """Rule I1: chrono panics on a date serial of -1e13 (PanicException is no Exception)."""
    path = tmp_path / "panic.xlsx"
    path.write_bytes(raw_book([data('<row r="1"><c r="A1" s="1"><v>-1e13</v></c></row>')]))
    message = new_read(path)
    assert isinstance(message, str) and "cannot be read as an Excel workbook" in message
    assert "\n" not in message


def test_format_codes_are_read_as_calamine_reads_them() -> None:
    """Rule I1: which custom number formats make a cell a date (or a duration)."""
    cases = {
        "dd/mm/yyyy": xlsxparse.DATETIME,
        "[$-409]mmm": xlsxparse.DATETIME,
        '"Day "d': xlsxparse.DATETIME,
        "0.00%": xlsxparse.OTHER,
        '0.00"d"': xlsxparse.OTHER,
        "[Red]0": xlsxparse.OTHER,
        "0;dd": xlsxparse.OTHER,
        "am/pm": xlsxparse.DATETIME,
        "General": xlsxparse.OTHER,
        "[h]:mm:ss": xlsxparse.TIMEDELTA,
        "@": xlsxparse.OTHER,
        "\\Y000000": xlsxparse.OTHER,
    }
    assert {code: xlsxparse.format_kind(code) for code in cases} == cases


def test_reader_speed_bench_runs_and_reports_every_figure(tmp_path: Path) -> None:
    """bench/reader_speed.py end to end on three returns (no timing is asserted)."""
    import json
    import sys

    root = Path(__file__).resolve().parents[1]
    empty = tmp_path / "none"
    empty.mkdir()
    script = str(root / "bench" / "reader_speed.py")
    args = ["--files", "3", "--repeat", "1", "--json", "--dir", str(empty)]
    out = subprocess.run(
        [sys.executable, script, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    figures = {f["name"]: f for f in map(json.loads, out.splitlines())}
    assert set(figures) == {
        "reader-old",
        "reader-new",
        "reader-new-cold",
        "reader-floor",
        "reader-fast-share",
    }
    assert figures["reader-fast-share"]["value"] == 1.0


def test_a_slip_of_the_fast_reader_falls_back_to_calamine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule I1: an unforeseen error inside the fast reader costs speed, never the file."""
    path = tmp_path / "a.xlsx"
    path.write_bytes(raw_book([data('<row r="1"><c r="A1"><v>1</v></c></row>')]))

    def slip(*args: object) -> object:
        raise TypeError("a bug")

    monkeypatch.setattr(xlsxparse, "sheet_values", slip)
    assert fast_sheets(path) is None
    assert typed(read_workbook(path, LIMITS).sheets) == [("S1", True, (), [[("float", 1.0)]])]
