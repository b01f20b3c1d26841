"""Two returns of one audit in one ``qaf ingest`` run: which one is newer (rule I5).

Files are stored in the order they are found (name order within a folder, folders in
argument order), and a later return of an audit supersedes the current one. Across runs
that is right: what arrives later is the re-submission. Within one run it is not: a
corrected ``A-2026-12-0001-v2.xlsx`` sorts before ``A-2026-12-0001.xlsx`` ("-" < "."), and
so do the ``... (1).xlsx`` copies Outlook and Windows make of a second attachment.

So within a run the **newer** return is kept as the audit's current return, the other
one stored as its history, whichever was read first. Newer means, in order:

1. saved later: the workbook's own "last saved" time (docProps/core.xml ``modified``,
   set by Excel and LibreOffice on every save), or, for a file without one (a CSV), the
   file's modification time;
2. then the later file modification time (two saves within the same second);
3. then the later name (as ``qaf ingest`` lists them), and within one file the later row.

Both files are named in an I5 warning saying which one was kept. Only the storing
process decides: the reader processes pass each workbook's saved time along with what
they read (no second read); the file time is asked (``stat``) only when two returns of
one audit meet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from qaf.problems import Problem

RULE = "I5"
SAME_RUN = "two returns for "  # how both warnings begin: listed even on an accepted file


@dataclass(frozen=True)
class Arrival:
    """A return stored in this run: its file, the file's saved time, and its register ID."""

    path: Path
    saved_at: float | None
    return_id: int
    row: int = 0  # its place among the file's returns (SurveyMonkey: one per response)

    def newness(self) -> tuple[float, float, str, int]:
        """The sort key of "newer" (module docstring): saved, file time, name, row."""
        mtime = _mtime(self.path)
        return (mtime if self.saved_at is None else self.saved_at, mtime, str(self.path), self.row)

    def when(self, other: Arrival) -> str:
        """'saved 15/01/2027 19:40 UTC' or 'file modified ...': the time the choice against
        ``other`` used (both: saved in the same second as ``other``, the file time decided)."""
        modified = f"file modified {_utc(_mtime(self.path))}"
        if self.saved_at is None:
            return modified
        saved = f"saved {_utc(self.saved_at)}"
        return f"{saved}, {modified}" if self.saved_at == other.saved_at else saved


def is_newer(new: Arrival, kept: Arrival) -> bool:
    """Whether ``new`` (read after ``kept``) is the newer return; equal keys: the later read."""
    return new.newness() >= kept.newness()


def kept_warning(audit_id: str | None, new: Arrival, older: Arrival) -> Problem:
    """On the file read second that is the newer one: it supersedes the first."""
    if new.path == older.path:  # two responses of one SurveyMonkey export: the later row
        message = "this response, the later in the file, is kept; the earlier one is kept as its"
    else:
        message = (
            f"this one ({new.when(older)}) is the newer and is kept; {older.path.name} "
            f"({older.when(new)}) is kept as its"
        )
    return Problem(
        RULE,
        f"{SAME_RUN}{audit_id} arrived in this run: {message} history",
        "warning",
        str(new.path),
    )


def history_warning(audit_id: str | None, older: Arrival, newer: Arrival) -> Problem:
    """On the file read second that is the older one: stored as the newer one's history."""
    return Problem(
        RULE,
        f"{SAME_RUN}{audit_id} arrived in this run: {newer.path.name} "
        f"({newer.when(older)}) is the newer and is kept; this one ({older.when(newer)}) is "
        "kept as its history",
        "warning",
        str(older.path),
    )


def is_same_run_warning(problem: Problem) -> bool:
    return problem.rule == RULE and problem.message.startswith(SAME_RUN)


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:  # gone meanwhile: the oldest
        return 0.0


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%d/%m/%Y %H:%M:%S UTC")
