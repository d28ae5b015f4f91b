"""Templates in the admin: read-only (the template pages write them through the services), listed
for the projects the user belongs to."""

from django.contrib import admin

from labbook.projects.admin import ReadOnlyScopedAdmin
from labbook.recipes.models import Template


@admin.register(Template)
class TemplateAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "kind", "project", "created_by", "modified_at"]
    list_filter = ["kind", "project"]
    search_fields = ["name", "description"]
