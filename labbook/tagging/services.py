"""The only writers of tags: ``tag_add`` and ``tag_remove`` (keyword-only, like every service).

Each checks that the user is an editor of the record's project and that it is not frozen
(projects.writes.authorise: ``RecordNotFound`` for non-members, ``RoleRequired`` for viewers,
``ProjectFrozen``), and writes with history (who, why). A project's tag is made the first time
it is put on one of its records; removing it from the last record keeps it in the project's list.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction

from labbook.projects.writes import authorise, record_create, record_delete
from labbook.tagging.kinds import KINDS, kind_of
from labbook.tagging.models import Tag, TaggedRecord, validate_tag_name


def _clean_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else name
    if not isinstance(name, str):
        raise ValidationError({"name": "a tag name is text"})
    validate_tag_name(name)
    return name


def _check_taggable(record) -> None:
    if kind_of(record) is None or record.pk is None:
        raise ValidationError(
            {"record": f"a {record._meta.verbose_name} carries no tags (only: {', '.join(KINDS)})"}
        )


@transaction.atomic
def tag_add(*, user, record, name: str, reason: str = "") -> TaggedRecord:
    """Put the tag ``name`` on ``record`` (making the project's tag if new); adding a tag the
    record already has changes nothing and returns its row."""
    _check_taggable(record)
    authorise(user, record.project)
    name = _clean_name(name)
    project = record.project
    tag = Tag.objects.filter(project=project, name__iexact=name).first()
    if tag is None:
        tag = record_create(Tag, user=user, project=project, name=name, reason=f"tag {name} made")
    content_type = ContentType.objects.get_for_model(record)
    existing = TaggedRecord.objects.filter(tag=tag, content_type=content_type, object_id=record.pk).first()
    if existing is not None:
        return existing
    return record_create(
        TaggedRecord,
        user=user,
        project=project,
        tag=tag,
        content_type=content_type,
        object_id=record.pk,
        reason=reason or f"tag {tag.name} added to {record}",
    )


@transaction.atomic
def tag_remove(*, user, record, name: str, reason: str = "") -> None:
    """Take the tag ``name`` off ``record``; a ValidationError if it does not carry it."""
    _check_taggable(record)
    authorise(user, record.project)
    name = _clean_name(name)
    row = TaggedRecord.objects.filter(
        project=record.project,
        tag__name__iexact=name,
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
    ).first()
    if row is None:
        raise ValidationError({"name": f"{record} has no tag {name!r}"})
    record_delete(row, user=user, reason=reason or f"tag {row.tag.name} removed from {record}")
