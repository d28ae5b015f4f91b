"""``.eln`` exports and imports as background jobs, for every door (pages, admin, API).

- :func:`archive_export_submit` (a project admin) and :func:`archive_import_submit` (a user who may
  create projects) check the role, write an :class:`ArchiveJob` and enqueue its id through
  ``django.tasks`` once the transaction commits, as analysis jobs are; the doors only adapt.
- :func:`archive_job_execute` (called by the task in ``manage.py jobs_worker``) claims the job and
  runs :func:`~labbook.archives.eln.eln_export` or :func:`~labbook.archives.eln.eln_import`, writing
  their progress to the row (at most twice a second) and keeping its heartbeat from a thread.
- :func:`archive_jobs_for` and :func:`archive_job_download` say who sees a job and who downloads
  its archive: an export's members of the project, an import's requester.
- :func:`archive_jobs_fail_stale` (the worker's sweep) fails a running job whose worker died.

The files live under ``MEDIA_ROOT/archive-jobs/<id>/`` (not in backups: an export can be made
again, an upload is removed once imported).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import socket
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from labbook.archives.models import ARCHIVE_JOB_ACTIVE, ArchiveJob, ArchiveJobKind, ArchiveJobStatus
from labbook.core.heartbeat import heartbeat
from labbook.core.text import scrub_paths
from labbook.files.uploads import RefusedUpload, too_large_message
from labbook.projects.models import Project, Role
from labbook.projects.permissions import RecordNotFound, require_role
from labbook.projects.selectors import projects_for

logger = logging.getLogger("labbook.archives")

#: the folder of every job's files, under MEDIA_ROOT
JOBS_DIR = "archive-jobs"
CHUNK = 4 << 20
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


class ImportNotAllowed(PermissionDenied):
    """The user may not create projects, so may not import one (403)."""


# ----------------------------------------------------------------------------------------------
# who may
# ----------------------------------------------------------------------------------------------
def may_create_projects(user) -> bool:
    """Creating a project is a superuser's (the Project admin's rule); an import creates one."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_superuser)


def require_import_allowed(user) -> None:
    if not may_create_projects(user):
        raise ImportNotAllowed(
            "importing a .eln creates a new project; only users who may create projects (superusers) may"
        )


def archive_jobs_for(user) -> QuerySet[ArchiveJob]:
    """The archive jobs ``user`` sees: the ones they asked for, and the exports of every project they
    belong to (any role: its members may download its archive). A superuser sees them all."""
    qs = ArchiveJob.objects.select_related("project", "imported_project", "requested_by")
    if user is None or not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_superuser:
        return qs
    return qs.filter(
        Q(requested_by=user) | Q(kind=ArchiveJobKind.EXPORT, project__in=projects_for(user))
    ).distinct()


def archive_job_download(*, user, job: ArchiveJob) -> tuple[Path, str]:
    """(path, file name) of an export's archive, for a member of the exported project. Raises
    RecordNotFound for others (404: to them the job does not exist) and ValidationError while
    there is nothing to download yet."""
    if not archive_jobs_for(user).filter(pk=job.pk).exists():
        raise RecordNotFound(f"no archive job {job.pk} for this user")
    if job.kind != ArchiveJobKind.EXPORT:
        raise ValidationError("an import has no archive to download; its upload is removed once imported")
    require_role(user, job.project, Role.VIEWER)
    if job.status != ArchiveJobStatus.SUCCEEDED or not job.file_path:
        raise ValidationError(f"the export is {job.status}; its archive can be downloaded once it succeeded")
    path = media_path(job.file_path)
    if not path.is_file():
        raise ValidationError(f"{job.file_name} is no longer on the server; export the project again")
    return path, job.file_name


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------
def media_path(relative: str) -> Path:
    """The absolute path of a job file stored as ``relative`` to MEDIA_ROOT (never outside it)."""
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValidationError(f"{relative!r} is not under MEDIA_ROOT")
    return path


def job_dir(job: ArchiveJob) -> tuple[Path, str]:
    """The job's own folder (absolute, created) and its name relative to MEDIA_ROOT."""
    relative = f"{JOBS_DIR}/{job.pk}"
    path = Path(settings.MEDIA_ROOT) / relative
    path.mkdir(parents=True, exist_ok=True)
    return path, relative


def remove_job_files(job: ArchiveJob) -> None:
    shutil.rmtree(Path(settings.MEDIA_ROOT) / JOBS_DIR / str(job.pk), ignore_errors=True)


def _rows(**kwargs) -> QuerySet[ArchiveJob]:
    return ArchiveJob.objects.filter(**kwargs)


def _enqueue(job: ArchiveJob) -> None:
    from labbook.archives.tasks import run_archive_job

    def send():
        result = run_archive_job.enqueue(job.pk)
        _rows(pk=job.pk).update(task_id=str(result.id))

    transaction.on_commit(send)


