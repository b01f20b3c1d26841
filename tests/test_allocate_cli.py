"""`qaf allocate` through the CLI: exit codes, messages, JSON, files and the register."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from qaf.allocate import History, allocate_cycle
from qaf.allocate_run import calendar_for
from qaf.cli import app
from qaf.config import read_config
from qaf.register import Register
from qaf.sources import read_cases, read_staff
from qaf.workbooks import safe_text, sheet_names

runner = CliRunner()


def run(work: Path, *args: str) -> object:
    return runner.invoke(
        app, ["allocate", "--config", str(work / "qaf.toml"), "--as-of", "2026-12-01", *args]
    )


def test_json_equals_library_result_rules_s1_s2(work: Path) -> None:
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    assert result.exit_code == 0, result.stderr
    cfg = read_config(work / "qaf.toml")
    expected = allocate_cycle(
        "2026-12",
        read_cases(cfg.cases).cases,
        read_staff(cfg.staff).staff,
        cfg,
        calendar_for(cfg),
        History(),
        7,
    )
    data = json.loads(result.stdout)
    assert data == json.loads(json.dumps(expected.as_json()))
    assert data["cycle"] == "2026-12" and data["seed"] == 7
    first = data["allocations"][0]
    for key in (
        "audit_id",
        "case_id",
        "team",
        "service",
        "category",
        "worker",
        "auditor",
        "auditor_email",
        "auditor_role",
        "tool",
        "type",
        "due",
    ):
        assert key in first
    assert first["audit_id"] == "A-2026-12-0001" and first["due"] == "2026-12-31"
    # every team is seen (S1); sample size matches the arithmetic
    cases = read_cases(cfg.cases).open_cases(cfg.cases.closed)
    assert {a["team"] for a in data["allocations"]} == {c.team for c in cases}
    assert len(data["allocations"]) == data["arithmetic"]["size"]
    assert "Sample: 11 cases: 10% a year of 1,200 eligible open cases, spread over 11 cycles " in (
        result.stderr
    )
    assert "(June 2027 is a practice week)" in result.stderr
    assert "Seed 7 (the same seed, case list and register give the same sample)" in result.stderr


def test_twice_with_replace_gives_identical_outputs_rule_s2(work: Path) -> None:
    out = work / "cycles" / "2026-12"
    first = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    assert first.exit_code == 0, first.stderr
    files1 = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    again = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    assert again.exit_code == 2
    assert again.stderr.strip().startswith(
        "Error: [S2] cycle 2026-12 is already allocated (seed 7, "
    )
    assert again.stderr.strip().endswith("allocations): use --replace to redo it")
    second = run(work, "--month", "2026-12", "--seed", "7", "--format", "json", "--replace")
    assert second.exit_code == 0, second.stderr
    assert "Replaced cycle 2026-12 in the register" in second.stderr
    files2 = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert first.stdout == second.stdout
    assert files1 == files2
    n = len(json.loads(first.stdout)["allocations"])
    assert len([p for p in files1 if p.parts[0] == "audits"]) == n
    with Register.open(work / "qaf.db") as reg:
        assert reg.scalar("SELECT seed FROM cycles WHERE cycle = '2026-12'") == 7
        assert len(reg.allocations("2026-12")) == n


def test_replace_with_another_seed_removes_stale_audit_files(work: Path) -> None:
    assert run(work, "--month", "2026-12", "--seed", "1").exit_code == 0
    assert run(work, "--month", "2026-12", "--seed", "2", "--replace").exit_code == 0
    with Register.open(work / "qaf.db") as reg:
        ids = {a.audit_id for a in reg.allocations("2026-12")}
    files = {p.stem for p in (work / "cycles" / "2026-12" / "audits").glob("*.xlsx")}
    assert files == ids


def test_practice_week_refused_without_force_rule_c1(work: Path) -> None:
    result = run(work, "--month", "2027-06", "--seed", "1")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: [C1] 2027-06 (June 2027) is a practice week, not an audit cycle (rule C1): "
        "use --force to allocate it anyway"
    )
    forced = run(work, "--month", "2027-06", "--seed", "1", "--force", "--dry-run")
    assert forced.exit_code == 0, forced.stderr


@pytest.mark.parametrize("month", ["2026-13", "13/2026", "next", "Dec", "Decembre 2026"])
def test_bad_month_exit_2(work: Path, month: str) -> None:
    result = run(work, "--month", month)
    assert result.exit_code == 2
    assert f'--month: "{month}" is not a month: expected YYYY-MM or a month and year, ' in (
        result.stderr
    )


@pytest.mark.parametrize("month", ["Dec 2026", "December 2026", "12/2026", " dec-2026 "])
def test_month_as_words_like_the_quarter_f20(work: Path, month: str) -> None:
    """F20: --month "Dec 2026" is read as 2026-12, as --quarter "Q3 2026" is."""
    result = run(work, "--month", month, "--seed", "7", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["cycle"] == "2026-12"


def test_as_of_day_first_uk_date_f20(work: Path) -> None:
    """F20: --as-of 01/12/2026 is 1 December 2026, the same run as --as-of 2026-12-01."""
    args = ["allocate", "--config", str(work / "qaf.toml"), "--month", "2026-12", "--seed", "7"]
    uk = runner.invoke(app, [*args, "--as-of", "01/12/2026", "--dry-run", "--format", "json"])
    iso = runner.invoke(app, [*args, "--as-of", "2026-12-01", "--dry-run", "--format", "json"])
    assert uk.exit_code == 0, uk.stderr
    assert json.loads(uk.stdout) == json.loads(iso.stdout)
    bad = runner.invoke(app, [*args, "--as-of", "31/11/2026"])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == (
        'Error: --as-of: "31/11/2026" is not a date: there is no day 31/11/2026 '
        "(dates are day first, dd/mm/yyyy, or YYYY-MM-DD)"
    )


def test_dry_run_writes_nothing(work: Path) -> None:
    result = run(work, "--month", "2026-12", "--seed", "3", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "Dry run: nothing written, nothing recorded" in result.stderr
    assert not (work / "qaf.db").exists()
    assert not (work / "cycles").exists()
    assert "A-2026-12-0001" in result.stdout


def test_fresh_seed_is_recorded_and_printed_rule_s2(work: Path) -> None:
    result = run(work, "--month", "2026-12", "--format", "json")
    assert result.exit_code == 0, result.stderr
    seed = json.loads(result.stdout)["seed"]
    assert f"Seed {seed} (" in result.stderr
    with Register.open(work / "qaf.db") as reg:
        assert reg.scalar("SELECT seed FROM cycles") == seed


def test_csv_format_and_out_dir(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("\ufeff")  # Excel reads accents (trial 3 F9)
    rows = list(csv.reader(io.StringIO(result.stdout.removeprefix("\ufeff"))))
    assert rows[0][:3] == ["Audit ID", "Case ID", "Type"]
    file_rows = list(
        csv.reader(io.StringIO((out / "allocation-2026-12.csv").read_text("utf-8-sig")))
    )
    assert file_rows == rows
    assert (out / "allocation-2026-12.xlsx").exists()


def test_allocation_workbook_sheets(work: Path) -> None:
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    data = json.loads(result.stdout)
    wb = openpyxl.load_workbook(work / "cycles" / "2026-12" / "allocation-2026-12.xlsx")
    auditors = sorted({a["auditor"] for a in data["allocations"]})
    assert wb.sheetnames == ["Allocations", *sheet_names(auditors), "Moderation"]
    ws = wb["Allocations"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith(
        "A1:O"
    )  # 15 columns, "Subject" last
    assert ws["A2"].value == "A-2026-12-0001"
    assert ws.max_row == len(data["allocations"]) + 1
    assert ws.column_dimensions["A"].width >= len("A-2026-12-0001")
    one = wb[sheet_names(auditors)[0]]
    assert one.freeze_panes == "A2"
    assert all(r[7] == auditors[0] for r in one.iter_rows(min_row=2, values_only=True))


def test_tool_named_in_the_workbook_id_kept_in_the_csv_f8(work: Path) -> None:
    """F8: the workbook's Tool column reads "Case file audit (case-audit)"; the CSV's "Tool"
    column stays the bare id (its documented contract)."""
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    assert result.exit_code == 0, result.stderr
    tools = read_config(work / "qaf.toml").tools
    out = work / "cycles" / "2026-12"
    ws = openpyxl.load_workbook(out / "allocation-2026-12.xlsx")["Allocations"]
    rows = list(ws.iter_rows(values_only=True))
    col = rows[0].index("Tool")
    with (out / "allocation-2026-12.csv").open(encoding="utf-8-sig", newline="") as f:
        ids = [r[col] for r in list(csv.reader(f))[1:]]
    assert [r[col] for r in rows[1:]] == [f"{tools[i].name} ({i})" for i in ids]
    assert "Case file audit (case-audit)" in {r[col] for r in rows[1:]}


def test_audit_workbooks_name_the_cases_team_manager_f8(work: Path) -> None:
    """F8: the "Team Manager" key-information cell is the case's team's Team Manager from
    the roster (whom escalation tells, rule E1), not left blank."""
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    assert result.exit_code == 0, result.stderr
    staff = read_staff(read_config(work / "qaf.toml").staff).staff
    managers = {(m.team, m.name) for m in staff if m.role == "Team Manager"}
    checked = 0
    for a in json.loads(result.stdout)["allocations"]:
        path = work / "cycles" / "2026-12" / "audits" / f"{a['audit_id']}.xlsx"
        ws = openpyxl.load_workbook(path)["Audit"]
        got = {r[0]: r[1] for r in ws.iter_rows(max_col=2, values_only=True) if r[0]}
        if "Team Manager" not in got:
            continue  # a tool without the field
        assert (a["team"], got["Team Manager"]) in managers, a["audit_id"]
        checked += 1
    assert checked


def test_unallocated_exit_1_with_reasons_rule_a1(work: Path) -> None:
    # 10% every cycle (120 cases) is more than the auditors' quotas can take
    cfg_path = work / "qaf.toml"
    text = cfg_path.read_text().replace('per = "year"', 'per = "cycle"', 1)
    cfg_path.write_text(text)
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 1, result.stderr
    assert data["unallocated"]
    for u in data["unallocated"]:
        assert u["reason"].startswith("quotas full: the ")
        assert "allocations taken (rule A1)" in u["reason"]
        assert f"unallocated {u['case_id']} (audit): {u['reason']}" in result.stderr
    with Register.open(work / "qaf.db") as reg:
        assert len(reg.unallocated("2026-12")) == len(data["unallocated"])


def seed_previous_cycle(work: Path) -> list[str]:
    """Allocate 2026-11 and store returns for it: two Inadequate, the rest Good."""
    assert run(work, "--month", "2026-11", "--seed", "5").exit_code == 0
    db = sqlite3.connect(work / "qaf.db")
    rows = db.execute("SELECT audit_id, case_id, auditor, tool FROM allocations").fetchall()
    for n, (audit_id, case_id, auditor, tool) in enumerate(rows):
        grade = "Inadequate" if n < 2 else "Good"
        db.execute(
            "INSERT INTO returns (audit_id, case_id, cycle, tool, type, auditor, received_on, "
            "overall, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (audit_id, case_id, "2026-11", tool, "audit", auditor, "2026-11-20", grade, "now"),
        )
    db.commit()
    db.close()
    return [r[0] for r in rows[:2]]


def test_reaudits_and_moderation_from_register_rules_a4_m1(work: Path) -> None:
    inadequate = seed_previous_cycle(work)
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    re = [a for a in data["allocations"] if a["type"] == "reaudit"]
    assert sorted(a["reaudit_of"] for a in re) == sorted(inadequate)
    assert all(a["reaudit_round"] == 1 and a["auditor_role"] == "Service Manager" for a in re)
    # the re-audited cases are not also in this month's random sample (S3)
    audits = {a["case_id"] for a in data["allocations"] if a["type"] == "audit"}
    assert not audits & {a["case_id"] for a in re}
    # and cases allocated in 2026-11 are not sampled again (S3: last 6 months)
    with Register.open(work / "qaf.db") as reg:
        november = {a.case_id for a in reg.allocations("2026-11")}
        picks = reg.moderation_picks("2026-12")
    assert not audits & november
    mod = data["moderation"]
    assert {m["audit_id"] for m in mod} >= set(inadequate)
    assert [p["audit_id"] for p in picks] == sorted(m["audit_id"] for m in mod)
    assert "returns of the previous cycle picked" in result.stderr
    wb = openpyxl.load_workbook(work / "cycles" / "2026-12" / "allocation-2026-12.xlsx")
    rows = list(wb["Moderation"].iter_rows(min_row=2, values_only=True))
    assert sorted(r[0] for r in rows) == sorted(m["audit_id"] for m in mod)


def test_replace_refused_once_returns_exist(work: Path) -> None:
    seed_previous_cycle(work)
    result = run(work, "--month", "2026-11", "--seed", "5", "--replace")
    assert result.exit_code == 2
    assert "cycle 2026-11 cannot be replaced: " in result.stderr
    assert "returns are stored against its allocations" in result.stderr


def test_record_cycle_is_one_transaction(work: Path) -> None:
    # a failure inside record_cycle leaves the register as it was
    cfg = read_config(work / "qaf.toml")
    r = allocate_cycle(
        "2026-12",
        read_cases(cfg.cases).cases,
        read_staff(cfg.staff).staff,
        cfg,
        calendar_for(cfg),
        History(),
        7,
    )
    broken = type(r)(**{**r.__dict__, "allocations": (*r.allocations, r.allocations[0])})
    with Register.open(work / "qaf.db") as reg:
        with pytest.raises(sqlite3.IntegrityError):
            reg.record_cycle(broken, as_of=date(2026, 12, 1))
        assert reg.cycle_summary("2026-12") is None
        assert reg.allocations("2026-12") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+44 1234", "'+44 1234"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Sam = Worker", "Sam = Worker"),
        ("", ""),
        (None, ""),
    ],
)
def test_safe_text_makes_formulas_inert(text: str | None, expected: str) -> None:
    # DESIGN §6: text starting with = + - @ tab CR never runs as a formula
    assert safe_text(text) == expected


def test_sheet_names_valid_unique() -> None:
    names = sheet_names(
        [
            "Allocations",
            "A very long auditor name that goes on and on",
            "A very long auditor name that goes on and on too",
            "x[1]:*?/\\",
            "'quoted'",
            "ann",
            "ANN",
        ]
    )
    assert names == [
        "Allocations (2)",
        "A very long auditor name that g",
        "A very long auditor name th (2)",
        "x_1______",
        "quoted",
        "ann",
        "ANN (2)",
    ]
    assert all(len(n) <= 31 for n in names)


def test_a1_roles_are_written_in_the_configured_spelling(work: Path) -> None:
    """F18: roster roles "team manager" / "TEAM MANAGER " match the quota's "Team Manager"
    and are shown in that spelling in the allocation (and so in reports), not the roster's."""
    staff = work / "data" / "staff.csv"
    rows = list(csv.reader(staff.open(encoding="utf-8")))
    messy = 0
    for i, row in enumerate(rows[1:]):
        if row[2] == "Team Manager":
            row[2] = "team manager" if i % 2 else " TEAM  MANAGER "
            messy += 1
    assert messy > 2
    with staff.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    assert "Team Manager" in read_config(work / "qaf.toml").staff.roles
    result = run(work, "--month", "2026-12", "--seed", "7", "--format", "json", "--dry-run")
    assert result.exit_code == 0, result.stderr
    roles = {a["auditor_role"] for a in json.loads(result.stdout)["allocations"]}
    assert "Team Manager" in roles
    assert not {"team manager", "TEAM  MANAGER", " TEAM  MANAGER "} & roles
