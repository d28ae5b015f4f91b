from django.contrib import admin

from labbook.notebook import services
from labbook.notebook.models import NotebookEntry
from labbook.projects.admin import ProjectScopedAdmin


@admin.register(NotebookEntry)
class NotebookEntryAdmin(ProjectScopedAdmin):
    """Entries are written through labbook.notebook.services (the author is the writer unless
    chosen); linked records must be in the entry's project."""

    service = services.entries
    list_display = ["title", "author", "created_at", "modified_at", "project"]
    list_filter = ["author", "created_at", "project"]
    search_fields = ["title", "body"]
    autocomplete_fields = [
        "batches",
        "treatments",
        "samples",
        "chemicals",
        "runs",
        "devices",
        "measurements",
        "raw_files",
    ]
    readonly_fields = ["rendered", *ProjectScopedAdmin.readonly_fields]

    @admin.display(description="preview")
    def rendered(self, obj):
        return obj.body_html()
