"""What an ingest run must tell the QA officer at once, above the table of files.

* **Safety concerns** (rule E3): the auditor's answer to "Is the child safe?" is read
  from every return, *including one rejected for form errors*: a "No" (or a concern
  described) cannot wait for the auditor to fix a typo and re-send. The concern of a
  return that is not stored is recorded in the register as a "safety" follow-up with no
  return (so ``qaf overdue`` lists it first and chases it), keyed by audit ID so that the
  accepted re-submission adopts it rather than raising it twice.
* **Alerts** (rules E1, E2, and follow-ups nobody holds): one short line per reason,
  naming who is to be told.
* **Skipped files**: what a folder held that is neither a workbook nor a CSV.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaf.grades import YES_NO, GradeError
from qaf.records import Alert, ReturnFacts

if TYPE_CHECKING:
    from qaf.config import Config
    from qaf.escalate import Recipient
    from qaf.ingest import RawReturn
    from qaf.records import Allocation
    from qaf.register import Register
    from qaf.sources import Roster
    from qaf.tools import Tool

# Files a folder of returns always collects, ignored without a word.
SILENTLY_IGNORED = ("thumbs.db", "desktop.ini")
NOTE_LENGTH = 80
SAFETY_REASON = "immediate safety concern"  # how escalate words an E3 alert's reason


# ------------------------------------------------------------------ safety (E3)


@dataclass(frozen=True)
class SafetyNotice:
    """A safety concern found in one return, stored with it or not."""

    path: str
    audit_id: str | None
    case_id: str
    question: str
    answer: str  # as the auditor typed it; "" when the question was left blank
    note: str
    stored: bool  # raised with an accepted return; False: the return was not stored
    notify: tuple[Recipient, ...] = ()
    raised_before: date | None = None  # already in the register (an earlier submission)

    def message(self) -> str:
        """The line printed at the top of the ingest output."""
        who = self.audit_id or Path(self.path).name
        case = f" (case {self.case_id})" if self.case_id else ""
        if self.answer:
            what = f"the auditor answered {self.answer} to '{self.question}'"
        else:
            what = f"the auditor described a safety concern ('{self.question}' not answered)"
        if not self.stored:
            what += " in a return rejected for form errors"
        if self.note:
            note = self.note if len(self.note) <= NOTE_LENGTH else self.note[:NOTE_LENGTH] + "…"
            what += f': "{note}"'
        text = f"SAFETY: {who}{case}: {what} — {self._who()} to be told now"
        if self.raised_before is not None:
            text += f" (raised first on {self.raised_before:%d/%m/%Y})"
        return text

    def _who(self) -> str:
        people = [f"{r.name} ({r.role})" for r in self.notify if r.resolved]
        nobody = [f"nobody as {r.role}: {r.reason}" for r in self.notify if not r.resolved]
        if not people and not nobody:
            return "the Team Manager and Head of Service"
        return ", ".join(people + nobody)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "audit_id": self.audit_id,
            "case_id": self.case_id,
            "rule": "E3",
            "stored": self.stored,
            "answer": self.answer,
            "note": self.note,
            "notify": [r.as_json() for r in self.notify],
            "raised_before": self.raised_before.isoformat() if self.raised_before else None,
            "message": self.message(),
        }


def safety_answer(raw: RawReturn, tool: Tool) -> tuple[str, str] | None:
    """(answer as typed, concern described) when the return raises a safety concern, else None.

    The same reading as ``ingest.build_return``, but erring on the side of the child: an
    answer that is neither Yes nor No still counts when a concern is described.
    """
    if not tool.safety_question:
        return None
    note = raw.safety_note.text if raw.safety_note else ""
    cell = raw.safety
    if cell is None or cell.blank:
        return ("", note) if note else None
    try:
        answer = YES_NO.parse(cell.value)
    except GradeError:
        return (cell.text, note) if note else None
    return (cell.text, note) if answer == "No" else None


def _facts(raw: RawReturn, alloc: Allocation | None, tool: Tool, received: date) -> ReturnFacts:
    """What escalation needs, for a return that was not stored (no return ID, no grades)."""
    return ReturnFacts(
        return_id=None,
        audit_id=alloc.audit_id if alloc else None,
        case_id=alloc.case_id if alloc and alloc.case_id else raw.case_id,  # GAPS 13
        team=alloc.team if alloc else raw.field_text("Team"),
        service=alloc.service if alloc else raw.field_text("Service Area"),
        category=alloc.category if alloc else raw.field_text("Category"),
        worker=alloc.worker if alloc else raw.field_text("Social Worker"),
        auditor=alloc.auditor if alloc else raw.auditor,
        tool=tool.id,
        type=alloc.type if alloc else "audit",
        overall=None,
        reaudit_round=0,
        movement=None,
        safety_concern=True,
        received_on=received,
    )


def raise_unstored_safety(
    raw: RawReturn,
    tool: Tool,
    alloc: Allocation | None,
    *,
    register: Register,
    roster: Roster,
    cfg: Config,
    as_of: date,
    dry_run: bool,
) -> SafetyNotice | None:
    """Rule E3 for a return that is not stored: the notice, and (unless a dry run, or the
    concern of this audit is already in the register) its "safety" follow-up, stored."""
    found = safety_answer(raw, tool)
    if found is None:
        return None
    from qaf.escalate import recipients, safety_consequences

    answer, note = found
    facts = _facts(raw, alloc, tool, as_of)
    before = register.safety_followup_due(facts.audit_id, facts.case_id)
    if before is None and not dry_run:
        with register.transaction() as conn:
            register.add_followups(conn, safety_consequences(facts, roster, cfg).followups)
    people = recipients(
        cfg.escalation.safety_notify, case=facts, auditor=facts.auditor, roster=roster
    )
    return SafetyNotice(
        raw.file,
        facts.audit_id,
        facts.case_id,
        tool.safety_question or "",
        answer,
        note,
        stored=False,
        notify=tuple(people),
        raised_before=before,
    )


def stored_safety_notice(
    raw: RawReturn, tool: Tool, audit_id: str | None, case_id: str, alerts: Sequence[Alert]
) -> SafetyNotice | None:
    """The notice of an accepted return's safety concern, naming the E3 alerts it raised."""
    found = safety_answer(raw, tool)
    if found is None:
        return None
    from qaf.escalate import Recipient

    notify = tuple(
        Recipient(a.recipient_role, a.recipient_name, a.recipient_email, _nobody_reason(a))
        for a in alerts
        if a.rule == "E3" and a.reason.startswith(SAFETY_REASON)
    )
    answer, note = found
    return SafetyNotice(
        raw.file, audit_id, case_id, tool.safety_question or "", answer, note, True, notify
    )


