"""Rule I5: two returns of one audit in one `qaf ingest` run — the newer one is kept.

Trial 3 F11: a corrected ``A-...-v2.xlsx`` sorts before ``A-....xlsx`` ("-" < "."), as does
Outlook's ``A-... (1).xlsx``, and used to be superseded by the uncorrected original read
after it. Newer: the workbook's last-saved time (docProps/core.xml ``modified``), then the
file's modification time, then the later name (qaf/resubmissions.py).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config, read_config
from qaf.ingest import FileReader, Labels, _read_in_workers, ingest_paths
from qaf.register import Register
from qaf.xlsxsafe import read_workbook
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import edit, find, make_return

AS_OF = date(2027, 1, 21)
SUMMARY = "Summary of strengths and areas for improvement"
EARLY = datetime(2027, 1, 10, 18, 44, 3, tzinfo=UTC)
LATE = datetime(2027, 1, 15, 19, 40, 55, tzinfo=UTC)


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def set_saved(path: Path, when: datetime | None) -> None:
    """Rewrite docProps/core.xml ``modified`` as Excel would on saving at ``when``
    (None: drop the part's time, as a workbook without core properties)."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "docProps/core.xml":
                stamp = "" if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + stamp.encode() + rb"\2", data
                )
            dst.writestr(info, data)
    path.write_bytes(out.getvalue())


def set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def original_and_correction(
    cfg: Config, original: Path, corrected: Path, *, audit_id: str = "2026-12-001"
) -> None:
    """The auditor's return saved at EARLY, and the corrected one saved at LATE."""
    alloc = allocation(audit_id, "P000001")
    setup_register(cfg, [alloc])
    make_return(cfg, alloc, original)
    corrected.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(original, corrected)
    edit(corrected, {find(corrected, SUMMARY): "Corrected."})
    set_saved(original, EARLY)
    set_saved(corrected, LATE)
    set_mtime(original, EARLY)
    set_mtime(corrected, LATE)


def current_summary(cfg: Config) -> list[tuple[str, str]]:
    """(file name, summary) of every current return."""
    with Register.open(cfg.register_path) as reg:
        rows = reg.query("SELECT source_path, summary FROM returns WHERE superseded_by IS NULL")
        return [(Path(r[0]).name, r[1]) for r in rows]


def history_of(cfg: Config) -> list[tuple[str, str]]:
    """(superseded file, the file superseding it)."""
    with Register.open(cfg.register_path) as reg:
        rows = reg.query(
            "SELECT o.source_path, n.source_path FROM returns o "
            "JOIN returns n ON n.id = o.superseded_by"
        )
        return [(Path(r[0]).name, Path(r[1]).name) for r in rows]


@pytest.mark.parametrize(
    "corrected_name",
    ["2026-12-001-v2.xlsx", "2026-12-001 (1).xlsx", "2026-12-001 - corrected.xlsx"],
)
def test_rule_I5_the_newer_return_in_one_folder_is_kept_whatever_its_name(
    cfg: Config, tmp_path: Path, corrected_name: str
) -> None:
    """Rule I5 (trial 3 F11): the correction sorts before the original; it is kept all the
    same, and the original, read second, is stored as its history with a warning."""
    folder = tmp_path / "returns"
    original, corrected = folder / "2026-12-001.xlsx", folder / corrected_name
    original_and_correction(cfg, original, corrected)
    report = ingest_paths(cfg, [folder], as_of=AS_OF)
    assert [(Path(f.path).name, f.status) for f in report.files] == [
        (corrected_name, "accepted"),
        ("2026-12-001.xlsx", "accepted"),
    ]
    assert current_summary(cfg) == [(corrected_name, "Corrected.")]
    assert history_of(cfg) == [("2026-12-001.xlsx", corrected_name)]
    [warning] = report.files[1].problems
    assert (warning.rule, warning.level) == ("I5", "warning")
    assert warning.message == (
        f"two returns for 2026-12-001 arrived in this run: {corrected_name} "
        "(saved 15/01/2027 19:40:55 UTC) is the newer and is kept; this one "
        "(saved 10/01/2027 18:44:03 UTC) is kept as its history"
    )


