"""Inline SVG charts for the HTML report: small, static, self-contained.

Hand-written SVG rather than pygal (tried, and not a dependency). pygal can be made to
avoid network requests (``js=[]``) but it still embeds a ``<script>``, random
chart IDs (so two runs over the same register differ), comments with URLs and
monospace fonts, and importing it costs about 140 ms of the one-second budget of
a quarterly report. The report needs three plain charts that print well on A4:
100% stacked bars, a line, and horizontal bars, drawn here in a few lines each,
deterministic, with no script, no external references and every label escaped.

Rule P3: the charts show shares only, and leave out any team, cycle or domain
with fewer graded returns than ``report.suppress_below``; a share the tables hide
(a small count, or one hidden so a small count cannot be worked out) is not drawn
or printed, in a label or a tooltip: hidden grades of a team are drawn together
as one grey "hidden" segment.

Labels are cut to the room they have, measured with the widths of DejaVu Sans
(wider than Segoe UI, Helvetica and Arial, the fonts asked for), so they never run
off the chart; the full text is in the tooltip.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qaf.report import ReportData

WIDTH = 680
FONT = 'font-family="Segoe UI, Helvetica, Arial, sans-serif"'
GRADE_COLOURS = ("#1a7f37", "#8cc084", "#f0a830", "#c8331e")  # best first
OTHER_COLOURS = ("#2b6cb0", "#90cdf4", "#a0aec0", "#4a5568", "#805ad5", "#d69e2e")
GOOD_COLOUR = "#2b6cb0"
HIDDEN_COLOUR = "#cbd2d9"
LEGEND_LINE = 18
FONT_SIZE = 12
# rule-of-thumb advance widths in em (DejaVu Sans, the widest likely fallback font)
_NARROW, _MEDIUM, _WIDE = set("iljI!|.,:;'`"), set(" ftr()[]-/"), set("mwMW@%")
_SMALL = set("scz")


def text_width(text: str, size: int = FONT_SIZE) -> float:
    """An upper estimate of the width of ``text`` in pixels at ``size``."""
    em = 0.0
    for ch in text:
        if ch in _NARROW:
            em += 0.30
        elif ch in _MEDIUM:
            em += 0.42
        elif ch in _WIDE:
            em += 1.0
        elif ch in _SMALL:
            em += 0.56
        elif ch.isupper() or ch == "…":
            em += 0.78
        else:
            em += 0.65
    return em * size


def fit(text: str, width: float, size: int = FONT_SIZE) -> str:
    """``text``, cut at the end with an ellipsis so it is at most ``width`` pixels wide."""
    if text_width(text, size) <= width:
        return text
    cut = text
    while cut and text_width(cut.rstrip() + "…", size) > width:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _svg(height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" {FONT} font-size="12">'
        f"<title>{_e(title)}</title>" + "".join(body) + "</svg>"
    )


def colours_for(levels: Sequence[str]) -> tuple[str, ...]:
    if len(levels) == len(GRADE_COLOURS):
        return GRADE_COLOURS
    return tuple(OTHER_COLOURS[i % len(OTHER_COLOURS)] for i in range(len(levels)))


def _legend(items: Sequence[tuple[str, str]], y: int, right: float = WIDTH) -> list[str]:
    """Colour swatches with their meaning, from the left, onto a new line when one is full."""
    body: list[str] = []
    x = 8.0
    for text, colour in items:
        width = 16 + text_width(text)
        if x > 8 and x + width > right:
            x, y = 8.0, y + LEGEND_LINE
        body.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="{colour}"/>')
        body.append(f'<text x="{x + 16:.1f}" y="{y + 10}">{_e(text)}</text>')
        x += width + 12
    return body


def _legend_lines(body: list[str]) -> int:
    return len({part.split('y="')[1].split('"')[0] for part in body if part.startswith("<rect")})


def stacked_share_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]],
    levels: Sequence[str],
    title: str,
    *,
    label_width: int = 170,
    min_label: int = 0,
    hidden: Mapping[str, Collection[str]] | None = None,
) -> str:
    """One 100% bar per row, split by level (best first), with a legend above.

    A segment's percentage is printed only when its count is at least ``min_label``;
    the ``hidden`` levels of a row (rule P3) are drawn together as one grey segment.
    """
    colours = colours_for(levels)
    hidden = hidden or {}
    legend = list(zip(levels, colours, strict=True))
    if any(set(hidden.get(label, ())) & set(levels) for label, _ in rows):
        legend.append(("hidden (small numbers)", HIDDEN_COLOUR))
    body = _legend(legend, 6)
    bar_h, gap, top = 22, 8, 16 + LEGEND_LINE * _legend_lines(body)
    height = top + len(rows) * (bar_h + gap) + 10
    plot_w = WIDTH - label_width - 74  # room for "n hidden" on the right
    for i, (label, counts) in enumerate(rows):
        y = top + i * (bar_h + gap)
        n = sum(counts.get(lvl, 0) for lvl in levels)
        secret = set(hidden.get(label, ()))
        body.append(
            f'<text x="{label_width - 8}" y="{y + bar_h - 7}" text-anchor="end">'
            f"{_e(fit(label, label_width - 12))}<title>{_e(label)}</title></text>"
        )
        x0 = float(label_width)
        segments = [(lvl, colour, counts.get(lvl, 0)) for lvl, colour in legend[: len(levels)]]
        segments = [s for s in segments if s[0] not in secret]
        segments.append(
            ("hidden", HIDDEN_COLOUR, sum(counts.get(lvl, 0) for lvl in secret & set(levels)))
        )
        for lvl, colour, count in segments:
            share = count / n if n else 0
            w = share * plot_w
            if w <= 0:
                continue
            tip = (
                f"{label}: {', '.join(lvl for lvl in levels if lvl in secret)} hidden "
                "(small numbers)"
                if colour == HIDDEN_COLOUR
                else f"{label}: {lvl} {round(100 * share)}%"
            )
            body.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                f"<title>{_e(tip)}</title></rect>"
            )
            if w >= 30 and count >= min_label and colour != HIDDEN_COLOUR:
                ink = "#fff" if colour in (GRADE_COLOURS[0], GRADE_COLOURS[3]) else "#111"
                body.append(
                    f'<text x="{x0 + w / 2:.1f}" y="{y + bar_h - 7}" text-anchor="middle" '
                    f'fill="{ink}">{round(100 * share)}%</text>'
                )
            x0 += w
        shown_n = "n hidden" if "n" in secret else f"n={n}"
        body.append(f'<text x="{label_width + plot_w + 6}" y="{y + bar_h - 7}">{shown_n}</text>')
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


SHARE_BANDS = (  # the colour of a Good-or-better bar: (below, colour, legend text)
    (50, GRADE_COLOURS[3], "under 50%"),
    (75, GRADE_COLOURS[2], "50% to 74%"),
    (101, GOOD_COLOUR, "75% or more"),
)


def _band_colour(value: float) -> str:
    return next(colour for below, colour, _ in SHARE_BANDS if value < below)


def bar_chart(
    rows: Sequence[tuple[str, float | None, str]],
    title: str,
    *,
    label_width: int = 300,
    hidden_text: str = "— share hidden",
) -> str:
    """Horizontal bars of percentages (0-100): (label, value, tooltip); None: no bar, a dash.

    A legend above says what the bar colours mean (bands of SHARE_BANDS).
    """
    legend = [(f"{text} Good or better", colour) for _, colour, text in SHARE_BANDS]
    if any(value is None for _, value, _ in rows):
        legend.append((hidden_text, "none"))
    body = _legend(legend, 6)
    bar_h, gap, top = 16, 6, 12 + LEGEND_LINE * _legend_lines(body)
    height = top + len(rows) * (bar_h + gap) + 24
    plot_w = WIDTH - label_width - 50
    for v in (0, 50, 100):
        x = label_width + plot_w * v / 100
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>'
        )
        body.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{v}%</text>')
    for i, (label, value, tip) in enumerate(rows):
        y = top + i * (bar_h + gap)
        body.append(
            f'<text x="{label_width - 8}" y="{y + bar_h - 4}" text-anchor="end">'
            f"{_e(fit(label, label_width - 12))}<title>{_e(tip)}</title></text>"
        )
        if value is None:
            body.append(f'<text x="{label_width + 4}" y="{y + bar_h - 4}">—</text>')
            continue
        w = plot_w * value / 100
        colour = _band_colour(value)
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
    teams = [  # a team whose every grade is hidden would be one grey bar: left out
        (team, counts)
        for team, counts in data.team_grades.items()
        if sum(counts.values()) >= t
        and any(n and lvl not in data.team_hidden.get(team, ()) for lvl, n in counts.items())
    ]
    if teams:
        out["grades_by_team"] = stacked_share_bars(
            teams,
            data.levels,
            f"Overall grades by team, {data.period.label}",
            min_label=t,
            hidden=data.team_hidden,
        )
    out["trend"] = line_chart(
        [(p.cycle, None if hidden(p.good_or_better, p.graded) else p.share) for p in data.trend],
        f"Share of returns graded Good or better, last {len(data.trend)} cycle"
        + ("s" if len(data.trend) != 1 else ""),
    )
    domains: list[tuple[str, float | None, str]] = []
    for d in data.domains:
        label = f"{d.domain_id} {d.title}".strip()
        if d.share_hidden or hidden(d.good_or_better, d.graded):
            graded = f"<{t}" if 0 < d.graded < t else str(d.graded)
            domains.append((label, None, f"{label}: share hidden ({graded} graded; P3)"))
        else:
            tip = f"{label}: {round(d.share or 0)}% Good or better of {d.graded} graded"
            domains.append((label, d.share, tip))
    if domains:
        out["domains"] = bar_chart(
            domains,
            "Share Good or better by domain, weakest first",
            hidden_text="— share hidden (small numbers)",
        )
    return out
