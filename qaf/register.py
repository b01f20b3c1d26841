"""The register: one SQLite file holding every cycle, allocation, return and deadline.

This is the only module that speaks SQL. It owns the schema, its numbered
migrations (recorded in ``schema_migrations``, with an automatic backup before
any migration of a register that already holds data), transactions, and the
queries the other modules need, returning plain records.

SQLite settings: WAL journal (readers never block the writer), foreign keys on,
a busy timeout so two ``qaf`` commands wait for each other instead of failing,
``BEGIN IMMEDIATE`` for every write so a writer takes the lock up front.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaf.problems import QafError
from qaf.records import Allocation, FollowUp

if TYPE_CHECKING:
    from qaf.allocate import AllocationResult, History
    from qaf.escalate import Pending, RaisedAlert

BUSY_TIMEOUT_MS = 15_000

# Numbered migrations. Never edit a step once released: add a new one.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "initial schema",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE cycles (
            cycle       TEXT PRIMARY KEY,          -- YYYY-MM
            seed        INTEGER NOT NULL,          -- rule S2
            created_at  TEXT NOT NULL,
            as_of       TEXT NOT NULL,
            eligible    INTEGER NOT NULL DEFAULT 0,
            sample_size INTEGER NOT NULL DEFAULT 0,
            arithmetic  TEXT NOT NULL DEFAULT '',  -- rule S1, in words
            theme       TEXT                       -- rule C3
        );

        CREATE TABLE allocations (
            audit_id      TEXT PRIMARY KEY,
            cycle         TEXT NOT NULL REFERENCES cycles(cycle) ON DELETE CASCADE,
            case_id       TEXT NOT NULL,
            team          TEXT NOT NULL DEFAULT '',
            service       TEXT NOT NULL DEFAULT '',
            category      TEXT NOT NULL DEFAULT '',
            worker        TEXT NOT NULL DEFAULT '',
            auditor       TEXT NOT NULL,
            auditor_email TEXT NOT NULL DEFAULT '',
            auditor_role  TEXT NOT NULL DEFAULT '',
            tool          TEXT NOT NULL,
            type          TEXT NOT NULL CHECK (type IN ('audit', 'reaudit', 'moderation')),
            due           TEXT NOT NULL,
            reaudit_of    TEXT,
            reaudit_round INTEGER NOT NULL DEFAULT 0,
            moderates     TEXT,
            created_at    TEXT NOT NULL
        );
        CREATE INDEX allocations_cycle ON allocations(cycle);
        CREATE INDEX allocations_case ON allocations(case_id);
        CREATE INDEX allocations_due ON allocations(due);

        CREATE TABLE unallocated (
            cycle   TEXT NOT NULL REFERENCES cycles(cycle) ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            reason  TEXT NOT NULL
        );
        CREATE INDEX unallocated_cycle ON unallocated(cycle);

        CREATE TABLE extensions (                -- rule T6
            id          INTEGER PRIMARY KEY,
            audit_id    TEXT NOT NULL REFERENCES allocations(audit_id) ON DELETE CASCADE,
            old_due     TEXT NOT NULL,
            new_due     TEXT NOT NULL,
            agreed_by   TEXT NOT NULL,
            agreed_on   TEXT NOT NULL
        );
        CREATE INDEX extensions_audit ON extensions(audit_id);

        CREATE TABLE ingested_files (
            sha256      TEXT PRIMARY KEY,
            path        TEXT NOT NULL,
            kind        TEXT NOT NULL,             -- workbook | surveymonkey | moderation
            ingested_at TEXT NOT NULL,
            returns     INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE returns (
            id                 INTEGER PRIMARY KEY,
            audit_id           TEXT REFERENCES allocations(audit_id),
            case_id            TEXT NOT NULL,
            cycle              TEXT,
            tool               TEXT NOT NULL,
            type               TEXT NOT NULL DEFAULT 'audit',
            auditor            TEXT NOT NULL DEFAULT '',
            auditor_role       TEXT NOT NULL DEFAULT '',
            team               TEXT NOT NULL DEFAULT '',
            service            TEXT NOT NULL DEFAULT '',
            category           TEXT NOT NULL DEFAULT '',
            worker             TEXT NOT NULL DEFAULT '',
            audit_date         TEXT,
            received_on        TEXT NOT NULL,
            due                TEXT,
            overall            TEXT,
            overall_before     TEXT,              -- rule G4
            overall_rationale  TEXT NOT NULL DEFAULT '',
            summary            TEXT NOT NULL DEFAULT '',
            safety_concern     INTEGER NOT NULL DEFAULT 0,   -- rule E3
            safety_note        TEXT NOT NULL DEFAULT '',
            reaudit_round      INTEGER NOT NULL DEFAULT 0,
            previous_return_id INTEGER REFERENCES returns(id),
            movement           TEXT CHECK (movement IN ('improved', 'same', 'downgraded')),
            unallocated        INTEGER NOT NULL DEFAULT 0,
            source_sha256      TEXT REFERENCES ingested_files(sha256),
            source_path        TEXT NOT NULL DEFAULT '',
            source_ref         TEXT NOT NULL DEFAULT '',
            superseded_by      INTEGER REFERENCES returns(id),
            created_at         TEXT NOT NULL
        );
        CREATE INDEX returns_audit ON returns(audit_id);
        CREATE INDEX returns_case ON returns(case_id);
        CREATE INDEX returns_cycle ON returns(cycle);
        CREATE INDEX returns_received ON returns(received_on);
        CREATE INDEX returns_current ON returns(superseded_by, cycle);

        CREATE TABLE domain_grades (
            return_id    INTEGER NOT NULL REFERENCES returns(id) ON DELETE CASCADE,
            domain_id    TEXT NOT NULL,
            grade        TEXT,
            grade_before TEXT,
            na           INTEGER NOT NULL DEFAULT 0,
            rationale    TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (return_id, domain_id)
        ) WITHOUT ROWID;

        CREATE TABLE return_fields (             -- key information, compliance, feedback
            return_id INTEGER NOT NULL REFERENCES returns(id) ON DELETE CASCADE,
            section   TEXT NOT NULL,             -- field | compliance | feedback
            name      TEXT NOT NULL,
            value     TEXT NOT NULL,
            PRIMARY KEY (return_id, section, name)
        ) WITHOUT ROWID;

        CREATE TABLE actions (
            id           INTEGER PRIMARY KEY,
            return_id    INTEGER NOT NULL REFERENCES returns(id) ON DELETE CASCADE,
            audit_id     TEXT,
            case_id      TEXT NOT NULL,
            action       TEXT NOT NULL,
            owner        TEXT NOT NULL DEFAULT '',
            due          TEXT,
            completed_on TEXT
        );
        CREATE INDEX actions_open ON actions(completed_on, due);
        CREATE INDEX actions_return ON actions(return_id);

        CREATE TABLE followups (                 -- rules T1-T3, T5, T7, E3, M1
            id               INTEGER PRIMARY KEY,
            kind             TEXT NOT NULL,
            rule             TEXT NOT NULL,
            return_id        INTEGER REFERENCES returns(id) ON DELETE CASCADE,
            audit_id         TEXT,
            case_id          TEXT NOT NULL,
            responsible      TEXT NOT NULL DEFAULT '',
            responsible_role TEXT NOT NULL DEFAULT '',
            due              TEXT NOT NULL,
            detail           TEXT NOT NULL DEFAULT '',
            done_on          TEXT,
            done_by          TEXT,
            note             TEXT NOT NULL DEFAULT '',
            created_at       TEXT NOT NULL
        );
        CREATE INDEX followups_open ON followups(done_on, due);
        CREATE INDEX followups_return ON followups(return_id);

        CREATE TABLE alerts (                    -- rules E1-E3, raised on ingest
            id              INTEGER PRIMARY KEY,
            return_id       INTEGER NOT NULL REFERENCES returns(id) ON DELETE CASCADE,
            rule            TEXT NOT NULL,
            reason          TEXT NOT NULL,
            recipient_role  TEXT NOT NULL,
            recipient_name  TEXT NOT NULL DEFAULT '',
            recipient_email TEXT NOT NULL DEFAULT '',
            created_at      TEXT NOT NULL
        );
        CREATE INDEX alerts_return ON alerts(return_id);

        CREATE TABLE notifications (             -- each message sent once
            id              INTEGER PRIMARY KEY,
            item_key        TEXT NOT NULL,
            level           INTEGER NOT NULL DEFAULT 0,
            recipient_email TEXT NOT NULL,
            recipient_name  TEXT NOT NULL DEFAULT '',
            channel         TEXT NOT NULL,
            message_id      TEXT NOT NULL DEFAULT '',
            sent_at         TEXT NOT NULL,
            UNIQUE (item_key, level, recipient_email)
        );

        CREATE TABLE moderations (               -- rule M1
            id              INTEGER PRIMARY KEY,
            audit_id        TEXT NOT NULL,       -- the moderated audit
            return_id       INTEGER REFERENCES returns(id),
            picked_cycle    TEXT NOT NULL,
            reason          TEXT NOT NULL DEFAULT '',
            moderator       TEXT NOT NULL DEFAULT '',
            auditor_grade   TEXT,
            moderator_grade TEXT,
            note            TEXT NOT NULL DEFAULT '',
            done_on         TEXT,
            UNIQUE (audit_id, picked_cycle)
        );
        """,
    ),
    (
        2,
        "allocations.subject: the person a staff audit is of (supervision, observation)",
        """
        ALTER TABLE allocations ADD COLUMN subject TEXT NOT NULL DEFAULT '';
        CREATE INDEX allocations_subject ON allocations(subject) WHERE subject != '';
        """,
    ),
    (
        3,
        "disputes: a grading dispute of a return and its stage (Haringey 2.11)",
        """
        CREATE TABLE disputes (
            id            INTEGER PRIMARY KEY,
            audit_id      TEXT NOT NULL,
            return_id     INTEGER NOT NULL REFERENCES returns(id),
            stage         INTEGER NOT NULL DEFAULT 0,   -- index into dispute.stage
            stage_started TEXT NOT NULL,
            opened_by     TEXT NOT NULL,
            opened_on     TEXT NOT NULL,
            resolved_on   TEXT,
            outcome       TEXT NOT NULL DEFAULT '',
            note          TEXT NOT NULL DEFAULT ''
        );
        CREATE UNIQUE INDEX disputes_open ON disputes(audit_id) WHERE resolved_on IS NULL;
        """,
    ),
    (
        4,
        "dispute_stages: each stage a dispute went through, from when to when (Haringey 2.11)",
        """
        CREATE TABLE dispute_stages (
            dispute_id INTEGER NOT NULL REFERENCES disputes(id) ON DELETE CASCADE,
            stage      INTEGER NOT NULL,                -- index into dispute.stage
            started_on TEXT NOT NULL,
            ended_on   TEXT,                            -- advanced or resolved on
            PRIMARY KEY (dispute_id, stage)
        ) WITHOUT ROWID;
        INSERT INTO dispute_stages (dispute_id, stage, started_on, ended_on)
            SELECT id, stage, stage_started, resolved_on FROM disputes;
        """,
    ),
    (
        5,
        "ingest's look-ups by index: returns by SurveyMonkey response, safety and "
        "learning-held follow-ups by audit and case",
        """
        CREATE INDEX returns_source ON returns(source_ref) WHERE source_ref != '';
        CREATE INDEX followups_safety ON followups(audit_id, case_id) WHERE kind = 'safety';
        CREATE INDEX followups_learning ON followups(case_id)
            WHERE kind = 'closing-loop-reaudit' AND done_on IS NULL;
        """,
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1][0]

