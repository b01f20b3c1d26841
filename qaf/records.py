"""Plain record types shared by the register and the computing modules.

These are the nouns of the glossary (DESIGN §2), immutable: a case (a named tuple),
a member of staff, an allocation, a follow-up deadline. Readers produce them,
``register`` stores and loads them, ``allocate`` / ``escalate`` / ``report``
compute with them. No behaviour beyond small, obvious helpers lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

AllocationType = Literal["audit", "reaudit", "moderation"]


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


class Case(NamedTuple):
    """An open (or closed) case from the case list. ``name`` never leaves the QA team.

    A named tuple rather than a frozen dataclass like the other nouns: a whole authority's
    case list makes 50,000 of them, and a tuple is made in a quarter of the time, in a
    third of the memory, with fields read as fast (issue 8). Immutable all the same.
    """

    case_id: str
    team: str
    worker: str
    service: str
    category: str
    status: str = "Open"
    name: str | None = None
    extra: Mapping[str, Any] = _NO_EXTRA  # other mapped columns

    def value(self, column: str) -> Any:
        """A case column by qaf's name (``category``, ``legal_status`` ...)."""
        if column in ("case_id", "team", "worker", "service", "category", "status", "name"):
            return getattr(self, column)
        return self.extra.get(column)


# Case(...) from its eight values in one tuple, made in C: the case list reader's
# 50,000 rows (``Case(*values)`` goes through a Python-level ``__new__``).
new_case: Callable[[tuple[str, str, str, str, str, str, str | None, Mapping[str, Any]]], Case]
new_case = partial(tuple.__new__, Case)


@dataclass(frozen=True)
class StaffMember:
    name: str
    email: str
    role: str
    team: str = ""
    service: str = ""
    manager: str | None = None
    available: bool = True
    absent_from: date | None = None
    absent_to: date | None = None

    def available_on(self, day: date) -> bool:
        """Rule A3: not flagged unavailable and not inside an absence period."""
        if not self.available:
            return False
        if self.absent_from and self.absent_to:
            return not self.absent_from <= day <= self.absent_to
        if self.absent_from:
            return day < self.absent_from
        return True


@dataclass(frozen=True)
class Allocation:
    """(cycle, case, auditor, tool, due date): one audit to be done (DESIGN §2)."""

    audit_id: str
    cycle: str
    case_id: str
    team: str
    service: str
    category: str
    worker: str
    auditor: str
    auditor_email: str
    auditor_role: str
    tool: str
    type: AllocationType
    due: date
    reaudit_of: str | None = None  # audit ID of the return this re-audits (rule A4)
    reaudit_round: int = 0  # 1 first re-audit, 2 second ... (rule E2)
    moderates: str | None = None  # audit ID of the return this moderates (rule M1)
    # a staff audit (quota subject = "staff": supervision records, practice observation):
    # the audited person; ``case_id`` is then "" and team / service / worker are theirs
    subject: str = ""

    @property
    def picked_by(self) -> str:
        """ "service" when the service picks the case (``allocated_by = "service"``, GAPS 13):
        an audit allocated with no case and no audited person; else "qaf"."""
        if self.type == "audit" and not self.case_id and not self.subject:
            return "service"
        return "qaf"

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape of ``qaf allocate --format json``."""
        return {
            "audit_id": self.audit_id,
            "case_id": self.case_id,
            "team": self.team,
            "service": self.service,
            "category": self.category,
            "worker": self.worker,
            "auditor": self.auditor,
            "auditor_email": self.auditor_email,
            "auditor_role": self.auditor_role,
            "tool": self.tool,
            "type": self.type,
            "due": self.due.isoformat(),
            "reaudit_of": self.reaudit_of,
            "reaudit_round": self.reaudit_round,
            "subject": self.subject,
            "picked_by": self.picked_by,
        }


FollowUpKind = Literal[
    "qa-check",  # T1
    "amendments",  # T1
    "discussion",  # T2
    "action-notification",  # T3
    "action",  # T5: an action from a return, due by its date
    "closing-loop",  # T7
    "closing-loop-reaudit",  # T7
    "moderation",  # M1
    "safety",  # E3
]


@dataclass(frozen=True)
class FollowUp:
    """A deadline created by a return, kept until done (rules T1-T3, T5, T7, E3, M1)."""

    kind: str
    rule: str
    audit_id: str | None
    case_id: str
    responsible: str  # a name from the roster, or a role when nobody resolves
    responsible_role: str
    due: date
    return_id: int | None = None
    detail: str = ""
    id: int | None = None
    done_on: date | None = None


@dataclass(frozen=True)
class ActionItem:
    """One row of a return's actions table: what, who, by when."""

    action: str
    owner: str
    due: date | None


Movement = Literal["improved", "same", "downgraded"]


@dataclass(frozen=True)
class ReturnFacts:
    """What escalation needs to know about an accepted return (rules E1-E3, T1-T3, T5, T7)."""

    return_id: int | None
    audit_id: str | None
    case_id: str
    team: str
    service: str
    category: str
    worker: str
    auditor: str
    tool: str
    type: AllocationType
    overall: str | None
    reaudit_round: int
    movement: Movement | None
    safety_concern: bool
    received_on: date
    actions: tuple[ActionItem, ...] = ()


@dataclass(frozen=True)
class Alert:
    """Somebody who must be told about a return, and why (rules E1-E3)."""

    rule: str
    reason: str
    recipient_role: str
    recipient_name: str
    recipient_email: str
