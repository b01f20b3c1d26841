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

import json
import sys
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
    str | None, typer.Option("--as-of", help="Act as if today were this date (YYYY-MM-DD).")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


# ------------------------------------------------------------------ helpers


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def out_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console().print(f"[bold red]Error:[/] {_escape(message)}")
    raise typer.Exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def load(config: Path | None) -> Config:
    from qaf.config import load_config
    from qaf.problems import QafError

    try:
        return load_config(config)
    except QafError as e:
        fail(str(e), e.exit_code)


def parse_as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f'--as-of: "{value}" is not a date (expected YYYY-MM-DD)')


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
    con.print(f"Next: cd {directory} && qaf config check")


# ------------------------------------------------------------------- config


@config_app.command("check")
def config_check(config: ConfigOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Validate qaf.toml and the files it names; print the effective configuration.

    Exit 0 when valid, 2 when the configuration is wrong, 1 when a source file has problems.

    Example: qaf config check --format json
    """
    from qaf.problems import QafError
    from qaf.workdir import check_sources, effective_config

    cfg = load(config)
    try:
        summary = check_sources(cfg)
    except QafError as e:
        fail(str(e), e.exit_code)
    data = effective_config(cfg)
    if fmt is Format.json:
        emit_json({"config": data, "sources": summary.as_json()})
    else:
        _print_config(data)
    con = err_console()
    con.print(f"[green]Configuration OK[/]: {cfg.path}")
    for line in summary.lines():
        con.print(f"  {_escape(line)}")
    for p in summary.problems:
        con.print(f"  [yellow]{_escape(str(p))}[/]")
    if any(p.level == "error" for p in summary.problems):
        raise typer.Exit(1)


def _print_config(data: dict[str, Any]) -> None:
    from rich.table import Table

    console = out_console()
    for section, values in data.items():
        table = Table(title=section, show_header=False, title_justify="left", expand=False)
        table.add_column("key", style="bold")
        table.add_column("value")
        if isinstance(values, dict):
            for k, v in values.items():
                table.add_row(str(k), _fmt_value(v))
        else:
            table.add_row(section, _fmt_value(values))
        console.print(table)


def _fmt_value(v: Any) -> str:
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


# ================================================================ allocate
@app.command()
def allocate(
    month: Annotated[str, typer.Option("--month", help="Cycle to allocate, YYYY-MM.")],
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Sample the cycle's cases and re-audits and allocate them to auditors.

    Example: qaf allocate --month 2026-12 --seed 7
    """
    not_built("allocate", 3)


# --- end allocate


# ================================================================== ingest
@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Returned workbooks, CSV exports or folders.")
    ],
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Read returned audits, validate them and store them in the register.

    Example: qaf ingest returns/
    """
    not_built("ingest", 4)


# --- end ingest


# ================================================================= overdue
@app.command()
def overdue(config: ConfigOpt = None, as_of: AsOfOpt = None, fmt: FormatOpt = Format.table) -> None:
    """List everything late, the escalation level reached and who must be told.

    Example: qaf overdue --notify --fail-on-overdue
    """
    not_built("overdue", 5)


# --- end overdue


# ================================================================== report
@app.command()
def report(config: ConfigOpt = None) -> None:
    """Write the monthly, quarterly or annual report pack (Markdown or HTML).

    Example: qaf report --quarter 2026Q3 --format html --out dmt-2026Q3.html
    """
    not_built("report", 6)


@app.command()
def export(config: ConfigOpt = None) -> None:
    """Write the whole register as the tracker workbook QA teams keep.

    Example: qaf export --out register.xlsx
    """
    not_built("export", 6)


# --- end report


# ==================================================================== demo
@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the sample authority.")] = Path(
        "qaf-demo"
    ),
) -> None:
    """Run a whole month on the fictional sample authority and leave the outputs to look at.

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


def main() -> None:
    app()
