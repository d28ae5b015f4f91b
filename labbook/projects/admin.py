from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from simple_history.admin import SimpleHistoryAdmin

from labbook.projects.forms import VersionedModelForm
from labbook.projects.models import Role
from labbook.projects.permissions import can_edit, has_role
from labbook.projects.selectors import projects_for


def active_staff(request) -> bool:
    """An active staff user: who may open the admin at all."""
    user = request.user
    return user.is_active and user.is_staff


def _writable_projects(user):
    return projects_for(user, min_role=Role.EDITOR).filter(frozen_at__isnull=True)


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
        if not active_staff(request):
            return False
        if obj is None:
            return projects_for(request.user).exists()
        return has_role(request.user, obj.project, Role.VIEWER)

    def has_add_permission(self, request, *args):
        return active_staff(request) and _writable_projects(request.user).exists()

    def has_change_permission(self, request, obj=None):
        if not active_staff(request):
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
        form_class = super().get_form(request, obj, **kwargs)
        refusal = getattr(request, "_service_refusal", None)
        return _with_refusal(form_class, refusal) if refusal is not None else form_class

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

    # --- writes through the domain's services, when a subclass names them ------------------
    #: an object with create(user=, reason=, **fields), update(obj, user=, version=, reason=,
    #: **changes) and delete(obj, user=, reason=) (e.g. labbook.synthesis.services.batches): when
    #: set, the admin saves and deletes through it (role, freeze, version, rules, consequences),
    #: and a refusal is shown on the form with what was typed kept.
    service = None

    def save_model(self, request, obj, form, change):
        if self.service is None:
            if not change and obj.created_by_id is None:
                obj.created_by = request.user
            return super().save_model(request, obj, form, change)
        names = {f.name for f in obj._meta.concrete_fields if f.editable}
        links = {f.name for f in obj._meta.many_to_many}  # set by the service too, with the record
        if change:
            changes = {name: getattr(obj, name) for name in form.changed_data if name in names}
            changes.update({name: form.cleaned_data[name] for name in form.changed_data if name in links})
            saved = self.service.update(
                obj,
                user=request.user,
                version=form.cleaned_data.get("expected_version"),
                reason=f"admin: {', '.join(sorted(changes)) or 'saved unchanged'}",
                **changes,
            )
        else:
            fields = {name: getattr(obj, name) for name in form.fields if name in names}
            fields.update({name: form.cleaned_data[name] for name in form.fields if name in links})
            saved = self.service.create(user=request.user, reason="admin: added", **fields)
        _adopt(obj, saved)

    def save_related(self, request, form, formsets, change):
        if self.service is None:
            return super().save_related(request, form, formsets, change)
        # the many-to-many fields were written by the service (save_model), not form.save_m2m()
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        service = getattr(formset, "service", None)
        if service is None:
            return super().save_formset(request, form, formset, change)
        parent = formset.instance
        formset.save(commit=False)
        for obj in formset.deleted_objects:
            service.delete(obj, user=request.user, reason=f"admin: removed from {parent}")
        names = {f.name for f in formset.model._meta.concrete_fields if f.editable} - {"project"}
        for obj, changed in formset.changed_objects:
            changed = [name for name in changed if name in names]  # not the hidden expected_version
            if not changed:
                continue
            service.update(
                obj,
                user=request.user,
                version=obj.version,  # the version the row was loaded at (VersionedModelForm.clean)
                reason=f"admin, in {parent}: {', '.join(sorted(changed))}",
                **{name: getattr(obj, name) for name in changed},
            )
        for obj in formset.new_objects:
            fields = {name: getattr(obj, name) for name in formset.form.base_fields if name in names}
            fields[formset.fk.name] = parent  # the project comes from the parent, in the service
            _adopt(obj, service.create(user=request.user, reason=f"admin: added in {parent}", **fields))

    def delete_model(self, request, obj):
        if self.service is None:
            return super().delete_model(request, obj)
        self.service.delete(obj, user=request.user, reason="admin: deleted")

    def delete_queryset(self, request, queryset):
        if self.service is None:
            return super().delete_queryset(request, queryset)
        from django.core.exceptions import ValidationError
        from django.db import transaction

        try:
            with transaction.atomic():
                for obj in queryset:
                    self.service.delete(obj, user=request.user, reason="admin: deleted (bulk)")
        except ValidationError as exc:
            messages.error(request, f"Nothing was deleted: {'; '.join(exc.messages)}")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """A refusal by the service (raised after the form was valid) rolls the whole save back
        and the form is shown again with the reason, and what was typed."""
        from django.core.exceptions import ValidationError

        from labbook.projects.models import ConflictError
        from labbook.projects.permissions import RecordNotFound

        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RecordNotFound:
            raise Http404 from None
        except (ValidationError, ConflictError) as exc:
            if self.service is None or request.method != "POST":
                raise
            request._service_refusal = exc
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        from django.core.exceptions import ValidationError

        if self.get_object(request, object_id) is None:
            raise Http404  # others' records do not exist for this user
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as exc:
            messages.error(request, f"Not deleted: {'; '.join(exc.messages)}")
            info = (self.model._meta.app_label, self.model._meta.model_name)
            return redirect(f"admin:{info[0]}_{info[1]}_change", object_id)


