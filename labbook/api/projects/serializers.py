"""Serializers for projects (read-only through the API: the admin manages them)."""

from rest_framework import serializers

from labbook.api.fields import IdentityUrlField
from labbook.projects.models import Project


class ProjectSerializer(serializers.ModelSerializer):
    url = IdentityUrlField(view_name="api:project-detail")
    is_frozen = serializers.BooleanField(read_only=True)
    my_role = serializers.SerializerMethodField(help_text="your role in the project")

    class Meta:
        model = Project
        fields = [
            "id",
            "url",
            "name",
            "slug",
            "description",
            "created_at",
            "frozen_at",
            "freeze_reason",
            "is_frozen",
            "my_role",
        ]

    def get_my_role(self, obj) -> str | None:
        return self.context.get("roles", {}).get(obj.pk)
