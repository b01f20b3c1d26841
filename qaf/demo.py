"""``qaf demo``: a whole month on the fictional sample authority, from scratch.

Each step is a library call the user could make with a command; the demo
prints what it did and where to look. Later steps (ingest, overdue, report)
join as they are built.
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
    say(f"$ qaf allocate --month {month} --seed {seed} --as-of {as_of.isoformat()}")
    run = run_allocate(cfg, month, seed=seed, as_of=as_of)
    for line in summary_lines(run):
        say(line)
    return run


def run_demo(directory: Path, *, say: Say = print) -> Path:
    directory = Path(directory)
    config_path = directory / "qaf.toml"
    if config_path.exists():
        say(f"Using the existing sample authority in {directory}")
    else:
        init_directory(directory, demo=True)
        say(f"Created the sample authority in {directory}")
    cfg = read_config(config_path)
    summary = check_sources(cfg)
    for line in summary.lines():
        say(line)
    # --- allocate (issue 3): the month after --as-of, seeded so the demo is the same every time
    allocate_step(cfg, say=say)
    # --- ingest (issue 4): auditors' returns simulated, then read and stored
    demo_ingest(cfg, directory, say=say)
    # --- later steps: report
    overdue_step(cfg, say=say)
    # === report step
    for path in report_step(cfg, say=say):
        say(f"Report: {path}")
    # --- end report step
    say(f"Look at: {config_path}")
    return directory


# === overdue step: a later day's overdue list, escalations written to the demo outbox
def overdue_step(cfg: Config, *, say: Say, as_of: date | None = None) -> None:
    """Run ``qaf overdue --notify`` as of a later day (default: 10 working days after the
    latest due date in the register) so the outbox holds the escalations to look at."""
    from qaf.calendar import WorkingCalendar, parse_duration
    from qaf.escalate import compute_overdue
    from qaf.notify import notify_overdue
    from qaf.register import Register
    from qaf.sources import read_staff

    if not cfg.register_path.exists():
        return
    calendar = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    roster = read_staff(cfg.staff)
    window = parse_duration(cfg.moderation.due)
    with Register.open(cfg.register_path) as reg:
        if as_of is None:
            latest = reg.scalar("SELECT max(due) FROM allocations")
            if latest is None:
                return
            as_of = calendar.add_working_days(date.fromisoformat(latest), 10)

        def moderation_due(cycle: str) -> date:
            return calendar.add(calendar.cycle_window(cycle)[0], window)

        items = compute_overdue(as_of, reg.pending(as_of, moderation_due), roster, cfg, calendar)
        delivery = notify_overdue(items, register=reg, cfg=cfg, as_of=as_of)
    say(
        f"Overdue on {as_of.isoformat()}: {len(items)} item(s); "
        f"{len(delivery.sent)} message(s) written to {cfg.notify.outbox}"
    )


# ------------------------------------------------------------------ ingest step


def demo_ingest(cfg: Config, directory: Path, *, say: Say = print) -> None:
    """Auditors fill in the latest cycle's workbooks (simulated); ``qaf ingest`` reads them."""
    from qaf.calendar import WorkingCalendar
    from qaf.ingest import ingest_paths
    from qaf.register import Register
    from qaf.samples.simulate import simulate_returns, write_surveymonkey_export

    if not cfg.register_path.exists():
        say("Ingest: skipped (no allocations yet)")
        return
    with Register.open(cfg.register_path) as reg:
        cycle = reg.scalar("SELECT max(cycle) FROM allocations")
        allocations = reg.allocations(cycle) if cycle else []
    if not allocations:
        say("Ingest: skipped (no allocations yet)")
        return
    cycle_dir = cfg.root / "cycles" / cycle
    audits = cycle_dir / "audits"
    returns = cycle_dir / "returns"
    sim = simulate_returns(allocations, cfg.tools, audits, returns, seed=7)
    say(
        f"Simulated {len(sim.paths)} returned workbooks in {returns} "
        f"({len(sim.never)} never returned)"
    )
    case_audits = [r for r in sim.returns if cfg.tools[r.tool].surveymonkey is not None]
    if case_audits:
        tool = cfg.tools[case_audits[0].tool]
        same = [r for r in case_audits if r.tool == tool.id]
        export = write_surveymonkey_export(same, tool, cycle_dir / "surveymonkey-export.csv")
        say(f"The same {len(same)} {tool.name} returns as a SurveyMonkey export: {export}")
    cal = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    _, end = cal.cycle_window(cycle)
    as_of = cal.add_working_days(end, 10)
    report = ingest_paths(cfg, [returns], as_of=as_of)
    counts = report.counts()
    say(
        f"Ingested as of {as_of:%d/%m/%Y}: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f" (qaf ingest {returns} --as-of {as_of.isoformat()})"
    )


# === report step: the month's report pack
def report_step(cfg: Config, *, say: Say = print, as_of: date | None = None) -> list[Path]:
    """The report pack (Markdown and HTML) of the latest cycle in the register (rule P1).

    Nothing is written when the register does not exist yet or holds no cycle.
    """
    from qaf import report as rp
    from qaf.register import Register

    if not cfg.register_path.exists():
        return []
    with Register.open(cfg.register_path) as reg:
        latest = reg.latest_cycle()
        if latest is None:
            return []
        period = rp.month_period(latest)
        # as of the demo's simulated day: after the period and after the last return
        day = as_of or max(date.today(), period.end, reg.latest_received() or period.end)
        rows = reg.report_rows(rp.report_scope(period, day))
    data = rp.build_report(rows, period, cfg, as_of=day)
    written = []
    for fmt in ("md", "html"):
        out = cfg.root / "reports" / f"{period.key}.{fmt}"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(rp.render(data, fmt, config_root=cfg.root), encoding="utf-8")
        written.append(out)
    say(
        f"{period.label}: {data.completion.returned} of {data.completion.allocated} audits returned"
    )
    return written
