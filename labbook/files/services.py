"""Writing raw files: streamed to storage, hashed on the way, verified, stored once per content.

:func:`raw_files_attach` is every door's one upload path (the run page, the API, the admin,
``manage.py ingest``): role, freeze, type, streamed with SHA-256, linked, all or nothing.
:func:`raw_file_store` is its low-level storing primitive. The many-to-many link helpers here
(``linked_record_*``, :func:`links_check`) are used by the services of runs, devices and notebook
entries: links never cross projects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import mimetypes
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from labbook.files.attachments import ATTACHMENT_SUFFIXES, SNIFF_BYTES, accepted_types_text, sniff
from labbook.files.models import RawFile, blob_name
from labbook.files.uploads import RefusedUpload
from labbook.projects.models import Project, Role
from labbook.projects.permissions import require_role
from labbook.projects.writes import RecordWriters
from labbook.projects.writes import authorise as _authorise
from labbook.projects.writes import record_create as _create
from labbook.projects.writes import record_delete as _delete
from labbook.projects.writes import record_update as _update

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


#: how long a request waits for another one that is writing the same content's blob (seconds)
BLOB_WAIT_S = 30.0


def _wait_for_blob(name: str, size: int) -> None:
    """Wait until the blob ``name`` has ``size`` bytes: another request found it missing at the same
    moment and is writing it (FileSystemStorage writes in place, so a reader can see a partial file,
    which failed the SHA-256 check: a 400 for one of two identical concurrent uploads). Returns at
    once when it is complete; after :data:`BLOB_WAIT_S` the check that follows says what is wrong."""
    deadline, delay = time.monotonic() + BLOB_WAIT_S, 0.01
    while True:
        try:
            if default_storage.size(name) >= size:
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return
        time.sleep(delay)
        delay = min(2 * delay, 0.25)


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
    reason: str = "",
) -> RawFile:
    """Store ``fileobj`` for ``project``; return its RawFile (an existing one for known content).

    The stream is copied to a temporary file while its SHA-256 is computed; over ``max_bytes``
    (default ``settings.RAW_FILE_MAX_BYTES``) it is refused. New content is saved under
    ``raw/<sha[:2]>/<sha>`` and read back to verify; content already stored is not rewritten. A
    failure at any point leaves no blob and no row behind. ``user``, when given, must be an editor
    of ``project`` (RoleRequired, a PermissionDenied, otherwise). A new row's history says who
    stored it and why (``reason``, default "uploaded").
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
            if not wrote:
                _wait_for_blob(stored_name, size)
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
                raw._history_user = user
                raw._change_reason = (reason or "uploaded")[:100]
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


# --- the doors' one upload path ----------------------------------------------------------------
#: instrument files the readers know (analysis/readers.py), plus plain text and images
RAW_FILE_SUFFIXES = (
    ".tif", ".tiff", ".ptu", ".phu", ".sdt", ".csv", ".txt", ".tsv", ".dat", ".xrdml", ".xy",
    ".json", ".png", ".jpg", ".jpeg", ".pdf", ".spe", ".xlsx",
)  # fmt: skip


@dataclass(frozen=True)
class Upload:
    """One file handed to :func:`raw_files_attach`: a name and a binary stream (or a path)."""

    name: str
    fileobj: BinaryIO | None = None
    path: Path | None = None
    media_type: str | None = None
    size: int | None = None


def _as_upload(item) -> Upload:
    if isinstance(item, Upload):
        return item
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        return Upload(name=path.name, path=path, size=path.stat().st_size)
    if isinstance(item, tuple):  # (name, stream)
        name, fileobj = item
        return Upload(name=name, fileobj=fileobj, size=getattr(fileobj, "size", None))
    # a Django UploadedFile (pages, admin, API) or any named binary stream
    return Upload(
        name=getattr(item, "name", "") or "",
        fileobj=item,
        media_type=getattr(item, "content_type", None),
        size=getattr(item, "size", None),
    )


def _refusal(upload: Upload, *, attachments: bool = False) -> str | None:
    """Why ``upload`` is refused before a byte of it is stored (None: it may be stored)."""
    name = os.path.basename(upload.name or "").strip()
    if isinstance(upload.fileobj, RefusedUpload):  # cut off while it arrived (labbook.files.uploads)
        return upload.fileobj.refusal
    if not name:
        return "a raw file needs a name"
    if attachments:
        if not name.lower().endswith(ATTACHMENT_SUFFIXES):
            return f"{name}: not a type a notebook entry takes; one of {accepted_types_text()}"
    elif not name.lower().endswith(RAW_FILE_SUFFIXES):
        return f"{name}: not a raw file type labbook reads; one of {', '.join(RAW_FILE_SUFFIXES)}"
    if upload.size == 0:
        return f"{name} is empty"
    return None


