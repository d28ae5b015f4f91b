from django.contrib import admin

from labbook.archives.models import FreezeEvent, ImportedRecord
from labbook.projects.selectors import projects_for


class _ReadOnlyScoped(admin.ModelAdmin):
    """Written only by the archive services; members of the project may read them."""

    def get_queryset(self, request):
        return super().get_queryset(request).filter(project__in=projects_for(request.user))

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and projects_for(request.user).exists()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FreezeEvent)
class FreezeEventAdmin(_ReadOnlyScoped):
    list_display = ["project", "action", "at", "user", "reason", "manifest_path"]
    list_filter = ["action", ("project", admin.RelatedOnlyFieldListFilter)]  # only theirs
    search_fields = ["reason", "project__name"]


@admin.register(ImportedRecord)
class ImportedRecordAdmin(_ReadOnlyScoped):
    list_display = ["model", "object_id", "project", "source", "source_id", "imported_at", "imported_by"]
    list_filter = ["source", "model", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["source_id", "source"]
