"""Base viewsets: thin and declarative (queryset, serializer, filterset); reads scoped to the
user's projects, writes checked against their role and the project's frozen state.

Who may do what is decided by ``labbook.projects.permissions``: not a member -> 404 (the record
does not exist for them), a viewer writing -> 403, a frozen project -> 403 with the reason.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework import mixins, permissions, viewsets

from labbook.api.export import ExportMixin
from labbook.projects.models import Role
from labbook.projects.permissions import require_role
from labbook.projects.selectors import projects_for, visible


class ProjectRolePermission(permissions.IsAuthenticated):
    """Reads for members; writes for editors (admins) of the record's project, unless it is frozen."""

    message = "writing needs the editor role in a project"

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.method in permissions.SAFE_METHODS or getattr(view, "action", None) != "create":
            return True
        return projects_for(request.user, min_role=Role.EDITOR).exists()

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        project = obj.project
        require_role(request.user, project, Role.EDITOR)
        project.check_writable()
        return True


class RecordReadOnlyViewSet(ExportMixin, viewsets.ReadOnlyModelViewSet):
    """List and detail of a ProjectRecord model, scoped to the user's projects; the list also as
    CSV and Excel (``?format=csv``, ``?format=xlsx``: :mod:`labbook.api.export`).

    ``queryset`` carries the select_related/prefetch_related a list page needs, so a page costs
    the same number of queries whatever its size; ``detail_serializer_class`` (optional) adds
    what is too costly for lists (lineage, payloads).
    """

    permission_classes = [ProjectRolePermission]
    detail_serializer_class = None

    def get_queryset(self):
        user = self.request.user
        if not user.is_authenticated or user.is_superuser:
            return visible(self.queryset.all(), user)
        # visible()'s rule with the user's projects read once per request and given as ids: its
        # subquery, repeated in the count and the page, was joined against every row counted
        # (a page of runs counts 20,000 of them)
        ids = self.__dict__.get("_project_ids")
        if ids is None:
            ids = self._project_ids = list(projects_for(user).values_list("pk", flat=True))
        if not ids:  # no project: visible()'s subquery (an empty IN list would be no SQL at all)
            return visible(self.queryset.all(), user)
        return self.queryset.filter(project_id__in=ids)

    def get_serializer_class(self):
        if self.action != "list" and self.detail_serializer_class is not None:
            return self.detail_serializer_class
        return super().get_serializer_class()


class RecordViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, RecordReadOnlyViewSet
):
    """Create, update and delete too: editors only, nothing in frozen projects, one transaction.

    A subclass whose records have services sets ``service`` (an object with ``create(user=,
    reason=, **fields)``, ``update(obj, user=, version=, reason=, **changes)`` and ``delete(obj,
    user=, reason=)``, e.g. ``labbook.synthesis.services.batches``): the writes then go through it,
    so the domain's checks and consequences are the same as from every other door. The history
    reason is the ``X-Change-Reason`` header, else the method and the fields sent.
    """

    service = None

    def _reason(self, fields) -> str:
        given = self.request.headers.get("X-Change-Reason", "").strip()
        return given or f"API {self.request.method} {', '.join(sorted(fields))}".strip()

    def perform_create(self, serializer):
        if self.service is not None:
            data = serializer.validated_data
            serializer.instance = self.service.create(
                user=self.request.user, reason=self._reason(data), **data
            )
            return
        project = serializer.validated_data["project"]
        require_role(self.request.user, project, Role.EDITOR)
        project.check_writable()
        with transaction.atomic():
            serializer.save(created_by=self.request.user)

    def perform_update(self, serializer):
        if self.service is not None:
            data = serializer.validated_data
            version = (
                serializer.initial_data.get("version") if hasattr(serializer.initial_data, "get") else None
            )
            serializer.instance = self.service.update(
                serializer.instance,
                user=self.request.user,
                version=version,
                reason=self._reason(data),
                **data,
            )
            return
        new_project = serializer.validated_data.get("project")
        if new_project is not None and new_project.pk != serializer.instance.project_id:
            require_role(self.request.user, new_project, Role.EDITOR)
            new_project.check_writable()
        with transaction.atomic():
            serializer.save()

    def perform_destroy(self, instance):
        if self.service is not None:
            self.service.delete(instance, user=self.request.user, reason=self._reason([]))
            return
        with transaction.atomic():
            instance.delete()