class _Replay(io.RawIOBase):
    """A stream that gives ``head`` again, then the rest of ``rest`` (for a stream that cannot seek
    back after its first bytes were sniffed)."""

    def __init__(self, head: bytes, rest):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.head:
            out, self.head = (self.head, b"") if size < 0 else (self.head[:size], self.head[size:])
            return out
        return self.rest.read(size)


def _sniffed(upload: Upload) -> Upload:
    """``upload`` with the media type its first bytes show (:func:`labbook.files.attachments.sniff`;
    ValidationError when they are not an attachment type or not what its name says)."""
    name = os.path.basename(upload.name).strip()
    if upload.path is not None:
        with upload.path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
        return dataclasses.replace(upload, media_type=sniff(name, head))
    fileobj = upload.fileobj
    head = fileobj.read(SNIFF_BYTES)
    try:
        fileobj.seek(0)
    except (AttributeError, OSError, io.UnsupportedOperation):
        fileobj = _Replay(head, fileobj)
    return dataclasses.replace(upload, fileobj=fileobj, media_type=sniff(name, head))


def _project_of(target) -> Project:
    return target if isinstance(target, Project) else target.project


def raw_files_attach_check(*, user, target) -> Project:
    """Raise unless ``user`` may attach raw files to ``target``; return its (fresh) project.

    The same checks :func:`raw_files_attach` starts with, for a door that refuses before it reads
    an upload's body: RecordNotFound for non-members, RoleRequired for viewers, ProjectFrozen.
    ``user=None`` is the command line (``manage.py ingest``): no role, but the freeze holds."""
    if not isinstance(target, Project) and not hasattr(target, "raw_files"):
        raise ValidationError({"target": f"{target} does not take raw files"})
    project = Project.objects.get(pk=_project_of(target).pk)  # frozen since it was loaded?
    if user is not None:
        require_role(user, project, Role.EDITOR)
    project.check_writable()
    return project


def _drop_orphan_blobs(shas) -> None:
    """Delete the stored bytes of ``shas`` that no raw file row refers to (after a rollback)."""
    for sha in set(shas):
        name = blob_name(sha)
        if not RawFile.objects.filter(sha256=sha).exists() and default_storage.exists(name):
            default_storage.delete(name)


def raw_files_attach(
    *,
    user,
    target,
    files: Iterable,
    description: str = "",
    reason: str = "",
    progress: Callable[[str, int], None] | None = None,
) -> list[RawFile]:
    """Store ``files`` and link them to ``target``: every door's one upload path.

    ``target`` is a record with ``raw_files`` (a characterisation run, a device, a device
    measurement, a notebook entry) or a Project (stored in it, linked to nothing). ``files`` are Django uploads,
    :class:`Upload` items, ``(name, stream)`` pairs or paths. The user must be an editor of the
    target's project, which must not be frozen; each file is streamed to storage with its SHA-256
    (:func:`raw_file_store`: same bytes stored once) and must be a raw file type labbook reads.

    A target whose model says ``RAW_FILES_ARE_ATTACHMENTS`` (a notebook entry) takes the types of
    :data:`labbook.files.attachments.ATTACHMENT_TYPES` instead: images, PDF, CSV/TXT, recognised by
    their content (the first bytes), and stored with the media type their content shows; the same
    rule whichever door the files come through.

    All or nothing: one refused file (too large, wrong type, empty, unreadable) refuses them all,
    and no row, link or newly written blob is left behind. The target's version goes up and its
    history says who attached what, and why. ``progress(name, bytes_so_far)`` is called while a
    file streams. Returns the raw files in the order given (an existing one for known content).
    """
    project = raw_files_attach_check(user=user, target=target)
    attachments = bool(getattr(target, "RAW_FILES_ARE_ATTACHMENTS", False))
    uploads = [_as_upload(f) for f in files]
    if not uploads:
        raise ValidationError({"file": "no file to attach"})
    refused = [why for why in (_refusal(u, attachments=attachments) for u in uploads) if why]
    if refused:
        raise ValidationError({"file": refused})
    if attachments:
        sniffed, refused = [], []
        for upload in uploads:
            try:
                sniffed.append(_sniffed(upload))
            except ValidationError as exc:
                refused.extend(exc.messages)
        if refused:
            raise ValidationError({"file": refused})
        uploads = sniffed
    stored: list[RawFile] = []
    try:
        with transaction.atomic():
            for upload in uploads:
                report = None if progress is None else (lambda n, name=upload.name: progress(name, n))
                if upload.path is not None:
                    with upload.path.open("rb") as fh:
                        raw = _store_one(project, upload, fh, user, description, report)
                else:
                    raw = _store_one(project, upload, upload.fileobj, user, description, report)
                stored.append(raw)
            if not isinstance(target, Project):
                _link_files(target, stored, user=user, reason=reason)
    except BaseException:
        _drop_orphan_blobs(r.sha256 for r in stored)
        raise
    return stored


