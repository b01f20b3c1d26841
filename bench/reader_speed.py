#!/usr/bin/env python
"""CPU per returned audit workbook: the reader of qaf.xlsxsafe against the old path and the floor.

    python bench/reader_speed.py                  # the cached benchmark returns, or made here
    python bench/reader_speed.py --files 300 --repeat 7 --json
    python bench/reader_speed.py --dir some/returns

Figures, in one run on the same files (read into memory first), CPU time
(``time.process_time``: other processes on the machine do not count), median of
``--repeat`` rounds, each method in turn within a round:

* ``old``: the safety checks, then python-calamine reading the bytes again (the
  reader before qaf.xlsxparse; no part is served from the unpack cache);
* ``new``: ``read_workbook`` as ingest calls it, in steady state (the parts returns
  of one template share are unpacked once);
* ``new-cold``: the same with the unpack cache emptied before each file;
* ``floor``: zipfile + ElementTree of every XML part, no checks, no values.

Also the share of files the fast reader read itself (the rest fell back to calamine).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import random
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from qaf import xlsxsafe  # noqa: E402
from qaf.config import Limits  # noqa: E402

LIMITS = Limits()
Book = tuple[Path, bytes]


def cached_returns(directory: str | None, n: int) -> list[str]:
    pattern = (
        str(Path(directory) / "*.xlsx")
        if directory
        else str(ROOT / "bench" / ".cache" / "returns-*" / "first-1000" / "*.xlsx")
    )
    return sorted(glob.glob(pattern))[:n]


def made_returns(n: int, out: Path) -> list[Path]:
    """Filled returns of the generic preset, as the simulator fills them."""
    from qaf.auditbook import write_audit_workbooks
    from qaf.config import read_config
    from qaf.records import Allocation
    from qaf.samples.simulate import fill_workbook_fast, simulate_answers
    from qaf.workdir import preset_text

    (out / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    cfg = read_config(out / "qaf.toml")
    tool = cfg.tools["case-audit"]
    rng = random.Random(8)
    allocs = [
        Allocation(
            audit_id=f"A-2026-01-{i:05d}",
            cycle="2026-01",
            case_id=f"P{i:06d}",
            team="Team A",
            service="Service 1",
            category="CiN",
            worker="Sam Worker",
            auditor="Tia Manager",
            auditor_email="tia@example.org",
            auditor_role="Team Manager",
            tool="case-audit",
            type="audit",
            due=date(2026, 1, 30),
        )
        for i in range(n)
    ]
    blanks = write_audit_workbooks(allocs, cfg.tools, "Northvale", out / "blank")
    paths = []
    for alloc, blank in zip(allocs, blanks, strict=True):
        dest = out / "returns" / blank.name
        dest.parent.mkdir(exist_ok=True)
        paths.append(fill_workbook_fast(blank, dest, simulate_answers(alloc, tool, rng), tool))
    return paths


def old_path(path: Path, data: bytes) -> object:
    xlsxsafe._UNPACKED.clear()
    zf = xlsxsafe.check_zip(data, path, LIMITS)
    xlsxsafe.check_parts(zf, path, data)
    return xlsxsafe._read_with_calamine(path, data)


def new_path(path: Path, data: bytes) -> object:
    return xlsxsafe.read_workbook(path, LIMITS, data)


def new_cold(path: Path, data: bytes) -> object:
    xlsxsafe._UNPACKED.clear()
    return xlsxsafe.read_workbook(path, LIMITS, data)


def floor(path: Path, data: bytes) -> object:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.endswith((".xml", ".rels")):
                ElementTree.fromstring(z.read(name))
    return None


METHODS: dict[str, Callable[[Path, bytes], object]] = {
    "old": old_path,
    "new": new_path,
    "new-cold": new_cold,
    "floor": floor,
}


def fast_share(books: list[Book]) -> float:
    hits = 0
    for path, data in books:
        deferred: list[str] = []
        zf = xlsxsafe.check_zip(data, path, LIMITS)
        parts = xlsxsafe.check_parts(zf, path, data, deferred=deferred)
        hits += xlsxsafe._read_fast(parts, deferred, path) is not None
    return hits / len(books)


def measure(books: list[Book], repeat: int) -> dict[str, float]:
    """Median CPU milliseconds per file of each method."""
    rounds: dict[str, list[float]] = {name: [] for name in METHODS}
    for fn in METHODS.values():  # warm up: imports, caches
        for path, data in books[:20]:
            fn(path, data)
    for _ in range(repeat):
        for name, fn in METHODS.items():
            start = time.process_time()
            for path, data in books:
                fn(path, data)
            rounds[name].append((time.process_time() - start) * 1000 / len(books))
    return {name: statistics.median(times) for name, times in rounds.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300, help="returns to read (default 300)")
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the median is reported")
    ap.add_argument("--dir", help="a folder of returns (default: bench/.cache's first 1,000)")
    ap.add_argument("--json", action="store_true", help="one JSON object a line")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qaf-reader-") as tmp:
        paths = [Path(p) for p in cached_returns(args.dir, args.files)]
        source = "cached returns"
        if not paths:
            paths = made_returns(args.files, Path(tmp))
            source = "returns made here (generic preset)"
        books = [(p, p.read_bytes()) for p in paths]
    for path, data in books:  # the new reader gives the old one's workbook
        assert new_path(path, data) == old_path(path, data), path
    ms = measure(books, args.repeat)
    share = fast_share(books)
    if args.json:
        for name, value in ms.items():
            print(
                json.dumps(
                    {
                        "name": f"reader-{name}",
                        "value": round(value, 4),
                        "unit": "ms CPU per workbook",
                        "baseline": "reader-old",
                        "baseline_value": round(ms["old"], 4),
                        "ratio": round(value / ms["old"], 3),
                    }
                )
            )
        print(json.dumps({"name": "reader-fast-share", "value": round(share, 3), "unit": "1"}))
        return 0
    print(f"{len(books)} {source}, median of {args.repeat} rounds, CPU ms per workbook")
    for name, value in ms.items():
        print(f"  {name:9s} {value:7.3f} ms   {value / ms['old']:5.2f} x old")
    print(f"  read by the fast reader itself: {share:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
