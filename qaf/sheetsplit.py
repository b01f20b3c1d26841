"""A large worksheet cut in two, parsed by two threads (issue 8: a whole case list).

python-calamine parses a sheet with the GIL released: about half a second for 50,000
rows of 15 columns, the largest part of ``qaf allocate``. With two cores the sheet's
rows are cut in two at a row boundary and each part put into a copy of the workbook,
zip entries stored, not deflated (qaf.xlsxsafe has unpacked and checked them already):
a thread parses the second part (:func:`in_thread`) while this one parses the first and
turns its rows into cases. Turning cells into Python values holds the GIL, so that part
stays with the caller; nothing is pickled between processes.

Only a plain sheet is cut: numbered rows, no merged cells, no comments or CDATA, and
large enough to be worth it (the reader checks each part: see :class:`Cut`). The two
parts hold every cell of the sheet once, at its own row and column, so the rows read
from both are the rows of the whole sheet.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import struct
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from xml.etree import ElementTree

from qaf import deflate

SPLIT_FROM = 8 << 20  # bytes of sheet XML (~15,000 rows): below, a second parse costs more
FIRST_SHARE = 0.45  # of the rows parsed by the caller's thread, which then turns them into cases

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01: the parts' date does not matter
_NUMBERED_ROW = re.compile(rb'<row\s(?:[^>]*\s)?r="\d+"[^>]*>')

T = TypeVar("T")


def two_cores() -> bool:
    """Whether this process may run on two cores at once (else a cut only adds work)."""
    from qaf.cores import usable_cores

    return usable_cores() >= 2


class Background(Generic[T]):
    """A function running in a daemon thread; :meth:`result` waits for its value or raises
    its exception. Nothing can stop it: :meth:`cancel` only stops waiting for it (a parse
    ends on its own, and a daemon thread does not keep the process alive)."""

    def __init__(self, function: Callable[[], T]) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function,), daemon=True)
        self._thread.start()

    def _run(self, function: Callable[[], T]) -> None:
        try:
            self._value = function()
        except BaseException as e:  # handed to result()
            self._error = e

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def cancel(self) -> None:
        """The result is no longer wanted."""


def in_thread(function: Callable[[], T]) -> Background[T]:
    """Run ``function`` in a thread while the caller goes on (see :class:`Background`)."""
    return Background(function)


@dataclass(frozen=True)
class Cut:
    """The sheet at ``index`` among the workbook's sheets (zip entry ``name``), cut in two
    at byte ``at`` of its XML. Each thread makes its part's sheet XML (:meth:`first`,
    :meth:`second`), checks it (qaf.xlsxsafe.check_sheet_part), giving up if it holds
    ``<!`` (a comment or CDATA might cross the cut), then has it parsed in a copy of the
    workbook (:meth:`parse`), giving up on merged cells."""

    index: int
    name: str
    parts: Mapping[str, bytes]
    body: int  # where the rows start (after <sheetData>)
    at: int
    closing: int  # where they end (</sheetData>)

    def first(self) -> bytes:
        """The first part's sheet XML: the rows before the cut."""
        xml = memoryview(self.parts[self.name])
        return b"".join((xml[: self.at], xml[self.closing :]))

    def second(self) -> bytes:
        """The second part's sheet XML: the rows from the cut."""
        xml = memoryview(self.parts[self.name])
        return b"".join((xml[: self.body], xml[self.at :]))

    def parse(self, sheet: bytes) -> tuple[Sequence[str], Any]:
        """The workbook with ``sheet`` as the sheet's XML, parsed by python-calamine: its
        sheet names and that sheet (a ``CalamineSheet``, its cells in memory).

        On Linux the workbook goes through a file with no name (:func:`anonymous_file`):
        from a file calamine streams the sheet's XML with the GIL released, where from
        memory it first copies the whole workbook through Python ``read`` calls into a
        buffer of its own (30 MB of fresh pages a part, and calls that wait for the GIL).
        Elsewhere, or when the temporary folder cannot take such a file, from memory.
        """
        from python_calamine import CalamineWorkbook

        pieces = _stored_pieces({**self.parts, self.name: sheet})
        fd = anonymous_file()
        if fd is None:
            wb = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(pieces)))
        else:
            try:
                with open(fd, "wb", closefd=False) as f:
                    f.writelines(pieces)
                del pieces
                wb = CalamineWorkbook.from_path(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)  # calamine holds a descriptor of its own
        try:
            names = wb.sheet_names
            return names, wb.get_sheet_by_name(names[self.index])
        finally:
            wb.close()


