"""Benchmark data: the sample authority at scale, filled returns, a 10-year register.

Everything is built once and cached under ``bench/.cache/`` (git-ignored), in a
folder whose name carries the sizes and a hash of the generator code, so a
change to the generators (or to this file) rebuilds instead of measuring stale
data. A folder is complete only when its ``.done`` marker exists: an
interrupted build is thrown away and redone.

* :func:`authority` — a qaf working folder (generic preset ``qaf.toml``,
  ``data/cases.xlsx``, ``data/staff.csv``) for ``build_authority(cases, auditors)``.
* :func:`returns` — N allocations recorded in a base register, their pre-filled
  audit workbooks (``qaf.auditbook.write_audit_workbooks``) and the filled
  returns (``qaf.samples.simulate`` when it is present, else filled here by
  label with openpyxl).
* :func:`ten_year_register` — a register of ``years`` x 12 cycles of
  ``per_cycle`` returns (about 60,000 returns and 1 million domain grades for
  10 x 500), written with bulk SQL following the schema of ``qaf/register.py``
  (the schema itself is created by ``Register.open``). Alerts and follow-ups
  are the real ones: ``qaf.escalate.consequences_of_return`` for every return.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"

AS_OF = date(2026, 11, 25)  # the sample authority's "today"
CYCLE = "2026-12"  # the cycle allocated by the allocate figure
SEED = 2026

AUDITOR_ROLES = ("Team Manager", "Advanced Practitioner", "IRO", "CP Chair", "Head of Service")

Say = Callable[[str], None]


def _say(msg: str) -> None:
    print(f"[data] {msg}", file=sys.stderr, flush=True)


# Bump when a builder below changes what it makes.
VERSIONS = {"authority": "1", "returns": "1", "register": "3"}


def code_hash(kind: str, *modules: str) -> str:
    """A short hash of source files, so cached data follows the code that made it."""
    h = hashlib.sha256(VERSIONS[kind].encode())
    for rel in modules:
        p = ROOT / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.exists() else b"-")
    return h.hexdigest()[:10]


def _fresh(path: Path, family: str) -> bool:
    """True when ``path`` holds a complete build; otherwise clear it for a new one."""
    if (path / ".done").exists():
        return True
    if path.exists():
        shutil.rmtree(path)
    # older builds of the same thing (``family``: a glob) from other code are stale
    if path.parent.exists():
        for old in path.parent.glob(family):
            if old != path and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    path.mkdir(parents=True)
    return False


def _done(path: Path) -> None:
    (path / ".done").write_text("ok\n")


# ------------------------------------------------------------------ authority


def authority(cases: int, auditors: int, cache: Path = CACHE, say: Say = _say) -> Path:
    """A working folder for Northvale at ``cases`` / ``auditors``; cached."""
    key = code_hash("authority", "qaf/samples/authority.py", "qaf/presets/generic.toml")
    wd = cache / f"authority-{cases}-{auditors}-{key}"
    if _fresh(wd, f"authority-{cases}-{auditors}-*"):
        return wd
    from qaf.samples.authority import build_authority, write_case_list, write_staff_roster
    from qaf.workdir import preset_text

    say(f"building the sample authority: {cases:,} cases, ~{auditors} auditors")
    a = build_authority(cases=cases, auditors=auditors, seed=SEED, as_of=AS_OF)
    (wd / "qaf.toml").write_text(preset_text("generic"), encoding="utf-8")
    write_case_list(a, wd / "data" / "cases.xlsx")
    write_staff_roster(a, wd / "data" / "staff.csv")
    _done(wd)
    return wd


def _sizes(wd: Path) -> str:
    """ "5000-40" of an authority folder's name."""
    return "-".join(wd.name.split("-")[1:3])


def load_config(wd: Path) -> Any:
    from qaf.config import read_config

    return read_config(wd / "qaf.toml")


