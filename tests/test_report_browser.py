"""The HTML report in headless Chromium: it renders, has its headings, logs no console
errors and makes no network requests (issue 6 "done when"; rules P2, P3)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from qaf import report as rp
from qaf.config import read_config
from qaf.register import Register
from qaf.workdir import preset_text
from tests.report_fixtures import build_register, connect

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium"),
]
HEADINGS = [
    "Summary",
    "Completion",
    "Grade profile",
    "Domain profile",
    "Re-audits and moderation",
    "Escalations, follow-ups and actions",
    "Compliance and feedback",
    "What we learned",
]


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    (root / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    build_register(root / "qaf.db", first="2025-07", last="2026-09", per_cycle=40)
    conn = connect(root / "qaf.db")
    conn.execute(  # a hostile rationale on a weak domain: must show as text, never run
        "UPDATE domain_grades SET rationale = ? WHERE domain_id = 'D8' AND return_id = "
        "(SELECT d.return_id FROM domain_grades d JOIN returns r ON r.id = d.return_id "
        "WHERE r.cycle = '2026-08' AND d.domain_id = 'D8' AND d.grade = 'Inadequate' LIMIT 1)",
        (
            "<script>console.error('injected')</script><img src=x onerror=alert(1)> "
            + "drift " * 40,
        ),
    )
    conn.commit()
    conn.close()
    cfg = read_config(root / "qaf.toml")
    period = rp.quarter_period("2026Q3")
    as_of = date(2026, 11, 1)
    with Register.open(cfg.register_path) as reg:
        data = rp.build_report(
            reg.report_rows(rp.report_scope(period, as_of)), period, cfg, as_of=as_of
        )
    out = root / "report.html"
    out.write_text(rp.render(data, "html", config_root=root), encoding="utf-8")
    return out


def test_p2_html_report_renders_with_its_headings_and_no_console_errors(
    report_html: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    res = chromium(
        ["--screenshot=" + str(shot), "--window-size=1240,1754", report_html.as_uri()], tmp_path
    )
    assert shot.exists() and shot.stat().st_size > 20_000, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = Path("/tmp/qaf-report-screenshot.png")  # for a person to look at after the run
    shutil.copy(shot, keep)
    dom = chromium(["--dump-dom", report_html.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    headings = re.findall(r"<h2>(.*?)</h2>", dom.stdout)
    assert headings == HEADINGS
    assert "Quality assurance report: 2026Q3" in dom.stdout
    assert "<svg" in dom.stdout  # the charts are inline
    for log in (res.stderr, dom.stderr):
        assert "Uncaught" not in log
        assert "CONSOLE" not in log, log[-2000:]
    assert "&lt;script&gt;console.error" in dom.stdout  # the injected text is shown, not run


def test_p3_html_report_is_self_contained(report_html: Path) -> None:
    html = report_html.read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)  # no fonts, scripts, images or styles fetched
    assert "<script" not in html
    assert not re.search(r"<[^>]*\s(?:src|href)\s*=", html)  # no attribute fetching anything
    assert "@import" not in html and "url(" not in html


MEASURE = """<script>
const out = [];
document.querySelectorAll("svg").forEach((svg, i) => {
  const width = svg.viewBox.baseVal.width;
  svg.querySelectorAll("text").forEach((t) => {
    const b = t.getBBox();
    if (b.x < -0.5 || b.x + b.width > width + 0.5) out.push(i + ": " + t.textContent);
  });
});
document.body.setAttribute("data-overflow", JSON.stringify(out));
document.body.setAttribute("data-texts", document.querySelectorAll("svg text").length);
</script>"""


def test_p2_chart_labels_stay_inside_the_charts(report_html: Path, tmp_path: Path) -> None:
    """F17: domain labels ran off the left edge (")2 Risk is identified…"); every text of
    every chart, the report's and one with very long labels, is measured in Chromium."""
    from qaf import charts

    svgs = re.findall(
        r"<svg class=\"chart\".*?</svg>", report_html.read_text(encoding="utf-8"), re.S
    )
    assert len(svgs) == 3
    long = "D13 " + "Wide Words Make Wide Labels " * 4
    svgs.append(charts.bar_chart([(long, 60.0, long), ("D9 " + "m" * 80, None, "x")], "t"))
    svgs.append(
        charts.stacked_share_bars(
            [("Multi-Agency Safeguarding Hub West", {"Good": 6, "Inadequate": 5})],
            ("Outstanding", "Good", "Requires Improvement", "Inadequate"),
            "t",
        )
    )
    page = tmp_path / "charts.html"
    page.write_text("<html><body>" + "".join(svgs) + MEASURE + "</body></html>", encoding="utf-8")
    dom = chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    texts = re.search(r'data-texts="(\d+)"', dom.stdout)
    assert texts and int(texts.group(1)) > 50
    overflow = re.search(r'data-overflow="([^"]*)"', dom.stdout)
    assert overflow and overflow.group(1) == "[]", overflow and overflow.group(1)