# Orphans (``qaf check``): rows whose owner is gone. Foreign keys prevent most of them while
# they are on, but not rows written with them off (another tool, a restored copy), nor the
# links the schema does not declare.
ORPHAN_QUERIES: tuple[tuple[str, str], ...] = (
    (
        "domain grade(s) without their return",
        "SELECT count(*) FROM domain_grades d "
        "WHERE NOT EXISTS (SELECT 1 FROM returns r WHERE r.id = d.return_id)",
    ),
    (
        "return field(s) without their return",
        "SELECT count(*) FROM return_fields f "
        "WHERE NOT EXISTS (SELECT 1 FROM returns r WHERE r.id = f.return_id)",
    ),
    (
        "action(s) without their return",
        "SELECT count(*) FROM actions a "
        "WHERE NOT EXISTS (SELECT 1 FROM returns r WHERE r.id = a.return_id)",
    ),
    (
        "follow-up(s) without their return",
        "SELECT count(*) FROM followups f WHERE f.return_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.id = f.return_id)",
    ),
    (
        "alert(s) without their return",
        "SELECT count(*) FROM alerts a "
        "WHERE NOT EXISTS (SELECT 1 FROM returns r WHERE r.id = a.return_id)",
    ),
    (
        "allocation(s) of an unknown cycle",
        "SELECT count(*) FROM allocations a "
        "WHERE NOT EXISTS (SELECT 1 FROM cycles c WHERE c.cycle = a.cycle)",
    ),
    (
        "unallocated case(s) of an unknown cycle",
        "SELECT count(*) FROM unallocated u "
        "WHERE NOT EXISTS (SELECT 1 FROM cycles c WHERE c.cycle = u.cycle)",
    ),
    (
        "extension(s) of an unknown allocation",
        "SELECT count(*) FROM extensions e "
        "WHERE NOT EXISTS (SELECT 1 FROM allocations a WHERE a.audit_id = e.audit_id)",
    ),
    (
        "return(s) of an unknown allocation",
        "SELECT count(*) FROM returns r WHERE r.audit_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.audit_id = r.audit_id)",
    ),
    (
        "return(s) from a file the register does not know",
        "SELECT count(*) FROM returns r WHERE r.source_sha256 IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM ingested_files f WHERE f.sha256 = r.source_sha256)",
    ),
    (
        "return(s) superseded by a missing return",
        "SELECT count(*) FROM returns r WHERE r.superseded_by IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM returns n WHERE n.id = r.superseded_by)",
    ),
    (
        "moderation pick(s) of a missing return",
        "SELECT count(*) FROM moderations m WHERE m.return_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.id = m.return_id)",
    ),
    (
        "dispute(s) of a missing return",
        "SELECT count(*) FROM disputes d "
        "WHERE NOT EXISTS (SELECT 1 FROM returns r WHERE r.id = d.return_id)",
    ),
    (
        "dispute stage(s) of a missing dispute",
        "SELECT count(*) FROM dispute_stages h "
        "WHERE NOT EXISTS (SELECT 1 FROM disputes d WHERE d.id = h.dispute_id)",
    ),
)


def iso(d: date | datetime | None) -> str | None:
    return None if d is None else d.isoformat()


def from_iso(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text[:10])


_NOW: tuple[int, str] = (-1, "")  # (whole seconds since the epoch, that second as text)


def _now() -> str:
    """The current local time to the second; worked out once a second (ingest asks for it
    several times per file)."""
    global _NOW
    second = int(time.time())
    if _NOW[0] != second:
        _NOW = (second, datetime.fromtimestamp(second).isoformat(timespec="seconds"))
    return _NOW[1]


