"""The user's working folder: creating it (``qaf init``) and checking it (``qaf config check``).

A working folder holds qaf.toml, the register, the case list and roster the
config points at, and the outputs of each cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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


@dataclass(frozen=True)
class SourceSummary:
    cases: int
    open_cases: int
    staff: int
    available_staff: int
    problems: tuple[Problem, ...]
    cases_path: Path
    staff_path: Path

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
    from qaf.sources import read_cases, read_staff

    today = today or date.today()
    problems: list[Problem] = []
    for spec, what in ((cfg.cases, "cases.path"), (cfg.staff, "staff.path")):
        if not spec.path.exists():
            raise QafError(f"{what}: {spec.path} does not exist", file=str(cfg.path))
    cases = read_cases(cfg.cases, cfg.limits)
    roster = read_staff(cfg.staff, cfg.limits)
    problems.extend(cases.problems)
    problems.extend(roster.problems)
    roles = {s.role for s in roster.staff}
    for q in cfg.quotas:
        if q.role not in roles:
            problems.append(
                Problem(
                    "A1",
                    f'quota role "{q.role}" has nobody in the staff roster',
                    "warning",
                    str(cfg.path),
                )
            )
    return SourceSummary(
        cases=len(cases.cases),
        open_cases=len(cases.open_cases(cfg.cases.closed)),
        staff=len(roster.staff),
        available_staff=sum(1 for s in roster.staff if s.available_on(today)),
        problems=tuple(problems),
        cases_path=cfg.cases.path,
        staff_path=cfg.staff.path,
    )


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
