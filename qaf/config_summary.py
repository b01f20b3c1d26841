"""The short, readable summary `qaf config check` prints by default (trial finding F6).

One line per setting a QA officer checks at a glance, in words; the full effective
configuration stays in ``qaf config check --format json`` (``workdir.effective_config``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from qaf.config import Config, LadderRung, Quota
from qaf.workdir import SourceSummary

SCOPES = {
    "outside-own-team": "outside own team",
    "outside-own-service": "outside own service",
    "any": "any team",
    "own-team": "own team",
    "own-service": "own service",
    "line-managed": "staff they line-manage",
}


def config_summary(cfg: Config, sources: SourceSummary) -> list[tuple[str, str]]:
    """(label, text) rows; a label starting with two spaces belongs to the row above."""
    rows: list[tuple[str, str]] = [
        ("Organisation", cfg.organisation.name),
        ("Register", str(cfg.register_path)),
        ("Case list", _source(cfg.cases.path, cfg.cases.sheet, cfg.root)),
        ("", f"{sources.cases:,} cases, {sources.open_cases:,} open"),
        ("Staff roster", _source(cfg.staff.path, cfg.staff.sheet, cfg.root)),
        ("", f"{sources.staff:,} staff, {sources.available_staff:,} available today"),
        ("Cycle", _cycle(cfg)),
        ("Sample", _sample(cfg)),
        (f"Quotas ({len(cfg.quotas)})", "" if cfg.quotas else "none"),
    ]
    rows += [("", _quota(q, cfg)) for q in cfg.quotas]
    rows += [
        ("Re-audit", _reaudit(cfg)),
        ("Moderation", _moderation(cfg)),
        ("Escalation", ""),
        ("  on grade", _joined(f"{a.grade} → {_names(a.notify)}" for a in cfg.escalation.on_grade)),
        (
            "  on re-audit",
            _joined(f"round {a.round} → {_names(a.notify)}" for a in cfg.escalation.on_reaudit),
        ),
        ("  safety concern", _names(cfg.escalation.safety_notify)),
        ("  late return", _ladder(cfg.escalation.late_return)),
        ("  late action", _ladder(cfg.escalation.late_action)),
        ("  late follow-up", _ladder(cfg.escalation.late_followup)),
        ("Report", _report(cfg)),
        ("E-mail", _notify(cfg)),
    ]
    return rows


def _source(path: Path, sheet: str | None, root: Path) -> str:
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    return f'{shown}, sheet "{sheet}"' if sheet else str(shown)


def _cycle(cfg: Config) -> str:
    c = cfg.cycle
    due = "the last working day of the month" if c.due == "last-working-day" else c.due
    parts = [f"due {due}"]
    if c.practice_weeks:
        parts.append(f"practice weeks {', '.join(c.practice_weeks)}")
    if c.focus:
        themes = ", ".join(f"{m} {t}" for m, t in sorted(c.focus.items()))
        how = f"weighted ×{c.focus_weight:g}" if c.focus_mode == "weight" else "only those cases"
        parts.append(f"focus {themes} ({how})")
    return "; ".join(parts)


def _sample(cfg: Config) -> str:
    s = cfg.sample
    if s.size == "quotas":
        text = "the auditors' quotas (one case per audit owed)"
    else:
        text = f"{s.fraction:.0%} of eligible open cases a {s.per}"
    text += f", stratified by {s.stratify_by}" if s.stratify_by else ", not stratified"
    if s.team_floor:
        text += f", at least {s.team_floor} a team"
    if s.exclude_audited_within_months:
        text += f"; cases audited in the last {s.exclude_audited_within_months} months left out"
    return text


def _quota(q: Quota, cfg: Config) -> str:
    period = "a cycle" if q.period == "cycle" else f"a {q.period} (at most {q.per_cycle} a cycle)"
    count = q.per_cycle if q.period == "cycle" else q.per_period
    per = "per team" if q.unit == "team" else "each"
    text = f"{q.name + ': ' if q.name else ''}{q.role} {per}: {count} {period}, "
    text += f"{SCOPES.get(q.scope, q.scope)}, {_tool(q.tool, cfg)}"
    if q.subject == "staff":
        text += f", of staff ({_names(q.subject_roles)})"
    if q.draw == "extra":
        text += ", drawn on top of the sample"
    if q.allocated_by == "service":
        text += ", cases picked by the service"
    if q.cases:
        text += f", cases where {_filters(q.cases)}"
    if q.auditors:
        text += f", auditors where {_filters(q.auditors)}"
    return text


def _reaudit(cfg: Config) -> str:
    r = cfg.reaudit
    if not r.grades:
        return "none"
    case = "the same case" if r.case == "same" else "another case of the same worker"
    cycles = "cycle" if r.after_cycles == 1 else "cycles"
    return (
        f"{_names(r.grades)} re-audited after {r.after_cycles} {cycles} by a {r.role}, "
        f"{SCOPES.get(r.scope, r.scope)}, {_tool(r.tool, cfg)}, {case}"
    )


def _moderation(cfg: Config) -> str:
    m = cfg.moderation
    if not m.fraction and not m.always:
        return "none"
    always = f", always {_names(m.always)}" if m.always else ""
    tools = ", ".join(_tool(t, cfg) for t in m.tools) if m.tools else "every tool"
    return f"{m.fraction:.0%} of returns{always}; by a {m.role} within {m.due}; {tools}"


def _report(cfg: Config) -> str:
    r = cfg.report
    hidden = f"figures below {r.suppress_below} hidden" if r.suppress_below else "nothing hidden"
    year = "financial-year quarters (April)" if r.financial_year else "calendar quarters"
    return f"for {r.audience}; {hidden}; {year}; grades shown as {cfg.grade_display}"


def _notify(cfg: Config) -> str:
    n = cfg.notify
    how = f"SMTP {n.smtp.host}:{n.smtp.port}" if n.smtp else f".eml files in {n.outbox}"
    return f"from {n.sender}, {how}"


def _tool(tool_id: str, cfg: Config) -> str:
    tool = cfg.tools.get(tool_id)
    return f"{tool.name} ({tool_id})" if tool is not None else tool_id


def _ladder(rungs: Iterable[LadderRung]) -> str:
    return _joined(f"after {r.after} → {_names(r.notify)}" for r in rungs)


def _filters(values: Mapping[str, tuple[str, ...]]) -> str:
    return " and ".join(f"{k} is {' or '.join(v)}" for k, v in values.items())


def _names(names: Iterable[str]) -> str:
    return ", ".join(names) or "nobody"


def _joined(parts: Iterable[str]) -> str:
    return "; ".join(parts) or "none"
