"""The fictional sample authority (Northvale Borough Council) that demos, tests and
benchmarks run on: deterministic, realistic in shape, and consistent with itself.

The sample is what the allocation, escalation and reporting rules are exercised
on, so the invariants they rely on are tested here: every team holds cases and
has a Team Manager (rules S1 stratify by team, A1 quotas), closed rows exist
(S3), every case's worker is in that team (A2), some staff are away (A3), and
the roles escalations go to exist in a proper line-management tree (E1, T4, T5).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaf.samples import authority as sa
from qaf.samples.authority import (
    ADVANCED_PRACTITIONER,
    ASSISTANT_DIRECTOR,
    AUDITOR_ROLES,
    CASE_HEADERS,
    CASE_HOLDING_ROLES,
    CLOSED,
    CP_CHAIR,
    DIRECTOR,
    EXECUTIVE_DIRECTOR,
    HEAD_OF_SERVICE,
    IRO,
    OPEN,
    QA_OFFICER,
    ROLES,
    SERVICE_MANAGER,
    SOCIAL_WORKER,
    STAFF_HEADERS,
    TEAM_KINDS,
    TEAM_MANAGER,
    Authority,
    build_authority,
    write_case_list,
    write_sample_authority,
    write_staff_roster,
)
from qaf.samples.names import FAMOUS, email_local

AS_OF = date(2026, 11, 25)

# Which categories a team of each kind may hold.
KIND_CATEGORIES = {
    "early-help": {"Early Help"},
    "mash": {"CiN", "Early Help"},
    "assessment": {"CiN", "CP"},
    "safeguarding": {"CiN", "CP", "Child in our care"},
    "children-in-care": {"Child in our care"},
    "leaving-care": {"Care Leaver", "Child in our care"},
    "disability": {"CwD", "CP", "Child in our care"},
}

# Who each role reports to.
MANAGER_ROLE = {
    SOCIAL_WORKER: {TEAM_MANAGER},
    ADVANCED_PRACTITIONER: {TEAM_MANAGER},
    TEAM_MANAGER: {SERVICE_MANAGER},
    SERVICE_MANAGER: {HEAD_OF_SERVICE},
    HEAD_OF_SERVICE: {ASSISTANT_DIRECTOR},
    ASSISTANT_DIRECTOR: {DIRECTOR},
    DIRECTOR: {EXECUTIVE_DIRECTOR},
    IRO: {SERVICE_MANAGER, HEAD_OF_SERVICE},
    CP_CHAIR: {SERVICE_MANAGER, HEAD_OF_SERVICE},
    QA_OFFICER: {SERVICE_MANAGER, HEAD_OF_SERVICE},
}


@pytest.fixture(scope="module")
def default() -> Authority:
    return build_authority()


@pytest.fixture(scope="module")
def scaled() -> Authority:
    return build_authority(cases=5000, auditors=150)


@pytest.fixture(scope="module")
def small() -> Authority:
    return build_authority(cases=50)


@pytest.fixture(params=["default", "scaled", "small"])
def any_authority(request: pytest.FixtureRequest) -> Authority:
    return request.getfixturevalue(request.param)


def open_cases(a: Authority) -> list[sa.CaseRow]:
    return [c for c in a.cases if c.status == OPEN]


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_authority_rule_S2() -> None:
    # rule S2: the sample is reproducible, so the data it is drawn from must be too.
    assert build_authority(cases=300, seed=7) == build_authority(cases=300, seed=7)


def test_different_seed_different_authority() -> None:
    a, b = build_authority(cases=300, seed=7), build_authority(cases=300, seed=8)
    assert a.cases != b.cases
    assert [s.name for s in a.staff] != [s.name for s in b.staff]


def test_build_does_not_touch_the_global_rng() -> None:
    import random

    random.seed(12345)
    expected = random.random()
    random.seed(12345)
    build_authority(cases=100)
    assert random.random() == expected


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_written_files_are_byte_for_byte_stable(tmp_path: Path, suffix: str) -> None:
    a = build_authority(cases=200, seed=3)
    b = build_authority(cases=200, seed=3)
    for who, auth in (("a", a), ("b", b)):
        write_case_list(auth, tmp_path / who / f"cases.{suffix}")
        write_staff_roster(auth, tmp_path / who / f"staff.{suffix}")
    for name in (f"cases.{suffix}", f"staff.{suffix}"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


# --------------------------------------------------------------------------- shape


def test_default_shape(default: Authority) -> None:
    assert default.name == "Northvale Borough Council"
    assert default.as_of == AS_OF
    assert len(open_cases(default)) == 1200
    closed = sum(c.status == CLOSED for c in default.cases)
    assert closed == 60  # rule S3: ~5% closed rows that the config excludes
    assert len({t.name for t in default.teams}) == len(default.teams) >= 13
    assert len({t.service for t in default.teams}) >= 4
    assert {t.name for t in default.teams} >= {
        "MASH",
        "Early Help North",
        "Safeguarding East",
        "Children in Care 1",
        "Leaving Care",
        "Children with Disabilities",
    }
    assert 55 <= len(default.staff) <= 90


def test_all_roles_present(any_authority: Authority) -> None:
    # rules A1, E1, T4, T5: quota and escalation roles must exist in the roster.
    roles = Counter(s.role for s in any_authority.staff)
    assert set(roles) == set(ROLES)
    assert roles[EXECUTIVE_DIRECTOR] == 1
    assert roles[DIRECTOR] == 1
    assert roles[IRO] >= 2 and roles[CP_CHAIR] >= 2 and roles[QA_OFFICER] >= 2


def test_team_kinds_and_services(any_authority: Authority) -> None:
    for team in any_authority.teams:
        assert team.kind in TEAM_KINDS
        assert team.service
    assert {t.kind for t in any_authority.teams} == set(TEAM_KINDS)


def test_every_team_has_open_cases_and_one_team_manager_rule_S1(any_authority: Authority) -> None:
    # rule S1: stratified by team, so every team must hold cases; rule A1: TM quotas.
    per_team = Counter(c.team for c in open_cases(any_authority))
    tms = Counter(s.team for s in any_authority.staff if s.role == TEAM_MANAGER)
    for team in any_authority.teams:
        assert per_team[team.name] >= 1, team.name
        assert tms[team.name] == 1, team.name


def test_every_worker_is_in_the_roster_in_the_case_team_rule_A2(any_authority: Authority) -> None:
    # rule A2: independence is judged on team membership, so it must be consistent.
    roster = {s.name: s for s in any_authority.staff}
    teams = {t.name: t for t in any_authority.teams}
    for case in any_authority.cases:
        worker = roster[case.worker]
        assert worker.team == case.team
        assert worker.role in CASE_HOLDING_ROLES
        assert case.service == teams[case.team].service == worker.service


def test_categories_match_team_kind(any_authority: Authority) -> None:
    kinds = {t.name: t.kind for t in any_authority.teams}
    for case in any_authority.cases:
        assert case.category in KIND_CATEGORIES[kinds[case.team]], (case.team, case.category)


def test_case_ids_unique_and_shaped(any_authority: Authority) -> None:
    ids = [c.case_id for c in any_authority.cases]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"P\d{6}", i) for i in ids)


def test_case_dates_are_consistent(any_authority: Authority) -> None:
    as_of = any_authority.as_of
    for c in any_authority.cases:
        assert c.date_of_birth <= c.referral_date <= as_of
        if c.category == "CP":
            assert c.cp_plan_start is not None
            assert c.referral_date <= c.cp_plan_start <= as_of
        else:
            assert c.cp_plan_start is None
        if c.last_visit is not None:
            assert c.referral_date <= c.last_visit <= as_of
        age = (as_of - c.date_of_birth).days / 365.25
        if c.category == "Care Leaver":
            assert 18 <= age < 25
        else:
            assert age < 18


def test_codes_look_like_the_returns(any_authority: Authority) -> None:
    for c in any_authority.cases:
        assert re.fullmatch(r"N[0-9]", c.primary_need)
        assert c.gender in {"Male", "Female", "Unknown"}
        assert c.ethnicity
        if c.category == "Child in our care":
            assert c.legal_status in {"C1", "C2", "V2", "E1", "J2", "L2"}
        elif c.category == "CwD":
            assert c.legal_status in {"", "V3", "V4"}
        else:
            assert c.legal_status == ""
    legal = Counter(c.legal_status for c in any_authority.cases)
    assert legal["C2"] > 0


# --------------------------------------------------------------------------- roster


def test_line_management_reaches_the_executive_director(any_authority: Authority) -> None:
    # rules E2, T4, T5: escalation walks up this tree.
    roster = {s.name: s for s in any_authority.staff}
    assert len(roster) == len(any_authority.staff)  # names are unique
    for person in any_authority.staff:
        seen = set()
        current = person
        while current.line_manager:
            assert current.name not in seen, "cycle in line management"
            seen.add(current.name)
            manager = roster[current.line_manager]
            assert manager.role in MANAGER_ROLE[current.role], (current.role, manager.role)
            current = manager
        assert current.role == EXECUTIVE_DIRECTOR


def test_practitioners_report_to_their_own_team_manager(any_authority: Authority) -> None:
    roster = {s.name: s for s in any_authority.staff}
    for s in any_authority.staff:
        if s.role in CASE_HOLDING_ROLES:
            tm = roster[s.line_manager]
            assert tm.team == s.team
        if s.role == TEAM_MANAGER:
            assert roster[s.line_manager].service == s.service


def test_some_staff_are_away_for_the_month_rule_A3(any_authority: Authority) -> None:
    # rule A3: unavailable auditors get nothing; the sample must have some.
    staff = any_authority.staff
    away = [s for s in staff if not s.available]
    assert 1 <= len(away) <= max(1, round(0.06 * len(staff)))
    month_start = any_authority.as_of.replace(day=1)
    for s in away:
        assert s.absent_from is not None and s.absent_to is not None
        assert s.absent_from < month_start
        assert s.absent_to > date(2026, 12, 31)  # also covers the next cycle
    for s in staff:
        if s.available:
            assert s.absent_from is None and s.absent_to is None


def test_emails_unique_and_on_the_reserved_domain(any_authority: Authority) -> None:
    emails = [s.email for s in any_authority.staff]
    assert len(set(emails)) == len(emails)
    for e in emails:
        assert re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+[0-9]*@northvale\.example", e), e


def test_email_local_part_folds_to_ascii() -> None:
    assert email_local("Łukasz", "Wiśniewski") == "lukasz.wisniewski"
    assert email_local("Siobhán", "O'Brien") == "siobhan.obrien"
    assert email_local("Lucy", "Smith-Hartley") == "lucy.smith-hartley"


def test_no_famous_names(any_authority: Authority) -> None:
    names = {s.name for s in any_authority.staff} | {c.child_name for c in any_authority.cases}
    assert not names & FAMOUS


def test_names_are_diverse(default: Authority) -> None:
    ethnicities = Counter(c.ethnicity for c in default.cases)
    assert len(ethnicities) >= 12
    assert ethnicities["White British"] < 0.7 * len(default.cases)


def test_auditor_count_follows_the_request(scaled: Authority) -> None:
    roles = Counter(s.role for s in scaled.staff)
    auditors = sum(roles[r] for r in AUDITOR_ROLES)
    assert 130 <= auditors <= 170
    assert len(scaled.teams) > 14
    assert len({t.service for t in scaled.teams}) > 4


def test_default_auditor_shape(default: Authority) -> None:
    roles = Counter(s.role for s in default.staff)
    assert roles[TEAM_MANAGER] == len(default.teams)
    assert 1 <= roles[ADVANCED_PRACTITIONER] < len(default.teams)
    per_team = Counter(s.team for s in default.staff if s.role == SOCIAL_WORKER)
    assert all(2 <= n <= 4 for n in per_team.values()), per_team


@settings(max_examples=15, deadline=None)
@given(
    cases=st.integers(min_value=14, max_value=600),
    auditors=st.one_of(st.none(), st.integers(min_value=0, max_value=120)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_invariants_hold_for_any_size_and_seed(cases: int, auditors: int | None, seed: int) -> None:
    a = build_authority(cases=cases, auditors=auditors, seed=seed)
    assert sum(c.status == OPEN for c in a.cases) == cases
    roster = {s.name: s for s in a.staff}
    per_team = Counter(c.team for c in a.cases if c.status == OPEN)
    assert all(per_team[t.name] >= 1 for t in a.teams)
    assert all(roster[c.worker].team == c.team for c in a.cases)
    assert len({s.email for s in a.staff}) == len(a.staff)


def test_too_few_cases_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 14"):
        build_authority(cases=5)


# --------------------------------------------------------------------------- files


def test_case_list_csv_reads_back(tmp_path: Path, default: Authority) -> None:
    path = write_case_list(default, tmp_path / "out" / "cases.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CASE_HEADERS
    assert len(rows) == 1 + len(default.cases)
    first = dict(zip(CASE_HEADERS, rows[1], strict=True))
    case = default.cases[0]
    assert first["Child Unique ID"] == case.case_id
    assert first["Date of Birth"] == case.date_of_birth.strftime("%d/%m/%Y")
    assert first["Allocated Worker"] == case.worker
    for row in rows[1:]:
        for header in ("Date of Birth", "Referral Date"):
            assert re.fullmatch(r"\d\d/\d\d/\d{4}", row[CASE_HEADERS.index(header)])


def test_case_list_xlsx_reads_back_with_real_dates(tmp_path: Path, default: Authority) -> None:
    path = write_case_list(default, tmp_path / "cases.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == CASE_HEADERS
    assert len(rows) == 1 + len(default.cases)
    for row, case in zip(rows[1:], default.cases, strict=True):
        assert row[0] == case.case_id
        assert isinstance(row[3], datetime) and row[3].date() == case.date_of_birth
        visit = row[CASE_HEADERS.index("Date of Last Visit")]
        assert (visit.date() if visit else None) == case.last_visit
        assert (row[CASE_HEADERS.index("Child's Legal Status")] or "") == case.legal_status
    assert ws["D2"].number_format == "dd/mm/yyyy"
    assert ws.freeze_panes == "A2"


def test_case_list_xlsx_reads_with_calamine(tmp_path: Path, default: Authority) -> None:
    from python_calamine import CalamineWorkbook

    path = write_case_list(default, tmp_path / "cases.xlsx")
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert tuple(rows[0]) == CASE_HEADERS
    assert rows[1][3] == default.cases[0].date_of_birth
    assert len(rows) == 1 + len(default.cases)


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_staff_roster_reads_back(tmp_path: Path, default: Authority, suffix: str) -> None:
    path = write_staff_roster(default, tmp_path / f"staff.{suffix}")
    if suffix == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            rows = [tuple(r) for r in csv.reader(handle)]
    else:
        ws = openpyxl.load_workbook(path).active
        assert ws is not None
        rows = [tuple("" if v is None else v for v in r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == STAFF_HEADERS
    assert len(rows) == 1 + len(default.staff)
    by_name = {r[0]: dict(zip(STAFF_HEADERS, r, strict=True)) for r in rows[1:]}
    for s in default.staff:
        row = by_name[s.name]
        assert row["Email"] == s.email and row["Role"] == s.role
        assert row["Line Manager"] == s.line_manager
        assert row["Available"] == ("Yes" if s.available else "No")
        if not s.available:
            assert s.absent_from is not None
            if suffix == "csv":
                assert row["Absent From"] == s.absent_from.strftime("%d/%m/%Y")
            else:
                assert row["Absent From"] == datetime.combine(s.absent_from, datetime.min.time())


def test_non_ascii_names_survive_the_round_trip(tmp_path: Path, default: Authority) -> None:
    # UTF-8 CSV and XLSX shared strings must keep Polish/Irish/Romanian letters.
    path = write_case_list(default, tmp_path / "cases.csv")
    text = path.read_text(encoding="utf-8")
    non_ascii = [c.child_name for c in default.cases if not c.child_name.isascii()]
    assert non_ascii
    assert non_ascii[0] in text


def test_unknown_suffix_is_refused(tmp_path: Path, default: Authority) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.xlsx"):
        write_case_list(default, tmp_path / "cases.ods")


@pytest.mark.parametrize("case_format", ["xlsx", "csv"])
def test_write_sample_authority(tmp_path: Path, case_format: str) -> None:
    cases, staff = write_sample_authority(tmp_path, cases=100, seed=5, case_format=case_format)
    assert cases == tmp_path / "data" / f"cases.{case_format}"
    assert staff == tmp_path / "data" / "staff.csv"
    assert cases.is_file() and staff.is_file()
    with staff.open(encoding="utf-8", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == STAFF_HEADERS
