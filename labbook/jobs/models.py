"""Analysis jobs as durable rows.

An :class:`AnalysisJob` is what a researcher asked for (kind, input files, parameters) and what
happened (status, progress, attempts, heartbeat, logs, error). The task framework only carries the
job's id; the row is the truth, so a job survives a killed worker: the sweep in
``labbook.jobs.services.jobs_requeue_stale`` re-queues running jobs whose heartbeat stopped.

``input_key`` = SHA-256 of (kind, input checksums by role, canonical parameters, analysis version):
the same key reuses a succeeded job's results unless a re-run is forced.
"""

from django.conf import settings
from django.db import models

from labbook.projects.models import ProjectLink, ProjectRecord


class JobKind(models.TextChoices):
    BLINKING = "blinking", "single-particle blinking and correlation"
    TRPL = "trpl", "TRPL lifetime fit"
    PHOTODETECTOR = "photodetector", "photodetector response"
    SPECTRUM = "spectrum", "PL / absorption spectrum"
    XRD = "xrd", "XRD peaks and phases"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


class AnalysisJob(ProjectRecord):
    kind = models.CharField(max_length=20, choices=JobKind.choices)
    run = models.ForeignKey(
        "characterization.CharacterizationRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
    )
    measurement = models.ForeignKey(
        "devices.DeviceMeasurement", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    parameters = models.JSONField(default=dict, blank=True)
    input_key = models.CharField(max_length=64, db_index=True, editable=False)
    analysis_version = models.CharField(max_length=40, editable=False)
    forced = models.BooleanField(default=False, help_text="run even if the same inputs were analysed before")

    status = models.CharField(
        max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    progress_message = models.CharField(max_length=200, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid of the worker running it")
    scheduler = models.CharField(max_length=200, blank=True, help_text="the dask scheduler used")
    task_id = models.CharField(
        max_length=64, blank=True, help_text="the task framework's id of the last enqueue"
    )
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    #: bookkeeping, not the study's data: a job whose project was frozen mid-run may still record
    #: its progress, fail or stop (``update()`` of only these passes the frozen-project guard)
    freeze_exempt_fields = frozenset(
        {
            "status", "progress", "progress_message", "started_at", "finished_at", "heartbeat_at",
            "attempts", "worker", "scheduler", "task_id", "log", "error",
        }
    )  # fmt: skip

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["-queued_at"], name="job_list_order"),  # a page of the list
        ]

    def __str__(self) -> str:
        target = self.run or self.measurement
        return f"{self.get_kind_display()} #{self.pk} of {target} ({self.status})"

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class JobInput(ProjectLink):
    """A raw file a job reads, with its role ("movie", "decay", "irf", ...). A frozen project's
    job inputs cannot change (ProjectLink's guard)."""

    job = models.ForeignKey(AnalysisJob, on_delete=models.CASCADE, related_name="inputs")
    raw_file = models.ForeignKey("files.RawFile", on_delete=models.PROTECT, related_name="job_inputs")
    role = models.CharField(max_length=20, default="data")

    class Meta:
        ordering = ["job", "role"]
        constraints = [models.UniqueConstraint(fields=["job", "role"], name="one_file_per_role")]

    def __str__(self) -> str:
        return f"{self.role}: {self.raw_file}"


class WorkerHeartbeat(models.Model):
    """A job worker's sign of life: ``manage.py jobs_worker`` touches its row every JOB_HEARTBEAT_S
    (idle or busy) and removes it at a clean exit; the pages warn when no row is recent."""

    name = models.CharField(max_length=100, unique=True, help_text="host:pid of the worker")
    started_at = models.DateTimeField(auto_now_add=True)
    beat_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return f"{self.name} (last seen {self.beat_at:%Y-%m-%d %H:%M:%S})"
