"""Reads and validates ``qaf.toml`` into frozen dataclasses.

Every rule of DESIGN.md §3 is a setting here, with the default given there.
A bad config is refused with a ``ConfigError`` naming the key path, the bad
value and what was expected (``sample.fraction: 1.5 is not between 0 and 1``);
unknown keys are refused too, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from qaf.grades import OFSTED_GRADES, Scale, builtin_scales, normalise
from qaf.problems import ConfigError

CONFIG_NAME = "qaf.toml"
ENV_VAR = "QAF_CONFIG"

SCOPES = (
    "own-team",
    "outside-own-team",
    "outside-own-service",
    "any",
    # === presets (issue 9): additive scopes
    "own-service",  # Lancashire: "cases within their own function"; Bedford §4 HoS audits
    "line-managed",  # the case's worker (or the audited person) is line-managed by the auditor
)
QUOTA_PERIODS = ("cycle", "quarter", "year")  # Lancashire: "each manager one a quarter"
CYCLES_PER_PERIOD = {"cycle": 1, "quarter": 3, "year": 12}
QUOTA_UNITS = (
    "auditor",
    "team",  # Rochdale 3.2: "a minimum of 4 per team per month"
    "subject",  # Bedford §5: every worker observed at least once a year (subject = "staff")
)
QUOTA_DRAWS = ("sample", "extra")  # Rochdale 3.4: tier 2 "in addition to" the service's own QA
QUOTA_SUBJECTS = ("case", "staff")  # Bedford App B: professional supervision audits a person
QUOTA_ALLOCATORS = ("qaf", "service")  # Lancashire, Dip Samples: "allocation by the service"
REAUDIT_CASES = ("same", "other-of-worker")  # Lancashire: "a different learning space"
GRADE_DISPLAYS = ("words", "numbers", "number-and-word")  # Rochdale App 2A "Grade (1-4)"
BANK_HOLIDAY_REGIONS = ("england-and-wales", "scotland", "northern-ireland")

CASE_COLUMNS_REQUIRED = ("case_id", "team", "worker", "service", "category")
CASE_COLUMNS_OPTIONAL = (
    "status",
    "name",
    "dob",
    "gender",
    "ethnicity",
    "primary_need",
    "legal_status",
    "cp_plan_start",
    "referral_date",
    "last_visit",
)
STAFF_COLUMNS_REQUIRED = ("name", "email", "role", "team", "service")
STAFF_COLUMNS_OPTIONAL = ("manager", "available", "absent_from", "absent_to")

T = TypeVar("T")


# ---------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Organisation:
    name: str
    bank_holidays: str = "england-and-wales"
    closures: tuple[date, ...] = ()  # local closure days on top of bank holidays


@dataclass(frozen=True)
class SourceSpec:
    """Where a case list or roster lives and how its headers map to our names."""

    path: Path
    columns: Mapping[str, str]
    sheet: str | None = None
    closed: tuple[str, ...] = ()  # case statuses that mean closed (rule S3)
    roles: tuple[str, ...] = ()  # roster only: roles as the config spells them (F18)


@dataclass(frozen=True)
class CycleConfig:
    due: str = "last-working-day"  # rule C2: or "4 weeks", "20 working days", "1 month"
    practice_weeks: tuple[str, ...] = ()  # rule C1: months replaced by a practice week
    focus: Mapping[str, str] = field(default_factory=dict)  # rule C3: month -> theme
    focus_mode: str = "weight"  # "weight" | "restrict"
    focus_weight: float = 3.0
    # theme -> {case column -> accepted values}; a theme with no entry has no case filter
    themes: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # === presets (issue 9): month -> every theme of that month. ``focus`` keeps one text per
    # month (the themes joined by " / "); a month may name several themes, e.g. one per
    # service area (Rochdale App 3: "Public Law Outline" and "Statutory Visits").
    focus_themes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleConfig:
    fraction: float = 0.10  # rule S1
    per: str = "year"  # "year" | "cycle"
    size: str = "fraction"  # "fraction" | "quotas" (rule A1)
    stratify_by: str | None = "team"
    team_floor: int = 0
    exclude_audited_within_months: int = 6  # rule S3


@dataclass(frozen=True)
class Quota:
    role: str
    per_cycle: int = 1  # rule A1; for a quarter/year quota: the most one auditor gets in a cycle
    scope: str = "outside-own-team"  # rule A2
    tool: str = "case-audit"
    # === presets (issue 9): additive keys whose defaults keep the meaning above
    period: str = "cycle"  # "cycle" | "quarter" | "year" (Lancashire: one a quarter)
    per_period: int = 1  # audits per auditor (or per team) per period; == per_cycle for "cycle"
    unit: str = "auditor"  # "team": per team, shared by the role's members in it; "subject": per
    # audited person (subject = "staff")
    draw: str = "sample"  # "extra": cases drawn on top of the S1 sample, not shares of it
    cases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # case column -> values
    auditors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # roster column -> values
    focus: Mapping[str, tuple[str, ...]] | None = None  # own programme: month -> themes (C3)
    tool_by_theme: Mapping[str, str] = field(default_factory=dict)  # theme -> tool for its cases
    subject: str = "case"  # "staff": the audit is of a person (supervision), not of a case
    subject_roles: tuple[str, ...] = ()  # roles of the people audited when subject = "staff"
    name: str = ""  # what the council calls this activity ("learning space", "tier 2 audit")
    # "service": qaf allocates the count to each post but the service picks the cases (GAPS 13)
    allocated_by: str = "qaf"

    @property
    def cycles_per_period(self) -> int:
        return CYCLES_PER_PERIOD[self.period]


@dataclass(frozen=True)
class ReauditConfig:
    grades: tuple[str, ...] = ("Requires Improvement", "Inadequate")  # rule A4
    after_cycles: int = 1
    role: str = "Service Manager"
    tool: str = "case-audit"
    scope: str = "any"
    # === presets (issue 9): "same" case again, or another case of the same worker
    # (Lancashire closing the loop: "the social worker will be allocated a different
    # learning space")
    case: str = "same"


@dataclass(frozen=True)
class ModerationConfig:
    fraction: float = 0.15  # rule M1
    always: tuple[str, ...] = ("Inadequate",)
    role: str = "QA Officer"
    due: str = "10 working days"
    tools: tuple[str, ...] = ()  # the tools whose returns are moderated; () = every tool


@dataclass(frozen=True)
class GradeAlert:
    grade: str
    notify: tuple[str, ...]


@dataclass(frozen=True)
class ReauditAlert:
    round: int  # 1 = first re-audit, 2 = second (and later) re-audit (rule E2)
    notify: tuple[str, ...]


@dataclass(frozen=True)
class LadderRung:
    after: str  # a duration: "2 working days", "4 weeks"
    notify: tuple[str, ...]


@dataclass(frozen=True)
class EscalationConfig:
    on_grade: tuple[GradeAlert, ...] = ()  # rule E1
    on_reaudit: tuple[ReauditAlert, ...] = ()  # rule E2
    safety_notify: tuple[str, ...] = ("Team Manager", "Head of Service")  # rule E3
    late_return: tuple[LadderRung, ...] = ()  # rule T4
    late_action: tuple[LadderRung, ...] = ()  # rule T5
    late_followup: tuple[LadderRung, ...] = ()  # T1-T3, T7 items past their deadline
    # === presets (issue 9): the same auditor late again (Haringey 2.15 -> Assistant Director)
    repeat_late_return: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timescales:
    qa_check: str = "1 working day"  # rule T1
    amendments: str = "3 working days"  # rule T1
    discussion_serious: str = "5 working days"  # rule T2: Inadequate, same or downgraded re-audit
    discussion_requires_improvement: str = "10 working days"  # rule T2
    action_notification: str = "48 hours"  # rule T3
    closing_loop: str = "20 working days"  # rule T7: meeting held and form authorised
    closing_loop_reaudit_after: str = "3 months"  # rule T7: the learning-held audit
    extension_agreed_by: tuple[str, ...] = ("Head of Service",)  # rule T6


@dataclass(frozen=True)
class DisputeStage:
    """One stage of a grading dispute (Haringey 2.11): who acts, by when, who is told."""

    name: str
    within: str  # a duration from the start of the stage
    responsible: str  # role that must act
    notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class DisputeConfig:
    stages: tuple[DisputeStage, ...] = ()  # none: disputes are not tracked


@dataclass(frozen=True)
class ReportConfig:
    suppress_below: int = 5  # rule P3; 0 switches suppression off
    financial_year: bool = False  # quarters start in April when true
    audience: str = "DMT"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    starttls: bool = True
    sender: str = "qa-team@example.org"
    username_env: str | None = None  # credentials come from the environment, never the file
    password_env: str | None = None


@dataclass(frozen=True)
class NotifyConfig:
    outbox: Path
    sender: str = "qa-team@example.org"
    smtp: SmtpConfig | None = None


@dataclass(frozen=True)
class Limits:
    """Untrusted-file limits, checked before any parsing (DESIGN §6)."""

    max_file_mb: float = 25.0
    max_uncompressed_mb: float = 200.0
    max_compression_ratio: float = 200.0


@dataclass(frozen=True)
class Config:
    path: Path  # the qaf.toml file
    organisation: Organisation
    register_path: Path
    cases: SourceSpec
    staff: SourceSpec
    scales: Mapping[str, Scale]
    cycle: CycleConfig
    sample: SampleConfig
    quotas: tuple[Quota, ...]
    reaudit: ReauditConfig
    moderation: ModerationConfig
    escalation: EscalationConfig
    timescales: Timescales
    tools: Mapping[str, Any]  # tool id -> qaf.tools.Tool
    report: ReportConfig
    notify: NotifyConfig
    limits: Limits
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)
    # === presets (issue 9)
    dispute: DisputeConfig = field(default_factory=DisputeConfig)
    grade_display: str = "words"  # how grades are offered in workbooks: words / numbers / both

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def grade_scale(self) -> Scale:
        return self.scales["grades"]

    def tool(self, tool_id: str) -> Any:
        return self.tools[tool_id]


# ------------------------------------------------------------- key reader


class Section:
    """Walks one table of the TOML with its key path, for precise error messages."""

    def __init__(self, data: Any, path: str, file: str | None) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"expected a table, got {_show(data)}", file=file)
        self.data = data
        self.path = path
        self.file = file
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.key(name), message, file=self.file)

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        return self.data.get(name, default)

    def required(self, name: str) -> Any:
        self.used.add(name)
        if name not in self.data:
            raise ConfigError(self.key(name), "is required", file=self.file)
        return self.data[name]

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self.required(name) if required else self.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, f"{_show(value)} is not a non-empty text")
        return value.strip()

    def opt_str(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        return self.text(name)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name, default)
        if value not in choices:
            expected = " | ".join(f'"{c}"' for c in choices)
            raise self.error(name, f"{_show(value)} is not one of {expected}")
        return str(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"{_show(value)} is not true or false")
        return value

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"{_show(value)} is not a whole number")
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and {maximum}" if maximum is not None else " or more"
            between = f"between {minimum}{upper}" if maximum is not None else f"{minimum}{upper}"
            raise self.error(name, f"{value} is not {between}")
        return value

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"{_show(value)} is not a number")
        if not minimum <= value <= maximum:
            raise self.error(name, f"{value} is not between {_num(minimum)} and {_num(maximum)}")
        return float(value)

    def str_list(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(name, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(name, f"{_show(value)} is not a list of texts")
        return tuple(v.strip() for v in value)

    def str_map(self, name: str) -> dict[str, str]:
        value = self.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.error(name, f"{_show(value)} is not a table of texts")
        return {str(k).strip(): v.strip() for k, v in value.items()}

    def sub(self, name: str) -> Section:
        self.used.add(name)
        return Section(self.data.get(name, {}), self.key(name), self.file)

    def tables(self, name: str) -> list[Section]:
        """An array of tables ([[quota]]) as sections with indexed paths."""
        self.used.add(name)
        value = self.data.get(name, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise self.error(name, f"{_show(value)} is not a list of tables")
        return [Section(v, f"{self.key(name)}[{i}]", self.file) for i, v in enumerate(value)]

    def done(self) -> None:
        """Refuse keys we did not read: a typo must not fall back to a default silently."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise self.error(unknown[0], f"unknown key (known keys here: {known})")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"the list {value!r}"
    return str(value)


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


# --------------------------------------------------------------- discovery


def find_config(explicit: Path | str | None = None, cwd: Path | None = None) -> Path:
    """--config, then $QAF_CONFIG, then qaf.toml in the current directory or a parent."""
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise ConfigError("--config", f"{path} does not exist")
        return path.resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"${ENV_VAR}", f"{path} does not exist")
        return path.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "qaf.toml",
        f"no qaf.toml found in {here} or its parents; run `qaf init DIR` to create one, "
        "or pass --config / set $QAF_CONFIG",
    )


def load_config(explicit: Path | str | None = None, cwd: Path | None = None) -> Config:
    return read_config(find_config(explicit, cwd))


def read_config(path: Path) -> Config:
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("qaf.toml", f"is not valid TOML: {e}", file=file) from None
    except OSError as e:
        raise ConfigError("qaf.toml", f"cannot be read: {e.strerror}", file=file) from None
    return parse_config(raw, path.resolve())


# ------------------------------------------------------------------ parsing


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    from qaf.tools import parse_tools

    file = str(path)
    top = Section(dict(raw), "", file)
    base = path.parent

    organisation = _organisation(top.sub("organisation"))
    reg = top.sub("register")
    register_path = base / reg.text("path", "qaf.db")
    reg.done()
    cases = _source(top.sub("cases"), base, CASE_COLUMNS_REQUIRED, CASE_COLUMNS_OPTIONAL, True)
    staff = _source(top.sub("staff"), base, STAFF_COLUMNS_REQUIRED, STAFF_COLUMNS_OPTIONAL, False)
    scales, grade_display = _scales(top)
    grade_scale = scales["grades"]
    cycle = _cycle(top.sub("cycle"))
    sample = _sample(top.sub("sample"))
    tools = parse_tools(top.tables("tool"), scales)
    quotas = tuple(_quota(s, tools, cycle) for s in top.tables("quota"))
    reaudit = _reaudit(top.sub("reaudit"), grade_scale, tools)
    moderation = _moderation(top.sub("moderation"), grade_scale, tools)
    escalation = _escalation(top.sub("escalation"), grade_scale)
    timescales = _timescales(top.sub("timescales"))
    report = _report(top.sub("report"))
    notify = _notify(top.sub("notify"), top.sub("smtp"), base)
    limits = _limits(top.sub("limits"))
    dispute = _dispute(top.sub("dispute"))
    top.done()
    staff = replace(
        staff, roles=_roles_named(quotas, reaudit, moderation, escalation, timescales, dispute)
    )
    return Config(
        path=path,
        organisation=organisation,
        register_path=register_path,
        cases=cases,
        staff=staff,
        scales=scales,
        cycle=cycle,
        sample=sample,
        quotas=quotas,
        reaudit=reaudit,
        moderation=moderation,
        escalation=escalation,
        timescales=timescales,
        tools=tools,
        report=report,
        notify=notify,
        limits=limits,
        raw=raw,
        dispute=dispute,
        grade_display=grade_display,
    )


