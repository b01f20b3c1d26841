"""Open an untrusted .xlsx safely and fast, and read its cells into plain grids.

Returned workbooks come from dozens of staff through e-mail (issue 7). An XLSX
is a zip of XML, so before any parsing this module checks, in order:

1. the file itself: not empty, not bigger than ``limits.max_file_mb``, and
   what it really is from its first bytes — a renamed PDF, an old ``.xls``
   (an OLE container), a password-protected workbook (Excel encrypts into an
   OLE container too), a Word/OpenDocument file, plain text — each refused
   with a one-line, plain-English message;
2. the zip central directory: the declared uncompressed sizes against
   ``limits.max_uncompressed_mb`` and each part's compression ratio against
   ``limits.max_compression_ratio`` (zip bombs), the number of parts, and
   that it holds an Excel workbook at all;
3. every XML part, decompressed by Python's zipfile (which stops at the
   declared size and verifies the CRC, so the actual sizes equal the checked
   declared sizes): any ``<!DOCTYPE`` or ``<!ENTITY`` is refused (entity
   expansion "billion laughs", external entities) — no workbook Excel writes
   has one;
4. each worksheet's extent (last row x last column), so one stray cell at
   XFD1048576 cannot make the reader allocate billions of empty cells.

Only then are cell values read: by ``qaf.xlsxparse`` from the very parts step 3
decompressed (one pass, no second unzip; parts byte-identical to ones already
checked, as returns made from one template share, are unpacked once), or, for a
workbook it cannot read with certainty, by python-calamine — with the same
result either way (tests/test_xlsx_reader.py). Excel date cells come back as
``date``/``datetime``/``time``; text dates are left as text for
``qaf.calendar.parse_date``. An Excel error cell (``#N/A``), blank to both readers, is
given its text afterwards (``xlsxparse.error_cells``): a broken formula is not an empty box.

Everything wrong with the file is raised as ``UnreadableFile`` (rule I1)
with a message a QA officer can act on, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qaf import deflate, xlsxparse
from qaf.config import Limits
from qaf.grades import normalise
from qaf.problems import QafError

RULE = "I1"  # the file is not a readable, safe workbook (issue 7 item 1)

MAX_PARTS = 2_000
MAX_CELLS = 2_000_000  # per sheet, counted from A1 (the grid is padded from A1)
RATIO_CHECK_FROM = 1 << 20  # parts under 1 MiB cannot be bombs worth the name

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_XLS_STREAMS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))

# r="B7" is a cell reference, r="7" a row number; the literal prefix keeps the scan fast
# (other attributes ending in r, like sqref="A1", only add real cells to the estimate).
_REF = re.compile(rb'r="([A-Z]{0,3})(\d{1,7})"')


class UnreadableFile(QafError):
    """The file is not a workbook we can safely read (rule I1)."""

    def __init__(self, path: Path | str, message: str) -> None:
        name = Path(path).name
        super().__init__(f"{name} {message}", rule=RULE, file=str(path), exit_code=1)
        self.reason = message


@dataclass(frozen=True)
class Sheet:
    """One worksheet as a grid padded from A1: ``rows[r][c]`` is the cell at row r+1, col c+1.

    Values are ``str`` (as typed, not stripped), ``float``, ``int``, ``bool``,
    ``date``/``datetime``/``time``, or ``None`` for an empty cell.
    ``merged`` holds inclusive 0-based ``(first_row, first_col, last_row, last_col)``.
    """

    name: str
    visible: bool
    rows: list[list[Any]]
    merged: tuple[tuple[int, int, int, int], ...] = ()
    _merge_of: dict[tuple[int, int], tuple[int, int, int, int]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for m in self.merged:
            r0, c0, r1, c1 = m
            if (r1 - r0 + 1) * (c1 - c0 + 1) > 10_000:
                continue  # a huge merge is decoration; only its top-left cell matters
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    self._merge_of[(r, c)] = m

    @property
    def height(self) -> int:
        return len(self.rows)

    def raw(self, r: int, c: int) -> Any:
        if 0 <= r < len(self.rows):
            row = self.rows[r]
            if 0 <= c < len(row):
                return row[c]
        return None

    def value(self, r: int, c: int) -> Any:
        """The cell's value; a cell covered by a merged range shows its top-left value."""
        if self._merge_of:
            m = self._merge_of.get((r, c))
            if m is not None:
                return self.raw(m[0], m[1])
        rows = self.rows  # raw(r, c), inlined: this is asked for every cell looked at
        if 0 <= r < len(rows):
            row = rows[r]
            if 0 <= c < len(row):
                return row[c]
        return None

    def merge_end_col(self, r: int, c: int) -> int:
        """The last column of the merged range starting at (r, c), or c."""
        m = self._merge_of.get((r, c)) if self._merge_of else None
        return m[3] if m is not None else c


