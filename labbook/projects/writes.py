"""The steps every record write takes, whatever the record type: the base of each app's services.

``record_create`` / ``record_update`` / ``record_delete`` check the user's role in the record's project
and the freeze (:func:`authorise`), refuse an update without the version it is based on or with a
stale one (``ConflictError``, 409 at the API), run ``full_clean()`` and save with history (who, why).
Each app's services.py composes them with its own rules and consequences (synthesis refreshes the Cl:I
downstream, files links raw files...), and :class:`RecordWriters` is the shape in which the doors (the
API's RecordViewSet, the admin's ProjectScopedAdmin) call an app's services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from labbook.projects.models import ConflictError, Project, Role, changes_since
from labbook.projects.permissions import RecordNotFound, RoleRequired, require_role

#: simple-history keeps at most this many characters of a change reason
_REASON_MAX = 100


def authorise(user, project: Project) -> None:
    """An editor (or admin) of ``project``, which is not frozen; raises otherwise."""
    if user is None:
        raise RoleRequired("writing needs a user with the editor role in the project")
    require_role(user, project, Role.EDITOR)
    project.check_writable()


def save_with_history(obj, *, user, reason: str) -> None:
    obj._history_user = user
    obj._change_reason = reason[:_REASON_MAX]
    obj.save()


def record_create(model, *, user, project: Project, reason: str = "", **fields):
    authorise(user, project)
    obj = model(project=project, created_by=user, **fields)
    obj.full_clean()
    save_with_history(obj, user=user, reason=reason or "created")
    return obj


def record_update(obj, *, user, version, reason: str, changes: dict[str, Any]):
    """Apply ``changes`` to the stored row of ``obj`` if it is still at ``version``."""
    model = type(obj)
    authorise(user, obj.project)
    if version is None or version == "":
        current = model._base_manager.filter(pk=obj.pk).values_list("version", flat=True).first()
        raise ValidationError(
            {
                "version": "required when changing a record: send the version you loaded (this "
                f"record is now at version {current}), so that nobody's change is overwritten unseen"
            }
        )
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise ValidationError({"version": f"must be an integer, got {version!r}"}) from None
    current = model._base_manager.select_for_update().filter(pk=obj.pk).first()
    if current is None:
        raise RecordNotFound(f"{model._meta.verbose_name} {obj.pk} no longer exists")
    if current.version != version:
        raise ConflictError(
            current,
            expected_version=version,
            current_version=current.version,
            changes=changes_since(current, version),
        )
    editable = {f.name for f in model._meta.concrete_fields if f.editable}
    unknown = sorted(set(changes) - editable)
    if unknown:
        raise ValidationError({name: "not an editable field" for name in unknown})
    project = changes.get("project")
    if project is not None and project.pk != current.project_id:
        authorise(user, project)
    for name, value in changes.items():
        setattr(current, name, value)
    current.full_clean()
    save_with_history(
        current, user=user, reason=reason or f"changed {', '.join(sorted(changes)) or 'nothing'}"
    )
    return current


def record_delete(obj, *, user, reason: str) -> None:
    authorise(user, obj.project)
    obj._history_user = user
    obj._change_reason = (reason or "deleted")[:_REASON_MAX]
    obj.delete()


@dataclass(frozen=True)
class RecordWriters:
    """One record type's services as the doors call them: ``create(user=, reason=, **fields)``,
    ``update(obj, user=, version=, reason=, **changes)``, ``delete(obj, user=, reason=)``.

    The API's RecordViewSet and the admin's ProjectScopedAdmin (and its inlines) call a
    ``service`` attribute of this shape when a subclass sets one."""

    create_fn: Callable[..., Any]
    update_fn: Callable[..., Any]
    delete_fn: Callable[..., Any]
    keyword: str  # how update_fn/delete_fn name the record ("batch", "stock", ...)

    def create(self, *, user, reason: str = "", **fields):
        return self.create_fn(user=user, reason=reason, **fields)

    def update(self, obj, *, user, version, reason: str = "", **changes):
        return self.update_fn(user=user, version=version, reason=reason, **{self.keyword: obj}, **changes)

    def delete(self, obj, *, user, reason: str = "") -> None:
        self.delete_fn(user=user, reason=reason, **{self.keyword: obj})
