"""Raw files through the API: list, detail, download and streamed upload.

An upload (multipart/form-data, field ``file``) is spooled to disk by Django's upload handlers,
then :func:`labbook.files.services.raw_file_store` copies it to storage while hashing it (SHA-256),
verifies it, and stores each content once. Over ``settings.RAW_FILE_MAX_BYTES`` it is refused with
413, before the body is read when the request says its length.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler
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

#: multipart overhead allowed on top of the file itself when checking Content-Length
MULTIPART_SLACK = 64 * 1024


class SizeLimitUploadHandler(FileUploadHandler):
    """Refuses (413) a multipart file as soon as more than ``limit`` bytes of it have arrived; passes
    the data on to Django's usual handlers (memory, then a temporary file) otherwise."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            raise PayloadTooLarge(f"{self.file_name} is larger than the limit of {self.limit} bytes")
        return raw_data

    def file_complete(self, file_size):
        return None


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

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            length = request.META.get("CONTENT_LENGTH") or "0"
            limit = settings.RAW_FILE_MAX_BYTES
            if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
                raise PayloadTooLarge(
                    f"the upload ({int(length)} bytes) is larger than the limit of {limit} bytes"
                )
            # without a (truthful) length, stop reading as soon as a file passes the limit
            request._request.upload_handlers.insert(0, SizeLimitUploadHandler(request._request, limit=limit))

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
