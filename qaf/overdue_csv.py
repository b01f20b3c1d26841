"""The CSV shape of `qaf overdue --format csv`: one row per late item and one per alert not
yet e-mailed, told apart by ``kind`` (an item's kind, or ``alert``), with the fields of the
JSON output where they apply and blanks where they do not. Every cell goes through
:func:`qaf.workbooks.safe_text`, so no spreadsheet runs a cell as a formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from qaf.workbooks import safe_text

if TYPE_CHECKING:
    from qaf.escalate import OverdueItem, RaisedAlert

ALERT_KIND = "alert"

# The first twelve are the late items' columns as they were before alerts joined the CSV.
FIELDS: tuple[str, ...] = (
    "id",
    "kind",
    "rule",
    "audit_id",
    "case_id",
    "responsible",
    "responsible_role",
    "due",
    "working_days_late",
    "level",
    "notify",
    "detail",
    "overall",
    "received_on",
    "reason",
    "recipient",
)


def _person(p: Mapping[str, object], level: object | None = None) -> str:
    """A recipient as one cell: "Name <email> (role[, level N])", or who was wanted and why
    nobody is there."""
    rung = "" if level is None else f", level {level}"
    if p["name"]:
        return f"{p['name']} <{p['email']}> ({p['role']}{rung})"
    return f"nobody ({p['role']}{rung}): {p.get('reason', '')}"


def item_row(item: OverdueItem) -> dict[str, object]:
    """A late item: its JSON fields, ``notify`` as one text."""
    row: dict[str, object] = dict(item.as_json())
    notify: Sequence[Mapping[str, object]] = row["notify"]  # type: ignore[assignment]
    row["notify"] = "; ".join(_person(n, n["level"]) for n in notify)
    return row


def alert_row(alert: RaisedAlert) -> dict[str, object]:
    """An alert raised by a return (E1, E2): its JSON fields, ``recipient`` as one text."""
    row: dict[str, object] = dict(alert.as_json())
    row["kind"] = ALERT_KIND
    row["recipient"] = _person(alert.recipient.as_json())
    return row


def overdue_rows(
    items: Iterable[OverdueItem], alerts: Iterable[RaisedAlert]
) -> Iterator[list[str]]:
    """The header, then the items (in their order: safety first), then the alerts, each cell
    safe text."""
    yield list(FIELDS)
    for row in (*map(item_row, items), *map(alert_row, alerts)):
        yield [safe_text(row.get(k)) for k in FIELDS]
