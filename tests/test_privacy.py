"""Privacy (issue 7 item 8, rule P3): messages, files and the register carry case IDs, never
children's names; the register and its copies are readable by their owner only.

The case list of ``small_dir`` names its children (Ada, Ben and Cy Fictional); every
output of every command run on it is searched for those names.
"""

from __future__ import annotations

import stat
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config, SourceSpec, read_config
from qaf.register import Register
from qaf.sources import read_cases
from tests.conftest import CASE_HEADERS, write_csv
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import edit, grade_cell, make_return

runner = CliRunner()
CHILDREN = ("Ada Fictional", "Ben Fictional", "Cy Fictional")
owner_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def assert_no_child_name(*texts: str) -> None:
    for text in texts:
        for name in CHILDREN:
            assert name not in text, (
                f"{name!r} leaked: ...{text[max(0, text.find(name) - 80) :][:200]}"
            )


def workbook_text(path: Path) -> str:
    wb = load_workbook(path, read_only=True)
    return "\n".join(
        str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v
    )


def register_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_the_case_list_does_name_the_children(cfg: Config) -> None:
    """The premise: names are in the input, so their absence below means something."""
    names = {c.name for c in read_cases(cfg.cases).cases}
    assert set(CHILDREN) <= names


def test_allocate_shows_and_stores_case_ids_never_names(tmp_path: Path) -> None:
    """Rule P3 on the sample authority (its case list names every child): allocation
    output in every format, the allocation workbook and CSV, every audit workbook, and
    the register itself hold the sampled cases' IDs and none of their names."""
    import json

    from qaf.sources import read_staff
    from qaf.workdir import init_directory

    init_directory(tmp_path / "w", framework="generic", demo=True, force=False)
    cfg = read_config(tmp_path / "w" / "qaf.toml")
    outputs = []
    data = {}
    for fmt in ("table", "csv", "json"):  # the real run last: dry runs first
        extra = ["--dry-run"] if fmt != "json" else []
        result = runner.invoke(
            app,
            [
                "allocate",
                "--month",
                "2026-12",
                "--seed",
                "4",
                "--config",
                str(cfg.path),
                "--as-of",
                "2026-12-01",
                "--format",
                fmt,
                *extra,
            ],
        )
        assert result.exit_code in (0, 1), result.output
        outputs += [result.stdout, result.stderr]
        if fmt == "json":
            data = json.loads(result.stdout)
    sampled = {a["case_id"] for a in data["allocations"]}
    assert len(sampled) >= 5
    staff = {s.name for s in read_staff(cfg.staff).staff}
    names = {c.name for c in read_cases(cfg.cases).cases if c.case_id in sampled} - staff - {None}
    assert len(names) >= 5
    cycle_dir = tmp_path / "w" / "cycles" / "2026-12"
    texts = [*outputs, *(workbook_text(p) for p in sorted(cycle_dir.rglob("*.xlsx")))]
    texts += [p.read_text(encoding="utf-8-sig") for p in cycle_dir.rglob("*.csv")]
    assert all(any(cid in t for t in texts) for cid in sampled)  # case IDs are shown
    for text in texts:
        for name in names:
            assert name not in text, name
    stored = register_bytes(cfg.register_path)
    for name in names:
        assert str(name).encode() not in stored


def test_case_list_problems_name_rows_and_case_ids_not_children(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "cases.csv",
        CASE_HEADERS,
        [
            ["P1", "Ada Fictional", "Team A", "W", "S", "CP", "Open"],
            ["P1", "Ben Fictional", "Team A", "W", "S", "CP", "Open"],  # duplicate ID
            ["", "Cy Fictional", "Team A", "W", "S", "CP", "Open"],  # no case ID
        ],
    )
    mapping = {
        "case_id": "Child Unique ID",
        "name": "Child Name",
        "team": "Allocated Team",
        "worker": "Allocated Worker",
        "service": "Service Area",
        "category": "Category",
    }
    cases = read_cases(SourceSpec(path, mapping))
    assert len(cases.problems) == 2
    assert_no_child_name(*(str(p) for p in cases.problems))


