"""Untrusted XLSX (issue 7 item 1, rule I1): refused before parsing, in one plain line."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook as OpenpyxlWorkbook

from qaf.config import Limits
from qaf.xlsxsafe import UnreadableFile, cell_ref, col_letter, read_workbook

LIMITS = Limits()


def small_book(path: Path) -> Path:
    wb = OpenpyxlWorkbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Audit"
    ws["A1"] = "Audit ID"
    ws["B1"] = "2026-12-001"
    ws["A2"] = "Date of audit"
    ws["B2"] = date(2026, 12, 10)
    ws.merge_cells("A4:B4")
    ws["A4"] = "Auditor"
    ws["C4"] = "Tia Manager"
    hidden = wb.create_sheet("qaf")
    hidden["A1"] = "audit_id"
    hidden.sheet_state = "hidden"
    wb.save(path)
    return path


def rewrite_part(src: Path, dest: Path, name: str, data: bytes) -> Path:
    """Copy a zip replacing one part."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, data if info.filename == name else zin.read(info))
    return dest


def test_reads_cells_merged_ranges_hidden_sheets_and_dates(tmp_path: Path) -> None:
    wb = read_workbook(small_book(tmp_path / "a.xlsx"), LIMITS)
    audit = wb.sheet("audit")
    assert audit is not None and audit.visible
    assert audit.raw(0, 1) == "2026-12-001"
    assert audit.raw(1, 1) == date(2026, 12, 10)  # an Excel date cell comes back as a date
    assert audit.merged == ((3, 0, 3, 1),)
    assert audit.value(3, 1) == "Auditor"  # a merged cell shows its top-left value
    assert audit.merge_end_col(3, 0) == 1
    hidden = wb.sheet("qaf")
    assert hidden is not None and not hidden.visible


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600 + "Workbook".encode("utf-16-le"),
            ".xls",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b"\0" * 600
            + "EncryptionInfo".encode("utf-16-le")
            + "EncryptedPackage".encode("utf-16-le"),
            "password-protected",
        ),
        (b"Case ID,Grade\nP1,Good\n", "not an Excel workbook"),
        (b"<html><body><table></table></body></html>", "web page"),
        (b"PK\x03\x04" + b"\0" * 40, "damaged"),
    ],
)
def test_not_a_workbook_gets_one_plain_line(tmp_path: Path, content: bytes, expected: str) -> None:
    # rule I1
    path = tmp_path / "return.xlsx"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as e:
        read_workbook(path, LIMITS)
    message = str(e.value)
    assert expected in message
    assert "\n" not in message and "Traceback" not in message
    assert e.value.rule == "I1"


def test_truncated_workbook_is_damaged(tmp_path: Path) -> None:
    # rule I1: cut short in an e-mail
    good = small_book(tmp_path / "a.xlsx").read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(UnreadableFile, match="damaged"):
        read_workbook(path, LIMITS)


def test_word_document_renamed_is_named(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    path = tmp_path / "r.xlsx"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnreadableFile, match="Word document"):
        read_workbook(path, LIMITS)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    # rule I1: entity expansion in any XML part
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
            for i in range(1, 10)
        )
        + b']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<si><t>&lol9;</t></si></sst>"
    )
    src = small_book(tmp_path / "a.xlsx")
    path = rewrite_part(src, tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", bomb)
    with pytest.raises(UnreadableFile, match="DOCTYPE"):
        read_workbook(path, LIMITS)


def test_external_entity_is_refused(tmp_path: Path) -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&x;</workbook>'
    )
    src = small_book(tmp_path / "a.xlsx")
    path = rewrite_part(src, tmp_path / "xxe.xlsx", "xl/workbook.xml", xxe)
    with pytest.raises(UnreadableFile, match="DOCTYPE"):
        read_workbook(path, LIMITS)


