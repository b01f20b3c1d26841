"""Benchmark: ``qaf report --quarter --format html`` on a 10-year register (issue 8).

Builds (and caches) a synthetic register of 120 cycles, about 60,000 returns and
1 million domain grades with tests/report_fixtures.py, then measures, median of
several runs:
  - report-cli: the whole command in a fresh process (``python -m qaf report ...``)
  - report-inproc: register query + aggregation + HTML rendering in-process
  - baseline: ``pandas.read_sql`` of every grade row joined to its return + groupby
Target: report-cli < 1 s.

    PYTHONPATH=. python bench/bench_report.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qaf import report as rp  # noqa: E402
from qaf.config import read_config  # noqa: E402
from qaf.register import Register  # noqa: E402
from qaf.workdir import preset_text  # noqa: E402
from tests.report_fixtures import build_register  # noqa: E402

CACHE = ROOT / "bench" / ".cache"


def ensure(quick: bool) -> Path:
    name = "report-quick" if quick else "report-10y"
    wd = CACHE / name
    db = wd / "qaf.db"
    if db.exists():
        return wd
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    started = time.perf_counter()
    built = build_register(
        db,
        first="2017-01" if not quick else "2025-01",
        last="2026-12",
        per_cycle=590 if not quick else 200,
        as_of=date(2027, 2, 1),
        seed=11,
    )
    print(
        f"built {db}: {built.returns} returns in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return wd


def timed(fn, reps: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    wd = ensure(args.quick)
    cfg = read_config(wd / "qaf.toml")
    as_of = date(2027, 2, 1)
    period = rp.quarter_period("2026Q3")

    def inproc() -> None:
        with Register.open(cfg.register_path) as reg:
            rows = reg.report_rows(rp.report_scope(period, as_of))
        data = rp.build_report(rows, period, cfg, as_of=as_of)
        rp.render(data, "html", config_root=cfg.root)

    def cli() -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "qaf",
                "report",
                "--quarter",
                "2026Q3",
                "--format",
                "html",
                "--as-of",
                "2027-02-01",
                "--out",
                str(wd / "bench.html"),
                "--config",
                str(wd / "qaf.toml"),
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )

    def baseline() -> None:
        import sqlite3

        import pandas as pd

        conn = sqlite3.connect(cfg.register_path)
        df = pd.read_sql(
            "SELECT r.cycle, r.team, d.domain_id, d.grade FROM domain_grades d "
            "JOIN returns r ON r.id = d.return_id",
            conn,
        )
        df.groupby(["cycle", "domain_id", "grade"]).size()
        conn.close()

    with Register.open(cfg.register_path) as reg:
        n_returns = reg.scalar("SELECT count(*) FROM returns")
        n_grades = reg.scalar("SELECT count(*) FROM domain_grades")
    import resource

    def cpu_of_children(fn, reps: int) -> float:  # type: ignore[no-untyped-def]
        runs = []
        for _ in range(reps):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            fn()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            runs.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return statistics.median(runs)

    def help_cmd() -> None:
        subprocess.run(
            [sys.executable, "-m", "qaf", "--help"], check=True, capture_output=True, cwd=ROOT
        )

    results = {
        "report-cli": timed(cli, args.reps),
        "report-cli-cpu": cpu_of_children(cli, args.reps),
        "qaf-help-cpu": cpu_of_children(help_cmd, args.reps),
        "report-inproc": timed(inproc, args.reps),
        "baseline-pandas-groupby": timed(baseline, max(1, args.reps // 2)),
    }
    base = results["baseline-pandas-groupby"]
    for name, value in results.items():
        row = {
            "name": name,
            "value": round(value, 4),
            "unit": "s",
            "baseline": "baseline-pandas-groupby",
            "baseline_value": round(base, 4),
            "ratio": round(value / base, 3),
        }
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{name:28s} {value * 1000:8.0f} ms   ratio to baseline {value / base:5.2f}")
    if not args.json:
        print(f"register: {n_returns} returns, {n_grades} domain grades")


if __name__ == "__main__":
    main()
