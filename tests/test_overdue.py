"""`qaf overdue` day by day: ladders (T4, T5, follow-ups), safety first (E3), extensions (T6),
closure (`qaf done`), notifications sent exactly once and a skipped day caught up."""

from __future__ import annotations

import json
from datetime import date, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config
from qaf.escalate import Pending, compute_overdue
from qaf.records import ActionItem
from qaf.register import Register
from qaf.sources import read_staff
from tests.test_overdue_support import allocation, calendar, email, make_workdir, receive

runner = CliRunner()

DEC_DUE = date(2026, 12, 31)  # last working day of cycle 2026-12 (Thursday)


def run(cfg: Config, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(cfg.path)])
    return result.exit_code, result.stdout, result.stderr


def overdue_json(cfg: Config, day: date, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, out, err = run(cfg, "overdue", "--as-of", day.isoformat(), "--format", "json", *extra)
    assert code in (0, 1), err
    return code, json.loads(out)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_workdir(tmp_path)


# ------------------------------------------------------------------ pure ladder


def pending(kind: str, due: date, **kw: str) -> Pending:
    return Pending(
        kind=kind,
        ref=kw.pop("ref", "X1"),
        rule=kw.pop("rule", "T4"),
        audit_id="X1",
        case_id="P000001",
        due=due,
        responsible=kw.pop("responsible", "Aud Itor"),
        responsible_role="Auditor",
        team="Team A",
        service="Service 1",
        category="CiN",
        worker="Sam Worker",
        auditor="Aud Itor",
    )


@pytest.mark.parametrize(
    "as_of,late,level",
    [
        (date(2026, 12, 31), None, None),  # the due day itself is not late
        (date(2027, 1, 1), 0, 0),  # New Year's Day: late, 0 working days
        (date(2027, 1, 4), 1, 0),
        (date(2027, 1, 5), 2, 1),  # rule T4: 2 working days -> level 1
        (date(2027, 1, 11), 6, 1),
        (date(2027, 1, 12), 7, 2),  # 7 working days -> Director
        (date(2027, 1, 20), 13, 2),
        (date(2027, 1, 21), 14, 3),  # 14 working days -> Executive Director
    ],
)
def test_t4_ladder_in_working_days(
    cfg: Config, as_of: date, late: int | None, level: int | None
) -> None:
    items = compute_overdue(
        as_of, [pending("late-return", DEC_DUE)], read_staff(cfg.staff), cfg, calendar(cfg)
    )
    if late is None:
        assert items == []
        return
    (item,) = items
    assert (item.working_days_late, item.level) == (late, level)


def test_t4_recipients_relative_to_auditor(cfg: Config) -> None:  # rule T4, Haringey 2.15
    (item,) = compute_overdue(
        date(2027, 1, 21),
        [pending("late-return", DEC_DUE)],
        read_staff(cfg.staff),
        cfg,
        calendar(cfg),
    )
    assert [(n.level, n.recipient.name) for n in item.notify] == [
        (1, "Sue Senior"),
        (1, "Hana Head"),
        (2, "Dee Director"),
        (3, "Eve Executive"),
    ]


@pytest.mark.parametrize(
    "as_of,level",
    [
        (date(2027, 1, 6), 0),
        (date(2027, 1, 7), 1),
        (date(2027, 1, 20), 1),
        (date(2027, 1, 21), 2),
        (date(2027, 3, 4), 3),
    ],
)
def test_t5_action_ladder_in_weeks(cfg: Config, as_of: date, level: int) -> None:  # rule T5
    p = pending("action", date(2026, 12, 10), rule="T5", responsible="Sam Worker")
    (item,) = compute_overdue(as_of, [p], read_staff(cfg.staff), cfg, calendar(cfg))
    assert item.level == level


def test_safety_first_then_level_then_days(cfg: Config) -> None:  # rule E3
    items = compute_overdue(
        date(2027, 1, 21),
        [
            pending("late-return", DEC_DUE, ref="A"),
            pending("discussion", date(2027, 1, 18), ref="1", rule="T2", responsible="Tia Manager"),
            pending("safety", date(2027, 1, 21), ref="2", rule="E3", responsible="Tia Manager"),
            pending("late-return", date(2027, 1, 15), ref="B"),
        ],
        read_staff(cfg.staff),
        cfg,
        calendar(cfg),
    )
    assert [i.id for i in items] == ["safety:2", "late-return:A", "late-return:B", "discussion:1"]
    assert items[0].working_days_late == 0 and items[0].level == 1
    assert {n.recipient.name for n in items[0].notify} == {"Tia Manager", "Hal Head"}


def test_unresolved_recipient_is_listed_with_reason(cfg: Config, tmp_path: Path) -> None:
    p = pending("late-return", DEC_DUE, responsible="Gone Person")
    p = Pending(
        **{**p.__dict__, "auditor": "Gone Person", "service": "Service 9", "team": "Team Z"}
    )
    (item,) = compute_overdue(date(2027, 1, 5), [p], read_staff(cfg.staff), cfg, calendar(cfg))
    unresolved = [n for n in item.notify if not n.recipient.resolved]
    assert {n.recipient.role for n in unresolved} == {"Service Manager", "Head of Service"}
    assert all("Service 9" in n.recipient.reason for n in unresolved)
    assert item.as_json()["notify"][0]["name"] == ""


# ------------------------------------------------------------- the CLI, quiet


def test_says_so_at_a_terminal_when_nothing_is_late(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F14: at a terminal, a plain line instead of no output at all; exit 0; JSON an empty list."""
    monkeypatch.setattr("qaf.cli._interactive", lambda: True)
    Register.open(cfg.register_path).close()
    code, out, err = run(cfg, "overdue", "--as-of", "2027-01-05", "--fail-on-overdue")
    assert (code, out, err) == (0, "Nothing is overdue on 05/01/2027.\n", "")
    code, data = overdue_json(cfg, date(2027, 1, 5))
    assert code == 0 and data["as_of"] == "2027-01-05" and data["items"] == []


def test_silent_for_cron_when_nothing_is_late(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 5: quiet when nothing is late (cron mails any output), and --quiet at a terminal."""
    Register.open(cfg.register_path).close()
    code, out, err = run(cfg, "overdue", "--as-of", "2027-01-05", "--fail-on-overdue")
    assert (code, out, err) == (0, "", "")
    monkeypatch.setattr("qaf.cli._interactive", lambda: True)
    code, out, err = run(cfg, "overdue", "--as-of", "2027-01-05", "--fail-on-overdue", "--quiet")
    assert (code, out, err) == (0, "", "")


def test_safety_concern_email_says_so_in_subject_and_first_line(cfg: Config) -> None:
    """Rule E3 (F14): a new safety concern is not "1 overdue item needing your attention"."""
    from qaf.notify import overdue_messages

    items = compute_overdue(
        date(2027, 1, 21),
        [
            pending("safety", date(2027, 1, 21), ref="2", rule="E3", responsible="Tia Manager"),
            pending("late-return", DEC_DUE, ref="A"),
        ],
        read_staff(cfg.staff),
        cfg,
        calendar(cfg),
    )
    messages, _ = overdue_messages(items, set(), as_of=date(2027, 1, 21), organisation="Testshire")
    by_name = {m.name: m for m in messages}
    tia = by_name["Tia Manager"]
    case = items[0].case_id
    assert tia.subject.startswith(f"[qaf] Safety concern: case {case}")
    assert tia.subject.endswith("(21/01/2027)")
    assert "overdue item" not in tia.subject or " and 1 overdue item" in tia.subject
    opening = tia.body.splitlines()[2]
    assert opening.startswith(
        f"SAFETY CONCERN: an auditor has raised an immediate safety concern "
        f"about case {case} (rule E3)."
    )
    plain = [m for m in messages if not any(k[0].startswith("safety:") for k in m.keys)]
    assert plain and all("overdue item" in m.subject for m in plain)
    assert all("Safety" not in m.subject for m in plain)


def test_fail_on_overdue_and_formats(cfg: Config) -> None:
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A-2026-12-0001", DEC_DUE)])
    code, out, _ = run(cfg, "overdue", "--as-of", "2027-01-12", "--fail-on-overdue")
    assert code == 1 and "late-return:A-2026-12-0001" in out
    assert out.startswith("Overdue on 12/01/2027: 1 item\n")  # F1: "1 item", not ": 1"
    code, out, _ = run(cfg, "overdue", "--as-of", "2027-01-12")
    assert code == 0
    code, data = overdue_json(cfg, date(2027, 1, 12))
    (item,) = data["items"]
    assert data["as_of"] == "2027-01-12"
    assert {
        k: item[k]
        for k in (
            "id",
            "kind",
            "audit_id",
            "case_id",
            "responsible",
            "due",
            "working_days_late",
            "level",
        )
    } == {
        "id": "late-return:A-2026-12-0001",
        "kind": "late-return",
        "audit_id": "A-2026-12-0001",
        "case_id": "P000001",
        "responsible": "Aud Itor",
        "due": "2026-12-31",
        "working_days_late": 7,
        "level": 2,
    }
    assert {
        "name": "Dee Director",
        "email": email("Dee Director"),
        "role": "Director of Children's Social Care",
        "level": 2,
    } in item["notify"]
    code, out, _ = run(cfg, "overdue", "--as-of", "2027-01-12", "--format", "csv")
    lines = out.splitlines()
    assert lines[0].startswith("\ufeffid,kind,rule,audit_id,case_id")
    assert lines[1].startswith("late-return:A-2026-12-0001,late-return,T4,")


# ------------------------------------------------------------- extend and done


def test_extend_rule_t6(cfg: Config) -> None:  # rule T6
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A1", DEC_DUE)])
    args = ("extend", "A1", "--to", "2027-01-15")
    code, _, err = run(cfg, *args, "--agreed-by", "Tia Manager", "--on", "2026-12-30")
    assert code == 1 and "only Head of Service" in err
    code, _, err = run(cfg, *args, "--agreed-by", "Hal Head", "--on", "2027-01-04")
    assert code == 1 and "before the deadline" in err
    code, _, err = run(cfg, *args, "--agreed-by", "Nobody Known", "--on", "2026-12-30")
    assert code == 1 and "not in the staff roster" in err
    code, _, err = run(cfg, "extend", "NOPE", "--to", "2027-01-15", "--agreed-by", "Hal Head")
    assert code == 2
    code, _, err = run(cfg, *args, "--agreed-by", "hal head", "--on", "2026-12-31")  # the due day
    assert code == 0, err
    _, data = overdue_json(cfg, date(2027, 1, 15))
    assert data["items"] == []
    _, data = overdue_json(cfg, date(2027, 1, 19))  # Mon 18 = 1, Tue 19 = 2 working days
    assert [(i["due"], i["working_days_late"], i["level"]) for i in data["items"]] == [
        ("2027-01-15", 2, 1)
    ]
    # a further extension must be agreed before the new deadline
    code, _, err = run(
        cfg, "extend", "A1", "--to", "2027-01-29", "--agreed-by", "Hal Head", "--on", "2027-01-18"
    )
    assert code == 1 and "agreed on 18/01/2027, after the deadline 15/01/2027" in err


def test_safety_subject_names_alerts_and_overdue_items_too(cfg: Config) -> None:
    """Rule E3 with E1 alerts in the same message: the safety concern leads the subject."""
    from qaf.notify import _body, _subject

    items = compute_overdue(
        date(2027, 1, 21),
        [
            pending("safety", date(2027, 1, 21), ref="2", rule="E3", responsible="Tia Manager"),
            pending("discussion", date(2027, 1, 18), ref="1", rule="T2", responsible="Tia Manager"),
        ],
        read_staff(cfg.staff),
        cfg,
        calendar(cfg),
    )
    entries = [(it, 1, "Team Manager") for it in items]
    subject = _subject(entries, date(2027, 1, 21), news=[object()])  # type: ignore[list-item]
    case = items[0].case_id
    assert (
        subject
        == f"[qaf] Safety concern: case {case}, 1 audit alert and 1 overdue item (21/01/2027)"
    )
    body = _body("Tia Manager", entries, date(2027, 1, 21), "Testshire").splitlines()
    assert body[2].startswith("SAFETY CONCERN:")
    assert (
        body[4]
        == "On Thursday 21 January 2027 the safety concern and the overdue audit work below need you."
    )


def test_extend_and_overdue_take_uk_dates_f20(cfg: Config) -> None:
    """F20: --to, --on and --as-of accept dd/mm/yyyy as well as YYYY-MM-DD (rule T6)."""
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A1", DEC_DUE)])
    code, _, err = run(
        cfg, "extend", "A1", "--to", "15/01/2027", "--agreed-by", "Hal Head", "--on", "31/12/2026"
    )
    assert code == 0, err
    _, data = overdue_json(cfg, date(2027, 1, 19))
    assert [i["due"] for i in data["items"]] == ["2027-01-15"]
    code, out, _ = run(cfg, "overdue", "--as-of", "15/01/2027", "--format", "json")
    assert code == 0 and (json.loads(out)["as_of"], json.loads(out)["items"]) == ("2027-01-15", [])
    code, _, err = run(cfg, "extend", "A1", "--to", "2027/01/29", "--agreed-by", "Hal Head")
    assert code == 2
    assert '--to: "2027/01/29" is not a date: expected dd/mm/yyyy or YYYY-MM-DD' in err


def test_t4_table_dates_are_day_month_year_like_its_header(cfg: Config) -> None:
    """Rule T4 (trial2 T2-6): the table's Due column reads dd/mm/yyyy like the header above
    it; JSON keeps ISO dates (contract)."""
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A-2026-12-0001", DEC_DUE)])
    code, out, _ = run(cfg, "overdue", "--as-of", "2027-01-12")
    assert code == 0
    title, head, row = out.splitlines()
    assert title == "Overdue on 12/01/2027: 1 item"
    assert head.split() == ["Item", "Kind", "Case", "Responsible", "Due", "WD", "late", "Level",
                            "Tell"]  # fmt: skip
    assert row.split()[:7] == [
        "late-return:A-2026-12-0001", "late-return", "P000001", "Aud", "Itor", "31/12/2026", "7"
    ]  # fmt: skip
    assert head.index("Due") == row.index("31/12/2026")
    assert overdue_json(cfg, date(2027, 1, 12))[1]["items"][0]["due"] == "2026-12-31"


def test_done_closes_followups_and_refuses_late_returns(cfg: Config) -> None:
    a = allocation("A4", date(2026, 11, 30), cycle="2026-11")
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([a])
        receive(
            reg,
            cfg,
            a,
            date(2026, 12, 1),
            "Inadequate",
            actions=(ActionItem("Update plan", "Sam Worker", date(2026, 12, 10)),),
        )
    _, data = overdue_json(cfg, date(2027, 1, 7))
    ids = {i["id"]: i for i in data["items"]}
    action = next(k for k in ids if k.startswith("action:"))
    assert ids[action]["level"] == 1
    code, _, err = run(
        cfg, "done", action, "--on", "2027-01-06", "--by", "Sam Worker", "--note", "plan updated"
    )
    assert code == 0, err
    _, data = overdue_json(cfg, date(2027, 1, 7))
    assert action not in {i["id"] for i in data["items"]}
    with Register.open(cfg.register_path) as reg:
        assert reg.scalar("SELECT completed_on FROM actions") == "2027-01-06"
    # as of a day before it was done, it was still open
    _, data = overdue_json(cfg, date(2027, 1, 5))
    assert action in {i["id"] for i in data["items"]}
    code, _, err = run(cfg, "done", action)
    assert (code, err) == (0, f"{action} was already done on 06/01/2027\n")  # trial2 T2-6
    assert run(cfg, "done", "late-return:A4")[0] == 2
    code, _, err = run(cfg, "done", "discussion:999")  # trial2 T2-20: where IDs come from
    assert (code, err) == (
        2,
        "Error: no item discussion:999 in the register (`qaf overdue` lists the items and "
        "their IDs)\n",
    )
    assert run(cfg, "done", "garbage")[0] == 2


def test_lock_stops_overlapping_runs(cfg: Config) -> None:
    Register.open(cfg.register_path).close()
    from qaf.runlock import held

    with held(Path(str(cfg.register_path) + ".overdue.lock"), 1):
        code, _, err = run(cfg, "overdue", "--notify", "--lock-wait", "0.1")
    assert code == 2 and "still running" in err
    assert run(cfg, "overdue", "--notify", "--lock-wait", "0.1")[0] == 0


# ------------------------------------------------------------- a month, day by day


def sent_by_day(outbox: Path) -> dict[tuple[str, int, str], list[str]]:
    """(item, level, recipient) -> the days (outbox file stamps) it was sent on."""
    out: dict[tuple[str, int, str], list[str]] = {}
    for path in sorted(outbox.glob("*.eml")):
        msg = message_from_bytes(path.read_bytes())
        to = msg["To"].split("<")[-1].rstrip(">")
        for key in str(msg["X-Qaf-Escalations"]).replace("\n", "").split(","):
            item, _, level = key.strip().rpartition("@")
            out.setdefault((item, int(level), to), []).append(path.name[:10])
    return out


def test_month_day_by_day_each_escalation_once_on_its_day(cfg: Config) -> None:
    # rules T4, T5, T6, E3, T2 and the notification contract: exactly once, skipped day caught up
    a1 = allocation("A1", DEC_DUE)  # never returned
    a2 = allocation("A2", DEC_DUE)  # returned late on Wed 6 Jan
    a3 = allocation("A3", DEC_DUE)  # extended to Fri 15 Jan, never returned
    a4 = allocation("A4", date(2026, 11, 30), cycle="2026-11")  # returned with an action
    a5 = allocation("A5", date(2027, 1, 29), cycle="2027-01")  # raises a safety concern
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([a1, a2, a3, a4, a5])
        receive(
            reg,
            cfg,
            a4,
            date(2026, 11, 27),
            "Good",
            actions=(ActionItem("Update the chronology", "Sam Worker", date(2026, 12, 10)),),
        )
    code, _, err = run(
        cfg, "extend", "A3", "--to", "2027-01-15", "--agreed-by", "Hal Head", "--on", "2026-12-30"
    )
    assert code == 0, err
    outbox = cfg.notify.outbox
    down = {date(2027, 1, 11), date(2027, 1, 12)}  # the server is down Monday and Tuesday
    day = date(2026, 12, 28)
    while day <= date(2027, 1, 31):
        if day == date(2027, 1, 6):
            with Register.open(cfg.register_path) as reg:
                receive(reg, cfg, a2, day, "Good")  # the late return closes its item
        if day == date(2027, 1, 14):
            with Register.open(cfg.register_path) as reg:
                receive(reg, cfg, a5, day, "Good", safety=True)
        if day == date(2027, 1, 18):
            with Register.open(cfg.register_path) as reg:
                safety = next(f for f in reg.open_followups() if f.kind == "safety")
            assert run(cfg, "done", f"safety:{safety.id}", "--on", "2027-01-18")[0] == 0
        if day not in down:
            code, data = overdue_json(cfg, day, "--notify")
            assert code == 0
            ids = [i["id"] for i in data["items"]]
            if date(2027, 1, 14) <= day < date(2027, 1, 18):
                assert ids[0].startswith("safety:")  # E3: at the top until acknowledged
            if day >= date(2027, 1, 6):
                assert "late-return:A2" not in ids
        day += timedelta(days=1)

    sent = sent_by_day(outbox)
    assert all(len(days) == 1 for days in sent.values()), {
        k: v for k, v in sent.items() if len(v) > 1
    }
    first = {k: v[0] for k, v in sent.items()}

    def on(item: str, level: int, who: str) -> str:
        return first[(item, level, email(who))]

    # T4 for A1: level 1 Tue 5 Jan; level 2 reached Tue 12 Jan while the server was down:
    # caught up Wed 13 Jan; level 3 Thu 21 Jan (New Year's Day and weekends not counted)
    assert on("late-return:A1", 1, "Sue Senior") == "2027-01-05"
    assert on("late-return:A1", 1, "Hana Head") == "2027-01-05"
    assert on("late-return:A1", 2, "Dee Director") == "2027-01-13"
    assert on("late-return:A1", 3, "Eve Executive") == "2027-01-21"
    # A2 was escalated once on 5 Jan, then returned: nothing more
    assert on("late-return:A2", 1, "Sue Senior") == "2027-01-05"
    assert not [k for k in first if k[0] == "late-return:A2" and k[1] > 1]
    # A3 extended to Fri 15 Jan: level 1 on Tue 19 Jan
    assert on("late-return:A3", 1, "Sue Senior") == "2027-01-19"
    assert on("late-return:A3", 2, "Dee Director") == "2027-01-26"  # 7 working days
    # T5: the action due Thu 10 Dec: 4 weeks -> Thu 7 Jan; 6 weeks -> Thu 21 Jan
    action = next(k[0] for k in first if k[0].startswith("action:"))
    assert on(action, 1, "Sol Senior") == "2027-01-07"
    assert on(action, 1, "Hal Head") == "2027-01-07"
    assert on(action, 2, "Dee Director") == "2027-01-21"
    # E3: the safety concern told at once (Thu 14 Jan); acknowledged on the 18th: no more
    safety = next(k[0] for k in first if k[0].startswith("safety:"))
    assert on(safety, 1, "Tia Manager") == "2027-01-14"
    assert on(safety, 1, "Hal Head") == "2027-01-14"
    assert on(safety, 2, "Tia Manager") == "2027-01-15"  # late_followup rung 1: 1 working day
    assert not [k for k in first if k[0] == safety and k[1] > 2]
    # the register holds exactly what went out
    with Register.open(cfg.register_path) as reg:
        recorded = {(r["item_key"], r["level"], r["recipient_email"]) for r in reg.notifications()}
    assert recorded == set(sent)
    # one message per recipient per run
    for path in outbox.glob("*.eml"):
        assert "-2.eml" not in path.name
    # case IDs, never the child's name (the case list names the child "Ada Fictional")
    bodies = [p.read_text() for p in outbox.glob("*.eml")]
    assert all("Case ID: P000001" in b for b in bodies)
    assert not any("Ada Fictional" in b for b in bodies)


def test_skipped_days_catch_up_every_rung(cfg: Config) -> None:
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A1", DEC_DUE)])
    # first run ever on 21 Jan: every rung reached goes out now, each once
    _, data = overdue_json(cfg, date(2027, 1, 21), "--notify")
    assert data["sent"] == 4  # Sue, Hana (1), Dee (2), Eve (3)
    _, data = overdue_json(cfg, date(2027, 1, 22), "--notify")
    assert data["sent"] == 0


def test_demo_overdue_step_writes_the_outbox(cfg: Config) -> None:
    from qaf.demo import overdue_step

    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation("A1", DEC_DUE)])
    lines: list[str] = []
    overdue_step(cfg, say=lines.append)  # 10 working days after the latest due date
    assert lines == [
        f"Overdue on 15/01/2027: 1 item(s); 3 message(s) written to {cfg.notify.outbox}"
    ]
    assert len(list(cfg.notify.outbox.glob("2027-01-15-*.eml"))) == 3  # Sue, Hana, Dee
