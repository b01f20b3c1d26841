"""``qaf demo``: a quarter of audit cycles on the fictional sample authority, from scratch.

For each month of the quarter the demo does what the QA officer's month holds
(DESIGN §1): ``qaf allocate`` on the first working day; auditors' returns
(simulated) arriving over the month and ``qaf ingest``-ed on the day they
arrive; the QA team moderating the returns picked for moderation and managers
recording discussions held (``qaf moderate`` / ``qaf done``); ``qaf overdue
--notify`` a few days after the deadline. It ends with the quarterly and monthly
report packs. Each step is the library call behind a command; the demo prints
the equivalent command line and where to look.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from qaf.config import Config, read_config
from qaf.workdir import check_sources, init_directory

if TYPE_CHECKING:
    from qaf.allocate_run import AllocateRun

Say = Callable[[str], None]


DEMO_MONTH = "2026-12"
DEMO_AS_OF = date(2026, 12, 1)
DEMO_SEED = 7
DEMO_QUARTER = "2026Q3"  # calendar quarter July-September 2026
DEMO_CYCLES = ("2026-07", "2026-08", "2026-09")


def allocate_step(
    cfg: Config,
    *,
    month: str = DEMO_MONTH,
    as_of: date = DEMO_AS_OF,
    seed: int = DEMO_SEED,
    say: Say = print,
) -> AllocateRun | None:
    """`qaf allocate --month 2026-12 --seed 7`; skipped when the cycle is already recorded."""
    from qaf.allocate_run import run_allocate, summary_lines
    from qaf.register import Register

    if cfg.register_path.exists():
        with Register.open(cfg.register_path) as reg:
            if reg.cycle_summary(month) is not None:
                say(f"Cycle {month} is already allocated in {cfg.register_path}; not redone")
                return None
    say(f"$ qaf allocate --month {month} --seed {seed} --as-of {as_of.isoformat()} --notify")
    run = run_allocate(cfg, month, seed=seed, as_of=as_of)
    for line in summary_lines(run):
        say(line)
    _allocation_mail(cfg, run, as_of, say)
    return run


def _allocation_mail(cfg: Config, run: AllocateRun, as_of: date, say: Say) -> None:
    """The ``--notify`` part: each auditor their workbooks, each Team Manager their list."""
    from qaf.notify import notify_allocations
    from qaf.register import Register
    from qaf.sources import read_staff

    with Register.open(cfg.register_path) as reg:
        delivery = notify_allocations(
            run.result.allocations,
            register=reg,
            cfg=cfg,
            roster=read_staff(cfg.staff),
            as_of=as_of,
            audits_dir=run.out_dir / "audits",
        )
    say(f"Allocation mail: {len(delivery.sent)} message(s) written to {cfg.notify.outbox}")


def run_demo(directory: Path, *, say: Say = print, cycles: tuple[str, ...] = DEMO_CYCLES) -> Path:
    from qaf.calendar import WorkingCalendar

    directory = Path(directory)
    config_path = directory / "qaf.toml"
    if config_path.exists():
        say(f"Using the existing sample authority in {directory}")
    else:
        init_directory(directory, demo=True)
        say(f"Created the sample authority in {directory}")
    cfg = read_config(config_path)
    if _add_sample_data(cfg, directory):  # `qaf init DIR --framework NAME` wrote no data
        say(f"Added the sample authority's case list and roster in {directory / 'data'}")
    summary = check_sources(cfg)
    for line in summary.lines():
        say(line)
    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    for i, cycle in enumerate(cycles):
        first, last = calendar.cycle_window(cycle)
        say("")
        say(f"== Cycle {cycle} ==")
        allocate_step(cfg, month=cycle, as_of=first, seed=DEMO_SEED + i, say=say)
        demo_ingest(cfg, directory, say=say, cycle=cycle, seed=DEMO_SEED + i)
        qa_team_step(cfg, cycle, seed=DEMO_SEED + i, say=say)
        overdue_step(cfg, say=say, as_of=calendar.add_working_days(last, 3))
    say("")
    say("== After the quarter ==")
    last_day = calendar.cycle_window(cycles[-1])[1]
    overdue_step(cfg, say=say, as_of=calendar.add_working_days(last_day, 10))
    for path in report_step(cfg, say=say, quarter=_quarter_of(cycles, cfg.report.financial_year)):
        say(f"Report: {path}")
    say("")
    say("Look at:")
    say(f"  {config_path}  (the configuration: every rule is a setting)")
    say(f"  {cfg.root / 'cycles'}  (allocation workbooks, pre-filled audits, simulated returns)")
    say(f"  {cfg.notify.outbox}  (allocation, alert and escalation e-mails, as .eml files)")
    say(f"  {cfg.root / 'reports'}  (the report packs)")
    say(f"  then try: cd {directory} && qaf overdue --as-of {last_day.isoformat()}")
    return directory


def _add_sample_data(cfg: Config, directory: Path) -> bool:
    """Write the sample authority's data when the config points at its files and neither
    exists yet (a folder made by ``qaf init --framework NAME`` without ``--demo``)."""
    from qaf.samples.authority import write_sample_authority

    data = (directory / "data").resolve()
    expected = {cfg.cases.path.resolve(), cfg.staff.path.resolve()}
    if expected != {data / "cases.xlsx", data / "staff.csv"}:
        return False
    if any(path.exists() for path in expected):
        return False
    write_sample_authority(directory)
    return True


def _quarter_of(cycles: tuple[str, ...], financial_year: bool = False) -> str | None:
    """The quarter the demo's cycles make up, in the council's own quarters (a financial
    year's Q2 is July to September), or None when they are not one whole quarter."""
    from qaf.calendar import quarter_of

    quarters = {quarter_of(c, financial_year) for c in cycles}
    return quarters.pop() if len(quarters) == 1 and len(cycles) == 3 else None


def qa_team_step(cfg: Config, cycle: str, *, seed: int, say: Say = print) -> None:
    """What the QA team and managers record during the month (simulated, seeded):
    the moderator's grade for the returns picked for moderation (rule M1, ``qaf moderate``)
    and most discussions, notifications and QA checks done on time (``qaf done``)."""
    import random

    from qaf.calendar import WorkingCalendar
    from qaf.register import Register
    from qaf.sources import read_staff

    rng = random.Random(seed)
    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    first, last = calendar.cycle_window(cycle)
    moderators = [s.name for s in read_staff(cfg.staff, cfg.limits).with_role(cfg.moderation.role)]
    scale = cfg.grade_scale
    moderated = done = 0
    with Register.open(cfg.register_path) as reg:
        for pick in reg.moderation_picks(cycle):
            grade = pick["auditor_grade"]
            if grade is None or not moderators or reg.current_return(pick["audit_id"]) is None:
                continue
            rank = scale.rank(grade)
            if rng.random() < 0.25:  # the moderator sees it one grade differently
                rank = min(len(scale.levels), max(1, rank + rng.choice((-1, 1))))
            reg.record_moderation(
                pick["audit_id"],
                moderator=rng.choice(moderators),
                moderator_grade=scale.levels[rank - 1],
                done_on=calendar.add_working_days(first, rng.randint(3, 8)),
            )
            moderated += 1
        for item in reg.open_followups():
            if item.kind in ("safety", "moderation") or item.due > last:
                continue
            if rng.random() < 0.8:
                on = calendar.add_working_days(item.due, rng.choice((-1, 0, 0, 2)))
                reg.close_followup(int(item.id or 0), on, item.responsible, "done (simulated)")
                done += 1
    say(
        f"QA team: {moderated} return(s) moderated (qaf moderate), "
        f"{done} follow-up(s) recorded done (qaf done)"
    )


# === overdue step: a later day's overdue list, escalations written to the demo outbox
def overdue_step(cfg: Config, *, say: Say, as_of: date | None = None) -> None:
    """Run ``qaf overdue --notify`` as of a later day (default: 10 working days after the
    latest due date in the register) so the outbox holds the escalations to look at."""
    from qaf.calendar import WorkingCalendar, parse_duration, uk_date
    from qaf.escalate import alert_window, alerts_to_send, compute_overdue
    from qaf.notify import notify_overdue
    from qaf.register import Register
    from qaf.sources import read_staff

    if not cfg.register_path.exists():
        return
    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    roster = read_staff(cfg.staff, cfg.limits)
    window = parse_duration(cfg.moderation.due)
    with Register.open(cfg.register_path) as reg:
        if as_of is None:
            latest = reg.scalar("SELECT max(due) FROM allocations")
            if latest is None:
                return
            as_of = calendar.add_working_days(date.fromisoformat(latest), 10)

        def moderation_due(cycle: str) -> date:
            return calendar.add(calendar.cycle_window(cycle)[0], window)

        late = reg.late_return_deadlines(as_of) if cfg.escalation.repeat_late_return else None
        pending = reg.pending(as_of, moderation_due)
        items = compute_overdue(as_of, pending, roster, cfg, calendar, late_before=late)
        alerts = alerts_to_send(reg.unsent_alerts(*alert_window(as_of)), as_of)
        delivery = notify_overdue(items, register=reg, cfg=cfg, as_of=as_of, alerts=alerts)
    say(
        f"Overdue on {uk_date(as_of)}: {len(items)} item(s); "
        f"{len(delivery.sent)} message(s) written to {cfg.notify.outbox}"
    )


# ------------------------------------------------------------------ ingest step


def demo_ingest(
    cfg: Config,
    directory: Path,
    *,
    say: Say = print,
    cycle: str | None = None,
    seed: int = DEMO_SEED,
) -> None:
    """Auditors fill in the cycle's workbooks (simulated); each return is ``qaf ingest``-ed
    on the working day after its audit date, as it would arrive by e-mail."""
    from collections import defaultdict

    from qaf.calendar import WorkingCalendar
    from qaf.ingest import counts_in_words, ingest_paths
    from qaf.register import Register
    from qaf.samples.simulate import simulate_returns, write_surveymonkey_export

    if not cfg.register_path.exists():
        say("Ingest: skipped (no allocations yet)")
        return
    with Register.open(cfg.register_path) as reg:
        cycle = cycle or reg.scalar("SELECT max(cycle) FROM allocations")
        allocations = reg.allocations(cycle) if cycle else []
    if not cycle or not allocations:
        say("Ingest: skipped (no allocations yet)")
        return
    cycle_dir = cfg.root / "cycles" / cycle
    returns = cycle_dir / "returns"
    sim = simulate_returns(
        allocations, cfg.tools, cycle_dir / "audits", returns, seed=seed, fast=True
    )
    late = sum(1 for r in sim.returns if r.late)
    say(
        f"Auditors returned {len(sim.paths)} workbooks ({late} late, {len(sim.never)} never): "
        f"{returns}"
    )
    case_audits = [r for r in sim.returns if cfg.tools[r.tool].surveymonkey is not None]
    if case_audits:
        tool = cfg.tools[case_audits[0].tool]
        same = [r for r in case_audits if r.tool == tool.id]
        export = write_surveymonkey_export(same, tool, cycle_dir / "surveymonkey-export.csv")
        say(f"  the same {len(same)} {tool.name} returns as a SurveyMonkey export: {export}")
    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    arrivals: dict[date, list[Path]] = defaultdict(list)
    for ret, path in zip(sim.returns, sim.paths, strict=True):
        arrivals[calendar.add_working_days(ret.audit_date, 1)].append(path)
    totals: dict[str, int] = defaultdict(int)
    for day in sorted(arrivals):
        report = ingest_paths(cfg, arrivals[day], as_of=day)
        for status, n in report.counts().items():
            totals[status] += n
    say(
        f"Ingested on {len(arrivals)} day(s) as the returns arrived: "
        + counts_in_words(totals)
        + " (qaf ingest FILES --as-of DAY)"
    )


def report_step(
    cfg: Config,
    *,
    say: Say = print,
    as_of: date | None = None,
    quarter: str | None = None,
) -> list[Path]:
    """The report packs (Markdown and HTML) of the latest month and, when given, the
    quarter (rule P1). Nothing is written when the register holds no cycle."""
    from qaf import report as rp
    from qaf.register import Register

    if not cfg.register_path.exists():
        return []
    with Register.open(cfg.register_path) as reg:
        latest = reg.latest_cycle()
        if latest is None:
            return []
        periods = [rp.month_period(latest)]
        if quarter:
            periods.insert(0, rp.quarter_period(quarter, cfg.report.financial_year))
        received = reg.latest_received()
        written = []
        for period in periods:
            # as of the demo's simulated day: after the period and after the last return
            day = as_of or max(period.end, received or period.end)
            rows = reg.report_rows(rp.report_scope(period, day))
            data = rp.build_report(rows, period, cfg, as_of=day)
            for fmt in ("md", "html"):
                out = cfg.root / "reports" / f"{period.key}.{fmt}"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(rp.render(data, fmt, config_root=cfg.root), encoding="utf-8")
                written.append(out)
            say(
                f"{period.label}: {data.completion.returned} of {data.completion.allocated} "
                f"audits returned (qaf report --{period.kind} {period.key})"
            )
    return written
