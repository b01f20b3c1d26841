"""Does a change to ingest store exactly what it stored before? (issue 8: speed, same contents)

Ingests the benchmark's returns with the code of a git ref (default ``main``) and with
this tree's, each into a copy of the same allocations register, and compares what the
two registers hold, table by table, row by row. Timestamps (``...T09:00:00``) are masked;
tables only one side has (a newer migration) are named, not compared; indexes and the
migrations table are not content.

The returns are ingested in two overlapping runs (files 1-60%, then 50%-100%: the
overlap is "already ingested"), once read in this process and once by two reader
processes. Exit code 0 when every register is the same.

    python bench/same_register.py                 # 1,000 returns of the full bench data
    python bench/same_register.py --quick         # 100 returns of the quick bench data
    python bench/same_register.py --ref HEAD~3    # against another commit
    python bench/same_register.py --cache ../main/bench/.cache   # reuse built bench data
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")

PREPARE = """
import sys
from pathlib import Path
from bench import data
cases, auditors, n, use = (int(a) for a in sys.argv[1:5])
db, cache = Path(sys.argv[5]), Path(sys.argv[6])
wd = data.authority(cases, auditors, cache)
allocs, files = data.returns(wd, n, cache)
data.record_allocations(db, allocs, data.AS_OF)
print(wd)
for f in sorted(files)[:use]:
    print(f)
"""

INGEST = """
import sys
from datetime import date
from pathlib import Path
import qaf.ingest as ing
from qaf.config import load_config
toml, jobs, listing = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
ing._worker_count = lambda files: jobs
cfg = load_config(toml)
files = [Path(p) for p in listing.read_text().split()]
first, second = files[: len(files) * 6 // 10], files[len(files) // 2 :]
for part in (first, second):
    report = ing.ingest_paths(cfg, part, as_of=date(2027, 1, 20))
    print(report.counts())
"""


def snapshot(ref: str, dest: Path) -> Path:
    """The ``qaf`` package of a git ref, unpacked into ``dest``."""
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "qaf"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as t:
        t.extractall(dest, filter="data")
    return dest


def run(code: str, pythonpath: str, *args: object) -> str:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"failed ({pythonpath}):\n{out.stderr[-3000:]}")
    return out.stdout


def contents(db: Path) -> dict[str, tuple[list[str], list[tuple[object, ...]]]]:
    """Table -> (columns, rows in key order), timestamps masked."""
    con = sqlite3.connect(db)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'"
            )
        ]
        out = {}
        for t in tables:
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')]
            rows = con.execute(f'SELECT * FROM "{t}" ORDER BY 1, 2').fetchall()
            out[t] = (cols, [tuple(_masked(v) for v in r) for r in rows])
        return out
    finally:
        con.close()


def _masked(v: object) -> object:
    return "<timestamp>" if isinstance(v, str) and TIMESTAMP.match(v) else v


def differences(base: Path, branch: Path) -> tuple[list[str], list[str]]:
    """(notes: tables only one side has, differences of the tables both have)."""
    a, b = contents(base), contents(branch)
    notes = [f"table {t} only in {side} (not compared)" for t, side in _only(a, b)]
    found: list[str] = []
    for t in sorted(set(a) & set(b)):
        (ca, ra), (cb, rb) = a[t], b[t]
        if ca != cb:
            found.append(f"table {t}: columns differ ({ca} / {cb})")
            continue
        if ra != rb:
            first = next((i for i, (x, y) in enumerate(zip(ra, rb, strict=False)) if x != y), None)
            where = f"first at row {first + 1}" if first is not None else "row counts"
            found.append(f"table {t}: {len(ra)} / {len(rb)} rows, different ({where})")
    return notes, found


def _only(a: dict[str, object], b: dict[str, object]) -> list[tuple[str, str]]:
    return [(t, "the ref") for t in sorted(set(a) - set(b))] + [
        (t, "this tree") for t in sorted(set(b) - set(a))
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main", help="git ref of the code to compare with")
    ap.add_argument("--quick", action="store_true", help="100 returns of the quick bench data")
    ap.add_argument("--keep", type=Path, help="leave the registers in this folder")
    ap.add_argument(
        "--cache",
        type=Path,
        default=ROOT / "bench" / ".cache",
        help="the bench data cache: another checkout's saves building it again (data "
        "missing or stale there is built there, replacing older builds)",
    )
    args = ap.parse_args(argv)
    cases, auditors, n, use = (5_000, 40, 300, 100) if args.quick else (50_000, 400, 10_000, 1_000)
    work = args.keep or Path(tempfile.mkdtemp(prefix="qaf-same-"))
    work.mkdir(parents=True, exist_ok=True)
    base_code = snapshot(args.ref, work / "ref")
    alloc_db = work / "allocations.db"
    alloc_db.unlink(missing_ok=True)
    prepare_path = f"{base_code}{os.pathsep}{ROOT}"
    lines = run(PREPARE, prepare_path, cases, auditors, n, use, alloc_db, args.cache.resolve())
    authority, *files = lines.split()
    listing = work / "files.txt"
    listing.write_text("\n".join(files) + "\n")
    ok = True
    for jobs in (1, 2):
        dbs = []
        for side, code in (("ref", base_code), ("tree", ROOT)):
            wd = work / f"{side}-{jobs}"
            shutil.rmtree(wd, ignore_errors=True)
            wd.mkdir()
            shutil.copy(Path(authority) / "qaf.toml", wd / "qaf.toml")
            os.symlink(Path(authority, "data").resolve(), wd / "data")
            shutil.copy(alloc_db, wd / "qaf.db")
            counts = run(INGEST, str(code), wd / "qaf.toml", jobs, listing).strip()
            print(f"{side} ({jobs} reader{'s' if jobs > 1 else ''}): {counts.splitlines()}")
            dbs.append(wd / "qaf.db")
        notes, found = differences(*dbs)
        print(
            f"{len(files):,} returns, {jobs} reader(s): " + ("SAME" if not found else "DIFFERENT")
        )
        for line in found + notes:
            print("  " + line)
        ok = ok and not found
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
