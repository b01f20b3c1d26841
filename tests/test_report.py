"""Report packs (rules P1-P3, M1): numbers agree with the register, escaping, suppression,
empty periods, template override, periods, the command line."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from qaf import report as rp
from qaf.cli import app, fill_optional_values
from qaf.config import read_config
from qaf.register import Register
from qaf.workdir import preset_text
from tests.report_fixtures import build_register, connect

AS_OF = date(2027, 8, 1)
runner = CliRunner()


def make_workdir(root: Path, *, report_settings: str = "", **build: object) -> Path:
    text = preset_text("generic")
    if report_settings:
        text = re.sub(r"\[report\]\n(.*\n)*?audience = \"DMT\"\n", report_settings, text)
    root.mkdir(parents=True, exist_ok=True)
    (root / "qaf.toml").write_text(text, encoding="utf-8")
    build_register(root / "qaf.db", **build)  # type: ignore[arg-type]
    return root


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workdir(
        tmp_path_factory.mktemp("report"), first="2025-01", last="2027-06", as_of=AS_OF
    )


@pytest.fixture(scope="module")
def fy_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = '[report]\nsuppress_below = 5\nfinancial_year = true\naudience = "DMT"\n'
    return make_workdir(
        tmp_path_factory.mktemp("fy"),
        report_settings=settings,
        first="2025-01",
        last="2027-06",
        as_of=AS_OF,
    )


def build(workdir: Path, period: rp.Period, as_of: date = AS_OF) -> rp.ReportData:
    cfg = read_config(workdir / "qaf.toml")
    with Register.open(cfg.register_path) as reg:
        rows = reg.report_rows(rp.report_scope(period, as_of))
    return rp.build_report(rows, period, cfg, as_of=as_of)


def sql_figures(db: Path, cycles: tuple[str, ...], as_of: date) -> dict[str, object]:
    """The same figures straight from SQL, independently of report.py."""
    marks = ",".join("?" * len(cycles))
    conn = connect(db)
    grades = dict(
        conn.execute(
            "SELECT overall, count(*) FROM returns WHERE superseded_by IS NULL "
            f"AND type IN ('audit','reaudit') AND cycle IN ({marks}) AND received_on <= ? "
            "GROUP BY overall",
            [*cycles, as_of.isoformat()],
        ).fetchall()
    )
    allocated, returned, on_time = conn.execute(
        "SELECT count(*), count(r.first), sum(r.first <= COALESCE(e.due, a.due)) "
        "FROM allocations a "
        "LEFT JOIN (SELECT audit_id, min(received_on) AS first FROM returns "
        "           WHERE received_on <= ? GROUP BY audit_id) r ON r.audit_id = a.audit_id "
        "LEFT JOIN (SELECT audit_id, max(new_due) AS due FROM extensions GROUP BY audit_id) e "
        "       ON e.audit_id = a.audit_id "
        f"WHERE a.cycle IN ({marks}) AND a.type IN ('audit','reaudit')",
        [as_of.isoformat(), *cycles],
    ).fetchone()
    by_team = dict(
        conn.execute(
            "SELECT team, count(*) FROM returns WHERE superseded_by IS NULL AND overall IS NOT NULL "
            f"AND cycle IN ({marks}) AND received_on <= ? GROUP BY team",
            [*cycles, as_of.isoformat()],
        ).fetchall()
    )
    conn.close()
    return {
        "grades": grades,
        "allocated": allocated,
        "returned": returned,
        "on_time": on_time or 0,
        "by_team": by_team,
    }


# ------------------------------------------------------------- P2 numbers


@pytest.mark.parametrize("quarter", ["2026Q3", "2026Q1", "2027Q2"])
def test_p2_grade_counts_and_completion_agree_with_sql(workdir: Path, quarter: str) -> None:
    period = rp.quarter_period(quarter)
    data = build(workdir, period)
    expected = sql_figures(workdir / "qaf.db", period.cycles, AS_OF)
    assert dict(data.grade_counts) == {
        g: expected["grades"].get(g, 0)  # type: ignore[attr-defined]
        for g in data.levels
    }
    assert data.completion.allocated == expected["allocated"]
    assert data.completion.returned == expected["returned"]
    assert data.completion.on_time == expected["on_time"]
    assert data.completion.late == data.completion.returned - data.completion.on_time
    assert data.completion.outstanding == data.completion.allocated - data.completion.returned
    team_totals = {row[0]: row[1] for row in data.tables["grades_team"].rows}
    for team, n in expected["by_team"].items():  # type: ignore[attr-defined]
        assert team_totals[team] == (str(n) if n >= 5 else "<5")
    # the comparison column for this period uses the per-cycle path: same numbers
    this = data.comparison[0]
    assert (this.allocated, this.returned, this.on_time) == (
        expected["allocated"],
        expected["returned"],
        expected["on_time"],
    )
    assert this.graded == data.graded


def test_p2_rendered_numbers_match_the_data(workdir: Path) -> None:
    data = build(workdir, rp.quarter_period("2026Q3"))
    md = rp.render(data, "md")
    assert f"| Allocated | {data.completion.allocated} |" in md
    assert f"returned: **{data.completion.returned}**" in md
    html = rp.render(data, "html")
    assert f'<span class="v">{data.completion.allocated}</span>' in html


def test_p1_quarter_spanning_the_financial_year_boundary(fy_workdir: Path) -> None:
    # financial year: "2025Q4" is January-March 2026; its previous quarter and the
    # comparisons cross the April boundary and the calendar year boundary.
    period = rp.quarter_period("2025Q4", financial_year=True)
    assert period.cycles == ("2026-01", "2026-02", "2026-03")
    assert period.label.startswith("2025/26 Q4")
    data = build(fy_workdir, period)
    expected = sql_figures(fy_workdir / "qaf.db", period.cycles, AS_OF)
    assert data.completion.allocated == expected["allocated"]
    assert data.completion.returned == expected["returned"]
    assert sum(data.grade_counts.values()) == sum(expected["grades"].values())  # type: ignore[attr-defined]
    nxt = rp.quarter_period("2026Q1", financial_year=True)  # April-June 2026: a new FY
    assert nxt.previous() == period
    data2 = build(fy_workdir, nxt)
    prev = data2.comparison[1]
    assert (prev.allocated, prev.returned) == (expected["allocated"], expected["returned"])
    last_year = sql_figures(fy_workdir / "qaf.db", ("2025-04", "2025-05", "2025-06"), AS_OF)
    assert data2.comparison[2].returned == last_year["returned"]


def test_p2_domain_profile_is_weakest_first_and_counts_match(workdir: Path) -> None:
    period = rp.quarter_period("2026Q3")
    data = build(workdir, period)
    shares = [d.good_or_better / d.graded for d in data.domains]
    assert shares == sorted(shares)
    conn = connect(workdir / "qaf.db")
    n = conn.execute(
        "SELECT count(*) FROM domain_grades d JOIN returns r ON r.id = d.return_id "
        "WHERE r.cycle IN ('2026-07','2026-08','2026-09') AND d.domain_id = 'D8' AND d.na = 0 "
        "AND r.received_on <= ?",
        (AS_OF.isoformat(),),
    ).fetchone()[0]
    conn.close()
    assert next(d for d in data.domains if d.domain_id == "D8").graded == n


def test_p2_trend_covers_twelve_cycles_ending_with_the_period(workdir: Path) -> None:
    data = build(workdir, rp.month_period("2026-10"))
    assert len(data.trend) == 12
    assert data.trend[0].cycle == "2025-11"
    assert data.trend[-1].cycle == "2026-10"
    assert data.trend[-1].graded == data.graded


def test_p2_trend_starts_at_the_first_cycle_with_allocations(workdir: Path) -> None:
    """Rule P2 (trial2 T2-5): the register starts in 2025-01, so the first quarter's trend has
    its three cycles, not nine empty ones before them, and says why it is short."""
    data = build(workdir, rp.quarter_period("2025Q1"))
    assert [p.cycle for p in data.trend] == ["2025-01", "2025-02", "2025-03"]
    assert data.trend_note == "The trend starts at 2025-01, the first cycle with allocations."
    assert build(workdir, rp.month_period("2026-10")).trend_note == ""


def test_p2_short_trend_in_the_markdown_pack(workdir: Path, tmp_path: Path) -> None:
    """Rule P2 (trial2 T2-5): the pack's trend table and its one-line note."""
    out = tmp_path / "q1.md"
    res = runner.invoke(
        app,
        ["report", "--quarter", "2025Q1", "--format", "md", "--out", str(out),
         "--as-of", "2027-08-01", "--config", str(workdir / "qaf.toml")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert " · figures as of 01/08/2027\n" in text  # trial2 T2-6: dates for people
    trend = text[text.index("### Trend") : text.index("## Domain profile")]
    assert trend.startswith("### Trend: Good or better, last 3 cycles\n\n| Cycle |")
    assert [line[2:9] for line in trend.splitlines() if line.startswith("| 20")] == [
        "2025-01",
        "2025-02",
        "2025-03",
    ]
    assert trend.endswith("\n_The trend starts at 2025-01, the first cycle with allocations._\n\n")


def test_p2_as_of_excludes_later_returns(workdir: Path) -> None:
    period = rp.month_period("2027-06")
    early = build(workdir, period, as_of=date(2027, 6, 15))
    late = build(workdir, period)
    assert early.completion.returned <= late.completion.returned
    assert (
        early.completion.returned
        == sql_figures(workdir / "qaf.db", period.cycles, date(2027, 6, 15))["returned"]
    )


# ------------------------------------------------------- escaping (P3 text)


def _plant(db: Path, text: str, domain: str = "D8") -> str:
    """Give one weak domain of a 2026-08 return a long rationale ``text``; return its case."""
    conn = connect(db)
    row = conn.execute(
        "SELECT r.id, r.case_id FROM returns r JOIN domain_grades d ON d.return_id = r.id "
        "WHERE r.cycle = '2026-08' AND d.domain_id = ? AND d.grade = 'Inadequate' LIMIT 1",
        (domain,),
    ).fetchone()
    conn.execute(
        "UPDATE domain_grades SET rationale = ? WHERE return_id = ? AND domain_id = ?",
        (text, row["id"], domain),
    )
    conn.commit()
    conn.close()
    return str(row["case_id"])


def test_p3_script_in_a_rationale_is_shown_as_text(tmp_path: Path) -> None:
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    payload = "<script>alert('x')</script> plan drifted | no review\nnext line \\ end " + "x" * 200
    case = _plant(wd / "qaf.db", payload)
    data = build(wd, rp.month_period("2026-08"))
    assert any(q.case_id == case and "<script>" in q.text for q in data.improvements)
    html = rp.render(data, "html")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    md = rp.render(data, "md")
    assert "\\<script>alert('x')\\</script> plan drifted \\| no review next line \\\\ end" in md


def test_p3_markdown_cells_escape_pipes_newlines_and_backslashes() -> None:
    assert rp.md_escape("a|b") == "a\\|b"
    assert rp.md_escape("a\nb\r\nc") == "a<br>b<br>c"
    assert rp.md_escape("C:\\temp") == "C:\\\\temp"
    assert rp.md_escape("<5") == "<5"  # not a tag: left readable
    assert rp.md_escape("<b>") == "\\<b>"
    table = rp.Table(("Team", "n"), (("North | South\nEast", "3"),))
    data_md = _render_table_md(table)
    assert "| North \\| South<br>East | 3 |" in data_md


def _render_table_md(table: rp.Table) -> str:
    """The Markdown template's own table macro, rendered alone."""
    import jinja2

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.filters["md"] = rp.md_escape
    src = (rp.TEMPLATE_DIR / "report.md.j2").read_text(encoding="utf-8")
    macro = src[src.index("{% macro table(tb) %}") : src.index("{% endmacro %}") + 14]
    return env.from_string(macro + "{{ table(tb) }}").render(tb=table)


def test_p3_no_staff_or_child_names_in_the_report(workdir: Path) -> None:
    data = build(workdir, rp.quarter_period("2026Q3"))
    for fmt in ("md", "html"):
        text = rp.render(data, fmt)  # type: ignore[arg-type]
        assert "Worker " not in text  # rationales name the worker: masked as [name]
        assert not re.search(r"Auditor \d", text)
    assert any("[name]" in q.text for q in data.strengths + data.improvements)
    conn = connect(workdir / "qaf.db")
    columns = {
        r[1] for t in ("returns", "allocations") for r in conn.execute(f"PRAGMA table_info({t})")
    }
    conn.close()
    assert not {"name", "child_name"} & columns  # the register has nowhere to keep them


def test_p2_what_we_learned_quotes_rationales_that_name_nobody(tmp_path: Path) -> None:
    """Rule P2 (F16): a rationale with no staff name to mask used to be dropped as a duplicate
    of itself, so the section was always empty unless every text named someone."""
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    conn = connect(wd / "qaf.db")
    conn.execute(
        "UPDATE domain_grades SET rationale = CASE WHEN grade IN ('Good', 'Outstanding') "
        "THEN 'Visits are purposeful and the plan is reviewed (' || domain_id || ').' "
        "ELSE 'Plan drifts between reviews (' || domain_id || ' ' || return_id || ').' END"
    )
    conn.commit()
    cases = {r[0] for r in conn.execute("SELECT case_id FROM returns WHERE cycle = '2026-08'")}
    conn.close()
    data = build(wd, rp.month_period("2026-08"))
    assert data.strengths and data.improvements
    assert {q.grade for q in data.strengths} <= {"Good", "Outstanding"}
    assert {q.grade for q in data.improvements} <= {"Requires Improvement", "Inadequate"}
    assert {q.case_id for q in data.strengths + data.improvements} <= cases  # P3: case IDs
    assert len({q.text for q in data.strengths}) == len(data.strengths)  # no repeats
    weakest = {d.domain_id for d in data.domains[:3]}
    assert {q.about.split()[0] for q in data.improvements} & weakest
    md = rp.render(data, "md")
    learned = md[md.index("## What we learned") :]
    assert "_None in this period._" not in learned
    assert "Plan drifts between reviews" in learned


def test_p2_learning_prefers_domains_graded_often_enough_to_show(tmp_path: Path) -> None:
    """Rule P2/P3: a domain graded fewer times than suppress_below gives no lesson ahead of
    one whose counts are shown."""
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    conn = connect(wd / "qaf.db")
    ids = [r[0] for r in conn.execute("SELECT id FROM returns WHERE cycle = '2026-08'")]
    conn.executemany(
        "INSERT INTO domain_grades (return_id, domain_id, grade, na, rationale) "
        "VALUES (?, 'D99', 'Inadequate', 0, 'A rare domain, weakest of all.')",
        [(i,) for i in ids[:2]],
    )
    conn.commit()
    conn.close()
    data = build(wd, rp.month_period("2026-08"))
    assert data.domains[0].domain_id == "D99"  # weakest, but graded only twice
    assert data.improvements
    assert data.improvements[0].about.split()[0] != "D99"


# ------------------------------------------------------------- suppression


def test_p3_small_counts_are_suppressed_in_breakdowns(tmp_path: Path) -> None:
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=6)
    data = build(wd, rp.month_period("2026-08"))
    team_rows = data.tables["grades_team"].rows
    assert team_rows
    for row in team_rows:
        n = row[1]
        assert n == "<5" or int(n) >= 5 or n == "0"
        if n == "<5":
            assert row[-1] == rp.DASH  # the percentage derived from it is hidden
    assert all(re.fullmatch(r"<5|0|[5-9]|\d\d+", c) for row in team_rows for c in row[1:-1])
    md = rp.render(data, "md")
    assert "| <5 |" in md
    # headline totals are not suppressed
    assert f"returned: **{data.completion.returned}**" in md


def test_p3_suppression_can_be_switched_off(tmp_path: Path) -> None:
    settings = '[report]\nsuppress_below = 0\nfinancial_year = false\naudience = "DMT"\n'
    wd = make_workdir(
        tmp_path,
        report_settings=settings,
        first="2026-07",
        last="2026-09",
        as_of=AS_OF,
        per_cycle=6,
    )
    data = build(wd, rp.month_period("2026-08"))
    cells = [c for row in data.tables["grades_team"].rows for c in row]
    assert "<5" not in cells and "<0" not in cells
    assert not any("disclosure control" in n for n in data.notes)


def test_p3_suppression_rules() -> None:
    sup = rp.Suppression(5)
    assert [sup.count(n) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]
    assert sup.pct(3, 20) == rp.DASH
    assert sup.pct(10, 3) == rp.DASH
    assert sup.pct(0, 20) == "0%"
    assert sup.pct(15, 20) == "75%"
    assert rp.Suppression(0).count(1) == "1"


def _hidden(cell: str) -> bool:
    return cell.startswith("<") or cell == rp.DASH


def _check_grade_rows(table: rp.Table, levels: tuple[str, ...], fixed_n: bool) -> int:
    """Each relation of a grade row (grades + returns; good grades + Good or better; the
    rest + Good or better + returns) has 0 or 2+ hidden figures; the number of hidden."""
    count = 0
    for row in table.rows:
        n, grades, gob = row[1], dict(zip(levels, row[2 : 2 + len(levels)], strict=True)), row[-1]
        n_hidden = _hidden(n) and not fixed_n
        good = [_hidden(grades[lvl]) for lvl in levels[:2]]
        bad = [_hidden(grades[lvl]) for lvl in levels[2:]]
        for rel in ([*good, *bad, n_hidden], [*good, _hidden(gob)], [*bad, _hidden(gob), n_hidden]):
            assert sum(rel) != 1, (table.title, row)
        count += sum(good) + sum(bad)
    return count


def test_p3_secondary_suppression_in_grade_tables(tmp_path: Path) -> None:
    """Rule P3 (F17): a hidden grade count cannot be worked out by subtraction from the
    returns or the Good-or-better share of its row, or from the overall row."""
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    data = build(wd, rp.month_period("2026-08"))
    levels = data.levels
    overall = rp.Table(
        ("", "n", *levels, "gob"),
        (
            (
                "all",
                str(data.graded),
                *(r[1] for r in data.tables["grades_overall"].rows),
                data.good_share_text,
            ),
        ),
    )
    hidden = _check_grade_rows(overall, levels, fixed_n=True)
    for key in ("grades_team", "grades_service", "grades_category", "domains"):
        hidden += _check_grade_rows(data.tables[key], levels, fixed_n=False)
        for i in range(1, len(levels) + 2):  # a column of a breakdown adds up to the overall
            if key != "domains":
                assert sum(_hidden(row[i]) for row in data.tables[key].rows) != 1 or all(
                    _hidden(c) for c in overall.rows[0][i : i + 1]
                ), (key, i)
    assert hidden  # the fixture does have small counts
    secondary = [
        c
        for key in ("grades_overall", "grades_team", "grades_service", "grades_category")
        for r in data.tables[key].rows
        for c in r[1:-1]
        if c == rp.DASH
    ]
    assert secondary  # some figures were hidden only to protect small ones
    comparison = {row[0]: row[1] for row in data.tables["comparison"].rows}
    for lvl, row in zip(levels, data.tables["grades_overall"].rows, strict=True):
        assert _hidden(comparison[f"{lvl} %"]) == _hidden(row[1])  # the same figures hidden
    assert any("a second figure is also shown" in n for n in data.notes)


def test_p3_headline_safety_count_is_suppressed_like_the_table(tmp_path: Path) -> None:
    """Rule P3 (F17): 'Immediate safety concerns raised' said 1 while the table said <5."""
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    conn = connect(wd / "qaf.db")
    conn.execute("UPDATE returns SET safety_concern = 0")
    conn.execute(
        "UPDATE returns SET safety_concern = 1 WHERE id = "
        "(SELECT min(id) FROM returns WHERE cycle = '2026-08' AND superseded_by IS NULL)"
    )
    conn.commit()
    conn.close()
    data = build(wd, rp.month_period("2026-08"))
    assert data.safety_concerns == 1 and data.safety_text == "<5"
    assert "Immediate safety concerns raised: **<5**" in rp.render(data, "md")
    assert '<span class="v">&lt;5</span><span class="l">immediate safety' in rp.render(data, "html")


def test_p3_chart_tooltips_carry_no_hidden_share(tmp_path: Path) -> None:
    """Rule P3 (F17): the domain chart's tooltip said '75% Good or better of 4'."""
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    conn = connect(wd / "qaf.db")
    ids = [r[0] for r in conn.execute("SELECT id FROM returns WHERE cycle = '2026-08'")]
    conn.executemany(
        "INSERT INTO domain_grades (return_id, domain_id, grade, na, rationale) "
        "VALUES (?, 'D77', ?, 0, '')",
        [(ids[0], "Inadequate"), *((i, "Good") for i in ids[1:4])],
    )
    conn.commit()
    conn.close()
    data = build(wd, rp.month_period("2026-08"))
    small = next(d for d in data.domains if d.domain_id == "D77")
    assert small.graded == 4 and small.share_hidden
    html = rp.render(data, "html")
    titles = re.findall(r"<title>([^<]*)</title>", html)
    assert "D77: share hidden (&lt;5 graded; P3)" in titles
    assert not any(t.startswith("D77") and "%" in t for t in titles)
    for d in data.domains:
        if d.share_hidden:
            assert not any(t.startswith(f"{d.domain_id} ") and "%" in t for t in titles)
    assert "under 50% Good or better" in html and "75% or more Good or better" in html


def test_p2_roles_grouped_in_the_configured_spelling_and_blank_teams_explained(
    tmp_path: Path,
) -> None:
    """F18: "team manager" and "Team Manager " are one row, "Team Manager"; a "(no team)"
    row says where it comes from."""
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    conn = connect(wd / "qaf.db")
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT audit_id FROM allocations WHERE cycle = '2026-08' "
            "AND auditor_role = 'Team Manager' ORDER BY audit_id"
        )
    ]
    assert len(ids) >= 3
    conn.execute("UPDATE allocations SET auditor_role = 'team manager' WHERE audit_id = ?", ids[:1])
    conn.execute(
        "UPDATE allocations SET auditor_role = 'Team Manager ' WHERE audit_id = ?", ids[1:2]
    )
    conn.execute("UPDATE allocations SET team = '' WHERE audit_id = ?", ids[2:3])
    conn.commit()
    conn.close()
    data = build(wd, rp.month_period("2026-08"))
    roles = [row[0] for row in data.tables["completion_role"].rows]
    assert roles.count("Team Manager") == 1
    assert not {"team manager", "Team Manager "} & set(roles)
    team_table = data.tables["completion_team"]
    assert "(no team)" in [row[0] for row in team_table.rows]
    assert "the case list gave no team" in team_table.note
    assert "the case list gave no team" in rp.render(data, "md")
    assert not data.tables["grades_category"].note  # nothing blank there


