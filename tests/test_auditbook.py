"""Contract A: the pre-filled audit workbook (qaf/auditbook.py)."""

from __future__ import annotations

import dataclasses
import io
import random
import re
import shutil
import subprocess
import zipfile
import zlib
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaf.auditbook import (
    ACTION_HEADERS,
    ACTION_ROWS,
    HIDDEN_KEYS,
    KEY_LABELS,
    SIX_MONTHS,
    offered_levels,
    write_audit_workbooks,
)
from qaf.config import Config, read_config
from qaf.grades import OFSTED_GRADES, SKILLS, YES_NO, ofsted_scale
from qaf.records import Allocation
from qaf.tools import Domain, Tool
from qaf.workdir import preset_text


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    d = tmp_path_factory.mktemp("cfg")
    (d / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    return read_config(d / "qaf.toml")


def alloc(i: int = 1, tool: str = "case-audit", **kw: object) -> Allocation:
    fields: dict[str, object] = {
        "audit_id": f"A-2026-12-{i:04d}",
        "cycle": "2026-12",
        "case_id": f"P{i:06d}",
        "team": "Team A",
        "service": "Service 1",
        "category": "CP",
        "worker": "Sam Worker",
        "auditor": "Tia Manager",
        "auditor_email": "tia@example.org",
        "auditor_role": "Team Manager",
        "tool": tool,
        "type": "audit",
        "due": date(2026, 12, 31),
    }
    fields.update(kw)
    return Allocation(**fields)  # type: ignore[arg-type]


def labels(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, object]:
    """Column A label -> column B value, as the ingest reader sees them."""
    out: dict[str, object] = {}
    for a, b in ws.iter_rows(min_col=1, max_col=2, values_only=True):
        if isinstance(a, str) and a not in out:
            out[a] = b
    return out


def header_row(ws: openpyxl.worksheet.worksheet.Worksheet, first: str) -> tuple[int, list[object]]:
    for row in ws.iter_rows():
        if row[0].value == first:
            values = [c.value for c in row]
            while values and values[-1] is None:
                values.pop()
            return row[0].row, values
    raise AssertionError(f"no row starting {first!r}")


def test_key_information_hidden_sheet_and_layout_contract_a(cfg: Config, tmp_path: Path) -> None:
    # contract A; rule C2 (due date); rule G4 (before/after columns); rule E3 (safety question)
    [path] = write_audit_workbooks([alloc(7)], cfg.tools, "Northvale Borough Council", tmp_path)
    assert path == tmp_path / "A-2026-12-0007.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == "Audit"
    assert wb["qaf"].sheet_state == "hidden"
    ws = wb["Audit"]
    assert ws["A1"].value == "Case file audit — Northvale Borough Council"
    got = labels(ws)
    assert SIX_MONTHS in got
    expected = {
        "Audit ID": "A-2026-12-0007",
        "Case ID": "P000007",
        "Cycle": "2026-12",
        "Auditor": "Tia Manager",
        "Auditor role": "Team Manager",
        "Team": "Team A",
        "Service Area": "Service 1",
        "Category": "CP",
        "Social Worker": "Sam Worker",
        "Due date": datetime(2026, 12, 31),
        "Date of audit": None,
        "Team Manager": None,  # a tool field not in the standard block
    }
    for key, value in expected.items():
        assert got[key] == value, key
    assert list(KEY_LABELS) == list(expected)[:10]
    for q in cfg.tools["case-audit"].compliance:
        assert q in got
    assert "Is the child safe?" in got and "If not, describe the concern" in got
    for lab in (
        "Overall grade before discussion",
        "Overall grade",
        "Rationale for overall grade",
        "Summary of strengths and areas for improvement",
        "Social worker's comments",
    ):
        assert lab in got
    row, head = header_row(ws, "ID")
    assert head == ["ID", "Criteria", "Grade before discussion", "Grade", "Rationale"]
    ids = [ws.cell(row + 1 + i, 1).value for i in range(16)]
    assert ids == [f"D{i}" for i in range(1, 17)]
    arow, ahead = header_row(ws, "Action")
    assert tuple(ahead) == ACTION_HEADERS
    assert all(ws.cell(arow + i, 1).value is None for i in range(1, ACTION_ROWS + 1))
    hidden = wb["qaf"]
    assert [hidden.cell(i, 1).value for i in range(1, 7)] == list(HIDDEN_KEYS)
    assert [hidden.cell(i, 2).value for i in range(1, 7)] == [
        "A-2026-12-0007",
        "case-audit",
        "2026-12",
        "P000007",
        "Tia Manager",
        "0.1.0",
    ]


def test_grade_dropdowns_from_scale_with_na_where_allowed_rule_g2(
    cfg: Config, tmp_path: Path
) -> None:
    # rule G2 (N/A only where the tool allows it), rule G1 (scale levels)
    [path] = write_audit_workbooks([alloc()], cfg.tools, "Org", tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb["Audit"]
    row, _ = header_row(ws, "ID")
    by_cell = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            by_cell[rng.coord] = dv.formula1
    names = {n: wb.defined_names[n].attr_text for n in wb.defined_names}
    hidden = wb["qaf"]

    def options(name: str) -> list[object]:
        ref = names[name].split("!")[1].replace("$", "")
        return [c[0].value for c in hidden[ref]]

    assert options("qaf_levels") == list(OFSTED_GRADES)
    assert options("qaf_levels_na") == [*OFSTED_GRADES, "N/A"]
    assert options("qaf_yes_no") == ["Yes", "No"]
    d1, d2 = row + 1, row + 2  # D1 allows N/A, D2 does not
    assert by_cell[f"C{d1}"] == by_cell[f"D{d1}"] == "qaf_levels_na"
    assert by_cell[f"C{d2}"] == by_cell[f"D{d2}"] == "qaf_levels"


def test_labels_protected_inputs_unlocked(cfg: Config, tmp_path: Path) -> None:
    """F8: the pre-filled values ingest matches (Audit ID, Case ID, Cycle; rules I2, S2) are
    locked; what the auditor types or may correct is not; rows can be inserted."""
    [path] = write_audit_workbooks([alloc()], cfg.tools, "Org", tmp_path)
    ws = openpyxl.load_workbook(path)["Audit"]
    assert ws.protection.sheet is True
    assert ws.protection.password is None
    assert ws.protection.insertRows is False  # openpyxl: False = not forbidden
    locked = {}
    for a, b in ws.iter_rows(min_col=1, max_col=2):
        if isinstance(a.value, str) and a.value not in locked:
            locked[a.value] = b.protection.locked
    for lab in ("Audit ID", "Case ID", "Cycle"):
        assert locked[lab] is True, lab
    for lab in ("Auditor", "Team", "Team Manager", "Date of audit", "Overall grade"):
        assert locked[lab] is False, lab
    arow, _ = header_row(ws, "Action")
    assert ACTION_ROWS == 10
    for i in range(1, ACTION_ROWS + 1):
        assert ws.cell(arow + i, 1).protection.locked is False


def test_team_manager_filled_when_known_f8(cfg: Config, tmp_path: Path) -> None:
    """F8: the roster's Team Manager of the case's team is written in; unknown stays blank."""
    paths = write_audit_workbooks(
        [alloc(1), alloc(2)],
        cfg.tools,
        "Org",
        tmp_path,
        team_managers={"A-2026-12-0001": "Greta Tmgr"},
    )
    got = [labels(openpyxl.load_workbook(p)["Audit"]) for p in paths]
    assert got[0]["Team Manager"] == "Greta Tmgr"
    assert got[1]["Team Manager"] is None


def test_tool_without_before_after_or_overall(tmp_path: Path) -> None:
    # rule G4 off: no "Grade before discussion"; no overall: no "Overall grade" row
    tool = Tool(
        id="supervision",
        name="Supervision audit",
        scale=YES_NO,
        domains=(Domain("S1", "Is decision-making safe?"),),
        overall=False,
        safety_question=None,
        actions=False,
    )
    [path] = write_audit_workbooks(
        [alloc(tool="supervision")], {"supervision": tool}, "Org", tmp_path
    )
    ws = openpyxl.load_workbook(path)["Audit"]
    got = labels(ws)
    assert "Overall grade" not in got and "Overall grade before discussion" not in got
    assert "Is the child safe?" not in got and "Action" not in got
    _, head = header_row(ws, "ID")
    assert head == ["ID", "Criteria", "Grade", "Rationale"]


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tTab", "\rCR"])
def test_formula_like_text_is_written_as_text(cfg: Config, tmp_path: Path, text: str) -> None:
    # DESIGN §6: text starting with = + - @ tab CR is never a formula
    [path] = write_audit_workbooks(
        [alloc(worker=text, team="<Team & Co>")], cfg.tools, "Org", tmp_path
    )
    ws = openpyxl.load_workbook(path)["Audit"]
    for row in ws.iter_rows(min_col=1, max_col=2):
        if row[0].value == "Social Worker":
            assert row[1].data_type == "s"
            assert row[1].value == text
            assert row[1].style and row[1].quotePrefix
        if row[0].value == "Team":
            assert row[1].value == "<Team & Co>"
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet


def test_no_child_name_and_deterministic_bytes(cfg: Config, tmp_path: Path) -> None:
    # rule S2 (same inputs, same bytes); no child names anywhere (case ID only)
    a = [alloc(1), alloc(2, tool="tier1-generic")]
    p1 = write_audit_workbooks(a, cfg.tools, "Org", tmp_path / "one")
    p2 = write_audit_workbooks(a, cfg.tools, "Org", tmp_path / "two")
    assert [p.read_bytes() for p in p1] == [p.read_bytes() for p in p2]
    with zipfile.ZipFile(p1[0]) as z:
        assert z.testzip() is None
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert "2000-01-01T00:00:00Z" in core


def test_unknown_tool_is_named(cfg: Config, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match='tool "nope" of allocation A-2026-12-0001'):
        write_audit_workbooks([alloc(tool="nope")], cfg.tools, "Org", tmp_path)


def test_other_scale_tool_written(tmp_path: Path) -> None:
    tool = Tool(
        id="t",
        name="T",
        scale=ofsted_scale(),
        domains=(Domain("X", "x", na_allowed=True),),
    )
    [path] = write_audit_workbooks([alloc(tool="t")], {"t": tool}, "Org", tmp_path)
    assert labels(openpyxl.load_workbook(path)["Audit"])["Case ID"] == "P000001"


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_opens_in_libreoffice(cfg: Config, tmp_path: Path) -> None:
    # the "done when": the generated workbook opens in LibreOffice
    [path] = write_audit_workbooks([alloc()], cfg.tools, "Org", tmp_path / "in")
    out = tmp_path / "out"
    assert SOFFICE is not None
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = out / "A-2026-12-0001.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")


# ----------------------------------------------------------- GAPS 12: [grades] display

DISPLAYS = {
    "words": list(OFSTED_GRADES),
    "numbers": [1, 2, 3, 4],
    "number-and-word": [
        "1 - Outstanding",
        "2 - Good",
        "3 - Requires Improvement",
        "4 - Inadequate",
    ],
}


@pytest.mark.parametrize("display", DISPLAYS)
def test_offered_levels_parse_back_to_their_grade_rule_g1_gaps12(display: str) -> None:
    """GAPS 12 / rule G1: each offered value is read back as its grade by ``Scale.parse``."""
    scale = ofsted_scale()
    offered = offered_levels(scale, display)
    assert offered == DISPLAYS[display]
    assert [scale.parse(v) for v in offered] == list(OFSTED_GRADES)
    assert [scale.parse(str(v)) for v in offered] == list(OFSTED_GRADES)  # typed as text


def test_other_scales_are_offered_as_words_gaps12() -> None:
    """GAPS 12: ``[grades] display`` is about the grades scale; yes-no and skills keep words."""
    assert offered_levels(YES_NO, "numbers") == ["Yes", "No"]
    assert offered_levels(SKILLS, "number-and-word") == list(SKILLS.levels)


def _dropdown_lists(path: Path) -> tuple[dict[str, str], dict[str, list[object]]]:
    """Each validated cell -> its list name, and each list name -> the values it offers."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Audit"]
    by_cell = {}
    for dv in ws.data_validations.dataValidation:
        assert dv.type == "list"
        for rng in dv.sqref.ranges:
            by_cell[rng.coord] = dv.formula1
    hidden = wb["qaf"]
    lists = {}
    for name in {v.lstrip("=") for v in by_cell.values()}:
        ref = wb.defined_names[name].attr_text.split("!")[1].replace("$", "")
        lists[name] = [c[0].value for c in hidden[ref]]
    return by_cell, lists


def _offered_for(word: str | None, display: str) -> object:
    if word is None or word == "N/A":
        return word
    return DISPLAYS[display][OFSTED_GRADES.index(word)]


@pytest.mark.parametrize("display", DISPLAYS)
def test_workbook_grade_display_round_trips_through_qaf_ingest_rule_g1_gaps12(
    small_dir: Path, display: str
) -> None:
    """GAPS 12 / rules G1, G2: with ``[grades] display``, ``qaf allocate`` writes workbooks whose
    grade drop-downs offer exactly the displayed values (plus N/A where allowed); a workbook
    filled with offered values (as Excel's drop-down would) ingests to the right grades."""
    from typer.testing import CliRunner

    from qaf.cli import app
    from qaf.register import Register
    from qaf.samples.simulate import SimulatedReturn, fill_workbook, simulate_answers

    toml = small_dir / "qaf.toml"
    text = toml.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^\[grades\].*$", lambda m: f'{m[0]}\ndisplay = "{display}"', text)
    toml.write_text(text, encoding="utf-8")
    staff = small_dir / "data" / "staff.csv"  # Lee back from leave: Team A's case has an auditor
    staff.write_text(
        staff.read_text(encoding="utf-8").replace("No,01/11/2026,31/12/2026", "Yes,,"),
        encoding="utf-8",
    )
    cfg = read_config(toml)
    assert cfg.grade_display == display
    runner = CliRunner()
    args = ["--config", str(toml), "--month", "2026-12", "--seed", "7", "--as-of", "2026-12-01"]
    got = runner.invoke(app, ["allocate", *args])
    assert got.exit_code == 0, got.stdout + got.stderr
    books = sorted((small_dir / "cycles" / "2026-12" / "audits").glob("*.xlsx"))
    assert books
    expected: dict[str, SimulatedReturn] = {}
    for i, book in enumerate(books):
        by_cell, lists = _dropdown_lists(book)
        assert lists["qaf_levels"] == DISPLAYS[display]
        assert lists["qaf_levels_na"] == [*DISPLAYS[display], "N/A"]
        assert lists["qaf_yes_no"] == ["Yes", "No"]
        assert set(by_cell.values()) == {"qaf_levels", "qaf_levels_na", "qaf_yes_no"}
        wb = openpyxl.load_workbook(book)
        legend = "Grades: 1 = Outstanding; 2 = Good; 3 = Requires Improvement; 4 = Inadequate"
        assert (legend in labels(wb["Audit"])) == (display == "numbers")
        tool = cfg.tools[wb["qaf"]["B2"].value]
        with Register.open(cfg.register_path) as reg:
            alloc_ = reg.allocation(wb["qaf"]["B1"].value)
        assert alloc_ is not None
        ret = simulate_answers(alloc_, tool, random.Random(i))
        expected[alloc_.audit_id] = ret
        offered = SimulatedReturn(
            **{
                **ret.__dict__,
                "grades": {
                    d: (_offered_for(b, display), _offered_for(f, display), why)
                    for d, (b, f, why) in ret.grades.items()
                },
                "overall_before": _offered_for(ret.overall_before, display),
                "overall": _offered_for(ret.overall, display),
            }
        )
        fill_workbook(book, small_dir / "returns" / book.name, offered, tool)
    got = runner.invoke(
        app,
        ["ingest", str(small_dir / "returns"), "--config", str(toml), "--as-of", "2027-01-08"],
    )
    assert got.exit_code == 0, got.stdout + got.stderr
    with Register.open(cfg.register_path) as reg:
        for audit_id, ret in expected.items():
            [(rid, overall, before)] = reg.query(
                "SELECT id, overall, overall_before FROM returns WHERE audit_id = ?", (audit_id,)
            )
            assert (overall, before) == (ret.overall, ret.overall_before)
            stored = {
                r[0]: (r[1], r[2])
                for r in reg.query(
                    "SELECT domain_id, grade_before, grade FROM domain_grades WHERE return_id = ?",
                    (rid,),
                )
            }
            for d, (b, f, _) in ret.grades.items():
                final = None if f == "N/A" else f
                assert stored[d] == (None if b == "N/A" else b, final), d


# ----------------------------------------------------- speed: each chunk deflated once


@given(
    chunks=st.lists(st.binary(max_size=3000), min_size=1, max_size=5),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_part_entry_inflates_to_the_filled_xml(chunks: list[bytes], data: st.DataObject) -> None:
    # the values between chunks go in as stored blocks, the chunks deflated once (issue 8):
    # what a reader inflates, its CRC and size are those of the XML filled in
    from qaf.auditbook import _Part

    keys = tuple(f"k{i}" for i in range(len(chunks) - 1))
    values = {k: data.draw(st.binary(max_size=200), label=k) for k in keys}
    part = _Part.of(b"xl/worksheets/sheet1.xml", tuple(chunks), keys)
    entry = part.entry(values)
    filled = part.fill(values)
    assert zlib.decompress(entry.data, -15) == filled
    assert (entry.crc, entry.size) == (zlib.crc32(filled), len(filled))


def test_part_entry_value_longer_than_a_stored_block() -> None:
    from qaf.auditbook import _Part

    part = _Part.of(b"s.xml", (b"<a>", b"</a>"), ("v",))
    value = bytes(random.Random(3).randrange(256) for _ in range(150_000))
    entry = part.entry({"v": value})
    assert zlib.decompress(entry.data, -15) == b"<a>" + value + b"</a>"


# --------------------------------------- speed: a tool's layout kept in the cache folder


def count_layouts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """From now on, each tool laid out afresh (not taken from the cache) is listed."""
    from qaf import auditbook

    laid: list[object] = []
    real = auditbook._laid_out

    def counting(*args: object) -> object:
        laid.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(auditbook, "_laid_out", counting)
    return laid


def test_a_tools_layout_is_kept_and_gives_the_same_workbook(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 8: qaf allocate lays out the same tools every month; the second time the layout
    # comes from qaf's cache folder, and the workbook is the same, byte for byte (rule S2)
    from qaf import auditbook

    monkeypatch.setenv("QAF_CACHE_DIR", str(tmp_path / "cache"))
    tool = cfg.tools["case-audit"]
    fresh = auditbook.build_template(tool, "Org").render(alloc())
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1

    def no_layout(*_args: object) -> None:
        raise AssertionError("laid out again")

    monkeypatch.setattr(auditbook, "_laid_out", no_layout)
    kept = auditbook.build_template(tool, "Org").render(alloc())
    assert kept == fresh


@pytest.mark.parametrize(
    "change",
    [
        {"org_name": "Another Council"},
        {"grade_display": "numbers"},
        {"case_open": True},
        {"tool_name": "Case audit (2027)"},
    ],
)
def test_a_change_the_layout_depends_on_lays_it_out_afresh(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, object]
) -> None:
    import dataclasses

    from qaf import auditbook

    monkeypatch.setenv("QAF_CACHE_DIR", str(tmp_path / "cache"))
    tool = cfg.tools["case-audit"]
    auditbook.build_template(tool, "Org")
    laid = count_layouts(monkeypatch)
    other = dataclasses.replace(tool, name=str(change.pop("tool_name", tool.name)))
    org = str(change.get("org_name", "Org"))
    display = str(change.get("grade_display", "words"))
    template = auditbook.build_template(
        other, org, display, case_open=bool(change.get("case_open", False))
    )
    assert len(laid) == 1
    with zipfile.ZipFile(io.BytesIO(template.render(alloc()))) as z:
        audit = z.read("xl/worksheets/sheet1.xml").decode()
    assert f"{other.name} — {org}" in audit


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_kept_layout_is_laid_out_again(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    from qaf import auditbook

    monkeypatch.setenv("QAF_CACHE_DIR", str(tmp_path / "cache"))
    tool = cfg.tools["case-audit"]
    fresh = auditbook.build_template(tool, "Org").render(alloc())
    [kept] = (tmp_path / "cache").rglob("*.json")
    raw = kept.read_bytes()
    if damage == "truncate":
        kept.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        i = len(raw) - 100
        kept.write_bytes(raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :])
    else:
        kept.write_bytes(b"not a layout at all")
    assert auditbook.build_template(tool, "Org").render(alloc()) == fresh
    assert kept.read_bytes() == raw  # laid out again and kept again


def test_a_cache_folder_that_cannot_be_written_still_gives_the_workbook(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qaf import auditbook

    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("x")
    monkeypatch.setenv("QAF_CACHE_DIR", str(blocked))
    data = auditbook.build_template(cfg.tools["case-audit"], "Org").render(alloc())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None


def test_a_layout_kept_by_other_qaf_code_is_laid_out_again(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 8 (trial 4): qaf's version number has stayed 0.1.0 through every change of the
    # layout code, so a layout kept by an older install was reused after an upgrade
    from qaf import auditbook

    monkeypatch.setenv("QAF_CACHE_DIR", str(tmp_path / "cache"))
    tool = cfg.tools["case-audit"]
    auditbook.build_template(tool, "Org")
    newer = tmp_path / "auditbook.py"
    newer.write_bytes(Path(auditbook.__file__).read_bytes() + b"\n# a newer layout\n")
    monkeypatch.setattr(auditbook, "__file__", str(newer))
    laid = count_layouts(monkeypatch)
    auditbook.build_template(tool, "Org")
    assert len(laid) == 1


def test_a_kept_layout_copied_under_another_tools_name_is_not_used(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 8 (trial 4): the SHA-256 checked the file's body only, so one tool's layout
    # copied (a sync tool, a restore) under another's name was used: a Tier 1 audit went
    # out as a "Case file audit" workbook. The digest now covers the name (the key) too.
    from qaf import auditbook

    monkeypatch.setenv("QAF_CACHE_DIR", str(tmp_path / "cache"))
    case_audit = cfg.tools["case-audit"]
    other = dataclasses.replace(case_audit, name="Tier 1 generic audit tool")
    fresh = auditbook.build_template(other, "Org").render(alloc())
    [kept_other] = (tmp_path / "cache").rglob("*.json")
    auditbook.build_template(case_audit, "Org")
    [kept_case] = set((tmp_path / "cache").rglob("*.json")) - {kept_other}
    kept_other.write_bytes(kept_case.read_bytes())
    assert auditbook.build_template(other, "Org").render(alloc()) == fresh
