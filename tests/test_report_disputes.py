"""Grading disputes in the report packs (rule G6, Haringey 2.11; trial2 T2-5): opened, resolved
by outcome, open at the period's end by stage, and how many went past a stage's deadline; counts
only, suppressed like the other tables (rule P3); JSON ``disputes`` equals the library's."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf import report as rp
from qaf.cli import app
from qaf.config import Config
from qaf.register import Register
from tests.test_disputes import STAGES
from tests.test_overdue_support import allocation, make_workdir, receive

runner = CliRunner()
AS_OF = date(2027, 2, 5)
JANUARY = rp.month_period("2027-01")


def run(cfg: Config, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(cfg.path)])
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, result.stdout, result.stderr


def make(tmp_path: Path, stages: str = STAGES) -> Config:
    """Five returns of December 2026 and their disputes (stage 1: 5 working days, stage 2: 2):
    A1 opened 04/01 and resolved 08/01 in time; A2 opened 04/01, advanced 13/01 (stage 1 past
    its deadline of 11/01), resolved 14/01; A3 opened 25/01, open at the end of January at stage 1,
    due 01/02; A4 opened 21/12/2026, still at stage 1 and late all January; A5 opened in
    February."""
    cfg = make_workdir(tmp_path, stages)
    allocs = [allocation(f"A{i}", date(2026, 12, 31)) for i in range(1, 6)]
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations(allocs)
        for a in allocs:
            receive(reg, cfg, a, date(2026, 12, 18), "Good")
    if not stages:
        return cfg
    steps = [
        ("open", "A4", "--by", "Tia Manager", "--on", "2026-12-21"),
        ("open", "A1", "--by", "Tia Manager", "--on", "2027-01-04"),
        ("open", "A2", "--by", "Tia Manager", "--on", "2027-01-04"),
        ("resolve", "A1", "--outcome", "grade kept", "--on", "2027-01-08"),
        ("advance", "A2", "--on", "2027-01-13"),
        ("resolve", "A2", "--outcome", "regraded Good", "--on", "2027-01-14"),
        ("open", "A3", "--by", "Tia Manager", "--on", "2027-01-25"),
        ("open", "A5", "--by", "Tia Manager", "--on", "2027-02-02"),
    ]
    for step in steps:
        run(cfg, "dispute", *step)
    return cfg


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make(tmp_path)


def build(cfg: Config, period: rp.Period = JANUARY, as_of: date = AS_OF) -> rp.ReportData:
    with Register.open(cfg.register_path) as reg:
        rows = reg.report_rows(rp.report_scope(period, as_of))
    return rp.build_report(rows, period, cfg, as_of=as_of)


def test_g6_dispute_figures_of_the_month(cfg: Config) -> None:
    """Rule G6: opened and resolved in the month, open at its end by stage, past a deadline."""
    plain = replace(cfg, report=replace(cfg.report, suppress_below=0))
    g = build(plain).disputes
    assert g is not None
    assert (g.counted_to, g.opened, g.resolved, g.open, g.past_deadline) == (
        date(2027, 1, 31),
        3,  # A1, A2, A3 (A4 in December, A5 in February)
        2,
        2,  # A3 and A4, both at stage 1
        2,  # A2 (stage 1, 12/01) and A4 (all month); A1 in time, A3 due 01/02
    )
    assert g.outcomes.rows == (("grade kept", "1"), ("regraded Good", "1"))
    assert g.stages.columns == ("Stage", "Open", "Past its deadline")
    assert g.stages.rows == (("1. Informal meeting", "2", "1"), ("2. Formal response", "0", "0"))


def test_g6_counted_to_the_as_of_day_inside_the_period(cfg: Config) -> None:
    """Rule G6: a report of a month not yet over counts to its as-of day."""
    plain = replace(cfg, report=replace(cfg.report, suppress_below=0))
    g = build(plain, JANUARY, date(2027, 1, 12)).disputes
    assert g is not None
    assert (g.counted_to, g.opened, g.resolved, g.open, g.past_deadline) == (
        date(2027, 1, 12),
        2,
        1,
        2,  # A2 and A4
        2,  # A2 past 11/01 on 12/01, A4
    )
    assert g.stages.rows == (("1. Informal meeting", "2", "2"), ("2. Formal response", "0", "0"))


def test_g6_p3_markdown_section_suppressed_and_without_ids(cfg: Config) -> None:
    """Rules G6, P3: the Markdown pack's section, small counts "<5", no audit or case ID."""
    out = cfg.root / "january.md"
    run(cfg, "report", "--month", "2027-01", "--as-of", "2027-02-05", "--format", "md",
        "--out", str(out))  # fmt: skip
    text = out.read_text(encoding="utf-8")
    section = text[text.index("## Grading disputes") : text.index("\n---\n")]
    assert section == (
        "## Grading disputes\n\n"
        "3 disputes opened and 2 resolved in the period; 2 open at its end. "
        "2 went past a stage's deadline during the period.\n\n"
        "### Resolved, by outcome\n\n"
        "| Outcome | Resolved |\n| :--- | ---: |\n"
        "| grade kept | <5 |\n| regraded Good | <5 |\n\n\n"
        "### Open at the end of the period, by stage\n\n"
        "| Stage | Open | Past its deadline |\n| :--- | ---: | ---: |\n"
        "| 1. Informal meeting | <5 | <5 |\n| 2. Formal response | 0 | 0 |\n\n"
    )
    assert "A3" not in section and "P000001" not in section


def test_g6_html_section(cfg: Config) -> None:
    """Rule G6: the HTML pack has the same section."""
    out = cfg.root / "january.html"
    run(cfg, "report", "--month", "2027-01", "--as-of", "2027-02-05", "--out", str(out))
    text = out.read_text(encoding="utf-8")
    assert "<h2>Grading disputes</h2>" in text
    assert "<h3>Open at the end of the period, by stage</h3>" in text
    assert "<tr><td>1. Informal meeting</td><td>&lt;5</td><td>&lt;5</td></tr>" in text


def test_g6_json_equals_the_library_result(cfg: Config) -> None:
    """Rules G6, P3: ``disputes`` in --format json is the library's, cells as printed."""
    _code, out, _err = run(
        cfg, "report", "--month", "2027-01", "--as-of", "2027-02-05", "--format", "json"
    )
    data = json.loads(out)
    assert data == json.loads(json.dumps(rp.report_json(build(cfg))))
    assert data["disputes"] == {
        "counted_to": "2027-01-31",
        "opened": 3,
        "resolved": 2,
        "open": 2,
        "past_deadline": 2,
        "outcomes": {
            "title": "",
            "columns": ["Outcome", "Resolved"],
            "rows": [["grade kept", "<5"], ["regraded Good", "<5"]],
            "note": "",
        },
        "stages": {
            "title": "",
            "columns": ["Stage", "Open", "Past its deadline"],
            "rows": [["1. Informal meeting", "<5", "<5"], ["2. Formal response", "0", "0"]],
            "note": "",
        },
    }


def test_g6_no_stages_no_section(tmp_path: Path) -> None:
    """Rule G6: a council with no [[dispute.stage]] gets no section and ``disputes`` null."""
    cfg = make(tmp_path, "")
    _code, out, _err = run(
        cfg, "report", "--month", "2026-12", "--as-of", "2027-02-05", "--format", "json"
    )
    assert json.loads(out)["disputes"] is None
    md = tmp_path / "december.md"
    run(cfg, "report", "--month", "2026-12", "--as-of", "2027-02-05", "--format", "md",
        "--out", str(md))  # fmt: skip
    assert "Grading disputes" not in md.read_text(encoding="utf-8")