def _adopt(obj, saved) -> None:
    """Make the admin's in-memory ``obj`` the record the service saved (pk, version, derived)."""
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
    obj._state.adding = False
    obj._state.db = saved._state.db


def _with_refusal(form_class, refusal):
    """``form_class`` whose validation reports ``refusal`` (a service's ValidationError or
    ConflictError), on the fields it names when the form has them."""

    def clean(self):
        cleaned = form_class.clean(self)
        if hasattr(refusal, "error_dict"):
            for field, errors in refusal.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, getattr(refusal, "messages", None) or str(refusal))
        return cleaned

    return type(form_class.__name__, (form_class,), {"clean": clean})


class ProjectInlineFormSet(forms.BaseInlineFormSet):
    """Inline rows are in their parent's project: set before validation, so the models' rules
    (codes unique per project, links within a project) are checked as they will be saved."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        project_id = getattr(self.instance, "project_id", None)
        if project_id and getattr(form.instance, "project_id", None) is None:
            form.instance.project_id = project_id
        return form


class ProjectScopedInline(admin.TabularInline):
    """An inline of project records; with ``service`` set (see ProjectScopedAdmin.service) its
    rows are created, changed and deleted through the domain's services.

    Each row carries the version it was loaded at (a hidden ``expected_version``, as the main
    form does): a row someone else saved meanwhile is refused with a form error on that row saying
    what they changed, instead of being silently overwritten with what the page showed."""

    form = VersionedModelForm
    formset = ProjectInlineFormSet
    service = None

    def get_formset(self, request, obj=None, **kwargs):
        """The rows' form with the version check mixed in, whatever form a subclass sets."""
        form = kwargs.get("form") or self.form
        if not issubclass(form, VersionedModelForm):
            kwargs["form"] = type(f"Versioned{form.__name__}", (VersionedModelForm, form), {})
        formset = super().get_formset(request, obj, **kwargs)
        formset.service = self.service
        return formset

    def get_fieldsets(self, request, obj=None):
        """Every editable row carries the hidden version field, declared ``fields`` included."""
        from django.contrib.admin.utils import flatten_fieldsets

        fieldsets = list(super().get_fieldsets(request, obj))
        if self.has_change_permission(request, obj) and fieldsets:
            if "expected_version" not in flatten_fieldsets(fieldsets):
                name, options = fieldsets[0]
                fieldsets[0] = (name, {**options, "fields": [*options["fields"], "expected_version"]})
        return fieldsets

    # roles in the parent's project decide, as for ProjectScopedAdmin (not Django's model perms)
    def has_view_permission(self, request, obj=None):
        if not active_staff(request):
            return False
        if obj is None:
            return projects_for(request.user).exists()
        return has_role(request.user, obj.project, Role.VIEWER)

    def has_add_permission(self, request, obj=None):
        if not active_staff(request):
            return False
        if obj is None or obj.pk is None:
            return _writable_projects(request.user).exists()
        return can_edit(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)


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


class ReadOnlyScopedAdmin(admin.ModelAdmin):
    """Rows only services write (freeze events, imports, job summaries): read-only in the admin,
    listed for the projects the user belongs to (``project_path``: where a row's project is)."""

    project_path = "project"

    def get_queryset(self, request):
        return (
            super().get_queryset(request).filter(**{f"{self.project_path}__in": projects_for(request.user)})
        )

    def has_view_permission(self, request, obj=None):
        return active_staff(request) and projects_for(request.user).exists()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
