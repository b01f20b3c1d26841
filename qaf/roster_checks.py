"""The roster against the configuration and the case list (``qaf config check``).

A role typed in qaf.toml that nobody in the roster holds is found today, not next month
when re-audits go unallocated or alerts reach nobody (trial findings F21, F24):

* every role named by an allocation rule (``quota.role`` A1, ``reaudit.role`` A4,
  ``moderation.role`` M1) or an escalation rule (E1-E3, T4-T6) must match somebody;
* every team with open cases needs a Team Manager (E3 safety follow-ups, T2
  discussions), every service a Service Manager (T7) and a Head of Service, when the
  escalation rules name them.

All findings are warnings: the commands still run, and report "nobody" where it matters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from qaf.config import Config
from qaf.escalate import (
    AUDITOR,
    AUDITORS_MANAGER,
    CP_CHAIR,
    HEAD_OF_SERVICE,
    IRO,
    IRO_CP_CHAIR,
    PRACTITIONER,
    PRACTITIONERS_MANAGER,
    RESPONSIBLE,
    SERVICE_MANAGER,
    TEAM_MANAGER,
    canonical_role,
)
from qaf.grades import normalise
from qaf.problems import Problem
from qaf.records import Case
from qaf.sources import Roster

# Roles resolved from the case, the auditor or the follow-up, not looked up by role name.
RELATIVE_ROLES = frozenset(
    normalise(r)
    for r in (PRACTITIONER, PRACTITIONERS_MANAGER, AUDITOR, AUDITORS_MANAGER, RESPONSIBLE)
)
# Deadlines every return can create whatever the escalation rules say (qaf.escalate).
ALWAYS_NEEDED = {
    normalise(TEAM_MANAGER): ["E3 safety follow-up", "T2 discussion"],
    normalise(SERVICE_MANAGER): ["T7 closing the loop"],
}


def allocation_roles(cfg: Config) -> Iterator[tuple[str, str, str]]:
    """(config key, role, rule) of the roles that are given audits: matched by name."""
    for i, q in enumerate(cfg.quotas):
        yield f"quota[{i}].role", q.role, "A1"
    yield "reaudit.role", cfg.reaudit.role, "A4"
    yield "moderation.role", cfg.moderation.role, "M1"


def escalation_roles(cfg: Config) -> Iterator[tuple[str, str, str]]:
    """(config key, role, rule) of the roles told or chased: aliases ("HoS") allowed."""
    esc = cfg.escalation
    lists: list[tuple[str, tuple[str, ...], str]] = []
    lists += [
        (f"escalation.on_grade[{i}].notify", g.notify, "E1") for i, g in enumerate(esc.on_grade)
    ]
    lists += [
        (f"escalation.on_reaudit[{i}].notify", r.notify, "E2") for i, r in enumerate(esc.on_reaudit)
    ]
    lists.append(("escalation.safety_notify", esc.safety_notify, "E3"))
    for name, rule in (("late_return", "T4"), ("late_action", "T5"), ("late_followup", "T1")):
        rungs = getattr(esc, name)
        lists += [(f"escalation.{name}[{i}].notify", r.notify, rule) for i, r in enumerate(rungs)]
    lists.append(("escalation.repeat_late_return", esc.repeat_late_return, "T4"))
    lists.append(("timescales.extension_agreed_by", cfg.timescales.extension_agreed_by, "T6"))
    for key, roles, rule in lists:
        for role in roles:
            yield key, role, rule


def roster_roles(roster: Roster) -> list[str]:
    """The roles in the roster, each once, in the roster's first spelling, sorted."""
    seen: dict[str, str] = {}
    for s in roster.staff:
        if s.role.strip():
            seen.setdefault(normalise(s.role), s.role.strip())
    return sorted(seen.values(), key=str.lower)


def _held(role: str, roster: Roster, *, aliases: bool) -> bool:
    key = normalise(canonical_role(role) if aliases else role)
    if key in RELATIVE_ROLES:
        return True
    if aliases and key == normalise(IRO_CP_CHAIR):
        return roster.has_role(IRO) or roster.has_role(CP_CHAIR)
    return roster.has_role(canonical_role(role) if aliases else role)


def unheld_roles(cfg: Config, roster: Roster) -> list[Problem]:
    """Rules A1, A4, M1, E1-E3, T4-T6: a configured role nobody in the roster holds."""
    found = ", ".join(roster_roles(roster)) or "none"
    keys: dict[str, tuple[str, list[str], str]] = {}
    for source, aliases in ((allocation_roles(cfg), False), (escalation_roles(cfg), True)):
        for key, role, rule in source:
            if not role.strip() or _held(role, roster, aliases=aliases):
                continue
            entry = keys.setdefault(normalise(role), (role, [], rule))
            entry[1].append(key)
    return [
        Problem(
            rule,
            f'"{role}" ({_keys(used)}): nobody in the roster has this role (roles in the '
            f"roster: {found})",
            "warning",
            str(cfg.path),
        )
        for role, used, rule in keys.values()
    ]


def _keys(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" (and {len(keys) - 3} more)" if len(keys) > 3 else "")


def missing_managers(cfg: Config, roster: Roster, cases: Iterable[Case]) -> list[Problem]:
    """A team with open cases and no Team Manager, a service with no Service Manager or
    Head of Service, when escalation (or every return's deadlines) needs them."""
    needed: dict[str, list[str]] = {k: list(v) for k, v in ALWAYS_NEEDED.items()}
    for key, role, rule in escalation_roles(cfg):
        canon = normalise(canonical_role(role))
        if canon in (
            normalise(TEAM_MANAGER),
            normalise(SERVICE_MANAGER),
            normalise(HEAD_OF_SERVICE),
        ):
            needed.setdefault(canon, [])
            if f"{rule} {key}" not in needed[canon]:
                needed[canon].append(f"{rule} {key}")
    teams = Counter(c.team for c in cases)
    services = Counter(c.service for c in cases)
    out: list[Problem] = []
    checks = (
        (TEAM_MANAGER, "team", teams),
        (SERVICE_MANAGER, "service", services),
        (HEAD_OF_SERVICE, "service", services),
    )
    for role, scope, units in checks:
        uses = needed.get(normalise(role))
        if not uses:
            continue
        if not roster.has_role(role):
            if uses == ALWAYS_NEEDED.get(normalise(role)):  # else unheld_roles reported it
                out.append(
                    Problem(
                        uses[0].split()[0],
                        f"nobody in the roster is a {role}: {_keys(uses)} will reach nobody",
                        "warning",
                        str(cfg.path),
                    )
                )
            continue
        held = {normalise(getattr(s, scope)) for s in roster.with_role(role)}
        for unit, n in sorted(units.items()):
            if unit and normalise(unit) not in held:
                out.append(
                    Problem(
                        uses[0].split()[0],
                        f'{scope} "{unit}" ({n} open case{"s" if n != 1 else ""}) has no {role} '
                        f"in the roster: {_keys(uses)} will reach nobody",
                        "warning",
                        str(cfg.path),
                    )
                )
    return out


def check_roster(cfg: Config, roster: Roster, open_cases: Iterable[Case]) -> list[Problem]:
    """Every warning of this module, roles first."""
    return [*unheld_roles(cfg, roster), *missing_managers(cfg, roster, open_cases)]
