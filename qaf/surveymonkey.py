"""SurveyMonkey exports (CSV or XLSX) read into returns, one per response row.

The shape of a real export (DESIGN §5 "Inputs"):

- two header rows: row 1 the question text, standing only over a question's
  first column (carried forward over the blank cells to its right); row 2 the
  sub-answer: "Response", "Open-Ended Response", "Other (please specify)", a
  matrix row label, a multiple-textbox label; row 2 is blank under the
  metadata columns;
- metadata columns found by name, not position: Respondent ID, Collector ID,
  Start Date, End Date, IP Address, Email Address, First Name, Last Name,
  Custom Data 1 ...;
- a matrix question has one column per row label, each cell holding the
  chosen column label (here: the grade of one domain);
- single choice with "Other" is two columns; multi-select has one column per
  option (the cell holds the option text when ticked; we join them);
- UTF-8 with or without BOM (Windows-1252 accepted too); quoted cells hold line
  breaks (the file is parsed as CSV, never line by line); dates in the
  metadata are US month-first ("11/14/2024 10:02:31 AM");
- date answers (a Date/Time question, or a typed date) are read in the order
  ``[tool.surveymonkey] date_order`` says, else the order the export's own
  unambiguous dates show; a date that could be read either way with nothing to
  settle it is an error (rule I3) naming the setting. Excel's re-saved forms
  ("02-Jan-26", "2-Jan", serial numbers such as 46022) are read too.

Which tool an export belongs to is found from the ``[tool.surveymonkey]``
table of each tool: the one whose ``grades`` question is in row 1. The
mapping of questions to fields and domains is that table (``SurveyMonkeyMap``
in ``qaf.tools``). A "condensed" export with a single header row is read too:
a matrix column is then headed "Question - Row label".

Each response becomes a ``qaf.ingest.RawReturn`` with ``ref = "response <Respondent ID>"``
and every value's position as a cell reference ("Q5": column Q, row 5), so
problems point at the cell in Excel or a CSV viewer alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from qaf.calendar import DateOrder, numeric_date_readings, parse_ordered_date
from qaf.grades import normalise
from qaf.ingest import BLANK, Cell, RawAction, RawReturn, text_of
from qaf.problems import Problem
from qaf.tools import SurveyMonkeyMap, Tool
from qaf.xlsxsafe import UnreadableFile, Workbook, cell_ref

METADATA = (
    "Respondent ID",
    "Collector ID",
    "Start Date",
    "End Date",
    "IP Address",
    "Email Address",
    "First Name",
    "Last Name",
    "Custom Data 1",
)
_META_KEYS = {normalise(m) for m in METADATA}
RESPONSE_SUBS = {"response", "open ended response", "", "responses"}


@dataclass(frozen=True)
class Column:
    index: int
    question: str  # normalised question text (carried forward)
    sub: str  # normalised sub-answer label (row 2), "" when none
    sub_text: str  # sub-answer label as written


@dataclass
class Header:
    columns: list[Column]
    first_data_row: int
    by_question: dict[str, list[Column]]

    def question(self, text: str | None) -> list[Column]:
        if not text:
            return []
        return self.by_question.get(normalise(text), [])

    def meta(self, name: str) -> int | None:
        cols = self.by_question.get(normalise(name))
        return cols[0].index if cols else None


# ------------------------------------------------------------------ entry points


def looks_like_export(wb: Workbook) -> bool:
    """An XLSX whose first visible sheet starts with the Respondent ID header."""
    for sheet in wb.visible():
        first = sheet.raw(0, 0)
        return isinstance(first, str) and normalise(first) == "respondent id"
    return False


def read_export_csv(data: bytes, file: str, tools: Mapping[str, Tool]) -> list[RawReturn]:
    text = _decode(data, file)
    try:
        grid: list[list[Any]] = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as e:
        raise UnreadableFile(file, f"is not a readable CSV file ({e})") from None
    return read_export_grid(grid, file, None, tools)


def read_export_workbook(wb: Workbook, file: str, tools: Mapping[str, Tool]) -> list[RawReturn]:
    sheet = next(wb.visible(), None)
    if sheet is None:
        raise UnreadableFile(file, "has no visible sheet")
    return read_export_grid(sheet.rows, file, sheet.name, tools)


def _decode(data: bytes, file: str) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:4096]:
        raise UnreadableFile(file, "is not a text (CSV) file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(file, "is not UTF-8 or Windows-1252 text")


# ------------------------------------------------------------------ header


def parse_header(grid: Sequence[Sequence[Any]], file: str) -> Header:
    if not grid or not grid[0]:
        raise UnreadableFile(file, "is empty")
    row1 = [text_of(v) for v in grid[0]]
    keys = [normalise(v) for v in row1]
    if "respondent id" not in keys:
        raise UnreadableFile(
            file,
            'is not a SurveyMonkey export: no "Respondent ID" column in row 1 '
            "(export All responses data, CSV or XLSX)",
        )
    rid = keys.index("respondent id")
    row2 = [text_of(v) for v in grid[1]] if len(grid) > 1 else []
    two_rows = len(grid) > 1 and (rid >= len(row2) or row2[rid] == "")
    width = max(len(row1), len(row2) if two_rows else 0)
    columns: list[Column] = []
    current = ""
    for c in range(width):
        q = row1[c] if c < len(row1) else ""
        sub = row2[c] if two_rows and c < len(row2) else ""
        if q:
            current = q
        elif not two_rows:
            current = ""
        question = current
        if not two_rows and " - " in question and normalise(question) not in _META_KEYS:
            # condensed export: "Question - Row label"
            head, _, tail = question.rpartition(" - ")
            question, sub = head, tail
        columns.append(Column(c, normalise(question), normalise(sub), sub))
    by_question: dict[str, list[Column]] = {}
    for col in columns:
        by_question.setdefault(col.question, []).append(col)
    return Header(columns, 2 if two_rows else 1, by_question)


def _tool_for(header: Header, tools: Mapping[str, Tool], file: str) -> Tool:
    for tool in tools.values():
        sm = tool.surveymonkey
        if sm is not None and header.question(sm.grades):
            return tool
    mapped = [t.id for t in tools.values() if t.surveymonkey is not None]
    hint = (
        f"the grades questions of tools {', '.join(mapped)}"
        if mapped
        else "no tool has a [tool.surveymonkey] table in qaf.toml"
    )
    raise UnreadableFile(
        file,
        f"is a SurveyMonkey export, but none of its questions matches {hint}",
    )


# ------------------------------------------------------------------ responses


def read_export_grid(
    grid: Sequence[Sequence[Any]], file: str, sheet: str | None, tools: Mapping[str, Tool]
) -> list[RawReturn]:
    header = parse_header(grid, file)
    tool = _tool_for(header, tools, file)
    sm = tool.surveymonkey
    assert sm is not None
    plan = _Plan.make(header, tool, sm)
    data_rows = [
        r for r in range(header.first_data_row, len(grid)) if any(text_of(v) for v in grid[r])
    ]
    dates = _DateReading.make(plan, grid, data_rows, sheet, tool)
    out: list[RawReturn] = []
    for r in data_rows:
        raw = plan.read(grid[r], r, file, sheet)
        dates.apply(raw, plan)
        out.append(raw)
    return out


# ------------------------------------------------------------------ dates


@dataclass(frozen=True)
class _DateReading:
    """How this export's date answers are read: the configured ``date_order``, else the
    order its unambiguous dates show (a day above 12 says which comes first).

    SurveyMonkey writes a Date/Time answer in the format chosen for the question
    (MM/DD/YYYY or DD/MM/YYYY, optionally with a time "09:14 AM"); an export opened and
    saved again in Excel may hold "02-Jan-26", "2-Jan" or a serial number instead.
    """

    tool: Tool
    configured: DateOrder | None
    seen: dict[DateOrder, str]  # order -> an example showing it: "'14/11/2026' (cell D5)"

    @classmethod
    def make(
        cls,
        plan: _Plan,
        grid: Sequence[Sequence[Any]],
        rows: Sequence[int],
        sheet: str | None,
        tool: Tool,
    ) -> _DateReading:
        sm = tool.surveymonkey
        configured: DateOrder | None = None
        if sm is not None and sm.date_order in ("day-first", "month-first"):
            configured = sm.date_order  # type: ignore[assignment]
        seen: dict[DateOrder, str] = {}
        for name in plan.date_fields:
            for col in plan.fields[name]:
                for r in rows:
                    row = grid[r]
                    value = row[col.index] if col.index < len(row) else None
                    readings = numeric_date_readings(value)
                    if readings is None or (readings[0] is None) == (readings[1] is None):
                        continue
                    order: DateOrder = "day-first" if readings[0] else "month-first"
                    seen.setdefault(order, f"{text_of(value)!r} (cell {cell_ref(r, col.index)})")
        return cls(tool, configured, seen)

    @property
    def order(self) -> DateOrder | None:
        if self.configured:
            return self.configured
        return next(iter(self.seen)) if len(self.seen) == 1 else None

    def apply(self, raw: RawReturn, plan: _Plan) -> None:
        """Replace each date answer by its date, or report it (rule I3) when it cannot be
        read; ingest then checks the date itself (after today, before the cycle)."""
        for name in plan.date_fields:
            c = raw.fields.get(name)
            if c is None or c.blank:
                continue
            what = f"the {name[:1].lower()}{name[1:]}"
            try:
                day = self._read(c.value, raw.received_on)
            except ValueError as e:
                raw.problems.append(
                    Problem("I3", f"{what}: {e}", "error", raw.file, c.sheet, c.cell)
                )
                continue
            raw.fields[name] = Cell(day, c.sheet, c.cell)

    def _read(self, value: Any, near: date | None) -> date | None:
        order = self.order
        readings = numeric_date_readings(value)
        if order is None and readings is not None:
            day_first, month_first = readings
            if day_first is not None and month_first is not None and day_first != month_first:
                raise ValueError(self._ambiguous(value, day_first, month_first))
            order = "day-first" if day_first is not None else "month-first"
        return parse_ordered_date(value, order or "day-first", near=near)

    def _ambiguous(self, value: Any, day_first: date, month_first: date) -> str:
        why = (
            f"this export writes dates both day first ({self.seen['day-first']}) and month "
            f"first ({self.seen['month-first']})"
            if len(self.seen) > 1
            else "no date in this export shows which comes first"
        )
        return (
            f"{text_of(value)!r} could be {_long(day_first)} (day first) or "
            f"{_long(month_first)} (month first), and {why}: set date_order = "
            '"day-first" or "month-first" (the format of the survey\'s date question) under '
            f'[tool.surveymonkey] of tool "{self.tool.id}"'
        )


def _long(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


@dataclass
class _Plan:
    """Where each part of a return sits in the export's columns (worked out once per file)."""

    tool: Tool
    header: Header
    respondent: int | None
    end_date: int | None
    fields: dict[str, list[Column]]
    grades: dict[str, Column]
    before: dict[str, Column]
    rationale: dict[str, Column]
    singles: dict[str, list[Column]]
    compliance: dict[str, list[Column]]
    feedback: dict[str, list[Column]]

    @property
    def date_fields(self) -> list[str]:
        """The fields answered with a date ("Date of audit", any field named "... date ...")."""
        return [name for name in self.fields if "date" in normalise(name).split()]

    @classmethod
    def make(cls, header: Header, tool: Tool, sm: SurveyMonkeyMap) -> _Plan:
        label_to_domain = {normalise(v): k for k, v in sm.domain_labels.items()}

        def domains_of(question: str | None) -> dict[str, Column]:
            out: dict[str, Column] = {}
            for col in header.question(question):
                did = label_to_domain.get(col.sub)
                if did is None and col.sub_text:
                    d = tool.match_domain(col.sub_text)
                    did = d.id if d else None
                if did is not None and did not in out:
                    out[did] = col
            return out

        fields = {name: header.question(q) for name, q in sm.fields.items()}
        singles = {
            "overall": header.question(sm.overall),
            "overall_before": header.question(sm.overall_before),
            "overall_rationale": header.question(sm.overall_rationale),
            "summary": header.question(sm.summary),
            "safety": header.question(sm.safety or tool.safety_question),
            "safety_note": header.question(sm.safety_note),
            "actions": header.question(sm.actions),
        }
        compliance = {q: header.question(sm.compliance.get(q, q)) for q in tool.compliance}
        feedback = {q: header.question(sm.feedback.get(q, q)) for q in tool.feedback}
        return cls(
            tool=tool,
            header=header,
            respondent=header.meta("Respondent ID"),
            end_date=header.meta("End Date"),
            fields={k: v for k, v in fields.items() if v},
            grades=domains_of(sm.grades),
            before=domains_of(sm.grades_before),
            rationale=domains_of(sm.rationale),
            singles={k: v for k, v in singles.items() if v},
            compliance={k: v for k, v in compliance.items() if v},
            feedback={k: v for k, v in feedback.items() if v},
        )

    def read(self, row: Sequence[Any], r: int, file: str, sheet: str | None) -> RawReturn:
        def cell(c: Column | None) -> Cell:
            if c is None:
                return BLANK
            v = row[c.index] if c.index < len(row) else None
            return Cell(v, sheet, cell_ref(r, c.index))

        def answer(cols: list[Column]) -> Cell:
            """A question's answer: its Response column; "Other" replaced by the text given."""
            main = [c for c in cols if c.sub in RESPONSE_SUBS] or cols[:1]
            other = [c for c in cols if c.sub.startswith("other")]
            first = cell(main[0]) if main else BLANK
            if other:
                o = cell(other[0])
                if not o.blank and (first.blank or normalise(first.text).startswith("other")):
                    return o
            if len(cols) > 1 and not any(c.sub in RESPONSE_SUBS for c in cols):
                # multi-select: one column per option, ticked options hold their text
                ticked = [cell(c) for c in cols if not cell(c).blank]
                if ticked:
                    return Cell("; ".join(t.text for t in ticked), ticked[0].sheet, ticked[0].cell)
            return first

        rid = (
            text_of(row[self.respondent])
            if self.respondent is not None and self.respondent < len(row)
            else ""
        )
        raw = RawReturn(file=file, ref=f"response {rid}" if rid else f"row {r + 1}")
        if self.end_date is not None and self.end_date < len(row):
            raw.received_on = _end_date(row[self.end_date])
        for name, cols in self.fields.items():
            raw.fields[name] = answer(cols)
        raw.table_found = bool(self.grades)
        for did, gcol in self.grades.items():
            b = self.before.get(did)
            rc = self.rationale.get(did)
            raw.domain_cells[did] = (cell(gcol), cell(b) if b else None, cell(rc) if rc else None)
        for key, cols in self.singles.items():
            if key == "actions":
                raw.actions = _actions(answer(cols))
            else:
                setattr(raw, key, answer(cols))
        for q, cols in self.compliance.items():
            raw.compliance[q] = answer(cols)
        for q, cols in self.feedback.items():
            raw.feedback[q] = answer(cols)
        raw.hidden["tool"] = self.tool.id
        return raw


def _end_date(value: Any) -> date | None:
    """The response's End Date: SurveyMonkey writes it month first, always
    ("11/14/2024 10:09:54 AM"); Excel may have made it a serial number or "14-Nov-24"."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return parse_ordered_date(
            text_of(value) if isinstance(value, str) else value, "month-first"
        )
    except ValueError:
        return None


def _actions(c: Cell) -> list[RawAction]:
    """Open-ended actions: one per line, "action; who is responsible; by when"."""
    out: list[RawAction] = []
    for line in c.text.splitlines():
        line = line.strip(" -•*\t")
        if not line:
            continue
        sep = ";" if ";" in line else "|"
        parts = [p.strip() for p in line.split(sep)] + ["", ""]
        out.append(
            RawAction(
                Cell(parts[0], c.sheet, c.cell),
                Cell(parts[1] or None, c.sheet, c.cell),
                Cell(parts[2] or None, c.sheet, c.cell),
            )
        )
    return out
