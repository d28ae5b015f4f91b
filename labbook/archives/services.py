"""Archive workflows: freeze and unfreeze a project, update a record without losing others'
changes, restore a deleted record from its history.

Every service is keyword-only, checks the user's role first (raising the typed errors of
:mod:`labbook.projects.permissions`), and writes in one transaction.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from labbook.archives import signing
from labbook.archives.models import FreezeAction, FreezeEvent
from labbook.archives.records import project_records, record_sha256
from labbook.files.models import RawFile
from labbook.projects.models import ConflictError, Project, ProjectRecord, Role, changes_since
from labbook.projects.permissions import RecordNotFound, require_role


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "give a reason; it is kept with the project"})
    return reason


def manifest_payload(*, project: Project, user, at, reason: str) -> dict:
    """What a freeze manifest states: every file's SHA-256 and size, every record's content hash."""
    files = [
        {"id": f.pk, "name": f.original_name, "sha256": f.sha256, "size": f.size}
        for f in RawFile.objects.filter(project=project).order_by("pk")
    ]
    records = [
        {"model": model._meta.label, "id": obj.pk, "version": obj.version, "sha256": record_sha256(obj)}
        for model, qs in project_records(project, app_labels=None)
        for obj in qs.prefetch_related(*[m.name for m in model._meta.many_to_many])
    ]
    return {
        "kind": "labbook freeze manifest",
        "format": 1,
        "project": {"id": project.pk, "slug": project.slug, "name": project.name},
        "frozen_at": at.isoformat(),
        "frozen_by": user.get_username() if user else None,
        "reason": reason,
        "files": files,
        "records": records,
    }


@transaction.atomic
def project_freeze(*, project: Project, user, reason: str) -> FreezeEvent:
    """Freeze ``project``: from now on nothing in it can change. Only a project admin may.

    Records who, when and why, and writes a manifest of every file's SHA-256 (and every record's
    content hash), signed with Ed25519, to ``manifests/<slug>/<time>.manifest.json`` in the default
    storage, with the public key beside it (``.pub``)."""
    require_role(user, project, Role.ADMIN)
    reason = _reason(reason)
    project = Project.objects.select_for_update().get(pk=project.pk)
    if project.is_frozen:
        raise ValidationError(f"project {project} is already frozen since {project.frozen_at:%Y-%m-%d %H:%M}")
    at = timezone.now()
    signed = signing.sign(manifest_payload(project=project, user=user, at=at, reason=reason))
    base = f"manifests/{project.slug}/{at:%Y%m%dT%H%M%S%fZ}"
    path = default_storage.save(
        f"{base}.manifest.json", ContentFile(json.dumps(signed, indent=2, sort_keys=True).encode())
    )
    default_storage.save(f"{base}.pub", ContentFile((signed["public_key"] + "\n").encode()))
    Project.objects.filter(pk=project.pk).update(frozen_at=at, frozen_by=user, freeze_reason=reason)
    project.refresh_from_db()
    return FreezeEvent.objects.create(
        project=project,
        action=FreezeAction.FREEZE,
        at=at,
        user=user,
        reason=reason,
        manifest=signed,
        manifest_path=path,
    )


@transaction.atomic
def project_unfreeze(*, project: Project, user, reason: str) -> FreezeEvent:
    """Unfreeze ``project``; only a superuser may, and the reason is kept."""
    if user is None or not user.is_active or not user.is_superuser:
        raise PermissionDenied("only a superuser can unfreeze a project")
    reason = _reason(reason)
    project = Project.objects.select_for_update().get(pk=project.pk)
    if not project.is_frozen:
        raise ValidationError(f"project {project} is not frozen")
    Project.objects.filter(pk=project.pk).update(frozen_at=None, frozen_by=None, freeze_reason="")
    project.refresh_from_db()
    return FreezeEvent.objects.create(
        project=project, action=FreezeAction.UNFREEZE, at=timezone.now(), user=user, reason=reason
    )


@transaction.atomic
def record_update(
    *, obj: ProjectRecord, expected_version: int, changes: dict[str, Any], user
) -> ProjectRecord:
    """Apply ``changes`` to ``obj`` if it is still at ``expected_version``; otherwise raise
    :class:`ConflictError` listing what someone else changed since. Needs the editor role."""
    require_role(user, obj.project, Role.EDITOR)
    obj.project.check_writable()
    model = type(obj)
    current = model._base_manager.select_for_update().filter(pk=obj.pk).first()
    if current is None:
        raise RecordNotFound(f"{model._meta.verbose_name} {obj.pk} no longer exists")
    if current.version != expected_version:
        raise ConflictError(
            current,
            expected_version=expected_version,
            current_version=current.version,
            changes=changes_since(current, expected_version),
        )
    editable = {f.name for f in model._meta.concrete_fields if f.editable and f.name != "project"}
    unknown = set(changes) - editable
    if unknown:
        raise ValidationError({name: "not an editable field" for name in sorted(unknown)})
    for name, value in changes.items():
        setattr(current, name, value)
    current.full_clean()
    current._history_user = user
    current.save()
    return current


@transaction.atomic
def record_restore(
    *, model: type[ProjectRecord], pk: int, user, history_id: int | None = None
) -> ProjectRecord:
    """Bring back a deleted record as it was just before deletion (or at ``history_id``).

    Its many-to-many links come back as the history recorded them when the model keeps them.
    Needs the editor role in the record's project, which must not be frozen."""
    history = model.history.filter(id=pk)
    entry = history.get(history_id=history_id) if history_id else history.exclude(history_type="-").first()
    if entry is None:
        raise RecordNotFound(f"no history for {model._meta.verbose_name} {pk}")
    if model._base_manager.filter(pk=pk).exists():
        raise ValidationError(
            f"{model._meta.verbose_name} {pk} exists; only a deleted record can be restored"
        )
    instance = entry.instance
    require_role(user, instance.project, Role.EDITOR)
    instance.project.check_writable()
    instance._history_user = user
    instance._change_reason = f"restored from history {entry.history_id}"
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
            for m2m in model._meta.many_to_many:
                through_history = getattr(entry, m2m.name, None)
                if through_history is None:
                    continue
                ids = [getattr(row, m2m.m2m_reverse_field_name() + "_id") for row in through_history.all()]
                existing = m2m.related_model._base_manager.filter(pk__in=ids)
                getattr(instance, m2m.name).set(existing)
    except IntegrityError as exc:
        raise ValidationError(
            f"{model._meta.verbose_name} {pk} cannot be restored: a record it points to is gone ({exc})"
        ) from exc
    return instance
