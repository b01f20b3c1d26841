"""Grading disputes, rule G6 (Haringey 2.11; trial2 T2-11 gave it a rule ID): `qaf dispute open / advance / resolve`, their
refusals, and `qaf overdue` chasing the current stage from the right working day."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config
from qaf.register import Register
from tests.test_overdue_support import allocation, make_workdir, receive

runner = CliRunner()

RULE = "[G6]"
SEED = "(Haringey 2.11)"  # every refusal names the seed paragraph
STAGES = """
[[dispute.stage]]
name = "Informal meeting"
within = "5 working days"
responsible = "Team Manager"
notify = ["Auditor"]
[[dispute.stage]]
name = "Formal response"
within = "2 working days"
responsible = "QA Officer"
"""
OPENED = date(2027, 1, 4)  # a Monday; stage 1 is due Monday 11/01/2027


def run(cfg: Config, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(cfg.path)])
    return result.exit_code, result.stdout, result.stderr


def make(tmp_path: Path, stages: str = STAGES) -> Config:
    cfg = make_workdir(tmp_path, stages)
    with Register.open(cfg.register_path) as reg:
        a = allocation("A1", date(2026, 12, 31))
        reg.overdue_fixture_allocations([a, allocation("A2", date(2026, 12, 31))])
        receive(reg, cfg, a, date(2026, 12, 18), "Good")
    return cfg


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make(tmp_path)


def disputes_overdue(cfg: Config, day: date) -> list[dict]:  # type: ignore[type-arg]
    code, out, err = run(cfg, "overdue", "--as-of", day.isoformat(), "--format", "json")
    assert code in (0, 1), err
    return [it for it in json.loads(out)["items"] if it["kind"] == "dispute"]


def test_open_advance_resolve_g6_haringey_2_11(cfg: Config) -> None:
    """Rule G6 (Haringey 2.11): a dispute moves through the stages and is resolved."""
    code, _out, err = run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", "04/01/2027")
    assert code == 0, err
    assert err == (
        'dispute:1 opened on A1: stage 1 of 2 "Informal meeting" (Team Manager), due 11/01/2027\n'
    )
    code, _out, err = run(cfg, "dispute", "advance", "A1", "--on", "2027-01-08")
    assert code == 0, err
    assert err == 'dispute:1 on A1: stage 2 of 2 "Formal response" (QA Officer), due 12/01/2027\n'
    code, _out, err = run(cfg, "dispute", "advance", "A1", "--on", "2027-01-09")
    assert code == 2
    assert err == (
        f"Error: {RULE} dispute:1 is at its last stage (2 of 2): resolve it with "
        "`qaf dispute resolve A1 --outcome TEXT` (Haringey 2.11)\n"
    )
    code, _out, err = run(
        cfg, "dispute", "resolve", "A1", "--outcome", "grade kept: Good", "--on", "2027-01-11"
    )
    assert code == 0, err
    assert err == "dispute:1 on A1 resolved on 11/01/2027: grade kept: Good\n"
    with Register.open(cfg.register_path) as reg:
        (row,) = reg.query("SELECT * FROM disputes")
    assert (row["stage"], row["stage_started"], row["opened_by"], row["resolved_on"]) == (
        1,
        "2027-01-08",
        "Tia Manager",
        "2027-01-11",
    )
    assert row["outcome"] == "grade kept: Good"
    # resolved: a new dispute of the same return may be opened
    code, _out, err = run(cfg, "dispute", "open", "A1", "--by", "Aud Itor", "--on", "2027-02-01")
    assert code == 0, err
    assert err.startswith("dispute:2 opened on A1: stage 1 of 2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("open", "A2", "--by", "Tia Manager"),
            'audit ID "A2" has no stored return to dispute (not returned yet)',
        ),
        (
            ("open", "NOPE", "--by", "Tia Manager"),
            'audit ID "NOPE" is not in the register: check the ID',
        ),
        (("advance", "A1"), 'audit ID "A1" has no open dispute'),
        (("open", "A1", "--by", "  "), "--by must name who raised the dispute"),
        (
            ("open", "A1", "--by", "Tia Manager", "--on", "17/12/2026"),
            "--on 17/12/2026 is before the return of A1 was received (18/12/2026)",
        ),
        (("resolve", "A1", "--outcome", "kept"), 'audit ID "A1" has no open dispute'),
    ],
)
def test_refusals_exit_2_g6_haringey_2_11(cfg: Config, args: tuple[str, ...], message: str) -> None:
    """Rule G6 (Haringey 2.11): a dispute needs a stored return, advance/resolve an open one."""
    code, _out, err = run(cfg, "dispute", *args)
    assert code == 2
    assert err == f"Error: {RULE} {message} {SEED}\n"


def test_audit_id_typed_in_lower_case_with_spaces_g6_haringey_2_11(tmp_path: Path) -> None:
    """Rule G6 (Haringey 2.11) (trial2 T2-8): an audit ID pasted with spaces or typed in lower
    case names the allocated audit; the steps say its ID as allocated."""
    cfg = make_workdir(tmp_path, STAGES)
    with Register.open(cfg.register_path) as reg:
        a = allocation("A-2026-12-0007", date(2026, 12, 31))
        reg.overdue_fixture_allocations([a])
        receive(reg, cfg, a, date(2026, 12, 18), "Good")
    code, _out, err = run(
        cfg, "dispute", "open", " a-2026-12-0007 ", "--by", " Tia Manager ", "--on", "04/01/2027"
    )
    assert code == 0, err
    assert err == (
        'dispute:1 opened on A-2026-12-0007: stage 1 of 2 "Informal meeting" (Team Manager), '
        "due 11/01/2027\n"
    )
    code, _out, err = run(cfg, "dispute", "advance", "a-2026-12-0007", "--on", "2027-01-08")
    assert (code, err.split(":")[0:2]) == (0, ["dispute", "1 on A-2026-12-0007"])
    code, _out, err = run(
        cfg, "dispute", "resolve", "A-2026-12-0007 ", "--outcome", "kept", "--on", "2027-01-11"
    )
    assert err == "dispute:1 on A-2026-12-0007 resolved on 11/01/2027: kept\n"
    with Register.open(cfg.register_path) as reg:
        (row,) = reg.query("SELECT audit_id, opened_by FROM disputes")
    assert tuple(row) == ("A-2026-12-0007", "Tia Manager")


def test_second_open_dispute_refused_g6_haringey_2_11(cfg: Config) -> None:
    assert run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", "2027-01-04")[0] == 0
    code, _out, err = run(cfg, "dispute", "open", "A1", "--by", "Aud Itor")
    assert code == 2
    assert err == (
        f'Error: {RULE} audit ID "A1" already has an open dispute (dispute:1, opened 04/01/2027) '
        f"{SEED}\n"
    )


def test_refused_when_no_stages_configured_g6_haringey_2_11(tmp_path: Path) -> None:
    cfg = make(tmp_path, stages="")
    code, _out, err = run(cfg, "dispute", "open", "A1", "--by", "Tia Manager")
    assert code == 2
    assert err == (
        f"Error: {RULE} no dispute stages are configured ([[dispute.stage]] in qaf.toml), "
        "so disputes are not tracked (Haringey 2.11)\n"
    )


def test_done_points_at_the_dispute_commands(cfg: Config) -> None:
    code, _out, err = run(cfg, "done", "dispute:1")
    assert code == 2
    assert err == (
        "Error: dispute:1 moves on with `qaf dispute advance` and closes with "
        "`qaf dispute resolve`\n"
    )


def test_overdue_chases_the_current_stage_from_its_working_day_g6_haringey_2_11(
    cfg: Config,
) -> None:
    """Rule G6 (Haringey 2.11): stage 1 (5 working days from Monday 04/01) is due 11/01, so
    it is listed from Tuesday 12/01, not before; the Team Manager of the case is responsible
    and the stage's notify role (the auditor) is told at level 1; advanced, the next stage
    is chased from its own deadline; resolved, it disappears."""
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    assert disputes_overdue(cfg, date(2027, 1, 11)) == []
    (item,) = disputes_overdue(cfg, date(2027, 1, 12))
    assert item == {
        "id": "dispute:1",
        "kind": "dispute",
        "rule": "G6",
        "audit_id": "A1",
        "case_id": "P000001",
        "responsible": "Tia Manager",
        "responsible_role": "Team Manager",
        "due": "2027-01-11",
        "working_days_late": 1,
        "level": 1,
        "notify": [
            {
                "role": "Responsible",
                "name": "Tia Manager",
                "email": "tia.manager@example.org",
                "level": 1,
            },
            {"role": "Auditor", "name": "Aud Itor", "email": "aud.itor@example.org", "level": 1},
        ],
        "detail": "dispute stage 1 of 2: Informal meeting",
    }
    (item,) = disputes_overdue(cfg, date(2027, 1, 18))  # 5 working days late: level 2
    assert item["level"] == 2
    assert [n["name"] for n in item["notify"] if n["level"] == 2] == ["Sol Senior"]

    run(cfg, "dispute", "advance", "A1", "--on", "2027-01-18")  # stage 2 due Wed 20/01
    assert disputes_overdue(cfg, date(2027, 1, 20)) == []
    (item,) = disputes_overdue(cfg, date(2027, 1, 21))
    assert (item["responsible"], item["due"], item["level"]) == ("Quin Officer", "2027-01-20", 1)
    assert item["detail"] == "dispute stage 2 of 2: Formal response"

    run(cfg, "dispute", "resolve", "A1", "--outcome", "regraded", "--on", "2027-01-22")
    assert disputes_overdue(cfg, date(2027, 1, 25)) == []
    # before it was resolved, the register still shows it
    assert [i["id"] for i in disputes_overdue(cfg, date(2027, 1, 21))] == ["dispute:1"]


def test_overdue_notifies_each_dispute_level_once_g6_haringey_2_11(cfg: Config) -> None:
    """Rule G6 (Haringey 2.11): the existing notify mechanism sends each level once."""
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    for day in ("2027-01-12", "2027-01-13"):
        code, _out, err = run(cfg, "overdue", "--as-of", day, "--notify")
        assert code in (0, 1), err
    with Register.open(cfg.register_path) as reg:
        sent = reg.query(
            "SELECT level, recipient_email FROM notifications WHERE item_key = 'dispute:1'"
        )
    assert sorted((r["level"], r["recipient_email"]) for r in sent) == [
        (1, "aud.itor@example.org"),
        (1, "tia.manager@example.org"),
    ]
    # trial2: the message names the kind in words, as every other kind
    outbox = cfg.notify.outbox
    (mail,) = [p for p in outbox.iterdir() if "tia-manager" in p.name]
    body = mail.read_bytes().decode("utf-8")
    assert "* Grading dispute stage past its deadline (G6, Haringey 2.11)" in body


def stage_history(cfg: Config, dispute_id: int = 1) -> list[tuple[int, str, str | None]]:
    with Register.open(cfg.register_path) as reg:
        rows = reg.dispute_stages(dispute_id)
    return [(r["stage"], r["started_on"], r["ended_on"]) for r in rows]


def test_each_step_writes_the_stage_history_g6_haringey_2_11(cfg: Config) -> None:
    """Rule G6 (Haringey 2.11) (register migration 4): open, advance and resolve each write
    the dispute's stage history with the stage row, so a stage ends when the next starts."""
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    assert stage_history(cfg) == [(0, "2027-01-04", None)]
    run(cfg, "dispute", "advance", "A1", "--on", "2027-01-18")
    assert stage_history(cfg) == [(0, "2027-01-04", "2027-01-18"), (1, "2027-01-18", None)]
    run(cfg, "dispute", "resolve", "A1", "--outcome", "regraded", "--on", "2027-01-22")
    assert stage_history(cfg) == [
        (0, "2027-01-04", "2027-01-18"),
        (1, "2027-01-18", "2027-01-22"),
    ]


