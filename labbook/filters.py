"""Shared django-filter pieces for every app's ``filters.py`` (used by the API and the HTML lists).

- :class:`QuantityFilter`: a filter on a :class:`~labbook.units.QuantityField` that takes a value in
  any unit of the right dimension (``?volume_added__gte=1 uL`` == ``?volume_added__gte=0.001 mL``);
  a bare number is in the field's unit; a wrong dimension is a form error naming the parameter.
- :class:`IdFilter`: foreign keys and many-to-many by id, without a query per value to check it
  exists (and without telling a user whether a record of someone else's project exists).
- :class:`FullTextFilter`: PostgreSQL full-text search (``SearchVector`` / ``websearch`` queries)
  where the database is PostgreSQL, every word ``icontains`` some field on SQLite.
- :class:`TagFilter`: ``?tag=ethanol-wash``, the records that carry a tag of their project (the
  tagging app); every list of project records has it, through :class:`LabFilterSet`.
- :class:`LabFilterSet`: the base FilterSet wiring those to model fields, and :func:`lookups_for`,
  which gives each field the lookups that make sense for its type.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce
from operator import and_, or_

import django_filters
from django import forms
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from labbook.units import Quantity, QuantityField, dimension_name, format_quantity, to_quantity, ureg

#: the fields every project record has (ProjectRecord), filterable on every list
RECORD_FIELDS = ("id", "project", "created_at", "modified_at", "created_by", "version")

__all__ = ["QuantityFilter", "IdFilter", "FullTextFilter", "TagFilter", "LabFilterSet", "lookups_for"]


class QuantityFormField(forms.CharField):
    """Text such as "1 uL", "0.001 mL" or a bare number (in ``unit``) -> a float in ``unit``."""

    def __init__(self, *, unit: str, **kwargs):
        self.unit = unit
        kwargs.setdefault("help_text", f"a quantity, e.g. '2.5 {unit}'; any unit of the same dimension")
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return None
        try:
            q = to_quantity(value.strip(), unit=self.unit, name="value")
        except ValidationError as exc:
            raise _error("; ".join(exc.message_dict["value"])) from None
        except Exception as exc:  # the unit parser's own errors on odd text (e.g. control characters)
            raise _error(
                f"{value!r} is not a quantity; expected {dimension_name(Quantity(1, self.unit).dimensionality)}"
            ) from exc
        if isinstance(q, ureg.Measurement):
            q = q.value
        try:
            return float(q.to(self.unit).magnitude)
        except Exception as exc:  # offset units and the like: say it plainly
            raise _error(f"cannot compare {format_quantity(q)} with {self.unit}") from exc


def _error(text: str) -> ValidationError:
    """A ValidationError whose text may contain "%" (it echoes the input): passed as a parameter,
    since Django and django-filter %-format messages."""
    return ValidationError("%(text)s", params={"text": text})


@extend_schema_field(OpenApiTypes.STR)
class QuantityFilter(django_filters.Filter):
    """Filter a QuantityField (a float column in ``unit``) by a value given in any compatible unit."""

    field_class = QuantityFormField

    def __init__(self, *args, unit: str, **kwargs):
        self.unit = unit
        super().__init__(*args, **kwargs)
        self.extra["unit"] = unit


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """A related record by primary key (no existence check: an unknown id matches nothing)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.STR)
class IdInFilter(django_filters.BaseInFilter, IdFilter):
    """Comma-separated ids: ``?treatment__in=1,2``."""


class FullTextFilter(django_filters.CharFilter):
    """Search ``search_fields``: PostgreSQL full text (websearch syntax: words, "phrases", -not,
    or) on PostgreSQL; on SQLite every word must occur (icontains) in one of the fields."""

    def __init__(self, *args, search_fields: list[str], config: str = "english", **kwargs):
        self.search_fields = list(search_fields)
        self.config = config
        kwargs.setdefault("help_text", f"full-text search in {', '.join(self.search_fields)}")
        kwargs.setdefault("label", "Search")
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        value = (value or "").strip()
        if not value:
            return qs
        if connections[qs.db].vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            return qs.annotate(_search=SearchVector(*self.search_fields, config=self.config)).filter(
                _search=SearchQuery(value, search_type="websearch", config=self.config)
            )
        words = [w.strip('"') for w in value.split() if w.strip('"')]
        clauses = [reduce(or_, (Q(**{f"{f}__icontains": w}) for f in self.search_fields)) for w in words]
        return qs.filter(reduce(and_, clauses)).distinct() if clauses else qs


