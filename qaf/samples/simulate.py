"""Returns simulator: fills the audit workbooks ``qaf allocate`` wrote, the way auditors do.

Used by ``qaf demo``, the tests and the benchmarks (issue 4 item 6). Given the
allocations and the blank workbooks, it

- decides each audit's outcome: a realistic spread of grades with a quality
  level per team (some teams stronger than others) and per case, domains
  graded around the case's level, N/A where the tool allows it, before/after
  discussion grades (G4) that mostly agree, an overall grade that is usually
  the worst domain grade (now and then better: a G5 warning);
- writes rationale from a bank built on Rochdale Appendix 9 "What does good
  look like?" and the practice standards, actions with owners and dates for
  returns below Good, and a few safety concerns (E3);
- fills the workbook *by label* (as a person would, wherever the cells are)
  and makes a share of them messy: "RI" and other grade spellings, text dates
  dd/mm/yyyy, trailing spaces, an extra sheet, an edited layout (a column and
  a row inserted, labels reworded to aliases), merged cells;
- leaves a share never returned and dates a share after the due date (late);
- and can write the same returns as a SurveyMonkey export (two header rows,
  BOM, quoted line breaks, US dates) for the tool's ``[tool.surveymonkey]``.

Everything is reproducible from the seed. Names are the allocations' (fictional).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import re
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from qaf.grades import normalise
from qaf.records import ActionItem, Allocation
from qaf.tools import Tool

MESSY_KINDS = ("ri", "text-date", "trailing-spaces", "extra-sheet", "edited-layout", "merged")

# Rochdale App 9 "What does good look like?", grouped by theme, as an auditor would echo it.
GOOD_EVIDENCE = (
    "Reasons for the assessment are clear and timescales have been met.",
    "Relevant people have been spoken to (family, friends and professionals) and it is clear who "
    "has not been spoken to and why.",
    "Risk assessments set out explicit risk factors and vulnerabilities.",
    "Issues of difference, including language, culture and disability, are explicit.",
    "The child has had the opportunity to participate and their wishes and feelings are recorded.",
    "Parents, including the absent father, have been included with clear attempts to make contact.",
    "The analysis reads well and gives a sense of the whole situation, including the original "
    "concerns.",
    "The plan is outcome focused, SMART, and has been shared with the child and family.",
    "Every issue identified in the assessment is reflected in the plan.",
    "The child is seen regularly, spoken to and seen alone.",
    "Assessments and plans are signed off, demonstrating management oversight.",
    "There is evidence of challenge by partner agencies when appropriate.",
    "Decision making on escalation and de-escalation is clear and recorded.",
)
RI_EVIDENCE = (
    "There is limited evidence that the child has been seen alone.",
    "The plan lists tasks rather than outcomes and is not SMART.",
    "The assessment describes the family well but the analysis of risk is thin.",
    "Management oversight is recorded but does not set timescales.",
    "The child's wishes and feelings are recorded but not reflected in the plan.",
    "Partner agencies were not contacted before the decision was made.",
    "Checkpoints were missed and the reasons are not recorded.",
    "Issues of identity and culture are noted but not explored.",
)
INADEQUATE_EVIDENCE = (
    "There is no evidence that the child has been seen in the last three months.",
    "Risks identified at referral have not been assessed and remain unaddressed.",
    "There is no plan on file and no record of management direction.",
    "Drift and delay: the case has not progressed since the last review.",
    "Serious concerns raised by school were not responded to.",
)
OUTSTANDING_EVIDENCE = (
    "Practice exceeds the standard: research-informed direct work has led to sustained "
    "improvement for the child.",
    "Exceptional, creative direct work: the child's voice runs through every record.",
)
ACTION_BANK = (
    "Update the child's plan so that each outcome is specific, measurable and timed",
    "See the child alone at the next visit and record their wishes and feelings",
    "Complete an updated assessment including the absent parent",
    "Record management oversight with clear direction and timescales",
    "Convene a strategy discussion about the risks identified",
    "Contact school and health for up-to-date information",
    "Add a chronology to the case file",
    "Discuss the case in supervision and record the decision",
)
SAFETY_CONCERNS = (
    "No visit for 10 weeks and a new referral from school about bruising has not been followed up.",
    "Mother's new partner is a Schedule 1 offender; no risk assessment on file.",
    "Young person reported missing twice this month; no return home interviews recorded.",
)
RI_SPELLINGS = ("RI", "requires improvement to be good", "Requiring Improvement", "3", "R.I.")


@dataclass(frozen=True)
class SimulatedReturn:
    """The answers one auditor gave; the workbook or survey response is written from this."""

    allocation: Allocation
    tool: str
    audit_date: date
    grades: Mapping[str, tuple[str | None, str, str]]  # domain ID -> (before, final or "N/A", why)
    overall_before: str | None
    overall: str | None
    overall_rationale: str
    summary: str
    safe: bool
    concern: str
    actions: tuple[ActionItem, ...]
    compliance: Mapping[str, str]
    late: bool = False
    messy: tuple[str, ...] = ()
    case_id: str = ""  # the case the service picked (GAPS 13), written in the Case ID box


@dataclass
class Simulation:
    returns: list[SimulatedReturn] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    never: list[str] = field(default_factory=list)  # audit IDs never returned


def _team_level(team: str) -> float:
    """A stable quality offset per team: -0.6 (stronger) .. +0.6 (weaker)."""
    return (zlib.crc32(team.encode()) % 1000) / 1000 * 1.2 - 0.6


def simulate_answers(
    alloc: Allocation, tool: Tool, rng: random.Random, *, late: bool = False
) -> SimulatedReturn:
    levels = tool.scale.levels
    n = len(levels)
    # The overall judgement comes first, from a profile like councils report (~5% Outstanding,
    # 45% Good, 38% Requires Improvement, 12% Inadequate), shifted by team; a re-audit tends
    # to find the practice improved. Domains are then graded at or above the overall grade,
    # one of them equal to it, as the "not better than the worst domain" rule (G5) expects.
    centre = 2.45 + 0.8 * _team_level(alloc.team) + rng.gauss(0, 0.65)
    if alloc.type == "reaudit":
        centre -= 0.45
    overall_rank = min(n, max(1, round(centre)))
    grades: dict[str, tuple[str | None, str, str]] = {}
    finals: list[str] = []
    graded: list[str] = []
    for d in tool.domains:
        if d.na_allowed and rng.random() < 0.35:
            grades[d.id] = (None, "N/A", "")
            continue
        better = rng.choices((0, 1, 2), weights=(55, 35, 10))[0]
        rank = max(1, overall_rank - better)
        grades[d.id] = (None, levels[rank - 1], "")
        graded.append(d.id)
    if graded and all(levels.index(grades[i][1]) + 1 != overall_rank for i in graded):
        pin = rng.choice(graded)
        grades[pin] = (None, levels[overall_rank - 1], "")
    for domain_id in graded:
        final = grades[domain_id][1]
        rank = levels.index(final) + 1
        before = final
        if tool.before_after and rng.random() < 0.15:  # the conversation moved the grade (G4)
            before = levels[min(n, max(1, rank + rng.choice((-1, 1)))) - 1]
        grades[domain_id] = (
            before if tool.before_after else None,
            final,
            _rationale(final, rng),
        )
        finals.append(final)
    overall: str | None = None
    overall_before: str | None = None
    if tool.overall and finals:
        worst = max(finals, key=tool.scale.rank)
        overall = worst
        if rng.random() < 0.03 and tool.scale.rank(worst) > 1:  # a kinder overall: G5 warning
            overall = levels[tool.scale.rank(worst) - 2]
        overall_before = overall if tool.before_after else None
    start = date.fromisoformat(alloc.cycle + "-01")
    span = max(1, (alloc.due - start).days)
    audit_date = start + timedelta(days=rng.randint(max(0, span // 3), span))
    if late:
        audit_date = alloc.due + timedelta(days=rng.randint(2, 9))
    while audit_date.weekday() >= 5:
        audit_date += timedelta(days=1)
    safe = rng.random() > 0.02
    actions: list[ActionItem] = []
    if (overall is not None and tool.scale.rank(overall) >= 3) or not safe:
        for text in rng.sample(ACTION_BANK, k=rng.randint(1, 3)):
            owner = rng.choice((alloc.worker, f"{alloc.team} Team Manager"))
            actions.append(
                ActionItem(text, owner, audit_date + timedelta(days=rng.choice((7, 14, 28))))
            )
    compliance = {q: ("Yes" if rng.random() < 0.8 else "No") for q in tool.compliance}
    return SimulatedReturn(
        allocation=alloc,
        tool=tool.id,
        audit_date=audit_date,
        grades=grades,
        overall_before=overall_before,
        overall=overall,
        overall_rationale=_rationale(overall, rng) if overall else "",
        summary=f"Strengths: {rng.choice(GOOD_EVIDENCE)} To improve: {rng.choice(RI_EVIDENCE)}",
        safe=safe,
        concern="" if safe else rng.choice(SAFETY_CONCERNS),
        actions=tuple(actions),
        compliance=compliance,
        late=late,
    )


def _rationale(grade: str, rng: random.Random) -> str:
    key = normalise(grade)
    if key in ("inadequate", "skills not seen at all", "no"):
        bank: tuple[str, ...] = INADEQUATE_EVIDENCE
    elif key in ("requires improvement", "few skills seen, but could improve"):
        bank = RI_EVIDENCE
    elif key in ("outstanding", "skills demonstrated were outstanding"):
        bank = OUTSTANDING_EVIDENCE
    else:
        bank = GOOD_EVIDENCE
    return " ".join(rng.sample(bank, k=min(2, len(bank))))


# ------------------------------------------------------------------ filling workbooks


def fill_workbook(src: Path, dest: Path, ret: SimulatedReturn, tool: Tool) -> Path:
    """Fill a blank audit workbook by label, applying ``ret.messy`` variants."""
    from openpyxl import load_workbook

    wb = load_workbook(src)
    ws = wb[wb.sheetnames[0]]
    messy = set(ret.messy)
    if ws.protection.sheet:
        ws.protection.sheet = False  # people do unprotect and edit their forms
    if "edited-layout" in messy:
        ws.insert_rows(2)
        ws.insert_cols(1)
    labels: dict[str, tuple[int, int]] = {}
    header: tuple[int, dict[str, int]] | None = None
    actions_row: tuple[int, dict[str, int]] | None = None
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=10):
        for c in row:
            if isinstance(c.value, str) and c.value.strip():
                key = normalise(c.value)
                labels.setdefault(key, (c.row, c.column))
        texts = {normalise(c.value): c.column for c in row if isinstance(c.value, str)}
        if header is None and "grade" in texts and "rationale" in texts:
            header = (row[0].row, texts)
        if "action" in texts and "who is responsible" in texts:
            actions_row = (row[0].row, texts)

    def grade_text(g: str | None) -> Any:
        if g is None:
            return None
        if "ri" in messy and normalise(g) == "requires improvement":
            return RI_SPELLINGS[zlib.crc32(ret.allocation.audit_id.encode()) % len(RI_SPELLINGS)]
        if "trailing-spaces" in messy:
            return g + "  "
        return g

    def put(label: str, value: Any) -> None:
        pos = labels.get(normalise(label))
        if pos is not None:
            ws.cell(pos[0], pos[1] + 1, value)

    if "text-date" in messy:
        put("Date of audit", ret.audit_date.strftime("%d/%m/%Y"))
    else:
        put("Date of audit", ret.audit_date)
    if ret.case_id:  # the case the service picked (GAPS 13)
        put("Case ID", ret.case_id)
    for q, a in ret.compliance.items():
        put(q, a)
    if tool.safety_question:
        put(tool.safety_question, "Yes" if ret.safe else "No")
        if not ret.safe:
            put("If not, describe the concern", ret.concern)
    if header is not None:
        hrow, cols = header
        id_col = cols.get("id", 1)
        gcol = cols["grade"]
        bcol = cols.get("grade before discussion")
        rcol = cols["rationale"]
        for r in range(hrow + 1, hrow + 1 + len(tool.domains) + 3):
            did = ws.cell(r, id_col).value
            if not isinstance(did, str) or did not in ret.grades:
                continue
            before, final, why = ret.grades[did]
            ws.cell(r, gcol, grade_text(final))
            if bcol is not None and before is not None:
                ws.cell(r, bcol, grade_text(before))
            ws.cell(r, rcol, why or None)
            if "merged" in messy and why:
                ws.merge_cells(start_row=r, start_column=rcol, end_row=r, end_column=rcol + 1)
    put("Overall grade before discussion", grade_text(ret.overall_before))
    put("Overall grade", grade_text(ret.overall))
    put("Rationale for overall grade", ret.overall_rationale)
    put("Summary of strengths and areas for improvement", ret.summary)
    if actions_row is not None and ret.actions:
        arow, cols = actions_row
        for i, item in enumerate(ret.actions, 1):
            ws.cell(arow + i, cols["action"], item.action)
            ws.cell(arow + i, cols["who is responsible"], item.owner)
            due: Any = item.due
            if "text-date" in messy and item.due:
                due = item.due.strftime("%d/%m/%Y")
            ws.cell(arow + i, cols["by when"], due)
    if "edited-layout" in messy:
        pos = labels.get(normalise("Case ID"))
        if pos:
            ws.cell(pos[0], pos[1], "Mosaic number:")
        pos = labels.get(normalise("Auditor"))
        if pos:
            ws.cell(pos[0], pos[1], "Name of Auditor  ")
    if "extra-sheet" in messy:
        notes = wb.create_sheet("Notes")
        notes["A1"] = "Auditor's working notes"
        notes["A2"] = "Grade"
        notes["B2"] = "Seen file on Tuesday; chronology missing."
    dest.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dest)
    return dest


# ------------------------------------------------------------------ filling fast

_ROW_RE = re.compile(r'<row r="(\d+)"[^>]*>(.*?)</row>', re.S)
_CELL_RE = re.compile(
    r'<c r="([A-Z]+)(\d+)"((?: s="\d+")?)(?:/>|( t="inlineStr")?>(?:<is><t[^>]*>(.*?)</t></is>'
    r"|<v>[^<]*</v>)</c>)",
    re.S,
)
_EXCEL_EPOCH = date(1899, 12, 30)


def _xml_unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )


def fill_workbook_fast(src: Path, dest: Path, ret: SimulatedReturn, tool: Tool) -> Path:
    """Fill a blank audit workbook written by ``qaf allocate`` (no messy variants), by label,
    editing the sheet XML in place: about 40 times faster than ``fill_workbook`` (openpyxl),
    for the year-long simulations. The values and cells are the same as ``fill_workbook``'s."""
    import zipfile

    from qaf.auditbook import xml_text

    with zipfile.ZipFile(src) as z:
        parts = [(i, z.read(i.filename)) for i in z.infolist()]
    sheet_name = "xl/worksheets/sheet1.xml"
    xml = next(data for info, data in parts if info.filename == sheet_name).decode("utf-8")
    texts: dict[tuple[str, int], str] = {}
    labels: dict[str, int] = {}
    for m in _CELL_RE.finditer(xml):
        col, row, text = m.group(1), int(m.group(2)), m.group(5)
        if text is not None:
            texts[(col, row)] = _xml_unescape(text)
            if col == "A":
                labels.setdefault(normalise(texts[(col, row)]), row)
    values: dict[tuple[str, int], Any] = {}

    def put(label: str, value: Any) -> None:
        row = labels.get(normalise(label))
        if row is not None and value is not None and value != "":
            values[("B", row)] = value

    put("Date of audit", ret.audit_date)
    put("Case ID", ret.case_id)  # only a service-picked audit's is blank (GAPS 13)
    for q, a in ret.compliance.items():
        put(q, a)
    if tool.safety_question:
        put(tool.safety_question, "Yes" if ret.safe else "No")
        if not ret.safe:
            put("If not, describe the concern", ret.concern)
    by_row: dict[int, dict[str, str]] = defaultdict(dict)  # row -> normalised text -> column
    for (col, row), text in texts.items():
        if len(text) < 40:  # headers are short; criteria and guidance are not
            by_row[row][normalise(text)] = col
    rows = sorted(by_row)
    header = next((r for r in rows if {"grade", "rationale"} <= set(by_row[r])), None)
    if header is not None:
        cols = by_row[header]
        for r in rows:
            did = texts.get(("A", r), "")
            if r <= header or did not in ret.grades:
                continue
            before, final, why = ret.grades[did]
            values[(cols["grade"], r)] = final
            if "grade before discussion" in cols and before is not None:
                values[(cols["grade before discussion"], r)] = before
            if why:
                values[(cols["rationale"], r)] = why
    put("Overall grade before discussion", ret.overall_before)
    put("Overall grade", ret.overall)
    put("Rationale for overall grade", ret.overall_rationale)
    put("Summary of strengths and areas for improvement", ret.summary)
    action_row = labels.get(normalise("Action"))
    if action_row is not None:
        for i, item in enumerate(ret.actions, 1):
            values[("A", action_row + i)] = item.action
            values[("B", action_row + i)] = item.owner
            if item.due:
                values[("C", action_row + i)] = item.due

    def cell(m: re.Match[str]) -> str:
        key = (m.group(1), int(m.group(2)))
        if key not in values:
            return m.group(0)
        ref, style, value = f"{key[0]}{key[1]}", m.group(3), values[key]
        if isinstance(value, date):
            return f'<c r="{ref}"{style}><v>{(value - _EXCEL_EPOCH).days}</v></c>'
        text = xml_text(str(value))
        return f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'

    filled = _CELL_RE.sub(cell, xml).encode("utf-8")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info, data in parts:
            out.writestr(info, filled if info.filename == sheet_name else data)
    return dest


