"""`qaf demo`: a quarter on the sample authority, end to end (every command's library call)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo") / "northvale"
    result = CliRunner().invoke(app, ["demo", str(folder)])
    assert result.exit_code == 0, result.output
    return folder, result.stderr


def test_demo_runs_every_step_of_the_quarter(demo_dir: tuple[Path, str]) -> None:
    folder, said = demo_dir
    for cycle in ("2026-07", "2026-08", "2026-09"):
        assert f"== Cycle {cycle} ==" in said
        assert (folder / "cycles" / cycle / f"allocation-{cycle}.xlsx").exists()
        assert list((folder / "cycles" / cycle / "returns").glob("A-*.xlsx"))
    for report in ("2026Q3.html", "2026Q3.md", "2026-09.html", "2026-09.md"):
        assert (folder / "reports" / report).stat().st_size > 1000
    assert list((folder / "outbox").glob("*.eml"))


def test_demo_register_holds_reaudits_moderation_and_followups(demo_dir: tuple[Path, str]) -> None:
    # rules A4 (re-audits), M1 (moderation), T1-T3 (follow-ups) all exercised by the demo
    folder, _ = demo_dir
    db = sqlite3.connect(folder / "qaf.db")
    try:
        returns = db.execute("SELECT count(*) FROM returns WHERE superseded_by IS NULL").fetchone()[
            0
        ]
        reaudits = db.execute("SELECT count(*) FROM returns WHERE movement IS NOT NULL").fetchone()[
            0
        ]
        moderated = db.execute(
            "SELECT count(*) FROM moderations WHERE moderator_grade IS NOT NULL"
        ).fetchone()[0]
        followups_done = db.execute(
            "SELECT count(*) FROM followups WHERE done_on IS NOT NULL"
        ).fetchone()[0]
        sent = db.execute("SELECT count(*) FROM notifications").fetchone()[0]
    finally:
        db.close()
    assert returns > 40
    assert reaudits > 0
    assert moderated > 0
    assert followups_done > 0
    assert sent > 0


def test_demo_reports_carry_no_child_name(demo_dir: tuple[Path, str]) -> None:
    # rule P3: the case list has a "Child Name" column; none of it may reach a report or e-mail
    import csv

    from python_calamine import CalamineWorkbook

    folder, said = demo_dir
    wb = CalamineWorkbook.from_path(str(folder / "data" / "cases.xlsx"))
    rows = wb.get_sheet_by_name(wb.sheet_names[0]).to_python()
    col = rows[0].index("Child Name")
    names = {str(r[col]) for r in rows[1:] if r[col]}
    # a child may share a name with a member of staff (one name bank); staff names may appear
    with (folder / "data" / "staff.csv").open(encoding="utf-8") as f:
        staff = {row["Name"] for row in csv.DictReader(f)}
    names -= staff
    assert len(names) > 100
    texts = [said] + [p.read_text(encoding="utf-8") for p in (folder / "reports").iterdir()]
    texts += [
        p.read_text(encoding="utf-8", errors="replace") for p in (folder / "outbox").glob("*.eml")
    ]
    leaked = sorted(n for n in names for t in texts if n in t)
    assert leaked == []


def test_p2_demo_quarter_report_says_what_we_learned(demo_dir: tuple[Path, str]) -> None:
    # rule P2 (F16): the simulated rationales name nobody, and were all dropped as duplicates
    folder, _ = demo_dir
    md = (folder / "reports" / "2026Q3.md").read_text(encoding="utf-8")
    learned = md[md.index("## What we learned") :]
    strengths = learned[: learned.index("### Areas for improvement")]
    improvements = learned[learned.index("### Areas for improvement") :]
    for part in (strengths, improvements):
        assert "_None in this period._" not in part
        assert re.search(r"^> — Case P\d+ · \S+ .* · graded ", part, re.M)
    assert "graded Good" in strengths or "graded Outstanding" in strengths
    assert "graded Requires Improvement" in improvements or "graded Inadequate" in improvements


def test_demo_twice_in_the_same_folder_does_not_redo_cycles(demo_dir: tuple[Path, str]) -> None:
    folder, _ = demo_dir
    result = CliRunner().invoke(app, ["demo", str(folder)])
    assert result.exit_code == 0, result.output
    assert "already allocated" in result.stderr


def test_demo_sends_the_allocation_mail_once(demo_dir: tuple[Path, str]) -> None:
    # issue 5 "allocation mail": `qaf allocate --notify` on each first working day
    folder, said = demo_dir
    assert said.count("--notify\n") >= 3 and "Allocation mail: " in said
    sent = list((folder / "outbox").glob("*-allocation-*.eml"))
    assert sent and any("A-2026-07-" in p.read_text(encoding="utf-8") for p in sent)
    db = sqlite3.connect(folder / "qaf.db")
    try:
        keys = db.execute(
            "SELECT item_key, recipient_email, count(*) FROM notifications "
            "WHERE item_key LIKE 'allocation:%' GROUP BY 1, 2"
        ).fetchall()
    finally:
        db.close()
    assert keys and all(n == 1 for _, _, n in keys)


@pytest.mark.parametrize(
    ("financial_year", "quarter", "label"),
    [
        (False, "2026Q3", "2026Q3 (July to September 2026)"),
        (True, "2026Q2", "2026/27 Q2 (July to September 2026)"),
    ],
)
def test_rule_P1_demo_quarter_is_the_quarter_of_its_cycles(
    financial_year: bool, quarter: str, label: str
) -> None:
    """trial2 T2-1: with report.financial_year (Haringey, Lancashire) the demo's July to
    September pack is the financial year's Q2, not an empty October to December Q3."""
    from qaf.demo import DEMO_CYCLES, _quarter_of
    from qaf.report import quarter_period

    found = _quarter_of(DEMO_CYCLES, financial_year)
    assert found == quarter
    period = quarter_period(found, financial_year)
    assert period.cycles == DEMO_CYCLES
    assert period.label == label
