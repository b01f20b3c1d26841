"""`qaf ingest` on the command line, and crash safety under SIGKILL (issue 7 item 4)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from qaf.register import Register
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import make_return

AS_OF = "2027-01-08"


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def folder(cfg: Config, tmp_path: Path, n: int) -> Path:
    allocs = [allocation(f"2026-12-{i:03d}", f"P{i:06d}") for i in range(1, n + 1)]
    setup_register(cfg, allocs)
    out = tmp_path / "returns"
    for i, a in enumerate(allocs):
        make_return(cfg, a, out / f"{a.audit_id}.xlsx", seed=i)
    return out


def test_cli_json_equals_the_library_result(cfg: Config, tmp_path: Path) -> None:
    out = folder(cfg, tmp_path, 3)
    (out / "broken.xlsx").write_bytes(b"%PDF-1.4 not a workbook")
    runner = CliRunner()
    args = ["ingest", str(out), "--config", str(cfg.path), "--as-of", AS_OF]
    result = runner.invoke(app, [*args, "--dry-run", "--format", "json"])
    assert result.exit_code == 1  # one file rejected
    data = json.loads(result.stdout)
    lib = ingest_paths(cfg, [out], as_of=date(2027, 1, 8), dry_run=True).as_json()
    assert data == lib
    statuses = sorted(f["status"] for f in data["files"])
    assert statuses == ["accepted", "accepted", "accepted", "rejected"]
    rejected = next(f for f in data["files"] if f["status"] == "rejected")
    assert rejected["problems"][0]["rule"] == "I1"
    assert "PDF" in rejected["problems"][0]["message"]


def test_cli_table_lists_counts_and_problems(cfg: Config, tmp_path: Path) -> None:
    out = folder(cfg, tmp_path, 2)
    (out / "empty.xlsx").write_bytes(b"")
    runner = CliRunner()
    args = ["ingest", str(out), "--config", str(cfg.path), "--as-of", AS_OF]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "empty" in result.stdout and "I1" in result.stdout
    assert "2 accepted" in result.stderr
    again = runner.invoke(app, [*args, "--format", "csv"])
    assert "already-ingested" in again.stdout
    assert again.stdout.splitlines()[0].startswith("\ufeffpath,ref,status")  # BOM: Excel


def test_cli_exit_0_when_all_accepted(cfg: Config, tmp_path: Path) -> None:
    out = folder(cfg, tmp_path, 1)
    result = CliRunner().invoke(
        app, ["ingest", str(out), "--config", str(cfg.path), "--as-of", AS_OF]
    )
    assert result.exit_code == 0, result.stdout + result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_mid_folder_leaves_each_file_fully_in_or_out(cfg: Config, tmp_path: Path) -> None:
    # issue 7 item 4: crash safety; one transaction per file
    out = folder(cfg, tmp_path, 40)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [
        sys.executable,
        "-m",
        "qaf",
        "ingest",
        str(out),
        "--config",
        str(cfg.path),
        "--as-of",
        AS_OF,
        "--format",
        "json",
    ]
    kills = 0
    for attempt in range(3):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = 3 + attempt * 7
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                con = sqlite3.connect(cfg.register_path, timeout=1)
                n = con.execute("SELECT count(*) FROM ingested_files").fetchone()[0]
                con.close()
            except sqlite3.OperationalError:
                n = 0
            if n >= target:
                break
            time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        with Register.open(cfg.register_path) as reg:
            assert reg.integrity_check() == []
            files = reg.scalar("SELECT count(*) FROM ingested_files")
            returns = reg.scalar("SELECT count(*) FROM returns")
            assert files == returns  # one return per workbook, never half a file
            short = reg.query(
                "SELECT r.id, count(d.domain_id) AS n FROM returns r "
                "LEFT JOIN domain_grades d ON d.return_id = r.id GROUP BY r.id HAVING n != 16"
            )
            assert short == []
    assert kills >= 1
    # finishing the run afterwards ingests the rest exactly once
    report = ingest_paths(cfg, [out], as_of=date(2027, 1, 8))
    with Register.open(cfg.register_path) as reg:
        assert reg.scalar("SELECT count(*) FROM returns") == 40
    assert {f.status for f in report.files} <= {"accepted", "already-ingested"}


def test_rule_G1_problems_one_a_line_when_not_at_a_terminal(cfg: Config, tmp_path: Path) -> None:
    """Rule G1 (trial2 T2-18): piped or logged (CliRunner is not a terminal), each problem is
    one line with its file, sheet, cell, rule and whole message, not wrapped to 80 columns."""
    from tests.test_ingest import edit, find

    out = folder(cfg, tmp_path, 1)
    path = next(out.iterdir())
    cell = find(path, "Overall grade")
    edit(path, {cell: "Brilliant"})
    args = ["ingest", str(out), "--config", str(cfg.path), "--as-of", AS_OF, "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    message = (
        'the overall grade: "Brilliant" is not a grade: expected one of "Outstanding", '
        '"Good", "Requires Improvement", "Inadequate" or 1-4'
    )
    (line,) = [ln for ln in result.stdout.splitlines() if "G1" in ln]
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    assert cells == [path.name, "Audit", cell, "G1", "error", message]


def test_rule_I5_an_empty_folder_says_nothing_was_found(cfg: Config, tmp_path: Path) -> None:
    """Rule I5 (trial2 T2-17): a folder with no return in it says so, exit 0."""
    empty = tmp_path / "returns"
    empty.mkdir()
    result = CliRunner().invoke(app, ["ingest", str(empty), "--config", str(cfg.path)])
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == (
        f"No returned workbooks or SurveyMonkey exports found in {empty}"
    )
