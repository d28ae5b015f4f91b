"""Raw instrument files, stored once per content under their SHA-256.

The bytes live in Django's default storage at ``raw/<sha[:2]>/<sha>``; a RawFile row records a
project's reference to them with the name it was uploaded under. Bytes are never rewritten: a
second upload of the same content finds the stored blob and only adds a row (or reuses the
project's row). Writes go through :func:`labbook.files.services.raw_file_store`. A notebook
entry's attachments (images, PDF, CSV/TXT) are RawFile rows too, stored the same way, with the
media type their content shows (labbook.files.attachments, which also makes their previews).
"""

from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from labbook.projects.models import ProjectRecord

sha256_validator = RegexValidator(r"^[0-9a-f]{64}$", "a SHA-256 is 64 lowercase hexadecimal digits")


def blob_name(sha256: str) -> str:
    return f"raw/{sha256[:2]}/{sha256}"


class RawFile(ProjectRecord):
    sha256 = models.CharField(max_length=64, validators=[sha256_validator], db_index=True, editable=False)
    size = models.PositiveBigIntegerField(editable=False, help_text="bytes")
    original_name = models.CharField(max_length=255)
    media_type = models.CharField(max_length=127, default="application/octet-stream")
    description = models.CharField(max_length=255, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "original_name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="raw_file_once_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:10]}…)"

    @property
    def storage_name(self) -> str:
        return blob_name(self.sha256)

    def open(self, mode: str = "rb"):
        from django.core.files.storage import default_storage

        return default_storage.open(self.storage_name, mode)
