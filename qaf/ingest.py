"""``qaf ingest``: returned audit workbooks and SurveyMonkey exports, validated and stored.

Flow for each file (DESIGN §5 "Inputs", rules G1-G5, E3, I1-I5):

1. read its bytes once; SHA-256; a file already ingested is reported as
   ``already-ingested`` and nothing else happens (I5);
2. open it safely (``qaf.xlsxsafe``: size, zip bomb, entity bomb and
   not-a-workbook checks, rule I1) and read it into a ``RawReturn`` — every
   value found *by label* together with the sheet and cell it came from
   (``read_audit_workbook``), or one ``RawReturn`` per response of a
   SurveyMonkey export (``qaf.surveymonkey``);
3. match it to its allocation: hidden audit ID, else the "Audit ID" field,
   else case ID + auditor (I2);
4. validate it against its tool (``build_return``: G1-G5, E3, dates I3),
   collecting every problem with file, sheet, cell and rule;
5. store it — the whole file in ONE transaction (a savepoint of a batch of files
   committed together: ``Register.many_transactions``) — with batched inserts;
   a corrected re-submission for the same audit supersedes the earlier return
   (``returns.superseded_by``; two of one audit in one run: the newer is kept, see
   ``qaf.resubmissions``); a re-audit is compared with the previous
   return of the case (improved / same / downgraded); then the consequences
   (alerts E1-E3, follow-ups T1-T3, T5, T7) from ``qaf.escalate`` are stored
   in the same transaction. A rejected file changes nothing and is left
   untouched on disk.

Rule IDs introduced here (ingest):
  I1 the file is not a readable, safe workbook / export;
  I2 the return does not match an allocation (unknown audit ID, case or auditor differ);
  I3 a date is missing, not a date, or impossible (after --as-of, before the cycle);
  I4 the form's structure: no domain table, a domain missing from it, unknown rows;
  I5 the file as a unit: already ingested, rejected whole because of another response.

Configuration, the roster and the calendar are loaded once per run; the
register is queried by index per file (never the whole allocation table), so
the cost per file does not grow with the register.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from qaf.calendar import cycle_of, cycle_start_end, parse_date, year_less_date
from qaf.grades import YES_NO, GradeError, Scale, is_not_applicable, normalise
from qaf.problems import Level, Problem, QafError, has_errors
from qaf.records import ActionItem, Alert, Allocation, FollowUp, ReturnFacts
from qaf.resubmissions import (
    Arrival,
    history_warning,
    is_newer,
    is_same_run_warning,
    kept_warning,
)
from qaf.tools import Tool, overall_consistency
from qaf.xlsxsafe import Sheet, UnreadableFile, Workbook, cell_ref, read_bytes, read_workbook

if TYPE_CHECKING:
    from qaf.calendar import WorkingCalendar
    from qaf.config import Config, Limits
    from qaf.ingest_notices import SafetyNotice
    from qaf.register import Register
    from qaf.sources import Roster

Status = Literal["accepted", "rejected", "already-ingested", "superseded"]

FILE_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv")
FIRST_COLS = 8  # labels are looked for in columns A-H
VALUE_REACH = 8  # the value is the first non-empty cell within this many columns right
HIDDEN_SHEET = "qaf"

# Standard labels of a return outside the key-information fields, with council variants.
OVERALL_LABELS = (
    "Overall grade",
    "Overall grade after discussion",
    "Overall judgement",
    "Overall grading",
    "Overall rating",
    "Final grade",
    "Overall grade (after discussion)",
    "Overall",
)
OVERALL_BEFORE_LABELS = (
    "Overall grade before discussion",
    "Overall grade (before discussion)",
    "Initial overall grade",
    "Overall grade before conversation",
)
OVERALL_RATIONALE_LABELS = (
    "Rationale for overall grade",
    "Overall rationale",
    "Rationale for overall judgement",
    "Reason for overall grade",
    "Overall comments",
    "Rationale for grade",
)
SUMMARY_LABELS = (
    "Summary of strengths and areas for improvement",
    "Summary",
    "Strengths and areas for improvement",
    "Summary of findings",
    "Key findings",
)
COMMENTS_LABELS = (
    "Social worker's comments",
    "Social workers comments",
    "Practitioner's comments",
    "Practitioner comments",
    "Worker's comments",
)
SAFETY_LABELS = ("Is the child safe?", "Is the child safe", "Is the young person safe?")
SAFETY_NOTE_LABELS = (
    "If not, describe the concern",
    "If no, describe the concern",
    "If not, please describe the concern",
    "Safety concern",
    "Describe the concern",
)
IDENTITY_FIELDS = ("Audit ID", "Case ID", "Auditor", "Date of audit", "Subject")

# Domain table header words (matched after normalising; a trailing "(...)" is ignored).
H_ID = {"id", "no", "ref", "#", "number", "domain id", "item"}
H_CRITERIA = {
    "criteria",
    "criterion",
    "domain",
    "area",
    "area of practice",
    "standard",
    "question",
    "title",
    "areas",
    "practice area",
    "audit question",
}
H_GRADE = {
    "grade",
    "grading",
    "judgement",
    "rating",
    "grade after discussion",
    "final grade",
    "grade after",
    "agreed grade",
    "grade after conversation",
    "score",
    "answer",
    "yes/no",
}
H_BEFORE = {
    "grade before discussion",
    "grade before",
    "initial grade",
    "grade before conversation",
    "grade prior to discussion",
    "before discussion",
}
H_RATIONALE = {
    "rationale",
    "comments",
    "comment",
    "evidence",
    "rationale for grade",
    "commentary",
    "comments/evidence",
    "comments / evidence",
    "evidence and rationale",
    "rationale / evidence",
    "reason",
    "reasons",
    "findings",
    "note of findings",
    "notes",
}
H_ACTION = {"action", "actions", "action required", "actions agreed", "action(s)", "what"}
H_OWNER = {
    "who is responsible",
    "who",
    "owner",
    "responsible",
    "by whom",
    "responsible person",
    "lead",
    "who will do it",
}
H_DUE = {
    "by when",
    "due",
    "due date",
    "target date",
    "timescale",
    "date",
    "deadline",
    "completion date",
    "when",
    "by",
}
OVERALL_ROW = {"overall", "overall grade", "overall judgement", "overall rating", "final grade"}

_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
HEADER_MAX = 60  # header cells are short; longer text is never a header


@functools.lru_cache(maxsize=1 << 16)
def norm(text: str) -> str:
    """``qaf.grades.normalise``, memoised: the same labels recur in every return."""
    return normalise(text)


_NUMBERING = re.compile(r"^(?:\d+[a-z]?|[a-z])\s*[.)]\s*|^\d+\s+")


@functools.lru_cache(maxsize=1 << 16)
def key_of(text: str) -> str:
    """A label or header as compared: case, spacing, colons folded; "(...)" dropped."""
    return normalise(_PAREN.sub("", normalise(text)))


# ------------------------------------------------------------------ raw values


class Cell:
    """A value read from a return with where it was found (sheet and A1 cell).

    A plain class with slots, not a dataclass: tens of cells are made per return, and
    sent between processes (``__reduce__``), so making one must be cheap.
    """

    __slots__ = ("cell", "sheet", "text", "value")
    value: Any
    sheet: str | None
    cell: str | None
    text: str  # asked for again and again by validation: worked out once

    def __init__(self, value: Any, sheet: str | None = None, cell: str | None = None) -> None:
        self.value = value
        self.sheet = sheet
        self.cell = cell
        self.text = text_of(value)

    @property
    def blank(self) -> bool:
        return self.text == ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return (self.value, self.sheet, self.cell) == (other.value, other.sheet, other.cell)

    def __hash__(self) -> int:
        return hash((self.value, self.sheet, self.cell))

    def __repr__(self) -> str:
        return f"Cell(value={self.value!r}, sheet={self.sheet!r}, cell={self.cell!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Cell, (self.value, self.sheet, self.cell))


class TableRow(NamedTuple):
    """One data row of a domain table, before it is mapped to a tool's domain."""

    id_text: str
    criteria: str
    grade: Cell
    before: Cell | None
    rationale: Cell | None
    where: str  # "sheet Audit, row 24" for messages


class RawAction(NamedTuple):
    action: Cell
    owner: Cell
    due: Cell


