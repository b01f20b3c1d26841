"""Work handed to a forked process while this one goes on, when a core is idle (issue 8).

``qaf allocate`` is one process doing one thing after another, and most of its steps
hold the GIL (python-calamine, xlsxwriter, the rows in Python), so a thread does not
run beside them; a forked process does. :func:`start` forks only when another core is
mostly idle: on a busy shared server the second process would only add the cost of
pickling. The caller always has the same work to do itself when :func:`start` returns
None or the result is :data:`FAILED` (the process raised, was killed or sent nothing),
so results and errors are the same either way.

The forked process never returns into the caller's code: it runs the function, sends
its result pickled through a pipe and leaves with ``os._exit`` (no atexit handlers, no
flushing of buffers it shares with this process, locks and files left to this one).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
from collections.abc import Callable
from typing import Any

FAILED: Any = object()  # what :meth:`Forked.result` gives when the other process failed


class Forked:
    """A function running in a forked process."""

    def __init__(self, pid: int, results: int, requests: int) -> None:
        self.pid = pid
        self._results = results  # pipe: the other process's result
        self._requests = requests  # pipe: values sent to it with :meth:`send`
        self._done = False

    def send(self, value: Any) -> None:
        """Hand ``value`` to the function's ``receive()``."""
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with contextlib.suppress(OSError):  # it has gone: result() says so
            _write(self._requests, len(data).to_bytes(8, "little") + data)

    def result(self) -> Any:
        """The function's return value (waits for it), or :data:`FAILED`."""
        if self._done:
            return FAILED
        self._done = True
        try:
            with os.fdopen(self._results, "rb") as pipe:
                payload = pipe.read()
            _, status = os.waitpid(self.pid, 0)
            return pickle.loads(payload) if status == 0 and payload else FAILED
        except Exception:
            return FAILED
        finally:
            with contextlib.suppress(OSError):
                os.close(self._requests)

    def cancel(self) -> None:
        """Stop the other process; its result is no longer wanted."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        for fd in (self._results, self._requests):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)


def idle_core() -> bool:
    """Whether another core is mostly idle (this process counts in the load average), and
    this process may fork (no other thread running: a forked process keeps only this one)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if cores < 2:
        return False
    return idle_cores(cores) >= 1.5  # this process's core and another


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


def start(function: Callable[[Callable[[], Any]], Any]) -> Forked | None:
    """Run ``function(receive)`` in a forked process when a core is idle, else None.

    ``receive()`` gives the next value the caller :meth:`~Forked.send` s (None when the
    caller has gone).
    """
    if not idle_core():
        return None
    results_in, results_out = os.pipe()
    requests_in, requests_out = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(results_in)
        os.close(requests_out)
        _run(function, results_out, requests_in)
    os.close(results_out)
    os.close(requests_in)
    return Forked(pid, results_in, requests_out)


def _run(function: Callable[[Callable[[], Any]], Any], results: int, requests: int) -> None:
    """In the forked process: run, send the result, leave (never returns)."""
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's

        def receive() -> Any:
            head = _read(requests, 8)
            if len(head) < 8:
                return None
            return pickle.loads(_read(requests, int.from_bytes(head, "little")))

        data = pickle.dumps(function(receive), protocol=pickle.HIGHEST_PROTOCOL)
        _write(results, data)
        status = 0
    finally:
        os._exit(status)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
