"""Northvale Borough Council: a fictional local authority for demos, tests and benchmarks.

``build_authority`` makes, in memory and deterministically for a seed, the two
inputs a council points qaf at: the case list (as a Mosaic/LCS export in the
shape of the Ofsted ILACS Annex A lists / Standard Safeguarding Dataset) and
the staff roster with its line-management tree. ``write_case_list`` and
``write_staff_roster`` write them as CSV (dates as dd/mm/yyyy text, as real
exports have them) or XLSX (real dates), byte-for-byte the same for the same
authority.

Default shape (``cases=1200``): 14 case-holding teams in 4 service areas, an
organisation-wide "Safeguarding and Quality Assurance" service (IROs, CP
Chairs, QA Officers), about 75 staff. Larger builds repeat the team structure
per locality ("Ashcombe Early Help North" in "Early Help (Ashcombe)"), sized
from ``auditors`` when given, otherwise from ``cases`` (about 1,200 cases per
locality).

Everything is drawn from one ``random.Random(seed)``; the global RNG is never
touched. All people are fictional.
"""

from __future__ import annotations

import csv
import math
import random
import zipfile
from bisect import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from qaf.samples.names import email_local, person_name
from qaf.tablebook import (
    APP_PROPERTIES,
    NS_MAIN,
    NS_REL,
    ROOT_RELS,
    XML_HEAD,
    column_letter,
    content_types,
    core_properties,
    escape,
    workbook_rels,
)

AUTHORITY_NAME = "Northvale Borough Council"
EMAIL_DOMAIN = "northvale.example"
DEFAULT_AS_OF = date(2026, 11, 25)

# The exact column headers the sample qaf.toml maps.
CASE_HEADERS: tuple[str, ...] = (
    "Child Unique ID",
    "Child Name",
    "Gender",
    "Date of Birth",
    "Ethnicity",
    "Allocated Team",
    "Allocated Worker",
    "Service Area",
    "Category",
    "Case Status",
    "Primary Need Code",
    "Child's Legal Status",
    "Child Protection Plan Start Date",
    "Referral Date",
    "Date of Last Visit",
)
STAFF_HEADERS: tuple[str, ...] = (
    "Name",
    "Email",
    "Role",
    "Team",
    "Service",
    "Line Manager",
    "Available",
    "Absent From",
    "Absent To",
)

# Roles, exactly as they appear in the roster's "Role" column.
SOCIAL_WORKER = "Social Worker"
ADVANCED_PRACTITIONER = "Advanced Practitioner"
TEAM_MANAGER = "Team Manager"
SERVICE_MANAGER = "Service Manager"
HEAD_OF_SERVICE = "Head of Service"
ASSISTANT_DIRECTOR = "Assistant Director"
DIRECTOR = "Director of Children's Social Care"
EXECUTIVE_DIRECTOR = "Executive Director"
IRO = "IRO"
CP_CHAIR = "CP Chair"
QA_OFFICER = "QA Officer"
ROLES: tuple[str, ...] = (
    SOCIAL_WORKER,
    ADVANCED_PRACTITIONER,
    TEAM_MANAGER,
    SERVICE_MANAGER,
    HEAD_OF_SERVICE,
    ASSISTANT_DIRECTOR,
    DIRECTOR,
    EXECUTIVE_DIRECTOR,
    IRO,
    CP_CHAIR,
    QA_OFFICER,
)
AUDITOR_ROLES: tuple[str, ...] = (
    TEAM_MANAGER,
    ADVANCED_PRACTITIONER,
    SERVICE_MANAGER,
    HEAD_OF_SERVICE,
    IRO,
    CP_CHAIR,
    QA_OFFICER,
)
CASE_HOLDING_ROLES: tuple[str, ...] = (SOCIAL_WORKER, ADVANCED_PRACTITIONER)

# Organisation-wide safeguarding and QA service (not case-holding teams).
SQA_SERVICE = "Safeguarding and Quality Assurance"
SAFEGUARDING_UNIT = "Safeguarding Unit"
QA_TEAM = "Quality Assurance"