@dataclass
class RawReturn:
    """What a reader found in one return, by label, with positions. No validation yet."""

    file: str
    ref: str = ""  # "" for a workbook; "response 114627812345" for SurveyMonkey
    hidden: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Cell] = field(default_factory=dict)
    compliance: dict[str, Cell] = field(default_factory=dict)
    feedback: dict[str, Cell] = field(default_factory=dict)
    rows: list[TableRow] = field(default_factory=list)
    domain_cells: dict[str, tuple[Cell, Cell | None, Cell | None]] = field(default_factory=dict)
    overall: Cell | None = None
    overall_before: Cell | None = None
    overall_rationale: Cell | None = None
    summary: Cell | None = None
    comments: Cell | None = None
    safety: Cell | None = None
    safety_note: Cell | None = None
    actions: list[RawAction] = field(default_factory=list)
    table_found: bool = False
    received_on: date | None = None  # SurveyMonkey: the response's end date
    problems: list[Problem] = field(default_factory=list)

    def field_text(self, name: str) -> str:
        c = self.fields.get(name)
        return c.text if c else ""

    @property
    def audit_id(self) -> str:
        return self.hidden.get("audit_id") or self.field_text("Audit ID")

    @property
    def case_id(self) -> str:
        return self.field_text("Case ID") or self.hidden.get("case_id", "")

    @property
    def auditor(self) -> str:
        return self.field_text("Auditor") or self.hidden.get("auditor", "")

    @property
    def subject(self) -> str:
        """The audited person of a staff audit (GAPS 7), when the workbook names one."""
        return self.field_text("Subject")

    def for_storing(self) -> RawReturn:
        """What storing reads of a return a reader process has validated already: its
        identity and safety answers, not its tables (a third of the bytes sent across)."""
        return RawReturn(
            file=self.file,
            ref=self.ref,
            hidden=self.hidden,
            fields={k: c for k, c in self.fields.items() if k in STORING_FIELDS},
            safety=self.safety,
            safety_note=self.safety_note,
            table_found=self.table_found,
            received_on=self.received_on,
            problems=self.problems,
        )


# the fields of a return read after validation (matching, safety notices)
STORING_FIELDS = frozenset(
    (*IDENTITY_FIELDS, "Auditor role", "Team", "Service Area", "Category", "Social Worker")
)


def text_of(value: Any) -> str:
    """A cell as text: blank -> "", 12.0 -> "12", dates ISO, text stripped."""
    if type(value) is str:  # most cells
        return value.replace("\u00a0", " ").strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        if value != value:
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\u00a0", " ").strip()


def is_blank(value: Any) -> bool:
    """``text_of(value) == ""``, without building the text (str.strip drops NBSP too)."""
    if type(value) is str:
        return not value.strip()
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return text_of(value) == ""


BLANK = Cell(None)

# ------------------------------------------------------------------ label index


@dataclass(frozen=True)
class Labels:
    """Every label the returns of a configuration may carry: normalised text -> (kind, name).

    Built once per run from all tools (their fields with aliases, compliance,
    feedback and safety questions) plus the standard labels above.
    """

    index: Mapping[str, tuple[str, str]]

    @classmethod
    def for_tools(cls, tools: Iterable[Tool]) -> Labels:
        index: dict[str, tuple[str, str]] = {}

        def add(kind: str, name: str, labels: Iterable[str]) -> None:
            for label in labels:
                index.setdefault(normalise(label), (kind, name))
                index.setdefault(key_of(label), (kind, name))

        tools = list(tools)
        for lst in (OVERALL_BEFORE_LABELS, OVERALL_LABELS):
            for label in lst:
                index.setdefault(
                    normalise(label),
                    ("overall_before" if lst is OVERALL_BEFORE_LABELS else "overall", ""),
                )
        # Overall labels first: "Overall grade before discussion" must not become "Overall".
        add("overall_before", "", OVERALL_BEFORE_LABELS)
        add("overall", "", OVERALL_LABELS)
        add("overall_rationale", "", OVERALL_RATIONALE_LABELS)
        add("summary", "", SUMMARY_LABELS)
        add("comments", "", COMMENTS_LABELS)
        add("safety_note", "", SAFETY_NOTE_LABELS)
        for tool in tools:
            if tool.safety_question:
                add("safety", "", (tool.safety_question,))
        add("safety", "", SAFETY_LABELS)
        from qaf.tools import STANDARD_FIELD_ALIASES

        for tool in tools:
            for name in (*IDENTITY_FIELDS, *tool.fields):
                add("field", name, tool.labels_for(name))
            for q in tool.compliance:
                add("compliance", q, (q,))
            for q in tool.feedback:
                add("feedback", q, (q,))
        for name, aliases in STANDARD_FIELD_ALIASES.items():
            add("field", name, (name, *aliases))
        for name in ("Auditor role", "Cycle", "Service Area", "Category", "Due date"):
            add("field", name, (name,))
        return cls(index)

    def find(self, text: str) -> tuple[str, str] | None:
        if len(text) > 300:
            return None
        hit = self.index.get(norm(text))
        if hit is None:
            hit = self.index.get(key_of(text))
        return hit


# --------------------------------------------------------------- workbook reader


class Grid:
    """A sheet as read by label: ``values[r][c]`` shows a merged range's top-left value in
    each of its cells (``Sheet.value``, worked out once per sheet instead of per look)."""

    __slots__ = ("height", "name", "rows", "sheet", "values")

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.name = sheet.name
        self.rows = sheet.rows
        self.height = len(sheet.rows)
        self.values = sheet.rows
        if sheet.merged:
            values = list(sheet.rows)
            copied: set[int] = set()
            for r0, c0, r1, c1 in sheet.merged:
                if (r1 - r0 + 1) * (c1 - c0 + 1) > 10_000:
                    continue  # decoration (as ``Sheet.value``)
                top_left = sheet.raw(r0, c0)
                for r in range(r0, min(r1 + 1, self.height)):
                    if r not in copied:
                        values[r] = list(values[r])
                        copied.add(r)
                    row = values[r]
                    if len(row) <= c1:
                        row.extend([None] * (c1 + 1 - len(row)))
                    row[c0 : c1 + 1] = [top_left] * (c1 + 1 - c0)
            self.values = values

    def value(self, r: int, c: int) -> Any:
        row = self.values[r]
        return row[c] if c < len(row) else None

    def cell(self, r: int, c: int | None) -> Cell | None:
        if c is None:
            return None
        row = self.values[r]
        return Cell(row[c] if c < len(row) else None, self.name, cell_ref(r, c))


def read_audit_workbook(wb: Workbook, labels: Labels, file: str) -> RawReturn:
    """Find everything in a returned workbook by label and header (no tool needed yet)."""
    raw = RawReturn(file=file)
    hidden = wb.sheet(HIDDEN_SHEET)
    if hidden is not None and not hidden.visible:
        for row in hidden.rows:
            if row and row[0] is not None:
                raw.hidden[normalise(text_of(row[0]))] = text_of(row[1] if len(row) > 1 else None)
    sheets = [s for s in wb.sheets if s.visible or normalise(s.name) != HIDDEN_SHEET]
    sheets = [s for s in sheets if s.visible] or sheets
    parts = [_SheetRead.of(sheet, labels, file) for sheet in sheets]
    forms = _one_copy_of_the_form([p for p in parts if p.found.table_found], raw)
    others = [p for p in parts if not p.found.table_found]
    # The form's own sheet first: an auditor's notes sheet in front of it must not answer
    # for it (trial2 T2-13); other sheets only answer what the form leaves blank.
    for part in (*forms, *others):
        _take_tables(raw, part.found)
    for part in forms:
        _read_labels(part.grid, part.texts, raw, labels, part.taken)
    form_sheet = forms[0].grid.name if forms else None
    for part in others:
        _read_labels(part.grid, part.texts, raw, labels, part.taken, form_sheet)
    return raw


@dataclass
class _SheetRead:
    """One sheet's grid and row texts, and the tables found on it (before labels)."""

    grid: Grid
    texts: list[RowTexts]
    found: RawReturn
    taken: set[int]

    @classmethod
    def of(cls, sheet: Sheet, labels: Labels, file: str) -> _SheetRead:
        grid = Grid(sheet)
        texts = [_row_texts(row) for row in sheet.rows]
        found = RawReturn(file=file)
        taken = _read_tables(grid, texts, found, labels)
        return cls(grid, texts, found, taken)

    def domain_keys(self) -> set[str]:
        return {key_of(row.id_text) or key_of(row.criteria) for row in self.found.rows}

    def filled(self) -> bool:
        return any(not row.grade.blank for row in self.found.rows)


def _take_tables(raw: RawReturn, found: RawReturn) -> None:
    raw.table_found = raw.table_found or found.table_found
    raw.rows.extend(found.rows)
    raw.actions.extend(found.actions)
    for kind in ("overall", "overall_before", "overall_rationale"):
        if getattr(raw, kind) is None:
            setattr(raw, kind, getattr(found, kind))


def _is_copy(a: _SheetRead, b: _SheetRead) -> bool:
    """Two sheets holding the same domain table: a copy of the form (not a Part A / Part B)."""
    ka, kb = a.domain_keys(), b.domain_keys()
    return bool(ka and kb) and len(ka & kb) * 2 >= min(len(ka), len(kb))


def _one_copy_of_the_form(forms: list[_SheetRead], raw: RawReturn) -> list[_SheetRead]:
    """Rule I4: of two copies of the form (the auditor copied the sheet and filled the
    copy), the one filled in is read; two filled copies are refused, naming both."""
    kept: list[_SheetRead] = []
    for part in forms:
        twin = next((k for k in kept if _is_copy(k, part)), None)
        if twin is None:
            kept.append(part)
            continue
        names = f'"{twin.grid.name}" and "{part.grid.name}"'
        if twin.filled() and part.filled():
            raw.problems.append(
                Problem(
                    "I4",
                    f"the workbook holds two filled copies of the form (sheets {names}): "
                    "delete the one that is not the final answer and send it again",
                    "error",
                    raw.file,
                    part.grid.name,
                )
            )
            continue
        if part.filled():
            kept[kept.index(twin)] = part
            twin, part = part, twin
        raw.problems.append(
            Problem(
                "I4",
                f'the workbook holds two copies of the form (sheets {names}): "{twin.grid.name}" '
                f'was read, the one filled in; "{part.grid.name}" was left out (delete it)',
                "warning",
                raw.file,
                twin.grid.name,
            )
        )
    return kept


