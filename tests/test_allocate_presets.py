"""The allocator behaviour the presets needed (issue 9, GAPS.md): quota units, extra draws,
quarter and year quotas, case and auditor filters, tools by theme, own-service scope,
re-audits of another case of the worker; and every preset running ``qaf demo`` end to end.

Each test names the rule IDs (DESIGN §3) and the GAPS.md row it covers.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.allocate import AllocationResult, History, allocate_cycle, period_cycles
from qaf.allocate_run import run_allocate
from qaf.calendar import WorkingCalendar
from qaf.cli import app
from qaf.config import Config, Quota, read_config
from qaf.escalate import Pending, compute_overdue
from qaf.records import Case, StaffMember
from qaf.register import SCHEMA_VERSION, Register
from qaf.sources import read_cases, read_staff
from qaf.workdir import init_directory
from tests.test_allocate import BASE, case, make_cfg, ret, staff
from tests.test_overdue_support import allocation, make_workdir, receive
from tests.test_overdue_support import calendar as overdue_calendar

CAL = WorkingCalendar()
DEC_DUE = date(2026, 12, 31)  # last working day of cycle 2026-12
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


# ------------------------------------------------------------------ GAPS 1: quarter / year quotas


def run_cycles(
    cfg: Config, cycles: list[str], cases: list[Case], people: list[StaffMember]
) -> dict[str, AllocationResult]:
    """Allocate cycle after cycle, each seeing the earlier ones' allocations (the register)."""
    out: dict[str, AllocationResult] = {}
    counts: Counter[tuple[str, str, str]] = Counter()
    for i, cycle in enumerate(cycles):
        hist = History(period_counts=tuple((c, a, t, n) for (c, a, t), n in counts.items()))
        r = allocate_cycle(cycle, cases, people, cfg, CAL, hist, seed=20 + i)
        counts.update((a.cycle, a.auditor, a.tool) for a in r.allocations if a.type == "audit")
        out[cycle] = r
    return out


def quarterly(**kw: object) -> Quota:
    fields: dict[str, object] = {"period": "quarter", "per_period": 1, "name": "learning space"}
    fields.update(kw)
    return Quota("Team Manager", 1, "any", "case-audit", **fields)  # type: ignore[arg-type]


def test_quarter_quota_one_each_spread_evenly_over_the_three_months_rule_a1_gaps1() -> None:
    cfg = make_cfg(BASE, quotas=(quarterly(),), sample={"size": "quotas", "team_floor": 0})
    people = [staff(f"Manager {i:02d}", team=f"Team {i % 3}") for i in range(9)]
    cases = cases_of("Team X", 200, 0)
    runs = run_cycles(cfg, ["2026-10", "2026-11", "2026-12", "2027-01"], cases, people)
    quarter = Counter(
        a.auditor for c in ("2026-10", "2026-11", "2026-12") for a in runs[c].allocations
    )
    assert quarter == {p.name: 1 for p in people}  # each manager one a quarter
    assert [len(runs[c].allocations) for c in runs] == [3, 3, 3, 3]  # evenly, new quarter again
    assert runs["2026-10"].arithmetic.size == 3  # size = "quotas": this month's share


def test_quarter_quota_catches_up_on_a_manager_who_was_away_rule_a3_gaps1() -> None:
    cfg = make_cfg(BASE, quotas=(quarterly(),), sample={"size": "quotas", "team_floor": 0})
    away = staff(
        "Manager Away", team="Team 1", absent_from=date(2026, 10, 1), absent_to=date(2026, 11, 30)
    )
    people = [staff(f"Manager {i:02d}", team="Team 0") for i in range(5)] + [away]
    runs = run_cycles(cfg, ["2026-10", "2026-11", "2026-12"], cases_of("Team X", 100, 0), people)
    assert "Manager Away" in {a.auditor for a in runs["2026-12"].allocations}  # the last month
    total = Counter(a.auditor for r in runs.values() for a in r.allocations)
    assert total == {p.name: 1 for p in people}


