"""Report packs: periods, aggregation of register rows into ``ReportData``, rendering.

Rules P1 (monthly, quarterly, annual reports), P2 (contents) and P3 (no child
names; small counts suppressed). The register returns rows for one period
(``Register.report_rows``); ``build_report`` turns them into a ``ReportData`` of
plain numbers and ready-to-print tables, with suppression already applied, so a
council's own template cannot leak a small count by accident. ``render`` fills
the jinja2 templates (``qaf/templates``, overridable by a ``templates/`` folder
next to qaf.toml). Nothing here reads files or the database except ``render``,
which loads templates.

Definitions (documented in the report itself):
- the period's *allocations* are those of its cycles (audits and re-audits);
  *returned* = a return arrived by the as-of date; *on time* = the first return
  arrived on or before the due date (after any extension); *outstanding* = not
  returned; *overdue* = outstanding and past its due date.
- the period's *returns* are the current (not superseded) audits and re-audits of
  its cycles, plus returns with no cycle received in its dates.
- *Good or better* = the overall (or domain) grade is Good or Outstanding.
- moderation agreement covers moderations recorded in the period's dates.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from qaf.calendar import (
    MONTH_NAMES,
    cycle_start_end,
    cycles_between,
    parse_month,
    parse_quarter,
    shift_cycle,
)
from qaf.disclosure import Hidden, grade_relations, protect
from qaf.grades import YES_NO, GradeError, Scale, normalise

if TYPE_CHECKING:
    from qaf.config import Config
    from qaf.register import ReportRows, ReportScope

PeriodKind = Literal["month", "quarter", "year"]
TEMPLATE_DIR = Path(__file__).parent / "templates"
MONTHS = MONTH_NAMES[1:]  # January ... December
COMPLETION_COLUMNS = (  # a completion table's columns after its first
    "Allocated",
    "Returned",
    "On time",
    "Late",
    "Outstanding",
    "Returned %",
    "On time %",
)
DASH = "—"  # a hidden or undefined percentage
ONE_DAY = timedelta(days=1)
NO_TEAM, NO_ROLE = "(no team)", "(no role)"
BLANK_EXPLAINED = {
    NO_TEAM: "(no team): the case list gave no team for these cases; fix the case list.",
    "(no service)": "(no service): the case list gave no service for these cases.",
    "(no category)": "(no category): the case list gave no category for these cases.",
    NO_ROLE: "(no role): the roster gave no role for these auditors.",
}
QUOTE_MAX = 400  # characters of a quoted rationale
QUOTES_PER_DOMAIN = 2
LEARNED_DOMAINS = 3
FEEDBACK_PER_QUESTION = 3
TREND_CYCLES = 12
FOLLOWUP_LABELS = {
    "qa-check": "QA check of the return (T1)",
    "amendments": "Amendments (T1)",
    "discussion": "Discussion with the practitioner (T2)",
    "action-notification": "Actions notified (T3)",
    "action": "Action completed (T5)",
    "closing-loop": "Closing the loop (T7)",
    "closing-loop-reaudit": "Closing-the-loop re-audit (T7)",
    "moderation": "Moderation (M1)",
    "safety": "Safety concern acknowledged (E3)",
}
ALERT_LABELS = {
    "E1": "E1 grade alerts",
    "E2": "E2 re-audit same or downgraded",
    "E3": "E3 immediate safety concern",
}


# ------------------------------------------------------------------ periods


@dataclass(frozen=True)
class Period:
    """A reporting period: whole cycles (months), rule P1."""

    kind: PeriodKind
    key: str  # file-name friendly: "2026-10", "2026Q3", "2026-27Q3", "2026", "2026-27"
    label: str  # "October 2026", "2026Q3 (July to September 2026)"
    cycles: tuple[str, ...]
    financial_year: bool = False

    @property
    def start(self) -> date:
        return cycle_start_end(self.cycles[0])[0]

    @property
    def end(self) -> date:
        return cycle_start_end(self.cycles[-1])[1]

    def shifted(self, months: int) -> Period:
        """The period of the same kind ``months`` earlier (negative) or later."""
        first = shift_cycle(self.cycles[0], months)
        if self.kind == "month":
            return month_period(first)
        if self.kind == "quarter":
            return _quarter_from_first(first, self.financial_year)
        year = int(first[:4])
        return year_period(year, self.financial_year)

    def previous(self) -> Period:
        return self.shifted(-len(self.cycles))

    def same_last_year(self) -> Period:
        return self.shifted(-12)


def _span(cycles: Sequence[str]) -> str:
    a, b = cycles[0], cycles[-1]
    ma, mb = MONTHS[int(a[5:]) - 1], MONTHS[int(b[5:]) - 1]
    if a[:4] == b[:4]:
        return f"{ma} to {mb} {b[:4]}"
    return f"{ma} {a[:4]} to {mb} {b[:4]}"


def month_period(text: str) -> Period:
    cycle = parse_month(text)
    label = f"{MONTHS[int(cycle[5:]) - 1]} {cycle[:4]}"
    return Period("month", cycle, label, (cycle,))


def quarter_period(text: str, financial_year: bool = False) -> Period:
    cycles = parse_quarter(text, financial_year)
    return _quarter_from_first(cycles[0], financial_year)


def _quarter_from_first(first: str, financial_year: bool) -> Period:
    year, month = int(first[:4]), int(first[5:])
    if financial_year:
        fy = year if month >= 4 else year - 1
        q = (month - 4) % 12 // 3 + 1
        name = f"{fy}/{(fy + 1) % 100:02d} Q{q}"
        key = f"{fy}-{(fy + 1) % 100:02d}Q{q}"
    else:
        q = (month - 1) // 3 + 1
        name = key = f"{year}Q{q}"
    cycles = tuple(shift_cycle(first, i) for i in range(3))
    return Period("quarter", key, f"{name} ({_span(cycles)})", cycles, financial_year)


def year_period(year: int, financial_year: bool = False) -> Period:
    if not 1 <= year <= 9998:
        raise ValueError(f'"{year}" is not a year')
    if financial_year:
        cycles = tuple(cycles_between(f"{year:04d}-04", f"{year + 1:04d}-03"))
        short = f"{(year + 1) % 100:02d}"
        return Period("year", f"{year}-{short}", f"{year}/{short} ({_span(cycles)})", cycles, True)
    cycles = tuple(cycles_between(f"{year:04d}-01", f"{year:04d}-12"))
    return Period("year", str(year), str(year), cycles, False)


def parse_period(
    kind: PeriodKind, value: str | None, *, as_of: date, financial_year: bool
) -> Period:
    """A period from the command line; no value (or "last") = the last complete one."""
    if value is None or value.strip().casefold() in ("", "last"):
        return last_complete(kind, as_of, financial_year)
    if kind == "month":
        return month_period(value)
    if kind == "quarter":
        return quarter_period(value, financial_year)
    text = value.strip()
    m = re.fullmatch(r"(\d{4})(?:\s*[/-]\s*(\d{2}|\d{4}))?", text)
    if not m:
        raise ValueError(
            f'"{value}" is not a year: expected YYYY (or YYYY/YY for a financial year)'
        )
    return year_period(int(m.group(1)), financial_year)


def last_complete(kind: PeriodKind, as_of: date, financial_year: bool = False) -> Period:
    """The latest period of this kind that ended before ``as_of``."""
    current = f"{as_of.year:04d}-{as_of.month:02d}"
    period: Period
    if kind == "month":
        period = month_period(current)
    elif kind == "quarter":
        period = _quarter_from_first(_quarter_first(current, financial_year), financial_year)
    else:
        year = as_of.year - (1 if financial_year and as_of.month < 4 else 0)
        period = year_period(year, financial_year)
    while period.end >= as_of:
        period = period.previous()
    return period


def _quarter_first(cycle: str, financial_year: bool) -> str:
    month = int(cycle[5:])
    offset = ((month - 4) % 3) if financial_year else ((month - 1) % 3)
    return shift_cycle(cycle, -offset)


def report_scope(period: Period, as_of: date) -> ReportScope:
    """What the register must read: the period, its comparisons and its trend cycles."""
    from qaf.register import ReportScope

    trend = set(
        cycles_between(shift_cycle(period.cycles[-1], -(TREND_CYCLES - 1)), period.cycles[-1])
    )
    trend.update(period.previous().cycles, period.same_last_year().cycles, period.cycles)
    ordered = tuple(sorted(trend))
    return ReportScope(
        cycles=period.cycles,
        start=period.start,
        end=period.end,
        trend_cycles=ordered,
        trend_start=cycle_start_end(ordered[0])[0],
        trend_end=cycle_start_end(ordered[-1])[1],
        as_of=as_of,
    )


# ------------------------------------------------------------- suppression


@dataclass(frozen=True)
class Suppression:
    """Rule P3: counts 1..threshold-1 shown as "<threshold"; percentages from them hidden.

    Zero is shown as 0. A threshold of 0 (or 1) switches suppression off.
    """

    threshold: int = 5

    def small(self, n: int) -> bool:
        return 0 < n < self.threshold

    def count(self, n: int) -> str:
        return f"<{self.threshold}" if self.small(n) else str(n)

    def pct(self, num: int, den: int) -> str:
        if den == 0 or self.small(num) or self.small(den):
            return DASH
        return pct_text(num, den)

    def shown(self, key: Any, value: int, hidden: Hidden) -> str:
        """A count after primary ("<5") and secondary ("—") suppression."""
        if key in hidden.primary:
            return f"<{self.threshold}"
        return DASH if key in hidden.secondary else str(value)

    def shown_pct(self, num_key: Any, num: int, den_key: Any, den: int, hidden: Hidden) -> str:
        if num_key in hidden or den_key in hidden or self.small(den):
            return DASH
        return pct_text(num, den)


def pct_text(num: int, den: int) -> str:
    return DASH if den == 0 else f"{round(100 * num / den)}%"


def pct_value(num: int, den: int) -> float | None:
    return None if den == 0 else 100 * num / den


# ------------------------------------------------------------------ output


@dataclass(frozen=True)
class Table:
    """A table ready to print: every cell already formatted (and suppressed)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""
    note: str = ""

    def __bool__(self) -> bool:
        return bool(self.rows)


