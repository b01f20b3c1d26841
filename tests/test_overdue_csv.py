"""`qaf overdue --format csv` (rules T1-T7, E1, E2): one row per late item and per alert not
yet e-mailed, told apart by `kind`, the JSON's fields where they apply, every cell safe
from formula injection."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config
from qaf.escalate import RaisedAlert
from qaf.overdue_csv import FIELDS, alert_row
from qaf.register import Register
from tests.test_overdue_support import allocation, make_workdir, receive

runner = CliRunner()

LATE_CASE = '=HYPERLINK("http://example.org")'  # a case ID a spreadsheet would run
RETURNED_CASE = "@P000002"


def run(cfg: Config, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(cfg.path)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    """A1 not returned (due 31/12/2026); A2 returned Inadequate on 08/01/2027: a QA check
    (T1) and two E1 alerts (Head of Service, Assistant Director)."""
    cfg = make_workdir(tmp_path)
    with Register.open(cfg.register_path) as reg:
        a1 = allocation("A1", date(2026, 12, 31), case_id=LATE_CASE)
        a2 = allocation("A2", date(2026, 12, 31), case_id=RETURNED_CASE)
        reg.overdue_fixture_allocations([a1, a2])
        receive(reg, cfg, a2, date(2027, 1, 8), "Inadequate")
    return cfg


def csv_rows(cfg: Config, day: str) -> list[dict[str, str]]:
    code, out, err = run(cfg, "overdue", "--as-of", day, "--format", "csv")
    assert code == 0, err
    assert out.splitlines()[0] == "\ufeff" + ",".join(FIELDS)  # BOM: Excel reads UTF-8
    return list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff"))))


def test_items_and_alerts_each_have_a_row_told_apart_by_kind_rules_t4_t1_e1(cfg: Config) -> None:
    """Rules T4, T1, E1: the late return and the QA check, then the two alerts (kind
    `alert`); formula-like text starts with an apostrophe."""
    rows = csv_rows(cfg, "2027-01-12")
    assert [(r["id"], r["kind"], r["rule"]) for r in rows] == [
        ("late-return:A1", "late-return", "T4"),
        ("qa-check:1", "qa-check", "T1"),
        ("alert:1", "alert", "E1"),
        ("alert:2", "alert", "E1"),
    ]
    late, _check, alert, _ = rows
    assert late == {
        "id": "late-return:A1",
        "kind": "late-return",
        "rule": "T4",
        "audit_id": "A1",
        "case_id": "'" + LATE_CASE,
        "responsible": "Aud Itor",
        "responsible_role": "Team Manager",
        "due": "2026-12-31",
        "working_days_late": "7",
        "level": "2",
        "notify": "Sue Senior <sue.senior@example.org> (Service Manager, level 1); "
        "Hana Head <hana.head@example.org> (Head of Service, level 1); "
        "Dee Director <dee.director@example.org> (Director of Children's Social Care, level 2)",
        "detail": "audit not returned",
        "overall": "",
        "received_on": "",
        "reason": "",
        "recipient": "",
    }
    assert alert == {
        "id": "alert:1",
        "kind": "alert",
        "rule": "E1",
        "audit_id": "A2",
        "case_id": "'" + RETURNED_CASE,
        "responsible": "",
        "responsible_role": "",
        "due": "",
        "working_days_late": "",
        "level": "",
        "notify": "",
        "detail": "",
        "overall": "Inadequate",
        "received_on": "2027-01-08",
        "reason": "audit of case @P000002 graded Inadequate",
        "recipient": "Hal Head <hal.head@example.org> (Head of Service)",
    }


def test_csv_has_the_json_fields_where_they_apply_rules_t4_e1(cfg: Config) -> None:
    """Rules T4, E1: each row's cells are the JSON entry's values (notify and recipient as
    one text), the items first, then the alerts, in the JSON's order."""
    rows = csv_rows(cfg, "2027-01-12")
    code, out, err = run(cfg, "overdue", "--as-of", "2027-01-12", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    entries = data["items"] + data["alerts"]
    assert [r["id"] for r in rows] == [e["id"] for e in entries]
    for row, entry in zip(rows, entries, strict=True):
        for key, value in entry.items():
            if key in ("notify", "recipient"):
                continue
            cell = row[key].removeprefix("'") if key in ("case_id", "reason") else row[key]
            assert cell == ("" if value is None else str(value)), (row["id"], key)


def test_alerts_leave_the_csv_once_e_mailed_rule_e1(cfg: Config) -> None:
    """Rule E1: `--notify` sends the alerts; the next run's CSV lists only the late items."""
    code, _out, err = run(cfg, "overdue", "--as-of", "2027-01-12", "--notify")
    assert code == 0, err
    assert [r["kind"] for r in csv_rows(cfg, "2027-01-13")] == ["late-return", "qa-check"]


def test_nothing_late_and_no_alert_is_the_header_alone(tmp_path: Path) -> None:
    cfg = make_workdir(tmp_path)
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A1", date(2026, 12, 31))])
    code, out, _err = run(cfg, "overdue", "--as-of", "2026-12-31", "--format", "csv")
    assert (code, out) == (0, "\ufeff" + ",".join(FIELDS) + "\n")


def test_csv_starts_with_a_bom_so_excel_reads_accented_names_rule_t4(tmp_path: Path) -> None:
    """Rule T4 (trial2 T2-12): `qaf overdue --format csv > overdue.csv` opened in Excel shows
    "Róisín" as typed: UTF-8 with a byte-order mark, as the allocation CSV."""
    cfg = make_workdir(tmp_path)
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A1", date(2026, 12, 31))])
    code, out, _err = run(cfg, "overdue", "--as-of", "2027-01-12", "--format", "csv")
    assert code == 0
    data = out.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbfid,kind,rule,")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == ["late-return:A1"]


def test_an_alert_nobody_can_receive_says_who_was_wanted_and_why_rule_e1() -> None:
    """Rule E1: a role nobody holds is a row too, its recipient naming the role and reason."""
    alert = RaisedAlert(
        id=7,
        rule="E1",
        reason="audit of case P000009 graded Inadequate",
        recipient_role="Assistant Director",
        recipient_name="",
        recipient_email="",
        audit_id="A9",
        case_id="P000009",
        overall="Inadequate",
        received_on=date(2027, 1, 8),
    )
    row = alert_row(alert)
    assert row["kind"] == "alert"
    assert row["recipient"] == (
        "nobody (Assistant Director): nobody holds the role Assistant Director"
    )
