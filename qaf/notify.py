"""Sending qaf's mail exactly once: ``qaf overdue --notify`` (escalations of late items and
the alerts raised by returns, rules E1, E2) and ``qaf allocate --notify`` (allocations).

One message per recipient per run, listing all of their items (case IDs, never
children's names). Messages go to ``.eml`` files in ``notify.outbox`` by default, or
through SMTP when ``[smtp]`` is configured (STARTTLS, credentials read from the
environment variables the config names, never from the file).

"Exactly once": each message carries the keys it delivers — (item id, ladder level,
recipient e-mail); ``alert:<id>`` and ``allocation:<audit id>:<case id>`` at level 0 —
and the caller records them in the register **only after** the message was accepted.
A key already recorded is never sent again; a message that fails is reported and, not
being recorded, goes out on the next run. Because an overdue item
lists the recipients of every rung it has reached, a day when nothing ran (a bank
holiday, a server down) is caught up: the rungs reached meanwhile are all still unsent.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from types import TracebackType
from typing import Protocol

from qaf.config import Config, NotifyConfig
from qaf.escalate import ALERT, TEAM_MANAGER, OverdueItem, RaisedAlert, recipients
from qaf.records import Allocation
from qaf.sources import Roster

Key = tuple[str, int, str]  # (item id, level, recipient e-mail casefolded)
NOBODY_CHANNEL = "nobody"  # recorded for an alert whose role nobody holds (reported once)

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
    "dispute": "Grading dispute stage past its deadline (G6, Haringey 2.11)",
}

ALERT_LABELS = {
    "E1": "Audit returned with a grade you are told of (E1)",
    "E2": "Re-audit not improved (E2)",
    "E3": "Immediate safety concern (E3)",
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
    alerts: Sequence[RaisedAlert] = (),
) -> tuple[list[Outgoing], list[Unsendable]]:
    """Group the unsent (item, level, recipient) triples into one message per recipient.

    Every rung reached and never sent is included, so a skipped day is caught up. A
    recipient listed twice for one item (two rungs) gets that item once in the text.
    ``alerts`` (rules E1, E2) go in the same message, keyed ``(alert:<id>, 0, e-mail)``.
    """
    per_person: dict[str, list[tuple[OverdueItem, int, str]]] = {}
    news_for: dict[str, list[RaisedAlert]] = {}
    names: dict[str, str] = {}
    unsendable: list[Unsendable] = []
    for alert in alerts:
        r = alert.recipient
        if not r.resolved:
            unsendable.append(Unsendable(alert.item_id, 0, r.role, r.name, r.reason))
            continue
        email = r.email.strip().casefold()
        if (alert.item_id, 0, email) in already_sent:
            continue
        news_for.setdefault(email, []).append(alert)
        names.setdefault(email, r.name)
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
    for email in sorted(names, key=lambda e: (names[e].casefold(), e)):
        entries = per_person.get(email, [])
        news = news_for.get(email, [])
        keys = tuple(
            dict.fromkeys(
                [(a.item_id, 0, email) for a in news]
                + [(it.id, lvl, email) for it, lvl, _ in entries]
            )
        )
        messages.append(
            Outgoing(
                name=names[email],
                email=email,
                subject=_subject(entries, as_of, news),
                body=_body(names[email], entries, as_of, organisation, news),
                keys=keys,
            )
        )
    return messages, unsendable


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _subject(
    entries: Sequence[tuple[OverdueItem, int, str]],
    as_of: date,
    news: Sequence[RaisedAlert] = (),
) -> str:
    items = {it.id: it for it, _, _ in entries}
    n = len(items)
    safety_cases = _safety_cases(items.values())
    if safety_cases:  # rule E3: a safety concern is not "an overdue item"; say it first
        others = n - sum(1 for it in items.values() if it.safety)
        plural = "s" if len(safety_cases) != 1 else ""
        parts = [f"Safety concern{plural}: case{plural} {', '.join(safety_cases)}"]
        if news:
            parts.append(_count(len(news), "audit alert"))
        if others:
            parts.append(_count(others, "overdue item"))
        what = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        return f"[qaf] {what} ({as_of.strftime('%d/%m/%Y')})"
    parts = []
    if news:
        parts.append(_count(len(news), "audit alert"))
    if items or not news:
        parts.append(_count(n, "overdue item"))
    what = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return f"[qaf] {what} needing your attention ({as_of:%d/%m/%Y})"


def _safety_cases(items: Iterable[OverdueItem]) -> list[str]:
    return list(dict.fromkeys(it.case_id for it in items if it.safety))


def _opening(items: Sequence[OverdueItem], as_of: date) -> list[str]:
    """The safety line (rule E3: named before anything else) when there is a safety
    concern, and last the line that introduces the list of items."""
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
        lines.append(f"On {day} the safety concern and the overdue audit work below need you.")
    else:
        lines.append("The safety concern is below.")
    return lines


def _body(
    name: str,
    entries: Sequence[tuple[OverdueItem, int, str]],
    as_of: date,
    organisation: str,
    news: Sequence[RaisedAlert] = (),
) -> str:
    seen: dict[str, tuple[OverdueItem, int, str]] = {}
    for it, lvl, role in entries:
        prev = seen.get(it.id)
        if prev is None or lvl > prev[1]:
            seen[it.id] = (it, lvl, role)
    lines = [f"Dear {name},", ""]
    safety = _opening([it for it, _, _ in seen.values()], as_of)
    if _safety_cases(it for it, _, _ in seen.values()):
        lines += [safety[0], ""]  # rule E3: before anything else
    if news:
        lines += [
            "The following audits have been returned with findings you are to be told of.",
            "Cases are identified by case ID only; open the case record for details.",
            "",
        ]
        lines += _alert_lines(news)
    if seen:
        lines.append(safety[-1])
        if not news:
            lines.append("Cases are identified by case ID only; open the case record for details.")
        lines.append("")
    for it, lvl, role in seen.values():
        label = KIND_LABELS.get(it.kind, it.kind)
        lines.append(f"* {label}")
        lines.append(
            f"  Case ID: {it.case_id}" + (f"   Audit ID: {it.audit_id}" if it.audit_id else "")
        )
        lines.append(
            f"  Due: {it.due:%d/%m/%Y}   Working days late: {it.working_days_late}   "
            f"Escalation level: {lvl}"
        )
        lines.append(f"  Responsible: {it.responsible} ({it.responsible_role})")
        lines.append(f"  You are told as: {role}")
        if it.detail:
            lines.append(f"  What is needed: {it.detail}")
        lines.append(f"  Item: {it.id}")
        lines.append("")
    if seen:
        lines += [
            "When the work is done, tell the QA team so it can be closed "
            "(qaf done ITEM); a return closes its own item when it is received.",
            "",
        ]
    else:
        lines += [
            "These alerts are for your information; the discussion of findings and any "
            "actions are followed up separately.",
            "",
        ]
    lines += [f"Quality Assurance team, {organisation}", "(sent by qaf)"]
    return "\n".join(lines) + "\n"


def _alert_lines(news: Sequence[RaisedAlert]) -> list[str]:
    lines = []
    for a in news:
        lines.append(f"* {ALERT_LABELS.get(a.rule, a.rule)}")
        lines.append(
            f"  Case ID: {a.case_id}" + (f"   Audit ID: {a.audit_id}" if a.audit_id else "")
        )
        grade = f"   Overall grade: {a.overall}" if a.overall else ""
        lines.append(f"  Received: {a.received_on:%d/%m/%Y}{grade}")
        lines.append(f"  Why you are told: {a.reason}")
        lines.append(f"  You are told as: {a.recipient_role}")
        lines.append(f"  Item: {a.item_id}")
        lines.append("")
    return lines


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
    alerts: Sequence[RaisedAlert] = (),
) -> Delivery:
    """``qaf overdue --notify``: compose the unsent escalations and alerts (rules E1, E2,
    from ``escalate.alerts_to_send``), send, record each send."""
    already = register.notifications_sent([it.id for it in items] + [a.item_id for a in alerts])
    org = cfg.organisation.name
    messages, unsendable = overdue_messages(
        items, already, as_of=as_of, organisation=org, alerts=alerts
    )
    if transport is None:
        transport = transport_for(cfg.notify, as_of.isoformat())
    sender = cfg.notify.smtp.sender if cfg.notify.smtp else cfg.notify.sender

    def record(msg: Outgoing, channel: str, message_id: str) -> None:
        register.record_notifications(
            (key, level, email, msg.name, channel, message_id) for key, level, email in msg.keys
        )

    delivery = send_messages(messages, transport, sender=sender, organisation=org, record=record)
    delivery.unsendable = unsendable
    # An alert is news of one day: one with nobody to tell is reported in this run (by the
    # caller) and recorded as such, so it is not reported again every morning.
    register.record_notifications(
        (u.item_id, u.level, "", f"nobody: {u.role}", NOBODY_CHANNEL, "")
        for u in unsendable
        if u.item_id.startswith(ALERT + ":")
    )
    return delivery


# ------------------------------------------------------------ allocation mail (issue 5)

ALLOCATION = "allocation"


def allocation_key(a: Allocation) -> str:
    """The sent-once key of one allocation: a replaced cycle that gives the same audit ID
    to another case (or another auditor, by the recipient) is new news."""
    return f"{ALLOCATION}:{a.audit_id}:{a.case_id or a.subject}"


def _month(cycle: str) -> str:
    return datetime.strptime(cycle, "%Y-%m").strftime("%B %Y")


def allocation_messages(
    allocations: Sequence[Allocation],
    already_sent: set[Key],
    roster: Roster,
    *,
    organisation: str,
    workbook_for: Callable[[Allocation], Path | None] = lambda a: None,
    tool_names: Mapping[str, str] | None = None,
) -> tuple[list[Outgoing], list[Unsendable]]:
    """``qaf allocate --notify`` (issue 5, Haringey App A): each auditor their allocations
    with the pre-filled workbooks attached; each Team Manager the cases of their team
    chosen for audit. One message per recipient; each (allocation, recipient) once."""
    mine: dict[str, list[Allocation]] = {}
    team: dict[str, list[Allocation]] = {}
    names: dict[str, str] = {}
    unsendable: list[Unsendable] = []

    def add(into: dict[str, list[Allocation]], a: Allocation, name: str, email: str) -> None:
        key = email.strip().casefold()
        if (allocation_key(a), 0, key) in already_sent:
            return
        into.setdefault(key, []).append(a)
        names.setdefault(key, name)

    for a in allocations:
        if a.auditor_email.strip():
            add(mine, a, a.auditor, a.auditor_email)
        else:
            reason = f"{a.auditor} has no e-mail address in the roster"
            unsendable.append(Unsendable(allocation_key(a), 0, "Auditor", a.auditor, reason))
        if a.type == "moderation" or not a.case_id:
            continue  # a second look at a return, or a staff audit: not a case chosen in a team
        for r in recipients([TEAM_MANAGER], case=a, auditor=a.auditor, roster=roster):
            if r.resolved and r.email.strip():
                add(team, a, r.name, r.email)
            else:
                reason = r.reason or f"{r.name} has no e-mail address in the roster"
                unsendable.append(Unsendable(allocation_key(a), 0, r.role, r.name, reason))
    messages = []
    for email in sorted(names, key=lambda e: (names[e].casefold(), e)):
        own, others = mine.get(email, []), team.get(email, [])
        keys = tuple(dict.fromkeys((allocation_key(a), 0, email) for a in own + others))
        attachments = tuple(p for a in own if (p := workbook_for(a)) is not None)
        messages.append(
            Outgoing(
                name=names[email],
                email=email,
                subject=_allocation_subject(own, others),
                body=_allocation_body(names[email], own, others, organisation, tool_names or {}),
                keys=keys,
                attachments=attachments,
            )
        )
    return messages, unsendable


def _allocation_subject(own: Sequence[Allocation], team: Sequence[Allocation]) -> str:
    cycle = (own or team)[0].cycle
    parts = []
    if own:
        due = min(a.due for a in own)
        parts.append(f"{_count(len(own), 'case file audit')} for you (due {due:%d/%m/%Y})")
    if team:
        parts.append(f"{_count(len(team), 'case')} in your team chosen for audit")
    return f"[qaf] {' and '.join(parts)}: {_month(cycle)}"


def _allocation_body(
    name: str,
    own: Sequence[Allocation],
    team: Sequence[Allocation],
    organisation: str,
    tool_names: Mapping[str, str],
) -> str:
    cycle = (own or team)[0].cycle
    lines = [f"Dear {name},", ""]
    if own:
        lines += [
            f"You have been allocated the following case file audits for {_month(cycle)}.",
            "Cases are identified by case ID only; open the case record for details.",
            "The pre-filled audit workbooks are attached: complete each one and return it "
            "to the QA team by its due date.",
            "",
        ]
        for a in own:
            kind = {"reaudit": "re-audit", "moderation": "moderation"}.get(a.type, "audit")
            if a.type == "reaudit" and a.reaudit_of:
                kind += f" of {a.reaudit_of} (round {max(1, a.reaudit_round)})"
            if a.type == "moderation" and a.moderates:
                kind += f" of {a.moderates}"
            lines += [
                f"* Audit ID: {a.audit_id}   "
                + (
                    f"Case ID: {a.case_id}"
                    if a.case_id
                    else "Case ID: the service picks it; write it in the audit workbook"
                    if a.picked_by == "service"
                    else f"Subject: {a.subject}"
                ),
                f"  Team: {a.team}   Category: {a.category}   Social worker: {a.worker}"
                if a.case_id
                else f"  Team: {a.team}",
                f"  Type: {kind}   Tool: {tool_names.get(a.tool, a.tool)}",
                f"  Due: {a.due.strftime('%A %d %B %Y')}",
                "",
            ]
    if team:
        lines += [
            f"These cases in your team have been chosen for audit in {_month(cycle)}. "
            "Please make sure the records are up to date; the auditor may contact you and "
            "the social worker.",
            "",
        ]
        for a in team:
            lines.append(
                f"* Case ID: {a.case_id}   Social worker: {a.worker}   Auditor: {a.auditor} "
                f"({a.auditor_role})   Due: {a.due:%d/%m/%Y}"
            )
        lines.append("")
    lines += [f"Quality Assurance team, {organisation}", "(sent by qaf)"]
    return "\n".join(lines) + "\n"


def notify_allocations(
    allocations: Sequence[Allocation],
    *,
    register: RegisterLike,
    cfg: Config,
    roster: Roster,
    as_of: date,
    audits_dir: Path,
    transport: Transport | None = None,
) -> Delivery:
    """``qaf allocate --notify``: compose the unsent allocation mail, send, record each send.

    Each auditor's workbooks come from ``audits_dir`` (``<audit_id>.xlsx``). Refused
    (``NotifyError``) while the cycle's folder holds the note of an allocation that
    stopped before it was recorded (qaf.workbooks.mark_incomplete): its workbooks may
    be another draw's."""
    from qaf.workbooks import incomplete_note

    note = incomplete_note(audits_dir.parent)
    if note is not None:
        cycle = allocations[0].cycle if allocations else "this cycle"
        raise NotifyError(
            f"{note} is there: the last `qaf allocate` of {cycle} stopped before the cycle was "
            "recorded, so its workbooks may not match the register; nothing was sent. Run "
            f"`qaf allocate --month {cycle} --replace` (without --replace if the cycle is not "
            "recorded), then --notify"
        )
    already = register.notifications_sent(allocation_key(a) for a in allocations)
    org = cfg.organisation.name
    messages, unsendable = allocation_messages(
        allocations,
        already,
        roster,
        organisation=org,
        workbook_for=lambda a: _existing(audits_dir / f"{a.audit_id}.xlsx"),
        tool_names={k: t.name for k, t in cfg.tools.items()},
    )
    if transport is None:
        transport = transport_for(cfg.notify, f"{as_of.isoformat()}-allocation")
    sender = cfg.notify.smtp.sender if cfg.notify.smtp else cfg.notify.sender

    def record(msg: Outgoing, channel: str, message_id: str) -> None:
        register.record_notifications(
            (key, level, email, msg.name, channel, message_id) for key, level, email in msg.keys
        )

    delivery = send_messages(messages, transport, sender=sender, organisation=org, record=record)
    delivery.unsendable = unsendable
    return delivery


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


class RegisterLike(Protocol):
    def notifications_sent(self, item_keys: Iterable[str]) -> set[Key]: ...
    def record_notifications(self, rows: Iterable[tuple[str, int, str, str, str, str]]) -> None: ...