@dataclass(frozen=True)
class Quote:
    case_id: str
    about: str  # the domain or question the text answers
    grade: str  # the grade given ("" for feedback)
    text: str


@dataclass(frozen=True)
class Completion:
    allocated: int = 0
    returned: int = 0
    on_time: int = 0
    late: int = 0
    outstanding: int = 0
    overdue: int = 0

    @property
    def rate(self) -> float | None:
        return pct_value(self.returned, self.allocated)


@dataclass(frozen=True)
class DomainLine:
    tool: str
    domain_id: str
    title: str
    graded: int
    good_or_better: int
    counts: Mapping[str, int]
    share_hidden: bool = False  # rule P3: the Good-or-better share is not shown

    @property
    def share(self) -> float | None:
        return pct_value(self.good_or_better, self.graded)


@dataclass(frozen=True)
class Agreement:
    """Moderation agreement (rule M1): exact agreement and quadratic-weighted kappa."""

    pairs: int
    agreed: int
    kappa: float | None

    @property
    def exact(self) -> float | None:
        return pct_value(self.agreed, self.pairs)


@dataclass(frozen=True)
class PeriodFigures:
    """The headline figures of one period, for the comparison table."""

    label: str
    allocated: int
    returned: int
    on_time: int
    graded: int
    good_or_better: int
    grades: Mapping[str, int]


@dataclass(frozen=True)
class TrendPoint:
    cycle: str
    graded: int
    good_or_better: int

    @property
    def share(self) -> float | None:
        return pct_value(self.good_or_better, self.graded)


@dataclass(frozen=True)
class StaffAudits:
    """Audits of a person, not a case (GAPS 7: supervision audits, practice observations),
    reported on their own: never in the case figures (completion, grade profile, domains,
    trend). ``by_tool``: completion per tool; ``grades``: one table per tool, its questions'
    answers on the tool's own scale (rule P3 applied)."""

    completion: Completion
    returned: int  # staff-audit returns of the period (with or without an allocation)
    by_tool: Table
    grades: tuple[Table, ...]


@dataclass(frozen=True)
class DisputeFigures:
    """Grading disputes of the period (Haringey 2.11, rule G6), counted up to ``counted_to``
    (the period's end, or the as-of date when earlier): disputes opened and resolved in the
    period, those open on ``counted_to``, and the disputes whose stage passed its deadline on a
    working day of the period while still at that stage. Counts only: no audit or case ID.
    ``outcomes``: resolved by outcome; ``stages``: open on ``counted_to`` by stage and how many
    of them past their stage's deadline (rule P3 applied to both)."""

    counted_to: date
    opened: int
    resolved: int
    open: int
    past_deadline: int
    outcomes: Table
    stages: Table


@dataclass(frozen=True)
class ReportData:
    organisation: str
    audience: str
    period: Period
    as_of: date
    levels: tuple[str, ...]
    suppress_below: int
    empty: bool
    completion: Completion
    grade_counts: Mapping[str, int]
    graded: int
    good_or_better: int
    domains: tuple[DomainLine, ...]  # weakest first
    movement: Mapping[str, int]  # improved / same / downgraded
    reaudits: int
    agreement: Agreement
    safety_concerns: int
    alerts_total: int
    actions: Mapping[str, int]  # total, completed, completed_late, open, open_overdue
    followups: Mapping[str, int]  # total, closed, open, open_overdue
    comparison: tuple[PeriodFigures, ...]  # this period, previous, same period last year
    trend: tuple[TrendPoint, ...]  # up to 12 cycles, from the first with allocations
    trend_note: str  # says so when the trend is shorter than 12 cycles
    # presentation: tables with suppression applied
    tables: Mapping[str, Table] = field(default_factory=dict)
    strengths: tuple[Quote, ...] = ()
    improvements: tuple[Quote, ...] = ()
    feedback: tuple[Quote, ...] = ()
    feedback_total: int = 0
    team_grades: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # for charts
    team_hidden: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # hidden, P3
    notes: tuple[str, ...] = ()
    good_share_text: str = DASH  # the headline share, suppressed like every other (P3)
    safety_text: str = "0"  # the headline count of safety concerns, suppressed (P3)
    staff: StaffAudits | None = None  # None: no staff audit in the period (GAPS 7)
    # case tools on a scale of their own (Bedford's Yes/No case supervision audit): a table
    # each of their answers, as staff tools have; they are not graded, so not in the profiles
    case_answers: tuple[Table, ...] = ()
    disputes: DisputeFigures | None = None  # None: no dispute stages configured (rule G6)

    @property
    def good_share(self) -> float | None:
        return pct_value(self.good_or_better, self.graded)