@dataclass(frozen=True)
class Workbook:
    """The sheets of a workbook, and when it was last saved (``saved_at``: POSIX seconds
    from docProps/core.xml ``modified``, which Excel sets on every save; None without one)."""

    path: Path
    sheets: tuple[Sheet, ...]
    saved_at: float | None = field(default=None, compare=False)  # metadata, not content

    def sheet(self, name: str) -> Sheet | None:
        key = normalise(name)
        for s in self.sheets:
            if normalise(s.name) == key:
                return s
        return None

    def visible(self) -> Iterator[Sheet]:
        return (s for s in self.sheets if s.visible)


def cell_ref(r: int, c: int) -> str:
    """0-based (row, col) as an A1 reference: (6, 1) -> "B7"."""
    letters = _LETTERS[c] if c < len(_LETTERS) else col_letter(c)
    return f"{letters}{r + 1}"


def col_letter(c: int) -> str:
    letters = ""
    n = c + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


_LETTERS = tuple(col_letter(c) for c in range(702))  # A .. ZZ


# ------------------------------------------------------------------ reading


def read_bytes(path: Path, limits: Limits) -> bytes:
    """The file's bytes, refusing a missing, empty or oversized file before reading it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UnreadableFile(path, "does not exist") from None
    except OSError as e:
        raise UnreadableFile(path, f"cannot be read ({e.strerror})") from None
    if size == 0:
        raise UnreadableFile(path, "is empty (0 bytes): save the workbook again and resend it")
    if size > limits.max_file_mb * 1024 * 1024:
        raise UnreadableFile(
            path,
            f"is {size / 1024 / 1024:.1f} MB, over the {limits.max_file_mb:g} MB limit "
            "([limits] max_file_mb in qaf.toml)",
        )
    try:
        return path.read_bytes()
    except OSError as e:
        raise UnreadableFile(path, f"cannot be read ({e.strerror})") from None


def sniff(data: bytes) -> str | None:
    """Why these bytes are not an .xlsx, judged from how they start; None if they may be."""
    head = data[:8]
    if not data:
        return "is empty (0 bytes): save the workbook again and resend it"
    if head.startswith(ZIP_MAGICS):
        return None
    if head == OLE_MAGIC:
        if _ENCRYPTED in data or _ENCRYPTION_INFO in data:
            return (
                "is password-protected: open it in Excel, remove the password "
                "(File > Info > Protect Workbook) and save it again"
            )
        if any(s in data for s in _XLS_STREAMS):
            return "is an old Excel .xls file: open it in Excel and save it as .xlsx"
        return "is an old Office (OLE) file, not an .xlsx workbook: save it as .xlsx"
    if head.startswith(b"%PDF"):
        return "is a PDF, not an Excel workbook (was it renamed?): send the .xlsx itself"
    text = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<html", b"<!doctype html", b"<table")):
        return "is a web page (HTML), not an Excel workbook: save it as .xlsx"
    if text.startswith(b"<?xml"):
        return "is an XML file (perhaps an Excel 2003 XML spreadsheet), not .xlsx: save it as .xlsx"
    if head.startswith(b"{\\rtf"):
        return "is a Word/RTF document, not an Excel workbook"
    return "is not an Excel workbook (.xlsx): it is neither a zip file nor an Office file"


def check_zip(data: bytes, path: Path, limits: Limits) -> zipfile.ZipFile:
    """Open the zip and check its central directory against the limits (zip bombs)."""
    why = sniff(data)
    if why:
        raise UnreadableFile(path, why)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise UnreadableFile(
            path, "is damaged (not a complete zip file; was it truncated in the e-mail?)"
        ) from None
    if len(infos) > MAX_PARTS:
        raise UnreadableFile(path, f"has {len(infos)} parts inside, more than any workbook")
    limit = limits.max_uncompressed_mb * 1024 * 1024
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnreadableFile(path, "is an encrypted zip file, not a workbook Excel can open")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_CHECK_FROM and ratio > limits.max_compression_ratio:
            raise UnreadableFile(
                path,
                f"looks like a zip bomb: part {info.filename} expands {ratio:.0f} times "
                f"(limit {limits.max_compression_ratio:g}, [limits] max_compression_ratio)",
            )
    if total > limit:
        raise UnreadableFile(
            path,
            f"would expand to {total / 1024 / 1024:.0f} MB, over the "
            f"{limits.max_uncompressed_mb:g} MB limit ([limits] max_uncompressed_mb)",
        )
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        if "xl/workbook.bin" in names:
            why = "is an Excel binary workbook (.xlsb): save it as .xlsx"
        elif "word/document.xml" in names:
            why = "is a Word document, not an Excel workbook"
        elif "ppt/presentation.xml" in names:
            why = "is a PowerPoint file, not an Excel workbook"
        elif "mimetype" in names and "content.xml" in names:
            why = "is an OpenDocument file (.ods/.odt): save it as .xlsx"
        else:
            why = "is a zip file but not an Excel workbook"
        raise UnreadableFile(path, why)
    return zf


def check_parts(
    zf: zipfile.ZipFile,
    path: Path,
    data: bytes,
    max_cells: int = MAX_CELLS,
    deferred: list[str] | None = None,
) -> dict[str, bytes]:
    """Decompress every XML part (bounded, CRC-checked) and refuse DTDs and oversized sheets.

    With ``deferred``, returns the parts by name (without, nothing is kept: a 25 MB case list
    is not held twice) and leaves worksheet extents to the caller, which gets their names
    (in zip order) to check with ``check_extent`` or its own scan; a later part's error
    still gives way to an earlier sheet's extent, as without deferring.
    """
    keep = deferred is not None
    parts: dict[str, bytes] = {}
    pending: list[str] = []
    for info in zf.infolist():
        name = info.filename
        lower = name.lower()
        if not lower.endswith((".xml", ".rels", ".vml")):
            continue
        try:
            part = _unpack(data, info, path)
            probe = _refuse_dtd(part, name, path)
        except UnreadableFile:
            for earlier in pending:  # they come first in zip order, as without deferring
                check_extent(parts[earlier], earlier, path, max_cells)
            raise
        if keep:
            parts[name] = part
        if lower.startswith("xl/worksheets/") and lower.endswith(".xml"):
            if keep and probe is part:
                pending.append(name)
            else:
                check_extent(probe, name, path, max_cells)
    if deferred is not None:
        deferred.extend(pending)
    return parts


def _refuse_dtd(part: bytes, name: str, path: Path) -> bytes:
    """The part as UTF-8 bytes to look at (UTF-16 parts re-encoded), refusing any DTD."""
    if part[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 XML: look at it as text
        try:
            probe = part.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableFile(path, f"has an unreadable XML part ({name})") from None
    else:
        probe = part
    if b"!" in probe and (b"<!DOCTYPE" in probe or b"<!ENTITY" in probe or b"<!doctype" in probe):
        raise UnreadableFile(
            path,
            f"is refused: its XML ({name}) declares a DOCTYPE/ENTITY, which Excel never "
            "writes (entity-expansion or external-entity attack)",
        )
    return probe


def _unpack(data: bytes, info: zipfile.ZipInfo, path: Path) -> bytes:
    """One part's bytes, never more than its declared size, CRC-checked (4x faster than
    ``ZipFile.read`` for the small parts of a workbook)."""
    damaged = f"is damaged (part {info.filename} cannot be unpacked; truncated?)"
    off = info.header_offset
    header = data[off : off + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise UnreadableFile(path, damaged)
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    start = off + 30 + name_len + extra_len
    raw = data[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise UnreadableFile(path, damaged)
    key = (info.compress_type, info.file_size, info.CRC, raw)
    known = _UNPACKED.get(key)
    if known is not None:  # the same compressed bytes were unpacked and verified before
        with contextlib.suppress(KeyError):  # another thread may have just dropped it
            _UNPACKED.move_to_end(key)
        return known
    if info.compress_type == zipfile.ZIP_STORED:
        out = raw[: info.file_size]
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        try:
            d = deflate.decompressobj(-15)
            out = d.decompress(raw, info.file_size + 1)
        except deflate.error:
            raise UnreadableFile(path, damaged) from None
    else:
        raise UnreadableFile(path, f"uses a compression Excel does not write ({info.filename})")
    if len(out) != info.file_size or deflate.crc32(out) != info.CRC:
        raise UnreadableFile(
            path, f"is damaged or tampered with: part {info.filename} does not match its size/CRC"
        )
    if info.file_size <= _UNPACKED_PART_MAX:
        _UNPACKED[key] = out
        if len(_UNPACKED) > _UNPACKED_MAX:
            with contextlib.suppress(KeyError):
                _UNPACKED.popitem(last=False)
    return out


# Returns made from one template share most parts (theme, styles, workbook, relationships)
# byte for byte: the last few unpacked are kept, keyed by their compressed bytes and CRC.
_UNPACKED: OrderedDict[tuple[int, int, int, bytes], bytes] = OrderedDict()
_UNPACKED_MAX = 32
_UNPACKED_PART_MAX = 64 * 1024


def check_extent(xml: bytes, name: str, path: Path, max_cells: int = MAX_CELLS) -> tuple[int, int]:
    """Refuse a sheet whose cell references reach too far (every r="B7"-like attribute);
    the last row and column they reach."""
    refs = _REF.findall(xml)
    max_col = 0
    for letters in {m[0] for m in refs}:
        col = 0
        for ch in letters:
            col = col * 26 + ch - 64
        max_col = max(max_col, col)
    max_row = max(map(int, {m[1] for m in refs}), default=0)
    refuse_extent(max_row, max_col, name, path, max_cells)
    return max_row, max_col


def refuse_extent(
    max_row: int, max_col: int, name: str, path: Path, max_cells: int = MAX_CELLS
) -> None:
    if max_row * max(max_col, 1) > max_cells:
        raise UnreadableFile(
            path,
            f"has a sheet ({name}) reaching cell {col_letter(max(max_col, 1) - 1)}{max_row}: "
            f"too large to read (delete the stray cells far below or to the right)",
        )


# A whole authority's case list is 25 MB of sheet XML: collecting every reference takes
# longer than reading the sheet. The longest reference bounds the extent at the cost of a
# scan or two: with no two-letter column and no six-digit row, it is at most Z99999.
_TWO_LETTERS = re.compile(rb'r="[A-Z]{2}')
_THREE_LETTERS = re.compile(rb'r="[A-Z]{3}')
_MORE_DIGITS = tuple(re.compile(rb'r="[A-Z]{0,3}\d{%d}' % n) for n in range(2, 9))


def _check_extent_bounded(xml: bytes, name: str, path: Path, max_cells: int) -> tuple[int, int]:
    """``check_extent`` for a large sheet: refused exactly when ``check_extent`` refuses,
    but every reference is counted only when the bound from the longest ones is too loose.
    Returns the rows and columns the sheet reaches at most (that bound, or the exact ones)."""
    cols = 26 if not _TWO_LETTERS.search(xml) else 702 if not _THREE_LETTERS.search(xml) else 16384
    for digits, longer in enumerate(_MORE_DIGITS, start=1):  # no row with more digits
        if (10**digits - 1) * cols > max_cells:
            break
        if not longer.search(xml):
            return 10**digits - 1, cols
    return check_extent(xml, name, path, max_cells)


@dataclass(frozen=True)
class SheetPart:
    """What :func:`check_sheet_part` found in a part of a worksheet cut at a row."""

    plain: bool  # no "<!" at all: no declaration, comment or CDATA
    rows: int  # the last row and column its cells reach, at most
    cols: int


def fit_together(parts: tuple[SheetPart, ...], max_cells: int) -> bool:
    """Whether the parts of one sheet, each within ``max_cells`` on its own, are within it
    together: the whole sheet reaches the furthest row of one and column of another."""
    return max(p.rows for p in parts) * max(max(p.cols for p in parts), 1) <= max_cells


def checked_source_parts(
    path: Path, limits: Limits, max_cells: int, data: bytes, *, later_from: int | None = None
) -> tuple[dict[str, bytes], frozenset[str]]:
    """The checks of :func:`checked_bytes` for a source that may be large (the case list),
    each sheet's extent bounded cheaply first; returns the XML parts unpacked (name ->
    bytes, CRC-checked) so that the reader need not unpack them again.

    Worksheets of ``later_from`` bytes or more are only unpacked: their names are
    returned, and the reader passes each to :func:`check_sheet_xml` before reading it, the
    whole sheet or each part of it that it reads (qaf.sheetsplit).
    """
    path = Path(path)
    zf = check_zip(data, path, limits)
    parts: dict[str, bytes] = {}
    later = []
    for info in zf.infolist():
        name = info.filename
        lower = name.lower()
        if not lower.endswith((".xml", ".rels", ".vml")):
            continue
        part = parts[name] = _unpack(data, info, path)
        sheet = lower.startswith("xl/worksheets/") and lower.endswith(".xml")
        if sheet and later_from is not None and len(part) >= later_from:
            later.append(name)
        else:
            _check_xml(part, name, path, max_cells if sheet else None)
    return parts, frozenset(later)


def check_sheet_xml(xml: bytes, name: str, path: Path, max_cells: int) -> bool:
    """Refuse a worksheet's XML declaring a DTD, or reaching too far for a grid of
    ``max_cells`` (see :func:`checked_source_parts`). True when it holds no ``<!`` at all:
    no declaration, comment or CDATA."""
    return _check_xml(xml, name, Path(path), max_cells)


def check_sheet_part(xml: bytes, name: str, path: Path, max_cells: int) -> SheetPart:
    """:func:`check_sheet_xml` for a part of a worksheet cut at a row, with how far its cells
    reach: the parts must also :func:`fit_together` (a stray column in one part and the
    rows of the other can make the whole sheet too large)."""
    reach: list[tuple[int, int]] = []
    plain = _check_xml(xml, name, Path(path), max_cells, reach)
    rows, cols = reach[0]
    return SheetPart(plain, rows, cols)


def _check_xml(
    part: bytes,
    name: str,
    path: Path,
    max_cells: int | None,
    reach: list[tuple[int, int]] | None = None,
) -> bool:
    if part[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 XML: look at it as text
        try:
            part = part.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableFile(path, f"has an unreadable XML part ({name})") from None
    marked = b"!" in part and b"<!" in part  # "!" first: one byte is found ten times faster
    if marked and (b"<!DOCTYPE" in part or b"<!ENTITY" in part or b"<!doctype" in part):
        raise UnreadableFile(
            path,
            f"is refused: its XML ({name}) declares a DOCTYPE/ENTITY, which Excel never "
            "writes (entity-expansion or external-entity attack)",
        )
    if max_cells is not None:
        extent = _check_extent_bounded(part, name, path, max_cells)
        if reach is not None:
            reach.append(extent)
    return not marked


def checked_bytes(
    path: Path, limits: Limits, max_cells: int = MAX_CELLS, data: bytes | None = None
) -> bytes:
    """The bytes of an .xlsx that passed every check above, for a reader that parses it
    itself (the case list and roster readers read one sheet only)."""
    path = Path(path)
    if data is None:
        data = read_bytes(path, limits)
    zf = check_zip(data, path, limits)
    check_parts(zf, path, data, max_cells)
    return data


def read_workbook(path: Path, limits: Limits, data: bytes | None = None) -> Workbook:
    """Every sheet's cell values, after all the safety checks (raises ``UnreadableFile``).

    The parts the checks decompressed are read by ``qaf.xlsxparse``; a workbook it cannot
    read with certainty is read by python-calamine instead, with the same result.
    """
    path = Path(path)
    if data is None:
        data = read_bytes(path, limits)
    zf = check_zip(data, path, limits)
    deferred: list[str] = []
    parts = check_parts(zf, path, data, deferred=deferred)
    saved_at = last_saved(parts)
    sheets = _read_fast(parts, deferred, path)
    if sheets is None:
        sheets = _read_with_calamine(path, data).sheets
    marked = [name for name in deferred if xlsxparse.ERROR_TYPE in parts[name]]
    if marked:
        _put_error_texts(sheets, parts, marked)
    return Workbook(path, sheets, saved_at)


def _named(name: str) -> Callable[[Sequence[str]], str]:
    """The sheet picker of ``qaf.sheetsplit.sheet_part`` choosing the sheet ``name``."""
    return lambda _names: name


def _put_error_texts(sheets: tuple[Sheet, ...], parts: dict[str, bytes], marked: list[str]) -> None:
    """Each Excel error cell's text (``#N/A``) where the readers left it blank: a broken
    formula in a grade or date box is not an empty box (trial 3 F8). ``marked``: the
    worksheet parts holding one."""
    from qaf import sheetsplit

    for sheet in sheets:
        where = sheetsplit.sheet_part(parts, _named(sheet.name))
        if where is None or where[1] not in marked:
            continue
        rows = sheet.rows
        for r, c, text in xlsxparse.error_cells(parts[where[1]]):
            if r >= len(rows):
                continue
            row = rows[r]
            if c >= len(row):
                row.extend([None] * (c + 1 - len(row)))
            if row[c] is None:
                row[c] = text


_MODIFIED = re.compile(rb"<(?:[\w.-]+:)?modified\b[^>]*>\s*([^<\s]+)\s*<")


def last_saved(parts: dict[str, bytes]) -> float | None:
    """When the workbook was last saved: docProps/core.xml ``modified`` (a W3CDTF time, UTC
    unless it says otherwise) as POSIX seconds; None when absent or not a time."""
    core = parts.get("docProps/core.xml")
    if core is None:
        core = next((v for k, v in parts.items() if k.lower() == "docprops/core.xml"), b"")
    found = _MODIFIED.search(core) if core else None
    if found is None:
        return None
    try:
        when = datetime.fromisoformat(found.group(1).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _read_fast(
    parts: dict[str, bytes], deferred: list[str], path: Path
) -> tuple[Sheet, ...] | None:
    """The sheets read from the checked parts; None when calamine must read them.

    Checks the extent of every worksheet part in ``deferred`` (zip order) on the way.
    """
    reader: _FastBook | None
    try:
        reader = _FastBook(parts)
    except _CANNOT:
        reader = None
    values: dict[str, xlsxparse.SheetValues] = {}
    for name in deferred:
        extent = None
        if reader is not None and name in reader.wanted:
            try:
                values[name] = got = reader.values(name)
                extent = got.extent
            except _CANNOT:
                reader = None
        if extent is None:
            check_extent(parts[name], name, path)
        else:
            refuse_extent(*extent, name, path)
    if reader is None:
        return None
    try:
        for part in reader.wanted - values.keys():  # UTF-16 parts, checked in check_parts
            values[part] = reader.values(part)
        return tuple(
            Sheet(
                ref.name,
                ref.visible,
                xlsxparse.grid(values[ref.part].cells),
                values[ref.part].merged,
            )
            for ref in reader.sheets
        )
    except _CANNOT:
        return None


# What sends a workbook to calamine: what the fast reader knows it cannot read, and, as a
# safety net, any slip of its own on input nobody foresaw (calamine then decides).
_CANNOT = (
    xlsxparse.Unsupported,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    OverflowError,
    RecursionError,
)


class _FastBook:
    """The workbook-wide parts (relationships, sheet list, shared strings, styles), parsed."""

    def __init__(self, parts: dict[str, bytes]) -> None:
        self.parts = parts
        self.by_lower: dict[str, str] = {}
        for name in parts:
            if name.lower() in self.by_lower:
                raise xlsxparse.Unsupported("two parts differ only in case")
            self.by_lower[name.lower()] = name
        sheets, is_1904 = xlsxparse.workbook_sheets(
            self._part("_rels/.rels", True),
            self._part("xl/_rels/workbook.xml.rels", True),
            self._part("xl/workbook.xml", True),
        )
        self.sheets = [
            xlsxparse.SheetRef(s.name, s.visible, self.by_lower.get(s.part.lower(), s.part))
            for s in sheets
        ]
        self.wanted = {s.part for s in self.sheets}
        if not self.wanted <= parts.keys():
            raise xlsxparse.Unsupported("a sheet's part is missing")
        strings = self._part("xl/sharedStrings.xml")
        styles = self._part("xl/styles.xml")
        self.book = xlsxparse.Book(
            xlsxparse.shared_strings(strings) if strings else [],
            xlsxparse.cell_formats(styles) if styles else (),
            is_1904,
        )

    def _part(self, name: str, required: bool = False) -> bytes:
        found = self.by_lower.get(name.lower())
        if found is None:
            if required:
                raise xlsxparse.Unsupported(f"no part {name}")
            return b""
        return self.parts[found]

    def values(self, part: str) -> xlsxparse.SheetValues:
        return xlsxparse.sheet_values(self.parts[part], self.book)


def _read_with_calamine(path: Path, data: bytes) -> Workbook:
    """The checked workbook read by python-calamine (what the fast reader falls back to)."""
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = []
        for meta in wb.sheets_metadata:
            try:
                sh = wb.get_sheet_by_name(meta.name)
            except Exception:  # chart sheets and the like have no cells
                continue
            rows = [
                [None if v == "" else v for v in row] for row in sh.to_python(skip_empty_area=False)
            ]
            merged = tuple((a[0], a[1], b[0], b[1]) for a, b in (sh.merged_cell_ranges or ()))
            visible = meta.visible == SheetVisibleEnum.Visible
            sheets.append(Sheet(meta.name, visible, rows, merged))
    except BaseException as e:  # calamine errors (damaged XML ...) and Rust panics
        if isinstance(e, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UnreadableFile(path, f"cannot be read as an Excel workbook ({first})") from None
    return Workbook(path, tuple(sheets))
