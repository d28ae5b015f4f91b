"""Tags in the admin: read-only (tag_add / tag_remove write them, from the record pages and the API),
listed for the projects the user belongs to."""

from django.contrib import admin

from labbook.projects.admin import ReadOnlyScopedAdmin
from labbook.tagging.models import Tag, TaggedRecord


@admin.register(Tag)
class TagAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "project", "created_by", "created_at"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(TaggedRecord)
class TaggedRecordAdmin(ReadOnlyScopedAdmin):
    list_display = ["tag", "content_type", "object_id", "project", "created_by", "created_at"]
    list_filter = ["project", "content_type"]
    search_fields = ["tag__name"]
    list_select_related = ["tag", "content_type", "project", "created_by"]
