#!/usr/bin/env python
"""qaf benchmarks (issue 8, DESIGN §6): each figure beside its baseline, in one run.

    python bench/run.py                 # full sizes (first run builds and caches the data)
    python bench/run.py --quick         # smaller sizes, same ratios, < 60 s on 2 cores
    python bench/run.py --json          # one JSON object a line:
        {"name", "value", "unit", "baseline", "baseline_value", "ratio"}
    python bench/run.py --only ingest   # figures whose name starts with a word

Every figure is an end-to-end process (the ``qaf`` command as a user runs it, or the
baseline as its own ``python`` process), timed wall-clock, several repetitions, median
reported; peak RSS is polled from /proc (``PeakMemory``: wait4's survives exec). ``ratio`` is always
``value / baseline_value`` (below 1: qaf is faster / smaller). Targets from issue 8 are
checked in the human table only: timings are never asserted in tests.

The timed commands write in a scratch folder in the system temp folder (``--work`` to
choose another). Next to allocate, the bench times creating as many empty files in that
folder as allocate writes (``file system floor``): on the VM these figures come from, that
cost anywhere from 7 ms to 0.5 s for 315 files depending on the folder and the hour (ext4
searching block groups for a free inode), all of it inside allocate's figure.

Data (cached in bench/.cache/, git-ignored; see bench/data.py): the sample authority at
50,000 cases / 400 auditors; 1,000 and 10,000 filled returns (the simulator's); a
10-year register (120 cycles x 500 returns: ~60,000 returns, ~1M domain grades) written
with bulk SQL on the register's schema, alerts and follow-ups from qaf.escalate.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import data  # noqa: E402

PY = sys.executable
# What the installed ``qaf`` console script runs.
QAF = [PY, "-c", "import sys; from qaf.cli import main; sys.argv[0] = 'qaf'; sys.exit(main())"]
BASELINES = [PY, str(ROOT / "bench" / "baselines.py")]
INGEST_AS_OF = "2027-01-20"
REGISTER_AS_OF = "2027-01-20"
REPORT_QUARTER = "2026Q4"


@dataclass(frozen=True)
class Sizes:
    cases: int
    auditors: int
    ingest_small: int
    ingest_large: int
    years: int
    per_cycle: int
    reps: int  # repetitions of quick figures
    heavy_reps: int  # repetitions of slow ones (ingest, pandas baselines)
    startup_reps: int


SIZES = {
    "full": Sizes(50_000, 400, 1_000, 10_000, 10, 500, 5, 3, 10),
    "quick": Sizes(5_000, 40, 100, 300, 1, 500, 3, 1, 6),
    "tiny": Sizes(300, 12, 4, 8, 1, 10, 1, 1, 1),  # the smoke test's
}


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    target: str = ""
    ok: bool | None = None  # None: no target, or not measured
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _round(self.value),
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_value": _round(self.baseline_value),
            "ratio": _round(self.ratio),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.4g}")


# ------------------------------------------------------------------ processes


@dataclass
class Run:
    seconds: float
    rss_mb: float
    code: int
    out: str
    err: str


def run(argv: Sequence[str], cwd: Path | None = None) -> Run:
    """One process, timed wall-clock, with its peak memory (see ``PeakMemory``)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", COLUMNS="120")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd, env=env)
        peak = PeakMemory(p.pid)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            seconds,
            peak.stop() or usage.ru_maxrss / 1024,  # KiB on Linux
            p.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


class PeakMemory:
    """Peak resident memory of a process and the worker processes it forks, in MB.

    ``wait4``'s ``ru_maxrss`` survives ``exec``: a child of this (large) harness reports
    the harness's own size. So /proc is polled instead (Linux): the process's own
    high-water mark (``VmHWM``, reset by ``exec``) plus the largest total seen at once of
    its children's resident memory (ingest's reader workers). Elsewhere: 0 (wait4 then).
    """

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.hwm_kb, self.children_kb = pid, 0, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        if Path(f"/proc/{pid}/status").exists():
            self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            self.hwm_kb = max(self.hwm_kb, _status_kb(self.pid, "VmHWM"))
            kids = _children(self.pid)
            self.children_kb = max(self.children_kb, sum(_status_kb(k, "VmRSS") for k in kids))
            self._done.wait(0.005)

    def stop(self) -> float:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        return (self.hwm_kb + self.children_kb) / 1024


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def repeat(
    argv: Sequence[str] | Callable[[int], Sequence[str]],
    reps: int,
    setup: Callable[[int], None] | None = None,
    ok_codes: tuple[int, ...] = (0,),
    cwd: Path | None = None,
) -> list[Run]:
    """``reps`` runs (setup before each, not timed); a failing run stops the figure."""
    runs = []
    for i in range(reps):
        if setup:
            setup(i)
        if hasattr(os, "sync"):
            os.sync()  # the last run's files written back before this one is timed
        args = argv(i) if callable(argv) else argv
        r = run(args, cwd)
        if r.code not in ok_codes:
            raise Failed(f"exit {r.code}: {' '.join(args[-6:])}\n{r.err[-1500:]}")
        runs.append(r)
    return runs