def test_refused_step_writes_no_history_g6_haringey_2_11(cfg: Config) -> None:
    """Rule G6 (Haringey 2.11): an advance refused (past the last stage) changes nothing."""
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    run(cfg, "dispute", "advance", "A1", "--on", "2027-01-08")
    assert run(cfg, "dispute", "advance", "A1", "--on", "2027-01-11")[0] == 2
    assert stage_history(cfg) == [(0, "2027-01-04", "2027-01-08"), (1, "2027-01-08", None)]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # opened Monday 04/01: not yet open on the Sunday before
        ("2027-01-03", []),
        # stage 1 due 11/01, not late on that day
        ("2027-01-11", []),
        # stage 1 late on 12/01 although the dispute is at stage 2 today
        ("2027-01-12", [("dispute stage 1 of 2: Informal meeting", "2027-01-11", 1)]),
        ("2027-01-15", [("dispute stage 1 of 2: Informal meeting", "2027-01-11", 4)]),
        # stage 2 started Monday 18/01, due Wednesday 20/01
        ("2027-01-18", []),
        ("2027-01-20", []),
        ("2027-01-21", [("dispute stage 2 of 2: Formal response", "2027-01-20", 1)]),
        # resolved on 22/01
        ("2027-01-22", []),
        ("2027-02-01", []),
    ],
)
def test_overdue_as_of_a_past_day_uses_the_stage_of_that_day_g6_haringey_2_11(
    cfg: Config, day: str, expected: list[tuple[str, str, int]]
) -> None:
    """Rule G6 (Haringey 2.11): `qaf overdue --as-of D` chases the stage the dispute was at
    on D (from its stage history), not the stage it is at now; opened after D, not listed."""
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    run(cfg, "dispute", "advance", "A1", "--on", "2027-01-18")
    run(cfg, "dispute", "resolve", "A1", "--outcome", "regraded", "--on", "2027-01-22")
    items = disputes_overdue(cfg, date.fromisoformat(day))
    assert [(i["detail"], i["due"], i["working_days_late"]) for i in items] == expected


