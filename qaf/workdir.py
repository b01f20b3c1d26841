"""The user's working folder: creating it (``qaf init``) and checking it (``qaf config check``).

A working folder holds qaf.toml, the register, the case list and roster the
config points at, and the outputs of each cycle.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from qaf.config import CONFIG_NAME, Config, read_config
from qaf.grades import Scale
from qaf.problems import Problem, QafError

PRESETS = ("generic", "haringey", "bedford", "lancashire", "rochdale")


def preset_text(framework: str) -> str:
    """The commented qaf.toml of a preset (qaf/presets/NAME.toml)."""
    files = resources.files("qaf.presets")
    available = sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))
    if framework not in available:
        raise QafError(f'--framework: "{framework}" is not a preset (have: {", ".join(available)})')
    return (files / f"{framework}.toml").read_text(encoding="utf-8")


def init_directory(
    directory: Path, *, framework: str = "generic", demo: bool = False, force: bool = False
) -> list[Path]:
    """Write DIR/qaf.toml from a preset and, with ``demo``, the sample authority's data."""
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise QafError(f"{target} already exists (use --force to overwrite it)", file=str(target))
    text = preset_text(framework)
    if not demo:
        text = own_council_text(text)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    target.write_text(text, encoding="utf-8")
    written = [target]
    if demo:
        from qaf.samples.authority import write_sample_authority

        written.extend(write_sample_authority(directory))
    # The preset must load: a broken preset is our bug, found here rather than later.
    read_config(target)
    return written


SAMPLE_NAME = "Northvale Borough Council"
SAMPLE_DOMAIN = "northvale.example"
PLACEHOLDER = "CHANGE ME"
PLACEHOLDER_NAME = f"{PLACEHOLDER}: your council's name"
PLACEHOLDER_SENDER = "qa-team@change-me.example"
SAMPLE_FOCUS = {"2026-12": "Public Law Outline", "2027-01": "Children in Need"}
SAMPLE_PRACTICE_WEEKS = (("2027-06",), ("2027-05", "2027-10"))


def own_council_text(text: str) -> str:
    """A preset's qaf.toml for a council's own folder (F2): the sample authority's name and
    sender become placeholders that ``config check`` flags, and its practice weeks and
    focus themes are commented out, so nothing of Northvale's is used by accident."""
    text = re.sub(
        rf'^name = "{SAMPLE_NAME}"[^\n]*$',
        f'name = "{PLACEHOLDER_NAME}"   # shown on workbooks, reports and e-mails',
        text,
        count=1,
        flags=re.M,
    )
    text = re.sub(
        rf'^sender = "[^"@]*@{re.escape(SAMPLE_DOMAIN)}"[^\n]*$',
        f'sender = "{PLACEHOLDER_SENDER}"   # {PLACEHOLDER}: the QA team\'s address',
        text,
        flags=re.M,
    )
    for key in ("practice_weeks", "focus"):
        text = re.sub(
            rf"^{key} = ((?:\[|\{{)[^\n]*?(?:\]|\}}))(\s*#[^\n]*)?$",
            _commented_out,
            text,
            count=1,
            flags=re.M,
        )
    return text


def _commented_out(m: re.Match[str]) -> str:
    """``key = [values]`` -> ``key = []  # ... key = [values]`` (empty ones are kept)."""
    value = m.group(1)
    if value in ("[]", "{}"):
        return m.group(0)
    key = m.group(0).split(" ", 1)[0]
    return f"{key} = {value[0]}{value[-1]}   # none set yet; to use them: {key} = {value}"


