"""The report names each quota's theme of focus for the period (rule C3, GAPS 5)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from qaf import report as rp
from qaf.config import Config, read_config
from qaf.register import Register
from qaf.workdir import preset_text
from tests.report_fixtures import build_register

AS_OF = date(2027, 4, 10)

# the Head of Service quota (generic preset) gets its own programme and a name with markup;
# the other case quotas follow [cycle] focus (December: Public Law Outline, January: Children
# in Need)
OWN_PROGRAMME = """role = "Head of Service"                  # Rochdale 3.4: one a month outside their service
name = "tier 2 <b>|audit</b>"
focus = { "2026-12" = ["Care | Plans", "<script>x</script>"], "2027-02" = "PEPs & Health" }
"""


def _workdir(root: Path, own_programme: bool = True) -> Path:
    text = preset_text("generic")
    if own_programme:
        head = 'role = "Head of Service"                  # Rochdale 3.4: one a month outside'
        head += " their service\n"
        assert head in text
        text = text.replace(head, OWN_PROGRAMME, 1)
    root.mkdir(parents=True, exist_ok=True)
    (root / "qaf.toml").write_text(text, encoding="utf-8")
    build_register(root / "qaf.db", first="2026-12", last="2027-03", per_cycle=12, as_of=AS_OF)
    return root


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _workdir(tmp_path_factory.mktemp("focus"))


def _report(workdir: Path, period: rp.Period) -> rp.ReportData:
    cfg: Config = read_config(workdir / "qaf.toml")
    with Register.open(cfg.register_path) as reg:
        rows = reg.report_rows(rp.report_scope(period, AS_OF))
    return rp.build_report(rows, period, cfg, as_of=AS_OF)


def test_each_quotas_theme_for_each_month_of_the_period_rule_c3_gaps5(workdir: Path) -> None:
    """C3 / GAPS 5: a column per quota (named, else its role; quotas on the cycle's programme
    with the same label share one), a row per month with a theme, "—" where a quota has none."""
    data = _report(workdir, rp.quarter_period("2027Q1"))
    table = data.tables["focus"]
    assert table.columns == (
        "Month",
        "Team Manager",
        "Advanced Practitioner",
        "tier 2 <b>|audit</b>",
        "IRO",
        "CP Chair",
    )
    assert table.rows == (
        ("January 2027", *["Children in Need"] * 2, "—", *["Children in Need"] * 2),
        ("February 2027", "—", "—", "PEPs & Health", "—", "—"),
    )
    assert "weighted ×3" in table.note
    month = _report(workdir, rp.month_period("2026-12")).tables["focus"]
    assert month.rows == (
        (
            "December 2026",
            *["Public Law Outline"] * 2,
            "Care | Plans / <script>x</script>",
            *["Public Law Outline"] * 2,
        ),
    )
    # a month with no theme for any quota: no table
    assert "focus" not in _report(workdir, rp.month_period("2027-03")).tables


def test_themes_escaped_in_markdown_and_html_rule_c3_gaps5_p3(workdir: Path) -> None:
    """GAPS 5 / P3: quota names and themes are shown as text in both packs."""
    data = _report(workdir, rp.month_period("2026-12"))
    md = rp.render(data, "md")
    assert "### Themes of focus" in md
    assert "| tier 2 \\<b>\\|audit\\</b> |" in md
    assert "| Care \\| Plans / \\<script>x\\</script> |" in md
    html = rp.render(data, "html")
    assert "<h3>Themes of focus</h3>" in html
    assert "<script>x" not in html and "<b>|audit" not in html
    assert "<th>tier 2 &lt;b&gt;|audit&lt;/b&gt;</th>" in html
    assert "<td>Care | Plans / &lt;script&gt;x&lt;/script&gt;</td>" in html
    assert rp.report_json(data)["tables"]["focus"]["rows"][0][0] == "December 2026"


def test_no_quota_programme_no_focus_table_rule_c3_gaps5(tmp_path: Path) -> None:
    """GAPS 5: with only [cycle] focus (one theme for all audits) the pack is as before."""
    data = _report(_workdir(tmp_path, own_programme=False), rp.month_period("2026-12"))
    assert "focus" not in data.tables
    assert "Themes of focus" not in rp.render(data, "md")
    assert "Themes of focus" not in rp.render(data, "html")