@functools.lru_cache(maxsize=1 << 14)
def _header_kind(text: str) -> str | None:
    if len(text) > HEADER_MAX:
        return None
    k = key_of(text)
    full = norm(text)
    if k in H_BEFORE or full in H_BEFORE:
        return "before"
    if k in H_GRADE or full in H_GRADE:
        return "grade"
    if k in H_RATIONALE or full in H_RATIONALE:
        return "rationale"
    if k in H_CRITERIA or full in H_CRITERIA:
        return "criteria"
    if k in H_ID or full in H_ID:
        return "id"
    return None


@functools.lru_cache(maxsize=1 << 14)
def _action_kind(text: str) -> str | None:
    if len(text) > HEADER_MAX:
        return None
    k = key_of(text)
    if k in H_ACTION:
        return "action"
    if k in H_OWNER:
        return "owner"
    if k in H_DUE:
        return "due"
    return None


RowTexts = list[tuple[int, str]]  # (column, text) of a row's non-blank text cells


def _row_texts(row: list[Any]) -> RowTexts:
    return [(c, v) for c, v in enumerate(row) if type(v) is str and v.strip()]


def _short_texts(texts: RowTexts) -> RowTexts:
    """The texts that may be headers: long ones are rationales (and would churn the caches)."""
    return [(c, v) for c, v in texts if len(v) <= HEADER_MAX]


def _row_is_blank(row: list[Any], texts: RowTexts) -> bool:
    if texts:
        return False
    return all(v is None or type(v) is str or is_blank(v) for v in row)


def _is_header_row(texts: RowTexts) -> bool:
    """A domain table's header (grade and another column) or the actions table's."""
    kinds: set[str] = set()
    akinds: set[str] = set()
    for _, v in _short_texts(texts):
        kind = _header_kind(v)
        if kind:
            kinds.add(kind)
        akind = _action_kind(v)
        if akind:
            akinds.add(akind)
    return ("grade" in kinds and len(kinds) >= 2) or ("action" in akinds and len(akinds) >= 2)


def _read_tables(sheet: Grid, texts: list[RowTexts], raw: RawReturn, labels: Labels) -> set[int]:
    """Domain tables (by their header row) and the actions table; returns the rows used."""
    taken: set[int] = set()
    r = 0
    n = sheet.height
    while r < n:
        short = _short_texts(texts[r])
        if not short:
            r += 1
            continue
        cols: dict[str, int] = {}
        for c, v in short:
            kind = _header_kind(v)
            if kind and kind not in cols:
                cols[kind] = c
        if "grade" in cols and ("criteria" in cols or "rationale" in cols or "id" in cols):
            raw.table_found = True
            taken.add(r)
            r = _read_domain_rows(sheet, texts, r, cols, raw, taken, labels)
            continue
        acols: dict[str, int] = {}
        for c, v in short:
            kind = _action_kind(v)
            if kind and kind not in acols:
                acols[kind] = c
        if "action" in acols and ("owner" in acols or "due" in acols):
            taken.add(r)
            r = _read_action_rows(sheet, texts, r, acols, raw, taken)
            continue
        r += 1
    return taken


def _read_domain_rows(
    sheet: Grid,
    texts: list[RowTexts],
    header: int,
    cols: dict[str, int],
    raw: RawReturn,
    taken: set[int],
    labels: Labels,
) -> int:
    label_cols = [cols[k] for k in ("id", "criteria") if k in cols]
    if not label_cols:  # no ID / criteria header: the label is left of the grade column
        label_cols = list(range(0, cols["grade"]))
    leftmost = min([*label_cols, cols["grade"]])
    id_col = cols.get("id")
    criteria_col = cols.get("criteria")
    value = sheet.value
    blanks = 0
    r = header + 1
    while r < sheet.height:
        row_texts = texts[r]
        if _row_is_blank(sheet.rows[r], row_texts):
            blanks += 1
            if blanks >= 5:
                break
            r += 1
            continue
        blanks = 0
        id_text = text_of(value(r, id_col)) if id_col is not None else ""
        criteria = text_of(value(r, criteria_col)) if criteria_col is not None else ""
        if id_col is None and criteria_col is None:
            parts = [text_of(value(r, c)) for c in label_cols]
            criteria = next((p for p in parts if p), "")
        # another header row (a second section of the table, or the actions table) ends it
        if _is_header_row(row_texts):
            break
        if key_of(id_text) in OVERALL_ROW or key_of(criteria) in OVERALL_ROW:
            # an "Overall" row inside the table (councils' own templates)
            grade = sheet.cell(r, cols["grade"])
            if grade is not None and not grade.blank and raw.overall is None:
                raw.overall = grade
                if "before" in cols:
                    raw.overall_before = sheet.cell(r, cols["before"])
                if "rationale" in cols:
                    raw.overall_rationale = sheet.cell(r, cols["rationale"])
                taken.add(r)
                r += 1
                continue
            break  # "Overall grade" as a label below the table: read by label
        first_text = row_texts[0][1] if row_texts else ""
        if first_text and labels.find(first_text) is not None:
            break  # a labelled row below the table ("Overall grade"): the table has ended
        if not id_text and not criteria:
            # a row with text only in other columns: the end of the table
            if row_texts and row_texts[0][0] < leftmost:
                break
            r += 1
            continue
        grade_cell = sheet.cell(r, cols["grade"])
        assert grade_cell is not None
        raw.rows.append(
            TableRow(
                id_text,
                criteria,
                grade_cell,
                sheet.cell(r, cols.get("before")),
                sheet.cell(r, cols.get("rationale")),
                f"sheet {sheet.name}, row {r + 1}",
            )
        )
        taken.add(r)
        r += 1
    return r


def _read_action_rows(
    sheet: Grid,
    texts: list[RowTexts],
    header: int,
    cols: dict[str, int],
    raw: RawReturn,
    taken: set[int],
) -> int:
    used = [cols[k] for k in ("action", "owner", "due") if k in cols]
    blanks = 0
    r = header + 1
    while r < sheet.height:
        if all(is_blank(sheet.value(r, c)) for c in used):
            if not _row_is_blank(sheet.rows[r], texts[r]):
                break  # something else follows the table
            blanks += 1
            if blanks >= 10:
                break
            r += 1
            continue
        blanks = 0
        action = sheet.cell(r, cols.get("action")) or BLANK
        owner = sheet.cell(r, cols.get("owner")) or BLANK
        due = sheet.cell(r, cols.get("due")) or BLANK
        raw.actions.append(RawAction(action, owner, due))
        taken.add(r)
        r += 1
    return r


def _read_labels(
    sheet: Grid,
    texts: list[RowTexts],
    raw: RawReturn,
    labels: Labels,
    taken: set[int],
    form_sheet: str | None = None,
) -> None:
    """Labelled answers; on a sheet other than the form (``form_sheet``), only those the
    form left blank are taken, and a different answer is reported (rule I4)."""
    for r, row_texts in enumerate(texts):
        if r in taken:
            continue
        for c, v in row_texts:
            if c >= FIRST_COLS:
                break
            hit = labels.find(v)
            if hit is None:
                continue
            kind, name = hit
            value = _value_right_of(sheet, r, c)
            if form_sheet is not None:
                _report_other_answer(raw, kind, name, v, value, form_sheet)
            _put(raw, kind, name, value)
            break  # one label per row


def _answered(raw: RawReturn, kind: str, name: str) -> Cell | None:
    if kind in ("field", "compliance", "feedback"):
        got: Cell | None = getattr(raw, "fields" if kind == "field" else kind).get(name)
        return got
    current: Cell | None = getattr(raw, kind)
    return current


def _report_other_answer(
    raw: RawReturn, kind: str, name: str, label: str, value: Cell, form_sheet: str
) -> None:
    answered = _answered(raw, kind, name)
    if answered is None or answered.blank or value.blank or answered.text == value.text:
        return
    raw.problems.append(
        Problem(
            "I4",
            f'"{_short(label.strip())}" is answered differently on the form (sheet '
            f"{form_sheet}, cell {answered.cell}): the form's answer is used",
            "warning",
            raw.file,
            value.sheet,
            value.cell,
        )
    )


def _value_right_of(sheet: Grid, r: int, c: int) -> Cell:
    """The first non-empty cell right of the label (after its merged range)."""
    start = sheet.sheet.merge_end_col(r, c) + 1
    values = sheet.values[r]
    for cc in range(start, min(len(sheet.rows[r]), start + VALUE_REACH, len(values))):
        v = values[cc]
        if v is not None and not is_blank(v):
            return Cell(v, sheet.name, cell_ref(r, cc))
    return Cell(None, sheet.name, cell_ref(r, start))


def _put(raw: RawReturn, kind: str, name: str, value: Cell) -> None:
    if kind == "field":
        old = raw.fields.get(name)
        if old is None or (old.blank and not value.blank):
            raw.fields[name] = value
    elif kind == "compliance":
        raw.compliance.setdefault(name, value)
    elif kind == "feedback":
        raw.feedback.setdefault(name, value)
    else:
        current = getattr(raw, kind)
        if current is None or (current.blank and not value.blank):
            setattr(raw, kind, value)


