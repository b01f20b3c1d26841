"""Writing spreadsheets safely: the allocation list (xlsx + csv) and shared cell helpers.

Safety (DESIGN §6): text that starts with ``=``, ``+``, ``-``, ``@``, tab or
carriage return would be taken as a formula by Excel when a CSV is opened or a
cell is re-entered. :func:`safe_text` makes such text inert for CSV (a leading
apostrophe, the OWASP advice); in a workbook, text is always a *string* cell,
with Excel's quote-prefix style when it looks like a formula
(:func:`looks_like_formula`), so it stays text even after editing: qaf.tablebook,
which writes the allocation list, and qaf.auditbook follow that rule.

Determinism (rule S2): workbooks are built in memory with a fixed document
date and every zip entry has the same date (1980-01-01), so the same inputs
give the same bytes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qaf.allocate import AllocationResult
    from qaf.auditbook import AuditTemplate
    from qaf.records import Allocation
    from qaf.tablebook import Table

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DOC_DATE = datetime(2000, 1, 1)
# and what XML cannot hold: control characters, U+FFFE/U+FFFF, lone surrogates
_SHEET_BAD = re.compile(r"[\[\]:*?/\\\x00-\x1f\ufffe\uffff\ud800-\udfff]")
_SHEET_LENGTH = 31  # UTF-16 code units, as Excel counts
RESERVED_SHEETS = ("Allocations", "Unallocated", "Moderation", "History")

ALLOCATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("audit_id", "Audit ID"),
    ("case_id", "Case ID"),
    ("type", "Type"),
    ("team", "Team"),
    ("service", "Service Area"),
    ("category", "Category"),
    ("worker", "Social Worker"),
    ("auditor", "Auditor"),
    ("auditor_role", "Auditor role"),
    ("auditor_email", "Auditor email"),
    ("tool", "Tool"),
    ("due", "Due date"),
    ("reaudit_of", "Re-audit of"),
    ("reaudit_round", "Re-audit round"),
    ("subject", "Subject"),  # a staff audit's audited person (GAPS 7)
)
MODERATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("audit_id", "Audit ID"),
    ("case_id", "Case ID"),
    ("auditor", "Auditor"),
    ("overall", "Overall grade"),
    ("reason", "Why picked"),
    ("moderator", "Moderator"),
    ("moderator_email", "Moderator email"),
    ("due", "Due date"),
)


def looks_like_formula(value: str) -> bool:
    return value.startswith(FORMULA_STARTS)


def safe_text(value: Any) -> str:
    """Text for a CSV cell that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if looks_like_formula(text) else text


def sheet_names(names: Sequence[str], reserved: Sequence[str] = RESERVED_SHEETS) -> list[str]:
    """Valid, unique Excel sheet names (<= 31 UTF-16 code units, none of []:*?/\\ nor a
    character XML cannot hold), in order.

    Comparison is case-insensitive, as in Excel; a clash gets " (2)", " (3)"...
    """
    taken = {r.casefold() for r in reserved}
    out = []
    for name in names:
        base = _SHEET_BAD.sub("_", name).strip().strip("'") or "Sheet"
        base = _cut(base, _SHEET_LENGTH)
        candidate, n = base, 1
        while candidate.casefold() in taken:
            n += 1
            suffix = f" ({n})"
            candidate = _cut(base, _SHEET_LENGTH - len(suffix)) + suffix
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


def _cut(text: str, units: int) -> str:
    """``text`` cut to ``units`` UTF-16 code units (a character beyond U+FFFF takes two)."""
    while len(text.encode("utf-16-le")) > 2 * units:
        text = text[:-1]
    return text


_TOOL_COLUMN = [k for k, _ in ALLOCATION_COLUMNS].index("tool")


def _tool_label(tool_id: str, tool_names: Mapping[str, str]) -> str:
    name = tool_names.get(tool_id)
    return f"{name} ({tool_id})" if name and name != tool_id else tool_id


SERVICE_PICKS = "picked by the service"  # the Case ID column of a service-picked audit (GAPS 13)


def service_picks(theme: str) -> str:
    """What the Case ID column says when the service picks the case, with the theme if any."""
    return f"{SERVICE_PICKS} (theme: {theme})" if theme else SERVICE_PICKS


def allocation_row(a: Allocation, themes: Mapping[str, str] | None = None) -> list[Any]:
    data = a.as_json()
    data["due"] = a.due
    if a.picked_by == "service":
        data["case_id"] = service_picks((themes or {}).get(a.audit_id, ""))
    return [data.get(k) for k, _ in ALLOCATION_COLUMNS]


def moderation_row(m: Any) -> list[Any]:
    data = m.as_json()
    data["due"] = m.due
    return [data.get(k) for k, _ in MODERATION_COLUMNS]


def allocation_workbook_bytes(
    result: AllocationResult, tool_names: Mapping[str, str] | None = None
) -> bytes:
    """The allocation list as .xlsx bytes (qaf.tablebook): the sheets of
    :func:`allocation_tables`."""
    from qaf.tablebook import table_workbook

    tables = allocation_tables(result, tool_names)
    return table_workbook(tables, title=f"Allocation {result.cycle}")


