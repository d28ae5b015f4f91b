"""Reads for batches, treatments and samples, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from labbook.projects.selectors import visible
from labbook.synthesis.models import BatchLink, PostTreatment, Sample, Synthesis


def batch_list(*, user) -> QuerySet[Synthesis]:
    return visible(Synthesis, user).select_related("project", "operator", "pbi2", "mai")


def treatment_list(*, user) -> QuerySet[PostTreatment]:
    return visible(PostTreatment, user).select_related("project", "batch", "stock", "operator")


def sample_list(*, user) -> QuerySet[Sample]:
    return visible(Sample, user).select_related("project", "batch", "treatment")


def batch_lineage(batch: Synthesis) -> dict:
    """Upstream and downstream of ``batch`` as nested dicts: {"batch", "fraction", "parents"|"children"}."""

    def up(b, seen):
        links = BatchLink.objects.filter(child=b).select_related("parent")
        return [
            {
                "batch": link.parent,
                "fraction": link.fraction_of_parent(),
                "parents": up(link.parent, seen | {b.pk}) if link.parent_id not in seen else [],
            }
            for link in links
        ]

    def down(b, seen):
        links = BatchLink.objects.filter(parent=b).select_related("child", "parent")
        return [
            {
                "batch": link.child,
                "fraction": link.fraction_of_parent(),
                "children": down(link.child, seen | {b.pk}) if link.child_id not in seen else [],
            }
            for link in links
        ]

    return {"batch": batch, "parents": up(batch, set()), "children": down(batch, set())}