# ------------------------------------------------------------- aggregation


def build_report(rows: ReportRows, period: Period, cfg: Config, *, as_of: date) -> ReportData:
    """Aggregate one period's register rows into the report's figures and tables (P2, P3)."""
    scale: Scale = cfg.grade_scale
    levels = scale.levels
    good_rank = levels.index("Good") + 1 if "Good" in levels else max(1, len(levels) // 2)
    good = {lvl for lvl in levels if scale.rank(lvl) <= good_rank}
    sup = Suppression(cfg.report.suppress_below)
    tables: dict[str, Table] = {}
    iso_as_of = as_of.isoformat()
    # staff audits (GAPS 7) have a section of their own; every case figure leaves them out
    allocations = [a for a in rows.allocations if not a["staff"]]
    returns = [r for r in rows.returns if not r["staff"]]
    staff = staff_audits(rows, cfg, sup, iso_as_of)

    # --- completion (allocations of the period's cycles)
    by_team: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    by_role: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    total = [0, 0, 0, 0, 0, 0]  # allocated, returned, on time, late, outstanding, overdue
    role_name = _role_names(cfg.staff.roles, (a["auditor_role"] for a in allocations))
    for a in allocations:
        status, overdue = _status(a, iso_as_of)
        role = role_name.get(normalise(a["auditor_role"] or ""), NO_ROLE)
        for acc in (by_team[a["team"] or NO_TEAM], by_role[role]):
            acc[0] += 1
            for i, v in enumerate(status):
                acc[i + 1] += v
        total[0] += 1
        for i, v in enumerate(status):
            total[i + 1] += v
        total[5] += overdue
    completion = Completion(*total)
    for key, groups, label in (
        ("completion_team", by_team, "Team"),
        ("completion_role", by_role, "Auditor role"),
    ):
        # allocated = returned + outstanding; returned = on time + late; totals in the text
        hid = _protect_rows(groups, total[:5], ((1, 4, 0), (2, 3, 1)), sup)
        tables[key] = Table(
            (label, *COMPLETION_COLUMNS),
            tuple(
                (
                    name,
                    *(sup.shown((name, i), v, hid) for i, v in enumerate(acc)),
                    sup.shown_pct((name, 1), acc[1], (name, 0), acc[0], hid),
                    sup.shown_pct((name, 2), acc[2], (name, 1), acc[1], hid),
                )
                for name, acc in sorted(groups.items())
            ),
            note=_blank_note(groups),
        )

    # --- grade profile (current returns of the period)
    grade_counts: Counter[str] = Counter()
    groups_by: dict[str, dict[str, Counter[str]]] = {
        "team": defaultdict(Counter),
        "service": defaultdict(Counter),
        "category": defaultdict(Counter),
    }
    movement: Counter[str] = Counter()
    reaudits = safety = 0
    ret_by_id: dict[int, Any] = {}
    for r in returns:
        ret_by_id[r["id"]] = r
        if r["safety_concern"]:
            safety += 1
        if r["type"] == "reaudit" or r["movement"]:
            reaudits += 1
            if r["movement"]:
                movement[r["movement"]] += 1
        overall = r["overall"]
        if overall not in levels:
            continue
        grade_counts[overall] += 1
        for dim, gmap in groups_by.items():
            gmap[r[dim] or f"(no {dim})"][overall] += 1
    graded = sum(grade_counts.values())
    good_total = sum(n for lvl, n in grade_counts.items() if lvl in good)
    ghid = _protect_grades(grade_counts, groups_by, levels, good, sup)
    tables["grades_overall"] = Table(
        ("Grade", "Returns", "Share"),
        tuple(
            (
                lvl,
                sup.shown(("all", lvl), grade_counts[lvl], ghid),
                sup.shown_pct(("all", lvl), grade_counts[lvl], ("all", "n"), graded, ghid),
            )
            for lvl in levels
        ),
    )
    for dim, title in (("team", "Team"), ("service", "Service area"), ("category", "Category")):
        tables[f"grades_{dim}"] = _grade_table(title, dim, groups_by[dim], levels, good, ghid, sup)
    team_grades = {t: dict(c) for t, c in sorted(groups_by["team"].items())}
    team_hidden = {  # the levels (and "n", the number of returns) the tables hide
        t: tuple(c for c in (*levels, "n") if ("team", t, c) in ghid) for t in team_grades
    }

    # --- domain profile
    dom_counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    rationales: dict[tuple[str, str], list[tuple[str, int, str]]] = defaultdict(list)
    tool_of = {rid: r["tool"] for rid, r in ret_by_id.items()}
    level_set = set(levels)
    # rows are (return_id, domain_id, grade, na, rationale): unpacked by position for speed
    for rid, dom_id, grade, na, rationale in rows.domain_grades:
        if na or grade not in level_set:
            continue
        tool_id = tool_of.get(rid)
        if tool_id is None:
            continue
        dkey = (tool_id, dom_id)
        dom_counts[dkey][grade] += 1
        if rationale:
            rationales[dkey].append((grade, rid, rationale))
    tools = cfg.tools
    many_tools = len({k[0] for k in dom_counts}) > 1
    domains: list[DomainLine] = []
    for (tool_id, dom_id), counts in dom_counts.items():
        n = sum(counts.values())
        g = sum(v for lvl, v in counts.items() if lvl in good)
        domains.append(
            DomainLine(tool_id, dom_id, _domain_title(tools, tool_id, dom_id), n, g, dict(counts))
        )
    domains.sort(
        key=lambda x: (x.good_or_better / x.graded, -x.graded, x.tool, _natural(x.domain_id))
    )
    dhid = _protect_domains(domains, levels, good, sup)
    domains = [
        replace(d, share_hidden=(d.tool, d.domain_id, "gob") in dhid or sup.small(d.graded))
        for d in domains
    ]
    tables["domains"] = Table(
        ("Domain", "Graded", *levels, "Good or better"),
        tuple(
            (
                (f"{tools[d.tool].name}: " if many_tools and d.tool in tools else "")
                + f"{d.domain_id} {d.title}",
                sup.shown((d.tool, d.domain_id, "n"), d.graded, dhid),
                *(
                    sup.shown((d.tool, d.domain_id, lvl), d.counts.get(lvl, 0), dhid)
                    for lvl in levels
                ),
                DASH if d.share_hidden else pct_text(d.good_or_better, d.graded),
            )
            for d in domains
        ),
    )

    # --- re-audit movement (the number of re-audits is in the text)
    moves = ("improved", "same", "downgraded")
    mhid = protect(
        {**{m: movement[m] for m in moves}, "all": reaudits},
        [(*moves, "all")],
        sup.threshold,
        fixed={"all"},
    )
    tables["movement"] = Table(
        ("Movement", "Re-audits", "Share"),
        tuple(
            (
                m.capitalize(),
                sup.shown(m, movement[m], mhid),
                sup.shown_pct(m, movement[m], "all", reaudits, mhid),
            )
            for m in moves
        ),
    )

    # --- moderation agreement (rule M1)
    pairs_all: list[tuple[int, int]] = []
    pairs_team: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for m in rows.moderations:
        a, b = m["auditor_grade"], m["moderator_grade"]
        if a in levels and b in levels:
            pair = (scale.rank(a), scale.rank(b))
            pairs_all.append(pair)
            pairs_team[m["team"] or NO_TEAM].append(pair)
    agreement = agreement_of(pairs_all, len(levels))
    tables["moderation"] = Table(
        ("Team", "Pairs", "Exact agreement", "Weighted kappa"),
        tuple(
            (team, *_agreement_cells(agreement_of(p, len(levels)), sup))
            for team, p in sorted(pairs_team.items())
        )
        + ((("All teams", *_agreement_cells(agreement, sup)),) if pairs_all else ()),
        note=_blank_note(pairs_team),
    )

    # --- escalations and follow-ups
    alerts_total = sum(int(a["n"]) for a in rows.alerts)
    ahid = protect(
        {**{a["rule"]: int(a["n"]) for a in rows.alerts}, "all": alerts_total},
        [(*(a["rule"] for a in rows.alerts), "all")],  # the total is in the text
        sup.threshold,
        fixed={"all"},
    )
    tables["alerts"] = Table(
        ("Rule", "Alerts raised", "Returns"),
        tuple(
            (
                ALERT_LABELS.get(a["rule"], a["rule"]),
                sup.shown(a["rule"], int(a["n"]), ahid),
                sup.count(int(a["returns"])),
            )
            for a in rows.alerts
        ),
    )
    fu_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for f in rows.followups:
        acc = fu_kind[f["kind"]]
        acc[0] += 1
        if f["done_on"]:
            acc[1] += 1
        else:
            acc[2] += 1
            if f["due"] < iso_as_of:
                acc[3] += 1
    fu_total = [sum(acc[i] for acc in fu_kind.values()) for i in range(4)]
    fhid = _protect_rows(fu_kind, fu_total, ((1, 2, 0),), sup)  # raised = closed + open
    tables["followups"] = Table(
        ("Follow-up", "Raised", "Closed", "Open", "Open and overdue"),
        tuple(
            (
                FOLLOWUP_LABELS.get(kind, kind),
                *(sup.shown((kind, i), v, fhid) for i, v in enumerate(acc)),
            )
            for kind, acc in sorted(fu_kind.items())
        ),
    )

    # --- actions
    act = Counter[str]()
    for a in rows.actions:
        act["total"] += 1
        if a["completed_on"]:
            act["completed"] += 1
            if a["due"] and a["completed_on"] > a["due"]:
                act["completed_late"] += 1
        else:
            act["open"] += 1
            if a["due"] and a["due"] < iso_as_of:
                act["open_overdue"] += 1

    # --- compliance and feedback (return_fields)
    compliance: dict[str, list[int]] = {}
    feedback_by_q: dict[str, list[tuple[str, int]]] = defaultdict(list)
    feedback_total = 0
    answers: dict[str, bool | None] = {}  # each distinct answer parsed once
    # rows are (return_id, section, name, value)
    for rid, section, name, raw in rows.fields:
        if rid not in ret_by_id:
            continue
        value = (raw or "").strip()
        if not value:
            continue
        if section == "compliance":
            acc = compliance.setdefault(name, [0, 0, 0])
            if value not in answers:
                try:
                    answers[value] = YES_NO.parse(value) == "Yes"
                except GradeError:
                    answers[value] = None
            yes = answers[value]
            if yes is None:
                acc[2] += 1  # N/A or other answers: not counted in the share
                continue
            acc[0] += 1
            acc[1] += yes
        else:
            feedback_total += 1
            feedback_by_q[name].append((value, rid))
    tables["compliance"] = Table(
        ("Question", "Answered", "Yes", "Yes %"),
        tuple(
            (q, sup.count(acc[0]), sup.count(acc[1]), sup.pct(acc[1], acc[0]))
            for q, acc in compliance.items()
        ),
    )
    feedback: list[Quote] = []
    for question, answered in feedback_by_q.items():
        answered.sort(key=lambda a: (-len(a[0]), a[1]))
        texts: set[str] = set()
        for value, rid in answered:
            if value in texts:
                continue
            texts.add(value)
            fret = ret_by_id[rid]
            feedback.append(Quote(fret["case_id"], question, "", _quote(value, _names_of(fret))))
            if len(texts) == FEEDBACK_PER_QUESTION:
                break

    # --- what we learned: rationales of the strongest and weakest domains
    bad = set(levels) - good
    strengths = _learned(
        [d for d in reversed(domains) if d.good_or_better],
        good,
        rationales,
        ret_by_id,
        sup,
    )
    improvements = _learned(
        [d for d in domains if d.graded > d.good_or_better],
        bad,
        rationales,
        ret_by_id,
        sup,
    )

    # --- comparison and trend (per-cycle aggregates)
    cyc_grades: dict[str, Counter[str]] = defaultdict(Counter)
    for cg in rows.cycle_grades:
        if cg["overall"] in levels:
            cyc_grades[cg["cycle"]][cg["overall"]] += int(cg["n"])
    cyc_comp = {c["cycle"]: c for c in rows.cycle_completion}

    def figures(p: Period, label: str) -> PeriodFigures:
        gc: Counter[str] = Counter()
        alloc = nret = ontime = 0
        for c in p.cycles:
            gc.update(cyc_grades.get(c, Counter()))
            crow = cyc_comp.get(c)
            if crow is not None:
                alloc += int(crow["allocated"])
                nret += int(crow["returned"])
                ontime += int(crow["on_time"] or 0)
        n = sum(gc.values())
        return PeriodFigures(
            label, alloc, nret, ontime, n, sum(v for lvl, v in gc.items() if lvl in good), dict(gc)
        )

    comparison = (
        figures(period, period.label),
        figures(period.previous(), period.previous().label),
        figures(period.same_last_year(), period.same_last_year().label),
    )
    trend_cycles = _trend_cycles(period, set(cyc_comp) | set(cyc_grades))
    trend = tuple(
        TrendPoint(
            c,
            sum(cyc_grades[c].values()) if c in cyc_grades else 0,
            sum(v for lvl, v in cyc_grades[c].items() if lvl in good) if c in cyc_grades else 0,
        )
        for c in trend_cycles
    )
    trend_note = (
        f"The trend starts at {trend_cycles[0]}, the first cycle with allocations."
        if len(trend_cycles) < TREND_CYCLES
        else ""
    )
    tables["comparison"] = _comparison_table(comparison, levels, good, sup)
    focus = focus_table(cfg, period)
    if focus is not None:
        tables["focus"] = focus

    notes = []
    if sup.threshold > 1:
        notes.append(
            f"Counts from 1 to {sup.threshold - 1} in breakdowns are shown as "
            f'"<{sup.threshold}" and percentages based on them as "{DASH}" (disclosure control). '
            f"Where a hidden count could be worked out from a total, a second figure is also shown "
            f'as "{DASH}".'
        )
    notes.append(
        "Case IDs only: no child's name appears in this report. Names of staff found in "
        "quoted text are replaced by [name]."
    )

    return ReportData(
        organisation=cfg.organisation.name,
        audience=cfg.report.audience,
        period=period,
        as_of=as_of,
        levels=levels,
        suppress_below=sup.threshold,
        empty=not rows.allocations and not rows.returns,
        completion=completion,
        grade_counts={lvl: grade_counts[lvl] for lvl in levels},
        graded=graded,
        good_or_better=good_total,
        domains=tuple(domains),
        movement={m: movement[m] for m in ("improved", "same", "downgraded")},
        reaudits=reaudits,
        agreement=agreement,
        safety_concerns=safety,
        alerts_total=alerts_total,
        actions={
            k: act[k] for k in ("total", "completed", "completed_late", "open", "open_overdue")
        },
        followups=dict(zip(("total", "closed", "open", "open_overdue"), fu_total, strict=True)),
        comparison=comparison,
        trend=trend,
        trend_note=trend_note,
        tables=tables,
        strengths=tuple(strengths),
        improvements=tuple(improvements),
        feedback=tuple(feedback),
        feedback_total=feedback_total,
        team_grades=team_grades,
        team_hidden=team_hidden,
        notes=tuple(notes),
        good_share_text=sup.shown_pct(("all", "gob"), good_total, ("all", "n"), graded, ghid),
        safety_text=sup.count(safety),
        staff=staff,
        case_answers=case_answer_tables(rows, cfg, sup),
        disputes=dispute_figures(rows, period, cfg, sup, as_of),
    )


def _trend_cycles(period: Period, active: set[str]) -> list[str]:
    """The last ``TREND_CYCLES`` cycles to the period's end, from the first that has
    allocations (or graded returns): a register's first year has no empty cycles before it."""
    last = period.cycles[-1]
    window = cycles_between(shift_cycle(last, -(TREND_CYCLES - 1)), last)
    first = next((i for i, c in enumerate(window) if c in active), None)
    if first is None:
        return list(window[-len(period.cycles) :])
    return list(window[first:])


def dispute_figures(
    rows: ReportRows, period: Period, cfg: Config, sup: Suppression, as_of: date
) -> DisputeFigures | None:
    """The period's grading disputes (rule G6) from their stage history; None when the
    council configures no dispute stages."""
    stages = cfg.dispute.stages
    if not stages:
        return None
    from qaf.calendar import WorkingCalendar, parse_duration

    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    start, end = period.start, min(period.end, as_of)
    opened: set[int] = set()
    outcomes: Counter[str] = Counter()
    at_end: Counter[int] = Counter()  # stage index -> open on ``end``
    late_at_end: Counter[int] = Counter()
    past: set[int] = set()
    for h in rows.disputes:
        day = _day(h["opened_on"])
        if start <= day <= end:
            opened.add(h["id"])
        resolved = h["resolved_on"] and _day(h["resolved_on"])
        if h["stage"] == 0 and resolved and start <= resolved <= end:
            outcomes[h["outcome"] or "(no outcome given)"] += 1
        index = min(int(h["stage"]), len(stages) - 1)  # the configuration may have lost stages
        began = _day(h["started_on"])
        ended = h["ended_on"] and _day(h["ended_on"])
        due = calendar.add(began, parse_duration(stages[index].within))
        # the first working day of the period on which the stage was past its deadline
        first_late = calendar.roll_forward(max(start, due + ONE_DAY))
        if first_late <= end and (not ended or first_late < ended):
            past.add(h["id"])
        if began <= end and (not ended or ended > end):
            at_end[index] += 1
            late_at_end[index] += calendar.working_days_between(due, end) > 0
    return DisputeFigures(
        end,
        len(opened),
        sum(outcomes.values()),
        sum(at_end.values()),
        len(past),
        _count_table("Outcome", "Resolved", sorted(outcomes.items(), key=lambda o: -o[1]), sup),
        _stage_table(stages, at_end, late_at_end, sup),
    )


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _count_table(
    label: str, column: str, counts: Sequence[tuple[str, int]], sup: Suppression
) -> Table:
    """One count a row; their total is in the text, so it is a fixed figure (P3)."""
    values: dict[Any, int] = {name: n for name, n in counts}
    hid = protect(
        {**values, "all": sum(values.values())}, [(*values, "all")], sup.threshold, {"all"}
    )
    return Table((label, column), tuple((name, sup.shown(name, n, hid)) for name, n in counts))


def _stage_table(
    stages: Sequence[Any], at_end: Mapping[int, int], late: Mapping[int, int], sup: Suppression
) -> Table:
    """Disputes open at the end, by stage, and how many of them past the stage's deadline."""
    values: dict[Any, int] = {}
    for i in range(len(stages)):
        values[(i, "open")], values[(i, "late")] = at_end.get(i, 0), late.get(i, 0)
    values["open"], values["late"] = sum(at_end.values()), sum(late.values())
    relations = [
        [(i, "open") for i in range(len(stages))] + ["open"],
        [(i, "late") for i in range(len(stages))] + ["late"],
    ]
    hid = protect(values, relations, sup.threshold, {"open", "late"})
    return Table(
        ("Stage", "Open", "Past its deadline"),
        tuple(
            (
                f"{i + 1}. {stage.name}",
                sup.shown((i, "open"), values[(i, "open")], hid),
                sup.shown((i, "late"), values[(i, "late")], hid),
            )
            for i, stage in enumerate(stages)
        ),
    )


def _status(a: Any, iso_as_of: str) -> tuple[tuple[int, int, int, int], int]:
    """An allocation's (returned, on time, late, outstanding) and whether it is overdue."""
    received, due = a["received_on"], a["due"]
    if received:
        on_time = 1 if received <= due else 0
        return (1, on_time, 1 - on_time, 0), 0
    return (0, 0, 0, 1), 1 if due < iso_as_of else 0


def staff_audits(
    rows: ReportRows, cfg: Config, sup: Suppression, iso_as_of: str
) -> StaffAudits | None:
    """The period's staff audits (GAPS 7) apart from the case audits: completion by tool and,
    for each tool, how its questions (and overall grade, when it has one) were answered on
    its own scale (yes / no, skills, ...). Small counts suppressed (rule P3); None when the
    period has no staff audit."""
    allocations = [a for a in rows.allocations if a["staff"]]
    returns = {r["id"]: r for r in rows.returns if r["staff"]}
    if not allocations and not returns:
        return None
    tools = cfg.tools
    by_tool: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    total = [0, 0, 0, 0, 0, 0]  # allocated, returned, on time, late, outstanding, overdue
    for a in allocations:
        status, overdue = _status(a, iso_as_of)
        acc = by_tool[_tool_name(tools, a["tool"])]
        acc[0] += 1
        total[0] += 1
        for i, v in enumerate(status):
            acc[i + 1] += v
            total[i + 1] += v
        total[5] += overdue
    hid = _protect_rows(by_tool, total[:5], ((1, 4, 0), (2, 3, 1)), sup)
    completion_table = Table(
        ("Staff audit", *COMPLETION_COLUMNS),
        tuple(
            (
                name,
                *(sup.shown((name, i), v, hid) for i, v in enumerate(acc)),
                sup.shown_pct((name, 1), acc[1], (name, 0), acc[0], hid),
                sup.shown_pct((name, 2), acc[2], (name, 1), acc[1], hid),
            )
            for name, acc in sorted(by_tool.items())
        ),
    )
    grades = _answer_tables(returns, rows.domain_grades, tools, sup)
    return StaffAudits(Completion(*total), len(returns), completion_table, grades)


def case_answer_tables(rows: ReportRows, cfg: Config, sup: Suppression) -> tuple[Table, ...]:
    """Rule P2 (trial2 T2-21): the answers of the period's case audits whose tool is on a
    scale other than the grades (Bedford's Yes/No case supervision audit), a table per tool
    as staff tools have; such answers are no grade, so the profiles leave them out."""
    levels = tuple(cfg.grade_scale.levels)
    own_scale = {tid for tid, tool in cfg.tools.items() if tuple(tool.scale.levels) != levels}
    returns = {r["id"]: r for r in rows.returns if not r["staff"] and r["tool"] in own_scale}
    return _answer_tables(returns, rows.domain_grades, cfg.tools, sup) if returns else ()


def _answer_tables(
    returns: Mapping[Any, Any],
    domain_grades: Iterable[Any],
    tools: Mapping[str, Any],
    sup: Suppression,
) -> tuple[Table, ...]:
    """A table per tool of how ``returns`` (by id) answered its questions (and overall
    grade, when it has one) on the tool's own scale, in the order of qaf.toml's tools."""
    answers: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for r in returns.values():
        if r["overall"]:
            answers[r["tool"]][""][r["overall"]] += 1
    for rid, dom_id, grade, na, _rationale in domain_grades:
        ret = returns.get(rid)
        if ret is not None and (na or grade):
            answers[ret["tool"]][dom_id]["N/A" if na else grade] += 1
    order = {tool_id: i for i, tool_id in enumerate(tools)}
    per_tool = Counter(r["tool"] for r in returns.values())
    return tuple(
        _staff_grade_table(tools, tool_id, answers[tool_id], per_tool[tool_id], sup)
        for tool_id in sorted(answers, key=lambda t: (order.get(t, len(order)), t))
    )


def _tool_name(tools: Mapping[str, Any], tool_id: str) -> str:
    tool = tools.get(tool_id)
    return str(tool.name) if tool is not None else tool_id


def _staff_grade_table(
    tools: Mapping[str, Any],
    tool_id: str,
    answers: Mapping[str, Counter[str]],
    returns: int,
    sup: Suppression,
) -> Table:
    """One staff tool's answers: a row per question (the overall grade first, when asked),
    a column per level of the tool's scale, "Answered" their sum, "N/A" apart. Rule P3:
    each row's levels add up to "Answered", and "Answered" and "N/A" to the tool's
    ``returns`` (known from the other rows), so both relations are protected."""
    tool = tools.get(tool_id)
    seen = {v for counts in answers.values() for v in counts if v != "N/A"}
    levels = list(tool.scale.levels) if tool is not None else []
    levels += sorted(seen - set(levels))  # answers the scale no longer offers
    questions = [d.id for d in tool.domains] if tool is not None else []
    rows_ids = [q for q in ("", *questions) if q in answers]
    rows_ids += sorted((q for q in answers if q not in rows_ids), key=_natural)
    values: dict[Any, int] = {"returns": returns}
    relations: list[list[Any]] = []
    for q in rows_ids:
        counts = answers[q]
        values.update({(q, lvl): counts.get(lvl, 0) for lvl in levels})
        values[(q, "n")] = sum(counts.get(lvl, 0) for lvl in levels)
        values[(q, "N/A")] = counts.get("N/A", 0)
        relations.append([*((q, lvl) for lvl in levels), (q, "n")])
        relations.append([(q, "n"), (q, "N/A"), "returns"])
    hidden = protect(values, relations, sup.threshold, fixed={"returns"})
    with_na = any(values[(q, "N/A")] for q in rows_ids)
    out = []
    for q in rows_ids:
        label = "Overall" if q == "" else f"{q} {_domain_title(tools, tool_id, q)}".strip()
        cells = [sup.shown((q, c), values[(q, c)], hidden) for c in ("n", *levels)]
        if with_na:
            cells.append(sup.shown((q, "N/A"), values[(q, "N/A")], hidden))
        out.append((label, *cells))
    return Table(
        ("Question", "Answered", *levels, *(("N/A",) if with_na else ())),
        tuple(out),
        title=_tool_name(tools, tool_id),
    )


def _grade_table(
    title: str,
    dim: str,
    groups: Mapping[str, Counter[str]],
    levels: Sequence[str],
    good: set[str],
    hidden: Hidden,
    sup: Suppression,
) -> Table:
    rows = []
    for name, counts in sorted(groups.items()):
        n = sum(counts.values())
        rows.append(
            (
                name,
                sup.shown((dim, name, "n"), n, hidden),
                *(sup.shown((dim, name, lvl), counts[lvl], hidden) for lvl in levels),
                DASH
                if (dim, name, "gob") in hidden or sup.small(n)
                else pct_text(sum(v for lvl, v in counts.items() if lvl in good), n),
            )
        )
    return Table(
        (title, "Returns", *levels, "Good or better"), tuple(rows), note=_blank_note(groups)
    )


def focus_table(cfg: Config, period: Period) -> Table | None:
    """Each quota's theme of focus for each month of the period (rule C3, GAPS 5), or None
    when no quota has its own programme (the cycle's focus is then the one theme for all).

    A quota without a programme follows ``[cycle] focus``; quotas of the same name and
    programme share a column; a quota (or month) with no theme in the period is left out.
    """
    quotas = [q for q in cfg.quotas if q.subject == "case"]
    if not any(q.focus is not None for q in quotas):
        return None
    columns: dict[str, tuple[Mapping[str, tuple[str, ...]], list[str]]] = {}
    for q in quotas:
        programme = q.focus if q.focus is not None else cfg.cycle.focus_themes
        if not any(programme.get(c) for c in period.cycles):
            continue
        label = q.name or q.role
        if label in columns and columns[label][0] != programme:
            label = f"{label} ({q.role})"
        columns.setdefault(label, (programme, []))[1].append(q.role)
    rows = []
    for cycle in period.cycles:
        cells = [" / ".join(prog.get(cycle, ())) or DASH for prog, _ in columns.values()]
        if any(cell != DASH for cell in cells):
            rows.append((month_period(cycle).label, *cells))
    if not rows:
        return None
    return Table(
        columns=("Month", *columns),
        rows=tuple(rows),
        title="Themes of focus",
        note=(
            "Only cases in a month's themes are drawn for its audits (rule C3)."
            if cfg.cycle.focus_mode == "restrict"
            else f"Cases in a month's themes are weighted ×{cfg.cycle.focus_weight:g} when its "
            "audits are drawn (rule C3)."
        ),
    )


def _role_names(configured: Iterable[str], seen: Iterable[str | None]) -> dict[str, str]:
    """How each role is shown (F18): the config's spelling, else the first spelling seen,
    so "team manager" and "Team Manager " are one row, "Team Manager"."""
    names: dict[str, str] = {}
    for role in (*configured, *(r for r in seen if r)):
        names.setdefault(normalise(role), role.strip())
    names.pop("", None)
    return names


def _blank_note(groups: Iterable[str]) -> str:
    """Why a "(no team)" row is there (F18): the source left the value blank."""
    blank = [g for g in groups if g in BLANK_EXPLAINED]
    return " ".join(BLANK_EXPLAINED[g] for g in sorted(blank))


def _grade_values(
    prefix: tuple[str, ...], counts: Mapping[str, int], levels: Sequence[str], good: set[str]
) -> dict[Any, int]:
    values: dict[Any, int] = {(*prefix, lvl): counts.get(lvl, 0) for lvl in levels}
    values[(*prefix, "n")] = sum(counts.get(lvl, 0) for lvl in levels)
    values[(*prefix, "gob")] = sum(counts.get(lvl, 0) for lvl in levels if lvl in good)
    return values


def _protect_grades(
    overall: Mapping[str, int],
    groups_by: Mapping[str, Mapping[str, Mapping[str, int]]],
    levels: Sequence[str],
    good: set[str],
    sup: Suppression,
) -> Hidden:
    """Rule P3 for the grade profile: the overall row (its number of returns is a headline,
    never hidden) and the breakdowns, whose columns add up to the overall row."""
    values = _grade_values(("all",), overall, levels, good)
    relations = grade_relations(("all",), levels, good)
    for dim, groups in groups_by.items():
        for name, counts in groups.items():
            values.update(_grade_values((dim, name), counts, levels, good))
            relations += grade_relations((dim, name), levels, good)
        for col in (*levels, "n", "gob"):
            relations.append([*((dim, name, col) for name in groups), ("all", col)])
    keep = [k for k in values if k[-1] in ("n", "gob")]
    return protect(values, relations, sup.threshold, fixed={("all", "n")}, keep=keep)


def _protect_domains(
    domains: Sequence[DomainLine], levels: Sequence[str], good: set[str], sup: Suppression
) -> Hidden:
    values: dict[Any, int] = {}
    relations: list[list[Any]] = []
    for d in domains:
        values.update(_grade_values((d.tool, d.domain_id), d.counts, levels, good))
        relations += grade_relations((d.tool, d.domain_id), levels, good)
    keep = [k for k in values if k[-1] in ("n", "gob")]
    return protect(values, relations, sup.threshold, keep=keep)


def _protect_rows(
    rows: Mapping[str, Sequence[int]],
    totals: Sequence[int],
    row_sums: Iterable[tuple[int, int, int]],
    sup: Suppression,
) -> Hidden:
    """Rule P3 for a table of counts whose column totals are printed in the text and whose
    columns are related within a row by ``row_sums`` (a, b, c: column a + column b = c)."""
    values: dict[Any, int] = {(name, i): v for name, acc in rows.items() for i, v in enumerate(acc)}
    relations: list[list[Any]] = [
        [(name, a), (name, b), (name, c)] for name in rows for a, b, c in row_sums
    ]
    for i, total in enumerate(totals):
        values[("total", i)] = total
        relations.append([*((name, i) for name in rows), ("total", i)])
    fixed = {("total", i) for i in range(len(totals))}
    return protect(values, relations, sup.threshold, fixed=fixed)


def _agreement_cells(a: Agreement, sup: Suppression) -> tuple[str, str, str]:
    if sup.small(a.pairs):
        return sup.count(a.pairs), DASH, DASH
    kappa = DASH if a.kappa is None else f"{a.kappa:.2f}"
    return str(a.pairs), pct_text(a.agreed, a.pairs), kappa


def agreement_of(pairs: Sequence[tuple[int, int]], k: int) -> Agreement:
    """Exact agreement and Cohen's quadratic-weighted kappa of (auditor, moderator) ranks 1..k.

    kappa = 1 - sum(w * observed) / sum(w * expected), w = (i - j)^2 / (k - 1)^2;
    None when undefined (no pairs, or every grade on both sides the same).
    """
    n = len(pairs)
    agreed = sum(1 for a, b in pairs if a == b)
    if n == 0 or k < 2:
        return Agreement(n, agreed, None)
    rows = Counter(a for a, _ in pairs)
    cols = Counter(b for _, b in pairs)
    scale = (k - 1) ** 2
    observed = sum((a - b) ** 2 for a, b in pairs) / scale
    expected = sum(rows[i] * cols[j] * (i - j) ** 2 for i in rows for j in cols) / scale / n
    if expected == 0:
        return Agreement(n, agreed, None)
    return Agreement(n, agreed, 1 - observed / expected)


def _domain_title(tools: Mapping[str, Any], tool_id: str, dom_id: str) -> str:
    tool = tools.get(tool_id)
    if tool is None:
        return ""
    try:
        return str(tool.domain(dom_id).title)
    except KeyError:
        return ""


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def _names_of(r: Any) -> tuple[str, ...]:
    names = []
    for col in ("worker", "auditor"):
        try:
            name = r[col]
        except (IndexError, KeyError):
            continue
        if name:
            names.append(name)
    return tuple(names)


@lru_cache(maxsize=1024)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    parts = {p for name in names for p in (name, *name.split()) if len(p) >= 3}
    if not parts:
        return None
    alternatives = "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b")


