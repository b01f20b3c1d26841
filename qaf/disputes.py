"""Grading disputes (rule G6, Haringey 2.11): open one on a stored return, move it through the
configured stages (``[[dispute.stage]]``), resolve it; and the overdue item of each open
dispute's stage on a given day, so `qaf overdue` chases it like a late follow-up.

A stage is due ``within`` (a duration, usually working days) of the day it started; the
first stage starts the day the dispute is opened, each later one the day it is advanced
to. Each step writes the dispute's stage history (register migration 4) with it, so
`qaf overdue --as-of` a past day chases the stage the dispute was at on that day. Refusals are
:class:`~qaf.problems.QafError` with exit code 2 and rule ``RULE`` (G6), their message naming
the seed paragraph (Haringey 2.11).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from qaf.calendar import WorkingCalendar, parse_duration, uk_date
from qaf.config import Config, DisputeStage
from qaf.escalate import DISPUTE, Pending, item_id, resolve_role
from qaf.problems import QafError
from qaf.register import from_iso

if TYPE_CHECKING:
    import sqlite3

    from qaf.register import Register
    from qaf.sources import Roster

RULE = "G6"  # the rule ID of a grading dispute (README "Rules"); its seed paragraph is SEED
SEED = "Haringey 2.11"


@dataclass(frozen=True)
class DisputeState:
    """An open dispute at its current stage (``stage`` counts from 1)."""

    id: int
    audit_id: str
    stage: int
    stages: int
    stage_name: str
    responsible_role: str
    stage_started: date
    due: date

    @property
    def item_id(self) -> str:
        return item_id(DISPUTE, str(self.id))

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.item_id,
            "audit_id": self.audit_id,
            "stage": self.stage,
            "stages": self.stages,
            "stage_name": self.stage_name,
            "responsible_role": self.responsible_role,
            "stage_started": self.stage_started.isoformat(),
            "due": self.due.isoformat(),
        }


@dataclass(frozen=True)
class DisputeResolved:
    """A dispute closed with its outcome."""

    id: int
    audit_id: str
    resolved_on: date
    outcome: str

    @property
    def item_id(self) -> str:
        return item_id(DISPUTE, str(self.id))

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.item_id,
            "audit_id": self.audit_id,
            "resolved_on": self.resolved_on.isoformat(),
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class OpenDispute:
    """A dispute open on a day, at the stage it was at that day, and who must act on it."""

    state: DisputeState
    case_id: str
    responsible: str  # the responsible role's holder for the case, else the role itself
    opened_by: str
    opened_on: date
    note: str
    working_days_late: int  # 0 while the stage is not past its deadline

    def as_json(self) -> dict[str, object]:
        return {
            **self.state.as_json(),
            "case_id": self.case_id,
            "responsible": self.responsible,
            "opened_by": self.opened_by,
            "opened_on": self.opened_on.isoformat(),
            "note": self.note,
            "working_days_late": self.working_days_late,
        }


@dataclass(frozen=True)
class DisputeList:
    """``qaf dispute list``: the disputes open on ``as_of``."""

    as_of: date
    disputes: tuple[OpenDispute, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "disputes": [d.as_json() for d in self.disputes],
        }


@dataclass(frozen=True)
class _Case:
    """The disputed return's case, as recipient resolution sees it."""

    case_id: str
    team: str
    service: str
    category: str
    worker: str


def _refuse(message: str) -> QafError:
    return QafError(f"{message} ({SEED})", rule=RULE, exit_code=2)


def _stages(cfg: Config) -> tuple[DisputeStage, ...]:
    if not cfg.dispute.stages:
        raise _refuse(
            "no dispute stages are configured ([[dispute.stage]] in qaf.toml), "
            "so disputes are not tracked"
        )
    return cfg.dispute.stages


def _state(
    cfg: Config, calendar: WorkingCalendar, dispute_id: int, audit_id: str, index: int, on: date
) -> DisputeState:
    stages = cfg.dispute.stages
    index = min(index, len(stages) - 1)  # the configuration may have lost stages since
    stage = stages[index]
    due = calendar.add(on, parse_duration(stage.within))
    return DisputeState(
        dispute_id, audit_id, index + 1, len(stages), stage.name, stage.responsible, on, due
    )


def _audit_id(reg: Register, text: str) -> str:
    """The audit ID as allocated: surrounding spaces and letter case typed by hand ignored."""
    text = text.strip()
    return reg.allocated_audit_id(text) or text


def _open(reg: Register, audit_id: str) -> tuple[int, int, date]:
    row = reg.open_dispute_of(audit_id)
    if row is None:
        raise _refuse(f'audit ID "{audit_id}" has no open dispute')
    started = from_iso(row["stage_started"])
    assert started is not None
    return int(row["id"]), int(row["stage"]), started