def simulate_returns(
    allocations: Sequence[Allocation],
    tools: Mapping[str, Tool],
    audit_dir: Path,
    out_dir: Path,
    *,
    seed: int = 1,
    never: float = 0.05,
    late: float = 0.10,
    messy: float = 0.25,
    fast: bool = False,
    case_ids: Sequence[str] = (),
) -> Simulation:
    """Fill ``audit_dir/<audit_id>.xlsx`` for each allocation into ``out_dir``.

    ``fast``: returns that are not messy are filled by ``fill_workbook_fast``. An allocation
    whose case the service picks (GAPS 13) is returned with one of ``case_ids`` (a made-up
    ID when none are given) in its Case ID box."""
    rng = random.Random(seed)
    picks = random.Random(f"{seed}:service")  # the main draws stay as they were
    sim = Simulation()
    for alloc in allocations:
        tool = tools[alloc.tool]
        src = audit_dir / f"{alloc.audit_id}.xlsx"
        if rng.random() < never or not src.exists():
            sim.never.append(alloc.audit_id)
            continue
        ret = simulate_answers(alloc, tool, rng, late=rng.random() < late)
        if alloc.picked_by == "service":
            case_id = picks.choice(case_ids) if case_ids else f"SP{picks.randrange(10**6):06d}"
            ret = dataclasses.replace(ret, case_id=case_id)
        if rng.random() < messy:
            kinds = tuple(rng.sample(MESSY_KINDS, k=rng.randint(1, 3)))
            ret = SimulatedReturn(**{**ret.__dict__, "messy": kinds})
        sim.returns.append(ret)
        fill = fill_workbook_fast if fast and not ret.messy else fill_workbook
        sim.paths.append(fill(src, out_dir / src.name, ret, tool))
    return sim


