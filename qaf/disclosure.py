"""Disclosure control for report tables (rule P3): which counts a report must hide.

*Primary* suppression hides counts from 1 to ``threshold - 1`` (zero is shown).
A hidden count can still be worked out by subtraction when it is the only hidden
figure of a *relation*: figures whose sum is known, such as the grades of a team
and its number of returns, or the Good and Outstanding counts and the
Good-or-better share. *Secondary* suppression hides, in a relation with
exactly one hidden figure, another non-zero figure of it (never a ``fixed``
figure such as a headline total; a ``keep`` figure, such as a Good-or-better
share, only when nothing else will do): the one protecting most such relations
while opening fewest new ones, then the smallest; and repeats until no relation
has exactly one. Only the relations given are checked: sums of
relations are not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Hidden:
    """The figures to hide: small ones (shown "<n") and their protectors (shown "—")."""

    primary: frozenset[Hashable] = frozenset()
    secondary: frozenset[Hashable] = frozenset()

    def __contains__(self, key: object) -> bool:
        return key in self.primary or key in self.secondary

    def __bool__(self) -> bool:
        return bool(self.primary or self.secondary)


def protect(
    values: Mapping[Hashable, int],
    relations: Iterable[Sequence[Hashable]],
    threshold: int,
    fixed: Collection[Hashable] = (),
    keep: Collection[Hashable] = (),
) -> Hidden:
    """Primary and secondary suppression of ``values`` under ``relations`` (see module)."""
    primary = {k for k, v in values.items() if 0 < v < threshold and k not in fixed}
    hidden = set(primary)
    rels = [tuple(r) for r in relations]
    of: dict[Hashable, list[int]] = {}  # the relations each figure is in
    for i, rel in enumerate(rels):
        for k in rel:
            of.setdefault(k, []).append(i)

    def count(i: int) -> int:
        return sum(1 for k in rels[i] if k in hidden)

    while True:
        open_ = [i for i, rel in enumerate(rels) if count(i) == 1]
        chosen = None
        for i in open_:
            candidates = [
                (k in keep, _cost(k, of, count), values.get(k, 0), j, k)
                for j, k in enumerate(rels[i])
                if k not in hidden and k not in fixed and values.get(k, 0) > 0
            ]
            if candidates:
                chosen = min(candidates, key=lambda c: c[:4])[4]
                break
        if chosen is None:
            break
        hidden.add(chosen)
    return Hidden(frozenset(primary), frozenset(hidden - primary))


def _cost(k: Hashable, of: Mapping[Hashable, list[int]], count: Callable[[int], int]) -> int:
    """What hiding ``k`` costs: relations it would leave with one hidden figure, less the
    ones with one hidden figure it protects (so Requires Improvement, not Outstanding, is
    the one hidden beside a small Inadequate count: trial2 T2-4)."""
    now = [count(i) for i in of.get(k, ())]
    return sum(1 for c in now if c == 0) - sum(1 for c in now if c == 1)


def grade_relations(
    prefix: tuple[Hashable, ...], levels: Sequence[str], good: Collection[str]
) -> list[list[Hashable]]:
    """The relations of one row of grade counts keyed ``prefix + (level,)``, with its
    number of returns ``prefix + ("n",)`` and Good-or-better count ``prefix + ("gob",)``."""
    n, gob = (*prefix, "n"), (*prefix, "gob")
    good_keys: list[Hashable] = [(*prefix, lvl) for lvl in levels if lvl in good]
    bad_keys: list[Hashable] = [(*prefix, lvl) for lvl in levels if lvl not in good]
    return [
        [*good_keys, *bad_keys, n],
        [*good_keys, gob],
        [*bad_keys, gob, n],
    ]
