"""GAPS 13: quotas whose cases the service picks (``[[quota]] allocated_by = "service"``).

Lancashire, Function-based Dip Samples: "Theme selected by HoS, allocation by the service",
"1 per month per post". qaf gives each post its count with no case (rules S1, A1), the
theme shown; the audit workbook's Case ID is left for the auditor; ingest takes the case ID
from the return (I2); overdue chases a missing one like any allocation (T4); the report
counts them under their tool.
"""

from __future__ import annotations

import csv
import dataclasses
import email
import email.policy
import json
import random
import sqlite3
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner, Result

from qaf.allocate import History, allocate_cycle
from qaf.auditbook import write_audit_workbooks
from qaf.calendar import WorkingCalendar
from qaf.cli import app
from qaf.config import Config, ConfigError, Quota, read_config
from qaf.records import Allocation
from qaf.samples.simulate import fill_workbook, simulate_answers
from tests.test_allocate import BASE, case, make_cfg, staff
from tests.test_presets import load, read

runner = CliRunner()

SERVICE_QUOTA = """
[[quota]]
role = "Team Manager"
per_cycle = 2
scope = "any"
tool = "case-audit"
allocated_by = "service"
focus = { "2026-12" = "Children in Need" }
name = "dip sample"
"""


# ------------------------------------------------------------------ config


