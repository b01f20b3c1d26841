"""Read the cells of a checked .xlsx from its XML parts, in one pass and without calamine.

``qaf.xlsxsafe`` has already decompressed every XML part (bounded, CRC-checked)
and refused any DTD, so no entity can be declared here: the parts are scanned
with regular expressions over the whole text (no per-element Python callbacks),
which for an audit workbook costs a fraction of handing the same bytes to
python-calamine, which would unzip and parse them all again.

The grids produced are exactly what python-calamine 0.9 (calamine 0.37) returns
through ``to_python(skip_empty_area=False)``: numbers as ``float``; cells in a
date format as ``date`` (whole serials), ``datetime`` or ``time`` (serials
below 1) with Excel's 1900 leap-year bug and the 1904 system; text with XML
entities, line ends normalised, ``_xHHHH_`` escapes below U+0100 decoded, and
unpreserved ``<t>`` text trimmed of XML white space; phonetic runs dropped;
error cells and empty strings as ``""`` (the caller turns those into ``None``).

The grammar accepted is what Excel, LibreOffice and openpyxl write. Anything
else — an element or attribute order it does not know, strict-OOXML namespaces,
UTF-16 parts, chart sheets, ISO date cells, duration formats, numbers Python
would parse differently from Rust — raises ``Unsupported`` and the caller reads
the workbook with calamine instead: a fall back is fine, a wrong value is not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Merge = tuple[int, int, int, int]
SheetCells = tuple[str, bool, list[list[Any]], tuple[Merge, ...]]


class Unsupported(Exception):
    """The fast reader cannot read this part with certainty: read the workbook with calamine."""


# ------------------------------------------------------------------ text

_XML_SPACE = " \t\r\n"
_ENTITY = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_EXCEL_ESCAPE = re.compile(r"_x([0-9a-fA-F]{4})_")


def _entity(m: re.Match[str]) -> str:
    named, dec, hexa = m.groups()
    if named:
        return _NAMED[named]
    code = int(dec) if dec else int(hexa, 16)
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise Unsupported("character reference")
    return chr(code)


def _excel_escape(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    return chr(code) if code < 0x100 else m.group(0)  # calamine decodes only these


def text(raw: str) -> str:
    """The value of XML character data as calamine reads it."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in raw:
        rest = _ENTITY.sub("", raw)
        if "&" in rest:
            raise Unsupported("entity")
        raw = _ENTITY.sub(_entity, raw)
    if "_x" in raw:
        raw = _EXCEL_ESCAPE.sub(_excel_escape, raw)
    return raw


def _t_text(raw: str, preserve: bool) -> str:
    """One ``<t>`` of a string item: unpreserved text loses its leading and trailing XML space."""
    if "\r" in raw or "&" in raw or "_x" in raw:
        raw = text(raw) if preserve else text(raw).strip(_XML_SPACE)
    elif not preserve and raw and (raw[0] in _XML_SPACE or raw[-1] in _XML_SPACE):
        raw = raw.strip(_XML_SPACE)
    return raw


# A rich or phonetic string item: runs (<r>, optional <rPr> of empty elements, one <t>),
# phonetic runs (<rPh>, dropped as Excel shows them) and <phoneticPr/>.
_T = r'<t(?: xml:space="(?:preserve|default)")?(?:>[^<]*</t>|/>)'
_RICH_PART = (
    r"(?:<r>(?:<rPr>(?:<[a-zA-Z]+(?: [\w:]+=\"[^\"]*\")* ?/>)*</rPr>|<rPr ?/>)?" + _T + r"</r>"
    r"|" + _T + r"|<rPh(?: [\w:]+=\"[^\"]*\")*>" + _T + r"</rPh>"
    r"|<phoneticPr(?: [\w:]+=\"[^\"]*\")* ?/>)"
)
_PHONETIC = re.compile(r"<rPh\b.*?</rPh>")
_RICH_T = re.compile(r'<t(?: xml:space="(preserve|default)")?>([^<]*)</t>')


