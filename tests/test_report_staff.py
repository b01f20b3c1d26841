"""Staff audits in the report pack (GAPS 7, rules P2, P3): supervision audits and practice
observations (allocations with a subject, register migration 2) have their own section,
counts and answers by tool on each tool's own scale, never in the case-audit figures."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf import report as rp
from qaf.cli import app
from qaf.config import Config, read_config
from qaf.register import Register
from qaf.workdir import init_directory

runner = CliRunner()
AS_OF = date(2026, 10, 12)
DUE = "2026-09-30"
NOW = "2026-09-01T09:00:00"
SKILLS = (
    "Skills demonstrated were outstanding",
    "A good level of skill seen",
    "Few skills seen, but could improve",
    "Skills not seen at all",
)


def _allocate(conn: object, audit_id: str, tool: str, case_id: str, subject: str) -> None:
    conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO allocations (audit_id, cycle, case_id, team, service, category, worker, "
        "auditor, auditor_role, tool, type, due, subject, created_at) "
        "VALUES (?, '2026-09', ?, 'Early Help North', 'Early Help', ?, ?, 'Tam Manager', "
        "'Team Manager', ?, 'audit', ?, ?, ?)",
        (
            audit_id,
            case_id,
            "CiN" if case_id else "",
            subject or "Wyn Worker",
            tool,
            DUE,
            subject,
            NOW,
        ),
    )


def _return(
    conn: object,
    audit_id: str | None,
    tool: str,
    case_id: str,
    received: str,
    overall: str | None,
    domains: dict[str, str | None],
) -> None:
    cur = conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO returns (audit_id, case_id, cycle, tool, type, auditor, auditor_role, team, "
        "service, category, received_on, due, overall, created_at) "
        "VALUES (?, ?, '2026-09', ?, 'audit', 'Tam Manager', 'Team Manager', "
        "'Early Help North', 'Early Help', ?, ?, ?, ?, ?)",
        (audit_id, case_id, tool, "CiN" if case_id else "", received, DUE, overall, NOW),
    )
    for dom, grade in domains.items():
        conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO domain_grades (return_id, domain_id, grade, na) VALUES (?, ?, ?, ?)",
            (cur.lastrowid, dom, grade, 1 if grade is None else 0),
        )


def make(tmp_path: Path, *, staff: bool = True) -> Config:
    """Bedford (suppression below 5), September 2026: 7 case audits (6 returned: 5 Good, 1
    Inadequate); with ``staff``, 6 practice observations (5 returned, 1 late) and 8
    professional supervision audits (7 returned, 1 outstanding), plus one professional
    supervision audit returned without an allocation (no case ID)."""
    init_directory(tmp_path, framework="bedford")
    cfg = read_config(tmp_path / "qaf.toml")
    with Register.open(cfg.register_path) as reg, reg.transaction() as conn:
        conn.execute(
            "INSERT INTO cycles (cycle, seed, created_at, as_of) VALUES ('2026-09', 1, ?, ?)",
            (NOW, NOW),
        )
        for i in range(7):
            _allocate(conn, f"C{i}", "case-audit", f"P10000{i}", "")
            if i < 6:
                grade = "Inadequate" if i == 0 else "Good"
                _return(conn, f"C{i}", "case-audit", f"P10000{i}", "2026-09-20", grade, {})
        if not staff:
            return cfg
        for i in range(6):
            _allocate(conn, f"O{i}", "practice-observation", "", f"Sol Worker{i}")
            if i < 5:
                received = "2026-10-02" if i == 0 else "2026-09-21"
                skills = {f"O{d}": SKILLS[(i + d) % 3] for d in range(1, 7)}
                _return(conn, f"O{i}", "practice-observation", "", received, None, skills)
        for i in range(8):
            _allocate(conn, f"S{i}", "professional-supervision-audit", "", f"Ada Manager{i}")
            if i < 7:
                answers = {
                    "P1": "Yes" if i < 6 else "No",
                    "P2": None if i < 2 else "Yes",
                    "P3": "No",
                    "P4": "Yes",
                }
                _return(
                    conn,
                    f"S{i}",
                    "professional-supervision-audit",
                    "",
                    "2026-09-22",
                    None,
                    answers,
                )
        _return(
            conn,
            None,
            "professional-supervision-audit",
            "",
            "2026-09-23",
            None,
            {"P1": "Yes", "P2": "Yes", "P3": "No", "P4": "Yes"},
        )
    return cfg


def report(cfg: Config, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(
        app,
        [
            "report",
            "--month",
            "2026-09",
            "--as-of",
            AS_OF.isoformat(),
            *args,
            "--config",
            str(cfg.path),
        ],
    )
    return res.exit_code, res.stdout, res.stderr


def library(cfg: Config) -> rp.ReportData:
    period = rp.month_period("2026-09")
    with Register.open(cfg.register_path) as reg:
        rows = reg.report_rows(rp.report_scope(period, AS_OF))
    return rp.build_report(rows, period, cfg, as_of=AS_OF)


def report_json(cfg: Config) -> dict:  # type: ignore[type-arg]
    code, out, err = report(cfg, "--format", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make(tmp_path)


def test_case_figures_are_the_same_with_or_without_staff_audits_gaps7_rule_p2(
    cfg: Config, tmp_path: Path
) -> None:
    """GAPS 7, rule P2: staff audits never enter the case figures: the summary, every case
    table (completion by team and role, grade profile, domains, comparison) and the trend
    are exactly those of the same register without its staff audits."""
    (tmp_path / "cases-only").mkdir()
    with_staff = report_json(cfg)
    without = report_json(make(tmp_path / "cases-only", staff=False))
    assert without["staff_audits"] is None
    for key in ("summary", "tables", "trend", "empty"):
        assert with_staff[key] == without[key], key
    assert with_staff["summary"]["allocated"] == 7
    assert with_staff["summary"]["returned"] == 6
    assert with_staff["summary"]["graded"] == 6


def test_staff_section_counts_and_answers_by_tool_suppressed_gaps7_rule_p3(cfg: Config) -> None:
    """GAPS 7, rule P3: completion by tool (totals in full, as in the text) and each tool's
    answers on its own scale, counts 1-4 shown "<5" and the figures that would give them
    away "—" (in a row, and across "Answered" + "N/A" = the tool's returns)."""
    staff = report_json(cfg)["staff_audits"]
    assert {k: v for k, v in staff.items() if k not in ("by_tool", "grades")} == {
        "allocated": 14,
        "returned": 12,
        "returned_share": "86%",
        "on_time": 11,
        "late": 1,
        "outstanding": 2,
        "overdue": 2,
        "returns": 13,
    }
    assert staff["by_tool"] == {
        "title": "",
        "columns": [
            "Staff audit",
            "Allocated",
            "Returned",
            "On time",
            "Late",
            "Outstanding",
            "Returned %",
            "On time %",
        ],
        "rows": [
            ["Practice observation (Children's Services)", "6", "—", "<5", "<5", "<5", "—", "—"],
            ["Supervision audit: professional supervision", "8", "—", "—", "0", "<5", "—", "—"],
        ],
        "note": "",
    }
    supervision, observation = staff["grades"]
    assert supervision["title"] == "Supervision audit: professional supervision"
    assert supervision["columns"] == ["Question", "Answered", "Yes", "No", "N/A"]
    assert [row[0][:3] for row in supervision["rows"]] == ["P1 ", "P2 ", "P3 ", "P4 "]
    assert supervision["rows"][0][0] == (
        "P1 Is there evidence of monthly personal supervision over the past 6 months?"
    )
    assert [row[1:] for row in supervision["rows"]] == [
        ["8", "—", "<5", "0"],  # 7 Yes, 1 No
        ["—", "—", "0", "<5"],  # 6 Yes, 2 N/A: 6 answered would give the 2 away
        ["8", "0", "8", "0"],
        ["8", "8", "0", "0"],
    ]
    assert observation["title"] == "Practice observation (Children's Services)"
    assert observation["columns"] == ["Question", "Answered", *SKILLS]
    assert observation["rows"][0] == [
        "O1 Communication with child/family/professionals",
        "5",
        "<5",
        "<5",
        "<5",
        "0",
    ]
    assert len(observation["rows"]) == 6


def test_json_equals_the_library_result_gaps7(cfg: Config) -> None:
    """GAPS 7: `qaf report --format json` is report_json of build_report, staff part too."""
    assert report_json(cfg) == json.loads(json.dumps(rp.report_json(library(cfg))))


def test_markdown_and_html_have_a_staff_section_only_when_there_are_staff_audits_gaps7(
    cfg: Config, tmp_path: Path
) -> None:
    """GAPS 7, rule P2: the packs' summary names the staff audits apart and a "Staff audits"
    section shows them by tool; a period without any has neither."""
    md = rp.render(library(cfg), "md")
    assert (
        "- Staff audits (supervision, observation) allocated: **14**; returned: **12** (86%), "
        "reported apart\n" in md
    )
    assert "- Audits allocated: **7**; returned: **6** (86%)\n" in md
    assert "\n## Staff audits\n" in md
    assert (
        "14 staff audits allocated; 12 returned (11 on time, 1 late); 2 outstanding, of which "
        "2 past their due date." in md
    )
    assert "| Practice observation (Children's Services) | 6 | — | <5 | <5 | <5 | — | — |\n" in md
    assert "### Supervision audit: professional supervision\n" in md
    assert md.index("## Staff audits") < md.index("## Escalations, follow-ups and actions")
    html = rp.render(library(cfg), "html")
    assert '<section id="staff-audits">' in html
    assert "<h3>Practice observation (Children&#39;s Services)</h3>" in html
    assert "<td>Supervision audit: professional supervision</td><td>8</td>" in html

    (tmp_path / "cases-only").mkdir()
    plain = library(make(tmp_path / "cases-only", staff=False))
    assert plain.staff is None
    assert "Staff audits" not in rp.render(plain, "md")
    assert "staff-audits" not in rp.render(plain, "html")


def test_case_tool_on_its_own_scale_has_its_answers_table_rule_p2(tmp_path: Path) -> None:
    """Rule P2 (trial2 T2-21): Bedford's case supervision audit (a case audit answered Yes /
    No) gets a table of its answers after the domain profile, suppressed as staff tools'
    (rule P3); it stays out of the grade and domain profiles."""
    cfg = make(tmp_path, staff=False)
    with Register.open(cfg.register_path) as reg, reg.transaction() as conn:
        for i in range(6):
            _allocate(conn, f"V{i}", "supervision-audit", f"P20000{i}", "")
            answers = {"S1": "Yes" if i < 5 else "No", "S2": "No", "S3": None if i < 2 else "Yes"}
            _return(conn, f"V{i}", "supervision-audit", f"P20000{i}", "2026-09-20", None, answers)
    data = report_json(cfg)
    assert data == json.loads(json.dumps(rp.report_json(library(cfg))))
    assert data["summary"]["graded"] == 6  # the six case audits only
    (table,) = data["case_answers"]
    assert table["title"] == "Supervision audit: case file supervision"
    assert table["columns"] == ["Question", "Answered", "Yes", "No", "N/A"]
    assert [row[0][:3] for row in table["rows"]] == ["S1 ", "S2 ", "S3 "]
    assert [row[1:] for row in table["rows"]] == [
        ["6", "—", "<5", "0"],  # 5 Yes, 1 No
        ["6", "0", "6", "0"],
        ["<5", "<5", "0", "<5"],  # 4 Yes, 2 N/A
    ]
    assert [d[0][:3] for d in data["tables"]["domains"]["rows"]] == []  # no graded domain
    md = rp.render(library(cfg), "md")
    assert "\n### Supervision audit: case file supervision\n" in md
    assert md.index("## Domain profile") < md.index("### Supervision audit: case file")
    assert md.index("### Supervision audit: case file") < md.index("## Re-audits and moderation")
    html = rp.render(library(cfg), "html")
    assert "<h3>Supervision audit: case file supervision</h3>" in html
    without = report_json(make(tmp_path / "cases-only", staff=False))
    assert without["case_answers"] == []
