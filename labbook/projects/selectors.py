"""Reads scoped to what a user may see. Every list, page and API view starts from these."""

from __future__ import annotations

from django.db.models import Model, Q, QuerySet

from labbook.projects.models import ROLE_RANK, Membership, Project, Role


def _membership_q(user) -> Q:
    return Q(user=user) | Q(group__in=user.groups.all())


def projects_for(user, *, min_role: Role = Role.VIEWER) -> QuerySet[Project]:
    """The projects ``user`` belongs to (directly or through a group) with at least ``min_role``;
    every project for a superuser; none for anonymous users."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    roles = [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[min_role]]
    ids = Membership.objects.filter(_membership_q(user), role__in=roles).values("project_id")
    return Project.objects.filter(pk__in=ids)


def role_in(user, project: Project) -> Role | None:
    """The highest role ``user`` has in ``project`` (admin for superusers), or None."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    roles = Membership.objects.filter(_membership_q(user), project=project).values_list("role", flat=True)
    return max((Role(r) for r in roles), key=ROLE_RANK.__getitem__, default=None)


def visible(model_or_qs: type[Model] | QuerySet, user) -> QuerySet:
    """Records of ``model_or_qs`` in the projects ``user`` belongs to."""
    qs = model_or_qs if isinstance(model_or_qs, QuerySet) else model_or_qs._default_manager.all()
    if user is not None and user.is_authenticated and user.is_superuser:
        return qs
    return qs.filter(project__in=projects_for(user))
