"""The ``qaf`` command line: a thin typer shell over the library.

This is the only module that speaks typer and rich. Each command parses its
options, calls one library function, and renders the result: data to stdout
(a table, or ``--format json|csv``), messages to stderr. Heavy modules
(pandas, openpyxl, the register) are imported inside the commands that need
them, so ``qaf --help`` starts quickly.

Exit codes: 0 success; 1 the command ran but found problems it must report;
2 usage or configuration error.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from qaf import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from qaf.config import Config

app = typer.Typer(
    name="qaf",
    help=(
        "Run the monthly case-file audit cycle of a children's social care QA team: "
        "allocate, ingest returns, chase what is overdue, report.\n\n"
        "Example: qaf demo qaf-demo"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich triples `qaf --help` start-up
)
config_app = typer.Typer(
    help="Check the configuration.\n\nExample: qaf config check",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(config_app, name="config")
dispute_app = typer.Typer(
    help="Track a grading dispute through the configured stages (rule G6, Haringey 2.11); "
    "list the open ones.\n\n"
    'Example: qaf dispute open A-2026-12-0007 --by "Tia Manager"',
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(dispute_app, name="dispute")


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="qaf.toml to use (default: $QAF_CONFIG, or found upwards)."
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Act as if today were this date (dd/mm/yyyy or YYYY-MM-DD)."),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


# ------------------------------------------------------------------ helpers


def err_console() -> Console:
    return _console_class()(stderr=True, highlight=False, soft_wrap=True)


def out_console() -> Console:
    return _console_class()(highlight=False, soft_wrap=True)


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class QafConsole(Console):
        def on_broken_pipe(self) -> None:
            """The reader went away (``qaf ingest | head -1``): the rest of the output goes
            nowhere and the command finishes, its own exit code standing (rich's default
            exits 1 at once, which reads as "a return was rejected": trial 3 F3)."""
            import os

            self.quiet = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())
            os.close(devnull)

    return QafConsole


def tell(text: str, style: str | None = None) -> None:
    """A message on stderr: through rich, in ``style``, on a terminal; plain text otherwise
    (what rich would print there too), so a cron job's or script's run need not load rich."""
    if not sys.stderr.isatty():
        print(text, file=sys.stderr)
        return
    con = err_console()
    con.print(f"[{style}]{_escape(text)}[/]" if style else _escape(text))


def fail(message: str, code: int = 2) -> NoReturn:
    err_console().print(f"[bold red]Error:[/] {_escape(message)}")
    raise typer.Exit(code)


def _uk(day: date | str) -> str:
    """A date for people: dd/mm/yyyy in tables and messages (JSON and CSV keep ISO)."""
    from qaf.calendar import uk_date

    return uk_date(day)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def load(config: Path | None) -> Config:
    from qaf.config import load_config
    from qaf.problems import QafError

    try:
        cfg = load_config(config)
    except QafError as e:
        fail(str(e), e.exit_code)
    warn_if_network_register(cfg)
    return cfg


def warn_if_network_register(cfg: Config) -> None:
    """Once per command: a register on a shared drive can be corrupted (README: Safety)."""
    from qaf.maintenance import network_warning

    warning = network_warning(cfg.register_path)
    if warning:
        err_console().print(f"[yellow]Warning:[/] {_escape(warning)}")


def parse_as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    return _parse_day(value, "--as-of")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def not_built(command: str, issue: int) -> NoReturn:
    fail(f"`qaf {command}` is not built yet (issue #{issue}).", 2)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"qaf {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """qaf: the monthly case-file audit cycle."""


# --------------------------------------------------------------------- init


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create or fill.")],
    demo: Annotated[
        bool, typer.Option("--demo", help="Add the fictional sample authority.")
    ] = False,
    framework: Annotated[
        str,
        typer.Option(
            "--framework", help="Preset: generic, haringey, bedford, lancashire, rochdale."
        ),
    ] = "generic",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing qaf.toml.")] = False,
) -> None:
    """Create a working folder with a commented qaf.toml (and, with --demo, sample data).

    Example: qaf init northvale --demo
    """
    from qaf.problems import QafError
    from qaf.workdir import init_directory

    try:
        written = init_directory(directory, framework=framework, demo=demo, force=force)
    except QafError as e:
        fail(str(e), e.exit_code)
    con = err_console()
    for path in written:
        con.print(f"wrote {path}")
    if not demo:
        con.print(
            "Set your council's name and the QA team's e-mail address in qaf.toml "
            "(they say CHANGE ME), and your practice weeks and focus themes if you use them."
        )
        con.print(
            "Put your case-list export and staff roster where \\[cases] path and \\[staff] path "
            "point (data/), or point them at yours; `qaf demo .` tries qaf on the sample "
            "authority instead."
        )
    con.print(f"Next: cd {directory} && qaf config check")


# ------------------------------------------------------------------- config


@config_app.command("check")
def config_check(config: ConfigOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Validate qaf.toml and the files it names; print a summary of the configuration.

    Exit 0 when valid, 2 when the configuration is wrong, 1 when a source file has problems.

    Example: qaf config check --format json
    """
    from qaf.config_summary import config_summary
    from qaf.problems import QafError
    from qaf.workdir import check_sources, effective_config

    cfg = load(config)
    try:
        summary = check_sources(cfg)
    except QafError as e:
        fail(str(e), e.exit_code)
    if fmt is Format.json:
        emit_json({"config": effective_config(cfg), "sources": summary.as_json()})
    else:
        _print_config_summary(config_summary(cfg, summary))
    con = err_console()
    style = "yellow" if summary.problems else "green"
    con.print(f"[{style}]{_escape(summary.headline())}[/]: {cfg.path}")
    for line in summary.lines():
        con.print(f"  {_escape(line)}")
    for p in summary.problems:
        con.print(f"  [yellow]{_escape(str(p))}[/]")
    if any(p.level == "error" for p in summary.problems):
        raise typer.Exit(1)


def _print_config_summary(rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False, expand=False)
    table.add_column("setting", style="bold", no_wrap=True)
    table.add_column("value")
    for label, text in rows:
        table.add_row(_escape(label), _escape(text))
    console = out_console()
    console.print(table)
    console.print("Full configuration: qaf config check --format json")