@pytest.mark.parametrize("corrections_first", [True, False])
def test_rule_I5_folder_arguments_in_either_order_keep_the_newer(
    cfg: Config, tmp_path: Path, corrections_first: bool
) -> None:
    """Rule I5: `qaf ingest resub ret` and `qaf ingest ret resub` store the same."""
    original = tmp_path / "ret" / "2026-12-001.xlsx"
    corrected = tmp_path / "resub" / "2026-12-001.xlsx"
    original_and_correction(cfg, original, corrected)
    folders = [corrected.parent, original.parent]
    if not corrections_first:
        folders.reverse()
    report = ingest_paths(cfg, folders, as_of=AS_OF)
    assert current_summary(cfg) == [("2026-12-001.xlsx", "Corrected.")]
    with Register.open(cfg.register_path) as reg:
        [(old_path,)] = reg.query("SELECT source_path FROM returns WHERE superseded_by IS NOT NULL")
    assert Path(old_path).parent.name == "ret"
    statuses = [f.status for f in report.files]
    assert statuses == (
        ["accepted", "accepted"] if corrections_first else ["accepted", "superseded"]
    )
    second = report.files[1].problems[0].message
    if corrections_first:
        assert second.endswith("this one (saved 10/01/2027 18:44:03 UTC) is kept as its history")
    else:
        assert second == (
            "two returns for 2026-12-001 arrived in this run: this one (saved 15/01/2027 "
            "19:40:55 UTC) is the newer and is kept; 2026-12-001.xlsx (saved 10/01/2027 "
            "18:44:03 UTC) is kept as its history"
        )


def test_rule_I5_same_saved_time_the_file_time_decides_then_the_name(
    cfg: Config, tmp_path: Path
) -> None:
    """Rule I5: saved in the same second (or no saved time at all), the file's modification
    time decides; with that equal too, the later name (what `qaf ingest` did before)."""
    folder = tmp_path / "returns"
    original, corrected = folder / "2026-12-001.xlsx", folder / "2026-12-001-v2.xlsx"
    original_and_correction(cfg, original, corrected)
    set_saved(original, None)
    set_saved(corrected, None)
    set_mtime(original, EARLY)
    set_mtime(corrected, LATE)
    report = ingest_paths(cfg, [folder], as_of=AS_OF, dry_run=True)
    assert report.files[1].problems[0].message == (
        "two returns for 2026-12-001 arrived in this run: 2026-12-001-v2.xlsx (file modified "
        "15/01/2027 19:40:55 UTC) is the newer and is kept; this one (file modified "
        "10/01/2027 18:44:03 UTC) is kept as its history"
    )
    set_mtime(corrected, EARLY)  # a tie: the later name, 2026-12-001.xlsx, is kept
    ingest_paths(cfg, [folder], as_of=AS_OF)
    assert current_summary(cfg)[0][0] == "2026-12-001.xlsx"


def test_rule_I5_same_saved_time_the_warning_shows_the_file_times_that_decided(
    cfg: Config, tmp_path: Path
) -> None:
    """Rule I5 (trial 4): both saved in the same second, the file time decides, and the
    warning said only "(saved 10/01/2027 18:44:03 UTC) is the newer ...; this one (saved
    10/01/2027 18:44:03 UTC)": the same time twice. It now gives the file times too."""
    folder = tmp_path / "returns"
    original, corrected = folder / "2026-12-001.xlsx", folder / "2026-12-001-v2.xlsx"
    original_and_correction(cfg, original, corrected)
    set_saved(corrected, EARLY)
    set_mtime(corrected, LATE)
    report = ingest_paths(cfg, [folder], as_of=AS_OF, dry_run=True)
    assert report.files[1].problems[0].message == (
        "two returns for 2026-12-001 arrived in this run: 2026-12-001-v2.xlsx (saved "
        "10/01/2027 18:44:03 UTC, file modified 15/01/2027 19:40:55 UTC) is the newer and is "
        "kept; this one (saved 10/01/2027 18:44:03 UTC, file modified 10/01/2027 18:44:03 "
        "UTC) is kept as its history"
    )


def test_rule_I5_a_dry_run_says_what_the_run_would_keep(cfg: Config, tmp_path: Path) -> None:
    """Rule I5: --dry-run gives the same statuses and warnings, and stores nothing."""
    folder = tmp_path / "returns"
    original_and_correction(cfg, folder / "2026-12-001.xlsx", folder / "2026-12-001-v2.xlsx")
    dry = ingest_paths(cfg, [folder], as_of=AS_OF, dry_run=True).as_json()
    assert current_summary(cfg) == []
    real = ingest_paths(cfg, [folder], as_of=AS_OF).as_json()
    assert dry == real


