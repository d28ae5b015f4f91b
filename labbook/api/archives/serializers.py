"""Archive jobs through the API: status, progress and the download link out; a request in."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from labbook.api.fields import IdentityUrlField
from labbook.api.serializers import StrictFieldsMixin
from labbook.archives.models import ArchiveJob, ArchiveJobKind, ArchiveJobStatus
from labbook.core.text import scrub_paths


class ArchiveJobSerializer(serializers.ModelSerializer):
    url = IdentityUrlField(view_name="api:archivejob-detail")
    project_slug = serializers.SlugRelatedField(source="project", slug_field="slug", read_only=True)
    imported_project_slug = serializers.SlugRelatedField(
        source="imported_project", slug_field="slug", read_only=True
    )
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    download_url = serializers.SerializerMethodField(help_text="the .eln, once an export has succeeded")
    signature = serializers.SerializerMethodField(help_text="an import: the archive's signature state")
    duration_s = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ArchiveJob
        fields = [
            "id", "url", "kind", "status", "progress", "progress_message", "project", "project_slug",
            "imported_project", "imported_project_slug", "slug", "requested_by", "file_name", "file_size",
            "file_sha256", "download_url", "signature", "created_at", "started_at", "finished_at",
            "duration_s", "error",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, job):
        data = super().to_representation(job)
        if data.get("error"):
            data["error"] = scrub_paths(data["error"])
        return data

    def get_download_url(self, job) -> str | None:
        if job.kind != ArchiveJobKind.EXPORT or job.status != ArchiveJobStatus.SUCCEEDED or not job.file_path:
            return None
        return reverse("api:archivejob-download", args=[job.pk], request=self.context.get("request"))

    def get_signature(self, job) -> str | None:
        if job.imported_project is None:
            return None
        records = list(job.imported_project.eln_imports.all())  # prefetched by the view, newest first
        return records[0].signature_text if records else None


class ArchiveExportSerializer(StrictFieldsMixin, serializers.Serializer):
    """Export a project (its id) as .eln; only its admins may."""

    project = serializers.IntegerField(min_value=1)


class ArchiveImportSerializer(StrictFieldsMixin, serializers.Serializer):
    """Import a .eln (multipart, field ``file``) as a new project; ``slug`` names it (default: the
    archive's). Only users who may create projects may."""

    file = serializers.FileField(allow_empty_file=False, use_url=False)
    slug = serializers.CharField(required=False, allow_blank=True, max_length=80)
