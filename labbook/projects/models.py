"""Projects: every record belongs to one; people see a project through a membership with a role.

:class:`ProjectRecord` is the base of every domain model. It carries the project, who made the
record and when, and a ``version`` number that increments on each save (the archives issue uses it
to refuse lost updates). Writes to a frozen project are refused here, below every door.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    VIEWER = "viewer", "viewer"
    EDITOR = "editor", "editor"
    ADMIN = "admin", "admin"


#: what each role may do, from least to most
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class ProjectFrozen(ValidationError):
    """A write was attempted on a record of a frozen project."""


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    frozen_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="set when an archive admin freezes the study; read-only from then on",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def check_writable(self) -> None:
        if self.is_frozen:
            raise ProjectFrozen(
                f"project {self.name!r} is frozen since {self.frozen_at:%Y-%m-%d %H:%M}; its records cannot change"
            )


class Membership(models.Model):
    """A user, or every user of a group, in a project with a role."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="project_memberships",
    )
    group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="project_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        ordering = ["project", "role"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False)
                ),
                name="membership_user_xor_group",
                violation_error_message="a membership is for a user or for a group, not both",
            ),
            models.UniqueConstraint(
                fields=["project", "user"], name="unique_user_membership", condition=Q(user__isnull=False)
            ),
            models.UniqueConstraint(
                fields=["project", "group"], name="unique_group_membership", condition=Q(group__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.group} · {self.role} · {self.project}"


class ProjectRecord(models.Model):
    """Base of every domain record: project, provenance, optimistic version, frozen-project guard."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="incremented on every save; detects concurrent edits"
    )

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        # Every record this one points to (a treatment's batch and stock, a run's sample, ...) must
        # be in the same project: a project is the unit of visibility, freezing and export.
        if not self.project_id:
            return
        errors = {}
        for field in self._meta.concrete_fields:
            if (
                field.is_relation
                and field.name != "project"
                and issubclass(field.related_model, ProjectRecord)
            ):
                target_id = getattr(self, field.attname)
                if target_id is None:
                    continue
                target = getattr(self, field.name)
                if target.project_id != self.project_id:
                    errors[field.name] = f"{target} belongs to project {target.project}, not {self.project}"
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        from labbook.units import validate_quantities

        validate_quantities(self)
        if self.project_id:
            Project.objects.get(pk=self.project_id).check_writable()
        if self.pk is not None and not kwargs.get("force_insert"):
            self.version = (self.version or 0) + 1
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        Project.objects.get(pk=self.project_id).check_writable()
        return super().delete(*args, **kwargs)