def test_zip_bomb_by_ratio_is_refused_before_parsing(tmp_path: Path) -> None:
    # rule I1: declared sizes and ratios checked from the central directory
    src = small_book(tmp_path / "a.xlsx")
    zeros = b"<x>" + b" " * (8 << 20) + b"</x>"
    path = rewrite_part(src, tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", zeros)
    with pytest.raises(UnreadableFile, match="zip bomb"):
        read_workbook(path, LIMITS)


def test_total_uncompressed_size_is_limited(tmp_path: Path) -> None:
    src = small_book(tmp_path / "a.xlsx")
    filler = random.Random(1).randbytes(2 << 20)  # 2 MiB that does not compress
    path = rewrite_part(src, tmp_path / "big.xlsx", "docProps/app.xml", filler)
    with pytest.raises(UnreadableFile, match="max_uncompressed_mb"):
        read_workbook(path, Limits(max_uncompressed_mb=1))


def test_file_size_limit(tmp_path: Path) -> None:
    path = small_book(tmp_path / "a.xlsx")
    with pytest.raises(UnreadableFile, match="max_file_mb"):
        read_workbook(path, Limits(max_file_mb=0.001))


def test_lying_declared_size_is_caught(tmp_path: Path) -> None:
    # a part that inflates to more than its central-directory size claims
    buf = io.BytesIO()
    big = b"<worksheet>" + b"a" * 500_000 + b"</worksheet>"
    src = small_book(tmp_path / "a.xlsx")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = big if info.filename == "xl/worksheets/sheet1.xml" else zin.read(info)
            zout.writestr(info.filename, data)
    data = bytearray(buf.getvalue())
    name = b"xl/worksheets/sheet1.xml"
    real = len(big).to_bytes(4, "little")
    fake = (1000).to_bytes(4, "little")
    # patch the uncompressed size in the local header and the central directory entry
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = 0
        while True:
            i = data.find(sig, i)
            if i < 0:
                break
            name_at = i + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                assert data[i + off : i + off + 4] == real
                data[i + off : i + off + 4] = fake
            i += 4
    path = tmp_path / "liar.xlsx"
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableFile, match=r"damaged|tampered"):
        read_workbook(path, LIMITS)


def test_one_cell_far_away_cannot_exhaust_memory(tmp_path: Path) -> None:
    wb = OpenpyxlWorkbook()
    ws = wb.active
    assert ws is not None
    ws["A1"] = "Audit ID"
    ws["XFD1048576"] = "far away"
    path = tmp_path / "far.xlsx"
    wb.save(path)
    with pytest.raises(UnreadableFile, match="too large"):
        read_workbook(path, LIMITS)


@pytest.mark.parametrize(
    ("r", "c", "ref"), [(0, 0, "A1"), (6, 1, "B7"), (0, 25, "Z1"), (9, 26, "AA10")]
)
def test_cell_refs(r: int, c: int, ref: str) -> None:
    assert cell_ref(r, c) == ref
    assert col_letter(16383) == "XFD"


# ------------------------------------------- the case list's extent, bounded (issue 8, rule I1)

_REFS = st.lists(
    st.tuples(st.integers(0, 16383), st.integers(1, 1_048_576)), min_size=1, max_size=6
)


@settings(max_examples=300, deadline=None)
@given(refs=_REFS, max_cells=st.sampled_from([2_000_000, 20_000_000, 50, 3_000]))
def test_bounded_extent_refuses_exactly_what_the_full_count_refuses(
    refs: list[tuple[int, int]], max_cells: int
) -> None:
    """The case list's cheap extent check (longest references first) agrees with counting
    every reference: a stray cell far away is refused before the grid is allocated."""
    from qaf.xlsxsafe import _check_extent_bounded, check_extent

    xml = (
        b"<sheetData>"
        + b"".join(
            b'<row r="%d"><c r="%s"><v>1</v></c></row>' % (r, cell_ref(r - 1, c).encode())
            for c, r in refs
        )
        + b"</sheetData>"
    )
    outcomes = []
    for check in (check_extent, _check_extent_bounded):
        try:
            check(xml, "xl/worksheets/sheet1.xml", Path("cases.xlsx"), max_cells)
            outcomes.append("read")
        except UnreadableFile as e:
            outcomes.append(str(e))
    assert outcomes[0] == outcomes[1]


def test_a_large_case_list_is_checked_without_counting_every_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """50,000 rows of columns A..O: the bound (Z x 99,999) settles it in two scans."""
    from qaf import xlsxsafe

    row = b"".join(b'<c r="%s%%d"><v>1</v></c>' % letter.encode() for letter in "ABCDEFGHIJKLMNO")
    xml = b"".join(
        b'<row r="%d">' % r + row.replace(b"%d", str(r).encode()) + b"</row>"
        for r in range(1, 50_001)
    )
    counted: list[int] = []
    monkeypatch.setattr(xlsxsafe, "check_extent", lambda *a: counted.append(1))
    xlsxsafe._check_extent_bounded(xml, "s.xml", Path("cases.xlsx"), 20_000_000)
    assert counted == []
    stray = xml + b'<row r="900000"><c r="AB900000"><v>1</v></c></row>'
    xlsxsafe._check_extent_bounded(stray, "s.xml", Path("cases.xlsx"), 20_000_000)
    assert counted == [1]  # the bound is too loose: every reference is counted
