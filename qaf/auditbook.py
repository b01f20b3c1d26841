"""The pre-filled audit workbook: one .xlsx per allocation (contract A).

Layout (labels are the contract, positions are not; ``qaf ingest`` finds
everything by label):

* sheet 1 "Audit": a title row "<tool name> — <org>", guidance lines, the key
  information (label in column A, value in column B: "Audit ID", "Case ID",
  "Cycle", "Auditor", "Auditor role", "Team", "Service Area", "Category",
  "Social Worker", "Due date", "Date of audit", then the tool's other fields, a
  "Team Manager" field filled from the roster when known),
  the compliance questions (Yes/No), the safety question (rule E3) and "If not,
  describe the concern", the domain table (header "ID", "Criteria", ["Grade
  before discussion" when the tool has rule G4], "Grade", "Rationale"), the
  overall grade rows, feedback questions and the actions table ("Action",
  "Who is responsible", "By when", 10 blank rows; rows may be inserted);
* the grade drop-downs offer the grades scale as ``[grades] display`` says (GAPS 12):
  the words, the numbers 1-4 (number cells, with a guidance line saying what each
  means) or "1 - Outstanding"; ``Scale.parse`` reads all three back. Other scales
  (yes-no, skills, your own) are always offered as words;
* a hidden sheet "qaf": A1:B6 audit_id, tool, cycle, case_id, auditor,
  qaf_version (and the drop-down lists in columns D onwards).

No child's name is written anywhere: the case ID only. Labels are locked
(sheet protection without a password), and so are the pre-filled Audit ID, Case ID
and Cycle that ingest matches against the allocation; input cells are unlocked. Every value
is written as an inline *string* cell with Excel's quote-prefix style, so
text starting with ``=``, ``+``, ``-``, ``@``, tab or CR is never a formula.

Speed: one template is built per tool with xlsxwriter, with placeholder
strings where the per-allocation values go, and kept in qaf's cache folder;
each allocation's file is then the template's zip entries (compressed once)
with the allocation's values put between the two sheet parts' chunks (see
``_Part``). Output is deterministic byte for byte: fixed document dates and
zip entry dates (1980-01-01).
"""

from __future__ import annotations

import io
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from qaf import __version__, deflate
from qaf.grades import Scale
from qaf.records import Allocation
from qaf.tools import Tool

SIX_MONTHS = "Review the past 6 months of the child's record."

KEY_LABELS = (
    "Audit ID",
    "Case ID",
    "Cycle",
    "Auditor",
    "Auditor role",
    "Team",
    "Service Area",
    "Category",
    "Social Worker",
    "Due date",
)
# a tool without a "Case ID" field audits a person (GAPS 7: supervision records, practice
# observation): its key information names the subject instead of a case and its worker
PERSON_KEY_LABELS = (
    "Audit ID",
    "Subject",
    "Cycle",
    "Auditor",
    "Auditor role",
    "Team",
    "Service Area",
    "Due date",
)
DATE_OF_AUDIT = "Date of audit"
SAFETY_DETAIL = "If not, describe the concern"
GRADE_BEFORE = "Grade before discussion"
OVERALL_BEFORE = "Overall grade before discussion"
OVERALL = "Overall grade"
OVERALL_RATIONALE = "Rationale for overall grade"
SUMMARY = "Summary of strengths and areas for improvement"
WORKER_COMMENTS = "Social worker's comments"
ACTION_HEADERS = ("Action", "Who is responsible", "By when")
ACTION_ROWS = 10
TEAM_MANAGER = "Team Manager"
THEME = "Theme"  # a tool field filled with the theme of a service-picked audit (GAPS 13)
SERVICE_PICKS_GUIDE = (
    "The service picks the case for this audit: write its case ID in the Case ID box "
    "(the ID only, never the child's name)."
)
# pre-filled values ingest checks against the allocation: locked so they are not overtyped
LOCKED_KEYS = frozenset({"audit_id", "case_id", "cycle"})
HIDDEN_SHEET = "qaf"
HIDDEN_KEYS = ("audit_id", "tool", "cycle", "case_id", "auditor", "qaf_version")