def test_allocated_by_defaults_to_qaf_gaps13(tmp_path: Path) -> None:
    (q,) = read(tmp_path, '[[quota]]\nrole = "Team Manager"\n').quotas
    assert q.allocated_by == "qaf"
    (s,) = read(tmp_path, '[[quota]]\nrole = "TM"\nallocated_by = "service"\n').quotas
    assert s.allocated_by == "service"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'allocated_by = "team"\n',
            'quota[0].allocated_by: "team" is not one of "qaf" | "service"',
        ),
        (
            'allocated_by = "service"\nunit = "team"\n',
            'quota[0].allocated_by: "service" is counted per post: it needs unit = "auditor"',
        ),
        (
            'allocated_by = "service"\nsubject = "staff"\nsubject_roles = ["Social Worker"]\n',
            'quota[0].allocated_by: "service" picks cases: it needs subject = "case"',
        ),
        (
            'allocated_by = "service"\ndraw = "extra"\n',
            'quota[0].draw: chooses among the cases qaf picks: not for allocated_by = "service"',
        ),
        (
            'allocated_by = "service"\ncases = { team = ["MASH"] }\n',
            'quota[0].cases: chooses among the cases qaf picks: not for allocated_by = "service"',
        ),
    ],
)
def test_bad_allocated_by_is_refused_naming_the_key_gaps13(
    tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        read(tmp_path, '[[quota]]\nrole = "TM"\n' + extra)
    assert message in str(e.value)
    assert e.value.exit_code == 2


# ------------------------------------------------------------------ allocate


def dip_quota(**kw: object) -> Quota:
    fields: dict[str, object] = {
        "allocated_by": "service",
        "name": "dip sample",
        "focus": {"2026-12": ("Children in Need",)},
    }
    fields.update(kw)
    return Quota("Team Manager", 2, "any", "case-audit", **fields)  # type: ignore[arg-type]


def test_service_quota_samples_no_case_n_per_post_rules_s1_a1_a3_gaps13() -> None:
    """Each available Team Manager gets 2 with no case; the sample is as without them."""
    sample_quota = Quota("Team Manager", 1, "outside-own-team", "case-audit")
    people = [
        staff("Ann Manager", team="Team A", service="Service 1"),
        staff("Bob Manager", team="Team B", service="Service 2"),
        staff("Cat Away", team="Team C", available=False),  # rule A3: nothing for her
    ]
    cases = [case(i, team="Team A" if i % 2 else "Team B") for i in range(40)]
    plain = allocate_cycle(
        "2026-12", cases, people, make_cfg(BASE, quotas=(sample_quota,)), *_rest()
    )
    cfg = make_cfg(BASE, quotas=(sample_quota, dip_quota()))
    r = allocate_cycle("2026-12", cases, people, cfg, *_rest())
    picked = [a for a in r.allocations if a.picked_by == "service"]
    assert sorted(a.case_id for a in r.allocations if a.case_id) == sorted(
        a.case_id for a in plain.allocations
    )  # rule S1: no case sampled for the service's dip samples, the sample unchanged
    assert sorted((a.auditor, a.team, a.service) for a in picked) == [
        ("Ann Manager", "Team A", "Service 1"),
        ("Ann Manager", "Team A", "Service 1"),
        ("Bob Manager", "Team B", "Service 2"),
        ("Bob Manager", "Team B", "Service 2"),
    ]
    assert all(
        (a.case_id, a.subject, a.worker, a.tool, a.type, a.due)
        == ("", "", "", "case-audit", "audit", r.due)
        for a in picked
    )
    assert r.arithmetic.size == plain.arithmetic.size
    assert r.arithmetic.words.startswith(plain.arithmetic.words.split("; focus")[0])
    assert "; and 4 left to the service to pick the case (4 dip samples)" in r.arithmetic.words
    data = r.as_json()["allocations"]
    mine = [x for x in data if x["picked_by"] == "service"]
    assert len(mine) == 4
    assert all(x["case_id"] == "" and x["theme"] == "Children in Need" for x in mine)
    assert {x["picked_by"] for x in data if x["case_id"]} == {"qaf"}
    assert all("theme" not in x for x in data if x["case_id"])


def test_service_quota_per_quarter_counts_its_owed_audits_rule_a1_gaps13() -> None:
    """The Director's dip samples, 1 a quarter: given once, in the period's first cycle here."""
    director = Quota(
        "Director",
        1,
        "any",
        "case-audit",
        period="quarter",
        per_period=1,
        allocated_by="service",
    )
    people = [staff("Dee Director", role="Director", team="", service="")]
    cfg = make_cfg(BASE, quotas=(director,))
    r = allocate_cycle("2026-12", [case(1)], people, cfg, *_rest())  # the quarter's last month
    assert [(a.auditor, a.picked_by) for a in r.allocations] == [("Dee Director", "service")]
    had = History(period_counts=(("2026-10", "Dee Director", "case-audit", 1),))
    r = allocate_cycle("2026-12", [case(1)], people, cfg, *_rest(had))
    assert r.allocations == ()


def _rest(history: History | None = None) -> tuple[WorkingCalendar, History, int]:
    return WorkingCalendar(), history or History(), 5


# ------------------------------------------------------------------ the commands, end to end


@pytest.fixture
def work(small_dir: Path) -> Config:
    path = small_dir / "qaf.toml"
    path.write_text(path.read_text(encoding="utf-8") + SERVICE_QUOTA, encoding="utf-8")
    return read_config(path)


def cli(cfg: Config, *args: str) -> Result:
    return runner.invoke(app, [*args, "--config", str(cfg.path)])


def allocated(cfg: Config) -> list[dict[str, object]]:
    result = cli(cfg, "allocate", "--month", "2026-12", "--seed", "3", "--as-of", "2026-12-01")
    assert result.exit_code in (0, 1), result.stderr
    assert "2 left to the service to pick the case (2 dip samples)" in result.stderr
    db = sqlite3.connect(cfg.register_path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM allocations WHERE case_id = ''")]
    finally:
        db.close()


def test_allocate_writes_service_picked_audits_case_id_blank_and_editable_rule_a1_gaps13(
    work: Config,
) -> None:
    rows = allocated(work)
    assert [(r["auditor"], r["team"], r["service"], r["subject"]) for r in rows] == [
        ("Tia Manager", "Team A", "Service 1", ""),
        ("Tia Manager", "Team A", "Service 1", ""),
    ]  # Lee Manager is away (rule A3)
    out = work.root / "cycles" / "2026-12"
    with (out / "allocation-2026-12.csv").open(encoding="utf-8-sig") as f:
        listed = {r["Audit ID"]: r for r in csv.DictReader(f)}
    for r in rows:
        assert listed[str(r["audit_id"])]["Case ID"] == (
            "picked by the service (theme: Children in Need)"
        )
    book = openpyxl.load_workbook(out / "allocation-2026-12.xlsx")
    assert "picked by the service (theme: Children in Need)" in {
        row[1].value for row in book["Allocations"].iter_rows(min_row=2)
    }
    audit = openpyxl.load_workbook(out / "audits" / f"{rows[0]['audit_id']}.xlsx")
    ws = audit["Audit"]
    cells = {
        row[0].value: row[1] for row in ws.iter_rows(max_col=2) if isinstance(row[0].value, str)
    }
    assert ws.protection.sheet
    assert not cells["Case ID"].value  # left for the auditor to fill ...
    assert cells["Case ID"].protection.locked is False  # ... and not locked
    assert cells["Audit ID"].protection.locked is not False  # still matched on
    assert cells["Team"].value == "Team A"
    assert any("The service picks the case" in str(c.value) for c in ws["A"])


def test_allocate_json_says_picked_by_service_s1_gaps13(work: Config) -> None:
    result = cli(
        work,
        "allocate",
        "--month",
        "2026-12",
        "--seed",
        "3",
        "--as-of",
        "2026-12-01",
        "--dry-run",
        "--format",
        "json",
    )
    data = json.loads(result.stdout)
    mine = [a for a in data["allocations"] if a["picked_by"] == "service"]
    assert [(a["case_id"], a["theme"], a["auditor"]) for a in mine] == [
        ("", "Children in Need", "Tia Manager")
    ] * 2


def fill(cfg: Config, audit_id: str, dest: Path, case_id: str) -> Path:
    from qaf.register import Register

    with Register.open(cfg.register_path) as reg:
        alloc = reg.allocation(audit_id)
    assert alloc is not None
    tool = cfg.tools[alloc.tool]
    ret = simulate_answers(alloc, tool, random.Random(1))
    ret = dataclasses.replace(ret, audit_date=date(2026, 12, 10), case_id=case_id)
    src = cfg.root / "cycles" / "2026-12" / "audits" / f"{audit_id}.xlsx"
    return fill_workbook(src, dest, ret, tool)


def test_ingest_takes_the_case_id_from_the_return_rule_i2_gaps13(
    work: Config, tmp_path: Path
) -> None:
    rows = allocated(work)
    aid = str(rows[0]["audit_id"])
    path = fill(work, aid, tmp_path / "returns" / f"{aid}.xlsx", "P000777")
    result = cli(work, "ingest", str(path), "--as-of", "2026-12-14", "--format", "json")
    assert result.exit_code == 0, result.stdout
    assert "does not match the allocation" not in result.stdout
    db = sqlite3.connect(work.register_path)
    try:
        got = db.execute(
            "SELECT audit_id, case_id, team, service, auditor, tool FROM returns"
        ).fetchall()
    finally:
        db.close()
    assert got == [(aid, "P000777", "Team A", "Service 1", "Tia Manager", "case-audit")]


@pytest.mark.parametrize(
    ("case_id", "message"),
    [
        (
            "",
            "no case ID: the service picks the case of {aid}, so the return must give it "
            '(label "Case ID")',
        ),
        ("Ada Fictional", "the case ID cell holds words, not an ID: is it a name?"),
    ],
)
def test_ingest_refuses_a_service_picked_return_without_a_case_id_rule_i2_gaps13(
    work: Config, tmp_path: Path, case_id: str, message: str
) -> None:
    rows = allocated(work)
    aid = str(rows[0]["audit_id"])
    path = fill(work, aid, tmp_path / "returns" / f"{aid}.xlsx", case_id)
    result = cli(work, "ingest", str(path), "--as-of", "2026-12-14", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    problems = [p for f in data["files"] for p in f["problems"]]
    assert any(
        p["rule"] == "I2" and p["level"] == "error" and p["message"] == message.format(aid=aid)
        for p in problems
    ), problems


def test_overdue_chases_a_missing_service_picked_audit_rule_t4_gaps13(work: Config) -> None:
    rows = allocated(work)
    due = date.fromisoformat(str(rows[0]["due"]))
    result = cli(work, "overdue", "--as-of", "2027-01-08", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    late = {i["audit_id"]: i for i in data["items"] if i["kind"] == "late-return"}
    for r in rows:
        item = late[str(r["audit_id"])]
        assert (item["responsible"], item["case_id"], item["due"]) == (
            "Tia Manager",
            "",
            due.isoformat(),
        )
        assert item["working_days_late"] >= 2


def test_report_counts_service_picked_returns_under_their_tool_gaps13(
    work: Config, tmp_path: Path
) -> None:
    """Counted as case audits of their tool (its domains graded), not as staff audits; the
    quota's theme in the report's themes of focus."""
    rows = allocated(work)
    aid = str(rows[0]["audit_id"])
    path = fill(work, aid, tmp_path / "returns" / f"{aid}.xlsx", "P000777")
    assert cli(work, "ingest", str(path), "--as-of", "2026-12-14").exit_code == 0
    result = cli(work, "report", "--month", "2026-12", "--as-of", "2027-01-08", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["summary"]["allocated"], data["summary"]["returned"]) == (2, 1)
    assert data["staff_audits"] is None
    first = work.tools["case-audit"].domains[0]
    domains = {row[0]: row[1] for row in data["tables"]["domains"]["rows"]}
    assert domains[f"{first.id} {first.title}"] == "<5"  # graded, small numbers hidden (P3)
    focus = data["tables"]["focus"]
    assert focus["rows"][0][focus["columns"].index("dip sample")] == "Children in Need"


def test_lancashire_dip_sample_workbook_shows_the_theme_and_leaves_the_case_id_gaps13(
    tmp_path: Path,
) -> None:
    """Lancashire, Dip Samples: the dip-sample tool's "Theme" field holds the month's theme."""
    cfg = load("lancashire", tmp_path)
    alloc = Allocation(
        "A-2026-12-0001",
        "2026-12",
        "",
        "Team A",
        "Service 1",
        "",
        "",
        "Tia Manager",
        "tia@example.org",
        "Team Manager",
        "dip-sample",
        "audit",
        date(2026, 12, 31),
    )
    themes = {alloc.audit_id: "Children in our Care"}
    (path,) = write_audit_workbooks([alloc], cfg.tools, "Northvale", tmp_path / "a", themes=themes)
    ws = openpyxl.load_workbook(path)["Audit"]
    cells = {r[0].value: r[1] for r in ws.iter_rows(max_col=2) if isinstance(r[0].value, str)}
    assert cells["Theme"].value == "Children in our Care"
    assert not cells["Case ID"].value and cells["Case ID"].protection.locked is False


def test_allocation_mail_says_the_service_picks_the_case_gaps13(work: Config) -> None:
    result = cli(
        work, "allocate", "--month", "2026-12", "--seed", "3", "--as-of", "2026-12-01", "--notify"
    )
    assert result.exit_code in (0, 1), result.stderr
    outbox = work.root / work.notify.outbox
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(outbox.rglob("*.eml"))
    ]
    (mail,) = [m for m in mails if "tia@example.org" in str(m["To"])]
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    tia = body.get_content()  # type: ignore[attr-defined]
    assert tia.count("Case ID: the service picks it; write it in the audit workbook") == 2


def test_config_check_says_the_service_picks_the_cases_gaps13(work: Config) -> None:
    result = cli(work, "config", "check")
    assert result.exit_code == 0, result.stderr
    assert "dip sample: Team Manager each: 2 a cycle" in result.stdout
    assert "cases picked by the service" in result.stdout


def test_a_service_picked_return_without_its_audit_id_is_matched_by_auditor_rule_i2_gaps13(
    work: Config, tmp_path: Path
) -> None:
    """Rule I2, GAPS 13: a dip sample sent back on the council's own copy (no hidden audit
    ID, Audit ID blank) is matched to the auditor's oldest open service-picked allocation,
    and takes its case ID from the return."""
    from openpyxl import load_workbook

    rows = allocated(work)
    aid = str(rows[0]["audit_id"])
    path = fill(work, aid, tmp_path / "returns" / "own-copy.xlsx", "P000777")
    wb = load_workbook(path)
    del wb["qaf"]
    for row in wb[wb.sheetnames[0]].iter_rows():
        if row[0].value == "Audit ID":
            row[1].value = None
    wb.save(path)
    result = cli(work, "ingest", str(path), "--as-of", "2026-12-14", "--format", "json")
    assert result.exit_code == 0, result.stdout
    [f] = json.loads(result.stdout)["files"]
    assert (f["status"], f["audit_id"], f["case_id"]) == ("accepted", aid, "P000777")