def test_year_quota_per_period_and_financial_year_start_rule_a1_c1_gaps1() -> None:
    assert period_cycles("2027-02", "quarter", True) == ("2027-01", "2027-02", "2027-03")
    assert period_cycles("2027-02", "year", True)[0] == "2026-04"
    assert period_cycles("2027-02", "year", False) == tuple(f"2027-{m:02d}" for m in range(1, 13))
    cfg = make_cfg(
        BASE,
        quotas=(quarterly(period="year", per_period=2),),
        sample={"size": "quotas", "team_floor": 0},
        cycle={"focus": {}, "focus_themes": {}, "practice_weeks": ()},
    )
    people = [staff(f"Manager {i:02d}", team="Team 0") for i in range(6)]
    months = [f"2027-{m:02d}" for m in range(1, 13)]
    runs = run_cycles(cfg, months, cases_of("Team X", 300, 0), people)
    total = Counter(a.auditor for r in runs.values() for a in r.allocations)
    assert total == {p.name: 2 for p in people}
    assert [len(runs[m].allocations) for m in months] == [1] * 12  # 12 over 12 months


def test_quarter_quota_leaves_practice_week_months_out_of_the_spread_rule_c1_gaps1() -> None:
    cfg = make_cfg(
        BASE,
        quotas=(quarterly(),),
        sample={"size": "quotas", "team_floor": 0},
        cycle={"focus": {}, "focus_themes": {}, "practice_weeks": ("2027-06",)},
    )
    people = [staff(f"Manager {i:02d}", team="Team 0") for i in range(6)]
    runs = run_cycles(cfg, ["2027-04", "2027-05"], cases_of("Team X", 100, 0), people)
    assert [len(r.allocations) for r in runs.values()] == [3, 3]  # June is a practice week


# ------------------------------------------------------------------ Lancashire through the register


@pytest.fixture(scope="module")
def lancashire_quarter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, list[object]]:
    """Lancashire's preset on the sample authority: `qaf allocate` for October-December 2026
    (financial Q3), each cycle reading the earlier ones from the register."""
    folder = tmp_path_factory.mktemp("lancashire")
    init_directory(folder, framework="lancashire", demo=True)
    cfg = read_config(folder / "qaf.toml")
    runs = []
    for i, month in enumerate(("2026-10", "2026-11", "2026-12")):
        first = CAL.cycle_window(month)[0]
        runs.append(run_allocate(cfg, month, seed=30 + i, as_of=first))
    return cfg, runs


def test_lancashire_learning_spaces_one_a_quarter_each_rule_a1_a3_gaps1_gaps4(
    lancashire_quarter: tuple[Config, list[object]],
) -> None:
    cfg, runs = lancashire_quarter
    with Register.open(cfg.register_path) as reg:
        allocations = reg.allocations()
        counts = reg.allocation_counts("2026-10", "2027-01")
    assert sum(n for *_, n in counts) == len([a for a in allocations if a.type == "audit"])
    people = {p.name: p for p in read_staff(cfg.staff).staff}
    spaces = Counter(a.auditor for a in allocations if a.tool == "learning-space")
    firsts = [CAL.cycle_window(m)[0] for m in ("2026-10", "2026-11", "2026-12")]
    mash = {n for n, p in people.items() if p.team == "MASH" and p.role == "Team Manager"}
    assert mash
    for name in mash:  # GAPS 4: two a month instead of one a quarter
        assert spaces[name] == 2 * sum(people[name].available_on(d) for d in firsts)
    quarterly = {"Team Manager", "Service Manager", "IRO", "Head of Service"}
    quarterly.add("Director of Children's Social Care")
    services_with_cases = {a.service for a in allocations if a.case_id}  # not the posts' (GAPS 13)
    for name, p in people.items():
        if p.role not in quarterly or name in mash:
            continue
        assert spaces[name] <= 1  # never more than the quarter's one
        own_service = p.role != "IRO" and p.role != "Director of Children's Social Care"
        if p.available_on(firsts[-1]) and (not own_service or p.service in services_with_cases):
            assert spaces[name] == 1, name  # rule A1: each manager one a quarter
    monthly = [sum(1 for a in r.result.allocations if a.tool == "learning-space") for r in runs]
    assert max(monthly) - min(monthly) <= 4  # spread over the quarter's three months