@dataclass(frozen=True)
class People:
    """The authority's cases and auditors, as the synthetic allocations need them."""

    cases: list[tuple[str, str, str, str, str]]  # case_id, team, service, category, worker
    auditors: list[tuple[str, str, str, str, str]]  # name, email, role, team, service


def people(wd: Path) -> People:
    from qaf.sources import read_cases, read_staff

    cfg = load_config(wd)
    cl = read_cases(cfg.cases)
    roster = read_staff(cfg.staff)
    cases = [
        (c.case_id, c.team, c.service, c.category, c.worker)
        for c in cl.cases
        if c.status not in cfg.cases.closed
    ]
    auditors = [
        (s.name, s.email, s.role, s.team, s.service)
        for s in roster.staff
        if s.role in AUDITOR_ROLES and s.available
    ]
    return People(cases, auditors)


def synthetic_allocations(pp: People, n: int, cycles: Sequence[str], seed: int = SEED) -> list[Any]:
    """``n`` allocations spread over ``cycles``: distinct cases, an auditor from outside
    the case's team, the tool the generic preset gives that role, due the cycle's end."""
    from qaf.records import Allocation

    rng = random.Random(seed)
    picked = rng.sample(pp.cases, n) if n <= len(pp.cases) else rng.choices(pp.cases, k=n)
    out = []
    for i, (case_id, team, service, category, worker) in enumerate(picked):
        cycle = cycles[i * len(cycles) // n]
        while True:
            name, email, role, ateam, aservice = rng.choice(pp.auditors)
            if ateam != team and not (role == "Head of Service" and aservice == service):
                break
        y, m = int(cycle[:4]), int(cycle[5:])
        due = date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)
        while due.weekday() >= 5:
            due -= timedelta(days=1)
        out.append(
            Allocation(
                audit_id=f"A-{cycle}-{i:05d}",
                cycle=cycle,
                case_id=case_id,
                team=team,
                service=service,
                category=category,
                worker=worker,
                auditor=name,
                auditor_email=email,
                auditor_role=role,
                tool="tier1-generic" if role == "Head of Service" else "case-audit",
                type="audit",
                due=due,
            )
        )
    return out


def record_allocations(db: Path, allocs: Sequence[Any], as_of: date) -> None:
    """Cycles and allocations into a register (bulk SQL on the schema of qaf/register.py)."""
    from qaf.register import Register

    now = as_of.isoformat() + "T09:00:00"
    with Register.open(db) as reg, reg.transaction() as conn:
        for cycle in sorted({a.cycle for a in allocs}):
            conn.execute(
                "INSERT OR IGNORE INTO cycles (cycle, seed, created_at, as_of) VALUES (?,?,?,?)",
                (cycle, SEED, now, as_of.isoformat()),
            )
        conn.executemany(
            "INSERT INTO allocations (audit_id, cycle, case_id, team, service, category, worker, "
            "auditor, auditor_email, auditor_role, tool, type, due, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    a.audit_id,
                    a.cycle,
                    a.case_id,
                    a.team,
                    a.service,
                    a.category,
                    a.worker,
                    a.auditor,
                    a.auditor_email,
                    a.auditor_role,
                    a.tool,
                    a.type,
                    a.due.isoformat(),
                    now,
                )
                for a in allocs
            ],
        )


# -------------------------------------------------------------------- returns


def _fill_chunk(args: tuple[str, list[Any], str, str, int]) -> list[str]:
    """Worker: fill one chunk of workbooks (run in a process pool)."""
    wd, allocs, audit_dir, out_dir, seed = args
    cfg = load_config(Path(wd))
    try:
        from qaf.samples.simulate import simulate_returns
    except ImportError:
        return [
            str(fill_by_label(Path(audit_dir), Path(out_dir), a, cfg.tools[a.tool], seed + i))
            for i, a in enumerate(allocs)
        ]
    sim = simulate_returns(allocs, cfg.tools, Path(audit_dir), Path(out_dir), seed=seed, never=0.0)
    return [str(p) for p in sim.paths]


def simulator_available() -> bool:
    try:
        import qaf.samples.simulate  # noqa: F401
    except ImportError:
        return False
    return True