# ------------------------------------------------------------- empty period


def test_p2_empty_period_gives_a_valid_report(workdir: Path, tmp_path: Path) -> None:
    data = build(workdir, rp.month_period("2030-01"))
    assert data.empty and data.completion.allocated == 0 and data.graded == 0
    for fmt in ("md", "html"):
        text = rp.render(data, fmt)  # type: ignore[arg-type]
        assert "no allocations and no returns" in text
    # a brand-new register too
    wd = tmp_path / "new"
    wd.mkdir()
    (wd / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    Register.open(wd / "qaf.db").close()
    assert build(wd, rp.quarter_period("2026Q3")).empty


# ------------------------------------------------------------- templates


def test_p1_template_folder_next_to_qaf_toml_overrides(workdir: Path, tmp_path: Path) -> None:
    data = build(workdir, rp.month_period("2026-10"))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "report.md.j2").write_text(
        "Northvale brand: {{ d.period.label }} {{ d.completion.allocated }}\n", encoding="utf-8"
    )
    text = rp.render(data, "md", config_root=tmp_path)
    assert text == f"Northvale brand: October 2026 {data.completion.allocated}\n"
    # the HTML template is not overridden, so qaf's own is used
    assert "<!DOCTYPE html>" in rp.render(data, "html", config_root=tmp_path)


