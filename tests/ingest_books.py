"""Test support: blank audit workbooks laid out as contract A (HELPERS.md), and registers.

``write_blank_book`` follows the labels of contract A so the reader and the
returns simulator can be tested before (and independently of) qaf/auditbook.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from qaf.config import Config
from qaf.records import Allocation
from qaf.register import Register
from qaf.tools import Tool


def allocation(
    audit_id: str = "2026-12-001",
    case_id: str = "P000001",
    auditor: str = "Tia Manager",
    *,
    cycle: str = "2026-12",
    tool: str = "case-audit",
    type: str = "audit",
    reaudit_of: str | None = None,
    reaudit_round: int = 0,
    due: date = date(2026, 12, 31),
) -> Allocation:
    return Allocation(
        audit_id=audit_id,
        cycle=cycle,
        case_id=case_id,
        team="Team A",
        service="Service 1",
        category="CiN",
        worker="Sam Worker",
        auditor=auditor,
        auditor_email="tia@example.org",
        auditor_role="Team Manager",
        tool=tool,
        type=type,  # type: ignore[arg-type]
        due=due,
        reaudit_of=reaudit_of,
        reaudit_round=reaudit_round,
    )


def record_allocations(reg: Register, allocs: list[Allocation]) -> None:
    with reg.transaction() as conn:
        for cycle in sorted({a.cycle for a in allocs}):
            conn.execute(
                "INSERT OR IGNORE INTO cycles (cycle, seed, created_at, as_of) VALUES (?, 7, 'x', 'y')",
                (cycle,),
            )
        for a in allocs:
            conn.execute(
                "INSERT INTO allocations (audit_id, cycle, case_id, team, service, category, "
                "worker, auditor, auditor_email, auditor_role, tool, type, due, reaudit_of, "
                "reaudit_round, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, 'x')",
                (
                    a.audit_id,
                    a.cycle,
                    a.case_id,
                    a.team,
                    a.service,
                    a.category,
                    a.worker,
                    a.auditor,
                    a.auditor_email,
                    a.auditor_role,
                    a.tool,
                    a.type,
                    a.due.isoformat(),
                    a.reaudit_of,
                    a.reaudit_round,
                ),
            )


def write_blank_book(path: Path, alloc: Allocation, tool: Tool, org: str = "Northvale") -> Path:
    """A blank pre-filled audit workbook with contract A's labels (as qaf allocate writes)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Audit"
    ws.append([f"{tool.name} — {org}"])
    for line in (*tool.guidance, "Review the past 6 months of the child's record."):
        ws.append([line])
    ws.append([])
    key = {
        "Audit ID": alloc.audit_id,
        "Case ID": alloc.case_id,
        "Cycle": alloc.cycle,
        "Auditor": alloc.auditor,
        "Auditor role": alloc.auditor_role,
        "Team": alloc.team,
        "Service Area": alloc.service,
        "Category": alloc.category,
        "Social Worker": alloc.worker,
        "Due date": alloc.due.strftime("%d/%m/%Y"),
        "Date of audit": None,
    }
    for label, value in key.items():
        ws.append([label, value])
    for f in tool.fields:
        if f not in key:
            ws.append([f, None])
    ws.append([])
    for q in tool.compliance:
        ws.append([q, None])
    if tool.safety_question:
        ws.append([tool.safety_question, None])
        ws.append(["If not, describe the concern", None])
    ws.append([])
    header = ["ID", "Criteria"]
    if tool.before_after:
        header.append("Grade before discussion")
    header += ["Grade", "Rationale"]
    ws.append(header)
    for d in tool.domains:
        ws.append([d.id, d.title])
    ws.append([])
    if tool.before_after and tool.overall:
        ws.append(["Overall grade before discussion", None])
    if tool.overall:
        ws.append(["Overall grade", None])
    for label in (
        "Rationale for overall grade",
        "Summary of strengths and areas for improvement",
        "Social worker's comments",
    ):
        ws.append([label, None])
    ws.append([])
    for q in tool.feedback:
        ws.append([q, None])
    ws.append([])
    ws.append(["Action", "Who is responsible", "By when"])
    for _ in range(6):
        ws.append([])
    hidden = wb.create_sheet("qaf")
    for i, (k, v) in enumerate(
        (
            ("audit_id", alloc.audit_id),
            ("tool", tool.id),
            ("cycle", alloc.cycle),
            ("case_id", alloc.case_id),
            ("auditor", alloc.auditor),
            ("qaf_version", "0.1"),
        ),
        1,
    ):
        hidden.cell(i, 1, k)
        hidden.cell(i, 2, v)
    hidden.sheet_state = "hidden"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def setup_register(cfg: Config, allocs: list[Allocation]) -> None:
    with Register.open(cfg.register_path) as reg:
        record_allocations(reg, allocs)
