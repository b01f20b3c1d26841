"""Errors as data: a problem found in an input, with its position and rule ID.

Readers and validators collect ``Problem`` values rather than raising on the
first one, so the user sees every problem in a file in one run (the
csvkit / frictionless way). ``QafError`` is the exception for problems that
stop a command outright (bad configuration, unreadable input); it carries the
same position fields so the CLI can print them the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One problem in one input, pointing as precisely as we can at where it is."""

    rule: str
    message: str
    level: Level = "error"
    file: str | None = None
    sheet: str | None = None
    cell: str | None = None

    def where(self) -> str:
        """'file, sheet Audit, cell B7' or 'file, sheet Staff, row 5': the position as read."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.sheet:
            parts.append(f"sheet {self.sheet}")
        if self.cell:  # a cell "B7", or a whole row of a list: "row 5"
            parts.append(self.cell if self.cell.startswith("row ") else f"cell {self.cell}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        prefix = f"{where}: " if where else ""
        return f"{prefix}[{self.rule}] {self.level}: {self.message}"

    def as_json(self) -> dict[str, str | None]:
        """The documented JSON shape (README: ingest --format json, problems)."""
        d = asdict(self)
        return {k: d[k] for k in ("rule", "level", "sheet", "cell", "message")}


def has_errors(problems: list[Problem] | tuple[Problem, ...]) -> bool:
    return any(p.level == "error" for p in problems)


class QafError(Exception):
    """A problem that stops the command: the CLI prints it and exits.

    ``exit_code`` follows the README: 2 for usage or configuration errors,
    1 for inputs found invalid.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str | None = None,
        file: str | None = None,
        exit_code: int = 2,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.file = file
        self.exit_code = exit_code

    def __str__(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        rule = f"[{self.rule}] " if self.rule else ""
        return f"{prefix}{rule}{self.message}"


class ConfigError(QafError):
    """A bad qaf.toml: names the key path, the bad value and what was expected."""

    def __init__(self, key: str, message: str, *, file: str | None = None) -> None:
        super().__init__(f"{key}: {message}", file=file, exit_code=2)
        self.key = key