# ----------------------------------------------------------------------------------------------
# submit
# ----------------------------------------------------------------------------------------------
def archive_export_submit(*, user, project: Project) -> tuple[ArchiveJob, bool]:
    """Ask for a ``.eln`` export of ``project``; only its admins (and superusers) may.

    Returns (job, created): an export of the project already queued or running is returned
    rather than a second one started. Raises RecordNotFound for a user outside the project and
    RoleRequired (a PermissionDenied) for a viewer or editor."""
    require_role(user, project, Role.ADMIN)
    with transaction.atomic():
        # two clicks at once wait here for each other, so the second finds the first's job
        list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True))
        active = (
            ArchiveJob.objects.filter(
                kind=ArchiveJobKind.EXPORT, project=project, status__in=ARCHIVE_JOB_ACTIVE
            )
            .order_by("created_at")
            .first()
        )
        if active is not None:
            return active, False
        job = ArchiveJob.objects.create(
            kind=ArchiveJobKind.EXPORT,
            project=project,
            requested_by=user,
            file_name=f"{project.slug}.eln",
            progress_message="queued",
        )
        _enqueue(job)
    return job, True


def _upload_name(upload) -> str:
    name = os.path.basename(str(getattr(upload, "name", "") or "")).strip()
    return name[:255] or "upload.eln"


def archive_import_submit(*, user, upload, slug: str | None = None) -> ArchiveJob:
    """Accept an uploaded ``.eln`` (any file object; a Django upload is read in chunks) for import
    as a new project by ``user``, who must be allowed to create projects.

    The upload is streamed to ``MEDIA_ROOT/archive-jobs/<id>/`` (hashed on the way, cut at
    ``RAW_FILE_MAX_BYTES`` like every upload) and imported by the worker; whether the archive is
    acceptable is the import's to say, on the job (a hostile archive fails it with the reason)."""
    require_import_allowed(user)
    if isinstance(upload, RefusedUpload):  # cut off while it was uploaded (labbook.files.uploads)
        raise ValidationError({"file": upload.refusal})
    if upload is None:
        raise ValidationError({"file": "choose a .eln file to import"})
    slug = (slug or "").strip()
    if slug and (not _SLUG.fullmatch(slug) or len(slug) > 80):
        raise ValidationError({"slug": "a slug is up to 80 letters, digits, hyphens and underscores"})
    if slug and Project.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"a project with the slug {slug!r} exists already"})
    name = _upload_name(upload)
    limit = settings.RAW_FILE_MAX_BYTES
    with transaction.atomic():
        job = ArchiveJob.objects.create(
            kind=ArchiveJobKind.IMPORT,
            requested_by=user,
            slug=slug,
            file_name=name,
            progress_message="uploaded; queued",
        )
        folder, relative = job_dir(job)
        target = folder / "upload.eln"
        h, size = hashlib.sha256(), 0
        try:
            if hasattr(upload, "seek"):
                with contextlib.suppress(OSError, ValueError):
                    upload.seek(0)
            with target.open("wb") as out:
                chunks = (
                    upload.chunks(CHUNK)
                    if hasattr(upload, "chunks")
                    else iter(lambda: upload.read(CHUNK), b"")
                )
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise ValidationError({"file": too_large_message(name, limit)})
                    h.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise ValidationError({"file": f"{name} is empty"})
        except BaseException:
            remove_job_files(job)
            raise
        job.file_path = f"{relative}/upload.eln"
        job.file_size = size
        job.file_sha256 = h.hexdigest()
        job.save(update_fields=["file_path", "file_size", "file_sha256"])
        _enqueue(job)
    return job


# ----------------------------------------------------------------------------------------------
# run (in the worker)
# ----------------------------------------------------------------------------------------------
def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(job_id: int) -> ArchiveJob | None:
    """Mark a queued job running for this worker; None when there is nothing to do (done, gone, or
    running elsewhere)."""
    now = timezone.now()
    claimed = _rows(pk=job_id, status=ArchiveJobStatus.QUEUED).update(
        status=ArchiveJobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=_worker_name(),
        progress=0.0,
        progress_message="starting",
        error="",
    )
    return ArchiveJob.objects.select_related("project", "requested_by").get(pk=job_id) if claimed else None


class _Progress:
    """Progress reports from the export or import, written to the row at most every 0.5 s
    (with the heartbeat), never backwards."""

    def __init__(self, job_id: int, interval: float = 0.5):
        self.job_id = job_id
        self.interval = interval
        self.last = 0.0
        self.fraction = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = max(self.fraction, min(1.0, float(fraction)))
        now = time.monotonic()
        if now - self.last < self.interval and fraction < 1:
            return
        self.last, self.fraction = now, fraction
        _rows(pk=self.job_id, status=ArchiveJobStatus.RUNNING).update(
            progress=fraction, progress_message=message[:200], heartbeat_at=timezone.now()
        )


def _heartbeat_s() -> float:
    return float(getattr(settings, "JOB_HEARTBEAT_S", 5.0))


