"""The store path of ingest stays fast without changing what it stores (issue 8).

Every register statement ingest runs for a file searches by index (EXPLAIN QUERY PLAN),
so its cost does not grow with the register; what is remembered within a run (grade
spellings per scale, role holders per roster, deadlines per calendar) gives the answers
asking afresh gives.
"""

from __future__ import annotations

import gc
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from qaf.calendar import WorkingCalendar
from qaf.config import Config, parse_config, read_config
from qaf.escalate import consequences_of_return
from qaf.grades import GradeError, ofsted_scale
from qaf.ingest import Cell, _Collector, _parse_grade, ingest_paths
from qaf.records import FollowUp, StaffMember
from qaf.register import Register
from qaf.sources import Roster
from qaf.workdir import preset_text
from tests.ingest_books import allocation, record_allocations, setup_register
from tests.test_escalate import facts
from tests.test_ingest import make_return

# ------------------------------------------------------------ queries by index


def _plans(reg: Register, statements: list[str]) -> dict[str, list[str]]:
    plans = {}
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            plans[sql] = [r[3] for r in reg.conn.execute("EXPLAIN QUERY PLAN " + sql)]
    return plans


def test_every_look_up_of_the_store_path_searches_by_index(tmp_path: Path) -> None:
    """Rules I2 (matching), I5 (already ingested, superseded, SurveyMonkey response seen),
    A4 (previous return), T7 (learning held) and E3 (safety concern of a rejected return):
    no statement scans a table, however big the register."""
    statements: list[str] = []
    with Register.open(tmp_path / "qaf.db") as reg:
        record_allocations(reg, [allocation()])
        reg.conn.set_trace_callback(statements.append)
        reg.file_ingested("0" * 64)
        reg.allocation("2026-12-001")
        reg.allocations_of_case("P000001")
        reg.current_return_id("2026-12-001")
        reg.return_overall(1)
        reg.previous_return("P000001", exclude_audit_id="2026-12-001")
        reg.previous_return("P000001", exclude_audit_id=None)
        reg.current_and_previous("2026-12-001", "P000001")
        reg.current_and_previous(None, "P000001")
        reg.return_by_source("response 7", "2026-12-001")
        reg.return_by_source("response 7", None)
        reg.unstored_safety_followup("2026-12-001", "P000001")
        reg.unstored_safety_followup(None, "P000001")
        reg.safety_followup_due("2026-12-001", "P000001")
        reg.safety_followup_due(None, "P000001")
        with reg.transaction() as conn:
            reg.supersede(conn, 1, 2, date(2027, 1, 8))
            reg.close_learning_held(conn, "P000001", 2, "2026-12-001", date(2027, 1, 8))
            reg.adopt_followup(conn, 1, 2, "2026-12-001")
        reg.conn.set_trace_callback(None)
        plans = _plans(reg, statements)
    assert len(plans) >= 15
    slow = {sql: plan for sql, plan in plans.items() if any(map(_reads_much, plan))}
    assert slow == {}


# Indexes on a column most rows share a value of: a search by that value reads them all.
_UNSELECTIVE = ("returns_current (superseded_by=?)", "followups_open (done_on=?)")


def _reads_much(step: str) -> bool:
    """A plan step reading a table whole, or most of it through an unselective index.
    (followups_return searched for a NULL return_id is selective: only the safety
    follow-ups of returns not stored have none.)"""
    if not step.startswith(("SCAN", "SEARCH")) or "subquery" in step:
        return False
    return step.startswith("SCAN") or " USING " not in step or step.endswith(_UNSELECTIVE)


