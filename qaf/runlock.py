"""One run at a time: an exclusive lock on a file beside the register.

Two ``qaf allocate`` runs, or two ``qaf overdue`` runs, on one register must not
interleave (issue 7). The lock is the operating system's on an open file (``flock`` on
POSIX, ``msvcrt.locking`` on Windows): it goes with the process, so a run that is killed
leaves nothing to clean up. The lock file itself stays (empty); it is never deleted,
which would let a third run lock a new file while the second holds the old one.

Written here rather than taken from the filelock package: importing that cost each
``qaf allocate`` and ``qaf overdue`` 20 ms, for the thirty lines below.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_SECONDS = 0.05


class LockTimeout(Exception):
    """Another run held the lock for the whole wait."""


class Held:
    """A lock taken by :func:`acquire`; :meth:`release` lets it go (once)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                _unlock(fd)
            finally:
                os.close(fd)


def acquire(path: Path, wait: float) -> Held:
    """The lock on ``path`` (made if missing), waiting up to ``wait`` seconds for another
    holder; raises ``LockTimeout`` after that."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout(str(path))
            time.sleep(POLL_SECONDS)
    except BaseException:  # not taken (or Ctrl-C while waiting): nothing held
        os.close(fd)
        raise
    return Held(fd)


@contextmanager
def held(path: Path, wait: float) -> Iterator[None]:
    """:func:`acquire` for the block."""
    lock = acquire(path, wait)
    try:
        yield
    finally:
        lock.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: another process (or open file) holds it
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