# ------------------------------------------------------------------ SurveyMonkey


def write_surveymonkey_export(
    returns: Sequence[SimulatedReturn], tool: Tool, path: Path, *, seed: int = 1
) -> Path:
    """The same returns as a SurveyMonkey "expanded" export (CSV with BOM, or XLSX)."""
    sm = tool.surveymonkey
    if sm is None:
        raise ValueError(f'tool "{tool.id}" has no [tool.surveymonkey] mapping')
    rng = random.Random(seed)
    row1: list[str] = [
        "Respondent ID",
        "Collector ID",
        "Start Date",
        "End Date",
        "IP Address",
        "Email Address",
        "First Name",
        "Last Name",
        "Custom Data 1",
    ]
    row2: list[str] = [""] * len(row1)
    getters: list[Any] = []

    def question(text: str, subs: Sequence[str], get: Any) -> None:
        for i, sub in enumerate(subs):
            row1.append(text if i == 0 else "")
            row2.append(sub)
        getters.append((len(subs), get))

    domain_label = {d.id: sm.domain_labels.get(d.id, d.title) for d in tool.domains}
    field_value = {
        "Audit ID": lambda r: r.allocation.audit_id,
        "Case ID": lambda r: r.allocation.case_id,
        "Auditor": lambda r: r.allocation.auditor,
        "Date of audit": lambda r: r.audit_date.strftime("%d/%m/%Y"),
    }
    for name, text in sm.fields.items():
        if name == "Team":
            question(
                text,
                ["Response", "Other (please specify)"],
                lambda r: ["Other (please specify)", r.allocation.team],
            )
        else:
            fn = field_value.get(name, lambda r: "")
            question(text, ["Response"], lambda r, fn=fn: [fn(r)])
    if sm.grades_before:
        question(
            sm.grades_before,
            [domain_label[d.id] for d in tool.domains],
            lambda r: [r.grades[d.id][0] or r.grades[d.id][1] for d in tool.domains],
        )
    question(
        sm.grades,
        [domain_label[d.id] for d in tool.domains],
        lambda r: [r.grades[d.id][1] for d in tool.domains],
    )
    if sm.rationale:
        question(
            sm.rationale,
            [domain_label[d.id] for d in tool.domains],
            lambda r: [r.grades[d.id][2] for d in tool.domains],
        )
    singles: tuple[tuple[str | None, Any], ...] = (
        (sm.overall_before, lambda r: r.overall_before or ""),
        (sm.overall, lambda r: r.overall or ""),
        (sm.overall_rationale, lambda r: r.overall_rationale),
        (sm.summary, lambda r: r.summary),
        (sm.safety or tool.safety_question, lambda r: "Yes" if r.safe else "No"),
        (sm.safety_note, lambda r: r.concern),
        (
            sm.actions,
            lambda r: "\n".join(
                f"{a.action}; {a.owner}; {a.due:%d/%m/%Y}" if a.due else f"{a.action}; {a.owner}"
                for a in r.actions
            ),
        ),
    )
    for maybe_text, get in singles:
        if maybe_text:
            text = maybe_text
            question(text, ["Response"], lambda r, get=get: [get(r)])
    rows: list[list[Any]] = [row1, row2]
    for r in returns:
        start = datetime.combine(r.audit_date, datetime.min.time()).replace(
            hour=rng.randint(8, 17), minute=rng.randint(0, 59), second=rng.randint(0, 59)
        )
        end = start + timedelta(minutes=rng.randint(5, 40))
        row: list[Any] = [
            str(114627800000 + rng.randint(0, 99999)),
            "431234567",
            _us(start),
            _us(end),
            "",
            "",
            "",
            "",
            "",
        ]
        for _n, get in getters:
            row.extend(get(r))
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        import xlsxwriter

        book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
        sheet = book.add_worksheet("Sheet")
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if v not in ("", None):
                    sheet.write_string(i, j, str(v))
        book.close()
    else:
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="\r\n").writerows(rows)
        path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    return path


def _us(d: datetime) -> str:
    hour = d.hour % 12 or 12
    ampm = "AM" if d.hour < 12 else "PM"
    return f"{d.month}/{d.day}/{d.year} {hour}:{d.minute:02d}:{d.second:02d} {ampm}"
