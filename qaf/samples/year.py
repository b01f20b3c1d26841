"""A simulated year of audit cycles for one framework preset, day by day (issue 9 item 3).

``simulate_year`` writes a working folder from a preset (``qaf init --framework NAME``), the
sample authority's case list and roster, and then lives through ``months`` cycles one
working day at a time, doing what the QA officer's month holds (DESIGN §1):

* on each cycle's first working day, ``qaf allocate``, after that morning's returns are
  ingested (a practice-week month, rule C1, is skipped as the command refuses it);
* the auditors' returns (``qaf.samples.simulate``: late and never-returned ones included)
  are each ``qaf ingest``-ed on the working day after their audit date;
* the QA team moderating the returns picked for moderation (rule M1) 3-8 working days
  into the cycle, and the follow-ups done by the people responsible, most on their due day
  and some a few working days late (``qaf moderate``, ``qaf done``);
* every working day, ``qaf overdue --notify``: so each late return climbs its ladder on the
  day its rung is reached, and what was sent on which day is kept in the result.

After the last cycle the days run on until the last cycle's missing returns have reached
the top of the late-return ladder. Everything is reproducible from the seed. The
``YearRun`` it returns says what happened when, for the tests to check against the register.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from qaf.calendar import WorkingCalendar, parse_duration, shift_cycle
from qaf.config import Config, read_config
from qaf.problems import QafError

if TYPE_CHECKING:
    from qaf.register import Register
    from qaf.sources import Roster

Say = Callable[[str], None]


@dataclass
class YearRun:
    """What the simulated year did, day by day."""

    cfg: Config
    cycles: list[str]  # cycles allocated (a practice-week month is not)
    skipped: list[str]  # practice-week months (rule C1)
    allocated_on: dict[str, date]  # cycle -> the day ``qaf allocate`` ran
    received_on: dict[str, date] = field(default_factory=dict)  # audit ID -> ingested on
    late: set[str] = field(default_factory=set)  # audit IDs the simulator returned late
    never: set[str] = field(default_factory=set)  # audit IDs never returned
    rejected: list[str] = field(default_factory=list)  # files ingest refused, with why
    # first day each overdue item (its ID) reached each level of its ladder (compute_overdue)
    reached: dict[str, dict[int, date]] = field(default_factory=dict)
    # first day a message for (item ID, level) was sent (``qaf overdue --notify``)
    sent: dict[tuple[str, int], date] = field(default_factory=dict)
    # (item ID, level) reached with nobody to tell: its roles resolve to no one in the roster
    # (a Director's own late dip sample has no Service Manager above it: GAPS 13)
    nobody: set[tuple[str, int]] = field(default_factory=set)
    days: list[date] = field(default_factory=list)  # the working days lived through


def year_cycles(start: str, months: int) -> list[str]:
    return [shift_cycle(start, i) for i in range(months)]


def write_year_folder(
    directory: Path,
    framework: str,
    *,
    as_of: date,
    cases: int = 1200,
    auditors: int | None = None,
    seed: int = 2026,
) -> Config:
    """``qaf init DIR --framework NAME`` plus the sample authority built as of ``as_of``."""
    from qaf.samples.authority import build_authority, write_case_list, write_staff_roster
    from qaf.workdir import init_directory

    init_directory(directory, framework=framework)
    authority = build_authority(cases=cases, auditors=auditors, seed=seed, as_of=as_of)
    write_case_list(authority, directory / "data" / "cases.xlsx")
    write_staff_roster(authority, directory / "data" / "staff.csv")
    return read_config(directory / "qaf.toml")


def simulate_year(
    directory: Path,
    framework: str,
    *,
    start: str = "2026-04",
    months: int = 12,
    seed: int = 7,
    cases: int = 1200,
    auditors: int | None = None,
    never: float = 0.05,
    late: float = 0.10,
    say: Say = lambda _line: None,
) -> YearRun:
    """Live through ``months`` cycles from ``start`` for the preset ``framework``."""
    from qaf.register import Register
    from qaf.sources import read_cases, read_staff

    first_cycle_day = date.fromisoformat(start + "-01")
    cfg = write_year_folder(
        Path(directory), framework, as_of=first_cycle_day, cases=cases, auditors=auditors
    )
    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    windows = {c: calendar.cycle_window(c) for c in year_cycles(start, months)}
    starts = {first: c for c, (first, _last) in windows.items()}
    last_day = max(last for _first, last in windows.values())
    # long enough for the last cycle's due date (up to a month after it) and its missing
    # returns to climb a ladder of 14 working days
    finish = calendar.add_working_days(last_day, 40)
    year = _Year(
        cfg=cfg,
        calendar=calendar,
        roster=read_staff(cfg.staff),
        rng=random.Random(seed),
        run=YearRun(cfg=cfg, cycles=[], skipped=[], allocated_on={}),
        say=say,
    )
    if any(q.allocated_by == "service" for q in cfg.quotas):  # the service picks (GAPS 13)
        year.case_ids = tuple(c.case_id for c in read_cases(cfg.cases).cases)
    # One connection held for the whole year: each close of the last connection would
    # checkpoint the write-ahead log (the commands open and close their own as they run).
    with Register.open(cfg.register_path) as reg:
        year.reg = reg
        day = first_cycle_day
        i = 0
        while day <= finish:
            if calendar.is_working_day(day):
                year.run.days.append(day)
                year.ingest(day)  # the morning's e-mail first, then the cycle's allocation
                if day in starts:
                    year.allocate(starts[day], day, seed + i, never=never, late=late)
                    i += 1
                year.managers(day)
                year.overdue(day)
            day += timedelta(days=1)
    return year.run


@dataclass
class _Year:
    cfg: Config
    calendar: WorkingCalendar
    roster: Roster
    rng: random.Random
    run: YearRun
    say: Say
    reg: Register | None = None
    arrivals: dict[date, list[Path]] = field(default_factory=lambda: defaultdict(list))
    moderations: dict[date, list[str]] = field(default_factory=lambda: defaultdict(list))
    closing: dict[int, date] = field(default_factory=dict)  # follow-up ID -> day done
    case_ids: tuple[str, ...] = ()  # the cases a service may pick from (GAPS 13)

    @property
    def register(self) -> Register:
        assert self.reg is not None
        return self.reg

    def allocate(self, cycle: str, day: date, seed: int, *, never: float, late: float) -> None:
        """``qaf allocate`` on the cycle's first working day; the auditors' returns drawn."""
        from qaf.allocate_run import run_allocate, summary_lines
        from qaf.samples.simulate import simulate_returns

        run, cfg = self.run, self.cfg
        try:
            result = run_allocate(cfg, cycle, seed=seed, as_of=day)
        except QafError as e:
            if e.rule != "C1":
                raise
            run.skipped.append(cycle)
            self.say(f"{cycle}: {e}")
            return
        for line in summary_lines(result):
            self.say(line)
        run.cycles.append(cycle)
        run.allocated_on[cycle] = day
        for pick in self.register.moderation_picks(cycle):  # rule M1: done within 3-8 days
            when = self.calendar.add_working_days(day, self.rng.randint(3, 8))
            self.moderations[when].append(pick["audit_id"])
        cycle_dir = cfg.root / "cycles" / cycle
        sim = simulate_returns(
            self.register.allocations(cycle),
            cfg.tools,
            cycle_dir / "audits",
            cycle_dir / "returns",
            seed=seed,
            never=never,
            late=late,
            messy=0.0,
            fast=True,
            case_ids=self.case_ids,
        )
        run.never.update(sim.never)
        for ret, path in zip(sim.returns, sim.paths, strict=True):
            # e-mailed the working day after the audit (never before the allocation went out)
            arrive = max(self.calendar.add_working_days(ret.audit_date, 1), day)
            self.arrivals[arrive].append(path)
            if ret.late:
                run.late.add(ret.allocation.audit_id)

    def ingest(self, day: date) -> None:
        """``qaf ingest FILES --as-of DAY`` for the returns arriving that day."""
        from qaf.ingest import Ingestor

        paths = self.arrivals.pop(day, [])
        if not paths:
            return
        ingestor = Ingestor(
            self.cfg, self.register, day, roster=self.roster, calendar=self.calendar
        )
        for result in ingestor.run(sorted(paths), None):
            if result.status == "rejected":
                why = "; ".join(str(p) for p in result.problems)
                self.run.rejected.append(f"{result.path}: {why}")
            elif result.audit_id:
                self.run.received_on.setdefault(result.audit_id, day)

    def managers(self, day: date) -> None:
        """The QA team moderates (``qaf moderate``); managers and workers do their follow-ups
        (``qaf done``): most on time, some a few working days late."""
        reg, rng, scale = self.register, self.rng, self.cfg.grade_scale
        moderators = [s.name for s in self.roster.with_role(self.cfg.moderation.role)]
        for audit_id in self.moderations.pop(day, []):
            ret = reg.current_return(audit_id)
            if ret is None or not moderators:
                continue
            grade = ret["overall"]
            if grade is None:
                continue
            rank = scale.rank(grade)
            if rng.random() < 0.25:  # the moderator sees it one grade differently
                rank = min(len(scale.levels), max(1, rank + rng.choice((-1, 1))))
            reg.record_moderation(
                audit_id,
                moderator=rng.choice(moderators),
                moderator_grade=scale.levels[rank - 1],
                done_on=day,
            )
        for item in reg.open_followups():
            if item.kind == "moderation" or item.id is None or item.due > day:
                continue
            if item.id not in self.closing:
                lag = rng.choices((0, 1, 3, 8), weights=(80, 8, 8, 4))[0]
                self.closing[item.id] = self.calendar.add_working_days(item.due, lag)
            if self.closing[item.id] <= day:
                reg.close_followup(item.id, day, item.responsible, "done (simulated)")

    def overdue(self, day: date) -> None:
        """``qaf overdue --as-of DAY --notify``: what is late and who is told, that day."""
        from qaf.escalate import compute_overdue
        from qaf.notify import notify_overdue

        cfg, calendar, reg = self.cfg, self.calendar, self.register
        window = parse_duration(cfg.moderation.due)

        def moderation_due(cycle: str) -> date:
            return calendar.add(calendar.cycle_window(cycle)[0], window)

        late = reg.late_return_deadlines(day) if cfg.escalation.repeat_late_return else None
        pending = reg.pending(day, moderation_due)
        items = compute_overdue(day, pending, self.roster, cfg, calendar, late_before=late)
        delivery = notify_overdue(items, register=reg, cfg=cfg, as_of=day)
        for item in items:
            levels = self.run.reached.setdefault(item.id, {})
            for level in range(1, item.level + 1):
                levels.setdefault(level, day)
                if not any(n.level == level and n.recipient.email for n in item.notify):
                    self.run.nobody.add((item.id, level))
        for msg, _message_id in delivery.sent:
            for key, level, _email in msg.keys:
                self.run.sent.setdefault((key, level), day)
