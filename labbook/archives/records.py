"""The domain records of a project, in an order that respects their foreign keys, and their content
as plain JSON values (used by the freeze manifest, .eln export and comparisons in tests)."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache

from django.apps import apps
from django.db import models

from labbook.archives.signing import canonical_json
from labbook.projects.models import ProjectRecord
from labbook.units import QuantityField

#: provenance fields that belong to this instance, not to the record's content
PROVENANCE = {"id", "project", "created_at", "modified_at", "created_by", "version"}

#: the apps whose records a .eln export carries: what the lab recorded and the analyses of it (jobs
#: with their parameters and analysis version, results, particles, artifacts), so an import shows
#: them without re-running anything. The freeze manifest covers every ProjectRecord.
ELN_APPS = ("files", "synthesis", "characterization", "devices", "notebook", "jobs", "results")


@cache
def domain_models(app_labels: tuple[str, ...] | None = ELN_APPS) -> list[type[ProjectRecord]]:
    """Concrete ProjectRecord models (of ``app_labels``; all when None), parents before the
    records that point to them."""
    pending = [
        m
        for m in apps.get_models()
        if issubclass(m, ProjectRecord)
        and not m._meta.abstract
        and not m.__name__.startswith("Historical")
        and (app_labels is None or m._meta.app_label in app_labels)
    ]
    pending.sort(key=lambda m: m._meta.label)
    ordered: list[type[ProjectRecord]] = []
    while pending:
        for m in pending:
            deps = {
                f.related_model
                for f in m._meta.get_fields()
                if (f.many_to_one or f.many_to_many)
                and not f.auto_created
                and f.related_model is not m
                and f.related_model in pending
            }
            if not deps:
                ordered.append(m)
                pending.remove(m)
                break
        else:  # a cycle: keep the rest in label order
            ordered.extend(pending)
            break
    return ordered


def json_value(field: models.Field, obj):
    """The stored value of ``field`` on ``obj`` as JSON (quantities as floats in the column's unit)."""
    if isinstance(field, QuantityField):
        return obj.__dict__.get(field.attname)
    value = getattr(obj, field.attname)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def content_fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in PROVENANCE]


def record_content(obj) -> dict:
    """A record's content: its fields (foreign keys as ids) and many-to-many links as sorted ids."""
    data = {f.attname: json_value(f, obj) for f in content_fields(type(obj))}
    for m2m in type(obj)._meta.many_to_many:
        data[m2m.name] = sorted(getattr(obj, m2m.name).values_list("pk", flat=True))
    return data


def record_sha256(obj) -> str:
    return hashlib.sha256(canonical_json(record_content(obj))).hexdigest()


def project_records(project, app_labels: tuple[str, ...] | None = ELN_APPS):
    """(model, queryset) for every domain model, in dependency order."""
    for model in domain_models(app_labels):
        yield model, model._base_manager.filter(project=project).order_by("pk")
