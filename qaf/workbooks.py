"""Writing spreadsheets safely: the allocation list (xlsx + csv) and shared cell helpers.

Safety (DESIGN §6): text that starts with ``=``, ``+``, ``-``, ``@``, tab or
carriage return would be taken as a formula by Excel when a CSV is opened or a
cell is re-entered. :func:`safe_text` makes such text inert for CSV (a leading
apostrophe, the OWASP advice); :func:`write_cell` always writes text as a
*string* cell, with Excel's quote-prefix style when it looks like a formula,
so it stays text even after editing. Use these two for every cell qaf writes.

Determinism (rule S2): workbooks are built in memory with a fixed document
date, and xlsxwriter gives every zip entry the same date (1980-01-01), so the
same inputs give the same bytes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xlsxwriter

from qaf import forked

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

    from qaf.allocate import AllocationResult
    from qaf.records import Allocation

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DOC_DATE = datetime(2000, 1, 1)
_EXCEL_EPOCH = date(1899, 12, 30)
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
RESERVED_SHEETS = ("Allocations", "Unallocated", "Moderation", "History")

ALLOCATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("audit_id", "Audit ID"),
    ("case_id", "Case ID"),
    ("type", "Type"),
    ("team", "Team"),
    ("service", "Service Area"),
    ("category", "Category"),
    ("worker", "Social Worker"),
    ("auditor", "Auditor"),
    ("auditor_role", "Auditor role"),
    ("auditor_email", "Auditor email"),
    ("tool", "Tool"),
    ("due", "Due date"),
    ("reaudit_of", "Re-audit of"),
    ("reaudit_round", "Re-audit round"),
    ("subject", "Subject"),  # a staff audit's audited person (GAPS 7)
)
MODERATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("audit_id", "Audit ID"),
    ("case_id", "Case ID"),
    ("auditor", "Auditor"),
    ("overall", "Overall grade"),
    ("reason", "Why picked"),
    ("moderator", "Moderator"),
    ("moderator_email", "Moderator email"),
    ("due", "Due date"),
)


def looks_like_formula(value: str) -> bool:
    return value.startswith(FORMULA_STARTS)


def safe_text(value: Any) -> str:
    """Text for a CSV cell that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if looks_like_formula(text) else text


