"""Sending the messages of ``qaf overdue --notify`` (and any other qaf mail), exactly once.

One message per recipient per run, listing all of their items (case IDs, never
children's names). Messages go to ``.eml`` files in ``notify.outbox`` by default, or
through SMTP when ``[smtp]`` is configured (STARTTLS, credentials read from the
environment variables the config names, never from the file).

"Exactly once": each message carries the keys it delivers — (item id, ladder level,
recipient e-mail) — and the caller records them in the register **only after** the
message was accepted. A key already recorded is never sent again; a message that fails
is reported and, not being recorded, goes out on the next run. Because an overdue item
lists the recipients of every rung it has reached, a day when nothing ran (a bank
holiday, a server down) is caught up: the rungs reached meanwhile are all still unsent.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from types import TracebackType
from typing import Protocol

from qaf.config import Config, NotifyConfig
from qaf.escalate import OverdueItem

Key = tuple[str, int, str]  # (item id, level, recipient e-mail casefolded)

KIND_LABELS = {
    "late-return": "Audit not returned (T4)",
    "safety": "Safety concern not acknowledged (E3)",
    "qa-check": "QA check of a return (T1)",
    "amendments": "Amendments to a return (T1)",
    "discussion": "Discussion of findings with the practitioner (T2)",
    "action-notification": "Remedial actions to notify to worker and manager (T3)",
    "action": "Action not completed (T5)",
    "closing-loop": "Closing the loop form (T7)",
    "closing-loop-reaudit": "Learning-held audit (T7)",
    "moderation": "Moderation not done (M1)",
}


@dataclass(frozen=True)
class Outgoing:
    """One message to one person and the keys it delivers."""

    name: str
    email: str
    subject: str
    body: str
    keys: tuple[Key, ...]
    attachments: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Unsendable:
    """A recipient nobody could be found for (or without an e-mail address)."""

    item_id: str
    level: int
    role: str
    name: str
    reason: str


@dataclass
class Delivery:
    sent: list[tuple[Outgoing, str]] = field(default_factory=list)  # (message, message id)
    failed: list[tuple[Outgoing, str]] = field(default_factory=list)  # (message, error)
    unsendable: list[Unsendable] = field(default_factory=list)

    @property
    def sent_keys(self) -> int:
        return sum(len(m.keys) for m, _ in self.sent)


# ------------------------------------------------------------ composing


def overdue_messages(
    items: Sequence[OverdueItem],
    already_sent: set[Key],
    *,
    as_of: date,
    organisation: str,
) -> tuple[list[Outgoing], list[Unsendable]]:
    """Group the unsent (item, level, recipient) triples into one message per recipient.

    Every rung reached and never sent is included, so a skipped day is caught up. A
    recipient listed twice for one item (two rungs) gets that item once in the text.
    """
    per_person: dict[str, list[tuple[OverdueItem, int, str]]] = {}
    names: dict[str, str] = {}
    unsendable: list[Unsendable] = []
    for item in items:
        for notice in item.notify:
            r = notice.recipient
            if not r.resolved or not r.email.strip():
                reason = r.reason or f"{r.name} has no e-mail address in the roster"
                unsendable.append(Unsendable(item.id, notice.level, r.role, r.name, reason))
                continue
            email = r.email.strip().casefold()
            if (item.id, notice.level, email) in already_sent:
                continue
            per_person.setdefault(email, []).append((item, notice.level, r.role))
            names.setdefault(email, r.name)
    messages = []
    for email in sorted(per_person, key=lambda e: (names[e].casefold(), e)):
        entries = per_person[email]
        keys = tuple(dict.fromkeys((it.id, lvl, email) for it, lvl, _ in entries))
        messages.append(
            Outgoing(
                name=names[email],
                email=email,
                subject=_subject(entries, as_of),
                body=_body(names[email], entries, as_of, organisation),
                keys=keys,
            )
        )
    return messages, unsendable


def _subject(entries: Sequence[tuple[OverdueItem, int, str]], as_of: date) -> str:
    items = {it.id: it for it, _, _ in entries}
    n = len(items)
    safety_cases = _safety_cases(items.values())
    if safety_cases:  # rule E3: a safety concern is not "an overdue item"; say it first
        others = n - sum(1 for it in items.values() if it.safety)
        more = f" and {others} overdue item{'s' if others != 1 else ''}" if others else ""
        return (
            f"[qaf] Safety concern{'s' if len(safety_cases) != 1 else ''}: "
            f"case{'s' if len(safety_cases) != 1 else ''} {', '.join(safety_cases)}{more} "
            f"({as_of.strftime('%d/%m/%Y')})"
        )
    return (
        f"[qaf] {n} overdue item{'s' if n != 1 else ''} needing your attention "
        f"({as_of.isoformat()})"
    )


def _safety_cases(items: Iterable[OverdueItem]) -> list[str]:
    return list(dict.fromkeys(it.case_id for it in items if it.safety))


def _opening(items: Sequence[OverdueItem], as_of: date) -> list[str]:
    """The first lines: a safety concern (rule E3) is named before any overdue work."""
    day = as_of.strftime("%A %d %B %Y")
    cases = _safety_cases(items)
    if not cases:
        return [
            f"On {day} the following audit work is overdue and has "
            "reached the point where you are to be told."
        ]
    lines = [
        f"SAFETY CONCERN: an auditor has raised an immediate safety concern about "
        f"case{'s' if len(cases) != 1 else ''} {', '.join(cases)} (rule E3). "
        "Please act on it today and let the QA team know it is acknowledged.",
    ]
    if any(not it.safety for it in items):
        lines += ["", f"On {day} the other audit work below is overdue."]
    return lines


def _body(
    name: str,
    entries: Sequence[tuple[OverdueItem, int, str]],
    as_of: date,
    organisation: str,
) -> str:
    seen: dict[str, tuple[OverdueItem, int, str]] = {}
    for it, lvl, role in entries:
        prev = seen.get(it.id)
        if prev is None or lvl > prev[1]:
            seen[it.id] = (it, lvl, role)
    lines = [
        f"Dear {name},",
        "",
        *_opening([it for it, _, _ in seen.values()], as_of),
        "Cases are identified by case ID only; open the case record for details.",
        "",
    ]
    for it, lvl, role in seen.values():
        label = KIND_LABELS.get(it.kind, it.kind)
        lines.append(f"* {label}")
        lines.append(
            f"  Case ID: {it.case_id}" + (f"   Audit ID: {it.audit_id}" if it.audit_id else "")
        )
        lines.append(
            f"  Due: {it.due.isoformat()}   Working days late: {it.working_days_late}   "
            f"Escalation level: {lvl}"
        )
        lines.append(f"  Responsible: {it.responsible} ({it.responsible_role})")
        lines.append(f"  You are told as: {role}")
        if it.detail:
            lines.append(f"  What is needed: {it.detail}")
        lines.append(f"  Item: {it.id}")
        lines.append("")
    lines += [
        "When the work is done, tell the QA team so it can be closed "
        "(qaf done ITEM); a return closes its own item when it is received.",
        "",
        f"Quality Assurance team, {organisation}",
        "(sent by qaf)",
    ]
    return "\n".join(lines) + "\n"


def build_email(msg: Outgoing, sender: str, *, organisation: str = "") -> EmailMessage:
    """The RFC 5322 message for one Outgoing (plain text, UTF-8, attachments if any)."""
    em = EmailMessage()
    em["From"] = formataddr((f"QA team{', ' + organisation if organisation else ''}", sender))
    em["To"] = formataddr((msg.name, msg.email))
    em["Subject"] = msg.subject
    em["Date"] = format_datetime(datetime.now().astimezone())
    domain = sender.rpartition("@")[2] or None
    em["Message-ID"] = make_msgid("qaf", domain=domain)
    em["Auto-Submitted"] = "auto-generated"
    if msg.keys:  # what this message delivers, for audit: item@level, comma separated
        em["X-Qaf-Escalations"] = ", ".join(f"{k}@{lvl}" for k, lvl, _ in msg.keys)
    em.set_content(msg.body)
    for path in msg.attachments:
        data = path.read_bytes()
        maintype, subtype = _mime(path)
        em.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return em


def _mime(path: Path) -> tuple[str, str]:
    if path.suffix.lower() == ".xlsx":
        return "application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if path.suffix.lower() == ".csv":
        return "text", "csv"
    return "application", "octet-stream"


# ------------------------------------------------------------ transports


class Transport(Protocol):
    channel: str

    def __enter__(self) -> Transport: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def send(self, em: EmailMessage, to: str) -> None: ...


class Outbox:
    """Writes each message as an .eml file (opens in Outlook, Thunderbird, Apple Mail)."""

    channel = "outbox"

    def __init__(self, folder: Path, stamp: str) -> None:
        self.folder = folder
        self.stamp = stamp
        self.written: list[Path] = []

    def __enter__(self) -> Outbox:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, em: EmailMessage, to: str) -> None:
        slug = re.sub(r"[^a-z0-9]+", "-", to.casefold()).strip("-") or "recipient"
        path = self.folder / f"{self.stamp}-{slug}.eml"
        n = 2
        while path.exists():
            path = self.folder / f"{self.stamp}-{slug}-{n}.eml"
            n += 1
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(em))
        tmp.replace(path)
        self.written.append(path)


class SmtpTransport:
    """One SMTP connection per run: STARTTLS when configured, login from the environment."""

    channel = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.username = username
        self.password = password
        self.ssl_context = ssl_context
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return self

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, em: EmailMessage, to: str) -> None:
        assert self._smtp is not None, "use SmtpTransport as a context manager"
        refused = self._smtp.send_message(em, to_addrs=[to])
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)


def transport_for(cfg: NotifyConfig, stamp: str, *, outbox: Path | None = None) -> Transport:
    """SMTP when ``[smtp]`` is configured, else the outbox folder (``outbox`` overrides)."""
    if cfg.smtp is None or outbox is not None:
        return Outbox(outbox or cfg.outbox, stamp)
    s = cfg.smtp
    username = password = None
    if s.username_env:
        username = os.environ.get(s.username_env)
        if username is None:
            raise NotifyError(
                f"smtp.username_env: environment variable {s.username_env} is not set"
            )
    if s.password_env:
        password = os.environ.get(s.password_env)
        if password is None:
            raise NotifyError(
                f"smtp.password_env: environment variable {s.password_env} is not set"
            )
    return SmtpTransport(s.host, s.port, starttls=s.starttls, username=username, password=password)


class NotifyError(Exception):
    """Mail cannot be sent at all this run (configuration or connection)."""


# ------------------------------------------------------------ sending


def send_messages(
    messages: Iterable[Outgoing],
    transport: Transport,
    *,
    sender: str,
    organisation: str,
    record: Callable[[Outgoing, str, str], None],
) -> Delivery:
    """Send each message; ``record(message, channel, message_id)`` runs right after each
    accepted send (so a crash later never re-sends what went out). A failure to connect
    fails every message; a refused message fails alone. Nothing failed is recorded."""
    delivery = Delivery()
    pending = list(messages)
    if not pending:
        return delivery
    try:
        with transport:
            for msg in pending:
                em = build_email(msg, sender, organisation=organisation)
                try:
                    transport.send(em, msg.email)
                except (smtplib.SMTPException, OSError) as e:
                    delivery.failed.append((msg, _describe(e)))
                    if isinstance(e, smtplib.SMTPServerDisconnected | ConnectionError):
                        done = {id(m) for m, _ in delivery.sent} | {
                            id(m) for m, _ in delivery.failed
                        }
                        delivery.failed += [
                            (m, "not tried: the connection was lost")
                            for m in pending
                            if id(m) not in done
                        ]
                        break
                    continue
                message_id = str(em["Message-ID"])
                record(msg, transport.channel, message_id)
                delivery.sent.append((msg, message_id))
    except (smtplib.SMTPException, OSError) as e:
        done = {id(m) for m, _ in delivery.sent} | {id(m) for m, _ in delivery.failed}
        reason = f"could not send mail: {_describe(e)}"
        delivery.failed += [(m, reason) for m in pending if id(m) not in done]
    return delivery


def _describe(e: BaseException) -> str:
    if isinstance(e, smtplib.SMTPResponseException):
        text = (
            e.smtp_error.decode("utf-8", "replace")
            if isinstance(e.smtp_error, bytes)
            else str(e.smtp_error)
        )
        return f"SMTP {e.smtp_code} {text}"
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "recipient refused: " + ", ".join(
            f"{addr} ({code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg})"
            for addr, (code, msg) in e.recipients.items()
        )
    return f"{type(e).__name__}: {e}"


def notify_overdue(
    items: Sequence[OverdueItem],
    *,
    register: RegisterLike,
    cfg: Config,
    as_of: date,
    transport: Transport | None = None,
) -> Delivery:
    """``qaf overdue --notify``: compose the unsent escalations, send, record each send."""
    already = register.notifications_sent(it.id for it in items)
    org = cfg.organisation.name
    messages, unsendable = overdue_messages(items, already, as_of=as_of, organisation=org)
    if transport is None:
        transport = transport_for(cfg.notify, as_of.isoformat())
    sender = cfg.notify.smtp.sender if cfg.notify.smtp else cfg.notify.sender

    def record(msg: Outgoing, channel: str, message_id: str) -> None:
        register.record_notifications(
            (key, level, email, msg.name, channel, message_id) for key, level, email in msg.keys
        )

    delivery = send_messages(messages, transport, sender=sender, organisation=org, record=record)
    delivery.unsendable = unsendable
    return delivery


class RegisterLike(Protocol):
    def notifications_sent(self, item_keys: Iterable[str]) -> set[Key]: ...
    def record_notifications(self, rows: Iterable[tuple[str, int, str, str, str, str]]) -> None: ...
