from django.contrib import admin

from labbook.archives.models import ElnImport, FreezeEvent, ImportedRecord
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
    list_display = [
        "model", "object_id", "project", "source", "source_id", "checksum", "imported_at", "imported_by"
    ]  # fmt: skip
    list_filter = ["source", "model", "checksum", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["source_id", "source"]


@admin.register(ElnImport)
class ElnImportAdmin(_ReadOnlyScoped):
    """Each import: the archive, the ELN that exported it, its signature and what came in (files
    without a sha256 in the archive are listed as unverified)."""

    list_display = ["file_name", "project", "source", "signature_display", "imported_at", "imported_by"]
    list_filter = ["source", "signature", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["file_name", "source", "signature_key_id"]

    @admin.display(description="signature", ordering="signature")
    def signature_display(self, obj):
        return obj.signature_text
