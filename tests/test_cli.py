"""The CLI shell: help with examples, version, init and config check exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from qaf import __version__
from qaf.cli import app

runner = CliRunner()


def all_commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, prefix: str) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            out.append((prefix, cmd))

    walk(root, "")
    return out


@pytest.mark.parametrize(
    ("name", "command"), all_commands(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_command_has_help_with_an_example(name: str, command: Any) -> None:
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Example: qaf " in result.output, f"qaf {name} --help shows no example"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"qaf {__version__}"


def test_config_check_ok_and_json(small_dir: Path) -> None:
    result = runner.invoke(app, ["config", "check", "--config", str(small_dir), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"fraction": 0.1' in result.stdout
    assert '"open_cases": 2' in result.stdout


def test_config_check_bad_fraction_exits_2_naming_the_key(small_dir: Path) -> None:
    cfg = small_dir / "qaf.toml"
    cfg.write_text(cfg.read_text().replace("fraction = 0.10", "fraction = 1.5", 1))
    result = runner.invoke(app, ["config", "check", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "sample.fraction: 1.5 is not between 0 and 1" in result.stderr


def test_init_writes_a_working_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x" / "qaf.toml").exists()
    again = runner.invoke(app, ["init", str(tmp_path / "x")])
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_rule_I1_init_then_config_check_says_where_the_data_goes(tmp_path: Path) -> None:
    """Rule I1 (trial2 T2-2): `qaf init` says where the case list and roster go; `qaf config
    check` on the new folder names both missing files and how to fix it, exit 2."""
    folder = tmp_path / "x"
    result = runner.invoke(app, ["init", str(folder), "--framework", "haringey"])
    assert result.exit_code == 0, result.output
    assert (
        "Put your case-list export and staff roster where [cases] path and [staff] path "
        "point (data/), or point them at yours; `qaf demo .` tries qaf on the sample "
        "authority instead." in " ".join(result.stderr.split())
    )
    check = runner.invoke(app, ["config", "check", "--config", str(folder / "qaf.toml")])
    assert check.exit_code == 2
    data = folder / "data"
    assert " ".join(check.stderr.split()) == (
        f"Error: {folder / 'qaf.toml'}: cases.path: {data / 'cases.xlsx'} does not exist; "
        f"staff.path: {data / 'staff.csv'} does not exist. Put your case-list export and staff "
        "roster there, or set [cases] path and [staff] path in qaf.toml to where they are "
        "(`qaf demo .` tries qaf on the sample authority's)"
    )


def test_init_unknown_framework_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x"), "--framework", "atlantis"])
    assert result.exit_code == 2
    assert '"atlantis" is not a preset' in result.stderr


def test_config_check_warns_about_the_sample_authoritys_values_f2(small_dir: Path) -> None:
    """F2: a folder whose qaf.toml still has Northvale's name, sender, focus themes and
    practice weeks (rules C1, C3) is told so, once per setting; exit 0 (warnings)."""
    result = runner.invoke(app, ["config", "check", "--config", str(small_dir / "qaf.toml")])
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    for text in (
        "[P1] warning: organisation.name is still the sample authority's value (\"Northvale "
        "Borough Council\": set your council's name)",
        "[T3] warning: notify.sender is still the sample authority's value "
        '("qa-team@northvale.example": set the QA team\'s e-mail address)',
        "[C3] warning: cycle.focus is still the sample authority's value (the sample's focus "
        "themes: set yours, or {})",
        "[C1] warning: cycle.practice_weeks is still the sample authority's value (2027-06 came "
        "with the preset: set yours)",
    ):
        assert text in err


def test_init_leaves_placeholders_that_config_check_flags_f2(small_dir: Path) -> None:
    from qaf.workdir import own_council_text, preset_text

    result = runner.invoke(app, ["init", str(small_dir / "new")])
    assert result.exit_code == 0, result.output
    assert "they say CHANGE ME" in result.stderr
    text = (small_dir / "new" / "qaf.toml").read_text(encoding="utf-8")
    assert "Northvale" not in text.split("[notify]")[0].split("[organisation]")[1]
    assert 'name = "CHANGE ME: your council\'s name"' in text
    assert "northvale.example" not in text
    own = own_council_text(preset_text("generic")).replace("data/cases.xlsx", "data/cases.csv")
    (small_dir / "qaf.toml").write_text(own, encoding="utf-8")
    check = runner.invoke(app, ["config", "check", "--config", str(small_dir / "qaf.toml")])
    assert check.exit_code == 0, check.output
    err = " ".join(check.stderr.split())
    assert "organisation.name is still the sample authority's value (\"CHANGE ME" in err
    assert "notify.sender is still the sample authority's value (\"qa-team@change-me" in err
    assert "cycle.focus" not in err and "cycle.practice_weeks" not in err  # commented out


def test_demo_folder_keeps_the_sample_values_without_warnings_f2(small_dir: Path) -> None:
    from qaf.config import read_config
    from qaf.workdir import sample_leftovers

    cfg = read_config(small_dir / "qaf.toml")
    assert cfg.organisation.name == "Northvale Borough Council"
    assert sample_leftovers(cfg, ["ann.other@northvale.example"]) == []  # the demo roster
    assert len(sample_leftovers(cfg, ["ann.other@mycouncil.example"])) == 4


def test_run_counts_say_1_warning_not_1_warnings_f1() -> None:
    from qaf.ingest import counts_in_words

    assert counts_in_words({"accepted": 1, "rejected": 0, "warnings": 1}) == (
        "1 accepted, 0 rejected, 1 warning"
    )
    assert counts_in_words({"accepted": 2, "warnings": 0}) == "2 accepted, 0 warnings"


@pytest.mark.parametrize(
    "args",
    [
        ["allocate", "--help"],
        ["allocate"],  # missing --month: the usage error
        ["allocate", "--month", "2026-12", "--no-such-option"],
        ["ingest", "--help"],
        ["report", "--month"],  # an optional value, filled in before parsing
        ["allocat"],  # misspelt: the whole app's suggestion
        ["dispute", "--help"],
        ["config", "check", "--help"],
        ["--version"],
        [],
    ],
)
def test_the_command_line_with_only_the_named_command_behaves_as_the_whole_app(
    args: list[str],
) -> None:
    """`qaf X` builds only command X (start-up, issue 8): same output and exit code."""
    from qaf.cli import app_for, fill_optional_values

    argv = fill_optional_values(args)
    alone, whole = runner.invoke(app_for(argv), argv), runner.invoke(app, argv)
    assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output)
    if args[:1] == ["allocate"]:
        assert [c.callback.__name__ for c in app_for(argv).registered_commands] == ["allocate"]


def test_the_qaf_process_flushes_what_it_said_and_gives_the_exit_code() -> None:
    """The command ends with os._exit (qaf.cli.leave): its output still arrives in full,
    through a pipe, with the exit code the command chose."""
    import subprocess
    import sys

    ok = subprocess.run(
        [sys.executable, "-m", "qaf", "--version"], capture_output=True, text=True, check=False
    )
    assert (ok.returncode, ok.stdout) == (0, f"qaf {__version__}\n")
    wrong = subprocess.run(
        [sys.executable, "-m", "qaf", "allocat"], capture_output=True, text=True, check=False
    )
    assert wrong.returncode == 2 and "No such command 'allocat'" in wrong.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "qaf", "allocate", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert helped.returncode == 0 and helped.stdout.rstrip().endswith("Show this message and exit.")


class _Left(Exception):
    """Raised by the stand-in for qaf.cli.leave: the exit code main() chose."""


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (KeyboardInterrupt(), 130, "Stopped (Ctrl-C). What was stored or recorded before is kept"),
        (OSError(28, "No space left on device"), 2, "Error: [Errno 28] No space left on device"),
        (BrokenPipeError(32, "Broken pipe"), 1, ""),
    ],
)
def test_the_qaf_command_says_why_it_stopped_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    code: int,
    said: str,
) -> None:
    """Ctrl-C, a full disk or a closed pipe while writing the output (trial 3 F2, F4): a
    line saying so, not a traceback, and an exit code (130, 2, 1)."""
    import qaf.cli as cli

    def run(**_kwargs: object) -> None:
        raise raised

    def leave(got: int) -> None:
        raise _Left(got)

    monkeypatch.setattr(cli, "app_for", lambda _args: run)
    monkeypatch.setattr(cli, "leave", leave)
    monkeypatch.setattr("sys.argv", ["qaf", "ingest", "returns"])
    with pytest.raises(_Left) as left:
        cli.main()
    assert left.value.args == (code,)
    assert capsys.readouterr().err.startswith(said)


def test_output_to_a_reader_that_went_away_lets_the_command_finish() -> None:
    """Trial 3 F3: `qaf ingest | head -1` kept ingest's exit code only when rich did not
    exit 1 at the broken pipe; now the rest of the output goes nowhere and the command
    finishes with its own code."""
    import os

    from qaf.cli import out_console

    read, write = os.pipe()
    os.close(read)  # the reader has gone
    with os.fdopen(write, "w") as gone:
        console = out_console()
        console.file = gone
        console.print("a table row\n" * 20_000)  # more than a pipe holds: raises inside rich
        assert console.quiet
        console.print("what comes after is dropped, not an error")
