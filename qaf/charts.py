"""Inline SVG charts for the HTML report: small, static, self-contained.

Hand-written SVG rather than pygal (tried, and not a dependency). pygal can be made to
avoid network requests (``js=[]``) but it still embeds a ``<script>``, random
chart IDs (so two runs over the same register differ), comments with URLs and
monospace fonts, and importing it costs about 140 ms of the one-second budget of
a quarterly report. The report needs three plain charts that print well on A4:
100% stacked bars, a line, and horizontal bars, drawn here in a few lines each,
deterministic, with no script, no external references and every label escaped.

Rule P3: the charts show shares only, and leave out any team, cycle or domain
with fewer graded returns than ``report.suppress_below``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qaf.report import ReportData

WIDTH = 680
FONT = 'font-family="Segoe UI, Helvetica, Arial, sans-serif"'
GRADE_COLOURS = ("#1a7f37", "#8cc084", "#f0a830", "#c8331e")  # best first
OTHER_COLOURS = ("#2b6cb0", "#90cdf4", "#a0aec0", "#4a5568", "#805ad5", "#d69e2e")
GOOD_COLOUR = "#2b6cb0"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _svg(height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" {FONT} font-size="12">'
        f"<title>{_e(title)}</title>" + "".join(body) + "</svg>"
    )


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def colours_for(levels: Sequence[str]) -> tuple[str, ...]:
    if len(levels) == len(GRADE_COLOURS):
        return GRADE_COLOURS
    return tuple(OTHER_COLOURS[i % len(OTHER_COLOURS)] for i in range(len(levels)))


def stacked_share_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]],
    levels: Sequence[str],
    title: str,
    *,
    label_width: int = 170,
    min_label: int = 0,
) -> str:
    """One 100% bar per row, split by level (best first), with a legend above.

    A segment's percentage is printed only when its count is at least ``min_label``.
    """
    colours = colours_for(levels)
    bar_h, gap, top = 22, 8, 34
    height = top + len(rows) * (bar_h + gap) + 10
    plot_w = WIDTH - label_width - 60
    body: list[str] = []
    x = label_width
    for lvl, colour in zip(levels, colours, strict=True):  # legend
        body.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>')
        body.append(f'<text x="{x + 16}" y="16">{_e(lvl)}</text>')
        x += 24 + 7 * len(lvl)
    for i, (label, counts) in enumerate(rows):
        y = top + i * (bar_h + gap)
        n = sum(counts.get(lvl, 0) for lvl in levels)
        body.append(
            f'<text x="{label_width - 8}" y="{y + bar_h - 7}" text-anchor="end">'
            f"{_e(_short(label, 26))}</text>"
        )
        x0 = float(label_width)
        for lvl, colour in zip(levels, colours, strict=True):
            share = counts.get(lvl, 0) / n if n else 0
            w = share * plot_w
            if w <= 0:
                continue
            body.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                f"<title>{_e(label)}: {_e(lvl)} {round(100 * share)}%</title></rect>"
            )
            if w >= 30 and counts.get(lvl, 0) >= min_label:
                ink = "#fff" if colour in (GRADE_COLOURS[0], GRADE_COLOURS[3]) else "#111"
                body.append(
                    f'<text x="{x0 + w / 2:.1f}" y="{y + bar_h - 7}" text-anchor="middle" '
                    f'fill="{ink}">{round(100 * share)}%</text>'
                )
            x0 += w
        body.append(f'<text x="{label_width + plot_w + 6}" y="{y + bar_h - 7}">n={n}</text>')
    return _svg(height, title, body)


def line_chart(points: Sequence[tuple[str, float | None]], title: str) -> str:
    """Percentages (0-100) over time; None leaves a gap."""
    height, left, right, top, bottom = 240, 44, 34, 16, 40
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    body: list[str] = []
    for v in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - v / 100)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v}%</text>')
    step = plot_w / max(1, len(points) - 1)
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (label, value) in enumerate(points):
        x = left + i * step
        body.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="10">{_e(label)}</text>'
        )
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        y = top + plot_h * (1 - value / 100)
        segment.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{GOOD_COLOUR}">'
            f"<title>{_e(label)}: {round(value)}%</title></circle>"
        )
        body.append(
            f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle" font-size="10">'
            f"{round(value)}%</text>"
        )
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            body.insert(
                0,
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="{GOOD_COLOUR}" '
                'stroke-width="2"/>',
            )
    if not any(v is not None for _, v in points):
        body.append(
            f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle" fill="#666">'
            "Not enough graded returns to show</text>"
        )
    return _svg(height, title, body)


def bar_chart(
    rows: Sequence[tuple[str, float | None, str]], title: str, *, label_width: int = 300
) -> str:
    """Horizontal bars of percentages (0-100): (label, value, tooltip); None: no bar, a dash."""
    bar_h, gap, top = 16, 6, 8
    height = top + len(rows) * (bar_h + gap) + 24
    plot_w = WIDTH - label_width - 50
    body: list[str] = []
    for v in (0, 50, 100):
        x = label_width + plot_w * v / 100
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>'
        )
        body.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{v}%</text>')
    for i, (label, value, tip) in enumerate(rows):
        y = top + i * (bar_h + gap)
        body.append(
            f'<text x="{label_width - 8}" y="{y + bar_h - 4}" text-anchor="end">'
            f"{_e(_short(label, 48))}<title>{_e(tip)}</title></text>"
        )
        if value is None:
            body.append(f'<text x="{label_width + 4}" y="{y + bar_h - 4}">—</text>')
            continue
        w = plot_w * value / 100
        colour = GRADE_COLOURS[3] if value < 50 else GRADE_COLOURS[2] if value < 75 else GOOD_COLOUR
        body.append(
            f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{_e(tip)}</title></rect>"
        )
        body.append(
            f'<text x="{label_width + w + 4:.1f}" y="{y + bar_h - 4}">{round(value)}%</text>'
        )
    return _svg(height, title, body)


def report_charts(data: ReportData) -> dict[str, str]:
    """The three charts of the HTML report (P2), small groups left out (P3)."""
    t = max(1, data.suppress_below)

    def hidden(num: int, den: int) -> bool:
        return den == 0 or 0 < num < t or 0 < den < t

    out: dict[str, str] = {}
    teams = [
        (team, counts) for team, counts in data.team_grades.items() if sum(counts.values()) >= t
    ]
    if teams:
        out["grades_by_team"] = stacked_share_bars(
            teams, data.levels, f"Overall grades by team, {data.period.label}", min_label=t
        )
    out["trend"] = line_chart(
        [(p.cycle, None if hidden(p.good_or_better, p.graded) else p.share) for p in data.trend],
        "Share of returns graded Good or better, last 12 cycles",
    )
    domains = [
        (
            f"{d.domain_id} {d.title}".strip(),
            None if hidden(d.good_or_better, d.graded) else d.share,
            f"{d.domain_id} {d.title}: {round(d.share or 0)}% Good or better of {d.graded}",
        )
        for d in data.domains
    ]
    if domains:
        out["domains"] = bar_chart(domains, "Share Good or better by domain, weakest first")
    return out
