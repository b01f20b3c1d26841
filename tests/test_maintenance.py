"""`qaf backup`, `qaf check` and the network-drive warning (issue 7 items 5 and 6)."""

from __future__ import annotations

import json
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf import maintenance
from qaf.cli import app
from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from qaf.maintenance import backup, check, network_filesystem, network_warning
from qaf.register import Register
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import make_return

runner = CliRunner()

MOUNTS = """\
sysfs /sys sysfs rw,nosuid 0 0
/dev/sda1 / ext4 rw,relatime 0 0
//fileserver/qa /mnt/qa cifs rw,vers=3.0 0 0
fs1:/export/home /home/nfs nfs4 rw 0 0
/dev/sdb1 /mnt/qa/local ext4 rw 0 0
tmpfs /tmp tmpfs rw 0 0
"""


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def filled_register(cfg: Config, tmp_path: Path) -> None:
    alloc = allocation("2026-12-001", "P000001")
    setup_register(cfg, [alloc])
    path, _ = make_return(cfg, alloc, tmp_path / "returns" / "a.xlsx")
    from datetime import date

    [f] = ingest_paths(cfg, [path], as_of=date(2027, 1, 8)).files
    assert f.status == "accepted"


# ------------------------------------------------------------------ network


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/mnt/qa/register.sqlite", "cifs"),
        ("/mnt/qa/sub/dir/qaf.db", "cifs"),
        ("/home/nfs/qa/qaf.db", "nfs4"),
        ("/mnt/qa/local/qaf.db", None),  # a local disk mounted inside the share
        ("/mnt/qaX/qaf.db", None),  # a sibling folder, not inside /mnt/qa
        ("/srv/qa/qaf.db", None),
        ("/tmp/qaf.db", None),
    ],
)
def test_network_file_system_from_proc_mounts(path: str, expected: str | None) -> None:
    assert network_filesystem(Path(path), MOUNTS) == expected


MAC_MOUNT = """/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect)
//qa.officer@files.council.example/QA on /Volumes/QA Team (smbfs, nodev, nosuid, mounted by qa)
files:/exports/audit on /Volumes/audit (nfs, asynchronous)
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/Volumes/QA Team/register/qaf.db", "smbfs"),
        ("/Volumes/audit/qaf.db", "nfs"),
        ("/Users/qa/qaf/qaf.db", None),
    ],
)
def test_network_drive_on_macos_from_the_mount_command(path: str, expected: str | None) -> None:
    """Safety (issue 7): the register on an SMB or NFS share mounted on a Mac is warned
    about as on Linux; ``mount``'s output is read like /proc/mounts."""
    from qaf.maintenance import mount_output_as_proc_mounts

    mounts = mount_output_as_proc_mounts(MAC_MOUNT)
    assert mounts.splitlines()[2].split()[1:] == ["/Volumes/QA\\040Team", "smbfs"]
    assert network_filesystem(Path(path), mounts) == expected


def test_unc_path_is_a_network_path() -> None:
    assert network_filesystem(Path("//fileserver/qa/qaf.db"), MOUNTS) == "UNC path"


def test_warning_names_the_register_and_the_safe_way() -> None:
    warning = network_warning(Path("/mnt/qa/qaf.db"), MOUNTS)
    assert warning is not None
    assert "/mnt/qa/qaf.db" in warning and "cifs" in warning and "qaf backup" in warning
    assert network_warning(Path("/srv/qaf.db"), MOUNTS) is None


@pytest.mark.skipif(not Path("/proc/mounts").exists(), reason="Linux /proc/mounts")
def test_this_machines_temp_folder_is_not_taken_for_a_network_drive(tmp_path: Path) -> None:
    fs = network_filesystem(tmp_path / "qaf.db")
    assert fs is None or fs in maintenance.NETWORK_FS