def _rich(body: str) -> str:
    """The text of a rich (or multi-<t>) string item: its <t> runs joined, phonetics dropped."""
    if "<rPh" in body:
        body = _PHONETIC.sub("", body)
    if "<t" not in body:
        raise Unsupported("string item without text")
    return "".join(_t_text(raw, p == "preserve") for p, raw in _RICH_T.findall(body))


_SST_ITEM = re.compile(
    r"<si><t>([^<]*)</t></si>"
    r'|<si><t xml:space="preserve">([^<]*)</t></si>'
    r"|<si>((?:" + _RICH_PART + r")+)</si>"
    r"|([\s\S])"
)


def shared_strings(xml: str) -> list[str]:
    start = _after_root(xml, "sst")
    end = xml.rfind("</sst>")
    if start < 0 or end < start or xml[end + 6 :].strip():
        raise Unsupported("shared strings")
    out: list[str] = []
    append = out.append
    for plain, kept, rich, junk in _SST_ITEM.findall(xml, start, end):
        if junk:
            raise Unsupported("shared strings")
        if rich:
            append(_rich(rich))
        elif kept:
            append(_t_text(kept, True))
        else:
            append(_t_text(plain, False))
    return out


# ------------------------------------------------------------------ XML plumbing

_ATTR = re.compile(r'\s+([\w:.-]+)="([^"<]*)"')
_ATTRS = re.compile(r'(?:\s+[\w:.-]+="[^"<]*")*\s*/?')
_DECL = re.compile(r'\A(?:\ufeff)?(?:<\?xml(?:\s+[\w:]+="[^"]*"|\s+[\w:]+=\'[^\']*\')*\s*\?>)?\s*')
_TAGS = re.compile(r"(?:[^<>]|<[^<>]*>)*+")


def attrs(inside: str) -> dict[str, str]:
    """The attributes of one start tag (the text after its name), values unescaped."""
    if not _ATTRS.fullmatch(inside):
        raise Unsupported("attributes")
    return {k: text(v) if "&" in v else v for k, v in _ATTR.findall(inside)}


def _after_root(xml: str, root: str) -> int:
    """Where the content of the document element starts; -1 if it is not ``root``."""
    m = _DECL.match(xml)
    if m is None:
        return -1
    decl = m.group(0)
    if "encoding" in decl and not re.search(r'encoding="utf-?8"', decl, re.I):
        raise Unsupported("encoding")
    pos = m.end()
    if not xml.startswith("<" + root, pos):
        return -1
    close = xml.find(">", pos)
    if close < 0 or xml[close - 1] == "/":
        return -1
    attrs(xml[pos + 1 + len(root) : close])
    return close + 1


def _tags_only(xml: str) -> None:
    """Refuse a stretch the reader skips unless its tags at least open and close."""
    if not _TAGS.fullmatch(xml):
        raise Unsupported("markup")


def decode(part: bytes) -> str:
    if part[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise Unsupported("UTF-16 part")
    try:
        xml = part.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported("not UTF-8") from None
    if "purl.oclc.org/ooxml" in xml:
        raise Unsupported("strict OOXML")
    return xml


# ------------------------------------------------------------------ number formats

OTHER, DATETIME, TIMEDELTA = 0, 1, 2
_BUILTIN_DATES = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 47}


def format_kind(code: str) -> int:
    """Whether a custom number format shows a date/time (calamine's reading of it)."""
    escaped = is_quote = ap = hms = False
    brackets = 0
    prev = " "
    for s in code:
        if escaped:
            escaped = False
        elif s in "_\\*":
            escaped = True
        elif is_quote:
            if s == '"':
                is_quote = False
        elif s == '"':
            is_quote = True
        elif s == ";":
            return OTHER
        elif s == "[":
            brackets += 1
        elif s == "]" and brackets == 1 and hms:
            return TIMEDELTA
        elif s == "]":
            brackets = max(brackets - 1, 0)
        elif s in "aA" and not ap and brackets == 0:
            ap = True
        elif brackets == 0 and (s in "pm/PM" if ap else s in "dmhysDMHYS"):
            return DATETIME
        elif hms and (s == prev or ((s + prev).isascii() and s.lower() == prev.lower())):
            pass
        else:
            hms = prev == "[" and s in "mhsMHS"
        prev = s
    return OTHER