# ================================================================ allocate
@app.command()
def allocate(
    month: Annotated[
        str, typer.Option("--month", help='Cycle to allocate: YYYY-MM or "Dec 2026".')
    ],
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Random seed (default: a fresh one, recorded and printed)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the allocation; write and record nothing.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Redo a cycle already allocated.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allocate a practice-week month anyway (rule C1).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the workbooks (default: cycles/YYYY-MM/)."),
    ] = None,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify",
            help="E-mail each auditor their allocations (workbooks attached) and each Team "
            "Manager their team's cases chosen, each once; on a cycle already allocated, send "
            "what was not sent yet. Without it nothing is sent.",
        ),
    ] = False,
    config: ConfigOpt = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Sample the cycle's cases and re-audits and allocate them to auditors.

    Writes allocation-YYYY-MM.xlsx and .csv and one pre-filled audit workbook per
    allocation, and records the cycle with its seed. Exit 1 when cases are left
    unallocated (listed with the reason), a row of the case list or roster was not read
    (an error listed with its row) or allocation mail could not be sent, 2 when
    the cycle exists (without --replace or --notify), is a practice week (without
    --force) or the configuration is wrong.

    Example: qaf allocate --month 2026-12 --seed 7 --notify
    """
    from qaf.allocate_run import run_allocate, summary_lines
    from qaf.problems import QafError

    cfg = load(config)
    day = parse_as_of(as_of)
    if notify and not replace and not dry_run:
        recorded = _recorded_allocations(cfg, month)
        if recorded is not None:  # already allocated: send only what was not sent yet
            raise typer.Exit(_mail_allocations(cfg, recorded, day, out, fmt))
    try:
        run = run_allocate(
            cfg,
            month,
            seed=seed,
            as_of=day,
            dry_run=dry_run,
            replace=replace,
            force=force,
            out_dir=out,
        )
    except QafError as e:
        fail(str(e), e.exit_code)
    _kept[:] = [run]  # not freed as this returns: see _kept
    result = run.result
    if fmt is Format.json:
        emit_json(result.as_json())
    elif fmt is Format.csv:
        from qaf.workbooks import allocation_csv_text

        # with a byte-order mark, as the CSV file and `overdue --format csv`: Excel reads accents
        sys.stdout.write("\ufeff" + allocation_csv_text(result.allocations, result.themes))
    else:
        _allocation_table(result)
    for p in run.problems:
        tell(str(p), "yellow")
    tell("\n".join(summary_lines(run)))  # one write, not 150
    failed = 0
    if notify and dry_run:
        _list_allocation_mail(cfg, result.allocations)
    elif notify:
        failed = _mail_allocations(cfg, result.allocations, day, run.out_dir, None)
    elif not dry_run and result.allocations:
        tell(
            f"Allocation mail not sent: `qaf allocate --month {result.cycle} --notify` "
            "e-mails auditors and Team Managers (each once)"
        )
    if run.rows_refused:
        from qaf.allocate_run import refused_line

        tell(refused_line(run), "yellow")
    if result.unallocated or failed or run.rows_refused:
        raise typer.Exit(1)


def _recorded_allocations(cfg: Config, month: str) -> list[Any] | None:
    """The allocations of a cycle already in the register, or None."""
    from qaf.allocate_run import check_month
    from qaf.problems import QafError
    from qaf.register import Register

    try:
        cycle = check_month(cfg, month, force=True)
    except QafError as e:
        fail(str(e), e.exit_code)
    if not cfg.register_path.exists():
        return None
    with Register.open(cfg.register_path) as reg:
        return reg.allocations(cycle) if reg.cycle_exists(cycle) else None


def _list_allocation_mail(cfg: Config, allocations: Sequence[Any]) -> None:
    """--dry-run --notify: who would be e-mailed, nothing sent or recorded."""
    from qaf.notify import allocation_messages

    messages, unsendable = allocation_messages(
        allocations, set(), _roster(cfg), organisation=cfg.organisation.name
    )
    con = err_console()
    con.print(f"Would e-mail {len(messages)} message(s):")
    for m in messages:
        con.print(f"  {_escape(m.name)} <{_escape(m.email)}>: {_escape(m.subject)}")
    _report_unsendable(unsendable)


def _mail_allocations(
    cfg: Config, allocations: Sequence[Any], day: date, out: Path | None, fmt: Format | None
) -> int:
    """--notify: send the unsent allocation mail; returns the number of failed messages."""
    from qaf.notify import NotifyError, notify_allocations
    from qaf.register import Register

    cycle = allocations[0].cycle if allocations else ""
    folder = (out or cfg.root / "cycles" / cycle) / "audits"
    roster = _roster(cfg)
    with Register.open(cfg.register_path) as reg:
        try:
            delivery = notify_allocations(
                allocations, register=reg, cfg=cfg, roster=roster, as_of=day, audits_dir=folder
            )
        except NotifyError as e:
            fail(str(e), 2)
    if fmt is Format.json:
        emit_json(
            {
                "cycle": cycle,
                "sent": delivery.sent_keys,
                "messages": len(delivery.sent),
                "failed": [{"email": m.email, "error": e} for m, e in delivery.failed],
            }
        )
    con = err_console()
    attached = sum(len(m.attachments) for m, _ in delivery.sent)
    if delivery.sent:
        con.print(
            f"Allocation mail: sent {len(delivery.sent)} message(s) "
            f"({attached} workbook(s) attached)"
        )
    elif not delivery.failed:
        con.print(f"Allocation mail for {cycle}: nothing new to send")
    for msg, error in delivery.failed:
        con.print(
            f"[red]not sent[/] to {_escape(msg.email)}: {_escape(error)} "
            "(sent by the next --notify)"
        )
    _report_unsendable(delivery.unsendable)
    return len(delivery.failed)


def _report_unsendable(unsendable: list[Any]) -> None:
    con = err_console()
    for u in unsendable:
        con.print(
            f"[yellow]nobody to tell[/] for {u.item_id} as {_escape(u.role)}: {_escape(u.reason)}"
        )


def _allocation_table(result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"Allocations {result.cycle}", title_justify="left")
    for h in ("Audit ID", "Case ID", "Type", "Team", "Worker", "Auditor", "Role", "Tool", "Due"):
        table.add_column(h, no_wrap=h in ("Audit ID", "Case ID", "Due"))
    for a in result.allocations:
        table.add_row(
            a.audit_id,
            a.case_id or ("(the service picks)" if a.picked_by == "service" else ""),
            a.type if not a.reaudit_round else f"{a.type} {a.reaudit_round}",
            a.team,
            a.worker,
            a.auditor,
            a.auditor_role,
            a.tool,
            _uk(a.due),
        )
    console = out_console()
    if not console.is_terminal:
        console.width = 200  # a pipe or file: do not squeeze the columns to 80
    console.print(table)
    if result.moderation:
        mod = Table(title="Moderation (rule M1)", title_justify="left")
        for h in ("Audit ID", "Case ID", "Auditor", "Grade", "Why", "Moderator", "Due"):
            mod.add_column(h)
        for m in result.moderation:
            mod.add_row(
                m.audit_id,
                m.case_id,
                m.auditor,
                m.overall or "",
                m.reason,
                m.moderator,
                _uk(m.due),
            )
        console.print(mod)


# --- end allocate


# ================================================================== ingest
@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Returned workbooks, SurveyMonkey exports or folders.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report only; store nothing.")
    ] = False,
    unallocated: Annotated[
        bool,
        typer.Option(
            "--unallocated", help="Accept returns that match no allocation (marked unallocated)."
        ),
    ] = False,
    config: ConfigOpt = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Read returned audits, validate them and store them in the register.

    Each file is accepted whole or rejected whole with every problem listed;
    rejected files are left untouched. Exit 1 when any file was rejected.

    Example: qaf ingest returns/ --as-of 2026-12-31
    """
    from qaf.ingest import discover, ingest_paths
    from qaf.problems import QafError

    cfg = load(config)
    day = parse_as_of(as_of)
    total = len(discover(paths)) if sys.stderr.isatty() else 0  # for the progress bar
    try:
        if total >= 20:
            from rich.progress import Progress

            with Progress(console=err_console(), transient=True) as bar:
                task = bar.add_task("Ingesting", total=total)
                result = ingest_paths(
                    cfg,
                    paths,
                    as_of=day,
                    dry_run=dry_run,
                    unallocated=unallocated,
                    progress=lambda i, n: bar.update(task, completed=i),
                )
        else:
            result = ingest_paths(cfg, paths, as_of=day, dry_run=dry_run, unallocated=unallocated)
    except QafError as e:
        fail(str(e), e.exit_code)
    if fmt is Format.json:
        emit_json(result.as_json())
        _ingest_safety(result, None)
    elif fmt is Format.csv:
        _ingest_csv(result.as_json())
        _ingest_safety(result, None)
    else:
        _ingest_safety(result, out_console())
        _ingest_table(result)
        _ingest_notes(result)
    from qaf.ingest import counts_in_words

    summary = counts_in_words(result.counts())
    # plain text: a cron job's or script's run need not load rich for one line
    print(("Dry run (nothing stored): " if dry_run else "") + summary, file=sys.stderr)
    if not result.files and not result.skipped:
        where = ", ".join(str(p) for p in paths)
        print(f"No returned workbooks or SurveyMonkey exports found in {where}", file=sys.stderr)
    if result.rejected:
        raise typer.Exit(1)