class Failed(Exception):
    pass


def settle() -> None:
    """Each figure starts with nothing left to write back to disk from the last: ingest's
    registers leave hundreds of MB of dirty pages, and the kernel writing them back while
    the next figure runs took CPU from it and from its baseline alike."""
    if hasattr(os, "sync"):
        os.sync()
    time.sleep(1.0)


def median(runs: Sequence[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# ------------------------------------------------------------------ the bench


@dataclass
class Bench:
    sizes: Sizes
    cache: Path
    work: Path
    say: Callable[[str], None]
    figures: list[Figure] = field(default_factory=list)

    def add(self, f: Figure) -> None:
        self.figures.append(f)
        self.say(f"  {f.name}: {_show(f.value, f.unit)}" + (f"  ({f.note})" if f.note else ""))

    def workdir(self, src: Path, name: str, db: Path | None = None) -> Path:
        """A fresh working folder: qaf.toml, the source data linked, a copy of ``db``."""
        wd = self.work / name
        if wd.exists():
            shutil.rmtree(wd)
        wd.mkdir(parents=True)
        shutil.copy(src / "qaf.toml", wd / "qaf.toml")
        os.symlink((src / "data").resolve(), wd / "data")
        if db is not None:
            shutil.copy(db, wd / "qaf.db")
        return wd

    # --------------------------------------------------------------- start-up

    def startup(self) -> None:
        reps = self.sizes.startup_reps
        run([*QAF, "--help"])  # warm the file cache
        base = repeat([PY, "-c", "import typer"], reps)
        mine = repeat([*QAF, "--help"], reps)
        b, v = median(base), median(mine)
        self.add(
            Figure(
                "startup: qaf --help",
                v,
                "s",
                'python -c "import typer"',
                b,
                "ratio <= 1.5",
                v / b <= 1.5,
            )
        )

    # ----------------------------------------------------------------- ingest

    def ingest(self) -> None:
        s = self.sizes
        wd = data.authority(s.cases, s.auditors, self.cache, self.say)
        allocs, files = data.returns(wd, s.ingest_large, self.cache, self.say)
        base_db = self.work / "ingest-base.db"
        if base_db.exists():
            base_db.unlink()
        data.record_allocations(base_db, allocs, data.AS_OF)
        small = data.subset(
            files, s.ingest_small, files[0].parent.parent / f"first-{s.ingest_small}"
        )
        large = files[0].parent
        lists = {}
        for n, folder in ((s.ingest_small, small), (s.ingest_large, large)):
            lst = self.work / f"files-{n}.txt"
            lst.write_text("\n".join(str(p) for p in sorted(folder.glob("*.xlsx"))) + "\n")
            lists[n] = lst

        pandas = repeat([*BASELINES, "read_excel", str(lists[s.ingest_small])], s.heavy_reps)
        floor_small = repeat([*BASELINES, "floor", str(lists[s.ingest_small])], s.reps)
        floor_large = repeat([*BASELINES, "floor", str(lists[s.ingest_large])], s.heavy_reps)
        pb, fs, fl = median(pandas), median(floor_small), median(floor_large)
        label = f"ingest {s.ingest_small:,} returns"
        if not have("qaf.ingest"):
            note = "qaf ingest not on main yet: baselines only"
            self.add(Figure(label, None, "s", "pandas.read_excel loop", pb, "", None, note))
            self.add(Figure(f"{label} vs floor", None, "s", "unzip + XML parse", fs))
            self.add(
                Figure(f"ingest {s.ingest_large:,} returns", None, "s", "unzip + XML parse", fl)
            )
            return

        def cmd(folder: Path) -> Callable[[int], list[str]]:
            return lambda i: [
                *QAF,
                "ingest",
                str(folder),
                "--config",
                str(self.work / "ingest" / "qaf.toml"),
                "--as-of",
                INGEST_AS_OF,
                "--format",
                "json",
            ]

        def setup(_: int) -> None:
            self.workdir(wd, "ingest", base_db)

        mine = repeat(cmd(small), s.heavy_reps, setup, ok_codes=(0, 1))
        v = median(mine)
        counts = _ingest_counts(mine[-1].out)
        target_ok = v < 2.0 * s.ingest_small / 1000 and v / pb <= 0.1
        self.add(
            Figure(
                label,
                v,
                "s",
                "pandas.read_excel loop",
                pb,
                f"< {2.0 * s.ingest_small / 1000:g} s and ratio <= 0.1",
                target_ok,
                counts,
            )
        )
        self.add(Figure(f"{label} vs floor", v, "s", "unzip + XML parse", fs))
        big = repeat(cmd(large), 1 if s is SIZES["full"] else s.heavy_reps, setup, ok_codes=(0, 1))
        vl = median(big)
        self.add(
            Figure(
                f"ingest {s.ingest_large:,} returns",
                vl,
                "s",
                "unzip + XML parse",
                fl,
                note=_ingest_counts(big[-1].out),
            )
        )
        rss = max(r.rss_mb for r in big)
        rss_small = max(r.rss_mb for r in mine)
        self.add(
            Figure(
                f"ingest {s.ingest_large:,} peak RSS",
                rss,
                "MB",
                f"peak RSS of ingest {s.ingest_small:,}",
                rss_small,
                "< 300 MB",
                rss < 300,
            )
        )

    # --------------------------------------------------------------- allocate

    def allocate(self) -> None:
        s = self.sizes
        wd = data.authority(s.cases, s.auditors, self.cache, self.say)
        label = f"allocate {s.cases:,} cases / {s.auditors} auditors"
        reading = repeat([*BASELINES, "read_cases", str(wd / "data" / "cases.xlsx")], s.reps)
        b = median(reading)
        if not have("qaf.allocate_run"):
            self.add(
                Figure(
                    label,
                    None,
                    "s",
                    "pandas.read_excel(cases.xlsx)",
                    b,
                    note="qaf allocate not on main yet: workbook writing only below",
                )
            )
            self._workbooks_only(wd)
            return

        def setup(_: int) -> None:
            self.workdir(wd, "allocate")

        argv = [
            *QAF,
            "allocate",
            "--month",
            data.CYCLE,
            "--seed",
            "7",
            "--config",
            str(self.work / "allocate" / "qaf.toml"),
            "--as-of",
            data.AS_OF.isoformat(),
            "--out",
            str(self.work / "allocate" / "out"),
            "--format",
            "json",
        ]
        mine = repeat(argv, s.reps, setup, ok_codes=(0, 1))
        v = median(mine)
        files = 0
        try:
            got = json.loads(mine[-1].out)
            note = f"{len(got['allocations']):,} allocated, {len(got['unallocated']):,} unallocated"
            files = len(got["allocations"]) + 3  # the workbooks, the list, its CSV, the note
        except (ValueError, KeyError):
            note = "output not JSON"
        self.add(Figure(label, v, "s", "pandas.read_excel(cases.xlsx)", b, "< 1 s", v < 1.0, note))
        if files:
            floor = statistics.median(self._creating(files) for _ in range(s.reps))
            self.add(
                Figure(
                    f"allocate: creating {files:,} empty files (file system floor)",
                    floor,
                    "s",
                    note="part of the allocate figure: the kernel's time, not qaf's",
                )
            )

    def _creating(self, n: int) -> float:
        """Seconds to create ``n`` empty files in a new folder of the scratch folder, as
        allocate's output folder is."""
        folder = Path(tempfile.mkdtemp(dir=self.work)) / "out" / "audits"
        folder.mkdir(parents=True)
        if hasattr(os, "sync"):
            os.sync()
        start = time.perf_counter()
        for i in range(n):
            os.close(os.open(folder / f"A-{i:05d}.xlsx", os.O_WRONLY | os.O_CREAT, 0o644))
        seconds = time.perf_counter() - start
        shutil.rmtree(folder.parent.parent)
        return seconds

    def _workbooks_only(self, wd: Path) -> None:
        """Until allocate lands: write a cycle's worth of audit workbooks in-process."""
        from qaf.auditbook import write_audit_workbooks

        cfg = data.load_config(wd)
        n = max(1, round(self.sizes.cases * 0.10 / 11))
        allocs = data.synthetic_allocations(data.people(wd), n, [data.CYCLE])
        times = []
        for _ in range(self.sizes.reps):
            out = self.work / "workbooks"
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            write_audit_workbooks(allocs, cfg.tools, cfg.organisation.name, out)
            times.append(time.perf_counter() - t)
        self.add(
            Figure(f"audit workbooks: {n:,} written (in-process)", statistics.median(times), "s")
        )

    # -------------------------------------------------------- overdue, report

    def register_figures(self) -> None:
        s = self.sizes
        wd = data.authority(s.cases, s.auditors, self.cache, self.say)
        reg = data.ten_year_register(wd, s.years, s.per_cycle, cache=self.cache, say=self.say)
        base = repeat([*BASELINES, "read_sql", str(reg / "qaf.db")], s.reps)
        b = median(base)
        grades = json.loads(base[-1].out)["rows"]
        what = f"{s.years}-year register ({grades:,} grades)"
        baseline = "pandas.read_sql + groupby of all grades"

        def setup(_: int) -> None:
            self.workdir(reg, "register", reg / "qaf.db")

        toml = str(self.work / "register" / "qaf.toml")
        if _cli_has("overdue"):
            argv = [
                *QAF,
                "overdue",
                "--config",
                toml,
                "--as-of",
                REGISTER_AS_OF,
                "--format",
                "json",
            ]
            mine = repeat(argv, s.reps, setup, ok_codes=(0, 1))
            v = median(mine)
            try:
                note = f"{len(json.loads(mine[-1].out)['items']):,} overdue items"
            except (ValueError, KeyError):
                note = "output not JSON"
            self.add(
                Figure(f"overdue on the {what}", v, "s", baseline, b, "< 0.5 s", v < 0.5, note)
            )
        else:
            self.add(
                Figure(f"overdue on the {what}", None, "s", baseline, b, note="not on main yet")
            )
        if have("qaf.report") and _cli_has("report"):
            out = self.work / "register" / "report.html"
            argv = [
                *QAF,
                "report",
                "--quarter",
                REPORT_QUARTER,
                "--format",
                "html",
                "--out",
                str(out),
                "--config",
                toml,
            ]
            if _cli_option("report", "--as-of"):
                argv += ["--as-of", REGISTER_AS_OF]
            mine = repeat(argv, s.reps, setup)
            v = median(mine)
            note = f"{out.stat().st_size // 1024:,} KiB HTML" if out.exists() else "no file"
            self.add(
                Figure(
                    f"report --quarter html on the {what}",
                    v,
                    "s",
                    baseline,
                    b,
                    "< 1 s",
                    v < 1.0,
                    note,
                )
            )
        else:
            self.add(
                Figure(
                    f"report --quarter html on the {what}",
                    None,
                    "s",
                    baseline,
                    b,
                    note="not on main yet",
                )
            )


def _ingest_counts(out: str) -> str:
    try:
        files = json.loads(out)["files"]
    except (ValueError, KeyError):
        return "output not JSON"
    counts: dict[str, int] = {}
    for f in files:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    return ", ".join(f"{v:,} {k}" for k, v in sorted(counts.items()))


_HELP: dict[str, str] = {}


def _cli_help(command: str) -> str:
    if command not in _HELP:
        _HELP[command] = run([*QAF, command, "--help"]).out
    return _HELP[command]


def _cli_has(command: str) -> bool:
    return "not built yet" not in run([*QAF, command, "--config", "/nonexistent"]).err


def _cli_option(command: str, option: str) -> bool:
    return option in _cli_help(command)


# ------------------------------------------------------------------ output


def _show(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "s":
        return f"{v * 1000:,.0f} ms" if v < 1 else f"{v:,.2f} s"
    return f"{v:,.0f} {unit}"


def _ratio(f: Figure) -> str:
    r = f.ratio
    if r is None:
        return ""
    if f.unit == "s" and r < 1:
        return f"{r:.3g} ({1 / r:.1f}x faster)"
    return f"{r:.3g}"


def table(figures: Sequence[Figure], mode: str, seconds: float) -> str:
    rows = [("figure", "value", "baseline", "baseline value", "ratio", "target", "result")]
    for f in figures:
        result = "" if f.ok is None else ("PASS" if f.ok else "MISS")
        if f.value is None:
            result = "n/a"
        rows.append(
            (
                f.name,
                _show(f.value, f.unit),
                f.baseline or "",
                _show(f.baseline_value, f.unit) if f.baseline_value is not None else "",
                _ratio(f),
                f.target,
                result,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        f"qaf bench ({mode}) on {platform.node() or 'this machine'}: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{seconds:.0f} s",
        "",
    ]
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


FIGURES = {
    "startup": Bench.startup,
    "ingest": Bench.ingest,
    "allocate": Bench.allocate,
    "register": Bench.register_figures,  # overdue and report
}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (< 60 s on 2 cores)")
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the smoke test
    ap.add_argument("--json", action="store_true", help="one JSON object a line")
    ap.add_argument("--only", action="append", choices=sorted(FIGURES), help="run only these")
    ap.add_argument("--cache", type=Path, default=data.CACHE, help="data cache folder")
    ap.add_argument(
        "--work", type=Path, help="where the timed commands write (default: the temp folder)"
    )
    args = ap.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "qaf")], check=False)
    started = time.perf_counter()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qaf-bench-", dir=args.work) as tmp:
        bench = Bench(SIZES[mode], args.cache, Path(tmp), say)
        failed = False
        for name in args.only or FIGURES:
            say(f"{name} ...")
            settle()
            try:
                FIGURES[name](bench)
            except Failed as e:
                failed = True
                bench.add(Figure(name, None, "s", note=f"FAILED: {str(e).splitlines()[0]}"))
                say(str(e))
    if args.json:
        for f in bench.figures:
            print(json.dumps(f.as_json()))
    else:
        print(table(bench.figures, mode, time.perf_counter() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
