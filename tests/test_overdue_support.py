"""Support for the overdue / notify tests (no tests here): a working folder and register, fictional people."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date
from pathlib import Path

from qaf.calendar import WorkingCalendar
from qaf.config import Config, read_config
from qaf.escalate import consequences_of_return
from qaf.records import ActionItem, Allocation, Movement, ReturnFacts
from qaf.register import Register
from qaf.sources import read_staff
from qaf.workdir import preset_text

STAFF = [
    # name, role, team, service, line manager
    ("Sam Worker", "Social Worker", "Team A", "Service 1", "Tia Manager"),
    ("Tia Manager", "Team Manager", "Team A", "Service 1", "Sol Senior"),
    ("Sol Senior", "Service Manager", "", "Service 1", "Hal Head"),
    ("Hal Head", "Head of Service", "", "Service 1", "Ada Assistant"),
    ("Aud Itor", "Team Manager", "Team C", "Service 2", "Sue Senior"),
    ("Sue Senior", "Service Manager", "", "Service 2", "Hana Head"),
    ("Hana Head", "Head of Service", "", "Service 2", "Ada Assistant"),
    ("Ada Assistant", "Assistant Director", "", "", "Dee Director"),
    ("Dee Director", "Director of Children's Social Care", "", "", "Eve Executive"),
    ("Eve Executive", "Executive Director", "", "", ""),
    ("Quin Officer", "QA Officer", "QA", "Quality", "Hal Head"),
]


def email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.org"


def make_workdir(tmp_path: Path, extra_toml: str = "") -> Config:
    text = preset_text("generic").replace('path = "data/cases.xlsx"', 'path = "data/cases.csv"')
    (tmp_path / "qaf.toml").write_text(text + extra_toml, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    with (data / "staff.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Name", "Email", "Role", "Team", "Service", "Line Manager", "Available"])
        for name, role, team, service, manager in STAFF:
            w.writerow([name, email(name), role, team, service, manager, "Yes"])
    with (data / "cases.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["Child Unique ID", "Allocated Team", "Allocated Worker", "Service Area", "Category"]
        )
        w.writerow(["P000001", "Team A", "Sam Worker", "Service 1", "CiN"])
    return read_config(tmp_path / "qaf.toml")


def calendar(cfg: Config) -> WorkingCalendar:
    return WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)


def allocation(
    audit_id: str, due: date, *, cycle: str = "2026-12", case_id: str = "P000001"
) -> Allocation:
    return Allocation(
        audit_id=audit_id,
        cycle=cycle,
        case_id=case_id,
        team="Team A",
        service="Service 1",
        category="CiN",
        worker="Sam Worker",
        auditor="Aud Itor",
        auditor_email=email("Aud Itor"),
        auditor_role="Team Manager",
        tool="case-audit",
        type="audit",
        due=due,
    )


def receive(
    reg: Register,
    cfg: Config,
    alloc: Allocation,
    received_on: date,
    overall: str,
    *,
    actions: tuple[ActionItem, ...] = (),
    safety: bool = False,
    movement: Movement | None = None,
) -> int:
    """What ingest does: store the return, then its consequences (contract B): follow-ups
    and alerts (rules E1-E3)."""
    roster = read_staff(cfg.staff)
    with reg.transaction() as conn:
        rid = reg.overdue_fixture_return(
            conn,
            alloc,
            received_on,
            overall,
            [(a.action, a.owner, a.due) for a in actions],
            safety_concern=safety,
        )
        facts = ReturnFacts(
            return_id=rid,
            audit_id=alloc.audit_id,
            case_id=alloc.case_id,
            team=alloc.team,
            service=alloc.service,
            category=alloc.category,
            worker=alloc.worker,
            auditor=alloc.auditor,
            tool=alloc.tool,
            type=alloc.type,
            overall=overall,
            reaudit_round=alloc.reaudit_round,
            movement=movement,
            safety_concern=safety,
            received_on=received_on,
            actions=actions,
        )
        out = consequences_of_return(facts, roster, cfg, calendar(cfg))
        reg.add_followups(conn, [replace(f, return_id=rid) for f in out.followups])
        reg.add_alerts(conn, rid, out.alerts)
    return rid
