"""Audit tool definitions: key-information fields, graded domains, scale and rules.

A tool is a form (DESIGN §2): key-information fields, domains each graded on
a scale, an overall grade with rationale, compliance questions, the safety
question and an actions table. Tools come from ``[[tool]]`` tables in
qaf.toml; this module validates them and checks a set of domain grades
against the tool's overall rule (rule G5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from qaf.grades import Scale, normalise

if TYPE_CHECKING:
    from qaf.config import Section

OVERALL_RULES = ("not-better-than-worst", "none")

DEFAULT_FIELDS = ("Case ID", "Date of audit", "Auditor", "Team", "Social Worker")

# Labels of the key-information block every qaf-written workbook carries, with the
# other words councils' own templates use for them (label matching ignores case,
# spacing and trailing colons).
STANDARD_FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "Audit ID": ("Audit Tracking Number", "Audit reference", "Audit ref", "Audit No"),
    "Case ID": (
        "Child Unique ID",
        "Person ID",
        "Mosaic ID",
        "Mosaic number",
        "Azeus Number",
        "LCS ID",
        "Child ID",
        "Case number",
        "Case File ID audited",
    ),
    "Date of audit": ("Audit date", "Date", "Date of observation", "Date completed"),
    "Auditor": (
        "Name of Auditor",
        "Name of Auditor and Designation",
        "Completed by",
        "Auditor name",
        "Observer",
    ),
    "Team": ("Team Name", "Allocated Team"),
    "Social Worker": ("Allocated social worker", "Allocated Worker", "Practitioner", "Worker"),
    "Team Manager": ("TM",),
}


@dataclass(frozen=True)
class Domain:
    id: str
    title: str
    na_allowed: bool = False  # rule G2
    aliases: tuple[str, ...] = ()
    guidance: str = ""


@dataclass(frozen=True)
class SurveyMonkeyMap:
    """How a SurveyMonkey survey's questions map to a tool (``[tool.surveymonkey]``).

    Each value is a question text as it stands in row 1 of the export (matched
    ignoring case, spacing and trailing colons). ``grades`` is the matrix
    question with one column per domain: its row labels (row 2 of the export)
    are the domain titles, IDs or aliases, or the labels in ``domain_labels``.
    ``rationale`` is a question with one open-ended column per domain row label
    (a "multiple textboxes" question). ``actions`` is open-ended text, one action
    per line: "action; who is responsible; by when".
    """

    grades: str
    fields: Mapping[str, str] = field(default_factory=dict)  # qaf field label -> question
    grades_before: str | None = None  # rule G4
    rationale: str | None = None  # rule G3
    domain_labels: Mapping[str, str] = field(default_factory=dict)  # domain ID -> row label
    overall: str | None = None
    overall_before: str | None = None
    overall_rationale: str | None = None
    summary: str | None = None
    safety: str | None = None  # rule E3; default: the tool's safety_question
    safety_note: str | None = None
    actions: str | None = None
    compliance: Mapping[str, str] = field(default_factory=dict)  # tool question -> survey question
    feedback: Mapping[str, str] = field(default_factory=dict)
    # How the survey's date answers are written ("day-first" dd/mm/yyyy or "month-first"
    # mm/dd/yyyy, SurveyMonkey's Date/Time question formats); None: found from the
    # export's own unambiguous dates, an error when every date could be read either way.
    date_order: str | None = None


SURVEYMONKEY_TEXT_KEYS = (
    "grades_before",
    "rationale",
    "overall",
    "overall_before",
    "overall_rationale",
    "summary",
    "safety",
    "safety_note",
    "actions",
)


@dataclass(frozen=True)
class Tool:
    id: str
    name: str
    scale: Scale
    domains: tuple[Domain, ...]
    fields: tuple[str, ...] = DEFAULT_FIELDS
    field_aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    overall: bool = True  # rule G2: an overall grade is asked for
    overall_rule: str = "not-better-than-worst"  # rule G5
    overall_rule_level: str = "error"  # rule G5: "error" | "warning"
    before_after: bool = False  # rule G4: grades before and after the discussion
    rationale_required: bool = True  # rule G3
    compliance: tuple[str, ...] = ()  # yes/no questions (Bedford App A 1b)
    safety_question: str | None = "Is the child safe?"  # rule E3
    feedback: tuple[str, ...] = ()  # feedback from child / family (Bedford App A §3)
    guidance: tuple[str, ...] = ()
    actions: bool = True
    surveymonkey: SurveyMonkeyMap | None = None

    def domain(self, domain_id: str) -> Domain:
        for d in self.domains:
            if d.id == domain_id:
                return d
        raise KeyError(domain_id)

    def labels_for(self, label: str) -> tuple[str, ...]:
        """A field label with every alias that may stand for it in a return."""
        extra = self.field_aliases.get(label, ())
        return (label, *STANDARD_FIELD_ALIASES.get(label, ()), *extra)

    def match_domain(self, text: str) -> Domain | None:
        """The domain a row label, number or ID stands for, or None."""
        key = normalise(text)
        for d in self.domains:
            if key in (normalise(d.id), normalise(d.title), *(normalise(a) for a in d.aliases)):
                return d
        return None


def overall_consistency(tool: Tool, overall: str, domain_grades: Sequence[str]) -> str | None:
    """Rule G5: why ``overall`` does not fit the domain grades, or None if it fits.

    Default rule (Bedford §6 "Good: practice is good in all areas"): the overall
    grade may not be better than the worst graded domain.
    """
    if tool.overall_rule == "none" or not domain_grades:
        return None
    scale = tool.scale
    worst = max(domain_grades, key=scale.rank)
    if scale.rank(overall) < scale.rank(worst):
        return (
            f'overall grade "{overall}" is better than the worst domain grade "{worst}" '
            f"(rule: not better than the worst domain)"
        )
    return None


# ---------------------------------------------------------------- parsing


def parse_tools(sections: list[Section], scales: Mapping[str, Scale]) -> dict[str, Tool]:
    tools: dict[str, Tool] = {}
    for s in sections:
        tool = _tool(s, scales)
        if tool.id in tools:
            raise s.error("id", f'"{tool.id}" is defined twice')
        tools[tool.id] = tool
    return tools


def _tool(s: Section, scales: Mapping[str, Scale]) -> Tool:
    tool_id = s.text("id", required=True)
    name = s.text("name", tool_id)
    scale_name = s.text("scale", "grades")
    if scale_name not in scales:
        raise s.error("scale", f'"{scale_name}" is not a scale (have: {", ".join(scales)})')
    fields = s.str_list("fields", DEFAULT_FIELDS)
    aliases_sec = s.sub("field_aliases")
    field_aliases = {k: aliases_sec.str_list(k) for k in list(aliases_sec.data)}
    aliases_sec.done()
    domains = []
    seen: set[str] = set()
    for d in s.tables("domain"):
        dom = Domain(
            id=d.text("id", required=True),
            title=d.text("title", required=True),
            na_allowed=d.flag("na_allowed", default=False),
            aliases=d.str_list("aliases"),
            guidance=d.get("guidance", "") or "",
        )
        if dom.id in seen:
            raise d.error("id", f'"{dom.id}" is used by two domains of tool "{tool_id}"')
        seen.add(dom.id)
        domains.append(dom)
        d.done()
    if not domains:
        raise s.error("domain", f'tool "{tool_id}" needs at least one [[tool.domain]]')
    tool = Tool(
        id=tool_id,
        name=name,
        scale=scales[scale_name],
        domains=tuple(domains),
        fields=fields,
        field_aliases=field_aliases,
        overall=s.flag("overall", default=True),
        overall_rule=s.choice("overall_rule", OVERALL_RULES, "not-better-than-worst"),
        overall_rule_level=s.choice("overall_rule_level", ("error", "warning"), "error"),
        before_after=s.flag("before_after", default=False),
        rationale_required=s.flag("rationale_required", default=True),
        compliance=s.str_list("compliance"),
        safety_question=s.get("safety_question", "Is the child safe?") or None,
        feedback=s.str_list("feedback"),
        guidance=s.str_list("guidance"),
        actions=s.flag("actions", default=True),
        surveymonkey=None,
    )
    if s.has("surveymonkey"):
        tool = replace(tool, surveymonkey=_surveymonkey(s.sub("surveymonkey"), tool))
    else:
        s.used.add("surveymonkey")
    s.done()
    return tool


def _surveymonkey(s: Section, tool: Tool) -> SurveyMonkeyMap:
    grades = s.text("grades", required=True)
    fields = s.str_map("fields")
    known = {
        normalise(f) for f in (*tool.fields, "Audit ID", "Case ID", "Auditor", "Date of audit")
    }
    for name in fields:
        if normalise(name) not in known:
            raise s.error(
                f"fields.{name}",
                f'"{name}" is not a field of tool "{tool.id}" (fields: {", ".join(tool.fields)})',
            )
    labels = s.str_map("domain_labels")
    ids = {d.id for d in tool.domains}
    for did in labels:
        if did not in ids:
            raise s.error(f"domain_labels.{did}", f'"{did}" is not a domain of tool "{tool.id}"')
    texts = {k: s.opt_str(k) for k in SURVEYMONKEY_TEXT_KEYS}
    from qaf.calendar import DATE_ORDERS

    date_order = s.opt_str("date_order")
    if date_order is not None and date_order not in DATE_ORDERS:
        raise s.error("date_order", f'"{date_order}" is not one of "day-first" | "month-first"')
    compliance = s.str_map("compliance")
    feedback = s.str_map("feedback")
    sm = SurveyMonkeyMap(
        grades=grades,
        fields=fields,
        domain_labels=labels,
        compliance=compliance,
        feedback=feedback,
        date_order=date_order,
        **texts,
    )
    s.done()
    return sm