def _quote(text: str, names: Iterable[str] = ()) -> str:
    """A quotable excerpt: whitespace folded, staff names masked, cut at QUOTE_MAX."""
    t = " ".join(text.split())
    pattern = _names_pattern(tuple(names))
    if pattern is not None:
        t = re.sub(r"\[name\](?: \[name\])+", "[name]", pattern.sub("[name]", t))
    if len(t) > QUOTE_MAX:
        t = t[: QUOTE_MAX - 1].rsplit(" ", 1)[0] + "…"
    return t


def _learned(
    domains: Sequence[DomainLine],
    wanted: set[str],
    rationales: Mapping[tuple[str, str], list[tuple[str, int, str]]],
    returns: Mapping[int, Any],
    sup: Suppression,
) -> list[Quote]:
    """Up to QUOTES_PER_DOMAIN rationales (longest first) for each of the first domains.

    Only rationales given with a ``wanted`` grade are quoted (strengths: Good or better;
    areas for improvement: the rest); domains without one are passed over.
    """
    out: list[Quote] = []
    seen_raw: set[str] = set()
    seen_quoted: set[frozenset[str]] = set()  # the same sentences in another order: seen
    with_quotes = [d for d in domains if _has_rationale(d, wanted, rationales)]
    # domains graded often enough to show their counts come first: they are the firmer lessons
    with_quotes.sort(key=lambda d: sup.small(d.graded))
    for d in with_quotes[:LEARNED_DOMAINS]:
        candidates = [c for c in rationales.get((d.tool, d.domain_id), []) if c[0] in wanted]
        candidates.sort(key=lambda c: (-len(c[2]), c[1]))
        taken = 0
        for grade, rid, raw in candidates:
            if raw in seen_raw:
                continue
            seen_raw.add(raw)
            r = returns[rid]
            quoted = _quote(raw, _names_of(r))
            gist = _sentences(quoted)
            if gist in seen_quoted:
                continue
            seen_quoted.add(gist)
            out.append(Quote(r["case_id"], f"{d.domain_id} {d.title}".strip(), grade, quoted))
            taken += 1
            if taken == QUOTES_PER_DOMAIN:
                break
    return out


