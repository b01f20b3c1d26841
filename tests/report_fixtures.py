"""A register full of realistic, fictional audit history, written with plain SQL.

Used by the report, export and moderation tests (and, at scale, by the report
benchmark): cycles, allocations (some returned late, some outstanding),
returns with overall and domain grades and rationales, compliance and feedback
answers, actions, alerts, follow-ups and moderations. Deterministic for a seed.
Case IDs only: no child names (the register never holds them).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from qaf.calendar import cycle_start_end, cycles_between
from qaf.register import Register

GRADES = ("Outstanding", "Good", "Requires Improvement", "Inadequate")
GRADE_WEIGHTS = (0.08, 0.47, 0.35, 0.10)
TEAMS = (
    ("Assessment Team 1", "Front Door"),
    ("Assessment Team 2", "Front Door"),
    ("Safeguarding Team A", "Safeguarding"),
    ("Safeguarding Team B", "Safeguarding"),
    ("Children in Care 1", "Children in Care"),
    ("Leaving Care", "Children in Care"),
    ("Disabled Children", "Disabilities"),
)
CATEGORIES = ("CiN", "CP", "Child in our care", "Care Leaver", "CwD", "Early Help")
ROLES = ("Team Manager", "Advanced Practitioner", "Head of Service", "IRO", "CP Chair")
DOMAINS = tuple(f"D{i}" for i in range(1, 17))
NA_DOMAINS = {"D1", "D9", "D10", "D11", "D12", "D14", "D15", "D16"}
COMPLIANCE = (
    "Was last visit in time?",
    "Is assessment in time?",
    "Is Plan in time?",
    "Is last supervision in time?",
)
FEEDBACK = (
    "Did you feel your social worker listened to you?",
    "Was support put in place for you and how did it make a difference?",
)
STRENGTH_TEXT = (
    "Clear analysis of risk with the child's voice recorded throughout; visits purposeful.",
    "Chronology up to date and used to inform the plan; strong multi-agency working.",
    "Direct work with the young person is creative and well evidenced.",
)
WEAKNESS_TEXT = (
    "Plan lacks SMART outcomes and timescales; drift between reviews is evident.",
    "No evidence of management oversight in supervision for three months.",
    "Assessment not updated after the change in circumstances; risk not re-analysed.",
)
FEEDBACK_TEXT = (
    "Yes, she always rang back and explained what would happen next.",
    "Not at first, but things got better after the meeting in school.",
    "The family support worker made a real difference to our mornings.",
)


@dataclass(frozen=True)
class Built:
    path: Path
    cycles: tuple[str, ...]
    returns: int


def _day(d: date) -> str:
    return d.isoformat()


def build_register(
    path: Path,
    *,
    first: str = "2025-01",
    last: str = "2026-12",
    per_cycle: int = 24,
    seed: int = 7,
    as_of: date | None = None,
    return_rate: float = 0.85,
    teams: Sequence[tuple[str, str]] = TEAMS,
    with_text: bool = True,
) -> Built:
    """Fill a new register at ``path`` with ``per_cycle`` allocations per cycle."""
    rng = random.Random(seed)
    as_of = as_of or date(2027, 1, 20)
    cycles = tuple(cycles_between(first, last))
    reg = Register.open(path)
    now = "2026-01-01T00:00:00"
    alloc_rows, ret_rows, dg_rows, field_rows, action_rows = [], [], [], [], []
    alert_rows, fu_rows, mod_rows, ext_rows = [], [], [], []
    rid = 0
    for cycle in cycles:
        start, end = cycle_start_end(cycle)
        due = end
        for i in range(per_cycle):
            audit_id = f"{cycle}-{i + 1:04d}"
            team, service = teams[rng.randrange(len(teams))]
            category = CATEGORIES[rng.randrange(len(CATEGORIES))]
            role = ROLES[rng.randrange(len(ROLES))]
            kind = "reaudit" if rng.random() < 0.1 else "audit"
            case_id = f"P{rng.randrange(10**6):06d}"
            worker = f"Worker {team[-1]}{i % 5}"
            auditor = f"Auditor {i % 11}"
            alloc_rows.append(
                (
                    audit_id,
                    cycle,
                    case_id,
                    team,
                    service,
                    category,
                    worker,
                    auditor,
                    f"a{i % 11}@example.org",
                    role,
                    "case-audit",
                    kind,
                    _day(due),
                    1 if kind == "reaudit" else 0,
                    now,
                )
            )
            if rng.random() < 0.03:
                ext_rows.append(
                    (audit_id, _day(due), _day(due + timedelta(days=10)), "Head", _day(due))
                )
            if rng.random() > return_rate:
                continue
            received = start + timedelta(days=rng.randrange(5, 45))
            if received > as_of:
                continue
            rid += 1
            overall = rng.choices(GRADES, GRADE_WEIGHTS)[0]
            movement = rng.choice(("improved", "same", "downgraded")) if kind == "reaudit" else None
            ret_rows.append(
                (
                    rid,
                    audit_id,
                    case_id,
                    cycle,
                    "case-audit",
                    kind,
                    auditor,
                    role,
                    team,
                    service,
                    category,
                    worker,
                    _day(received - timedelta(days=1)),
                    _day(received),
                    _day(due),
                    overall,
                    f"Overall {overall}" if with_text else "",
                    "",
                    1 if rng.random() < 0.02 else 0,
                    1 if kind == "reaudit" else 0,
                    movement,
                    now,
                )
            )
            worst = GRADES.index(overall)
            for dom in DOMAINS:
                if dom in NA_DOMAINS and rng.random() < 0.5:
                    dg_rows.append((rid, dom, None, 1, ""))
                    continue
                g = (
                    GRADES[max(0, worst - rng.choice((0, 0, 1)))]
                    if dom != "D8"
                    else GRADES[min(3, worst + 1)]
                )
                text = ""
                if with_text:
                    pool = STRENGTH_TEXT if GRADES.index(g) <= 1 else WEAKNESS_TEXT
                    text = f"{pool[rng.randrange(3)]} ({worker} seen)"
                dg_rows.append((rid, dom, g, 0, text))
            for q in COMPLIANCE:
                field_rows.append((rid, "compliance", q, "Yes" if rng.random() < 0.8 else "No"))
            if with_text and rng.random() < 0.3:
                field_rows.append(
                    (rid, "feedback", FEEDBACK[rng.randrange(2)], FEEDBACK_TEXT[rng.randrange(3)])
                )
            for _ in range(rng.randrange(0, 3)):
                a_due = received + timedelta(days=28)
                done = (
                    a_due + timedelta(days=rng.randrange(-20, 20)) if rng.random() < 0.6 else None
                )
                action_rows.append(
                    (
                        rid,
                        audit_id,
                        case_id,
                        "Update the plan",
                        worker,
                        _day(a_due),
                        _day(done) if done else None,
                    )
                )
            if overall in ("Inadequate", "Requires Improvement"):
                alert_rows.append(
                    (rid, "E1", f"graded {overall}", "Head of Service", "HoS", "h@example.org", now)
                )
            if overall == "Inadequate":
                alert_rows.append(
                    (
                        rid,
                        "E1",
                        "graded Inadequate",
                        "Assistant Director",
                        "AD",
                        "ad@example.org",
                        now,
                    )
                )
            fu_done = received + timedelta(days=2) if rng.random() < 0.7 else None
            fu_rows.append(
                (
                    "qa-check",
                    "T1",
                    rid,
                    audit_id,
                    case_id,
                    "QA",
                    "QA Officer",
                    _day(received + timedelta(days=1)),
                    _day(fu_done) if fu_done else None,
                    now,
                )
            )
            if overall == "Inadequate" or rng.random() < 0.15:
                moderated = rng.random() < 0.8
                mgrade = (
                    overall
                    if rng.random() < 0.7
                    else GRADES[min(3, max(0, worst + rng.choice((-1, 1))))]
                )
                mod_rows.append(
                    (
                        audit_id,
                        rid,
                        cycle,
                        "M1",
                        "QA Officer",
                        overall,
                        mgrade if moderated else None,
                        _day(received + timedelta(days=7)) if moderated else None,
                    )
                )
    with reg.transaction() as c:
        c.executemany(
            "INSERT INTO cycles (cycle, seed, created_at, as_of) VALUES (?, 7, ?, ?)",
            [(cy, now, now) for cy in cycles],
        )
        c.executemany(
            "INSERT INTO allocations (audit_id, cycle, case_id, team, service, category, worker, "
            "auditor, auditor_email, auditor_role, tool, type, due, reaudit_round, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            alloc_rows,
        )
        c.executemany(
            "INSERT INTO extensions (audit_id, old_due, new_due, agreed_by, agreed_on) VALUES (?,?,?,?,?)",
            ext_rows,
        )
        c.executemany(
            "INSERT INTO returns (id, audit_id, case_id, cycle, tool, type, auditor, auditor_role, "
            "team, service, category, worker, audit_date, received_on, due, overall, "
            "overall_rationale, summary, safety_concern, reaudit_round, movement, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ret_rows,
        )
        c.executemany(
            "INSERT INTO domain_grades (return_id, domain_id, grade, na, rationale) VALUES (?,?,?,?,?)",
            dg_rows,
        )
        c.executemany(
            "INSERT INTO return_fields (return_id, section, name, value) VALUES (?,?,?,?)",
            field_rows,
        )
        c.executemany(
            "INSERT INTO actions (return_id, audit_id, case_id, action, owner, due, completed_on) "
            "VALUES (?,?,?,?,?,?,?)",
            action_rows,
        )
        c.executemany(
            "INSERT INTO alerts (return_id, rule, reason, recipient_role, recipient_name, "
            "recipient_email, created_at) VALUES (?,?,?,?,?,?,?)",
            alert_rows,
        )
        c.executemany(
            "INSERT INTO followups (kind, rule, return_id, audit_id, case_id, responsible, "
            "responsible_role, due, done_on, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            fu_rows,
        )
        c.executemany(
            "INSERT INTO moderations (audit_id, return_id, picked_cycle, reason, moderator, "
            "auditor_grade, moderator_grade, done_on) VALUES (?,?,?,?,?,?,?,?)",
            mod_rows,
        )
    reg.close()
    return Built(path, cycles, rid)


def connect(path: Path) -> sqlite3.Connection:
    """A plain connection for the tests' own cross-check queries."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn
