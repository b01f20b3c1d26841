"""Framework presets (issue 9): each seed council's framework loads and says the seed's numbers.

Also the configuration keys the presets needed (quota period / unit / draw / cases / auditors /
focus / tool_by_theme / subject, scopes own-service and line-managed, focus lists,
reaudit.case, repeat late-return, dispute stages, grades.display): parsed, validated, and
absent keys keep the old meaning.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.calendar import parse_duration
from qaf.cli import app
from qaf.config import Config, read_config
from qaf.problems import ConfigError
from qaf.workdir import PRESETS, init_directory, own_council_text, preset_text

COUNCILS = ("haringey", "bedford", "lancashire", "rochdale")
runner = CliRunner()


def load(name: str, tmp_path: Path) -> Config:
    path = tmp_path / f"{name}.toml"
    path.write_text(preset_text(name), encoding="utf-8")
    return read_config(path)


def quotas(cfg: Config, role: str, tool: str | None = None) -> list:  # type: ignore[type-arg]
    return [q for q in cfg.quotas if q.role == role and (tool is None or q.tool == tool)]


# ------------------------------------------------------------------ every preset


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_its_tools_are_used_consistently(name: str, tmp_path: Path) -> None:
    cfg = load(name, tmp_path)
    assert cfg.tools
    for q in cfg.quotas:  # rule A1: every quota names a defined tool
        assert q.tool in cfg.tools
        assert set(q.tool_by_theme.values()) <= set(cfg.tools)
    assert cfg.reaudit.tool in cfg.tools  # rule A4
    for rung in (*cfg.escalation.late_return, *cfg.escalation.late_action):
        parse_duration(rung.after)  # rules T4, T5


@pytest.mark.parametrize("name", COUNCILS)
def test_presets_keep_generic_sources_so_the_sample_authority_works(name: str) -> None:
    generic = tomllib.loads(preset_text("generic"))
    preset = tomllib.loads(preset_text(name))
    assert preset["cases"] == generic["cases"]
    assert preset["staff"] == generic["staff"]


SAMPLE_ROLES = {
    "Social Worker",
    "Advanced Practitioner",
    "Team Manager",
    "Service Manager",
    "Head of Service",
    "IRO",
    "CP Chair",
    "QA Officer",
    "Assistant Director",
    "Director of Children's Social Care",
    "Executive Director",
}


@pytest.mark.parametrize("name", COUNCILS)
def test_preset_quota_roles_are_roles_of_the_sample_roster(name: str, tmp_path: Path) -> None:
    cfg = load(name, tmp_path)  # rule A1: a quota nobody holds allocates nothing
    for q in cfg.quotas:
        assert q.role in SAMPLE_ROLES, q.role
        assert set(q.subject_roles) <= SAMPLE_ROLES
    assert cfg.reaudit.role in SAMPLE_ROLES
    assert cfg.moderation.role in SAMPLE_ROLES


@pytest.mark.parametrize(
    ("name", "citation"),
    [
        ("haringey", r"Haringey (\d+\.\d+|§\d|Appendix|2013)"),
        ("bedford", r"Bedford (§\d|App [ABC])"),
        ("lancashire", r"Lancashire, [A-Z]"),
        ("rochdale", r"Rochdale (\d\.\d|§\d|App \d)"),
    ],
)
def test_settings_carry_comments_citing_the_seed(name: str, citation: str) -> None:
    text = preset_text(name)
    cited = re.findall(citation, text)
    assert len(cited) >= 20, f"{name}: only {len(cited)} citations"
    # every quota block says where it comes from (a citation in or just above the block)
    blocks = text.split("[[quota]]")[1:]
    heads = text.split("[[quota]]")[:-1]
    for head, block in zip(heads, blocks, strict=True):
        body = block.split("\n[")[0]
        context = head[-600:] + body
        assert re.search(citation, context), f"{name}: quota without a citation:\n{body}"


@pytest.mark.parametrize("name", PRESETS)
def test_init_with_framework_writes_that_preset(name: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / name), "--framework", name])
    assert result.exit_code == 0, result.output
    written = (tmp_path / name / "qaf.toml").read_text(encoding="utf-8")
    assert written == own_council_text(preset_text(name))  # F2: no Northvale name or sender


def test_rule_C1_own_council_practice_weeks_say_none_are_set() -> None:
    """trial2 T2-3: the commented-out sample practice weeks read as an example, not as
    "the sample's" values still in force."""
    from qaf.workdir import own_council_text

    text = own_council_text(preset_text("haringey"))
    line = next(ln for ln in text.splitlines() if ln.startswith("practice_weeks"))
    assert line == (
        'practice_weeks = []   # none set yet; to use them: practice_weeks = ["2027-05", "2027-10"]'
    )
    assert "the sample's, set yours" not in text


@pytest.mark.parametrize("name", COUNCILS)
def test_config_check_passes_on_a_small_folder_with_each_preset(name: str, small_dir: Path) -> None:
    text = preset_text(name).replace('path = "data/cases.xlsx"', 'path = "data/cases.csv"')
    (small_dir / "qaf.toml").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["config", "check", "--config", str(small_dir)])
    assert result.exit_code == 0, result.output


def test_init_directory_checks_every_preset_loads(tmp_path: Path) -> None:
    for name in PRESETS:
        written = init_directory(tmp_path / name, framework=name)
        assert written[0].name == "qaf.toml"


# ------------------------------------------------------------------ the seeds' numbers


def test_haringey_numbers(tmp_path: Path) -> None:
    cfg = load("haringey", tmp_path)
    assert cfg.cycle.due == "1 month"  # rule C2, Haringey 2.3
    assert len(cfg.cycle.practice_weeks) == 2  # rule C1, Haringey §2 "twice per year"
    assert all(t.before_after for t in cfg.tools.values())  # rule G4, Haringey 2.4
    assert cfg.timescales.qa_check == "1 working day"  # rule T1, Haringey 2.6
    assert cfg.timescales.discussion_serious == "5 working days"  # rule T2, Haringey 2.13
    assert cfg.timescales.discussion_requires_improvement == "10 working days"
    assert cfg.reaudit.role == "Service Manager"  # rule A4, Haringey 1.4
    assert cfg.reaudit.after_cycles == 1
    assert cfg.reaudit.grades == ("Requires Improvement", "Inadequate")
    roles = {q.role for q in cfg.quotas}  # Haringey 1.2
    assert {"Team Manager", "CP Chair", "IRO", "QA Officer"} <= roles
    mash = quotas(cfg, "Head of Service")[0]  # Haringey 1.3
    assert mash.cases == {"team": ("MASH",)}
    rounds = {r.round: set(r.notify) for r in cfg.escalation.on_reaudit}  # rule E2, 2.14
    assert "Service Manager" in rounds[1]
    assert {"Head of Service", "Assistant Director"} <= rounds[2]
    inadequate = next(g for g in cfg.escalation.on_grade if g.grade == "Inadequate")
    assert {"Service Manager", "Head of Service"} <= set(inadequate.notify)  # rule E1, 2.6
    assert cfg.escalation.safety_notify == ("Team Manager",)  # rule E3, 2.10
    assert cfg.escalation.repeat_late_return == ("Assistant Director",)  # 2.15
    stages = cfg.dispute.stages  # Haringey 2.11
    assert [s.within for s in stages] == ["5 working days", "2 working days"] + [
        "5 working days"
    ] * 3
    assert cfg.sample.size == "quotas"
    assert cfg.sample.exclude_audited_within_months == 6  # rule S3, 2.3


def test_bedford_numbers(tmp_path: Path) -> None:
    cfg = load("bedford", tmp_path)
    assert cfg.sample.fraction == 0.10  # rule S1, Bedford §2-3
    assert cfg.sample.per == "year"
    assert cfg.sample.size == "fraction"
    for role in ("Team Manager", "Advanced Practitioner"):  # rule A1, Bedford §3
        (q,) = quotas(cfg, role, "case-audit")
        assert (q.per_cycle, q.period, q.draw) == (1, "cycle", "sample")
    assert cfg.timescales.action_notification == "48 hours"  # rule T3, Bedford §3
    assert cfg.tools["case-audit"].scale.name == "grades"
    assert len(cfg.tools["case-audit"].domains) == 16  # App A
    assert len(cfg.tools["case-audit"].compliance) == 4  # App A 1b
    assert len(cfg.tools["case-audit"].feedback) == 5  # App A Section 3
    assert cfg.tools["supervision-audit"].scale.name == "yes-no"  # App B
    assert len(cfg.tools["supervision-audit"].domains) == 8
    assert len(cfg.tools["professional-supervision-audit"].domains) == 4
    assert cfg.tools["practice-observation"].scale.name == "skills"  # App C
    assert len(cfg.tools["practice-observation"].domains) == 6
    supervision = [q for q in cfg.quotas if "supervision" in q.tool]  # Bedford §4
    assert {(q.role, q.tool) for q in supervision} == {
        ("Head of Service", "supervision-audit"),
        ("Head of Service", "professional-supervision-audit"),
        ("Team Manager", "supervision-audit"),
        ("Team Manager", "professional-supervision-audit"),
    }
    assert all(q.per_cycle == 1 and q.draw == "extra" for q in supervision)
    (obs,) = quotas(cfg, "Team Manager", "practice-observation")  # Bedford §5
    assert (obs.period, obs.per_period, obs.unit, obs.subject) == ("year", 1, "subject", "staff")
    assert cfg.reaudit.grades == ()  # Bedford has no routine re-audit
    assert "Head of Service" in cfg.escalation.safety_notify  # App B


def test_lancashire_numbers(tmp_path: Path) -> None:
    cfg = load("lancashire", tmp_path)
    assert cfg.cycle.due == "4 weeks"  # rule C2
    assert cfg.moderation.fraction == 0.15  # rule M1
    assert cfg.moderation.always == ("Inadequate",)
    assert [r.after for r in cfg.escalation.late_return] == [  # rule T4
        "2 working days",
        "7 working days",
        "14 working days",
    ]
    assert [r.after for r in cfg.escalation.late_action] == ["4 weeks", "6 weeks", "12 weeks"]
    assert cfg.escalation.late_return[0].notify == ("Service Manager", "Head of Service")
    assert cfg.escalation.late_return[1].notify == ("Director of Children's Social Care",)
    assert cfg.escalation.late_return[2].notify == ("Executive Director",)
    assert cfg.timescales.extension_agreed_by == ("Head of Service",)  # rule T6
    assert cfg.timescales.closing_loop_reaudit_after == "3 months"  # rule T7
    assert (cfg.reaudit.grades, cfg.reaudit.after_cycles, cfg.reaudit.case) == (
        ("Inadequate",),
        3,
        "other-of-worker",
    )
    learning = [q for q in cfg.quotas if q.tool == "learning-space" and not q.auditors]
    assert {q.role for q in learning} == {
        "Team Manager",
        "Service Manager",
        "IRO",
        "Head of Service",
        "Director of Children's Social Care",
    }
    for q in learning:  # "each manager one a quarter"
        assert (q.period, q.per_period, q.per_cycle) == ("quarter", 1, 1)
    assert {q.scope for q in learning if q.role != "IRO" and "Director" not in q.role} == {
        "own-service"  # "within their own function"
    }
    (mash,) = [q for q in cfg.quotas if q.auditors]
    assert (mash.per_cycle, mash.auditors) == (2, {"team": ("MASH",)})
    dips = [q for q in cfg.quotas if q.tool == "dip-sample"]
    # "allocation by the service" (GAPS 13): qaf counts them per post, the service picks cases
    assert len(dips) == 4 and all(q.allocated_by == "service" and q.focus for q in dips)
    assert cfg.sample.size == "quotas"


def test_rochdale_numbers(tmp_path: Path) -> None:
    cfg = load("rochdale", tmp_path)
    assert cfg.sample.team_floor == 4  # rule S1, Rochdale 3.2
    (tier1,) = quotas(cfg, "Team Manager")
    assert (tier1.per_cycle, tier1.unit, tier1.scope) == (4, "team", "own-team")
    assert tier1.tool == "tier1-generic"
    assert tier1.tool_by_theme == {"Public Law Outline": "tier1-plo"}  # App 2B
    (tier2,) = quotas(cfg, "Head of Service")  # rule A2, Rochdale 3.4
    assert (tier2.per_cycle, tier2.scope, tier2.draw) == (1, "outside-own-service", "extra")
    assert tier2.tool == "tier2-hos"
    assert len(cfg.tools["tier1-generic"].domains) == 8  # App 2A
    assert cfg.tools["tier1-generic"].domain("R8").na_allowed
    assert len(cfg.tools["tier1-plo"].domains) == 19  # App 2B
    assert len(cfg.tools["tier2-hos"].domains) == 30  # App 4
    assert cfg.grade_scale.parse(3) == "Requires Improvement"  # rule G1: grades 1-4
    assert cfg.grade_scale.parse("In need of improvement") == "Requires Improvement"
    assert cfg.grade_display == "number-and-word"
    by_grade = {g.grade: g.notify for g in cfg.escalation.on_grade}  # rule E1, App 2A
    assert by_grade["Inadequate"] == ("Head of Service", "Assistant Director")
    assert by_grade["Requires Improvement"] == ("Head of Service", "Team Manager", "IRO/CP Chair")
    assert by_grade["Good"] == ("Team Manager",)
    assert by_grade["Outstanding"] == ("Team Manager", "Head of Service", "Assistant Director")
    # rule C3: App 3 / App 5 mapped onto 2026-12 .. 2027-03, tier 2 one step behind tier 1
    months = ["2026-12", "2027-01", "2027-02", "2027-03"]
    assert tier1.focus is not None and tier2.focus is not None
    assert list(tier1.focus) == months and list(tier2.focus) == months
    assert tier1.focus["2026-12"] == ("Public Law Outline", "Statutory Visits")
    assert tier2.focus["2027-01"] == tier1.focus["2026-12"]
    assert tier2.focus["2026-12"] == tier1.focus["2027-03"]
    for themes in (*tier1.focus.values(), *tier2.focus.values()):
        assert set(themes) <= set(cfg.cycle.themes)


# ------------------------------------------------------------------ the new configuration keys

BASE = """
[organisation]
name = "Testshire"
[cycle.themes."PLO"]
legal_status = ["C1"]
[[tool]]
id = "case-audit"
[[tool.domain]]
id = "D1"
title = "Risk"
[[tool]]
id = "plo"
[[tool.domain]]
id = "P1"
title = "Legal tab"
"""


def read(tmp_path: Path, extra: str) -> Config:
    p = tmp_path / "qaf.toml"
    p.write_text(BASE + extra, encoding="utf-8")
    return read_config(p)


def test_absent_new_keys_keep_the_old_meaning(tmp_path: Path) -> None:
    cfg = read(tmp_path, '[[quota]]\nrole = "Team Manager"\n')
    (q,) = cfg.quotas
    assert (q.per_cycle, q.period, q.per_period, q.unit, q.draw, q.subject) == (
        1,
        "cycle",
        1,
        "auditor",
        "sample",
        "case",
    )
    assert q.cases == {} and q.auditors == {} and q.focus is None and q.tool_by_theme == {}
    assert cfg.reaudit.case == "same"
    assert cfg.escalation.repeat_late_return == ()
    assert cfg.dispute.stages == ()
    assert cfg.grade_display == "words"
    assert cfg.cycle.focus_themes == {}


@pytest.mark.parametrize(
    ("period", "per_period", "per_cycle"),
    [("quarter", 1, 1), ("quarter", 3, 1), ("quarter", 4, 2), ("year", 12, 1), ("year", 1, 1)],
)
def test_quota_per_quarter_or_year(  # rule A1, Lancashire "one a quarter"
    tmp_path: Path, period: str, per_period: int, per_cycle: int
) -> None:
    cfg = read(
        tmp_path,
        f'[[quota]]\nrole = "TM"\nperiod = "{period}"\nper_period = {per_period}\n',
    )
    (q,) = cfg.quotas
    assert (q.period, q.per_period, q.per_cycle) == (period, per_period, per_cycle)
    assert q.cycles_per_period == {"quarter": 3, "year": 12}[period]


def test_cycle_focus_accepts_a_list_of_themes(tmp_path: Path) -> None:  # rule C3
    cfg = read(
        tmp_path.joinpath(),
        '[cycle]\nfocus = { "2026-12" = ["PLO", "Statutory Visits"], "2027-01" = "CiN" }\n',
    )
    assert cfg.cycle.focus_themes == {"2026-12": ("PLO", "Statutory Visits"), "2027-01": ("CiN",)}
    assert cfg.cycle.focus == {"2026-12": "PLO / Statutory Visits", "2027-01": "CiN"}


def test_quota_with_every_new_key(tmp_path: Path) -> None:
    cfg = read(
        tmp_path,
        """
