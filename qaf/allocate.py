"""Sampling and allocation of a cycle (pure: dataclasses in, dataclasses out).

One call, :func:`allocate_cycle`, does the first-working-day job of the QA
officer (DESIGN §1):

1. **Eligible cases** (rule S3): open cases minus closed ones, cases audited
   or allocated in the last N months, and cases already allocated this cycle
   (the re-audits picked below). Every exclusion is counted by reason.
   A programme-of-focus theme (rule C3) in "restrict" mode also excludes the
   cases outside the theme; in "weight" mode theme cases are more likely.
2. **Sample size** (rule S1): ``sample.fraction`` of the eligible cases, per
   year spread over the year's cycles that are not practice weeks (the twelve
   cycles starting with this one, rule C1), or per cycle; rounded up. With
   ``sample.size = "quotas"`` (rule A1) the size is the sum of the quotas of
   the available auditors. The arithmetic is kept in words.
3. **Stratification**: in proportion to the strata (teams by default) by the
   largest-remainder method, with ``sample.team_floor`` per stratum (Rochdale's
   "minimum 4 per team"); every stratum gets one when the sample is at least as
   large as the number of strata, so every team is seen.
4. **Seeded draw** (rule S2): ``random.Random(seed)`` over cases sorted by ID,
   so the same seed, case list and register give the same sample.
5. **Re-audits** (rule A4): cases whose latest return is graded in
   ``reaudit.grades`` and whose re-audit falls due (``after_cycles`` after that
   return's cycle, carried forward while not done), to ``reaudit.role``.
6. **Assignment** (rules A1-A3) as a maximum flow: source -> case groups
   (cases sharing team, service and, when relevant, worker are interchangeable)
   -> auditors (capacity: the quota) -> sink. Eligibility: nobody audits their
   own caseload, the scope of the role (own-team / outside-own-team /
   outside-own-service / any), available on the cycle's first working day.
   Load is balanced by raising a common capacity level 1, 2, ... up to each
   quota and stopping at the first level where the flow is as large as it can
   be at all. Cases the flow cannot place are listed with the exact reason.
7. **Moderation** (rule M1): returns of the previous cycle, every return with
   a grade in ``moderation.always`` plus a seeded random ``fraction``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from functools import lru_cache, partial
from operator import attrgetter
from typing import Any

from qaf.calendar import (
    MONTH_NAMES,
    WorkingCalendar,
    parse_duration,
    parse_quarter,
    quarter_of,
    shift_cycle,
)
from qaf.config import Config, Quota
from qaf.grades import normalise
from qaf.records import Allocation, AllocationType, Case, StaffMember

_norm = lru_cache(maxsize=65536)(normalise)

MONTHS = MONTH_NAMES[1:]  # January ... December

# Exclusion reasons (rule S3, C3), in the order they are tested.
CLOSED = "closed"
RECENT = "audited or allocated in the last {n} months"
ALREADY = "already allocated this cycle (re-audit)"
OUTSIDE_THEME = 'outside the focus theme "{theme}"'


def month_name(cycle: str) -> str:
    """ "2027-06" -> "June 2027"."""
    return f"{MONTHS[int(cycle[5:7]) - 1]} {cycle[:4]}"


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class PriorReturn:
    """A stored return, as allocation needs it (rules A4, M1)."""

    return_id: int
    audit_id: str | None
    case_id: str
    cycle: str
    overall: str | None
    reaudit_round: int = 0
    auditor: str = ""
    type: str = "audit"
    team: str = ""
    worker: str = ""
    tool: str = ""


@dataclass(frozen=True)
class History:
    """What the register knows that the cycle's allocation depends on."""

    recently_audited: frozenset[str] = frozenset()  # S3: case IDs within the window
    reaudit_candidates: tuple[PriorReturn, ...] = ()  # A4: latest return per case, graded
    reaudited: frozenset[str] = frozenset()  # A4: audit IDs already re-audited elsewhere
    previous_cycle: str | None = None  # M1: the cycle whose returns are moderated
    previous_returns: tuple[PriorReturn, ...] = ()  # M1
    already_moderated: frozenset[str] = frozenset()  # M1: audit IDs picked before
    # A1: (cycle, auditor, tool, allocations) of audits since the first cycle of the
    # quarter / year quotas' periods (GAPS 1)
    period_counts: tuple[tuple[str, str, str, int], ...] = ()
    # GAPS 7: (cycle, subject, tool, allocations) of staff audits in the last 12 months and
    # since the first cycle of the staff quotas' periods
    subject_counts: tuple[tuple[str, str, str, int], ...] = ()


# ----------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Unallocated:
    case_id: str
    reason: str
    type: AllocationType = "audit"

    def as_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "reason": self.reason}


@dataclass(frozen=True)
class ModerationPick:
    """A return picked for moderation (rule M1)."""

    audit_id: str
    return_id: int
    case_id: str
    auditor: str
    overall: str | None
    reason: str  # "always: Inadequate" | "random 15%"
    moderator: str
    moderator_email: str
    due: date

    def as_json(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "return_id": self.return_id,
            "case_id": self.case_id,
            "auditor": self.auditor,
            "overall": self.overall,
            "reason": self.reason,
            "moderator": self.moderator,
            "moderator_email": self.moderator_email,
            "due": self.due.isoformat(),
        }


@dataclass(frozen=True)
class Arithmetic:
    """How the sample size was reached (rule S1), with the sentence that says it."""

    open_cases: int
    eligible: int
    excluded: tuple[tuple[str, int], ...]  # (reason, count), rule S3
    mode: str  # "fraction" | "quotas"
    fraction: float
    per: str  # "year" | "cycle"
    cycles: int  # cycles the yearly fraction is spread over
    practice_weeks: tuple[str, ...]  # practice-week cycles in that year
    base_size: int  # before per-stratum floors
    size: int  # the sample drawn
    strata: tuple[tuple[str, int, int], ...]  # (stratum, eligible, sampled)
    stratify_by: str | None
    theme: str | None
    theme_mode: str
    theme_cases: int  # eligible cases in the theme
    words: str
    extra: tuple[tuple[str, int], ...] = ()  # (quota name, cases) drawn on top of the sample

    def as_json(self) -> dict[str, Any]:
        return {
            "open_cases": self.open_cases,
            "eligible": self.eligible,
            "excluded": [{"reason": r, "count": n} for r, n in self.excluded],
            "mode": self.mode,
            "fraction": self.fraction,
            "per": self.per,
            "cycles": self.cycles,
            "practice_weeks": list(self.practice_weeks),
            "base_size": self.base_size,
            "size": self.size,
            "stratify_by": self.stratify_by,
            "strata": [{"stratum": s, "eligible": e, "sampled": n} for s, e, n in self.strata],
            "theme": self.theme,
            "theme_mode": self.theme_mode,
            "theme_cases": self.theme_cases,
            "extra": [{"quota": q, "cases": n} for q, n in self.extra],
            "words": self.words,
        }