def allocation_tables(
    result: AllocationResult, tool_names: Mapping[str, str] | None = None
) -> list[Table]:
    """The allocation list's sheets: "Allocations", one per auditor, "Unallocated" (when
    some are), "Moderation"; each (sheet name, headers, rows).

    The Tool column shows the tool's name with its id, "Case file audit (case-audit)", when
    ``tool_names`` knows it (trial finding F8); the CSV keeps the bare id (its contract).
    """
    headers = [h for _, h in ALLOCATION_COLUMNS]
    rows = [allocation_row(a, result.themes) for a in result.allocations]
    if tool_names:
        for row in rows:
            row[_TOOL_COLUMN] = _tool_label(row[_TOOL_COLUMN], tool_names)
    tables: list[Table] = [("Allocations", headers, rows)]
    by_auditor: dict[str, list[list[Any]]] = {}
    for a, row in zip(result.allocations, rows, strict=True):
        by_auditor.setdefault(a.auditor, []).append(row)
    auditors = sorted(by_auditor)
    for name, sheet in zip(auditors, sheet_names(auditors), strict=True):
        tables.append((sheet, headers, by_auditor[name]))
    if result.unallocated:
        unallocated = [[u.case_id, u.type, u.reason] for u in result.unallocated]
        tables.append(("Unallocated", ["Case ID", "Type", "Reason"], unallocated))
    moderation = [moderation_row(m) for m in result.moderation]
    tables.append(("Moderation", [h for _, h in MODERATION_COLUMNS], moderation))
    return tables


def allocation_csv_text(
    allocations: Sequence[Allocation], themes: Mapping[str, str] | None = None
) -> str:
    """The allocation rows as CSV (same columns as the workbook), formula-safe. ``themes``
    (audit ID -> theme) completes the Case ID of audits the service picks (GAPS 13)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([h for _, h in ALLOCATION_COLUMNS])
    for a in allocations:
        row = allocation_row(a, themes)
        w.writerow(
            [
                v.isoformat() if isinstance(v, date) else safe_text("" if v is None else v)
                for v in row
            ]
        )
    return out.getvalue()


INCOMPLETE = "INCOMPLETE - allocate again.txt"  # in a cycle's folder while it is written


def mark_incomplete(out_dir: Path, cycle: str) -> Path:
    """Say, in the cycle's folder, that its files are being written and not yet recorded:
    ``qaf allocate`` removes the note once the register holds the cycle. An allocation
    stopped half way (Ctrl-C, a kill, a full disk) leaves it, so nobody, and not
    ``--notify``, sends workbooks the register does not match."""
    out_dir.mkdir(parents=True, exist_ok=True)
    note = out_dir / INCOMPLETE
    note.write_text(
        f"qaf allocate was writing the files of cycle {cycle} in this folder when it stopped,\n"
        "before the cycle was recorded in the register: the workbooks here may not match it.\n"
        f"Do not send them. Run `qaf allocate --month {cycle}` again (with --replace if the\n"
        "cycle is already recorded); qaf removes this file once the cycle is recorded.\n",
        encoding="utf-8",
    )
    return note


def incomplete_note(out_dir: Path) -> Path | None:
    """The note :func:`mark_incomplete` left in the cycle's folder, if it is there."""
    note = out_dir / INCOMPLETE
    return note if note.exists() else None


def write_allocation_files(
    result: AllocationResult,
    tools: Mapping[str, Any],
    org_name: str,
    out_dir: Path,
    *,
    clean: bool = True,
    grade_display: str = "words",
    team_managers: Mapping[str, str] | None = None,
    templates: Mapping[tuple[str, bool], AuditTemplate] | None = None,
) -> dict[str, Any]:
    """Write ``allocation-YYYY-MM.xlsx``, ``.csv`` and ``audits/<audit_id>.xlsx``.

    ``grade_display`` is ``[grades] display``: how the audit workbooks offer grades.
    ``team_managers`` (audit ID -> name) fills each audit workbook's "Team Manager" field.
    ``templates``: audit workbook templates built already (qaf.auditbook.build_templates).

    With ``clean``, audit workbooks of this cycle left from an earlier run
    (``--replace``) that are not part of this allocation are removed.
    Returns the paths written.

    Files are written by a background thread while the next ones are made
    (writing ~300 small files is mostly waiting on the file system); any write error is
    raised here once all writes have finished.
    """
    from concurrent.futures import ThreadPoolExecutor

    from qaf.auditbook import audit_workbook_files

    out_dir.mkdir(parents=True, exist_ok=True)
    xlsx = out_dir / f"allocation-{result.cycle}.xlsx"
    csv_path = out_dir / f"allocation-{result.cycle}.csv"
    audits_dir = out_dir / "audits"
    audits_dir.mkdir(parents=True, exist_ok=True)
    audits: list[Path] = []
    names = {tool_id: getattr(t, "name", "") for tool_id, t in tools.items()}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qaf-write") as pool:
        writes = []
        books = audit_workbook_files(
            result.allocations,
            tools,
            org_name,
            audits_dir,
            grade_display,
            team_managers=team_managers,
            themes=result.themes,
            templates=templates,
        )
        for path, data in books:
            writes.append(pool.submit(path.write_bytes, data))
            audits.append(path)
        csv_bytes = allocation_csv_text(result.allocations, result.themes).encode("utf-8-sig")
        writes.append(pool.submit(csv_path.write_bytes, csv_bytes))
        writes.append(pool.submit(xlsx.write_bytes, allocation_workbook_bytes(result, names)))
        for w in writes:
            w.result()
    if clean:
        keep = {p.name for p in audits}
        for old in audits_dir.glob(f"A-{result.cycle}-*.xlsx"):
            if old.name not in keep:
                old.unlink()
    return {"workbook": xlsx, "csv": csv_path, "audits_dir": audits_dir, "audits": audits}
