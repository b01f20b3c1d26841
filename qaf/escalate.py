"""Escalation: who is told of a return, which deadlines it creates, what is overdue.

Pure rules, no I/O (DESIGN §4). Three parts:

* **Recipients** (:func:`resolve_role`): a role named in the configuration is resolved
  from the roster relative to the case (its team's Team Manager, its service's Service
  Manager / Head of Service, the practitioner, the IRO or CP Chair), to the auditor
  (the auditor, their line manager), to a follow-up (its responsible person), or
  organisation-wide (Assistant Director, Director, Executive Director, QA Officer).
* **Consequences of a return** (:func:`consequences_of_return`, contract B): the alerts
  of rules E1-E3 and the follow-up deadlines of rules T1-T3, T5, T7 and E3.
* **Overdue** (:func:`compute_overdue`): late returns (T4), late follow-ups, late actions
  (T5), unacknowledged safety concerns (E3) and moderation not done (M1), each with the
  rung of its escalation ladder reached and who must now be told.

A role that resolves to nobody is never skipped silently: it becomes an alert or a
recipient entry with an empty name and email and a reason saying who was looked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Protocol

from dateutil.relativedelta import relativedelta

from qaf.calendar import WorkingCalendar, parse_duration, uk_date
from qaf.config import Config, LadderRung
from qaf.grades import GradeError, Scale, normalise
from qaf.records import Alert, FollowUp, ReturnFacts, StaffMember
from qaf.sources import Roster

# ---------------------------------------------------------------- role names

TEAM_MANAGER = "Team Manager"
SERVICE_MANAGER = "Service Manager"
HEAD_OF_SERVICE = "Head of Service"
PRACTITIONER = "Practitioner"
IRO_CP_CHAIR = "IRO/CP Chair"
IRO = "IRO"
CP_CHAIR = "CP Chair"
AUDITOR = "Auditor"
AUDITORS_MANAGER = "Auditor's manager"
PRACTITIONERS_MANAGER = "Practitioner's manager"
RESPONSIBLE = "Responsible"
QA_OFFICER = "QA Officer"

# Other words councils use for the same roles (folded with grades.normalise).
ROLE_ALIASES: dict[str, str] = {
    "tm": TEAM_MANAGER,
    "practice manager": TEAM_MANAGER,  # Rochdale
    "team leader": TEAM_MANAGER,
    "sm": SERVICE_MANAGER,
    "senior manager": SERVICE_MANAGER,  # Lancashire "Senior Manager"
    "hos": HEAD_OF_SERVICE,
    "social worker": PRACTITIONER,
    "sw": PRACTITIONER,
    "worker": PRACTITIONER,
    "allocated worker": PRACTITIONER,
    "allocated practitioner": PRACTITIONER,
    "iro / cp chair": IRO_CP_CHAIR,
    "iro/cp chair": IRO_CP_CHAIR,
    "cp chair/iro": IRO_CP_CHAIR,
    "iro/conference chair": IRO_CP_CHAIR,
    "iro / conference chair": IRO_CP_CHAIR,
    "auditor's line manager": AUDITORS_MANAGER,
    "auditors manager": AUDITORS_MANAGER,
    "auditor manager": AUDITORS_MANAGER,
    "line manager": AUDITORS_MANAGER,
    "practitioners manager": PRACTITIONERS_MANAGER,
    "worker's manager": PRACTITIONERS_MANAGER,
    "responsible person": RESPONSIBLE,
    "owner": RESPONSIBLE,
    "director of csc": "Director of Children's Social Care",
    "dcs": "Director of Children's Social Care",
    "ad": "Assistant Director",
}

# Roles that mean "the one for this case": nobody else will do.
_CASE_ROLES = {
    normalise(TEAM_MANAGER): "team",
    normalise(SERVICE_MANAGER): "service",
    normalise(HEAD_OF_SERVICE): "service",
}

# Case categories whose independent reviewer is an IRO or a CP Chair (rule E1 "where relevant").
IRO_CATEGORIES = (
    "child in our care",
    "children in our care",
    "child in care",
    "cic",
    "cla",
    "lac",
    "looked after",
    "looked after child",
    "child looked after",
    "care leaver",
    "care leavers",
    "leaving care",
)
CP_CATEGORIES = ("cp", "child protection", "cpp", "child protection plan")


@lru_cache(maxsize=8192)
def _norm(text: str) -> str:
    return normalise(text)


@lru_cache(maxsize=1024)
def canonical_role(role: str) -> str:
    """The role's own spelling, or the canonical role for an alias ("HoS", "SW")."""
    return ROLE_ALIASES.get(_norm(role), role.strip())


def _with_role(roster: Roster, role: str) -> list[StaffMember]:
    return roster.with_role(role)


# (roster, {(role, how, normalised values ...): holders}) of the last roster asked: the
# same few roles are resolved several times for every ingested return, over hundreds of
# staff, so the answers are remembered for the (immutable) roster.
_HOLDERS: tuple[Roster | None, dict[tuple[str, ...], list[StaffMember]]] = (None, {})