# Fixed document date: the same inputs give the same bytes (rule S2).
DOC_DATE = datetime(2000, 1, 1)
_EXCEL_EPOCH = date(1899, 12, 30)
_MAX_CELL = 32_767

# placeholder key -> how it is read from an allocation
_FIELDS: Mapping[str, Callable[[Allocation], str]] = {
    "audit_id": lambda a: a.audit_id,
    "case_id": lambda a: a.case_id,
    "cycle": lambda a: a.cycle,
    "auditor": lambda a: a.auditor,
    "auditor_role": lambda a: a.auditor_role,
    "team": lambda a: a.team,
    "service": lambda a: a.service,
    "category": lambda a: a.category,
    "worker": lambda a: a.worker,
    "subject": lambda a: a.subject or a.worker,
}
_LABEL_KEYS = {
    "Audit ID": "audit_id",
    "Case ID": "case_id",
    "Cycle": "cycle",
    "Auditor": "auditor",
    "Auditor role": "auditor_role",
    "Team": "team",
    "Service Area": "service",
    "Category": "category",
    "Social Worker": "worker",
    "Subject": "subject",
    "Due date": "due",
}


def _ph(key: str) -> str:
    return f"@@qaf:{key}@@"


_PH_RE = re.compile(r' t="inlineStr"><is><t>@@qaf:([a-z_]+)@@</t></is>')
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Text made safe to place inside an XML element (escaped, illegal characters dropped)."""
    value = _XML_BAD.sub("", value)[:_MAX_CELL]
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("\r", "&#13;")  # a bare CR would be read back as a line feed


def _string_cell(value: str) -> bytes:
    return f' t="inlineStr"><is><t xml:space="preserve">{xml_text(value)}</t></is>'.encode()


def _date_cell(value: date) -> bytes:
    return f"><v>{(value - _EXCEL_EPOCH).days}</v>".encode()


# ----------------------------------------------------------------- zip writing

_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
_DOS_TIME = 0


@dataclass(frozen=True)
class _Entry:
    name: bytes
    crc: int
    size: int
    data: bytes  # raw deflate stream


def _deflate(data: bytes, level: int = 6) -> _Entry:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return _Entry(b"", zlib.crc32(data), len(data), c.compress(data) + c.flush())


def _zip(entries: Sequence[_Entry]) -> bytes:
    """A zip archive from pre-deflated entries, with fixed dates (deterministic)."""
    out = io.BytesIO()
    central = []
    for e in entries:
        offset = out.tell()
        header = struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            0,
            8,
            _DOS_TIME,
            _DOS_DATE,
            e.crc,
            len(e.data),
            e.size,
            len(e.name),
            0,
        )
        out.write(header)
        out.write(e.name)
        out.write(e.data)
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                _DOS_TIME,
                _DOS_DATE,
                e.crc,
                len(e.data),
                e.size,
                len(e.name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + e.name
        )
    start = out.tell()
    for c in central:
        out.write(c)
    size = out.tell() - start
    out.write(
        struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), size, start, 0)
    )
    return out.getvalue()


# ------------------------------------------------------------------ templates

GRADES_SCALE = "grades"  # the scale ``[grades] display`` applies to


def offered_levels(scale: Scale, display: str = "words") -> list[str | int]:
    """The values a grade drop-down offers for ``scale``, best first (GAPS 12).

    ``display`` (``[grades] display``) is "words", "numbers" (1 = best) or
    "number-and-word" ("1 - Outstanding"); it applies to the grades scale only.
    """
    levels = list(scale.levels)
    if scale.name != GRADES_SCALE or not scale.numeric or display == "words":
        return list(levels)
    if display == "numbers":
        return list(range(1, len(levels) + 1))
    return [f"{i} - {level}" for i, level in enumerate(levels, start=1)]


def _numbers_legend(scale: Scale) -> str:
    return "Grades: " + "; ".join(f"{i} = {lvl}" for i, lvl in enumerate(scale.levels, start=1))


@dataclass(frozen=True)
class _Part:
    """A zip entry whose XML carries placeholders: literal chunks between keys.

    Its entry is made without deflating the 20 KB of XML again for each allocation: each
    chunk is deflated once, on its own and ending on a byte boundary (a full flush; the
    last one ends the stream), and the values go between them as stored blocks. Deflate
    blocks may follow one another so, and no chunk refers back past its own start.
    """

    name: bytes
    chunks: tuple[bytes, ...]  # len(keys) + 1
    keys: tuple[str, ...]
    deflated: tuple[bytes, ...]  # each chunk deflated on its own

    @classmethod
    def of(cls, name: bytes, chunks: tuple[bytes, ...], keys: tuple[str, ...]) -> _Part:
        deflated = []
        for i, chunk in enumerate(chunks):
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            last = i == len(chunks) - 1
            deflated.append(
                c.compress(chunk) + c.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)
            )
        return cls(name, chunks, keys, tuple(deflated))

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        out = [self.chunks[0]]
        for key, chunk in zip(self.keys, self.chunks[1:], strict=True):
            out.append(values[key])
            out.append(chunk)
        return b"".join(out)

    def entry(self, values: Mapping[str, bytes]) -> _Entry:
        """The zip entry of the XML filled with ``values`` (equal to :meth:`fill`'s)."""
        chunks, deflated = self.chunks, self.deflated
        pieces = [deflated[0]]
        crc = deflate.crc32(chunks[0])
        size = len(chunks[0])
        for i, key in enumerate(self.keys, start=1):
            value = values[key]
            pieces.extend(_stored_blocks(value))
            crc = deflate.crc32(chunks[i], deflate.crc32(value, crc))
            size += len(value) + len(chunks[i])
            pieces.append(deflated[i])
        return _Entry(self.name, crc, size, b"".join(pieces))


def _stored_blocks(data: bytes) -> Iterator[bytes]:
    """``data`` as non-final stored deflate blocks (at most 65,535 bytes each), for a stream
    standing on a byte boundary."""
    for start in range(0, len(data), 0xFFFF):
        piece = data[start : start + 0xFFFF]
        yield struct.pack("<BHH", 0, len(piece), len(piece) ^ 0xFFFF)
        yield piece


@dataclass(frozen=True)
class AuditTemplate:
    """One tool's workbook with placeholders; ``render`` fills it for an allocation."""

    tool: Tool
    order: tuple[bytes, ...]  # zip entry names in order
    static: Mapping[bytes, _Entry]
    parts: Mapping[bytes, _Part]

    def render(self, allocation: Allocation, team_manager: str = "", theme: str = "") -> bytes:
        values = {k: _string_cell(get(allocation)) for k, get in _FIELDS.items()}
        values["due"] = _date_cell(allocation.due)
        values["team_manager"] = _string_cell(team_manager) if team_manager else b">"  # blank
        values["theme"] = _string_cell(theme) if theme else b">"
        entries = []
        for name in self.order:
            if name in self.parts:
                entries.append(self.parts[name].entry(values))
            else:
                entries.append(self.static[name])
        return _zip(entries)


def build_template(
    tool: Tool, org_name: str, grade_display: str = "words", *, case_open: bool = False
) -> AuditTemplate:
    """Lay out the tool's audit workbook once, with placeholders for the allocation.
    ``case_open``: the service picks the case (GAPS 13), so the Case ID cell is left
    unlocked for the auditor to fill and a guidance line says so.

    The layout is kept in qaf's cache folder (qaf.cachedir): laying a tool out with
    xlsxwriter costs 35-110 ms of ``qaf allocate``, which every month lays out the same
    tools. The file is named by a hash of all the layout depends on (qaf's version,
    xlsxwriter's files, the tool, the organisation, the grade display), so a changed tool
    is laid out afresh; a cached layout that does not check out is laid out again.
    """
    key = _template_key(tool, org_name, grade_display, case_open)
    cached = _cached_template(key, tool)
    if cached is not None:
        return cached
    template = _laid_out(tool, org_name, grade_display, case_open)
    _keep_template(key, template)
    return template


_TEMPLATE_FORMAT = 1  # of the cached layouts: a change of it makes every one stale


def _template_key(tool: Tool, org_name: str, grade_display: str, case_open: bool) -> str:
    import hashlib
    from importlib.util import find_spec

    spec = find_spec("xlsxwriter")
    origin = spec.origin if spec is not None and spec.origin else ""
    try:
        stamp = Path(origin).stat().st_mtime_ns if origin else 0
    except OSError:
        stamp = 0
    # this module's own text: qaf's version number stays the same from one install of newer
    # code to the next, and a layout kept by older code must not be reused
    try:
        code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    except OSError:
        code = ""
    material = repr(
        (
            _TEMPLATE_FORMAT,
            __version__,
            code,
            origin,
            stamp,
            tool,
            org_name,
            grade_display,
            case_open,
        )
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


def _template_file(key: str) -> Path:
    from qaf.cachedir import cache_folder

    return cache_folder() / "audit-templates" / f"{key}.json"


def _layout_digest(key: str, body: bytes) -> bytes:
    """The SHA-256 of a kept layout with its key: a layout copied under another key's name
    (another tool's) does not check out there, and is laid out again."""
    import hashlib

    return hashlib.sha256(key.encode("ascii") + b"\n" + body).hexdigest().encode()


def _cached_template(key: str, tool: Tool) -> AuditTemplate | None:
    """The layout kept for ``key``, or None: none kept, unreadable, or not checking out
    (its first line is the SHA-256 of ``key`` and the rest)."""
    import json
    from base64 import b64decode

    try:
        raw = _template_file(key).read_bytes()
        digest, _, body = raw.partition(b"\n")
        if _layout_digest(key, body) != digest:
            return None
        data = json.loads(body)

        def b(text: str) -> bytes:
            return b64decode(text, validate=True)

        static = {
            b(n): _Entry(b(n), int(crc), int(size), b(d)) for n, crc, size, d in data["static"]
        }
        parts = {
            b(n): _Part(b(n), tuple(map(b, chunks)), tuple(map(str, keys)), tuple(map(b, packed)))
            for n, chunks, keys, packed in data["parts"]
        }
        order = tuple(map(b, data["order"]))
        if set(order) != static.keys() | parts.keys():
            return None
        return AuditTemplate(tool, order, static, parts)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _keep_template(key: str, template: AuditTemplate) -> None:
    """Best effort: a cache folder that cannot be written means laying out again next time."""
    import json
    import os
    from base64 import b64encode

    def t(data: bytes) -> str:
        return b64encode(data).decode("ascii")

    body = json.dumps(
        {
            "order": [t(n) for n in template.order],
            "static": [[t(e.name), e.crc, e.size, t(e.data)] for e in template.static.values()],
            "parts": [
                [t(p.name), [t(c) for c in p.chunks], list(p.keys), [t(d) for d in p.deflated]]
                for p in template.parts.values()
            ],
        }
    ).encode("utf-8")
    path = _template_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(_layout_digest(key, body) + b"\n" + body)
        os.replace(tmp, path)
    except OSError:
        pass


def _laid_out(tool: Tool, org_name: str, grade_display: str, case_open: bool) -> AuditTemplate:
    """:func:`build_template` without the cache: xlsxwriter lays the workbook out."""
    with tempfile.TemporaryDirectory(prefix="qaf-") as tmp:
        path = Path(tmp) / "template.xlsx"
        _layout(tool, org_name, path, grade_display, case_open)
        with zipfile.ZipFile(path) as z:
            raw = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    order = []
    static: dict[bytes, _Entry] = {}
    parts: dict[bytes, _Part] = {}
    for filename, data in raw:
        name = filename.encode()
        order.append(name)
        text = data.decode("utf-8")
        pieces = _PH_RE.split(text)
        if len(pieces) > 1:
            chunks = tuple(p.encode() for p in pieces[0::2])
            keys = tuple(pieces[1::2])
            parts[name] = _Part.of(name, chunks, keys)
        else:
            e = _deflate(data, 9)
            static[name] = _Entry(name, e.crc, e.size, e.data)
    return AuditTemplate(tool, tuple(order), static, parts)


def _layout(
    tool: Tool, org_name: str, path: Path, grade_display: str = "words", case_open: bool = False
) -> None:
    import xlsxwriter  # here: a cached layout needs none of it (0.02 s to import)

    wb = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,  # inline strings: placeholders live in the sheet XML
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    wb.set_properties({"title": f"{tool.name} — {org_name}", "author": "qaf", "created": DOC_DATE})
    wb.set_calc_mode("auto")
    title = wb.add_format({"bold": True, "font_size": 14})
    heading = wb.add_format({"bold": True, "font_size": 12, "bottom": 1})
    label = wb.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#EEF2F7"})
    guide = wb.add_format({"italic": True, "font_color": "#444444"})
    value = wb.add_format({"locked": False, "quote_prefix": True, "valign": "top", "border": 1})
    fixed = wb.add_format(
        {"quote_prefix": True, "valign": "top", "border": 1, "bg_color": "#F2F2F2"}
    )
    when = wb.add_format(
        {"locked": False, "num_format": "dd/mm/yyyy", "border": 1, "valign": "top"}
    )
    answer = wb.add_format({"locked": False, "border": 1, "valign": "top", "bg_color": "#FFFDE7"})
    long_text = wb.add_format(
        {"locked": False, "text_wrap": True, "valign": "top", "border": 1, "bg_color": "#FFFDE7"}
    )
    head = wb.add_format(
        {"bold": True, "border": 1, "bg_color": "#D9E1F2", "text_wrap": True, "valign": "top"}
    )
    cell = wb.add_format({"text_wrap": True, "valign": "top", "border": 1})

    ws = wb.add_worksheet("Audit")
    hidden = wb.add_worksheet(HIDDEN_SHEET)
    ws.activate()
    before_after = tool.before_after
    ws.set_column(0, 0, 48)
    ws.set_column(1, 1, 55)
    ws.set_column(2, 3 if before_after else 2, 24)
    ws.set_column(4 if before_after else 3, 4 if before_after else 3, 60)

    levels = offered_levels(tool.scale, grade_display)
    lists: dict[str, list[str | int]] = {
        "qaf_levels": levels,
        "qaf_levels_na": [*levels, "N/A"],
        "qaf_yes_no": ["Yes", "No"],
    }

    def dropdown(row: int, col: int, list_name: str) -> None:
        ws.data_validation(
            row,
            col,
            row,
            col,
            {
                "validate": "list",
                "source": f"={list_name}",
                "error_type": "warning",
                "error_title": "Not in the list",
                "error_message": "Choose a value from the drop-down list.",
            },
        )

    r = 0
    ws.write_string(r, 0, f"{tool.name} — {org_name}", title)
    r += 1
    guidance = list(tool.guidance)
    if SIX_MONTHS not in guidance:
        guidance.append(SIX_MONTHS)
    if levels and isinstance(levels[0], int):  # bare numbers: say what each means
        guidance.append(_numbers_legend(tool.scale))
    if case_open:
        guidance.insert(0, SERVICE_PICKS_GUIDE)
    for line in guidance:
        ws.write_string(r, 0, line, guide)
        r += 1
    r += 1
    ws.write_string(r, 0, "Key information", heading)
    r += 1
    shown = set()
    person = "case id" not in {f.casefold() for f in tool.fields}
    for lab in PERSON_KEY_LABELS if person else KEY_LABELS:
        ws.write_string(r, 0, lab, label)
        key = _LABEL_KEYS[lab]
        locked = key in LOCKED_KEYS and not (case_open and key == "case_id")
        fmt = when if key == "due" else fixed if locked else value
        ws.write_string(r, 1, _ph(key), fmt)
        shown.add(lab.casefold())
        r += 1
    ws.write_string(r, 0, DATE_OF_AUDIT, label)
    ws.write_blank(r, 1, None, when)
    shown.add(DATE_OF_AUDIT.casefold())
    r += 1
    for f in tool.fields:
        if f.casefold() in shown:
            continue
        shown.add(f.casefold())
        ws.write_string(r, 0, f, label)
        if f.casefold() == TEAM_MANAGER.casefold():  # from the roster; the auditor may correct it
            ws.write_string(r, 1, _ph("team_manager"), answer)
        elif f.casefold() == THEME.casefold():  # the theme of a service-picked audit
            ws.write_string(r, 1, _ph("theme"), answer)
        else:
            ws.write_blank(r, 1, None, answer)
        r += 1

    if tool.compliance or tool.safety_question:
        r += 1
        ws.write_string(r, 0, "Compliance and safety", heading)
        r += 1
        for q in tool.compliance:
            ws.write_string(r, 0, q, label)
            ws.write_blank(r, 1, None, answer)
            dropdown(r, 1, "qaf_yes_no")
            r += 1
        if tool.safety_question:  # rule E3
            ws.write_string(r, 0, tool.safety_question, label)
            ws.write_blank(r, 1, None, answer)
            dropdown(r, 1, "qaf_yes_no")
            r += 1
            ws.write_string(r, 0, SAFETY_DETAIL, label)
            ws.write_blank(r, 1, None, long_text)
            ws.set_row(r, 45)
            r += 1

    r += 1
    ws.write_string(r, 0, "Domains", heading)
    r += 1
    headers = ["ID", "Criteria", *([GRADE_BEFORE] if before_after else []), "Grade", "Rationale"]
    for c, h in enumerate(headers):
        ws.write_string(r, c, h, head)
    r += 1
    for d in tool.domains:
        ws.set_row(r, 45)
        ws.write_string(r, 0, d.id, cell)
        ws.write_string(r, 1, d.title, cell)
        grade_cols = (2, 3) if before_after else (2,)
        for c in grade_cols:
            ws.write_blank(r, c, None, answer)
            dropdown(r, c, "qaf_levels_na" if d.na_allowed else "qaf_levels")
        ws.write_blank(r, grade_cols[-1] + 1, None, long_text)
        r += 1

    r += 1
    if before_after and tool.overall:
        ws.write_string(r, 0, OVERALL_BEFORE, label)
        ws.write_blank(r, 1, None, answer)
        dropdown(r, 1, "qaf_levels")
        r += 1
    if tool.overall:
        ws.write_string(r, 0, OVERALL, label)
        ws.write_blank(r, 1, None, answer)
        dropdown(r, 1, "qaf_levels")
        r += 1
    for lab in (OVERALL_RATIONALE, SUMMARY, WORKER_COMMENTS):
        ws.set_row(r, 60)
        ws.write_string(r, 0, lab, label)
        ws.write_blank(r, 1, None, long_text)
        r += 1

    if tool.feedback:
        r += 1
        ws.write_string(r, 0, "Feedback from the child and family", heading)
        r += 1
        for q in tool.feedback:
            ws.set_row(r, 45)
            ws.write_string(r, 0, q, label)
            ws.write_blank(r, 1, None, long_text)
            r += 1

    if tool.actions:
        r += 1
        ws.write_string(r, 0, "Actions", heading)
        r += 1
        for c, h in enumerate(ACTION_HEADERS):
            ws.write_string(r, c, h, head)
        r += 1
        for _ in range(ACTION_ROWS):
            ws.write_blank(r, 0, None, long_text)
            ws.write_blank(r, 1, None, answer)
            ws.write_blank(r, 2, None, when)
            r += 1

    ws.protect("", {"format_columns": True, "format_rows": True, "insert_rows": True})
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_landscape()

    # hidden sheet: the allocation's identity, then the drop-down lists (columns D on)
    hidden_values = {
        "audit_id": _ph("audit_id"),
        "tool": tool.id,
        "cycle": _ph("cycle"),
        "case_id": _ph("case_id"),
        "auditor": _ph("auditor"),
        "qaf_version": __version__,
    }
    list_cols = {name: 3 + i for i, name in enumerate(lists)}
    depth = max(len(v) for v in lists.values())
    for row in range(max(len(HIDDEN_KEYS), depth)):
        if row < len(HIDDEN_KEYS):
            k = HIDDEN_KEYS[row]
            hidden.write_string(row, 0, k)
            hidden.write_string(row, 1, hidden_values[k])
        for name, col in list_cols.items():
            if row < len(lists[name]):
                item = lists[name][row]
                if isinstance(item, int):  # a typed 1 then matches the list in Excel
                    hidden.write_number(row, col, item)
                else:
                    hidden.write_string(row, col, item)
    for name, col in list_cols.items():
        letter = chr(ord("A") + col)
        wb.define_name(name, f"={HIDDEN_SHEET}!${letter}$1:${letter}${len(lists[name])}")
    hidden.hide()
    hidden.protect("")
    wb.close()


# ------------------------------------------------------------------ writing


def write_audit_workbooks(
    allocations: Sequence[Allocation],
    tools: Mapping[str, Tool],
    org_name: str,
    out_dir: Path,
    grade_display: str = "words",
    *,
    team_managers: Mapping[str, str] | None = None,
    themes: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write ``out_dir/<audit_id>.xlsx`` for each allocation; the paths, in order.

    Raises KeyError naming the tool when an allocation's tool is not defined.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    books = audit_workbook_files(
        allocations,
        tools,
        org_name,
        out_dir,
        grade_display,
        team_managers=team_managers,
        themes=themes,
    )
    for path, data in books:
        path.write_bytes(data)
        paths.append(path)
    return paths


def audit_workbook_files(
    allocations: Sequence[Allocation],
    tools: Mapping[str, Tool],
    org_name: str,
    out_dir: Path,
    grade_display: str = "words",
    *,
    team_managers: Mapping[str, str] | None = None,
    themes: Mapping[str, str] | None = None,
    templates: Mapping[tuple[str, bool], AuditTemplate] | None = None,
) -> Iterator[tuple[Path, bytes]]:
    """Each allocation's audit workbook as (``out_dir/<audit_id>.xlsx``, its bytes), in order,
    made one at a time so the caller can write each while the next is made.
    ``team_managers`` (audit ID -> name) fills the tool's "Team Manager" field when it has one;
    ``themes`` (audit ID -> theme) its "Theme" field. An allocation whose case the service
    picks (GAPS 13) gets a workbook whose Case ID the auditor fills in. ``templates``:
    some already built (:func:`build_templates`); the others are built here.

    Raises KeyError naming the tool when an allocation's tool is not defined.
    """
    templates = dict(templates or {})
    for a in allocations:
        case_open = a.picked_by == "service"
        template = templates.get((a.tool, case_open))
        if template is None:
            if a.tool not in tools:
                raise KeyError(f'tool "{a.tool}" of allocation {a.audit_id} is not defined')
            tool = tools[a.tool]
            template = templates[(a.tool, case_open)] = build_template(
                tool, org_name, grade_display, case_open=case_open
            )
        manager = team_managers.get(a.audit_id, "") if team_managers else ""
        theme = themes.get(a.audit_id, "") if themes else ""
        yield out_dir / f"{_file_stem(a.audit_id)}.xlsx", template.render(a, manager, theme)


def build_templates(
    wanted: Iterable[tuple[str, bool]], tools: Mapping[str, Tool], org_name: str, grade_display: str
) -> dict[tuple[str, bool], AuditTemplate]:
    """The templates of the (tool, the service picks the case) pairs ``wanted`` that name a
    defined tool, for :func:`audit_workbook_files`: ``qaf allocate`` lays them out while
    the case list is being parsed."""
    return {
        (tool_id, case_open): build_template(
            tools[tool_id], org_name, grade_display, case_open=case_open
        )
        for tool_id, case_open in dict.fromkeys(wanted)
        if tool_id in tools
    }


def _file_stem(audit_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", audit_id).strip("._")
    return stem or "audit"