def test_cli_warns_once_per_command_on_a_network_register(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled_register(cfg, tmp_path)
    monkeypatch.setattr(maintenance, "network_filesystem", lambda path, mounts=None: "cifs")
    result = runner.invoke(app, ["check", "--config", str(cfg.path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("network file system (cifs)") == 1
    assert "qaf backup" in result.stderr
    monkeypatch.setattr(maintenance, "network_filesystem", lambda path, mounts=None: None)
    quiet = runner.invoke(app, ["check", "--config", str(cfg.path)])
    assert "network" not in quiet.stderr


# ------------------------------------------------------------------ backup


def test_backup_is_a_checked_private_copy(cfg: Config, tmp_path: Path) -> None:
    filled_register(cfg, tmp_path)
    result = backup(cfg.register_path, tmp_path / "copy.sqlite")
    assert result.integrity == "ok"
    copy = Path(result.backup)
    assert copy.stat().st_size == result.bytes > 0
    if sys.platform != "win32":
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    with Register.open(copy, create=False) as reg:
        assert reg.scalar("SELECT count(*) FROM returns") == 1
        assert reg.scalar("SELECT count(*) FROM domain_grades") > 0


def test_backup_into_a_folder_or_beside_the_register_by_default(
    cfg: Config, tmp_path: Path
) -> None:
    filled_register(cfg, tmp_path)
    folder = tmp_path / "share"
    folder.mkdir()
    into = backup(cfg.register_path, folder)
    assert Path(into.backup).parent == folder
    default = backup(cfg.register_path, None)
    assert Path(default.backup).parent == cfg.register_path.parent / "backups"


def test_backup_refuses_to_overwrite_or_to_copy_nothing(cfg: Config, tmp_path: Path) -> None:
    from qaf.problems import QafError

    with pytest.raises(QafError, match="nothing to back up"):
        backup(cfg.register_path, tmp_path / "x.sqlite")
    filled_register(cfg, tmp_path)
    (tmp_path / "taken.sqlite").write_bytes(b"")
    with pytest.raises(QafError, match="already exists"):
        backup(cfg.register_path, tmp_path / "taken.sqlite")


@pytest.mark.parametrize("dest", ["share/qa/", "share/qa/copy.sqlite"])
def test_cli_backup_refuses_a_folder_that_does_not_exist(
    cfg: Config, tmp_path: Path, dest: str
) -> None:
    """trial2 T2-19: a folder that is not there (a share not mounted) is refused with exit 2
    and nothing is written, rather than made on the local disk or taken as a file name."""
    filled_register(cfg, tmp_path)
    given = f"{tmp_path}/{dest}"
    result = runner.invoke(app, ["backup", given, "--config", str(cfg.path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {tmp_path / 'share' / 'qa'}: no such folder (is the shared drive mounted?); "
        "qaf backup does not create folders\n"
    )
    assert not (tmp_path / "share").exists()
    (tmp_path / "share" / "qa").mkdir(parents=True)
    result = runner.invoke(app, ["backup", given, "--config", str(cfg.path)])
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "share" / "qa").iterdir())
    assert len(written) == 1 and written[0].is_file()


def test_cli_backup_json_equals_the_library_result(cfg: Config, tmp_path: Path) -> None:
    filled_register(cfg, tmp_path)
    dest = tmp_path / "b.sqlite"
    result = runner.invoke(app, ["backup", str(dest), "--config", str(cfg.path), "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "register": str(cfg.register_path),
        "backup": str(dest),
        "bytes": dest.stat().st_size,
        "integrity": "ok",
    }
    again = runner.invoke(app, ["backup", str(dest), "--config", str(cfg.path)])
    assert again.exit_code == 2
    assert again.stderr == f"Error: {dest}: already exists: choose another name or folder\n"


def test_cli_backup_table_says_where(cfg: Config, tmp_path: Path) -> None:
    filled_register(cfg, tmp_path)
    result = runner.invoke(app, ["backup", str(tmp_path / "t.sqlite"), "--config", str(cfg.path)])
    assert result.exit_code == 0
    assert "Backed up" in result.stderr and "integrity ok" in result.stderr


# ------------------------------------------------------------------ check


def test_check_of_a_healthy_register(cfg: Config, tmp_path: Path) -> None:
    filled_register(cfg, tmp_path)
    result = check(cfg.register_path)
    assert result.ok and result.findings == ()
    cli = runner.invoke(app, ["check", "--config", str(cfg.path), "--format", "json"])
    assert cli.exit_code == 0
    assert json.loads(cli.stdout) == result.as_json()


def _orphan(cfg: Config, sql: str) -> None:
    """Write a row the way another tool would: foreign keys off."""
    con = sqlite3.connect(cfg.register_path)
    con.execute("PRAGMA foreign_keys = OFF")
    con.execute(sql)
    con.commit()
    con.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "INSERT INTO domain_grades (return_id, domain_id, grade) VALUES (999, 'D1', 'Good')",
            "1 domain grade(s) without their return",
        ),
        (
            "INSERT INTO followups (kind, rule, return_id, case_id, due, created_at) "
            "VALUES ('discussion', 'T2', 999, 'P000001', '2027-01-10', 'x')",
            "1 follow-up(s) without their return",
        ),
        (
            "INSERT INTO allocations (audit_id, cycle, case_id, auditor, tool, type, due, "
            "created_at) VALUES ('2099-01-001', '2099-01', 'P1', 'A', 'case-audit', 'audit', "
            "'2099-01-31', 'x')",
            "1 allocation(s) of an unknown cycle",
        ),
        (
            "INSERT INTO alerts (return_id, rule, reason, recipient_role, created_at) "
            "VALUES (999, 'E1', 'x', 'Team Manager', 'x')",
            "1 alert(s) without their return",
        ),
    ],
)
def test_check_reports_orphans_and_exits_1(
    cfg: Config, tmp_path: Path, sql: str, expected: str
) -> None:
    filled_register(cfg, tmp_path)
    _orphan(cfg, sql)
    result = check(cfg.register_path)
    assert not result.ok
    orphans = [f.message for f in result.findings if f.check == "orphan"]
    assert orphans == [expected]
    assert any(f.check == "foreign-key" for f in result.findings)  # declared keys agree
    cli = runner.invoke(app, ["check", "--config", str(cfg.path), "--format", "json"])
    assert cli.exit_code == 1
    assert json.loads(cli.stdout) == result.as_json()
    table = runner.invoke(app, ["check", "--config", str(cfg.path)])
    assert table.exit_code == 1 and expected in table.stdout


def test_check_of_a_file_that_is_not_a_register(cfg: Config) -> None:
    cfg.register_path.write_bytes(b"this is not a database, just text " * 200)
    result = check(cfg.register_path)
    assert not result.ok
    assert "not a database" in result.findings[0].message
    cli = runner.invoke(app, ["check", "--config", str(cfg.path)])
    assert cli.exit_code == 1 and "Traceback" not in cli.output


def test_check_without_a_register_is_a_usage_error(cfg: Config) -> None:
    cli = runner.invoke(app, ["check", "--config", str(cfg.path)])
    assert cli.exit_code == 2
    assert "no register" in cli.stderr


def test_a_migration_first_backs_up_the_register_owner_only(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automatic backup before a schema migration (issue 7 item 6)."""
    from qaf import register as register_module

    filled_register(cfg, tmp_path)
    nxt = register_module.SCHEMA_VERSION + 1
    step = (nxt, "test step", "CREATE TABLE test_step (x INTEGER)")
    monkeypatch.setattr(register_module, "MIGRATIONS", (*register_module.MIGRATIONS, step))
    monkeypatch.setattr(register_module, "SCHEMA_VERSION", nxt)
    with Register.open(cfg.register_path) as reg:
        assert reg.schema_version() == nxt
    saved = cfg.register_path.with_name(f"{cfg.register_path.name}.before-v{nxt}.bak")
    assert saved.exists()
    if sys.platform != "win32":
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    con = sqlite3.connect(saved)
    try:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == nxt - 1
        assert con.execute("SELECT count(*) FROM returns").fetchone()[0] == 1
    finally:
        con.close()
