"""The register: numbered migrations, transactions, integrity, privacy of the file."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from qaf.register import SCHEMA_VERSION, Register


def test_new_register_is_migrated_and_records_its_version(tmp_path: Path) -> None:
    with Register.open(tmp_path / "qaf.db") as reg:
        assert reg.schema_version() == SCHEMA_VERSION
        rows = reg.query("SELECT version, description FROM schema_migrations")
        assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        assert reg.scalar("PRAGMA journal_mode") == "wal"
        assert reg.scalar("PRAGMA foreign_keys") == 1
        assert reg.integrity_check() == []
    with Register.open(tmp_path / "qaf.db") as reg:  # reopening applies nothing
        assert reg.migrate() == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_register_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    Register.open(tmp_path / "qaf.db").close()
    mode = stat.S_IMODE(os.stat(tmp_path / "qaf.db").st_mode)
    assert mode == 0o600


def test_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    with Register.open(tmp_path / "qaf.db") as reg:
        with pytest.raises(RuntimeError), reg.transaction() as conn:
            conn.execute(
                "INSERT INTO cycles (cycle, seed, created_at, as_of) VALUES ('2026-12', 7, 'x', 'y')"
            )
            raise RuntimeError("crash mid-write")
        assert reg.cycle_exists("2026-12") is False


def test_many_transactions_each_commit_lands_and_the_checkpoint_interval_is_restored(
    tmp_path: Path,
) -> None:
    # ingest's one transaction per file (rule I5: a file is stored whole or not at all)
    with Register.open(tmp_path / "qaf.db") as reg:
        with reg.many_transactions(pages=5000):
            assert reg.scalar("PRAGMA wal_autocheckpoint") == 5000
            for month in (1, 2):
                with reg.transaction() as conn:
                    conn.execute(
                        "INSERT INTO cycles (cycle, seed, created_at, as_of) "
                        f"VALUES ('2026-0{month}', 7, 'x', 'y')"
                    )
        assert reg.scalar("PRAGMA wal_autocheckpoint") == 1000
    with Register.open(tmp_path / "qaf.db") as again:
        assert again.cycle_exists("2026-01") and again.cycle_exists("2026-02")


def _add_cycle(reg: Register, cycle: str) -> None:
    with reg.transaction() as conn:
        conn.execute(
            "INSERT INTO cycles (cycle, seed, created_at, as_of) VALUES (?, 7, 'x', 'y')", (cycle,)
        )


def test_many_transactions_commit_in_batches_each_whole_or_absent(tmp_path: Path) -> None:
    """Rule I5 with batched commits (issue 8): each transaction of a batch is a savepoint,
    rolled back alone when it fails; the batch lands every ``per_commit`` transactions and
    on the way out; what another connection sees is only ever whole transactions."""
    path = tmp_path / "qaf.db"
    with Register.open(path) as reg, Register.open(path) as other:
        with reg.many_transactions(per_commit=3, seconds=3600):
            _add_cycle(reg, "2026-01")
            with pytest.raises(RuntimeError), reg.transaction() as conn:
                conn.execute(
                    "INSERT INTO cycles (cycle, seed, created_at, as_of) "
                    "VALUES ('2026-02', 7, 'x', 'y')"
                )
                raise RuntimeError("a file that fails half way")
            _add_cycle(reg, "2026-03")
            assert reg.cycle_exists("2026-03") and not other.cycle_exists("2026-01")
            _add_cycle(reg, "2026-04")  # the third released: the batch is committed
            assert other.cycle_exists("2026-01") and other.cycle_exists("2026-04")
            _add_cycle(reg, "2026-05")
            assert not other.cycle_exists("2026-05")
        assert other.cycle_exists("2026-05") and not other.cycle_exists("2026-02")


def test_a_batch_is_committed_after_its_time_and_on_an_error_on_the_way_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "qaf.db"
    with Register.open(path) as reg, Register.open(path) as other:
        with reg.many_transactions(per_commit=1000, seconds=0.0):
            _add_cycle(reg, "2026-01")  # its time is up at once
            assert other.cycle_exists("2026-01")
        with pytest.raises(KeyboardInterrupt), reg.many_transactions(per_commit=1000, seconds=3600):
            _add_cycle(reg, "2026-02")
            raise KeyboardInterrupt  # Ctrl-C between two files: the stored one is kept
        assert other.cycle_exists("2026-02")


def test_missing_register_without_create_is_a_clear_error(tmp_path: Path) -> None:
    from qaf.problems import QafError

    with pytest.raises(QafError, match="no register"):
        Register.open(tmp_path / "none.db", create=False)


def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    with Register.open(tmp_path / "qaf.db") as reg:
        with reg.transaction() as conn:
            conn.execute(
                "INSERT INTO cycles (cycle, seed, created_at, as_of) VALUES ('2026-12', 7, 'x', 'y')"
            )
        dest = reg.backup(tmp_path / "copy.db")
    with Register.open(dest) as copy:
        assert copy.cycle_exists("2026-12")
