"""Archive jobs through the API: export a project, import a .eln, poll a job, download the archive.

Thin: the role rule and the work are :mod:`labbook.archives.jobs`'s. Not a member of the project
-> 404; a member below admin (export) or a user who may not create projects (import) -> 403."""

from django.core.exceptions import ValidationError
from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from labbook.api.archives.serializers import (
    ArchiveExportSerializer,
    ArchiveImportSerializer,
    ArchiveJobSerializer,
)
from labbook.api.exceptions import PayloadTooLarge
from labbook.archives import jobs
from labbook.projects.models import Project
from labbook.projects.permissions import RecordNotFound


class ArchiveJobViewSet(viewsets.ReadOnlyModelViewSet):
    """.eln exports and imports run by the job worker: status, progress, and a download link when done."""

    serializer_class = ArchiveJobSerializer
    filterset_fields = ["kind", "status", "project"]
    ordering_fields = ["created_at", "finished_at", "status", "kind", "progress"]

    def get_queryset(self):
        return jobs.archive_jobs_for(self.request.user).prefetch_related("imported_project__eln_imports")

    def _job(self, job, code):
        job = self.get_queryset().get(pk=job.pk)
        return Response(self.get_serializer(job).data, status=code)

    @extend_schema(
        request=ArchiveExportSerializer,
        responses={202: ArchiveJobSerializer, 200: ArchiveJobSerializer},
        description="Start a .eln export of a project (its admins only); an export of it already "
        "queued or running is returned (200) instead of a second one.",
    )
    @action(detail=False, methods=["post"])
    def export(self, request):
        data = ArchiveExportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = Project.objects.filter(pk=data.validated_data["project"]).first()
        if project is None:
            raise RecordNotFound("no such project")
        job, created = jobs.archive_export_submit(user=request.user, project=project)
        return self._job(job, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(
        request={"multipart/form-data": ArchiveImportSerializer},
        responses={202: ArchiveJobSerializer, 413: OpenApiResponse(description="too large")},
        description="Upload a .eln (multipart, field `file`; optional `slug`) to import as a new project.",
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_archive(self, request):
        try:  # before looking at the upload: 403, not 400
            jobs.require_import_allowed(request.user)
        except jobs.ImportNotAllowed as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        data = ArchiveImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = jobs.archive_import_submit(
                user=request.user, upload=data.validated_data["file"], slug=data.validated_data.get("slug")
            )
        except ValidationError as exc:
            if "larger than the limit" in " ".join(exc.messages):
                raise PayloadTooLarge(" ".join(exc.messages)) from None
            raise
        return self._job(job, status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): bytes,
            409: OpenApiResponse(description="not ready"),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The export's .eln file, streamed."""
        job = self.get_object()
        try:
            path, name = jobs.archive_job_download(user=request.user, job=job)
        except ValidationError as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
        return FileResponse(
            path.open("rb"), as_attachment=True, filename=name, content_type="application/zip"
        )
