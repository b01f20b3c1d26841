"""The allocator behaviour the presets needed (issue 9, GAPS.md): quota units, extra draws,
quarter and year quotas, case and auditor filters, tools by theme, own-service scope,
re-audits of another case of the worker; and every preset running ``qaf demo`` end to end.

Each test names the rule IDs (DESIGN §3) and the GAPS.md row it covers.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.allocate import History, allocate_cycle
from qaf.calendar import WorkingCalendar
from qaf.cli import app
from qaf.config import Quota, read_config
from qaf.records import Case, StaffMember
from qaf.sources import read_cases, read_staff
from qaf.workdir import init_directory
from tests.test_allocate import BASE, case, make_cfg, staff

CAL = WorkingCalendar()
runner = CliRunner()


def team_quota(per_cycle: int = 4, **kw: object) -> Quota:
    fields: dict[str, object] = {"unit": "team", "name": "tier 1 audit"}
    fields.update(kw)
    return Quota("Team Manager", per_cycle, "own-team", "case-audit", **fields)  # type: ignore[arg-type]


def hos_quota(**kw: object) -> Quota:
    fields: dict[str, object] = {"draw": "extra", "name": "tier 2 audit"}
    fields.update(kw)
    return Quota("Head of Service", 1, "outside-own-service", "case-audit", **fields)  # type: ignore[arg-type]


def cases_of(team: str, n: int, start: int, service: str = "Service 1", **kw: object) -> list[Case]:
    return [
        case(start + i, team=team, worker=f"Worker {team}", service=service, **kw) for i in range(n)
    ]


# ------------------------------------------------------------------ GAPS 2: unit = "team"


def test_team_quota_is_shared_by_the_teams_holders_rule_a1_a2_gaps2() -> None:
    """A team with two holders of the role still gets its 4, shared 2 / 2, within the team."""
    cfg = make_cfg(BASE, quotas=(team_quota(),), sample={"size": "quotas", "team_floor": 0})
    people = [
        staff("Ann Manager", team="Team A"),
        staff("Pat Practice", team="Team A"),
        staff("Bob Manager", team="Team B"),
    ]
    cases = cases_of("Team A", 20, 0) + cases_of("Team B", 20, 100)
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=3)
    assert not r.unallocated
    by_team = Counter(a.team for a in r.allocations)
    assert by_team == {"Team A": 4, "Team B": 4}
    loads = r.loads()
    assert loads == {"Ann Manager": 2, "Pat Practice": 2, "Bob Manager": 4}
    for a in r.allocations:  # rule A2: own-team scope
        assert a.team == next(p.team for p in people if p.name == a.auditor)


def test_team_quota_when_one_holder_is_away_the_other_does_all_rule_a3_gaps2() -> None:
    cfg = make_cfg(BASE, quotas=(team_quota(),), sample={"size": "quotas", "team_floor": 0})
    people = [
        staff("Ann Manager", team="Team A"),
        staff("Pat Practice", team="Team A", available=False),
    ]
    r = allocate_cycle("2026-12", cases_of("Team A", 10, 0), people, cfg, CAL, History(), seed=1)
    assert r.loads() == {"Ann Manager": 4}
    assert not r.unallocated


def test_team_with_nobody_available_has_its_cases_listed_with_the_reason_rule_a3_gaps2() -> None:
    cfg = make_cfg(BASE, quotas=(team_quota(),), sample={"size": "quotas", "team_floor": 0})
    people = [
        staff("Ann Manager", team="Team A"),
        staff("Bob Manager", team="Team B", available=False),
    ]
    cases = cases_of("Team A", 10, 0) + cases_of("Team B", 10, 100)
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=1)
    assert Counter(a.team for a in r.allocations) == {"Team A": 4}
    assert len(r.unallocated) == 4  # the team's 4 are in the sample, listed, not dropped
    assert {u.case_id for u in r.unallocated} <= {c.case_id for c in cases[10:]}
    assert r.unallocated[0].reason == (
        "no available Team Manager in Team B for the team's 4 tier 1 audits "
        "(rule A3: every Team Manager of the team is unavailable)"
    )
    assert r.arithmetic.size == 8
    assert "the quotas of 1 team (4 a cycle)" in r.arithmetic.words


def test_team_quota_never_gives_a_holder_their_own_case_rule_a2_gaps2() -> None:
    cfg = make_cfg(BASE, quotas=(team_quota(2),), sample={"size": "quotas", "team_floor": 0})
    people = [staff("Ann Manager", team="Team A"), staff("Pat Practice", team="Team A")]
    cases = [case(i, team="Team A", worker="Pat Practice") for i in range(2)]
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=1)
    assert r.loads() == {"Ann Manager": 2}


# ------------------------------------------------------------------ GAPS 3: draw = "extra"


def hos_people() -> list[StaffMember]:
    return [
        staff("Ann Manager", team="Team A", service="Service 1"),
        staff("Bob Manager", team="Team B", service="Service 2"),
        staff("Hal Head", role="Head of Service", team="", service="Service 1"),
        staff("Ivy Head", role="Head of Service", team="", service="Service 2"),
        staff("Jo Head", role="Head of Service", team="", service="Service 3", available=False),
    ]


def test_extra_quota_draws_its_own_cases_outside_the_service_rule_a1_a2_gaps3() -> None:
    cfg = make_cfg(
        BASE,
        quotas=(team_quota(), hos_quota()),
        sample={"size": "quotas", "team_floor": 0},
    )
    cases = cases_of("Team A", 12, 0, "Service 1") + cases_of("Team B", 12, 100, "Service 2")
    recent = frozenset(c.case_id for c in cases[4:8])  # rule S3 applies to extras too
    r = allocate_cycle("2026-12", cases, hos_people(), cfg, CAL, History(recent), seed=5)
    tier2 = [a for a in r.allocations if a.auditor_role == "Head of Service"]
    assert Counter(a.auditor for a in tier2) == {"Hal Head": 1, "Ivy Head": 1}  # Jo is away
    services = {p.name: p.service for p in hos_people()}
    for a in tier2:
        assert a.service != services[a.auditor]  # rule A2: outside their service
        assert a.case_id not in recent  # rule S3
    sample_ids = [a.case_id for a in r.allocations if a.auditor_role == "Team Manager"]
    assert len(sample_ids) == 8 and r.arithmetic.size == 8  # extras are not shares of S1
    assert len({a.case_id for a in r.allocations}) == 10  # no case twice
    assert r.arithmetic.extra == (("tier 2 audit", 2),)
    assert r.arithmetic.words.endswith("; plus 2 drawn on top of the sample (2 tier 2 audits)")


def test_extra_quota_with_fraction_sample_keeps_the_sample_size_rule_s1_gaps3() -> None:
    quotas = (Quota("Team Manager", 5, "outside-own-team", "case-audit"), hos_quota())
    with_extra = make_cfg(BASE, quotas=quotas, sample={"per": "cycle", "fraction": 0.1})
    without = make_cfg(BASE, quotas=quotas[:1], sample={"per": "cycle", "fraction": 0.1})
    cases = cases_of("Team A", 30, 0, "Service 1") + cases_of("Team B", 30, 100, "Service 2")
    r1 = allocate_cycle("2026-12", cases, hos_people(), with_extra, CAL, History(), seed=2)
    r2 = allocate_cycle("2026-12", cases, hos_people(), without, CAL, History(), seed=2)
    assert r1.arithmetic.size == r2.arithmetic.size == 6
    audits = [a for a in r1.allocations if a.auditor_role == "Team Manager"]
    assert [a.case_id for a in audits] == [a.case_id for a in r2.allocations]  # same sample
    assert len(r1.allocations) == 8


def test_extra_quota_with_no_case_left_says_so_in_a_note_rule_a2_gaps3() -> None:
    cfg = make_cfg(BASE, quotas=(hos_quota(),), sample={"size": "quotas"})
    cases = cases_of("Team A", 3, 0, "Service 1")  # only Service 1: Hal may not audit any
    people = hos_people()[2:4]
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=1)
    assert [a.auditor for a in r.allocations] == ["Ivy Head"]
    assert any("Hal Head gets 0 of 1" in n for n in r.notes)


def test_extra_quota_follows_its_own_focus_programme_rule_c3_gaps3_gaps5() -> None:
    base = make_cfg(BASE, sample={"size": "quotas"})
    cycle = dataclasses.replace(
        base.cycle, focus_mode="restrict", themes={"Care": {"category": ("Child in our care",)}}
    )
    q = hos_quota(focus={"2026-12": ("Care",)})
    cfg = dataclasses.replace(base, cycle=cycle, quotas=(q,))
    cases = cases_of("Team B", 20, 0, "Service 2") + cases_of(
        "Team C", 2, 100, "Service 3", category="Child in our care"
    )
    people = hos_people()[2:4]
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=4)
    assert {a.category for a in r.allocations} == {"Child in our care"}
    r_jan = allocate_cycle("2027-01", cases, people, cfg, CAL, History(), seed=4)
    assert len(r_jan.allocations) == 2  # no theme in January: any eligible case


# ------------------------------------------------------------------ GAPS 6: tool_by_theme


def test_tool_by_theme_gives_plo_cases_the_plo_tool_rule_a1_gaps6() -> None:
    base = make_cfg(BASE, sample={"size": "quotas", "team_floor": 0})
    cycle = dataclasses.replace(base.cycle, themes={"PLO": {"legal_status": ("C1",)}})
    q = team_quota(6, tool_by_theme={"PLO": "plo-audit"})
    cfg = dataclasses.replace(base, cycle=cycle, quotas=(q,))
    cases = cases_of("Team A", 3, 0, extra={"legal_status": "C1"}) + cases_of(
        "Team A", 3, 10, extra={"legal_status": "V2"}
    )
    r = allocate_cycle(
        "2026-12", cases, [staff("Ann Manager", team="Team A")], cfg, CAL, History(), 1
    )
    tools = {a.case_id: a.tool for a in r.allocations}
    assert tools == {
        c.case_id: ("plo-audit" if i < 3 else "case-audit") for i, c in enumerate(cases)
    }


# ------------------------------------------------------------------ Rochdale on the sample authority


@pytest.fixture(scope="module")
def rochdale(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, ...]:
    folder = tmp_path_factory.mktemp("rochdale")
    init_directory(folder, framework="rochdale", demo=True)
    cfg = read_config(folder / "qaf.toml")
    return cfg, read_cases(cfg.cases).cases, read_staff(cfg.staff).staff


@pytest.mark.parametrize("month", ["2026-12", "2027-01"])
def test_rochdale_tier1_four_per_team_tier2_outside_service_rules_a1_a2_a3_s1(
    rochdale: tuple[object, ...], month: str
) -> None:
    """Rochdale 3.2 / §1.8 (GAPS 2) and 3.4 (GAPS 3) on the sample authority."""
    cfg, cases, people = rochdale
    r = allocate_cycle(month, cases, people, cfg, CAL, History(), seed=11)  # type: ignore[arg-type]
    roster = {p.name: p for p in people}  # type: ignore[attr-defined]
    teams = {c.team for c in cases}  # type: ignore[attr-defined]
    tier1 = [a for a in r.allocations if a.auditor_role == "Team Manager"]
    tier2 = [a for a in r.allocations if a.auditor_role == "Head of Service"]
    per_team = Counter(a.team for a in tier1)
    unplaced = Counter(
        next(c.team for c in cases if c.case_id == u.case_id)  # type: ignore[attr-defined]
        for u in r.unallocated
    )
    for team in teams:
        assert per_team[team] + unplaced[team] >= 4  # every team has its 4, or says why
        if unplaced[team]:
            assert per_team[team] == 0
    for a in tier1:
        assert roster[a.auditor].team == a.team  # "from within their team"
        assert a.tool in ("tier1-generic", "tier1-plo")
    for u in r.unallocated:
        assert "rule A3" in u.reason
    hos = [p for p in people if p.role == "Head of Service"]  # type: ignore[attr-defined]
    first = CAL.cycle_window(month)[0]
    assert len(tier2) == sum(1 for p in hos if p.available_on(first))
    for a in tier2:
        assert roster[a.auditor].service != a.service  # never inside their service
        assert a.tool == "tier2-hos"
    assert not {a.case_id for a in tier1} & {a.case_id for a in tier2}


# ------------------------------------------------------------------ every preset end to end


@pytest.mark.parametrize("name", ["haringey", "bedford", "lancashire", "rochdale"])
def test_each_preset_runs_the_demo_end_to_end(name: str, tmp_path: Path) -> None:
    """`qaf init DIR --framework NAME && cd DIR && qaf demo .` (issue 9 "done when")."""
    folder = tmp_path / name
    result = runner.invoke(app, ["init", str(folder), "--framework", name])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["demo", str(folder)])
    assert result.exit_code == 0, result.output
    for cycle in ("2026-07", "2026-08", "2026-09"):
        assert (folder / "cycles" / cycle / f"allocation-{cycle}.xlsx").exists()
    assert list((folder / "reports").glob("*.html"))