def test_advanced_the_same_day_it_opened_uses_the_later_stage_g6_haringey_2_11(
    cfg: Config,
) -> None:
    """Rule G6 (Haringey 2.11): two stages started the same day: that day's stage is the later."""
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    run(cfg, "dispute", "advance", "A1", "--on", OPENED.isoformat())  # stage 2 due 06/01
    (item,) = disputes_overdue(cfg, date(2027, 1, 7))
    assert (item["detail"], item["due"]) == ("dispute stage 2 of 2: Formal response", "2027-01-06")


def test_a_version_3_register_migrates_its_disputes_to_a_one_row_history_haringey_2_11(
    cfg: Config,
) -> None:
    """Rule G6 (Haringey 2.11), register migration 4: a register made before the stage
    history (version 3) is backed up, then each dispute's current stage becomes its history,
    starting at the dispute's stage start (ended when it was resolved). The stages before it
    are unknown, so before that day the dispute is not listed late."""
    import sqlite3

    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", "2026-12-21")
    run(cfg, "dispute", "resolve", "A1", "--outcome", "kept", "--on", "2026-12-22")
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    run(cfg, "dispute", "advance", "A1", "--on", "2027-01-18")
    con = sqlite3.connect(cfg.register_path)
    con.execute("DROP TABLE dispute_stages")
    for index in ("returns_source", "followups_safety", "followups_learning"):  # migration 5
        con.execute(f"DROP INDEX {index}")
    con.execute("DELETE FROM schema_migrations WHERE version >= 4")
    con.commit()
    con.close()
    backup = cfg.register_path.with_name(cfg.register_path.name + ".before-v4.bak")
    assert not backup.exists()

    assert [i["due"] for i in disputes_overdue(cfg, date(2027, 1, 21))] == ["2027-01-20"]
    assert backup.exists()
    with sqlite3.connect(backup) as old:
        assert old.execute("SELECT max(version) FROM schema_migrations").fetchone() == (3,)
    with Register.open(cfg.register_path) as reg:
        assert reg.scalar("SELECT max(version) FROM schema_migrations") == 5
        assert reg.orphans() == []
    assert stage_history(cfg, 1) == [(0, "2026-12-21", "2026-12-22")]
    assert stage_history(cfg, 2) == [(1, "2027-01-18", None)]
    assert disputes_overdue(cfg, date(2027, 1, 12)) == []
    # the history goes on from there
    run(cfg, "dispute", "resolve", "A1", "--outcome", "kept", "--on", "2027-01-25")
    assert stage_history(cfg, 2) == [(1, "2027-01-18", "2027-01-25")]