def test_p3_html_override_keeps_autoescape(workdir: Path, tmp_path: Path) -> None:
    data = build(workdir, rp.month_period("2026-10"))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "report.html.j2").write_text(
        "<p>{{ '<script>x</script>' }}</p>", encoding="utf-8"
    )
    assert rp.render(data, "html", config_root=tmp_path) == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


# ------------------------------------------------------------- moderation M1


def _kappa_reference(pairs: list[tuple[int, int]], k: int) -> float:
    n = len(pairs)
    obs = [[0.0] * k for _ in range(k)]
    for a, b in pairs:
        obs[a - 1][b - 1] += 1
    rows = [sum(r) for r in obs]
    cols = [sum(obs[i][j] for i in range(k)) for j in range(k)]
    w = [[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)]
    num = sum(w[i][j] * obs[i][j] for i in range(k) for j in range(k))
    den = sum(w[i][j] * rows[i] * cols[j] / n for i in range(k) for j in range(k))
    return 1 - num / den


@pytest.mark.parametrize(
    "pairs",
    [
        [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (3, 2), (4, 3)],
        [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4), (1, 2), (2, 2), (3, 3)],
        [(1, 4), (4, 1), (2, 3), (3, 2)],
    ],
)
def test_m1_weighted_kappa_matches_the_textbook_formula(pairs: list[tuple[int, int]]) -> None:
    a = rp.agreement_of(pairs, 4)
    assert a.pairs == len(pairs)
    assert a.agreed == sum(x == y for x, y in pairs)
    assert a.kappa == pytest.approx(_kappa_reference(pairs, 4))