def _builtin_kind(num_fmt_id: str) -> int:
    if num_fmt_id == "46":
        return TIMEDELTA
    if num_fmt_id.isdigit() and num_fmt_id[0] != "0" and int(num_fmt_id) in _BUILTIN_DATES:
        return DATETIME
    return OTHER


_NUMFMT = re.compile(r"<numFmt\b([^<>]*?)/?>")
_XF = re.compile(r"<xf\b([^<>]*)>")


def cell_formats(xml: str) -> list[int]:
    """Per cellXfs index: OTHER, DATETIME or TIMEDELTA."""
    start = _after_root(xml, "styleSheet")
    if start < 0:
        raise Unsupported("styles")
    _tags_only(xml[start:])
    custom: dict[str, str] = {}
    lo, hi = _section(xml, "numFmts")
    for inside in _NUMFMT.findall(xml, lo, hi):
        a = attrs(inside.rstrip("/"))
        code = a.get("formatCode", "")
        if code:
            custom[a.get("numFmtId", "")] = code
    lo, hi = _section(xml, "cellXfs")
    out = []
    for inside in _XF.findall(xml, lo, hi):
        a = attrs(inside.rstrip("/"))
        fid = a.get("numFmtId")
        if fid is None:
            out.append(OTHER)
        elif fid in custom:
            out.append(format_kind(custom[fid]))
        else:
            out.append(_builtin_kind(fid))
    return out


def _section(xml: str, name: str) -> tuple[int, int]:
    """The span of the one ``<name>`` element's content; (0, 0) if there is none."""
    start = xml.find("<" + name)
    if start < 0:
        return 0, 0
    if xml.count("<" + name + ">") + xml.count("<" + name + " ") != 1 or ":" + name in xml:
        raise Unsupported(name)
    close = xml.find(">", start)
    if xml[close - 1] == "/":
        return 0, 0
    end = xml.find("</" + name + ">", close)
    if end < 0:
        raise Unsupported(name)
    return close + 1, end


# ------------------------------------------------------------------ dates

_EPOCH_1900 = datetime(1899, 12, 30)
_EPOCH_1904 = datetime(1904, 1, 1)
_MS_PER_DAY = 86_400_000.0


def _round_half_away(x: float) -> int:
    r = math.floor(x)
    if x - r >= 0.5:
        r += 1
    return r


def excel_date(v: float, is_1904: bool) -> Any:
    """A serial in a date format as python-calamine returns it: time below 1, date when
    whole, datetime otherwise; the float itself when it is outside Python's dates."""
    if not -2_000_000.0 < v < 3_000_000.0:
        raise Unsupported("date serial far out of range")
    if is_1904:
        epoch, f = _EPOCH_1904, v
    else:
        epoch, f = _EPOCH_1900, (v if v >= 60.0 else v + 1.0)
    x = f * _MS_PER_DAY
    ms = _round_half_away(x) if x >= 0 else -_round_half_away(-x)
    try:
        dt = epoch + timedelta(milliseconds=ms)
    except OverflowError:
        if v < 1.0:
            raise Unsupported("time before year 1") from None
        return v
    if v < 1.0:
        return dt.time()
    if v == float(int(v)):
        return dt.date()
    return dt


# ------------------------------------------------------------------ worksheets