# ------------------------------------------------------------------ validation


@dataclass(frozen=True)
class DomainGrade:
    domain_id: str
    grade: str | None
    grade_before: str | None
    na: bool
    rationale: str


@dataclass(frozen=True)
class Return:
    """A validated return, ready to store."""

    audit_id: str | None  # the allocation's audit ID (None when unallocated)
    given_audit_id: str
    case_id: str
    cycle: str | None
    tool: str
    type: Literal["audit", "reaudit", "moderation"]
    auditor: str
    auditor_role: str
    team: str
    service: str
    category: str
    worker: str
    audit_date: date | None
    received_on: date
    due: date | None
    overall: str | None
    overall_before: str | None
    overall_rationale: str
    summary: str
    safety_concern: bool
    safety_note: str
    reaudit_round: int
    reaudit_of: str | None
    unallocated: bool
    source_ref: str
    grades: tuple[DomainGrade, ...]
    fields: tuple[tuple[str, str, str], ...]  # (section, name, value)
    actions: tuple[ActionItem, ...]


@dataclass
class _Collector:
    file: str
    problems: list[Problem]

    def add(
        self, rule: str, message: str, cell: Cell | None = None, level: Level = "error"
    ) -> None:
        self.problems.append(
            Problem(
                rule,
                message,
                level,
                self.file,
                cell.sheet if cell else None,
                cell.cell if cell else None,
            )
        )


def choose_tool(raw: RawReturn, alloc: Allocation | None, tools: Mapping[str, Tool]) -> Tool:
    """The tool of a return: hidden sheet, else the allocation's, else the best domain match."""
    tid = raw.hidden.get("tool")
    if tid and tid in tools:
        return tools[tid]
    if alloc is not None and alloc.tool in tools:
        return tools[alloc.tool]
    best: tuple[int, Tool] | None = None
    for tool in tools.values():
        score = sum(1 for row in raw.rows if _domain_of(tool, row) is not None)
        if score and (best is None or score > best[0]):
            best = (score, tool)
    if best is not None:
        return best[1]
    return next(iter(tools.values()))


@dataclass(frozen=True)
class _ToolMaps:
    """What validating a return of one tool looks up, built once per tool, not per return."""

    index: dict[str, str]  # normalised domain ID, title and aliases -> domain ID
    labels: dict[str, str]  # domain ID -> how messages name it


# id(tool) -> (tool, maps); the tool is kept so that a reused id is never mistaken for it
_TOOL_MAPS: dict[int, tuple[Tool, _ToolMaps]] = {}
_KEPT_PER_PROCESS = 64  # tools (and scales) remembered before starting afresh


def _tool_maps(tool: Tool) -> _ToolMaps:
    got = _TOOL_MAPS.get(id(tool))
    if got is not None and got[0] is tool:
        return got[1]
    index: dict[str, str] = {}
    for d in tool.domains:
        for text in (d.id, d.title, *d.aliases):
            index.setdefault(norm(text), d.id)
    labels = {d.id: f'domain {d.id} "{_short(d.title)}"' for d in tool.domains}
    maps = _ToolMaps(index, labels)
    if len(_TOOL_MAPS) >= _KEPT_PER_PROCESS:  # a long-lived process loading many configs
        _TOOL_MAPS.clear()
    _TOOL_MAPS[id(tool)] = (tool, maps)
    return maps


def _domain_index(tool: Tool) -> dict[str, str]:
    """Normalised domain ID, title and aliases -> domain ID, built once per tool."""
    return _tool_maps(tool).index


def _domain_of(tool: Tool, row: TableRow) -> str | None:
    index = _domain_index(tool)
    for text in (row.id_text, row.criteria):
        if not text:
            continue
        k = norm(text)
        did = index.get(k)
        if did is None:
            stripped = _NUMBERING.sub("", k)
            if stripped and stripped != k:
                did = index.get(stripped)
        if did is None and len(k) > 12:
            for dom in tool.domains:
                t = norm(dom.title)
                if len(t) > 12 and (k.startswith(t) or t.startswith(k)):
                    did = dom.id
                    break
        if did is not None:
            return did
    return None


def same_id(typed: str, expected: str) -> bool:
    """A case ID as typed is the expected one, whatever its case and spaces ("p 295634")."""
    return "".join(typed.split()).casefold() == "".join(expected.split()).casefold()


def _looks_like_words(text: str) -> bool:
    """Text with spaces inside is not a case ID but perhaps a child's name, which no
    message, report or register row may carry (issue 7 item 8, rule P3)."""
    return any(ch.isspace() for ch in text.strip())


def _quoted_id(text: str) -> str:
    """A typed case ID, quoted for a message, unless it may be a name."""
    if _looks_like_words(text):
        return "(the cell holds words, not an ID: is it a name?)"
    return f'"{text}"'


def _shown_id(text: str | None) -> str | None:
    return None if not text or _looks_like_words(text) else text


