from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from labbook.projects.admin import ProjectScopedAdmin

from .models import RawFile


@admin.register(RawFile)
class RawFileAdmin(ProjectScopedAdmin):
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

    @admin.display(description="size", ordering="size")
    def size_display(self, obj):
        return filesizeformat(obj.size)

    @admin.display(description="SHA-256")
    def short_sha(self, obj):
        return obj.sha256[:12] + "…"

    def has_add_permission(self, request):
        return False  # uploads go through the service (streamed, hashed); see the runs' pages