class AllocationSnapshot(Mapping[str, Allocation]):
    """Allocations by audit ID as read at one moment, each made an ``Allocation`` only
    when asked for (most of a year's are never looked up by a run)."""

    def __init__(self, rows: dict[str, sqlite3.Row]) -> None:
        self._rows = rows

    def __getitem__(self, audit_id: str) -> Allocation:
        return _allocation(self._rows[audit_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class _Batch:
    """The transaction :meth:`Register.many_transactions` commits every so many savepoints."""

    def __init__(self, register: Register, per_commit: int, seconds: float) -> None:
        self.register, self.per_commit, self.seconds = register, max(1, per_commit), seconds
        self.open = False
        self.released = 0
        self.began = 0.0

    @contextmanager
    def savepoint(self) -> Iterator[sqlite3.Connection]:
        conn = self.register.conn
        if not self.open:
            self.register._begin()
            self.open, self.released, self.began = True, 0, time.monotonic()
        conn.execute("SAVEPOINT qaf_write")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO qaf_write")
            conn.execute("RELEASE qaf_write")
            raise
        conn.execute("RELEASE qaf_write")
        self.released += 1
        if self.released >= self.per_commit or time.monotonic() - self.began >= self.seconds:
            self.commit()

    def commit(self) -> None:
        if self.open:
            self.open = False
            try:
                self.register.conn.execute("COMMIT")
            except sqlite3.Error:  # a full disk: the batch is lost, the connection usable
                with suppress(sqlite3.Error):
                    self.register.conn.execute("ROLLBACK")
                raise


class Register:
    """An open register. Use as a context manager; write inside ``transaction()``."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._batch: _Batch | None = None  # inside many_transactions()

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: Path | str, *, create: bool = True, migrate: bool = True) -> Register:
        path = Path(path)
        if not path.exists():
            if not create:
                raise QafError(
                    f"no register at {path}: run `qaf allocate` (or `qaf demo`) first",
                    file=str(path),
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            # The register holds special-category data: readable by its owner only.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as e:
            raise QafError(f"the register cannot be opened: {e}", file=str(path)) from None
        reg = cls(conn, path)
        if migrate:
            reg.migrate()
        return reg

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all of it lands, or none of it (BEGIN IMMEDIATE). Inside
        :meth:`many_transactions` it is a savepoint of the batch's transaction: still all
        or nothing, committed with the batch."""
        if self._batch is not None:
            with self._batch.savepoint() as conn:
                yield conn
            return
        self._begin()
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _begin(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise QafError(
                f"the register is busy (another qaf command is writing to it): {e}",
                file=str(self.path),
            ) from None

    @contextmanager
    def many_transactions(
        self, pages: int = 8000, *, per_commit: int = 50, seconds: float = 0.25
    ) -> Iterator[None]:
        """Many small transactions in a row (ingest: one per file), committed together:
        each :meth:`transaction` is a savepoint, and the batch is committed every
        ``per_commit`` of them or ``seconds`` after it began, whichever comes first, and on
        the way out (an error included: what was released is whole). A kill loses at most
        the batch in progress, each of its transactions whole or absent (ingest reads
        those files again on its next run). A commit per file cost about a third of the
        storing process's time: every index page it touches written to the WAL each time.

        The WAL is copied back into the database every ``pages`` pages instead of
        SQLite's 1,000, so an index page changed by many transactions is copied once, not
        once per 1,000 pages. Other writers wait for the batch (at most ``seconds`` and a
        file) as for any transaction."""
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
        self._batch = batch = _Batch(self, per_commit, seconds)
        try:
            yield
        finally:
            self._batch = None
            # an abandoned ingest generator may be finalised after close(): nothing to do
            with suppress(sqlite3.ProgrammingError):
                batch.commit()
                self.conn.execute("PRAGMA wal_autocheckpoint = 1000")

    # ----------------------------------------------------------- migrations

    def schema_version(self) -> int:
        row = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
        if row is None:
            return 0
        v = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        return int(v or 0)

    def migrate(self) -> list[int]:
        """Apply the pending numbered migrations, each in its own transaction."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise QafError(
                f"the register is schema version {current}, newer than this qaf "
                f"({SCHEMA_VERSION}): upgrade qaf",
                file=str(self.path),
            )
        pending = [m for m in MIGRATIONS if m[0] > current]
        if not pending:
            return []
        if current > 0:
            self.backup(self.path.with_name(f"{self.path.name}.before-v{pending[0][0]}.bak"))
        applied = []
        for version, description, sql in pending:
            with self.transaction() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, description, _now())
                )
            applied.append(version)
        return applied

    def backup(self, dest: Path | str) -> Path:
        """A consistent copy made with SQLite's online backup API."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(dest)
        try:
            self.conn.backup(target)
        finally:
            target.close()
        os.chmod(dest, 0o600)
        return dest

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` and foreign-key check; empty when all is well."""
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        problems = [] if rows == ["ok"] else rows
        for r in self.conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"orphan row in {r[0]} (rowid {r[1]}) pointing at {r[2]}")
        return problems

    def integrity_findings(self) -> tuple[list[str], list[tuple[str, int]]]:
        """``PRAGMA integrity_check`` messages, and foreign-key violations counted by
        table and parent (for ``qaf check``)."""
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        integrity = [] if rows == ["ok"] else rows
        counts: dict[tuple[str, str], int] = {}
        for r in self.conn.execute("PRAGMA foreign_key_check"):
            counts[(r[0], r[2])] = counts.get((r[0], r[2]), 0) + 1
        foreign = [
            (f"{n} row(s) of {table} point at a missing {parent} row", n)
            for (table, parent), n in sorted(counts.items())
        ]
        return integrity, foreign

    def orphans(self) -> list[tuple[str, int]]:
        """Rows whose owner is missing, as (what, how many), only those found (``qaf check``)."""
        found = []
        for what, sql in ORPHAN_QUERIES:
            n = int(self.conn.execute(sql).fetchone()[0])
            if n:
                found.append((f"{n} {what}", n))
        return found

    # ------------------------------------------------------------ helpers

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # ============================================================ allocate
    # Cycles, allocations, unallocated cases, extensions (rules S1-S3, A1-A4, T6).

    def cycle_exists(self, cycle: str) -> bool:
        return self.scalar("SELECT 1 FROM cycles WHERE cycle = ?", (cycle,)) is not None

    def allocations(self, cycle: str | None = None) -> list[Allocation]:
        if cycle is None:
            rows = self.query("SELECT * FROM allocations ORDER BY cycle, audit_id")
        else:
            rows = self.query(
                "SELECT * FROM allocations WHERE cycle = ? ORDER BY audit_id", (cycle,)
            )
        return [_allocation(r) for r in rows]

    def allocations_due_since(self, day: date) -> AllocationSnapshot:
        """Allocations due on or after ``day`` (by index): the ones returns now refer to."""
        rows = self.query("SELECT * FROM allocations WHERE due >= ?", (day.isoformat(),))
        return AllocationSnapshot({r["audit_id"]: r for r in rows})

    def allocation(self, audit_id: str) -> Allocation | None:
        rows = self.query("SELECT * FROM allocations WHERE audit_id = ?", (audit_id,))
        return _allocation(rows[0]) if rows else None

    def cycle_summary(self, cycle: str) -> dict[str, Any] | None:
        """Seed, sample size and counts of a recorded cycle, or None."""
        rows = self.query("SELECT * FROM cycles WHERE cycle = ?", (cycle,))
        if not rows:
            return None
        r = rows[0]
        return {
            "cycle": r["cycle"],
            "seed": r["seed"],
            "as_of": r["as_of"],
            "eligible": r["eligible"],
            "sample_size": r["sample_size"],
            "arithmetic": r["arithmetic"],
            "theme": r["theme"],
            "allocations": self.scalar(
                "SELECT count(*) FROM allocations WHERE cycle = ?", (cycle,)
            ),
            "returns": self.cycle_return_count(cycle),
        }

    def cycle_return_count(self, cycle: str) -> int:
        """Returns stored against the allocations of a cycle (they block --replace)."""
        return int(
            self.scalar(
                "SELECT count(*) FROM returns WHERE audit_id IN "
                "(SELECT audit_id FROM allocations WHERE cycle = ?)",
                (cycle,),
            )
            or 0
        )

    def unallocated(self, cycle: str) -> list[tuple[str, str]]:
        rows = self.query(
            "SELECT case_id, reason FROM unallocated WHERE cycle = ? ORDER BY rowid", (cycle,)
        )
        return [(r["case_id"], r["reason"]) for r in rows]

    def moderation_picks(self, cycle: str) -> list[sqlite3.Row]:
        return self.query(
            "SELECT * FROM moderations WHERE picked_cycle = ? ORDER BY audit_id", (cycle,)
        )

    def allocation_history(
        self,
        cycle: str,
        *,
        window_months: int,
        reaudit_grades: Sequence[str],
    ) -> History:
        """What allocating ``cycle`` needs from earlier cycles (rules S3, A4, M1).

        * cases allocated or returned in the ``window_months`` cycles before ``cycle``;
        * the latest current (not superseded) return of every case whose overall grade
          is one of ``reaudit_grades``, and the audit IDs already re-audited in other
          cycles;
        * the previous recorded cycle's current returns, with earlier cycles' returns stored
          since the previous cycle was allocated (late returns), and audit IDs moderated before.
        """
        from qaf.allocate import History, PriorReturn
        from qaf.calendar import shift_cycle

        recent: set[str] = set()
        if window_months > 0:
            since = shift_cycle(cycle, -window_months)
            for (case_id,) in self.conn.execute(
                "SELECT DISTINCT case_id FROM allocations WHERE cycle >= ? AND cycle < ? "
                "AND type != 'moderation' "
                "UNION SELECT DISTINCT case_id FROM returns WHERE superseded_by IS NULL "
                "AND COALESCE(cycle, substr(COALESCE(audit_date, received_on), 1, 7)) >= ? "
                "AND COALESCE(cycle, substr(COALESCE(audit_date, received_on), 1, 7)) < ?",
                (since, cycle, since, cycle),
            ):
                recent.add(case_id)

        def prior(r: sqlite3.Row) -> PriorReturn:
            return PriorReturn(
                return_id=r["id"],
                audit_id=r["audit_id"],
                case_id=r["case_id"],
                cycle=r["rcycle"],
                overall=r["overall"],
                reaudit_round=r["reaudit_round"],
                auditor=r["auditor"],
                type=r["type"],
                team=r["team"],
                worker=r["worker"],
                tool=r["tool"] or "",
            )

        grades = list(reaudit_grades)
        marks = ",".join("?" for _ in grades) or "NULL"
        latest = self.query(
            "SELECT * FROM (SELECT r.*, "
            "COALESCE(r.cycle, substr(COALESCE(r.audit_date, r.received_on), 1, 7)) AS rcycle, "
            "ROW_NUMBER() OVER (PARTITION BY r.case_id ORDER BY "
            "COALESCE(r.cycle, substr(COALESCE(r.audit_date, r.received_on), 1, 7)) DESC, "
            "r.received_on DESC, r.id DESC) AS rn "
            "FROM returns r WHERE r.superseded_by IS NULL AND r.type IN ('audit', 'reaudit') "
            "AND COALESCE(r.cycle, substr(COALESCE(r.audit_date, r.received_on), 1, 7)) < ?) "
            f"WHERE rn = 1 AND overall IN ({marks})",
            (cycle, *grades),
        )
        reaudited = {
            r[0]
            for r in self.conn.execute(
                "SELECT reaudit_of FROM allocations WHERE reaudit_of IS NOT NULL AND cycle != ?",
                (cycle,),
            )
        }
        previous = self.scalar("SELECT max(cycle) FROM cycles WHERE cycle < ?", (cycle,))
        previous_returns: list[sqlite3.Row] = []
        if previous:
            # the previous cycle's returns, and earlier cycles' returns stored after the
            # previous cycle was allocated (late ones its moderation draw could not see)
            previous_returns = self.query(
                "SELECT * FROM (SELECT r.*, "
                "COALESCE(r.cycle, substr(COALESCE(r.audit_date, r.received_on), 1, 7)) AS rcycle "
                "FROM returns r WHERE r.superseded_by IS NULL "
                "AND r.type IN ('audit', 'reaudit')) AS x "
                "WHERE x.rcycle = ? OR (x.rcycle < ? AND EXISTS (SELECT 1 FROM cycles c "
                "WHERE c.cycle = ? AND (x.created_at > c.created_at OR x.received_on > c.as_of))) "
                "ORDER BY x.id",
                (previous, previous, previous),
            )
        moderated = {
            r[0]
            for r in self.conn.execute(
                "SELECT audit_id FROM moderations WHERE picked_cycle != ?", (cycle,)
            )
        }
        return History(
            recently_audited=frozenset(recent),
            reaudit_candidates=tuple(prior(r) for r in latest),
            reaudited=frozenset(reaudited),
            previous_cycle=previous,
            previous_returns=tuple(prior(r) for r in previous_returns),
            already_moderated=frozenset(moderated),
        )

    def allocation_counts(self, since: str, before: str) -> list[tuple[str, str, str, int]]:
        """(cycle, auditor, tool, allocations) of the audits allocated in the cycles from
        ``since`` up to ``before`` (excluded): what quarter and year quotas have had (A1)."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self.conn.execute(
                "SELECT cycle, auditor, tool, count(*) FROM allocations "
                "WHERE cycle >= ? AND cycle < ? AND type = 'audit' "
                "GROUP BY cycle, auditor, tool ORDER BY cycle, auditor, tool",
                (since, before),
            )
        ]

    def subject_counts(self, since: str, before: str) -> list[tuple[str, str, str, int]]:
        """(cycle, subject, tool, allocations) of the staff audits allocated in the cycles from
        ``since`` up to ``before`` (excluded): who has been audited or observed (GAPS 7)."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self.conn.execute(
                "SELECT cycle, subject, tool, count(*) FROM allocations "
                "WHERE subject != '' AND cycle >= ? AND cycle < ? "
                "GROUP BY cycle, subject, tool ORDER BY cycle, subject, tool",
                (since, before),
            )
        ]

    def record_cycle(self, result: AllocationResult, *, as_of: date, replace: bool = False) -> None:
        """Cycle, seed, arithmetic, allocations, unallocated cases and moderation picks,
        in ONE transaction (rules S2, A1-A4, M1). ``replace`` deletes the cycle's earlier
        record first, in the same transaction; without it an existing cycle is refused.
        """
        cycle = result.cycle
        now = _now()
        with self.transaction() as conn:
            exists = conn.execute("SELECT 1 FROM cycles WHERE cycle = ?", (cycle,)).fetchone()
            if exists and not replace:
                raise QafError(
                    f"cycle {cycle} is already allocated: use --replace to redo it", rule="S2"
                )
            if exists:
                conn.execute("DELETE FROM moderations WHERE picked_cycle = ?", (cycle,))
                conn.execute("DELETE FROM unallocated WHERE cycle = ?", (cycle,))
                conn.execute("DELETE FROM allocations WHERE cycle = ?", (cycle,))
                conn.execute("DELETE FROM cycles WHERE cycle = ?", (cycle,))
            a = result.arithmetic
            conn.execute(
                "INSERT INTO cycles (cycle, seed, created_at, as_of, eligible, sample_size, "
                "arithmetic, theme) VALUES (?,?,?,?,?,?,?,?)",
                (cycle, result.seed, now, as_of.isoformat(), a.eligible, a.size, a.words, a.theme),
            )
            conn.executemany(
                "INSERT INTO allocations (audit_id, cycle, case_id, team, service, category, "
                "worker, auditor, auditor_email, auditor_role, tool, type, due, reaudit_of, "
                "reaudit_round, moderates, created_at, subject) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        x.audit_id,
                        x.cycle,
                        x.case_id,
                        x.team,
                        x.service,
                        x.category,
                        x.worker,
                        x.auditor,
                        x.auditor_email,
                        x.auditor_role,
                        x.tool,
                        x.type,
                        x.due.isoformat(),
                        x.reaudit_of,
                        x.reaudit_round,
                        x.moderates,
                        now,
                        x.subject,
                    )
                    for x in result.allocations
                ],
            )
            conn.executemany(
                "INSERT INTO unallocated (cycle, case_id, reason) VALUES (?,?,?)",
                [(cycle, u.case_id, u.reason) for u in result.unallocated],
            )
            conn.executemany(
                "INSERT INTO moderations (audit_id, return_id, picked_cycle, reason, moderator, "
                "auditor_grade) VALUES (?,?,?,?,?,?)",
                [
                    (m.audit_id, m.return_id, cycle, m.reason, m.moderator, m.overall)
                    for m in result.moderation
                ],
            )

    # --- end allocate section

    # ============================================================ ingest
    # Ingested files, returns, domain grades, fields, actions, alerts (rules G1-G5, E1-E3).

    def file_ingested(self, sha256: str) -> bool:
        return self.scalar("SELECT 1 FROM ingested_files WHERE sha256 = ?", (sha256,)) is not None

    def allocations_of_subject(self, subject: str) -> list[Allocation]:
        """The staff audits of a person (GAPS 7), matched case- and space-insensitively."""
        from qaf.grades import normalise

        rows = self.query("SELECT * FROM allocations WHERE subject != ''")
        return [_allocation(r) for r in rows if normalise(r["subject"]) == normalise(subject)]

    def allocations_of_case(self, case_id: str) -> list[Allocation]:
        rows = self.query("SELECT * FROM allocations WHERE case_id = ?", (case_id,))
        return [_allocation(r) for r in rows]

    def current_return_id(self, audit_id: str) -> int | None:
        """The return of an audit that is not superseded, if any."""
        return self.scalar(
            "SELECT id FROM returns WHERE audit_id = ? AND superseded_by IS NULL "
            "ORDER BY id DESC LIMIT 1",
            (audit_id,),
        )

    def allocated_audit_id(self, text: str) -> str | None:
        """The allocated audit ID ``text`` names, whatever its case (an ID typed by hand)."""
        return self.scalar(
            "SELECT audit_id FROM allocations WHERE audit_id = ? COLLATE NOCASE "
            "ORDER BY audit_id = ? DESC LIMIT 1",
            (text, text),
        )

    def return_received_on(self, return_id: int) -> date | None:
        return from_iso(self.scalar("SELECT received_on FROM returns WHERE id = ?", (return_id,)))

    def return_overall(self, return_id: int) -> str | None:
        return self.scalar("SELECT overall FROM returns WHERE id = ?", (return_id,))

    def previous_return(
        self, case_id: str, *, exclude_audit_id: str | None
    ) -> tuple[int, str | None] | None:
        """The latest current return of a case from another audit: (id, overall)."""
        row = self.conn.execute(
            "SELECT id, overall FROM returns WHERE case_id = ? AND superseded_by IS NULL "
            "AND (audit_id IS NULL OR audit_id IS NOT ?) ORDER BY received_on DESC, id DESC "
            "LIMIT 1",
            (case_id, exclude_audit_id),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def current_and_previous(
        self, audit_id: str | None, case_id: str
    ) -> tuple[int | None, tuple[int, str | None] | None]:
        """``current_return_id(audit_id)`` (None without an audit ID) and
        ``previous_return(case_id, exclude_audit_id=audit_id)`` in one statement: what
        storing a return asks the register (ingest)."""
        current: int | None = None
        previous: tuple[int, str | None] | None = None
        for which, rid, overall in self.conn.execute(
            "SELECT 0, id, NULL FROM (SELECT id FROM returns WHERE audit_id = ? "
            "AND superseded_by IS NULL ORDER BY id DESC LIMIT 1) "
            "UNION ALL SELECT 1, id, overall FROM (SELECT id, overall FROM returns "
            "WHERE case_id = ? AND superseded_by IS NULL "
            "AND (audit_id IS NULL OR audit_id IS NOT ?) ORDER BY received_on DESC, id DESC "
            "LIMIT 1)",
            (audit_id, case_id, audit_id),
        ):
            if which == 0:
                current = rid
            else:
                previous = (rid, overall)
        return current, previous

    def return_by_source(self, ref: str, audit_id: str | None) -> tuple[int, str] | None:
        """A current return read from the same SurveyMonkey response: (id, response hash)."""
        row = self.conn.execute(
            "SELECT r.id, coalesce(f.value, '') FROM returns r LEFT JOIN return_fields f "
            "ON f.return_id = r.id AND f.section = 'source' AND f.name = 'response_sha256' "
            "WHERE r.source_ref = ? AND r.source_ref != '' AND r.superseded_by IS NULL "
            "AND (r.audit_id IS ? OR ? IS NULL) ORDER BY r.id DESC LIMIT 1",
            (ref, audit_id, audit_id),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def record_file(
        self, conn: sqlite3.Connection, sha256: str, path: str, kind: str, returns: int
    ) -> None:
        conn.execute(
            "INSERT INTO ingested_files (sha256, path, kind, ingested_at, returns) "
            "VALUES (?,?,?,?,?)",
            (sha256, path, kind, _now(), returns),
        )

    def insert_return(
        self,
        conn: sqlite3.Connection,
        ret: Any,
        *,
        sha256: str,
        path: str,
        previous_return_id: int | None,
        movement: str | None,
        row_sha: str = "",
    ) -> int:
        """Store a validated ``qaf.ingest.Return`` with its grades, fields and actions."""
        now = _now()
        cur = conn.execute(
            "INSERT INTO returns (audit_id, case_id, cycle, tool, type, auditor, auditor_role, "
            "team, service, category, worker, audit_date, received_on, due, overall, "
            "overall_before, overall_rationale, summary, safety_concern, safety_note, "
            "reaudit_round, previous_return_id, movement, unallocated, source_sha256, "
            "source_path, source_ref, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                ret.audit_id,
                ret.case_id,
                ret.cycle,
                ret.tool,
                ret.type,
                ret.auditor,
                ret.auditor_role,
                ret.team,
                ret.service,
                ret.category,
                ret.worker,
                iso(ret.audit_date),
                iso(ret.received_on),
                iso(ret.due),
                ret.overall,
                ret.overall_before,
                ret.overall_rationale,
                ret.summary,
                int(ret.safety_concern),
                ret.safety_note,
                ret.reaudit_round,
                previous_return_id,
                movement,
                int(ret.unallocated),
                sha256,
                path,
                ret.source_ref,
                now,
            ),
        )
        rid = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO domain_grades (return_id, domain_id, grade, grade_before, na, rationale) "
            "VALUES (?,?,?,?,?,?)",
            [
                (rid, g.domain_id, g.grade, g.grade_before, int(g.na), g.rationale)
                for g in ret.grades
            ],
        )
        fields = list(ret.fields)
        if ret.unallocated and ret.given_audit_id:
            fields.append(("source", "audit_id_given", ret.given_audit_id))
        if row_sha:
            fields.append(("source", "response_sha256", row_sha))
        conn.executemany(
            "INSERT OR IGNORE INTO return_fields (return_id, section, name, value) "
            "VALUES (?,?,?,?)",
            [(rid, sec, name, value) for sec, name, value in fields],
        )
        if not ret.actions:
            return rid
        conn.executemany(
            "INSERT INTO actions (return_id, audit_id, case_id, action, owner, due) "
            "VALUES (?,?,?,?,?,?)",
            [(rid, ret.audit_id, ret.case_id, a.action, a.owner, iso(a.due)) for a in ret.actions],
        )
        return rid

    def supersede(self, conn: sqlite3.Connection, old_id: int, new_id: int, on: date) -> None:
        """A corrected re-submission replaces a return; the old one stays as history.

        Its open follow-ups are closed (the new return brings its own), noting why.
        """
        conn.execute("UPDATE returns SET superseded_by = ? WHERE id = ?", (new_id, old_id))
        conn.execute(
            "UPDATE followups SET done_on = ?, done_by = 'qaf', note = ? "
            "WHERE return_id = ? AND done_on IS NULL",
            (on.isoformat(), f"superseded by return {new_id}", old_id),
        )

    def close_learning_held(
        self, conn: sqlite3.Connection, case_id: str, return_id: int, audit_id: str | None, on: date
    ) -> None:
        """Rule T7: a re-audit return of the case closes its open learning-held follow-ups
        ("closing-loop-reaudit") raised by earlier returns."""
        conn.execute(
            "UPDATE followups SET done_on = ?, done_by = 'qaf', note = ? "
            "WHERE kind = 'closing-loop-reaudit' AND case_id = ? AND done_on IS NULL "
            "AND return_id <> ?",
            (on.isoformat(), f"re-audit {audit_id or return_id} returned", case_id, return_id),
        )

    def add_alerts(self, conn: sqlite3.Connection, return_id: int, alerts: Iterable[Any]) -> None:
        """Store ``qaf.records.Alert`` values raised by a return (rules E1-E3)."""
        alerts = list(alerts)
        if not alerts:  # most returns: no statement at all
            return
        now = _now()
        conn.executemany(
            "INSERT INTO alerts (return_id, rule, reason, recipient_role, recipient_name, "
            "recipient_email, created_at) VALUES (?,?,?,?,?,?,?)",
            [
                (
                    return_id,
                    a.rule,
                    a.reason,
                    a.recipient_role,
                    a.recipient_name,
                    a.recipient_email,
                    now,
                )
                for a in alerts
            ],
        )

    # --- safety concerns of returns not stored (rule E3)
    # A return rejected for form errors may still say the child is not safe: its "safety"
    # follow-up is stored without a return (return_id NULL), keyed by audit ID (or, for an
    # return matching no allocation, by case ID), and adopted by the return once one is accepted.

    @staticmethod
    def _safety_key(audit_id: str | None, case_id: str) -> tuple[str, tuple[str, ...]]:
        # one raised for the case by a return matching no allocation counts for its audit too
        if audit_id:
            return "(audit_id = ? OR (audit_id IS NULL AND case_id = ?))", (audit_id, case_id)
        return "audit_id IS NULL AND case_id = ?", (case_id,)

    def safety_followup_due(self, audit_id: str | None, case_id: str) -> date | None:
        """When a safety concern of this audit (or unallocated case) was first raised, if ever."""
        # the two halves of _safety_key, each a search of the followups_safety index
        by_case = (
            "SELECT due FROM followups WHERE kind = 'safety' AND audit_id IS NULL AND case_id = ?"
        )
        if audit_id:
            sql = (
                f"SELECT min(due) FROM (SELECT due FROM followups WHERE kind = 'safety' "
                f"AND audit_id = ? UNION ALL {by_case})"
            )
            params: tuple[str, ...] = (audit_id, case_id)
        else:
            sql, params = f"SELECT min(due) FROM ({by_case})", (case_id,)
        return from_iso(self.scalar(sql, params))

    def unstored_safety_followup(self, audit_id: str | None, case_id: str) -> int | None:
        """The safety follow-up raised by a rejected return of this audit, not yet adopted."""
        where, params = self._safety_key(audit_id, case_id)
        found = self.scalar(
            "SELECT min(id) FROM followups "
            f"WHERE kind = 'safety' AND return_id IS NULL AND {where}",
            params,
        )
        return None if found is None else int(found)

    def adopt_followup(
        self, conn: sqlite3.Connection, followup_id: int, return_id: int, audit_id: str | None
    ) -> None:
        conn.execute(
            "UPDATE followups SET return_id = ?, audit_id = COALESCE(audit_id, ?) WHERE id = ?",
            (return_id, audit_id, followup_id),
        )

    # --- end ingest section

    # ============================================================ overdue
    # Follow-ups, notifications sent, extensions and closures (rules T1-T7, E3).

    def add_followups(self, conn: sqlite3.Connection, followups: Iterable[FollowUp]) -> None:
        followups = list(followups)
        if not followups:
            return
        now = _now()
        conn.executemany(
            "INSERT INTO followups (kind, rule, return_id, audit_id, case_id, responsible, "
            "responsible_role, due, detail, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    f.kind,
                    f.rule,
                    f.return_id,
                    f.audit_id,
                    f.case_id,
                    f.responsible,
                    f.responsible_role,
                    f.due.isoformat(),
                    f.detail,
                    now,
                )
                for f in followups
            ],
        )

    def open_followups(self) -> list[FollowUp]:
        rows = self.query("SELECT * FROM followups WHERE done_on IS NULL ORDER BY due, id")
        return [_followup(r) for r in rows]

    def pending(self, as_of: date, moderation_due: Callable[[str], date]) -> list[Pending]:
        """Everything not done on ``as_of``: one query per kind, no query per item.

        * allocations with no return received by ``as_of`` (deadline = the latest extension
          agreed by then, else the allocation's due date), due before ``as_of``;
        * follow-ups due by ``as_of`` and not done by then (those of a superseded return
          are left out: the superseding return's follow-ups replace them);
        * moderations picked and not done that have no allocation of their own (an
          allocated moderation is chased as a late return); ``moderation_due(cycle)``
          gives their deadline.
        """
        from qaf.escalate import LATE_RETURN, MODERATION, Pending

        day = as_of.isoformat()
        out: list[Pending] = []
        rows = self.conn.execute(
            """
            SELECT * FROM (
                SELECT a.audit_id, a.case_id, a.team, a.service, a.category, a.worker,
                       a.auditor, a.auditor_role, a.type,
                       COALESCE((SELECT e.new_due FROM extensions e
                                 WHERE e.audit_id = a.audit_id AND e.agreed_on <= :day
                                 ORDER BY e.id DESC LIMIT 1), a.due) AS deadline
                FROM allocations a
                WHERE a.due < :day
                  AND NOT EXISTS (SELECT 1 FROM returns r
                                  WHERE r.audit_id = a.audit_id AND r.received_on <= :day)
            ) WHERE deadline < :day
            """,
            {"day": day},
        )
        for r in rows:
            rule = {"moderation": "M1", "reaudit": "A4"}.get(r["type"], "T4")
            out.append(
                Pending(
                    kind=LATE_RETURN,
                    ref=r["audit_id"],
                    rule=f"T4 ({rule})" if rule != "T4" else "T4",
                    audit_id=r["audit_id"],
                    case_id=r["case_id"],
                    due=date.fromisoformat(r["deadline"]),
                    responsible=r["auditor"],
                    responsible_role=r["auditor_role"] or "Auditor",
                    team=r["team"],
                    service=r["service"],
                    category=r["category"],
                    worker=r["worker"],
                    auditor=r["auditor"],
                    detail=f"{r['type']} not returned",
                )
            )
        rows = self.conn.execute(
            """
            SELECT f.id, f.kind, f.rule, f.audit_id, f.case_id, f.responsible,
                   f.responsible_role, f.due, f.detail,
                   COALESCE(r.team, a.team, '') AS team,
                   COALESCE(r.service, a.service, '') AS service,
                   COALESCE(r.category, a.category, '') AS category,
                   COALESCE(r.worker, a.worker, '') AS worker,
                   COALESCE(r.auditor, a.auditor, '') AS auditor
            FROM followups f
            LEFT JOIN returns r ON r.id = f.return_id
            LEFT JOIN allocations a ON a.audit_id = f.audit_id
            WHERE f.due <= :day AND (f.done_on IS NULL OR f.done_on > :day)
              AND r.superseded_by IS NULL
            """,
            {"day": day},
        )
        for r in rows:
            out.append(
                Pending(
                    kind=r["kind"],
                    ref=str(r["id"]),
                    rule=r["rule"],
                    audit_id=r["audit_id"],
                    case_id=r["case_id"],
                    due=date.fromisoformat(r["due"]),
                    responsible=r["responsible"],
                    responsible_role=r["responsible_role"],
                    team=r["team"],
                    service=r["service"],
                    category=r["category"],
                    worker=r["worker"],
                    auditor=r["auditor"],
                    detail=r["detail"],
                )
            )
        rows = self.conn.execute(
            """
            SELECT m.audit_id, m.picked_cycle, m.moderator, m.reason,
                   COALESCE(a.case_id, r.case_id, '') AS case_id,
                   COALESCE(a.team, r.team, '') AS team,
                   COALESCE(a.service, r.service, '') AS service,
                   COALESCE(a.category, r.category, '') AS category,
                   COALESCE(a.worker, r.worker, '') AS worker,
                   COALESCE(a.auditor, r.auditor, '') AS auditor
            FROM moderations m
            LEFT JOIN allocations a ON a.audit_id = m.audit_id
            LEFT JOIN returns r ON r.id = m.return_id
            WHERE (m.done_on IS NULL OR m.done_on > :day)
              AND NOT EXISTS (SELECT 1 FROM allocations x
                              WHERE x.moderates = m.audit_id AND x.cycle = m.picked_cycle)
            """,
            {"day": day},
        )
        for r in rows:
            out.append(
                Pending(
                    kind=MODERATION,
                    ref=f"{r['audit_id']}@{r['picked_cycle']}",
                    rule="M1",
                    audit_id=r["audit_id"],
                    case_id=r["case_id"],
                    due=moderation_due(r["picked_cycle"]),
                    responsible=r["moderator"] or "QA Officer",
                    responsible_role="QA Officer",
                    team=r["team"],
                    service=r["service"],
                    category=r["category"],
                    worker=r["worker"],
                    auditor=r["auditor"],
                    detail="moderate the audit" + (f" ({r['reason']})" if r["reason"] else ""),
                )
            )
        return out

    def late_return_deadlines(self, as_of: date, months: int = 24) -> dict[str, list[date]]:
        """Auditor -> deadlines (extension included) in the ``months`` before ``as_of`` of
        their allocations returned after the deadline or not returned by ``as_of`` (a repeat
        late return, Haringey 2.15)."""
        from dateutil.relativedelta import relativedelta

        day = as_of.isoformat()
        since = (as_of - relativedelta(months=months)).isoformat()
        out: dict[str, list[date]] = {}
        rows = self.conn.execute(
            """
            SELECT auditor, deadline FROM (
                SELECT a.auditor,
                       COALESCE((SELECT e.new_due FROM extensions e
                                 WHERE e.audit_id = a.audit_id AND e.agreed_on <= :day
                                 ORDER BY e.id DESC LIMIT 1), a.due) AS deadline,
                       (SELECT min(r.received_on) FROM returns r
                        WHERE r.audit_id = a.audit_id AND r.received_on <= :day) AS first_in
                FROM allocations a
                WHERE a.due >= :since AND a.due < :day
            ) WHERE (first_in IS NULL AND deadline < :day) OR first_in > deadline
            ORDER BY auditor, deadline
            """,
            {"day": day, "since": since},
        )
        for auditor, deadline in rows:
            out.setdefault(auditor, []).append(date.fromisoformat(deadline))
        return out

    def deadline(self, audit_id: str) -> tuple[Allocation, date, bool] | None:
        """(allocation, current deadline after extensions, returned?) or None when unknown."""
        alloc = self.allocation(audit_id)
        if alloc is None:
            return None
        new_due = self.scalar(
            "SELECT new_due FROM extensions WHERE audit_id = ? ORDER BY id DESC LIMIT 1",
            (audit_id,),
        )
        returned = self.scalar("SELECT 1 FROM returns WHERE audit_id = ? LIMIT 1", (audit_id,))
        return alloc, from_iso(new_due) or alloc.due, returned is not None

    def add_extension(
        self, audit_id: str, old_due: date, new_due: date, agreed_by: str, agreed_on: date
    ) -> int:
        """Rule T6: record an agreed extension (checked by escalate.check_extension)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO extensions (audit_id, old_due, new_due, agreed_by, agreed_on) "
                "VALUES (?,?,?,?,?)",
                (audit_id, old_due.isoformat(), new_due.isoformat(), agreed_by, iso(agreed_on)),
            )
            return int(cur.lastrowid or 0)

    def extensions(self, audit_id: str) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM extensions WHERE audit_id = ? ORDER BY id", (audit_id,))

    def followup(self, followup_id: int) -> tuple[FollowUp, str] | None:
        """A follow-up and who closed it ('' when open), or None."""
        rows = self.query("SELECT * FROM followups WHERE id = ?", (followup_id,))
        return (_followup(rows[0]), rows[0]["done_by"] or "") if rows else None

    def close_followup(self, followup_id: int, on: date, by: str, note: str) -> None:
        """Mark a follow-up done; an "action" follow-up also completes its row in actions."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE followups SET done_on = ?, done_by = ?, note = ? WHERE id = ?",
                (on.isoformat(), by, note, followup_id),
            )
            row = conn.execute(
                "SELECT kind, return_id, detail FROM followups WHERE id = ?", (followup_id,)
            ).fetchone()
            if row is not None and row["kind"] == "action" and row["return_id"] is not None:
                conn.execute(
                    "UPDATE actions SET completed_on = ? WHERE id = (SELECT id FROM actions "
                    "WHERE return_id = ? AND completed_on IS NULL AND "
                    "(action = ? OR ? LIKE action || ' (no date given%') ORDER BY id LIMIT 1)",
                    (on.isoformat(), row["return_id"], row["detail"], row["detail"]),
                )

    def request_amendments(
        self, qa_check_id: int, on: date, by: str, note: str, amendments: FollowUp
    ) -> int:
        """Rule T1: close the QA check and open the amendments follow-up, in one transaction;
        returns the new follow-up's id."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE followups SET done_on = ?, done_by = ?, note = ? WHERE id = ?",
                (on.isoformat(), by, note, qa_check_id),
            )
            self.add_followups(conn, [amendments])
            return int(conn.execute("SELECT max(id) FROM followups").fetchone()[0])

    def moderation(self, audit_id: str, cycle: str) -> sqlite3.Row | None:
        rows = self.query(
            "SELECT * FROM moderations WHERE audit_id = ? AND picked_cycle = ?", (audit_id, cycle)
        )
        return rows[0] if rows else None

    def close_moderation(self, audit_id: str, cycle: str, on: date, note: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE moderations SET done_on = ?, note = ? WHERE audit_id = ? "
                "AND picked_cycle = ?",
                (on.isoformat(), note, audit_id, cycle),
            )

    def notifications_sent(self, item_keys: Iterable[str]) -> set[tuple[str, int, str]]:
        """(item key, level, recipient e-mail) already sent, for the given items (one query)."""
        keys = sorted(set(item_keys))
        if not keys:
            return set()
        rows = self.conn.execute(
            "SELECT item_key, level, recipient_email FROM notifications "
            "WHERE item_key IN (SELECT value FROM json_each(?))",
            (json.dumps(keys),),
        )
        return {(r[0], int(r[1]), r[2].casefold()) for r in rows}

    def record_notifications(
        self, rows: Iterable[tuple[str, int, str, str, str, str]], sent_at: datetime | None = None
    ) -> None:
        """Record sent messages: (item key, level, email, name, channel, message id)."""
        at = (sent_at or datetime.now()).isoformat(timespec="seconds")
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO notifications (item_key, level, recipient_email, "
                "recipient_name, channel, message_id, sent_at) VALUES (?,?,?,?,?,?,?)",
                [(k, lv, e.casefold(), n, ch, mid, at) for k, lv, e, n, ch, mid in rows],
            )

    def notifications(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM notifications ORDER BY id")

    def unsent_alerts(self, since: date, until: date) -> list[RaisedAlert]:
        """Alerts (rules E1-E3) of current returns received from ``since`` to ``until``
        never mailed under their key ``alert:<id>``. An alert already mailed for an earlier
        return of the same audit (same rule, reason and recipient) counts as sent: a
        corrected re-submission does not tell the same news twice."""
        from qaf.escalate import RaisedAlert

        rows = self.conn.execute(
            """
            SELECT al.id, al.rule, al.reason, al.recipient_role, al.recipient_name,
                   al.recipient_email, r.audit_id, r.case_id, r.overall, r.received_on
            FROM returns r JOIN alerts al ON al.return_id = r.id
            WHERE r.received_on >= :since AND r.received_on <= :until
              AND r.superseded_by IS NULL
              AND NOT EXISTS (SELECT 1 FROM notifications n
                              WHERE n.item_key = 'alert:' || al.id)
              AND NOT EXISTS (SELECT 1 FROM returns p
                              JOIN alerts pa ON pa.return_id = p.id
                              JOIN notifications n ON n.item_key = 'alert:' || pa.id
                              WHERE r.audit_id IS NOT NULL AND p.audit_id = r.audit_id
                                AND p.id <> r.id AND pa.rule = al.rule
                                AND pa.reason = al.reason
                                AND pa.recipient_email = al.recipient_email)
            ORDER BY r.received_on, al.id
            """,
            {"since": since.isoformat(), "until": until.isoformat() + "~"},
        )
        return [
            RaisedAlert(
                id=int(r[0]),
                rule=r[1],
                reason=r[2],
                recipient_role=r[3],
                recipient_name=r[4],
                recipient_email=r[5],
                audit_id=r[6],
                case_id=r[7],
                overall=r[8],
                received_on=date.fromisoformat(r[9][:10]),
            )
            for r in rows
        ]

    # Test and demo helpers: allocations and returns written straight into their tables
    # (the allocate and ingest sections own the real writers).

    def overdue_fixture_allocations(self, allocations: Iterable[Allocation]) -> None:
        now = _now()
        with self.transaction() as conn:
            for a in allocations:
                conn.execute(
                    "INSERT OR IGNORE INTO cycles (cycle, seed, created_at, as_of) "
                    "VALUES (?, 0, ?, ?)",
                    (a.cycle, now, now),
                )
                conn.execute(
                    "INSERT INTO allocations (audit_id, cycle, case_id, team, service, "
                    "category, worker, auditor, auditor_email, auditor_role, tool, type, due, "
                    "reaudit_of, reaudit_round, moderates, created_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        a.audit_id,
                        a.cycle,
                        a.case_id,
                        a.team,
                        a.service,
                        a.category,
                        a.worker,
                        a.auditor,
                        a.auditor_email,
                        a.auditor_role,
                        a.tool,
                        a.type,
                        a.due.isoformat(),
                        a.reaudit_of,
                        a.reaudit_round,
                        a.moderates,
                        now,
                    ),
                )

    def overdue_fixture_return(
        self,
        conn: sqlite3.Connection,
        allocation: Allocation,
        received_on: date,
        overall: str | None,
        actions: Sequence[tuple[str, str, date | None]] = (),
        safety_concern: bool = False,
    ) -> int:
        """A minimal return row (and its actions) for an allocation; returns its id."""
        a = allocation
        cur = conn.execute(
            "INSERT INTO returns (audit_id, case_id, cycle, tool, type, auditor, auditor_role, "
            "team, service, category, worker, received_on, due, overall, safety_concern, "
            "reaudit_round, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                a.audit_id,
                a.case_id,
                a.cycle,
                a.tool,
                a.type,
                a.auditor,
                a.auditor_role,
                a.team,
                a.service,
                a.category,
                a.worker,
                received_on.isoformat(),
                a.due.isoformat(),
                overall,
                int(safety_concern),
                a.reaudit_round,
                _now(),
            ),
        )
        return_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO actions (return_id, audit_id, case_id, action, owner, due) "
            "VALUES (?,?,?,?,?,?)",
            [(return_id, a.audit_id, a.case_id, t, o, iso(d)) for t, o, d in actions],
        )
        return return_id

    # --- end overdue section

    # ============================================================ report
    # Read-only aggregates for reports and the tracker export (rules P1-P3), and the
    # moderator's grade (rule M1). Every query reads only the periods asked for:
    # ``cycle IN (...)`` on the cycle indexes, ``received_on BETWEEN`` for returns that
    # carry no cycle. Returns received, actions completed, follow-ups done and
    # moderations recorded after ``as_of`` are treated as not (yet) happened.

    def returns_received_after(self, cycles: Sequence[str], as_of: date) -> int:
        """Current returns of ``cycles`` received after ``as_of``: what an as-of report leaves
        out (said in the summary, so a pack run with an early --as-of is not taken as all)."""
        if not cycles:
            return 0
        marks = ",".join("?" * len(cycles))
        return int(
            self.scalar(
                "SELECT count(*) FROM returns WHERE superseded_by IS NULL "
                f"AND cycle IN ({marks}) AND received_on > ? AND type IN ('audit','reaudit')",
                (*cycles, as_of.isoformat()),
            )
            or 0
        )

    def report_rows(self, scope: ReportScope) -> ReportRows:
        """Everything a report needs for one period, plus per-cycle figures for trends."""
        cyc = list(scope.cycles)
        marks = ",".join("?" * len(cyc)) or "NULL"
        as_of = scope.as_of.isoformat()
        start, end = scope.start.isoformat(), scope.end.isoformat()
        # current returns of the period (audits and re-audits): two index searches
        # (by cycle, and by date for returns without a cycle) rather than one OR
        self.conn.execute("DROP TABLE IF EXISTS temp.report_ids")
        self.conn.execute("CREATE TEMP TABLE report_ids (id INTEGER PRIMARY KEY)")
        self.conn.execute(
            "INSERT INTO temp.report_ids SELECT r.id FROM returns r "
            f"WHERE r.superseded_by IS NULL AND r.cycle IN ({marks}) AND r.received_on <= ? "
            "AND r.type IN ('audit','reaudit') "
            "UNION SELECT r.id FROM returns r WHERE r.superseded_by IS NULL AND r.cycle IS NULL "
            "AND r.received_on BETWEEN ? AND ? AND r.received_on <= ? "
            "AND r.type IN ('audit','reaudit')",
            [*cyc, as_of, start, end, as_of],
        )
        try:
            returns = self.query(
                "SELECT r.id, r.audit_id, r.case_id, r.cycle, r.tool, r.type, r.auditor_role, "
                "r.team, r.service, r.category, r.received_on, r.overall, r.overall_rationale, "
                "r.summary, r.safety_concern, r.reaudit_round, r.movement, r.worker, r.auditor, "
                f"{_STAFF_RETURN} AS staff "
                "FROM temp.report_ids i CROSS JOIN returns r ON r.id = i.id ORDER BY r.id"
            )
            domain_grades = self.query(
                "SELECT d.return_id, d.domain_id, d.grade, d.na, d.rationale "
                "FROM temp.report_ids i CROSS JOIN domain_grades d ON d.return_id = i.id"
            )
            # IN (subquery), not a join: with the section filter SQLite otherwise builds a
            # Bloom filter over all of return_fields (~1M rows on ten years: 0.1 s)
            fields = self.query(
                "SELECT f.return_id, f.section, f.name, f.value FROM return_fields f "
                "WHERE f.return_id IN (SELECT id FROM temp.report_ids) "
                "AND f.section IN ('compliance', 'feedback') "
                "ORDER BY f.return_id, f.section, f.name"
            )
            actions = self.query(
                "SELECT a.return_id, a.due, CASE WHEN a.completed_on <= ? THEN a.completed_on "
                "END AS completed_on FROM temp.report_ids i "
                "CROSS JOIN actions a ON a.return_id = i.id",
                (as_of,),
            )
            alerts = self.query(
                "SELECT a.rule, count(*) AS n, count(DISTINCT a.return_id) AS returns "
                "FROM temp.report_ids i CROSS JOIN alerts a ON a.return_id = i.id "
                "GROUP BY a.rule ORDER BY a.rule"
            )
            followups = self.query(
                "SELECT f.kind, f.rule, f.due, CASE WHEN f.done_on <= ? THEN f.done_on END "
                "AS done_on FROM temp.report_ids i CROSS JOIN followups f ON f.return_id = i.id",
                (as_of,),
            )
        finally:
            self.conn.execute("DROP TABLE IF EXISTS temp.report_ids")
        allocations = self.query(
            "SELECT a.audit_id, a.cycle, a.team, a.service, a.category, a.auditor_role, a.type, "
            "a.tool, a.subject != '' AS staff, "
            "COALESCE((SELECT max(e.new_due) FROM extensions e WHERE e.audit_id = a.audit_id), "
            "a.due) AS due, "
            "(SELECT min(r.received_on) FROM returns r WHERE r.audit_id = a.audit_id "
            "AND r.received_on <= ?) AS received_on "
            f"FROM allocations a WHERE a.cycle IN ({marks}) AND a.type IN ('audit','reaudit')",
            [as_of, *cyc],
        )
        moderations = self.query(
            "SELECT m.audit_id, COALESCE(r.team, a.team, '') AS team, "
            "COALESCE(m.auditor_grade, r.overall) AS auditor_grade, m.moderator_grade "
            "FROM moderations m LEFT JOIN returns r ON r.id = m.return_id "
            "LEFT JOIN allocations a ON a.audit_id = m.audit_id "
            "WHERE m.done_on BETWEEN ? AND ? AND m.moderator_grade IS NOT NULL",
            (start, min(end, as_of)),
        )
        trend = list(scope.trend_cycles)
        tmarks = ",".join("?" * len(trend)) or "NULL"
        t_start, t_end = (scope.trend_start.isoformat(), scope.trend_end.isoformat())
        cycle_grades = self.query(
            "SELECT cycle, overall, sum(n) AS n FROM ("
            "SELECT r.cycle AS cycle, r.overall AS overall, count(*) AS n FROM returns r "
            f"WHERE r.superseded_by IS NULL AND r.cycle IN ({tmarks}) AND r.received_on <= ? "
            "AND r.type IN ('audit','reaudit') AND r.overall IS NOT NULL "
            f"AND NOT {_STAFF_RETURN} GROUP BY 1, 2 "
            "UNION ALL "
            "SELECT substr(r.received_on, 1, 7), r.overall, count(*) FROM returns r "
            "WHERE r.superseded_by IS NULL AND r.cycle IS NULL AND r.received_on BETWEEN ? AND ? "
            "AND r.received_on <= ? AND r.type IN ('audit','reaudit') AND r.overall IS NOT NULL "
            f"AND NOT {_STAFF_RETURN} GROUP BY 1, 2) GROUP BY 1, 2",
            [*trend, as_of, t_start, t_end, as_of],
        )
        cycle_completion = self.query(
            "SELECT cycle, count(*) AS allocated, count(received_on) AS returned, "
            "sum(received_on <= due) AS on_time FROM ("
            "SELECT a.cycle, COALESCE((SELECT max(e.new_due) FROM extensions e "
            "WHERE e.audit_id = a.audit_id), a.due) AS due, "
            "(SELECT min(r.received_on) FROM returns r WHERE r.audit_id = a.audit_id "
            "AND r.received_on <= ?) AS received_on "
            f"FROM allocations a WHERE a.cycle IN ({tmarks}) AND a.type IN ('audit','reaudit') "
            "AND a.subject = '') GROUP BY cycle",
            [as_of, *trend],
        )
        return ReportRows(
            allocations=allocations,
            returns=returns,
            domain_grades=domain_grades,
            fields=fields,
            actions=actions,
            alerts=alerts,
            followups=followups,
            moderations=moderations,
            cycle_grades=cycle_grades,
            cycle_completion=cycle_completion,
            disputes=self.dispute_history(scope.start, min(scope.end, scope.as_of)),
        )

    def latest_cycle(self) -> str | None:
        """The latest cycle allocated, or None for an empty register."""
        value = self.scalar("SELECT max(cycle) FROM cycles")
        return None if value is None else str(value)

    def latest_received(self) -> date | None:
        """The date the latest return arrived, or None when there are none."""
        return from_iso(self.scalar("SELECT max(received_on) FROM returns"))

    def export_rows(self, table: str) -> tuple[list[str], Iterator[sqlite3.Row]]:
        """Column names and a lazy cursor over one sheet of the tracker export."""
        sql = _EXPORT_SQL[table]
        cur = self.conn.execute(sql)
        return [c[0] for c in cur.description], iter(cur)

    def export_count(self, table: str) -> int:
        """How many rows ``export_rows(table)`` gives (the export writes the count first)."""
        return int(self.scalar(f"SELECT count(*) FROM ({_EXPORT_SQL[table]})"))

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block see one state of the register (a deferred read transaction)."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def export_domain_grades(self) -> Iterator[sqlite3.Row]:
        """Domain grades of current returns, ordered by return, for the Returns sheet."""
        return iter(
            self.conn.execute(
                "SELECT d.return_id, d.domain_id, CASE WHEN d.na THEN 'N/A' ELSE d.grade END "
                "AS grade, d.rationale FROM returns r JOIN domain_grades d ON d.return_id = r.id "
                "WHERE r.superseded_by IS NULL ORDER BY d.return_id"
            )
        )

    def export_domain_ids(self) -> list[tuple[str, str]]:
        """(tool, domain_id) pairs that occur in current returns, in first-seen order."""
        rows = self.query(
            "SELECT r.tool, d.domain_id, min(r.id) AS first FROM returns r "
            "JOIN domain_grades d ON d.return_id = r.id WHERE r.superseded_by IS NULL "
            "GROUP BY r.tool, d.domain_id ORDER BY r.tool, first"
        )
        return [(r["tool"], r["domain_id"]) for r in rows]

    def current_return(self, audit_id: str) -> sqlite3.Row | None:
        rows = self.query(
            "SELECT * FROM returns WHERE audit_id = ? AND superseded_by IS NULL "
            "ORDER BY id DESC LIMIT 1",
            (audit_id,),
        )
        return rows[0] if rows else None

    # -------------------------------------------------------------- disputes

    def open_dispute_of(self, audit_id: str) -> sqlite3.Row | None:
        """The unresolved dispute of an audit, if any (Haringey 2.11)."""
        rows = self.query(
            "SELECT * FROM disputes WHERE audit_id = ? AND resolved_on IS NULL", (audit_id,)
        )
        return rows[0] if rows else None

    def add_dispute(
        self, audit_id: str, return_id: int, opened_by: str, opened_on: date, note: str
    ) -> int:
        """A new dispute at its first stage, and that stage's history row, in one write."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO disputes (audit_id, return_id, stage, stage_started, opened_by, "
                "opened_on, note) VALUES (?,?,0,?,?,?,?)",
                (audit_id, return_id, iso(opened_on), opened_by, iso(opened_on), note),
            )
            dispute_id = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT INTO dispute_stages (dispute_id, stage, started_on) VALUES (?, 0, ?)",
                (dispute_id, iso(opened_on)),
            )
            return dispute_id

    def set_dispute_stage(self, dispute_id: int, stage: int, started: date) -> None:
        """The dispute moves to ``stage`` on ``started``: the stage it was at ends that day."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE disputes SET stage = ?, stage_started = ? WHERE id = ?",
                (stage, iso(started), dispute_id),
            )
            conn.execute(
                "UPDATE dispute_stages SET ended_on = ? WHERE dispute_id = ? AND ended_on IS NULL",
                (iso(started), dispute_id),
            )
            conn.execute(
                "INSERT INTO dispute_stages (dispute_id, stage, started_on) VALUES (?, ?, ?)",
                (dispute_id, stage, iso(started)),
            )

    def resolve_dispute(self, dispute_id: int, on: date, outcome: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE disputes SET resolved_on = ?, outcome = ? WHERE id = ?",
                (iso(on), outcome, dispute_id),
            )
            conn.execute(
                "UPDATE dispute_stages SET ended_on = ? WHERE dispute_id = ? AND ended_on IS NULL",
                (iso(on), dispute_id),
            )

    def dispute_stages(self, dispute_id: int) -> list[sqlite3.Row]:
        """The stages a dispute went through, first first (stage, started_on, ended_on)."""
        return self.query(
            "SELECT stage, started_on, ended_on FROM dispute_stages WHERE dispute_id = ? "
            "ORDER BY started_on, stage",
            (dispute_id,),
        )

    def dispute_history(self, start: date, end: date) -> list[sqlite3.Row]:
        """Each stage of every dispute open at some time from ``start`` to ``end`` (both
        included), dispute by dispute, first stage first: id, opened_on, resolved_on, outcome,
        stage, started_on, ended_on (a report's grading disputes, Haringey 2.11)."""
        return self.query(
            "SELECT d.id, d.opened_on, d.resolved_on, d.outcome, h.stage, h.started_on, "
            "h.ended_on FROM disputes d JOIN dispute_stages h ON h.dispute_id = d.id "
            "WHERE d.opened_on <= ? AND (d.resolved_on IS NULL OR d.resolved_on >= ?) "
            "ORDER BY d.id, h.started_on, h.stage",
            (end.isoformat(), start.isoformat()),
        )

    def open_disputes(self, as_of: date) -> list[sqlite3.Row]:
        """Disputes opened by ``as_of`` and not resolved by then, each at the stage it was at
        on ``as_of`` (its history: the last stage started by then), with their return's case.
        A dispute with no stage started by then (a register migrated from version 3 keeps
        only the stage it was at) is left out."""
        return self.query(
            "SELECT d.id, d.audit_id, d.opened_by, d.opened_on, d.note, h.stage, "
            "h.started_on AS stage_started, r.case_id, "
            "r.team, r.service, r.category, r.worker, r.auditor "
            "FROM disputes d JOIN returns r ON r.id = d.return_id "
            "JOIN dispute_stages h ON h.dispute_id = d.id "
            "WHERE d.opened_on <= :day AND (d.resolved_on IS NULL OR d.resolved_on > :day) "
            "AND h.stage = (SELECT max(stage) FROM dispute_stages "
            "WHERE dispute_id = d.id AND started_on <= :day) "
            "ORDER BY d.id",
            {"day": as_of.isoformat()},
        )

    def record_moderation(
        self,
        audit_id: str,
        *,
        moderator: str,
        moderator_grade: str,
        done_on: date,
        note: str = "",
    ) -> ModerationRecorded:
        """Rule M1: the moderator's grade for a returned audit.

        Fills the open moderation picked for the audit (the latest one), or records an
        unsampled moderation when none was picked; closes the audit's open "moderation"
        follow-up. Raises QafError when the audit has no current return.
        """
        ret = self.current_return(audit_id)
        if ret is None:
            raise QafError(f'no returned audit "{audit_id}" in the register', exit_code=2)
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id, moderator, moderator_grade, done_on FROM moderations "
                "WHERE audit_id = ? ORDER BY (done_on IS NULL) DESC, picked_cycle DESC LIMIT 1",
                (audit_id,),
            ).fetchone()
            previous = None
            if row is None:
                cycle = ret["cycle"] or ret["received_on"][:7]
                cur = conn.execute(
                    "INSERT INTO moderations (audit_id, return_id, picked_cycle, reason, "
                    "moderator, auditor_grade, moderator_grade, note, done_on) "
                    "VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        audit_id,
                        ret["id"],
                        cycle,
                        "not in the sample: recorded by qaf moderate",
                        moderator,
                        ret["overall"],
                        moderator_grade,
                        note,
                        done_on.isoformat(),
                    ),
                )
                mod_id = int(cur.lastrowid or 0)
                sampled = False
            else:
                mod_id = int(row["id"])
                sampled = True
                if row["moderator_grade"] is not None:
                    previous = (row["moderator_grade"], row["moderator"], row["done_on"])
                conn.execute(
                    "UPDATE moderations SET return_id = ?, moderator = ?, "
                    "auditor_grade = COALESCE(auditor_grade, ?), moderator_grade = ?, note = ?, "
                    "done_on = ? WHERE id = ?",
                    (
                        ret["id"],
                        moderator,
                        ret["overall"],
                        moderator_grade,
                        note,
                        done_on.isoformat(),
                        mod_id,
                    ),
                )
            closed = conn.execute(
                "UPDATE followups SET done_on = ?, done_by = ? "
                "WHERE kind = 'moderation' AND audit_id = ? AND done_on IS NULL",
                (done_on.isoformat(), moderator, audit_id),
            ).rowcount
            auditor_grade = conn.execute(
                "SELECT auditor_grade FROM moderations WHERE id = ?", (mod_id,)
            ).fetchone()[0]
        return ModerationRecorded(
            moderation_id=mod_id,
            audit_id=audit_id,
            case_id=ret["case_id"],
            tool=ret["tool"],
            auditor_grade=auditor_grade,
            moderator_grade=moderator_grade,
            sampled=sampled,
            previous=previous,
            followups_closed=closed,
        )

    # --- end report section


# A staff audit's return (GAPS 7: supervision audit, practice observation): its allocation is
# of a person, or, returned without one, it names no case. Reports keep them apart.
_STAFF_RETURN = (
    "(r.case_id = '' OR EXISTS (SELECT 1 FROM allocations sa "
    "WHERE sa.audit_id = r.audit_id AND sa.subject != ''))"
)


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def _allocation(r: sqlite3.Row) -> Allocation:
    return Allocation(
        audit_id=r["audit_id"],
        cycle=r["cycle"],
        case_id=r["case_id"],
        team=r["team"],
        service=r["service"],
        category=r["category"],
        worker=r["worker"],
        auditor=r["auditor"],
        auditor_email=r["auditor_email"],
        auditor_role=r["auditor_role"],
        tool=r["tool"],
        type=r["type"],
        due=date.fromisoformat(r["due"]),
        reaudit_of=r["reaudit_of"],
        reaudit_round=r["reaudit_round"],
        moderates=r["moderates"],
        subject=r["subject"],
    )


def _followup(r: sqlite3.Row) -> FollowUp:
    return FollowUp(
        kind=r["kind"],
        rule=r["rule"],
        audit_id=r["audit_id"],
        case_id=r["case_id"],
        responsible=r["responsible"],
        responsible_role=r["responsible_role"],
        due=date.fromisoformat(r["due"]),
        return_id=r["return_id"],
        detail=r["detail"],
        id=r["id"],
        done_on=from_iso(r["done_on"]),
    )


# ============================================================ report (module level)
# Shapes of the report queries (rules P1-P3, M1). Rows are sqlite3.Row: index by name.


@dataclass(frozen=True)
class ReportScope:
    """What to read: the period's cycles and dates, and the cycles of its trend lines."""

    cycles: tuple[str, ...]
    start: date
    end: date
    trend_cycles: tuple[str, ...]
    trend_start: date
    trend_end: date
    as_of: date


@dataclass(frozen=True)
class ReportRows:
    allocations: list[sqlite3.Row]  # audit_id, cycle, team, service, category, auditor_role,
    # type, tool, staff, due (after extensions), received_on (first return, or None)
    returns: list[sqlite3.Row]  # current audits and re-audits of the period (staff: 1 or 0)
    domain_grades: list[sqlite3.Row]  # return_id, domain_id, grade, na, rationale
    fields: list[sqlite3.Row]  # return_id, section (compliance | feedback), name, value
    actions: list[sqlite3.Row]  # return_id, due, completed_on
    alerts: list[sqlite3.Row]  # rule, n, returns
    followups: list[sqlite3.Row]  # kind, rule, due, done_on
    moderations: list[sqlite3.Row]  # audit_id, team, auditor_grade, moderator_grade
    cycle_grades: list[sqlite3.Row]  # cycle, overall, n (trend cycles; no staff audits)
    cycle_completion: list[sqlite3.Row]  # cycle, allocated, returned, on_time (the same)
    disputes: list[sqlite3.Row] = field(default_factory=list)  # dispute_history of the period


@dataclass(frozen=True)
class ModerationRecorded:
    moderation_id: int
    audit_id: str
    case_id: str
    tool: str
    auditor_grade: str | None
    moderator_grade: str
    sampled: bool  # False: the audit was not in the M1 sample
    previous: tuple[str, str, str] | None  # (grade, moderator, done_on) replaced
    followups_closed: int


_EXPORT_SQL: dict[str, str] = {
    "Allocations": (
        'SELECT a.audit_id AS "Audit ID", a.cycle AS "Cycle", a.case_id AS "Case ID", '
        'a.team AS "Team", a.service AS "Service Area", a.category AS "Category", '
        'a.worker AS "Social Worker", a.auditor AS "Auditor", a.auditor_role AS '
        '"Auditor role", a.tool AS "Tool", a.type AS "Type", a.due AS "Due", '
        "(SELECT max(e.new_due) FROM extensions e WHERE e.audit_id = a.audit_id) AS "
        '"Extended to", a.reaudit_of AS "Re-audit of", a.reaudit_round AS '
        '"Re-audit round", a.moderates AS "Moderates", '
        "(SELECT min(r.received_on) FROM returns r WHERE r.audit_id = a.audit_id) AS "
        '"Returned on" FROM allocations a ORDER BY a.cycle, a.audit_id'
    ),
    "Returns": (
        'SELECT r.id AS "Return ID", r.audit_id AS "Audit ID", r.case_id AS "Case ID", '
        'r.cycle AS "Cycle", r.tool AS "Tool", r.type AS "Type", r.auditor AS '
        '"Auditor", r.auditor_role AS "Auditor role", r.team AS "Team", r.service AS '
        '"Service Area", r.category AS "Category", r.worker AS "Social Worker", '
        'r.audit_date AS "Date of audit", r.received_on AS "Received on", r.due AS "Due", '
        'r.overall_before AS "Overall before discussion", r.overall AS "Overall grade", '
        'r.movement AS "Re-audit movement", r.reaudit_round AS "Re-audit round", '
        "CASE WHEN r.safety_concern THEN 'Yes' ELSE 'No' END AS \"Safety concern\", "
        'r.overall_rationale AS "Rationale for overall grade", r.summary AS '
        '"Summary" FROM returns r WHERE r.superseded_by IS NULL ORDER BY r.id'
    ),
    "Actions": (
        'SELECT a.id AS "Action ID", a.audit_id AS "Audit ID", a.case_id AS "Case ID", '
        'a.action AS "Action", a.owner AS "Who is responsible", a.due AS "By when", '
        'a.completed_on AS "Completed on" FROM actions a JOIN returns r ON r.id = a.return_id '
        "WHERE r.superseded_by IS NULL ORDER BY a.id"
    ),
    "Escalations": (
        'SELECT \'alert\' AS "Kind", substr(al.created_at, 1, 10) AS "Date", '
        'al.rule AS "Rule", r.audit_id AS "Audit ID", r.case_id AS "Case ID", '
        'NULL AS "Escalation level", al.recipient_role AS "Recipient role", '
        'al.recipient_name AS "Recipient", al.recipient_email AS "Email", '
        'al.reason AS "Reason or item", NULL AS "Channel" '
        "FROM alerts al JOIN returns r ON r.id = al.return_id "
        "UNION ALL "
        "SELECT 'notification', substr(n.sent_at, 1, 10), NULL, NULL, NULL, n.level, NULL, "
        "n.recipient_name, n.recipient_email, n.item_key, n.channel FROM notifications n "
        "ORDER BY 2, 1"
    ),
    "Moderation": (
        'SELECT m.audit_id AS "Audit ID", COALESCE(r.case_id, a.case_id) AS "Case ID", '
        'COALESCE(r.team, a.team) AS "Team", m.picked_cycle AS "Picked in cycle", '
        'm.reason AS "Reason", m.moderator AS "Moderator", COALESCE(m.auditor_grade, '
        'r.overall) AS "Auditor grade", m.moderator_grade AS "Moderator grade", '
        'm.note AS "Note", m.done_on AS "Moderated on" FROM moderations m '
        "LEFT JOIN returns r ON r.id = m.return_id "
        "LEFT JOIN allocations a ON a.audit_id = m.audit_id ORDER BY m.picked_cycle, m.audit_id"
    ),
}