def _roster_memo(roster: Roster) -> dict[tuple[str, ...], list[StaffMember]]:
    global _HOLDERS
    if _HOLDERS[0] is not roster:
        _HOLDERS = (roster, {})
    return _HOLDERS[1]


def _holders(roster: Roster, role: str, scope: str, value: str) -> list[StaffMember]:
    """Holders of ``role`` in the team/service ``value``."""
    memo = _roster_memo(roster)
    key = (role, scope, value)
    people = memo.get(key)
    if people is None:
        people = [p for p in _with_role(roster, role) if _norm(getattr(p, scope)) == value]
        memo[key] = people
    return list(people)


def _holders_near(roster: Roster, role: str, case: CaseLike | None) -> list[StaffMember]:
    """Holders of ``role``, narrowed to the case's service, then team, when possible."""
    if case is None:
        return _with_role(roster, role)
    service, team = _norm(case.service or ""), _norm(case.team or "")
    memo = _roster_memo(roster)
    key = (role, "near", service, team)
    people = memo.get(key)
    if people is None:
        people = _prefer(_with_role(roster, role), case)
        memo[key] = people
    return list(people)


class CaseLike(Protocol):
    """What recipient resolution needs to know about a case (Case, Allocation, ReturnFacts)."""

    @property
    def case_id(self) -> str: ...
    @property
    def team(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def worker(self) -> str: ...


@dataclass(frozen=True)
class Recipient:
    """One person to tell, or (name and email empty) a role nobody holds, with the reason."""

    role: str
    name: str = ""
    email: str = ""
    reason: str = ""

    @property
    def resolved(self) -> bool:
        return bool(self.name)

    def as_json(self) -> dict[str, str]:
        out = {"name": self.name, "email": self.email, "role": self.role}
        if not self.resolved:
            out["reason"] = self.reason
        return out


def _category_reviewer(category: str) -> str | None:
    key = _norm(category)
    if key in IRO_CATEGORIES or "looked after" in key or "in our care" in key:
        return IRO
    if key in CP_CATEGORIES or key.startswith("child protection"):
        return CP_CHAIR
    return None


def _prefer(people: list[StaffMember], case: CaseLike | None) -> list[StaffMember]:
    """Narrow an organisation-wide role to the case's service, then team, when possible."""
    if case is None or len(people) <= 1:
        return people
    for attr in ("service", "team"):
        value = _norm(getattr(case, attr) or "")
        if not value:
            continue
        narrowed = [p for p in people if _norm(getattr(p, attr)) == value]
        if narrowed:
            people = narrowed
    return people


def resolve_role(
    role: str,
    *,
    case: CaseLike | None,
    auditor: str | StaffMember | None,
    roster: Roster,
    responsible: str | None = None,
) -> list[StaffMember]:
    """The people who hold ``role`` for this case / auditor / follow-up; [] when nobody does.

    * ``Team Manager``: Team Managers of the case's team (else the practitioner's line
      manager when that person is a Team Manager);
    * ``Service Manager``, ``Head of Service``: that role in the case's service;
    * ``Practitioner``: the case's worker; ``Practitioner's manager``: their line manager;
    * ``IRO/CP Chair``: an IRO for children in care and care leavers, a CP Chair for child
      protection, nobody for other categories (the rule says "where relevant");
      the ones in the case's service when there are any, else all of them;
    * ``Auditor``, ``Auditor's manager`` (line manager); ``Responsible``: the named person;
    * any other role (Assistant Director, Director of Children's Social Care, Executive
      Director, QA Officer ...): everybody with that role, narrowed to the case's service
      (then team) when some of them match it.
    """
    roster_role = canonical_role(role)
    key = _norm(roster_role)
    if key == _norm(PRACTITIONER):
        person = roster.by_name(case.worker) if case else None
        return [person] if person else []
    if key == _norm(PRACTITIONERS_MANAGER):
        worker = roster.by_name(case.worker) if case else None
        boss = roster.by_name(worker.manager) if worker and worker.manager else None
        return [boss] if boss else []
    if key in (_norm(AUDITOR), _norm(AUDITORS_MANAGER)):
        member = auditor if isinstance(auditor, StaffMember) else roster.by_name(auditor)
        if member is None:
            return []
        if key == _norm(AUDITOR):
            return [member]
        boss = roster.by_name(member.manager) if member.manager else None
        return [boss] if boss else []
    if key == _norm(RESPONSIBLE):
        person = roster.by_name(responsible)
        if person is not None:
            return [person]
        # a follow-up stored with a role because nobody held it then: try the role again
        if responsible and _norm(canonical_role(responsible)) != key:
            return resolve_role(responsible, case=case, auditor=auditor, roster=roster)
        return []
    if key == _norm(IRO_CP_CHAIR):
        reviewer = _category_reviewer(case.category) if case else None
        if reviewer is None:
            return []
        return _holders_near(roster, reviewer, case)
    scope = _CASE_ROLES.get(key)
    if scope is not None:
        if case is None:
            return []
        value = _norm(getattr(case, scope) or "")
        people = _holders(roster, roster_role, scope, value)
        if scope == "service" and len(people) > 1:
            same_team = [p for p in people if _norm(p.team) == _norm(case.team)]
            people = same_team or people
        if not people and key == _norm(TEAM_MANAGER):
            worker = roster.by_name(case.worker)
            boss = roster.by_name(worker.manager) if worker and worker.manager else None
            if boss and _norm(boss.role) == key:
                people = [boss]
        return people
    return _holders_near(roster, roster_role, case)


def _nobody_reason(
    role: str, case: CaseLike | None, auditor: str | StaffMember | None, responsible: str | None
) -> str:
    key = _norm(canonical_role(role))
    aud = auditor.name if isinstance(auditor, StaffMember) else auditor
    if key == _norm(PRACTITIONER):
        return f'the case\'s worker "{case.worker if case else ""}" is not in the roster'
    if key == _norm(PRACTITIONERS_MANAGER):
        return (
            f'the case\'s worker "{case.worker if case else ""}" has no line manager in the roster'
        )
    if key == _norm(AUDITOR):
        return f'the auditor "{aud or ""}" is not in the roster'
    if key == _norm(AUDITORS_MANAGER):
        return f'the auditor "{aud or ""}" has no line manager in the roster'
    if key == _norm(RESPONSIBLE):
        return f'the person responsible "{responsible or ""}" is not in the roster'
    if key == _norm(IRO_CP_CHAIR):
        wanted = _category_reviewer(case.category) if case else None
        return f"nobody in the roster has the role {wanted or 'IRO or CP Chair'}"
    scope = _CASE_ROLES.get(key)
    if scope == "team" and case is not None:
        return f'nobody in the roster is {canonical_role(role)} of team "{case.team}"'
    if scope == "service" and case is not None:
        return f'nobody in the roster is {canonical_role(role)} of service "{case.service}"'
    return f'nobody in the roster has the role "{canonical_role(role)}"'


def recipients(
    roles: Iterable[str],
    *,
    case: CaseLike | None,
    auditor: str | StaffMember | None,
    roster: Roster,
    responsible: str | None = None,
) -> list[Recipient]:
    """Resolve several roles; one entry per person (first role wins), plus one per empty role.

    ``IRO/CP Chair`` for a case where neither is relevant gives no entry at all.
    """
    out: list[Recipient] = []
    seen: set[str] = set()
    for role in roles:
        people = resolve_role(
            role, case=case, auditor=auditor, roster=roster, responsible=responsible
        )
        if not people:
            if _norm(canonical_role(role)) == _norm(IRO_CP_CHAIR) and (
                case is None or _category_reviewer(case.category) is None
            ):
                continue  # not relevant for this category
            out.append(Recipient(role, reason=_nobody_reason(role, case, auditor, responsible)))
            continue
        for p in people:
            k = _norm(p.name)
            if k in seen:
                continue
            seen.add(k)
            out.append(Recipient(role, p.name, p.email))
    return out


# ------------------------------------------------------- consequences (contract B)

# (calendar, {(start, duration): deadline}) of the last calendar asked: a run's returns
# arrive on a few days and every one asks for the same few timescales.
_DEADLINES: tuple[WorkingCalendar | None, dict[tuple[date, str], date]] = (None, {})
_DEADLINES_KEPT = 1 << 14


def _deadline(calendar: WorkingCalendar, start: date, duration: str) -> date:
    """``start`` plus the configured ``duration`` ("5 working days") on ``calendar``."""
    global _DEADLINES
    if _DEADLINES[0] is not calendar:
        _DEADLINES = (calendar, {})
    memo = _DEADLINES[1]
    key = (start, duration)
    due = memo.get(key)
    if due is None:
        due = calendar.add(start, parse_duration(duration))
        if len(memo) >= _DEADLINES_KEPT:
            memo.clear()
        memo[key] = due
    return due


@dataclass(frozen=True)
class Consequences:
    alerts: tuple[Alert, ...] = ()
    followups: tuple[FollowUp, ...] = ()


# An action without a date is due this long after the return (Lancashire's 4-week timeframe).
UNDATED_ACTION_DUE = "4 weeks"


def _grade(scale: Scale, overall: str | None) -> str | None:
    if not overall:
        return None
    try:
        return scale.parse(overall)
    except GradeError:
        return None


def _alerts(
    rule: str, reason: str, people: Sequence[Recipient], seen: set[tuple[str, str]]
) -> list[Alert]:
    out = []
    for r in people:
        key = (rule, normalise(r.name) if r.name else f"?{normalise(r.role)}")
        if key in seen:
            continue
        seen.add(key)
        why = reason if r.resolved else f"{reason}; not sent: {r.reason}"
        out.append(Alert(rule, why, r.role, r.name, r.email))
    return out


def _responsible(
    role: str,
    case: CaseLike,
    auditor: str,
    roster: Roster,
    on: date,
    named: str | None = None,
) -> tuple[str, str, str]:
    """(name or role, role, reason when nobody): the first available holder of the role."""
    people = resolve_role(role, case=case, auditor=auditor, roster=roster, responsible=named)
    if not people:
        return role, role, _nobody_reason(role, case, auditor, named)
    first = next((p for p in people if p.available_on(on)), people[0])
    return first.name, role, ""


SAFETY_DETAIL = "acknowledge the safety concern raised by the auditor and act on it"


def safety_consequences(facts: ReturnFacts, roster: Roster, cfg: Config) -> Consequences:
    """Rule E3 alone: ``escalation.safety_notify`` told at once, and a "safety" follow-up
    owned by the case's Team Manager, due the day received (overdue lists it first).

    Also used for a return rejected for form errors (``facts.return_id`` None): its
    safety concern cannot wait for the corrected re-submission.
    """
    alerts = _alerts(
        "E3",
        f"immediate safety concern raised by the auditor on case {facts.case_id}",
        recipients(cfg.escalation.safety_notify, case=facts, auditor=facts.auditor, roster=roster),
        set(),
    )
    received = facts.received_on
    name, role, why = _responsible(TEAM_MANAGER, facts, facts.auditor, roster, received)
    if why:
        alerts.append(
            Alert(
                "E3",
                f"safety follow-up for case {facts.case_id} has nobody responsible: {why}",
                TEAM_MANAGER,
                "",
                "",
            )
        )
    followup = FollowUp(
        kind="safety",
        rule="E3",
        audit_id=facts.audit_id,
        case_id=facts.case_id,
        responsible=name,
        responsible_role=role,
        due=received,
        return_id=facts.return_id,
        detail=SAFETY_DETAIL,
    )
    return Consequences(tuple(alerts), (followup,))


def consequences_of_return(
    facts: ReturnFacts, roster: Roster, cfg: Config, calendar: WorkingCalendar
) -> Consequences:
    """Alerts (E1-E3) and follow-up deadlines (T1-T3, T5, T7, E3) created by one return.

    * E1: the roles configured for the overall grade (``escalation.on_grade``);
    * E2: a re-audit keeping a re-audit grade (``reaudit.grades``: RI, Inadequate) or
      downgraded: ``escalation.on_reaudit`` for its round (the highest round <= this one);
    * E3: a safety concern: ``escalation.safety_notify`` at once, and a "safety" follow-up
      due the day received, at the top of every overdue list until acknowledged;
    * T1 "qa-check" by a QA Officer; T2 "discussion" by the Team Manager (serious: the
      worst grade, or a re-audit same/downgraded; else the second-worst grade); T3
      "action-notification" by the auditor when the return lists actions; one "action"
      follow-up per action (T5) owned by the named person (else the Team Manager);
      T7 "closing-loop" for the worst grade, by a Service Manager of the case's service,
      and T7 "closing-loop-reaudit" (the learning-held audit, ``timescales.
      closing_loop_reaudit_after`` later) for the QA Officer.

    Moderation returns create no grade alerts or deadlines (the moderated audit already
    did); only their safety concern counts. A role nobody holds becomes an alert with an
    empty name and the reason, and a follow-up whose ``responsible`` is the role itself.
    """
    esc = cfg.escalation
    ts = cfg.timescales
    scale = cfg.grade_scale
    received = facts.received_on
    grade = _grade(scale, facts.overall)
    worst = scale.levels[-1]
    second_worst = scale.levels[-2] if len(scale.levels) >= 3 else None
    reaudit_grades = {normalise(g) for g in cfg.reaudit.grades}
    is_reaudit = facts.type == "reaudit"
    stuck = (
        is_reaudit
        and grade is not None
        and (
            facts.movement == "downgraded"
            or (facts.movement == "same" and normalise(grade) in reaudit_grades)
        )
    )
    seen: set[tuple[str, str]] = set()
    alerts: list[Alert] = []
    followups: list[FollowUp] = []

    def people(roles: Iterable[str]) -> list[Recipient]:
        return recipients(roles, case=facts, auditor=facts.auditor, roster=roster)

    def follow(
        kind: str, rule: str, role: str, due: date, detail: str, named: str | None = None
    ) -> None:
        name, resp_role, why = _responsible(role, facts, facts.auditor, roster, received, named)
        if why:
            alerts.append(
                Alert(
                    rule,
                    f"{kind} follow-up for case {facts.case_id} has nobody responsible: {why}",
                    role,
                    "",
                    "",
                )
            )
        followups.append(
            FollowUp(
                kind=kind,
                rule=rule,
                audit_id=facts.audit_id,
                case_id=facts.case_id,
                responsible=name,
                responsible_role=resp_role,
                due=due,
                return_id=facts.return_id,
                detail=detail,
            )
        )

    # rule E3: a safety concern first, whatever the type of return
    if facts.safety_concern:
        safety = safety_consequences(facts, roster, cfg)
        alerts += safety.alerts
        followups += safety.followups

    if facts.type == "moderation":
        return Consequences(tuple(alerts), tuple(followups))

    # rule E1: by grade
    if grade is not None:
        for rule in esc.on_grade:
            if normalise(rule.grade) == normalise(grade):
                what = "re-audit" if is_reaudit else "audit"
                alerts += _alerts(
                    "E1",
                    f"{what} of case {facts.case_id} graded {grade}",
                    people(rule.notify),
                    seen,
                )

    # rule E2: re-audit same or downgraded
    if stuck and esc.on_reaudit:
        round_ = max(1, facts.reaudit_round)
        fitting = [r for r in esc.on_reaudit if r.round <= round_]
        chosen = (
            max(fitting, key=lambda r: r.round)
            if fitting
            else min(esc.on_reaudit, key=lambda r: r.round)
        )
        how = "downgraded" if facts.movement == "downgraded" else "kept the same grade"
        nth = "first re-audit" if round_ == 1 else f"re-audit round {round_}"
        alerts += _alerts(
            "E2",
            f"{nth} of case {facts.case_id} {how} ({grade})",
            people(chosen.notify),
            seen,
        )

    # rule T1: QA check of the return
    follow(
        "qa-check",
        "T1",
        QA_OFFICER,
        _deadline(calendar, received, ts.qa_check),
        "quality-assure the return; ask the auditor for amendments if needed",
    )

    # rule T2: discussion of findings between Team Manager and practitioner
    if grade is not None:
        serious = normalise(grade) == normalise(worst) or stuck
        if serious or (second_worst is not None and normalise(grade) == normalise(second_worst)):
            window = ts.discussion_serious if serious else ts.discussion_requires_improvement
            follow(
                "discussion",
                "T2",
                TEAM_MANAGER,
                _deadline(calendar, received, window),
                f"discuss the findings ({grade}) with the practitioner and agree actions "
                f"(within {window})",
            )

    # rule T3: remedial actions notified to worker and manager
    if facts.actions:
        follow(
            "action-notification",
            "T3",
            AUDITOR,
            _deadline(calendar, received, ts.action_notification),
            f"send the {len(facts.actions)} remedial action(s) to the worker and manager "
            f"(within {ts.action_notification})",
        )

    # rule T5: one follow-up per action, owned by the named person, else the Team Manager
    for item in facts.actions:
        if item.due is not None:
            due = item.due
            note = ""
        else:
            due = _deadline(calendar, received, UNDATED_ACTION_DUE)
            note = f" (no date given: due {UNDATED_ACTION_DUE} after the return)"
        name, role, why = _action_owner(item.owner, facts, roster, received)
        if why:
            alerts.append(
                Alert(
                    "T5",
                    f"action on case {facts.case_id} has nobody responsible: {why}",
                    role,
                    "",
                    "",
                )
            )
        followups.append(
            FollowUp(
                kind="action",
                rule="T5",
                audit_id=facts.audit_id,
                case_id=facts.case_id,
                responsible=name,
                responsible_role=role,
                due=due,
                return_id=facts.return_id,
                detail=item.action + note,
            )
        )

    # rule T7: closing the loop for the worst grade
    if grade is not None and normalise(grade) == normalise(worst):
        follow(
            "closing-loop",
            "T7",
            SERVICE_MANAGER,
            _deadline(calendar, received, ts.closing_loop),
            "meet worker and manager, check remedial actions are done, return the Closing the "
            "Loop form authorised by the Head of Service",
        )
        # rule T7: "3 months later" a new audit checks the learning held; the QA team
        # arranges it, and the case's next re-audit return closes it (register)
        later = ts.closing_loop_reaudit_after
        follow(
            "closing-loop-reaudit",
            "T7",
            QA_OFFICER,
            _deadline(calendar, received, later),
            f"a new audit {later} after the Inadequate return checks that the learning has "
            "been held (the case's re-audit, or another case of the same worker)",
        )

    return Consequences(tuple(alerts), tuple(followups))


_SPECIAL_ROLES = {
    normalise(r)
    for r in (
        TEAM_MANAGER,
        SERVICE_MANAGER,
        HEAD_OF_SERVICE,
        PRACTITIONER,
        PRACTITIONERS_MANAGER,
        IRO_CP_CHAIR,
        AUDITOR,
        AUDITORS_MANAGER,
    )
}


def _is_known_role(role: str, roster: Roster) -> bool:
    return normalise(role) in _SPECIAL_ROLES or roster.has_role(role)


def _action_owner(owner: str, facts: ReturnFacts, roster: Roster, on: date) -> tuple[str, str, str]:
    """Rule T5: the action's owner by name; else a role written as the owner ("TM", "SW")
    resolved for the case; else the case's Team Manager. (name, role, reason when nobody)."""
    owner = owner.strip()
    if owner:
        person = roster.by_name(owner)
        if person is not None:
            return person.name, person.role or RESPONSIBLE, ""
        role = canonical_role(owner)
        if _is_known_role(role, roster):
            name, role, why = _responsible(role, facts, facts.auditor, roster, on)
            if not why:
                return name, role, why
    return _responsible(TEAM_MANAGER, facts, facts.auditor, roster, on)


# ================================================================= overdue
# Late returns (T4), late follow-ups (T1-T3, T7), late actions (T5), safety concerns not
# acknowledged (E3) and moderation not done (M1), each on the rung of its ladder reached.

LATE_RETURN = "late-return"
MODERATION = "moderation"
DISPUTE = "dispute"  # a grading dispute's current stage (Haringey 2.11, qaf.disputes)
SAFETY = "safety"
ACTION = "action"


@dataclass(frozen=True)
class Pending:
    """Something with a deadline that is not done yet, as the register knows it.

    ``kind`` is ``late-return`` for an allocation without a return, ``moderation`` for a
    picked moderation not done, else the follow-up's kind; ``ref`` makes the item's id
    (the audit ID, the follow-up's number, or ``audit_id@cycle`` for a moderation).
    """

    kind: str
    ref: str
    rule: str
    audit_id: str | None
    case_id: str
    due: date
    responsible: str
    responsible_role: str
    team: str = ""
    service: str = ""
    category: str = ""
    worker: str = ""
    auditor: str = ""
    detail: str = ""
    notify: tuple[str, ...] = ()  # roles told at the first rung besides the ladder's

    @property
    def item_id(self) -> str:
        return item_id(self.kind, self.ref)


def item_id(kind: str, ref: str) -> str:
    """The stable key of an overdue item: ``late-return:A-2026-12-0001``, ``discussion:42``."""
    return f"{kind}:{ref}"


@dataclass(frozen=True)
class Notice:
    """Someone to tell about an item at one rung of its ladder (level 1 = first rung)."""

    level: int
    recipient: Recipient

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = dict(self.recipient.as_json())
        out["level"] = self.level
        return out


@dataclass(frozen=True)
class OverdueItem:
    id: str
    kind: str
    rule: str
    audit_id: str | None
    case_id: str
    responsible: str
    responsible_role: str
    due: date
    working_days_late: int
    level: int  # rungs of the ladder reached; 0 = late but no rung reached yet
    notify: tuple[Notice, ...]
    detail: str = ""

    @property
    def safety(self) -> bool:
        return self.kind == SAFETY

    def as_json(self) -> dict[str, object]:
        """The documented shape of one item of ``qaf overdue --format json`` (DESIGN §5)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "rule": self.rule,
            "audit_id": self.audit_id,
            "case_id": self.case_id,
            "responsible": self.responsible,
            "responsible_role": self.responsible_role,
            "due": self.due.isoformat(),
            "working_days_late": self.working_days_late,
            "level": self.level,
            "notify": [n.as_json() for n in self.notify],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Rung:
    level: int
    unit: str
    amount: int
    notify: tuple[str, ...]


def _rungs(ladder: Sequence[LadderRung], first_level: int = 1) -> tuple[_Rung, ...]:
    out = []
    for i, rung in enumerate(ladder):
        d = parse_duration(rung.after)
        unit, amount = d.unit, d.amount
        if unit == "hours":  # "48 hours" = 2 working days (calendar.add)
            unit, amount = "working_days", -(-amount // 24)
        out.append(_Rung(first_level + i, unit, amount, rung.notify))
    return tuple(out)


def _reached(rung: _Rung, due: date, as_of: date, working_days_late: int) -> bool:
    """Rung reached when ``as_of`` is on or after ``due + rung.after`` (calendar.add)."""
    if rung.unit == "working_days":
        return working_days_late >= rung.amount
    if rung.unit == "days":
        return (as_of - due).days >= rung.amount
    if rung.unit == "weeks":
        return (as_of - due).days >= 7 * rung.amount
    return as_of >= due + relativedelta(months=rung.amount)


@dataclass(frozen=True)
class _Where:
    """The case as seen by recipient resolution (team and service may be the auditor's)."""

    case_id: str
    team: str
    service: str
    category: str
    worker: str


def compute_overdue(
    as_of: date,
    pending: Iterable[Pending],
    roster: Roster,
    cfg: Config,
    calendar: WorkingCalendar,
    late_before: Mapping[str, Sequence[date]] | None = None,
) -> list[OverdueItem]:
    """Everything late on ``as_of``, sorted: safety first, then ladder level, then days late.

    * ``late-return`` (T4, ``escalation.late_return``): the ladder's roles are resolved
      relative to the **auditor** (their Team/Service Manager, Head of Service: Haringey
      2.15 "the auditor and their Service Manager and/or Head of Service"), or to the case
      when the auditor is not in the roster;
    * ``action`` (T5, ``escalation.late_action``): rungs counted from the action's date;
    * ``safety`` (E3): listed from the day it was raised until acknowledged; level 1 tells
      ``escalation.safety_notify`` and each later rung of ``escalation.late_followup``
      adds a level;
    * every other follow-up, ``moderation`` (M1) and ``dispute`` (Haringey 2.11):
      ``escalation.late_followup``; an item's own ``notify`` roles join its first rung.

    Each item's ``notify`` holds the recipients of every rung reached, with their level,
    so a skipped day is caught up by whoever sends. An item late by less than its first
    rung has level 0 and nobody to tell yet: it is still listed.

    A repeat late return (Haringey 2.15, ``escalation.repeat_late_return_notify``): when
    ``late_before`` (auditor -> deadlines of their returns that came in late or not at
    all) holds a deadline in the 12 months before this return's, those roles are added to
    the ladder's first rung and the item's detail says so.
    """
    esc = cfg.escalation
    ladders = {
        LATE_RETURN: _rungs(esc.late_return),
        ACTION: _rungs(esc.late_action),
        SAFETY: _rungs(esc.late_followup, first_level=2),
    }
    followup_ladder = _rungs(esc.late_followup)
    cache: dict[tuple[object, ...], list[Recipient]] = {}
    staff_cache: dict[str, StaffMember | None] = {}

    def member(name: str) -> StaffMember | None:
        if name not in staff_cache:
            staff_cache[name] = roster.by_name(name)
        return staff_cache[name]

    items: list[OverdueItem] = []
    for p in pending:
        due = p.due
        if p.kind == SAFETY:
            if as_of < due:
                continue
        elif as_of <= due:
            continue
        late = calendar.working_days_between(due, as_of)
        ladder = ladders.get(p.kind, followup_ladder)
        where = _Where(p.case_id, p.team, p.service, p.category, p.worker)
        if p.kind == LATE_RETURN:
            who = member(p.auditor)
            if who is not None and (who.team or who.service):
                where = _Where(p.case_id, who.team, who.service, p.category, p.worker)
        steps: list[tuple[int, tuple[str, ...]]] = []
        if p.kind == SAFETY:
            steps.append((1, esc.safety_notify))
        steps += [(r.level, r.notify) for r in ladder if _reached(r, due, as_of, late)]
        detail = p.detail
        if p.kind == LATE_RETURN and esc.repeat_late_return and late_before:
            earlier = _earlier_late(late_before.get(p.auditor, ()), due)
            if earlier is not None:
                detail = detail or (
                    f"repeat late return: {p.auditor} was also late with a return due "
                    f"{earlier:%d/%m/%Y} (Haringey 2.15)"
                )
                if steps and steps[0][0] == 1:
                    roles = tuple(dict.fromkeys((*steps[0][1], *esc.repeat_late_return)))
                    steps[0] = (1, roles)
        if p.notify and steps and steps[0][0] == 1:
            steps[0] = (1, tuple(dict.fromkeys((*steps[0][1], *p.notify))))
        notices: list[Notice] = []
        level = 0
        for lvl, roles in steps:
            level = lvl
            key = (
                roles,
                where.team,
                where.service,
                where.category,
                where.worker,
                p.auditor,
                p.responsible,
            )
            people = cache.get(key)
            if people is None:
                people = recipients(
                    roles, case=where, auditor=p.auditor, roster=roster, responsible=p.responsible
                )
                cache[key] = people
            notices += [Notice(lvl, r) for r in people]
        items.append(
            OverdueItem(
                id=p.item_id,
                kind=p.kind,
                rule=p.rule,
                audit_id=p.audit_id,
                case_id=p.case_id,
                responsible=p.responsible,
                responsible_role=p.responsible_role,
                due=due,
                working_days_late=late,
                level=level,
                notify=tuple(notices),
                detail=detail,
            )
        )
    items.sort(key=_severity)
    return items


def _earlier_late(deadlines: Iterable[date], due: date) -> date | None:
    """The latest of an auditor's late deadlines in the 12 months before ``due``, if any."""
    since = due - relativedelta(months=12)
    earlier = [d for d in deadlines if since <= d < due]
    return max(earlier) if earlier else None


def _severity(item: OverdueItem) -> tuple[int, int, int, date, str]:
    return (0 if item.safety else 1, -item.level, -item.working_days_late, item.due, item.id)


# ------------------------------------------------------------ alerts to mail (E1-E3)

ALERT = "alert"
# Alerts of returns received longer ago than this are not mailed any more: a day or a
# week without a run is caught up, but a register that never mailed its alerts (older
# versions stored them only) does not send years of stale news on its first run.
ALERT_LOOKBACK_MONTHS = 3


@dataclass(frozen=True)
class RaisedAlert:
    """An alert stored by ``qaf ingest`` (rules E1-E3) and not yet mailed, with its return."""

    id: int
    rule: str
    reason: str
    recipient_role: str
    recipient_name: str
    recipient_email: str
    audit_id: str | None
    case_id: str
    overall: str | None
    received_on: date

    @property
    def item_id(self) -> str:
        """The key it is recorded under once sent: ``alert:<id>`` (always level 0)."""
        return item_id(ALERT, str(self.id))

    @property
    def safety(self) -> bool:
        return self.rule == "E3"

    @property
    def recipient(self) -> Recipient:
        if self.recipient_name and self.recipient_email.strip():
            return Recipient(self.recipient_role, self.recipient_name, self.recipient_email)
        reason = self.reason.partition("; not sent: ")[2] or (
            f"{self.recipient_name} has no e-mail address in the roster"
            if self.recipient_name
            else f"nobody holds the role {self.recipient_role}"
        )
        return Recipient(self.recipient_role, reason=reason)

    def as_json(self) -> dict[str, object]:
        """One entry of ``qaf overdue --format json`` ``alerts`` (README "JSON output")."""
        return {
            "id": self.item_id,
            "rule": self.rule,
            "audit_id": self.audit_id,
            "case_id": self.case_id,
            "overall": self.overall,
            "received_on": self.received_on.isoformat(),
            "reason": self.reason,
            "recipient": self.recipient.as_json(),
        }


def alert_window(as_of: date) -> tuple[date, date]:
    """(first, last) day a return may have been received for its alerts to be mailed."""
    return as_of - relativedelta(months=ALERT_LOOKBACK_MONTHS), as_of


def alerts_to_send(raised: Iterable[RaisedAlert], as_of: date) -> list[RaisedAlert]:
    """Rules E1, E2 by mail: the unsent alerts of returns received in the window ending on
    ``as_of`` (a return received later does not exist yet on that day), oldest first.

    E3 alerts are left out: the return's "safety" follow-up already tells the same people
    (``escalation.safety_notify``) at once, as level 1 of an overdue item, and keeps
    telling until acknowledged; mailing the alert as well would say it twice. Alerts with
    nobody to tell (a role nobody holds) stay in the list so the sender reports them."""
    first, last = alert_window(as_of)
    due = [a for a in raised if not a.safety and first <= a.received_on <= last]
    due.sort(key=lambda a: (a.received_on, a.id))
    return due


def parse_item_id(text: str) -> tuple[str, str]:
    """(kind, ref) of an item id; ValueError when it has no ``kind:ref`` shape."""
    kind, sep, ref = text.strip().partition(":")
    if not sep or not kind or not ref:
        raise ValueError(
            f'"{text}" is not an item id (expected kind:ref, e.g. discussion:42 or '
            "late-return:A-2026-12-0001, as `qaf overdue` shows them)"
        )
    return kind, ref


# ------------------------------------------------------------ amendments (T1)

QA_CHECK = "qa-check"
AMENDMENTS = "amendments"


def amendments_request(
    qa_check: FollowUp, *, auditor: str, on: date, what: str, cfg: Config, calendar: WorkingCalendar
) -> FollowUp:
    """Rule T1 (Haringey 2.15): the QA check sends the return back to its auditor, who
    provides an amended report within ``timescales.amendments`` (3 working days) of the
    request; late, it climbs ``escalation.late_followup`` (the auditor, then the Service
    Manager, then the Head of Service). A corrected re-submission closes it."""
    window = cfg.timescales.amendments
    return FollowUp(
        kind=AMENDMENTS,
        rule="T1",
        audit_id=qa_check.audit_id,
        case_id=qa_check.case_id,
        responsible=auditor or AUDITOR,
        responsible_role=AUDITOR,
        due=calendar.add(on, parse_duration(window)),
        return_id=qa_check.return_id,
        detail=f"send the amended return (within {window}): {what}",
    )


# ------------------------------------------------------------ extensions (T6)


@dataclass(frozen=True)
class ExtensionDecision:
    ok: bool
    reason: str


def check_extension(
    *,
    current_due: date,
    new_due: date,
    agreed_by: str,
    agreed_on: date,
    returned: bool,
    roster: Roster,
    cfg: Config,
) -> ExtensionDecision:
    """Rule T6 (Lancashire): an extension is valid only if agreed, before the deadline, by
    someone holding a role in ``timescales.extension_agreed_by`` (default Head of Service).
    "Before the deadline" includes the due day itself."""
    allowed = cfg.timescales.extension_agreed_by
    if returned:
        return ExtensionDecision(False, "the audit has already been returned")
    person = roster.by_name(agreed_by)
    if person is None:
        return ExtensionDecision(False, f'"{agreed_by}" is not in the staff roster')
    roles = {normalise(canonical_role(r)) for r in allowed}
    if normalise(canonical_role(person.role)) not in roles:
        return ExtensionDecision(
            False,
            f"{person.name} is {person.role or 'without a role'}; only "
            f"{' or '.join(allowed)} may agree an extension (rule T6)",
        )
    if agreed_on > current_due:
        return ExtensionDecision(
            False,
            f"agreed on {uk_date(agreed_on)}, after the deadline {uk_date(current_due)}; "
            "an extension must be agreed before the deadline (rule T6)",
        )
    if new_due <= current_due:
        return ExtensionDecision(
            False,
            f"the new date {uk_date(new_due)} is not after the current deadline "
            f"{uk_date(current_due)}",
        )
    return ExtensionDecision(
        True,
        f"deadline moved from {uk_date(current_due)} to {uk_date(new_due)}, "
        f"agreed by {person.name} ({person.role}) on {uk_date(agreed_on)}",
    )
