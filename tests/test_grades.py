"""Rule G1: grade words, numbers and variants; and re-audit comparison (A4/E2)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qaf.grades import SKILLS, YES_NO, GradeError, is_not_applicable, ofsted_scale

SCALE = ofsted_scale()


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("Outstanding", "Outstanding"),
        ("good", "Good"),
        ("GOOD.", "Good"),
        ("  Requires   Improvement ", "Requires Improvement"),
        ("requires-improvement", "Requires Improvement"),
        ("RI", "Requires Improvement"),
        ("ri", "Requires Improvement"),
        ("R.I.", "Requires Improvement"),
        ("Requires improvement to be good", "Requires Improvement"),
        ("Requiring Improvement", "Requires Improvement"),
        ("In need of improvement", "Requires Improvement"),
        ("Req. Improvement", "Requires Improvement"),  # trial2 T2-15
        ("req improvement ", "Requires Improvement"),
        ("Requires Imp.", "Requires Improvement"),
        ("Inadequate", "Inadequate"),
        ("inadequate\u00a0", "Inadequate"),
        ("1", "Outstanding"),
        ("2", "Good"),
        ("3", "Requires Improvement"),
        ("4", "Inadequate"),
        (1, "Outstanding"),
        (4.0, "Inadequate"),
        ("Grade 3", "Requires Improvement"),
        ("2 - Good", "Good"),
        ("Good (2)", "Good"),
    ],
)
def test_rule_G1_accepts_grade_variants(text: object, grade: str) -> None:
    assert SCALE.parse(text) == grade


@pytest.mark.parametrize(
    "text", ["", "   ", "Excellent", "Good/Outstanding", "5", "0", "2.5", "1 - Good", True, "N/A"]
)
def test_rule_G1_rejects_anything_else_with_the_allowed_grades(text: object) -> None:
    with pytest.raises(GradeError) as e:
        SCALE.parse(text)
    assert "Requires Improvement" in str(e.value)
    assert "1-4" in str(e.value)


@given(
    st.sampled_from(["Outstanding", "Good", "Requires Improvement", "Inadequate", "RI"]),
    st.text(alphabet=" \t", max_size=3),
    st.text(alphabet=" .:", max_size=2),
)
def test_rule_G1_case_and_spacing_never_matter(word: str, pad: str, tail: str) -> None:
    variants = [word.upper(), word.lower(), pad + word + tail]
    assert {SCALE.parse(v) for v in variants} == {SCALE.parse(word)}


@given(st.text(max_size=12))
def test_rule_G1_parse_either_returns_a_level_or_raises_grade_error(text: str) -> None:
    with contextlib.suppress(GradeError):
        assert SCALE.parse(text) in SCALE.levels


def test_rule_A4_reaudit_movement() -> None:
    assert SCALE.compare("Inadequate", "Requires Improvement") == "improved"
    assert SCALE.compare("Requires Improvement", "Requires Improvement") == "same"
    assert SCALE.compare("Requires Improvement", "Inadequate") == "downgraded"


def test_other_scales_yes_no_and_skills() -> None:
    assert YES_NO.parse("y") == "Yes"
    assert YES_NO.parse("NO") == "No"
    with pytest.raises(GradeError):
        YES_NO.parse("1")  # Yes/No is not numeric
    assert SKILLS.parse("a good level of skill seen") == "A good level of skill seen"
    assert SKILLS.parse(1) == "Skills demonstrated were outstanding"


@pytest.mark.parametrize("text", ["N/A", "n/a", "NA", "Not applicable", " n.a. "])
def test_rule_G2_not_applicable_spellings(text: str) -> None:
    assert is_not_applicable(text)
