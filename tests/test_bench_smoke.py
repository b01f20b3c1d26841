"""The benchmark machinery runs end to end on the tiniest sizes (issue 8).

Structure only: every figure is one JSON object a line with the documented keys.
Timings are never asserted (they belong to `python bench/run.py`, not to tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"name", "value", "unit", "baseline", "baseline_value", "ratio"}


def test_bench_quick_json_lines_have_the_documented_keys(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--tiny",
            "--json",
            "--cache",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines, proc.stderr[-3000:]
    for obj in lines:
        assert set(obj) == KEYS, obj
        assert isinstance(obj["name"], str) and obj["name"]
        assert obj["unit"] in ("s", "MB")
        for k in ("value", "baseline_value", "ratio"):
            assert obj[k] is None or isinstance(obj[k], int | float), obj
        if obj["value"] is not None and obj["baseline_value"]:
            assert obj["ratio"] is not None
    names = [o["name"] for o in lines]
    assert names[0].startswith("startup")
    assert any(n.startswith("ingest") for n in names)
    assert any(n.startswith("overdue") for n in names)
    assert any(n.startswith("report") for n in names)
    startup = lines[0]
    assert startup["value"] and startup["baseline_value"]  # measured, whatever the speed


def test_bench_table_marks_each_target_pass_or_miss() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.run import Figure, table

    text = table(
        [
            Figure("fast", 0.1, "s", "base", 1.0, "< 1 s", True),
            Figure("slow", 2.0, "s", "base", 1.0, "< 1 s", False),
            Figure("absent", None, "s", note="not built"),
        ],
        "tiny",
        1.0,
    )
    rows = {line.split()[0]: line for line in text.splitlines() if line[:1].isalpha()}
    assert rows["fast"].rstrip().endswith("PASS")
    assert "10.0x faster" in rows["fast"]
    assert rows["slow"].rstrip().endswith("MISS")
    assert rows["absent"].rstrip().endswith("n/a")