def _store_one(project, upload: Upload, fileobj, user, description, progress) -> RawFile:
    raw = raw_file_store(
        project=project,
        fileobj=fileobj,
        original_name=upload.name,
        user=user,
        media_type=upload.media_type,
        description=description,
        progress=progress,
    )
    if raw.size == 0:
        raise ValidationError({"file": f"{raw.original_name} is empty"})
    return raw


def _link_files(target, raws: list[RawFile], *, user, reason: str) -> None:
    """Link ``raws`` to ``target``: one new version of it, with history (who, why, which files)."""
    model = type(target)
    current = model._base_manager.select_for_update().get(pk=target.pk)
    linked = set(current.raw_files.filter(pk__in=[r.pk for r in raws]).values_list("pk", flat=True))
    new = list({r.pk: r for r in raws if r.pk not in linked}.values())
    if not new:
        return
    current.skip_history_when_saving = True  # one history row below, with the links in it
    try:
        current.raw_files.add(*new)
    finally:
        del current.skip_history_when_saving
    current._history_user = user
    current._change_reason = (reason or "attached " + ", ".join(r.original_name for r in new))[:100]
    current.save(update_fields=["modified_at"])
    target.version = current.version


# --- many-to-many links (a run's raw files, a device's samples, an entry's records) -------------
def links_check(project: Project, links: Mapping[str, Iterable]) -> None:
    """Records linked many-to-many must be in ``project``: a project is the unit of visibility,
    freezing and export. Raises ValidationError by field (the foreign keys are checked by
    ``ProjectRecord.clean()``)."""
    errors = {}
    for name, linked in links.items():
        others = sorted(str(o) for o in linked if getattr(o, "project_id", project.pk) != project.pk)
        if others:
            errors[name] = f"{', '.join(others)}: in another project than {project}"
    if errors:
        raise ValidationError(errors)


def _link_names(model) -> set[str]:
    return {f.name for f in model._meta.many_to_many}


def _split_links(model, fields: dict) -> dict[str, list]:
    """Pop the many-to-many values out of ``fields``."""
    return {name: list(fields.pop(name) or []) for name in _link_names(model) if name in fields}


def _links_set(obj, links: Mapping[str, list], *, user, reason: str) -> None:
    obj._history_user = user  # the m2m_changed history rows say who and why too
    obj._change_reason = reason[:100]
    for name, values in links.items():
        getattr(obj, name).set(values)


def linked_record_create(model, *, user, project: Project, reason: str = "", **fields):
    """Create a ``model`` record (role, freeze, full_clean, history: labbook.projects.writes)
    and set its many-to-many links, which must be in ``project``."""
    links = _split_links(model, fields)
    _authorise(user, project)
    links_check(project, links)
    obj = _create(model, user=user, project=project, reason=reason, **fields)
    _links_set(obj, {k: v for k, v in links.items() if v}, user=user, reason=reason or "created")
    return obj


def linked_record_update(obj, *, user, version, reason: str = "", **changes):
    """Change ``obj`` if it is still at ``version`` (labbook.projects.writes), links included;
    links given, and the ones it keeps when it moves to another project, must be in its project."""
    model = type(obj)
    links = _split_links(model, changes)
    _authorise(user, obj.project)
    project = changes.get("project") or obj.project
    checked = dict(links)
    if project.pk != obj.project_id:  # the links it keeps move with it
        for name in _link_names(model) - set(links):
            checked[name] = list(getattr(obj, name).all())
    links_check(project, checked)
    reason = reason or f"changed {', '.join(sorted([*changes, *links])) or 'nothing'}"
    saved = _update(obj, user=user, version=version, reason=reason, changes=changes)
    _links_set(saved, links, user=user, reason=reason)
    return saved


def linked_record_delete(obj, *, user, reason: str = "") -> None:
    _delete(obj, user=user, reason=reason)


# --- raw file records ----------------------------------------------------------------------------
@transaction.atomic
def raw_file_update(*, user, raw_file: RawFile, version, reason: str = "", **changes) -> RawFile:
    """Rename or describe a raw file; its bytes, checksum and project never change."""
    project = changes.get("project")
    if project is not None and project.pk != raw_file.project_id:
        raise ValidationError({"project": "a raw file stays in its project (upload it to the other one)"})
    return linked_record_update(raw_file, user=user, version=version, reason=reason, **changes)


@transaction.atomic
def raw_file_delete(*, user, raw_file: RawFile, reason: str = "") -> None:
    linked_record_delete(raw_file, user=user, reason=reason)


def _raw_file_create(*, user, reason: str = "", **fields):
    raise ValidationError("raw files are added by uploading them (raw_files_attach)")


raw_files = RecordWriters(_raw_file_create, raw_file_update, raw_file_delete, "raw_file")
