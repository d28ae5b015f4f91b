"""Reads for archives: a record's history (who, when, what changed), freeze events, manifests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import QuerySet

from labbook.archives.models import FreezeEvent
from labbook.projects.models import ProjectRecord
from labbook.projects.permissions import RecordNotFound
from labbook.projects.selectors import projects_for

_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class HistoryEntry:
    history_id: int
    action: str  # created / changed / deleted
    at: dt.datetime
    user: str | None
    version: int
    reason: str | None
    changes: list[FieldChange] = field(default_factory=list)


def record_history(*, model: type[ProjectRecord], pk: int, user) -> list[HistoryEntry]:
    """Every create, change and delete of record ``pk`` of ``model``, newest first, with the fields
    each change touched. Works for deleted records too. Raises RecordNotFound when the record's
    project is not one of the user's (or it never existed)."""
    rows = list(
        model.history.filter(id=pk, project__in=projects_for(user)).order_by("-history_date", "-history_id")
    )
    if not rows:
        raise RecordNotFound(f"no {model._meta.verbose_name} {pk} for this user")
    entries = []
    for i, row in enumerate(rows):
        previous = rows[i + 1] if i + 1 < len(rows) else None
        changes = []
        if previous is not None and row.history_type == "~":
            delta = row.diff_against(previous, foreign_keys_are_objs=False)
            changes = [FieldChange(c.field, c.old, c.new) for c in delta.changes]
        entries.append(
            HistoryEntry(
                history_id=row.history_id,
                action=_ACTIONS[row.history_type],
                at=row.history_date,
                user=row.history_user.get_username() if row.history_user_id else None,
                version=row.version,
                reason=row.history_change_reason,
                changes=changes,
            )
        )
    return entries


def deleted_records(*, model: type[ProjectRecord], user) -> QuerySet:
    """Historical rows of records of ``model`` that were deleted (the restorable ones)."""
    live = model._base_manager.values("pk")
    return (
        model.history.filter(history_type="-", project__in=projects_for(user))
        .exclude(id__in=live)
        .order_by("-history_date")
    )


def freeze_events(*, project, user) -> QuerySet[FreezeEvent]:
    return FreezeEvent.objects.filter(project=project, project__in=projects_for(user))
