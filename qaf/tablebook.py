"""A workbook of plain tables, written directly as SpreadsheetML (issue 8).

Owns the .xlsx made of tables (:func:`table_workbook`): a sheet per (name, headers,
rows), the header row bold on a blue fill with a thin border, frozen and filtered;
columns as wide as their longest value (at most 60); text as shared strings (what Excel
writes), formula-like text with Excel's quote-prefix style so that it stays text (the
rule of qaf.workbooks: never a formula); numbers and booleans as themselves, dates as
serial numbers styled dd/mm/yyyy. Owns too the text of a cell (:func:`text_element`):
XML escapes, and Excel's ``_xHHHH_`` for the characters XML 1.0 forbids.

Each sheet is made in one pass as strings. xlsxwriter took ~130 ms for the allocation
list's ~320 sheets, almost all of it per-sheet set-up (name checks that grow with the
square of the sheet count, column and XML writer objects). Deterministic (rule S2): a
fixed document date and zip entries dated 1980-01-01, so the same tables give the same
bytes.
"""

from __future__ import annotations

import functools
import io
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from qaf.workbooks import DOC_DATE, FORMULA_STARTS

# (sheet name, headers, rows): names must be valid and unique (qaf.workbooks.sheet_names)
Table = tuple[str, Sequence[str], Sequence[Sequence[Any]]]

MAX_CELL = 32_767  # characters Excel keeps in a cell
MAX_WIDTH = 60
DATE_WIDTH = 10  # dd/mm/yyyy

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
CT_OFFICE = "application/vnd.openxmlformats-officedocument."
CT_PACKAGE = "application/vnd.openxmlformats-package."