[[quota]]
role = "Team Manager"
per_cycle = 4
unit = "team"
draw = "extra"
scope = "own-service"
cases = { team = ["MASH"] }
auditors = { service = ["Front Door"] }
focus = { "2026-12" = ["PLO"] }
tool_by_theme = { "PLO" = "plo" }
name = "tier 1"
[[quota]]
role = "Head of Service"
subject = "staff"
subject_roles = ["Team Manager"]
unit = "subject"
scope = "line-managed"
[reaudit]
case = "other-of-worker"
[escalation]
repeat_late_return_notify = ["Assistant Director"]
[grades]
display = "numbers"
[[dispute.stage]]
name = "Informal"
within = "5 working days"
responsible = "Team Manager"
notify = ["Auditor"]
""",
    )
    tier1, staff = cfg.quotas
    assert tier1.cases == {"team": ("MASH",)}
    assert tier1.auditors == {"service": ("Front Door",)}
    assert tier1.focus == {"2026-12": ("PLO",)}
    assert tier1.tool_by_theme == {"PLO": "plo"}
    assert (tier1.unit, tier1.draw, tier1.scope, tier1.name) == (
        "team",
        "extra",
        "own-service",
        "tier 1",
    )
    assert (staff.subject, staff.subject_roles, staff.unit) == (
        "staff",
        ("Team Manager",),
        "subject",
    )
    assert cfg.reaudit.case == "other-of-worker"
    assert cfg.escalation.repeat_late_return == ("Assistant Director",)
    assert cfg.grade_display == "numbers"
    assert cfg.dispute.stages[0].responsible == "Team Manager"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[quota]]\nrole = "TM"\nper_period = 2\n',
            'quota[0].per_period: is for period = "quarter" or "year"; use per_cycle',
        ),
        (
            '[[quota]]\nrole = "TM"\nperiod = "quarter"\nper_cycle = 1\n',
            'quota[0].per_cycle: is for period = "cycle"',
        ),
        ('[[quota]]\nrole = "TM"\nperiod = "month"\n', 'quota[0].period: "month" is not one of'),
        ('[[quota]]\nrole = "TM"\nunit = "service"\n', 'quota[0].unit: "service" is not one of'),
        ('[[quota]]\nrole = "TM"\ndraw = "more"\n', 'quota[0].draw: "more" is not one of'),
        (
            '[[quota]]\nrole = "TM"\nunit = "subject"\n',
            'quota[0].unit: "subject" counts per audited person',
        ),
        (
            '[[quota]]\nrole = "TM"\nsubject = "staff"\n',
            "quota[0].subject_roles: needs at least one role",
        ),
        (
            '[[quota]]\nrole = "TM"\nsubject_roles = ["Social Worker"]\n',
            'quota[0].subject_roles: is only for subject = "staff"',
        ),
        (
            '[[quota]]\nrole = "TM"\ncases = { colour = ["red"] }\n',
            "quota[0].cases.colour: is not a case column name",
        ),
        (
            '[[quota]]\nrole = "TM"\nauditors = { grade = ["7"] }\n',
            "quota[0].auditors.grade: is not a staff column name",
        ),
        (
            '[[quota]]\nrole = "TM"\nfocus = { "December" = "PLO" }\n',
            'quota[0].focus."December": "December" is not a month',
        ),
        (
            '[[quota]]\nrole = "TM"\nfocus = { "2026-12" = [] }\n',
            'quota[0].focus."2026-12": the list [] is not a theme or a list of themes',
        ),
        (
            '[[quota]]\nrole = "TM"\ntool_by_theme = { "Court" = "plo" }\n',
            'quota[0].tool_by_theme."Court": is not a theme defined under [cycle.themes]',
        ),
        (
            '[[quota]]\nrole = "TM"\ntool_by_theme = { "PLO" = "nope" }\n',
            'quota[0].tool_by_theme."PLO": "nope" is not a tool',
        ),
        ('[[quota]]\nrole = "TM"\nscope = "own-county"\n', 'quota[0].scope: "own-county"'),
        ('[reaudit]\ncase = "random"\n', 'reaudit.case: "random" is not one of'),
        ('[grades]\ndisplay = "roman"\n', 'grades.display: "roman" is not one of'),
        ("[cycle]\nfocus = 3\n", "cycle.focus: 3 is not a table of month = theme"),
        (
            '[[dispute.stage]]\nname = "Informal"\nwithin = "5 working days"\n',
            "dispute.stage[0].responsible: is required",
        ),
        (
            '[[dispute.stage]]\nname = "x"\nresponsible = "TM"\nwithin = "soon"\n',
            'dispute.stage[0].within: "soon" is not a duration',
        ),
        ("[dispute]\nstages = []\n", "dispute.stages: unknown key"),
    ],
)
def test_bad_new_keys_are_refused_with_their_key_path(
    tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        read(tmp_path, extra)
    assert message in str(e.value)
    assert e.value.exit_code == 2