def build_return(
    raw: RawReturn,
    tool: Tool,
    alloc: Allocation | None,
    *,
    as_of: date,
    unallocated_ok: bool,
) -> tuple[Return | None, list[Problem]]:
    """Validate a raw return against its tool and allocation (G1-G5, E3, I2-I4).

    Returns the validated return (None when there are errors) and every problem found.
    """
    col = _Collector(raw.file, list(raw.problems))
    scale = tool.scale

    # ---- identity (I2)
    case_cell = raw.fields.get("Case ID")
    case_id = raw.case_id
    auditor = raw.auditor
    if alloc is not None:
        picked_by_service = alloc.picked_by == "service"  # GAPS 13: the return names the case
        if picked_by_service and not case_id:
            col.add(
                "I2",
                f"no case ID: the service picks the case of {alloc.audit_id}, so the return "
                'must give it (label "Case ID")',
                case_cell,
            )
        elif picked_by_service and _looks_like_words(case_id):
            col.add("I2", "the case ID cell holds words, not an ID: is it a name?", case_cell)
        elif not picked_by_service and case_id and not same_id(case_id, alloc.case_id):
            col.add(
                "I2",
                f"case ID {_quoted_id(case_id)} does not match the allocation "
                f'{alloc.audit_id} (case "{alloc.case_id}")',
                case_cell,
            )
        if auditor and normalise(auditor) != normalise(alloc.auditor):
            col.add(
                "I2",
                f'auditor "{auditor}" is not the allocated auditor "{alloc.auditor}" '
                f"of {alloc.audit_id}",
                raw.fields.get("Auditor"),
                "warning",
            )
        case_id = case_id if picked_by_service else alloc.case_id
    else:
        if not case_id:
            col.add("I2", 'no case ID found (label "Case ID" or an alias)', case_cell)
        elif _looks_like_words(case_id):
            col.add("I2", "the case ID cell holds words, not an ID: is it a name?", case_cell)
        what = f'audit ID "{raw.audit_id}"' if raw.audit_id else f"case {_quoted_id(case_id)}"
        by = f' by "{auditor}"' if auditor else ""
        if unallocated_ok:
            col.add(
                "I2",
                f"no allocation matches {what}{by}: stored as unallocated (--unallocated)",
                raw.fields.get("Audit ID") or case_cell,
                "warning",
            )
        else:
            col.add(
                "I2",
                f"no allocation matches {what}{by}; check the IDs, or ingest with "
                "--unallocated to accept it as an unallocated audit",
                raw.fields.get("Audit ID") or case_cell,
            )

    # ---- domain table (I4, G1-G4)
    if not raw.table_found and not raw.domain_cells:
        col.add(
            "I4",
            'no domain table found (a header row with "Grade" and "Criteria" or "Rationale")',
        )
    found: dict[str, tuple[Cell, Cell | None, Cell | None]] = dict(raw.domain_cells)
    maps = _tool_maps(tool)
    for row in raw.rows:
        # most rows carry the domain's own ID: the rest are matched the long way
        did = maps.index.get(norm(row.id_text)) if row.id_text else None
        if did is None:
            did = _domain_of(tool, row)
        if did is None:
            if not row.grade.blank:
                col.add(
                    "I4",
                    f'"{row.criteria or row.id_text}" ({row.where}) is not a domain of '
                    f'"{tool.name}"; its grade was ignored',
                    row.grade,
                    "warning",
                )
            continue
        if did in found:
            col.add("I4", f"domain {did} appears twice; the first was used", row.grade, "warning")
            continue
        found[did] = (row.grade, row.before, row.rationale)

    grades: list[DomainGrade] = []
    graded: list[str] = []
    labels = maps.labels
    read = _grades_read(scale)
    for dom in tool.domains:
        if dom.id not in found:
            if raw.table_found or raw.domain_cells:
                col.add("I4", f'domain {dom.id} "{dom.title}" is missing from the table')
            continue
        gcell, bcell, rcell = found[dom.id]
        label = labels[dom.id]
        before = (
            _parse_grade(scale, bcell, label + " (before discussion)", col, read)
            if (tool.before_after and bcell is not None)
            else None
        )
        na = False
        grade: str | None = None
        if gcell.blank:
            if before is not None and before != "N/A":
                grade = before
                col.add(
                    "G4",
                    f"{label} has no grade after discussion: the grade before discussion "
                    f'"{before}" is taken as final',
                    gcell,
                    "warning",
                )
            elif dom.na_allowed:
                na = True
                col.add("G2", f"{label} was left blank: taken as N/A", gcell, "warning")
            else:
                col.add("G2", f"{label} has no grade", gcell)
        elif _is_na(gcell.value):
            if dom.na_allowed:
                na = True
            else:
                col.add("G2", f"{label} may not be N/A for this tool: give a grade", gcell)
        else:
            grade = _parse_grade(scale, gcell, label, col, read)
        if before == "N/A":
            before = None
        rationale = rcell.text if rcell is not None else ""
        if grade is not None and tool.rationale_required and not rationale:
            col.add("G3", f"{label} is graded {grade} but has no rationale", rcell or gcell)
        if grade is not None:
            graded.append(grade)
        grades.append(DomainGrade(dom.id, grade, before, na, rationale))

    # ---- overall (G2-G5)
    overall: str | None = None
    overall_before: str | None = None
    if tool.overall:
        oc = raw.overall
        if oc is None or oc.blank:
            col.add("G2", 'no overall grade (label "Overall grade")', oc)
        else:
            overall = _parse_grade(scale, oc, "the overall grade", col)
        if tool.before_after and raw.overall_before is not None and not raw.overall_before.blank:
            overall_before = _parse_grade(
                scale, raw.overall_before, "the overall grade before discussion", col
            )
        if overall is None and overall_before is not None and oc is not None and oc.blank:
            pass  # reported above as G2
        orat = raw.overall_rationale
        if overall is not None and tool.rationale_required and (orat is None or orat.blank):
            col.add(
                "G3",
                'the overall grade has no rationale (label "Rationale for overall grade")',
                orat or oc,
            )
        if overall is not None:
            why = overall_consistency(tool, overall, graded)
            if why:
                level: Level = "error" if tool.overall_rule_level == "error" else "warning"
                col.add("G5", why, oc, level)

    # ---- dates (I3)
    date_cell = raw.fields.get("Date of audit")
    audit_date = _parse_day(date_cell, "the date of audit", col, near=as_of)
    if date_cell is None or date_cell.blank:
        col.add("I3", 'no date of audit (label "Date of audit")', date_cell)
    cycle = alloc.cycle if alloc else (cycle_of(audit_date) if audit_date else None)
    if audit_date is not None:
        if audit_date > as_of:
            col.add(
                "I3",
                f"the date of audit {audit_date:%d/%m/%Y} is after today "
                f"({as_of:%d/%m/%Y}); check the date (or --as-of)",
                date_cell,
            )
        if alloc is not None:
            start = _cycle_start(alloc.cycle)
            if audit_date < start:
                col.add(
                    "I3",
                    f"the date of audit {audit_date:%d/%m/%Y} is before cycle {alloc.cycle} "
                    f"began ({start:%d/%m/%Y})",
                    date_cell,
                )

    # ---- safety (E3)
    concern = False
    note = raw.safety_note.text if raw.safety_note else ""
    if tool.safety_question:
        sc = raw.safety
        if sc is None or sc.blank:
            if note:
                concern = True
                col.add(
                    "E3",
                    f'"{tool.safety_question}" is not answered but a concern is described: '
                    "treated as a safety concern",
                    sc,
                    "warning",
                )
            else:
                col.add("E3", f'"{tool.safety_question}" is not answered', sc, "warning")
        else:
            try:
                concern = YES_NO.parse(sc.value) == "No"
            except GradeError:
                col.add(
                    "E3",
                    f'"{sc.text}" is not an answer to "{tool.safety_question}" '
                    "(expected Yes or No)",
                    sc,
                )

    # ---- actions (T3, T5)
    actions: list[ActionItem] = []
    for a in raw.actions:
        if a.action.blank:
            col.add("T5", "an action row has an owner or date but no action", a.owner, "warning")
            continue
        due = _parse_day(a.due, "the action's date", col, rule="I3", near=audit_date or as_of)
        if a.owner.blank:
            col.add("T3", f'action "{_short(a.action.text)}" has no owner', a.owner, "warning")
        if due is not None and audit_date is not None and due < audit_date:
            col.add(
                "T5",
                f'action "{_short(a.action.text)}" is due {due:%d/%m/%Y}, before the audit',
                a.due,
                "warning",
            )
        actions.append(ActionItem(a.action.text, a.owner.text, due))

    if has_errors(col.problems):
        return None, col.problems

    values: list[tuple[str, str, str]] = []
    for name, c in raw.fields.items():
        if not c.blank:
            values.append(("field", name, c.text))
    if raw.comments is not None and not raw.comments.blank:
        values.append(("field", "Social worker's comments", raw.comments.text))
    for name, c in raw.compliance.items():
        if not c.blank:
            values.append(("compliance", name, c.text))
    for name, c in raw.feedback.items():
        if not c.blank:
            values.append(("feedback", name, c.text))

    ret = Return(
        audit_id=alloc.audit_id if alloc else None,
        given_audit_id=raw.audit_id,
        case_id=case_id,
        cycle=cycle,
        tool=tool.id,
        type=alloc.type if alloc else "audit",
        auditor=alloc.auditor if alloc else auditor,
        auditor_role=alloc.auditor_role if alloc else raw.field_text("Auditor role"),
        team=alloc.team if alloc else raw.field_text("Team"),
        service=alloc.service if alloc else raw.field_text("Service Area"),
        category=alloc.category if alloc else raw.field_text("Category"),
        worker=alloc.worker if alloc else raw.field_text("Social Worker"),
        audit_date=audit_date,
        received_on=min(raw.received_on, as_of) if raw.received_on else as_of,
        due=alloc.due if alloc else None,
        overall=overall,
        overall_before=overall_before,
        overall_rationale=raw.overall_rationale.text if raw.overall_rationale else "",
        summary=raw.summary.text if raw.summary else "",
        safety_concern=concern,
        safety_note=note,
        reaudit_round=alloc.reaudit_round if alloc else 0,
        reaudit_of=alloc.reaudit_of if alloc else None,
        unallocated=alloc is None,
        source_ref=raw.ref,
        grades=tuple(grades),
        fields=tuple(dict.fromkeys(values)),
        actions=tuple(actions),
    )
    return ret, col.problems


@functools.lru_cache(maxsize=256)
def _cycle_start(cycle: str) -> date:
    """The first day of a cycle: asked for every return, of a few cycles."""
    return cycle_start_end(cycle)[0]


def _short(text: str, n: int = 50) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# id(scale) -> (scale, {(type, cell value): "N/A" or the level it reads as}): the same few
# grade spellings recur in every return; a value that is not a grade is never remembered
_GRADES_READ: dict[int, tuple[Scale, dict[tuple[type, Any], str]]] = {}
_GRADES_KEPT = 4096  # distinct values remembered per scale


def _grades_read(scale: Scale) -> dict[tuple[type, Any], str]:
    got = _GRADES_READ.get(id(scale))
    if got is None or got[0] is not scale:
        if len(_GRADES_READ) >= _KEPT_PER_PROCESS:
            _GRADES_READ.clear()
        got = (scale, {})
        _GRADES_READ[id(scale)] = got
    return got[1]


_NA_READ: dict[tuple[type, Any], bool] = {}  # (type, cell value) -> is it N/A (rule G2)


def _is_na(value: Any) -> bool:
    """``is_not_applicable``, remembered per value: asked for every grade cell."""
    try:
        key = (type(value), value)
        known = _NA_READ.get(key)
    except TypeError:  # an unhashable value
        return is_not_applicable(value)
    if known is None:
        known = is_not_applicable(value)
        if len(_NA_READ) < _GRADES_KEPT:
            _NA_READ[key] = known
    return known


def _parse_grade(
    scale: Scale,
    cell: Cell | None,
    what: str,
    col: _Collector,
    read: dict[tuple[type, Any], str] | None = None,
) -> str | None:
    """The level of a grade cell, "N/A", or None (blank, or not a grade: G1 collected).
    ``read``: the scale's remembered values (``_grades_read``), when the caller has them."""
    if cell is None or cell.blank:
        return None
    value = cell.value
    if read is None:
        read = _grades_read(scale)
    try:
        key: tuple[type, Any] | None = (type(value), value)
        known = read.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable value: read it the long way
        key, known = None, None
    if known is not None:
        return known
    if is_not_applicable(value):
        level = "N/A"
    else:
        try:
            level = scale.parse(value.strip() if isinstance(value, str) else value)
        except GradeError as e:
            col.add("G1", f"{what}: {e}", cell)
            return None
    if key is not None and len(read) < _GRADES_KEPT:
        read[key] = level
    return level


