"""A whole authority's case list cut in two and parsed by two threads (issue 8): the same
cases and the same problems (rule S3, F7) as reading it whole, whatever lies around the
cut."""

from __future__ import annotations

import dataclasses
import sys
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import xlsxwriter

from qaf import sheetsplit, sources
from qaf.config import SourceSpec
from qaf.sources import CaseList, read_cases
from qaf.xlsxsafe import UnreadableFile

MAPPING = {
    "case_id": "Person ID",
    "team": "Team",
    "worker": "Worker",
    "service": "Service",
    "category": "Category",
    "status": "Status",
    "dob": "Date of Birth",
    "legal_status": "Legal Status",
}
HEADERS = [*MAPPING.values(), "Not mapped"]


def _row(i: int) -> list[object]:
    """Row i of a messy list: footers, blanks, duplicates, bad dates, numbers as IDs."""
    row: list[object] = [
        f"P{i:05d}",
        f"Team {i % 7}",
        f"Worker {i % 13}",
        "Service",
        "CP" if i % 3 else "CiN",
        "Closed" if i % 11 == 0 else "Open",
        datetime(2015, 1 + i % 12, 1 + i % 28),
        " c1 " if i % 5 == 0 else "",
        "x" if i % 17 == 0 else "",
    ]
    if i % 97 == 0:
        row[0] = f"P{i - 50:05d}"  # a duplicate, the first one often in the other part
    if i % 89 == 0:
        row[1] = ""  # a case with a blank team (an error)
    if i % 83 == 0:
        row[6] = "31/02/2015" if i % 2 else "not a date"  # unreadable dates (warnings)
    if i % 79 == 0:
        row[6] = "03/04/2015"  # a readable text date
    if i % 101 == 0:
        row = ["Total: 62 rows", *[""] * 8]
    if i % 103 == 0:
        row = ["", "", "", "", "", "", None, "", "only an unmapped cell"]
    if i % 107 == 0:
        row[0] = 1000 + i  # a number as the case ID
    return row


def _case_list(path: Path, rows: int, *, first_col: int = 0, gap: range = range(0)) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Open cases")
    dates = wb.add_format({"num_format": "dd/mm/yyyy"})
    ws.write_row(0, first_col, HEADERS)
    r = 1
    for i in range(1, rows + 1):
        if r in gap:
            r = gap.stop  # empty rows, perhaps where the sheet is cut
        for c, v in enumerate(_row(i)):
            if isinstance(v, datetime):
                ws.write_datetime(r, first_col + c, v, dates)
            elif v not in ("", None):
                ws.write(r, first_col + c, v)
        r += 1
    wb.close()
    return path


def _read(path: Path, *, split: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[CaseList, bool]:
    started = []
    real = sheetsplit.in_thread

    def spy(function):  # type: ignore[no-untyped-def]
        started.append(True)
        return real(function)

    with monkeypatch.context() as m:
        m.setattr(sheetsplit, "two_cores", lambda: split)
        m.setattr(sheetsplit, "in_thread", spy)
        m.setattr(sheetsplit, "SPLIT_FROM", 1)
        return read_cases(SourceSpec(path, MAPPING)), any(started)


@pytest.mark.parametrize(
    ("rows", "first_col", "gap"),
    [
        (3000, 0, range(0)),
        (3000, 1, range(0)),  # the list starts in column B
        (3000, 0, range(1500, 1700)),  # empty rows around the cut
        (40, 0, range(0)),
    ],
)
def test_two_threads_read_the_same_cases_and_problems_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int, first_col: int, gap: range
) -> None:
    path = _case_list(tmp_path / "cases.xlsx", rows, first_col=first_col, gap=gap)
    whole, cut_whole = _read(path, split=False, monkeypatch=monkeypatch)
    split, cut_split = _read(path, split=True, monkeypatch=monkeypatch)
    assert not cut_whole and cut_split
    assert split == whole
    if rows > 1000:  # duplicates, bad dates and footers were met
        kinds = {p.message.split(" ")[0] for p in whole.problems}
        assert {"case", "dob", '"Total:'} <= kinds


def test_the_other_thread_failing_means_reading_the_list_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _case_list(tmp_path / "cases.xlsx", 1000)
    whole, _ = _read(path, split=False, monkeypatch=monkeypatch)

    def broken(*_args: object) -> None:
        raise RuntimeError("the other thread fails")

    monkeypatch.setattr(sources, "_parse_second", broken)
    again, started = _read(path, split=True, monkeypatch=monkeypatch)
    assert started and again == whole


