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

import functools
import math
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from operator import itemgetter
from typing import Any

Merge = tuple[int, int, int, int]


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
    xml_char = code in (9, 10, 13) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
    if not (xml_char or 0x10000 <= code <= 0x10FFFF):
        raise Unsupported("character reference")  # not an XML character: calamine decides
    return chr(code)


def _excel_escape(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    return chr(code) if code < 0x100 else m.group(0)  # calamine decodes only these


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported("not UTF-8") from None


def text(raw: str) -> str:
    """The value of XML character data as calamine reads it."""
    return _unescape_excel(_unescape_xml(raw))


def _unescape_xml(raw: str) -> str:
    """Line ends normalised (raw CRs only), then entities and character references."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    return _entities(raw)


def _entities(raw: str) -> str:
    if "&" in raw:
        if "&" in _ENTITY.sub("", raw):
            raise Unsupported("entity")
        raw = _ENTITY.sub(_entity, raw)
    return raw


def _unescape_excel(raw: str) -> str:
    """Excel's own escapes: _x000D_ is a CR, _x005F_ an underscore (below U+0100 only)."""
    if "_x" in raw:
        raw = _EXCEL_ESCAPE.sub(_excel_escape, raw)
    return raw


def _t_text(raw: bytes, preserve: bool) -> str:
    """One ``<t>`` of a string item: unpreserved text loses its leading and trailing XML space."""
    value = _utf8(raw)
    if "\r" in value or "&" in value or "_x" in value:
        value = _unescape_xml(value)
        if not preserve:
            value = value.strip(_XML_SPACE)  # before the _xHHHH_ escapes, as calamine does
        return _unescape_excel(value)
    if preserve or not value or (value[0] not in _XML_SPACE and value[-1] not in _XML_SPACE):
        return value
    return value.strip(_XML_SPACE)


# A rich or phonetic string item: runs (<r>, optional <rPr> of empty elements, one <t>),
# phonetic runs (<rPh>, dropped as Excel shows them) and <phoneticPr/>.
_T = rb'<t(?: xml:space="(?:preserve|default)")?(?:>[^<]*</t>|/>)'
_EMPTY_ELEMENTS = rb'(?:<[a-zA-Z]+(?: [\w:]+="[^"<]*")* ?/>)*'
_RICH_PART = (
    rb"(?:<r>(?:<rPr>" + _EMPTY_ELEMENTS + rb"</rPr>|<rPr ?/>)?" + _T + rb"</r>"
    rb"|" + _T + rb'|<rPh(?: [\w:]+="[^"<]*")*>' + _T + rb"</rPh>"
    rb'|<phoneticPr(?: [\w:]+="[^"<]*")* ?/>)'
)
_PHONETIC = re.compile(rb"<rPh\b.*?</rPh>", re.S)
_RICH_T = re.compile(rb'<t(?: xml:space="(preserve|default)")?>([^<]*)</t>')


def _rich(body: bytes) -> str:
    """The text of a rich (or multi-<t>) string item: its <t> runs joined, phonetics dropped."""
    if b"<rPh" in body:
        body = _PHONETIC.sub(b"", body)
    if b"<t" not in body:
        raise Unsupported("string item without text")
    return "".join(_t_text(raw, p == b"preserve") for p, raw in _RICH_T.findall(body))


_SST_ITEM = re.compile(
    # groups 1 (plain text, no white space at its ends), 2 (preserved text), 3 (rich)
    rb"<si><t>((?![ \t\r\n])[^<]*(?<![ \t\r\n]))</t></si>"
    rb'|<si><t xml:space="preserve">([^<]*)</t></si>'
    rb"|<si>((?:" + _RICH_PART + rb")+)</si>"
)


def shared_strings(xml: bytes) -> list[str]:
    start = _after_root(xml, b"sst")
    end = xml.rfind(b"</sst>")
    if start < 0 or end < start or xml[end + 6 :].strip():
        raise Unsupported("shared strings")
    pieces = _SST_ITEM.split(xml[start:end])
    if b"".join(pieces[0::4]).strip(b" \t\r\n"):
        raise Unsupported("shared strings")  # an item of another shape, or other elements
    plain, kept, rich = pieces[1::4], pieces[2::4], pieces[3::4]
    try:  # most items: one <t> of text that is its bytes, decoded
        out = [
            (k if k is not None else p or b"").decode() for p, k in zip(plain, kept, strict=True)
        ]
    except UnicodeDecodeError:
        raise Unsupported("not UTF-8") from None
    joined = b"".join(filter(None, plain)) + b"".join(filter(None, kept))
    odd = {i for i, r in enumerate(rich) if r is not None} if any(rich) else set()
    for mark in ("&", "\r", "_x"):  # only the items holding what is there at all
        if mark.encode() in joined:
            odd.update(i for i, value in enumerate(out) if mark in value)
    for i in sorted(odd):
        if rich[i] is not None:
            out[i] = _rich(rich[i])
        elif kept[i] is not None:
            out[i] = _t_text(kept[i], True)
        else:
            out[i] = _t_text(plain[i], False)
    return out


# ------------------------------------------------------------------ XML plumbing

_ATTR = re.compile(rb'\s+([\w:.-]+)="([^"<]*)"')
_ATTRS = re.compile(rb'(?:\s+[\w:.-]+="[^"<]*")*\s*')
_DECL = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:<\?xml(?:\s+[\w:]+=\"[^\"]*\"|\s+[\w:]+='[^']*')*\s*\?>)?\s*"
)
_UTF8 = re.compile(rb'encoding="utf-?8"', re.I)
_NOT_MARKS = bytes(b for b in range(256) if b not in b'<>"')
_TAGS = re.compile(rb"""(?:[^<]++|<(?:[^<>"']++|"[^"]*+"|'[^']*+')*+>)*+""")


def attrs(inside: bytes) -> dict[str, str]:
    """The attributes of one start tag (the bytes after its name), values unescaped."""
    if inside.endswith(b"/"):
        inside = inside[:-1]
    if not _ATTRS.fullmatch(inside):
        raise Unsupported("attributes")
    return {_utf8(k): _entities(_utf8(v)) for k, v in _ATTR.findall(inside)}


def _after_root(xml: bytes, root: bytes) -> int:
    """Where the content of the document element starts; -1 if it is not ``root``."""
    if xml[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise Unsupported("UTF-16 part")
    m = _DECL.match(xml)
    if m is None:
        return -1
    decl = m.group(0)
    if b"encoding" in decl and not _UTF8.search(decl):
        raise Unsupported("encoding")
    pos = m.end()
    if not xml.startswith(b"<" + root, pos):
        return -1
    close = xml.find(b">", pos)
    if close < 0 or xml[close - 1 : close] == b"/":
        return -1
    if b"purl.oclc.org/ooxml" in xml[pos:close]:
        raise Unsupported("strict OOXML")
    if xml[pos + 1 + len(root) : pos + 2 + len(root)] not in (b">", b" ", b"\t", b"\r", b"\n"):
        return -1  # <worksheets ...>, say; its attributes calamine never parses
    return close + 1


def _tags_only(xml: bytes) -> None:
    """Refuse a stretch the reader skips unless its tags at least open and close."""
    if not _TAGS.fullmatch(xml):
        raise Unsupported("markup")


def _tags_balanced(xml: bytes) -> None:
    """``_tags_only``, looked at closely only when a tag left open or a quote astray (damage
    in transit, which shifts where calamine's parser sees tags) shows in the counts."""
    marks = xml.translate(None, _NOT_MARKS)
    if marks.count(b"<") != marks.count(b">") or marks.count(b'"') % 2 == 1:
        _tags_only(xml)


# ------------------------------------------------------------------ number formats

OTHER, DATETIME, TIMEDELTA = 0, 1, 2
_BUILTIN_DATES = {"14", "15", "16", "17", "18", "19", "20", "21", "22", "45", "47"}


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
    return DATETIME if num_fmt_id in _BUILTIN_DATES else OTHER


_NUMFMT = re.compile(rb"<numFmt\b([^<>]*)>")
_XF = re.compile(rb"<xf\b([^<>]*)>")
_NUMFMT_ID = re.compile(rb'\snumFmtId="([^"<>]*)"')


@functools.lru_cache(maxsize=16)
def cell_formats(xml: bytes) -> tuple[int, ...]:
    """Per cellXfs index: OTHER, DATETIME or TIMEDELTA (cached: returns share templates)."""
    start = _after_root(xml, b"styleSheet")
    if start < 0:
        raise Unsupported("styles")
    _tags_balanced(xml[start:])
    custom: dict[str, str] = {}
    lo, hi = _section(xml, b"numFmts")
    for inside in _NUMFMT.findall(xml, lo, hi):
        a = attrs(inside)
        code = a.get("formatCode", "")
        if code:
            custom[a.get("numFmtId", "")] = code
    lo, hi = _section(xml, b"cellXfs")
    out = []
    for inside in _XF.findall(xml, lo, hi):
        m = _NUMFMT_ID.search(inside)  # calamine takes it as it stands, no other attribute
        if m is None:
            out.append(OTHER)
        else:
            fid = _utf8(m.group(1))
            out.append(format_kind(custom[fid]) if fid in custom else _builtin_kind(fid))
    return tuple(out)


def _section(xml: bytes, name: bytes) -> tuple[int, int]:
    """The span of the one ``<name>`` element's content; (0, 0) if there is none."""
    start = xml.find(b"<" + name)
    if b":" + name in xml:
        raise Unsupported(name.decode())  # a prefixed one: its children would go unseen
    if start < 0:
        return 0, 0
    if xml[start + 1 + len(name) : start + 2 + len(name)] not in (b">", b" ", b"/") or (
        xml.find(b"<" + name, start + 1) >= 0
    ):
        raise Unsupported(name.decode())
    close = xml.find(b">", start)
    if xml[close - 1 : close] == b"/":
        return 0, 0
    end = xml.find(b"</" + name + b">", close)
    if end < 0:
        raise Unsupported(name.decode())
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
    whole, datetime otherwise; the float itself when it is past Python's last date."""
    if v >= 2_958_466.0:
        return v  # past 9999-12-31
    if v <= -90_000_000.0:
        raise Unsupported("date serial far out of range")  # past chrono's years: it may panic
    if is_1904:
        epoch, f = _EPOCH_1904, v
    else:
        epoch, f = _EPOCH_1900, (v if v >= 60.0 else v + 1.0)
    x = f * _MS_PER_DAY
    ms = _round_half_away(x) if x >= 0 else -_round_half_away(-x)
    if v < 1.0:  # the time of day, even of a day before year 1 (epochs are at midnight)
        seconds, milli = divmod(ms % 86_400_000, 1000)
        minutes, second = divmod(seconds, 60)
        return time(minutes // 60, minutes % 60, second, milli * 1000)
    try:
        dt = epoch + timedelta(milliseconds=ms)
    except OverflowError:
        return v
    if v == float(int(v)):
        return dt.date()
    return dt


# ------------------------------------------------------------------ worksheets

_ERRORS = frozenset((b"#DIV/0!", b"#N/A", b"#NAME?", b"#NULL!", b"#NUM!", b"#REF!", b"#VALUE!"))
_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_REF = re.compile(rb'r="([A-Z]{0,3})([0-9]{1,7})"')  # qaf.xlsxsafe's extent scan
_ROW_R = re.compile(rb'<row r="([1-9][0-9]{0,6})"')
_DIMENSION = re.compile(rb'<dimension ref="[A-Z]{1,3}[0-9]{1,7}(?::[A-Z]{1,3}[0-9]{1,7})?" ?/>')
_MERGE = re.compile(
    rb'<mergeCell ref="([A-Z]{1,3})([1-9][0-9]{0,6})(?::([A-Z]{1,3})([1-9][0-9]{0,6}))?" ?/>'
    rb"|([\s\S])"
)
_COLS: dict[bytes, int] = {}


def _col(letters: bytes) -> int:
    c = _COLS.get(letters)
    if c is None:
        c = 0
        for ch in letters:
            c = c * 26 + ch - 64
        c -= 1
        if len(_COLS) < 20_000:
            _COLS[letters] = c
    return c


# The cells Excel, LibreOffice and openpyxl write, one regular expression for them all:
# r, s and t in that order, then an inline string, or a cached formula and value, or nothing.
_FAST_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"(?: s="([0-9]{1,9})")?(?:'
    # an inline string: groups 4 (preserve), 5 (marker) and 6 (the text)
    rb' t="inlineStr"><is><t( xml:space="preserve")?(>)'
    rb"((?(4)[^<]*|(?![ \t\r\n])[^<]*(?<![ \t\r\n])))</t></is></c>"
    # a shared string: group 7 (its index)
    rb'| t="s"><v>([0-9]{1,9})</v></c>'
    # any other cell: groups 8 (t), 9 (empty cell) and 10 (<v>, after a cached formula)
    rb'|(?: t="([a-zA-Z]{1,9})")? ?(?:(/)>|>(?:<f>[^<]*</f>)?<v>([^<]*)</v></c>))'
)

# Everything else the grammar knows, token by token in document order (cells without r,
# rows without r, shared formulas, rich inline strings, extra attributes); ([\s\S]) is
# anything it does not know.
_ROW_ATTRS = rb'(?: (?!r=)[\w:]+="[^"<]*")*'
_CELL = (
    rb'<c(?: r="([A-Z]{1,3})([1-9][0-9]{0,6})")?(?: s="([0-9]{1,9})")?(?: t="([a-zA-Z]{1,9})")?'
    rb'((?: (?![rst]=)[\w:]+="[^"<]*")*) ?'
    rb"(?:/>|>"
    rb'(?:<f>[^<]*</f>|<f(?: [\w:]+="[^"<]*")* ?/>|<f(?: [\w:]+="[^"<]*")+>[^<]*</f>)?'
    rb"(?:(<v>[^<]*)</v>|(<v) ?/>"
    rb'|(<is>)(?:<t>([^<]*)</t>|<t xml:space="preserve">([^<]*)</t>|((?:' + _RICH_PART + rb")+))"
    rb"</is>)?</c>)"
)
_SHEET_TOKEN = re.compile(
    rb'(<row(?: r="[1-9][0-9]{0,6}")?' + _ROW_ATTRS + rb" ?(?:/>|></row>))"  # an empty row
    rb'|(?:<row(?: r="([1-9][0-9]{0,6})")?' + _ROW_ATTRS + rb" ?>)?" + _CELL + rb"(</row>)?"
    rb"|([\s\S])"
)


@dataclass(frozen=True)
class Book:
    """What every sheet's values depend on."""

    strings: list[str]
    formats: tuple[int, ...]
    is_1904: bool


@dataclass
class SheetValues:
    """A worksheet's non-empty cells by position, the merged ranges, and the extent
    ``qaf.xlsxsafe``'s scan of the part would find (``None`` if only that scan can tell)."""

    cells: dict[tuple[int, int], Any]
    extent: tuple[int, int] | None
    merged: tuple[Merge, ...]


def sheet_values(xml: bytes, book: Book) -> SheetValues:
    """Read a worksheet part the way calamine's cell reader does."""
    start = _after_root(xml, b"worksheet")
    if start < 0:
        raise Unsupported("not a worksheet")
    at = xml.find(b"<sheetData", start)
    if at < 0:
        raise Unsupported("sheetData")
    close = xml.find(b">", at)
    tag = xml[at:close]
    if tag in (b"<sheetData/", b"<sheetData /"):
        lo = hi = end = close + 1
    elif tag in (b"<sheetData", b"<sheetData "):
        lo = close + 1
        hi = xml.rfind(b"</sheetData>", lo)  # from the end: the tail is shorter than the cells
        if hi < 0:
            raise Unsupported("sheetData")
        end = hi + len(b"</sheetData>")
    else:
        raise Unsupported("sheetData attributes")
    if xml.find(b"<sheetData", end) >= 0:  # one in the cells fails their grammar
        raise Unsupported("sheetData")
    head_row, head_col, merged = _around_cells(xml[start:at], xml[end:])
    body = xml[lo:hi]
    found = _fast_cells(body, book)
    if found is None:
        found = _token_cells(body, book)
    cells, max_row, max_col, exact = found
    extent = None
    if exact:  # every r=" of sheetData is a row's or a cell's: the extent scan's view
        extent = (max(max_row, head_row), max(max_col, head_col))
    return SheetValues(cells, extent, merged)


@functools.lru_cache(maxsize=64)
def _around_cells(head: bytes, tail: bytes) -> tuple[int, int, tuple[Merge, ...]]:
    """What the XML before and after <sheetData> holds: the last row and column of its
    r="A1"-like attributes (as the extent scan counts them), and the merged ranges.
    Cached: returns of one template differ in their cells, not in these."""
    head_tail = head + tail
    _tags_balanced(head_tail)
    dims = head.count(b"<dimension")
    if dims and (dims > 1 or not _DIMENSION.search(head)):
        raise Unsupported("dimension")
    max_row = max_col = 0
    for letters, digits in _REF.findall(head_tail):
        max_row = max(max_row, int(digits))
        if letters:
            max_col = max(max_col, _col(letters) + 1)
    return max_row, max_col, _merges(head_tail)


# cells, the extent's last row and column, whether the r attributes were all r=" there is
Found = tuple[dict[tuple[int, int], Any], int, int, bool]


def _row_tags(between: bytes) -> list[bytes] | None:
    """The r of each row when ``between`` holds row tags only, each with r first (and white
    space); None if it holds anything else. Counted, not parsed: the regular expression
    checks the cells, and calamine reads no attribute of a row tag past its first, r."""
    tags = between.count(b"<")
    rows = between.count(b"<row ") + between.count(b"<row>") + between.count(b"<row/>")
    if (
        tags != rows + between.count(b"</row>")
        or tags != between.count(b">")
        or between.count(b'"') % 2
    ):
        return None
    found = _ROW_R.findall(between)
    if len(found) != rows or between.count(b' r="') != rows:
        return None  # a row without r first (calamine would parse its attributes) or r="0"
    return found


_GROUPS = _FAST_CELL.groups + 1


def _fast_cells(body: bytes, book: Book) -> Found | None:
    """The cells when every one has r and a shape ``_FAST_CELL`` knows, and only row tags
    lie between them; None otherwise. One split gives the cells' fields column by column
    and what lies between; with an r on every cell, rows only matter for their own r."""
    pieces = _FAST_CELL.split(body)
    between = b"".join(pieces[0::_GROUPS])
    rows = _row_tags(between)
    if rows is None:
        return None  # a cell of another shape, another element, an r not first ...
    r_in_rows = between.count(b'r="')
    letters = pieces[1::_GROUPS]
    if not letters:
        return {}, max(map(int, rows), default=0), 0, r_in_rows == len(rows)
    row_numbers = list(map(int, pieces[2::_GROUPS]))  # 1-based: the grid drops row 0
    col_numbers: list[int] = list(map(_COLS.get, letters))  # type: ignore[arg-type]
    if None in col_numbers:
        col_numbers = list(map(_col, letters))
    markers = pieces[5::_GROUPS]
    texts = pieces[6::_GROUPS]
    try:
        # inline strings first (most cells of a workbook qaf or openpyxl wrote)
        joined = b"".join(filter(None, texts))
        exact = r_in_rows == len(rows) and b'r="' not in joined
        if b"&" in joined or b"\r" in joined or b"_x" in joined:
            cells = {
                (r, c): _t_text(text, bool(keep))
                for r, c, keep, mark, text in zip(
                    row_numbers, col_numbers, pieces[4::_GROUPS], markers, texts, strict=True
                )
                if mark
            }
        else:  # their bytes, decoded: no entities, CRs or _xHHHH_ escapes anywhere
            cells = {
                (r, c): text.decode()
                for r, c, mark, text in zip(row_numbers, col_numbers, markers, texts, strict=True)
                if mark
            }
        n = len(letters) - markers.count(None)
        strings, formats, is_1904 = book.strings, book.formats, book.is_1904
        indexes = pieces[7::_GROUPS]
        shared = len(indexes) - indexes.count(None)
        if shared:  # shared strings (most cells of a workbook Excel or LibreOffice saved)
            cells.update(
                {
                    (r, c): strings[int(i)]
                    for r, c, i in zip(row_numbers, col_numbers, indexes, strict=True)
                    if i is not None
                }
            )
            n += shared
        n_formats = len(formats)
        n_strings = len(strings)
        for r, c, v, s, t in zip(
            row_numbers,
            col_numbers,
            pieces[10::_GROUPS],
            pieces[3::_GROUPS],
            pieces[8::_GROUPS],
            strict=True,
        ):
            if v is None:
                continue  # an inline or shared string, or an empty cell
            if exact and b'r="' in v:
                exact = False
            value = _value(v, s or b"", t or b"", formats, n_formats, strings, n_strings, is_1904)
            if value is not _EMPTY:
                cells[r, c] = value
                n += 1
    except UnicodeDecodeError:
        raise Unsupported("not UTF-8") from None
    except IndexError:
        raise Unsupported("shared string index out of range") from None
    if n != len(cells):
        return None  # two cells at one place: the document order decides
    max_row = max(max(row_numbers), max(map(int, rows), default=0))
    return cells, max_row, max(col_numbers) + 1, exact


_EMPTY = object()


def _value(
    v: bytes,
    s: bytes,
    t: bytes,
    formats: tuple[int, ...],
    n_formats: int,
    strings: list[str],
    n_strings: int,
    is_1904: bool,
) -> Any:
    """A ``<v>`` cell's value as calamine's read_v decides it (``_EMPTY`` for none)."""
    if not t or t == b"n":
        if not v:
            return _EMPTY
        if not _NUMBER.fullmatch(v):
            raise Unsupported("number")
        num = float(v)
        kind = OTHER
        if s:
            i = int(s)
            kind = formats[i] if i < n_formats else OTHER
        if kind == OTHER:
            return num
        if kind == DATETIME:
            return excel_date(num, is_1904)
        raise Unsupported("duration format")
    if t == b"s":
        if not v:
            return _EMPTY
        if not v.isdigit() or len(v) >= 10:
            raise Unsupported("shared string index")
        i = int(v)
        if i >= n_strings:
            raise Unsupported("shared string index out of range")
        return strings[i]
    if t == b"str":
        return text(_utf8(v))
    if t == b"inlineStr":
        return _EMPTY  # its <v> is ignored
    if t == b"b":
        if not v:
            return _EMPTY
        if b"&" in v:
            raise Unsupported("boolean")
        return v != b"0"
    if t == b"e":
        if not v:
            return _EMPTY
        if v not in _ERRORS:
            raise Unsupported("error value")
        return ""
    raise Unsupported("cell type")


def _token_cells(body: bytes, book: Book) -> Found:
    """The cells token by token, tracking the row and column calamine assigns cells without r."""
    strings, formats, is_1904 = book.strings, book.formats, book.is_1904
    n_formats = len(formats)
    n_strings = len(strings)
    cells: dict[tuple[int, int], Any] = {}
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
    ) in _SHEET_TOKEN.findall(body):
        if junk:
            raise Unsupported("sheet markup")
        if empty_row:
            m = _ROW_R.match(empty_row)
            if m:
                r_attrs += 1
                row_index = int(m.group(1))
                max_row = max(max_row, row_index)
            else:
                row_index += 1
            col_index = 0
            continue
        if rr:
            r_attrs += 1
            row_index = int(rr) - 1
            max_row = max(max_row, row_index + 1)
        if L:
            r_attrs += 1
            row = int(D) - 1
            col = cols.get(L)
            if col is None:
                col = _col(L)
            max_row = max(max_row, row + 1)
            max_col = max(max_col, col + 1)
        else:
            row, col = row_index, col_index
        if other and (b"r=" in other or b"s=" in other or b"t=" in other):
            raise Unsupported("cell attributes")
        if rend:
            row_index += 1
            col_index = 0
        else:
            col_index = col + 1
        if is_:
            if t != b"inlineStr":
                raise Unsupported("inline string in a cell of another type")
            if rich:
                value: Any = _rich(rich)
            else:
                value = _t_text(itp, True) if itp else _t_text(it, False)
        elif v:
            value = _value(v[3:], s, t, formats, n_formats, strings, n_strings, is_1904)
        elif v_empty and t == b"str":
            value = ""
        else:
            value = _EMPTY
        if value is not _EMPTY:
            cells[row + 1, col] = value  # a later cell at the same place wins, as in calamine
    return cells, max_row, max_col, r_attrs == body.count(b'r="')


ERROR_TYPE = b't="e"'  # as Excel, LibreOffice, openpyxl and xlsxwriter write it
_CELL_REF_ATTR = re.compile(rb'\sr="([A-Z]{1,3})([1-9][0-9]{0,6})"')
_ERROR_V = re.compile(rb"<v>\s*([^<]*?)\s*</v>")


def error_cells(xml: bytes) -> list[tuple[int, int, str]]:
    """(row, column, text), 0-based, of each cell of a worksheet's XML holding an Excel
    error (``<c r="O7" t="e"><v>#N/A</v></c>``: #N/A, #VALUE!, #REF! ...).

    python-calamine, and this module after it, give such a cell as blank; a reader that
    must not take a broken lookup for an empty cell puts the text back (the case list:
    a CSV export of the same sheet holds the text). A cell without its own ``r`` is left
    out (Excel always writes one). The sheet is looked at only where it says ``t="e"``.
    """
    found: list[tuple[int, int, str]] = []
    at = xml.find(ERROR_TYPE)
    while at >= 0:
        start = xml.rfind(b"<c", 0, at)
        end = xml.find(b">", at)
        cell = start >= 0 and end >= 0 and xml[start + 2 : start + 3].isspace()
        if cell and b">" not in xml[start:at] and xml[end - 1] != 47:  # 47: "/>", empty
            ref = _CELL_REF_ATTR.search(xml, start, end)
            close = xml.find(b"</c>", end)
            value = _ERROR_V.search(xml, end, close) if ref and close >= 0 else None
            if ref and value and value.group(1):
                row, col = int(ref.group(2)) - 1, _col(ref.group(1))
                found.append((row, col, value.group(1).decode("utf-8", "replace")))
        at = xml.find(ERROR_TYPE, at + len(ERROR_TYPE))
    return found


def grid(cells: dict[tuple[int, int], Any]) -> list[list[Any]]:
    """The cells (1-based rows, 0-based columns) padded from A1 into rows of equal width;
    "" becomes None."""
    if not cells:
        return []
    height = max(cells)[0]
    width = max(map(itemgetter(1), cells)) + 1
    rows: list[list[Any]] = [[None] * width for _ in range(height + 1)]
    for (r, c), value in cells.items():
        rows[r][c] = value
    if "" in cells.values():
        for row in rows:
            if "" in row:
                row[:] = [None if v == "" else v for v in row]
    return rows[1:]


def _merges(xml: bytes) -> tuple[Merge, ...]:
    lo, hi = _section(xml, b"mergeCells")
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

_SHEET = re.compile(rb"<sheet\b([^<>]*)>")
_RELATIONSHIP = re.compile(rb"<Relationship\b([^<>]*)>")
_WORKBOOK_PR = re.compile(rb"<workbookPr\b([^<>]*)>")
_PREFIXED = re.compile(rb"<\w+:(?:sheet|sheets|workbookPr)\b")
_OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


@dataclass(frozen=True)
class SheetRef:
    name: str
    visible: bool
    part: str  # the zip name of its worksheet part


def relationships(xml: bytes) -> dict[str, tuple[str, str]]:
    """Id -> (Type, Target) of a .rels part."""
    start = _after_root(xml, b"Relationships")
    if start < 0:
        raise Unsupported("relationships")
    _tags_only(xml[start:])
    out = {}
    for inside in _RELATIONSHIP.findall(xml, start):
        a = attrs(inside)
        out[a.get("Id", "")] = (a.get("Type", ""), a.get("Target", ""))
    return out


@functools.lru_cache(maxsize=16)
def workbook_sheets(
    root_rels: bytes, rels: bytes, workbook: bytes
) -> tuple[tuple[SheetRef, ...], bool]:
    """The sheets in workbook order, and whether dates count from 1904 (cached: returns
    made from one template share these parts)."""
    if _main_document(relationships(root_rels)) != "xl/workbook.xml":
        raise Unsupported("workbook part elsewhere")
    targets = relationships(rels)
    for kind, target in targets.values():
        if kind.endswith(("/sharedStrings", "/styles")) and target.lstrip("/") not in (
            "xl/sharedStrings.xml",
            "xl/styles.xml",
            "sharedStrings.xml",
            "styles.xml",
        ):
            raise Unsupported("shared strings or styles elsewhere")
    start = _after_root(workbook, b"workbook")
    if start < 0:
        raise Unsupported("workbook")
    _tags_only(workbook[start:])
    if _PREFIXED.search(workbook):
        raise Unsupported("prefixed workbook elements")
    is_1904 = False
    prs = _WORKBOOK_PR.findall(workbook, start)
    if len(prs) > 1:
        raise Unsupported("workbookPr")
    if prs:
        is_1904 = attrs(prs[0]).get("date1904") in ("1", "true")
    sheets = []
    found = _SHEET.findall(workbook, start)
    if len(found) != workbook.count(b"<sheet ") + workbook.count(b"<sheet>"):
        raise Unsupported("sheets")
    for inside in found:
        a = attrs(inside)
        state = a.get("state", "visible")
        if state not in ("visible", "hidden", "veryHidden"):
            raise Unsupported("sheet state")
        rid = a.get("r:id")
        if rid is None or "name" not in a or "relationships:id" in a:
            raise Unsupported("sheet attributes")
        kind, target = targets.get(rid, ("", ""))
        if kind != _OFFICE_DOCUMENT + "worksheet":
            raise Unsupported("not a worksheet")
        sheets.append(SheetRef(a["name"], state == "visible", _sheet_part(target)))
    return tuple(sheets), is_1904


def _sheet_part(target: str) -> str:
    """A worksheet target: absolute ("/xl/...") or relative to xl/ (calamine reads "xl/..."
    as "xl/xl/...", a part that is not there)."""
    if target.startswith("/xl/"):
        path = target[1:]
    elif target.startswith(("/", "xl/")):
        raise Unsupported("sheet target")
    else:
        path = "xl/" + target
    if not re.fullmatch(r"xl/worksheets/[\w.-]+\.xml", path) or ".." in path:
        raise Unsupported("sheet target")
    return path


def _main_document(rels: dict[str, tuple[str, str]]) -> str:
    targets = [t for k, t in rels.values() if k == _OFFICE_DOCUMENT + "officeDocument"]
    if len(targets) != 1:
        raise Unsupported("officeDocument")
    return targets[0].lstrip("/")