def _parse_day(
    cell: Cell | None, what: str, col: _Collector, rule: str = "I3", near: date | None = None
) -> date | None:
    """The date in ``cell``; a day and month typed without a year ("3rd Oct") takes the
    year that puts it nearest ``near``, with a warning saying so (trial2 T2-16)."""
    if cell is None or cell.blank:
        return None
    if any(p.rule == rule and p.cell == cell.cell and p.sheet == cell.sheet for p in col.problems):
        return None  # the reader already said why this date cannot be read (SurveyMonkey)
    try:
        return parse_date(cell.value)
    except ValueError as e:
        why = str(e)
    if near is not None:
        try:
            day = year_less_date(cell.value, near)
        except ValueError as e:
            why = str(e)
        else:
            if day is not None:
                col.add(rule, f"{what} has no year: read as {day:%d/%m/%Y}", cell, "warning")
                return day
    col.add(rule, f"{what}: {why}", cell)
    return None


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class FileResult:
    """One line of the ingest report: a workbook, or one response of a SurveyMonkey export."""

    path: str
    sha256: str
    status: Status
    audit_id: str | None = None
    case_id: str | None = None
    overall: str | None = None
    problems: tuple[Problem, ...] = ()
    ref: str | None = None  # SurveyMonkey: "response <Respondent ID>"
    return_id: int | None = None
    safety: SafetyNotice | None = None  # rule E3, also for a rejected return
    alerts: tuple[str, ...] = ()  # one line per alert raised (E1, E2 ...)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (README: ingest --format json)."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "status": self.status,
            "audit_id": self.audit_id,
            "case_id": self.case_id,
            "overall": self.overall,
            "ref": self.ref,
            "problems": [p.as_json() for p in self.problems],
        }


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    dry_run: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def counts(self) -> dict[str, int]:
        c = {"accepted": 0, "rejected": 0, "already-ingested": 0, "superseded": 0, "warnings": 0}
        for f in self.files:
            c[f.status] += 1
        c["warnings"] = sum(1 for _, p in self.listed_problems() if p.level == "warning")
        return c

    def listed_problems(self) -> list[tuple[FileResult, Problem]]:
        """The problems shown to the user: a file-level I5 note (already ingested, superseded:
        what the status says) only on a rejected file; two returns of one audit in this run
        always (which one was kept)."""
        return [
            (f, p)
            for f in self.files
            for p in f.problems
            if p.rule != "I5" or f.status == "rejected" or is_same_run_warning(p)
        ]

    def safety_notices(self) -> list[SafetyNotice]:
        """Rule E3: every safety concern of the run, stored with its return or not."""
        return [f.safety for f in self.files if f.safety is not None]

    @property
    def rejected(self) -> bool:
        return any(f.status == "rejected" for f in self.files)

    def as_json(self) -> dict[str, Any]:
        return {
            "safety": [n.as_json() for n in self.safety_notices()],
            "alerts": [
                {"path": f.path, "audit_id": f.audit_id, "case_id": f.case_id, "message": line}
                for f in self.files
                for line in f.alerts
            ],
            "skipped": [{"path": path, "reason": why} for path, why in self.skipped],
            "files": [f.as_json() for f in self.files],
        }


# ------------------------------------------------------------------ storing


@dataclass(frozen=True)
class Consequences:
    alerts: tuple[Alert, ...] = ()
    followups: tuple[FollowUp, ...] = ()


def consequences(
    facts: ReturnFacts, roster: Roster, cfg: Config, calendar: WorkingCalendar
) -> Consequences:
    """Contract B: alerts and follow-ups of a stored return, from ``qaf.escalate``.

    Kept behind this function so ingest works (storing no consequences) on a tree
    where escalate is not there yet.
    """
    escalate = _escalate()
    if escalate is None:
        return Consequences()
    c = escalate.consequences_of_return(facts, roster, cfg, calendar)
    return Consequences(tuple(c.alerts), tuple(c.followups))


@functools.cache
def _escalate() -> Any:
    """``qaf.escalate``, or None; looked up once per process, not once per return."""
    try:
        return importlib.import_module("qaf.escalate")
    except ModuleNotFoundError:
        return None


ConsequencesFn = Callable[[ReturnFacts, "Roster", "Config", "WorkingCalendar"], Consequences]


@dataclass
class ReadFile:
    """One file as read, before the register is consulted: its hash and raw returns.

    ``sha`` is "" when the bytes could not be read at all; ``error`` is why the
    file is unreadable (rule I1); ``skipped`` when it was known to be ingested already;
    ``checked`` when the register was asked (not ingested then), so it need not be asked again.
    """

    path: Path
    sha: str = ""
    kind: str = ""
    raws: list[RawReturn] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False
    checked: bool = False
    built: list[Built | None] | None = None  # validated by a reader process: see Prebuild
    saved_at: float | None = None  # the workbook's last-saved time (qaf.resubmissions)


Built = tuple[Allocation, str, "Return | None", list[Problem]]  # allocation, tool, validated


@dataclass(frozen=True)
class Prebuild:
    """What a reader process needs to validate returns too (``build_return``), so the
    process that stores them does not: the allocations returns now refer to (a copy made
    before the readers fork: they never touch the register), the date and the flag.

    Only a shortcut: the storing process matches each return to its allocation in the
    register as always, and reads and validates the file again itself unless it is the
    very allocation used here.
    """

    allocations: Mapping[str, Allocation]
    as_of: date
    unallocated_ok: bool


@dataclass(frozen=True)
class FileReader:
    """Reads one file into raw returns: everything of ingest that needs no register."""

    limits: Limits
    tools: Mapping[str, Tool]
    labels: Labels
    prebuild: Prebuild | None = None

    def read(self, path: Path, ingested: Callable[[str], bool] | None = None) -> ReadFile:
        """Bytes, hash, then (unless ``ingested(sha)``) the safety checks and the parse."""
        try:
            data = read_bytes(path, self.limits)
        except UnreadableFile as e:
            return ReadFile(path, error=e.reason)
        sha = hashlib.sha256(data).hexdigest()
        if ingested is not None and ingested(sha):
            return ReadFile(path, sha, skipped=True)
        checked = ingested is not None
        try:
            raws, kind, saved_at = self._parse(path, data)
        except UnreadableFile as e:
            return ReadFile(path, sha, error=e.reason, checked=checked)
        if self.prebuild is None:
            return ReadFile(path, sha, kind, raws, checked=checked, saved_at=saved_at)
        built = self._prebuilt(raws)
        raws = [raw if b is None else raw.for_storing() for raw, b in zip(raws, built, strict=True)]
        return ReadFile(path, sha, kind, raws, checked=checked, built=built, saved_at=saved_at)

    def _prebuilt(self, raws: list[RawReturn]) -> list[Built | None]:
        assert self.prebuild is not None
        known = self.prebuild.allocations
        out: list[Built | None] = []
        for raw in raws:
            alloc = known.get(raw.audit_id) if raw.audit_id else None
            if alloc is None:
                out.append(None)
                continue
            tool = choose_tool(raw, alloc, self.tools)
            ret, problems = build_return(
                raw,
                tool,
                alloc,
                as_of=self.prebuild.as_of,
                unallocated_ok=self.prebuild.unallocated_ok,
            )
            out.append((alloc, tool.id, ret, problems))
        return out

    def _parse(self, path: Path, data: bytes) -> tuple[list[RawReturn], str, float | None]:
        """The file's raw returns, its kind and when it was last saved (a workbook's own time)."""
        from qaf import surveymonkey

        name = str(path)
        if path.suffix.lower() in (".csv", ".txt"):
            return surveymonkey.read_export_csv(data, name, self.tools), "surveymonkey", None
        wb = read_workbook(path, self.limits, data)
        if surveymonkey.looks_like_export(wb):
            raws = surveymonkey.read_export_workbook(wb, name, self.tools)
            return raws, "surveymonkey", wb.saved_at
        return [read_audit_workbook(wb, self.labels, name)], "workbook", wb.saved_at


PARALLEL_FROM = 48  # files; fewer are read in this process (starting workers costs more)
CHUNK = 8  # files a worker reads per request
AHEAD = 3  # requests queued per worker: bounds the returns held in memory


def _worker_count(files: int) -> int:
    """Reader processes for ``files`` files: one per idle core, or 1 (read in this process).

    Workers add CPU (each file's returns are pickled across), so they only pay on cores
    nobody else is using: on a busy shared server ingest stays in one process.
    """
    if files < PARALLEL_FROM:
        return 1
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    from qaf.cores import idle_cores, usable_cores

    cores = usable_cores()
    return max(1, min(int(idle_cores(cores) + 0.25), cores, 8))


