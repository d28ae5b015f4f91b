"""The frozen-project guard for many-to-many links (``run.raw_files.add(f)``, and their through rows).

Model ``save()``/``delete()`` and the record querysets refuse writes to frozen projects; changes to
many-to-many links do not go through either, so ``m2m_changed`` is the one place below every door
(admin, API, services, shell) where they can be refused. Connected in ``ProjectsConfig.ready``.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models.signals import m2m_changed

#: set while a backup is restored: the rows are written as they were, frozen projects included
_restoring: ContextVar[bool] = ContextVar("labbook_restoring", default=False)


@contextmanager
def restoring_backup():
    """Let ``manage.py restore`` write the links of frozen projects back as they were saved."""
    token = _restoring.set(True)
    try:
        yield
    finally:
        _restoring.reset(token)


def _linked_project_ids(sender, instance, model, pk_set, action):
    from labbook.projects.models import ProjectRecord

    ids = set()
    if isinstance(instance, ProjectRecord):
        ids.add(instance.project_id)
    if not issubclass(model, ProjectRecord):
        return ids
    if pk_set:
        ids.update(model._base_manager.filter(pk__in=pk_set).values_list("project_id", flat=True))
    elif action == "pre_clear":
        # the records on the other side that lose their link
        mine = next(f for f in sender._meta.concrete_fields if f.related_model is type(instance))
        other = next(f for f in sender._meta.concrete_fields if f.related_model is model and f is not mine)
        linked = sender._base_manager.filter(**{mine.attname: instance.pk}).values(other.attname)
        ids.update(model._base_manager.filter(pk__in=linked).values_list("project_id", flat=True))
    return ids


def refuse_m2m_changes_in_frozen_projects(sender, instance, action, reverse, model, pk_set, **kwargs):
    if action not in {"pre_add", "pre_remove", "pre_clear"} or _restoring.get():
        return
    from labbook.projects.models import check_projects_writable

    check_projects_writable(_linked_project_ids(sender, instance, model, pk_set, action))


def _link_save(self, *args, **kwargs):
    from django.db import models

    from labbook.projects.models import check_link_row_writable

    check_link_row_writable(self)
    return models.Model.save(self, *args, **kwargs)


def _link_delete(self, *args, **kwargs):
    from django.db import models

    from labbook.projects.models import check_link_row_writable

    check_link_row_writable(self)
    return models.Model.delete(self, *args, **kwargs)


def guard_links(model) -> None:
    """Give an auto-created many-to-many through model the frozen-project guard of
    :class:`~labbook.projects.models.ProjectLink`: its managers (``objects``, ``_base_manager``,
    the ones ``add()``/``remove()`` use) refuse bulk writes, and its ``save()``/``delete()`` refuse
    to touch a frozen project's links (Django makes the class and sends it no save or delete
    signals, so the guard is put on the class here)."""
    from django.db import models

    from labbook.projects.models import ProjectLinkQuerySet

    manager_class = models.Manager.from_queryset(ProjectLinkQuerySet, "ProjectLinkManager")
    for manager in [*model._meta.managers, model._meta.base_manager]:
        if not isinstance(manager, manager_class):
            manager.__class__ = manager_class
    model.save = _link_save
    model.delete = _link_delete


def connect() -> None:
    from django.apps import apps

    from labbook.projects.models import _record_foreign_keys

    m2m_changed.connect(refuse_m2m_changes_in_frozen_projects, dispatch_uid="labbook-frozen-m2m")
    for model in apps.get_models(include_auto_created=True):
        if model._meta.auto_created and _record_foreign_keys(model):
            guard_links(model)
