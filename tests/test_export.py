"""``qaf export``: the register as the tracker workbook (issue 6 item 8; DESIGN §6 text as text)."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from qaf.cli import app
from qaf.config import read_config
from qaf.export import SHEETS, export_register, safe_text
from qaf.register import Register
from qaf.workdir import preset_text
from tests.report_fixtures import build_register, connect

runner = CliRunner()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export")
    (root / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    build_register(root / "qaf.db", first="2026-05", last="2026-09", per_cycle=12)
    conn = connect(root / "qaf.db")
    rid = conn.execute("SELECT min(id) FROM returns").fetchone()[0]
    # hostile text from a returned workbook: must stay text, never a formula
    conn.execute(
        'UPDATE actions SET action = \'=HYPERLINK("http://evil.example","x")\' '
        "WHERE id = (SELECT min(id) FROM actions)"
    )
    conn.execute(
        "UPDATE returns SET summary = '+1+2', overall_rationale = '@SUM(A1)' WHERE id = ?", (rid,)
    )
    conn.commit()
    conn.close()
    res = runner.invoke(app, ["export", "--config", str(root / "qaf.toml")])
    assert res.exit_code == 0, res.output
    return root, root / "register.xlsx"


def test_export_has_the_tracker_sheets_with_frozen_filtered_headers(
    exported: tuple[Path, Path],
) -> None:
    _, path = exported
    wb = load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
        assert all(c.font.b for c in ws[1] if c.value is not None)


def test_export_row_counts_agree_with_the_register(exported: tuple[Path, Path]) -> None:
    root, path = exported
    wb = load_workbook(path)
    conn = connect(root / "qaf.db")
    expected = {
        "Allocations": conn.execute("SELECT count(*) FROM allocations").fetchone()[0],
        "Returns": conn.execute(
            "SELECT count(*) FROM returns WHERE superseded_by IS NULL"
        ).fetchone()[0],
        "Actions": conn.execute("SELECT count(*) FROM actions").fetchone()[0],
        "Escalations": conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
        + conn.execute("SELECT count(*) FROM notifications").fetchone()[0],
        "Moderation": conn.execute("SELECT count(*) FROM moderations").fetchone()[0],
    }
    conn.close()
    for sheet, n in expected.items():
        assert wb[sheet].max_row == n + 1, sheet


def test_export_returns_carry_overall_and_domain_grades(exported: tuple[Path, Path]) -> None:
    root, path = exported
    ws = load_workbook(path)["Returns"]
    headers = [c.value for c in ws[1]]
    assert "Overall grade" in headers
    d2 = headers.index("D2 Risk is identified, responded to and reduced in a timely way")
    d1 = headers.index("D1 Effective early help support is provided")
    conn = connect(root / "qaf.db")
    for row in ws.iter_rows(min_row=2, max_row=20, values_only=True):
        rid = row[0]
        grades = dict(
            conn.execute(
                "SELECT domain_id, CASE WHEN na THEN 'N/A' ELSE grade END FROM domain_grades "
                "WHERE return_id = ?",
                (rid,),
            ).fetchall()
        )
        assert row[d2] == grades["D2"]
        assert row[d1] == grades["D1"]
    conn.close()


def test_export_dates_are_excel_dates(exported: tuple[Path, Path]) -> None:
    _, path = exported
    ws = load_workbook(path)["Allocations"]
    due = [c.value for c in ws[1]].index("Due")
    cell = ws.cell(row=2, column=due + 1)
    assert isinstance(cell.value, datetime)
    assert cell.number_format == "dd/mm/yyyy"


def test_export_text_is_never_a_formula(exported: tuple[Path, Path]) -> None:
    _, path = exported
    with zipfile.ZipFile(path) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
        styles = z.read("xl/styles.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    assert 'quotePrefix="1"' in styles
    wb = load_workbook(path)
    actions = wb["Actions"]
    col = [c.value for c in actions[1]].index("Action")
    cell = actions.cell(row=2, column=col + 1)
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"
    assert cell.quotePrefix


@pytest.mark.parametrize(
    ("text", "prefix"),
    [("=1+1", True), ("+44 20", True), ("-3", True), ("@x", True), ("\tx", True), ("plain", False)],
)
def test_safe_text_flags_formula_starts(text: str, prefix: bool) -> None:
    assert safe_text(text) == (text, prefix)


def test_export_of_an_empty_register(tmp_path: Path) -> None:
    (tmp_path / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    cfg = read_config(tmp_path / "qaf.toml")
    with Register.open(cfg.register_path) as reg:
        counts = export_register(reg, tmp_path / "out" / "empty.xlsx", tools=cfg.tools)
    assert counts == dict.fromkeys(SHEETS, 0)
    assert load_workbook(tmp_path / "out" / "empty.xlsx").sheetnames == list(SHEETS)


def test_export_domain_columns_in_form_order_with_rationales(exported: tuple[Path, Path]) -> None:
    """F12: D1, D2 ... D10 as on the form (not D1, D10, D11, D2), then each rationale."""
    root, path = exported
    ws = load_workbook(path)["Returns"]
    headers = [c.value for c in ws[1]]
    grade_ids = [
        h.split()[0] for h in headers if re.match(r"D\d+ ", h) and not h.endswith("rationale")
    ]
    assert grade_ids == [f"D{i}" for i in range(1, 17)]
    why = [h for h in headers if h.endswith(" rationale")]
    assert why == [f"D{i} rationale" for i in range(1, 17)]
    assert headers.index("D1 rationale") > max(
        i for i, h in enumerate(headers) if h.startswith("D16 ") and h != "D16 rationale"
    )
    conn = connect(root / "qaf.db")
    col = headers.index("D2 rationale")
    for row in ws.iter_rows(min_row=2, max_row=10, values_only=True):
        expected = conn.execute(
            "SELECT rationale FROM domain_grades WHERE return_id = ? AND domain_id = 'D2'",
            (row[0],),
        ).fetchone()[0]
        assert row[col] == (expected or None)
    conn.close()


def test_form_order_puts_unknown_domains_after_known_ones_naturally() -> None:
    from qaf.export import form_order

    cfg = read_config_text()
    pairs = [("case-audit", d) for d in ("D10", "X2", "D2", "X10", "D1")]
    assert form_order(pairs, cfg.tools) == [
        ("case-audit", "D1"),
        ("case-audit", "D2"),
        ("case-audit", "D10"),
        ("case-audit", "X2"),
        ("case-audit", "X10"),
    ]
    assert form_order([("other", "R10"), ("other", "R9")], {}) == [
        ("other", "R9"),
        ("other", "R10"),
    ]


def read_config_text() -> object:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
        return read_config(Path(d) / "qaf.toml")


# ---- the streamed sheet XML (DESIGN §6: text stays text, exactly as typed)

AWKWARD = [
    "a & b < c > d",  # XML specials
    "  leading and trailing  ",  # kept: xml:space="preserve"
    "line one\nline two",
    "bell\x07 and nul\x00",  # control characters: Excel's _xHHHH_ escape
    "_x0041_ looks like an escape",  # the escape itself is escaped
    "<r><t>not rich text</t></r>",  # never written as raw XML
    "=1+1",  # formula-like: quote prefix
    "Ünïcödé — ✓",
]
# what the file holds for these (as xlsxwriter writes them; Excel shows the original text,
# openpyxl shows the escape)
EXCEL_ESCAPED = {
    "bell\x07 and nul\x00": "bell_x0007_ and nul_x0000_",
    "_x0041_ looks like an escape": "_x005F_x0041_ looks like an escape",
}


def test_streamed_sheets_read_back_as_typed(tmp_path: Path) -> None:
    """Rule: export text is never a formula and never altered (DESIGN §6)."""
    from qaf.export import _Sheet, _write_workbook

    rows = [(i, text, "2026-12-31", 2.5, None) for i, text in enumerate(AWKWARD, start=1)]
    columns = ["ID", "Text", "Due", "Score", "Empty"]
    path = tmp_path / "x.xlsx"
    _write_workbook([_Sheet("Awkward", columns, iter(rows), len(rows))], path)
    ws = load_workbook(path)["Awkward"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:E{len(rows) + 1}"
    assert [c.value for c in ws[1]] == columns
    for r, (i, text, _due, score, _none) in enumerate(rows, start=2):
        assert ws.cell(r, 1).value == i
        assert ws.cell(r, 2).value == EXCEL_ESCAPED.get(text, text)
        assert ws.cell(r, 3).value == datetime(2026, 12, 31)
        assert ws.cell(r, 3).number_format == "dd/mm/yyyy"
        assert ws.cell(r, 4).value == score
        assert ws.cell(r, 5).value is None
    formula_row = 2 + AWKWARD.index("=1+1")
    assert ws.cell(formula_row, 2).quotePrefix
    assert ws.cell(formula_row, 2).data_type == "s"


def test_streamed_rows_must_match_the_count(tmp_path: Path) -> None:
    from qaf.export import _Sheet, _write_workbook

    with pytest.raises(RuntimeError, match="gave 2 rows, counted 3"):
        _write_workbook([_Sheet("S", ["A"], iter([("x",), ("y",)]), 3)], tmp_path / "x.xlsx")
    with pytest.raises(RuntimeError, match="gave 0 rows, counted 1"):
        _write_workbook([_Sheet("S", ["A"], iter([]), 1)], tmp_path / "y.xlsx")
