"""Configuration: every rule a setting with its default; bad values named by key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaf.config import find_config, load_config, read_config
from qaf.problems import ConfigError
from qaf.workdir import preset_text


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "qaf.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_generic_preset_loads_with_every_section() -> None:
    cfg = read_config_text(preset_text("generic"))
    assert cfg.sample.fraction == 0.10
    assert cfg.sample.per == "year"
    assert cfg.cycle.practice_weeks == ("2027-06",)
    assert cfg.cycle.focus["2026-12"] == "Public Law Outline"
    assert [q.role for q in cfg.quotas][:2] == ["Team Manager", "Advanced Practitioner"]
    assert cfg.reaudit.role == "Service Manager"
    assert cfg.moderation.always == ("Inadequate",)
    assert len(cfg.tools["case-audit"].domains) == 16  # Bedford App A
    assert len(cfg.tools["tier1-generic"].domains) == 8  # Rochdale App 2A
    assert cfg.tools["supervision-audit"].scale.name == "yes-no"
    assert cfg.tools["practice-observation"].scale.name == "skills"


def read_config_text(text: str, tmp: Path | None = None) -> object:
    import tempfile

    folder = Path(tempfile.mkdtemp()) if tmp is None else tmp
    return read_config(write(folder, text))


def test_minimal_config_gets_the_design_defaults(tmp_path: Path) -> None:
    minimal = """
[organisation]
name = "Testshire"
[[tool]]
id = "case-audit"
[[tool.domain]]
id = "D1"
title = "Risk"
"""
    cfg = read_config(write(tmp_path, minimal))
    assert cfg.sample.fraction == 0.10  # S1
    assert cfg.sample.exclude_audited_within_months == 6  # S3
    assert cfg.reaudit.grades == ("Requires Improvement", "Inadequate")  # A4
    assert cfg.moderation.fraction == 0.15  # M1
    assert [r.after for r in cfg.escalation.late_return] == [  # T4
        "2 working days",
        "7 working days",
        "14 working days",
    ]
    assert [r.after for r in cfg.escalation.late_action] == ["4 weeks", "6 weeks", "12 weeks"]  # T5
    assert cfg.escalation.on_grade[0].notify == ("Head of Service", "Assistant Director")  # E1
    assert cfg.timescales.qa_check == "1 working day"  # T1
    assert cfg.timescales.discussion_serious == "5 working days"  # T2
    assert cfg.timescales.action_notification == "48 hours"  # T3
    assert cfg.cycle.due == "last-working-day"  # C2
    assert cfg.register_path == tmp_path / "qaf.db"
    assert cfg.tools["case-audit"].overall_rule == "not-better-than-worst"  # G5


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("fraction = 0.10", "fraction = 1.5", "sample.fraction: 1.5 is not between 0 and 1"),
        ("fraction = 0.10", 'fraction = "ten"', 'sample.fraction: "ten" is not a number'),
        ('per = "year"', 'per = "month"', 'sample.per: "month" is not one of "year" | "cycle"'),
        ("fraction = 0.10", "fracton = 0.10", "sample.fracton: unknown key"),
        (
            'scope = "outside-own-team"',
            'scope = "elsewhere"',
            'quota[0].scope: "elsewhere" is not one of',
        ),
        ('due = "last-working-day"', 'due = "soon"', 'cycle.due: "soon" is not "last-working-day"'),
        (
            'after = "2 working days"',
            'after = "2 fortnights"',
            'escalation.late_return[0].after: "2 fortnights" is not a duration',
        ),
        (
            'tool = "tier1-generic"',
            'tool = "no-such-tool"',
            'quota[2].tool: "no-such-tool" is not a tool',
        ),
        (
            'always = ["Inadequate"]',
            'always = ["Inadequate"]\ntools = ["case-audit", "no-such-tool"]',
            'moderation.tools: "no-such-tool" is not a tool',
        ),
        (
            'grade = "Inadequate"',
            'grade = "Terrible"',
            'escalation.on_grade[0].grade: "Terrible" is not a grade',
        ),
        (
            'practice_weeks = ["2027-06"]',
            'practice_weeks = ["June"]',
            'cycle.practice_weeks: "June" is not a month',
        ),
        ("team_floor = 0", "team_floor = -1", "sample.team_floor: -1 is not between 0 and 1000"),
        (
            'bank_holidays = "england-and-wales"',
            'bank_holidays = "wales-only"',
            "organisation.bank_holidays",
        ),
        (
            'aliases = { "RI"',
            'aliases = { "Meh" = "Mediocre", "RI"',
            'grades.aliases."Meh": "Mediocre" is not one of the grades',
        ),
    ],
)
def test_bad_config_names_key_path_value_and_expectation(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = preset_text("generic")
    assert old in text, old
    with pytest.raises(ConfigError) as e:
        read_config(write(tmp_path, text.replace(old, new, 1)))
    assert message in str(e.value)
    assert e.value.exit_code == 2


def test_smtp_password_in_file_is_refused(tmp_path: Path) -> None:
    text = preset_text("generic") + '\n[smtp]\nhost = "localhost"\npassword = "hunter2"\n'
    with pytest.raises(ConfigError, match=r"smtp\.password: credentials are never kept"):
        read_config(write(tmp_path, text))


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        read_config(write(tmp_path, "[sample\nfraction = "))


def test_discovery_order_explicit_env_then_walk_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = write(tmp_path, preset_text("generic"))
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.delenv("QAF_CONFIG", raising=False)
    assert find_config(cwd=deep) == top.resolve()
    other = tmp_path / "other"
    other.mkdir()
    env_cfg = write(other, preset_text("generic"))
    monkeypatch.setenv("QAF_CONFIG", str(env_cfg))
    assert find_config(cwd=deep) == env_cfg.resolve()
    assert find_config(top, cwd=deep) == top.resolve()
    assert load_config(tmp_path).path == top.resolve()  # a folder given to --config


def test_no_config_anywhere_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QAF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="qaf init"):
        find_config(cwd=tmp_path)
