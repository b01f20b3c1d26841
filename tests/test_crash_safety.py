"""Crash safety under SIGKILL (issue 7 item 4): `qaf allocate` and `qaf overdue --notify`.

Each test starts the real command as a subprocess and kills it with SIGKILL at seeded
random points, again and again; after every kill the register passes
``PRAGMA integrity_check`` and holds no half-recorded cycle (rules S2, A1) and no
escalation recorded as sent that the mail server never received ("sent once", rules
T4/T5). The ingest counterpart is in tests/test_ingest_cli.py. ``KILLS`` feeds the
README's "Safety" figures.
"""

from __future__ import annotations

import asyncio
import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from qaf.allocate_run import run_allocate
from qaf.config import Config, read_config
from qaf.register import Register
from qaf.workdir import init_directory
from tests.test_notify import free_port
from tests.test_overdue_support import allocation, email, make_workdir

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ALLOCATE_KILLS = 5
NOTIFY_KILLS = 5
KILLS = ALLOCATE_KILLS + NOTIFY_KILLS


def qaf(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "qaf", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def count(db: Path, sql: str) -> int:
    try:
        con = sqlite3.connect(db, timeout=1)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return 0


def kill_when(proc: subprocess.Popen[bytes], ready: Any, rng: random.Random) -> bool:
    """SIGKILL once ``ready()`` holds, after a further random 0-40 ms; False if it ended first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.04))
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


# ------------------------------------------------------------------ allocate


def test_sigkill_during_allocate_never_leaves_half_a_cycle(tmp_path: Path) -> None:
    """Rules S2, A1: the cycle, its seed and all its allocations land together or not at all,
    including mid `--replace` (delete and insert in one transaction)."""
    init_directory(tmp_path / "w", framework="generic", demo=True, force=False)
    cfg = read_config(tmp_path / "w" / "qaf.toml")
    month, as_of = "2026-12", date(2026, 12, 1)
    seeds = list(range(1, ALLOCATE_KILLS + 2))
    expected = {
        s: sorted(
            (a.audit_id, a.case_id, a.auditor)
            for a in run_allocate(cfg, month, seed=s, as_of=as_of, dry_run=True).result.allocations
        )
        for s in seeds
    }
    assert len({tuple(v) for v in expected.values()}) > 1  # the seeds give different cycles
    db = cfg.register_path
    # How long one whole run takes here (start-up included), so that the kills land inside
    # a run on a fast machine as on a loaded one.
    started = time.monotonic()
    whole = qaf("allocate", "--month", month, "--seed", "1", "--dry-run", "--config",
                str(cfg.path), "--as-of", as_of.isoformat())  # fmt: skip
    assert whole.wait() == 0
    run_time = time.monotonic() - started
    rng = random.Random(20261201)
    kills = 0
    for s in seeds:
        args = ["allocate", "--month", month, "--seed", str(s), "--replace"]
        proc = qaf(*args, "--config", str(cfg.path), "--as-of", as_of.isoformat())
        # Kill anywhere from start-up to the commit: after a random part of a run's time
        # (a previous run's cycle is then being replaced, once the register exists).
        until = time.monotonic() + rng.uniform(0.02, 0.95) * run_time
        if kill_when(proc, lambda t=until: time.monotonic() > t, rng):
            kills += 1
        else:
            assert proc.returncode == 0
        assert_cycle_whole(db, month, expected)
    assert kills >= ALLOCATE_KILLS - 2  # most runs were cut short


def assert_cycle_whole(
    db: Path, month: str, expected: dict[int, list[tuple[str, str, str]]]
) -> None:
    if not db.exists():
        return
    with Register.open(db) as reg:
        assert reg.integrity_check() == []
        cycles = reg.query("SELECT cycle, seed FROM cycles")
        assert len(cycles) <= 1
        rows = sorted(
            tuple(r) for r in reg.query("SELECT audit_id, case_id, auditor FROM allocations")
        )
        if not cycles:
            assert rows == []
            return
        assert cycles[0]["cycle"] == month
        assert rows == expected[int(cycles[0]["seed"])]


# ------------------------------------------------------------------ overdue --notify

SERVICES = 12  # each with its own Service Manager and Head of Service: 24+ messages a run


class SlowCollect:
    """An SMTP server handler that takes 15 ms per message, so kills land mid-run."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.015)
        msg = message_from_bytes(envelope.content)
        self.message_ids.append(str(msg["Message-ID"]))
        return "250 Message accepted"


@pytest.fixture
def slow_smtp() -> Iterator[tuple[int, SlowCollect]]:
    handler = SlowCollect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler
    controller.stop()


def notify_workdir(tmp_path: Path, port: int) -> Config:
    cfg = make_workdir(
        tmp_path,
        f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n'
        'sender = "qa@example.org"\n',
    )
    with (tmp_path / "data" / "staff.csv").open("a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for i in range(1, SERVICES + 1):
            for name, role, manager in (
                (f"Aud {i}", "Team Manager", f"Sm {i}"),
                (f"Sm {i}", "Service Manager", f"Hos {i}"),
                (f"Hos {i}", "Head of Service", "Ada Assistant"),
            ):
                w.writerow([name, email(name), role, "", f"Svc {i}", manager, "Yes"])
    cfg = read_config(tmp_path / "qaf.toml")
    allocs = [
        replace(
            allocation(f"A{i}", date(2026, 12, 31), case_id=f"P{i:06d}"),
            auditor=f"Aud {i}",
            auditor_email=email(f"Aud {i}"),
            service=f"Svc {i}",
        )
        for i in range(1, SERVICES + 1)
    ]
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations(allocs)
    return cfg


def test_sigkill_during_overdue_notify_never_marks_unsent_as_sent(
    tmp_path: Path, slow_smtp: tuple[int, SlowCollect]
) -> None:
    """Rules T4 and "sent once": a recipient's escalations are recorded only after the server
    accepted the message; after every kill, every recorded message was received; running
    again sends the rest, and nothing is re-sent except a message in flight at a kill."""
    port, server = slow_smtp
    cfg = notify_workdir(tmp_path, port)
    db = cfg.register_path
    args = ["overdue", "--notify", "--config", str(cfg.path), "--as-of", "2027-02-15"]
    rng = random.Random(20270215)
    kills = 0
    for _ in range(NOTIFY_KILLS + 3):
        before = count(db, "SELECT count(DISTINCT message_id) FROM notifications")
        target = before + rng.randint(1, 4)
        proc = qaf(*args)
        sql = "SELECT count(DISTINCT message_id) FROM notifications"

        def ready(n: int = target, sql: str = sql) -> bool:
            return count(db, sql) >= n

        if kill_when(proc, ready, rng):
            kills += 1
        assert_sent_once(db, server)
        if kills >= NOTIFY_KILLS:
            break
    assert kills >= 3
    # a final, uninterrupted run sends whatever is left, exactly once
    proc = qaf(*args)
    assert proc.wait(timeout=60) == 0
    assert_sent_once(db, server)
    recorded = count(db, "SELECT count(DISTINCT message_id) FROM notifications")
    assert recorded >= 2 * SERVICES
    resent = len(server.message_ids) - recorded  # received but not recorded: in flight at a kill
    assert 0 <= resent <= kills
    again = qaf(*args)
    assert again.wait(timeout=60) == 0
    assert len(server.message_ids) == recorded + resent  # nothing new to send


def assert_sent_once(db: Path, server: SlowCollect) -> None:
    with Register.open(db) as reg:
        assert reg.integrity_check() == []
        ids = {r["message_id"] for r in reg.query("SELECT DISTINCT message_id FROM notifications")}
    received = set(server.message_ids)
    assert ids <= received, f"recorded as sent but never received: {sorted(ids - received)}"
