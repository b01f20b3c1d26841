"""`qaf config check` prints a short summary in words by default (trial finding F6) and the
full effective configuration with --format json, equal to the library's (rules S1, A1, A2,
A4, M1, E1-E3, T4, T5, P3 shown one line each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.config import read_config
from qaf.config_summary import config_summary
from qaf.workdir import PRESETS, SourceSummary, check_sources, effective_config, preset_text

runner = CliRunner()


def check(folder: Path, *extra: str) -> object:
    from qaf.cli import app

    return runner.invoke(app, ["config", "check", "--config", str(folder / "qaf.toml"), *extra])


def test_default_output_is_a_short_summary_without_json(small_dir: Path) -> None:
    result = check(small_dir)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "{" not in out and "[]" not in out
    assert len(out.splitlines()) < 60
    flat = " ".join(out.split())
    for text in (
        "Organisation Northvale Borough Council",
        "Case list data/cases.csv 3 cases, 2 open",
        "Staff roster data/staff.csv 4 staff, 3 available today",
        "Sample 10% of eligible open cases a year, stratified by team",
        "Quotas (5) Team Manager each: 1 a cycle, outside own team, Case file audit (case-audit)",
        "Head of Service each: 1 a cycle, outside own service, Tier 1 generic audit tool "
        "(tier1-generic)",
        "Re-audit Requires Improvement, Inadequate re-audited after 1 cycle by a Service Manager",
        "Moderation 15% of returns, always Inadequate; by a QA Officer within 10 working days",
        "on grade Inadequate → Head of Service, Assistant Director;",
        "safety concern Team Manager, Head of Service",
        "late return after 2 working days → Service Manager, Head of Service;",
        "Report for DMT; figures below 5 hidden; calendar quarters",
        "Full configuration: qaf config check --format json",
    ):
        assert text in flat
    # the headline and exit codes are unchanged, on stderr
    assert result.stderr.splitlines()[0].startswith("Configuration OK")  # type: ignore[attr-defined]


def test_json_is_the_effective_configuration_and_the_source_summary(small_dir: Path) -> None:
    result = check(small_dir, "--format", "json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    cfg = read_config(small_dir / "qaf.toml")
    expected = {"config": effective_config(cfg), "sources": check_sources(cfg).as_json()}
    assert json.loads(result.stdout) == json.loads(json.dumps(expected, default=str))  # type: ignore[attr-defined]


@pytest.mark.parametrize("framework", PRESETS)
def test_every_preset_summarises_in_words(framework: str, small_dir: Path) -> None:
    """Quarter quotas (Lancashire), staff subjects and case filters read as words too."""
    (small_dir / "qaf.toml").write_text(preset_text(framework), encoding="utf-8")
    cfg = read_config(small_dir / "qaf.toml")
    sources = SourceSummary(10, 9, 5, 4, (), cfg.cases.path, cfg.staff.path)
    rows = config_summary(cfg, sources)
    quota_rows = [text for label, text in rows if label == "" and " a " in text]
    assert len(quota_rows) >= len(cfg.quotas)
    for label, text in rows:
        assert "{" not in text and "()" not in text, (label, text)
