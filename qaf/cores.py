"""How many cores this process may use now (issue 8: ingest's reader processes, the case
list's second parsing thread)."""

from __future__ import annotations

import os
import time


def usable_cores() -> int:
    """The cores this process may run on (its affinity on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


SAMPLES = 3  # looks at the tasks running, a millisecond apart
SAMPLE_GAP = 0.001


def idle_cores(cores: int, loadavg: str | None = None) -> float:
    """Cores nobody else is using now.

    On Linux, from the number of tasks running (``/proc/loadavg``'s fourth field, this
    process included), not the 1-minute load average: that one still counts whatever ran
    in the last minute, such as the previous command. The fewest of a few looks a
    millisecond apart: a kernel thread writing back the file just copied runs for an
    instant, a busy server's jobs for all of them.
    """
    try:
        if loadavg is not None:
            running = _running(loadavg)
        else:
            running = min(_running(_read_loadavg(pause=i > 0)) for i in range(SAMPLES))
        return float(max(0, cores - max(0, running - 1)))
    except (OSError, ValueError, IndexError):
        pass
    try:
        return cores - os.getloadavg()[0]
    except OSError:
        return float(cores)


def _read_loadavg(*, pause: bool) -> str:
    if pause:
        time.sleep(SAMPLE_GAP)
    with open("/proc/loadavg", encoding="ascii") as f:
        return f.read()


def _running(loadavg: str) -> int:
    return int(loadavg.split()[3].split("/")[0])
