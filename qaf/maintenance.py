"""Looking after the register: where it lives, backing it up, checking it (issue 7 items 5-6).

- ``network_filesystem`` / ``network_warning``: SQLite's locking (and WAL's shared
  memory) is unreliable on SMB/CIFS and NFS shares, so a register on a council shared
  drive can be corrupted by two people running qaf at once. The CLI warns once per
  command. Detected from /proc/mounts on Linux, and from a UNC path or
  ``GetDriveTypeW`` (DRIVE_REMOTE) on Windows; elsewhere nothing is claimed.
- ``backup``: a consistent copy through SQLite's online backup API (safe while
  another qaf command is writing), checked after it is written.
- ``check``: ``PRAGMA integrity_check``, ``PRAGMA foreign_key_check`` and the orphan
  rows a foreign key cannot catch (or that arrive while keys were off).

The SQL stays in qaf/register.py; this module decides and words the results.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qaf.problems import QafError

NETWORK_FS = frozenset(
    {
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "nfs",
        "nfs4",
        "afs",
        "ncpfs",
        "9p",
        "davfs",
        "afpfs",  # macOS: Apple file sharing
        "webdav",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.davfs2",
        "glusterfs",
        "ceph",
    }
)
_DRIVE_REMOTE = 4  # GetDriveTypeW


# ------------------------------------------------------------ network drives


def network_filesystem(path: Path, mounts: str | None = None) -> str | None:
    """The network file system ``path`` is on ("cifs", "nfs4", "UNC path" ...), or None.

    ``mounts`` is the text of /proc/mounts (for tests); read from the system when None.
    """
    if sys.platform == "win32" and mounts is None:
        return _windows_remote(path)
    if str(path).startswith(("\\\\", "//")):
        return "UNC path"
    if mounts is None and sys.platform == "darwin":
        mounts = _darwin_mounts()
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = _resolved(path)
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), parts[2])
    if best is None:
        return None
    fstype = best[1].lower()
    return fstype if fstype in NETWORK_FS or fstype.startswith(("nfs", "smb")) else None


_MOUNT_LINE = re.compile(r"^(.+?) on (.+) \(([^,)]+)")


def mount_output_as_proc_mounts(text: str) -> str:
    """``mount``'s lines on macOS ("//qa@files/QA on /Volumes/QA Team (smbfs, nodev ...)")
    as /proc/mounts lines (device, mount point with spaces as \\040, type)."""
    out = []
    for line in text.splitlines():
        m = _MOUNT_LINE.match(line)
        if m:
            device, point, fstype = (part.replace(" ", "\\040") for part in m.groups())
            out.append(f"{device} {point} {fstype}")
    return "\n".join(out)


def _darwin_mounts() -> str | None:  # pragma: no cover - macOS only
    import subprocess

    try:
        done = subprocess.run(
            ["/sbin/mount"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return mount_output_as_proc_mounts(done.stdout) if done.returncode == 0 else None


def _resolved(path: Path) -> str:
    """The absolute path of ``path`` or, if it does not exist yet, of its nearest parent."""
    p = path.absolute()
    for candidate in (p, *p.parents):
        if candidate.exists():
            return str(candidate.resolve() / p.relative_to(candidate))
    return str(p)


def _windows_remote(path: Path) -> str | None:  # pragma: no cover - Windows only
    text = str(path.absolute())
    if text.startswith("\\\\"):
        return "UNC path"
    import ctypes

    drive = os.path.splitdrive(text)[0]
    if not drive:
        return None
    kind = ctypes.windll.kernel32.GetDriveTypeW(drive + "\\")  # type: ignore[attr-defined]
    return "network drive" if kind == _DRIVE_REMOTE else None


def network_warning(register_path: Path, mounts: str | None = None) -> str | None:
    """The warning to show when the register sits on a network file system."""
    fs = network_filesystem(register_path, mounts)
    if fs is None:
        return None
    return (
        f"the register {register_path} is on a network file system ({fs}), where SQLite's "
        "locking is unreliable: two qaf commands at once may corrupt it. Keep the register "
        "on a local disk of the one machine that runs qaf, and copy it to the shared drive "
        "with `qaf backup DEST` (README: Safety)."
    )


# ------------------------------------------------------------------ backup


@dataclass(frozen=True)
class BackupResult:
    register: str
    backup: str
    bytes: int
    integrity: str  # "ok", or the first problem of the copy

    def as_json(self) -> dict[str, Any]:
        return {
            "register": self.register,
            "backup": self.backup,
            "bytes": self.bytes,
            "integrity": self.integrity,
        }


def default_backup_path(register_path: Path, now: datetime) -> Path:
    return register_path.parent / "backups" / f"{register_path.stem}-{now:%Y%m%d-%H%M%S}.sqlite"


def backup(
    register_path: Path, dest: Path | str | None = None, *, now: datetime | None = None
) -> BackupResult:
    """Copy the register with SQLite's online backup API and check the copy.

    ``dest`` may be a file (refused if it exists) in an existing folder, or an existing
    folder; by default the copy goes to ``backups/`` beside the register, named by the time.
    A folder that does not exist is refused, not made: on a share that is not mounted
    (``//fileserver/qa/``) it would be made on the local disk, the copy ending up beside the
    register it protects; text ending in ``/`` or ``\\`` names a folder.
    """
    from qaf.register import Register

    now = now or datetime.now()
    if not register_path.exists():
        raise QafError(
            f"no register at {register_path}: nothing to back up", file=str(register_path)
        )
    if dest is None:
        target = default_backup_path(register_path, now)
    else:
        target = _backup_target(dest, default_backup_path(register_path, now).name)
    if target.exists():
        raise QafError("already exists: choose another name or folder", file=str(target))
    if _same_file(target, register_path):
        raise QafError("the backup cannot be the register itself", file=str(target))
    with Register.open(register_path, create=False, migrate=False) as reg:
        reg.backup(target)
    with Register.open(target, create=False, migrate=False) as copy:
        problems = copy.integrity_check()
    return BackupResult(
        str(register_path), str(target), target.stat().st_size, problems[0] if problems else "ok"
    )


def _backup_target(dest: Path | str, name: str) -> Path:
    """The file a backup to ``dest`` is written to; a missing folder is refused."""
    folder_meant = isinstance(dest, str) and dest.endswith(("/", "\\"))
    path = Path(dest)
    if path.is_dir():
        return path / name
    missing = path if folder_meant else path.parent
    if folder_meant or not missing.is_dir():
        raise QafError(
            "no such folder (is the shared drive mounted?); qaf backup does not create folders",
            file=str(missing),
        )
    return path


def _same_file(a: Path, b: Path) -> bool:
    return a.absolute().resolve() == b.absolute().resolve()


# ------------------------------------------------------------------ check


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the register."""

    check: str  # integrity | foreign-key | orphan | open
    message: str
    count: int = 1

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, "count": self.count}


@dataclass(frozen=True)
class CheckResult:
    register: str
    schema_version: int | None
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "register": self.register,
            "schema_version": self.schema_version,
            "ok": self.ok,
            "findings": [f.as_json() for f in self.findings],
        }


def check(register_path: Path) -> CheckResult:
    """Integrity, foreign keys and orphan rows of the register; read only (no migration)."""
    from qaf.register import Register

    if not register_path.exists():
        raise QafError(f"no register at {register_path}", file=str(register_path))
    try:
        reg = Register.open(register_path, create=False, migrate=False)
    except QafError as e:
        return CheckResult(str(register_path), None, (Finding("open", e.message),))
    try:
        try:
            version = reg.schema_version()
            integrity, foreign = reg.integrity_findings()
            orphans = reg.orphans()
        except Exception as e:  # sqlite3.DatabaseError: a damaged file says so here
            return CheckResult(
                str(register_path), None, (Finding("integrity", f"the register is damaged: {e}"),)
            )
    finally:
        reg.close()
    findings = [Finding("integrity", m) for m in integrity]
    findings += [Finding("foreign-key", m, n) for m, n in foreign]
    findings += [Finding("orphan", m, n) for m, n in orphans]
    return CheckResult(str(register_path), version, tuple(findings))
