"""Reads of tags, scoped to what a user may see."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, QuerySet

from labbook.projects.selectors import visible
from labbook.tagging.models import Tag


def tags_of(record) -> QuerySet[Tag]:
    """The tags on ``record`` (whoever asks may see the record: check that first)."""
    return Tag.objects.filter(
        project_id=record.project_id,
        tagged__content_type=ContentType.objects.get_for_model(record),
        tagged__object_id=record.pk,
    ).order_by("name")


def project_tags(user, *, project=None) -> QuerySet[Tag]:
    """The tags of the projects ``user`` sees (of ``project`` if given), with ``records``: how many
    records carry each."""
    qs = visible(Tag, user).select_related("project")
    if project is not None:
        qs = qs.filter(project=project)
    return qs.annotate(records=Count("tagged")).order_by("project__name", "name")
