"""``qaf export``: the register as the QA tracker workbook teams keep in Excel today.

Sheets: Allocations; Returns (overall grade, then one column per domain grade in
the order of the tool's form, D1, D2 ... D10, then one per domain rationale);
Actions; Escalations (alerts raised on returns and notifications sent);
Moderation. Every sheet has a frozen, bold header row and a filter; dates are
real Excel dates; text is always written as text, never as a formula
(DESIGN §6: a value starting with ``=``, ``+``, ``-``, ``@``, tab or CR is
stored as a string cell with Excel's "quote prefix", so Excel shows it as typed
and never evaluates it).

Rows are streamed from SQLite into the zip as sheet XML (see ``_write_workbook``),
so memory stays flat on a ten-year register. ``safe_text`` here is a local helper: switch to
``qaf.workbooks.safe_text`` when that module lands on main.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaf.tablebook import text_element

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
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    counts: dict[str, int] = {}
    with reg.snapshot():  # the counts and the rows come from one state of the register
        sheets = []
        for sheet in SHEETS:
            if sheet == "Returns":
                columns, rows = _returns_rows(reg, tools or {})
            else:
                columns, cursor = reg.export_rows(sheet)
                rows = (tuple(r) for r in cursor)
            counts[sheet] = reg.export_count(sheet)
            sheets.append(_Sheet(sheet, columns, rows, counts[sheet]))
        try:
            _write_workbook(sheets, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    tmp.replace(dest)  # never leave a half-written workbook under the real name
    return counts


def _returns_rows(
    reg: Register, tools: Mapping[str, Any]
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
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
    # ~1M grade rows on ten years: read by position (return_id, domain_id, grade,
    # rationale: export_domain_grades' columns), not by name
    grades = groupby(reg.export_domain_grades(), key=itemgetter(0))
    pending = next(grades, None)
    width = len(domains)

    def merged() -> Iterator[tuple[Any, ...]]:
        nonlocal pending
        for r in rows:
            extra: list[Any] = [None] * (2 * width)
            rid = r[0]
            while pending is not None and pending[0] < rid:
                pending = next(grades, None)
            if pending is not None and pending[0] == rid:
                tool = r[tool_col]
                for _, domain_id, grade, rationale in pending[1]:
                    pos = index.get((tool, domain_id))
                    if pos is not None:
                        extra[pos] = grade
                        extra[width + pos] = rationale or None
                pending = next(grades, None)
            yield (*r, *extra)

    return headers, merged()


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


@dataclass
class _Sheet:
    name: str
    columns: list[str]
    rows: Iterable[tuple[Any, ...]]
    count: int


# Speed: a ten-year register is ~7 million cells. xlsxwriter lays out the workbook
# (styles, header row, column widths, frozen pane, filter) with a header-only sheet
# per tab; the rows are then streamed as sheet XML straight into the zip, about ten
# times faster than xlsxwriter's per-cell calls. Cells are what xlsxwriter writes in
# constant-memory mode: numbers, dates as serials with the date style, text as inline
# strings (escaped, control characters as _xHHHH_), quote-prefix style for text that
# starts like a formula.
_ROWS_PER_CHUNK = 2_000
_EXCEL_EPOCH = date(1899, 12, 30)


def _write_workbook(sheets: list[_Sheet], path: Path) -> None:
    import zipfile

    layout, styles = _layout(sheets)
    with (
        zipfile.ZipFile(io.BytesIO(layout)) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as out,
    ):
        parts = {f"xl/worksheets/sheet{i}.xml": s for i, s in enumerate(sheets, start=1)}
        for info in src.infolist():
            data = src.read(info.filename)
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            sheet = parts.get(info.filename)
            if sheet is None:
                out.writestr(entry, data)
                continue
            head, tail = _split_sheet_xml(data.decode("utf-8"), sheet)
            with out.open(entry, "w", force_zip64=True) as f:
                f.write(head.encode("utf-8"))
                _write_in_background(f, _rows_xml(sheet, styles))
                f.write(tail.encode("utf-8"))


def _write_in_background(f: Any, chunks: Iterable[bytes]) -> None:
    """Deflate and write ``chunks`` in order on a second thread (zlib works without the
    GIL) while this one makes the next; a few chunks ahead at most."""
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qaf-export") as pool:
        pending: deque[Future[int]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(f.write, chunk))
            if len(pending) > 4:
                pending.popleft().result()
        while pending:
            pending.popleft().result()


def _layout(sheets: list[_Sheet]) -> tuple[bytes, tuple[int, int]]:
    """The workbook with header rows only, and the date and quoted style ids."""
    import tempfile

    import xlsxwriter

    with tempfile.TemporaryDirectory(prefix="qaf-export-") as folder:
        path = Path(folder) / "layout.xlsx"
        wb = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,  # inline strings, as the streamed rows
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        date_fmt, quoted = _lay_out_sheets(wb, sheets)
        wb.close()  # style ids are given out as the sheets are written
        return path.read_bytes(), (date_fmt.xf_index, quoted.xf_index)


def _lay_out_sheets(wb: Any, sheets: list[_Sheet]) -> tuple[Any, Any]:
    bold = wb.add_format({"bold": True})
    date_fmt = wb.add_format({"num_format": DATE_FORMAT})
    quoted = wb.add_format({"quote_prefix": True})
    for sheet in sheets:
        ws = wb.add_worksheet(sheet.name)
        ws.freeze_panes(1, 0)
        for i, col in enumerate(sheet.columns):
            ws.set_column(i, i, _width(col))
            ws.write_string(0, i, col, bold)
        # a placeholder row gives the two styles their ids; the rows replace it
        ws.write_number(1, 0, 1, date_fmt)
        ws.write_number(1, 1, 1, quoted)
        ws.autofilter(0, 0, max(sheet.count, 1), max(0, len(sheet.columns) - 1))
    return date_fmt, quoted


def _split_sheet_xml(xml: str, sheet: _Sheet) -> tuple[str, str]:
    """The sheet XML up to the end of the header row (with the true dimension), and from
    the end of the sheet data on; the placeholder row between them is dropped."""
    from xlsxwriter.utility import xl_col_to_name

    last = f"{xl_col_to_name(max(0, len(sheet.columns) - 1))}{sheet.count + 1}"
    ref = "A1" if last == "A1" else f"A1:{last}"
    xml = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="{ref}"/>', xml, count=1)
    header_end = xml.index("</row>") + len("</row>")
    return xml[:header_end], xml[xml.index("</sheetData>") :]


def _rows_xml(sheet: _Sheet, styles: tuple[int, int]) -> Iterator[bytes]:
    from xlsxwriter.utility import xl_col_to_name

    date_style, quoted_style = styles
    letters = [xl_col_to_name(c) for c in range(len(sheet.columns))]
    is_date = [c in DATE_COLUMNS for c in sheet.columns]
    out: list[str] = []
    n = 0
    # The inner loop of a 7-million-cell export: text cells (most of them) take the
    # inline path; anything unusual goes through text_element / safe_text.
    for n, row in enumerate(sheet.rows, start=2):
        cells = [f'<row r="{n}">']
        add = cells.append
        for c, value in enumerate(row):
            if value is None:
                continue
            if type(value) is str:
                if is_date[c] and len(value) >= 10:
                    serial = _date_serial(value)
                    if serial is not None:
                        add(f'<c r="{letters[c]}{n}" s="{date_style}"><v>{serial}</v></c>')
                        continue
                if (
                    value.isprintable()
                    and "_x" not in value
                    and "&" not in value
                    and "<" not in value
                    and ">" not in value
                    and len(value) <= MAX_CELL
                    and not value.startswith(FORMULA_START)
                    and not value[:1].isspace()
                    and not value[-1:].isspace()
                ):
                    add(f'<c r="{letters[c]}{n}" t="inlineStr"><is><t>{value}</t></is></c>')
                    continue
                text, prefix = safe_text(value)
                style = f' s="{quoted_style}"' if prefix else ""
                ref = f"{letters[c]}{n}"
                add(f'<c r="{ref}"{style} t="inlineStr"><is>{text_element(text)}</is></c>')
                continue
            if isinstance(value, int | float):
                add(f'<c r="{letters[c]}{n}"><v>{value:.16G}</v></c>')
                continue
            text = str(value)
            if is_date[c] and len(text) >= 10:
                serial = _date_serial(text)
                if serial is not None:
                    add(f'<c r="{letters[c]}{n}" s="{date_style}"><v>{serial}</v></c>')
                    continue
            text, prefix = safe_text(text)
            style = f' s="{quoted_style}"' if prefix else ""
            ref = f"{letters[c]}{n}"
            add(f'<c r="{ref}"{style} t="inlineStr"><is>{text_element(text)}</is></c>')
        add("</row>")
        out.append("".join(cells))
        if len(out) >= _ROWS_PER_CHUNK:
            yield "".join(out).encode("utf-8")
            out = []
    if out:
        yield "".join(out).encode("utf-8")
    written = n - 1 if n else 0
    if written != sheet.count:  # the snapshot makes this impossible; never a wrong filter
        raise RuntimeError(f"export: {sheet.name} gave {written} rows, counted {sheet.count}")


def _date_serial(text: str) -> int | None:
    try:
        d = date.fromisoformat(text[:10])
    except ValueError:
        return None
    if d < date(1900, 3, 1):  # Excel's 1900 leap-year bug: xlsxwriter's own arithmetic
        from xlsxwriter.utility import _datetime_to_excel_datetime

        return int(_datetime_to_excel_datetime(datetime(d.year, d.month, d.day), False, True))
    return (d - _EXCEL_EPOCH).days


def _width(header: str) -> float:
    if header in DATE_COLUMNS:
        return 12
    return float(min(60, max(10, len(header) + 2)))
