"""Case list and staff roster readers (CSV or XLSX, with the config's column mapping).

Real exports use their own header names (``case_id = "Person ID"``); the
mapping in qaf.toml points qaf at them. Headers are matched ignoring case,
spacing and trailing colons. A missing mapped column is an error naming the
column and the file; duplicate case IDs and unusable rows are reported as
problems with their row number, and the rest of the list is still read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from qaf import xlsxsafe
from qaf.calendar import parse_date
from qaf.config import Limits, SourceSpec
from qaf.grades import normalise
from qaf.problems import Problem, QafError
from qaf.records import Case, StaffMember, new_case

if TYPE_CHECKING:
    from qaf import sheetsplit

HEADER_SCAN_ROWS = 10  # the header row is looked for in a sheet's first rows (title rows above)
SECTION_OF = {"case list": "cases", "staff roster": "staff"}  # qaf.toml section of each source

DATE_COLUMNS = frozenset({"dob", "cp_plan_start", "referral_date", "last_visit"})  # case list

CASE_FIELDS = ("case_id", "team", "worker", "service", "category", "status", "name")

# A row of a case list that is a report's footer or note, not a case: its "case ID" reads
# like "Total: 62 rows", "Count of records", "Report run 30/11/2026", "Page 2 of 3".
NOTE_ROW = re.compile(
    r"\s*(grand\s+)?(sub\s*)?totals?\b|\s*(count|number)\s+of\b|\s*(rows|records)\s*:"
    r"|\s*page\s+\d|\s*end\s+of\s+(the\s+)?report|\s*report\s+(run|generated|produced|date)"
    r"|\s*(generated|printed|produced|extracted|run)\s+(on|by|at)\b|\s*(source|notes?)\s*:",
    re.IGNORECASE,
)

# The text of an Excel error cell (a broken lookup: #N/A), as a CSV export holds it and as
# the XLSX reader puts it back (F8). In a required column it is no team, worker ...: rule S3.
EXCEL_ERRORS = frozenset(
    (
        *("#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#SPILL!"),
        *("#CALC!", "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"),
    )
)

# A case list is a whole authority's caseload (50,000 rows x a few dozen columns), far more
# than a returned workbook; the extent check only has to stop a stray cell at XFD1048576.
SOURCE_MAX_CELLS = 20_000_000

YES = frozenset({"yes", "y", "true", "1", "available", ""})
NO = frozenset({"no", "n", "false", "0", "unavailable", "on leave", "absent"})


@dataclass(frozen=True)
class Table:
    """A sheet or CSV as header names and rows of raw cell values."""

    path: Path
    sheet: str | None
    headers: tuple[str, ...]
    rows: Sequence[Sequence[Any]]
    first_row: int  # spreadsheet row number of rows[0] (1-based, header is first_row - 1)
    # the sheet after ``rows``, being parsed by another thread (read_table(split=True))
    rest: sheetsplit.Background[Any] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CaseList:
    cases: tuple[Case, ...]
    problems: tuple[Problem, ...] = ()

    def open_cases(self, closed: tuple[str, ...]) -> tuple[Case, ...]:
        shut = {normalise(s) for s in closed}
        return tuple(c for c in self.cases if normalise(c.status or "") not in shut)


@dataclass(frozen=True)
class Roster:
    staff: tuple[StaffMember, ...]
    problems: tuple[Problem, ...] = ()
    _by_name: dict[str, StaffMember] = field(default_factory=dict, repr=False, compare=False)
    _by_role: dict[str, list[StaffMember]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Indexes built once: recipient resolution asks these for every return and item.
        for s in self.staff:
            self._by_name.setdefault(normalise(s.name), s)
            self._by_role.setdefault(normalise(s.role), []).append(s)

    def by_name(self, name: str | None) -> StaffMember | None:
        return self._by_name.get(normalise(name)) if name else None

    def with_role(self, role: str) -> list[StaffMember]:
        return list(self._by_role.get(normalise(role), ()))

    def has_role(self, role: str) -> bool:
        return normalise(role) in self._by_role


# ----------------------------------------------------------------- tables


def read_table(
    path: Path,
    sheet: str | None = None,
    expected: Sequence[str] = (),
    limits: Limits | None = None,
    *,
    split: bool = False,
) -> Table:
    """Read a CSV or the first (or named) sheet of an XLSX into a Table.

    The header row is the row among the first ``HEADER_SCAN_ROWS`` holding most of the
    ``expected`` column names (title rows above the headers are common in exports);
    without them, or when none is found, the first non-empty row.

    What the file is comes from its first bytes, not its name, and an XLSX passes the
    same safety checks as a returned workbook (qaf.xlsxsafe: zip bombs, entity
    expansion, renamed PDFs, old .xls, password-protected files): anything else
    stops with ``UnreadableFile`` (rule I1), one plain line naming the file. The case
    list and roster are what the configuration points at, so, like a missing file, an
    unusable one is a configuration-level stop: exit code 2 (cron: "fix the setup").

    With ``split``, a large sheet may be cut in two (``qaf.sheetsplit``): ``rows`` are
    then the first part's, and ``rest`` the thread parsing the second (see
    :func:`start_reading_cases`).
    """
    try:
        return _read_table(path, sheet, expected, limits, split)
    except xlsxsafe.UnreadableFile as e:
        e.exit_code = 2
        raise


def _read_table(
    path: Path, sheet: str | None, expected: Sequence[str], limits: Limits | None, split: bool
) -> Table:
    if not path.exists():
        raise QafError(f"{path} does not exist", file=str(path))
    if path.stat().st_size == 0:
        raise xlsxsafe.UnreadableFile(path, "is empty (0 bytes): export it again")
    limits = limits or Limits()
    data = xlsxsafe.read_bytes(path, limits)
    binary = (*xlsxsafe.ZIP_MAGICS, xlsxsafe.OLE_MAGIC, b"%PDF")
    grid: Sequence[Sequence[Any]]
    rest = None
    if path.suffix.lower() in (".csv", ".txt") and not data.startswith(binary):
        grid, sheet_name = _csv_grid(path, data), None
    else:  # .xlsx, or whatever the name says (a renamed .xls, PDF ...): xlsxsafe names it
        grid, sheet_name, rest = _xlsx_grid(path, sheet, limits, data, split)
    try:
        header_index = _header_row(grid, expected)
    except BaseException:
        if rest is not None:
            rest.cancel()
        raise
    if rest is not None and (header_index is None or header_index + HEADER_SCAN_ROWS > len(grid)):
        rest.cancel()  # the header might have been looked for in the other part: read it whole
        grid, sheet_name, rest = _xlsx_grid(path, sheet, limits, data, False)
        header_index = _header_row(grid, expected)
    if header_index is None:
        raise QafError(f"{path.name} is empty", file=str(path), exit_code=1)
    headers = tuple(_text(v) for v in grid[header_index])
    return Table(path, sheet_name, headers, grid[header_index + 1 :], header_index + 2, rest)


def _header_row(grid: Sequence[Sequence[Any]], expected: Sequence[str]) -> int | None:
    """The index of the header row: most expected names among the first rows, else the
    first non-empty row (None when the sheet is empty)."""
    first = next((i for i, row in enumerate(grid) if any(_filled(v) for v in row)), None)
    wanted = {normalise(h) for h in expected}
    if first is None or not wanted:
        return first
    best, best_count = first, 0
    for i in range(first, min(len(grid), first + HEADER_SCAN_ROWS)):
        count = len(wanted & {normalise(_text(v)) for v in grid[i] if _filled(v)})
        if count > best_count:
            best, best_count = i, count
    return best


def _sheet_names(path: Path) -> tuple[str, ...]:
    from python_calamine import CalamineWorkbook

    return tuple(CalamineWorkbook.from_path(str(path)).sheet_names)


def _sheet_with(path: Path, expected: Sequence[str], skip: str | None) -> str | None:
    """The first other sheet of the workbook whose first rows hold the expected headers."""
    from python_calamine import CalamineWorkbook

    wanted = {normalise(h) for h in expected}
    wb = CalamineWorkbook.from_path(str(path))
    for name in wb.sheet_names:
        if name == skip:
            continue
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for row in rows[:HEADER_SCAN_ROWS]:
            if wanted <= {normalise(_text(v)) for v in row if _filled(v)}:
                return name
    return None


def _xlsx_grid(
    path: Path, sheet: str | None, limits: Limits, data: bytes, split: bool
) -> tuple[Sequence[Sequence[Any]], str, sheetsplit.Background[Any] | None]:
    from python_calamine import CalamineWorkbook

    from qaf import sheetsplit

    later_from = None
    if split and sheetsplit.two_cores():  # a whole authority's list (issue 8)
        later_from = sheetsplit.SPLIT_FROM  # large sheets: checked by the thread of each part
    parts, later = xlsxsafe.checked_source_parts(
        path, limits, SOURCE_MAX_CELLS, data, later_from=later_from
    )
    if later:
        read = _first_part(path, parts, later, sheet)
        if read is not None:
            return read
        for part in sorted(later):  # read whole: checked whole
            xlsxsafe.check_sheet_xml(parts[part], part, path, SOURCE_MAX_CELLS)
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = wb.sheet_names
    except Exception as e:  # damaged XML the checks could not see
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise xlsxsafe.UnreadableFile(
            path, f"cannot be read as an Excel workbook ({first})"
        ) from None
    name = _sheet_named(names, sheet)
    if name is None:
        raise QafError(
            f'{path.name} has no sheet "{sheet}" (sheets: {", ".join(names)}): set `sheet` '
            "under [cases] or [staff] in qaf.toml to one of them",
            file=str(path),
            rule="I1",
        )
    try:
        found = wb.get_sheet_by_name(name)
        rows = found.to_python(skip_empty_area=False)
        merged = found.merged_cell_ranges
    except Exception as e:
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise xlsxsafe.UnreadableFile(
            path, f"cannot be read as an Excel workbook ({first})"
        ) from None
    where = sheetsplit.sheet_part(parts, lambda _names: name)
    if where is not None:
        _put_errors(rows, _error_cells(parts[where[1]]))
    if not merged:
        return rows, name, None
    return _fill_merged([tuple(r) for r in rows], merged), name, None


def _sheet_named(names: Sequence[str], sheet: str | None) -> str | None:
    """The sheet the list is on: the first, or the one named (any case and spacing)."""
    if sheet is None:
        return names[0]
    return next((n for n in names if normalise(n) == normalise(sheet)), None)


def _first_part(
    path: Path, parts: dict[str, bytes], later: frozenset[str], sheet: str | None
) -> tuple[Sequence[Sequence[Any]], str, sheetsplit.Background[Any]] | None:
    """The sheet's first part read here, its second parsed by another thread (``rest``,
    see :func:`_parse_second`); None when it is read whole (small, cannot be cut, or
    anything unexpected here: then the whole sheet is checked and read, with the same
    errors).

    ``later``: the large sheets not checked yet. Each part is checked before it is
    parsed; the other large sheets are checked here (no sheet goes unchecked). The other
    thread starts once this part is checked, so that the two checks (holding the GIL) do
    not hold up both parses.
    """
    from qaf import sheetsplit

    halves = sheetsplit.cut(parts, lambda names: _sheet_named(names, sheet) if names else None)
    if halves is None or halves.name not in later:
        return None
    for other in sorted(later - {halves.name}):
        xlsxsafe.check_sheet_xml(parts[other], other, path, SOURCE_MAX_CELLS)
    rest = None
    try:
        xml = halves.first()
        first = xlsxsafe.check_sheet_part(xml, halves.name, path, SOURCE_MAX_CELLS)
        if not first.plain:
            raise LookupError("<!")  # a comment or CDATA might cross the cut
        rest = sheetsplit.in_thread(partial(_parse_second, path, halves, first))
        errors = _error_cells(xml)
        names, found = halves.parse(xml)
        del xml
        name = names[halves.index]
        if _sheet_named(names, sheet) != name or found.merged_cell_ranges:
            raise LookupError(name)
        rows = found.to_python(skip_empty_area=False)
        _put_errors(rows, errors)
        return rows, name, rest
    except Exception:  # read whole: the same error, if any, as without the cut
        if rest is not None:
            rest.cancel()
        return None


def _parse_second(
    path: Path, halves: sheetsplit.Cut, first: xlsxsafe.SheetPart
) -> tuple[Any, list[tuple[int, int, str]]] | None:
    """In another thread: check the sheet's second part and parse it (python-calamine
    releases the GIL while it parses): the parsed sheet and its error cells. None: not
    plain after all, or the two parts do not fit the limit together (read the sheet
    whole: the whole sheet's check decides)."""
    xml = halves.second()
    second = xlsxsafe.check_sheet_part(xml, halves.name, path, SOURCE_MAX_CELLS)
    if not second.plain or not xlsxsafe.fit_together((first, second), SOURCE_MAX_CELLS):
        return None
    errors = _error_cells(xml)
    _names, part = halves.parse(xml)
    del xml
    return None if part.merged_cell_ranges else (part, errors)


def _second_part(
    parsed: tuple[Any, list[tuple[int, int, str]]], data_start: int
) -> tuple[int | None, list[list[Any]]]:
    """The second part's rows and where they start, counted from the first data row
    (None: no cell in it)."""
    part, errors = parsed
    if part.start is None:
        return None, []
    rows = part.to_python(skip_empty_area=True)
    top, left = part.start
    if left:
        rows = [[""] * left + r for r in rows]
    _put_errors(rows, errors, top)
    return top - data_start, rows


def _error_cells(xml: bytes) -> list[tuple[int, int, str]]:
    """The Excel error cells of a sheet's XML (F8): none unless it says ``t="e"`` anywhere."""
    from qaf import xlsxparse

    if xlsxparse.ERROR_TYPE not in xml:  # one scan of the sheet: 5 ms for 10 MB
        return []
    return xlsxparse.error_cells(xml)


def _put_errors(rows: list[Any], errors: Sequence[tuple[int, int, str]], top: int = 0) -> None:
    """Each error cell's text (``#N/A``) where calamine left it blank, as a CSV export of
    the sheet holds it (F8: a date column's ``#N/A`` is "not a date", not a blank date).
    ``rows`` are the sheet's rows from row ``top`` (0-based), columns from A."""
    for r, c, text in errors:
        i = r - top
        if not 0 <= i < len(rows):
            continue
        row = rows[i]
        if c >= len(row):
            row.extend([""] * (c + 1 - len(row)))
        if row[c] in ("", None):
            row[c] = text


def _fill_merged(grid: list[tuple[Any, ...]], merged: Any) -> list[tuple[Any, ...]]:
    """Every cell of a merged range holds the range's top-left value.

    A team cell merged over the rows of its cases means "this team" on each of them (F5).
    ``merged`` is calamine's list of inclusive 0-based ((row, col), (row, col)) corners.
    """
    for (r0, c0), (r1, c1) in merged or ():
        if r0 >= len(grid) or c0 >= len(grid[r0]):
            continue
        value = grid[r0][c0]
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            row = list(grid[r])
            if len(row) <= c1:
                row.extend([None] * (c1 + 1 - len(row)))
            row[c0 : c1 + 1] = [value] * (c1 + 1 - c0)
            grid[r] = tuple(row)
    return grid


def _csv_grid(path: Path, data: bytes) -> list[tuple[Any, ...]]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        text = data.decode("utf-16", errors="replace")
        dialect: type[csv.Dialect] = csv.excel_tab if "\t" in text[:4096] else csv.excel
        return _csv_rows(path, text, dialect)
    if b"\x00" in data[:4096]:
        raise xlsxsafe.UnreadableFile(
            path, "is not a text CSV file (it holds binary data): export the list as CSV again"
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # five bytes are undefined in Windows-1252
        raise xlsxsafe.UnreadableFile(path, "is not UTF-8 or Windows-1252 text")
    return _csv_rows(path, text, csv.excel)


def _csv_rows(path: Path, text: str, dialect: type[csv.Dialect]) -> list[tuple[Any, ...]]:
    try:
        return [tuple(r) for r in csv.reader(io.StringIO(text, newline=""), dialect)]
    except csv.Error as e:  # a NUL further in, a field over the csv module's 128 KiB limit
        raise xlsxsafe.UnreadableFile(path, f"is not a readable CSV file ({e})") from None


def _filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def column_positions(
    table: Table, mapping: Mapping[str, str], required: tuple[str, ...], what: str
) -> dict[str, int]:
    """Where each mapped column is; a missing required column stops the read."""
    index = {normalise(h): i for i, h in enumerate(table.headers) if h}
    positions: dict[str, int] = {}
    missing = []
    for name, header in mapping.items():
        pos = index.get(normalise(header))
        if pos is None:
            if name in required:
                missing.append(f'"{header}" (for {name})')
            continue
        positions[name] = pos
    if missing:
        where = f"{table.path}" + (f", sheet {table.sheet}" if table.sheet else "")
        raise QafError(
            f"the {what} has no column {', '.join(missing)}; its columns are: "
            f"{', '.join(dict.fromkeys(h for h in table.headers if h))} "
            f"(row {table.first_row - 1}). "
            f"Fix the file or the column mapping in qaf.toml"
            + _sheet_hint(table, [mapping[n] for n in required if n in mapping], what),
            file=where,
            exit_code=1,
        )
    return positions


def _sheet_hint(table: Table, expected: Sequence[str], what: str) -> str:
    """Where else to look: the workbook's other sheets, and the `sheet` key to set (F3)."""
    section = SECTION_OF.get(what, "cases")
    scanned = f" (qaf looks for the column names in the first {HEADER_SCAN_ROWS} rows)"
    sheets = _sheet_names(table.path) if table.sheet is not None else ()
    if len(sheets) <= 1:
        return scanned
    names = ", ".join(f'"{n}"' for n in sheets)
    other = _sheet_with(table.path, expected, table.sheet)
    if other is not None:
        return (
            f". The workbook's sheets are {names}, and the columns are on sheet "
            f'"{other}": set sheet = "{other}" under [{section}] in qaf.toml'
        )
    return (
        f". The workbook's sheets are {names}: if the list is on another one, set "
        f'sheet = "…" under [{section}] in qaf.toml{scanned}'
    )


def _rows(table: Table, positions: dict[str, int]) -> Iterator[tuple[int, dict[str, Any]]]:
    for offset, row in enumerate(table.rows):
        if not any(_filled(v) for v in row):
            continue
        yield (
            table.first_row + offset,
            {name: (row[pos] if pos < len(row) else None) for name, pos in positions.items()},
        )


# ----------------------------------------------------------------- readers


def read_cases(spec: SourceSpec, limits: Limits | None = None) -> CaseList:
    """The case list's cases (rule S3) and the problems met on the way.

    A whole authority's list is cut in two (qaf.sheetsplit): another thread parses the
    second part while this one makes the first part's cases.
    """
    expected = list(spec.columns.values())
    table = read_table(spec.path, spec.sheet, expected, limits, split=True)
    try:
        layout = _layout(table, spec)
        found = _Cases(spec, dataclasses.replace(table, rows=()), layout)
        found.add(table.rows)  # while the other part is parsed
    except BaseException:
        if table.rest is not None:
            table.rest.cancel()
        raise
    if table.rest is not None:
        found = _with_second_part(spec, limits, table, found)
    return CaseList(tuple(found.cases), tuple(found.problems))


def _with_second_part(
    spec: SourceSpec, limits: Limits | None, table: Table, found: _Cases
) -> _Cases:
    """``found`` with the cases of the part the other thread parsed (``table.rest``); the
    list read whole when that part is not what was expected."""
    assert table.rest is not None
    try:
        part = table.rest.result()
    except Exception:  # read whole: the same error, if any, as without the cut
        part = None
    start, rows = (None, None) if part is None else _second_part(part, table.first_row - 1)
    if rows is None or (start is not None and start < len(table.rows)):
        expected = list(spec.columns.values())
        whole = read_table(spec.path, spec.sheet, expected, limits)
        found = _Cases(spec, whole, _layout(whole, spec))
        found.add(whole.rows)
    else:
        found.add(rows, start or 0)
    return found


def start_reading_cases(spec: SourceSpec, limits: Limits | None = None) -> PendingCases:
    """:func:`read_cases` in another thread, for a caller with other work to do meanwhile
    (``qaf allocate`` reads the roster and the register): unzipping and parsing the list
    release the GIL. :meth:`PendingCases.result` waits for it and raises its error."""
    from qaf import sheetsplit

    return PendingCases(sheetsplit.in_thread(partial(read_cases, spec, limits)))


class PendingCases:
    """A case list being read by another thread (:func:`start_reading_cases`)."""

    def __init__(self, reading: sheetsplit.Background[CaseList]) -> None:
        self._reading = reading

    def result(self) -> CaseList:
        """The case list (waits for it), or the error reading it raised."""
        return self._reading.result()

    def cancel(self) -> None:
        """The caller is giving up: the list is no longer wanted."""
        self._reading.cancel()


class _Layout(NamedTuple):
    """Where a case's cells are in a row (column positions), for ``_Cases.add``."""

    width: int
    required: tuple[int, int, int, int, int]  # case_id, team, worker, service, category
    status: int | None
    name: int | None
    extras: tuple[tuple[str, int], ...]  # the other mapped columns
    dates: tuple[tuple[str, int], ...]  # those holding dates (F7)


def _layout(table: Table, spec: SourceSpec) -> _Layout:
    from qaf.config import CASE_COLUMNS_REQUIRED

    positions = column_positions(table, spec.columns, CASE_COLUMNS_REQUIRED, "case list")
    extras = tuple((k, i) for k, i in positions.items() if k not in CASE_FIELDS)
    return _Layout(
        max(positions.values()) + 1,
        # required columns are always present (column_positions raised otherwise)
        (
            positions["case_id"],
            positions["team"],
            positions["worker"],
            positions["service"],
            positions["category"],
        ),
        positions.get("status"),
        positions.get("name"),
        extras,
        tuple((k, i) for k, i in extras if k in DATE_COLUMNS),
    )


class _Cases:
    """The cases of a case list's rows, added part by part in row order: the first row of
    a case ID is kept, and the problems are in row order (S3, F7)."""

    def __init__(self, spec: SourceSpec, table: Table, layout: _Layout) -> None:
        self.spec, self.table, self.layout = spec, table, layout
        self.places = dict(layout.extras)  # the other mapped columns (RowCells)
        self.cases: list[Case] = []
        self.problems: list[Problem] = []
        self.seen: dict[str, int] = {}  # case ID -> its first row
        self.readable: set[str] = set()  # date texts seen to be dates

    def add(self, rows: Sequence[Sequence[Any]], base: int = 0) -> None:
        """The rows that are, or look like they should be, cases (rule S3); ``base``: the
        first one's offset from the table's first row. An empty row is skipped silently.

        The loop of a 50,000-row list: the text of the cells most rows hold is taken
        inline, each Case is made without the frozen dataclass's ``__init__``
        (:func:`qaf.records.new_case`), and its other columns are read from its row only
        when asked for (:class:`RowCells`).
        """
        layout, table = self.layout, self.table
        places = self.places
        p_id, p_team, p_worker, p_service, p_category = layout.required
        p_status, p_name, dates = layout.status, layout.name, layout.dates
        width = layout.width
        pad = (None,) * width
        seen, readable, first_row = self.seen, self.readable, table.first_row
        add_case, add_problem = self.cases.append, self.problems.append
        for offset, row in enumerate(rows, start=base):
            if len(row) < width:
                row = (*row, *pad[len(row) :])
            case_id = v.strip() if type(v := row[p_id]) is str else _text(v)
            team = v.strip() if type(v := row[p_team]) is str else _text(v)
            worker = v.strip() if type(v := row[p_worker]) is str else _text(v)
            service = v.strip() if type(v := row[p_service]) is str else _text(v)
            category = v.strip() if type(v := row[p_category]) is str else _text(v)
            if (
                not (case_id and team and worker and service and category)
                or case_id == team
                or _note_row(case_id)
                or case_id in EXCEL_ERRORS
                or team in EXCEL_ERRORS
                or worker in EXCEL_ERRORS
                or service in EXCEL_ERRORS
                or category in EXCEL_ERRORS
            ):
                if any(_filled(v) for v in row):
                    values = (team, worker, service, category)
                    add_problem(_not_a_case(self.spec, table, first_row + offset, case_id, values))
                continue
            rownum = first_row + offset
            first = seen.setdefault(case_id, rownum)
            if first != rownum:
                add_problem(self._again(case_id, first, rownum))
                continue
            add_case(
                new_case(
                    (
                        case_id,
                        team,
                        worker,
                        service,
                        category,
                        (
                            (v.strip() if type(v := row[p_status]) is str else _text(v))
                            if p_status is not None
                            else ""
                        )
                        or "Open",
                        ((v.strip() if type(v := row[p_name]) is str else _text(v)) or None)
                        if p_name is not None
                        else None,
                        RowCells(row, places),
                    )
                )
            )
            for key, i in dates:
                raw = row[i]
                if type(raw) is str and raw not in readable:
                    problem = _unreadable_date(self.spec, table, rownum, key, raw)
                    if problem is None:
                        readable.add(raw)
                    else:
                        add_problem(problem)

    def _again(self, case_id: str, first: int, rownum: int) -> Problem:
        return Problem(
            "S3",
            f"case ID {case_id} appears again (first on row {first}); the later row was ignored",
            "error",
            str(self.spec.path),
            self.table.sheet,
            f"row {rownum}",
        )


# Every footer NOTE_ROW knows starts with one of these (case IDs rarely do): the pattern is
# tried only on those, and on anything non-ASCII (IGNORECASE matches "ſ" to "s").
_NOTE_STARTS = frozenset(
    {"gra", "sub", "tot", "cou", "num", "row", "rec", "pag", "end", "rep", "gen", "pri", "pro"}
    | {"ext", "run", "sou", "not"}
)


def _note_row(case_id: str) -> bool:
    start = case_id[:3]
    if start.isascii() and start.lower() not in _NOTE_STARTS:
        return False
    return NOTE_ROW.match(case_id) is not None


def _unreadable_date(
    spec: SourceSpec, table: Table, rownum: int, key: str, value: str
) -> Problem | None:
    """A date column of the case list holding text that is not a date (F7), else None."""
    try:
        parse_date(value)
    except ValueError as e:
        header = spec.columns.get(key, key)
        return Problem(
            "S3",
            f'{key} ("{header}"): {e}',
            "warning",
            str(spec.path),
            table.sheet,
            f"row {rownum}",
        )
    return None


def _not_a_case(
    spec: SourceSpec, table: Table, rownum: int, case_id: str, values: tuple[str, ...]
) -> Problem:
    """Rule S3: why a filled row of the case list is not a case (it never enters the sample).

    A footer or note ("Total: 62 rows", a text merged across the row) is a warning; a case
    with a blank required value is an error: that case cannot be sampled (its team decides
    who may audit it, rule A2) until the list is fixed. So is an Excel error (``#N/A``) in
    a required column: read as a team, it made a team of its own, given an audit by the
    stratified sample and no independence check against the case's real team.
    """
    where = f"row {rownum}"
    shown = case_id if len(case_id) <= 40 else case_id[:40] + "…"
    names = ("team", "worker", "service", "category")
    columns = [("case_id", case_id), *zip(names, values, strict=True)]
    broken = [
        f'{n} ("{spec.columns.get(n, n)}") is an Excel error ({v})'
        for n, v in columns
        if v in EXCEL_ERRORS
    ]
    if broken:
        message = (
            f"{' and '.join(broken)}; the row is not read as a case "
            "(fix the formula or the value in the case list)"
        )
        if case_id not in EXCEL_ERRORS:
            message = f"case {shown}: {message}"
        return Problem("S3", message, "error", str(spec.path), table.sheet, where)
    same_text = bool(case_id) and all(v == case_id for v in values)
    if case_id and (NOTE_ROW.match(case_id) or same_text):
        why = "a total or note row" if NOTE_ROW.match(case_id) else "the same text across the row"
        message = f'"{shown}" is not a case ({why}); skipped'
        return Problem("S3", message, "warning", str(spec.path), table.sheet, where)
    if not case_id:
        return Problem(
            "S3",
            "the row has a value but no case ID; skipped",
            "warning",
            str(spec.path),
            table.sheet,
            where,
        )
    blank = [
        f'{n} ("{spec.columns.get(n, n)}")' for n, v in zip(names, values, strict=True) if not v
    ]
    verb = "is" if len(blank) == 1 else "are"
    message = (
        f"case {shown}: {' and '.join(blank)} {verb} blank; the row is not read as a case "
        "(fill it in the case list)"
    )
    return Problem("S3", message, "error", str(spec.path), table.sheet, where)


def _blank_staff_values(
    spec: SourceSpec, table: Table, cell: str, name: str, values: Mapping[str, Any]
) -> list[Problem]:
    """A roster row kept with a blank role (no audits, no escalations: rule A1) or a blank
    e-mail (nobody can tell them anything) is worth a warning (F7). So is an Excel error
    (``#N/A``) read as a role, e-mail, team, service or manager: an #N/A team is nobody's
    team, so the independence rule (A2) cannot keep them from their own team's cases."""
    out = []
    for key in ("role", "email", "team", "service", "manager"):
        if (value := _text(values.get(key))) in EXCEL_ERRORS:
            out.append(
                Problem(
                    "A2" if key in ("team", "service") else "A1",
                    f'"{name}": {key} ("{spec.columns.get(key, key)}") is an Excel error '
                    f"({value}), read as it stands: fix the formula or the value in the roster",
                    "warning",
                    str(spec.path),
                    table.sheet,
                    cell,
                )
            )
    if not _text(values.get("role")):
        out.append(
            Problem(
                "A1",
                f'"{name}" has no role ("{spec.columns.get("role", "role")}"): they get no '
                "audits and no escalations until it is filled in",
                "warning",
                str(spec.path),
                table.sheet,
                cell,
            )
        )
    if not _text(values.get("email")):
        out.append(
            Problem(
                "A1",
                f'"{name}" has no e-mail ("{spec.columns.get("email", "email")}"): allocations, '
                "alerts and reminders cannot reach them",
                "warning",
                str(spec.path),
                table.sheet,
                cell,
            )
        )
    return out


class RowCells(Mapping[str, Any]):
    """A case's other mapped columns (``Case.extra``: ``dob``, ``legal_status`` ...), read
    from its row of the case list when asked for: an allocation asks for a few columns of
    a few hundred cases, and making a dictionary for each of 50,000 rows cost ``qaf
    allocate`` a twentieth of its time (issue 8). Text is stripped, a date cell is a date.
    Equal to the dictionary of the same values."""

    __slots__ = ("_places", "_row")

    def __init__(self, row: Sequence[Any], places: Mapping[str, int]) -> None:
        self._row, self._places = row, places

    def __getitem__(self, key: str) -> Any:
        v = self._row[self._places[key]]
        return v.strip() if type(v) is str else _cell_value(v)

    def get(self, key: str, default: Any = None) -> Any:  # one call: the theme tests' lookup
        i = self._places.get(key)
        if i is None:
            return default
        v = self._row[i]
        return v.strip() if type(v) is str else _cell_value(v)

    def __iter__(self) -> Iterator[str]:
        return iter(self._places)

    def __len__(self) -> int:
        return len(self._places)

    def __repr__(self) -> str:
        return repr(dict(self))


def _cell_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return _text(v)


def read_staff(spec: SourceSpec, limits: Limits | None = None) -> Roster:
    from qaf.config import STAFF_COLUMNS_REQUIRED

    table = read_table(spec.path, spec.sheet, list(spec.columns.values()), limits)
    positions = column_positions(table, spec.columns, STAFF_COLUMNS_REQUIRED, "staff roster")
    staff: list[StaffMember] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    file = str(spec.path)
    spelling: dict[str, str] = {}  # "team manager " is written as the config's "Team Manager"
    for role in spec.roles:
        spelling.setdefault(normalise(role), role)
    for rownum, values in _rows(table, positions):
        cell = f"row {rownum}"
        name = _text(values.get("name"))
        if not name:
            problems.append(
                Problem(
                    "A3", f"{cell} has no name and was skipped", "warning", file, table.sheet, cell
                )
            )
            continue
        if normalise(name) in seen:
            problems.append(
                Problem(
                    "A2",
                    f'"{name}" appears twice in the roster; the later row was ignored',
                    "error",
                    file,
                    table.sheet,
                    cell,
                )
            )
            continue
        seen.add(normalise(name))
        problems.extend(_blank_staff_values(spec, table, cell, name, values))
        available_text = normalise(_text(values.get("available")))
        if available_text in YES:
            available = True
        elif available_text in NO:
            available = False
        else:
            problems.append(
                Problem(
                    "A3",
                    f'availability "{values.get("available")}" is not '
                    "Yes or No; taken as available",
                    "warning",
                    file,
                    table.sheet,
                    cell,
                )
            )
            available = True
        absent: list[date | None] = []
        for key in ("absent_from", "absent_to"):
            try:
                absent.append(parse_date(values.get(key)))
            except ValueError:
                problems.append(
                    Problem(
                        "A3",
                        f'{key.replace("_", " ")} "{values.get(key)}" is not a date; ignored',
                        "warning",
                        file,
                        table.sheet,
                        cell,
                    )
                )
                absent.append(None)
        staff.append(
            StaffMember(
                name=name,
                email=_text(values.get("email")),
                role=spelling.get(normalise(_text(values.get("role"))), _text(values.get("role"))),
                team=_text(values.get("team")),
                service=_text(values.get("service")),
                manager=_text(values.get("manager")) or None,
                available=available,
                absent_from=absent[0],
                absent_to=absent[1],
            )
        )
    return Roster(tuple(staff), tuple(problems))