def test_steps_json_equals_the_library_result_g6_haringey_2_11(tmp_path: Path) -> None:
    """Rule G6 (Haringey 2.11): `qaf dispute open|advance|resolve --format json` prints what
    open_dispute / advance_dispute / resolve_dispute return (the same steps run through the
    library on a twin register), and still says what it did on stderr."""
    from qaf.disputes import advance_dispute, open_dispute, resolve_dispute
    from tests.test_overdue_support import calendar

    (tmp_path / "cli").mkdir()
    (tmp_path / "lib").mkdir()
    cli_cfg = make(tmp_path / "cli")
    lib_cfg = make(tmp_path / "lib")
    cal = calendar(lib_cfg)
    with Register.open(lib_cfg.register_path) as reg:
        expected = [
            open_dispute(reg, lib_cfg, cal, "A1", by="Tia Manager", on=OPENED, note="overall"),
            advance_dispute(reg, lib_cfg, cal, "A1", on=date(2027, 1, 8)),
            resolve_dispute(reg, "A1", outcome=" regraded Good ", on=date(2027, 1, 11)),
        ]
    steps = [
        ("open", "A1", "--by", "Tia Manager", "--on", "04/01/2027", "--note", "overall"),
        ("advance", "A1", "--on", "2027-01-08"),
        ("resolve", "A1", "--outcome", " regraded Good ", "--on", "2027-01-11"),
    ]
    outs = []
    for step, lib in zip(steps, expected, strict=True):
        code, out, err = run(cli_cfg, "dispute", *step, "--format", "json")
        assert code == 0, err
        assert err  # the message stays on stderr
        assert json.loads(out) == lib.as_json()
        outs.append(json.loads(out))
    assert outs == [
        {
            "id": "dispute:1",
            "audit_id": "A1",
            "stage": 1,
            "stages": 2,
            "stage_name": "Informal meeting",
            "responsible_role": "Team Manager",
            "stage_started": "2027-01-04",
            "due": "2027-01-11",
        },
        {
            "id": "dispute:1",
            "audit_id": "A1",
            "stage": 2,
            "stages": 2,
            "stage_name": "Formal response",
            "responsible_role": "QA Officer",
            "stage_started": "2027-01-08",
            "due": "2027-01-12",
        },
        {
            "id": "dispute:1",
            "audit_id": "A1",
            "resolved_on": "2027-01-11",
            "outcome": "regraded Good",
        },
    ]


