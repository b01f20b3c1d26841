"""`qaf config check` on the data as well as the configuration (trial findings F7, F21, F24):
an honest headline, roles nobody holds (A1, A4, M1, E1-E3, T4-T6), blank roster values (A1),
teams and services without the managers escalation needs, unreadable case-list dates (S3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from qaf.cli import app
from qaf.workdir import init_directory
from tests.conftest import CASE_HEADERS, STAFF_HEADERS, write_csv

ROLES_FOUND = (
    "roles in the roster: Advanced Practitioner, Assistant Director, CP Chair, Director of "
    "Children's Social Care, Executive Director, Head of Service, IRO, QA Officer, Service "
    "Manager, Social Worker, Team Manager"
)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample authority: a roster holding every role the generic preset names."""
    path = tmp_path_factory.mktemp("demo") / "d"
    init_directory(path, demo=True)
    return path


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(demo_template, tmp_path / "d"))


def check(folder: Path) -> object:
    return CliRunner().invoke(app, ["config", "check", "--config", str(folder / "qaf.toml")])


def edit_toml(folder: Path, old: str, new: str) -> None:
    toml = folder / "qaf.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new, 1), encoding="utf-8")


def staff_rows(folder: Path) -> list[list[str]]:
    import csv

    with (folder / "data" / "staff.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def write_staff(folder: Path, rows: list[list[str]]) -> None:
    write_csv(folder / "data" / "staff.csv", rows[0], rows[1:])


def test_clean_sources_say_configuration_ok(demo: Path) -> None:
    result = check(demo)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.stderr.splitlines()[0] == f"Configuration OK: {demo / 'qaf.toml'}"  # type: ignore[attr-defined]


def test_mistyped_reaudit_role_is_a_warning_listing_the_roles_found(demo: Path) -> None:
    # F21, rule A4: found today rather than when next month's re-audits go unallocated
    edit_toml(demo, 'role = "Service Manager"\ntool', 'role = "Service Manger"\ntool')
    result = check(demo)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert lines[0] == (
        f"Configuration OK, but 0 errors and 1 warning in the source files: {demo / 'qaf.toml'}"
    )
    assert lines[-1] == (
        f'  {demo / "qaf.toml"}: [A4] warning: "Service Manger" (reaudit.role): nobody in the '
        f"roster has this role ({ROLES_FOUND})"
    )


def test_escalation_role_nobody_holds_names_every_key_once(demo: Path) -> None:
    # rules E1, E2: one warning per role, naming the keys that use it
    edit_toml(demo, '"Assistant Director"]', '"Assistant Directr"]')
    result = check(demo)
    warnings = [line for line in result.stderr.splitlines() if "Assistant Directr" in line]  # type: ignore[attr-defined]
    assert len(warnings) == 1
    assert '[E1] warning: "Assistant Directr" (escalation.on_grade[0].notify' in warnings[0]


def test_blank_role_and_email_in_the_roster_are_warnings_with_their_row(demo: Path) -> None:
    # F7, rule A1: a Team Manager with a blank role gets no audits and no escalations
    rows = staff_rows(demo)
    header = rows[0]
    tm = next(i for i, r in enumerate(rows) if r[header.index("Role")] == "Team Manager")
    name = rows[tm][header.index("Name")]
    rows[tm][header.index("Role")] = ""
    rows[tm + 1][header.index("Email")] = " "
    other = rows[tm + 1][header.index("Name")]
    write_staff(demo, rows)
    result = check(demo)
    staff = demo / "data" / "staff.csv"
    assert (
        f'  {staff}, row {tm + 1}: [A1] warning: "{name}" has no role ("Role"): they get no '
        "audits and no escalations until it is filled in"
    ) in result.stderr.splitlines()  # type: ignore[attr-defined]
    assert (
        f'  {staff}, row {tm + 2}: [A1] warning: "{other}" has no e-mail ("Email"): '
        "allocations, alerts and reminders cannot reach them"
    ) in result.stderr.splitlines()  # type: ignore[attr-defined]


def test_team_without_team_manager_and_service_without_service_manager(small_dir: Path) -> None:
    # F24, rules E3 and T7: the escalation ladders need these managers for each team/service
    write_csv(
        small_dir / "data" / "staff.csv",
        STAFF_HEADERS,
        [
            ["Tia Manager", "tia@example.org", "Team Manager", "Team A", "Service 1", "", "Yes"],
            ["Sal Smgr", "sal@example.org", "Service Manager", "Team A", "Service 2", "", "Yes"],
        ],
    )
    write_csv(
        small_dir / "data" / "cases.csv",
        CASE_HEADERS,
        [
            ["P000001", "Ada Fictional", "Team A", "Sam Worker", "Service 1", "CiN", "Open"],
            ["P000002", "Ben Fictional", "Team B", "Kim Worker", "Service 2", "CP", "Open"],
        ],
    )
    result = check(small_dir)
    lines = [line.strip() for line in result.stderr.splitlines()]  # type: ignore[attr-defined]
    toml = small_dir / "qaf.toml"
    assert (
        f'{toml}: [E3] warning: team "Team B" (1 open case) has no Team Manager in the roster: '
        "E3 safety follow-up, T2 discussion, E1 escalation.on_grade[1].notify (and 5 more) "
        "will reach nobody"
    ) in lines
    assert any(
        line.startswith(
            f'{toml}: [T7] warning: service "Service 1" (1 open case) has no Service Manager'
        )
        for line in lines
    )
    assert not any('"Service 2" (1 open case) has no Service Manager' in line for line in lines)


def test_unreadable_dates_in_the_case_list_are_reported(small_dir: Path) -> None:
    # F7, rule S3: "31/13/2026" and "next tuesday" were passed over in silence
    write_csv(
        small_dir / "data" / "cases.csv",
        [*CASE_HEADERS, "Date of Birth", "Date of Last Visit"],
        [
            ["P1", "Ada", "Team A", "Sam Worker", "Service 1", "CiN", "Open", "03/04/2015", ""],
            ["P2", "Ben", "Team A", "Sam Worker", "Service 1", "CP", "Open", "next tuesday", ""],
            ["P3", "Cy", "Team A", "Sam Worker", "Service 1", "CP", "Open", "", "31/13/2026"],
        ],
    )
    result = check(small_dir)
    cases = small_dir / "data" / "cases.csv"
    lines = [line.strip() for line in result.stderr.splitlines()]  # type: ignore[attr-defined]
    assert (
        f"{cases}, row 3: [S3] warning: dob (\"Date of Birth\"): 'next tuesday' is not a date "
        "(expected e.g. 12/11/2026, 2026-11-12 or 12 Nov 2026)"
    ) in lines
    assert (
        f"{cases}, row 4: [S3] warning: last_visit (\"Date of Last Visit\"): '31/13/2026' is not "
        "a date (no day 31/13/2026; dates are read day first, dd/mm/yyyy)"
    ) in lines


def test_headline_counts_errors_and_warnings_and_exit_1_on_errors(small_dir: Path) -> None:
    # F7: not a bare "Configuration OK" next to an error; positions read "row 4"
    write_csv(
        small_dir / "data" / "cases.csv",
        CASE_HEADERS,
        [
            ["P1", "Ada", "Team A", "Sam Worker", "Service 1", "CiN", "Open"],
            ["P2", "Ben", "Team A", "Sam Worker", "Service 1", "CP", "Open"],
            ["P1", "Ada", "Team A", "Sam Worker", "Service 1", "CiN", "Open"],
        ],
    )
    result = check(small_dir)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    first = result.stderr.splitlines()[0]  # type: ignore[attr-defined]
    assert first.startswith("Configuration OK, but 1 error and ")
    assert first.endswith(f" warnings in the source files: {small_dir / 'qaf.toml'}")
    cases = small_dir / "data" / "cases.csv"
    assert (
        f"  {cases}, row 4: [S3] error: case ID P1 appears again (first on row 2); the later "
        "row was ignored"
    ) in result.stderr.splitlines()  # type: ignore[attr-defined]
    assert "cell row" not in result.stderr  # type: ignore[attr-defined]
