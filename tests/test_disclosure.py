"""Disclosure control (rule P3): primary and secondary suppression of report counts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qaf.disclosure import grade_relations, protect

LEVELS = ("Outstanding", "Good", "Requires Improvement", "Inadequate")
GOOD = {"Outstanding", "Good"}


def test_p3_small_counts_are_primary_and_zero_is_shown() -> None:
    hidden = protect({"a": 0, "b": 3, "c": 12}, [], 5)
    assert hidden.primary == {"b"} and not hidden.secondary
    assert "b" in hidden and "a" not in hidden and "c" not in hidden


def test_p3_one_hidden_figure_of_a_known_total_gets_a_second() -> None:
    """Rule P3: 3 + x + 30 = 45 would give x back; the smallest other figure is hidden too."""
    values = {"a": 3, "b": 12, "c": 30, "total": 45}
    hidden = protect(values, [("a", "b", "c", "total")], 5, fixed={"total"})
    assert hidden.primary == {"a"} and hidden.secondary == {"b"}


def test_p3_fixed_figures_are_never_hidden_and_keep_ones_last() -> None:
    values = {"a": 3, "b": 12, "share": 10, "total": 45}
    hidden = protect(values, [("a", "b", "share", "total")], 5, fixed={"total"}, keep={"share"})
    assert hidden.secondary == {"b"}  # not the smaller "share": kept while another will do
    alone = protect(
        {"a": 3, "share": 10, "total": 13},
        [("a", "share", "total")],
        5,
        fixed={"total"},
        keep={"share"},
    )
    assert alone.secondary == {"share"}


def test_p3_suppression_off() -> None:
    assert not protect({"a": 1, "b": 2}, [("a", "b")], 0)
    assert not protect({"a": 1, "b": 2}, [("a", "b")], 1)


def test_p3_grade_summary_of_the_trial_cannot_be_worked_out() -> None:
    """F17: Good or better 51%, Good 44%, Requires Improvement 45% gave Outstanding and
    Inadequate back by subtraction; now Good and Requires Improvement are hidden too."""
    counts = {"Outstanding": 4, "Good": 23, "Requires Improvement": 24, "Inadequate": 2}
    values = {(lvl,): n for lvl, n in counts.items()} | {("n",): 53, ("gob",): 27}
    hidden = protect(values, grade_relations((), LEVELS, GOOD), 5, fixed={("n",)}, keep={("gob",)})
    assert hidden.primary == {("Outstanding",), ("Inadequate",)}
    assert hidden.secondary == {("Good",), ("Requires Improvement",)}
    assert ("gob",) not in hidden  # the headline share stays


@given(
    st.lists(st.lists(st.integers(0, 12), min_size=4, max_size=4), min_size=1, max_size=6),
    st.integers(0, 6),
)
def test_p3_no_relation_is_left_with_exactly_one_hidden_figure(
    rows: list[list[int]], threshold: int
) -> None:
    """Rule P3, property: after protect, a relation has 0 or 2+ hidden figures, unless every
    other figure in it is zero or fixed (then the hidden one is the total, itself small)."""
    values: dict[object, int] = {}
    relations: list[list[object]] = []
    for i, row in enumerate(rows):
        for lvl, n in zip(LEVELS, row, strict=True):
            values[(i, lvl)] = n
        values[(i, "n")] = sum(row)
        values[(i, "gob")] = row[0] + row[1]
        relations += grade_relations((i,), LEVELS, GOOD)
    for col in (*LEVELS, "n", "gob"):
        values[("all", col)] = sum(values[(i, col)] for i in range(len(rows)))
        relations.append([*((i, col) for i in range(len(rows))), ("all", col)])
    fixed = {("all", "n")}
    hidden = protect(values, relations, threshold, fixed=fixed)
    for rel in relations:
        inside = [k for k in rel if k in hidden]
        if len(inside) == 1:
            others = [k for k in rel if k not in hidden]
            assert all(values[k] == 0 or k in fixed for k in others), (rel, inside)
    for k, v in values.items():
        if 0 < v < threshold and k not in fixed:
            assert k in hidden.primary


def test_p3_one_small_inadequate_count_costs_one_more_hidden_figure_not_three() -> None:
    """Trial2 T2-4: a quarter of 90 with 3 Inadequate showed only "<5": Outstanding, Good
    and Requires Improvement were all hidden. Hiding Requires Improvement protects both
    relations the Inadequate count is in; the profile and Good-or-better stay."""
    counts = {"Outstanding": 9, "Good": 40, "Requires Improvement": 38, "Inadequate": 3}
    values = {(lvl,): n for lvl, n in counts.items()} | {("n",): 90, ("gob",): 49}
    hidden = protect(values, grade_relations((), LEVELS, GOOD), 5, fixed={("n",)}, keep={("gob",)})
    assert hidden.primary == {("Inadequate",)}
    assert hidden.secondary == {("Requires Improvement",)}


def test_p3_a_small_outstanding_count_leaves_the_good_or_better_headline() -> None:
    """Trial2 T2-22: "Graded Good or better: — of 28" because Outstanding was 2."""
    counts = {"Outstanding": 2, "Good": 14, "Requires Improvement": 9, "Inadequate": 3}
    values = {(lvl,): n for lvl, n in counts.items()} | {("n",): 28, ("gob",): 16}
    hidden = protect(values, grade_relations((), LEVELS, GOOD), 5, fixed={("n",)}, keep={("gob",)})
    assert hidden.primary == {("Outstanding",), ("Inadequate",)}
    assert hidden.secondary == {("Good",), ("Requires Improvement",)}
    assert ("gob",) not in hidden