def test_refused_step_prints_no_json_g6_haringey_2_11(cfg: Config) -> None:
    """Rule G6 (Haringey 2.11): a refusal is exit 2 with the message, nothing on stdout."""
    code, out, err = run(cfg, "dispute", "advance", "A1", "--format", "json")
    assert (code, out) == (2, "")
    assert err == f'Error: {RULE} audit ID "A1" has no open dispute {SEED}\n'


def two_disputes(tmp_path: Path) -> Config:
    """A1 (case P000001, Team A) opened 04/01/2027 and advanced 18/01; A3 (case P000003, a
    team with no Team Manager) opened 11/01/2027."""
    cfg = make(tmp_path)
    with Register.open(cfg.register_path) as reg:
        a3 = replace(
            allocation("A3", date(2026, 12, 31), case_id="P000003"),
            team="Team Z",
            worker="Una Known",
        )
        reg.overdue_fixture_allocations([a3])
        receive(reg, cfg, a3, date(2026, 12, 18), "Good")
    run(cfg, "dispute", "open", "A1", "--by", "Tia Manager", "--on", OPENED.isoformat())
    run(cfg, "dispute", "open", "A3", "--by", "Aud Itor", "--on", "2027-01-11", "--note", "D2")
    run(cfg, "dispute", "advance", "A1", "--on", "2027-01-18")
    return cfg


