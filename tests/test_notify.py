"""`qaf overdue --notify` through a real SMTP server on loopback (aiosmtpd): one message per
recipient, recorded only when accepted, a refused message and a server down retried next run,
STARTTLS with credentials from the environment."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import Config
from qaf.notify import Outbox, Outgoing, send_messages
from qaf.register import Register
from tests.test_overdue_support import allocation, email, make_workdir

runner = CliRunner()
DUE = date(2026, 12, 31)
LEVEL1 = date(2027, 1, 5)  # late return reaches T4 level 1 (Service Manager, Head of Service)


class Collect:
    """An SMTP handler that keeps what it receives and can refuse chosen recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Collect]]:
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def workdir(tmp_path: Path, port: int, extra: str = "") -> Config:
    return make_workdir(
        tmp_path,
        f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\nsender = "qa@example.org"\n{extra}',
    )


def late_allocations(cfg: Config, n: int = 2) -> None:
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([allocation(f"A{i}", DUE) for i in range(1, n + 1)])


def notify(cfg: Config, day: date) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(
        app,
        [
            "overdue",
            "--notify",
            "--as-of",
            day.isoformat(),
            "--format",
            "json",
            "--config",
            str(cfg.path),
        ],
    )
    return result.exit_code, json.loads(result.stdout), result.stderr


def recorded(cfg: Config) -> set[tuple[str, int, str]]:
    with Register.open(cfg.register_path) as reg:
        return {(r["item_key"], r["level"], r["recipient_email"]) for r in reg.notifications()}


def test_smtp_one_message_per_recipient_listing_all_items(
    tmp_path: Path, smtp: tuple[Controller, Collect]
) -> None:
    controller, handler = smtp
    cfg = workdir(tmp_path, controller.port)
    late_allocations(cfg, 2)
    code, data, err = notify(cfg, LEVEL1)
    assert code == 0, err
    assert data["sent"] == 4 and data["messages"] == 2  # 2 items x (Sue, Hana)
    assert sorted(r for rcpts, _ in handler.messages for r in rcpts) == [
        email("Hana Head"),
        email("Sue Senior"),
    ]
    for _, msg in handler.messages:
        text = msg.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
        assert "Case ID: P000001" in text and "late-return:A1" in text and "late-return:A2" in text
        assert msg["From"].endswith("<qa@example.org>")
        assert "2 overdue items" in msg["Subject"]
        assert f"  Due: {DUE:%d/%m/%Y}   Working days late: " in text  # trial2 T2-6
        assert msg["Subject"].endswith(f"({LEVEL1:%d/%m/%Y})")
    assert not list(cfg.notify.outbox.glob("*.eml"))  # SMTP configured: no files
    # never twice
    code, data, _ = notify(cfg, LEVEL1)
    assert data["sent"] == 0 and len(handler.messages) == 2


def test_refused_message_is_reported_not_recorded_and_retried(
    tmp_path: Path, smtp: tuple[Controller, Collect]
) -> None:
    controller, handler = smtp
    cfg = workdir(tmp_path, controller.port)
    late_allocations(cfg, 1)
    handler.refuse.add(email("Hana Head"))
    code, data, err = notify(cfg, LEVEL1)
    assert code == 1
    assert "not sent" in err and "hana.head@example.org" in err and "550" in err
    assert data["failed"][0]["email"] == email("Hana Head")
    assert recorded(cfg) == {("late-return:A1", 1, email("Sue Senior"))}
    handler.refuse.clear()
    code, data, err = notify(cfg, date(2027, 1, 6))  # next run: the failed one goes out, only it
    assert code == 0, err
    assert data["sent"] == 1
    assert [r for r, _ in handler.messages] == [[email("Sue Senior")], [email("Hana Head")]]
    assert recorded(cfg) == {
        ("late-return:A1", 1, email("Sue Senior")),
        ("late-return:A1", 1, email("Hana Head")),
    }


def test_server_down_then_back(tmp_path: Path) -> None:
    handler = Collect()
    port = free_port()
    cfg = workdir(tmp_path, port)
    late_allocations(cfg, 1)
    code, data, err = notify(cfg, LEVEL1)  # nothing listening
    assert code == 1 and "could not send mail" in err
    assert data["sent"] == 0 and len(data["failed"]) == 2
    assert recorded(cfg) == set()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        code, data, err = notify(cfg, date(2027, 1, 6))
    finally:
        controller.stop()
    assert code == 0, err
    assert data["sent"] == 2 and len(handler.messages) == 2


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_starttls_and_credentials_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    handler = Collect()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        cfg = make_workdir(
            tmp_path,
            f'\n[smtp]\nhost = "127.0.0.1"\nport = {controller.port}\nstarttls = true\n'
            'username_env = "QAF_TEST_SMTP_USER"\npassword_env = "QAF_TEST_SMTP_PASSWORD"\n',
        )
        late_allocations(cfg, 1)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate
        monkeypatch.delenv("QAF_TEST_SMTP_PASSWORD", raising=False)
        monkeypatch.setenv("QAF_TEST_SMTP_USER", "qa-bot")
        result = runner.invoke(
            app, ["overdue", "--notify", "--as-of", "2027-01-05", "--config", str(cfg.path)]
        )
        assert result.exit_code == 2 and "QAF_TEST_SMTP_PASSWORD" in result.stderr
        monkeypatch.setenv("QAF_TEST_SMTP_PASSWORD", "s3cret")
        code, data, err = notify(cfg, LEVEL1)
    finally:
        controller.stop()
    assert code == 0, err
    assert data["sent"] == 2 and len(handler.messages) == 2
    assert logins == [(b"qa-bot", b"s3cret")]


def test_outbox_is_the_default(tmp_path: Path) -> None:
    cfg = make_workdir(tmp_path)
    late_allocations(cfg, 1)
    code, data, _ = notify(cfg, LEVEL1)
    assert code == 0 and data["sent"] == 2
    files = sorted(p.name for p in cfg.notify.outbox.glob("*.eml"))
    assert files == [
        "2027-01-05-hana-head-example-org.eml",
        "2027-01-05-sue-senior-example-org.eml",
    ]


def test_send_messages_records_only_accepted(tmp_path: Path) -> None:
    """The record callback runs right after each accepted send, never for a failed one."""

    class Flaky(Outbox):
        def send(self, em: Any, to: str) -> None:
            if to.startswith("bad"):
                raise OSError("disk full")
            super().send(em, to)

    msgs = [
        Outgoing("Good One", "good@example.org", "s", "b", (("x:1", 1, "good@example.org"),)),
        Outgoing("Bad One", "bad@example.org", "s", "b", (("x:1", 1, "bad@example.org"),)),
    ]
    seen: list[str] = []
    delivery = send_messages(
        msgs,
        Flaky(tmp_path, "2027-01-05"),
        sender="qa@example.org",
        organisation="Org",
        record=lambda m, ch, mid: seen.append(m.email),
    )
    assert seen == ["good@example.org"]
    assert [m.email for m, _ in delivery.failed] == ["bad@example.org"]
    assert "disk full" in delivery.failed[0][1]
