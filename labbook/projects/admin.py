from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from labbook.projects.forms import VersionedModelForm
from labbook.projects.models import Membership, Project, Role
from labbook.projects.permissions import can_admin, can_edit, has_role
from labbook.projects.selectors import projects_for


def _active_staff(request) -> bool:
    user = request.user
    return user.is_active and user.is_staff


def _writable_projects(user):
    return projects_for(user, min_role=Role.EDITOR).filter(frozen_at__isnull=True)


class MembershipInline(admin.TabularInline):
    """Memberships are managed by the project's admins (and superusers)."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user", "group"]

    def has_view_permission(self, request, obj=None):
        return _active_staff(request) and (obj is None or has_role(request.user, obj, Role.VIEWER))

    def has_add_permission(self, request, obj=None):
        return obj is not None and _active_staff(request) and can_admin(request.user, obj)

    has_change_permission = has_delete_permission = has_add_permission


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Members see their projects; project admins manage memberships and freeze; only a
    superuser creates projects and unfreezes them."""

    list_display = ["name", "slug", "created_at", "frozen_at", "freeze_reason"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "frozen_at", "frozen_by", "freeze_reason", "freeze_actions"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return projects_for(request.user)

    def has_view_permission(self, request, obj=None):
        return _active_staff(request) and (
            projects_for(request.user).exists() if obj is None else has_role(request.user, obj, Role.VIEWER)
        )

    def has_add_permission(self, request):
        return _active_staff(request) and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        if not _active_staff(request):
            return False
        if obj is None:
            return projects_for(request.user, min_role=Role.ADMIN).exists()
        return can_admin(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return _active_staff(request) and request.user.is_superuser and (obj is None or not obj.is_frozen)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.is_frozen and not request.user.is_superuser:
            fields += ["name", "slug", "description"]
        return fields

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None and obj.is_frozen else super().get_prepopulated_fields(request, obj)

    @admin.display(description="freeze")
    def freeze_actions(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if obj.is_frozen:
            url = reverse("admin:projects_project_unfreeze", args=[obj.pk])
            return format_html('<a class="button" href="{}">Unfreeze (superusers)…</a>', url)
        url = reverse("admin:projects_project_freeze", args=[obj.pk])
        return format_html('<a class="button" href="{}">Freeze this project…</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/freeze/",
                self.admin_site.admin_view(self.freeze_view),
                name="projects_project_freeze",
            ),
            path(
                "<int:pk>/unfreeze/",
                self.admin_site.admin_view(self.unfreeze_view),
                name="projects_project_unfreeze",
            ),
            *super().get_urls(),
        ]

    def _freeze_form_view(self, request, pk: int, *, unfreeze: bool):
        from django.core.exceptions import PermissionDenied, ValidationError

        from labbook.archives.services import project_freeze, project_unfreeze
        from labbook.projects.permissions import RecordNotFound

        project = self.get_queryset(request).filter(pk=pk).first()
        if project is None:
            raise Http404
        error = None
        if request.method == "POST":
            try:
                if unfreeze:
                    project_unfreeze(
                        project=project, user=request.user, reason=request.POST.get("reason", "")
                    )
                    messages.success(request, f"{project} is unfrozen; the reason is kept.")
                else:
                    event = project_freeze(
                        project=project, user=request.user, reason=request.POST.get("reason", "")
                    )
                    messages.success(request, f"{project} is frozen; signed manifest: {event.manifest_path}")
                return redirect("admin:projects_project_change", project.pk)
            except RecordNotFound:
                raise Http404 from None
            except (ValidationError, PermissionDenied) as exc:
                error = "; ".join(getattr(exc, "messages", [str(exc)]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "project": project,
            "unfreeze": unfreeze,
            "error": error,
            "title": f"{'Unfreeze' if unfreeze else 'Freeze'} {project}",
        }
        return TemplateResponse(request, "admin/projects/project/freeze.html", context)

    def freeze_view(self, request, pk: int):
        return self._freeze_form_view(request, pk, unfreeze=False)

    def unfreeze_view(self, request, pk: int):
        return self._freeze_form_view(request, pk, unfreeze=True)


def _has_history(model) -> bool:
    return hasattr(model._meta, "simple_history_manager_attribute")


class ProjectScopedAdmin(SimpleHistoryAdmin):
    """Admin for a ProjectRecord: lists only the user's projects' records (others' are 404),
    offers only their projects in choices, records who created a record, and shows validation
    errors as form errors.

    Permissions come from project roles: viewers read, editors add/change/delete, in projects that
    are not frozen; a frozen project's records are shown read-only with the freeze reason. The
    form carries the record's version, so concurrent edits are refused with what changed. The
    "History" page lists every version (django-simple-history)."""

    form = VersionedModelForm
    readonly_fields = ["version", "created_at", "modified_at", "created_by"]
    list_select_related = ["project"]

    def get_queryset(self, request):
        from labbook.projects.selectors import visible

        return visible(super().get_queryset(request), request.user)

    def get_list_filter(self, request):
        """Filters on related fields offer only what the user's visible rows point to (Django's
        default lists every project, batch, treatment... of the instance, others' included)."""
        from django.contrib.admin.utils import get_fields_from_path

        scoped = []
        for spec in super().get_list_filter(request):
            if isinstance(spec, str):
                try:
                    field = get_fields_from_path(self.model, spec)[-1]
                except Exception:
                    field = None
                if field is not None and field.is_relation:
                    spec = (spec, admin.RelatedOnlyFieldListFilter)
            elif (
                isinstance(spec, tuple)
                and isinstance(spec[1], type)
                and spec[1] is admin.RelatedFieldListFilter
            ):
                spec = (spec[0], admin.RelatedOnlyFieldListFilter)
            scoped.append(spec)
        return scoped

    # --- roles ----------------------------------------------------------------------------
    def has_view_permission(self, request, obj=None):
        if not _active_staff(request):
            return False
        if obj is None:
            return projects_for(request.user).exists()
        return has_role(request.user, obj.project, Role.VIEWER)

    def has_add_permission(self, request, *args):
        return _active_staff(request) and _writable_projects(request.user).exists()

    def has_change_permission(self, request, obj=None):
        if not _active_staff(request):
            return False
        if obj is None:
            return _writable_projects(request.user).exists()
        return can_edit(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        """The admin's form with the version check mixed in, whatever form a subclass sets."""
        form = kwargs.get("form") or self.form
        if not issubclass(form, VersionedModelForm):
            kwargs["form"] = type(f"Versioned{form.__name__}", (VersionedModelForm, form), {})
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        """Every change form carries the hidden version field, declared fieldsets included."""
        from django.contrib.admin.utils import flatten_fieldsets

        fieldsets = list(super().get_fieldsets(request, obj))
        editable = obj is not None and self.has_change_permission(request, obj)
        if editable and fieldsets and "expected_version" not in flatten_fieldsets(fieldsets):
            name, options = fieldsets[0]
            fieldsets[0] = (name, {**options, "fields": [*options["fields"], "expected_version"]})
        return fieldsets

    def revert_disabled(self, request, obj=None):
        return True  # a deleted record is restored with archives.services.record_restore

    def delete_view(self, request, object_id, extra_context=None):
        if self.get_object(request, object_id) is None:
            raise Http404  # others' records do not exist for this user
        return super().delete_view(request, object_id, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404  # others' records do not exist for this user
        if obj.project.is_frozen:
            why = f": {obj.project.freeze_reason}" if obj.project.freeze_reason else ""
            messages.warning(
                request,
                f"Project {obj.project} is frozen since {obj.project.frozen_at:%Y-%m-%d %H:%M}{why}. "
                "Its records are read-only.",
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        if not _has_history(self.model):
            return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
        history = self.model.history.filter(id=object_id, project__in=projects_for(request.user))
        if not history.exists() and not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if (
            not _has_history(self.model)
            or not self.model.history.filter(
                id=object_id, history_id=version_id, project__in=projects_for(request.user)
            ).exists()
        ):
            raise Http404
        return super().history_form_view(request, object_id, version_id, extra_context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project":
            kwargs["queryset"] = _writable_projects(request.user)
        elif hasattr(db_field.related_model, "project"):
            from labbook.projects.selectors import visible

            kwargs["queryset"] = visible(db_field.related_model, request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if hasattr(db_field.related_model, "project"):
            from labbook.projects.selectors import visible

            kwargs["queryset"] = visible(db_field.related_model, request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


def quantity_column(
    field_name: str, unit: str | None = None, *, description: str | None = None, digits: int = 4
):
    """A list_display column showing a QuantityField with its unit ("2.5 µL"), sortable."""
    from labbook.units import format_quantity

    def column(self, obj):
        value = getattr(obj, field_name)
        if value is None:
            return "—"
        field = obj._meta.get_field(field_name)
        return format_quantity(value, unit or field.unit, digits=digits)

    column.__name__ = f"{field_name}_display"
    return admin.display(description=description or field_name.replace("_", " "), ordering=field_name)(column)
