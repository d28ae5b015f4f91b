"""Freeze records: who froze or unfroze a project, when, why, and the signed manifest of a freeze;
``.eln`` imports and the records they brought; ``.eln`` exports and imports run as background jobs.

The project itself carries its current state (``Project.frozen_at/frozen_by/freeze_reason``); a
:class:`FreezeEvent` row is kept for every freeze and unfreeze, so the reasons survive an unfreeze.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver

from labbook.projects.models import Project


class FreezeAction(models.TextChoices):
    FREEZE = "freeze", "freeze"
    UNFREEZE = "unfreeze", "unfreeze"


class FreezeEvent(models.Model):
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="freeze_events")
    action = models.CharField(max_length=10, choices=FreezeAction.choices)
    at = models.DateTimeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField()
    manifest = models.JSONField(
        null=True, blank=True, help_text="the signed manifest written at a freeze (payload, signature, key)"
    )
    manifest_path = models.CharField(
        max_length=255, blank=True, help_text="where the manifest was written in the default storage"
    )

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.project} {self.action} {self.at:%Y-%m-%d %H:%M}"


class Signature(models.TextChoices):
    UNSIGNED = "unsigned", "unsigned"
    VERIFIED = "verified", "signed, signature verified"
    UNTRUSTED = "untrusted", "signed by a key this instance does not trust: not verified"


class ElnImport(models.Model):
    """One ``.eln`` import: which archive, which ELN exported it, whether it was signed, what came in."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="eln_imports")
    file_name = models.CharField(max_length=255)
    archive_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the .eln file as imported")
    source = models.CharField(max_length=200, help_text="the exporting ELN (the descriptor's sdPublisher)")
    source_url = models.CharField(max_length=500, blank=True)
    signature = models.CharField(max_length=10, choices=Signature.choices, default=Signature.UNSIGNED)
    signature_key_id = models.CharField(
        max_length=16, blank=True, help_text="minisign key id (hex) of ro-crate-metadata.json.minisig"
    )
    signature_comment = models.CharField(
        max_length=500, blank=True, help_text="the signature's trusted comment"
    )
    summary = models.JSONField(default=dict, help_text="what was imported: counts, unverified files, notes")
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-imported_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.file_name} from {self.source} ({self.signature_text})"

    @property
    def signature_text(self) -> str:
        if self.signature == Signature.VERIFIED:
            return f"signed by {self.signature_key_id}"
        if self.signature == Signature.UNTRUSTED:
            return f"signed by {self.signature_key_id}, an untrusted key: not verified"
        return "unsigned"


class Checksum(models.TextChoices):
    NONE = "", "not a file"
    VERIFIED = "verified", "sha256 verified"
    UNVERIFIED = "unverified", "unverified: the archive gives no sha256"


class ImportedRecord(models.Model):
    """Marks a record that came from a ``.eln`` import, with the raw JSON-LD node it came from
    (so content another ELN wrote that labbook has no field for is kept, not dropped). A raw
    file's mark says whether its bytes were checked against a sha256 of the archive."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imported_records")
    model = models.CharField(max_length=100, help_text="app_label.Model of the record")
    object_id = models.PositiveBigIntegerField()
    source = models.CharField(max_length=200, help_text="the sdPublisher of the archive")
    source_id = models.CharField(max_length=500, help_text="the node's @id in the archive")
    raw = models.JSONField(help_text="the node as imported, with its properties and parts")
    eln_import = models.ForeignKey(
        ElnImport, null=True, blank=True, on_delete=models.CASCADE, related_name="records"
    )
    checksum = models.CharField(max_length=10, choices=Checksum.choices, blank=True, default=Checksum.NONE)
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["project", "model", "object_id"]
        indexes = [models.Index(fields=["model", "object_id"])]

    def __str__(self) -> str:
        return f"{self.model} {self.object_id} from {self.source}"

    def record(self):
        from django.apps import apps

        return apps.get_model(self.model)._base_manager.filter(pk=self.object_id).first()


class ArchiveJobKind(models.TextChoices):
    EXPORT = "export", "export a project as .eln"
    IMPORT = "import", "import a .eln as a new project"


class ArchiveJobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


ARCHIVE_JOB_ACTIVE = (ArchiveJobStatus.QUEUED, ArchiveJobStatus.RUNNING)


class ArchiveJob(models.Model):
    """A ``.eln`` export or import run in the background by the job worker
    (:mod:`labbook.archives.jobs`): who asked, how far it is, and the file it made or was given.

    An export's archive stays at ``file_path`` (under MEDIA_ROOT) for download by the project's
    members; an import's upload is removed once the import has run, and ``imported_project`` names
    the project it made. Not a project record: it is not exported, frozen or backed up."""

    kind = models.CharField(max_length=10, choices=ArchiveJobKind.choices)
    status = models.CharField(
        max_length=10, choices=ArchiveJobStatus.choices, default=ArchiveJobStatus.QUEUED, db_index=True
    )
    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="archive_jobs",
        help_text="the project exported",
    )
    imported_project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the project an import made",
    )
    slug = models.CharField(max_length=80, blank=True, help_text="import: the new project's slug, if given")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255, help_text="the archive's name (download or upload)")
    file_path = models.CharField(max_length=500, blank=True, help_text="where it is, relative to MEDIA_ROOT")
    file_size = models.PositiveBigIntegerField(null=True, blank=True, help_text="bytes")
    file_sha256 = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    progress_message = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid of the worker running it")
    task_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        what = self.project or self.file_name
        return f"{self.get_kind_display()} #{self.pk}: {what} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ARCHIVE_JOB_ACTIVE

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


@receiver(post_delete, sender=ArchiveJob)
def _remove_archive_job_files(sender, instance: ArchiveJob, **kwargs) -> None:
    """A deleted job (or one of a deleted project) takes its archive or upload with it."""
    from labbook.archives.jobs import remove_job_files

    remove_job_files(instance)