_ROW_ATTRS = r'(?: (?!r=)[\w:]+="[^"<]*")*'
_CELL = (
    r'<c(?: r="([A-Z]{1,3})([1-9]\d{0,6})")?(?: s="(\d{1,9})")?(?: t="(\w{1,9})")?'
    r'((?: (?![rst]=)[\w:]+="[^"<]*")*) ?'
    r"(?:/>|>"
    r'(?:<f>[^<]*</f>|<f(?: [\w:]+="[^"<]*")* ?/>|<f(?: [\w:]+="[^"<]*")+>[^<]*</f>)?'
    r"(?:(<v>[^<]*)</v>|(<v) ?/>"
    r'|(<is>)(?:<t>([^<]*)</t>|<t xml:space="preserve">([^<]*)</t>|((?:' + _RICH_PART + r")+))"
    r"</is>)?</c>)"
)
_SHEET_TOKEN = re.compile(
    r'(<row(?: r="[1-9]\d{0,6}")?' + _ROW_ATTRS + r" ?(?:/>|></row>))"  # an empty row
    r'|(?:<row(?: r="([1-9]\d{0,6})")?' + _ROW_ATTRS + r" ?>)?" + _CELL + r"(</row>)?"
    r"|([\s\S])"
)
_ROW_R = re.compile(r'<row r="(\d+)"')
_REF = re.compile(r'r="([A-Z]{0,3})(\d{1,7})"')  # qaf.xlsxsafe's extent scan, on text
_DIMENSION = re.compile(r'<dimension ref="([A-Z]{1,3}\d{1,7}(?::[A-Z]{1,3}\d{1,7})?)" ?/>')
_MERGE = re.compile(
    r'<mergeCell ref="([A-Z]{1,3})([1-9]\d{0,6})(?::([A-Z]{1,3})([1-9]\d{0,6}))?" ?/>|([\s\S])'
)
_ERRORS = frozenset(("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"))
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_COLS: dict[str, int] = {}


def _col(letters: str) -> int:
    c = _COLS.get(letters)
    if c is None:
        c = 0
        for ch in letters:
            c = c * 26 + ord(ch) - 64
        c -= 1
        if len(_COLS) < 20_000:
            _COLS[letters] = c
    return c


@dataclass
class ScannedSheet:
    """A worksheet part cut into tokens, before its values are interpreted."""

    tokens: list[tuple[str, ...]]
    head_tail: str  # the XML outside <sheetData>
    r_attrs: int  # how many r=" the sheetData holds (to know the tokens are all of them)


def scan_sheet(xml: str) -> ScannedSheet:
    start = _after_root(xml, "worksheet")
    if start < 0:
        raise Unsupported("not a worksheet")
    at = xml.find("<sheetData", start)
    if at < 0 or xml.find("<sheetData", at + 1) >= 0:
        raise Unsupported("sheetData")
    close = xml.find(">", at)
    if close < 0:
        raise Unsupported("sheetData")
    if xml[at:close] in ("<sheetData", "<sheetData ", "<sheetData/", "<sheetData /"):
        if xml[close - 1] == "/":
            body_lo = body_hi = end = close + 1
        else:
            body_lo = close + 1
            body_hi = xml.find("</sheetData>", body_lo)
            if body_hi < 0:
                raise Unsupported("sheetData")
            end = body_hi + len("</sheetData>")
    else:
        raise Unsupported("sheetData attributes")
    head_tail = xml[start:at] + xml[end:]
    _tags_only(head_tail)
    dims = xml.count("<dimension", start, at)
    if dims and (dims > 1 or not _DIMENSION.search(xml, start, at)):
        raise Unsupported("dimension")
    tokens = _SHEET_TOKEN.findall(xml, body_lo, body_hi)
    return ScannedSheet(tokens, head_tail, xml.count('r="', body_lo, body_hi))


@dataclass
class Book:
    """What every sheet's values depend on."""

    strings: list[str]
    formats: list[int]
    is_1904: bool