@dataclass(frozen=True)
class AllocationResult:
    cycle: str
    seed: int
    first_day: date
    due: date
    arithmetic: Arithmetic
    allocations: tuple[Allocation, ...]
    unallocated: tuple[Unallocated, ...]
    moderation: tuple[ModerationPick, ...]
    practice_week: bool = False
    notes: tuple[str, ...] = ()
    # audit ID -> the theme of focus of an allocation whose case the service picks (GAPS 13)
    themes: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The documented shape of ``qaf allocate --format json`` (DESIGN §5)."""
        return {
            "cycle": self.cycle,
            "seed": self.seed,
            "allocations": [self.allocation_json(a) for a in self.allocations],
            "unallocated": [u.as_json() for u in self.unallocated],
            "moderation": [m.as_json() for m in self.moderation],
            "arithmetic": self.arithmetic.as_json(),
            "first_day": self.first_day.isoformat(),
            "due": self.due.isoformat(),
        }

    def allocation_json(self, a: Allocation) -> dict[str, Any]:
        """An allocation's JSON; one the service picks the case of also has its ``theme``."""
        data = a.as_json()
        if a.picked_by == "service":
            data["theme"] = self.themes.get(a.audit_id, "")
        return data

    def loads(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for a in self.allocations:
            out[a.auditor] += 1
        return dict(out)


# ------------------------------------------------------------ eligibility


def theme_matches(case: Case, criteria: Mapping[str, tuple[str, ...]]) -> bool:
    """Rule C3: a case is in a theme when any configured column has an accepted value."""
    if not criteria:
        return True
    for column, values in criteria.items():
        v = case.value(column)
        if v is not None and normalise(str(v)) in {normalise(x) for x in values}:
            return True
    return False


def weighted_sample(
    pool: Sequence[Case], favoured: set[str], weight: float, k: int, rng: random.Random
) -> list[Case]:
    """``k`` cases without replacement, each favoured case ``weight`` times as likely (C3).

    Successive sampling over the two classes: each draw picks the favoured class
    with probability ``weight * F / (weight * F + O)`` (F, O: cases left in each),
    then a case uniformly within it. O(k) random numbers, not O(len(pool)).
    """
    fav = [c for c in pool if c.case_id in favoured]
    other = [c for c in pool if c.case_id not in favoured]
    return _weighted_draw(fav, other, weight, k, rng)


def _weighted_draw(
    fav: list[Case], other: list[Case], weight: float, k: int, rng: random.Random
) -> list[Case]:
    """:func:`weighted_sample` of a pool already split (in pool order) into its favoured
    and other cases; the lists are used up."""
    out = []
    pool = len(fav) + len(other)
    for _ in range(min(k, pool)):
        wf = weight * len(fav)
        side = fav if (other == [] or rng.random() * (wf + len(other)) < wf) else other
        i = rng.randrange(len(side))
        side[i], side[-1] = side[-1], side[i]
        out.append(side.pop())
    return out


def _theme_sets(criteria: Mapping[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    return {c: frozenset(normalise(x) for x in vs) for c, vs in criteria.items()}


_CASE_ATTRS = frozenset({"case_id", "team", "worker", "service", "category", "status", "name"})


def _theme_test(sets: Mapping[str, frozenset[str]]) -> Callable[[Case], bool]:
    """A fast "is this case in the theme" test (rule C3), memoised per raw cell value."""
    # (column, is a Case attribute, accepted values, memo): the other columns are read
    # from case.extra directly, one call less for each of 50,000 cases
    tests: list[tuple[str, bool, frozenset[str], dict[Any, bool]]] = [
        (c, c in _CASE_ATTRS, accepted, {}) for c, accepted in sets.items()
    ]

    def test(case: Case) -> bool:
        for column, attribute, accepted, memo in tests:
            v = getattr(case, column) if attribute else case.extra.get(column)
            if v is None:
                continue
            hit = memo.get(v)
            if hit is None:
                hit = memo[v] = normalise(str(v)) in accepted
            if hit:
                return True
        return False

    return test


def _extra(column: str, case: Case) -> Any:
    return case.extra.get(column)


def _column_getter(column: str) -> Callable[[Case], Any]:
    """``Case.value(column)`` as one call, for loops over every case of the list."""
    return attrgetter(column) if column in _CASE_ATTRS else partial(_extra, column)


def year_cycles(cycle: str, practice_weeks: Iterable[str]) -> tuple[int, tuple[str, ...]]:
    """Cycles of the twelve months starting with ``cycle`` that are not practice weeks."""
    window = {shift_cycle(cycle, i) for i in range(12)}
    practice = tuple(sorted(c for c in set(practice_weeks) if c in window))
    return 12 - len(practice), practice


def sample_size(eligible: int, fraction: float, per: str, cycles: int) -> int:
    """Rule S1, exactly (no float rounding): ceil(fraction x eligible [/ cycles])."""
    exact = Fraction(str(fraction)) * eligible
    if per == "year":
        exact /= max(cycles, 1)
    return math.ceil(exact)


def largest_remainder(
    sizes: Mapping[str, int], total: int, floor: int = 0, *, every: bool = True
) -> dict[str, int]:
    """Split ``total`` over strata in proportion to their sizes (largest remainder).

    Each stratum first gets ``min(size, floor)``, and at least one case when
    ``every`` is set (rule S1: "stratified by team so every team is seen"); these
    minimums may raise the total above ``total``. The rest is shared in
    proportion to the cases each stratum has left; ties between equal remainders
    go to the larger stratum, then by name.
    """
    keys = sorted(k for k, n in sizes.items() if n > 0)
    total = min(total, sum(sizes[k] for k in keys))
    at_least = 1 if every and total > 0 else 0
    out = {k: min(sizes[k], max(floor, at_least)) for k in keys}
    rest = total - sum(out.values())
    if rest <= 0:
        return out
    left = {k: sizes[k] - out[k] for k in keys}
    pool = sum(left.values())
    shares = {k: Fraction(rest * left[k], pool) for k in keys}
    for k in keys:
        out[k] += math.floor(shares[k])
    remaining = rest - sum(math.floor(s) for s in shares.values())
    order = sorted(keys, key=lambda k: (-(shares[k] - math.floor(shares[k])), -sizes[k], k))
    for k in order[:remaining]:
        out[k] += 1
    return out


# ------------------------------------------------------------- assignment


@dataclass(frozen=True)
class Auditor:
    """A node of the assignment: one auditor under one quota (or a team, ``unit = "team"``)."""

    member: StaffMember
    capacity: int
    scope: str
    tool: str
    quota: Quota | None = None
    # unit = "team": the team's available holders of the role, who share its count; the
    # node's ``member`` then stands for the team (no name, so no own-caseload test at the node)
    members: tuple[StaffMember, ...] = ()
    filter_id: int = -1  # index of the quota's ``cases`` filter (rule A1, GAPS 4); -1: none


@dataclass
class _Group:
    key: tuple[Any, ...]
    team: str
    service: str
    worker: str  # only set when the worker is an auditor
    excluded: str  # another auditor name excluded (re-audit: the previous auditor)
    items: list[Any] = field(default_factory=list)
    manager: str = ""  # the worker's line manager, when a "line-managed" scope needs it
    tags: frozenset[int] = frozenset()  # the quota ``cases`` filters its cases match


def may_audit(
    auditor: Auditor,
    team: str,
    service: str,
    worker: str,
    excluded: str = "",
    manager: str = "",
) -> bool:
    """Rule A2: independence and scope. Own caseload is never audited.

    ``excluded`` is one more person who may not audit the case (for a re-audit,
    the auditor of the previous audit); ``manager`` is the worker's line manager
    (scope "line-managed").
    """
    return _allowed(
        _auditor_key(auditor),
        (_norm(team), _norm(service), _norm(worker), _norm(excluded), _norm(manager)),
    )


def _auditor_key(a: Auditor) -> tuple[str, str, str, str]:
    m = a.member
    return (_norm(m.name), _norm(m.team), _norm(m.service), a.scope)


def _group_key(g: _Group) -> tuple[str, str, str, str, str]:
    return (_norm(g.team), _norm(g.service), _norm(g.worker), _norm(g.excluded), _norm(g.manager))


def _allowed(a: tuple[str, str, str, str], g: tuple[str, str, str, str, str]) -> bool:
    name, team, service, scope = a
    if name and (name == g[2] or name == g[3]):
        return False
    if scope == "own-team":
        return team == g[0]
    if scope == "outside-own-team":
        return team != g[0]
    if scope == "outside-own-service":
        return service != g[1]
    if scope == "own-service":
        return service == g[1]
    if scope == "line-managed":
        return bool(name) and name == g[4]
    return True


def eligibility(groups: Sequence[_Group], auditors: Sequence[Auditor]) -> list[list[int]]:
    """For each group, the auditors (by index, in ``auditors`` order) who may audit it (A2)."""
    keys = [_auditor_key(a) for a in auditors]
    by_name: dict[str, list[int]] = defaultdict(list)
    for j, k in enumerate(keys):
        if k[0]:  # a team node has no name (unit = "team")
            by_name[k[0]].append(j)
    by_scope: dict[str, list[int]] = defaultdict(list)
    for j, k in enumerate(keys):
        by_scope[k[3]].append(j)
    team = [k[1] for k in keys]
    service = [k[2] for k in keys]
    filters = [a.filter_id for a in auditors]
    filtered = any(f >= 0 for f in filters)
    out = []
    for g in groups:
        gt, gs, gw, gx, gm = _group_key(g)
        banned = set(by_name.get(gw, ())) | set(by_name.get(gx, ())) if (gw or gx) else set()
        allowed = (
            [j for j in by_scope.get("any", ()) if j not in banned]
            + [j for j in by_scope.get("own-team", ()) if team[j] == gt and j not in banned]
            + [j for j in by_scope.get("outside-own-team", ()) if team[j] != gt and j not in banned]
            + [
                j
                for j in by_scope.get("outside-own-service", ())
                if service[j] != gs and j not in banned
            ]
            + [j for j in by_scope.get("own-service", ()) if service[j] == gs and j not in banned]
            + [
                j
                for j in by_scope.get("line-managed", ())
                if gm and keys[j][0] == gm and j not in banned
            ]
        )
        if filtered:
            allowed = [j for j in allowed if filters[j] < 0 or filters[j] in g.tags]
        allowed.sort()
        out.append(allowed)
    return out


def assign(
    groups: Sequence[_Group],
    auditors: Sequence[Auditor],
    eligible: list[list[int]] | None = None,
) -> dict[int, list[tuple[int, int]]]:
    """Maximum assignment of the groups' cases to auditors within capacities, balanced.

    A bipartite b-matching solved as a maximum flow by augmenting paths (so it
    finds an assignment whenever one exists, unlike greedy first-fit). Load is
    balanced by a common capacity level raised 1, 2, ... up to each auditor's
    quota: at each level the flow is augmented to its maximum, and the level
    stops rising as soon as it adds nothing (the maximum flow is a concave
    function of the level, so it can never grow again). Nobody therefore gets
    k + 1 cases while the rules would allow the same number of cases to be placed
    with at most k each. Returns group index -> [(auditor index, count)].
    """
    if not groups or not auditors:
        return {}
    if eligible is None:
        eligible = eligibility(groups, auditors)
    ng, na = len(groups), len(auditors)
    need = [len(g.items) for g in groups]
    flow: list[dict[int, int]] = [{} for _ in range(ng)]  # group -> auditor -> count
    users: list[dict[int, int]] = [{} for _ in range(na)]  # auditor -> group -> count
    used = [0] * na
    top = max(a.capacity for a in auditors)
    placed = 0
    for level in range(1, top + 1):
        cap = [min(a.capacity, level) for a in auditors]
        before = placed
        # greedy pass, then augmenting paths for what greedy could not place
        for i in range(ng):
            if not need[i]:
                continue
            for j in eligible[i]:
                spare = cap[j] - used[j]
                if spare > 0:
                    k = min(spare, need[i])
                    flow[i][j] = flow[i].get(j, 0) + k
                    users[j][i] = users[j].get(i, 0) + k
                    used[j] += k
                    need[i] -= k
                    placed += k
                    if not need[i]:
                        break
        dead_g = [False] * ng
        dead_a = [False] * na
        for i in range(ng):
            while need[i] and not dead_g[i]:
                if _augment(i, eligible, cap, used, flow, users, dead_g, dead_a):
                    need[i] -= 1
                    placed += 1
        if placed == before or not any(need):
            break
    return {i: sorted(flow[i].items()) for i in range(ng) if flow[i]}


def _augment(
    start: int,
    eligible: list[list[int]],
    cap: list[int],
    used: list[int],
    flow: list[dict[int, int]],
    users: list[dict[int, int]],
    dead_g: list[bool],
    dead_a: list[bool],
) -> bool:
    """One unit from group ``start`` along an augmenting path (BFS); False if none.

    When the search fails, everything it reached is closed (every auditor full,
    every group using them explored) and stays so until capacities change, so it
    is marked dead and never searched again: each failure costs one pass.
    """
    parent_a: dict[int, int] = {}  # auditor -> group it was reached from
    parent_g: dict[int, int] = {start: -1}  # group -> auditor it was reached through
    queue = deque([start])
    while queue:
        g = queue.popleft()
        for j in eligible[g]:
            if dead_a[j] or j in parent_a:
                continue
            parent_a[j] = g
            if used[j] < cap[j]:
                # found: walk back, moving one case along the path
                used[j] += 1
                while True:
                    gg = parent_a[j]
                    flow[gg][j] = flow[gg].get(j, 0) + 1
                    users[j][gg] = users[j].get(gg, 0) + 1
                    prev = parent_g[gg]
                    if prev < 0:
                        return True
                    # gg gives up one case at auditor prev
                    flow[gg][prev] -= 1
                    if not flow[gg][prev]:
                        del flow[gg][prev]
                    users[prev][gg] -= 1
                    if not users[prev][gg]:
                        del users[prev][gg]
                    j = prev
            for g2 in users[j]:
                if g2 not in parent_g and not dead_g[g2]:
                    parent_g[g2] = j
                    queue.append(g2)
    for g in parent_g:
        dead_g[g] = True
    for j in parent_a:
        dead_a[j] = True
    return False


# --------------------------------------------------------------- the cycle


def quota_auditors(
    staff: Sequence[StaffMember], quotas: Sequence[Quota], day: date
) -> tuple[list[Auditor], int]:
    """Available staff with a quota role (rules A1, A3); also how many are unavailable."""
    found = quota_nodes(staff, quotas, day)
    return found.nodes, found.away


def member_matches(member: StaffMember, criteria: Mapping[str, tuple[str, ...]]) -> bool:
    """A roster row is in a quota's ``auditors`` filter when any listed column has a listed value
    (the same reading as a theme's case filter, rule C3)."""
    for column, values in criteria.items():
        v = getattr(member, column, None)
        if v is not None and _norm(str(v)) in {_norm(x) for x in values}:
            return True
    return False


def quotas_of(member: StaffMember, quotas: Sequence[Quota]) -> list[Quota]:
    """The case quotas that apply to a member of staff (rule A1).

    Precedence: a quota with an ``auditors`` filter that matches the member replaces the
    quotas of the same role and tool without one (Lancashire's MASH managers do two
    learning spaces a month instead of one a quarter). A filtered quota that does not
    match does not apply. Quotas whose subject is a person (``subject = "staff"``) are not
    case quotas and are left out here.
    """
    return quota_lookup(quotas)(member)


def quota_lookup(
    quotas: Sequence[Quota], subject: str = "case"
) -> Callable[[StaffMember], list[Quota]]:
    """:func:`quotas_of` for many members: the quotas indexed by role once (those of
    ``subject`` "case", or "staff" for the staff-audit quotas)."""
    by_role: dict[str, list[Quota]] = defaultdict(list)
    for q in quotas:
        if q.subject == subject:
            by_role[_norm(q.role)].append(q)
    filtered = {role for role, qs in by_role.items() if any(q.auditors for q in qs)}

    def of(member: StaffMember) -> list[Quota]:
        role = _norm(member.role)
        mine = by_role.get(role)
        if not mine:
            return []
        if role not in filtered:
            return mine
        hits = [q for q in mine if q.auditors and member_matches(member, q.auditors)]
        replaced = {_norm(q.tool) for q in hits}
        return [
            q
            for q in mine
            if any(q is h for h in hits) or (not q.auditors and _norm(q.tool) not in replaced)
        ]

    return of


@dataclass
class QuotaNodes:
    """The assignment nodes of some quotas on one day (rules A1, A3)."""

    nodes: list[Auditor]
    away: int  # unavailable staff who hold one of these quotas
    # unit = "team": normalised team -> why its cases cannot be placed (nobody available, A3)
    team_gaps: dict[str, str] = field(default_factory=dict)


def case_filter_ids(quotas: Sequence[Quota]) -> list[Mapping[str, tuple[str, ...]]]:
    """The distinct ``cases`` filters of the quotas; a quota's filter id is its index here."""
    out: list[Mapping[str, tuple[str, ...]]] = []
    for q in quotas:
        if q.cases and q.cases not in out:
            out.append(q.cases)
    return out


def quota_nodes(
    staff: Sequence[StaffMember],
    quotas: Sequence[Quota],
    day: date,
    *,
    only: Callable[[Quota], bool] | None = None,
    capacity: Callable[[Quota, StaffMember], int] | None = None,
    filters: Sequence[Mapping[str, tuple[str, ...]]] = (),
) -> QuotaNodes:
    """One node per available auditor and quota, in roster order, or per team (``unit =
    "team"``: the team's count, shared by its available holders of the role).

    ``quotas`` are all the quotas (precedence looks at every one, :func:`quotas_of`); ``only``
    keeps the ones wanted here (e.g. the sample's). ``capacity`` gives the auditor's count
    this cycle (default ``per_cycle``; quarter and year quotas pass what is owed, rule A1).
    A team whose holders of the role are all unavailable gets no node; ``team_gaps`` says
    why its cases stay unallocated (rule A3).
    """
    nodes: list[Auditor] = []
    away = 0
    teams: dict[tuple[int, str], list[StaffMember]] = {}  # (quota index, team) -> holders
    team_slot: dict[tuple[int, str], int] = {}  # where the team's node goes in ``nodes``
    index = {id(q): i for i, q in enumerate(quotas)}
    applies = quota_lookup(quotas)
    for m in staff:
        mine = [q for q in applies(m) if only is None or only(q)]
        if not mine:
            continue
        present = m.available_on(day)
        counted = False
        for q in mine:
            if q.unit == "team":
                key = (index[id(q)], _norm(m.team))
                if key not in team_slot:
                    team_slot[key] = len(nodes)
                    nodes.append(Auditor(m, 0, q.scope, q.tool, q))  # placeholder
                    teams[key] = []
                if present:
                    teams[key].append(m)
                elif not counted:
                    away += 1
                    counted = True
                continue
            n = capacity(q, m) if capacity else q.per_cycle
            if n <= 0:
                continue
            if not present:
                if not counted:
                    away += 1
                    counted = True
                continue
            fid = filters.index(q.cases) if q.cases and q.cases in filters else -1
            nodes.append(Auditor(m, n, q.scope, q.tool, q, filter_id=fid))
    gaps: dict[str, str] = {}
    for key, slot in team_slot.items():
        first = nodes[slot]
        tq = first.quota
        assert tq is not None
        holders = teams[key]
        fid = filters.index(tq.cases) if tq.cases and tq.cases in filters else -1
        if holders and tq.per_cycle > 0:
            stand_in = StaffMember("", "", tq.role, first.member.team, first.member.service)
            nodes[slot] = Auditor(
                stand_in, tq.per_cycle, tq.scope, tq.tool, tq, tuple(holders), filter_id=fid
            )
        else:
            nodes[slot] = Auditor(first.member, 0, tq.scope, tq.tool, tq)
            if tq.per_cycle > 0:
                team = first.member.team or "no team"
                gaps[key[1]] = (
                    f"no available {tq.role} in {team} for the team's "
                    f"{_n(tq.per_cycle, tq.name or 'audit')} "
                    f"(rule A3: every {tq.role} of the team is unavailable)"
                )
    return QuotaNodes([a for a in nodes if a.capacity > 0], away, gaps)


def cycle_themes(cfg: Config, cycle: str) -> tuple[str, ...]:
    """The cycle's programme-of-focus themes this month (rule C3)."""
    themes = cfg.cycle.focus_themes.get(cycle)
    if themes:
        return tuple(themes)
    theme = cfg.cycle.focus.get(cycle)
    return (theme,) if theme else ()


def quota_themes(cfg: Config, quota: Quota, cycle: str) -> tuple[str, ...]:
    """A quota's themes this month: its own programme when it has one, else the cycle's (C3)."""
    if quota.focus is not None:
        return tuple(quota.focus.get(cycle, ()))
    return cycle_themes(cfg, cycle)


def theme_criteria(cfg: Config, themes: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The case filters of several themes merged: a case in any of them is in focus (C3)."""
    criteria: dict[str, tuple[str, ...]] = {}
    for t in themes:
        for column, values in cfg.cycle.themes.get(t, {}).items():
            criteria[column] = (*criteria.get(column, ()), *values)
    return criteria


FOCUS_TAG = -1  # a group tag: the group's cases are in the quota's focus (extra draws)


def _tagger(
    filters: Sequence[Mapping[str, tuple[str, ...]]],
    focus: Callable[[Case], bool] | None = None,
) -> Callable[[Case], frozenset[int]] | None:
    """Which quota ``cases`` filters (by index) a case matches, plus FOCUS_TAG when in focus."""
    if not filters and focus is None:
        return None
    tests = [(i, _theme_test(_theme_sets(f))) for i, f in enumerate(filters)]

    def tags(case: Case) -> frozenset[int]:
        out = {i for i, test in tests if test(case)}
        if focus is not None and focus(case):
            out.add(FOCUS_TAG)
        return frozenset(out)

    return tags


class _ToolChooser:
    """Rule A1 (GAPS 6): the tool of an allocation is the first ``tool_by_theme`` theme its
    case is in, else the quota's tool."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.tests: dict[str, Callable[[Case], bool]] = {}

    def __call__(self, node: Auditor, case: Case) -> str:
        q = node.quota
        if q is None or not q.tool_by_theme:
            return node.tool
        for theme, tool in q.tool_by_theme.items():
            test = self.tests.get(theme)
            if test is None:
                sets = _theme_sets(self.cfg.cycle.themes.get(theme, {}))
                test = self.tests[theme] = _theme_test(sets) if sets else (lambda c: False)
            if test(case):
                return tool
        return node.tool


Placed = tuple[Case, StaffMember, str, str, "PriorReturn | None"]  # case, auditor, tool, type, prev


def period_cycles(cycle: str, period: str, financial_year: bool = False) -> tuple[str, ...]:
    """The cycles of the quarter or year ``cycle`` is in (financial: from April), or itself."""
    if period == "quarter":
        return parse_quarter(quarter_of(cycle, financial_year), financial_year)
    if period == "year":
        year, month = int(cycle[:4]), int(cycle[5:7])
        start = f"{year - 1 if financial_year and month < 4 else year:04d}-" + (
            "04" if financial_year else "01"
        )
        return tuple(shift_cycle(start, i) for i in range(12))
    return (cycle,)


def period_start(cfg: Config, cycle: str) -> str | None:
    """The earliest first cycle of the quarter / year quotas' periods (None: none)."""
    starts = [
        period_cycles(cycle, q.period, cfg.report.financial_year)[0]
        for q in cfg.quotas
        if q.period != "cycle"
    ]
    return min(starts) if starts else None


def period_capacity(
    cfg: Config,
    cycle: str,
    staff: Sequence[StaffMember],
    day: date,
    history: History,
    seed: int,
) -> Callable[[Quota, StaffMember], int] | None:
    """Counts for quarter and year quotas this cycle (rule A1, GAPS 1); None when none.

    Each holder of the quota owes ``per_period`` minus the allocations of the quota's
    tools they have had since the period's first cycle (``history.period_counts``). The
    owed audits are spread evenly over the cycles left in the period (practice weeks
    left out, rule C1): each available holder gets ``owed // cycles_left`` this cycle,
    and ``ceil(sum of the remainders / cycles_left)`` holders (seeded, largest remainder
    first) one more; in the last cycle everyone gets what they still owe. A holder away
    now (A3) is simply owed more later. ``unit = "team"`` quotas keep ``per_cycle``.
    """
    periodic = [q for q in cfg.quotas if q.period != "cycle" and q.unit == "auditor"]
    if not periodic:
        return None
    practice = set(cfg.cycle.practice_weeks)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for c, auditor, tool, n in history.period_counts:
        counts[(_norm(auditor), c + "|" + tool)] += n
    given: dict[tuple[int, str], int] = {}
    lookups = {kind: quota_lookup(cfg.quotas, kind) for kind in ("case", "staff")}
    for qi, q in enumerate(periodic):
        applies = lookups[q.subject]
        cycles = period_cycles(cycle, q.period, cfg.report.financial_year)
        done_cycles = [c for c in cycles if c < cycle]
        left = max(1, sum(1 for c in cycles if c >= cycle and (c == cycle or c not in practice)))
        tools = {q.tool, *q.tool_by_theme.values()}
        owed: list[tuple[StaffMember, int]] = []
        for m in staff:
            if _norm(m.role) != _norm(q.role) or not m.available_on(day):
                continue
            if not any(x is q for x in applies(m)):
                continue
            had = sum(
                counts.get((_norm(m.name), c + "|" + t), 0) for c in done_cycles for t in tools
            )
            if q.per_period > had:
                owed.append((m, q.per_period - had))
        rng = random.Random(f"{seed}:period:{qi}")
        owed.sort(key=lambda x: x[0].name)
        rng.shuffle(owed)
        owed.sort(key=lambda x: -(x[1] % left))
        extra = math.ceil(sum(n % left for _, n in owed) / left)
        for i, (m, n) in enumerate(owed):
            bonus = 1 if (i < extra and n % left) else 0
            given[(id(q), _norm(m.name))] = n // left + bonus

    def capacity(q: Quota, m: StaffMember) -> int:
        if q.period == "cycle" or q.unit != "auditor":
            return q.per_cycle
        return given.get((id(q), _norm(m.name)), 0)

    return capacity


def allocate_cycle(
    cycle: str,
    cases: Sequence[Case],
    staff: Sequence[StaffMember],
    cfg: Config,
    calendar: WorkingCalendar,
    history: History,
    seed: int,
) -> AllocationResult:
    """Sample, re-audits, assignment and moderation picks for one cycle (see module doc)."""
    rng = random.Random(seed)
    first_day, _last = calendar.cycle_window(cycle)
    due = calendar.due_date(cycle, cfg.cycle.due)
    practice_week = cycle in cfg.cycle.practice_weeks
    window = cfg.sample.exclude_audited_within_months
    closed = {normalise(s) for s in cfg.cases.closed}
    notes: list[str] = []
    case_quotas = [q for q in cfg.quotas if q.subject == "case" and q.allocated_by == "qaf"]
    sample_quotas = [q for q in case_quotas if q.draw == "sample"]
    extra_quotas = [q for q in case_quotas if q.draw == "extra"]

    # ---- re-audits first: they are "already allocated this cycle" for the sample (A4, S3)
    reaudits, reaudit_unallocated = _reaudits(cycle, cases, closed, cfg, history, seed)
    reaudit_cases = {r[0].case_id for r in reaudits}

    # ---- eligibility (S3, C3): the cycle's focus, or the sample quotas' own programmes
    if any(q.focus is not None for q in sample_quotas):
        themes = tuple(dict.fromkeys(t for q in sample_quotas for t in quota_themes(cfg, q, cycle)))
    else:
        themes = cycle_themes(cfg, cycle)
    theme = " / ".join(themes) or None
    criteria = theme_criteria(cfg, themes)
    sets = _theme_sets(criteria)
    restrict = bool(theme and criteria and cfg.cycle.focus_mode == "restrict")
    recent_reason = RECENT.format(n=window)
    theme_reason = OUTSIDE_THEME.format(theme=theme)
    excluded: dict[str, int] = defaultdict(int)
    eligible: list[Case] = []
    unrestricted: list[Case] = []  # eligible before the theme restriction (extra draws)
    in_theme: set[str] = set()
    open_count = 0
    recent = history.recently_audited if window > 0 else frozenset()
    is_closed: dict[str, bool] = {}  # raw status -> closed?, normalised once per value
    in_theme_of = _theme_test(sets)
    for c in sorted(cases, key=attrgetter("case_id")):
        shut = is_closed.get(c.status)
        if shut is None:
            shut = is_closed[c.status] = normalise(c.status or "") in closed
        if shut:
            excluded[CLOSED] += 1
            continue
        open_count += 1
        if c.case_id in reaudit_cases:
            excluded[ALREADY] += 1
            continue
        if c.case_id in recent:
            excluded[recent_reason] += 1
            continue
        if extra_quotas:
            unrestricted.append(c)
        if sets:
            if in_theme_of(c):
                in_theme.add(c.case_id)
            elif restrict:
                excluded[theme_reason] += 1
                continue
        eligible.append(c)

    # ---- auditors (A1, A3)
    filters = case_filter_ids(case_quotas)
    capacity = period_capacity(cfg, cycle, staff, first_day, history, seed)
    found = quota_nodes(
        staff,
        cfg.quotas,
        first_day,
        only=lambda q: q.draw == "sample" and q.allocated_by == "qaf",
        capacity=capacity,
        filters=filters,
    )
    auditors, away = found.nodes, found.away
    rng.shuffle(auditors)  # who gets the spare capacity varies by seed, fairly

    # ---- size (S1, A1)
    cycles_n, practice = year_cycles(cycle, cfg.cycle.practice_weeks)
    quota_total = sum(a.capacity for a in auditors)
    if cfg.sample.size == "quotas":
        base = min(quota_total, len(eligible))
    else:
        base = min(
            sample_size(len(eligible), cfg.sample.fraction, cfg.sample.per, cycles_n), len(eligible)
        )

    # ---- strata and the seeded draw (S1, S2, C3)
    strat = cfg.sample.stratify_by
    floor = cfg.sample.team_floor if strat else 0
    if strat == "team":  # a team quota within the team is a floor for every team (GAPS 2)
        team_counts = [
            q.per_cycle for q in sample_quotas if q.unit == "team" and q.scope == "own-team"
        ]
        floor = max(floor, sum(team_counts))
    strata: dict[str, list[Case]] = defaultdict(list)
    weight = cfg.cycle.focus_weight if (theme and sets and not restrict) else 1.0
    # each stratum's favoured and other cases, in stratum order (C3): split as the strata
    # are made, not by a look-up of every case in ``in_theme`` for each stratum again
    split: dict[str, tuple[list[Case], list[Case]]] = {}
    if strat:
        stratum_of = _column_getter(strat)
        if weight != 1.0:
            for c in eligible:
                key = stratum_of(c) or ""
                strata[key].append(c)
                halves = split.get(key) or split.setdefault(key, ([], []))
                halves[c.case_id not in in_theme].append(c)
        else:
            for c in eligible:
                strata[stratum_of(c) or ""].append(c)
    elif eligible:
        strata[""] = list(eligible)
    shares = largest_remainder(
        {k: len(v) for k, v in strata.items()},
        base,
        floor,
        every=bool(strat) and cfg.sample.size != "quotas",
    )
    sample: list[Case] = []
    strata_rows = []
    for key in sorted(strata):
        pool = strata[key]
        k = shares.get(key, 0)
        strata_rows.append((key, len(pool), k))
        if k <= 0:
            continue
        if weight != 1.0 and key in split:
            sample.extend(_weighted_draw(*split[key], weight, k, rng))
        elif weight != 1.0:
            sample.extend(weighted_sample(pool, in_theme, weight, k, rng))
        else:
            sample.extend(rng.sample(pool, k))
    size = len(sample)
    sample.sort(key=lambda c: (c.team, c.case_id))

    # ---- assignment of the sample (A1-A3)
    tool_for = _ToolChooser(cfg)
    placed: list[Placed] = []
    unallocated: list[Unallocated] = []
    auditor_names = {normalise(a.member.name) for a in auditors} | {
        _norm(m.name) for a in auditors for m in a.members
    }
    line_managed = any(a.scope == "line-managed" for a in auditors)
    managers = _managers(staff) if line_managed else None
    groups = _group(
        [(c, "") for c in sample], auditor_names, managers=managers, tagger=_tagger(filters)
    )
    allowed = eligibility(groups, auditors)
    plan = assign(groups, auditors, allowed)
    team_items: dict[int, list[Case]] = defaultdict(list)
    used = [0] * len(auditors)
    unplaced: list[tuple[Case, str]] = []
    for gi, g in enumerate(groups):
        cursor = 0
        for j, count in sorted(plan.get(gi, []), key=lambda x: auditors[x[0]].member.name):
            used[j] += count
            for item in g.items[cursor : cursor + count]:
                if auditors[j].members:
                    team_items[j].append(item[0])
                else:
                    a = auditors[j]
                    placed.append((item[0], a.member, tool_for(a, item[0]), "audit", None))
            cursor += count
        if g.items[cursor:]:
            why = found.team_gaps.get(_norm(g.team)) or _why(
                g, [auditors[j] for j in allowed[gi]], len(auditors), away
            )
            unplaced.extend((item[0], why) for item in g.items[cursor:])
    if cfg.sample.size == "quotas" and unplaced:
        # The sample is the quotas (A1): a drawn case no quota with room may take (scopes)
        # goes back, and the auditors with room draw cases they may audit instead.
        unplaced, topped, short = _top_up(
            auditors,
            used,
            unplaced,
            found,
            eligible,
            sample,
            staff,
            filters,
            in_theme,
            weight,
            random.Random(f"{seed}:top-up"),
        )
        for j, c in topped:
            if auditors[j].members:
                team_items[j].append(c)
            else:
                placed.append((c, auditors[j].member, tool_for(auditors[j], c), "audit", None))
        size = len(sample)
        drawn_in = Counter((c.value(strat) or "") if strat else "" for c in sample)
        strata_rows = [(k, n, drawn_in[k]) for k, n, _old in strata_rows]
        for who, n in short:
            notes.append(
                f"{who}: {_n(n, 'quota audit')} not given: no eligible case left that they "
                "may audit (rules A1, A2, S3)"
            )
    unallocated.extend(Unallocated(c.case_id, why, "audit") for c, why in unplaced)
    for j in sorted(team_items):
        got, left = _share_in_team(auditors[j], team_items[j], tool_for)
        placed.extend(got)
        unallocated.extend(left)

    # ---- quotas drawn on top of the sample (A1, GAPS 3): same exclusions, own scope
    extra_rows: list[tuple[str, int]] = []
    if extra_quotas:
        xrng = random.Random(f"{seed}:extra")
        taken = {c.case_id for c in sample}
        for q in extra_quotas:
            nodes = quota_nodes(
                staff,
                cfg.quotas,
                first_day,
                only=lambda x, q=q: x is q,  # type: ignore[misc]
                capacity=capacity,
                filters=filters,
            )
            pool = [c for c in unrestricted if c.case_id not in taken]
            got, said = _draw_extra(q, nodes, pool, cfg, cycle, staff, xrng, tool_for)
            taken.update(x[0].case_id for x in got)
            placed.extend(got)
            notes.extend(said)
            extra_rows.append((q.name or q.tool, len(got)))

    # ---- staff audits (GAPS 7): of a person (supervision records, practice), not of a case
    staff_rows: list[tuple[str, int]] = []
    for qi, q in enumerate(x for x in cfg.quotas if x.subject == "staff"):
        got, said = _staff_audits(q, qi, cfg, cycle, staff, first_day, history, seed, capacity)
        placed.extend(got)
        notes.extend(said)
        staff_rows.append((q.name or q.tool, len(got)))

    # ---- quotas whose cases the service picks (GAPS 13): a count per post, no case
    service_rows: list[tuple[str, int]] = []
    themes_of: dict[int, str] = {}  # id(stand-in case) -> the quota's theme this month
    for q in (x for x in cfg.quotas if x.allocated_by == "service"):
        got = _left_to_service(q, staff, cfg.quotas, first_day, capacity)
        theme_text = " / ".join(quota_themes(cfg, q, cycle))
        themes_of.update((id(x[0]), theme_text) for x in got)
        placed.extend(got)
        service_rows.append((q.name or q.tool, len(got)))

    arithmetic = _arithmetic(
        open_count=open_count,
        eligible=len(eligible),
        excluded=excluded,
        cfg=cfg,
        cycles_n=cycles_n,
        practice=practice,
        base=base,
        size=size,
        strata_rows=strata_rows,
        theme=theme,
        theme_cases=len(in_theme) if sets else len(eligible),
        auditors=sum(1 for a in auditors if not a.members),
        teams=sum(1 for a in auditors if a.members),
        quota_total=quota_total,
        floor=floor,
        extra=extra_rows,
        staff_audits=staff_rows,
        by_service=service_rows,
    )

    # ---- assignment of re-audits (A4): the re-audit role, balanced, no quota ceiling
    re_staff = [m for m in staff if normalise(m.role) == normalise(cfg.reaudit.role)]
    re_auditors = [
        Auditor(m, len(reaudits), cfg.reaudit.scope, cfg.reaudit.tool)
        for m in re_staff
        if m.available_on(first_day)
    ]
    re_away = len(re_staff) - len(re_auditors)
    rng.shuffle(re_auditors)
    re_managers = _managers(staff) if cfg.reaudit.scope == "line-managed" else None
    re_groups = _group(
        [(c, prev.auditor, prev) for c, prev in reaudits], set(), reaudit=True, managers=re_managers
    )
    re_allowed = eligibility(re_groups, re_auditors)
    re_plan = assign(re_groups, re_auditors, re_allowed)
    for gi, g in enumerate(re_groups):
        cursor = 0
        for j, count in sorted(re_plan.get(gi, []), key=lambda x: re_auditors[x[0]].member.name):
            for item in g.items[cursor : cursor + count]:
                a = re_auditors[j]
                placed.append((item[0], a.member, a.tool, "reaudit", item[2]))
            cursor += count
        if g.items[cursor:]:
            why = _why(
                g,
                [re_auditors[j] for j in re_allowed[gi]],
                len(re_auditors),
                re_away,
                role=cfg.reaudit.role,
            )
            unallocated.extend(
                Unallocated(item[0].case_id, why, "reaudit") for item in g.items[cursor:]
            )
    unallocated.extend(reaudit_unallocated)

    # ---- audit IDs in a stable order: audits by team and case, then re-audits
    order = {"audit": 0, "reaudit": 1, "moderation": 2}
    placed.sort(key=lambda x: (order[x[3]], x[0].team, x[0].case_id))
    allocations = []
    service_themes: dict[str, str] = {}
    for n, (c, member, tool, kind, prev) in enumerate(placed, start=1):
        subject = c.worker if not c.case_id else ""  # a staff audit's stand-in case has no ID
        audit_id = f"A-{cycle}-{n:04d}"
        if id(c) in themes_of:
            service_themes[audit_id] = themes_of[id(c)]
        allocations.append(
            Allocation(
                audit_id=audit_id,
                cycle=cycle,
                case_id=c.case_id,
                team=c.team,
                service=c.service,
                category=c.category,
                worker=c.worker,
                auditor=member.name,
                auditor_email=member.email,
                auditor_role=member.role,
                tool=tool,
                type=kind,  # type: ignore[arg-type]
                due=due,
                reaudit_of=prev.audit_id if prev else None,
                reaudit_round=(prev.reaudit_round + 1) if prev else 0,
                subject=subject,
            )
        )
    if not auditors and sample:
        notes.append("no available auditor has a quota role (rule A1)")

    moderation = _moderation(cycle, cfg, calendar, first_day, staff, history, rng)
    unallocated.sort(key=lambda u: (order[u.type], u.case_id))
    return AllocationResult(
        cycle=cycle,
        seed=seed,
        first_day=first_day,
        due=due,
        arithmetic=arithmetic,
        allocations=tuple(allocations),
        unallocated=tuple(unallocated),
        moderation=moderation,
        practice_week=practice_week,
        notes=tuple(notes),
        themes=service_themes,
    )


def _left_to_service(
    quota: Quota,
    staff: Sequence[StaffMember],
    quotas: Sequence[Quota],
    day: date,
    capacity: Callable[[Quota, StaffMember], int] | None,
) -> list[Placed]:
    """An ``allocated_by = "service"`` quota (GAPS 13; Lancashire, Dip Samples "allocation by
    the service", "1 per month per post"): each available holder (A1, A3) gets their count
    (``per_cycle``, or what a quarter / year quota owes this cycle) with no case: the stand-in
    case carries the post's team and service, and no case ID or worker, so the allocation
    says the service picks it (``Allocation.picked_by``)."""
    found = quota_nodes(staff, quotas, day, only=lambda x: x is quota, capacity=capacity)
    got: list[Placed] = []
    for node in found.nodes:
        m = node.member
        for _ in range(node.capacity):
            got.append((Case("", m.team, "", m.service, ""), m, quota.tool, "audit", None))
    return got


def _top_up(
    auditors: Sequence[Auditor],
    used: Sequence[int],
    unplaced: list[tuple[Case, str]],
    found: QuotaNodes,
    eligible: Sequence[Case],
    sample: list[Case],
    staff: Sequence[StaffMember],
    filters: Sequence[Mapping[str, tuple[str, ...]]],
    in_theme: set[str],
    weight: float,
    rng: random.Random,
) -> tuple[list[tuple[Case, str]], list[tuple[int, Case]], list[tuple[str, int]]]:
    """``sample.size = "quotas"``: replace the drawn cases no auditor with room may take by
    cases drawn for the auditors with room (rule A1). Cases of a team whose holders are all
    away stay unallocated (A3). ``sample`` is updated in place; returns what is still
    unplaced and (auditor index, case) for the new draws."""
    keep = [(c, why) for c, why in unplaced if _norm(c.team) in found.team_gaps]
    back = {c.case_id for c, why in unplaced if _norm(c.team) not in found.team_gaps}
    room = [(j, auditors[j].capacity - used[j]) for j in range(len(auditors))]
    room = [(j, n) for j, n in room if n > 0]
    if not room:
        return unplaced, [], []
    in_sample = {c.case_id for c in sample}
    pool = [c for c in eligible if c.case_id not in in_sample]
    nodes = [dataclasses.replace(auditors[j], capacity=n) for j, n in room]
    focus = (lambda c: c.case_id in in_theme) if weight != 1.0 else None
    drawn = draw_for_nodes(nodes, pool, staff, rng, filters=filters, focus=focus, weight=weight)
    sample[:] = [c for c in sample if c.case_id not in back]
    topped: list[tuple[int, Case]] = []
    for (j, _n), cases in zip(room, drawn, strict=True):
        sample.extend(cases)
        topped.extend((j, c) for c in cases)
    sample.sort(key=lambda c: (c.team, c.case_id))
    short = [
        (auditors[j].member.name or auditors[j].member.team, n - len(cases))
        for (j, n), cases in zip(room, drawn, strict=True)
        if len(cases) < n
    ]
    return keep, topped, short


def may_audit_person(auditor: StaffMember, subject: StaffMember, scope: str) -> bool:
    """Rule A2 for a staff audit (GAPS 7): never oneself; the quota's scope relative to the
    audited person (``line-managed``: the auditor is their line manager)."""
    if _norm(auditor.name) == _norm(subject.name):
        return False
    if scope == "own-team":
        return bool(auditor.team) and _norm(auditor.team) == _norm(subject.team)
    if scope == "outside-own-team":
        return _norm(auditor.team) != _norm(subject.team)
    if scope == "own-service":
        return bool(auditor.service) and _norm(auditor.service) == _norm(subject.service)
    if scope == "outside-own-service":
        return _norm(auditor.service) != _norm(subject.service)
    if scope == "line-managed":
        return bool(subject.manager) and _norm(subject.manager or "") == _norm(auditor.name)
    return True


def _staff_audits(
    quota: Quota,
    index: int,
    cfg: Config,
    cycle: str,
    staff: Sequence[StaffMember],
    day: date,
    history: History,
    seed: int,
    capacity: Callable[[Quota, StaffMember], int] | None,
) -> tuple[list[Placed], list[str]]:
    """A ``subject = "staff"`` quota (GAPS 7): audits of people in ``subject_roles``.

    ``unit = "auditor"``: each available holder gets their count (``per_cycle``, or what a
    quarter / year quota owes this cycle) of people they may audit (:func:`may_audit_person`),
    those audited least with this tool in the last 12 months first. ``unit = "subject"``:
    each available person is owed ``per_period`` in the period (counted from the register),
    spread evenly over the cycles left, and given to an available holder who may audit them,
    balanced. Assignment by maximum flow (:func:`assign`); who is left is said in a note.
    """
    label = quota.name or quota.tool
    rng = random.Random(f"{seed}:staff:{index}")
    applies = quota_lookup(cfg.quotas, "staff")
    holders = [m for m in staff if m.available_on(day) and any(x is quota for x in applies(m))]
    roles = {_norm(r) for r in quota.subject_roles}
    people = sorted(
        (m for m in staff if _norm(m.role) in roles and m.available_on(day)), key=attrgetter("name")
    )
    rng.shuffle(people)
    tools = {quota.tool, *quota.tool_by_theme.values()}
    since_year = shift_cycle(cycle, -12)
    cycles = period_cycles(cycle, quota.period, cfg.report.financial_year)
    past: dict[str, int] = defaultdict(int)  # audits of each person with these tools
    in_period: dict[str, int] = defaultdict(int)
    for c, subject, tool, n in history.subject_counts:
        if tool in tools and c < cycle:
            if c >= since_year:
                past[_norm(subject)] += n
            if c >= cycles[0]:
                in_period[_norm(subject)] += n
    notes: list[str] = []
    if quota.unit == "subject":
        left = max(
            1,
            sum(
                1
                for c in cycles
                if c >= cycle and (c == cycle or c not in cfg.cycle.practice_weeks)
            ),
        )
        owed = [(m, quota.per_period - in_period[_norm(m.name)]) for m in people]
        owed = [(m, n) for m, n in owed if n > 0]
        owed.sort(key=lambda x: -(x[1] % left))
        extra = math.ceil(sum(n % left for _, n in owed) / left)
        wanted: list[StaffMember] = []
        for i, (m, n) in enumerate(owed):
            wanted.extend([m] * (n // left + (1 if (i < extra and n % left) else 0)))
        nodes = [Auditor(m, max(1, len(wanted)), quota.scope, quota.tool, quota) for m in holders]
    else:
        people.sort(key=lambda m: past[_norm(m.name)])  # stable: random among equals
        wanted = people
        nodes = []
        for m in holders:
            n = capacity(quota, m) if capacity else quota.per_cycle
            if n > 0:
                nodes.append(Auditor(m, n, quota.scope, quota.tool, quota))
    rng.shuffle(nodes)
    groups = []
    for m in wanted:
        g = _Group((m.name,), m.team, m.service, "", "")
        g.items.append(m)
        groups.append(g)
    allowed = [
        [j for j, a in enumerate(nodes) if may_audit_person(a.member, g.items[0], quota.scope)]
        for g in groups
    ]
    plan = assign(groups, nodes, allowed)
    got: list[Placed] = []
    used = [0] * len(nodes)
    for gi, g in enumerate(groups):
        person: StaffMember = g.items[0]
        for j, count in plan.get(gi, []):
            used[j] += count
            stand_in = Case("", person.team, person.name, person.service, "")
            got.append((stand_in, nodes[j].member, quota.tool, "audit", None))
        if not plan.get(gi) and quota.unit == "subject":
            notes.append(
                f"{label}: {person.name} ({person.role}) is due but no available {quota.role} "
                f"may audit them (rule A2: scope {quota.scope}; A3)"
            )
    if quota.unit != "subject":
        short = sorted(a.member.name for j, a in enumerate(nodes) if used[j] < a.capacity)
        if short:
            notes.append(
                f"{label}: {_n(len(short), quota.role)} without an available "
                f"{' / '.join(quota.subject_roles)} they may audit (rules A2, A3): "
                + ", ".join(short)
            )
    return got, notes


def _share_in_team(
    node: Auditor, cases: Sequence[Case], tool_for: Callable[[Auditor, Case], str]
) -> tuple[list[Placed], list[Unallocated]]:
    """A team's cases (``unit = "team"``) shared out among its available holders of the role,
    balanced; nobody gets a case they hold (rule A2)."""
    members = [Auditor(m, len(cases), "any", node.tool, node.quota) for m in node.members]
    names = {_norm(m.name) for m in node.members}
    groups = _group([(c,) for c in cases], names)
    plan = assign(groups, members)
    got: list[Placed] = []
    left: list[Unallocated] = []
    for gi, g in enumerate(groups):
        cursor = 0
        for j, count in sorted(plan.get(gi, []), key=lambda x: members[x[0]].member.name):
            for item in g.items[cursor : cursor + count]:
                got.append((item[0], members[j].member, tool_for(node, item[0]), "audit", None))
            cursor += count
        for item in g.items[cursor:]:
            left.append(
                Unallocated(
                    item[0].case_id,
                    f"the only available {node.member.role} of {node.member.team or 'the team'} "
                    "holds the case (rule A2: own caseload)",
                )
            )
    return got, left


def _draw_extra(
    quota: Quota,
    found: QuotaNodes,
    pool: Sequence[Case],
    cfg: Config,
    cycle: str,
    staff: Sequence[StaffMember],
    rng: random.Random,
    tool_for: Callable[[Auditor, Case], str],
) -> tuple[list[Placed], list[str]]:
    """A ``draw = "extra"`` quota (GAPS 3): each node gets exactly its count of cases drawn at
    random from ``pool`` (eligible cases not in the sample: same exclusions S3) among the
    cases it may audit (scope and own caseload A2, the quota's ``cases`` filter), cases in
    the quota's focus weighted or restricted like the sample (C3). A node that finds too
    few cases is said in a note."""
    label = quota.name or quota.tool
    notes = [f"{label}: {why}" for why in found.team_gaps.values()]
    nodes = list(found.nodes)
    if not nodes:
        return [], notes
    rng.shuffle(nodes)
    criteria = theme_criteria(cfg, quota_themes(cfg, quota, cycle))
    focus = _theme_test(_theme_sets(criteria)) if criteria else None
    restrict = focus is not None and cfg.cycle.focus_mode == "restrict"
    weight = cfg.cycle.focus_weight if (focus is not None and not restrict) else 1.0
    if restrict and focus is not None:
        pool = [c for c in pool if focus(c)]
    filters = [quota.cases] if quota.cases else []
    nodes = [dataclasses.replace(a, filter_id=0 if filters else -1) for a in nodes]
    drawn_by = draw_for_nodes(
        nodes,
        pool,
        staff,
        rng,
        filters=filters,
        focus=focus if weight != 1.0 else None,
        weight=weight,
    )
    got: list[Placed] = []
    for node, drawn in zip(nodes, drawn_by, strict=True):
        if len(drawn) < node.capacity:
            who = node.member.name or f"{node.member.role}s of {node.member.team or 'no team'}"
            notes.append(
                f"{label}: {who} gets {len(drawn)} of {node.capacity}: no other eligible case "
                "they may audit (rules A2, S3)"
            )
        if node.members:
            shared, left = _share_in_team(node, drawn, tool_for)
            got.extend(shared)
            notes.extend(f"{label}: {u.case_id}: {u.reason}" for u in left)
        else:
            got.extend((c, node.member, tool_for(node, c), "audit", None) for c in drawn)
    return got, notes


def draw_for_nodes(
    nodes: Sequence[Auditor],
    pool: Sequence[Case],
    staff: Sequence[StaffMember],
    rng: random.Random,
    *,
    filters: Sequence[Mapping[str, tuple[str, ...]]] = (),
    focus: Callable[[Case], bool] | None = None,
    weight: float = 1.0,
) -> list[list[Case]]:
    """For each node in turn, ``capacity`` cases drawn at random (seeded) from the cases of
    ``pool`` it may audit (rule A2 and its quota's ``cases`` filter, by ``filter_id`` into
    ``filters``); cases in ``focus`` are ``weight`` times as likely (C3). No case twice.
    O(groups) per case drawn: the pool is grouped once into interchangeable cases."""
    names = {_norm(a.member.name) for a in nodes if a.member.name} | {
        _norm(m.name) for a in nodes for m in a.members
    }
    line_managed = any(a.scope == "line-managed" for a in nodes)
    groups = _group(
        [(c,) for c in pool],
        names,
        managers=_managers(staff) if line_managed else None,
        tagger=_tagger(filters, focus),
    )
    allowed = eligibility(groups, nodes)
    by_node: dict[int, list[int]] = defaultdict(list)
    for gi, js in enumerate(allowed):
        for j in js:
            by_node[j].append(gi)
    out: list[list[Case]] = []
    for j, node in enumerate(nodes):
        drawn: list[Case] = []
        for _ in range(node.capacity):
            live = [gi for gi in by_node[j] if groups[gi].items]
            if not live:
                break
            weights = [
                len(groups[gi].items) * (weight if FOCUS_TAG in groups[gi].tags else 1.0)
                for gi in live
            ]
            gi = rng.choices(live, weights)[0]
            items = groups[gi].items
            k = rng.randrange(len(items))
            items[k], items[-1] = items[-1], items[k]
            drawn.append(items.pop()[0])
        out.append(drawn)
    return out


def _group(
    items: Sequence[tuple[Any, ...]],
    auditor_names: set[str],
    *,
    reaudit: bool = False,
    managers: Mapping[str, str] | None = None,
    tagger: Callable[[Case], frozenset[int]] | None = None,
) -> list[_Group]:
    """Interchangeable cases: same team and service, and same worker when the worker audits
    (and the same line manager of the worker when a "line-managed" scope is in use, and the
    same quota case filters / focus when ``tagger`` says which a case matches)."""
    groups: dict[tuple[Any, ...], _Group] = {}
    for item in items:
        c: Case = item[0]
        prev_auditor = item[1] if reaudit else ""
        worker = c.worker if (reaudit or _norm(c.worker) in auditor_names) else ""
        manager = managers.get(_norm(c.worker), "") if managers else ""
        tags = tagger(c) if tagger else frozenset()
        key = (c.team, c.service, worker, prev_auditor, manager, tuple(sorted(tags)))
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(
                key, c.team, c.service, worker, prev_auditor, manager=manager, tags=tags
            )
        g.items.append(item)
    return [groups[k] for k in sorted(groups)]


def _managers(staff: Sequence[StaffMember]) -> dict[str, str]:
    """Worker (normalised) -> their line manager's name, from the roster."""
    return {_norm(m.name): m.manager for m in staff if m.manager}


def _why(
    g: _Group, allowed: Sequence[Auditor], available: int, away: int, role: str | None = None
) -> str:
    """The exact reason a case of this group could not be placed."""
    unavailable = f"; {away} unavailable (rule A3)" if away else ""
    who = f'"{role}"' if role else "quota"
    if not available:
        return f"no available auditor with a {who} role{unavailable} (rule A1)"
    if not allowed:
        return (
            f"no eligible auditor: none of the {available} available {who} auditors may "
            f"audit a case of {g.team or 'no team'} / {g.service or 'no service'} "
            f"(rule A2: scope and own caseload){unavailable}"
        )
    total = sum(a.capacity for a in allowed)
    return (
        f"quotas full: the {len(allowed)} auditors allowed to audit it have all "
        f"{total} allocations taken (rule A1){unavailable}"
    )


def _reaudits(
    cycle: str,
    cases: Sequence[Case],
    closed: set[str],
    cfg: Config,
    history: History,
    seed: int = 0,
) -> tuple[list[tuple[Case, PriorReturn]], list[Unallocated]]:
    """Rule A4: cases whose latest return is in reaudit.grades and whose re-audit is due.

    With ``reaudit.case = "other-of-worker"`` (Lancashire closing the loop, GAPS 9) the
    re-audit is of another open case of the same worker, picked at random (seeded) among
    their cases not audited or allocated in the S3 window and not picked for another
    re-audit this cycle; a worker with no such case is listed (in the cycle it fell due)."""
    if cfg.reaudit.case == "other-of-worker":
        return _reaudits_of_worker(cycle, cases, closed, cfg, history, seed)
    grades = {normalise(g) for g in cfg.reaudit.grades}
    wanted = {r.case_id for r in history.reaudit_candidates}
    by_id = {c.case_id: c for c in cases if c.case_id in wanted} if wanted else {}
    out: list[tuple[Case, PriorReturn]] = []
    missing: list[Unallocated] = []
    for r in _due_reaudits(cycle, cfg, history, grades):
        due_cycle = shift_cycle(r.cycle, cfg.reaudit.after_cycles)
        case = by_id.get(r.case_id)
        if case is None or _norm(case.status or "") in closed:
            if due_cycle == cycle:  # said once, in the cycle it fell due
                why = "not in the case list" if case is None else "closed"
                missing.append(
                    Unallocated(
                        r.case_id,
                        f"re-audit due (rule A4: {r.overall} in {r.cycle}) but the case is {why}",
                        "reaudit",
                    )
                )
            continue
        out.append((case, r))
    return out, missing


def _due_reaudits(cycle: str, cfg: Config, history: History, grades: set[str]) -> list[PriorReturn]:
    """The graded returns whose re-audit is due this cycle (carried forward while not done)."""
    out = []
    for r in sorted(history.reaudit_candidates, key=lambda r: (r.case_id, r.return_id)):
        if r.overall is None or normalise(r.overall) not in grades or not r.case_id:
            continue  # (a staff audit has no case to re-audit)
        if r.audit_id and r.audit_id in history.reaudited:
            continue
        due_cycle = shift_cycle(r.cycle, cfg.reaudit.after_cycles)
        if due_cycle > cycle or r.cycle >= cycle:
            continue
        out.append(r)
    return out


def _reaudits_of_worker(
    cycle: str,
    cases: Sequence[Case],
    closed: set[str],
    cfg: Config,
    history: History,
    seed: int,
) -> tuple[list[tuple[Case, PriorReturn]], list[Unallocated]]:
    """Rule A4 / T7, ``reaudit.case = "other-of-worker"``: see :func:`_reaudits`."""
    due = _due_reaudits(cycle, cfg, history, {normalise(g) for g in cfg.reaudit.grades})
    if not due:
        return [], []
    window = cfg.sample.exclude_audited_within_months
    recent = history.recently_audited if window > 0 else frozenset()
    by_id = {c.case_id: c for c in cases}
    of_worker: dict[str, list[Case]] = defaultdict(list)
    for c in sorted(cases, key=attrgetter("case_id")):
        if c.worker and _norm(c.status or "") not in closed and c.case_id not in recent:
            of_worker[_norm(c.worker)].append(c)
    rng = random.Random(f"{seed}:reaudit-of-worker")
    picked: set[str] = set()
    out: list[tuple[Case, PriorReturn]] = []
    missing: list[Unallocated] = []
    for r in due:
        worker = r.worker or (by_id[r.case_id].worker if r.case_id in by_id else "")
        choices = [
            c
            for c in of_worker.get(_norm(worker), ())
            if c.case_id != r.case_id and c.case_id not in picked
        ]
        if choices:
            case = rng.choice(choices)
            picked.add(case.case_id)
            out.append((case, r))
        elif shift_cycle(r.cycle, cfg.reaudit.after_cycles) == cycle:  # said once
            who = worker or "the worker (not known)"
            missing.append(
                Unallocated(
                    r.case_id,
                    f"re-audit due (rule A4: {r.overall} in {r.cycle}) of another case of "
                    f"{who}, but they have no other open case not audited in the last "
                    f"{window} months",
                    "reaudit",
                )
            )
    return out, missing


def _moderation(
    cycle: str,
    cfg: Config,
    calendar: WorkingCalendar,
    first_day: date,
    staff: Sequence[StaffMember],
    history: History,
    rng: random.Random,
) -> tuple[ModerationPick, ...]:
    """Rule M1: every return graded in ``always`` plus a random ``fraction`` of the rest,
    among the returns of the moderated tools (``moderation.tools``; none named: every tool)."""
    tools = set(cfg.moderation.tools)
    returns = [
        r
        for r in sorted(history.previous_returns, key=lambda r: r.return_id)
        if _moderation_id(r) not in history.already_moderated and (not tools or r.tool in tools)
    ]
    if not returns:
        return ()
    always = {normalise(g) for g in cfg.moderation.always}
    picked: list[tuple[PriorReturn, str]] = []
    rest = []
    for r in returns:
        if r.overall and normalise(r.overall) in always:
            picked.append((r, f"always: {r.overall}"))
        else:
            rest.append(r)
    n = min(len(rest), math.ceil(Fraction(str(cfg.moderation.fraction)) * len(returns)))
    pct = f"{cfg.moderation.fraction * 100:g}%"
    for r in rng.sample(rest, n):
        picked.append((r, f"random {pct}"))
    picked.sort(key=lambda x: (x[0].audit_id or "", x[0].return_id))
    moderators = sorted(
        (
            m
            for m in staff
            if normalise(m.role) == normalise(cfg.moderation.role) and m.available_on(first_day)
        ),
        key=lambda m: m.name,
    )
    due = calendar.roll_forward(calendar.add(first_day, parse_duration(cfg.moderation.due)))
    out = []
    for i, (r, reason) in enumerate(picked):
        m = moderators[i % len(moderators)] if moderators else None
        out.append(
            ModerationPick(
                audit_id=_moderation_id(r),
                return_id=r.return_id,
                case_id=r.case_id,
                auditor=r.auditor,
                overall=r.overall,
                reason=reason,
                moderator=m.name if m else cfg.moderation.role,
                moderator_email=m.email if m else "",
                due=due,
            )
        )
    return tuple(out)


def _moderation_id(r: PriorReturn) -> str:
    return r.audit_id or f"return-{r.return_id}"


def _arithmetic(
    *,
    open_count: int,
    eligible: int,
    excluded: Mapping[str, int],
    cfg: Config,
    cycles_n: int,
    practice: tuple[str, ...],
    base: int,
    size: int,
    strata_rows: list[tuple[str, int, int]],
    theme: str | None,
    theme_cases: int,
    auditors: int,
    quota_total: int,
    floor: int = 0,
    extra: Sequence[tuple[str, int]] = (),
    teams: int = 0,
    staff_audits: Sequence[tuple[str, int]] = (),
    by_service: Sequence[tuple[str, int]] = (),
) -> Arithmetic:
    s = cfg.sample
    pct = f"{s.fraction * 100:g}%"
    if s.size == "quotas":
        whose = " and ".join(
            x
            for x in (
                _n(auditors, "available auditor") if auditors or not teams else "",
                _n(teams, "team") if teams else "",
            )
            if x
        )
        words = (
            f"{_n(size, 'case')}: the quotas of {whose} "
            f"({quota_total:,} a cycle), from {eligible:,} eligible open cases"
        )
    elif s.per == "year":
        words = (
            f"{_n(base, 'case')}: {pct} a year of {eligible:,} eligible open cases, "
            f"spread over {cycles_n} cycles"
        )
        if practice:
            names = ", ".join(month_name(p) for p in practice)
            verb = "is a practice week" if len(practice) == 1 else "are practice weeks"
            words += f" ({names} {verb})"
    else:
        words = f"{_n(base, 'case')}: {pct} of {eligible:,} eligible open cases, every cycle"
    if size != base and (s.size != "quotas" or floor > 1):
        at_least = max(floor, 1)
        why = (
            f"sample.team_floor = {s.team_floor}"
            if s.team_floor > 1
            else f'stratified by sample.stratify_by = "{s.stratify_by}"'
        )
        stratum = s.stratify_by or "stratum"
        words += f"; {size:,} to give every {stratum} at least {at_least} ({why})"
    drawn = _tally(extra)
    if drawn:
        total = sum(drawn.values())
        words += f"; plus {total:,} drawn on top of the sample ({_listed(drawn)})"
    of_staff = _tally(staff_audits)
    if of_staff:
        total = sum(of_staff.values())
        words += f"; and {_n(total, 'staff audit')} of a person, not a case ({_listed(of_staff)})"
    left = _tally(by_service)
    if left:
        total = sum(left.values())
        words += f"; and {total:,} left to the service to pick the case ({_listed(left)})"
    if theme:
        words += f'; focus theme "{theme}" ({cfg.cycle.focus_mode}, {theme_cases:,} cases in it)'
    excl = sorted(excluded.items(), key=lambda kv: (-kv[1], kv[0]))
    return Arithmetic(
        open_cases=open_count,
        eligible=eligible,
        excluded=tuple(excl),
        mode=s.size,
        fraction=s.fraction,
        per=s.per,
        cycles=cycles_n,
        practice_weeks=practice,
        base_size=base,
        size=size,
        strata=tuple(strata_rows),
        stratify_by=s.stratify_by,
        theme=theme,
        theme_mode=cfg.cycle.focus_mode,
        theme_cases=theme_cases,
        words=words,
        extra=tuple(drawn.items()),
    )


def _tally(counts: Sequence[tuple[str, int]]) -> dict[str, int]:
    """(label, n) pairs summed by label, in first-seen order."""
    out: dict[str, int] = {}
    for label, n in counts:
        out[label] = out.get(label, 0) + n
    return out


def _listed(tally: dict[str, int]) -> str:
    return ", ".join(_n(n, label) for label, n in tally.items())


def _n(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
