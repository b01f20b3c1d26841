"""How many cores this process may use now (issue 8: ingest's reader processes, the case
list's second parsing thread)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its affinity on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def idle_cores(cores: int, loadavg: str | None = None) -> float:
    """Cores nobody else is using now.

    On Linux, from the number of tasks running at this instant (``/proc/loadavg``'s
    fourth field, this process included), not the 1-minute load average: that one
    still counts whatever ran in the last minute, such as the previous command.
    """
    try:
        if loadavg is None:
            with open("/proc/loadavg", encoding="ascii") as f:
                loadavg = f.read()
        running = int(loadavg.split()[3].split("/")[0])
        return float(max(0, cores - max(0, running - 1)))
    except (OSError, ValueError, IndexError):
        pass
    try:
        return cores - os.getloadavg()[0]
    except OSError:
        return float(cores)
