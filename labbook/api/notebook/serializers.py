"""Serializers for notebook entries (Markdown body, links to any record)."""

from rest_framework import serializers

from labbook.api.fields import IdentityUrlField
from labbook.api.serializers import RecordSerializer
from labbook.notebook.models import NotebookEntry, render_markdown


class EntrySerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:entry-detail")
    body_html = serializers.SerializerMethodField()

    class Meta:
        model = NotebookEntry
        fields = "__all__"
        read_only_fields = ["author"]

    def get_body_html(self, obj) -> str:
        return render_markdown(obj.body)