def _roles_named(
    quotas: tuple[Quota, ...],
    reaudit: ReauditConfig,
    moderation: ModerationConfig,
    escalation: EscalationConfig,
    timescales: Timescales,
    dispute: DisputeConfig,
) -> tuple[str, ...]:
    """Every role the config names, in its spelling, so roster roles can be written the same."""
    e = escalation
    named = [
        *(r for q in quotas for r in (q.role, *q.subject_roles)),
        reaudit.role,
        moderation.role,
        *(r for g in e.on_grade for r in g.notify),
        *(r for ra in e.on_reaudit for r in ra.notify),
        *e.safety_notify,
        *(r for rung in (*e.late_return, *e.late_action, *e.late_followup) for r in rung.notify),
        *e.repeat_late_return,
        *timescales.extension_agreed_by,
        *(r for st in dispute.stages for r in (st.responsible, *st.notify)),
    ]
    return tuple(dict.fromkeys(r.strip() for r in named if r.strip()))


def _organisation(s: Section) -> Organisation:
    name = s.text("name", "Unnamed council")
    region = s.choice("bank_holidays", BANK_HOLIDAY_REGIONS, "england-and-wales")
    closures = tuple(_date(s, "closures", v) for v in s.str_list("closures"))
    s.done()
    return Organisation(name, region, closures)


