"""Shared fixtures: small real working folders built in tmp_path."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from qaf.workdir import preset_text

CASE_HEADERS = [
    "Child Unique ID",
    "Child Name",
    "Allocated Team",
    "Allocated Worker",
    "Service Area",
    "Category",
    "Case Status",
]
STAFF_HEADERS = [
    "Name",
    "Email",
    "Role",
    "Team",
    "Service",
    "Line Manager",
    "Available",
    "Absent From",
    "Absent To",
]


def write_csv(path: Path, headers: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(headers)
        w.writerows(rows)
    return path


@pytest.fixture
def small_dir(tmp_path: Path) -> Path:
    """A working folder with the generic qaf.toml pointing at a tiny CSV case list and roster."""
    return build_small_dir(tmp_path)


def build_small_dir(tmp_path: Path) -> Path:
    """The ``small_dir`` folder, for fixtures of a wider scope."""
    text = preset_text("generic").replace('path = "data/cases.xlsx"', 'path = "data/cases.csv"')
    (tmp_path / "qaf.toml").write_text(text, encoding="utf-8")
    write_csv(
        tmp_path / "data" / "cases.csv",
        CASE_HEADERS,
        [
            ["P000001", "Ada Fictional", "Team A", "Sam Worker", "Service 1", "CiN", "Open"],
            ["P000002", "Ben Fictional", "Team A", "Sam Worker", "Service 1", "CP", "Open"],
            ["P000003", "Cy Fictional", "Team B", "Kim Worker", "Service 2", "CP", "Closed"],
        ],
    )
    write_csv(
        tmp_path / "data" / "staff.csv",
        STAFF_HEADERS,
        [
            [
                "Sam Worker",
                "sam@example.org",
                "Social Worker",
                "Team A",
                "Service 1",
                "Tia Manager",
                "Yes",
                "",
                "",
            ],
            [
                "Kim Worker",
                "kim@example.org",
                "Social Worker",
                "Team B",
                "Service 2",
                "Lee Manager",
                "Yes",
                "",
                "",
            ],
            [
                "Tia Manager",
                "tia@example.org",
                "Team Manager",
                "Team A",
                "Service 1",
                "",
                "Yes",
                "",
                "",
            ],
            [
                "Lee Manager",
                "lee@example.org",
                "Team Manager",
                "Team B",
                "Service 2",
                "",
                "No",
                "01/11/2026",
                "31/12/2026",
            ],
        ],
    )
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never write to the user's real cache folder."""
    import os

    os.environ["QAF_CACHE_DIR"] = str(tmp_path_factory.mktemp("qaf-cache"))


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo authority (Northvale), made once per test module."""
    from qaf.workdir import init_directory

    d = tmp_path_factory.mktemp("northvale")
    init_directory(d, demo=True)
    return d


@pytest.fixture
def work(authority: Path, tmp_path: Path) -> Path:
    """A copy of the demo authority of the module, the test's own."""
    import shutil

    d = tmp_path / "northvale"
    shutil.copytree(authority, d)
    return d
