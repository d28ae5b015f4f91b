"""Downloads of raw files and result artifacts, for members of their project only (others get 404).

A raw file whose stored bytes do not match its record (size; SHA-256 too in a frozen project) is
refused with 409 and logged, never served. ``raw/<pk>/preview.png`` is a file's thumbnail (an
image, a TIFF movie's first frame, a PDF's first page: labbook.files.attachments), under the same
checks; a file without one answers 404 with the reason."""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404

from labbook.files.attachments import NoPreview, thumbnail_png
from labbook.files.models import RawFile
from labbook.files.services import RawFileDamaged, raw_file_open_checked
from labbook.projects.selectors import visible


@login_required
def raw_file_download(request, pk: int):
    raw = get_object_or_404(visible(RawFile, request.user).select_related("project"), pk=pk)
    try:
        fh = raw_file_open_checked(raw)
    except RawFileDamaged as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    return FileResponse(fh, as_attachment=True, filename=raw.original_name, content_type=raw.media_type)


@login_required
def raw_file_preview(request, pk: int):
    raw = get_object_or_404(visible(RawFile, request.user).select_related("project"), pk=pk)
    try:
        raw_file_open_checked(raw).close()  # damaged bytes are not previewed either
    except RawFileDamaged as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    try:
        png = thumbnail_png(raw)
    except NoPreview as exc:
        return HttpResponse(
            f"{raw.original_name}: no preview: {exc}", status=404, content_type="text/plain; charset=utf-8"
        )
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"  # the content never changes under its pk
    return response


@login_required
def artifact_file(request, pk: int, what: str):
    from labbook.results.models import ResultArtifact

    artifact = get_object_or_404(visible(ResultArtifact, request.user), pk=pk)
    if what == "preview.png" and artifact.preview_name:
        return FileResponse(default_storage.open(artifact.preview_name, "rb"), content_type="image/png")
    if what == "data.npy":
        return FileResponse(
            default_storage.open(artifact.storage_name, "rb"),
            as_attachment=True,
            filename=f"{artifact.name}.npy",
            content_type="application/octet-stream",
        )
    raise Http404("no such artifact file")
