"""qaf.runlock: one `qaf allocate` / `qaf overdue` at a time on a register (issue 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qaf.runlock import LockTimeout, held


def test_a_second_holder_waits_then_gives_up(tmp_path: Path) -> None:
    lock = tmp_path / "qaf.db.overdue.lock"
    with held(lock, 1):
        started = time.monotonic()
        with pytest.raises(LockTimeout), held(lock, 0.2):
            pass
        assert time.monotonic() - started >= 0.2
    with held(lock, 0):  # released on leaving the block
        pass


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with pytest.raises(RuntimeError), held(lock, 1):
        raise RuntimeError("the run failed")
    with held(lock, 0):
        pass


def test_another_process_holding_it_is_waited_for_and_a_killed_one_lets_go(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "qaf.db.allocate.lock"
    code = (
        "import sys, time; from pathlib import Path; from qaf.runlock import held\n"
        "with held(Path(sys.argv[1]), 5):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    other = subprocess.Popen(
        [sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeout), held(lock, 0.2):
            pass
        other.send_signal(signal.SIGKILL)  # killed mid-run: nothing left to clean up
        other.wait(10)
        with held(lock, 5):
            assert lock.exists()
    finally:
        other.kill()
        other.wait(10)


def test_a_lock_released_twice_is_released_once(tmp_path: Path) -> None:
    from qaf.runlock import acquire

    lock = acquire(tmp_path / "x.lock", 0)
    lock.release()
    lock.release()  # nothing held, nothing closed twice
    with held(tmp_path / "x.lock", 0):
        pass
