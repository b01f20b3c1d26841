"""SurveyMonkey exports: two header rows, matrix grades, BOM, quoted newlines, US dates."""

from __future__ import annotations

import random
import shutil
from datetime import date
from pathlib import Path

import pytest

from qaf.config import Config, read_config
from qaf.ingest import ingest_paths
from qaf.register import Register
from qaf.samples.simulate import SimulatedReturn, simulate_answers, write_surveymonkey_export
from qaf.surveymonkey import parse_header, read_export_csv
from qaf.xlsxsafe import UnreadableFile
from tests.ingest_books import allocation, setup_register
from tests.test_ingest import make_return

AS_OF = date(2027, 1, 8)

DESIGN_SAMPLE = (
    "Respondent ID,Collector ID,Start Date,End Date,IP Address,Email Address,First Name,"
    "Last Name,Custom Data 1,Which team holds the case?,,Please rate the following:,\r\n"
    ",,,,,,,,,Response,Other (please specify),Quality of assessment,Quality of plan\r\n"
    "114627812345,431234567,11/14/2024 10:02:31 AM,11/14/2024 10:09:54 AM,,,,,,"
    "Other (please specify),Leaving Care,Good,Requires improvement to be good\r\n"
)


@pytest.fixture
def cfg(small_dir: Path) -> Config:
    return read_config(small_dir / "qaf.toml")


def allocations() -> list:  # type: ignore[type-arg]
    return [
        allocation("2026-12-001", "P000001", "Tia Manager"),
        allocation("2026-12-002", "P000002", "Lee Manager"),
        allocation("2026-12-003", "P000003", "Tia Manager"),
    ]


def answers(cfg: Config) -> list[SimulatedReturn]:
    rng = random.Random(5)
    tool = cfg.tools["case-audit"]
    return [simulate_answers(a, tool, rng) for a in allocations()]


def test_header_carries_question_text_forward_and_finds_metadata_by_name() -> None:
    grid = [row.split(",") for row in DESIGN_SAMPLE.strip().split("\r\n")]
    header = parse_header(grid, "x.csv")
    assert header.first_data_row == 2
    matrix = header.question("Please rate the following")
    assert [c.sub_text for c in matrix] == ["Quality of assessment", "Quality of plan"]
    assert [c.sub for c in header.question("Which team holds the case?")] == [
        "response",
        "other (please specify)",
    ]
    assert header.meta("End Date") == 3


def test_not_an_export_is_refused_plainly(cfg: Config) -> None:
    # rule I1
    with pytest.raises(UnreadableFile, match="not a SurveyMonkey export"):
        read_export_csv(b"Case ID,Grade\r\nP1,Good\r\n", "x.csv", cfg.tools)


def test_export_of_another_survey_names_the_mapping(cfg: Config) -> None:
    with pytest.raises(UnreadableFile, match="none of its questions"):
        read_export_csv(DESIGN_SAMPLE.encode(), "x.csv", cfg.tools)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_gives_the_same_grades_as_the_workbooks(
    cfg: Config, tmp_path: Path, suffix: str
) -> None:
    # rules G1 G2 G3 G4: the same audits through SurveyMonkey and through workbooks
    rets = answers(cfg)
    tool = cfg.tools["case-audit"]
    export = write_surveymonkey_export(rets, tool, tmp_path / f"export{suffix}")
    if suffix == ".csv":
        raw = export.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # BOM as SurveyMonkey writes it
    setup_register(cfg, allocations())
    report = ingest_paths(cfg, [export], as_of=AS_OF)
    assert [f.status for f in report.files] == ["accepted"] * 3, report.as_json()
    assert {f.ref for f in report.files} == {f.ref for f in report.files if f.ref}
    with Register.open(cfg.register_path) as reg:
        sm_rows = sorted(
            tuple(r)
            for r in reg.query(
                "SELECT r.audit_id, d.domain_id, d.grade, d.grade_before, d.rationale "
                "FROM domain_grades d JOIN returns r ON r.id = d.return_id"
            )
        )
        sm_overall = sorted(
            tuple(r) for r in reg.query("SELECT audit_id, overall, safety_concern FROM returns")
        )

    # the same answers as workbooks, into a fresh register
    (cfg.register_path).unlink()
    for suffix_ in ("-wal", "-shm"):
        Path(str(cfg.register_path) + suffix_).unlink(missing_ok=True)
    setup_register(cfg, allocations())
    paths = []
    for ret in rets:
        p, _ = make_return(cfg, ret.allocation, tmp_path / "wb" / f"{ret.allocation.audit_id}.xlsx")
        paths.append(p)
    # make_return simulates its own answers: rebuild from ours instead
    from qaf.samples.simulate import fill_workbook
    from tests.ingest_books import write_blank_book

    paths = [
        fill_workbook(
            write_blank_book(
                tmp_path / "blank" / f"{r.allocation.audit_id}.xlsx", r.allocation, tool
            ),
            tmp_path / "wb" / f"{r.allocation.audit_id}.xlsx",
            r,
            tool,
        )
        for r in rets
    ]
    report = ingest_paths(cfg, paths, as_of=AS_OF)
    assert [f.status for f in report.files] == ["accepted"] * 3
    with Register.open(cfg.register_path) as reg:
        wb_rows = sorted(
            tuple(r)
            for r in reg.query(
                "SELECT r.audit_id, d.domain_id, d.grade, d.grade_before, d.rationale "
                "FROM domain_grades d JOIN returns r ON r.id = d.return_id"
            )
        )
        wb_overall = sorted(
            tuple(r) for r in reg.query("SELECT audit_id, overall, safety_concern FROM returns")
        )
    assert sm_rows == wb_rows
    assert sm_overall == wb_overall