def test_current_and_previous_return_in_one_statement_as_in_two(tmp_path: Path) -> None:
    """Rules I5 (a re-submission supersedes the audit's current return) and A4 (the case's
    latest current return of another audit): one statement, the same answers as two."""
    allocs = [allocation("2026-12-001"), allocation("2026-12-002"), allocation("2026-12-003")]
    rows = [  # (audit_id, received_on, overall, superseded_by)
        ("2026-12-001", "2026-12-02", "Good", 2),
        ("2026-12-001", "2026-12-05", "Inadequate", None),
        ("2026-12-002", "2026-12-04", "Outstanding", None),
        (None, "2026-12-03", "Requires Improvement", None),
    ]
    with Register.open(tmp_path / "qaf.db") as reg:
        record_allocations(reg, allocs)
        with reg.transaction() as conn:
            for audit_id, received, overall, _ in rows:
                conn.execute(
                    "INSERT INTO returns (audit_id, case_id, tool, received_on, overall, "
                    "created_at) VALUES (?, 'P000001', 'case-audit', ?, ?, 'x')",
                    (audit_id, received, overall),
                )
            conn.execute("UPDATE returns SET superseded_by = 2 WHERE id = 1")
        for audit_id in ("2026-12-001", "2026-12-002", "2026-12-003", None):
            for case_id in ("P000001", "P000009"):
                two = (
                    reg.current_return_id(audit_id) if audit_id else None,
                    reg.previous_return(case_id, exclude_audit_id=audit_id),
                )
                assert reg.current_and_previous(audit_id, case_id) == two
        assert reg.current_and_previous("2026-12-001", "P000001") == (2, (3, "Outstanding"))


def test_safety_concern_first_raised_is_found_by_audit_and_by_case(tmp_path: Path) -> None:
    """Rule E3: the earliest safety follow-up of an audit, or of a case with no allocation
    (which counts for the case's audits too), as before the index was added."""

    def safety(audit_id: str | None, case_id: str, due: date) -> FollowUp:
        return FollowUp("safety", "E3", audit_id, case_id, "Tia Manager", "Team Manager", due)

    with Register.open(tmp_path / "qaf.db") as reg:
        with reg.transaction() as conn:
            reg.add_followups(
                conn,
                [
                    safety("2026-12-001", "P000001", date(2026, 12, 10)),
                    safety(None, "P000001", date(2026, 12, 4)),
                    safety(None, "P000002", date(2026, 12, 20)),
                    safety("2026-12-009", "P000002", date(2026, 12, 1)),
                ],
            )
        assert reg.safety_followup_due("2026-12-001", "P000001") == date(2026, 12, 4)
        assert reg.safety_followup_due(None, "P000001") == date(2026, 12, 4)
        assert reg.safety_followup_due("2026-12-002", "P000002") == date(2026, 12, 20)
        assert reg.safety_followup_due(None, "P000002") == date(2026, 12, 20)
        assert reg.safety_followup_due("2026-12-009", "P000003") == date(2026, 12, 1)
        assert reg.safety_followup_due(None, "P000003") is None


# ------------------------------------------------------------ grades remembered

SCALE = ofsted_scale({"RI": "Requires Improvement"})


@pytest.mark.parametrize(
    "value",
    [
        "Good",
        " good ",
        "RI",
        "N/A",
        "n/a",
        "2 - Good",
        "Grade 4",
        2,
        2.0,
        True,
        "Excellent",
        "1 - Inadequate",
        5,
        2.5,
        date(2026, 12, 1),
    ],
)
def test_a_grade_read_twice_reads_the_same_and_an_error_is_reported_every_time(
    value: Any,
) -> None:
    """Rule G1: the remembered reading of a grade spelling is the reading itself."""
    try:
        expected: str | None = "N/A" if str(value).strip().lower() == "n/a" else SCALE.parse(value)
    except GradeError:
        expected = None
    for _ in range(3):
        col = _Collector("f.xlsx", [])
        got = _parse_grade(SCALE, Cell(value, "Audit", "C9"), "domain D1", col)
        assert got == expected
        assert [p.rule for p in col.problems] == ([] if expected else ["G1"])


def test_true_is_not_read_as_the_first_grade_after_1_was() -> None:
    """Rule G1: the memory keeps types apart (1 == True in Python)."""
    col = _Collector("f.xlsx", [])
    assert _parse_grade(SCALE, Cell(1, "Audit", "C9"), "domain D1", col) == "Outstanding"
    assert _parse_grade(SCALE, Cell(True, "Audit", "C10"), "domain D2", col) is None
    assert [(p.rule, p.cell) for p in col.problems] == [("G1", "C10")]