def test_m1_kappa_perfect_and_undefined() -> None:
    assert rp.agreement_of([(1, 1), (2, 2), (4, 4)], 4).kappa == pytest.approx(1.0)
    assert rp.agreement_of([(2, 2), (2, 2)], 4).kappa is None  # no spread: undefined
    assert rp.agreement_of([], 4).exact is None


def test_m1_moderation_agreement_agrees_with_sql(workdir: Path) -> None:
    period = rp.quarter_period("2026Q3")
    data = build(workdir, period)
    conn = connect(workdir / "qaf.db")
    pairs, agreed = conn.execute(
        "SELECT count(*), sum(auditor_grade = moderator_grade) FROM moderations "
        "WHERE moderator_grade IS NOT NULL AND done_on BETWEEN '2026-07-01' AND '2026-09-30'"
    ).fetchone()
    conn.close()
    assert (data.agreement.pairs, data.agreement.agreed) == (pairs, agreed)


# ------------------------------------------------------------- periods (P1)


def test_p1_periods() -> None:
    assert rp.month_period("2026-10").label == "October 2026"
    q = rp.quarter_period("2026Q3")
    assert (q.cycles, q.key, q.start, q.end) == (
        ("2026-07", "2026-08", "2026-09"),
        "2026Q3",
        date(2026, 7, 1),
        date(2026, 9, 30),
    )
    assert q.previous().key == "2026Q2" and q.same_last_year().key == "2025Q3"
    assert rp.quarter_period("2026Q1").previous().key == "2025Q4"
    fy = rp.year_period(2026, financial_year=True)
    assert (fy.cycles[0], fy.cycles[-1], fy.key) == ("2026-04", "2027-03", "2026-27")
    assert rp.parse_period("year", "2026/27", as_of=date(2028, 1, 1), financial_year=True) == fy
    with pytest.raises(ValueError):
        rp.parse_period("month", "2026-13", as_of=date(2028, 1, 1), financial_year=False)


