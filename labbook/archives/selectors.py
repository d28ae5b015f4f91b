"""Reads for archives: a record's history (who, when, what changed), freeze events, manifests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import QuerySet

from labbook.archives.models import FreezeEvent
from labbook.projects.models import BOOKKEEPING_FIELDS, ProjectRecord
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


def _values(row, model) -> dict:
    """A historical row's stored values (quantities as floats in their column's unit)."""
    return {
        f.name: row.__dict__.get(f.attname)
        for f in model._meta.concrete_fields
        if f.name not in BOOKKEEPING_FIELDS
    }


def _m2m_ids(rows, key: str) -> list:
    return [r.get(key, r.get(f"{key}_id")) for r in rows]


def record_history(*, model: type[ProjectRecord], pk: int, user) -> list[HistoryEntry]:
    """Every create, change and delete of record ``pk`` of ``model``, newest first, with the fields
    each change touched (stored values: quantities as floats in the column's unit, foreign keys as
    ids, many-to-many links as sorted ids). Works for deleted records too. Raises RecordNotFound when the record's
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
            old, new = _values(previous, model), _values(row, model)
            changes = [FieldChange(name, old[name], new[name]) for name in new if old[name] != new[name]]
            m2m = [f.name for f in getattr(row, "_history_m2m_fields", [])]
            if m2m:
                delta = row.diff_against(previous, included_fields=m2m, foreign_keys_are_objs=False)
                for c in delta.changes:
                    key = model._meta.get_field(c.field).m2m_reverse_field_name()
                    changes.append(
                        FieldChange(c.field, sorted(_m2m_ids(c.old, key)), sorted(_m2m_ids(c.new, key)))
                    )
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
