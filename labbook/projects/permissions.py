"""Who may do what in a project: one place for every door (admin, API, pages, services).

Roles rank viewer < editor < admin (see :data:`labbook.projects.models.ROLE_RANK`); superusers
act as admins everywhere. A user without any role in a project must not learn that its records
exist, so :func:`require_role` raises :class:`RecordNotFound` for them (the API maps it to 404)
and :class:`RoleRequired` for members whose role is too low (403).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from labbook.projects.models import ROLE_RANK, Project, Role
from labbook.projects.selectors import role_in


class RecordNotFound(Exception):
    """The user has no role in the record's project: to them it does not exist (404)."""


class RoleRequired(PermissionDenied):
    """The user is a member of the project but their role does not allow this (403)."""


def project_of(obj) -> Project:
    return obj if isinstance(obj, Project) else obj.project


def has_role(user, project: Project, role: Role) -> bool:
    current = role_in(user, project)
    return current is not None and ROLE_RANK[current] >= ROLE_RANK[Role(role)]


def require_role(user, project: Project, role: Role) -> Role:
    """Return the user's role in ``project`` if it is at least ``role``; raise otherwise."""
    current = role_in(user, project)
    if current is None or not user.is_active:
        raise RecordNotFound(f"no project {project.pk} for this user")
    if ROLE_RANK[current] < ROLE_RANK[Role(role)]:
        raise RoleRequired(
            f"this needs the {Role(role).label} role in project {project}; you are {Role(current).label}"
        )
    return current


def can_view(user, obj) -> bool:
    return has_role(user, project_of(obj), Role.VIEWER)


def can_edit(user, obj) -> bool:
    """An editor (or admin) of the record's project, which is not frozen."""
    project = project_of(obj)
    return not project.is_frozen and has_role(user, project, Role.EDITOR)


def can_admin(user, project: Project) -> bool:
    """Manage memberships and freeze: a project admin (or a superuser)."""
    return has_role(user, project, Role.ADMIN)