def test_lancashire_own_service_scope_and_own_caseload_rule_a2_gaps8(
    lancashire_quarter: tuple[Config, list[object]],
) -> None:
    cfg, runs = lancashire_quarter
    people = {p.name: p for p in read_staff(cfg.staff).staff}
    own_service = {q.role for q in cfg.quotas if q.scope == "own-service"}
    checked = 0
    for run in runs:
        for a in run.result.allocations:
            assert a.worker != a.auditor  # rule A2: never their own caseload
            if a.auditor_role in own_service and a.tool in ("learning-space", "dip-sample"):
                if a.auditor_role == "Team Manager" and a.team == "MASH":
                    continue  # the MASH quota is own-team
                assert people[a.auditor].service == a.service
                checked += 1
    assert checked > 20


# ------------------------------------------------------------------ GAPS 4: cases / auditors filters


def test_quota_cases_and_auditors_filters_rule_a1_gaps4() -> None:
    """Haringey 1.3: MASH cases only, by the Heads of Service of some services only."""
    mash = Quota(
        "Head of Service",
        1,
        "any",
        "case-audit",
        cases={"team": ("MASH",)},
        auditors={"service": ("Service 1", "Service 2")},
        draw="extra",
        name="MASH audit",
    )
    cfg = make_cfg(BASE, quotas=(mash,), sample={"size": "quotas"})
    people = [
        staff("Hal Head", role="Head of Service", team="", service="Service 1"),
        staff("Ivy Head", role="Head of Service", team="", service="Service 2"),
        staff("Kit Head", role="Head of Service", team="", service="Service 3"),
    ]
    cases = cases_of("MASH", 5, 0) + cases_of("Team A", 20, 100)
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=1)
    assert Counter(a.auditor for a in r.allocations) == {"Hal Head": 1, "Ivy Head": 1}
    assert {a.team for a in r.allocations} == {"MASH"}


def test_filtered_quota_replaces_the_unfiltered_one_of_the_same_role_and_tool_rule_a1_gaps4() -> (
    None
):
    """Lancashire: MASH managers do 2 MASH learning spaces a month, not 1 a quarter as well."""
    everyone = Quota("Team Manager", 1, "outside-own-team", "case-audit")
    in_mash = Quota(
        "Team Manager",
        2,
        "own-team",
        "case-audit",
        cases={"team": ("MASH",)},
        auditors={"team": ("MASH",)},
    )
    dips = Quota("Team Manager", 1, "any", "dip-sample", draw="extra")  # another tool: kept
    cfg = make_cfg(BASE, quotas=(everyone, in_mash, dips), sample={"size": "quotas"})
    people = [staff("Mo Mash", team="MASH"), staff("Ann Manager", team="Team A")]
    cases = cases_of("MASH", 10, 0) + cases_of("Team A", 10, 100) + cases_of("Team B", 10, 200)
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=2)
    got = Counter((a.auditor, a.tool, a.team == "MASH") for a in r.allocations)
    assert got[("Mo Mash", "case-audit", True)] == 2
    assert got[("Mo Mash", "case-audit", False)] == 0
    assert got[("Mo Mash", "dip-sample", True)] + got[("Mo Mash", "dip-sample", False)] == 1
    assert sum(n for (who, tool, _), n in got.items() if who == "Ann Manager") == 2
    for a in r.allocations:
        if a.auditor == "Ann Manager" and a.tool == "case-audit":
            assert a.team != "Team A"


# ------------------------------------------------------------------ GAPS 9: re-audit another case