def test_a_missing_column_is_reported_with_the_list_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _case_list(tmp_path / "cases.xlsx", 1000)
    spec = SourceSpec(path, {**MAPPING, "team": "Allocated Team"})
    with monkeypatch.context() as m:
        m.setattr(sheetsplit, "two_cores", lambda: True)
        m.setattr(sheetsplit, "SPLIT_FROM", 1)
        with pytest.raises(sources.QafError, match='no column "Allocated Team"'):
            read_cases(dataclasses.replace(spec))


SHEET = (
    b'<worksheet><dimension ref="A1:B4"/><sheetData>'
    b'<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2"><v>2</v></c></row>'
    b'<row r="3"><c r="A3"><v>3</v></c></row><row r="4"><c r="A4"><v>4</v></c></row>'
    b"</sheetData></worksheet>"
)


@pytest.mark.parametrize(
    ("xml", "cut"),
    [
        (SHEET, True),
        (SHEET.replace(b'<row r="3">', b"<row>"), True),  # cut at the next numbered row
        (SHEET.replace(b'<row r="3">', b"<row>").replace(b'<row r="4">', b"<row>"), False),
        (SHEET.replace(b"<sheetData>", b"<x:sheetData>"), False),
    ],
)
def test_the_cut_falls_between_two_numbered_rows(xml: bytes, cut: bool) -> None:
    where = sheetsplit._cut(xml)
    assert (where is not None) is cut
    if where is not None:  # every row in one part or the other, each part a whole sheet
        halves = sheetsplit.Cut(0, "s", {"s": xml}, *where)
        first, second = halves.first(), halves.second()
        assert first.count(b"<row") + second.count(b"<row") == 4
        assert second.split(b"<sheetData>")[1].startswith(b'<row r="')
        assert first.endswith(b"</sheetData></worksheet>")
        assert second.startswith(b"<worksheet><dimension")


def test_the_parts_workbook_is_a_zip_any_reader_opens() -> None:
    import io

    parts = {"xl/workbook.xml": b"<workbook/>", "xl/Übersicht.xml": b"\x00" * 70_000}
    with zipfile.ZipFile(io.BytesIO(sheetsplit.stored(parts))) as z:
        assert z.testzip() is None  # every CRC right
        assert {i.filename: z.read(i) for i in z.infolist()} == parts


def _with_sheet_xml(path: Path, change: Callable[[bytes], bytes]) -> Path:
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    name = "xl/worksheets/sheet1.xml"
    parts[name] = change(parts[name])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for part, data in parts.items():
            z.writestr(part, data)
    return path


def _comment_in_the_middle(xml: bytes) -> bytes:
    at = xml.index(b"<row ", len(xml) // 2)
    return xml[:at] + b"<!-- exported by the case system -->" + xml[at:]


def _merged_team(xml: bytes) -> bytes:
    merge = b'<mergeCells count="1"><mergeCell ref="B20:B23"/></mergeCells>'
    return xml.replace(b"</sheetData>", b"</sheetData>" + merge)


@pytest.mark.parametrize("change", [_comment_in_the_middle, _merged_team])
def test_a_sheet_that_is_not_plain_is_read_whole_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[bytes], bytes]
) -> None:
    path = _with_sheet_xml(_case_list(tmp_path / "cases.xlsx", 2000), change)
    whole, _ = _read(path, split=False, monkeypatch=monkeypatch)
    again, started = _read(path, split=True, monkeypatch=monkeypatch)
    assert again == whole
    # a comment in the first part stops the cut before the other thread starts
    assert started or change is _comment_in_the_middle


def test_a_stray_cell_in_either_part_is_refused_as_when_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each thread checks its part's extent before parsing it; the message is the one
    checking the whole sheet gives (rule I1)."""
    stray = b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    for where in ("first", "second"):
        path = _case_list(tmp_path / f"{where}.xlsx", 2000)
        if where == "first":
            path = _with_sheet_xml(
                path, lambda x: x.replace(b'<row r="40" ', stray + b'<row r="40" ')
            )
        else:
            path = _with_sheet_xml(
                path, lambda x: x.replace(b"</sheetData>", stray + b"</sheetData>")
            )
        for split in (False, True):
            with pytest.raises(UnreadableFile, match="reaching cell XFD1048576: too large"):
                _read(path, split=split, monkeypatch=monkeypatch)


def test_a_stray_column_in_one_part_and_the_rows_of_the_other_are_refused_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule I1, trial 3 F10: each part fits the cell limit on its own, the whole sheet does
    not (a cell in column ZZ near the top, 2,000 rows below it): refused as when read whole."""

    def stray_in_row_3(xml: bytes) -> bytes:  # the row's last cell: column order kept
        end = xml.index(b"</row>", xml.index(b'<row r="3"'))
        return xml[:end] + b'<c r="ZZ3"><v>1</v></c>' + xml[end:]

    path = _with_sheet_xml(_case_list(tmp_path / "cases.xlsx", 2000), stray_in_row_3)
    monkeypatch.setattr(sources, "SOURCE_MAX_CELLS", 1_000_000)  # 2,001 x 702 is over it
    for split in (False, True):
        with pytest.raises(UnreadableFile, match="reaching cell ZZ2001: too large"):
            _read(path, split=split, monkeypatch=monkeypatch)