def test_each_scale_remembers_its_own_spellings() -> None:
    """Rule G1: an alias of one scale is not a grade of another."""
    sound = ofsted_scale({"Sound": "Good"})
    col = _Collector("f.xlsx", [])
    assert _parse_grade(sound, Cell("Sound"), "overall", col) == "Good"
    assert _parse_grade(SCALE, Cell("Sound"), "overall", col) is None
    assert [p.rule for p in col.problems] == ["G1"]


# ------------------------------------------------------------ escalation remembered


@pytest.fixture(scope="module")
def cfg() -> Config:
    return parse_config(tomllib.loads(preset_text("generic")), Path("/tmp/qaf.toml"))


def _staff(name: str, role: str, team: str = "", service: str = "") -> StaffMember:
    return StaffMember(name, name.lower().replace(" ", ".") + "@example.org", role, team, service)


FACTS = facts(overall="Inadequate")  # the shared fixture of test_escalate


def _roster(team_manager: str, head: str) -> Roster:
    return Roster(
        (
            _staff(team_manager, "Team Manager", "Team A", "Service 1"),
            _staff(head, "Head of Service", "", "Service 1"),
            _staff("Sol Senior", "Service Manager", "", "Service 1"),
            _staff("Ada Assistant", "Assistant Director"),
            _staff("Quin Officer", "QA Officer", "QA", "Quality"),
        )
    )


def test_role_holders_are_remembered_per_roster(cfg: Config) -> None:
    """Rules E1, T2: a second roster (another run) is asked afresh, not answered from the
    first one's memory."""
    cal = WorkingCalendar()
    first = consequences_of_return(FACTS, _roster("Tia Manager", "Hal Head"), cfg, cal)
    second = consequences_of_return(FACTS, _roster("Tom Manager", "Hana Head"), cfg, cal)
    told = [{a.recipient_name for a in c.alerts if a.rule == "E1"} for c in (first, second)]
    assert told == [{"Hal Head", "Ada Assistant"}, {"Hana Head", "Ada Assistant"}]
    owners = [
        {f.responsible for f in c.followups if f.kind == "discussion"} for c in (first, second)
    ]
    assert owners == [{"Tia Manager"}, {"Tom Manager"}]


def test_deadlines_are_remembered_per_calendar(cfg: Config) -> None:
    """Rules T1, T2: a calendar with another closure gives its own working-day deadlines."""
    roster = _roster("Tia Manager", "Hal Head")
    plain = consequences_of_return(FACTS, roster, cfg, WorkingCalendar())
    closed = consequences_of_return(
        FACTS, roster, cfg, WorkingCalendar(extra_closures=[date(2026, 12, 21)])
    )
    again = consequences_of_return(FACTS, roster, cfg, WorkingCalendar())
    due = [{f.kind: f.due for f in c.followups} for c in (plain, closed, again)]
    assert due[0] == due[2]
    assert due[1]["qa-check"] > due[0]["qa-check"]
    later = replace(FACTS, received_on=date(2026, 12, 21))
    assert (
        consequences_of_return(later, roster, cfg, WorkingCalendar()).followups[0].due
        > (due[0]["qa-check"])
    )


# ------------------------------------------------------------ the collector during a run


def test_what_lives_before_a_run_is_frozen_during_it_and_only_then(
    small_dir: Path, tmp_path: Path
) -> None:
    """Issue 8 (speed, no rule changes): the files are stored as ever; the garbage collector
    skips the objects alive before the run while it lasts, and has them all back after."""
    cfg = read_config(small_dir / "qaf.toml")
    allocs = [allocation("2026-12-001"), allocation("2026-12-002", "P000002")]
    setup_register(cfg, allocs)
    paths = [make_return(cfg, a, tmp_path / "returns" / f"{a.audit_id}.xlsx")[0] for a in allocs]
    before = gc.get_freeze_count()
    during: list[int] = []
    report = ingest_paths(
        cfg,
        paths,
        as_of=date(2027, 1, 8),
        progress=lambda i, n: during.append(gc.get_freeze_count()),
    )
    assert [f.status for f in report.files] == ["accepted", "accepted"]
    assert len(during) == 2 and min(during) > before
    assert gc.get_freeze_count() == before