def test_cumulative_export_ingests_only_new_responses(cfg: Config, tmp_path: Path) -> None:
    # rule I5: SurveyMonkey exports hold every response so far
    rets = answers(cfg)
    tool = cfg.tools["case-audit"]
    setup_register(cfg, allocations())
    first = write_surveymonkey_export(rets[:2], tool, tmp_path / "week1.csv")
    assert [f.status for f in ingest_paths(cfg, [first], as_of=AS_OF).files] == ["accepted"] * 2
    second = write_surveymonkey_export(rets, tool, tmp_path / "week2.csv")
    statuses = [f.status for f in ingest_paths(cfg, [second], as_of=AS_OF).files]
    assert statuses == ["already-ingested", "already-ingested", "accepted"]
    with Register.open(cfg.register_path) as reg:
        assert reg.scalar("SELECT count(*) FROM returns") == 3
    again = shutil.copy(second, tmp_path / "week2-copy.csv")
    statuses = [f.status for f in ingest_paths(cfg, [Path(again)], as_of=AS_OF).files]
    assert statuses == ["already-ingested"]


def test_one_bad_response_rejects_the_file_whole(cfg: Config, tmp_path: Path) -> None:
    # rules G1 I5: each file is accepted whole or rejected whole
    rets = answers(cfg)
    tool = cfg.tools["case-audit"]
    setup_register(cfg, allocations())
    export = write_surveymonkey_export(rets, tool, tmp_path / "export.csv")
    text = export.read_bytes().decode("utf-8-sig")
    lines = text.split("\r\n")
    # the grade of the first domain of the second response becomes nonsense
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text, newline="")))
    col = rows[0].index(tool.surveymonkey.grades)  # type: ignore[union-attr]
    rows[3][col] = "Brilliant"
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    export.write_bytes(buf.getvalue().encode("utf-8"))
    assert lines  # quoted newlines survived: rows parsed by csv, not by line
    report = ingest_paths(cfg, [export], as_of=AS_OF)
    assert [f.status for f in report.files] == ["rejected"] * 3
    bad = report.files[1]
    g1 = [p for p in bad.problems if p.rule == "G1"]
    assert g1 and g1[0].cell and g1[0].cell.endswith("4")  # row 4 of the CSV
    with Register.open(cfg.register_path) as reg:
        assert reg.scalar("SELECT count(*) FROM returns") == 0


def test_actions_with_line_breaks_in_quoted_cells(cfg: Config, tmp_path: Path) -> None:
    rets = answers(cfg)
    tool = cfg.tools["case-audit"]
    export = write_surveymonkey_export(rets, tool, tmp_path / "export.csv")
    raws = read_export_csv(export.read_bytes(), "export.csv", cfg.tools)
    assert [len(r.actions) for r in raws] == [len(r.actions) for r in rets]
    assert [r.received_on for r in raws] == [r.audit_date for r in rets]