def _sentences(text: str) -> frozenset[str]:
    return frozenset(p.casefold() for p in re.split(r"(?<=[.!?])\s+", text) if p)


def _has_rationale(
    d: DomainLine,
    wanted: set[str],
    rationales: Mapping[tuple[str, str], list[tuple[str, int, str]]],
) -> bool:
    return any(c[0] in wanted for c in rationales.get((d.tool, d.domain_id), ()))


def _comparison_table(
    figs: Sequence[PeriodFigures], levels: Sequence[str], good: set[str], sup: Suppression
) -> Table:
    def row(label: str, values: Sequence[str]) -> tuple[str, ...]:
        return (label, *values)

    # rule P3: each period's column on its own (its number of graded returns is printed)
    hidden = [
        protect(
            _grade_values((), f.grades, levels, good),
            grade_relations((), levels, good),
            sup.threshold,
            fixed={("n",)},
            keep={("gob",)},
        )
        for f in figs
    ]

    def share(f: PeriodFigures, h: Hidden, key: str, num: int) -> str:
        return sup.shown_pct((key,), num, ("n",), f.graded, h)

    rows = [
        row("Allocated", [str(f.allocated) for f in figs]),
        row("Returned", [str(f.returned) for f in figs]),
        row("Returned %", [pct_text(f.returned, f.allocated) for f in figs]),
        row("Returned on time %", [pct_text(f.on_time, f.returned) for f in figs]),
        row("Graded returns", [str(f.graded) for f in figs]),
        row(
            "Good or better %",
            [share(f, h, "gob", f.good_or_better) for f, h in zip(figs, hidden, strict=True)],
        ),
    ]
    for lvl in levels:
        rows.append(
            row(
                f"{lvl} %",
                [share(f, h, lvl, f.grades.get(lvl, 0)) for f, h in zip(figs, hidden, strict=True)],
            )
        )
    return Table(
        ("", "This period", "Previous period", "Same period last year"),
        tuple(rows),
        note=" · ".join(
            f"{name}: {f.label}"
            for name, f in zip(("This period", "Previous", "Last year"), figs, strict=True)
        ),
    )