def test_list_json_equals_the_library_result_g6_haringey_2_11(tmp_path: Path) -> None:
    """Rule G6 (Haringey 2.11): `qaf dispute list --format json` is list_disputes(...):
    the disputes open on --as-of, each at its stage that day, its due date, who is
    responsible (the role's holder for the case; the role when nobody holds it)."""
    from qaf.disputes import list_disputes
    from qaf.sources import read_staff
    from tests.test_overdue_support import calendar

    cfg = two_disputes(tmp_path)
    code, out, err = run(cfg, "dispute", "list", "--as-of", "2027-01-19", "--format", "json")
    assert code == 0, err
    with Register.open(cfg.register_path) as reg:
        lib = list_disputes(reg, cfg, calendar(cfg), read_staff(cfg.staff), date(2027, 1, 19))
    assert json.loads(out) == lib.as_json()
    assert json.loads(out) == {
        "as_of": "2027-01-19",
        "disputes": [
            {
                "id": "dispute:1",
                "audit_id": "A1",
                "stage": 2,
                "stages": 2,
                "stage_name": "Formal response",
                "responsible_role": "QA Officer",
                "stage_started": "2027-01-18",
                "due": "2027-01-20",
                "case_id": "P000001",
                "responsible": "Quin Officer",
                "opened_by": "Tia Manager",
                "opened_on": "2027-01-04",
                "note": "",
                "working_days_late": 0,
            },
            {
                "id": "dispute:2",
                "audit_id": "A3",
                "stage": 1,
                "stages": 2,
                "stage_name": "Informal meeting",
                "responsible_role": "Team Manager",
                "stage_started": "2027-01-11",
                "due": "2027-01-18",
                "case_id": "P000003",
                "responsible": "Team Manager",
                "opened_by": "Aud Itor",
                "opened_on": "2027-01-11",
                "note": "D2",
                "working_days_late": 1,
            },
        ],
    }


def test_list_table_and_past_day_g6_haringey_2_11(tmp_path: Path) -> None:
    """Rule G6 (Haringey 2.11): the table lists each open dispute's stage, due date, working
    days late and who is responsible (NOBODY when no one holds the role); --as-of a past day
    shows the stages of that day and leaves out disputes not yet opened."""
    cfg = two_disputes(tmp_path)
    code, out, err = run(cfg, "dispute", "list", "--as-of", "2027-01-19")
    assert code == 0, err
    assert out == (
        "Disputes open on 19/01/2027: 2\n"
        "Item       Audit  Case     Stage                     Due         WD late  Responsible\n"
        "dispute:1  A1     P000001  2 of 2: Formal response   20/01/2027  0        "
        "Quin Officer (QA Officer)\n"
        "dispute:2  A3     P000003  1 of 2: Informal meeting  18/01/2027  1        "
        "NOBODY: Team Manager\n"
    )
    code, out, _err = run(cfg, "dispute", "list", "--as-of", "2027-01-08")
    assert code == 0
    assert out == (
        "Disputes open on 08/01/2027: 1\n"
        "Item       Audit  Case     Stage                     Due         WD late  Responsible\n"
        "dispute:1  A1     P000001  1 of 2: Informal meeting  11/01/2027  0        "
        "Tia Manager (Team Manager)\n"
    )
    code, out, _err = run(cfg, "dispute", "list", "--as-of", "2027-01-01")
    assert (code, out) == (0, "No dispute is open on 01/01/2027.\n")


def test_list_refused_when_no_stages_configured_g6_haringey_2_11(tmp_path: Path) -> None:
    cfg = make(tmp_path, stages="")
    code, out, err = run(cfg, "dispute", "list", "--format", "json")
    assert (code, out) == (2, "")
    assert err == (
        f"Error: {RULE} no dispute stages are configured ([[dispute.stage]] in qaf.toml), "
        "so disputes are not tracked (Haringey 2.11)\n"
    )
