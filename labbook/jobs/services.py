"""Submitting, running and recovering analysis jobs.

- :func:`job_submit` validates a request, reuses a finished job for the same inputs, parameters and
  analysis version unless forced, and enqueues the job's id through ``django.tasks`` once the
  transaction commits.
- :func:`job_execute` (called by the task in a worker) claims the job, keeps its heartbeat while
  the analysis runs on dask, and writes every result row in one transaction.
- :func:`jobs_requeue_stale` is the sweep that django-tasks-db lacks: a job whose worker died
  (kill -9) keeps status "running" with a stale heartbeat; the sweep puts it back in the queue,
  up to ``max_attempts``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

import analysis
from analysis.errors import AnalysisInputError
from labbook.core.heartbeat import heartbeat
from labbook.files.models import RawFile
from labbook.jobs import runners
from labbook.jobs.models import ACTIVE, AnalysisJob, JobInput, JobKind, JobStatus, WorkerHeartbeat
from labbook.projects.models import Role
from labbook.projects.permissions import require_role

logger = logging.getLogger(__name__)

HEARTBEAT_S = float(getattr(settings, "JOB_HEARTBEAT_S", 5.0))


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _rows(*args, **kwargs):
    """Job bookkeeping (status, progress, heartbeat, log) passes the frozen-project guard
    (``AnalysisJob.freeze_exempt_fields``): it is not an edit of the study's records, and a job whose
    project was frozen mid-run must still be able to fail and stop. Result rows are written through
    the guarded paths."""
    return AnalysisJob.objects.filter(*args, **kwargs)


def input_key(kind: str, files: Mapping[str, RawFile], parameters: dict, version: str) -> str:
    """SHA-256 of what determines a result: kind, input checksums by role, parameters, code version."""
    blob = json.dumps(
        {
            "kind": kind,
            "inputs": {role: f.sha256 for role, f in sorted(files.items())},
            "parameters": parameters,
            "version": version,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _enqueue(job: AnalysisJob) -> None:
    from labbook.jobs.tasks import run_analysis_job

    def send():
        result = run_analysis_job.enqueue(job.pk)
        _rows(pk=job.pk).update(task_id=str(result.id))

    transaction.on_commit(send)


@transaction.atomic
def job_submit(
    *,
    kind: str,
    files: Mapping[str, RawFile],
    parameters: dict | None = None,
    run=None,
    measurement=None,
    user=None,
    force: bool = False,
) -> AnalysisJob:
    """Ask for an analysis of ``files`` (role -> RawFile) of ``run`` or ``measurement``.

    Returns the job that holds (or will hold) the result: an existing succeeded or active job with
    the same inputs, parameters and analysis version unless ``force``; otherwise a new queued job.
    Parameters are validated and normalised here, so a nonsense parameter is a ValidationError
    before anything is queued.
    """
    if kind not in JobKind.values:
        raise ValidationError({"kind": f"unknown analysis {kind!r}; one of {', '.join(JobKind.values)}"})
    target = run if run is not None else measurement
    if target is None:
        raise ValidationError({"run": "a job analyses a characterisation run or a device measurement"})
    if user is not None:  # every door (pages, admin, API) asks as someone; only editors start analyses
        require_role(user, target.project, Role.EDITOR)
    target.project.check_writable()
    runner = runners.RUNNERS[kind]
    params = runner.normalise_parameters(parameters or {}, run=run, measurement=measurement)
    missing = [role for role in runner.required_roles if role not in files]
    if missing:
        raise ValidationError({"files": f"{kind} needs a file for {', '.join(missing)}"})
    for role, raw in files.items():
        if raw.project_id != target.project_id:
            raise ValidationError({"files": f"{raw} ({role}) is not in project {target.project}"})
    version = analysis.__version__
    key = input_key(kind, files, params, version)
    # identical submissions at the same moment wait here for one another (a row lock on the record
    # analysed; SQLite's IMMEDIATE transactions are serial anyway), so the later ones find the job
    list(type(target).objects.select_for_update().filter(pk=target.pk).values_list("pk", flat=True))
    if not force:
        existing = (
            AnalysisJob.objects.filter(
                project=target.project, input_key=key, status__in=[JobStatus.SUCCEEDED, *ACTIVE]
            )
            .order_by("-queued_at")
            .first()
        )
        if existing is not None:
            return existing
    job = AnalysisJob(
        project=target.project,
        kind=kind,
        run=run,
        measurement=measurement,
        parameters=params,
        input_key=key,
        analysis_version=version,
        forced=force,
        requested_by=user,
        created_by=user,
    )
    job.full_clean()
    job.save()
    JobInput.objects.bulk_create([JobInput(job=job, raw_file=raw, role=role) for role, raw in files.items()])
    _enqueue(job)
    return job


def _append_log(job_id: int, line: str) -> None:
    """Append a time-stamped line to the job's log in one UPDATE (no read-modify-write race)."""
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    _rows(pk=job_id).update(log=Concat(F("log"), Value(f"{stamp} {line}\n"), output_field=TextField()))


