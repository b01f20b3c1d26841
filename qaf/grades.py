"""Grading scales, parsing of the words people type for a grade, and comparison.

Rule G1: four Ofsted-aligned grades, 1 best; words, numbers 1-4 and common
variants ("RI", "Requires improvement to be good", "Requiring Improvement",
"In need of improvement") are accepted in any case and spacing. Anything else
is an error. Other scales (Yes/No for the supervision audit, the four-level
skills scale of the practice observation, Bedford App C) work the same way.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Movement = Literal["improved", "same", "downgraded"]

OUTSTANDING = "Outstanding"
GOOD = "Good"
REQUIRES_IMPROVEMENT = "Requires Improvement"
INADEQUATE = "Inadequate"
OFSTED_GRADES = (OUTSTANDING, GOOD, REQUIRES_IMPROVEMENT, INADEQUATE)

# rule G1: the variants councils' forms and auditors actually use.
OFSTED_ALIASES: Mapping[str, str] = {
    "RI": REQUIRES_IMPROVEMENT,
    "R.I.": REQUIRES_IMPROVEMENT,
    "R/I": REQUIRES_IMPROVEMENT,
    "Requires improvement to be good": REQUIRES_IMPROVEMENT,
    "Requiring improvement": REQUIRES_IMPROVEMENT,
    "Requiring improvement to be good": REQUIRES_IMPROVEMENT,
    "Require improvement": REQUIRES_IMPROVEMENT,
    "Requires improvements": REQUIRES_IMPROVEMENT,
    "In need of improvement": REQUIRES_IMPROVEMENT,
    "Needs improvement": REQUIRES_IMPROVEMENT,
    "Req. improvement": REQUIRES_IMPROVEMENT,
    "Req improvement": REQUIRES_IMPROVEMENT,
    "Reqs improvement": REQUIRES_IMPROVEMENT,
    "Requires imp.": REQUIRES_IMPROVEMENT,
    "Adequate": REQUIRES_IMPROVEMENT,
    "Inadequate practice": INADEQUATE,
    "Good practice": GOOD,
    "Outstanding practice": OUTSTANDING,
}

NA_WORDS = frozenset({"n/a", "na", "n.a.", "n.a", "not applicable", "not relevant"})


class GradeError(ValueError):
    """The text is not a grade of the scale (rule G1)."""

    def __init__(self, text: str, scale: Scale) -> None:
        self.text = text
        self.scale = scale
        allowed = ", ".join(f'"{lvl}"' for lvl in scale.levels)
        numbers = f" or 1-{len(scale.levels)}" if scale.numeric else ""
        super().__init__(f'"{text}" is not a grade: expected one of {allowed}{numbers}')


_SPACING = re.compile(r"[\s_\-–—]+")


def normalise(text: str) -> str:
    """Case, spacing, surrounding punctuation and dashes folded away."""
    if len(text) <= 100:  # grades, labels, names: the same few recur in every return
        return _normalise_short(text)
    return _normalise(text)


def _normalise(text: str) -> str:
    t = text.replace("\u00a0", " ").strip().casefold()
    t = _SPACING.sub(" ", t)
    return t.strip(" .:;,*")


_normalise_short = functools.lru_cache(maxsize=1 << 14)(_normalise)


@dataclass(frozen=True)
class Scale:
    """A grading scale: levels best first; aliases map other words to a level."""

    name: str
    levels: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    numeric: bool = True  # numbers 1..n are accepted (1 = best)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}
        for level in self.levels:
            lookup[normalise(level)] = level
        for alias, level in self.aliases.items():
            if level not in self.levels:
                raise ValueError(f"alias {alias!r} points at {level!r}, not a level of {self.name}")
            lookup[normalise(alias)] = level
        object.__setattr__(self, "_lookup", lookup)

    def rank(self, level: str) -> int:
        """1 for the best level, len(levels) for the worst."""
        return self.levels.index(level) + 1

    def parse(self, value: object) -> str:
        """The canonical level for a cell value, or GradeError (rule G1)."""
        if isinstance(value, bool):
            raise GradeError(str(value), self)
        if isinstance(value, int | float):
            return self._from_number(value, str(value))
        text = str(value)
        key = normalise(text)
        lookup: dict[str, str] = self.__dict__["_lookup"]
        if key in lookup:
            return lookup[key]
        if self.numeric:
            number = _leading_number(key)
            if number is not None:
                level = self._from_number(number, text)
                rest = _strip_number(key)
                # "1 - Outstanding" / "Grade 2 (Good)": the words must agree with the number
                if rest and lookup.get(rest) != level:
                    raise GradeError(text, self)
                return level
        raise GradeError(text, self)

    def _from_number(self, number: float, text: str) -> str:
        if not math.isfinite(number) or number != int(number):
            raise GradeError(text, self)
        if not 1 <= int(number) <= len(self.levels):
            raise GradeError(text, self)
        return self.levels[int(number) - 1]

    def compare(self, previous: str, current: str) -> Movement:
        """Re-audit movement: improved, same or downgraded (rule A4 / E2)."""
        before, after = self.rank(previous), self.rank(current)
        if after < before:
            return "improved"
        if after == before:
            return "same"
        return "downgraded"

    def not_better_than(self, level: str, floor: str) -> bool:
        """True when ``level`` is no better than ``floor`` (rule G5)."""
        return self.rank(level) >= self.rank(floor)


_NUMBER = re.compile(r"^(?:grade\s*)?(\d+(?:\.0+)?)\b\s*(?:[).:/-]\s*)?")


def _leading_number(key: str) -> float | None:
    m = _NUMBER.match(key)
    if not m:
        m2 = re.search(r"\((\d)\)$", key)  # "Good (2)"
        return float(m2.group(1)) if m2 else None
    return float(m.group(1))


def _strip_number(key: str) -> str:
    rest = _NUMBER.sub("", key, count=1)
    rest = re.sub(r"\(\d\)$", "", rest)
    return rest.strip(" ()-.:")


def is_not_applicable(value: object) -> bool:
    """N/A in its usual spellings (rule G2)."""
    return isinstance(value, str) and normalise(value) in NA_WORDS


def ofsted_scale(extra_aliases: Mapping[str, str] | None = None) -> Scale:
    aliases = dict(OFSTED_ALIASES)
    aliases.update(extra_aliases or {})
    return Scale("grades", OFSTED_GRADES, aliases)


YES_NO = Scale(
    "yes-no",
    ("Yes", "No"),
    {"Y": "Yes", "N": "No", "True": "Yes", "False": "No"},
    numeric=False,
)

# Bedford App C: practice observation, best first.
SKILLS = Scale(
    "skills",
    (
        "Skills demonstrated were outstanding",
        "A good level of skill seen",
        "Few skills seen, but could improve",
        "Skills not seen at all",
    ),
    {
        "Outstanding": "Skills demonstrated were outstanding",
        "Good": "A good level of skill seen",
        "Good level of skill seen": "A good level of skill seen",
        "Could improve": "Few skills seen, but could improve",
        "Few skills seen": "Few skills seen, but could improve",
        "Not seen": "Skills not seen at all",
        "Skills not seen": "Skills not seen at all",
    },
)


def builtin_scales(grade_aliases: Mapping[str, str] | None = None) -> dict[str, Scale]:
    return {"grades": ofsted_scale(grade_aliases), "yes-no": YES_NO, "skills": SKILLS}
