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


def test_init_unknown_framework_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x"), "--framework", "atlantis"])
    assert result.exit_code == 2
    assert '"atlantis" is not a preset' in result.stderr
