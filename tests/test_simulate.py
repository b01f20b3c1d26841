"""The returns simulator fills contract-A workbooks (qaf/auditbook.py) the way auditors do."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from qaf.auditbook import write_audit_workbooks
from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from qaf.register import Register
from qaf.samples.simulate import simulate_answers, simulate_returns, write_surveymonkey_export
from tests.ingest_books import allocation, setup_register

TOOLS = ("case-audit", "tier1-generic", "supervision-audit", "practice-observation")


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def test_simulated_folder_ingests_with_the_right_counts(cfg: Config, tmp_path: Path) -> None:
    # issue 4 "done when": a folder from allocate, filled by a script with messy variants
    allocs = [allocation(f"2026-12-{i:03d}", f"P{i:06d}", tool=TOOLS[i % 4]) for i in range(1, 61)]
    setup_register(cfg, allocs)
    write_audit_workbooks(allocs, cfg.tools, "Northvale", tmp_path / "audits")
    sim = simulate_returns(
        allocs, cfg.tools, tmp_path / "audits", tmp_path / "returns", seed=4, messy=0.5, never=0.1
    )
    assert sim.never and len(sim.paths) + len(sim.never) == 60
    assert any(r.messy for r in sim.returns) and any(r.late for r in sim.returns)
    report = ingest_paths(cfg, [tmp_path / "returns"], as_of=date(2027, 1, 20))
    counts = report.counts()
    assert counts["accepted"] == len(sim.paths), [
        (f.path, [str(p) for p in f.problems]) for f in report.files if f.status == "rejected"
    ]
    again = ingest_paths(cfg, [tmp_path / "returns"], as_of=date(2027, 1, 20))
    assert again.counts()["already-ingested"] == len(sim.paths)
    with Register.open(cfg.register_path) as reg:
        assert reg.scalar("SELECT count(*) FROM returns") == len(sim.paths)
        overall = dict(reg.query("SELECT audit_id, overall FROM returns"))
    for r in sim.returns:
        assert overall[r.allocation.audit_id] == r.overall


def test_grade_spread_is_realistic_and_varies_by_team(cfg: Config) -> None:
    tool = cfg.tools["case-audit"]
    rng = random.Random(1)
    by_team: dict[str, Counter[str]] = {}
    for i in range(400):
        team = f"Team {'ABCD'[i % 4]}"
        a = allocation(f"X{i}", f"P{i}")
        a = a.__class__(**{**a.__dict__, "team": team})
        ret = simulate_answers(a, tool, rng)
        by_team.setdefault(team, Counter())[ret.overall or ""] += 1
    total = sum(by_team.values(), Counter())
    assert set(total) <= set(tool.scale.levels)
    assert total["Good"] > 0 and total["Requires Improvement"] > 0 and total["Inadequate"] > 0
    shares = [c["Good"] / sum(c.values()) for c in by_team.values()]
    assert max(shares) - min(shares) > 0.05  # teams differ


def test_surveymonkey_export_has_two_header_rows_and_us_dates(cfg: Config, tmp_path: Path) -> None:
    tool = cfg.tools["case-audit"]
    rets = [simulate_answers(allocation(), tool, random.Random(2))]
    path = write_surveymonkey_export(rets, tool, tmp_path / "e.csv")
    text = path.read_bytes().decode("utf-8-sig")
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][0] == "Respondent ID" and rows[1][0] == ""
    assert rows[2][3].endswith(("AM", "PM")) and "/" in rows[2][3]
    assert len(rows) == 3


def test_fast_fill_reads_back_exactly_like_the_openpyxl_fill(cfg: Config, tmp_path: Path) -> None:
    # the year-long simulations fill by editing the sheet XML; ingest must read the same return
    from qaf.ingest import Labels, read_audit_workbook
    from qaf.samples.simulate import fill_workbook, fill_workbook_fast
    from qaf.xlsxsafe import read_workbook

    allocs = [allocation(f"2026-12-{i:03d}", f"P{i:06d}", tool=TOOLS[i % 4]) for i in range(1, 41)]
    paths = write_audit_workbooks(allocs, cfg.tools, "Northvale", tmp_path / "audits")
    labels = Labels.for_tools(cfg.tools.values())
    rng = random.Random(5)
    for alloc, src in zip(allocs, paths, strict=True):
        tool = cfg.tools[alloc.tool]
        ret = simulate_answers(alloc, tool, rng, late=rng.random() < 0.2)
        slow = fill_workbook(src, tmp_path / "slow" / src.name, ret, tool)
        fast = fill_workbook_fast(src, tmp_path / "fast" / src.name, ret, tool)
        read = [
            read_audit_workbook(read_workbook(p, cfg.limits), labels, src.name)
            for p in (slow, fast)
        ]
        assert read[0] == read[1], alloc.tool


def test_filled_team_manager_and_tenth_action_row_round_trip_f8(
    cfg: Config, tmp_path: Path
) -> None:
    """F8: workbooks with the Team Manager written in and 10 action rows still ingest
    (rules I2, T3); an action typed on the last row is read."""
    import openpyxl

    from qaf.auditbook import ACTION_ROWS

    allocs = [allocation(f"2026-12-{i:03d}", f"P{i:06d}") for i in range(1, 4)]
    setup_register(cfg, allocs)
    managers = {a.audit_id: "Greta Tmgr" for a in allocs}
    write_audit_workbooks(
        allocs, cfg.tools, "Northvale", tmp_path / "audits", team_managers=managers
    )
    sim = simulate_returns(
        allocs,
        cfg.tools,
        tmp_path / "audits",
        tmp_path / "returns",
        seed=4,
        never=0,
        late=0,
        messy=0,
    )
    first = sim.paths[0]
    wb = openpyxl.load_workbook(first)
    ws = wb["Audit"]
    header = next(r[0].row for r in ws.iter_rows(max_col=1) if r[0].value == "Action")
    last = header + ACTION_ROWS
    ws.cell(last, 1, "Check the chronology is up to date")
    ws.cell(last, 2, "Greta Tmgr")
    wb.save(first)
    report = ingest_paths(cfg, [tmp_path / "returns"], as_of=date(2027, 1, 20))
    assert report.counts()["accepted"] == 3, [[str(p) for p in f.problems] for f in report.files]
    with Register.open(cfg.register_path) as reg:
        actions = [r[0] for r in reg.query("SELECT action FROM actions")]
    assert "Check the chronology is up to date" in actions
