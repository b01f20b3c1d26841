"""The on-disk copy of the bank-holiday tables agrees with the holidays package."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from qaf import calendar as cal


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QAF_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cal, "_DISK", None)
    cal._bank_holidays.cache_clear()
    yield tmp_path
    cal._bank_holidays.cache_clear()
    monkeypatch.setattr(cal, "_DISK", None)


def test_cached_tables_equal_the_library_for_every_cached_year(fresh_cache: Path) -> None:
    assert date(2022, 9, 19) in cal._bank_holidays("ENG", 2022)  # state funeral
    files = list((fresh_cache / "qaf").glob("bank-holidays-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    for year in (2000, 2021, 2023, 2026, 2045):
        assert data[f"ENG:{year}"] == {
            d.isoformat(): n for d, n in cal._from_library("ENG", year).items()
        }


def test_a_second_process_reads_the_cache_not_the_library(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cal._bank_holidays("ENG", 2026)
    cal._bank_holidays.cache_clear()
    monkeypatch.setattr(cal, "_DISK", None)

    def no_library(subdiv: str, year: int) -> dict[date, str]:
        raise AssertionError("the library was asked although the cache holds the year")

    monkeypatch.setattr(cal, "_from_library", no_library)
    assert cal._bank_holidays("ENG", 2023)[date(2023, 5, 8)]  # coronation, from the cache


def test_a_broken_cache_file_is_rebuilt(fresh_cache: Path) -> None:
    path = cal._cache_file()
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert date(2026, 12, 28) in cal._bank_holidays("ENG", 2026)  # Boxing Day substitute
    assert json.loads(path.read_text())["ENG:2026"]
