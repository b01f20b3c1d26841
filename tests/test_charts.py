"""Inline SVG charts of the HTML report: labels fit, legends, no hidden figures (rule P3)."""

from __future__ import annotations

import re

from qaf import charts

LONG = "D13 The help provided has improved outcomes for the child and the family over time"


def test_p2_fit_cuts_long_labels_at_the_end_and_keeps_the_domain_id() -> None:
    cut = charts.fit(LONG, 288)
    assert cut.startswith("D13 The help") and cut.endswith("…")
    assert charts.text_width(cut) <= 288
    assert charts.fit("D2 Short", 288) == "D2 Short"


def test_p2_domain_chart_has_a_colour_legend_and_full_text_in_tooltips() -> None:
    svg = charts.bar_chart(
        [(LONG, 40.0, LONG + ": 40%"), ("D2 Risk", None, "D2 Risk: hidden")], "t"
    )
    for text in ("under 50% Good or better", "50% to 74% Good or better", "75% or more"):
        assert text in svg
    assert "— share hidden" in svg
    assert f"<title>{LONG}: 40%</title>" in svg
    labels = re.findall(r'text-anchor="end">([^<]*)<title>', svg)
    assert labels[0].startswith("D13 ") and labels[0].endswith("…")


def test_p3_hidden_grades_of_a_team_are_one_grey_segment_without_a_share() -> None:
    counts = {"Outstanding": 2, "Good": 10, "Requires Improvement": 6, "Inadequate": 3}
    levels = tuple(counts)
    svg = charts.stacked_share_bars(
        [("Safeguarding Team A", counts)],
        levels,
        "t",
        min_label=5,
        hidden={"Safeguarding Team A": ("Outstanding", "Inadequate")},
    )
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert "Safeguarding Team A: Outstanding, Inadequate hidden (small numbers)" in titles
    assert not any(re.search(r"(Outstanding|Inadequate) \d+%", t) for t in titles)
    assert "Safeguarding Team A: Good 48%" in titles
    assert "hidden (small numbers)" in svg and charts.HIDDEN_COLOUR in svg


def test_p3_a_hidden_number_of_returns_is_not_printed_beside_the_bar() -> None:
    counts = {"Outstanding": 0, "Good": 10, "Requires Improvement": 6, "Inadequate": 3}
    svg = charts.stacked_share_bars(
        [("Team B", counts)],
        tuple(counts),
        "t",
        hidden={"Team B": ("Inadequate", "n")},
    )
    assert "n hidden" in svg and "n=19" not in svg
    assert "Team B: Inadequate hidden (small numbers)" in svg
