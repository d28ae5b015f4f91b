"""Projects the user belongs to, with their role in each (read-only; the list also as CSV and Excel)."""

from rest_framework import viewsets

from labbook.api.export import ExportMixin
from labbook.api.projects.serializers import ProjectSerializer
from labbook.projects.models import ROLE_RANK, Membership, Project, Role
from labbook.projects.selectors import projects_for


class ProjectViewSet(ExportMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Project.objects.all()
    serializer_class = ProjectSerializer
    filterset_fields = {"name": ["exact", "icontains"], "slug": ["exact"], "frozen_at": ["isnull"]}
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return projects_for(self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        user = self.request.user
        roles: dict[int, str] = {}
        if user.is_authenticated:
            if user.is_superuser:
                return {**context, "roles": _AllAdmin()}
            rows = Membership.objects.filter(user=user) | Membership.objects.filter(
                group__in=user.groups.all()
            )
            for project_id, role in rows.values_list("project_id", "role"):
                if project_id not in roles or ROLE_RANK[Role(role)] > ROLE_RANK[Role(roles[project_id])]:
                    roles[project_id] = role
        return {**context, "roles": roles}


class _AllAdmin(dict):
    def get(self, key, default=None):
        return Role.ADMIN.value
