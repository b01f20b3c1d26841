"""Two qaf commands on one register at once (issue 7 item 5): both succeed, or one waits or
refuses with a clear message; never a lost write or a corrupt register.

Writers take SQLite's write lock up front (BEGIN IMMEDIATE) and wait up to
``BUSY_TIMEOUT_MS`` for each other; `qaf allocate` and `qaf overdue` also hold a lock
file for their whole run, so their output files and the register always agree.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qaf import register as register_module
from qaf.config import Config, read_config
from qaf.problems import QafError
from qaf.register import Register
from qaf.workdir import init_directory
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import make_return

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
AS_OF = "2027-01-08"


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qaf", *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def two_folders(cfg: Config, tmp_path: Path, n: int) -> tuple[Path, Path]:
    allocs = [allocation(f"2026-12-{i:03d}", f"P{i:06d}") for i in range(1, 2 * n + 1)]
    setup_register(cfg, allocs)
    folders = (tmp_path / "in-a", tmp_path / "in-b")
    for i, a in enumerate(allocs):
        make_return(cfg, a, folders[i % 2] / f"{a.audit_id}.xlsx", seed=i)
    return folders


def test_two_ingests_at_once_both_store_every_file(cfg: Config, tmp_path: Path) -> None:
    a, b = two_folders(cfg, tmp_path, 8)
    common = ["--config", str(cfg.path), "--as-of", AS_OF]
    procs = [start("ingest", str(a), *common), start("ingest", str(b), *common)]
    results = [finish(p) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
        assert "8 accepted" in err
    with Register.open(cfg.register_path) as reg:
        assert reg.integrity_check() == []
        assert reg.scalar("SELECT count(*) FROM returns") == 16  # no lost write
        assert reg.scalar("SELECT count(*) FROM ingested_files") == 16


def test_ingest_and_overdue_notify_at_once(cfg: Config, tmp_path: Path) -> None:
    a, _unreturned = two_folders(cfg, tmp_path, 6)
    common = ["--config", str(cfg.path)]
    ingest = start("ingest", str(a), *common, "--as-of", AS_OF)
    overdue = start("overdue", "--notify", *common, "--as-of", AS_OF)
    (ic, _, ierr), (oc, _, oerr) = finish(ingest), finish(overdue)
    assert ic == 0, ierr
    assert oc in (0, 1), oerr  # 1 only if a message could not be sent: none here
    assert "Traceback" not in ierr + oerr
    with Register.open(cfg.register_path) as reg:
        assert reg.integrity_check() == []
        assert reg.scalar("SELECT count(*) FROM returns") == 6
        sent = {r["message_id"] for r in reg.query("SELECT message_id FROM notifications")}
    written = "".join(p.read_text(encoding="utf-8") for p in cfg.notify.outbox.glob("*.eml"))
    assert all(mid in written for mid in sent)


def test_two_allocations_of_one_cycle_at_once_one_wins_whole(tmp_path: Path) -> None:
    """Rule S2: the second waits for the first, then refuses (exit 2); the workbooks on disk
    are the recorded cycle's, not a mix."""
    init_directory(tmp_path / "w", framework="generic", demo=True, force=False)
    cfg = read_config(tmp_path / "w" / "qaf.toml")
    common = ["allocate", "--month", "2026-12", "--config", str(cfg.path)]
    procs = [start(*common, "--seed", "1"), start(*common, "--seed", "2")]
    results = [finish(p) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert "already allocated" in loser and "--replace" in loser
    with Register.open(cfg.register_path) as reg:
        assert reg.integrity_check() == []
        recorded = sorted(
            (r["audit_id"], r["case_id"]) for r in reg.query("SELECT * FROM allocations")
        )
    listed = tmp_path / "w" / "cycles" / "2026-12" / "allocation-2026-12.csv"
    with listed.open(encoding="utf-8-sig", newline="") as f:
        on_disk = sorted((r["Audit ID"], r["Case ID"]) for r in csv.DictReader(f))
    assert on_disk == recorded


def test_a_writer_that_cannot_get_the_lock_says_so(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After waiting BUSY_TIMEOUT_MS, a plain message naming the register, not a traceback."""
    setup_register(cfg, [allocation()])
    monkeypatch.setattr(register_module, "BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(cfg.register_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with (
            Register.open(cfg.register_path) as reg,
            pytest.raises(QafError) as e,
            reg.transaction(),
        ):
            pass
        assert "busy (another qaf command is writing to it)" in str(e.value)
        assert str(cfg.register_path) in str(e.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # and once the other writer is done, the same write goes through
    with Register.open(cfg.register_path) as reg, reg.transaction() as conn:
        conn.execute("UPDATE cycles SET theme = 'x'")


def test_backups_taken_during_an_ingest_are_each_consistent(cfg: Config, tmp_path: Path) -> None:
    """`qaf backup` while `qaf ingest` writes: every copy is whole (a file is in it with its
    return, or not at all) and passes its integrity check."""
    from qaf.maintenance import backup

    a, b = two_folders(cfg, tmp_path, 8)
    proc = start("ingest", str(a), str(b), "--config", str(cfg.path), "--as-of", AS_OF)
    copies = []
    while proc.poll() is None and len(copies) < 40:
        result = backup(cfg.register_path, tmp_path / f"copy-{len(copies):02d}.sqlite")
        assert result.integrity == "ok"
        copies.append(Path(result.backup))
    code, _, err = finish(proc)
    assert code == 0, err
    copies.append(Path(backup(cfg.register_path, tmp_path / "final.sqlite").backup))
    seen = []
    for copy in copies:
        with Register.open(copy, create=False, migrate=False) as reg:
            files = reg.scalar("SELECT count(*) FROM ingested_files")
            assert reg.scalar("SELECT count(*) FROM returns") == files
            seen.append(files)
    assert seen == sorted(seen) and seen[-1] == 16


def test_overdue_without_a_register_says_so_not_the_lock_files_errno(small_dir: Path) -> None:
    """Rule T1 / issue 7 (trial 4): `qaf overdue` took its run lock before opening the
    register, so with no register yet (its folder not made) it said "[Errno 2] No such file
    or directory: '.../qaf.db.overdue.lock'"; and left a lock file where a register was not."""
    from typer.testing import CliRunner

    from qaf.cli import app

    toml = small_dir / "qaf.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'path = "qaf.db"' in text
    toml.write_text(text.replace('path = "qaf.db"', 'path = "reg/qaf.db"', 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["overdue", "--config", str(toml), "--as-of", AS_OF])
    assert result.exit_code == 2
    assert "no register at" in result.output and "run `qaf allocate`" in result.output
    assert "Errno" not in result.output
    assert not (small_dir / "reg").exists()
