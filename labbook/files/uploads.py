"""Uploads are streamed and cut at ``RAW_FILE_MAX_BYTES``, through every door (pages, admin, API).

Django's own upload handlers keep a multipart file in memory and then spool all of it to a
temporary file before any view sees it, so a size limit checked afterwards comes after the disk
is full. :class:`UploadLimitMiddleware` runs before the CSRF check (the first reader of
``request.POST``) and

* answers 413 at once, without reading the body, when the request's declared length is over the
  limit (plus the multipart overhead);
* otherwise puts :class:`SizeLimitUploadHandler` first: once a file passes the limit, nothing more
  of it is kept (what was spooled is dropped, the rest is read and discarded), and the view
  receives a :class:`RefusedUpload` in its place. Every door hands uploads to
  :func:`labbook.files.services.raw_file_store`, which refuses it with the one message they all
  report (a form error on pages and in the admin, 413 from the API); other files of the same form
  go on.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpResponse, JsonResponse

#: multipart overhead allowed on top of the file itself when checking Content-Length
MULTIPART_SLACK = 64 * 1024


def too_large_message(name: str, limit: int) -> str:
    return f"{name} is larger than the limit of {limit} bytes"


class RefusedUpload(UploadedFile):
    """Stands for an uploaded file that was over the limit: it has a name and the size that
    arrived, but no content; reading it raises the refusal."""

    def __init__(self, *, name: str, size: int, content_type: str | None, limit: int):
        super().__init__(file=None, name=name, content_type=content_type, size=size)
        self.refusal = too_large_message(name, limit)

    def _refuse(self, *args, **kwargs):
        raise ValidationError({"file": self.refusal})

    read = chunks = open = multiple_chunks = _refuse

    def close(self):
        pass


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops passing a multipart file on (to Django's memory and temporary-file handlers) as soon
    as more than ``limit`` bytes of it have arrived, and completes it as a :class:`RefusedUpload`."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.over = False

    def receive_data_chunk(self, raw_data, start):
        if not self.over and start + len(raw_data) > self.limit:
            self.over = True
            for handler in self.request.upload_handlers:  # drop what the others spooled so far
                if handler is not self and getattr(handler, "file", None) is not None:
                    handler.file.close()
        return None if self.over else raw_data

    def file_complete(self, file_size):
        if not self.over:
            return None  # the next handler has the file
        return RefusedUpload(
            name=self.file_name, size=file_size, content_type=self.content_type, limit=self.limit
        )


class UploadLimitMiddleware:
    """Put it before ``CsrfViewMiddleware``: see the module's docstring."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("POST", "PUT", "PATCH") and request.content_type == "multipart/form-data":
            limit = settings.RAW_FILE_MAX_BYTES
            length = request.META.get("CONTENT_LENGTH") or "0"
            if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
                message = f"the upload ({int(length)} bytes) is larger than the limit of {limit} bytes"
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": message}, status=413)
                return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
            request.upload_handlers.insert(0, SizeLimitUploadHandler(request, limit=limit))
        return self.get_response(request)
