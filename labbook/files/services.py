"""Writing raw files: streamed to storage, hashed on the way, verified, stored once per content."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from labbook.files.models import RawFile, blob_name
from labbook.files.uploads import RefusedUpload
from labbook.projects.models import Project, Role
from labbook.projects.permissions import require_role

CHUNK = 1024 * 1024
logger = logging.getLogger("labbook.files")


def _stored_sha256(name: str) -> str:
    h = hashlib.sha256()
    with default_storage.open(name, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_stored(name: str, sha256: str) -> None:
    if _stored_sha256(name) != sha256:
        raise ValidationError(f"stored file {name} does not match its SHA-256 {sha256}")


class RawFileDamaged(Exception):
    """The stored bytes of a raw file are missing or no longer match its SHA-256."""


def raw_file_open_checked(raw: RawFile, *, verify: bool | None = None):
    """Open ``raw``'s stored bytes for reading, refusing bytes that are not the recorded ones.

    The size is always checked; with ``verify`` (default: when the file's project is frozen) the
    whole blob is hashed first, so an archived file altered in the media folder is never served as
    the archived one. A mismatch is logged (``labbook.files``) and raises :class:`RawFileDamaged`."""
    name = raw.storage_name
    if verify is None:
        verify = raw.project.is_frozen
    try:
        size = default_storage.size(name)
    except OSError:
        size = None
    problem = None
    if size is None:
        problem = "its stored bytes are missing"
    elif size != raw.size:
        problem = f"its stored bytes are {size} bytes, not the recorded {raw.size}"
    elif verify and _stored_sha256(name) != raw.sha256:
        problem = "its stored bytes no longer match its SHA-256"
    if problem:
        logger.error(
            "raw file %s (%s) of project %s refused: %s (sha256 %s)",
            raw.pk,
            raw.original_name,
            raw.project.slug,
            problem,
            raw.sha256,
        )
        raise RawFileDamaged(
            f"{raw.original_name}: {problem} (sha256 {raw.sha256}); not served. "
            "The stored copy was altered or damaged: restore it from a backup."
        )
    return default_storage.open(name, "rb")


def raw_file_store(
    *,
    project: Project,
    fileobj: BinaryIO,
    original_name: str,
    user=None,
    media_type: str | None = None,
    description: str = "",
    max_bytes: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> RawFile:
    """Store ``fileobj`` for ``project``; return its RawFile (an existing one for known content).

    The stream is copied to a temporary file while its SHA-256 is computed; over ``max_bytes``
    (default ``settings.RAW_FILE_MAX_BYTES``) it is refused. New content is saved under
    ``raw/<sha[:2]>/<sha>`` and read back to verify; content already stored is not rewritten. A
    failure at any point leaves no blob and no row behind. ``user``, when given, must be an editor
    of ``project`` (RoleRequired, a PermissionDenied, otherwise).
    """
    if user is not None:
        require_role(user, project, Role.EDITOR)
    project.check_writable()
    if isinstance(fileobj, RefusedUpload):  # cut off while it was uploaded (labbook.files.uploads)
        raise ValidationError({"file": fileobj.refusal})
    max_bytes = settings.RAW_FILE_MAX_BYTES if max_bytes is None else max_bytes
    name = os.path.basename(original_name or "").strip()
    if not name:
        raise ValidationError({"original_name": "a raw file needs a name"})
    h = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as tmp:
        for chunk in iter(lambda: fileobj.read(CHUNK), b""):
            size += len(chunk)
            if size > max_bytes:
                raise ValidationError({"file": f"{name} is larger than the limit of {max_bytes} bytes"})
            h.update(chunk)
            tmp.write(chunk)
            if progress is not None:
                progress(size)
        sha = h.hexdigest()
        existing = RawFile.objects.filter(project=project, sha256=sha).first()
        if existing is not None:
            return existing
        stored_name = blob_name(sha)
        wrote = False
        if not default_storage.exists(stored_name):
            tmp.seek(0)
            saved = default_storage.save(stored_name, File(tmp))
            if saved != stored_name:  # storage chose another name: someone raced us; keep theirs
                default_storage.delete(saved)
            else:
                wrote = True
        try:
            _verify_stored(stored_name, sha)
            with transaction.atomic():
                raw = RawFile(
                    project=project,
                    sha256=sha,
                    size=size,
                    original_name=name,
                    media_type=media_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
                    description=description,
                    created_by=user,
                )
                raw.full_clean()
                raw.save()
        except BaseException as exc:
            if isinstance(exc, (IntegrityError, ValidationError)):
                # the same content stored in this project at this moment by another request: theirs stands
                raced = RawFile.objects.filter(project=project, sha256=sha).first()
                if raced is not None:
                    return raced
            if wrote and not RawFile.objects.filter(sha256=sha).exists():
                default_storage.delete(stored_name)
            raise
    return raw