def test_closing_the_loop_reaudits_another_case_of_the_worker_rule_a4_t7_gaps9() -> None:
    """Lancashire: "3 months later, the social worker will be allocated a different learning
    space" — another open case of the same worker, not audited in the window."""
    cfg = make_cfg(
        BASE,
        sample={"fraction": 0.0},
        reaudit={"after_cycles": 3, "case": "other-of-worker", "role": "Team Manager"},
    )
    people = [staff("Tess Manager", team="Team B")]
    cases = [
        case(1, worker="Sam Worker"),  # the Inadequate one
        case(2, worker="Sam Worker"),
        case(3, worker="Sam Worker"),  # audited recently: S3
        case(4, worker="Sam Worker", status="Closed"),
        case(5, worker="Kim Worker"),
    ]
    hist = History(
        recently_audited=frozenset({"P00001", "P00003"}),
        reaudit_candidates=(
            ret(1, "P00001", "Inadequate", cycle="2026-09", worker="Sam Worker"),
            ret(2, "P00009", "Inadequate", cycle="2026-09", worker="Lee Worker"),  # no case
            ret(3, "P00005", "Inadequate", cycle="2026-10", worker="Kim Worker"),  # not yet
        ),
    )
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, hist, seed=1)
    (a,) = r.allocations
    assert (a.case_id, a.type, a.reaudit_of, a.reaudit_round) == (
        "P00002",
        "reaudit",
        "A-2026-09-0001",
        1,
    )
    assert a.worker == "Sam Worker" and a.auditor == "Tess Manager"
    assert [(u.case_id, u.reason) for u in r.unallocated] == [
        (
            "P00009",
            "re-audit due (rule A4: Inadequate in 2026-09) of another case of Lee Worker, "
            "but they have no other open case not audited in the last 6 months",
        )
    ]
    later = allocate_cycle("2027-01", cases, people, cfg, CAL, hist, seed=1)
    assert "P00009" not in {u.case_id for u in later.unallocated}  # said once


def test_closing_the_loop_two_due_for_one_worker_get_different_cases_rule_a4_gaps9() -> None:
    cfg = make_cfg(
        BASE,
        sample={"fraction": 0.0},
        reaudit={"after_cycles": 3, "case": "other-of-worker", "role": "Team Manager"},
    )
    cases = [case(i, worker="Sam Worker") for i in range(1, 6)]
    hist = History(
        recently_audited=frozenset({"P00001", "P00002"}),
        reaudit_candidates=(
            ret(1, "P00001", "Inadequate", cycle="2026-09", worker="Sam Worker"),
            ret(2, "P00002", "Inadequate", cycle="2026-09", worker="Sam Worker"),
        ),
    )
    r = allocate_cycle("2026-12", cases, [staff("Tess Manager")], cfg, CAL, hist, seed=4)
    got = sorted(a.case_id for a in r.allocations)
    assert len(got) == 2 and len(set(got)) == 2
    assert not set(got) & {"P00001", "P00002"}


# ------------------------------------------------------------------ GAPS 10: repeat late return


def repeat_cfg(tmp_path: Path) -> Config:
    cfg = make_workdir(tmp_path)
    text = cfg.path.read_text(encoding="utf-8").replace(
        "[escalation]\n", '[escalation]\nrepeat_late_return_notify = ["Assistant Director"]\n', 1
    )
    cfg.path.write_text(text, encoding="utf-8")
    return read_config(cfg.path)


def late(due: date, auditor: str = "Aud Itor") -> Pending:
    return Pending(
        kind="late-return",
        ref="X1",
        rule="T4",
        audit_id="X1",
        case_id="P000001",
        due=due,
        responsible=auditor,
        responsible_role="Auditor",
        auditor=auditor,
    )