@pytest.mark.parametrize(
    ("kind", "as_of", "fy", "key"),
    [
        ("month", date(2026, 11, 1), False, "2026-10"),
        ("month", date(2026, 10, 31), False, "2026-09"),
        ("quarter", date(2026, 10, 1), False, "2026Q3"),
        ("quarter", date(2026, 9, 30), False, "2026Q2"),
        ("quarter", date(2026, 4, 2), True, "2025-26Q4"),
        ("quarter", date(2026, 7, 1), True, "2026-27Q1"),
        ("year", date(2027, 1, 5), False, "2026"),
        ("year", date(2027, 3, 31), True, "2025-26"),
        ("year", date(2027, 4, 1), True, "2026-27"),
    ],
)
def test_p1_no_value_means_the_last_complete_period(
    kind: rp.PeriodKind, as_of: date, fy: bool, key: str
) -> None:
    assert rp.parse_period(kind, None, as_of=as_of, financial_year=fy).key == key
    assert rp.parse_period(kind, "last", as_of=as_of, financial_year=fy).key == key


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    st.sampled_from(["month", "quarter", "year"]),
    st.booleans(),
)
def test_p1_last_complete_is_the_latest_period_ended_before_as_of(
    as_of: date, kind: rp.PeriodKind, fy: bool
) -> None:
    p = rp.last_complete(kind, as_of, fy)
    assert p.end < as_of
    nxt = p.shifted(len(p.cycles))
    assert nxt.end >= as_of
    assert nxt.previous() == p


