"""Follow-ups that were missing: T1 amendments (a QA check sends the return back to its
auditor: `qaf done qa-check:N --amend TEXT`, due in 3 working days, chased up the ladder,
closed by the corrected re-submission) and T7 the learning-held audit 3 months after an
Inadequate return (closed by the case's re-audit return)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.calendar import WorkingCalendar, parse_duration
from qaf.cli import app
from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from qaf.register import Register
from tests.ingest_books import allocation as ingest_allocation
from tests.ingest_books import setup_register
from tests.test_ingest import make_return
from tests.test_overdue_support import allocation, make_workdir, receive

runner = CliRunner()


def run(cfg: Config, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(cfg.path)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_workdir(tmp_path)


def followups(cfg: Config) -> dict[str, dict[str, object]]:
    with Register.open(cfg.register_path) as reg:
        rows = reg.query("SELECT * FROM followups ORDER BY id")
    return {f"{r['kind']}:{r['id']}": dict(r) for r in rows}


def returned(cfg: Config, overall: str = "Good") -> int:
    a1 = allocation("A1", date(2026, 12, 31))
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([a1])
        return receive(reg, cfg, a1, date(2026, 12, 15), overall)


def test_t1_qa_check_with_amend_opens_an_amendments_item(cfg: Config) -> None:
    returned(cfg)
    assert "qa-check:1" in followups(cfg)
    code, _, err = run(
        cfg,
        "done",
        "qa-check:1",
        "--on",
        "2026-12-16",
        "--by",
        "Quin Officer",
        "--amend",
        "the rationale for D3 is missing",
    )
    assert code == 0
    # 3 working days after Wednesday 16 December: Monday 21 December
    assert err == (
        "qa-check:1 (P000001) done on 16/12/2026; amendments:2 asked of Aud Itor, "
        "due 21/12/2026 (rule T1)\n"
    )
    rows = followups(cfg)
    assert rows["qa-check:1"]["done_on"] == "2026-12-16"
    assert rows["qa-check:1"]["note"] == "amendments asked: the rationale for D3 is missing"
    amend = rows["amendments:2"]
    assert (amend["rule"], amend["responsible"], amend["due"], amend["done_on"]) == (
        "T1",
        "Aud Itor",
        "2026-12-21",
        None,
    )
    # late: the auditor first (late_followup rung 1), then the Service Manager (rung 2)
    code, out, _ = run(cfg, "overdue", "--as-of", "2026-12-22", "--format", "json")
    [item] = [i for i in json.loads(out)["items"] if i["kind"] == "amendments"]
    assert item["id"] == "amendments:2" and item["rule"] == "T1" and item["level"] == 1
    assert item["detail"] == (
        "send the amended return (within 3 working days): the rationale for D3 is missing"
    )
    assert [(n["name"], n["level"]) for n in item["notify"]] == [("Aud Itor", 1)]


def test_t1_only_a_qa_check_asks_for_amendments(cfg: Config) -> None:
    returned(cfg, "Requires Improvement")
    code, _, err = run(cfg, "done", "discussion:2", "--amend", "redo it")
    assert code == 2
    assert err == (
        "Error: --amend: only a QA check (qa-check:N) asks for amendments (rule T1), "
        "not discussion:2\n"
    )
    assert followups(cfg)["discussion:2"]["done_on"] is None


def test_t1_corrected_resubmission_closes_the_amendments(cfg: Config) -> None:
    first = returned(cfg)
    run(cfg, "done", "qa-check:1", "--on", "2026-12-16", "--amend", "grade D2")
    with Register.open(cfg.register_path) as reg:
        second = receive(reg, cfg, allocation("A1", date(2026, 12, 31)), date(2026, 12, 18), "Good")
        with reg.transaction() as conn:
            reg.supersede(conn, first, second, date(2026, 12, 18))
    amend = followups(cfg)["amendments:2"]
    assert (amend["done_on"], amend["done_by"], amend["note"]) == (
        "2026-12-18",
        "qaf",
        f"superseded by return {second}",
    )


def test_t7_learning_held_audit_raised_and_closed_by_the_reaudit(
    small_dir: Path, tmp_path: Path
) -> None:
    """Rule T7 (Lancashire "3 months later ... the learning has been embedded")."""
    cfg = read_config(small_dir / "qaf.toml")
    first = ingest_allocation()
    again = ingest_allocation(
        "2027-01-001",
        cycle="2027-01",
        type="reaudit",
        reaudit_of="2026-12-001",
        reaudit_round=1,
        due=date(2027, 1, 29),
    )
    setup_register(cfg, [first, again])
    p1, _ = make_return(cfg, first, tmp_path / "r" / "1.xlsx", seed=11, overall="Inadequate")
    report = ingest_paths(cfg, [p1], as_of=date(2027, 1, 8))
    assert [f.status for f in report.files] == ["accepted"], report.as_json()
    [held] = [f for f in followups(cfg).values() if f["kind"] == "closing-loop-reaudit"]
    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    due = calendar.add(date(2027, 1, 8), parse_duration("3 months"))
    assert (held["rule"], held["responsible"], held["due"], held["done_on"]) == (
        "T7",
        "QA Officer",  # this roster has no QA Officer: the role stands in (and an alert says so)
        due.isoformat(),
        None,
    )
    p2, _ = make_return(cfg, again, tmp_path / "r" / "2.xlsx", seed=12)
    report = ingest_paths(cfg, [p2], as_of=date(2027, 2, 26))
    assert [f.status for f in report.files] == ["accepted"], report.as_json()
    [held] = [f for f in followups(cfg).values() if f["kind"] == "closing-loop-reaudit"]
    assert (held["done_on"], held["done_by"], held["note"]) == (
        "2027-02-26",
        "qaf",
        "re-audit 2027-01-001 returned",
    )