def _stale_after_s() -> float:
    return float(getattr(settings, "JOB_STALE_AFTER_S", 60.0))


def _heartbeat(job_id: int):
    """Touch the job's heartbeat every JOB_HEARTBEAT_S while it runs; a busy database (SQLite while
    the import writes its rows) only delays a beat."""
    return heartbeat(
        lambda: _rows(pk=job_id, status=ArchiveJobStatus.RUNNING).update(heartbeat_at=timezone.now()),
        every_s=_heartbeat_s(),
        name=f"archive-heartbeat-{job_id}",
        retry_errors=True,
    )


def _message(exc: BaseException, job: ArchiveJob) -> str:
    """One line for the job's error: the refusal as the import or export says it, without server paths."""
    if isinstance(exc, ValidationError):
        text = "; ".join(exc.messages)
    elif isinstance(exc, RecordNotFound):
        text = "the requester is no longer a member of the project"
    else:
        text = str(exc) or type(exc).__name__
    if job.file_path:
        text = text.replace(str(media_path(job.file_path)), job.file_name)
    return " ".join(scrub_paths(text).split())[:2000]


def _finish(job_id: int, **fields) -> None:
    """The executing worker has the last word on its job (a sweep may have called it stale)."""
    _rows(pk=job_id).update(finished_at=timezone.now(), **fields)


def archive_job_execute(job_id: int) -> str:
    """Run archive job ``job_id`` to the end; return its final status. Called by the task in the worker.

    The requester's right is checked again (a role may have been taken away since the request)."""
    from labbook.archives.eln import eln_export, eln_import

    job = _claim(job_id)
    if job is None:
        row = ArchiveJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
        return row or "missing"
    progress = _Progress(job.pk)
    user = job.requested_by
    try:
        with _heartbeat(job.pk):
            if user is None:
                raise ValidationError("the user who asked for it no longer exists")
            if job.kind == ArchiveJobKind.EXPORT:
                require_role(user, job.project, Role.ADMIN)
                folder, relative = job_dir(job)
                out = eln_export(
                    project=job.project, user=user, out=folder / job.file_name, progress=progress
                )
                h = hashlib.sha256()
                with out.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(CHUNK), b""):
                        h.update(chunk)
                _finish(
                    job.pk,
                    status=ArchiveJobStatus.SUCCEEDED,
                    progress=1.0,
                    progress_message=f"done: {out.stat().st_size} bytes",
                    file_path=f"{relative}/{job.file_name}",
                    file_size=out.stat().st_size,
                    file_sha256=h.hexdigest(),
                    error="",
                )
            else:
                require_import_allowed(user)
                project = eln_import(
                    path=media_path(job.file_path), user=user, slug=job.slug or None, progress=progress
                )
                record = project.eln_imports.first()
                summary = record.summary if record else {}
                _finish(
                    job.pk,
                    status=ArchiveJobStatus.SUCCEEDED,
                    progress=1.0,
                    progress_message=(
                        f"imported as {project.slug}: {summary.get('datasets', 0)} datasets, "
                        f"{summary.get('files', 0)} files; {record.signature_text if record else ''}"
                    )[:200],
                    imported_project=project,
                    file_path="",
                    error="",
                )
                remove_job_files(job)  # the upload: imported, it is not kept
        return ArchiveJobStatus.SUCCEEDED
    except (ValidationError, PermissionDenied, RecordNotFound) as exc:  # a refusal: say why
        message = _message(exc, job)
        _finish(job.pk, status=ArchiveJobStatus.FAILED, progress_message="failed", error=message)
        logger.warning("archive job %s (%s) refused: %s", job.pk, job.kind, message)
    except Exception as exc:  # a bug or the environment (disk full): keep the traceback in the log
        message = f"internal error: {type(exc).__name__}: {_message(exc, job)}"
        _finish(job.pk, status=ArchiveJobStatus.FAILED, progress_message="failed", error=message)
        logger.error("archive job %s (%s) failed\n%s", job.pk, job.kind, traceback.format_exc())
    remove_job_files(job)  # no partial archive, no refused upload left behind
    _rows(pk=job.pk).update(file_path="")
    return ArchiveJobStatus.FAILED


def archive_jobs_fail_stale(*, now=None) -> list[int]:
    """Fail running jobs whose heartbeat stopped for JOB_STALE_AFTER_S (their worker died): an
    export or import is quick to ask for again, and an import that stopped wrote nothing."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=_stale_after_s())
    failed = []
    for job in ArchiveJob.objects.filter(status=ArchiveJobStatus.RUNNING, heartbeat_at__lt=cutoff):
        n = _rows(pk=job.pk, status=ArchiveJobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=ArchiveJobStatus.FAILED,
            finished_at=timezone.now(),
            progress_message="failed",
            error=f"its worker ({job.worker}) stopped mid-way; ask again",
        )
        if n:
            remove_job_files(job)
            failed.append(job.pk)
    return failed