def test_an_invalid_return_is_reported_by_case_id_not_name(cfg: Config, tmp_path: Path) -> None:
    """A rejected return for P000001 (Ada Fictional in the case list): every message, in every
    format, names the case by its ID."""
    alloc = allocation("2026-12-001", "P000001")
    setup_register(cfg, [alloc])
    path, _ = make_return(cfg, alloc, tmp_path / "returns" / "bad.xlsx")
    domain = cfg.tools["case-audit"].domains[0].id
    edit(path, {grade_cell(path, domain): "Brilliant"})  # rule G1
    texts = []
    for fmt in ("table", "json", "csv"):
        result = runner.invoke(
            app,
            [
                "ingest",
                str(path),
                "--config",
                str(cfg.path),
                "--as-of",
                "2027-01-08",
                "--dry-run",
                "--format",
                fmt,
            ],
        )
        assert result.exit_code == 1
        texts += [result.stdout, result.stderr]
    assert any("G1" in t for t in texts)
    assert any("P000001" in t for t in texts)
    assert_no_child_name(*texts)


def test_overdue_and_its_messages_name_case_ids_only(tmp_path: Path) -> None:
    """Rules T4, P3: the overdue list and the e-mails it sends."""
    from tests.test_overdue_support import allocation as late_allocation
    from tests.test_overdue_support import make_workdir

    cfg = make_workdir(tmp_path)
    write_csv(
        tmp_path / "data" / "cases.csv",
        CASE_HEADERS,
        [["P000001", "Ada Fictional", "Team A", "Sam Worker", "Service 1", "CiN", "Open"]],
    )
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([late_allocation("A1", date(2026, 12, 31))])
    result = runner.invoke(
        app, ["overdue", "--notify", "--config", str(cfg.path), "--as-of", "2027-01-20"]
    )
    assert result.exit_code == 0, result.output
    assert "P000001" in result.stdout
    mails = [p.read_text(encoding="utf-8") for p in cfg.notify.outbox.glob("*.eml")]
    assert mails and all("P000001" in m for m in mails)
    assert_no_child_name(result.stdout, result.stderr, *mails)


@owner_only
def test_register_and_its_journal_are_owner_only(cfg: Config) -> None:
    setup_register(cfg, [allocation()])
    with Register.open(cfg.register_path) as reg:
        with reg.transaction() as conn:
            conn.execute("UPDATE cycles SET theme = 'x'")
        for p in (cfg.register_path, Path(f"{cfg.register_path}-wal")):
            if p.exists():
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


@owner_only
def test_register_is_owner_only_even_with_a_permissive_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        path = tmp_path / "deep" / "qaf.db"
        Register.open(path).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@owner_only
def test_migration_backup_and_qaf_backup_are_owner_only(cfg: Config, tmp_path: Path) -> None:
    setup_register(cfg, [allocation()])
    with Register.open(cfg.register_path) as reg:
        copy = reg.backup(tmp_path / "copy.sqlite")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600


@pytest.mark.parametrize("unallocated", [False, True])
def test_a_name_typed_as_the_case_id_is_never_echoed_or_stored(
    cfg: Config, tmp_path: Path, unallocated: bool
) -> None:
    """Rule I2 / P3: an auditor who types the child's name into "Case ID" gets an error that
    points at the cell without repeating the name; nothing is stored."""
    from tests.test_ingest import find

    alloc = allocation("2026-12-001", "P000001")
    setup_register(cfg, [] if unallocated else [alloc])
    path, _ = make_return(cfg, alloc, tmp_path / "returns" / "named.xlsx")
    edit(path, {find(path, "Case ID"): "Ada Fictional"})
    if unallocated:  # no hidden sheet or audit ID to match by: the typed case ID is all
        edit(path, {find(path, "Audit ID"): None})
        from openpyxl import load_workbook

        wb = load_workbook(path)
        del wb["qaf"]
        wb.save(path)
    args = ["ingest", str(path), "--config", str(cfg.path), "--as-of", "2027-01-08"]
    if unallocated:
        args.append("--unallocated")
    texts = []
    for fmt in ("table", "json", "csv"):
        result = runner.invoke(app, [*args, "--format", fmt])
        assert result.exit_code == 1, result.output
        texts += [result.stdout, result.stderr]
    assert any("is it a name?" in t for t in texts)
    assert_no_child_name(*texts)
    assert b"Ada Fictional" not in register_bytes(cfg.register_path)
