"""``qaf export``: the register as the QA tracker workbook teams keep in Excel today.

Sheets: Allocations; Returns (overall grade, then one column per domain grade in
the order of the tool's form, D1, D2 ... D10, then one per domain rationale);
Actions; Escalations (alerts raised on returns and notifications sent);
Moderation. Every sheet has a frozen, bold header row and a filter; dates are
real Excel dates; text is always written as text, never as a formula
(DESIGN §6: a value starting with ``=``, ``+``, ``-``, ``@``, tab or CR is
stored as a string cell with Excel's "quote prefix", so Excel shows it as typed
and never evaluates it).

xlsxwriter in constant-memory mode streams rows to disk, so memory stays flat
on a ten-year register (and it is about three times faster than openpyxl's
write-only mode). ``safe_text`` here is a local helper: switch to
``qaf.workbooks.safe_text`` when that module lands on main.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qaf.register import Register

SHEETS = ("Allocations", "Returns", "Actions", "Escalations", "Moderation")
DATE_COLUMNS = frozenset(
    {
        "Due",
        "Extended to",
        "Returned on",
        "Date of audit",
        "Received on",
        "By when",
        "Completed on",
        "Date",
        "Moderated on",
    }
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DATE_FORMAT = "dd/mm/yyyy"
MAX_CELL = 32_767  # Excel's limit on characters in a cell


def safe_text(value: str) -> tuple[str, bool]:
    """Text ready for a cell, and whether it needs the quote prefix (never a formula)."""
    text = value if len(value) <= MAX_CELL else value[: MAX_CELL - 1] + "…"
    return text, text.startswith(FORMULA_START)


def export_register(
    reg: Register, dest: Path | str, *, tools: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Write the tracker workbook to ``dest``; returns the number of rows per sheet."""
    import xlsxwriter

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    wb = xlsxwriter.Workbook(
        str(tmp),
        {
            "constant_memory": True,  # rows are streamed to disk: flat memory
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    writer = _Writer(wb)
    counts: dict[str, int] = {}
    try:
        for sheet in SHEETS:
            if sheet == "Returns":
                counts[sheet] = _returns_sheet(reg, writer, tools or {})
                continue
            columns, rows = reg.export_rows(sheet)
            counts[sheet] = writer.sheet(sheet, columns, (tuple(r) for r in rows))
    finally:
        wb.close()
    tmp.replace(dest)  # never leave a half-written workbook under the real name
    return counts


def _returns_sheet(reg: Register, writer: _Writer, tools: Mapping[str, Any]) -> int:
    columns, rows = reg.export_rows("Returns")
    domains = form_order(reg.export_domain_ids(), tools)
    index = {key: i for i, key in enumerate(domains)}
    several = len({t for t, _ in domains}) > 1
    headers = [
        *columns,
        *(_domain_header(tools, t, d, several) for t, d in domains),
        *(f"{t + ' ' if several else ''}{d} rationale" for t, d in domains),
    ]
    tool_col = columns.index("Tool")
    grades = groupby(reg.export_domain_grades(), key=lambda r: r["return_id"])
    pending = next(grades, None)

    def merged() -> Iterator[tuple[Any, ...]]:
        nonlocal pending
        for r in rows:
            extra: list[Any] = [None] * (2 * len(domains))
            rid = r[0]
            while pending is not None and pending[0] < rid:
                pending = next(grades, None)
            if pending is not None and pending[0] == rid:
                tool = r[tool_col]
                for g in pending[1]:
                    pos = index.get((tool, g["domain_id"]))
                    if pos is not None:
                        extra[pos] = g["grade"]
                        extra[len(domains) + pos] = g["rationale"] or None
                pending = next(grades, None)
            yield (*tuple(r), *extra)

    return writer.sheet("Returns", headers, merged())


def form_order(
    domains: Iterable[tuple[str, str]], tools: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(tool, domain) pairs by tool, then in the order of the tool's form (D1, D2 ... D10);
    domains the tool no longer has come after its own, in natural order."""

    def key(pair: tuple[str, str]) -> tuple[Any, ...]:
        tool_id, domain_id = pair
        tool = tools.get(tool_id)
        ids = [d.id for d in tool.domains] if tool is not None else []
        position = ids.index(domain_id) if domain_id in ids else len(ids)
        natural = tuple(
            (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", domain_id)
        )
        return (tool_id, position, natural)

    return sorted(domains, key=key)


def _domain_header(tools: Mapping[str, Any], tool_id: str, domain_id: str, with_tool: bool) -> str:
    tool = tools.get(tool_id)
    title = ""
    if tool is not None:
        try:
            title = tool.domain(domain_id).title
        except KeyError:
            title = ""
    prefix = f"{tool_id} " if with_tool else ""
    return f"{prefix}{domain_id} {title}".strip()


class _Writer:
    def __init__(self, wb: Any) -> None:
        self.wb = wb
        self.bold = wb.add_format({"bold": True})
        self.date = wb.add_format({"num_format": DATE_FORMAT})
        self.quoted = wb.add_format({"quote_prefix": True})

    def sheet(self, name: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
        ws = self.wb.add_worksheet(name)
        ws.freeze_panes(1, 0)
        for i, col in enumerate(columns):
            ws.set_column(i, i, _width(col))
            ws.write_string(0, i, col, self.bold)
        is_date = [c in DATE_COLUMNS for c in columns]
        n = 0
        write_string, write_number = ws.write_string, ws.write_number
        for n, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, int | float):
                    write_number(n, c, value)
                    continue
                text = str(value)
                if is_date[c] and len(text) >= 10:
                    try:
                        d = date.fromisoformat(text[:10])
                    except ValueError:
                        pass
                    else:
                        ws.write_datetime(n, c, datetime(d.year, d.month, d.day), self.date)
                        continue
                text, prefix = safe_text(text)
                if prefix:
                    write_string(n, c, text, self.quoted)
                else:
                    write_string(n, c, text)
        ws.autofilter(0, 0, max(n, 1), max(0, len(columns) - 1))
        return n


def _width(header: str) -> float:
    if header in DATE_COLUMNS:
        return 12
    return float(min(60, max(10, len(header) + 2)))
