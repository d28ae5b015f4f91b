"""Raw files through the API: list, detail, download and streamed upload.

An upload (multipart/form-data, field ``file``) is spooled to disk by Django's upload handlers,
then :func:`labbook.files.services.raw_file_store` copies it to storage while hashing it (SHA-256),
verifies it, and stores each content once. Over ``settings.RAW_FILE_MAX_BYTES`` it is refused with
413: before the body is read when the request says its length, else as soon as the file passes the
limit (:mod:`labbook.files.uploads`, the same for every door).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from labbook.api.exceptions import PayloadTooLarge
from labbook.api.viewsets import RecordReadOnlyViewSet
from labbook.files.api.serializers import RawFileSerializer, RawFileUploadSerializer
from labbook.files.filters import RawFileFilterSet
from labbook.files.models import RawFile
from labbook.files.services import RawFileDamaged, raw_file_open_checked, raw_file_store
from labbook.projects.models import Role
from labbook.projects.permissions import require_role

#: instrument files the readers know (analysis/readers.py), plus plain text and images
RAW_FILE_SUFFIXES = (
    ".tif", ".tiff", ".ptu", ".phu", ".sdt", ".csv", ".txt", ".tsv", ".dat", ".xrdml", ".xy",
    ".json", ".png", ".jpg", ".jpeg", ".pdf", ".spe", ".xlsx",
)  # fmt: skip


class RawFileViewSet(mixins.CreateModelMixin, RecordReadOnlyViewSet):
    queryset = RawFile.objects.all()
    serializer_class = RawFileSerializer
    filterset_class = RawFileFilterSet
    ordering_fields = ["created_at", "original_name", "size"]
    parser_classes = [MultiPartParser, FormParser]

    def get_serializer_class(self):
        if self.action == "create":
            return RawFileUploadSerializer
        return super().get_serializer_class()

    @extend_schema(
        request={"multipart/form-data": RawFileUploadSerializer},
        responses={
            201: RawFileSerializer,
            200: RawFileSerializer,
            413: OpenApiResponse(description="too large"),
        },
        description="Upload a raw file (multipart, field `file`). Content already stored in the project "
        "returns the existing record (200).",
    )
    def create(self, request, *args, **kwargs):
        upload = RawFileUploadSerializer(data=request.data, context=self.get_serializer_context())
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        project = data["project"]
        require_role(request.user, project, Role.EDITOR)
        project.check_writable()
        f = data["file"]
        if not f.name.lower().endswith(RAW_FILE_SUFFIXES):
            return Response(
                {
                    "file": [
                        f"{f.name}: not a raw file type labbook reads; one of {', '.join(RAW_FILE_SUFFIXES)}"
                    ]
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        target = data.get("run") or data.get("device") or data.get("measurement")
        started = timezone.now()
        try:
            with transaction.atomic():
                raw = raw_file_store(
                    project=project,
                    fileobj=f,
                    original_name=f.name,
                    user=request.user,
                    media_type=getattr(f, "content_type", None),
                    description=data.get("description", ""),
                    max_bytes=settings.RAW_FILE_MAX_BYTES,
                )
                if target is not None:
                    target.raw_files.add(raw)
        except ValidationError as exc:
            if "larger than the limit" in " ".join(exc.messages):
                raise PayloadTooLarge(" ".join(exc.messages)) from None
            raise
        code = status.HTTP_201_CREATED if raw.created_at >= started else status.HTTP_200_OK
        return Response(RawFileSerializer(raw, context=self.get_serializer_context()).data, status=code)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        raw = self.get_object()
        try:
            fh = raw_file_open_checked(raw)
        except RawFileDamaged as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return FileResponse(fh, as_attachment=True, filename=raw.original_name, content_type=raw.media_type)