# Case categories and statuses.
EARLY_HELP = "Early Help"
CIN = "CiN"
CP = "CP"
CHILD_IN_CARE = "Child in our care"
CARE_LEAVER = "Care Leaver"
CWD = "CwD"
CATEGORIES: tuple[str, ...] = (EARLY_HELP, CIN, CP, CHILD_IN_CARE, CARE_LEAVER, CWD)
OPEN = "Open"
CLOSED = "Closed"

TEAM_KINDS: tuple[str, ...] = (
    "early-help",
    "assessment",
    "safeguarding",
    "children-in-care",
    "leaving-care",
    "disability",
    "mash",
)


@dataclass(frozen=True, slots=True)
class Team:
    """A case-holding team."""

    name: str
    service: str
    kind: str  # one of TEAM_KINDS


@dataclass(frozen=True, slots=True)
class StaffMember:
    """One row of the staff roster."""

    name: str
    email: str
    role: str
    team: str  # "" for none
    service: str  # "" for organisation-wide
    line_manager: str  # a name in the roster, "" for none
    available: bool
    absent_from: date | None
    absent_to: date | None


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One row of the case list."""

    case_id: str
    child_name: str
    gender: str
    date_of_birth: date
    ethnicity: str
    team: str
    worker: str
    service: str
    category: str
    status: str
    primary_need: str  # N0-N9
    legal_status: str  # "C2", "V2", ... or "" when not looked after
    cp_plan_start: date | None
    referral_date: date
    last_visit: date | None


@dataclass(frozen=True, slots=True)
class Authority:
    """The sample council: its teams, its staff roster and its case list."""

    name: str
    teams: tuple[Team, ...]
    staff: tuple[StaffMember, ...]
    cases: tuple[CaseRow, ...]
    as_of: date = DEFAULT_AS_OF


# --------------------------------------------------------------------------- shape

_EH_SERVICE = "Early Help"
_AS_SERVICE = "Assessment and Safeguarding"
_CIC_SERVICE = "Children in Care"
_DC_SERVICE = "Disabled Children"
_SERVICES = (_EH_SERVICE, _AS_SERVICE, _CIC_SERVICE, _DC_SERVICE)


@dataclass(frozen=True, slots=True)
class _TeamPlan:
    name: str
    service: str
    kind: str
    share: float  # of the authority's cases
    categories: tuple[tuple[str, float], ...]


_PLANS: tuple[_TeamPlan, ...] = (
    _TeamPlan("Early Help North", _EH_SERVICE, "early-help", 0.10, ((EARLY_HELP, 1.0),)),
    _TeamPlan("Early Help South", _EH_SERVICE, "early-help", 0.10, ((EARLY_HELP, 1.0),)),
    _TeamPlan("Family Support Hub", _EH_SERVICE, "early-help", 0.05, ((EARLY_HELP, 1.0),)),
    _TeamPlan("MASH", _AS_SERVICE, "mash", 0.03, ((CIN, 0.85), (EARLY_HELP, 0.15))),
    _TeamPlan("Assessment Team 1", _AS_SERVICE, "assessment", 0.07, ((CIN, 0.88), (CP, 0.12))),
    _TeamPlan("Assessment Team 2", _AS_SERVICE, "assessment", 0.07, ((CIN, 0.88), (CP, 0.12))),
    _TeamPlan("Safeguarding East", _AS_SERVICE, "safeguarding", 0.10, ((CP, 0.55), (CIN, 0.45))),
    _TeamPlan("Safeguarding West", _AS_SERVICE, "safeguarding", 0.10, ((CP, 0.55), (CIN, 0.45))),
    _TeamPlan(
        "Court and Proceedings",
        _AS_SERVICE,
        "safeguarding",
        0.04,
        ((CP, 0.45), (CHILD_IN_CARE, 0.55)),
    ),
    _TeamPlan(
        "Children in Care 1", _CIC_SERVICE, "children-in-care", 0.09, ((CHILD_IN_CARE, 1.0),)
    ),
    _TeamPlan(
        "Children in Care 2", _CIC_SERVICE, "children-in-care", 0.09, ((CHILD_IN_CARE, 1.0),)
    ),
    _TeamPlan(
        "Leaving Care",
        _CIC_SERVICE,
        "leaving-care",
        0.07,
        ((CARE_LEAVER, 0.88), (CHILD_IN_CARE, 0.12)),
    ),
    _TeamPlan(
        "Fostering and Permanence", _CIC_SERVICE, "children-in-care", 0.04, ((CHILD_IN_CARE, 1.0),)
    ),
    _TeamPlan(
        "Children with Disabilities",
        _DC_SERVICE,
        "disability",
        0.05,
        ((CWD, 0.85), (CP, 0.04), (CHILD_IN_CARE, 0.11)),
    ),
)

# Fictional localities of Northvale, used when the authority is scaled up.
_LOCALITIES = (
    "Ashcombe",
    "Brackenmoor",
    "Copperdale",
    "Dunmere",
    "Elderwick",
    "Foxholme",
    "Greywater",
    "Hallowmead",
    "Ingleby Vale",
    "Juniper Cross",
    "Kestrel Bank",
    "Larkhollow",
    "Millbeck",
    "Nettlecombe",
    "Oakenshaw Moor",
    "Pennyfold",
    "Quarry Hill",
    "Rookwood",
    "Saltmarsh",
    "Thornbury Edge",
    "Underhill",
    "Wrenfield",
    "Yarrowdale",
    "Netherby Brook",
)

_CASES_PER_LOCALITY = 1200  # locality count when auditors is not given
_MIN_CASES_PER_LOCALITY = 140  # never spread cases thinner than ~10 a team
_CASES_PER_WORKER = 40
_STAFF_PER_SQA_MANAGER = 12
_LOCALITIES_PER_AD = 4
_CLOSED_FRACTION = 0.05
_UNAVAILABLE_FRACTION = 0.04


class _Choice:
    """Weighted choice with precomputed cumulative weights (rng.choices, without its overhead)."""

    __slots__ = ("cum", "last", "total", "values")

    def __init__(self, pairs: Iterable[tuple[Any, float]]) -> None:
        items = tuple(pairs)
        self.values = tuple(v for v, _ in items)
        self.cum = tuple(accumulate(w for _, w in items))
        self.total = self.cum[-1]
        self.last = len(self.cum) - 1

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect(self.cum, rng.random() * self.total, 0, self.last)]


def _spec(text: str) -> _Choice:
    """'N1:85 N5:7' -> a weighted choice of 'N1' (85) and 'N5' (7); ':5' is the empty value."""
    pairs = (item.split(":") for item in text.split())
    return _Choice((value, float(weight)) for value, weight in pairs)


# Primary need codes (N0-N9) by category, roughly as the Children in Need census shows them.
_NEED = {
    CP: _spec("N1:85 N5:7 N4:5 N3:3"),
    CIN: _spec("N1:45 N4:18 N5:15 N3:8 N2:5 N6:4 N8:3 N7:1 N0:1"),
    EARLY_HELP: _spec("N4:30 N5:25 N3:10 N6:10 N1:10 N7:8 N9:5 N0:2"),
    CHILD_IN_CARE: _spec("N1:62 N8:20 N5:8 N4:5 N2:3 N6:2"),
    CARE_LEAVER: _spec("N1:55 N8:30 N5:8 N4:4 N6:3"),
    CWD: _spec("N2:95 N1:5"),
}

# Legal status codes of the SSDA903 return: C1 interim care order, C2 full care order,
# E1 placement order, V2 section 20 (single period), V3/V4 short breaks, L2 EPO, J2 remand.
_LEGAL_IN_CARE = _spec("C2:58 V2:22 C1:12 E1:6 J2:1 L2:1")
_LEGAL_COURT = _spec("C1:80 V2:15 L2:5")
_LEGAL_PERMANENCE = _spec("C2:55 E1:45")
_LEGAL_LEAVING = _spec("C2:60 V2:40")
_LEGAL_CWD = _spec(":80 V3:12 V4:8")


def _legal_status(plan: _TeamPlan, category: str) -> _Choice | None:
    if category == CHILD_IN_CARE:
        if plan.name == "Court and Proceedings":
            return _LEGAL_COURT
        if plan.name == "Fostering and Permanence":
            return _LEGAL_PERMANENCE
        if plan.kind == "leaving-care":
            return _LEGAL_LEAVING
        return _LEGAL_IN_CARE
    if category == CWD:
        return _LEGAL_CWD
    return None


# (low, high, mode or None) age in years at as_of.
def _age_range(plan: _TeamPlan, category: str) -> tuple[float, float, float | None]:
    if category == CARE_LEAVER:
        return (18.0, 25.0, None)
    if category == CHILD_IN_CARE:
        if plan.kind == "leaving-care":
            return (16.0, 18.0, None)
        if plan.name == "Fostering and Permanence":
            return (0.0, 12.0, 1.0)
        if plan.name == "Court and Proceedings":
            return (0.0, 16.0, 1.0)
        return (0.0, 18.0, 13.0)
    if category == CP:
        return (0.0, 18.0, 3.0)
    if category == CWD:
        return (2.0, 18.0, None)
    return (0.0, 18.0, None)


# Referral date: (min, max) days before as_of.
def _referral_window(plan: _TeamPlan, category: str) -> tuple[int, int]:
    if plan.kind == "mash":
        return (0, 10)
    if plan.kind == "assessment":
        return (1, 60)
    return {
        EARLY_HELP: (7, 400),
        CIN: (30, 700),
        CHILD_IN_CARE: (60, 4000),
        CARE_LEAVER: (1500, 7000),
        CWD: (90, 4000),
    }.get(category, (30, 700))


# Last visit: (chance of no visit yet, usual maximum gap in days).
def _visit_profile(plan: _TeamPlan, category: str) -> tuple[float, int]:
    if plan.kind == "mash":
        return (0.5, 10)
    if plan.kind == "assessment":
        return (0.1, 30)
    return {
        CP: (0.01, 14),
        CIN: (0.03, 42),
        EARLY_HELP: (0.05, 42),
        CHILD_IN_CARE: (0.01, 56),
        CARE_LEAVER: (0.05, 90),
        CWD: (0.03, 56),
    }[category]


@dataclass(frozen=True, slots=True)
class _Profile:
    """Everything needed to draw one case of a category in a team."""

    category: str
    need: _Choice
    legal: _Choice | None
    age_lo_days: int
    age_hi_days: int
    age_mode: float | None
    ref_lo: int
    ref_hi: int
    no_visit: float
    visit_gap: int


def _profile(plan: _TeamPlan, category: str) -> _Profile:
    lo, hi, mode = _age_range(plan, category)
    ref_lo, ref_hi = _referral_window(plan, category)
    no_visit, gap = _visit_profile(plan, category)
    return _Profile(
        category=category,
        need=_NEED[category],
        legal=_legal_status(plan, category),
        age_lo_days=int(lo * 365.25),
        age_hi_days=int(hi * 365.25) - 1,
        age_mode=None if mode is None else mode * 365.25,
        ref_lo=ref_lo,
        ref_hi=ref_hi,
        no_visit=no_visit,
        visit_gap=gap,
    )


# --------------------------------------------------------------------------- build


def _apportion(total: int, weights: Sequence[float], minimum: int) -> list[int]:
    """Split ``total`` by ``weights`` (largest remainder), each part at least ``minimum``."""
    n = len(weights)
    rest = total - n * minimum
    if rest < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} each out of {total}")
    wsum = sum(weights)
    quotas = [rest * w / wsum for w in weights]
    parts = [math.floor(q) for q in quotas]
    left = rest - sum(parts)
    order = sorted(range(n), key=lambda i: (parts[i] - quotas[i], i))
    for i in order[:left]:
        parts[i] += 1
    return [p + minimum for p in parts]


def _locality_count(cases: int, auditors: int | None) -> int:
    # Auditors per locality: 14 TMs, 4 SMs, 4 HoS, 2 IROs, 2 CP Chairs, 2 QA Officers, ~7 APs.
    wanted = round(cases / _CASES_PER_LOCALITY) if auditors is None else round(auditors / 35)
    return max(1, min(wanted, cases // _MIN_CASES_PER_LOCALITY))


class _People:
    """Draws unique staff names and unique e-mail addresses."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.emails: dict[str, int] = {}

    def new(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            given, surname, _ = person_name(rng, female=rng.random() < 0.8, adult=True)
            name = f"{given} {surname}"
            if name not in self.names:
                break
        self.names.add(name)
        local = email_local(given, surname)
        n = self.emails.get(local, 0) + 1
        self.emails[local] = n
        email = f"{local}@{EMAIL_DOMAIN}" if n == 1 else f"{local}{n}@{EMAIL_DOMAIN}"
        return name, email


def _month_end(day: date, months_ahead: int) -> date:
    year, month = divmod(day.month - 1 + months_ahead + 1, 12)
    first_of_following = date(day.year + year, month + 1, 1)
    return first_of_following - timedelta(days=1)


def build_authority(
    *,
    cases: int = 1200,
    auditors: int | None = None,
    seed: int = 2026,
    as_of: date = DEFAULT_AS_OF,
) -> Authority:
    """The fictional Northvale Borough Council, built in memory.

    ``cases`` open cases (plus about 5% closed rows), spread over teams so every
    team holds some; ``auditors`` is the approximate number of staff in
    auditing roles (TMs, APs, SMs, HoS, IROs, CP Chairs, QA Officers) and sets
    the number of localities; ``None`` scales with ``cases`` (one locality,
    the default 14-team shape, up to ~1,800 cases). Same arguments, same
    authority.
    """
    if cases < len(_PLANS):
        raise ValueError(f"cases must be at least {len(_PLANS)} (one per team), got {cases}")
    if auditors is not None and auditors < 0:
        raise ValueError(f"auditors must not be negative, got {auditors}")
    rng = random.Random(seed)
    n_loc = _locality_count(cases, auditors)

    # Teams and their case counts.
    plans: list[tuple[_TeamPlan, Team]] = []
    for li in range(n_loc):
        loc = (
            ""
            if n_loc == 1
            else (_LOCALITIES[li] if li < len(_LOCALITIES) else f"Locality {li + 1}")
        )
        for plan in _PLANS:
            if loc:
                team = Team(f"{loc} {plan.name}", f"{plan.service} ({loc})", plan.kind)
            else:
                team = Team(plan.name, plan.service, plan.kind)
            plans.append((plan, team))
    weights = [p.share * rng.uniform(0.85, 1.15) for p, _ in plans]
    open_counts = _apportion(cases, weights, 1)
    closed_counts = _apportion(round(cases * _CLOSED_FRACTION), weights, 0)

    # Staff, top down.
    people = _People(rng)
    rows: list[dict[str, Any]] = []

    def add(role: str, team: str, service: str, manager: str) -> str:
        name, email = people.new()
        rows.append(
            {
                "name": name,
                "email": email,
                "role": role,
                "team": team,
                "service": service,
                "line_manager": manager,
            }
        )
        return name

    executive = add(EXECUTIVE_DIRECTOR, "", "", "")
    director = add(DIRECTOR, "", "", executive)
    ads = [
        add(ASSISTANT_DIRECTOR, "", "", director)
        for _ in range(max(1, math.ceil(n_loc / _LOCALITIES_PER_AD)))
    ]

    # Safeguarding and QA: organisation-wide, scaled per locality.
    n_each = 2 * n_loc
    n_sqa = 3 * n_each
    n_sqa_sm = max(1, math.ceil(n_sqa / _STAFF_PER_SQA_MANAGER))
    n_teams = len(plans)
    services = sorted({t.service for _, t in plans}, key=[t.service for _, t in plans].index)
    fixed_auditors = n_teams + 2 * len(services) + n_sqa + n_sqa_sm + 1
    # Advanced Practitioners fill the auditor count up to the target (half the teams by default).
    n_ap = n_teams // 2 if auditors is None else max(0, min(n_teams, auditors - fixed_auditors))
    ap_teams = set(rng.sample(range(n_teams), n_ap))

    sqa_hos = add(HEAD_OF_SERVICE, "", SQA_SERVICE, ads[0])
    sqa_sms = [add(SERVICE_MANAGER, "", SQA_SERVICE, sqa_hos) for _ in range(n_sqa_sm)]
    sqa_roles = [(IRO, SAFEGUARDING_UNIT)] * n_each + [(CP_CHAIR, SAFEGUARDING_UNIT)] * n_each
    sqa_roles += [(QA_OFFICER, QA_TEAM)] * n_each
    for i, (role, team_name) in enumerate(sqa_roles):
        add(role, team_name, SQA_SERVICE, sqa_sms[i * n_sqa_sm // n_sqa])

    service_sm: dict[str, str] = {}
    for si, service in enumerate(services):
        hos = add(HEAD_OF_SERVICE, "", service, ads[(si // len(_SERVICES)) // _LOCALITIES_PER_AD])
        service_sm[service] = add(SERVICE_MANAGER, "", service, hos)

    holders: list[tuple[tuple[str, ...], tuple[float, ...]]] = []
    for ti, (_plan, team) in enumerate(plans):
        tm = add(TEAM_MANAGER, team.name, team.service, service_sm[team.service])
        names: list[str] = []
        wts: list[float] = []
        if ti in ap_teams:
            names.append(add(ADVANCED_PRACTITIONER, team.name, team.service, tm))
            wts.append(0.4)
        size = open_counts[ti] + closed_counts[ti]
        n_sw = max(2, round(size / _CASES_PER_WORKER) + rng.choice((-1, 0, 0, 1)))
        for _ in range(n_sw):
            names.append(add(SOCIAL_WORKER, team.name, team.service, tm))
            wts.append(1.0)
        holders.append((tuple(names), tuple(accumulate(wts))))

    # A few staff are away for the whole of this month and the next.
    candidates = [
        i
        for i, r in enumerate(rows)
        if r["role"] not in (EXECUTIVE_DIRECTOR, DIRECTOR, ASSISTANT_DIRECTOR)
    ]
    n_away = max(1, round(_UNAVAILABLE_FRACTION * len(rows)))
    away = set(rng.sample(candidates, n_away))
    month_start = as_of.replace(day=1)
    next_month_end = _month_end(as_of, 1)
    staff: list[StaffMember] = []
    for i, r in enumerate(rows):
        if i in away:
            start = month_start - timedelta(days=rng.randint(1, 180))
            end = next_month_end + timedelta(days=rng.randint(14, 240))
            staff.append(StaffMember(**r, available=False, absent_from=start, absent_to=end))
        else:
            staff.append(StaffMember(**r, available=True, absent_from=None, absent_to=None))

    # Cases.
    total = sum(open_counts) + sum(closed_counts)
    ids = rng.sample(range(100_000, 1_000_000), total)
    case_rows: list[CaseRow] = []
    today = as_of.toordinal()
    k = 0
    for ti, (plan, team) in enumerate(plans):
        profiles = _Choice((_profile(plan, c), w) for c, w in plan.categories)
        workers, cum = holders[ti]
        for status, count in ((OPEN, open_counts[ti]), (CLOSED, closed_counts[ti])):
            for _ in range(count):
                case_rows.append(
                    _draw_case(
                        rng, f"P{ids[k]}", team, profiles.pick(rng), workers, cum, status, today
                    )
                )
                k += 1
    case_rows.sort(key=lambda c: c.case_id)

    return Authority(
        name=AUTHORITY_NAME,
        teams=tuple(t for _, t in plans),
        staff=tuple(staff),
        cases=tuple(case_rows),
        as_of=as_of,
    )


def _draw_case(
    rng: random.Random,
    case_id: str,
    team: Team,
    prof: _Profile,
    workers: tuple[str, ...],
    cum: tuple[float, ...],
    status: str,
    today: int,
) -> CaseRow:
    """One case; dates are worked in ordinals (``today`` is as_of's) for speed."""
    rand = rng.random
    r = rand()
    gender = "Female" if r < 0.49 else ("Male" if r < 0.996 else "Unknown")
    female = gender == "Female" or (gender == "Unknown" and r < 0.998)
    given, surname, ethnicity = person_name(rng, female=female, mix=0.08)

    lo, hi = prof.age_lo_days, prof.age_hi_days
    if prof.age_mode is None:
        age_days = lo + int(rand() * (hi - lo + 1))
    else:
        age_days = int(rng.triangular(lo, hi, prof.age_mode))
    dob = today - age_days

    cp_start: int | None = None
    if prof.category == CP:
        cp_start = max(today - 1 - min(int(rng.expovariate(1 / 220)), 900), dob)
        referral = max(cp_start - 10 - int(rand() * 81), dob)
    else:
        referral = today - prof.ref_lo - int(rand() * (prof.ref_hi - prof.ref_lo + 1))
        if referral < dob:
            referral = dob + int(rand() * (min(60, age_days) + 1))

    visit: int | None = None
    if rand() >= prof.no_visit:
        gap = prof.visit_gap * (3 if rand() < 0.1 else 1)
        visit = today - int(rand() * (gap + 1))
        if visit < referral:
            visit = referral + int(rand() * (today - referral + 1))

    legal = prof.legal
    return CaseRow(
        case_id,
        f"{given} {surname}",
        gender,
        date.fromordinal(dob),
        ethnicity,
        team.name,
        workers[bisect(cum, rand() * cum[-1], 0, len(cum) - 1)],
        team.service,
        prof.category,
        status,
        prof.need.pick(rng),
        legal.pick(rng) if legal is not None else "",
        None if cp_start is None else date.fromordinal(cp_start),
        date.fromordinal(referral),
        None if visit is None else date.fromordinal(visit),
    )


# --------------------------------------------------------------------------- write


class _CsvDates(dict[date | None, str]):
    """date -> 'dd/mm/yyyy' (as exports write them), None -> ''; cached, the
    lookup stays in C (a case list repeats a few thousand dates)."""

    def __init__(self) -> None:
        super().__init__({None: ""})

    def __missing__(self, d: date | None) -> str:
        assert d is not None
        text = self[d] = f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
        return text


class _Serial(str):
    """The tail of an XLSX date cell: ' s="1"><v>46351</v></c>' (serial, dd/mm/yyyy style)."""


class _XlsxDates(dict[date | None, "_Serial | None"]):
    """date -> its cell tail, None -> None (empty cell); cached."""

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, d: date | None) -> _Serial:
        assert d is not None
        tail = _Serial(f' s="{_STYLE_DATE}"><v>{d.toordinal() - _EXCEL_EPOCH}</v></c>')
        self[d] = tail
        return tail


_Dates = _CsvDates | _XlsxDates


def _case_values(c: CaseRow, dates: _Dates) -> tuple[str | None, ...]:
    return (
        c.case_id,
        c.child_name,
        c.gender,
        dates[c.date_of_birth],
        c.ethnicity,
        c.team,
        c.worker,
        c.service,
        c.category,
        c.status,
        c.primary_need,
        c.legal_status,
        dates[c.cp_plan_start],
        dates[c.referral_date],
        dates[c.last_visit],
    )


def _staff_values(s: StaffMember, dates: _Dates) -> tuple[str | None, ...]:
    return (
        s.name,
        s.email,
        s.role,
        s.team,
        s.service,
        s.line_manager,
        "Yes" if s.available else "No",
        dates[s.absent_from],
        dates[s.absent_to],
    )


def _write_csv(path: Path, headers: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)


# A minimal, streaming SpreadsheetML writer. openpyxl's write-only mode takes ~17 s
# for a 50,000-row case list (no lxml); writing the XML directly takes well under 1 s.
# Strings go to a shared-string table (as Excel writes them), dates are serial numbers
# styled dd/mm/yyyy, the header row is bold and frozen. Every zip member carries one
# fixed timestamp, so the same authority always gives the same bytes.

_EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_STYLE_DATE = 1
_STYLE_HEADER = 2

_STYLES = (
    XML_HEAD + f'<styleSheet xmlns="{NS_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)  # fmt: skip


class _Sheet:
    """Turns rows of str / _Serial / None into <row> elements, collecting shared strings."""

    def __init__(self, n_columns: int) -> None:
        self.letters = [column_letter(i) for i in range(n_columns)]
        self.strings: dict[str, int] = {}

    def row(self, number: int, values: Sequence[str | None], style: int = 0) -> str:
        parts = [f'<row r="{number}">']
        append = parts.append
        strings = self.strings
        s_attr = f' s="{style}"' if style else ""
        for letter, value in zip(self.letters, values, strict=True):
            if not value:  # None or ""
                continue
            if type(value) is _Serial:
                append(f'<c r="{letter}{number}"{value}')
                continue
            index = strings.get(value)
            if index is None:
                index = strings[value] = len(strings)
            append(f'<c r="{letter}{number}" t="s"{s_attr}><v>{index}</v></c>')
        append("</row>")
        return "".join(parts)


def _zip_info(name: str, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    return info


def _write_xlsx(
    path: Path,
    sheet_name: str,
    headers: tuple[str, ...],
    rows: Iterable[tuple[Any, ...]],
    widths: tuple[int, ...],
    as_of: date,
) -> None:
    stamp = (as_of.year, as_of.month, as_of.day, 0, 0, 0)
    sheet = _Sheet(len(headers))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        head = {
            "[Content_Types].xml": content_types(1),
            "_rels/.rels": ROOT_RELS,
            "docProps/app.xml": APP_PROPERTIES,
            "docProps/core.xml": core_properties(
                AUTHORITY_NAME, datetime(as_of.year, as_of.month, as_of.day)
            ),
            "xl/workbook.xml": (
                XML_HEAD + f'<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
                f'<bookViews><workbookView/></bookViews><sheets><sheet name="{escape(sheet_name)}"'
                ' sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": workbook_rels(1),
            "xl/styles.xml": _STYLES,
        }
        for name, text in head.items():
            archive.writestr(_zip_info(name, stamp), text.encode())
        with archive.open(_zip_info("xl/worksheets/sheet1.xml", stamp), "w") as out:
            cols = "".join(
                f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                for i, w in enumerate(widths, 1)
            )
            out.write(
                (
                    XML_HEAD + f'<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
                    '<sheetViews><sheetView workbookViewId="0">'
                    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
                    "</sheetView></sheetViews>"
                    f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
                    + sheet.row(1, headers, _STYLE_HEADER)
                ).encode()
            )
            batch: list[str] = []
            for number, values in enumerate(rows, 2):
                batch.append(sheet.row(number, values))
                if len(batch) == 2000:
                    out.write("".join(batch).encode())
                    batch.clear()
            batch.append("</sheetData></worksheet>")
            out.write("".join(batch).encode())
        count = len(sheet.strings)
        shared = "".join(f'<si><t xml:space="preserve">{escape(t)}</t></si>' for t in sheet.strings)
        archive.writestr(
            _zip_info("xl/sharedStrings.xml", stamp),
            (
                f'{XML_HEAD}<sst xmlns="{NS_MAIN}" count="{count}" uniqueCount="{count}">'
                f"{shared}</sst>"
            ).encode(),
        )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


_CASE_WIDTHS = (14, 26, 9, 13, 28, 34, 24, 34, 17, 11, 10, 11, 16, 13, 13)
_STAFF_WIDTHS = (24, 38, 32, 34, 36, 24, 10, 13, 13)


def _prepare(path: Path) -> tuple[Path, str]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ValueError(f"{path}: expected a .csv or .xlsx file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, suffix


def write_case_list(authority: Authority, path: Path) -> Path:
    """Write the case list (open and closed rows) as .csv or .xlsx, by suffix.

    CSV: UTF-8, dates as dd/mm/yyyy text. XLSX: one sheet "Cases", real dates.
    """
    path, suffix = _prepare(path)
    if suffix == ".csv":
        text = _CsvDates()
        _write_csv(path, CASE_HEADERS, (_case_values(c, text) for c in authority.cases))
    else:
        cells = _XlsxDates()
        rows = (_case_values(c, cells) for c in authority.cases)
        _write_xlsx(path, "Cases", CASE_HEADERS, rows, _CASE_WIDTHS, authority.as_of)
    return path


def write_staff_roster(authority: Authority, path: Path) -> Path:
    """Write the staff roster as .csv (UTF-8) or .xlsx (sheet "Staff"), by suffix."""
    path, suffix = _prepare(path)
    if suffix == ".csv":
        text = _CsvDates()
        _write_csv(path, STAFF_HEADERS, (_staff_values(s, text) for s in authority.staff))
    else:
        cells = _XlsxDates()
        rows = (_staff_values(s, cells) for s in authority.staff)
        _write_xlsx(path, "Staff", STAFF_HEADERS, rows, _STAFF_WIDTHS, authority.as_of)
    return path


def write_sample_authority(
    dest: Path, *, cases: int = 1200, seed: int = 2026, case_format: str = "xlsx"
) -> tuple[Path, Path]:
    """Build Northvale and write ``dest/data/cases.<case_format>`` and ``dest/data/staff.csv``."""
    if case_format not in ("xlsx", "csv"):
        raise ValueError(f"case_format must be 'xlsx' or 'csv', got {case_format!r}")
    authority = build_authority(cases=cases, seed=seed)
    data = Path(dest) / "data"
    return (
        write_case_list(authority, data / f"cases.{case_format}"),
        write_staff_roster(authority, data / "staff.csv"),
    )