def returns(
    wd: Path, n: int, cache: Path = CACHE, say: Say = _say, jobs: int | None = None
) -> tuple[list[Any], list[Path]]:
    """``n`` filled returns for the authority in ``wd``; cached.

    Returns (their allocations, the files in allocation order). The allocations are
    deterministic; record them in a fresh register with :func:`record_allocations`
    (so the register always has the current schema). The first k files of a larger
    set are a smaller set's files.
    """
    filler = "sim" if simulator_available() else "label"
    key = code_hash(
        "returns", "qaf/auditbook.py", "qaf/samples/simulate.py", "qaf/presets/generic.toml"
    )
    out = cache / f"returns-{wd.name}-{n}-{filler}-{key}"
    files_list = out / "files.txt"
    pp = people(wd)
    cycles = [f"2026-{m:02d}" for m in range(1, 13)]
    allocs = synthetic_allocations(pp, n, cycles)
    if _fresh(out, f"returns-authority-{_sizes(wd)}-*-{n}-*"):
        files = [out / p for p in files_list.read_text().split("\n") if p]
        return allocs, files
    from qaf.auditbook import write_audit_workbooks

    cfg = load_config(wd)
    say(f"{n:,} allocations; writing their audit workbooks")
    write_audit_workbooks(allocs, cfg.tools, cfg.organisation.name, out / "audits")
    say(
        f"filling {n:,} returns ({'qaf.samples.simulate' if filler == 'sim' else 'by label'}); "
        "one-time, cached"
    )
    (out / "returns").mkdir()
    jobs = jobs or os.cpu_count() or 1
    size = max(1, min(200, -(-n // jobs)))
    chunks = [
        (str(wd), allocs[i : i + size], str(out / "audits"), str(out / "returns"), SEED + i)
        for i in range(0, n, size)
    ]
    paths: list[str] = []
    if jobs > 1 and len(chunks) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(jobs) as pool:
            for done in pool.imap(_fill_chunk, chunks):
                paths.extend(done)
    else:
        for c in chunks:
            paths.extend(_fill_chunk(c))
    shutil.rmtree(out / "audits")
    files_list.write_text("\n".join(str(Path(p).relative_to(out)) for p in paths) + "\n")
    _done(out)
    return allocs, [Path(p) for p in paths]


def fill_by_label(audit_dir: Path, out_dir: Path, a: Any, tool: Any, seed: int) -> Path:
    """Fill a pre-filled audit workbook the way an auditor would: by label, with openpyxl.

    Used only until ``qaf.samples.simulate`` is available.
    """
    import openpyxl

    rng = random.Random(seed)
    src = audit_dir / f"{a.audit_id}.xlsx"
    wb = openpyxl.load_workbook(src)
    ws = wb["Audit"]
    levels = list(tool.scale.levels)
    worst = 0
    label_row: dict[str, int] = {}
    header: dict[str, int] = {}
    header_row = 0
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row):
        for cell in row:
            if isinstance(cell.value, str):
                if cell.column == 1:
                    label_row[cell.value.strip()] = cell.row
                if cell.value in ("ID", "Grade", "Grade before discussion", "Rationale"):
                    header[cell.value] = cell.column
                    header_row = cell.row
    if "Date of audit" in label_row:
        ws.cell(label_row["Date of audit"], 2).value = a.due - timedelta(days=rng.randint(1, 10))
    for q in tool.compliance:
        if q in label_row:
            ws.cell(label_row[q], 2).value = rng.choice(("Yes", "Yes", "No"))
    if tool.safety_question and tool.safety_question in label_row:
        ws.cell(label_row[tool.safety_question], 2).value = "Yes"
    r = header_row + 1
    for d in tool.domains:
        if d.na_allowed and rng.random() < 0.3:
            g = "N/A"
        else:
            i = min(len(levels) - 1, max(0, int(rng.gauss(1.3, 0.8))))
            worst = max(worst, i)
            g = levels[i]
        if "Grade before discussion" in header:
            ws.cell(r, header["Grade before discussion"]).value = g
        ws.cell(r, header["Grade"]).value = g
        ws.cell(r, header["Rationale"]).value = f"Evidence for {d.id}: the record shows {g}."
        r += 1
    for label in ("Overall grade before discussion", "Overall grade"):
        if label in label_row:
            ws.cell(label_row[label], 2).value = levels[worst]
    for label in ("Rationale for overall grade", "Summary of strengths and areas for improvement"):
        if label in label_row:
            ws.cell(label_row[label], 2).value = "Consistent with the domain grades."
    dest = out_dir / src.name
    wb.save(dest)
    return dest


def subset(files: Sequence[Path], n: int, dest: Path) -> Path:
    """A folder of hard links to the first ``n`` files (a smaller set of the same returns)."""
    if (dest / ".done").exists():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for f in files[:n]:
        os.link(f, dest / f.name)
    (dest / ".done").write_text("ok\n")
    return dest


# ---------------------------------------------------------- 10-year register

RATIONALES = (
    "The child is seen regularly and alone; their wishes and feelings are recorded.",
    "The plan lists tasks rather than outcomes and is not SMART.",
    "Risk is identified and reduced in a timely way; management oversight is clear.",
    "The assessment is thorough but the analysis of risk is thin.",
    "Partner agencies contributed to the plan and attended the reviews.",
    "There is drift and delay since the last review; no recorded management direction.",
    "Issues of identity and culture are explored and reflected in the plan.",
)
ACTIONS = (
    "Update the child's plan so each outcome is specific, measurable and timed",
    "See the child alone at the next visit and record their wishes and feelings",
    "Record management oversight with clear direction and timescales",
    "Convene a strategy discussion about the risks identified",
)


def ten_year_register(
    wd: Path,
    years: int,
    per_cycle: int,
    last_cycle: str = "2026-12",
    cache: Path = CACHE,
    say: Say = _say,
) -> Path:
    """A working folder whose register holds ``years`` of cycles; cached. See module doc."""
    key = code_hash("register", "qaf/register.py", "qaf/escalate.py", "qaf/presets/generic.toml")
    out = cache / f"register-{wd.name}-{years}y-{per_cycle}-{key}"
    if _fresh(out, f"register-authority-{_sizes(wd)}-*-{years}y-{per_cycle}-*"):
        return out
    say(f"building a {years}-year register ({years * 12 * per_cycle:,} returns); one-time, cached")
    (out / "qaf.toml").write_text((wd / "qaf.toml").read_text(encoding="utf-8"), encoding="utf-8")
    os.symlink(wd / "data", out / "data")
    _build_register(out, years, per_cycle, last_cycle)
    _done(out)
    return out


def _cycles(years: int, last: str) -> list[str]:
    y, m = int(last[:4]), int(last[5:])
    out = []
    for _ in range(years * 12):
        out.append(f"{y:04d}-{m:02d}")
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out[::-1]


def _build_register(out: Path, years: int, per_cycle: int, last_cycle: str) -> None:
    from qaf.calendar import WorkingCalendar
    from qaf.escalate import consequences_of_return
    from qaf.records import ActionItem, ReturnFacts
    from qaf.register import Register
    from qaf.sources import read_staff

    cfg = load_config(out)
    pp = people(out)
    roster = _indexed(read_staff(cfg.staff))
    cal = WorkingCalendar(cfg.organisation.bank_holidays, cfg.organisation.closures)
    rng = random.Random(SEED + 10)
    cycles = _cycles(years, last_cycle)
    last_day = date(int(last_cycle[:4]), int(last_cycle[5:]), 28) + timedelta(days=40)
    tools = cfg.tools
    fields_of = {
        t.id: (list(t.fields), list(t.compliance), list(t.feedback)) for t in tools.values()
    }

    db = out / "qaf.db"
    Register.open(db).close()  # the schema, by the register itself
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    rid = 0
    allocs: list[tuple[Any, ...]] = []
    rets: list[tuple[Any, ...]] = []
    grades: list[tuple[Any, ...]] = []
    fields: list[tuple[Any, ...]] = []
    actions: list[tuple[Any, ...]] = []
    alerts: list[tuple[Any, ...]] = []
    follows: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO allocations (audit_id, cycle, case_id, team, service, category, worker, "
            "auditor, auditor_email, auditor_role, tool, type, due, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            allocs,
        )
        conn.executemany(
            "INSERT INTO returns (id, audit_id, case_id, cycle, tool, type, auditor, auditor_role, "
            "team, service, category, worker, audit_date, received_on, due, overall, "
            "overall_before, overall_rationale, summary, safety_concern, safety_note, "
            "source_path, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rets,
        )
        conn.executemany(
            "INSERT INTO domain_grades (return_id, domain_id, grade, grade_before, na, rationale) "
            "VALUES (?,?,?,?,?,?)",
            grades,
        )
        conn.executemany(
            "INSERT INTO return_fields (return_id, section, name, value) VALUES (?,?,?,?)", fields
        )
        conn.executemany(
            "INSERT INTO actions (return_id, audit_id, case_id, action, owner, due, completed_on) "
            "VALUES (?,?,?,?,?,?,?)",
            actions,
        )
        conn.executemany(
            "INSERT INTO alerts (return_id, rule, reason, recipient_role, recipient_name, "
            "recipient_email, created_at) VALUES (?,?,?,?,?,?,?)",
            alerts,
        )
        conn.executemany(
            "INSERT INTO followups (kind, rule, return_id, audit_id, case_id, responsible, "
            "responsible_role, due, detail, done_on, done_by, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            follows,
        )
        for lst in (allocs, rets, grades, fields, actions, alerts, follows):
            lst.clear()

    for ci, cycle in enumerate(cycles):
        conn.execute(
            "INSERT INTO cycles (cycle, seed, created_at, as_of, eligible, sample_size) "
            "VALUES (?,?,?,?,?,?)",
            (cycle, SEED + ci, f"{cycle}-01T09:00:00", f"{cycle}-01", len(pp.cases), per_cycle),
        )
        y, m = int(cycle[:4]), int(cycle[5:])
        due = cal.last_working_day(y, m)
        recent = ci >= len(cycles) - 3
        for a in synthetic_allocations(pp, per_cycle, [cycle], seed=SEED + 100 + ci):
            a_due = due.isoformat()
            allocs.append(
                (
                    a.audit_id,
                    cycle,
                    a.case_id,
                    a.team,
                    a.service,
                    a.category,
                    a.worker,
                    a.auditor,
                    a.auditor_email,
                    a.auditor_role,
                    a.tool,
                    "audit",
                    a_due,
                    f"{cycle}-01T09:00:00",
                )
            )
            # Never returned: 3% of the last three cycles' audits, 0.1% of older ones (a
            # register where the team chases what is late). The rest come within +-10 days.
            if rng.random() < (0.03 if recent else 0.001):
                continue
            received = due + timedelta(days=rng.randint(-10, 8))
            if received > last_day:
                continue
            tool = tools[a.tool]
            tlevels = list(tool.scale.levels)
            base = rng.gauss(0.9, 0.55)
            worst = 0
            rid += 1
            for d in tool.domains:
                if d.na_allowed and rng.random() < 0.3:
                    grades.append((rid, d.id, None, None, 1, ""))
                    continue
                gi = min(len(tlevels) - 1, max(0, round(base + rng.gauss(0, 0.35))))
                worst = max(worst, gi)
                bi = gi if rng.random() < 0.85 else max(0, gi - 1)
                grades.append((rid, d.id, tlevels[gi], tlevels[bi], 0, rng.choice(RATIONALES)))
            overall = tlevels[worst] if tool.overall else None
            safety = rng.random() < 0.01
            fl, comp, fb = fields_of[a.tool]
            for f in fl:
                fields.append((rid, "field", f, a.case_id if f == "Case ID" else a.auditor))
            for q in comp:
                fields.append((rid, "compliance", q, rng.choice(("Yes", "Yes", "Yes", "No"))))
            for q in fb:
                fields.append((rid, "feedback", q, "The family said the social worker listened."))
            acts: list[ActionItem] = []
            if worst >= 2:
                for _ in range(rng.randint(1, 3)):
                    acts.append(
                        ActionItem(rng.choice(ACTIONS), a.worker, received + timedelta(days=28))
                    )
            rets.append(
                (
                    rid,
                    a.audit_id,
                    a.case_id,
                    cycle,
                    a.tool,
                    "audit",
                    a.auditor,
                    a.auditor_role,
                    a.team,
                    a.service,
                    a.category,
                    a.worker,
                    (received - timedelta(days=2)).isoformat(),
                    received.isoformat(),
                    a_due,
                    overall,
                    overall,
                    "Consistent with the domain grades.",
                    "Strengths: the child's voice. Improve: SMART plans.",
                    int(safety),
                    "Concern noted" if safety else "",
                    f"returns/{a.audit_id}.xlsx",
                    received.isoformat() + "T10:00:00",
                )
            )
            for act in acts:
                done = (
                    None
                    if rng.random() < (0.05 if recent else 0.002)
                    else (act.due + timedelta(days=rng.randint(-20, 10))).isoformat()
                )
                actions.append(
                    (rid, a.audit_id, a.case_id, act.action, act.owner, iso(act.due), done)
                )
            facts = ReturnFacts(
                return_id=rid,
                audit_id=a.audit_id,
                case_id=a.case_id,
                team=a.team,
                service=a.service,
                category=a.category,
                worker=a.worker,
                auditor=a.auditor,
                tool=a.tool,
                type="audit",
                overall=overall,
                reaudit_round=0,
                movement=None,
                safety_concern=safety,
                received_on=received,
                actions=tuple(acts),
            )
            cons = consequences_of_return(facts, roster, cfg, cal)
            now = received.isoformat() + "T10:00:00"
            for al in cons.alerts:
                alerts.append(
                    (
                        rid,
                        al.rule,
                        al.reason,
                        al.recipient_role,
                        al.recipient_name,
                        al.recipient_email,
                        now,
                    )
                )
            for f in cons.followups:
                # done around their due date; a few still open (more among recent ones)
                done_on = None
                if rng.random() >= (0.05 if recent else 0.002):
                    done_on = (f.due + timedelta(days=rng.randint(-3, 4))).isoformat()
                follows.append(
                    (
                        f.kind,
                        f.rule,
                        rid,
                        f.audit_id,
                        f.case_id,
                        f.responsible,
                        f.responsible_role,
                        f.due.isoformat(),
                        f.detail,
                        done_on,
                        f.responsible if done_on else None,
                        now,
                    )
                )
        if len(grades) > 100_000:
            flush()
    flush()
    # A daily `qaf overdue --notify` would have mailed each grade alert (E1, E2) the morning
    # after it was raised: record those as sent, leaving only the last few days' alerts unsent.
    conn.execute(
        "INSERT OR IGNORE INTO notifications (item_key, level, recipient_email, recipient_name, "
        "channel, sent_at) SELECT 'alert:' || id, 0, recipient_email, recipient_name, 'outbox', "
        "created_at FROM alerts WHERE created_at < ?",
        ((last_day - timedelta(days=20)).isoformat(),),  # a few days before bench's as-of
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _indexed(roster: Any) -> Any:
    """The roster with ``with_role`` memoised (building data only; qaf's own code is what
    the figures measure). escalate on main re-normalises the whole roster per call."""
    cache: dict[str, list[Any]] = {}
    plain = roster.with_role

    def with_role(role: str) -> list[Any]:
        if role not in cache:
            cache[role] = plain(role)
        return cache[role]

    object.__setattr__(roster, "with_role", with_role)
    return roster


def iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()