def test_rule_I5_separate_runs_the_later_run_supersedes(cfg: Config, tmp_path: Path) -> None:
    """Rule I5: across runs what arrives later is the re-submission, whatever its times
    (README): the register does not keep the first file's saved time."""
    folder = tmp_path / "returns"
    original, corrected = folder / "2026-12-001.xlsx", folder / "2026-12-001-v2.xlsx"
    original_and_correction(cfg, original, corrected)
    ingest_paths(cfg, [corrected], as_of=AS_OF)
    [f] = ingest_paths(cfg, [original], as_of=AS_OF).files
    assert f.status == "superseded"
    assert f.problems[0].message == (
        "a corrected re-submission: replaces the earlier return of 2026-12-001 "
        "(kept in the register's history)"
    )
    assert current_summary(cfg)[0][0] == "2026-12-001.xlsx"


def test_rule_I5_the_history_return_raises_nothing_left_open(cfg: Config, tmp_path: Path) -> None:
    """Rule I5: the older return stored second leaves the register as if it had come first:
    its follow-ups closed as superseded, one current return for the audit."""
    folder = tmp_path / "returns"
    original_and_correction(cfg, folder / "2026-12-001.xlsx", folder / "2026-12-001-v2.xlsx")
    ingest_paths(cfg, [folder], as_of=AS_OF)
    with Register.open(cfg.register_path) as reg:
        old = reg.scalar("SELECT id FROM returns WHERE superseded_by IS NOT NULL")
        new = reg.scalar("SELECT id FROM returns WHERE superseded_by IS NULL")
        open_old = reg.scalar(
            "SELECT count(*) FROM followups WHERE return_id = ? AND done_on IS NULL", (old,)
        )
        closed = reg.query("SELECT note FROM followups WHERE return_id = ?", (old,))
        assert open_old == 0
        assert {r[0] for r in closed} <= {f"superseded by return {new}"}
        assert reg.scalar("PRAGMA integrity_check") == "ok"


def test_rule_I5_cli_names_both_files_and_the_one_kept(cfg: Config, tmp_path: Path) -> None:
    """Rule I5 through `qaf ingest` (CliRunner: one problem a line), exit 0."""
    folder = tmp_path / "returns"
    original_and_correction(cfg, folder / "2026-12-001.xlsx", folder / "2026-12-001 (1).xlsx")
    args = ["ingest", str(folder), "--config", str(cfg.path), "--as-of", AS_OF.isoformat()]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stdout + result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if "I5" in ln]
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    assert cells == [
        "2026-12-001.xlsx",
        "",
        "",
        "I5",
        "warning",
        "two returns for 2026-12-001 arrived in this run: 2026-12-001 (1).xlsx (saved "
        "15/01/2027 19:40:55 UTC) is the newer and is kept; this one (saved 10/01/2027 "
        "18:44:03 UTC) is kept as its history",
    ]
    assert result.stderr.splitlines()[-1] == (
        "2 accepted, 0 rejected, 0 already-ingested, 0 superseded, 1 warning"
    )


def test_rule_I5_the_saved_time_comes_back_from_reader_processes(
    cfg: Config, tmp_path: Path
) -> None:
    """Rule I5: the reader processes hand each workbook's saved time to the storing
    process with what they read (read once, in the worker)."""
    folder = tmp_path / "returns"
    original, corrected = folder / "2026-12-001.xlsx", folder / "2026-12-001-v2.xlsx"
    original_and_correction(cfg, original, corrected)
    reader = FileReader(cfg.limits, cfg.tools, Labels.for_tools(cfg.tools.values()))
    got = list(_read_in_workers(reader, [corrected, original], 2))
    assert [g.saved_at for g in got] == [LATE.timestamp(), EARLY.timestamp()]
    assert read_workbook(original, cfg.limits).saved_at == EARLY.timestamp()


def test_rule_I5_two_responses_of_one_audit_in_one_export_the_later_row_is_kept(
    cfg: Config, tmp_path: Path
) -> None:
    """Rule I5: a SurveyMonkey export answering one audit twice: the later response is kept,
    as before, and the warning says so."""
    import dataclasses
    import random

    from qaf.samples.simulate import simulate_answers, write_surveymonkey_export

    alloc = allocation("2026-12-001", "P000001")
    setup_register(cfg, [alloc])
    tool = cfg.tools["case-audit"]
    first = simulate_answers(alloc, tool, random.Random(5))
    second = dataclasses.replace(first, summary="Corrected.")
    export = write_surveymonkey_export([first, second], tool, tmp_path / "export.csv")
    report = ingest_paths(cfg, [export], as_of=AS_OF)
    assert [f.status for f in report.files] == ["accepted", "superseded"]
    assert [p.message for p in report.files[1].problems] == [
        "two returns for 2026-12-001 arrived in this run: this response, the later in the "
        "file, is kept; the earlier one is kept as its history"
    ]
    assert current_summary(cfg) == [("export.csv", "Corrected.")]
