"""`qaf allocate --notify` (issue 5 "allocation mail", Haringey App A; rules A1-A3 allocate,
sent once like escalations): each auditor their allocations with the pre-filled workbooks
attached, each Team Manager their team's cases chosen; nothing sent without `--notify`;
`--dry-run --notify` lists; a recorded cycle sends only what was not sent; a refused message
goes out on the next `--notify`; a Team Manager nobody holds is reported."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config
from qaf.register import Register
from tests.test_notify import Collect, free_port
from tests.test_overdue_support import email, make_workdir

runner = CliRunner()
SMTP = '\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\nsender = "qa@example.org"\n'

# With seed 7 the generic preset allocates: A-2026-12-0001 P000004 (Team A) to Hana Head,
# A-2026-12-0002 P000002 (Team C) to Hal Head, A-2026-12-0003 P000003 (Team Z) to Tia Manager.
# Team Managers: Tia Manager (Team A), Aud Itor (Team C); Team Z has none.
CASES = [
    ("P000002", "Team C", "Sam Worker", "Service 2"),
    ("P000003", "Team Z", "Zed Unknown", "Service 2"),
    ("P000004", "Team A", "Sam Worker", "Service 1"),
]


def workdir(tmp_path: Path, extra: str = "") -> Config:
    cfg = make_workdir(tmp_path, extra)
    with (tmp_path / "data" / "cases.csv").open("a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for case_id, team, worker, service in CASES:
            w.writerow([case_id, team, worker, service, "CP"])
    return cfg


def allocate(cfg: Config, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        [
            "allocate",
            "--month",
            "2026-12",
            "--as-of",
            "2026-12-01",
            "--config",
            str(cfg.path),
            *args,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def recorded(cfg: Config) -> set[tuple[str, str]]:
    with Register.open(cfg.register_path) as reg:
        return {(r["item_key"], r["recipient_email"]) for r in reg.notifications()}


def parse(path: Path) -> Message:
    return message_from_bytes(path.read_bytes())


def text_of(msg: Message) -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]


def attachments(msg: Message) -> list[str]:
    return [p.get_filename() or "" for p in msg.walk() if p.get_filename()]


NOBODY = (
    "nobody to tell for allocation:A-2026-12-0003:P000003 as Team Manager: "
    'nobody in the roster is Team Manager of team "Team Z"'
)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return workdir(tmp_path)


def test_nothing_is_sent_without_notify(cfg: Config) -> None:
    code, _, err = allocate(cfg, "--seed", "7")
    assert code == 0
    assert err.splitlines()[-1] == (
        "Allocation mail not sent: `qaf allocate --month 2026-12 --notify` e-mails auditors "
        "and Team Managers (each once)"
    )
    assert not cfg.notify.outbox.exists()
    assert recorded(cfg) == set()


def test_dry_run_notify_lists_the_messages(cfg: Config) -> None:
    code, _, err = allocate(cfg, "--seed", "7", "--dry-run", "--notify")
    assert code == 0
    lines = err.splitlines()
    start = lines.index("Would e-mail 4 message(s):")
    assert lines[start:] == [
        "Would e-mail 4 message(s):",
        "  Aud Itor <aud.itor@example.org>: [qaf] 1 case in your team chosen for audit: "
        "December 2026",
        "  Hal Head <hal.head@example.org>: [qaf] 1 case file audit for you (due 31/12/2026): "
        "December 2026",
        "  Hana Head <hana.head@example.org>: [qaf] 1 case file audit for you (due 31/12/2026): "
        "December 2026",
        "  Tia Manager <tia.manager@example.org>: [qaf] 1 case file audit for you (due "
        "31/12/2026) and 1 case in your team chosen for audit: December 2026",
        NOBODY,
    ]
    assert not cfg.notify.outbox.exists() and not cfg.register_path.exists()


def test_recorded_cycle_notify_sends_each_allocation_once(cfg: Config) -> None:
    assert allocate(cfg, "--seed", "7")[0] == 0
    code, out, err = allocate(cfg, "--notify")  # no --replace needed: nothing is reallocated
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        "Allocation mail: sent 4 message(s) (3 workbook(s) attached)",
        NOBODY,
    ]
    files = {p.name: parse(p) for p in sorted(cfg.notify.outbox.glob("*.eml"))}
    assert sorted(files) == [
        "2026-12-01-allocation-aud-itor-example-org.eml",
        "2026-12-01-allocation-hal-head-example-org.eml",
        "2026-12-01-allocation-hana-head-example-org.eml",
        "2026-12-01-allocation-tia-manager-example-org.eml",
    ]
    hana = files["2026-12-01-allocation-hana-head-example-org.eml"]
    assert attachments(hana) == ["A-2026-12-0001.xlsx"]
    body = text_of(hana)
    for line in (
        "* Audit ID: A-2026-12-0001   Case ID: P000004",
        "  Team: Team A   Category: CP   Social worker: Sam Worker",
        "  Due: Thursday 31 December 2026",
    ):
        assert line in body.splitlines()
    tia = files["2026-12-01-allocation-tia-manager-example-org.eml"]
    assert attachments(tia) == ["A-2026-12-0003.xlsx"]  # her own audit; the team list has none
    assert (
        "* Case ID: P000004   Social worker: Sam Worker   Auditor: Hana Head (Head of Service)"
        "   Due: 31/12/2026"
    ) in text_of(tia).splitlines()
    aud = files["2026-12-01-allocation-aud-itor-example-org.eml"]
    assert attachments(aud) == [] and "P000002" in text_of(aud)
    assert recorded(cfg) == {
        ("allocation:A-2026-12-0001:P000004", email("Hana Head")),
        ("allocation:A-2026-12-0001:P000004", email("Tia Manager")),
        ("allocation:A-2026-12-0002:P000002", email("Hal Head")),
        ("allocation:A-2026-12-0002:P000002", email("Aud Itor")),
        ("allocation:A-2026-12-0003:P000003", email("Tia Manager")),
    }
    # never twice
    assert allocate(cfg, "--notify")[2].splitlines() == [
        "Allocation mail for 2026-12: nothing new to send",
        NOBODY,
    ]
    assert len(list(cfg.notify.outbox.glob("*.eml"))) == 4
    # without --notify a recorded cycle is still refused (rule S2)
    code, _, err = allocate(cfg, "--seed", "7")
    assert code == 2 and "already allocated" in err


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Collect]]:
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def test_allocate_and_notify_by_smtp_refused_then_retried(
    tmp_path: Path, smtp: tuple[Controller, Collect]
) -> None:
    controller, handler = smtp
    cfg = workdir(tmp_path, SMTP.format(port=controller.port))
    handler.refuse.add(email("Hal Head"))
    code, out, err = allocate(cfg, "--seed", "7", "--notify", "--format", "json")
    assert code == 1  # a message could not be sent
    assert len(json.loads(out)["allocations"]) == 3  # the allocation itself went through
    assert (
        "not sent to hal.head@example.org: recipient refused: hal.head@example.org (550 5.1.1 "
        "mailbox unavailable) (sent by the next --notify)"
    ) in err
    assert sorted(r for rcpts, _ in handler.messages for r in rcpts) == [
        email("Aud Itor"),
        email("Hana Head"),
        email("Tia Manager"),
    ]
    assert ("allocation:A-2026-12-0002:P000002", email("Hal Head")) not in recorded(cfg)
    handler.refuse.clear()
    handler.messages.clear()
    code, out, err = allocate(cfg, "--notify", "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    assert data == {"cycle": "2026-12", "sent": 1, "messages": 1, "failed": []}
    [(rcpts, msg)] = handler.messages
    assert rcpts == [email("Hal Head")]
    assert attachments(msg) == ["A-2026-12-0002.xlsx"]
    assert " ".join(str(msg["Subject"]).split()) == (
        "[qaf] 1 case file audit for you (due 31/12/2026): December 2026"
    )


def test_staff_audit_mail_names_the_subject_and_skips_the_team_manager_list() -> None:
    """Issue 9 GAPS 7 with issue 5 allocation mail: a supervision audit has no case, so the
    auditor's mail names the person audited and no Team Manager gets a "case chosen" line."""
    from datetime import date

    from qaf.notify import allocation_key, allocation_messages
    from qaf.records import Allocation, StaffMember
    from qaf.sources import Roster

    roster = Roster(
        (
            StaffMember("Hana Head", "hana@example.org", "Head of Service", "", "Service 1"),
            StaffMember("Tia Manager", "tia@example.org", "Team Manager", "Team A", "Service 1"),
        )
    )
    audit = Allocation(
        "A-2026-12-0009", "2026-12", "", "Team A", "Service 1", "", "", "Hana Head",
        "hana@example.org", "Head of Service", "supervision-audit", "audit",
        date(2026, 12, 31), subject="Tia Manager",
    )  # fmt: skip
    messages, unsendable = allocation_messages([audit], set(), roster, organisation="Northvale")
    assert [m.email for m in messages] == ["hana@example.org"] and unsendable == []
    assert "* Audit ID: A-2026-12-0009   Subject: Tia Manager\n  Team: Team A\n" in messages[0].body
    assert "Case ID" not in messages[0].body
    assert allocation_key(audit) == "allocation:A-2026-12-0009:Tia Manager"