@pytest.mark.parametrize(
    "earlier,repeat",
    [
        ([date(2026, 11, 30)], True),  # late last month
        ([date(2026, 1, 30)], True),  # within 12 months
        ([date(2025, 12, 30)], False),  # more than 12 months before
        ([date(2026, 12, 31)], False),  # the same deadline is not an earlier one
        ([], False),
    ],
)
def test_repeat_late_return_adds_roles_to_the_first_rung_rule_t4_gaps10(
    tmp_path: Path, earlier: list[date], repeat: bool
) -> None:
    """Haringey 2.15: the same auditor late again -> the Assistant Director is told too."""
    cfg = repeat_cfg(tmp_path)
    (item,) = compute_overdue(
        date(2027, 1, 5),  # 2 working days late: first rung
        [late(DEC_DUE)],
        read_staff(cfg.staff),
        cfg,
        overdue_calendar(cfg),
        late_before={"Aud Itor": earlier},
    )
    told = [(n.level, n.recipient.name) for n in item.notify]
    assert told[:2] == [(1, "Sue Senior"), (1, "Hana Head")]
    assert ((1, "Ada Assistant") in told) is repeat
    assert item.detail.startswith("repeat late return") is repeat


def test_repeat_late_return_not_before_the_first_rung_rule_t4_gaps10(tmp_path: Path) -> None:
    cfg = repeat_cfg(tmp_path)
    (item,) = compute_overdue(
        date(2027, 1, 4),  # 1 working day late: no rung yet
        [late(DEC_DUE)],
        read_staff(cfg.staff),
        cfg,
        overdue_calendar(cfg),
        late_before={"Aud Itor": [date(2026, 11, 30)]},
    )
    assert item.level == 0 and item.notify == ()


def test_repeat_late_return_through_the_register_and_cli_rule_t4_gaps10(tmp_path: Path) -> None:
    cfg = repeat_cfg(tmp_path)
    nov = allocation("A-2026-11-0001", date(2026, 11, 30), cycle="2026-11")
    nov_on_time = dataclasses.replace(
        allocation("A-2026-11-0002", date(2026, 11, 30), cycle="2026-11"), auditor="Tia Manager"
    )
    dec = allocation("A-2026-12-0001", DEC_DUE)
    dec_tia = dataclasses.replace(allocation("A-2026-12-0002", DEC_DUE), auditor="Tia Manager")
    with Register.open(cfg.register_path) as reg:
        reg.overdue_fixture_allocations([nov, nov_on_time, dec, dec_tia])
        receive(reg, cfg, nov, date(2026, 12, 3), "Good")  # late
        receive(reg, cfg, nov_on_time, date(2026, 11, 27), "Good")
        assert reg.late_return_deadlines(date(2027, 1, 5)) == {
            "Aud Itor": [date(2026, 11, 30), DEC_DUE],
            "Tia Manager": [DEC_DUE],
        }
    result = runner.invoke(
        app, ["overdue", "--as-of", "2027-01-05", "--format", "json", "--config", str(cfg.path)]
    )
    data = json.loads(result.stdout)
    told = {i["audit_id"]: {n["name"] for n in i["notify"]} for i in data["items"]}
    assert "Ada Assistant" in told["A-2026-12-0001"]  # Aud Itor was late in November too
    assert "Ada Assistant" not in told["A-2026-12-0002"]  # Tia's November return was on time


# ------------------------------------------------------------------ GAPS 7: staff audits


def supervision_quota(**kw: object) -> Quota:
    fields: dict[str, object] = {
        "subject": "staff",
        "subject_roles": ("Advanced Practitioner",),
        "draw": "extra",
        "name": "professional supervision audit",
    }
    fields.update(kw)
    scope = fields.pop("scope", "line-managed")
    return Quota("Team Manager", 1, scope, "supervision", **fields)  # type: ignore[arg-type]