def _nobody_reason(alert: Alert) -> str:
    _, _, why = alert.reason.partition("; not sent: ")
    return why


# ------------------------------------------------------------------ alerts (E1, E2)


def alert_lines(alerts: Iterable[Alert]) -> tuple[str, ...]:
    """One line per reason (E3 has its own SAFETY line): who is to be told, and nobody."""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for a in alerts:
        if a.rule == "E3":
            continue
        reason, _, why = a.reason.partition("; not sent: ")
        who = f"{a.recipient_name} ({a.recipient_role})" if a.recipient_name else ""
        if not who and why:
            who = f"nobody as {a.recipient_role}: {why}"
        by_reason.setdefault((a.rule, reason), [])
        if who:
            by_reason[(a.rule, reason)].append(who)
    return tuple(
        f"{rule}: {reason}" + (f" — to be told: {', '.join(people)}" if people else "")
        for (rule, reason), people in by_reason.items()
    )


# ------------------------------------------------------------------ skipped files


def skipped_files(paths: Iterable[Path], suffixes: Sequence[str]) -> list[tuple[str, str]]:
    """(path, reason) for each file in the given folders that ingest does not read.

    Excel's lock files (``~$…``), hidden files, Thumbs.db and desktop.ini are left out
    silently: every shared folder collects them.
    """
    out: list[tuple[str, str]] = []
    kinds = ", ".join(suffixes)
    for folder in paths:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        others = (f for f in folder.rglob("*") if f.suffix.lower() not in suffixes)
        for f in sorted(f for f in others if f.is_file()):  # (no stat for the returns)
            if f.name.startswith(("~$", ".")) or f.name.lower() in SILENTLY_IGNORED:
                continue
            out.append((str(f), f"not a workbook or CSV ({kinds})"))
    return out
