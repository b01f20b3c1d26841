"""Contract B: consequences of a return (rules E1-E3, T1-T3, T5, T7) and recipient resolution."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from qaf.calendar import WorkingCalendar, parse_duration
from qaf.config import Config, parse_config
from qaf.escalate import consequences_of_return, recipients, resolve_role
from qaf.records import ActionItem, ReturnFacts, StaffMember
from qaf.sources import Roster
from qaf.workdir import preset_text

CAL = WorkingCalendar()


def staff(
    name: str, role: str, team: str = "", service: str = "", manager: str = ""
) -> StaffMember:
    email = name.lower().replace(" ", ".") + "@example.org"
    return StaffMember(name, email, role, team, service, manager or None)


ROSTER = Roster(
    (
        staff("Sam Worker", "Social Worker", "Team A", "Service 1", "Tia Manager"),
        staff("Tia Manager", "Team Manager", "Team A", "Service 1", "Sol Senior"),
        staff("Tom Manager", "Team Manager", "Team B", "Service 1", "Sol Senior"),
        staff("Sol Senior", "Service Manager", "", "Service 1", "Hal Head"),
        staff("Sue Senior", "Service Manager", "", "Service 2", "Hana Head"),
        staff("Hal Head", "Head of Service", "", "Service 1", "Ada Director"),
        staff("Hana Head", "Head of Service", "", "Service 2", "Ada Director"),
        staff("Ada Assistant", "Assistant Director", "", "", "Dee Director"),
        staff("Dee Director", "Director of Children's Social Care"),
        staff("Eve Executive", "Executive Director"),
        staff("Ira Reviewer", "IRO", "Safeguarding Unit", "Quality"),
        staff("Cora Chair", "CP Chair", "Safeguarding Unit", "Quality"),
        staff("Quin Officer", "QA Officer", "QA", "Quality"),
        staff("Aud Itor", "Team Manager", "Team C", "Service 2", "Sue Senior"),
    )
)


@pytest.fixture(scope="module")
def cfg() -> Config:
    return parse_config(tomllib.loads(preset_text("generic")), Path("/tmp/qaf.toml"))


def facts(**kw: object) -> ReturnFacts:
    base = ReturnFacts(
        return_id=7,
        audit_id="A-2026-12-0001",
        case_id="P000001",
        team="Team A",
        service="Service 1",
        category="CiN",
        worker="Sam Worker",
        auditor="Aud Itor",
        tool="case-audit",
        type="audit",
        overall="Good",
        reaudit_round=0,
        movement=None,
        safety_concern=False,
        received_on=date(2026, 12, 18),  # a Friday
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def names(alerts: object, rule: str) -> set[str]:
    return {a.recipient_name for a in alerts if a.rule == rule}  # type: ignore[attr-defined]


# ------------------------------------------------------------ resolve_role


@pytest.mark.parametrize(
    "role,category,expected",
    [
        ("Team Manager", "CiN", ["Tia Manager"]),
        ("TM", "CiN", ["Tia Manager"]),
        ("Service Manager", "CiN", ["Sol Senior"]),
        ("Senior Manager", "CiN", ["Sol Senior"]),  # Lancashire's word
        ("Head of Service", "CiN", ["Hal Head"]),
        ("HoS", "CiN", ["Hal Head"]),
        ("Practitioner", "CiN", ["Sam Worker"]),
        ("IRO/CP Chair", "Child in our care", ["Ira Reviewer"]),
        ("IRO/CP Chair", "Care Leaver", ["Ira Reviewer"]),
        ("IRO/CP Chair", "CP", ["Cora Chair"]),
        ("IRO/CP Chair", "CiN", []),
        ("Auditor", "CiN", ["Aud Itor"]),
        ("Auditor's manager", "CiN", ["Sue Senior"]),
        ("Assistant Director", "CiN", ["Ada Assistant"]),
        ("Director of Children's Social Care", "CiN", ["Dee Director"]),
        ("Executive Director", "CiN", ["Eve Executive"]),
        ("QA Officer", "CiN", ["Quin Officer"]),
    ],
)
def test_resolve_role_relative_to_case_auditor_and_organisation(
    role: str, category: str, expected: list[str]
) -> None:  # rules E1, E2, T4
    case = facts(category=category)
    got = resolve_role(role, case=case, auditor="Aud Itor", roster=ROSTER)
    assert [p.name for p in got] == expected


def test_resolve_responsible_by_name() -> None:
    got = resolve_role(
        "Responsible", case=None, auditor=None, roster=ROSTER, responsible="hal head"
    )
    assert [p.name for p in got] == ["Hal Head"]


def test_team_manager_is_only_the_cases_team() -> None:  # rule E1: "its Team Manager"
    case = facts(team="Team Z", worker="Nobody Known")
    assert resolve_role("Team Manager", case=case, auditor=None, roster=ROSTER) == []


def test_team_manager_falls_back_to_workers_line_manager() -> None:
    case = facts(team="Renamed Team")  # Sam's line manager is a Team Manager
    got = resolve_role("Team Manager", case=case, auditor=None, roster=ROSTER)
    assert [p.name for p in got] == ["Tia Manager"]


def test_unresolved_role_is_reported_with_reason() -> None:  # no silent skip
    case = facts(service="Service 9", team="Team Z", worker="Ghost Worker")
    got = recipients(
        ["Head of Service", "Practitioner", "IRO/CP Chair"], case=case, auditor=None, roster=ROSTER
    )
    assert [(r.role, r.name) for r in got] == [("Head of Service", ""), ("Practitioner", "")]
    assert 'service "Service 9"' in got[0].reason
    assert "Ghost Worker" in got[1].reason


def test_recipients_deduplicate_people() -> None:
    got = recipients(
        ["Team Manager", "TM", "Practitioner's manager"],
        case=facts(),
        auditor=None,
        roster=ROSTER,
    )
    assert [r.name for r in got] == ["Tia Manager"]


# ------------------------------------------------------------------ E1-E3


@pytest.mark.parametrize(
    "grade,expected",
    [
        ("Inadequate", {"Hal Head", "Ada Assistant"}),
        ("Requires Improvement", {"Hal Head", "Tia Manager"}),  # CiN: no IRO/CP Chair
        ("Good", {"Tia Manager"}),
        ("Outstanding", {"Tia Manager", "Hal Head", "Ada Assistant"}),
    ],
)
def test_e1_alerts_by_grade(cfg: Config, grade: str, expected: set[str]) -> None:  # rule E1
    out = consequences_of_return(facts(overall=grade), ROSTER, cfg, CAL)
    assert names(out.alerts, "E1") == expected
    assert all(a.recipient_email for a in out.alerts if a.rule == "E1")


def test_e1_requires_improvement_tells_cp_chair_for_cp_case(cfg: Config) -> None:  # rule E1
    out = consequences_of_return(
        facts(overall="Requires Improvement", category="CP"), ROSTER, cfg, CAL
    )
    assert names(out.alerts, "E1") == {"Hal Head", "Tia Manager", "Cora Chair"}


def test_e1_grade_alias_is_understood(cfg: Config) -> None:  # rules E1, G1
    out = consequences_of_return(facts(overall="RI"), ROSTER, cfg, CAL)
    assert "Tia Manager" in names(out.alerts, "E1")


@pytest.mark.parametrize(
    "grade,movement,round_,expected",
    [
        ("Requires Improvement", "same", 1, {"Sam Worker", "Tia Manager", "Sol Senior"}),
        ("Inadequate", "downgraded", 1, {"Sam Worker", "Tia Manager", "Sol Senior"}),
        (
            "Inadequate",
            "same",
            2,
            {"Sam Worker", "Tia Manager", "Sol Senior", "Hal Head", "Ada Assistant"},
        ),
        (
            "Requires Improvement",
            "downgraded",
            3,
            {"Sam Worker", "Tia Manager", "Sol Senior", "Hal Head", "Ada Assistant"},
        ),
        ("Good", "same", 1, set()),  # same but good: no E2
        ("Requires Improvement", "improved", 1, set()),
    ],
)
def test_e2_reaudit_same_or_downgraded(
    cfg: Config, grade: str, movement: str, round_: int, expected: set[str]
) -> None:  # rule E2
    f = facts(type="reaudit", overall=grade, movement=movement, reaudit_round=round_)
    out = consequences_of_return(f, ROSTER, cfg, CAL)
    assert names(out.alerts, "E2") == expected


def test_e3_safety_alert_and_followup_due_at_once(cfg: Config) -> None:  # rule E3
    out = consequences_of_return(facts(safety_concern=True), ROSTER, cfg, CAL)
    assert names(out.alerts, "E3") == {"Tia Manager", "Hal Head"}
    safety = [f for f in out.followups if f.kind == "safety"]
    assert len(safety) == 1
    assert safety[0].due == date(2026, 12, 18)
    assert safety[0].responsible == "Tia Manager"
    assert safety[0].rule == "E3"


def test_moderation_return_only_counts_its_safety_concern(cfg: Config) -> None:
    out = consequences_of_return(
        facts(type="moderation", overall="Inadequate", safety_concern=True), ROSTER, cfg, CAL
    )
    assert {a.rule for a in out.alerts} == {"E3"}
    assert [f.kind for f in out.followups] == ["safety"]


def test_unresolved_recipient_is_an_alert_with_reason(cfg: Config) -> None:
    f = facts(overall="Inadequate", service="Service 9", team="Team Z", worker="Ghost Worker")
    out = consequences_of_return(f, ROSTER, cfg, CAL)
    empty = [a for a in out.alerts if a.rule == "E1" and not a.recipient_name]
    assert [a.recipient_role for a in empty] == ["Head of Service"]
    assert "Service 9" in empty[0].reason
    # the discussion's Team Manager is missing too: its follow-up names the role, and says so
    disc = next(x for x in out.followups if x.kind == "discussion")
    assert disc.responsible == "Team Manager"
    assert any(a.rule == "T2" and not a.recipient_name for a in out.alerts)


# ---------------------------------------------------------------- follow-ups


def by_kind(out: object) -> dict[str, list]:  # type: ignore[type-arg]
    result: dict[str, list] = {}  # type: ignore[type-arg]
    for f in out.followups:  # type: ignore[attr-defined]
        result.setdefault(f.kind, []).append(f)
    return result


def test_t1_qa_check_next_working_day(cfg: Config) -> None:  # rule T1
    # received Friday 18 Dec 2026 -> Monday 21 Dec
    f = by_kind(consequences_of_return(facts(), ROSTER, cfg, CAL))["qa-check"][0]
    assert (f.due, f.responsible, f.responsible_role) == (
        date(2026, 12, 21),
        "Quin Officer",
        "QA Officer",
    )


@pytest.mark.parametrize(
    "grade,type_,movement,due",
    [
        # Thursday 24 Dec 2026 + 5 working days skips Christmas Day (Fri) and Boxing Day
        # substitute (Mon 28): 29, 30, 31 Dec, 1 Jan is New Year's Day, 4, 5 Jan
        ("Inadequate", "audit", None, date(2027, 1, 5)),
        ("Requires Improvement", "audit", None, date(2027, 1, 12)),
        ("Requires Improvement", "reaudit", "same", date(2027, 1, 5)),
        ("Requires Improvement", "reaudit", "improved", date(2027, 1, 12)),
    ],
)
def test_t2_discussion_window(
    cfg: Config, grade: str, type_: str, movement: str | None, due: date
) -> None:
    # rule T2: 5 working days for Inadequate and same/downgraded re-audits, 10 for RI
    f = facts(
        overall=grade,
        type=type_,
        movement=movement,
        reaudit_round=1 if type_ == "reaudit" else 0,
        received_on=date(2026, 12, 24),
    )
    d = by_kind(consequences_of_return(f, ROSTER, cfg, CAL))["discussion"][0]
    assert d.due == due
    assert d.responsible == "Tia Manager"


@pytest.mark.parametrize("grade", ["Good", "Outstanding"])
def test_t2_no_discussion_for_good(cfg: Config, grade: str) -> None:  # rule T2
    assert "discussion" not in by_kind(
        consequences_of_return(facts(overall=grade), ROSTER, cfg, CAL)
    )


def test_t3_and_t5_actions(cfg: Config) -> None:  # rules T3, T5
    f = facts(
        overall="Requires Improvement",
        actions=(
            ActionItem("Update the chronology", "Sam Worker", date(2027, 1, 15)),
            ActionItem("Hold a strategy discussion", "TM", date(2027, 1, 8)),
            ActionItem("Review the plan", "someone unknown", None),
        ),
    )
    kinds = by_kind(consequences_of_return(f, ROSTER, cfg, CAL))
    note = kinds["action-notification"][0]
    # 48 hours = 2 working days: Friday 18 Dec -> Tuesday 22 Dec
    assert (note.due, note.responsible, note.rule) == (date(2026, 12, 22), "Aud Itor", "T3")
    actions = kinds["action"]
    assert [(a.responsible, a.due) for a in actions] == [
        ("Sam Worker", date(2027, 1, 15)),
        ("Tia Manager", date(2027, 1, 8)),
        ("Tia Manager", date(2027, 1, 15)),  # undated: 4 weeks after the return
    ]
    assert all(a.rule == "T5" and a.return_id == 7 for a in actions)
    assert actions[0].detail == "Update the chronology"
    assert "no date given" in actions[2].detail


def test_t3_not_created_without_actions(cfg: Config) -> None:  # rule T3
    assert "action-notification" not in by_kind(
        consequences_of_return(facts(overall="Requires Improvement"), ROSTER, cfg, CAL)
    )


def test_t7_closing_loop_for_inadequate(cfg: Config) -> None:  # rule T7
    kinds = by_kind(consequences_of_return(facts(overall="Inadequate"), ROSTER, cfg, CAL))
    loop = kinds["closing-loop"][0]
    assert loop.responsible == "Sol Senior"
    assert loop.due == CAL.add_working_days(date(2026, 12, 18), 20)
    ri = by_kind(consequences_of_return(facts(overall="Requires Improvement"), ROSTER, cfg, CAL))
    assert "closing-loop" not in ri and "closing-loop-reaudit" not in ri


def test_t7_learning_held_audit_three_months_later(cfg: Config) -> None:  # rule T7
    """Lancashire "3 months later": the QA team arranges a new audit of the learning held."""
    kinds = by_kind(consequences_of_return(facts(overall="Inadequate"), ROSTER, cfg, CAL))
    [later] = kinds["closing-loop-reaudit"]
    assert (later.rule, later.responsible, later.responsible_role) == (
        "T7",
        "Quin Officer",
        "QA Officer",
    )
    assert later.due == CAL.add(date(2026, 12, 18), parse_duration("3 months"))
    assert later.detail.startswith("a new audit 3 months after the Inadequate return")


def test_followups_carry_return_and_audit(cfg: Config) -> None:
    out = consequences_of_return(facts(overall="Inadequate", safety_concern=True), ROSTER, cfg, CAL)
    assert {f.kind for f in out.followups} == {
        "safety",
        "qa-check",
        "discussion",
        "closing-loop",
        "closing-loop-reaudit",
    }
    assert all(f.return_id == 7 and f.audit_id == "A-2026-12-0001" for f in out.followups)
    assert all(f.case_id == "P000001" for f in out.followups)


def test_unknown_grade_gives_no_grade_alert(cfg: Config) -> None:
    out = consequences_of_return(facts(overall=None), ROSTER, cfg, CAL)
    assert [a for a in out.alerts if a.rule == "E1"] == []
    assert [f.kind for f in out.followups] == ["qa-check"]
