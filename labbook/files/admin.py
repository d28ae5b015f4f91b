from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from labbook.files import services
from labbook.projects.admin import ProjectScopedAdmin

from .models import RawFile


@admin.register(RawFile)
class RawFileAdmin(ProjectScopedAdmin):
    """Renamed, described and deleted through labbook.files.services; added only by uploading
    (raw_files_attach, from a run's, device's or measurement's form)."""

    service = services.raw_files
    list_display = ["original_name", "size_display", "media_type", "short_sha", "project", "created_at"]
    list_filter = ["project", "media_type"]
    search_fields = ["original_name", "sha256", "description"]
    readonly_fields = ["sha256", "size", *ProjectScopedAdmin.readonly_fields]
    fields = [
        "project",
        "original_name",
        "media_type",
        "description",
        "sha256",
        "size",
        *ProjectScopedAdmin.readonly_fields,
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "project"] if obj is not None else fields  # it stays in its project

    @admin.display(description="size", ordering="size")
    def size_display(self, obj):
        return filesizeformat(obj.size)

    @admin.display(description="SHA-256")
    def short_sha(self, obj):
        return obj.sha256[:12] + "…"

    def has_add_permission(self, request):
        return False  # uploads go through the service (streamed, hashed); see the runs' pages
