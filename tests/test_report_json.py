"""`qaf report --format json` (issue 6): the pack's data as JSON, equal to
`report.report_json(build_report(...))`, with the same small-number suppression as the
Markdown and HTML packs (rule P3), case IDs and masked text only, periods as in rule P1."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qaf import report as rp
from qaf.cli import app
from tests.test_report import build, make_workdir

runner = CliRunner()
AS_OF = date(2027, 8, 1)

TOP_KEYS = {
    "organisation",
    "audience",
    "period",
    "as_of",
    "levels",
    "suppress_below",
    "empty",
    "summary",
    "tables",
    "trend",
    "strengths",
    "improvements",
    "feedback",
    "notes",
    "staff_audits",  # GAPS 7: null when the period has no staff audit
    "case_answers",  # trial2 T2-21: case tools on a scale of their own, [] when none
    "disputes",  # rule G6 (trial2 T2-5): grading disputes, null when no stages configured
}
SUMMARY_KEYS = {
    "allocated",
    "returned",
    "returned_share",
    "on_time",
    "late",
    "outstanding",
    "overdue",
    "graded",
    "good_or_better_share",
    "safety_concerns",
    "reaudits",
    "moderation_pairs",
    "alerts",
    "followups",
    "actions",
    "feedback_answers",
}
TABLES = {
    "completion_team",
    "completion_role",
    "grades_overall",
    "grades_team",
    "grades_service",
    "grades_category",
    "domains",
    "movement",
    "moderation",
    "alerts",
    "followups",
    "compliance",
    "comparison",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six allocations a month: most breakdown counts are below 5."""
    return make_workdir(
        tmp_path_factory.mktemp("json"), first="2025-07", last="2026-09", as_of=AS_OF, per_cycle=6
    )


def report(workdir: Path, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(
        app,
        ["report", *args, "--as-of", AS_OF.isoformat(), "--config", str(workdir / "qaf.toml")],
    )
    return res.exit_code, res.stdout, res.stderr


def test_p2_json_equals_the_library_result(small: Path) -> None:
    """Rules P1, P2: stdout is report_json of the same ReportData, every documented key."""
    code, out, err = report(small, "--quarter", "2026Q3", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    expected = rp.report_json(build(small, rp.quarter_period("2026Q3")))
    assert data == json.loads(json.dumps(expected))
    assert set(data) == TOP_KEYS
    assert set(data["summary"]) == SUMMARY_KEYS
    assert set(data["tables"]) == TABLES
    assert data["period"] == {
        "kind": "quarter",
        "key": "2026Q3",
        "label": "2026Q3 (July to September 2026)",
        "cycles": ["2026-07", "2026-08", "2026-09"],
        "start": "2026-07-01",
        "end": "2026-09-30",
        "financial_year": False,
    }
    assert data["summary"]["allocated"] == 18
    assert len(data["trend"]) == 12 and data["trend"][-1]["cycle"] == "2026-09"
    assert re.fullmatch(
        r"2026Q3 \(July to September 2026\): \d+ returns of 18 allocated \([\d.]+ s\)\n", err
    )
    assert not (small / "reports").exists()  # json goes to stdout unless --out


def test_p3_json_suppresses_small_counts_like_the_pack(small: Path) -> None:
    """Rule P3: breakdown cells as printed ("<5", "—"); no raw per-team counts."""
    code, out, _ = report(small, "--month", "2026-08", "--format", "json")
    assert code == 0
    data = json.loads(out)
    md = rp.render(build(small, rp.month_period("2026-08")), "md")
    team_rows = data["tables"]["grades_team"]["rows"]
    assert team_rows
    for row in team_rows:
        assert row[1] in {"<5", "0"} or int(row[1]) >= 5
        if row[1] == "<5":
            assert row[-1] == rp.DASH
        assert "| " + " | ".join(rp.md_escape(c) for c in row) + " |" in md  # as printed
    breakdowns = {k: tb for k, tb in data["tables"].items() if k != "comparison"}  # totals
    cells = [c for tb in breakdowns.values() for row in tb["rows"] for c in row[1:]]
    assert "<5" in cells
    assert not any(re.fullmatch(r"[1-4]", c) for c in cells)  # no small count escapes
    for pt in data["trend"]:
        assert pt["graded"] in {"<5", "0"} or int(pt["graded"]) >= 5
        if pt["graded"] in {"<5", "0"}:
            assert pt["good_or_better_share"] == rp.DASH
    assert "team_grades" not in out and "counts" not in out
    assert any("disclosure control" in n for n in data["notes"])


def test_p3_json_has_case_ids_and_no_names(small: Path) -> None:
    """Rule P3: quotes carry case IDs; staff names in rationales are masked."""
    _, out, _ = report(small, "--quarter", "2026Q3", "--format", "json")
    data: dict[str, Any] = json.loads(out)
    quotes = data["strengths"] + data["improvements"] + data["feedback"]
    assert quotes and all(set(q) == {"case_id", "about", "grade", "text"} for q in quotes)
    assert "Worker " not in out and not re.search(r"Auditor \d", out)


def test_p1_json_to_a_file_with_out(small: Path, tmp_path: Path) -> None:
    target = tmp_path / "q3.json"
    code, out, _ = report(small, "--quarter", "2026Q3", "--format", "json", "--out", str(target))
    assert code == 0
    assert out == f"{target}\n"
    assert json.loads(target.read_text(encoding="utf-8"))["period"]["key"] == "2026Q3"


def test_p2_json_for_an_empty_period(small: Path) -> None:
    """Issue 6 item 6: an empty period is valid data saying so, not a crash."""
    code, out, _ = report(small, "--month", "2027-05", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["empty"] is True
    assert data["summary"]["allocated"] == 0 and data["summary"]["returned_share"] == rp.DASH


def test_p3_json_safety_count_is_suppressed_like_the_pack(small: Path) -> None:
    """F17: the headline safety count is "<5" in the pack, so in the JSON too."""
    data = build(small, rp.quarter_period("2026Q3"))
    out = rp.report_json(data)
    assert out["summary"]["safety_concerns"] == data.safety_text
    if 0 < data.safety_concerns < 5:
        assert out["summary"]["safety_concerns"] == "<5"
