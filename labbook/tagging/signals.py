"""A deleted record takes its tags with it (the records' apps know nothing of tags, so a receiver
rather than an explicit call in their services)."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_delete
from django.dispatch import receiver

from labbook.tagging.kinds import kind_of
from labbook.tagging.models import TaggedRecord


@receiver(post_delete)
def untag_deleted_record(sender, instance, **kwargs) -> None:
    if kind_of(sender) is None:
        return
    TaggedRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(sender), object_id=instance.pk
    ).delete()