def write_cell(
    ws: Worksheet,
    row: int,
    col: int,
    value: Any,
    fmt: Format | None = None,
    *,
    date_fmt: Format | None = None,
    quoted: Format | None = None,
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
        ws.write_string(row, col, text, quoted if (quoted and looks_like_formula(text)) else fmt)


def new_workbook(target: io.BytesIO) -> xlsxwriter.Workbook:
    """An in-memory xlsxwriter workbook that never turns text into formulas or links."""
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


def sheet_names(names: Sequence[str], reserved: Sequence[str] = RESERVED_SHEETS) -> list[str]:
    """Valid, unique Excel sheet names (<= 31 characters, none of []:*?/\\), in order.

    Comparison is case-insensitive, as in Excel; a clash gets " (2)", " (3)"...
    """
    taken = {r.casefold() for r in reserved}
    out = []
    for name in names:
        base = _SHEET_BAD.sub("_", name).strip().strip("'") or "Sheet"
        base = base[:31]
        candidate, n = base, 1
        while candidate.casefold() in taken:
            n += 1
            suffix = f" ({n})"
            candidate = base[: 31 - len(suffix)] + suffix
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


class _Table:
    """Writes header + rows to a sheet with frozen header, autofilter and fitted widths."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.head = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
        self.date = wb.add_format({"num_format": "dd/mm/yyyy"})
        self.quoted = wb.add_format({"quote_prefix": True})

    def write(self, ws: Worksheet, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        widths = [len(h) for h in headers]
        for c, h in enumerate(headers):
            ws.write_string(0, c, h, self.head)
        serials: dict[date, int] = {}
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row):
                if type(v) is date:  # dates as numbers with a date format, converted once
                    n = serials.get(v)
                    if n is None:
                        n = serials[v] = (v - _EXCEL_EPOCH).days
                    ws.write_number(r, c, n, self.date)
                    width = 10
                else:
                    write_cell(ws, r, c, v, date_fmt=self.date, quoted=self.quoted)
                    width = len(str(v)) if v is not None else 0
                if width > widths[c]:
                    widths[c] = width
        start = 0
        for c in range(1, len(widths) + 1):  # one set_column per run of equal widths
            if c == len(widths) or widths[c] != widths[start]:
                ws.set_column(start, c - 1, min(widths[start] + 2, 60))
                start = c
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)


_TOOL_COLUMN = [k for k, _ in ALLOCATION_COLUMNS].index("tool")


def _tool_label(tool_id: str, tool_names: Mapping[str, str]) -> str:
    name = tool_names.get(tool_id)
    return f"{name} ({tool_id})" if name and name != tool_id else tool_id


SERVICE_PICKS = "picked by the service"  # the Case ID column of a service-picked audit (GAPS 13)


def service_picks(theme: str) -> str:
    """What the Case ID column says when the service picks the case, with the theme if any."""
    return f"{SERVICE_PICKS} (theme: {theme})" if theme else SERVICE_PICKS


def allocation_row(a: Allocation, themes: Mapping[str, str] | None = None) -> list[Any]:
    data = a.as_json()
    data["due"] = a.due
    if a.picked_by == "service":
        data["case_id"] = service_picks((themes or {}).get(a.audit_id, ""))
    return [data.get(k) for k, _ in ALLOCATION_COLUMNS]


def moderation_row(m: Any) -> list[Any]:
    data = m.as_json()
    data["due"] = m.due
    return [data.get(k) for k, _ in MODERATION_COLUMNS]


def allocation_workbook_bytes(
    result: AllocationResult, tool_names: Mapping[str, str] | None = None
) -> bytes:
    """The allocation list: "Allocations", one sheet per auditor, "Unallocated", "Moderation".

    The Tool column shows the tool's name with its id, "Case file audit (case-audit)", when
    ``tool_names`` knows it (trial finding F8); the CSV keeps the bare id (its contract).
    """
    buf = io.BytesIO()
    wb = new_workbook(buf)
    wb.set_properties({"title": f"Allocation {result.cycle}", "author": "qaf", "created": DOC_DATE})
    table = _Table(wb)
    headers = [h for _, h in ALLOCATION_COLUMNS]
    rows = [allocation_row(a, result.themes) for a in result.allocations]
    if tool_names:
        for row in rows:
            row[_TOOL_COLUMN] = _tool_label(row[_TOOL_COLUMN], tool_names)
    table.write(wb.add_worksheet("Allocations"), headers, rows)
    by_auditor: dict[str, list[list[Any]]] = {}
    for a, row in zip(result.allocations, rows, strict=True):
        by_auditor.setdefault(a.auditor, []).append(row)
    auditors = sorted(by_auditor)
    for name, sheet in zip(auditors, sheet_names(auditors), strict=True):
        table.write(wb.add_worksheet(sheet), headers, by_auditor[name])
    if result.unallocated:
        table.write(
            wb.add_worksheet("Unallocated"),
            ["Case ID", "Type", "Reason"],
            [[u.case_id, u.type, u.reason] for u in result.unallocated],
        )
    table.write(
        wb.add_worksheet("Moderation"),
        [h for _, h in MODERATION_COLUMNS],
        [moderation_row(m) for m in result.moderation],
    )
    wb.close()
    return buf.getvalue()


def allocation_csv_text(
    allocations: Sequence[Allocation], themes: Mapping[str, str] | None = None
) -> str:
    """The allocation rows as CSV (same columns as the workbook), formula-safe. ``themes``
    (audit ID -> theme) completes the Case ID of audits the service picks (GAPS 13)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([h for _, h in ALLOCATION_COLUMNS])
    for a in allocations:
        row = allocation_row(a, themes)
        w.writerow(
            [
                v.isoformat() if isinstance(v, date) else safe_text("" if v is None else v)
                for v in row
            ]
        )
    return out.getvalue()


def write_allocation_files(
    result: AllocationResult,
    tools: Mapping[str, Any],
    org_name: str,
    out_dir: Path,
    *,
    clean: bool = True,
    grade_display: str = "words",
    team_managers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``allocation-YYYY-MM.xlsx``, ``.csv`` and ``audits/<audit_id>.xlsx``.

    ``grade_display`` is ``[grades] display``: how the audit workbooks offer grades.
    ``team_managers`` (audit ID -> name) fills each audit workbook's "Team Manager" field.

    With ``clean``, audit workbooks of this cycle left from an earlier run
    (``--replace``) that are not part of this allocation are removed.
    Returns the paths written.

    Files are written by a background thread while the next ones are made
    (writing ~300 small files is mostly waiting on the file system), and the allocation
    workbook is made by a forked process when a core is idle (qaf.forked); any write
    error is raised here once all writes have finished.
    """
    from concurrent.futures import ThreadPoolExecutor

    from qaf.auditbook import audit_workbook_files

    out_dir.mkdir(parents=True, exist_ok=True)
    xlsx = out_dir / f"allocation-{result.cycle}.xlsx"
    csv_path = out_dir / f"allocation-{result.cycle}.csv"
    audits_dir = out_dir / "audits"
    audits_dir.mkdir(parents=True, exist_ok=True)
    audits: list[Path] = []
    names = {tool_id: getattr(t, "name", "") for tool_id, t in tools.items()}
    # The allocation workbook (a sheet per auditor: xlsxwriter, holding the GIL) is made by
    # a forked process when a core is idle, while the audit workbooks are made here. It
    # sends the bytes back rather than writing the file: a process outliving this one
    # (killed) must not write over the next run's files.
    other = forked.start(lambda _receive: allocation_workbook_bytes(result, names))
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qaf-write") as pool:
            writes = []
            books = audit_workbook_files(
                result.allocations,
                tools,
                org_name,
                audits_dir,
                grade_display,
                team_managers=team_managers,
                themes=result.themes,
            )
            for path, data in books:
                writes.append(pool.submit(path.write_bytes, data))
                audits.append(path)
            csv_bytes = allocation_csv_text(result.allocations, result.themes).encode("utf-8-sig")
            writes.append(pool.submit(csv_path.write_bytes, csv_bytes))
            made = forked.FAILED if other is None else other.result()
            if made is forked.FAILED:  # made here, then: any error raised as without the other
                made = allocation_workbook_bytes(result, names)
            writes.append(pool.submit(xlsx.write_bytes, made))
            for w in writes:
                w.result()
    finally:
        if other is not None:
            other.cancel()  # still running only if something here raised
    if clean:
        keep = {p.name for p in audits}
        for old in audits_dir.glob(f"A-{result.cycle}-*.xlsx"):
            if old.name not in keep:
                old.unlink()
    return {"workbook": xlsx, "csv": csv_path, "audits_dir": audits_dir, "audits": audits}