def _worker(conn: Any, reader: FileReader, others: list[Any]) -> None:
    """A forked reader: lists of paths in, their ``ReadFile`` values (pickled) out."""
    import pickle
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    for other in others:  # the main process's ends of earlier workers' pipes
        other.close()
    while True:
        paths = conn.recv()
        if paths is None:
            return
        try:  # what was read, less the path (the main process has it; ~10% of unpickling)
            read = [reader.read(p) for p in paths]
            reply: tuple[str, Any] = (
                "ok",
                [
                    (r.sha, r.kind, r.raws, r.error, r.skipped, False, r.built, r.saved_at)
                    for r in read
                ],
            )
        except BaseException as e:  # handed to the main process, raised there
            reply = ("error", e)
        conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _read_in_workers(reader: FileReader, paths: Sequence[Path], jobs: int) -> Iterator[ReadFile]:
    """Files read by ``jobs`` forked processes, yielded in order, a bounded number ahead.

    Chunk i goes to worker i % jobs, and each worker answers its chunks in order, so
    the answers are collected in the files' order with no bookkeeping; plain pipes
    cost the main process less than a ``multiprocessing.Pool`` and its threads.
    """
    import multiprocessing
    import pickle

    ctx = multiprocessing.get_context("fork")
    chunks = [list(paths[i : i + CHUNK]) for i in range(0, len(paths), CHUNK)]
    workers: list[tuple[Any, Any]] = []
    try:
        for _ in range(jobs):
            mine, theirs = ctx.Pipe()
            others = [c for _, c in workers]
            proc = ctx.Process(target=_worker, args=(theirs, reader, others), daemon=True)
            proc.start()
            theirs.close()
            workers.append((proc, mine))
        sent = 0
        for i in range(len(chunks)):
            while sent < len(chunks) and sent < i + AHEAD * jobs:
                workers[sent % jobs][1].send(chunks[sent])
                sent += 1
            try:
                status, done = pickle.loads(workers[i % jobs][1].recv_bytes())
            except EOFError:
                names = ", ".join(p.name for p in chunks[i])
                raise RuntimeError(f"the process reading {names} stopped unexpectedly") from None
            if status != "ok":
                raise done
            yield from (ReadFile(p, *got) for p, got in zip(chunks[i], done, strict=True))
    finally:
        for _, conn in workers:
            with contextlib.suppress(OSError):
                conn.send(None)  # stop
            conn.close()
        for proc, _ in workers:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()


@dataclass
class Ingestor:
    """One ingest run: config, roster, calendar and labels loaded once, files streamed."""

    cfg: Config
    register: Register
    as_of: date
    dry_run: bool = False
    unallocated: bool = False
    roster: Roster | None = None
    calendar: WorkingCalendar | None = None
    consequences_fn: ConsequencesFn = consequences

    def __post_init__(self) -> None:
        self.labels = Labels.for_tools(self.cfg.tools.values())
        self.reader = FileReader(self.cfg.limits, self.cfg.tools, self.labels)
        # the current return of each audit stored in this run (rule I5: the newer one wins)
        self.this_run: dict[str, Arrival] = {}

    # The roster and calendar are read when the first return is stored, not before: by
    # then the reader processes are at work (the roster of a big council takes a while).

    def _roster(self) -> Roster:
        if self.roster is None:
            from qaf.sources import Roster, read_staff

            try:
                self.roster = read_staff(self.cfg.staff, self.cfg.limits)
            except QafError:
                self.roster = Roster(())
        return self.roster

    def _calendar(self) -> WorkingCalendar:
        if self.calendar is None:
            from qaf.calendar import WorkingCalendar

            self.calendar = WorkingCalendar(
                self.cfg.organisation.bank_holidays, self.cfg.organisation.closures
            )
        return self.calendar

    # -- one file

    def ingest_file(self, path: Path) -> list[FileResult]:
        return self._ingest_read(self.reader.read(path, self.register.file_ingested))

    def _ingest_read(self, got: ReadFile) -> list[FileResult]:
        """Store what was read from one file (its hash checked against the register first)."""
        name = str(got.path)
        if not got.sha:  # the bytes could not even be read
            return [_rejected(name, "", [Problem("I1", got.error or "", "error", name)])]
        # (read in this process: the register was asked just before the parse; the
        # transaction below asks again, for other processes writing meanwhile)
        if got.skipped or (not got.checked and self.register.file_ingested(got.sha)):
            return [
                FileResult(
                    name,
                    got.sha,
                    "already-ingested",
                    problems=(
                        Problem("I5", "this exact file was ingested before", "warning", name),
                    ),
                )
            ]
        if got.error is not None:
            return [_rejected(name, got.sha, [Problem("I1", got.error, "error", name)])]
        return self._store(got.path, got.sha, got.kind, got.raws, got.built, got.saved_at)

    def _match(self, raw: RawReturn) -> Allocation | None:
        reg = self.register
        if raw.audit_id:
            alloc = reg.allocation(raw.audit_id)
            if alloc is not None:
                return alloc
        if raw.case_id and raw.auditor:
            who = normalise(raw.auditor)
            cands = [a for a in reg.allocations_of_case(raw.case_id) if normalise(a.auditor) == who]
            if not cands:  # GAPS 13: a case the service picked; its allocation names none
                cands = self._open_service_picked(raw, who)
            if cands:
                open_ = [a for a in cands if reg.current_return_id(a.audit_id) is None]
                pick = max(open_ or cands, key=lambda a: (a.cycle, a.audit_id))
                if raw.audit_id:
                    raw.problems.append(
                        Problem(
                            "I2",
                            f'audit ID "{raw.audit_id}" is not in the register; matched to '
                            f"{pick.audit_id} by case ID and auditor",
                            "warning",
                            raw.file,
                            *(_where(raw.fields.get("Audit ID"))),
                        )
                    )
                return pick
        if not raw.case_id and raw.subject and raw.auditor:  # a staff audit (GAPS 7)
            who = normalise(raw.auditor)
            cands = [
                a for a in reg.allocations_of_subject(raw.subject) if normalise(a.auditor) == who
            ]
            if len({a.tool for a in cands}) > 1:  # e.g. observed and supervision audited
                tool = choose_tool(raw, None, self.cfg.tools).id  # the best domain match
                cands = [a for a in cands if a.tool == tool] or cands
            open_ = [a for a in cands if reg.current_return_id(a.audit_id) is None]
            if open_ or cands:
                return max(open_ or cands, key=lambda a: (a.cycle, a.audit_id))
        return None

    def _open_service_picked(self, raw: RawReturn, who: str) -> list[Allocation]:
        """The auditor's oldest service-picked allocation still waiting for its return, of
        the return's tool when there are several tools (a return already in names its case)."""
        reg = self.register
        cands = [
            a
            for a in reg.allocations_of_case("")
            if a.picked_by == "service"
            and normalise(a.auditor) == who
            and reg.current_return_id(a.audit_id) is None
        ]
        if len({a.tool for a in cands}) > 1:
            tool = choose_tool(raw, None, self.cfg.tools).id  # the best domain match
            cands = [a for a in cands if a.tool == tool] or cands
        return sorted(cands, key=lambda a: (a.cycle, a.audit_id))[:1]

    def _store(
        self,
        path: Path,
        sha: str,
        kind: str,
        raws: list[RawReturn],
        prebuilt: list[Built | None] | None = None,
        saved_at: float | None = None,
    ) -> list[FileResult]:
        name = str(path)
        tools: Mapping[str, Tool] = self.cfg.tools
        built: list[tuple[RawReturn, Return | None, list[Problem]]] = []
        matched: list[tuple[Tool, Allocation | None]] = []
        for i, raw in enumerate(raws):
            alloc = self._match(raw)
            pre = prebuilt[i] if prebuilt else None
            if pre is not None:
                if alloc is None or pre[0] != alloc or pre[1] not in tools:
                    # the allocation changed since the readers' copy (another process
                    # allocating meanwhile): read and validate the whole file again here
                    return self._ingest_read(self.reader.read(path, self.register.file_ingested))
                # validated by the reader process against this very allocation
                tool, ret, problems = tools[pre[1]], pre[2], pre[3]
            else:
                tool = choose_tool(raw, alloc, tools)
                ret, problems = build_return(
                    raw, tool, alloc, as_of=self.as_of, unallocated_ok=self.unallocated
                )
            built.append((raw, ret, problems))
            matched.append((tool, alloc))
        if not raws:
            return [
                _rejected(name, sha, [Problem("I4", "the export has no responses", "error", name)])
            ]
        bad = [raw.ref or name for raw, ret, _ in built if ret is None]
        if bad:
            results = []
            for raw, ret, problems in built:
                ps = list(problems)
                if ret is not None:
                    ps.append(
                        Problem(
                            "I5",
                            "not stored: the file is accepted or rejected whole, and "
                            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} has errors",
                            "error",
                            name,
                        )
                    )
                results.append(_rejected(name, sha, ps, raw))
            return self._with_unstored_safety(results, raws, matched)
        reg = self.register
        results = []
        try:
            with reg.transaction() as conn:
                if reg.file_ingested(sha):  # another run took it meanwhile
                    return [FileResult(name, sha, "already-ingested")]
                reg.record_file(conn, sha, name, kind, len(built))
                for row, (raw, ret, problems) in enumerate(built):
                    assert ret is not None
                    here = Arrival(path, saved_at, 0, row)
                    results.append(self._store_one(conn, here, sha, raw, ret, problems))
                if self.dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return results

    def _store_one(
        self,
        conn: Any,
        here: Arrival,
        sha: str,
        raw: RawReturn,
        ret: Return,
        problems: list[Problem],
    ) -> FileResult:
        reg = self.register
        name = str(here.path)
        ps = list(problems)
        status: Status = "accepted"
        # SurveyMonkey exports are cumulative: the same response again is not a new return.
        row_sha = ""
        if raw.ref:
            row_sha = _response_hash(ret)
            prev = reg.return_by_source(raw.ref, ret.audit_id)
            if prev is not None and prev[1] == row_sha:
                return FileResult(
                    name,
                    sha,
                    "already-ingested",
                    ret.audit_id or ret.given_audit_id or None,
                    ret.case_id,
                    ret.overall,
                    (Problem("I5", f"{raw.ref} was ingested before", "warning", name),),
                    raw.ref,
                    prev[0],
                )
        superseded, previous = reg.current_and_previous(ret.audit_id, ret.case_id)
        earlier = self.this_run.get(ret.audit_id) if ret.audit_id else None
        if earlier is not None and not (self.dry_run or superseded == earlier.return_id):
            earlier = None  # another process stored a return of it meanwhile: that one is older
        if ret.type == "reaudit" and ret.reaudit_of:  # compared with the audit it re-audits
            pid = reg.current_return_id(ret.reaudit_of)
            if pid is not None:
                previous = (pid, reg.return_overall(pid))
        movement = None
        if ret.type == "reaudit" and previous is not None and previous[1] and ret.overall:
            scale = self.cfg.tools[ret.tool].scale
            if previous[1] in scale.levels and ret.overall in scale.levels:
                movement = scale.compare(previous[1], ret.overall)
        rid = reg.insert_return(
            conn,
            ret,
            sha256=sha,
            path=name,
            previous_return_id=previous[0] if previous else None,
            movement=movement,
            row_sha=row_sha,
        )
        if ret.type == "reaudit":  # rule T7: the learning-held audit has come back
            reg.close_learning_held(conn, ret.case_id, rid, ret.audit_id, ret.received_on)
        here = dataclasses.replace(here, return_id=rid)
        history_of = None if earlier is None or is_newer(here, earlier) else earlier
        if history_of is not None:  # rule I5: the return read first in this run is newer
            ps.append(history_warning(ret.audit_id, here, history_of))
        elif superseded is not None or earlier is not None:
            if superseded is not None:
                reg.supersede(conn, superseded, rid, self.as_of)
            status = "superseded"
            ps.append(
                kept_warning(ret.audit_id, here, earlier)
                if earlier is not None
                else Problem(
                    "I5",
                    f"a corrected re-submission: replaces the earlier return of {ret.audit_id} "
                    "(kept in the register's history)",
                    "warning",
                    name,
                )
            )
        if history_of is None and ret.audit_id:
            self.this_run[ret.audit_id] = here
        facts = ReturnFacts(
            return_id=rid,
            audit_id=ret.audit_id,
            case_id=ret.case_id,
            team=ret.team,
            service=ret.service,
            category=ret.category,
            worker=ret.worker,
            auditor=ret.auditor,
            tool=ret.tool,
            type=ret.type,
            overall=ret.overall,
            reaudit_round=ret.reaudit_round,
            movement=movement,
            safety_concern=ret.safety_concern,
            received_on=ret.received_on,
            actions=ret.actions,
        )
        cons = self.consequences_fn(facts, self._roster(), self.cfg, self._calendar())
        reg.add_alerts(conn, rid, cons.alerts)
        followups = self._adopt_unstored_safety(conn, ret, rid, cons.followups)
        reg.add_followups(
            conn,
            [f if f.return_id == rid else dataclasses.replace(f, return_id=rid) for f in followups],
        )
        if history_of is not None and not self.dry_run:  # as if it had been read first
            reg.supersede(conn, rid, history_of.return_id, self.as_of)
        safety, lines = self._notices(raw, ret, cons.alerts)
        return FileResult(
            name,
            sha,
            status,
            ret.audit_id or ret.given_audit_id or None,
            ret.case_id,
            ret.overall,
            tuple(ps),
            raw.ref or None,
            rid,
            safety,
            lines,
        )

    # -- safety concerns and alerts named in the output (rule E3, E1, E2)

    def _with_unstored_safety(
        self,
        results: list[FileResult],
        raws: list[RawReturn],
        matched: list[tuple[Tool, Allocation | None]],
    ) -> list[FileResult]:
        """Rule E3 for returns not stored: their safety concern is raised all the same."""
        from qaf.ingest_notices import raise_unstored_safety

        out = []
        for result, raw, (tool, alloc) in zip(results, raws, matched, strict=True):
            notice = raise_unstored_safety(
                raw,
                tool,
                alloc,
                register=self.register,
                roster=self._roster(),
                cfg=self.cfg,
                as_of=self.as_of,
                dry_run=self.dry_run,
            )
            out.append(dataclasses.replace(result, safety=notice) if notice else result)
        return out

    def _adopt_unstored_safety(
        self, conn: Any, ret: Return, rid: int, followups: Sequence[FollowUp]
    ) -> list[FollowUp]:
        """A safety concern raised earlier by a rejected return of this audit is adopted by
        the accepted one instead of being raised a second time."""
        if not ret.safety_concern:
            return list(followups)
        early = self.register.unstored_safety_followup(ret.audit_id, ret.case_id)
        if early is None:
            return list(followups)
        self.register.adopt_followup(conn, early, rid, ret.audit_id)
        return [f for f in followups if f.kind != "safety"]

    def _notices(
        self, raw: RawReturn, ret: Return, alerts: Sequence[Alert]
    ) -> tuple[SafetyNotice | None, tuple[str, ...]]:
        """The safety notice of a stored return (E3) and one line per alert raised."""
        from qaf.ingest_notices import alert_lines, stored_safety_notice

        safety = None
        if ret.safety_concern:
            tool = self.cfg.tools[ret.tool]
            safety = stored_safety_notice(raw, tool, ret.audit_id, ret.case_id, alerts)
        return safety, alert_lines(alerts)

    # -- many files

    def run(
        self, paths: Sequence[Path], progress: Callable[[int, int], None] | None = None
    ) -> Iterator[FileResult]:
        """Ingest the files one by one, yielding results as they are stored (streaming).

        Many files are read (unzipped, checked, parsed, found by label) by worker
        processes while this one validates and stores them in order, one
        transaction per file (committed in batches): reading is most of the work, and
        it needs no register.
        """
        total = len(paths)
        jobs = _worker_count(total)
        reads = (
            _read_in_workers(self._prebuilding_reader(), paths, jobs)
            if jobs > 1
            else (self.reader.read(p, self.register.file_ingested) for p in paths)
        )
        with self.register.many_transactions():
            for i, got in enumerate(reads, 1):
                yield from self._ingest_read(got)
                if progress:
                    progress(i, total)

    def _prebuilding_reader(self) -> FileReader:
        """A reader that validates too, against the allocations due in the last year."""
        from dateutil.relativedelta import relativedelta

        since = self.as_of - relativedelta(months=PREBUILD_MONTHS)
        known = self.register.allocations_due_since(since)
        return dataclasses.replace(
            self.reader, prebuild=Prebuild(known, self.as_of, self.unallocated)
        )