# ------------------------------------------------------------- command line


def test_p1_cli_report_writes_the_file_and_prints_its_path(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dmt.md"
    res = runner.invoke(
        app,
        [
            "report",
            "--quarter",
            "2026Q3",
            "--format",
            "md",
            "--out",
            str(out),
            "--as-of",
            "2027-08-01",
            "--config",
            str(workdir / "qaf.toml"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert str(out) in res.stdout
    assert out.read_text(encoding="utf-8").startswith("# Quality assurance report: 2026Q3")


def test_p1_cli_default_output_and_last_quarter(workdir: Path) -> None:
    res = runner.invoke(
        app,
        [
            "report",
            "--quarter",
            "last",
            "--as-of",
            "2026-10-01",
            "--config",
            str(workdir / "qaf.toml"),
        ],
    )
    assert res.exit_code == 0, res.output
    target = workdir / "reports" / "2026Q3.html"
    assert res.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_p1_flag_without_value_means_last() -> None:
    assert fill_optional_values(["report", "--quarter"]) == ["report", "--quarter", "last"]
    assert fill_optional_values(["report", "--month", "--format", "md"]) == [
        "report",
        "--month",
        "last",
        "--format",
        "md",
    ]
    assert fill_optional_values(["report", "--month", "2026-10"]) == [
        "report",
        "--month",
        "2026-10",
    ]
    assert fill_optional_values(["allocate", "--month", "2026-10"]) == [
        "allocate",
        "--month",
        "2026-10",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["report"],
        ["report", "--month", "2026-10", "--quarter", "2026Q3"],
        ["report", "--month", "October"],
        ["report", "--quarter", "2026Q5"],
    ],
)
def test_p1_cli_bad_period_is_a_usage_error(workdir: Path, args: list[str]) -> None:
    res = runner.invoke(app, [*args, "--config", str(workdir / "qaf.toml")])
    assert res.exit_code == 2


def test_p1_month_in_words_like_the_quarter_f20() -> None:
    assert rp.month_period("October 2026") == rp.month_period("2026-10")
    assert rp.month_period("Oct 2026").label == "October 2026"
    with pytest.raises(ValueError, match="is not a month"):
        rp.month_period("October")


def test_p1_cli_report_without_register_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    res = runner.invoke(
        app, ["report", "--month", "2026-10", "--config", str(tmp_path / "qaf.toml")]
    )
    assert res.exit_code == 2
    assert "no register" in res.output


def test_p1_flag_alone_works_from_the_real_command_line(workdir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "last.md"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "qaf",
            "report",
            "--month",
            "--format",
            "md",
            "--out",
            str(out),
            "--as-of",
            "2026-11-03",
            "--config",
            str(workdir / "qaf.toml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert res.returncode == 0, res.stderr
    assert out.read_text(encoding="utf-8").startswith("# Quality assurance report: October 2026")


def test_p1_demo_report_step_writes_both_formats(workdir: Path) -> None:
    from qaf.demo import report_step

    cfg = read_config(workdir / "qaf.toml")
    said: list[str] = []
    paths = report_step(cfg, say=said.append, as_of=date(2027, 7, 15))
    assert [p.name for p in paths] == ["2027-06.md", "2027-06.html"]
    assert all(p.exists() for p in paths)
    assert said and said[0].startswith("June 2027:")


def test_p2_what_we_learned_skips_the_same_sentences_in_another_order(tmp_path: Path) -> None:
    """Rule P2: "A. B." and "B. A." are one lesson, quoted once."""
    wd = make_workdir(tmp_path, first="2026-07", last="2026-09", as_of=AS_OF, per_cycle=30)
    conn = connect(wd / "qaf.db")
    conn.execute(
        "UPDATE domain_grades SET rationale = CASE WHEN return_id % 2 = 0 "
        "THEN 'Visits are purposeful. The plan is reviewed.' "
        "ELSE 'The plan is reviewed. Visits are purposeful.' END"
    )
    conn.commit()
    conn.close()
    data = build(wd, rp.month_period("2026-08"))
    assert len(data.strengths) == 1 and len(data.improvements) == 1


def test_p1_cli_summary_says_what_an_early_as_of_leaves_out(workdir: Path) -> None:
    """New-user trial F15: a pack made with an --as-of before some of the period's returns
    arrived says how many it does not count; a period with nothing in it says so."""
    import sqlite3

    cfg = read_config(workdir / "qaf.toml")
    con = sqlite3.connect(cfg.register_path)
    (later,) = con.execute(
        "SELECT count(*) FROM returns WHERE superseded_by IS NULL AND type != 'moderation' "
        "AND substr(cycle, 1, 7) BETWEEN '2026-07' AND '2026-09' AND received_on > '2026-09-15'"
    ).fetchone()
    con.close()
    assert later > 1
    args = ["report", "--quarter", "2026Q3", "--format", "md", "--config", str(cfg.path)]
    res = runner.invoke(app, [*args, "--as-of", "2026-09-15"])
    assert res.exit_code == 0, res.output
    assert (
        f"\n  {later} more returns were received after 15/09/2026 and are not counted "
        "(see --as-of)\n" in res.stderr
    )
    res = runner.invoke(app, [*args[:2], "2030Q1", *args[3:], "--as-of", "2030-05-01"])
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("2030Q1 (January to March 2030): 0 returns of 0 allocated (")
    assert "\n  no cycle was allocated and no return received in this period\n" in res.stderr
