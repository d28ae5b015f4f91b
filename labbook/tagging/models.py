"""A project's tags and which records carry them.

:class:`Tag` is one label of a project (unique in it, whatever the case); :class:`TaggedRecord`
puts a tag on one record of the same project through a generic relation (contenttypes), so any
record type can carry tags without its app knowing this one. Both are project records: the role,
the freeze and the history (who added or removed a tag, when) come with them.
"""

from __future__ import annotations

import re

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from labbook.projects.models import ProjectRecord

TAG_MAX_LENGTH = 50
_TAG_RE = re.compile(r"^[^\s,]+$")


def validate_tag_name(name: str) -> None:
    if not name:
        raise ValidationError({"name": "a tag needs a name, e.g. 'ethanol-wash'"})
    if len(name) > TAG_MAX_LENGTH:
        raise ValidationError({"name": f"a tag is at most {TAG_MAX_LENGTH} characters ({len(name)} given)"})
    if not _TAG_RE.match(name):
        raise ValidationError(
            {"name": f"{name!r}: a tag is one word without spaces or commas (e.g. 'ethanol-wash')"}
        )


class Tag(ProjectRecord):
    name = models.CharField(max_length=TAG_MAX_LENGTH)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "project",
                name="tag_name_unique_in_project",
                violation_error_message="this project already has that tag",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        validate_tag_name(self.name)


class TaggedRecord(ProjectRecord):
    """``tag`` on the record ``content_type``/``object_id`` (of the tag's project)."""

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="tagged")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")

    history = HistoricalRecords()

    class Meta:
        ordering = ["tag__name"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "content_type", "object_id"], name="tag_once_per_record")
        ]
        indexes = [models.Index(fields=["content_type", "object_id"], name="tagged_record")]

    def __str__(self) -> str:
        return f"{self.tag} on {self.content_type.model} {self.object_id}"