# --------------------------------------------------------------- rendering

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|]|<(?=[A-Za-z/!?]))")


def md_escape(value: object) -> str:
    """Text safe inside a GitHub-flavoured Markdown table cell or quote.

    Backslashes and Markdown punctuation are backslash-escaped (so a pipe never
    splits a cell and ``<script>`` is shown as text), line breaks become ``<br>``.
    """
    text = _MD_SPECIAL.sub(r"\\\1", str(value))
    return re.sub(r"\r\n|\r|\n", "<br>", text)


def template_dirs(config_root: Path | None) -> list[Path]:
    """Where templates are looked up, first match wins: the user's, then qaf's."""
    dirs = []
    if config_root is not None and (config_root / "templates").is_dir():
        dirs.append(config_root / "templates")
    dirs.append(TEMPLATE_DIR)
    return dirs


def _template_cache(jinja2: Any) -> Any:
    """Compiled templates kept on disk (qaf's cache folder), or None when it cannot be written.

    Compiling the report templates costs each ``qaf report`` about 0.2 s; jinja keys
    the cache by template name and source checksum, so an edited (or a council's own)
    template is compiled afresh. Same folder rule as the bank-holiday cache.
    """
    import contextlib

    from qaf.cachedir import cache_folder

    folder = cache_folder() / f"templates-jinja-{jinja2.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None

    class _BestEffortCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: Any) -> None:
            # a read-only cache folder: the template is compiled again next time
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    return _BestEffortCache(str(folder))