def _claim(job_id: int) -> AnalysisJob | None:
    """Mark the job running for this worker, or return None if there is nothing to do."""
    now = timezone.now()
    with transaction.atomic():
        job = AnalysisJob.objects.select_for_update().get(pk=job_id)
        if job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED, JobStatus.FAILED):
            return None
        stale = now - dt.timedelta(seconds=stale_after_s())
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale:
            return None  # another live worker has it
        _rows(pk=job_id).update(
            status=JobStatus.RUNNING,
            attempts=job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            worker=_worker_name(),
            progress=0.0,
            progress_message="starting",
            error="",
        )
    _append_log(job_id, f"attempt {job.attempts + 1} started on {_worker_name()}")
    return AnalysisJob.objects.get(pk=job_id)


def _heartbeat(job_id: int):
    """Touch the job's heartbeat every HEARTBEAT_S from a thread while the analysis runs."""
    return heartbeat(
        lambda: _rows(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now()),
        every_s=HEARTBEAT_S,
        name=f"heartbeat-{job_id}",
    )


class _Progress:
    """Progress reports from the analysis, written to the job at most every 0.5 s."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.last = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - self.last < 0.5 and fraction < 1:
            return
        self.last = now
        _rows(pk=self.job_id).update(
            progress=max(0.0, min(1.0, float(fraction))),
            progress_message=message[:200],
            heartbeat_at=timezone.now(),
        )


def job_execute(job_id: int) -> str:
    """Run job ``job_id`` to the end; return its final status. Called by the task in the worker."""
    job = _claim(job_id)
    if job is None:
        return AnalysisJob.objects.get(pk=job_id).status
    runner = runners.RUNNERS[job.kind]
    progress = _Progress(job.pk)
    names = runners.input_names(job)  # a failure names the file as it was uploaded, not its checksum
    by_role = dict(job.inputs.values_list("role", "raw_file__original_name"))
    try:
        with _heartbeat(job.pk), runners.local_inputs(job) as paths:
            for role, path in paths.items():  # the local copies and links the analysis reads
                names[str(path)] = names[str(path.resolve())] = by_role.get(role, path.name)
            output = runner.analyse(
                paths, job.parameters, progress=progress, scheduler=runners.scheduler_address()
            )
            progress(0.98, "writing results")
            with transaction.atomic():
                fresh = AnalysisJob.objects.select_for_update().get(pk=job.pk)
                if fresh.status != JobStatus.RUNNING or fresh.worker != job.worker:
                    _append_log(job.pk, "another worker took this job over; results discarded")
                    return fresh.status
                runner.write_results(fresh, output)
                _record_version(fresh)
                _rows(pk=job.pk).update(
                    status=JobStatus.SUCCEEDED,
                    progress=1.0,
                    progress_message="done",
                    finished_at=timezone.now(),
                    scheduler=output.scheduler,
                )
        _append_log(job.pk, f"succeeded ({output.summary})")
        return JobStatus.SUCCEEDED
    except (AnalysisInputError, ValidationError) as exc:
        message = exc.args[0] if isinstance(exc, AnalysisInputError) else "; ".join(exc.messages)
        _fail(job.pk, runners.name_files(str(message), names))
        return JobStatus.FAILED
    except Exception as exc:  # a bug or an environment failure: keep the traceback in the log
        message = runners.name_files(f"internal error: {type(exc).__name__}: {exc}", names)
        _fail(job.pk, message, traceback.format_exc())
        return JobStatus.FAILED


def _record_version(job: AnalysisJob) -> None:
    """Name the code that computed the job's results: its version and key become this worker's.

    A job is submitted under the submitting process's ``analysis.__version__``; a worker that imported
    other analysis code (not yet restarted after a change, or restarted since) computes with its own.
    The job is then re-keyed to the version that really made its results, so they are reused only
    for that code, and a submission under the other version gets a new job.
    """
    version = analysis.__version__
    if job.analysis_version == version:
        return
    files = {i.role: i.raw_file for i in job.inputs.select_related("raw_file")}
    _rows(pk=job.pk).update(
        analysis_version=version, input_key=input_key(job.kind, files, job.parameters, version)
    )
    _append_log(job.pk, f"computed by analysis {version} (submitted under {job.analysis_version})")


def _fail(job_id: int, message: str, details: str = "") -> None:
    _rows(pk=job_id).update(
        status=JobStatus.FAILED, error=message[:2000], finished_at=timezone.now(), progress_message="failed"
    )
    _append_log(job_id, f"failed: {message}" + (f"\n{details}" if details else ""))
    logger.warning("analysis job %s failed: %s", job_id, message)


def stale_after_s() -> float:
    return float(getattr(settings, "JOB_STALE_AFTER_S", 60.0))


def worker_beat(*, name: str | None = None) -> None:
    """Record that the worker ``name`` (default: this process) is alive, idle or busy."""
    WorkerHeartbeat.objects.update_or_create(
        name=name or _worker_name(), defaults={"beat_at": timezone.now()}
    )


def worker_gone(*, name: str | None = None) -> None:
    """Remove this worker's heartbeat at a clean exit (a killed one simply goes stale)."""
    WorkerHeartbeat.objects.filter(name=name or _worker_name()).delete()


