"""``qaf allocate`` as one library call: read the sources and register, allocate, write, record.

:func:`run_allocate` is what the CLI command and ``qaf demo`` call. It does the
I/O around the pure :func:`qaf.allocate.allocate_cycle`: reads the case list
and roster, the register's history, writes the allocation workbook, CSV and
audit workbooks, then records the cycle in one register transaction (files
first: if writing fails nothing is recorded and the command can simply be run
again). Refusals are ``QafError`` with exit code 2.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaf.calendar import WorkingCalendar, parse_month, shift_cycle
from qaf.config import Config, SourceSpec
from qaf.problems import Problem, QafError

if TYPE_CHECKING:
    from qaf.allocate import AllocationResult, History
    from qaf.records import Allocation
    from qaf.sources import CaseList, PendingCases, Roster

ALLOCATE_LOCK_WAIT = 600.0  # seconds a second `qaf allocate` waits for the first


@dataclass(frozen=True)
class AllocateRun:
    result: AllocationResult
    out_dir: Path
    dry_run: bool
    replaced: bool
    files: dict[str, Any] = field(default_factory=dict)  # empty on a dry run
    problems: tuple[Problem, ...] = ()  # case list / roster warnings
    # The case list read. Kept with the run: freeing a whole authority's cases (a million
    # objects) as ``_run`` returned cost ``qaf allocate`` 60-90 ms, and the command ends
    # without freeing anything (qaf.cli.leave).
    cases: CaseList | None = field(default=None, repr=False, compare=False)

    @property
    def rows_refused(self) -> int:
        """Rows of the case list or roster not read (an error: a case with a blank required
        value or a repeated case ID, rule S3; a name twice in the roster, A2). The
        allocation is made without them, and the command exits 1 (F7)."""
        return sum(1 for p in self.problems if p.level == "error")


def calendar_for(cfg: Config) -> WorkingCalendar:
    return WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)


def fresh_seed() -> int:
    """A new seed for a cycle run without ``--seed`` (recorded and printed, rule S2)."""
    import secrets  # only here: its import (hmac, hashlib) is a few ms of every run's start

    return secrets.randbelow(1_000_000)


def check_month(cfg: Config, month: str, *, force: bool) -> str:
    """The cycle for ``--month``; refuses practice-week months without ``force`` (rule C1)."""
    try:
        cycle = parse_month(month)
    except ValueError as e:
        raise QafError(f"--month: {e}") from None
    if cycle in cfg.cycle.practice_weeks and not force:
        from qaf.allocate import month_name

        raise QafError(
            f"{cycle} ({month_name(cycle)}) is a practice week, not an audit cycle (rule C1): "
            "use --force to allocate it anyway",
            rule="C1",
        )
    return cycle


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (reference counting still frees).

    Reading a 50,000-row case list creates about a million objects; every full
    collection on the way walks all of them, which cost a fifth of ``allocate``.
    Nothing in an allocation builds garbage cycles worth collecting early.

    On the way out, what the block built is moved to the oldest generation without being
    walked (``gc.freeze`` then ``gc.unfreeze``): re-enabled with all of it still young,
    the collector's next pass would walk it all once more, at the very end of the command.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:  # nobody else's frozen objects to thaw
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def run_allocate(
    cfg: Config,
    month: str,
    *,
    seed: int | None = None,
    as_of: date | None = None,
    dry_run: bool = False,
    replace: bool = False,
    force: bool = False,
    out_dir: Path | None = None,
) -> AllocateRun:
    cycle = check_month(cfg, month, force=force)
    as_of = as_of or date.today()
    _must_exist(cfg, cfg.cases, "cases.path")  # the roster's: checked after the case list's

    with gc_paused():
        from qaf.sources import start_reading_cases

        # The case list is read by another thread from here on (unzipping and parsing it
        # release the GIL; a whole authority's list is parsed by two), while this one takes
        # the lock, reads the register and the roster, and imports and lays out what the
        # writing needs; a case list error is still the one reported first, after the
        # register's refusals.
        pending = start_reading_cases(cfg.cases, cfg.limits)
        with _allocation_lock(cfg, dry_run, pending):
            return _run(cfg, cycle, seed, as_of, dry_run, replace, out_dir, pending)


def _must_exist(cfg: Config, spec: SourceSpec, key: str) -> None:
    """Rule I1: a source file the configuration points at must be there (exit 2)."""
    if not spec.path.exists():
        raise QafError(f"{key}: {spec.path} does not exist", file=str(cfg.path))


@contextmanager
def _allocation_lock(cfg: Config, dry_run: bool, pending: PendingCases) -> Iterator[None]:
    """Two allocations of one register must not interleave: the second would overwrite the
    first's workbooks and then be refused by the register (issue 7 item 5). It waits.
    A dry run writes nothing and takes no lock. Not getting the lock, the run no longer
    wants the case list being read (``pending``)."""
    if dry_run:
        yield
        return
    from qaf.runlock import LockTimeout, acquire

    lock_path = cfg.register_path.with_name(cfg.register_path.name + ".allocate.lock")
    try:
        cfg.register_path.parent.mkdir(parents=True, exist_ok=True)
        lock = acquire(lock_path, ALLOCATE_LOCK_WAIT)
    except LockTimeout:
        pending.cancel()
        raise QafError(
            f"another `qaf allocate` is still running on this register (lock {lock_path} "
            f"held for {ALLOCATE_LOCK_WAIT:g} s)"
        ) from None
    except BaseException:  # Ctrl-C while waiting, a folder that cannot be made
        pending.cancel()
        raise
    try:
        yield
    finally:
        lock.release()


def _run(
    cfg: Config,
    cycle: str,
    seed: int | None,
    as_of: date,
    dry_run: bool,
    replace: bool,
    out_dir: Path | None,
    pending: PendingCases,
) -> AllocateRun:
    from qaf.allocate import History, allocate_cycle  # imported while the list is unzipped
    from qaf.register import Register
    from qaf.sources import read_staff

    register = None
    try:
        if cfg.register_path.exists() or not dry_run:
            register = Register.open(cfg.register_path)
        replaced = _check_cycle(register, cycle, replace)
    except BaseException:  # the register refuses this run: the case list is not wanted
        pending.cancel()
        if register is not None:
            register.close()
        raise
    try:
        history = _history(register, cfg, cycle) if register is not None else History()
        _must_exist(cfg, cfg.staff, "staff.path")  # (F5: after the case list's own problems)
        roster = read_staff(cfg.staff, cfg.limits)
        calendar = calendar_for(cfg)
        from qaf import escalate  # noqa: F401  (imported here, used later)
        from qaf.workbooks import mark_incomplete, write_allocation_files

        templates = None if dry_run else _audit_templates(cfg)
    except BaseException as e:
        if isinstance(e, Exception):
            pending.result()  # the case list's error first, if it has one
        else:
            pending.cancel()
        if register is not None:
            register.close()
        raise
    try:
        cases = pending.result()
        chosen = fresh_seed() if seed is None else seed
        result = allocate_cycle(cycle, cases.cases, roster.staff, cfg, calendar, history, chosen)
        out = out_dir if out_dir is not None else cfg.root / "cycles" / cycle
        files: dict[str, Any] = {}
        if not dry_run:
            assert register is not None
            note = mark_incomplete(out, cycle)  # until the cycle is recorded
            files = write_allocation_files(
                result,
                cfg.tools,
                cfg.organisation.name,
                out,
                grade_display=cfg.grade_display,
                team_managers=team_managers(result.allocations, roster),
                templates=templates,
            )
            register.record_cycle(result, as_of=as_of, replace=replace)
            note.unlink(missing_ok=True)
        return AllocateRun(
            result=result,
            out_dir=out,
            dry_run=dry_run,
            replaced=replaced,
            files=files,
            problems=(*cases.problems, *roster.problems),
            cases=cases,
        )
    finally:
        if register is not None:
            register.close()


def _check_cycle(register: Any, cycle: str, replace: bool) -> bool:
    """Whether the run replaces the cycle; refuses one allocated already without
    ``--replace``, or with returns stored against it (rule S2)."""
    if register is None:
        return False
    summary = register.cycle_summary(cycle)
    if summary is None:
        return False
    if not replace:
        raise QafError(
            f"cycle {cycle} is already allocated (seed {summary['seed']}, "
            f"{summary['allocations']} allocations): use --replace to redo it",
            rule="S2",
        )
    if summary["returns"]:
        raise QafError(
            f"cycle {cycle} cannot be replaced: {summary['returns']} returns are "
            "stored against its allocations"
        )
    return True


def _audit_templates(cfg: Config) -> dict[tuple[str, bool], Any]:
    """The audit workbook templates of the quotas' tools, laid out while the case list is
    being parsed (others, such as a re-audit's own tool, are laid out when needed)."""
    from qaf.auditbook import build_templates

    wanted = ((q.tool, q.allocated_by == "service") for q in cfg.quotas)
    return build_templates(wanted, cfg.tools, cfg.organisation.name, cfg.grade_display)


def team_managers(allocations: Sequence[Allocation], roster: Roster) -> dict[str, str]:
    """Audit ID -> the case's Team Manager(s) in the roster, for the audit workbook (F8)."""
    from qaf.escalate import TEAM_MANAGER, resolve_role

    out: dict[str, str] = {}
    known: dict[tuple[str, str, str], str] = {}  # many cases share a team and worker
    for a in allocations:
        key = (a.team, a.service, a.worker)
        if key not in known:
            people = resolve_role(TEAM_MANAGER, case=a, auditor=None, roster=roster)
            known[key] = ", ".join(sorted({p.name for p in people}))
        if known[key]:
            out[a.audit_id] = known[key]
    return out


def _history(register: Any, cfg: Config, cycle: str) -> History:
    """What the register knows that this cycle's allocation depends on."""
    from qaf.allocate import period_start

    history: History = register.allocation_history(
        cycle,
        window_months=cfg.sample.exclude_audited_within_months,
        reaudit_grades=cfg.reaudit.grades,
    )
    since = period_start(cfg, cycle)  # quarter / year quotas (rule A1)
    if since is not None and since < cycle:
        counts = tuple(register.allocation_counts(since, cycle))
        history = dataclasses.replace(history, period_counts=counts)
    if any(q.subject == "staff" for q in cfg.quotas):  # who was audited (GAPS 7)
        first = min(since or cycle, shift_cycle(cycle, -12))
        subjects = tuple(register.subject_counts(first, cycle))
        history = dataclasses.replace(history, subject_counts=subjects)
    return history


def summary_lines(run: AllocateRun) -> list[str]:
    """What the command says on stderr, in words."""
    r = run.result
    a = r.arithmetic
    lines = [
        f"Cycle {r.cycle}: allocations go out {r.first_day:%a %d/%m/%Y}, due {r.due:%a %d/%m/%Y}",
        f"Seed {r.seed} (the same seed, case list and register give the same sample)",
        f"Sample: {a.words}",
    ]
    if a.excluded:
        parts = "; ".join(f"{n:,} {reason}" for reason, n in a.excluded)
        lines.append(f"Excluded (rule S3): {parts}")
    kinds = {"audit": 0, "reaudit": 0}
    for x in r.allocations:
        kinds[x.type] = kinds.get(x.type, 0) + 1
    auditors = len({x.auditor for x in r.allocations})
    lines.append(
        f"Allocated {kinds['audit']:,} audits and {kinds['reaudit']:,} re-audits "
        f"to {auditors:,} auditors; {len(r.unallocated):,} unallocated"
    )
    for u in r.unallocated:
        lines.append(f"  unallocated {u.case_id} ({u.type}): {u.reason}")
    if r.moderation:
        always = sum(1 for m in r.moderation if m.reason.startswith("always"))
        lines.append(
            f"Moderation: {len(r.moderation):,} returns of the previous cycle picked "
            f"({always:,} for their grade, {len(r.moderation) - always:,} at random)"
        )
    for note in r.notes:
        lines.append(f"Note: {note}")
    if run.dry_run:
        lines.append("Dry run: nothing written, nothing recorded")
    else:
        f = run.files
        lines.append(f"Wrote {f['workbook']}")
        lines.append(f"Wrote {f['csv']}")
        lines.append(f"Wrote {len(f['audits']):,} audit workbooks in {f['audits_dir']}")
        lines.append(
            ("Replaced" if run.replaced else "Recorded") + f" cycle {r.cycle} in the register"
        )
    return lines


def refused_line(run: AllocateRun) -> str:
    """F7: why the run exits 1 although it allocated: rows of its sources were not read
    (the command's last line)."""
    errors = [p for p in run.problems if p.level == "error"]
    cases = sum(1 for p in errors if p.rule == "S3")
    parts = []
    if cases:
        parts.append(f"{cases:,} row{'s' if cases != 1 else ''} of the case list not read as cases")
    if len(errors) > cases:
        n = len(errors) - cases
        parts.append(f"{n:,} row{'s' if n != 1 else ''} of the roster ignored")
    then = (
        "fix the file before allocating"
        if run.dry_run
        else "fix the file and allocate again with --replace to include them"
    )
    return f"Exit 1: {' and '.join(parts)} (the errors above): allocated without them; {then}"