def test_staff_audit_of_a_line_managed_person_has_no_case_rule_a1_a2_gaps7() -> None:
    """Bedford §4: a Team Manager audits their Advanced Practitioner's supervision records."""
    cfg = make_cfg(BASE, quotas=(supervision_quota(),), sample={"fraction": 0.0})
    people = [
        staff("Ann Manager", team="Team A"),
        staff(
            "Ava Practitioner", role="Advanced Practitioner", team="Team A", manager="Ann Manager"
        ),
        staff("Bob Manager", team="Team B"),  # no AP of his own
        staff("Bea Practitioner", role="Advanced Practitioner", team="Team C", manager="Cy Boss"),
    ]
    r = allocate_cycle("2026-12", [case(1)], people, cfg, CAL, History(), seed=1)
    (a,) = r.allocations
    assert (a.case_id, a.subject, a.auditor, a.tool, a.team) == (
        "",
        "Ava Practitioner",
        "Ann Manager",
        "supervision",
        "Team A",
    )
    assert a.as_json()["subject"] == "Ava Practitioner"
    assert r.notes == (
        "professional supervision audit: 1 Team Manager without an available Advanced "
        "Practitioner they may audit (rules A2, A3): Bob Manager",
    )
    assert "1 staff audit of a person, not a case (1 professional supervision audit)" in (
        r.arithmetic.words
    )


def test_staff_audit_prefers_people_not_audited_lately_rule_a1_gaps7() -> None:
    quota = supervision_quota(scope="own-service", subject_roles=("Team Manager",))
    quota = dataclasses.replace(quota, role="Head of Service")
    cfg = make_cfg(BASE, quotas=(quota,), sample={"fraction": 0.0})
    people = [staff("Hal Head", role="Head of Service", team="", service="Service 1")] + [
        staff(f"Manager {i}", team=f"Team {i}", service="Service 1") for i in range(3)
    ]
    people.append(staff("Other Manager", team="Team X", service="Service 2"))
    hist = History(
        subject_counts=(
            ("2026-10", "Manager 0", "supervision", 1),
            ("2026-11", "Manager 1", "supervision", 1),
        )
    )
    r = allocate_cycle("2026-12", [], people, cfg, CAL, hist, seed=1)
    assert [(a.auditor, a.subject) for a in r.allocations] == [("Hal Head", "Manager 2")]


def test_practice_observation_each_worker_once_a_year_spread_rule_a1_a3_gaps7() -> None:
    """Bedford §5: every worker observed at least once a year by their line manager."""
    quota = supervision_quota(
        period="year",
        per_period=1,
        unit="subject",
        subject_roles=("Social Worker",),
        name="practice observation",
    )
    cfg = make_cfg(
        BASE,
        quotas=(quota,),
        sample={"fraction": 0.0},
        cycle={"focus": {}, "focus_themes": {}, "practice_weeks": ()},
    )
    workers = [
        staff(f"Worker {i:02d}", role="Social Worker", team="Team A", manager="Ann Manager")
        for i in range(24)
    ]
    people = [staff("Ann Manager", team="Team A"), *workers]
    months = [f"2027-{m:02d}" for m in range(1, 13)]
    counts: Counter[tuple[str, str, str]] = Counter()
    seen: Counter[str] = Counter()
    for month in months:
        hist = History(subject_counts=tuple((c, s, t, n) for (c, s, t), n in counts.items()))
        r = allocate_cycle(month, [], people, cfg, CAL, hist, seed=3)
        assert len(r.allocations) == 2  # 24 workers over 12 months
        for a in r.allocations:
            assert a.auditor == "Ann Manager" and a.case_id == ""
            counts[(a.cycle, a.subject, a.tool)] += 1
            seen[a.subject] += 1
    assert seen == {w.name: 1 for w in workers}