def _ingest_csv(data: dict[str, Any]) -> None:
    import csv

    sys.stdout.write("\ufeff")  # a byte-order mark: Excel reads the accents of names
    w = csv.writer(sys.stdout)
    w.writerow(
        [
            "path",
            "ref",
            "status",
            "audit_id",
            "case_id",
            "overall",
            "rule",
            "level",
            "sheet",
            "cell",
            "message",
        ]
    )
    for f in data["files"]:
        base = [
            f["path"],
            f["ref"] or "",
            f["status"],
            f["audit_id"] or "",
            f["case_id"] or "",
            f["overall"] or "",
        ]
        if not f["problems"]:
            w.writerow([_inert(v) for v in [*base, "", "", "", "", ""]])
        for p in f["problems"]:
            w.writerow(
                [
                    _inert(v or "")
                    for v in [*base, p["rule"], p["level"], p["sheet"], p["cell"], p["message"]]
                ]
            )


def _inert(value: str) -> str:
    """Text that a spreadsheet would take for a formula is written as text (issue 7)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _ingest_safety(result: Any, console: Console | None) -> None:
    """Rule E3: each safety concern on a line of its own, before anything else (on
    ``console``, by default standard error)."""
    for notice in result.safety_notices():
        console = console or err_console()
        console.print(f"[bold red]{_escape(notice.message())}[/]")


def _ingest_notes(result: Any) -> None:
    """The alerts the run raised (E1, E2 ...) and the files skipped, a short line each."""
    console = out_console()
    for f in result.files:
        for line in f.alerts:
            console.print(f"Alert {_escape(line)}")
    for path, why in result.skipped:
        console.print(f"Skipped {_escape(Path(path).name)}: {_escape(why)}")


def _ingest_table(result: Any) -> None:
    from rich.table import Table

    counts = result.counts()
    console = out_console()
    summary = Table(title="Ingest", show_header=True, title_justify="left")
    for k in counts:
        summary.add_column(k, justify="right")
    summary.add_row(*(str(v) for v in counts.values()))
    console.print(summary)
    files = Table(show_header=True, title_justify="left")
    for col in ("file", "status", "audit", "case", "overall"):
        files.add_column(col)
    for f in result.files:
        name = Path(f.path).name + (f" ({f.ref})" if f.ref else "")
        files.add_row(
            _escape(name),
            f.status,
            _escape(f.audit_id or ""),
            _escape(f.case_id or ""),
            f.overall or "",
        )
    console.print(files)
    rows = result.listed_problems()
    if rows:
        if not console.is_terminal:
            # cron, a log or a pipe: rich would wrap each message to the columns an 80-wide
            # table leaves; one problem a line is what a reader (or grep) wants there
            console.width = max(80, _problem_table_width(rows))
        probs = Table(title="Problems", show_header=True, title_justify="left")
        for col in ("file", "sheet", "cell", "rule", "level", "message"):
            probs.add_column(col)
        for f, p in rows:
            name = Path(f.path).name + (f" ({f.ref})" if f.ref else "")
            style = "red" if p.level == "error" else "yellow"
            probs.add_row(
                _escape(name),
                _escape(p.sheet or ""),
                p.cell or "",
                p.rule,
                f"[{style}]{p.level}[/]",
                _escape(p.message),
            )
        console.print(probs)


def _problem_table_width(rows: list[Any]) -> int:
    """Columns the ingest problems table needs for one problem a line."""
    widths = [4, 5, 4, 4, 7, 7]  # the headers (file ... message), "warning"
    for f, p in rows:
        name = Path(f.path).name + (f" ({f.ref})" if f.ref else "")
        cells = (name, p.sheet or "", p.cell or "", p.rule, p.level, p.message)
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]
    return sum(widths) + 3 * len(widths) + 1  # padding and borders


# --- end ingest


# ================================================================= overdue
# Exit codes of overdue / extend / done (README "Running from cron"):
#   overdue: 0 ran (late items are listed; nothing printed when none, but at a terminal);
#            1 --fail-on-overdue and something is late, or a message could not be sent;
#            2 configuration, register or roster error, or the lock is held too long.
#   extend:  0 recorded; 1 refused under rule T6 (reason given); 2 unknown audit, bad date.
#   done:    0 recorded (or already done); 2 unknown or unclosable item, bad date.

LOCK_WAIT_SECONDS = 600.0


def _calendar(cfg: Config) -> Any:
    from qaf.calendar import WorkingCalendar

    return WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)


def _roster(cfg: Config) -> Any:
    from qaf.problems import QafError
    from qaf.sources import read_staff

    try:
        return read_staff(cfg.staff, cfg.limits)
    except QafError as e:
        fail(str(e), e.exit_code)


def _register(cfg: Config) -> Any:
    from qaf.problems import QafError
    from qaf.register import Register

    try:
        return Register.open(cfg.register_path, create=False)
    except QafError as e:
        fail(str(e), e.exit_code)


def _parse_day(value: str, option: str) -> date:
    from qaf.calendar import parse_day

    try:
        return parse_day(value)
    except ValueError as e:
        fail(f"{option}: {e}")


def overdue_items(reg: Any, roster: Any, cfg: Config, calendar: Any, as_of: date) -> list[Any]:
    """Everything late on ``as_of`` (one register query per kind, then pure rules)."""
    from qaf.calendar import parse_duration
    from qaf.disputes import dispute_pending
    from qaf.escalate import compute_overdue

    moderation_window = parse_duration(cfg.moderation.due)

    def moderation_due(cycle: str) -> date:
        start, _ = calendar.cycle_window(cycle)
        return calendar.add(start, moderation_window)

    late = reg.late_return_deadlines(as_of) if cfg.escalation.repeat_late_return else None
    pending = reg.pending(as_of, moderation_due)
    pending += dispute_pending(reg, cfg, calendar, roster, as_of)
    return compute_overdue(as_of, pending, roster, cfg, calendar, late_before=late)


def pending_alerts(reg: Any, as_of: date) -> list[Any]:
    """Alerts raised by returns (rules E1, E2) not yet e-mailed on ``as_of``."""
    from qaf.escalate import alert_window, alerts_to_send

    return alerts_to_send(reg.unsent_alerts(*alert_window(as_of)), as_of)


def _notify_text(n: Any) -> str:
    r = n.recipient
    if r.resolved:
        return f"{r.name} ({r.role}, L{n.level})"
    return f"NOBODY: {r.role} (L{n.level})"


def _print_overdue(items: list[Any], as_of: date) -> None:
    """A plain aligned table: fast for thousands of rows, readable in a cron e-mail."""
    head = ("Item", "Kind", "Case", "Responsible", "Due", "WD late", "Level", "Tell")
    rows = [
        (
            it.id,
            it.kind,
            it.case_id or "-",  # a staff audit, or a case the service has not named yet
            it.responsible,
            _uk(it.due),
            str(it.working_days_late),
            str(it.level),
            "; ".join(_notify_text(n) for n in it.notify) or "-",
        )
        for it in items
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]

    def line(cells: tuple[str, ...]) -> str:
        return (
            "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True))
            + "  "
            + cells[-1]
        )

    n = len(items)
    out = [f"Overdue on {_uk(as_of)}: {n} item{'s' if n != 1 else ''}", line(head)]
    out += [line(r) for r in rows]
    sys.stdout.write("\n".join(out) + "\n")


def _print_alerts(alerts: list[Any], sending: bool) -> None:
    """The grade alerts (E1, E2) this run e-mails, or would with --notify."""
    head = ("Item", "Rule", "Case", "Received", "Tell", "Why")
    rows = [
        (
            a.item_id,
            a.rule,
            a.case_id,
            _uk(a.received_on),
            f"{a.recipient.name} ({a.recipient.role})"
            if a.recipient.resolved
            else f"NOBODY: {a.recipient.role}",
            a.reason,
        )
        for a in alerts
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True)) + (
            "  " + cells[-1]
        )

    title = "Alerts e-mailed now" if sending else "Alerts to e-mail (with --notify)"
    out = [f"{title}: {len(alerts)}", line(head), *(line(r) for r in rows)]
    sys.stdout.write("\n".join(out) + "\n")


def _write_overdue_csv(items: list[Any], alerts: list[Any]) -> None:
    import csv

    from qaf.overdue_csv import overdue_rows

    # A byte-order mark, as on the allocation CSV: without it Excel reads UTF-8 as ANSI and
    # garbles accented names ("Róisín") when the output is saved to a file and opened.
    sys.stdout.write("\ufeff")
    csv.writer(sys.stdout, lineterminator="\n").writerows(overdue_rows(items, alerts))


def _interactive() -> bool:
    """True when a person is reading stdout (a terminal), not cron or a pipe."""
    return sys.stdout.isatty()


@app.command()
def overdue(
    config: ConfigOpt = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = Format.table,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify",
            help="Send each recipient one message with all their new escalations and grade "
            "alerts (.eml files in the outbox, or SMTP when [smtp] is configured); each is "
            "sent once.",
        ),
    ] = False,
    fail_on_overdue: Annotated[
        bool, typer.Option("--fail-on-overdue", help="Exit 1 when anything is late (for cron).")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print nothing when nothing is late, even at a terminal."
        ),
    ] = False,
    lock_wait: Annotated[
        float,
        typer.Option("--lock-wait", help="Seconds to wait for another run to finish.", hidden=True),
    ] = LOCK_WAIT_SECONDS,
) -> None:
    """List everything late, the escalation level reached and who must be told.

    Also lists the alerts raised by returns (grade, re-audit: rules E1, E2) not yet
    e-mailed; --notify sends them with the escalations, each once. --format csv: one
    row per late item and per alert, the column "kind" telling them apart.
    When nothing is late and no alert is waiting it prints nothing (exit 0), so cron
    mails only bad news; at a terminal it says so (--quiet: not even then). Rules T1-T7, E1-E3, M1.

    Example: qaf overdue --notify --fail-on-overdue --quiet
    """
    from qaf.runlock import LockTimeout, held

    cfg = load(config)
    day = parse_as_of(as_of)
    calendar = _calendar(cfg)
    roster = _roster(cfg)
    if not cfg.register_path.exists():
        _register(cfg)  # "no register ...: run qaf allocate first", before a lock file is made
    lock_path = cfg.register_path.with_name(cfg.register_path.name + ".overdue.lock")
    failed = 0
    try:
        with held(lock_path, lock_wait):
            reg = _register(cfg)
            try:
                items = overdue_items(reg, roster, cfg, calendar, day)
                alerts = pending_alerts(reg, day)
                delivery = None
                if notify:
                    delivery = _send(items, reg, cfg, day, alerts)
            finally:
                reg.close()
    except LockTimeout:
        fail(
            f"another `qaf overdue` is still running (lock {lock_path} held for {lock_wait:g} s)",
            2,
        )
    if fmt is Format.json:
        data: dict[str, Any] = {
            "as_of": day.isoformat(),
            "items": [it.as_json() for it in items],
            "alerts": [a.as_json() for a in alerts],
        }
        if delivery is not None:
            data["sent"] = delivery.sent_keys
            data["messages"] = len(delivery.sent)
            data["failed"] = [{"email": m.email, "error": e} for m, e in delivery.failed]
        emit_json(data)
    elif fmt is Format.csv:
        _write_overdue_csv(items, alerts)
    else:
        if items:
            _print_overdue(items, day)
        if alerts:
            _print_alerts(alerts, sending=notify)
        if not items and not alerts and not quiet and _interactive():
            sys.stdout.write(f"Nothing is overdue on {_uk(day)}.\n")
    if delivery is not None:
        failed = _report_delivery(delivery)
    if failed:
        raise typer.Exit(1)
    if fail_on_overdue and items:
        raise typer.Exit(1)


def _send(items: list[Any], reg: Any, cfg: Config, day: date, alerts: list[Any]) -> Any:
    from qaf.notify import NotifyError, notify_overdue

    try:
        return notify_overdue(items, register=reg, cfg=cfg, as_of=day, alerts=alerts)
    except NotifyError as e:
        fail(str(e), 2)


def _report_delivery(delivery: Any) -> int:
    con = err_console()
    if delivery.sent:
        alerts = sum(1 for m, _ in delivery.sent for key in m.keys if key[0].startswith("alert:"))
        escalations = delivery.sent_keys - alerts
        parts = [f"{escalations} escalation(s)"] if escalations else []
        what = " and ".join(parts + ([f"{alerts} alert(s)"] if alerts else []))
        con.print(f"sent {len(delivery.sent)} message(s) carrying {what}")
    for msg, error in delivery.failed:
        con.print(f"[red]not sent[/] to {_escape(msg.email)}: {_escape(error)} (retried next run)")
    seen: set[tuple[str, str]] = set()
    for u in delivery.unsendable:
        if (u.item_id, u.role) in seen:
            continue
        seen.add((u.item_id, u.role))
        con.print(
            f"[yellow]nobody to tell[/] for {u.item_id} as {_escape(u.role)}: {_escape(u.reason)}"
        )
    return len(delivery.failed)


@app.command()
def extend(
    audit_id: Annotated[str, typer.Argument(help="The allocation's audit ID.")],
    to: Annotated[str, typer.Option("--to", help="New deadline, dd/mm/yyyy or YYYY-MM-DD.")],
    agreed_by: Annotated[
        str, typer.Option("--agreed-by", help="Who agreed it (a Head of Service, rule T6).")
    ],
    on: Annotated[
        str | None, typer.Option("--on", help="Day it was agreed (default today).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Move an audit's deadline, as agreed by a Head of Service before the deadline (T6).

    Exit 1 when the extension is refused (the reason is given), 2 for an unknown audit ID.

    Example: qaf extend A-2026-12-0007 --to 2027-01-15 --agreed-by "Hal Head"
    """
    from qaf.escalate import check_extension

    cfg = load(config)
    new_due = _parse_day(to, "--to")
    agreed_on = _parse_day(on, "--on") if on else date.today()
    roster = _roster(cfg)
    reg = _register(cfg)
    try:
        found = reg.deadline(audit_id)
        if found is None:
            fail(f'no allocation with audit ID "{audit_id}" in the register')
        _alloc, current, returned = found
        decision = check_extension(
            current_due=current,
            new_due=new_due,
            agreed_by=agreed_by,
            agreed_on=agreed_on,
            returned=returned,
            roster=roster,
            cfg=cfg,
        )
        if not decision.ok:
            err_console().print(f"[bold red]Refused:[/] {_escape(decision.reason)}")
            raise typer.Exit(1)
        person = roster.by_name(agreed_by)
        reg.add_extension(audit_id, current, new_due, person.name, agreed_on)
    finally:
        reg.close()
    err_console().print(f"{audit_id}: {_escape(decision.reason)}")


