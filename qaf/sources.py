"""Case list and staff roster readers (CSV or XLSX, with the config's column mapping).

Real exports use their own header names (``case_id = "Person ID"``); the
mapping in qaf.toml points qaf at them. Headers are matched ignoring case,
spacing and trailing colons. A missing mapped column is an error naming the
column and the file; duplicate case IDs and unusable rows are reported as
problems with their row number, and the rest of the list is still read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from qaf import xlsxsafe
from qaf.calendar import parse_date
from qaf.config import Limits, SourceSpec
from qaf.grades import normalise
from qaf.problems import Problem, QafError
from qaf.records import Case, StaffMember

CASE_FIELDS = ("case_id", "team", "worker", "service", "category", "status", "name")

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
    rows: list[tuple[Any, ...]]
    first_row: int  # spreadsheet row number of rows[0] (1-based, header is first_row - 1)


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


def read_table(path: Path, sheet: str | None = None, limits: Limits | None = None) -> Table:
    """Read a CSV or the first (or named) sheet of an XLSX into a Table.

    What the file is comes from its first bytes, not its name, and an XLSX passes the
    same safety checks as a returned workbook (qaf.xlsxsafe: zip bombs, entity
    expansion, renamed PDFs, old .xls, password-protected files): anything else
    stops with ``UnreadableFile`` (rule I1), one plain line naming the file. The case
    list and roster are what the configuration points at, so, like a missing file, an
    unusable one is a configuration-level stop: exit code 2 (cron: "fix the setup").
    """
    try:
        return _read_table(path, sheet, limits)
    except xlsxsafe.UnreadableFile as e:
        e.exit_code = 2
        raise


def _read_table(path: Path, sheet: str | None, limits: Limits | None) -> Table:
    if not path.exists():
        raise QafError(f"{path} does not exist", file=str(path))
    if path.stat().st_size == 0:
        raise xlsxsafe.UnreadableFile(path, "is empty (0 bytes): export it again")
    limits = limits or Limits()
    data = xlsxsafe.read_bytes(path, limits)
    binary = (*xlsxsafe.ZIP_MAGICS, xlsxsafe.OLE_MAGIC, b"%PDF")
    if path.suffix.lower() in (".csv", ".txt") and not data.startswith(binary):
        grid, sheet_name = _csv_grid(path, data), None
    else:  # .xlsx, or whatever the name says (a renamed .xls, PDF ...): xlsxsafe names it
        grid, sheet_name = _xlsx_grid(path, sheet, limits, data)
    header_index = next((i for i, row in enumerate(grid) if any(_filled(v) for v in row)), None)
    if header_index is None:
        raise QafError(f"{path.name} is empty", file=str(path))
    headers = tuple(_text(v) for v in grid[header_index])
    return Table(path, sheet_name, headers, grid[header_index + 1 :], header_index + 2)


def _xlsx_grid(
    path: Path, sheet: str | None, limits: Limits, data: bytes
) -> tuple[list[tuple[Any, ...]], str]:
    from python_calamine import CalamineWorkbook

    xlsxsafe.checked_bytes(path, limits, SOURCE_MAX_CELLS, data)
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = wb.sheet_names
    except Exception as e:  # damaged XML the checks could not see
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise xlsxsafe.UnreadableFile(
            path, f"cannot be read as an Excel workbook ({first})"
        ) from None
    if sheet is None:
        name = names[0]
    else:
        match = [n for n in names if normalise(n) == normalise(sheet)]
        if not match:
            raise QafError(
                f'{path.name} has no sheet "{sheet}" (sheets: {", ".join(names)})', file=str(path)
            )
        name = match[0]
    try:
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as e:
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise xlsxsafe.UnreadableFile(
            path, f"cannot be read as an Excel workbook ({first})"
        ) from None
    return [tuple(r) for r in rows], name


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
            f"{', '.join(h for h in table.headers if h)}. Fix the file or the column mapping "
            f"in qaf.toml",
            file=where,
        )
    return positions


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
    from qaf.config import CASE_COLUMNS_REQUIRED

    table = read_table(spec.path, spec.sheet, limits)
    positions = column_positions(table, spec.columns, CASE_COLUMNS_REQUIRED, "case list")
    cases: list[Case] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    file = str(spec.path)
    # Hot loop (50,000-row exports): index cells directly rather than building a dict a row.
    width = max(positions.values()) + 1
    # required columns are always present (column_positions raised otherwise)
    p_id, p_team, p_worker = positions["case_id"], positions["team"], positions["worker"]
    p_service, p_category = positions["service"], positions["category"]
    p_status, p_name = positions.get("status"), positions.get("name")
    extras = [(k, i) for k, i in positions.items() if k not in CASE_FIELDS]
    pad = (None,) * width
    for offset, row in enumerate(table.rows):
        if len(row) < width:
            row = (*row, *pad[len(row) :])
        case_id = _text(row[p_id])
        if not case_id:
            if any(_filled(v) for v in row):
                rownum = table.first_row + offset
                problems.append(
                    Problem(
                        "S3",
                        f"row {rownum} has no case ID and was skipped",
                        "warning",
                        file,
                        table.sheet,
                        f"row {rownum}",
                    )
                )
            continue
        rownum = table.first_row + offset
        first = seen.setdefault(case_id, rownum)
        if first != rownum:
            problems.append(
                Problem(
                    "S3",
                    f"case ID {case_id} appears again (first on row {first}); "
                    "the later row was ignored",
                    "error",
                    file,
                    table.sheet,
                    f"row {rownum}",
                )
            )
            continue
        cases.append(
            Case(
                case_id,
                _text(row[p_team]),
                _text(row[p_worker]),
                _text(row[p_service]),
                _text(row[p_category]),
                (_text(row[p_status]) if p_status is not None else "") or "Open",
                (_text(row[p_name]) or None) if p_name is not None else None,
                {k: _cell_value(row[i]) for k, i in extras},
            )
        )
    return CaseList(tuple(cases), tuple(problems))


def _cell_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return _text(v)


def read_staff(spec: SourceSpec, limits: Limits | None = None) -> Roster:
    from qaf.config import STAFF_COLUMNS_REQUIRED

    table = read_table(spec.path, spec.sheet, limits)
    positions = column_positions(table, spec.columns, STAFF_COLUMNS_REQUIRED, "staff roster")
    staff: list[StaffMember] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    file = str(spec.path)
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
                role=_text(values.get("role")),
                team=_text(values.get("team")),
                service=_text(values.get("service")),
                manager=_text(values.get("manager")) or None,
                available=available,
                absent_from=absent[0],
                absent_to=absent[1],
            )
        )
    return Roster(tuple(staff), tuple(problems))