def render(data: ReportData, fmt: Literal["md", "html"], *, config_root: Path | None = None) -> str:
    """The report as Markdown or as one self-contained HTML page."""
    import jinja2

    from qaf import charts

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(str(d)) for d in template_dirs(config_root)]
        ),
        autoescape=jinja2.select_autoescape(("html", "htm", "xml", "html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_template_cache(jinja2),
    )
    env.filters["md"] = md_escape
    env.filters["pct"] = lambda v: DASH if v is None else f"{round(v)}%"
    svg: dict[str, Any] = {}
    if fmt == "html":
        svg = {k: jinja2.utils.markupsafe.Markup(v) for k, v in charts.report_charts(data).items()}
    template = env.get_template(f"report.{fmt}.j2")
    return template.render(d=data, t=data.tables, charts=svg, DASH=DASH)


# ------------------------------------------------------------------ JSON


def _small_count(n: int, threshold: int) -> str:
    return f"<{threshold}" if 0 < n < threshold else str(n)


def report_json(data: ReportData) -> dict[str, Any]:
    """``qaf report --format json``: what the Markdown and HTML packs show, as data.

    The same disclosure control (rule P3): breakdown tables carry their cells exactly as
    printed ("<5", "—"), headline totals are plain counts as in the pack's summary, the
    trend's small cycles are suppressed as in the pack, and the raw per-team and
    per-domain counts behind the charts are left out. Quotes carry case IDs and masked
    text; the register holds no child's name (P3). Field names: README "JSON output".
    """
    t = max(1, data.suppress_below)
    c = data.completion
    p = data.period
    return {
        "organisation": data.organisation,
        "audience": data.audience,
        "period": {
            "kind": p.kind,
            "key": p.key,
            "label": p.label,
            "cycles": list(p.cycles),
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "financial_year": p.financial_year,
        },
        "as_of": data.as_of.isoformat(),
        "levels": list(data.levels),
        "suppress_below": data.suppress_below,
        "empty": data.empty,
        "summary": {
            "allocated": c.allocated,
            "returned": c.returned,
            "returned_share": DASH if c.rate is None else f"{round(c.rate)}%",
            "on_time": c.on_time,
            "late": c.late,
            "outstanding": c.outstanding,
            "overdue": c.overdue,
            "graded": data.graded,
            "good_or_better_share": data.good_share_text,
            "safety_concerns": data.safety_text,  # as the pack prints it: "<5" when small
            "reaudits": data.reaudits,
            "moderation_pairs": data.agreement.pairs,
            "alerts": data.alerts_total,
            "followups": dict(data.followups),
            "actions": dict(data.actions),
            "feedback_answers": data.feedback_total,
        },
        "tables": {key: _table_json(tb) for key, tb in data.tables.items()},
        "trend": [
            {
                "cycle": pt.cycle,
                "graded": _small_count(pt.graded, t),
                "good_or_better_share": DASH
                if pt.share is None or pt.graded < t
                else f"{round(pt.share)}%",
            }
            for pt in data.trend
        ],
        "strengths": [_quote_json(q) for q in data.strengths],
        "improvements": [_quote_json(q) for q in data.improvements],
        "feedback": [_quote_json(q) for q in data.feedback],
        "notes": list(data.notes),
        "staff_audits": _staff_json(data.staff),
        "case_answers": [_table_json(tb) for tb in data.case_answers],
        "disputes": _disputes_json(data.disputes),
    }


def _disputes_json(g: DisputeFigures | None) -> dict[str, Any] | None:
    """Grading disputes (rule G6): totals in full as in the pack's text, tables as printed."""
    if g is None:
        return None
    return {
        "counted_to": g.counted_to.isoformat(),
        "opened": g.opened,
        "resolved": g.resolved,
        "open": g.open,
        "past_deadline": g.past_deadline,
        "outcomes": _table_json(g.outcomes),
        "stages": _table_json(g.stages),
    }


def _table_json(tb: Table) -> dict[str, Any]:
    return {
        "title": tb.title,
        "columns": list(tb.columns),
        "rows": [list(row) for row in tb.rows],
        "note": tb.note,
    }


def _staff_json(staff: StaffAudits | None) -> dict[str, Any] | None:
    """Staff audits (GAPS 7), apart from ``summary`` and ``tables`` (the case audits)."""
    if staff is None:
        return None
    c = staff.completion
    return {
        "allocated": c.allocated,
        "returned": c.returned,
        "returned_share": DASH if c.rate is None else f"{round(c.rate)}%",
        "on_time": c.on_time,
        "late": c.late,
        "outstanding": c.outstanding,
        "overdue": c.overdue,
        "returns": staff.returned,
        "by_tool": _table_json(staff.by_tool),
        "grades": [_table_json(tb) for tb in staff.grades],
    }


def _quote_json(q: Quote) -> dict[str, str]:
    return {"case_id": q.case_id, "about": q.about, "grade": q.grade, "text": q.text}