@app.command()
def done(
    item: Annotated[str, typer.Argument(help="Item id as `qaf overdue` shows it (discussion:42).")],
    on: Annotated[str | None, typer.Option("--on", help="Day it was done (default today).")] = None,
    by: Annotated[str, typer.Option("--by", help="Who did it.")] = "",
    note: Annotated[str, typer.Option("--note", help="A short note.")] = "",
    amend: Annotated[
        str,
        typer.Option(
            "--amend",
            help="With a QA check: what the auditor must amend; opens an amendments item "
            "due in timescales.amendments (rule T1).",
        ),
    ] = "",
    config: ConfigOpt = None,
) -> None:
    """Record a discussion held, an action completed, a form returned, a safety concern
    acknowledged or a moderation done. Late returns close themselves when ingested.
    A QA check done with --amend sends the return back to its auditor (rule T1).

    Example: qaf done discussion:42 --on 2027-01-08 --by "Tia Manager"
    """
    from qaf.escalate import DISPUTE, LATE_RETURN, MODERATION, QA_CHECK, parse_item_id

    cfg = load(config)
    day = _parse_day(on, "--on") if on else date.today()
    try:
        kind, ref = parse_item_id(item)
    except ValueError as e:
        fail(str(e))
    if kind == DISPUTE:
        fail(f"{item} moves on with `qaf dispute advance` and closes with `qaf dispute resolve`")
    if kind == LATE_RETURN:
        fail(
            f"{item} closes by itself when the return is ingested (`qaf ingest`); "
            "to move its deadline use `qaf extend`"
        )
    if amend.strip() and kind != QA_CHECK:
        fail(f"--amend: only a QA check (qa-check:N) asks for amendments (rule T1), not {item}")
    reg = _register(cfg)
    con = err_console()
    try:
        if kind == MODERATION and "@" in ref:
            audit_id, _, cycle = ref.partition("@")
            row = reg.moderation(audit_id, cycle)
            if row is None:
                fail(f"no moderation {item} in the register")
            if row["done_on"]:
                con.print(f"{item} was already done on {_uk(row['done_on'])}")
                return
            reg.close_moderation(audit_id, cycle, day, note)
            con.print(f"{item} done on {_uk(day)}")
            return
        if not ref.isdigit():
            fail(f"no item {item} in the register (`qaf overdue` lists the items and their IDs)")
        found = reg.followup(int(ref))
        if found is None or found[0].kind != kind:
            fail(f"no item {item} in the register (`qaf overdue` lists the items and their IDs)")
        followup, _by = found
        if followup.done_on is not None:
            con.print(f"{item} was already done on {_uk(followup.done_on)}")
            return
        if amend.strip():
            _request_amendments(reg, cfg, followup, int(ref), day, by, note, amend.strip())
            return
        reg.close_followup(int(ref), day, by, note)
        con.print(f"{item} ({followup.case_id}) done on {_uk(day)}")
    finally:
        reg.close()


