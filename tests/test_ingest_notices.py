"""Ingest tells the QA officer at once: safety concerns (E3) even from rejected returns,
the grade alerts raised (E1), the files skipped, and a warning count that matches the table.

Trial findings F10 (a rejected return saying the child is not safe raised nothing) and F13.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import edit, find, grade_cell, make_return, stored

AS_OF = date(2027, 1, 8)
CONCERN = "Child seen with an unexplained bruise; no strategy discussion recorded"
HOS_NOBODY = (
    'nobody as Head of Service: nobody in the roster is Head of Service of service "Service 1"'
)
SAFETY_REJECTED = (
    "SAFETY: 2026-12-001 (case P000001): the auditor answered No to 'Is the child safe?' "
    f'in a return rejected for form errors: "{CONCERN}" — Tia Manager (Team Manager), '
    f"{HOS_NOBODY} to be told now"
)


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def unsafe_return(cfg: Config, dest: Path, *, form_error: bool = True, **changes: object) -> Path:
    """A return answering No to "Is the child safe?", with a bad grade when ``form_error``."""
    path, _ = make_return(cfg, allocation(), dest, safe=False, concern=CONCERN, **changes)
    if form_error:
        edit(path, {grade_cell(path, "D2"): "Brilliant"})
    return path


def safety_followups(cfg: Config) -> list[tuple[object, ...]]:
    return stored(
        cfg,
        "SELECT audit_id, case_id, return_id, responsible, due FROM followups "
        "WHERE kind = 'safety' ORDER BY id",
    )


def invoke(cfg: Config, *args: str) -> object:
    return CliRunner().invoke(app, [*args, "--config", str(cfg.path)])


def test_rejected_return_saying_child_not_safe_raises_e3(cfg: Config, tmp_path: Path) -> None:
    # rule E3 (F10): read even when rules G1 make the return invalid; recorded for overdue
    setup_register(cfg, [allocation()])
    path = unsafe_return(cfg, tmp_path / "returns" / "a.xlsx")
    [f] = ingest_paths(cfg, [path], as_of=AS_OF).files
    assert f.status == "rejected"
    assert "G1" in {p.rule for p in f.problems}
    assert f.safety is not None and f.safety.message() == SAFETY_REJECTED
    assert safety_followups(cfg) == [("2026-12-001", "P000001", None, "Tia Manager", "2027-01-08")]


def test_rejected_safety_concern_is_printed_first_and_in_json(cfg: Config, tmp_path: Path) -> None:
    # rule E3 (F10): top of the table output; the JSON's "safety" equals the library's
    setup_register(cfg, [allocation()])
    path = unsafe_return(cfg, tmp_path / "returns" / "a.xlsx")
    args = ["ingest", str(path), "--as-of", "2027-01-08"]
    dry = invoke(cfg, *args, "--dry-run", "--format", "json")
    assert dry.exit_code == 1  # type: ignore[attr-defined]
    data = json.loads(dry.stdout)  # type: ignore[attr-defined]
    lib = ingest_paths(cfg, [path], as_of=AS_OF, dry_run=True).as_json()
    assert data == lib
    assert next(iter(data)) == "safety"
    [notice] = data["safety"]
    assert notice["message"] == SAFETY_REJECTED
    assert (notice["rule"], notice["stored"], notice["answer"]) == ("E3", False, "No")
    assert SAFETY_REJECTED in dry.stderr  # type: ignore[attr-defined]
    assert safety_followups(cfg) == []  # a dry run stores nothing
    table = invoke(cfg, *args)
    assert table.exit_code == 1  # type: ignore[attr-defined]
    assert table.stdout.splitlines()[0] == SAFETY_REJECTED  # type: ignore[attr-defined]


def test_overdue_lists_the_rejected_returns_safety_concern_first(
    cfg: Config, tmp_path: Path
) -> None:
    # rule E3: at the top of every list until acknowledged, from the day it was raised
    setup_register(cfg, [allocation(due=date(2026, 12, 31))])
    path = unsafe_return(cfg, tmp_path / "returns" / "a.xlsx")
    assert invoke(cfg, "ingest", str(path), "--as-of", "2027-01-08").exit_code == 1  # type: ignore[attr-defined]
    result = invoke(cfg, "overdue", "--as-of", "2027-01-08", "--format", "json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    items = json.loads(result.stdout)["items"]  # type: ignore[attr-defined]
    assert next((i["kind"], i["rule"], i["case_id"]) for i in items) == ("safety", "E3", "P000001")
    assert items[0]["responsible"] == "Tia Manager"
    assert {n["name"] for n in items[0]["notify"] if n["name"]} == {"Tia Manager"}


def test_resubmissions_do_not_raise_the_safety_concern_twice(cfg: Config, tmp_path: Path) -> None:
    # rule E3: keyed by audit ID; the accepted re-submission adopts the recorded follow-up
    setup_register(cfg, [allocation()])
    first = unsafe_return(cfg, tmp_path / "returns" / "a.xlsx")
    ingest_paths(cfg, [first], as_of=AS_OF)
    again = unsafe_return(cfg, tmp_path / "returns2" / "a again.xlsx", seed=4)
    [f] = ingest_paths(cfg, [again], as_of=date(2027, 1, 11)).files
    assert f.status == "rejected"
    assert f.safety is not None
    assert f.safety.message() == SAFETY_REJECTED + " (raised first on 08/01/2027)"
    fixed = unsafe_return(cfg, tmp_path / "returns3" / "a fixed.xlsx", form_error=False)
    [ok] = ingest_paths(cfg, [fixed], as_of=date(2027, 1, 12)).files
    assert ok.status == "accepted"
    assert ok.safety is not None and ok.safety.stored
    assert safety_followups(cfg) == [
        ("2026-12-001", "P000001", ok.return_id, "Tia Manager", "2027-01-08")
    ]


def test_concern_described_without_an_answer_is_raised_from_a_rejected_return(
    cfg: Config, tmp_path: Path
) -> None:
    # rule E3: "Is the child safe?" left blank but a concern described
    setup_register(cfg, [allocation()])
    path = unsafe_return(cfg, tmp_path / "returns" / "a.xlsx")
    edit(path, {find(path, "Is the child safe?"): None})
    [f] = ingest_paths(cfg, [path], as_of=AS_OF).files
    assert f.status == "rejected" and f.safety is not None
    assert f.safety.message().startswith(
        "SAFETY: 2026-12-001 (case P000001): the auditor described a safety concern "
        "('Is the child safe?' not answered) in a return rejected for form errors"
    )


def test_rejected_return_saying_child_is_safe_raises_nothing(cfg: Config, tmp_path: Path) -> None:
    # rule E3: only a "No" (or a described concern) is a safety concern
    setup_register(cfg, [allocation()])
    path, _ = make_return(cfg, allocation(), tmp_path / "returns" / "a.xlsx", safe=True)
    edit(path, {grade_cell(path, "D2"): "Brilliant"})
    report = ingest_paths(cfg, [path], as_of=AS_OF)
    assert report.safety_notices() == [] and report.as_json()["safety"] == []
    assert safety_followups(cfg) == []


def test_accepted_return_names_its_safety_concern(cfg: Config, tmp_path: Path) -> None:
    # rule E3 (F13): the ingest output says a safety concern was raised
    setup_register(cfg, [allocation()])
    path = unsafe_return(cfg, tmp_path / "returns" / "a.xlsx", form_error=False)
    result = invoke(cfg, "ingest", str(path), "--as-of", "2027-01-08")
    assert result.exit_code == 0, result.stdout  # type: ignore[attr-defined]
    assert result.stdout.splitlines()[0] == (  # type: ignore[attr-defined]
        "SAFETY: 2026-12-001 (case P000001): the auditor answered No to 'Is the child safe?': "
        f'"{CONCERN}" — Tia Manager (Team Manager), {HOS_NOBODY} to be told now'
    )
    assert len(safety_followups(cfg)) == 1


def test_grade_alerts_are_named_in_the_output(cfg: Config, tmp_path: Path) -> None:
    # rule E1 (F13): one line per alert, naming who is to be told (and nobody found)
    setup_register(cfg, [allocation()])
    path, _ = make_return(cfg, allocation(), tmp_path / "returns" / "a.xlsx", safe=True)
    edit(path, {find(path, "Overall grade"): "Good"})
    report = ingest_paths(cfg, [path], as_of=AS_OF)
    [f] = report.files
    assert f.status == "accepted", f.problems
    assert "E1: audit of case P000001 graded Good — to be told: Tia Manager (Team Manager)" in (
        f.alerts
    )
    assert report.as_json()["alerts"][0]["message"] == f.alerts[0]
    result = invoke(cfg, "ingest", str(path), "--as-of", "2027-01-08", "--dry-run")
    assert result.exit_code == 0  # type: ignore[attr-defined]


def test_files_neither_workbook_nor_csv_are_reported_as_skipped(
    cfg: Config, tmp_path: Path
) -> None:
    # F13: notes.pdf is named; Excel lock files, Thumbs.db and desktop.ini stay silent
    folder = tmp_path / "returns"
    folder.mkdir()
    for name in ("notes.pdf", "Thumbs.db", "desktop.ini", "~$a.xlsx", ".DS_Store"):
        (folder / name).write_bytes(b"x")
    report = ingest_paths(cfg, [folder], as_of=AS_OF)
    assert report.skipped == [
        (str(folder / "notes.pdf"), "not a workbook or CSV (.xlsx, .xlsm, .xls, .csv)")
    ]
    result = invoke(cfg, "ingest", str(folder), "--as-of", "2027-01-08")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.stdout.splitlines()[-1] == (  # type: ignore[attr-defined]
        "Skipped notes.pdf: not a workbook or CSV (.xlsx, .xlsm, .xls, .csv)"
    )
    assert "Thumbs" not in result.stdout and "desktop" not in result.stdout  # type: ignore[attr-defined]


def test_warning_count_matches_the_problems_listed(cfg: Config, tmp_path: Path) -> None:
    # F11/F13: a warning on a rejected file counts; the superseded note (I5) is not listed
    a1, a2 = allocation(), allocation("2026-12-002", "P000002")
    setup_register(cfg, [a1, a2])
    good, _ = make_return(cfg, a1, tmp_path / "r1" / "a.xlsx")
    ingest_paths(cfg, [good], as_of=AS_OF)
    _corrected, _ = make_return(cfg, a1, tmp_path / "r2" / "a corrected.xlsx", seed=5)
    bad, _ = make_return(cfg, a2, tmp_path / "r2" / "b.xlsx")
    edit(bad, {grade_cell(bad, "D2"): "Brilliant", find(bad, "Overall grade"): "Outstanding"})
    report = ingest_paths(cfg, [tmp_path / "r2"], as_of=AS_OF)
    listed = report.listed_problems()
    assert report.counts()["warnings"] == sum(1 for _, p in listed if p.level == "warning")
    assert report.counts()["superseded"] == 1
    assert not any(p.rule == "I5" for _, p in listed)


def test_concern_of_a_return_matching_no_allocation_is_adopted_by_the_matched_one(
    cfg: Config, tmp_path: Path
) -> None:
    # rules E3, I2: keyed by case ID when no allocation matched; the later return of the
    # audit for that case takes it over (one follow-up, now carrying the audit ID)
    from openpyxl import load_workbook

    setup_register(cfg, [allocation()])
    path = unsafe_return(cfg, tmp_path / "returns" / "a.xlsx", form_error=False)
    edit(path, {find(path, "Audit ID"): "2026-12-999", find(path, "Auditor"): "Nia Nobody"})
    wb = load_workbook(path)
    wb["qaf"]["B1"] = "2026-12-999"
    wb.save(path)
    [f] = ingest_paths(cfg, [path], as_of=AS_OF).files
    assert f.status == "rejected"
    assert "I2" in {p.rule for p in f.problems}
    assert f.safety is not None and f.safety.audit_id is None
    assert f.safety.message().startswith("SAFETY: a.xlsx (case P000001): the auditor answered No")
    assert safety_followups(cfg) == [(None, "P000001", None, "Tia Manager", "2027-01-08")]
    fixed = unsafe_return(cfg, tmp_path / "returns2" / "a.xlsx", form_error=False)
    [ok] = ingest_paths(cfg, [fixed], as_of=date(2027, 1, 11)).files
    assert ok.status == "accepted"
    assert safety_followups(cfg) == [
        ("2026-12-001", "P000001", ok.return_id, "Tia Manager", "2027-01-08")
    ]