def open_dispute(
    reg: Register,
    cfg: Config,
    calendar: WorkingCalendar,
    audit_id: str,
    *,
    by: str,
    on: date,
    note: str = "",
) -> DisputeState:
    """Open a dispute of the audit's current return at the first stage, started ``on``
    (not before the return was received); ``by`` names who raised it."""
    _stages(cfg)
    audit_id = _audit_id(reg, audit_id)
    if not by.strip():
        raise _refuse("--by must name who raised the dispute")
    return_id = reg.current_return_id(audit_id)
    if return_id is None:
        if reg.allocation(audit_id) is None:
            raise _refuse(f'audit ID "{audit_id}" is not in the register: check the ID')
        raise _refuse(f'audit ID "{audit_id}" has no stored return to dispute (not returned yet)')
    row = reg.open_dispute_of(audit_id)
    if row is not None:
        raise _refuse(
            f'audit ID "{audit_id}" already has an open dispute (dispute:{row["id"]}, '
            f"opened {uk_date(row['opened_on'])})"
        )
    received = reg.return_received_on(return_id)
    if received is not None and on < received:
        raise _refuse(
            f"--on {uk_date(on)} is before the return of {audit_id} was received "
            f"({uk_date(received)})"
        )
    by = by.strip()
    dispute_id = reg.add_dispute(audit_id, return_id, by, on, note)
    return _state(cfg, calendar, dispute_id, audit_id, 0, on)


def advance_dispute(
    reg: Register, cfg: Config, calendar: WorkingCalendar, audit_id: str, *, on: date
) -> DisputeState:
    """Move the open dispute to its next stage, started ``on``; refused past the last."""
    stages = _stages(cfg)
    audit_id = _audit_id(reg, audit_id)
    dispute_id, index, started = _open(reg, audit_id)
    if index + 1 >= len(stages):
        raise _refuse(
            f"dispute:{dispute_id} is at its last stage ({len(stages)} of {len(stages)}): "
            f"resolve it with `qaf dispute resolve {audit_id} --outcome TEXT`"
        )
    if on < started:
        raise _refuse(
            f"--on {uk_date(on)} is before the current stage started ({uk_date(started)})"
        )
    reg.set_dispute_stage(dispute_id, index + 1, on)
    return _state(cfg, calendar, dispute_id, audit_id, index + 1, on)


def resolve_dispute(reg: Register, audit_id: str, *, outcome: str, on: date) -> DisputeResolved:
    """Close the open dispute with its outcome."""
    if not outcome.strip():
        raise _refuse("--outcome must say how the dispute ended")
    audit_id = _audit_id(reg, audit_id)
    dispute_id, _index, started = _open(reg, audit_id)
    if on < started:
        raise _refuse(
            f"--on {uk_date(on)} is before the current stage started ({uk_date(started)})"
        )
    reg.resolve_dispute(dispute_id, on, outcome.strip())
    return DisputeResolved(dispute_id, audit_id, on, outcome.strip())


def _open_on(
    reg: Register, cfg: Config, calendar: WorkingCalendar, roster: Roster, as_of: date
) -> list[tuple[sqlite3.Row, DisputeState, _Case, str]]:
    """Each dispute open on ``as_of`` at the stage it was at that day: its register row,
    state, case, and the responsible role's holder for the case (the role when nobody)."""
    out = []
    for r in reg.open_disputes(as_of):
        started = from_iso(r["stage_started"])
        assert started is not None
        state = _state(cfg, calendar, int(r["id"]), r["audit_id"], int(r["stage"]), started)
        where = _Case(r["case_id"], r["team"], r["service"], r["category"], r["worker"])
        role = state.responsible_role
        people = resolve_role(role, case=where, auditor=r["auditor"], roster=roster)
        out.append((r, state, where, people[0].name if people else role))
    return out


def list_disputes(
    reg: Register, cfg: Config, calendar: WorkingCalendar, roster: Roster, as_of: date
) -> DisputeList:
    """The disputes open on ``as_of``, oldest first, each at the stage it was at that day,
    with its due date and who is responsible; refused when no stages are configured."""
    _stages(cfg)
    listed = []
    for r, state, where, responsible in _open_on(reg, cfg, calendar, roster, as_of):
        opened_on = from_iso(r["opened_on"])
        assert opened_on is not None
        late = max(0, calendar.working_days_between(state.due, as_of))
        listed.append(
            OpenDispute(
                state, where.case_id, responsible, r["opened_by"], opened_on, r["note"], late
            )
        )
    return DisputeList(as_of, tuple(listed))


def dispute_pending(
    reg: Register, cfg: Config, calendar: WorkingCalendar, roster: Roster, as_of: date
) -> list[Pending]:
    """The stage every dispute open on ``as_of`` was at that day, as an item for overdue: its
    responsible role resolved from the roster relative to the case (the role itself when
    nobody holds it), its ``notify`` roles told at the ladder's first rung."""
    if not cfg.dispute.stages:
        return []
    out = []
    for r, state, where, responsible in _open_on(reg, cfg, calendar, roster, as_of):
        stage = cfg.dispute.stages[state.stage - 1]
        out.append(
            Pending(
                kind=DISPUTE,
                ref=str(state.id),
                rule=RULE,
                audit_id=state.audit_id,
                case_id=where.case_id,
                due=state.due,
                responsible=responsible,
                responsible_role=state.responsible_role,
                team=where.team,
                service=where.service,
                category=where.category,
                worker=where.worker,
                auditor=r["auditor"],
                detail=f"dispute stage {state.stage} of {state.stages}: {state.stage_name}",
                notify=stage.notify,
            )
        )
    return out
