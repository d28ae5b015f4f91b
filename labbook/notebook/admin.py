from django.contrib import admin

from labbook.notebook.models import NotebookEntry
from labbook.projects.admin import ProjectScopedAdmin


@admin.register(NotebookEntry)
class NotebookEntryAdmin(ProjectScopedAdmin):
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

    def save_model(self, request, obj, form, change):
        if not change and obj.author_id is None:
            obj.author = request.user
        super().save_model(request, obj, form, change)
