"""``qaf export``: the register as the QA tracker workbook teams keep in Excel today.

Sheets: Allocations; Returns (overall grade plus one column per domain grade);
Actions; Escalations (alerts raised on returns and notifications sent);
Moderation. Every sheet has a frozen, bold header row and a filter; dates are
real Excel dates; text is always written as text, never as a formula
(DESIGN §6: a value starting with ``=``, ``+``, ``-``, ``@``, tab or CR is
stored as a string cell with Excel's "quote prefix", so Excel shows it as typed
and never evaluates it).

openpyxl in write-only mode streams rows, so memory stays flat on a ten-year
register. ``safe_text`` here is a local helper: switch to
``qaf.workbooks.safe_text`` when that module lands on main.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

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
    from openpyxl import Workbook

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    writer = _Writer(wb)
    counts: dict[str, int] = {}
    for sheet in SHEETS:
        if sheet == "Returns":
            counts[sheet] = _returns_sheet(reg, writer, tools or {})
            continue
        columns, rows = reg.export_rows(sheet)
        counts[sheet] = writer.sheet(sheet, columns, (tuple(r) for r in rows))
    tmp = dest.with_name(dest.name + ".tmp")
    wb.save(tmp)
    tmp.replace(dest)  # never leave a half-written workbook under the real name
    return counts


def _returns_sheet(reg: Register, writer: _Writer, tools: Mapping[str, Any]) -> int:
    columns, rows = reg.export_rows("Returns")
    domains = reg.export_domain_ids()
    index = {key: i for i, key in enumerate(domains)}
    several = len({t for t, _ in domains}) > 1
    headers = [*columns, *(_domain_header(tools, t, d, several) for t, d in domains)]
    tool_col = columns.index("Tool")
    grades = groupby(reg.export_domain_grades(), key=lambda r: r["return_id"])
    pending = next(grades, None)

    def merged() -> Iterator[tuple[Any, ...]]:
        nonlocal pending
        for r in rows:
            extra: list[Any] = [None] * len(domains)
            rid = r[0]
            while pending is not None and pending[0] < rid:
                pending = next(grades, None)
            if pending is not None and pending[0] == rid:
                tool = r[tool_col]
                for g in pending[1]:
                    pos = index.get((tool, g["domain_id"]))
                    if pos is not None:
                        extra[pos] = g["grade"]
                pending = next(grades, None)
            yield (*tuple(r), *extra)

    return writer.sheet("Returns", headers, merged())


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
        from openpyxl.styles import Font

        self.wb = wb
        self.bold = Font(bold=True)

    def sheet(self, name: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.utils import get_column_letter

        ws: WriteOnlyWorksheet = self.wb.create_sheet(name)
        ws.freeze_panes = "A2"
        for i, col in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = _width(col)
        header = []
        for col in columns:
            cell = WriteOnlyCell(ws, value=col)
            cell.font = self.bold
            header.append(cell)
        ws.append(header)
        is_date = [c in DATE_COLUMNS for c in columns]
        n = 0
        for row in rows:
            ws.append([self._cell(ws, v, d) for v, d in zip(row, is_date, strict=True)])
            n += 1
        last = get_column_letter(max(1, len(columns)))
        ws.auto_filter.ref = f"A1:{last}{n + 1}"
        return n

    def _cell(self, ws: Any, value: Any, is_date: bool) -> Any:
        if value is None or isinstance(value, int | float):
            return value
        if is_date and isinstance(value, str) and len(value) >= 10:
            try:
                d = date.fromisoformat(value[:10])
            except ValueError:
                pass
            else:
                return _date_cell(ws, d)
        text, prefix = safe_text(str(value))
        if not prefix:
            return text
        return _text_cell(ws, text)


def _date_cell(ws: Any, d: date) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=d)
    cell.number_format = DATE_FORMAT
    return cell


def _text_cell(ws: Any, text: str) -> WriteOnlyCell:
    """A string cell that Excel shows as typed, even when it starts with "=" (quote prefix)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
    cell.quotePrefix = True
    return cell


def _width(header: str) -> float:
    if header in DATE_COLUMNS:
        return 12
    return float(min(60, max(10, len(header) + 2)))
