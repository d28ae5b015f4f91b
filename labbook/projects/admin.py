from django.contrib import admin

from labbook.projects.models import Membership, Project
from labbook.projects.selectors import projects_for


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "group"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at", "frozen_at"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["frozen_at", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return projects_for(request.user)


class ProjectScopedAdmin(admin.ModelAdmin):
    """Admin for a ProjectRecord: lists only the user's projects' records, offers only their
    projects in choices, records who created a record, and shows validation errors as form errors."""

    readonly_fields = ["version", "created_at", "modified_at", "created_by"]
    list_select_related = ["project"]

    def get_queryset(self, request):
        from labbook.projects.selectors import visible

        return visible(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project":
            kwargs["queryset"] = projects_for(request.user)
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