_ESCAPED = re.compile("(_x[0-9a-fA-F]{4}_)")
_FORBIDDEN = re.compile("([\x00-\x08\x0b-\x1f\ufffe\uffff])")  # tab and newline are kept
_EPOCH = datetime(1899, 12, 30)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# cellXfs: default, header (bold, fill, border), date, quote-prefixed text
_HEADER, _DATE, _QUOTED = ' s="1"', ' s="2"', ' s="3"'
_STYLES = (
    XML_HEAD + f'<styleSheet xmlns="{NS_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFD9E1F2"/><bgColor indexed="64"/>'
    "</patternFill></fill></fills>"
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/>'
    '</right><top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/>'
    "</bottom><diagonal/></border></borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1"'
    ' applyBorder="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)  # fmt: skip
ROOT_RELS = (
    XML_HEAD + f'<Relationships xmlns="{NS_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{NS_PKG_REL}/metadata/core-properties"'
    ' Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{NS_REL}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)  # fmt: skip
APP_PROPERTIES = (
    XML_HEAD
    + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>Microsoft Excel</Application></Properties>"
)  # fmt: skip
_SHEET_VIEW = (
    '<sheetView{selected} workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '<selection pane="bottomLeft"/></sheetView>'
)
_MARGINS = (
    '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
)


def text_element(text: str) -> str:
    """The ``<t>`` element of a cell's text: XML-escaped, characters XML forbids as Excel's
    ``_xHHHH_`` (a literal ``_x0041_`` as ``_x005F_x0041_``), edge spaces preserved."""
    if "_x" in text:
        text = _ESCAPED.sub(r"_x005F\1", text)
    if not text.isprintable():
        text = _FORBIDDEN.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = escape(text)
    if text[:1].isspace() or text[-1:].isspace():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def escape(text: str) -> str:
    """Text for XML element content."""
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def attribute(text: str) -> str:
    """Text for an XML attribute value in double quotes."""
    return escape(text).replace('"', "&quot;")


@functools.cache
def column_letter(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA'."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def core_properties(creator: str, created: datetime, title: str = "") -> str:
    """docProps/core.xml: the document's author, title and (fixed) date."""
    when = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    title_element = f"<dc:title>{escape(title)}</dc:title>" if title else ""
    return (
        XML_HEAD
        + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{title_element}<dc:creator>{escape(creator)}</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified>'
        "</cp:coreProperties>"
    )  # fmt: skip


@functools.cache
def column_width(characters: int) -> str:
    """The ``width`` attribute of a column ``characters`` wide as xlsxwriter's ``set_column``
    stores it (Calibri 11: 7-pixel digits and 5 pixels of padding, in 1/256ths)."""
    width = int((int(characters * 7 + 0.5) + 5) / 7 * 256) / 256
    return f'width="{width}" customWidth="1"'


@dataclass(frozen=True)
class _Row:
    """A row's XML with ``{0}`` where its number goes, so that a row on two sheets (every
    row of the allocation list) is made once; the width of each value, and how many of its
    cells are shared strings."""

    xml: str
    widths: tuple[int, ...]
    strings: int


class _Book:
    """What the sheets share: the shared-string table (each distinct text once, cells refer
    to it by its index) and the rows made, by the identity of the row object (kept, so
    that no other row takes its id while the workbook is made)."""

    def __init__(self) -> None:
        self.strings: dict[str, int] = {}
        self.string_cells = 0
        self.serials: dict[date, int] = {}
        self.rows: dict[int, tuple[Sequence[Any], _Row]] = {}
        self.header_rows: dict[tuple[str, ...], _Row] = {}

    def string(self, text: str) -> int:
        number = self.strings.get(text)
        if number is None:
            number = self.strings[text] = len(self.strings)
        return number

    def row(self, values: Sequence[Any]) -> _Row:
        seen = self.rows.get(id(values))
        if seen is None:
            seen = self.rows[id(values)] = (values, _RowMaker(self).row(values))
        self.string_cells += seen[1].strings
        return seen[1]

    def header_row(self, headers: Sequence[str]) -> _Row:
        key = tuple(headers)
        made = self.header_rows.get(key)
        if made is None:
            cells = "".join(
                f'<c r="{column_letter(c)}{{0}}"{_HEADER} t="s"><v>{self.string(h)}</v></c>'
                for c, h in enumerate(headers)
            )
            widths = tuple(len(h) for h in headers)
            made = self.header_rows[key] = _Row(f'<row r="{{0}}">{cells}</row>', widths, len(key))
        self.string_cells += made.strings
        return made

    def shared_strings(self) -> str:
        items = "".join(f"<si>{text_element(t)}</si>" for t in self.strings)
        return (
            f'{XML_HEAD}<sst xmlns="{NS_MAIN}" count="{self.string_cells}"'
            f' uniqueCount="{len(self.strings)}">{items}</sst>'
        )


class _RowMaker:
    """Turns one row of values into a :class:`_Row`."""

    def __init__(self, book: _Book) -> None:
        self.book = book
        self.strings = 0

    def row(self, values: Sequence[Any]) -> _Row:
        cells = ['<row r="{0}">']
        widths = []
        for c, value in enumerate(values):
            ref = column_letter(c) + "{0}"
            if type(value) is str:  # the common case first
                cell, width = self.text(ref, value), len(value)
            elif value is None:
                cell, width = "", 0
            else:
                cell, width = self.cell(ref, value)
            cells.append(cell)
            widths.append(width)
        cells.append("</row>")
        return _Row("".join(cells), tuple(widths), self.strings)

    def text(self, ref: str, value: str) -> str:
        self.strings += 1  # "" too: an empty text cell, as xlsxwriter writes it
        style = _QUOTED if value.startswith(FORMULA_STARTS) else ""
        return f'<c r="{ref}"{style} t="s"><v>{self.book.string(value[:MAX_CELL])}</v></c>'

    def cell(self, ref: str, value: Any) -> tuple[str, int]:
        """A cell that is not text: its XML and its width in characters."""
        if type(value) is date:
            serial = self.book.serials.get(value)
            if serial is None:
                serial = self.book.serials[value] = (value - _EPOCH.date()).days
            return f'<c r="{ref}"{_DATE}><v>{serial}</v></c>', DATE_WIDTH
        if isinstance(value, bool):
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>', len(str(value))
        if isinstance(value, int | float) and math.isfinite(value):
            return f'<c r="{ref}"><v>{value:.16G}</v></c>', len(str(value))
        if isinstance(value, datetime | date):
            return f'<c r="{ref}"{_DATE}><v>{_serial(value):.16G}</v></c>', len(str(value))
        text = str(value)
        return self.text(ref, text), len(text)


class _Sheet:
    """One table's sheet XML, made in one pass over its rows; the column widths on the way."""

    def __init__(self, headers: Sequence[str], book: _Book) -> None:
        self.columns = len(headers)
        self.book = book
        self.header = book.header_row(headers)
        self.widths = list(self.header.widths)

    def xml(self, rows: Sequence[Sequence[Any]], *, selected: bool) -> str:
        body = "".join([self.row(n, row) for n, row in enumerate(rows, start=2)])
        view = _SHEET_VIEW.format(selected=' tabSelected="1"' if selected else "")
        last = column_letter(self.columns - 1)
        return (
            f'{XML_HEAD}<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
            f'<dimension ref="A1:{last}{len(rows) + 1}"/>'
            f'<sheetViews>{view}</sheetViews><sheetFormatPr defaultRowHeight="15"/>'
            f"<cols>{self.cols()}</cols><sheetData>{self.header.xml.format(1)}{body}</sheetData>"
            f'<autoFilter ref="{filter_range(self.columns, len(rows))}"/>{_MARGINS}'
            "</worksheet>"
        )

    def row(self, number: int, values: Sequence[Any]) -> str:
        made = self.book.row(values)
        widths = self.widths  # a row may be shorter than the headers
        self.widths = [*map(max, widths, made.widths), *widths[len(made.widths) :]]
        return made.xml.format(number)

    def cols(self) -> str:
        """A <col> per run of columns of the same width."""
        out = []
        start = 0
        widths = [min(w + 2, MAX_WIDTH) for w in self.widths]
        for c in range(1, len(widths) + 1):
            if c == len(widths) or widths[c] != widths[start]:
                out.append(f'<col min="{start + 1}" max="{c}" {column_width(widths[start])}/>')
                start = c
        return "".join(out)


def _serial(value: date) -> float:
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    delta = moment.replace(tzinfo=None) - _EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400


def filter_range(columns: int, rows: int) -> str:
    """The autofilter's range: the header and the rows (one row at least, as Excel wants)."""
    return f"A1:{column_letter(columns - 1)}{max(rows, 1) + 1}"


def _defined_name(index: int, name: str, columns: int, rows: int) -> str:
    """The hidden name Excel keeps for a sheet's autofilter (the sheet name quoted, as it
    may always be: 'O''Brien'!$A$1:$O$3)."""
    quoted = "'" + name.replace("'", "''") + "'"
    where = f"$A$1:${column_letter(columns - 1)}${max(rows, 1) + 1}"
    return (
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
        f"{escape(quoted)}!{where}</definedName>"
    )


def _workbook_xml(tables: Sequence[Table]) -> str:
    sheets = "".join(
        f'<sheet name="{attribute(name)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, (name, _, _) in enumerate(tables, start=1)
    )
    names = "".join(
        _defined_name(i, name, len(headers), len(rows))
        for i, (name, headers, rows) in enumerate(tables)
    )
    return (
        f'{XML_HEAD}<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
        f"<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets>"
        f'<definedNames>{names}</definedNames><calcPr calcId="124519"/></workbook>'
    )


def workbook_rels(count: int) -> str:
    """xl/_rels/workbook.xml.rels: ``count`` sheets, the styles, the shared strings."""
    sheets = "".join(
        f'<Relationship Id="rId{i}" Type="{NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, count + 1)
    )
    return (
        f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}">{sheets}'
        f'<Relationship Id="rId{count + 1}" Type="{NS_REL}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{count + 2}" Type="{NS_REL}/sharedStrings"'
        ' Target="sharedStrings.xml"/></Relationships>'
    )


def content_types(count: int) -> str:
    """[Content_Types].xml of a workbook of ``count`` sheets made as here."""
    worksheet = CT_OFFICE + "spreadsheetml.worksheet+xml"
    parts = [
        ("/xl/workbook.xml", CT_OFFICE + "spreadsheetml.sheet.main+xml"),
        *((f"/xl/worksheets/sheet{i}.xml", worksheet) for i in range(1, count + 1)),
        ("/xl/styles.xml", CT_OFFICE + "spreadsheetml.styles+xml"),
        ("/xl/sharedStrings.xml", CT_OFFICE + "spreadsheetml.sharedStrings+xml"),
        ("/docProps/core.xml", CT_PACKAGE + "core-properties+xml"),
        ("/docProps/app.xml", CT_OFFICE + "extended-properties+xml"),
    ]
    overrides = "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in parts)
    return (
        XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="{CT_PACKAGE}relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{overrides}</Types>'
    )


def table_workbook(
    tables: Sequence[Table], *, title: str = "", author: str = "qaf", created: datetime = DOC_DATE
) -> bytes:
    """The .xlsx bytes of ``tables``, a sheet each, in order (at least one table, each with
    at least one header). Values: str (formula-like text quote-prefixed), None (blank),
    bool, int, float, date and datetime (serials styled dd/mm/yyyy); anything else as its
    text."""
    book = _Book()
    parts = {"[Content_Types].xml": content_types(len(tables)), "_rels/.rels": ROOT_RELS}
    parts["xl/workbook.xml"] = _workbook_xml(tables)
    parts["xl/_rels/workbook.xml.rels"] = workbook_rels(len(tables))
    for i, (_, headers, rows) in enumerate(tables, start=1):
        xml = _Sheet(headers, book).xml(rows, selected=i == 1)
        parts[f"xl/worksheets/sheet{i}.xml"] = xml
    parts["xl/styles.xml"] = _STYLES
    parts["xl/sharedStrings.xml"] = book.shared_strings()
    parts["docProps/core.xml"] = core_properties(author, created, title)
    parts["docProps/app.xml"] = APP_PROPERTIES
    return _deflated_zip(parts)


def _deflated_zip(parts: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in parts.items():
            entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0  # the same bytes on every system
            archive.writestr(entry, text.encode("utf-8"), compresslevel=1)
    return out.getvalue()