def test_an_allocation_stopped_before_it_was_recorded_leaves_a_note_and_notify_refuses(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rules S2/A1 with a crash: a `--replace` stopped after rewriting the workbooks but before
    the register recorded the new draw leaves workbooks of another draw beside the register's
    cycle. The folder says so in a plainly named note, and `--notify` sends nothing (exit 2)
    until the cycle is allocated again."""
    from qaf.register import Register as Reg
    from qaf.workbooks import INCOMPLETE

    assert allocate(cfg, "--seed", "7")[0] == 0
    folder = cfg.root / "cycles" / "2026-12"
    assert not (folder / INCOMPLETE).exists()

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C between the files and the register

    with monkeypatch.context() as m:
        m.setattr(Reg, "record_cycle", killed)
        stopped, _, _ = allocate(cfg, "--seed", "8", "--replace")
    assert stopped != 0
    note = folder / INCOMPLETE
    assert "Do not send them" in note.read_text(encoding="utf-8")

    code, _, err = allocate(cfg, "--notify")
    assert code == 2
    assert f"{note} is there" in err and "nothing was sent" in err
    assert not cfg.notify.outbox.exists() or not list(cfg.notify.outbox.glob("*.eml"))

    assert allocate(cfg, "--seed", "8", "--replace")[0] == 0  # allocated again: the note goes
    assert not note.exists()
    code, _, err = allocate(cfg, "--notify")
    assert code == 0 and err.startswith("Allocation mail: sent")
