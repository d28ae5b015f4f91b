"""Projects: every record belongs to one; people see a project through a membership with a role.

:class:`ProjectRecord` is the base of every domain model. It carries the project, who made the
record and when, and a ``version`` number that increments on each save (the archives issue uses it
to refuse lost updates). Writes to a frozen project are refused here, below every door.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, router, transaction
from django.db.models import Q


class Role(models.TextChoices):
    VIEWER = "viewer", "viewer"
    EDITOR = "editor", "editor"
    ADMIN = "admin", "admin"


#: what each role may do, from least to most
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class ProjectFrozen(ValidationError):
    """A write was attempted on a record of a frozen project."""


class ConflictError(Exception):
    """A save was based on a version of the record that is no longer current (a lost update).

    ``changes`` maps each field that someone else changed since ``expected_version`` to
    ``(value then, value now)``; the API turns this into a 409, forms into a form error.
    """

    def __init__(self, obj, *, expected_version: int, current_version: int, changes: dict):
        self.obj = obj
        self.expected_version = expected_version
        self.current_version = current_version
        self.changes = changes
        fields = ", ".join(sorted(changes)) or "no field values (saved again unchanged)"
        super().__init__(
            f"{obj._meta.verbose_name} {obj} was changed by someone else since you loaded it "
            f"(version {expected_version}, now {current_version}); changed: {fields}. "
            "Reload it and apply your changes again."
        )


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
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    freeze_reason = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def check_writable(self) -> None:
        if self.is_frozen:
            why = f" ({self.freeze_reason})" if self.freeze_reason else ""
            raise ProjectFrozen(
                f"project {self.name!r} is frozen since {self.frozen_at:%Y-%m-%d %H:%M}{why}; its records cannot change"
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


#: the violation code of :func:`code_unique_in_project` constraints (their error goes on ``code``)
CODE_TAKEN = "code_taken_in_project"


def code_unique_in_project(*, name: str, message: str) -> models.UniqueConstraint:
    """``code`` unique within a project (not across the instance): a project's codes are its own,
    and a refusal never tells anyone that another project uses a code."""
    return models.UniqueConstraint(
        fields=["project", "code"],
        name=name,
        violation_error_code=CODE_TAKEN,
        violation_error_message=message,
    )


def check_projects_writable(project_ids) -> None:
    """Raise ProjectFrozen if any of the projects ``project_ids`` is frozen."""
    frozen = Project.objects.filter(pk__in=set(project_ids), frozen_at__isnull=False).first()
    if frozen is not None:
        frozen.check_writable()


class ProjectRecordQuerySet(models.QuerySet):
    """Bulk writes refuse to touch records of frozen projects, like ``save()``/``delete()`` do.

    It is also every record model's base manager (``_base_manager``), so that door is guarded
    too. A model may name fields that are bookkeeping rather than the study's data in
    ``freeze_exempt_fields`` (a job's status and progress): an ``update()`` of only those passes."""

    def _check_writable(self) -> None:
        check_projects_writable(self.order_by().values_list("project_id", flat=True).distinct())

    def update(self, **kwargs):
        exempt = getattr(self.model, "freeze_exempt_fields", frozenset())
        if not set(kwargs) <= exempt:
            self._check_writable()
            if "project" in kwargs or "project_id" in kwargs:  # moving rows into a frozen project
                target = kwargs.get("project", kwargs.get("project_id"))
                check_projects_writable([getattr(target, "pk", target)])
        return super().update(**kwargs)

    update.alters_data = True

    def delete(self):
        self._check_writable()
        return super().delete()

    delete.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        check_projects_writable(o.project_id for o in objs)
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        check_projects_writable(o.project_id for o in objs)
        # the rows may have been moved out of a frozen project in memory
        check_projects_writable(
            self.model._base_manager.filter(pk__in=[o.pk for o in objs]).values_list("project_id", flat=True)
        )
        return super().bulk_update(objs, fields, *args, **kwargs)


def _record_foreign_keys(model) -> list:
    """The foreign keys of ``model`` that point to project records."""
    return [
        f
        for f in model._meta.concrete_fields
        if f.many_to_one and isinstance(f.related_model, type) and issubclass(f.related_model, ProjectRecord)
    ]


def linked_project_ids(model, rows) -> set:
    """Projects of the records that ``rows`` (instances, or a queryset, of ``model``) point to."""
    ids = set()
    for f in _record_foreign_keys(model):
        if isinstance(rows, models.QuerySet):
            targets = rows.order_by().values(f.attname)
        else:
            targets = {getattr(o, f.attname) for o in rows} - {None}
        ids.update(
            f.related_model._base_manager.filter(pk__in=targets)
            .order_by()
            .values_list("project_id", flat=True)
            .distinct()
        )
    return ids


def check_links_writable(model, rows) -> None:
    """Raise ProjectFrozen if a row of ``model`` in ``rows`` links a record of a frozen project
    (unless a backup is being restored)."""
    from labbook.projects.signals import _restoring

    if not _restoring.get():
        check_projects_writable(linked_project_ids(model, rows))


def check_link_row_writable(obj) -> None:
    """Raise ProjectFrozen if saving or deleting the link row ``obj`` touches a frozen project's
    record (what it links now, and what its stored row linked)."""
    model = type(obj)
    if obj.pk is not None and not obj._state.adding:
        check_links_writable(model, model._base_manager.filter(pk=obj.pk))
    check_links_writable(model, [obj])


class ProjectLinkQuerySet(models.QuerySet):
    """For rows without a project of their own that link project records (many-to-many through
    rows, a job's inputs): bulk writes refuse to touch links of a frozen project's records."""

    def update(self, **kwargs):
        check_links_writable(self.model, self)
        result = super().update(**kwargs)
        check_links_writable(self.model, self)  # nor re-point them to a frozen project's records
        return result

    update.alters_data = True

    def delete(self):
        check_links_writable(self.model, self)
        return super().delete()

    delete.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        check_links_writable(self.model, objs)
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        check_links_writable(self.model, objs)
        check_links_writable(self.model, self.model._base_manager.filter(pk__in=[o.pk for o in objs]))
        return super().bulk_update(objs, fields, *args, **kwargs)


class ProjectLink(models.Model):
    """Base of a model whose rows link project records without a project of their own (a job's
    input files): saving or deleting one that touches a frozen project's record is refused.
    Auto-created many-to-many through models get the same guard in ``signals.guard_links``."""

    objects = ProjectLinkQuerySet.as_manager()

    class Meta:
        abstract = True
        base_manager_name = "objects"

    def save(self, *args, **kwargs):
        check_link_row_writable(self)
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        check_link_row_writable(self)
        return super().delete(*args, **kwargs)


class ProjectRecord(models.Model):
    """Base of every domain record: project, provenance, optimistic version, frozen-project guard.

    Saving an existing record is an optimistic-locking UPDATE: it only succeeds if the row still
    has the ``version`` this instance was loaded with (or was told to expect); otherwise
    :class:`ConflictError` says what someone else changed meanwhile, and nothing is written.
    """

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

    objects = ProjectRecordQuerySet.as_manager()

    class Meta:
        abstract = True
        base_manager_name = "objects"  # the guarded queryset, also for ``_base_manager``

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

    def validate_constraints(self, exclude=None) -> None:
        """As Django's, with a taken code reported on the ``code`` field (as ``unique=True`` did)."""
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict({})
            general = errors.pop(NON_FIELD_ERRORS, [])
            taken = [e for e in general if getattr(e, "code", None) == CODE_TAKEN]
            if taken:
                errors.setdefault("code", []).extend(taken)
            rest = [e for e in general if getattr(e, "code", None) != CODE_TAKEN]
            if rest:
                errors[NON_FIELD_ERRORS] = rest
            raise ValidationError(errors) from None

    def save(self, *args, **kwargs):
        from labbook.units import validate_quantities

        validate_quantities(self)
        if self.project_id:
            Project.objects.get(pk=self.project_id).check_writable()
        if self.pk is not None and not self._state.adding:
            # moving a record out of a frozen project is a change to that project too
            stored = type(self)._base_manager.filter(pk=self.pk).values_list("project_id", flat=True).first()
            if stored is not None and stored != self.project_id:
                Project.objects.get(pk=stored).check_writable()
        # history says who made a record even when no request is around (services, the shell)
        attributed = self._state.adding and self.created_by_id and "_history_user" not in self.__dict__
        if attributed:
            self._history_user = self.created_by
        if self.pk is not None and not self._state.adding and not kwargs.get("force_insert"):
            self._expected_version = self.version or 0
            self.version = self._expected_version + 1
            if kwargs.get("update_fields") is not None:  # a partial save is a change too
                kwargs["update_fields"] = {*kwargs["update_fields"], "version", "modified_at"}
        try:
            if getattr(self, "_expected_version", None) is not None:
                # a savepoint, so a refused update leaves the caller's transaction usable
                with transaction.atomic(using=kwargs.get("using") or router.db_for_write(type(self))):
                    super().save(*args, **kwargs)
            else:
                super().save(*args, **kwargs)
        except ConflictError:
            self.version = self._expected_version
            raise
        finally:
            self._expected_version = None
            if attributed:
                del self._history_user

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update, returning_fields):
        expected = getattr(self, "_expected_version", None)
        if expected is None or not values:
            return super()._do_update(
                base_qs, using, pk_val, values, update_fields, forced_update, returning_fields
            )
        updated = super()._do_update(
            base_qs.filter(version=expected),
            using,
            pk_val,
            values,
            update_fields,
            forced_update,
            returning_fields,
        )
        if not updated:
            current = base_qs.filter(pk=pk_val).first()
            if current is not None:
                raise ConflictError(
                    self,
                    expected_version=expected,
                    current_version=current.version,
                    changes=changes_since(current, expected),
                )
        return updated

    def delete(self, *args, **kwargs):
        Project.objects.get(pk=self.project_id).check_writable()
        return super().delete(*args, **kwargs)


#: bookkeeping fields left out when comparing versions of a record
BOOKKEEPING_FIELDS = {"id", "version", "modified_at", "created_at", "created_by"}


def field_values(obj) -> dict:
    """Stored values of ``obj`` by field name (foreign keys as ids, quantities as floats in their
    column's unit), for comparisons."""
    return {
        f.name: obj.__dict__.get(f.attname)
        for f in obj._meta.concrete_fields
        if f.name not in BOOKKEEPING_FIELDS
    }


def changes_since(current, expected_version: int) -> dict:
    """What changed in ``current`` (a fresh row) since its ``expected_version``: field -> (then, now).

    Read from the record's history when it has one; without the old version on record, every
    field is listed with its current value (then = None)."""
    now = field_values(current)
    history = getattr(type(current), "history", None)
    then = None
    if history is not None:
        old = current.history.filter(version=expected_version).order_by("-history_id").first()
        if old is not None:
            then = {name: old.__dict__.get(type(current)._meta.get_field(name).attname) for name in now}
    if then is None:
        return {name: (None, value) for name, value in now.items()}
    return {name: (then[name], now[name]) for name in now if then[name] != now[name]}