def test_staff_audits_recorded_with_their_subject_migration_2_gaps7(tmp_path: Path) -> None:
    """Register migration 2 adds allocations.subject; a version-1 register is migrated
    (backup first) and its rows get an empty subject."""
    import sqlite3

    from qaf.register import MIGRATIONS

    path = tmp_path / "qaf.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0][2])
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
        "applied_at TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'v1', 'x')")
    conn.execute(
        "INSERT INTO cycles (cycle, seed, created_at, as_of) VALUES ('2026-11', 1, 'x', 'y')"
    )
    conn.execute(
        "INSERT INTO allocations (audit_id, cycle, case_id, auditor, tool, type, due, created_at) "
        "VALUES ('A-2026-11-0001', '2026-11', 'P1', 'Ann Manager', 'case-audit', 'audit', "
        "'2026-11-30', 'x')"
    )
    conn.commit()
    conn.close()
    with Register.open(path) as reg:
        assert reg.schema_version() == SCHEMA_VERSION
        (old,) = reg.allocations()
        assert old.subject == ""
    assert (tmp_path / "qaf.db.before-v2.bak").exists()


def test_bedford_staff_audits_through_allocate_workbook_and_ingest_rule_i2_gaps7(
    tmp_path: Path,
) -> None:
    import random

    from openpyxl import load_workbook

    from qaf.ingest import ingest_paths
    from qaf.samples.simulate import fill_workbook, simulate_answers

    init_directory(tmp_path, framework="bedford", demo=True)
    cfg = read_config(tmp_path / "qaf.toml")
    run = run_allocate(cfg, "2026-12", seed=5, as_of=date(2026, 12, 1))
    staff_audits = [a for a in run.result.allocations if a.subject]
    assert {a.tool for a in staff_audits} == {
        "professional-supervision-audit",
        "practice-observation",
    }
    people = {p.name: p for p in read_staff(cfg.staff).staff}
    for a in staff_audits:  # rule A2: line-managed / own service, never oneself
        assert a.case_id == "" and a.subject != a.auditor
        if a.tool == "practice-observation":
            assert people[a.subject].manager == a.auditor
    with Register.open(cfg.register_path) as reg:
        stored = {x.audit_id: x.subject for x in reg.allocations("2026-12")}
    assert all(stored[a.audit_id] == a.subject for a in staff_audits)
    alloc = staff_audits[0]
    book = run.out_dir / "audits" / f"{alloc.audit_id}.xlsx"
    ws = load_workbook(book)["Audit"]
    labels = {row[0].value: row[1].value for row in ws.iter_rows(max_col=2) if row[0].value}
    assert labels["Subject"] == alloc.subject and "Case ID" not in labels
    # a copy without the hidden sheet and audit ID is matched by auditor and subject (I2)
    tool = cfg.tools[alloc.tool]
    ret = simulate_answers(alloc, tool, random.Random(1))
    dest = fill_workbook(book, tmp_path / "returns" / "copy.xlsx", ret, tool)
    wb = load_workbook(dest)
    del wb["qaf"]
    for row in wb["Audit"].iter_rows():
        if row[0].value == "Audit ID":
            row[1].value = None
    wb.save(dest)
    [f] = ingest_paths(cfg, [dest], as_of=date(2027, 1, 8)).files
    assert f.status == "accepted", [p.message for p in f.problems]
    assert f.audit_id == alloc.audit_id


# ------------------------------------------------------------------ S2 with the new behaviour


@pytest.mark.parametrize("name", ["haringey", "bedford", "lancashire", "rochdale"])
def test_same_seed_same_allocation_with_every_preset_rule_s2(name: str, tmp_path: Path) -> None:
    """Team quotas, extra draws, period spreads, staff audits and re-audit picks are seeded
    too: the same seed, case list and register give the same allocation; another seed differs."""
    init_directory(tmp_path, framework=name, demo=True)
    cfg = read_config(tmp_path / "qaf.toml")
    cases = read_cases(cfg.cases).cases
    people = read_staff(cfg.staff).staff
    runs = [
        allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=s) for s in (7, 7, 8)
    ]
    assert runs[0].as_json() == runs[1].as_json()
    assert runs[0].notes == runs[1].notes
    assert runs[0].as_json()["allocations"] != runs[2].as_json()["allocations"]
