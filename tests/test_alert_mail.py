"""Grade alerts by mail (rules E1, E2; E3 through the safety item): `qaf overdue` lists the
alerts raised by returns and not yet e-mailed, `--notify` sends each to its recipient once
(keyed `alert:<id>`), in the same message as that person's overdue items; a refused message
is retried next run; a role nobody holds is reported once; a corrected re-submission does not
tell the same news twice; returns older than the look-back window are not mailed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config
from qaf.escalate import RaisedAlert, alerts_to_send
from qaf.records import ActionItem, Allocation
from qaf.register import Register
from tests.test_notify import Collect, free_port, workdir
from tests.test_overdue_support import allocation, email, make_workdir, receive

runner = CliRunner()
DUE = date(2026, 12, 31)
RECEIVED = date(2026, 12, 15)


def run(cfg: Config, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(cfg.path)])
    return result.exit_code, result.stdout, result.stderr


def overdue_json(cfg: Config, day: date, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(cfg, "overdue", "--as-of", day.isoformat(), "--format", "json", *extra)
    return code, json.loads(out), err


def returned(cfg: Config, alloc: Allocation, overall: str, on: date = RECEIVED, **kw: Any) -> int:
    with Register.open(cfg.register_path) as reg:
        if reg.allocation(alloc.audit_id) is None:
            reg.overdue_fixture_allocations([alloc])
        return receive(reg, cfg, alloc, on, overall, **kw)


def recorded(cfg: Config) -> set[tuple[str, int, str, str]]:
    with Register.open(cfg.register_path) as reg:
        return {
            (r["item_key"], r["level"], r["recipient_email"], r["channel"])
            for r in reg.notifications()
        }


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_workdir(tmp_path)


def test_e1_dry_run_lists_alerts_then_notify_sends_each_once(cfg: Config) -> None:
    """Rule E1: Inadequate -> Head of Service and Assistant Director, e-mailed once."""
    returned(cfg, allocation("A1", DUE), "Inadequate")
    code, out, err = run(cfg, "overdue", "--as-of", "2026-12-15")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Alerts to e-mail (with --notify): 2",
        "Item     Rule  Case     Received    Tell                                Why",
        "alert:1  E1    P000001  15/12/2026  Hal Head (Head of Service)          "
        "audit of case P000001 graded Inadequate",
        "alert:2  E1    P000001  15/12/2026  Ada Assistant (Assistant Director)  "
        "audit of case P000001 graded Inadequate",
    ]
    assert recorded(cfg) == set()  # the dry run sends and records nothing
    code, data, err = overdue_json(cfg, RECEIVED)
    assert data["items"] == []
    assert data["alerts"][0] == {
        "id": "alert:1",
        "rule": "E1",
        "audit_id": "A1",
        "case_id": "P000001",
        "overall": "Inadequate",
        "received_on": "2026-12-15",
        "reason": "audit of case P000001 graded Inadequate",
        "recipient": {"name": "Hal Head", "email": email("Hal Head"), "role": "Head of Service"},
    }
    code, out, err = run(cfg, "overdue", "--as-of", "2026-12-15", "--notify")
    assert code == 0
    assert out.splitlines()[0] == "Alerts e-mailed now: 2"
    assert err == "sent 2 message(s) carrying 2 alert(s)\n"
    files = sorted(cfg.notify.outbox.glob("*.eml"))
    assert [p.name for p in files] == [
        "2026-12-15-ada-assistant-example-org.eml",
        "2026-12-15-hal-head-example-org.eml",
    ]
    hal = files[1].read_text(encoding="utf-8")
    assert "Subject: [qaf] 1 audit alert needing your attention (15/12/2026)" in hal
    assert "X-Qaf-Escalations: alert:1@0" in hal
    for line in (
        "* Audit returned with a grade you are told of (E1)",
        "  Case ID: P000001   Audit ID: A1",
        "  Received: 15/12/2026   Overall grade: Inadequate",
        "  Why you are told: audit of case P000001 graded Inadequate",
        "  You are told as: Head of Service",
        "  Item: alert:1",
    ):
        assert line in hal.splitlines()
    assert recorded(cfg) == {
        ("alert:1", 0, email("Hal Head"), "outbox"),
        ("alert:2", 0, email("Ada Assistant"), "outbox"),
    }
    # never twice, also on later days; quiet when nothing is late and no alert waits
    assert run(cfg, "overdue", "--as-of", "2026-12-15", "--notify", "--quiet") == (0, "", "")
    assert run(cfg, "overdue", "--as-of", "2026-12-16", "--notify", "--quiet") == (0, "", "")
    assert len(list(cfg.notify.outbox.glob("*.eml"))) == 2


def test_e2_reaudit_kept_the_same_grade(cfg: Config) -> None:
    """Rule E2: a first re-audit still RI tells practitioner, Team Manager, Service Manager
    (and rule E1 for the grade); the Team Manager gets both alerts in one message."""
    reaudit = replace(allocation("A2", DUE), type="reaudit", reaudit_of="A1", reaudit_round=1)
    returned(cfg, reaudit, "Requires Improvement", movement="same")
    _, data, _ = overdue_json(cfg, RECEIVED)
    assert [(a["id"], a["rule"], a["recipient"]["name"]) for a in data["alerts"]] == [
        ("alert:1", "E1", "Hal Head"),
        ("alert:2", "E1", "Tia Manager"),
        ("alert:3", "E2", "Sam Worker"),
        ("alert:4", "E2", "Tia Manager"),
        ("alert:5", "E2", "Sol Senior"),
    ]
    assert data["alerts"][2]["reason"] == (
        "first re-audit of case P000001 kept the same grade (Requires Improvement)"
    )
    code, data, _ = overdue_json(cfg, RECEIVED, "--notify")
    assert (code, data["sent"], data["messages"]) == (0, 5, 4)
    tia = (cfg.notify.outbox / "2026-12-15-tia-manager-example-org.eml").read_text()
    assert "Subject: [qaf] 2 audit alerts needing your attention (15/12/2026)" in tia
    assert (
        "* Re-audit not improved (E2)" in tia and "X-Qaf-Escalations: alert:2@0, alert:4@0" in tia
    )


def test_nobody_to_tell_is_reported_once_not_sent(cfg: Config) -> None:
    """Rule E1 "IRO/CP Chair where relevant": a CP case, nobody holds the role."""
    returned(cfg, replace(allocation("A1", DUE), category="CP"), "Requires Improvement")
    code, out, _ = run(cfg, "overdue", "--as-of", "2026-12-15")
    assert out.splitlines()[-1] == (
        "alert:3  E1    P000001  15/12/2026  NOBODY: IRO/CP Chair        audit of case P000001 "
        "graded Requires Improvement; not sent: nobody in the roster has the role CP Chair"
    )
    code, out, err = run(cfg, "overdue", "--as-of", "2026-12-15", "--notify")
    assert code == 0
    assert err.splitlines() == [
        "sent 2 message(s) carrying 2 alert(s)",
        "nobody to tell for alert:3 as IRO/CP Chair: nobody in the roster has the role CP Chair",
    ]
    assert ("alert:3", 0, "", "nobody") in recorded(cfg)
    assert run(cfg, "overdue", "--as-of", "2026-12-16", "--notify", "--quiet") == (0, "", "")


def test_e3_safety_is_told_by_its_item_not_twice(cfg: Config) -> None:
    """Rule E3: the safety follow-up tells Team Manager and Head of Service at once; the
    E3 alert is not mailed as well. The E1 alert and the item share one message."""
    returned(cfg, allocation("A1", DUE), "Good", safety=True)
    _, data, _ = overdue_json(cfg, RECEIVED)
    assert [i["id"] for i in data["items"]] == ["safety:1"]
    assert [(a["rule"], a["recipient"]["name"]) for a in data["alerts"]] == [("E1", "Tia Manager")]
    code, data, err = overdue_json(cfg, RECEIVED, "--notify")
    assert (code, data["sent"], data["messages"]) == (0, 3, 2)
    assert err == "sent 2 message(s) carrying 2 escalation(s) and 1 alert(s)\n"
    tia = (cfg.notify.outbox / "2026-12-15-tia-manager-example-org.eml").read_text()
    assert "X-Qaf-Escalations: alert:3@0, safety:1@1" in tia
    assert tia.count("Case ID: P000001") == 2  # the alert, then the safety item
    assert not any(k[0] == "alert:" + str(i) for k in recorded(cfg) for i in (1, 2))


def test_corrected_resubmission_does_not_tell_the_same_news_twice(cfg: Config) -> None:
    """Rule E1 once: a re-submission with the same grade is not news; a changed grade is."""
    a1 = allocation("A1", DUE)
    first = returned(cfg, a1, "Inadequate")
    assert overdue_json(cfg, RECEIVED, "--notify")[1]["sent"] == 2

    def resubmit(overall: str, old: int, on: date) -> int:
        new = returned(cfg, a1, overall, on)
        with Register.open(cfg.register_path) as reg, reg.transaction() as conn:
            reg.supersede(conn, old, new, on)
        return new

    second = resubmit("Inadequate", first, date(2026, 12, 16))
    assert overdue_json(cfg, date(2026, 12, 16))[1]["alerts"] == []
    resubmit("Requires Improvement", second, date(2026, 12, 17))
    _, data, _ = overdue_json(cfg, date(2026, 12, 17))
    assert {(a["rule"], a["overall"], a["recipient"]["name"]) for a in data["alerts"]} == {
        ("E1", "Requires Improvement", "Hal Head"),
        ("E1", "Requires Improvement", "Tia Manager"),
    }


@pytest.mark.parametrize(
    "as_of,listed",
    [
        (date(2026, 8, 31), False),  # before the return was received
        (date(2026, 9, 1), True),  # the day it was received
        (date(2026, 12, 1), True),  # 3 months later: still caught up
        (date(2026, 12, 2), False),  # older than the look-back window: not mailed
    ],
)
def test_alert_look_back_window(cfg: Config, as_of: date, listed: bool) -> None:
    """Rules E1, E2: a skipped day is caught up, years of stale alerts are not sent."""
    returned(cfg, allocation("A1", date(2026, 9, 30), cycle="2026-09"), "Good", date(2026, 9, 1))
    _, data, _ = overdue_json(cfg, as_of)
    assert bool(data["alerts"]) is listed


def test_alerts_to_send_leaves_out_e3_and_orders_oldest_first() -> None:
    """Rules E1-E3: escalate decides what is mailed."""

    def alert(i: int, rule: str, on: date) -> RaisedAlert:
        return RaisedAlert(i, rule, "why", "Team Manager", "Tia", "t@x", "A1", "P1", "Good", on)

    raised = [
        alert(3, "E1", date(2026, 12, 2)),
        alert(1, "E3", date(2026, 12, 1)),
        alert(2, "E2", date(2026, 12, 1)),
    ]
    assert [a.id for a in alerts_to_send(raised, date(2026, 12, 3))] == [2, 3]


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Collect]]:
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def test_smtp_alert_with_overdue_items_refused_then_retried(
    tmp_path: Path, smtp: tuple[Controller, Collect]
) -> None:
    """Rules E1 and T5 through a real SMTP server: Hal Head's alert (Inadequate) and his
    overdue items go in one message; refused, it is not recorded and goes out next run."""
    controller, handler = smtp
    cfg = workdir(tmp_path, controller.port)
    a4 = allocation("A4", date(2026, 11, 30), cycle="2026-11")
    action = ActionItem("Update the chronology", "Sam Worker", date(2026, 12, 10))
    returned(cfg, a4, "Inadequate", date(2026, 11, 27), actions=(action,))
    handler.refuse.add(email("Hal Head"))
    code, data, err = overdue_json(cfg, date(2027, 1, 7), "--notify")
    assert code == 1
    assert f"not sent to {email('Hal Head')}: recipient refused" in err
    assert [a["id"] for a in data["alerts"]] == ["alert:1", "alert:2"]
    assert not {k for k in recorded(cfg) if k[2] == email("Hal Head")}
    handler.refuse.clear()
    handler.messages.clear()
    code, data, err = overdue_json(cfg, date(2027, 1, 8), "--notify")
    assert code == 0, err
    assert [rcpts for rcpts, _ in handler.messages] == [[email("Hal Head")]]
    msg = handler.messages[0][1]
    assert " ".join(msg["Subject"].split()) == (
        "[qaf] 1 audit alert and 4 overdue items needing your attention (08/01/2027)"
    )
    text = msg.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
    assert "Item: alert:1" in text and "Item: action:4" in text
    assert ("alert:1", 0, email("Hal Head"), "smtp") in recorded(cfg)