def _request_amendments(
    reg: Any, cfg: Config, qa_check: Any, ref: int, day: date, by: str, note: str, what: str
) -> None:
    """Rule T1: close the QA check and ask the return's auditor for an amended return."""
    from qaf.escalate import amendments_request

    current = reg.current_return(qa_check.audit_id) if qa_check.audit_id else None
    auditor = current["auditor"] if current is not None else ""
    request = amendments_request(
        qa_check, auditor=auditor, on=day, what=what, cfg=cfg, calendar=_calendar(cfg)
    )
    new_id = reg.request_amendments(ref, day, by, note or f"amendments asked: {what}", request)
    err_console().print(
        f"qa-check:{ref} ({qa_check.case_id}) done on {_uk(day)}; amendments:{new_id} "
        f"asked of {_escape(request.responsible)}, due {_uk(request.due)} (rule T1)"
    )


# --- end overdue


# ================================================================== report
class ReportFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"


# Options whose value may be left out ("--quarter" alone = the last complete quarter).
OPTIONAL_VALUE_OPTIONS = ("--month", "--quarter")


class DisputeFormat(StrEnum):
    table = "table"
    json = "json"


DisputeFormatOpt = Annotated[
    DisputeFormat,
    typer.Option("--format", "-f", help="table: a message on stderr; json: also the result."),
]