def _date(s: Section, key: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise s.error(key, f'"{text}" is not a date (expected YYYY-MM-DD)') from None


def _source(
    s: Section,
    base: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    is_cases: bool,
) -> SourceSpec:
    path = base / s.text("path", "data/cases.xlsx" if is_cases else "data/staff.csv")
    columns = s.str_map("columns")
    for name in required:
        if name not in columns:
            columns[name] = name  # an export that already uses our names needs no mapping
    for name in columns:
        if name not in required and name not in optional:
            known = ", ".join((*required, *optional))
            raise s.error(f"columns.{name}", f"unknown column name (expected one of {known})")
    sheet = s.opt_str("sheet")
    closed = s.str_list("closed", ("Closed",)) if is_cases else ()
    s.done()
    return SourceSpec(path, columns, sheet, closed)


def _scales(top: Section) -> tuple[dict[str, Scale], str]:
    g = top.sub("grades")
    scale = g.str_list("scale", OFSTED_GRADES)
    if len(scale) < 2:
        raise g.error("scale", "needs at least two grades, best first")
    aliases = g.str_map("aliases")
    display = g.choice("display", GRADE_DISPLAYS, "words")
    g.done()
    scales = builtin_scales()
    if scale != OFSTED_GRADES:
        scales["grades"] = Scale("grades", scale, {})
    base_aliases = dict(scales["grades"].aliases)
    for alias, level in aliases.items():
        match = next((lv for lv in scale if normalise(lv) == normalise(level)), None)
        if match is None:
            raise g.error(
                f'aliases."{alias}"', f'"{level}" is not one of the grades in grades.scale'
            )
        base_aliases[alias] = match
    scales["grades"] = Scale("grades", scale, base_aliases)
    extra = top.sub("scales")
    for name in list(extra.data):
        sec = extra.sub(name)
        levels = sec.str_list("levels")
        if len(levels) < 2:
            raise sec.error("levels", "needs at least two levels, best first")
        scales[name] = Scale(
            name, levels, sec.str_map("aliases"), numeric=sec.flag("numeric", default=False)
        )
        sec.done()
    extra.done()
    return scales, display


def _month(s: Section, key: str, text: str) -> str:
    from qaf.calendar import parse_cycle

    try:
        return parse_cycle(text)
    except ValueError:
        raise s.error(key, f'"{text}" is not a month (expected YYYY-MM)') from None


def _cycle(s: Section) -> CycleConfig:
    from qaf.calendar import parse_duration

    due = s.text("due", "last-working-day")
    if due != "last-working-day":
        try:
            parse_duration(due)
        except ValueError:
            raise s.error(
                "due", f'"{due}" is not "last-working-day" or a duration such as "4 weeks"'
            ) from None
    practice = tuple(_month(s, "practice_weeks", m) for m in s.str_list("practice_weeks"))
    focus_themes = _focus_programme(s, "focus") or {}
    focus = {month: " / ".join(themes) for month, themes in focus_themes.items()}
    mode = s.choice("focus_mode", ("weight", "restrict"), "weight")
    weight = s.number("focus_weight", 3.0, minimum=1.0, maximum=100.0)
    themes_sec = s.sub("themes")
    themes: dict[str, dict[str, tuple[str, ...]]] = {}
    for theme in list(themes_sec.data):
        t = themes_sec.sub(theme)
        themes[theme] = _case_filter(t)
        t.done()
    themes_sec.done()
    s.done()
    return CycleConfig(due, practice, focus, mode, weight, themes, focus_themes)


def _case_filter(t: Section) -> dict[str, tuple[str, ...]]:
    """A table of case column -> accepted values (a theme, or a quota's ``cases``)."""
    out: dict[str, tuple[str, ...]] = {}
    for column in list(t.data):
        if column not in (*CASE_COLUMNS_REQUIRED, *CASE_COLUMNS_OPTIONAL):
            raise t.error(column, "is not a case column name (e.g. category, legal_status)")
        out[column] = t.str_list(column)
    return out


def _focus_programme(s: Section, key: str) -> dict[str, tuple[str, ...]] | None:
    """month -> theme or [themes] (rule C3); None when the key is absent."""
    if not s.has(key):
        s.used.add(key)
        return None
    value = s.get(key)
    if not isinstance(value, dict):
        raise s.error(key, f"{_show(value)} is not a table of month = theme")
    out: dict[str, tuple[str, ...]] = {}
    for month, themes in value.items():
        path = f'{key}."{month}"'
        if isinstance(themes, str):
            themes = [themes]
        if (
            not isinstance(themes, list)
            or not themes
            or not all(isinstance(t, str) and t.strip() for t in themes)
        ):
            raise s.error(path, f"{_show(themes)} is not a theme or a list of themes")
        out[_month(s, path, str(month))] = tuple(t.strip() for t in themes)
    return out


def _sample(s: Section) -> SampleConfig:
    fraction = s.number("fraction", 0.10, minimum=0.0, maximum=1.0)
    per = s.choice("per", ("year", "cycle"), "year")
    size = s.choice("size", ("fraction", "quotas"), "fraction")
    stratify = s.get("stratify_by", "team")
    if stratify in ("", "none", False):
        stratify = None
    if stratify is not None and stratify not in ("team", "service", "category", "worker"):
        raise s.error(
            "stratify_by", f'{_show(stratify)} is not "team", "service", "category" or "none"'
        )
    floor = s.integer("team_floor", 0, minimum=0, maximum=1000)
    window = s.integer("exclude_audited_within_months", 6, minimum=0, maximum=120)
    s.done()
    return SampleConfig(fraction, per, size, stratify, floor, window)


def _quota(s: Section, tools: Mapping[str, Any], cycle: CycleConfig | None = None) -> Quota:
    role = s.text("role", required=True)
    scope = s.choice("scope", SCOPES, "outside-own-team")
    tool = _tool_ref(s, "tool", tools)
    # === presets (issue 9)
    period = s.choice("period", QUOTA_PERIODS, "cycle")
    if period == "cycle":
        if s.has("per_period"):
            raise s.error("per_period", 'is for period = "quarter" or "year"; use per_cycle')
        per_cycle = s.integer("per_cycle", 1, minimum=0, maximum=1000)
        per_period = per_cycle
    else:
        if s.has("per_cycle"):
            raise s.error(
                "per_cycle", f'is for period = "cycle"; with period = "{period}" use per_period'
            )
        per_period = s.integer("per_period", 1, minimum=0, maximum=1000)
        per_cycle = -(-per_period // CYCLES_PER_PERIOD[period])  # the most in any one cycle
    unit = s.choice("unit", QUOTA_UNITS, "auditor")
    draw = s.choice("draw", QUOTA_DRAWS, "sample")
    cases_sec = s.sub("cases")
    cases = _case_filter(cases_sec)
    cases_sec.done()
    auditors_sec = s.sub("auditors")
    auditors: dict[str, tuple[str, ...]] = {}
    for column in list(auditors_sec.data):
        if column not in (*STAFF_COLUMNS_REQUIRED, *STAFF_COLUMNS_OPTIONAL):
            raise auditors_sec.error(column, "is not a staff column name (e.g. team, service)")
        auditors[column] = auditors_sec.str_list(column)
    auditors_sec.done()
    focus = _focus_programme(s, "focus")
    themes = cycle.themes if cycle is not None else {}
    tool_by_theme = s.str_map("tool_by_theme")
    for theme, theme_tool in tool_by_theme.items():
        if theme not in themes:
            have = ", ".join(f'"{t}"' for t in themes) or "none"
            raise s.error(
                f'tool_by_theme."{theme}"',
                f"is not a theme defined under [cycle.themes] (have: {have})",
            )
        if tools and theme_tool not in tools:
            raise s.error(
                f'tool_by_theme."{theme}"',
                f'"{theme_tool}" is not a tool defined by [[tool]] (have: {", ".join(tools)})',
            )
    subject = s.choice("subject", QUOTA_SUBJECTS, "case")
    subject_roles = s.str_list("subject_roles")
    if subject == "staff" and not subject_roles:
        raise s.error("subject_roles", 'needs at least one role when subject = "staff"')
    if subject == "case" and subject_roles:
        raise s.error("subject_roles", 'is only for subject = "staff"')
    if unit == "subject" and subject != "staff":
        raise s.error("unit", '"subject" counts per audited person: it needs subject = "staff"')
    allocated_by = _allocated_by(s, subject, unit)
    name = s.get("name", "")
    if not isinstance(name, str):
        raise s.error("name", f"{_show(name)} is not a text")
    s.done()
    return Quota(
        role,
        per_cycle,
        scope,
        tool,
        period=period,
        per_period=per_period,
        unit=unit,
        draw=draw,
        cases=cases,
        auditors=auditors,
        focus=focus,
        tool_by_theme=tool_by_theme,
        subject=subject,
        subject_roles=subject_roles,
        name=name.strip(),
        allocated_by=allocated_by,
    )


def _allocated_by(s: Section, subject: str, unit: str) -> str:
    """``allocated_by`` (GAPS 13): with "service" qaf picks no case, so the keys that steer how
    qaf picks cases have nothing to act on and are refused rather than ignored."""
    allocated_by = s.choice("allocated_by", QUOTA_ALLOCATORS, "qaf")
    if allocated_by == "service":
        if subject != "case":
            raise s.error("allocated_by", '"service" picks cases: it needs subject = "case"')
        if unit != "auditor":
            raise s.error(
                "allocated_by", '"service" is counted per post: it needs unit = "auditor"'
            )
        for key in ("draw", "cases", "tool_by_theme"):
            if s.has(key):
                raise s.error(
                    key, 'chooses among the cases qaf picks: not for allocated_by = "service"'
                )
    return allocated_by


def _tool_ref(s: Section, key: str, tools: Mapping[str, Any]) -> str:
    tool = s.text(key, "case-audit")
    if tools and tool not in tools:
        raise s.error(key, f'"{tool}" is not a tool defined by [[tool]] (have: {", ".join(tools)})')
    return tool


def _grade_list(s: Section, key: str, scale: Scale, default: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for text in s.str_list(key, default):
        try:
            out.append(scale.parse(text))
        except ValueError as e:
            raise s.error(key, str(e)) from None
    return tuple(out)


def _reaudit(s: Section, scale: Scale, tools: Mapping[str, Any]) -> ReauditConfig:
    grades = _grade_list(s, "grades", scale, ("Requires Improvement", "Inadequate"))
    after = s.integer("after_cycles", 1, minimum=1, maximum=24)
    role = s.text("role", "Service Manager")
    tool = s.text("tool", "case-audit")
    if tools and tool not in tools:
        raise s.error("tool", f'"{tool}" is not a tool defined by [[tool]]')
    scope = s.choice("scope", SCOPES, "any")
    case = s.choice("case", REAUDIT_CASES, "same")
    s.done()
    return ReauditConfig(grades, after, role, tool, scope, case)


def _moderation(s: Section, scale: Scale, tools: Mapping[str, Any]) -> ModerationConfig:
    fraction = s.number("fraction", 0.15, minimum=0.0, maximum=1.0)
    always = _grade_list(s, "always", scale, ("Inadequate",))
    role = s.text("role", "QA Officer")
    due = _duration(s, "due", "10 working days")
    moderated = s.str_list("tools")
    for tool in moderated:
        if tools and tool not in tools:
            raise s.error("tools", f'"{tool}" is not a tool defined by [[tool]]')
    s.done()
    return ModerationConfig(fraction, always, role, due, moderated)


def _duration(s: Section, key: str, default: str) -> str:
    from qaf.calendar import parse_duration

    text = s.text(key, default)
    try:
        parse_duration(text)
    except ValueError:
        raise s.error(
            key, f'"{text}" is not a duration (e.g. "2 working days", "4 weeks", "48 hours")'
        ) from None
    return text


def _rungs(s: Section, key: str, default: tuple[LadderRung, ...]) -> tuple[LadderRung, ...]:
    if not s.has(key):
        s.used.add(key)
        return default
    rungs = []
    for t in s.tables(key):
        rungs.append(LadderRung(_duration(t, "after", "1 working day"), t.str_list("notify")))
        if not rungs[-1].notify:
            raise t.error("notify", "needs at least one role to tell")
        t.done()
    return tuple(rungs)


DEFAULT_ON_GRADE = (  # rule E1, Rochdale App 2A
    GradeAlert("Inadequate", ("Head of Service", "Assistant Director")),
    GradeAlert("Requires Improvement", ("Head of Service", "Team Manager", "IRO/CP Chair")),
    GradeAlert("Good", ("Team Manager",)),
    GradeAlert("Outstanding", ("Team Manager", "Head of Service", "Assistant Director")),
)
DEFAULT_ON_REAUDIT = (  # rule E2, Haringey 2.6 / 2.14
    ReauditAlert(1, ("Practitioner", "Team Manager", "Service Manager")),
    ReauditAlert(
        2,
        (
            "Practitioner",
            "Team Manager",
            "Service Manager",
            "Head of Service",
            "Assistant Director",
        ),
    ),
)
DEFAULT_LATE_RETURN = (  # rule T4, Lancashire
    LadderRung("2 working days", ("Service Manager", "Head of Service")),
    LadderRung("7 working days", ("Director of Children's Social Care",)),
    LadderRung("14 working days", ("Executive Director",)),
)
DEFAULT_LATE_ACTION = (  # rule T5, Lancashire
    LadderRung("4 weeks", ("Service Manager", "Head of Service")),
    LadderRung("6 weeks", ("Director of Children's Social Care",)),
    LadderRung("12 weeks", ("Executive Director",)),
)
DEFAULT_LATE_FOLLOWUP = (
    LadderRung("1 working day", ("Responsible",)),
    LadderRung("5 working days", ("Service Manager",)),
    LadderRung("10 working days", ("Head of Service",)),
)


def _escalation(s: Section, scale: Scale) -> EscalationConfig:
    if s.has("on_grade"):
        on_grade = []
        for t in s.tables("on_grade"):
            grade = t.text("grade", required=True)
            try:
                grade = scale.parse(grade)
            except ValueError as e:
                raise t.error("grade", str(e)) from None
            on_grade.append(GradeAlert(grade, t.str_list("notify")))
            t.done()
        on_grade_t = tuple(on_grade)
    else:
        s.used.add("on_grade")
        on_grade_t = DEFAULT_ON_GRADE
    if s.has("on_reaudit"):
        on_reaudit = []
        for t in s.tables("on_reaudit"):
            on_reaudit.append(
                ReauditAlert(t.integer("round", 1, minimum=1, maximum=10), t.str_list("notify"))
            )
            t.done()
        on_reaudit_t = tuple(on_reaudit)
    else:
        s.used.add("on_reaudit")
        on_reaudit_t = DEFAULT_ON_REAUDIT
    safety = s.str_list("safety_notify", ("Team Manager", "Head of Service"))
    cfg = EscalationConfig(
        on_grade=on_grade_t,
        on_reaudit=on_reaudit_t,
        safety_notify=safety,
        late_return=_rungs(s, "late_return", DEFAULT_LATE_RETURN),
        late_action=_rungs(s, "late_action", DEFAULT_LATE_ACTION),
        late_followup=_rungs(s, "late_followup", DEFAULT_LATE_FOLLOWUP),
        repeat_late_return=s.str_list("repeat_late_return_notify"),
    )
    s.done()
    return cfg


def _timescales(s: Section) -> Timescales:
    d = Timescales()
    cfg = Timescales(
        qa_check=_duration(s, "qa_check", d.qa_check),
        amendments=_duration(s, "amendments", d.amendments),
        discussion_serious=_duration(s, "discussion_serious", d.discussion_serious),
        discussion_requires_improvement=_duration(
            s, "discussion_requires_improvement", d.discussion_requires_improvement
        ),
        action_notification=_duration(s, "action_notification", d.action_notification),
        closing_loop=_duration(s, "closing_loop", d.closing_loop),
        closing_loop_reaudit_after=_duration(
            s, "closing_loop_reaudit_after", d.closing_loop_reaudit_after
        ),
        extension_agreed_by=s.str_list("extension_agreed_by", d.extension_agreed_by),
    )
    s.done()
    return cfg


def _report(s: Section) -> ReportConfig:
    cfg = ReportConfig(
        suppress_below=s.integer("suppress_below", 5, minimum=0, maximum=100),
        financial_year=s.flag("financial_year", default=False),
        audience=s.text("audience", "DMT"),
    )
    s.done()
    return cfg


def _notify(n: Section, smtp: Section, base: Path) -> NotifyConfig:
    outbox = base / n.text("outbox", "outbox")
    sender = n.text("sender", "qa-team@example.org")
    n.done()
    smtp_cfg = None
    if smtp.data:
        smtp_cfg = SmtpConfig(
            host=smtp.text("host", required=True),
            port=smtp.integer("port", 587, minimum=1, maximum=65535),
            starttls=smtp.flag("starttls", default=True),
            sender=smtp.text("sender", sender),
            username_env=smtp.opt_str("username_env"),
            password_env=smtp.opt_str("password_env"),
        )
        for secret in ("password", "username"):
            if secret in smtp.data:
                raise smtp.error(
                    secret,
                    f"credentials are never kept in qaf.toml: set {secret}_env to the name of an "
                    "environment variable instead",
                )
    smtp.done()
    return NotifyConfig(outbox, sender, smtp_cfg)


def _limits(s: Section) -> Limits:
    d = Limits()
    cfg = Limits(
        max_file_mb=s.number("max_file_mb", d.max_file_mb, minimum=0.01, maximum=10_000),
        max_uncompressed_mb=s.number(
            "max_uncompressed_mb", d.max_uncompressed_mb, minimum=0.01, maximum=100_000
        ),
        max_compression_ratio=s.number(
            "max_compression_ratio", d.max_compression_ratio, minimum=1, maximum=100_000
        ),
    )
    s.done()
    return cfg


def _dispute(s: Section) -> DisputeConfig:
    """Stages of a grading dispute (Haringey 2.11); none configured means none tracked."""
    stages = []
    for t in s.tables("stage"):
        stage = DisputeStage(
            name=t.text("name", required=True),
            within=_duration(t, "within", "5 working days"),
            responsible=t.text("responsible", required=True),
            notify=t.str_list("notify"),
        )
        t.done()
        stages.append(stage)
    s.done()
    return DisputeConfig(tuple(stages))
