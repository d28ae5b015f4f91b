"""Raw files through the API: list, detail, download and streamed upload.

An upload (multipart/form-data, field ``file``) goes through
:func:`labbook.files.services.raw_files_attach`, the one upload path of every door: role, freeze,
type, streamed to storage with its SHA-256, each content stored once, linked to its run, device or
measurement or notebook entry. Over ``settings.RAW_FILE_MAX_BYTES`` it is refused with 413: before the body is read
when the request says its length, else as soon as the file passes the limit
(:mod:`labbook.files.uploads`, the same for every door).
"""

from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from labbook.api.exceptions import PayloadTooLarge
from labbook.api.files.serializers import RawFileSerializer, RawFileUploadSerializer
from labbook.api.viewsets import RecordReadOnlyViewSet
from labbook.files.filters import RawFileFilterSet
from labbook.files.models import RawFile
from labbook.files.services import RawFileDamaged, raw_file_open_checked, raw_files_attach


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
        description="Upload a raw file (multipart, field `file`), optionally attached to one `run`, "
        "`device`, `measurement` or notebook `entry` of the project (an entry takes images, PDF and "
        "CSV/TXT tables, recognised by their content). Content already stored in the project "
        "returns the existing record (200).",
    )
    def create(self, request, *args, **kwargs):
        upload = RawFileUploadSerializer(data=request.data, context=self.get_serializer_context())
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        target = next((data[k] for k in RawFileUploadSerializer.TARGETS if k in data), data["project"])
        started = timezone.now()
        reason = request.headers.get("X-Change-Reason", "").strip()
        try:
            (raw,) = raw_files_attach(
                user=request.user,
                target=target,
                files=[data["file"]],
                description=data.get("description", ""),
                reason=reason or f"API upload of {data['file'].name}",
            )
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