class TagFilter(django_filters.CharFilter):
    """Records carrying the tag of that name (any case) in their project.

    The tagging app sits above this module (it needs projects), so its TaggedRecord is looked up by
    label when filtering rather than imported."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label", "Tag")
        kwargs.setdefault("max_length", 50)
        kwargs.setdefault("help_text", "records carrying this tag, e.g. ethanol-wash")
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        value = (value or "").strip()
        if not value:
            return qs
        tagged = apps.get_model("tagging", "TaggedRecord")
        rows = tagged.objects.filter(
            content_type=ContentType.objects.get_for_model(qs.model), tag__name__iexact=value
        )
        return qs.filter(pk__in=rows.values("object_id"))


NUMERIC = ["exact", "gte", "lte", "gt", "lt"]
RANGE_ONLY = ["gte", "lte", "gt", "lt", "isnull"]
DATES = ["exact", "gte", "lte"]


def lookups_for(model, *names: str) -> dict[str, list[str]]:
    """``Meta.fields`` for ``names`` of ``model``: quantities by range (any unit), numbers and
    dates by value and range, text by value and icontains, choices by value and ``in``, relations
    by id."""
    out = {}
    for name in names:
        field = model._meta.get_field(name)
        if isinstance(field, QuantityField):
            out[name] = RANGE_ONLY
        elif field.is_relation:
            out[name] = ["exact", "in"] if not field.many_to_many else ["exact"]
        elif field.choices:
            out[name] = ["exact", "in"]
        elif isinstance(field, (models.DateField, models.DateTimeField)):
            out[name] = DATES
        elif isinstance(field, models.BooleanField):
            out[name] = ["exact"]
        elif isinstance(field, (models.FloatField, models.IntegerField, models.DecimalField)):
            out[name] = NUMERIC + (["isnull"] if field.null else [])
        elif isinstance(field, models.TextField):
            out[name] = ["icontains"]
        elif isinstance(field, models.CharField):
            out[name] = ["exact", "icontains"]
        else:
            raise TypeError(f"no default lookups for {model.__name__}.{name} ({type(field).__name__})")
    return out


class UtcDateTimeField(forms.DateTimeField):
    """A date and time with any UTC offset Python accepts (up to +-23:59), handed to the database in
    UTC: PostgreSQL refuses offsets beyond +-15:59 ("time zone displacement out of range"), which made
    ``?created_at__gte=4648-05-21T21:11:55-23:03`` a server error instead of a plain filter."""

    def clean(self, value):
        value = super().clean(value)
        return value.astimezone(dt.UTC) if value is not None and value.tzinfo is not None else value


class UtcDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UtcDateTimeField


class LabFilterSet(django_filters.FilterSet):
    """Base FilterSet: QuantityFields take values with units, relations filter by id, dates and times
    are compared in UTC."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.DateTimeField: {"filter_class": UtcDateTimeFilter},
        QuantityField: {"filter_class": QuantityFilter, "extra": lambda f: {"unit": f.unit}},
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        models.ManyToManyField: {"filter_class": IdFilter, "extra": lambda f: {"distinct": True}},
    }

    tag = TagFilter()

    @classmethod
    def get_filters(cls):
        filters = super().get_filters()
        model = cls._meta.model
        if model is not None and not any(f.name == "project" for f in model._meta.concrete_fields):
            filters.pop("tag", None)  # only project records carry tags
        return filters

    @classmethod
    def filter_for_lookup(cls, field, lookup_type):
        if lookup_type == "in" and field.is_relation:
            return IdInFilter, {}
        return super().filter_for_lookup(field, lookup_type)
