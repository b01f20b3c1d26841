"""Hypothesis fuzzing of the parsers every untrusted cell goes through (issue 7 item 7).

Grade words (rule G1), dates (rules T1-T7 read them) and labels (contract A) are
read from cells anyone can type into: whatever is in the cell, each parser
gives an answer or its own error, never another exception.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaf.calendar import parse_date
from qaf.config import read_config
from qaf.grades import GradeError, ofsted_scale
from qaf.ingest import Labels
from tests.conftest import build_small_dir

SCALE = ofsted_scale()

# Anything a spreadsheet reader can hand over for one cell.
cell_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.dates(),
    st.datetimes(),
    st.times(),
)
dates = st.dates(min_value=date(1901, 1, 1), max_value=date(9999, 12, 31))


@given(cell_values)
def test_rule_G1_any_cell_value_is_a_grade_or_a_grade_error(value: object) -> None:
    with contextlib.suppress(GradeError):
        assert SCALE.parse(value) in SCALE.levels


@given(cell_values)
def test_any_cell_value_is_a_date_none_or_a_value_error(value: object) -> None:
    try:
        result = parse_date(value)
    except ValueError as e:
        assert "is not a date" in str(e)
    else:
        assert result is None or isinstance(result, date)


@given(dates, st.sampled_from(["%d/%m/%Y", "%Y-%m-%d", "%d %B %Y", "%A %d %B %Y", "%d-%b-%Y"]))
def test_a_date_written_in_any_accepted_form_reads_back(d: date, form: str) -> None:
    assert parse_date(d.strftime(form)) == d


@given(dates, st.sampled_from([" ", "  ", "\u00a0", "\t"]))
def test_padding_and_a_time_after_a_date_are_ignored(d: date, pad: str) -> None:
    assert parse_date(f"{pad}{d:%d/%m/%Y}{pad}") == d
    assert parse_date(datetime.combine(d, time(13, 45))) == d


@given(st.integers(min_value=61, max_value=2_958_465))
def test_excel_serials_read_as_the_1900_date_system(serial: int) -> None:
    result = parse_date(serial)
    assert result is not None
    assert (result - date(1899, 12, 30)).days == serial


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Labels:
    cfg = read_config(build_small_dir(tmp_path_factory.mktemp("labels")) / "qaf.toml")
    return Labels.for_tools(cfg.tools.values())


KNOWN = ["Audit ID", "Case ID", "Auditor", "Overall grade", "Date of audit", "Social Worker"]


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_label_lookup_of_any_text_gives_a_label_or_none(labels: Labels, text: str) -> None:
    hit = labels.find(text)
    assert hit is None or (isinstance(hit, tuple) and len(hit) == 2)


@given(
    st.sampled_from(KNOWN),
    st.sampled_from([str.upper, str.lower, str.title, lambda s: s]),
    st.text(alphabet=" \t", max_size=3),
    st.sampled_from(["", ":", " :", ": "]),
)
def test_a_label_is_found_whatever_its_case_spacing_or_colon(
    labels: Labels, label: str, case: object, pad: str, colon: str
) -> None:
    variant = pad + case(label) + colon  # type: ignore[operator]
    assert labels.find(variant) == labels.find(label) is not None


def test_labels_fixture_reads_the_generic_preset(labels: Labels, tmp_path: Path) -> None:
    assert labels.find("Overall grade") == ("overall", "")
