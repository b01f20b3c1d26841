"""qaf/allocate.py: eligibility, sample, re-audits, assignment and moderation picks (pure)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaf.allocate import (
    Auditor,
    History,
    PriorReturn,
    _Group,
    allocate_cycle,
    assign,
    largest_remainder,
    may_audit,
    sample_size,
    weighted_sample,
    year_cycles,
)
from qaf.calendar import WorkingCalendar
from qaf.config import Config, Quota, read_config
from qaf.records import Case, StaffMember
from qaf.workdir import preset_text

CAL = WorkingCalendar()


def _generic() -> Config:
    d = Path(tempfile.mkdtemp(prefix="qaf-test-"))
    (d / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    return read_config(d / "qaf.toml")


BASE = _generic()


def make_cfg(base: Config, **kw: object) -> Config:
    """The generic config with no focus theme and TM quotas, then the given changes."""
    sample = dataclasses.replace(base.sample, **kw.pop("sample", {}))  # type: ignore[arg-type]
    cycle = dataclasses.replace(base.cycle, **kw.pop("cycle", {"focus": {}, "focus_themes": {}}))  # type: ignore[arg-type]
    quotas = kw.pop("quotas", (Quota("Team Manager", 1, "outside-own-team", "case-audit"),))
    reaudit = dataclasses.replace(base.reaudit, **kw.pop("reaudit", {}))  # type: ignore[arg-type]
    moderation = dataclasses.replace(base.moderation, **kw.pop("moderation", {}))  # type: ignore[arg-type]
    return dataclasses.replace(
        base,
        sample=sample,
        cycle=cycle,
        quotas=quotas,  # type: ignore[arg-type]
        reaudit=reaudit,
        moderation=moderation,
        **kw,  # type: ignore[arg-type]
    )


def case(i: int, team: str = "Team A", worker: str = "Sam Worker", **kw: object) -> Case:
    fields: dict[str, object] = {
        "case_id": f"P{i:05d}",
        "team": team,
        "worker": worker,
        "service": kw.pop("service", "Service 1"),
        "category": kw.pop("category", "CiN"),
        "status": kw.pop("status", "Open"),
    }
    fields.update(kw)
    return Case(**fields)  # type: ignore[arg-type]


def staff(name: str, role: str = "Team Manager", team: str = "Team B", **kw: object) -> StaffMember:
    return StaffMember(
        name=name,
        email=f"{name.split()[0].lower()}@example.org",
        role=role,
        team=team,
        service=str(kw.pop("service", "Service 1")),
        **kw,  # type: ignore[arg-type]
    )


def auditor(
    name: str, team: str, cap: int = 1, scope: str = "outside-own-team", **kw: object
) -> Auditor:
    return Auditor(staff(name, team=team, **kw), cap, scope, "case-audit")


def group(team: str, n: int = 1, service: str = "Service 1", worker: str = "") -> _Group:
    g = _Group((team, service, worker, ""), team, service, worker, "")
    g.items.extend((case(i, team=team),) for i in range(n))
    return g


# ------------------------------------------------------------------ S1 arithmetic


@pytest.mark.parametrize(
    ("eligible", "fraction", "per", "cycles", "expected"),
    [
        (1200, 0.10, "year", 12, 10),  # exactly 10: no float rounding up to 11
        (1400, 0.10, "year", 12, 12),  # Bedford's c.140 of c.1,400 a year
        (1187, 0.10, "year", 11, 11),
        (1187, 0.10, "cycle", 11, 119),
        (0, 0.10, "year", 12, 0),
        (7, 0.15, "cycle", 12, 2),
    ],
)
def test_sample_size_rule_s1(
    eligible: int, fraction: float, per: str, cycles: int, expected: int
) -> None:
    assert sample_size(eligible, fraction, per, cycles) == expected


def test_year_cycles_skip_practice_weeks_rule_c1() -> None:
    assert year_cycles("2026-12", ["2027-06"]) == (11, ("2027-06",))
    assert year_cycles("2027-07", ["2027-06"]) == (12, ())


def test_largest_remainder_proportional_and_every_team_seen_rule_s1() -> None:
    assert largest_remainder({"A": 50, "B": 30, "C": 20}, 10) == {"A": 5, "B": 3, "C": 2}
    # every stratum gets one, the rest in proportion to what is left
    got = largest_remainder({"A": 97, "B": 2, "C": 1}, 5)
    assert got == {"A": 3, "B": 1, "C": 1}
    # more strata than the sample: one each (the sample grows so every team is seen)
    assert largest_remainder({"A": 5, "B": 5, "C": 5}, 2) == {"A": 1, "B": 1, "C": 1}
    assert largest_remainder({"A": 5, "B": 5, "C": 5}, 2, every=False) == {
        "A": 1,
        "B": 1,
        "C": 0,
    }


def test_team_floor_raises_the_sample_rochdale_rule_s1() -> None:
    # Rochdale 3.2: minimum 4 per team per month
    got = largest_remainder({"A": 100, "B": 10, "C": 3}, 6, floor=4)
    assert got["B"] == 4 and got["C"] == 3  # a team with 3 cases gives all 3
    assert got["A"] >= 4


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from("ABCDEFGH"), st.integers(0, 60), min_size=1),
    st.integers(0, 200),
    st.integers(0, 5),
)
def test_largest_remainder_properties_rule_s1(
    sizes: dict[str, int], total: int, floor: int
) -> None:
    got = largest_remainder(sizes, total, floor)
    available = sum(sizes.values())
    assert all(0 <= got.get(k, 0) <= n for k, n in sizes.items())
    assert sum(got.values()) >= min(total, available)
    if total > 0:
        assert all(got[k] >= min(n, max(floor, 1)) for k, n in sizes.items() if n)
    if floor == 0 and total >= sum(1 for n in sizes.values() if n):
        assert sum(got.values()) == min(total, available)


# ---------------------------------------------------------------- A2 scope table


@pytest.mark.parametrize(
    ("scope", "a_team", "a_service", "c_team", "c_service", "worker", "ok"),
    [
        ("outside-own-team", "Team B", "S1", "Team A", "S1", "", True),
        ("outside-own-team", "Team A", "S1", "Team A", "S1", "", False),
        ("own-team", "Team A", "S1", "Team A", "S1", "", True),
        ("own-team", "Team B", "S1", "Team A", "S1", "", False),
        ("outside-own-service", "Team B", "S1", "Team A", "S1", "", False),
        ("outside-own-service", "Team B", "S2", "Team A", "S1", "", True),
        ("any", "Team A", "S1", "Team A", "S1", "", True),
        ("any", "Team A", "S1", "Team A", "S1", "Ann Auditor", False),  # own caseload
        ("own-team", "Team A", "S1", "Team A", "S1", " ann  AUDITOR ", False),
        ("own-service", "Team B", "S1", "Team A", "S1", "", True),
        ("own-service", "Team B", "S2", "Team A", "S1", "", False),
    ],
)
def test_may_audit_scope_and_own_caseload_rule_a2(
    scope: str, a_team: str, a_service: str, c_team: str, c_service: str, worker: str, ok: bool
) -> None:
    a = Auditor(staff("Ann Auditor", team=a_team, service=a_service), 1, scope, "t")
    assert may_audit(a, c_team, c_service, worker) is ok


def test_line_managed_scope_rule_a2() -> None:
    # the auditor audits the cases of the workers they line-manage, nobody else's
    cfg = make_cfg(
        BASE,
        sample={"fraction": 1.0, "per": "cycle", "stratify_by": None},
        quotas=(Quota("Team Manager", 5, "line-managed", "supervision-audit"),),
    )
    people = [
        staff("Tia Manager", team="Team A"),
        staff("Lee Manager", team="Team A"),
        staff("Sam Worker", "Social Worker", "Team A", manager="Tia Manager"),
        staff("Kim Worker", "Social Worker", "Team A", manager="Lee Manager"),
        staff("Pat Worker", "Social Worker", "Team A"),
    ]
    cases = [
        case(1, worker="Sam Worker"),
        case(2, worker="Kim Worker"),
        case(3, worker="Pat Worker"),
    ]
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=1)
    assert {(a.case_id, a.auditor) for a in r.allocations} == {
        ("P00001", "Tia Manager"),
        ("P00002", "Lee Manager"),
    }
    assert [u.case_id for u in r.unallocated] == ["P00003"]
    assert r.unallocated[0].reason.startswith("no eligible auditor: none of the 2 available")


# ----------------------------------------------------------- assignment A1-A3


def test_assignment_finds_what_greedy_first_fit_misses_rule_a1() -> None:
    # rule A1/A2: greedy first-fit gives the Team A case to Cal (the first auditor
    # allowed), leaving the Team B case with nobody; a valid assignment exists.
    groups = [group("Team A"), group("Team B")]
    auditors = [auditor("Cal Flexible", "Team C"), auditor("Bea Narrow", "Team B")]
    plan = assign(groups, auditors)
    assert plan == {0: [(1, 1)], 1: [(0, 1)]}


def test_assignment_chain_of_swaps_rule_a1() -> None:
    # three cases, three auditors, only one perfect matching, reached through a chain
    groups = [group("T1"), group("T2"), group("T3")]
    auditors = [
        auditor("A Any", "X", scope="any"),  # may audit all
        auditor("B Not2", "T2"),  # outside own team: T1, T3
        auditor("C Own3", "T3", scope="own-team"),  # only T3
    ]
    plan = assign(groups, auditors)
    placed = {g: [j for j, _ in js] for g, js in plan.items()}
    assert placed == {0: [1], 1: [0], 2: [2]}


def test_impossible_cases_are_named_with_reasons_rule_a1_a2() -> None:
    # Team A case: only auditor is in Team A (outside-own-team) -> no eligible auditor.
    # Two Team B cases, one quota -> one placed, one "quotas full".
    cfg_cases = [case(1, "Team A"), case(2, "Team B"), case(3, "Team B")]
    people = [staff("Tia Manager", team="Team A")]
    cfg = make_cfg(BASE, sample={"fraction": 1.0, "per": "cycle", "stratify_by": None})
    r = allocate_cycle("2026-12", cfg_cases, people, cfg, CAL, History(), seed=1)
    assert [a.case_id for a in r.allocations] == ["P00002"] or [
        a.case_id for a in r.allocations
    ] == ["P00003"]
    reasons = {u.case_id: u.reason for u in r.unallocated}
    assert reasons["P00001"] == (
        "no eligible auditor: none of the 1 available quota auditors may audit a case of "
        "Team A / Service 1 (rule A2: scope and own caseload)"
    )
    other = ({"P00002", "P00003"} - {r.allocations[0].case_id}).pop()
    assert reasons[other] == (
        "quotas full: the 1 auditors allowed to audit it have all 1 allocations taken (rule A1)"
    )


def test_no_auditor_at_all_and_unavailable_counted_rule_a3() -> None:
    cfg = make_cfg(BASE, sample={"fraction": 1.0, "per": "cycle", "stratify_by": None})
    people = [
        staff("Away Manager", available=False),
        staff("Leave Manager", absent_from=date(2026, 11, 20), absent_to=date(2026, 12, 4)),
    ]
    r = allocate_cycle("2026-12", [case(1)], people, cfg, CAL, History(), seed=1)
    assert r.allocations == ()
    assert r.unallocated[0].reason == (
        "no available auditor with a quota role; 2 unavailable (rule A3) (rule A1)"
    )


def test_unavailable_auditors_get_nothing_and_load_is_balanced_rule_a3() -> None:
    cfg = make_cfg(
        BASE,
        sample={"fraction": 1.0, "per": "cycle", "stratify_by": None},
        quotas=(Quota("Team Manager", 5, "outside-own-team", "case-audit"),),
    )
    people = [
        staff("Ann Manager"),
        staff("Bob Manager"),
        staff("Cat Manager", available=False),
        staff("Dan Manager", absent_from=date(2026, 12, 1), absent_to=date(2026, 12, 2)),
        staff("Eve Manager", absent_from=date(2026, 12, 2)),  # back for the first day: busy
    ]
    r = allocate_cycle("2026-12", [case(i) for i in range(6)], people, cfg, CAL, History(), 3)
    loads = r.loads()
    assert set(loads) == {"Ann Manager", "Bob Manager", "Eve Manager"}
    assert sorted(loads.values()) == [2, 2, 2]
    assert r.unallocated == ()


def test_balance_with_one_narrow_auditor_rule_a3() -> None:
    # Bea may audit only Team A; Cal may audit both. 1 Team A + 3 Team C cases, quota 3:
    # the only placement of all 4 is Bea 1 (Team A), Cal 3.
    groups = [group("Team A", 1), group("Team C", 3)]
    auditors = [auditor("Cal Flexible", "Team X", 3), auditor("Bea Narrow", "Team C", 3)]
    plan = assign(groups, auditors)
    assert plan == {0: [(1, 1)], 1: [(0, 3)]}
    # 2 Team A + 2 Team B cases, both may audit all: 2 each, not 3 + 1
    plan = assign(
        [group("Team A", 2), group("Team B", 2)],
        [auditor("One", "Team X", 3), auditor("Two", "Team Y", 3)],
    )
    loads = Counter()
    for js in plan.values():
        for j, n in js:
            loads[j] += n
    assert sorted(loads.values()) == [2, 2]


def test_own_caseload_never_allocated_rule_a2() -> None:
    # an Advanced Practitioner who holds cases audits with scope "any": never their own
    cfg = make_cfg(
        BASE,
        sample={"fraction": 1.0, "per": "cycle", "stratify_by": None},
        quotas=(Quota("Advanced Practitioner", 2, "any", "case-audit"),),
    )
    people = [
        staff("Ada Practitioner", "Advanced Practitioner", "Team A"),
        staff("Ben Practitioner", "Advanced Practitioner", "Team A"),
    ]
    cases = [case(1, worker="Ada Practitioner"), case(2, worker="Ben Practitioner")]
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=5)
    assert {(a.case_id, a.auditor) for a in r.allocations} == {
        ("P00001", "Ben Practitioner"),
        ("P00002", "Ada Practitioner"),
    }


# -------------------------------------------------------- sample S1-S3, C3


def test_exclusions_counted_by_reason_rule_s3() -> None:
    cfg = make_cfg(BASE, sample={"fraction": 1.0, "per": "cycle", "stratify_by": None})
    cases = [
        case(1, status="Closed"),
        case(2, status=" closed "),
        case(3),
        case(4),
        case(5),
    ]
    hist = History(recently_audited=frozenset({"P00003"}))
    r = allocate_cycle("2026-12", cases, [staff("Ann Manager")], cfg, CAL, hist, seed=1)
    assert dict(r.arithmetic.excluded) == {
        "closed": 2,
        "audited or allocated in the last 6 months": 1,
    }
    assert r.arithmetic.eligible == 2 and r.arithmetic.open_cases == 3
    assert {a.case_id for a in r.allocations} | {u.case_id for u in r.unallocated} == {
        "P00004",
        "P00005",
    }


def test_arithmetic_in_words_rule_s1() -> None:
    cfg = make_cfg(BASE)
    cases = [case(i, team=f"Team {i % 3}") for i in range(1187)]
    people = [staff(f"M{i} Manager", team=f"Team X{i}") for i in range(20)]
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=1)
    assert r.arithmetic.words == (
        "11 cases: 10% a year of 1,187 eligible open cases, spread over 11 cycles "
        "(June 2027 is a practice week)"
    )
    assert len(r.allocations) == 11
    assert r.arithmetic.size == 11
    assert {s: n for s, _e, n in r.arithmetic.strata} == {"Team 0": 4, "Team 1": 4, "Team 2": 3}


def test_quotas_mode_sample_is_sum_of_available_quotas_rule_a1() -> None:
    cfg = make_cfg(BASE, sample={"size": "quotas"})
    people = [staff("Ann Manager"), staff("Bob Manager"), staff("Cat Manager", available=False)]
    r = allocate_cycle("2026-12", [case(i) for i in range(50)], people, cfg, CAL, History(), seed=2)
    assert len(r.allocations) == 2 and r.unallocated == ()
    assert r.arithmetic.words.startswith(
        "2 cases: the quotas of 2 available auditors (2 a cycle), from 50 eligible open cases"
    )


def test_same_seed_same_sample_any_input_order_rule_s2() -> None:
    cfg = make_cfg(BASE, sample={"fraction": 0.5, "per": "cycle"})
    cases = [case(i, team=f"Team {i % 4}") for i in range(40)]
    people = [staff(f"M{i} Manager", team=f"Team {i}") for i in range(30)]
    r1 = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=42)
    r2 = allocate_cycle("2026-12", cases[::-1], people, cfg, CAL, History(), seed=42)
    r3 = allocate_cycle("2026-12", cases, people, cfg, CAL, History(), seed=43)
    assert r1 == r2
    assert r1.as_json() == r2.as_json()
    assert [a.case_id for a in r1.allocations] != [a.case_id for a in r3.allocations]
    ids = [a.audit_id for a in r1.allocations]
    assert ids == [f"A-2026-12-{n:04d}" for n in range(1, len(ids) + 1)]


def test_focus_theme_restrict_rule_c3() -> None:
    cfg = make_cfg(
        BASE,
        sample={"fraction": 1.0, "per": "cycle", "stratify_by": None},
        cycle={
            "focus": {"2026-12": "PLO"},
            "focus_themes": {"2026-12": ("PLO",)},
            "focus_mode": "restrict",
            "themes": {"PLO": {"category": ("CP",), "legal_status": ("C1",)}},
        },
        quotas=(Quota("Team Manager", 10, "outside-own-team", "case-audit"),),
    )
    cases = [
        case(1, category="CP"),
        case(2, category="cin"),
        case(3, category="CiN", extra={"legal_status": "c1"}),
    ]
    r = allocate_cycle("2026-12", cases, [staff("Ann Manager")], cfg, CAL, History(), 1)
    assert {a.case_id for a in r.allocations} == {"P00001", "P00003"}
    assert dict(r.arithmetic.excluded) == {'outside the focus theme "PLO"': 1}


def test_focus_theme_weight_favours_theme_cases_rule_c3() -> None:
    import random

    pool = [case(i) for i in range(100)]
    favoured = {c.case_id for c in pool[:10]}
    hits = sum(
        sum(
            c.case_id in favoured
            for c in weighted_sample(pool, favoured, 50.0, 10, random.Random(s))
        )
        for s in range(20)
    )
    plain = sum(
        sum(
            c.case_id in favoured
            for c in weighted_sample(pool, favoured, 1.0, 10, random.Random(s))
        )
        for s in range(20)
    )
    assert hits > 3 * plain
    picked = weighted_sample(pool, favoured, 3.0, 100, random.Random(1))
    assert sorted(c.case_id for c in picked) == sorted(c.case_id for c in pool)  # no repeats


# --------------------------------------------------------------- re-audits A4


def ret(rid: int, case_id: str, overall: str, cycle: str = "2026-11", **kw: object) -> PriorReturn:
    fields: dict[str, object] = {
        "return_id": rid,
        "audit_id": f"A-{cycle}-{rid:04d}",
        "case_id": case_id,
        "cycle": cycle,
        "overall": overall,
        "auditor": "Ann Manager",
    }
    fields.update(kw)
    return PriorReturn(**fields)  # type: ignore[arg-type]


def test_reaudits_due_allocated_to_role_with_round_rule_a4() -> None:
    cfg = make_cfg(BASE, sample={"fraction": 0.0})
    people = [
        staff("Sue Service", "Service Manager"),
        staff("Ann Manager", "Service Manager"),  # audited it last time: not again
    ]
    cases = [case(1), case(2), case(3), case(4)]
    hist = History(
        reaudit_candidates=(
            ret(1, "P00001", "Requires Improvement"),
            ret(2, "P00002", "Inadequate", reaudit_round=1, type="reaudit"),
            ret(3, "P00003", "Good"),  # not a re-audit grade
            ret(4, "P00004", "Inadequate", cycle="2026-12"),  # this cycle: not due yet
        )
    )
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, hist, seed=1)
    got = {a.case_id: a for a in r.allocations}
    assert set(got) == {"P00001", "P00002"}
    assert got["P00001"].type == "reaudit" and got["P00001"].reaudit_round == 1
    assert got["P00001"].reaudit_of == "A-2026-11-0001"
    assert got["P00002"].reaudit_round == 2  # a second re-audit, for rule E2
    assert {a.auditor for a in r.allocations} == {"Sue Service"}
    assert {a.auditor_role for a in r.allocations} == {"Service Manager"}
    assert dict(r.arithmetic.excluded)["already allocated this cycle (re-audit)"] == 2


def test_reaudit_after_cycles_carried_and_done_once_rule_a4() -> None:
    cfg = make_cfg(BASE, sample={"fraction": 0.0}, reaudit={"after_cycles": 3})
    people = [staff("Sue Service", "Service Manager")]
    cases = [case(1), case(2), case(3, status="Closed")]
    hist = History(
        reaudit_candidates=(
            ret(1, "P00001", "Inadequate", cycle="2026-10"),  # due 2027-01: not yet
            ret(2, "P00002", "Inadequate", cycle="2026-08"),  # due 2026-11, missed: carried
            ret(3, "P00003", "Inadequate", cycle="2026-09"),  # due now but closed
            ret(5, "P00005", "Inadequate", cycle="2026-07"),  # overdue, gone: said before
        ),
        reaudited=frozenset({"A-2026-07-0005"}),
    )
    r = allocate_cycle("2026-12", cases, people, cfg, CAL, hist, seed=1)
    assert [a.case_id for a in r.allocations] == ["P00002"]
    assert [(u.case_id, u.reason) for u in r.unallocated] == [
        ("P00003", "re-audit due (rule A4: Inadequate in 2026-09) but the case is closed")
    ]


def test_reaudit_without_role_is_unallocated_rule_a4() -> None:
    cfg = make_cfg(BASE, sample={"fraction": 0.0})
    hist = History(reaudit_candidates=(ret(1, "P00001", "Inadequate"),))
    r = allocate_cycle("2026-12", [case(1)], [staff("Ann Manager")], cfg, CAL, hist, 1)
    assert r.unallocated[0].reason == (
        'no available auditor with a "Service Manager" role (rule A1)'
    )


# --------------------------------------------------------------- moderation M1


def test_moderation_always_grades_plus_fraction_rule_m1() -> None:
    cfg = make_cfg(BASE, sample={"fraction": 0.0})
    returns = tuple(
        ret(i, f"P{i:05d}", "Inadequate" if i in (3, 7) else "Good") for i in range(1, 21)
    )
    people = [staff("Quin QA", "QA Officer", "QA"), staff("Ray QA", "QA Officer", "QA")]
    hist = History(previous_cycle="2026-11", previous_returns=returns)
    r1 = allocate_cycle("2026-12", [], people, cfg, CAL, hist, seed=9)
    r2 = allocate_cycle("2026-12", [], people, cfg, CAL, hist, seed=9)
    assert r1.moderation == r2.moderation
    reasons = Counter(m.reason for m in r1.moderation)
    assert reasons == {"always: Inadequate": 2, "random 15%": 3}  # ceil(15% of 20) = 3
    assert {m.return_id for m in r1.moderation if m.reason.startswith("always")} == {3, 7}
    assert {m.moderator for m in r1.moderation} == {"Quin QA", "Ray QA"}
    assert r1.moderation[0].due == CAL.add_working_days(date(2026, 12, 1), 10)
    hist2 = dataclasses.replace(hist, already_moderated=frozenset({"A-2026-11-0003"}))
    r3 = allocate_cycle("2026-12", [], people, cfg, CAL, hist2, seed=9)
    assert "A-2026-11-0003" not in {m.audit_id for m in r3.moderation}


def test_moderation_only_of_the_moderated_tools_rule_m1() -> None:
    """M1 with ``moderation.tools`` (Lancashire: "15% of learning spaces"): the always-grades
    and the fraction are taken from those tools' returns only."""
    cfg = make_cfg(BASE, sample={"fraction": 0.0}, moderation={"tools": ("learning-space",)})
    returns = tuple(
        ret(i, f"P{i:05d}", "Inadequate" if i in (3, 4) else "Good",
            tool="learning-space" if i % 2 else "dip-sample")
        for i in range(1, 21)
    )  # fmt: skip
    people = [staff("Quin QA", "QA Officer", "QA")]
    hist = History(previous_cycle="2026-11", previous_returns=returns)
    result = allocate_cycle("2026-12", [], people, cfg, CAL, hist, seed=9)
    picked = {m.return_id: m.reason for m in result.moderation}
    assert all(i % 2 for i in picked)  # learning spaces only: 3 is, dip sample 4 is not
    assert Counter(picked.values()) == {"always: Inadequate": 1, "random 15%": 2}  # ceil(1.5)