def test_a_stray_cell_in_the_second_part_is_raised_when_the_cases_are_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_reading_cases returns while the other thread parses; its error comes with
    the result, as reading the list whole gives it (rule I1)."""
    stray = b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    path = _with_sheet_xml(
        _case_list(tmp_path / "cases.xlsx", 2000),
        lambda x: x.replace(b"</sheetData>", stray + b"</sheetData>"),
    )
    monkeypatch.setattr(sheetsplit, "two_cores", lambda: True)
    monkeypatch.setattr(sheetsplit, "SPLIT_FROM", 1)
    pending = sources.start_reading_cases(SourceSpec(path, MAPPING))
    with pytest.raises(UnreadableFile, match="reaching cell XFD1048576"):
        pending.result()


def test_a_case_list_error_is_reported_before_a_roster_error(
    small_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """allocate reads the roster while the case list's second part is parsed: when both are
    wrong, the case list's error is the one reported, as when they were read in turn."""
    from qaf.allocate_run import run_allocate
    from qaf.config import load_config
    from qaf.problems import QafError

    class Broken:
        def result(self) -> None:
            raise QafError("the case list is broken")

        def cancel(self) -> None:
            raise AssertionError("not cancelled: its error is wanted")

    def roster(*_args: object) -> None:
        raise QafError("the roster is broken")

    monkeypatch.setattr(sources, "start_reading_cases", lambda *_args: Broken())
    monkeypatch.setattr(sources, "read_staff", roster)
    cfg = load_config(small_dir / "qaf.toml")
    with pytest.raises(QafError, match="the case list is broken"):
        run_allocate(cfg, "2026-12", seed=1, dry_run=True)


def test_work_in_another_thread_comes_back_or_raises_its_error() -> None:
    assert sheetsplit.in_thread(lambda: 6 * 7).result() == 42

    def fails() -> None:
        raise ValueError("in the other thread")

    with pytest.raises(ValueError, match="in the other thread"):
        sheetsplit.in_thread(fails).result()


def test_the_parts_go_through_files_with_no_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each part goes to calamine through a file (issue 8: no 30 MB copy in memory), and
    # that file has no name: a copy of the case list (children's names) is never left on
    # disk, not even by a process killed while parsing
    path = _case_list(tmp_path / "cases.xlsx", 3000)
    whole, _ = _read(path, split=False, monkeypatch=monkeypatch)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    made: list[tuple[int | None, list[str]]] = []
    real = sheetsplit.anonymous_file

    def spy() -> int | None:
        fd = real()
        made.append((fd, sorted(p.name for p in temp.iterdir())))
        return fd

    monkeypatch.setattr(sheetsplit, "anonymous_file", spy)
    split, started = _read(path, split=True, monkeypatch=monkeypatch)
    assert started and split == whole
    assert len(made) == 2
    if sys.platform == "linux":
        assert all(fd is not None for fd, _ in made)
    assert all(names == [] for _, names in made)
    assert list(temp.iterdir()) == []


def test_no_file_with_no_name_means_parsing_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _case_list(tmp_path / "cases.xlsx", 3000)
    whole, _ = _read(path, split=False, monkeypatch=monkeypatch)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "no such folder"))
    assert sheetsplit.anonymous_file() is None
    parsed = []
    real = sheetsplit.Cut.parse

    def spy(self: sheetsplit.Cut, sheet: bytes) -> object:
        parsed.append(True)
        return real(self, sheet)

    monkeypatch.setattr(sheetsplit.Cut, "parse", spy)
    again, started = _read(path, split=True, monkeypatch=monkeypatch)
    assert started and again == whole and len(parsed) == 2