@dataclass
class SheetValues:
    """A worksheet's non-empty cells (row, col, value) in document order, and the extent
    ``qaf.xlsxsafe``'s scan of the part would find (``None`` when text holds ``r="``)."""

    cells: list[tuple[int, int, Any]]
    extent: tuple[int, int] | None
    merged: tuple[Merge, ...]


def sheet_values(scanned: ScannedSheet, book: Book) -> SheetValues:
    """Interpret the tokens of a sheet the way calamine's cell reader does."""
    strings, formats, is_1904 = book.strings, book.formats, book.is_1904
    n_formats = len(formats)
    cells: list[tuple[int, int, Any]] = []
    append = cells.append
    row_index = col_index = 0
    max_row = max_col = 0  # over the r attributes only, as the extent scan counts them
    r_attrs = 0
    cols = _COLS
    for (
        empty_row,
        rr,
        L,
        D,
        s,
        t,
        other,
        v,
        v_empty,
        is_,
        it,
        itp,
        rich,
        rend,
        junk,
    ) in scanned.tokens:
        if junk:
            raise Unsupported("sheet markup")
        if empty_row:
            m = _ROW_R.match(empty_row)
            if m:
                r_attrs += 1
                row_index = int(m.group(1))
                if row_index > max_row:
                    max_row = row_index
            else:
                row_index += 1
            col_index = 0
            continue
        if rr:
            r_attrs += 1
            row_index = int(rr) - 1
            if row_index >= max_row:
                max_row = row_index + 1
        if L:
            r_attrs += 1
            row = int(D) - 1
            col = cols.get(L)
            if col is None:
                col = _col(L)
            if row >= max_row:
                max_row = row + 1
            if col >= max_col:
                max_col = col + 1
        else:
            row, col = row_index, col_index
        if other and ("r=" in other or "s=" in other or "t=" in other):
            raise Unsupported("cell attributes")
        if rend:
            row_index += 1
            col_index = 0
        else:
            col_index = col + 1
        # the value, as calamine's read_v decides it
        if t == "inlineStr":
            if is_:
                if rich:
                    append((row, col, _rich(rich)))
                elif itp:
                    append((row, col, _t_text(itp, True)))
                else:
                    append((row, col, _t_text(it, False)))
            continue
        if is_:
            raise Unsupported("inline string in a cell of another type")
        if not v:
            if v_empty and t == "str":
                append((row, col, ""))
            continue
        raw = v[3:]
        if not t or t == "n":
            if not raw:
                continue
            if not _NUMBER.fullmatch(raw):
                raise Unsupported("number")
            num = float(raw)
            kind = OTHER
            if s:
                i = int(s)
                kind = formats[i] if i < n_formats else OTHER
            if kind == OTHER:
                append((row, col, num))
            elif kind == DATETIME:
                append((row, col, excel_date(num, is_1904)))
            else:
                raise Unsupported("duration format")
        elif t == "s":
            if not raw:
                continue
            if not (raw.isascii() and raw.isdigit()):
                raise Unsupported("shared string index")
            i = int(raw)
            if i >= len(strings):
                raise Unsupported("shared string index out of range")
            append((row, col, strings[i]))
        elif t == "str":
            append((row, col, text(raw)))
        elif t == "b":
            if raw:
                if "&" in raw:
                    raise Unsupported("boolean")
                append((row, col, raw != "0"))
        elif t == "e":
            if raw:
                if raw not in _ERRORS:
                    raise Unsupported("error value")
                append((row, col, ""))
        else:
            raise Unsupported("cell type")
    extent = None
    if r_attrs == scanned.r_attrs:  # every r=" of the sheetData is a row's or cell's own
        for letters, digits in _REF.findall(scanned.head_tail):
            max_row = max(max_row, int(digits))
            if letters:
                max_col = max(max_col, _col(letters) + 1)
        extent = (max_row, max_col)
    return SheetValues(cells, extent, _merges(scanned.head_tail))


