"""``qaf moderate``: the moderator's grade for a returned audit (rule M1)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf import report as rp
from qaf.cli import app
from qaf.config import read_config
from qaf.register import Register
from qaf.workdir import preset_text
from tests.report_fixtures import build_register, connect

runner = CliRunner()


@pytest.fixture
def wd(tmp_path: Path) -> Path:
    (tmp_path / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    build_register(tmp_path / "qaf.db", first="2026-07", last="2026-09", per_cycle=20)
    return tmp_path


def _one(wd: Path, sql: str) -> tuple:
    conn = connect(wd / "qaf.db")
    row = conn.execute(sql).fetchone()
    conn.close()
    return tuple(row)


def moderate(wd: Path, *args: str) -> object:
    return runner.invoke(app, ["moderate", *args, "--config", str(wd / "qaf.toml")])


def test_m1_moderator_grade_fills_the_picked_moderation(wd: Path) -> None:
    audit_id, overall = _one(
        wd,
        "SELECT r.audit_id, r.overall FROM returns r JOIN moderations m ON m.audit_id = r.audit_id "
        "WHERE m.done_on IS NULL AND r.overall = 'Good' LIMIT 1",
    )
    conn = connect(wd / "qaf.db")
    conn.execute(
        "INSERT INTO followups (kind, rule, audit_id, case_id, due, created_at) "
        "VALUES ('moderation', 'M1', ?, 'P1', '2026-10-10', 'x')",
        (audit_id,),
    )
    conn.commit()
    conn.close()
    res = moderate(
        wd,
        audit_id,
        "--grade",
        "RI",
        "--by",
        "Q. Officer",
        "--note",
        "plan weak",
        "--on",
        "2026-10-05",
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["moderator_grade"] == "Requires Improvement"  # rule G1: "RI" understood
    assert out["auditor_grade"] == overall and out["agree"] is False and out["sampled"] is True
    assert out["followups_closed"] == 1
    assert _one(
        wd,
        f"SELECT moderator, moderator_grade, note, done_on FROM moderations WHERE audit_id = '{audit_id}'",
    ) == ("Q. Officer", "Requires Improvement", "plan weak", "2026-10-05")
    assert _one(
        wd, f"SELECT done_on FROM followups WHERE kind = 'moderation' AND audit_id = '{audit_id}'"
    ) == ("2026-10-05",)


def test_m1_unsampled_return_is_recorded_and_counted_in_the_report(wd: Path) -> None:
    audit_id, overall = _one(
        wd,
        "SELECT audit_id, overall FROM returns WHERE audit_id NOT IN "
        "(SELECT audit_id FROM moderations) AND overall IS NOT NULL LIMIT 1",
    )
    res = moderate(wd, audit_id, "--grade", overall, "--by", "Q. Officer", "--on", "2026-12-01")
    assert res.exit_code == 0, res.output
    assert "not in the moderation sample" in res.output
    cfg = read_config(wd / "qaf.toml")
    period = rp.month_period("2026-12")
    with Register.open(cfg.register_path) as reg:
        data = rp.build_report(
            reg.report_rows(rp.report_scope(period, date(2027, 1, 5))),
            period,
            cfg,
            as_of=date(2027, 1, 5),
        )
    assert (data.agreement.pairs, data.agreement.agreed) == (1, 1)


def test_m1_moderating_again_replaces_and_says_so(wd: Path) -> None:
    audit_id = _one(wd, "SELECT audit_id FROM returns WHERE overall IS NOT NULL LIMIT 1")[0]
    assert (
        moderate(wd, audit_id, "--grade", "Good", "--by", "A", "--on", "2026-10-01").exit_code == 0
    )
    res = moderate(wd, audit_id, "--grade", "2", "--by", "B", "--on", "2026-10-02")
    assert res.exit_code == 0
    assert "replaced the earlier moderation: Good by A" in res.output
    assert _one(
        wd,
        f"SELECT count(*) FROM moderations WHERE audit_id = '{audit_id}' AND moderator_grade IS NOT NULL",
    ) == (1,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE-1", "--grade", "Good", "--by", "A"], "no returned audit"),
        (["{audit}", "--grade", "Brilliant", "--by", "A"], "is not a grade"),
        (["{audit}", "--grade", "Good", "--by", "A", "--on", "yesterday"], "not a date"),
        (["{audit}", "--grade", "Good", "--by", " "], "moderator's name"),
    ],
)
def test_m1_bad_input_is_a_usage_error(wd: Path, args: list[str], message: str) -> None:
    audit_id = _one(wd, "SELECT audit_id FROM returns LIMIT 1")[0]
    res = moderate(wd, *(a.replace("{audit}", audit_id) for a in args))
    assert res.exit_code == 2
    assert message in res.output
    assert _one(wd, "SELECT count(*) FROM moderations WHERE moderator = 'A'") == (0,)