PREBUILD_MONTHS = 13  # a year of cycles; older allocations: validated by the storing process


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _where(cell: Cell | None) -> tuple[str | None, str | None]:
    return (cell.sheet, cell.cell) if cell else (None, None)


def _rejected(
    name: str, sha: str, problems: list[Problem], raw: RawReturn | None = None
) -> FileResult:
    return FileResult(
        name,
        sha,
        "rejected",
        (raw.audit_id or None) if raw else None,
        _shown_id(raw.case_id) if raw else None,
        None,
        tuple(problems),
        (raw.ref or None) if raw else None,
    )


def _response_hash(ret: Return) -> str:
    h = hashlib.sha256()
    h.update(repr((dataclasses.replace(ret, received_on=date.min),)).encode())
    return h.hexdigest()


# ------------------------------------------------------------------ entry point


def _skipped(paths: Iterable[Path]) -> list[tuple[str, str]]:
    from qaf.ingest_notices import skipped_files

    return skipped_files(paths, FILE_SUFFIXES)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files to ingest: given files as they are; folders searched for workbooks and CSVs."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in FILE_SUFFIXES
                and not f.name.startswith(("~$", "."))
            )
        else:
            found = [p]
        for f in found:
            if f not in seen:
                seen.add(f)
                out.append(f)
    return out


@contextlib.contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """What is alive before the run (modules, configuration, roster, caches) is left out of
    the garbage collector's passes during it: each full pass would walk all of it again.
    Forked readers inherit this, and leave those memory pages shared with this process."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def ingest_paths(
    cfg: Config,
    paths: Sequence[Path],
    *,
    as_of: date | None = None,
    dry_run: bool = False,
    unallocated: bool = False,
    progress: Callable[[int, int], None] | None = None,
    register: Register | None = None,
) -> IngestReport:
    """Ingest files and folders; the library function behind ``qaf ingest``."""
    from qaf.register import Register

    files = discover(paths)
    missing = [str(p) for p in paths if not Path(p).exists()]
    report = IngestReport(dry_run=dry_run)
    for m in missing:
        report.files.append(
            _rejected(m, "", [Problem("I1", f"{Path(m).name} does not exist", "error", m)])
        )
    files = [f for f in files if f.exists()]
    own = register is None
    reg = register or Register.open(cfg.register_path)
    try:
        ing = Ingestor(cfg, reg, as_of or date.today(), dry_run=dry_run, unallocated=unallocated)
        with _long_lived_frozen():
            report.files.extend(ing.run(files, progress))
        report.skipped = _skipped(paths)
    finally:
        if own:
            reg.close()
    return report


def counts_in_words(counts: Mapping[str, int]) -> str:
    """ "3 accepted, 0 rejected, 1 warning": the summary line of a run (F1: "1 warning")."""
    return ", ".join(
        f"{n} {k[:-1] if n == 1 and k == 'warnings' else k}" for k, n in counts.items()
    )