def grid(cells: list[tuple[int, int, Any]]) -> list[list[Any]]:
    """The cells padded from A1 into rows of equal width; "" becomes None."""
    if not cells:
        return []
    height = max(c[0] for c in cells) + 1
    width = max(c[1] for c in cells) + 1
    rows: list[list[Any]] = [[None] * width for _ in range(height)]
    for r, c, value in cells:
        rows[r][c] = None if value == "" else value
    return rows


def _merges(xml: str) -> tuple[Merge, ...]:
    lo, hi = _section(xml, "mergeCells")
    out = []
    for a, b, c, d, junk in _MERGE.findall(xml, lo, hi):
        if junk:
            raise Unsupported("mergeCells")
        r0, c0 = int(b) - 1, _col(a)
        if c:
            out.append((r0, c0, int(d) - 1, _col(c)))
        else:
            out.append((r0, c0, r0, c0))
    return tuple(out)


# ------------------------------------------------------------------ workbook

_SHEET = re.compile(r"<sheet\b([^<>]*)>")
_RELATIONSHIP = re.compile(r"<Relationship\b([^<>]*)>")
_WORKBOOK_PR = re.compile(r"<workbookPr\b([^<>]*)>")
_OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


@dataclass(frozen=True)
class SheetRef:
    name: str
    visible: bool
    part: str  # the zip name of its worksheet part


def relationships(xml: str) -> dict[str, tuple[str, str]]:
    """Id -> (Type, Target) of a .rels part."""
    start = _after_root(xml, "Relationships")
    if start < 0:
        raise Unsupported("relationships")
    _tags_only(xml[start:])
    out = {}
    for inside in _RELATIONSHIP.findall(xml, start):
        a = attrs(inside.rstrip("/"))
        out[a.get("Id", "")] = (a.get("Type", ""), a.get("Target", ""))
    return out


def workbook_sheets(workbook: str, rels: dict[str, tuple[str, str]]) -> tuple[list[SheetRef], bool]:
    """The sheets in workbook order, and whether dates count from 1904."""
    start = _after_root(workbook, "workbook")
    if start < 0:
        raise Unsupported("workbook")
    _tags_only(workbook[start:])
    if re.search(r"<\w+:(?:sheet|sheets|workbookPr)\b", workbook):
        raise Unsupported("prefixed workbook elements")
    is_1904 = False
    prs = _WORKBOOK_PR.findall(workbook, start)
    if len(prs) > 1:
        raise Unsupported("workbookPr")
    if prs:
        is_1904 = attrs(prs[0].rstrip("/")).get("date1904") in ("1", "true")
    sheets = []
    found = _SHEET.findall(workbook, start)
    if len(found) != workbook.count("<sheet ") + workbook.count("<sheet>"):
        raise Unsupported("sheets")
    for inside in found:
        a = attrs(inside.rstrip("/"))
        state = a.get("state", "visible")
        if state not in ("visible", "hidden", "veryHidden"):
            raise Unsupported("sheet state")
        rid = a.get("r:id")
        if rid is None or "name" not in a or "relationships:id" in a:
            raise Unsupported("sheet attributes")
        kind, target = rels.get(rid, ("", ""))
        if kind != _OFFICE_DOCUMENT + "worksheet":
            raise Unsupported("not a worksheet")
        sheets.append(SheetRef(a["name"], state == "visible", _sheet_part(target)))
    return sheets, is_1904


def _sheet_part(target: str) -> str:
    if target.startswith("/xl/"):
        path = target[1:]
    elif target.startswith("xl/"):
        path = target
    else:
        path = "xl/" + target
    if not re.fullmatch(r"xl/worksheets/[\w.-]+\.xml", path) or ".." in path:
        raise Unsupported("sheet target")
    return path


def main_document(rels: dict[str, tuple[str, str]]) -> str:
    targets = [t for k, t in rels.values() if k == _OFFICE_DOCUMENT + "officeDocument"]
    if len(targets) != 1:
        raise Unsupported("officeDocument")
    return targets[0].lstrip("/")