# --------------------------------------------- invariants on a larger authority


def test_invariants_on_generated_authority_rules_a1_a2_a3_s1() -> None:
    from qaf.samples.authority import build_authority

    auth = build_authority(cases=5000, auditors=120)
    cases = [Case(c.case_id, c.team, c.worker, c.service, c.category, c.status) for c in auth.cases]
    people = [
        StaffMember(
            s.name,
            s.email,
            s.role,
            s.team,
            s.service,
            s.line_manager or None,
            s.available,
            s.absent_from,
            s.absent_to,
        )
        for s in auth.staff
    ]
    r = allocate_cycle("2026-12", cases, people, BASE, CAL, History(), seed=7)
    by_name = {s.name: s for s in people}
    quota = {q.role: q for q in BASE.quotas}
    by_case = {c.case_id: c for c in cases}
    first = date(2026, 12, 1)
    for a in r.allocations:
        s = by_name[a.auditor]
        c = by_case[a.case_id]
        assert s.available_on(first)  # A3
        assert s.name != c.worker  # A2
        scope = quota[s.role].scope
        assert may_audit(Auditor(s, 1, scope, ""), c.team, c.service, c.worker)
    for name, n in r.loads().items():
        assert n <= quota[by_name[name].role].per_cycle  # A1
    teams = {c.team for c in cases if c.status == "Open"}
    sampled = {a.team for a in r.allocations} | {by_case[u.case_id].team for u in r.unallocated}
    assert sampled == teams  # S1: every team seen
    assert len(r.allocations) + len(r.unallocated) == r.arithmetic.size