def sample_leftovers(cfg: Config, roster_emails: Iterable[str]) -> list[Problem]:
    """Warnings for settings still the sample authority's (F2), unless the roster is the
    sample authority's own (``qaf init --demo``)."""
    if any(e.strip().casefold().endswith("@" + SAMPLE_DOMAIN) for e in roster_emails):
        return []
    file = str(cfg.path)
    found: list[tuple[str, str, str]] = []  # rule, key, what to do
    name = cfg.organisation.name
    if SAMPLE_NAME.casefold() in name.casefold() or name.startswith(PLACEHOLDER):
        found.append(("P1", "organisation.name", f'"{name}": set your council\'s name'))
    senders = [("notify.sender", cfg.notify.sender)]
    if cfg.notify.smtp is not None:
        senders.append(("smtp.sender", cfg.notify.smtp.sender))
    for key, sender in senders:
        domain = sender.rsplit("@", 1)[-1].casefold()
        if domain in (SAMPLE_DOMAIN, PLACEHOLDER_SENDER.split("@")[1]):
            found.append(("T3", key, f'"{sender}": set the QA team\'s e-mail address'))
    if dict(cfg.cycle.focus) == SAMPLE_FOCUS:
        found.append(("C3", "cycle.focus", "the sample's focus themes: set yours, or {}"))
    if tuple(cfg.cycle.practice_weeks) in SAMPLE_PRACTICE_WEEKS:
        weeks = ", ".join(cfg.cycle.practice_weeks)
        found.append(("C1", "cycle.practice_weeks", f"{weeks} came with the preset: set yours"))
    return [
        Problem(rule, f"{key} is still the sample authority's value ({what})", "warning", file)
        for rule, key, what in found
    ]


@dataclass(frozen=True)
class SourceSummary:
    cases: int
    open_cases: int
    staff: int
    available_staff: int
    problems: tuple[Problem, ...]
    cases_path: Path
    staff_path: Path

    def headline(self) -> str:
        """ "Configuration OK", with the count of source-file problems when there are any."""
        errors = sum(1 for p in self.problems if p.level == "error")
        warnings = len(self.problems) - errors
        if not self.problems:
            return "Configuration OK"
        counts = f"{_plural(errors, 'error')} and {_plural(warnings, 'warning')}"
        return f"Configuration OK, but {counts} in the source files"

    def lines(self) -> list[str]:
        return [
            f"case list: {self.cases_path} — {self.cases:,} cases, {self.open_cases:,} open",
            f"staff roster: {self.staff_path} — {self.staff:,} staff, "
            f"{self.available_staff:,} available today",
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "open_cases": self.open_cases,
            "staff": self.staff,
            "available_staff": self.available_staff,
            "problems": [dict(p.as_json(), file=p.file) for p in self.problems],
        }


def check_sources(cfg: Config, today: date | None = None) -> SourceSummary:
    """Read the case list and roster the config names, collecting their problems."""
    from qaf.roster_checks import check_roster
    from qaf.sources import read_cases, read_staff

    today = today or date.today()
    problems: list[Problem] = []
    missing = [
        f"{what}: {spec.path} does not exist"
        for spec, what in ((cfg.cases, "cases.path"), (cfg.staff, "staff.path"))
        if not spec.path.exists()
    ]
    if missing:  # trial2 T2-2: say how to fix it, both files at once
        raise QafError(
            "; ".join(missing) + ". Put your case-list export and staff roster there, or set "
            "[cases] path and [staff] path in qaf.toml to where they are "
            "(`qaf demo .` tries qaf on the sample authority's)",
            file=str(cfg.path),
        )
    cases = read_cases(cfg.cases, cfg.limits)
    roster = read_staff(cfg.staff, cfg.limits)
    problems.extend(cases.problems)
    problems.extend(roster.problems)
    problems.extend(sample_leftovers(cfg, (s.email for s in roster.staff)))
    open_cases = cases.open_cases(cfg.cases.closed)
    problems.extend(check_roster(cfg, roster, open_cases))
    return SourceSummary(
        cases=len(cases.cases),
        open_cases=len(open_cases),
        staff=len(roster.staff),
        available_staff=sum(1 for s in roster.staff if s.available_on(today)),
        problems=tuple(problems),
        cases_path=cfg.cases.path,
        staff_path=cfg.staff.path,
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def effective_config(cfg: Config) -> dict[str, Any]:
    """The configuration as loaded, defaults filled in, as plain JSON-able data."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        if f.name in ("raw", "path"):
            continue
        out[f.name] = _plain(getattr(cfg, f.name))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Scale):
        return {"levels": list(value.levels), "aliases": dict(value.aliases)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path | date):
        return str(value)
    return value