def _stage_text(state: Any) -> str:
    return (
        f'stage {state.stage} of {state.stages} "{state.stage_name}" '
        f"({state.responsible_role}), due {_uk(state.due)}"
    )


def _dispute_step(config: Path | None, on: str | None, step: Any) -> tuple[Any, date]:
    """Run one dispute step, ``step(register, cfg, day)``, on the register; a refusal is
    the error's message and exit code."""
    from qaf.problems import QafError

    cfg = load(config)
    day = _parse_day(on, "--on") if on else date.today()
    reg = _register(cfg)
    try:
        return step(reg, cfg, day), day
    except QafError as e:
        fail(str(e), e.exit_code)
    finally:
        reg.close()


def _dispute_done(result: Any, message: str, fmt: DisputeFormat) -> None:
    """The step's message on stderr; with --format json its result on stdout."""
    err_console().print(_escape(message))
    if fmt is DisputeFormat.json:
        emit_json(result.as_json())


@dispute_app.command("open")
def dispute_open(
    audit_id: Annotated[str, typer.Argument(help="The disputed return's audit ID.")],
    by: Annotated[str, typer.Option("--by", help="Who raised the dispute.")],
    on: Annotated[
        str | None, typer.Option("--on", help="Day it was raised (default today).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="What is disputed.")] = "",
    fmt: DisputeFormatOpt = DisputeFormat.table,
    config: ConfigOpt = None,
) -> None:
    """Open a dispute of an ingested return's grading at the first configured stage.

    Exit 2 when no [[dispute.stage]] is configured, the audit ID has no stored return, or
    a dispute of it is already open.

    Example: qaf dispute open A-2026-12-0007 --by "Tia Manager" --note "overall grade"
    """
    from qaf.disputes import open_dispute

    state, _ = _dispute_step(
        config,
        on,
        lambda reg, cfg, day: open_dispute(
            reg, cfg, _calendar(cfg), audit_id, by=by, on=day, note=note
        ),
    )
    _dispute_done(state, f"{state.item_id} opened on {state.audit_id}: {_stage_text(state)}", fmt)


@dispute_app.command("advance")
def dispute_advance(
    audit_id: Annotated[str, typer.Argument(help="The disputed return's audit ID.")],
    on: Annotated[
        str | None, typer.Option("--on", help="Day the next stage starts (default today).")
    ] = None,
    fmt: DisputeFormatOpt = DisputeFormat.table,
    config: ConfigOpt = None,
) -> None:
    """Move an open dispute to its next stage (unresolved at this one). Exit 2 past the
    last stage, or when the audit ID has no open dispute.

    Example: qaf dispute advance A-2026-12-0007 --on 2027-01-12
    """
    from qaf.disputes import advance_dispute

    state, _ = _dispute_step(
        config,
        on,
        lambda reg, cfg, day: advance_dispute(reg, cfg, _calendar(cfg), audit_id, on=day),
    )
    _dispute_done(state, f"{state.item_id} on {state.audit_id}: {_stage_text(state)}", fmt)


@dispute_app.command("resolve")
def dispute_resolve(
    audit_id: Annotated[str, typer.Argument(help="The disputed return's audit ID.")],
    outcome: Annotated[str, typer.Option("--outcome", help="How it ended.")],
    on: Annotated[
        str | None, typer.Option("--on", help="Day it was resolved (default today).")
    ] = None,
    fmt: DisputeFormatOpt = DisputeFormat.table,
    config: ConfigOpt = None,
) -> None:
    """Close an open dispute with its outcome; `qaf overdue` stops chasing it.

    Example: qaf dispute resolve A-2026-12-0007 --outcome "grade kept: Good"
    """
    from qaf.disputes import resolve_dispute

    done, day = _dispute_step(
        config,
        on,
        lambda reg, cfg, day: resolve_dispute(reg, audit_id, outcome=outcome, on=day),
    )
    message = f"{done.item_id} on {done.audit_id} resolved on {_uk(day)}: {done.outcome}"
    _dispute_done(done, message, fmt)


@dispute_app.command("list")
def dispute_list(
    config: ConfigOpt = None,
    as_of: AsOfOpt = None,
    fmt: DisputeFormatOpt = DisputeFormat.table,
) -> None:
    """List the disputes open on a day: their stage on that day, its due date, who is
    responsible (the stage's role for the case, from the roster), and working days late.
    Exit 2 when no [[dispute.stage]] is configured.

    Example: qaf dispute list --format json
    """
    from qaf.disputes import list_disputes
    from qaf.problems import QafError

    cfg = load(config)
    day = parse_as_of(as_of)
    roster = _roster(cfg)
    reg = _register(cfg)
    try:
        listing = list_disputes(reg, cfg, _calendar(cfg), roster, day)
    except QafError as e:
        fail(str(e), e.exit_code)
    finally:
        reg.close()
    if fmt is DisputeFormat.json:
        emit_json(listing.as_json())
    else:
        _print_disputes(listing)


def _print_disputes(listing: Any) -> None:
    day = _uk(listing.as_of)
    if not listing.disputes:
        sys.stdout.write(f"No dispute is open on {day}.\n")
        return
    head = ("Item", "Audit", "Case", "Stage", "Due", "WD late", "Responsible")
    rows = [
        (
            d.state.item_id,
            d.state.audit_id,
            d.case_id,
            f"{d.state.stage} of {d.state.stages}: {d.state.stage_name}",
            _uk(d.state.due),
            str(d.working_days_late),
            f"{d.responsible} ({d.state.responsible_role})"
            if d.responsible != d.state.responsible_role
            else f"NOBODY: {d.responsible}",
        )
        for d in listing.disputes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = [f"Disputes open on {day}: {len(rows)}"]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (head, *rows)
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def fill_optional_values(argv: list[str]) -> list[str]:
    """``--month`` / ``--quarter`` given without a value get the value "last".

    typer cannot declare an option whose value is optional, so ``main`` rewrites the
    command line before parsing; ``--quarter last`` is accepted as well.
    """
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg in OPTIONAL_VALUE_OPTIONS and "report" in argv[:i]:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is None or nxt.startswith("-"):
                out.append("last")
    return out


@app.command()
def report(
    month: Annotated[
        str | None,
        typer.Option(
            "--month",
            help="Monthly report for YYYY-MM; alone (or 'last'): the last complete month.",
        ),
    ] = None,
    quarter: Annotated[
        str | None,
        typer.Option(
            "--quarter",
            help="Quarterly report for YYYYQn; alone (or 'last'): the last complete quarter.",
        ),
    ] = None,
    year: Annotated[
        str | None,
        typer.Option("--year", help="Annual report for YYYY (financial year when configured)."),
    ] = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="md, html, or json (the pack's data, to stdout)."),
    ] = ReportFormat.html,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="File to write (default: reports/<period>.<format>; json: standard output).",
        ),
    ] = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the monthly, quarterly or annual report pack (Markdown or HTML), or print its
    data as JSON (the same figures, small counts suppressed, rule P3).

    Example: qaf report --quarter 2026Q3 --format html --out dmt-2026Q3.html
    """
    import time

    from qaf import report as rp
    from qaf.problems import QafError
    from qaf.register import Register

    chosen = [(k, v) for k, v in (("month", month), ("quarter", quarter), ("year", year)) if v]
    if len(chosen) != 1:
        fail("give exactly one of --month, --quarter or --year")
    kind, value = chosen[0]
    cfg = load(config)
    today = parse_as_of(as_of)
    try:
        period = rp.parse_period(
            kind,  # type: ignore[arg-type]
            value,
            as_of=today,
            financial_year=cfg.report.financial_year,
        )
    except ValueError as e:
        fail(f"--{kind}: {e}")
    started = time.perf_counter()
    try:
        with Register.open(cfg.register_path, create=False) as reg:
            scope = rp.report_scope(period, today)
            rows = reg.report_rows(scope)
            later = reg.returns_received_after(scope.cycles, today)
        data = rp.build_report(rows, period, cfg, as_of=today)
        if fmt is ReportFormat.json:
            text = json.dumps(rp.report_json(data), indent=2, ensure_ascii=False) + "\n"
        else:
            text = rp.render(data, "md" if fmt is ReportFormat.md else "html", config_root=cfg.root)
    except QafError as e:
        fail(str(e), e.exit_code)
    except Exception as e:  # a broken council template is a usage problem, not a crash
        import jinja2

        if isinstance(e, jinja2.TemplateError):
            fail(f"report template: {e}")
        raise
    con = err_console()
    summary = (
        f"{_escape(period.label)}: {data.completion.returned} returns of "
        f"{data.completion.allocated} allocated ({time.perf_counter() - started:.2f} s)"
    )
    if later:
        summary += (
            f"\n  {later} more {'return was' if later == 1 else 'returns were'} received after "
            f"{_uk(today)} and {'is' if later == 1 else 'are'} not counted (see --as-of)"
        )
    elif not data.completion.allocated and not data.completion.returned:
        summary += "\n  no cycle was allocated and no return received in this period"
    if fmt is ReportFormat.json and out is None:
        con.print(summary)
        sys.stdout.write(text)
        return
    target = out or cfg.root / "reports" / f"{period.key}.{fmt.value}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    con.print(summary)
    sys.stdout.write(f"{target}\n")


@app.command()
def export(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Workbook to write (default: register.xlsx by qaf.toml)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Write the whole register as the tracker workbook QA teams keep.

    Sheets: Allocations, Returns (overall and domain grades), Actions, Escalations, Moderation.

    Example: qaf export --out register.xlsx
    """
    from qaf.export import export_register
    from qaf.problems import QafError
    from qaf.register import Register

    cfg = load(config)
    target = out or cfg.root / "register.xlsx"
    try:
        with Register.open(cfg.register_path, create=False) as reg:
            counts = export_register(reg, target, tools=cfg.tools)
    except QafError as e:
        fail(str(e), e.exit_code)
    con = err_console()
    con.print(", ".join(f"{sheet}: {n} rows" for sheet, n in counts.items()))
    sys.stdout.write(f"{target}\n")