def workers_alive(*, now=None) -> int:
    """How many job workers sent a heartbeat within JOB_STALE_AFTER_S (0: queued jobs will wait)."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=stale_after_s())
    return WorkerHeartbeat.objects.filter(beat_at__gte=cutoff).count()


def jobs_requeue_stale(*, now=None) -> list[int]:
    """Put running jobs whose heartbeat stopped back in the queue (or fail them after max_attempts)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=stale_after_s())
    requeued = []
    for job in AnalysisJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff):
        with transaction.atomic():
            n = _rows(pk=job.pk, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
                status=JobStatus.QUEUED if job.attempts < job.max_attempts else JobStatus.FAILED,
                progress_message="re-queued: its worker stopped"
                if job.attempts < job.max_attempts
                else "failed",
                error=""
                if job.attempts < job.max_attempts
                else f"its worker stopped {job.attempts} times (last {job.worker}); giving up",
            )
            if not n:
                continue
            if job.attempts < job.max_attempts:
                _append_log(
                    job.pk,
                    f"worker {job.worker} stopped (no heartbeat since {job.heartbeat_at:%H:%M:%S}); re-queued",
                )
                _enqueue(job)
                requeued.append(job.pk)
            else:
                _append_log(job.pk, f"worker {job.worker} stopped; attempts exhausted")
    return requeued


def job_cancel(*, job: AnalysisJob, user=None) -> AnalysisJob:
    """Cancel a queued job (a running one finishes its current analysis but its results are discarded).

    ``user`` must be an editor of the job's project (RoleRequired, a PermissionDenied, otherwise)."""
    if user is not None:
        require_role(user, job.project, Role.EDITOR)
    _rows(pk=job.pk, status__in=ACTIVE).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
    _append_log(job.pk, f"cancelled by {user or 'system'}")
    job.refresh_from_db()
    return job


# What a run's technique (or a device measurement) is analysed with, and how its files get roles.
TECHNIQUE_KINDS = {
    "blinking": "blinking",
    "trpl": "trpl",
    "pl": "spectrum",
    "uvvis": "spectrum",
    "xrd": "xrd",
}


def files_by_role(kind: str, raw_files) -> dict[str, RawFile]:
    files = list(raw_files)
    if kind == "blinking":
        movies = [f for f in files if f.original_name.lower().endswith((".tif", ".tiff"))]
        return {"movie": movies[0]} if movies else {}
    if kind == "trpl":
        irf = [f for f in files if "irf" in f.original_name.lower()]
        decays = [f for f in files if f not in irf]
        roles = {"decay": decays[0]} if decays else {}
        if irf and decays:
            roles["irf"] = irf[0]
        return roles
    return {"data": files[0]} if files else {}


def natural_kind(target) -> str | None:
    """The analysis a record is analysed with: photodetector for a device measurement, else by the
    run's technique (None for techniques without one, e.g. SEM)."""
    if hasattr(target, "device_id"):
        return "photodetector"
    return TECHNIQUE_KINDS.get(getattr(target, "technique", ""))


def job_submit_natural(*, target, user=None, force: bool = False) -> AnalysisJob:
    """Submit the natural analysis of a run or device measurement over its attached raw files.

    The one place that turns "analyse this record" into a job: the admin, the pages, the API, the
    ingest command and the demo all call it. ValidationError when the record has no analysis or no
    files to analyse.
    """
    kind = natural_kind(target)
    if kind is None:
        raise ValidationError({"kind": f"{target}: no analysis for this kind of record; give a kind"})
    files = files_by_role(kind, target.raw_files.all())
    if not files:
        raise ValidationError({"files": f"{target} has no raw files to analyse; upload some first"})
    where = {"measurement": target} if kind == "photodetector" else {"run": target}
    return job_submit(kind=kind, files=files, user=user, force=force, **where)


def jobs_submit_for_project(*, project, user=None, force: bool = False) -> list[AnalysisJob]:
    """Submit the natural analysis of every run and device measurement of ``project`` that has raw
    files (blinking movies, TRPL decays with an IRF named *irf*, spectra, XRD scans, Keithley logs)."""
    from labbook.characterization.models import CharacterizationRun
    from labbook.devices.models import DeviceMeasurement

    runs = CharacterizationRun.objects.filter(project=project, technique__in=TECHNIQUE_KINDS)
    measurements = DeviceMeasurement.objects.filter(project=project)
    return [
        job_submit_natural(target=target, user=user, force=force)
        for qs in (runs, measurements)
        for target in qs.prefetch_related("raw_files")
        if files_by_role(natural_kind(target), target.raw_files.all())  # records without data are skipped
    ]