def anonymous_file() -> int | None:
    """A descriptor of a new file with no name in the temporary folder (Linux
    ``O_TMPFILE``), or None where there is no such thing.

    The parts of a case list hold children's names: a copy must never be left on disk. A
    named temporary file would be, by a process killed before deleting it; a file with no
    name goes with its last descriptor, whatever ends the process.
    """
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(tempfile.gettempdir(), flag | os.O_RDWR, 0o600)
    except OSError:  # a file system or kernel without it, a folder not there
        return None


def cut(parts: Mapping[str, bytes], pick: Callable[[Sequence[str]], str | None]) -> Cut | None:
    """The sheet ``pick`` chooses among the sheet names, cut in two; None when it is small
    or cannot be cut (read it whole)."""
    found = sheet_part(parts, pick)
    if found is None:
        return None
    index, name = found
    xml = parts[name]
    if len(xml) < SPLIT_FROM:
        return None
    where = _cut(xml)
    if where is None:
        return None
    return Cut(index, name, parts, *where)


def sheet_part(
    parts: Mapping[str, bytes], pick: Callable[[Sequence[str]], str | None]
) -> tuple[int, str] | None:
    """(position, zip entry) of the sheet ``pick`` chooses, from the workbook's XML."""
    workbook, rels = parts.get("xl/workbook.xml"), parts.get("xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        return None
    try:  # parts refused by xlsxsafe if they declare a DTD: no entity expansion here
        sheets = ElementTree.fromstring(workbook).findall(f"{_MAIN}sheets/{_MAIN}sheet")
        targets = {
            r.get("Id"): r.get("Target", "")
            for r in ElementTree.fromstring(rels).iter(f"{_RELS}Relationship")
        }
    except ElementTree.ParseError:
        return None
    names = [s.get("name", "") for s in sheets]
    name = pick(names)
    if name is None or name not in names:
        return None
    index = names.index(name)
    target = targets.get(sheets[index].get(_REL_ID))
    if not target:
        return None
    part = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
    part = posixpath.normpath(part)
    return (index, part) if part in parts else None


def _cut(xml: bytes) -> tuple[int, int, int] | None:
    """Where the sheet's rows start, where to cut them (between two rows, the second
    numbered) and where they end; None when no such place is found."""
    opening, closing = xml.find(b"<sheetData>"), xml.rfind(b"</sheetData>")
    if opening < 0 or closing < opening:
        return None
    body = opening + len(b"<sheetData>")
    at = body + int((closing - body) * FIRST_SHARE)
    for _ in range(100):
        at = xml.find(b"<row", at, closing)
        if at < 0:
            return None
        ended = xml.rfind(b"</row>", body, at)
        if ended >= 0 and not xml[ended + 6 : at].strip() and _NUMBERED_ROW.match(xml, at):
            return body, at, closing
        at += 4
    return None


def stored(parts: Mapping[str, bytes]) -> bytes:
    """A zip of the parts, stored (not deflated): what calamine reads fastest. Made in one
    piece: the parts are copied once (zipfile would grow a buffer and copy it again)."""
    return b"".join(_stored_pieces(parts))


def _stored_pieces(parts: Mapping[str, bytes]) -> list[bytes]:
    """:func:`stored`'s zip as the pieces to write one after another."""
    pieces: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, data in parts.items():
        raw = name.encode("utf-8")
        flags = 0 if name.isascii() else 0x800  # UTF-8 name
        crc = deflate.crc32(data)
        size = len(data)
        head = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, flags, 0, 0, _DOS_DATE, crc, size, size, len(raw), 0
        )
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                flags,
                0,
                0,
                _DOS_DATE,
                crc,
                size,
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
        )
        pieces += (head, raw, data)
        offset += len(head) + len(raw) + size
    directory = b"".join(central)
    count = len(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), offset, 0)
    return [*pieces, directory, end]