@app.command()
def moderate(
    audit_id: Annotated[str, typer.Argument(help="The audit ID of the moderated return.")],
    grade: Annotated[str, typer.Option("--grade", "-g", help="The moderator's overall grade.")],
    by: Annotated[str, typer.Option("--by", help="The moderator's name.")],
    note: Annotated[str, typer.Option("--note", help="The moderator's note.")] = "",
    on: Annotated[
        str | None,
        typer.Option("--on", help="Date moderated, dd/mm/yyyy or YYYY-MM-DD (default today)."),
    ] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Record the moderator's grade for a returned audit (rule M1).

    Example: qaf moderate A-2026-10-0007 --grade "Requires Improvement" --by "Q. Officer"
    """
    from qaf.grades import GradeError
    from qaf.problems import QafError
    from qaf.register import Register

    cfg = load(config)
    day = _parse_day(on, "--on") if on else date.today()
    if not by.strip():
        fail("--by: the moderator's name is needed")
    try:
        with Register.open(cfg.register_path, create=False) as reg:
            ret = reg.current_return(audit_id)
            if ret is None:
                fail(f'no returned audit "{audit_id}" in the register')
            tool = cfg.tools.get(ret["tool"])
            scale = tool.scale if tool is not None else cfg.grade_scale
            try:
                parsed = scale.parse(grade)
            except GradeError as e:
                fail(f"--grade: {e} (rule G1)")
            done = reg.record_moderation(
                audit_id, moderator=by.strip(), moderator_grade=parsed, done_on=day, note=note
            )
    except QafError as e:
        fail(str(e), e.exit_code)
    agree = None if done.auditor_grade is None else done.auditor_grade == done.moderator_grade
    if fmt is Format.json:
        emit_json(
            {
                "audit_id": done.audit_id,
                "case_id": done.case_id,
                "auditor_grade": done.auditor_grade,
                "moderator_grade": done.moderator_grade,
                "agree": agree,
                "sampled": done.sampled,
                "replaced": done.previous is not None,
                "followups_closed": done.followups_closed,
            }
        )
        return
    con = err_console()
    verdict = {True: "agrees with", False: "differs from", None: "recorded; no"}[agree]
    con.print(
        f"{_escape(done.audit_id)} (case {_escape(done.case_id)}): moderator grade "
        f"{_escape(done.moderator_grade)} {verdict} the auditor's "
        f"{_escape(done.auditor_grade or 'grade')}"
    )
    if not done.sampled:
        con.print("  note: this audit was not in the moderation sample; recorded anyway")
    if done.previous is not None:
        g, who, when = done.previous
        con.print(
            f"  replaced the earlier moderation: {_escape(g)} by {_escape(who)} on {_uk(when)}"
        )


# --- end report


# ============================================================= maintenance


@app.command()
def backup(
    dest: Annotated[
        str | None,
        typer.Argument(help="File or existing folder for the copy (default: backups/ beside it)."),
    ] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Copy the register safely, even while another qaf command is writing to it.

    Uses SQLite's online backup API, then checks the copy. Keep the register on a local
    disk and put its backups on the shared drive.

    Example: qaf backup //fileserver/qa/register-backups/
    """
    from qaf.maintenance import backup as backup_register
    from qaf.problems import QafError

    cfg = load(config)
    try:
        result = backup_register(cfg.register_path, dest)
    except QafError as e:
        fail(str(e), e.exit_code)
    if fmt is Format.json:
        emit_json(result.as_json())
    else:
        err_console().print(
            f"Backed up {_escape(result.register)} to {_escape(result.backup)} "
            f"({result.bytes:,} bytes, integrity {_escape(result.integrity)})"
        )
    if result.integrity != "ok":
        raise typer.Exit(1)


@app.command()
def check(config: ConfigOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Check the register: integrity, foreign keys and orphan rows.

    Read only. Exit 1 when anything is wrong (restore the latest `qaf backup`).

    Example: qaf check --format json
    """
    from qaf.maintenance import check as check_register
    from qaf.problems import QafError

    cfg = load(config)
    try:
        result = check_register(cfg.register_path)
    except QafError as e:
        fail(str(e), e.exit_code)
    if fmt is Format.json:
        emit_json(result.as_json())
    else:
        con = out_console()
        if result.ok:
            con.print(f"Register {_escape(result.register)}: ok")
        for f in result.findings:
            con.print(f"[red]{f.check}[/]: {_escape(f.message)}")
    if not result.ok:
        raise typer.Exit(1)


# ==================================================================== demo
@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the sample authority.")] = Path(
        "qaf-demo"
    ),
) -> None:
    """Run a quarter of audit cycles on the fictional sample authority; leave the outputs to read.

    Example: qaf demo qaf-demo
    """
    from qaf.demo import run_demo
    from qaf.problems import QafError

    con = err_console()
    try:
        run_demo(directory, say=lambda line: con.print(_escape(line)))
    except QafError as e:
        fail(str(e), e.exit_code)


# --- end demo


# The last allocation run, kept until the process ends: freeing a whole authority's case
# list (a million objects) as the command returned took 40 ms of ``qaf allocate``, and
# :func:`leave` ends the process without freeing anything.
_kept: list[Any] = []


def main() -> NoReturn:
    """The ``qaf`` command: run it, flush what it said, and leave with ``os._exit``.

    The interpreter's own exit frees every object one by one: after ``qaf allocate`` that
    is a million (the case list), about 50 ms (issue 8). Nothing is left for it to
    do: registers are closed, files written and closed, worker processes and threads
    joined by the commands themselves; only the standard streams need flushing. The
    tests drive ``app`` through CliRunner, which never comes here.
    """
    _streams_open()
    args = fill_optional_values(sys.argv[1:])
    try:
        app_for(args)(args=args)
        code = 0
    except SystemExit as e:
        code = exit_status(e.code)
    except KeyboardInterrupt:
        code = _said(STOPPED, 130)
    except BrokenPipeError:
        code = 1  # the reader of the output went away (`| head`): nothing to tell it
    except OSError as e:  # the output could not be written (a full disk), or a file
        code = _said(f"Error: {e}", 2)
    leave(code)


def _streams_open() -> None:
    """A standard stream the command was started without (``qaf ... >&-``) is the null
    device: what would have been said there is lost, as asked, not a traceback."""
    import os

    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (to the end)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


STOPPED = (
    "Stopped (Ctrl-C). What was stored or recorded before is kept; run the same command "
    "again to finish it."
)


def _said(message: str, code: int) -> int:
    """Print ``message`` on stderr if it can be; ``code``."""
    import contextlib

    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(message, file=sys.stderr)
    return code


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app, with only the command ``args`` name when they start with one: typer builds a
    click command (signature, type hints, options) for every command it holds, about 13 ms
    of ``qaf allocate``'s start-up spent on the other sixteen. Anything else (no
    command, an option first, a group, a misspelt name) gets the whole app and its help
    or error."""
    import copy

    from typer.main import get_command_name

    if not args or args[0].startswith("-"):
        return app
    for info in app.registered_commands:
        if (
            info.callback is not None
            and (info.name or get_command_name(info.callback.__name__)) == args[0]
        ):
            only = copy.copy(app)
            only.registered_commands = [info]
            only.registered_groups = []
            return only
    return app


def exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` would give (a message is printed, as it would be)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def leave(code: int) -> NoReturn:
    """Flush stdout and stderr, then end the process without tearing the interpreter down."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader went away (`| head`): nobody to tell
            pass
        except (OSError, ValueError) as e:  # a full disk: the output is not all there
            if stream is sys.stdout:
                code = _said(f"Error: the output could not be written: {e}", 2)
    os._exit(code)
