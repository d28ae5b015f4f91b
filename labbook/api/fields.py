"""Fields of the API: quantities, in as "2.5 uL" or {"magnitude": 2.5, "units": "uL"}, out as
{"magnitude": 2.5, "units": "uL"} (plus "uncertainty" when one is recorded); and
:class:`IdentityUrlField`, a record's own URL reversed once per request rather than once per row."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import pint
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from labbook.units import Quantity, dimension_name, to_quantity, ureg

_KEYS = {"magnitude", "units", "uncertainty"}
_MISSING = object()


class _Stored(NamedTuple):
    """A value as stored: a float in the field's declared unit, and its uncertainty."""

    magnitude: float
    uncertainty: float | None


class QuantitySerializerField(serializers.Field):
    """A :class:`labbook.units.QuantityField` in the API; ``unit`` is the unit it is returned in."""

    default_error_messages = {
        "invalid": "expected {dimension}: a string such as '2.5 {unit}', a number (in {unit}) "
        'or {{"magnitude": 2.5, "units": "{unit}"}}',
    }

    def __init__(self, *, unit: str, **kwargs):
        self.unit = unit
        self.dimension = dimension_name(Quantity(1, unit).dimensionality)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        # Fast path: the float stored in the column (already in self.unit) and its uncertainty,
        # without building a pint Quantity per value (pint dominates large list pages otherwise).
        if self.source_attrs == [self.field_name]:
            raw = instance.__dict__.get(self.field_name, _MISSING)
            if type(raw) is float:
                err = instance.__dict__.get(f"{self.field_name}_err")
                return _Stored(raw, err if type(err) is float else None)
        return super().get_attribute(instance)

    def to_representation(self, value):
        if isinstance(value, _Stored):
            out = {"magnitude": value.magnitude, "units": self.unit}
            if value.uncertainty is not None:
                out["uncertainty"] = value.uncertainty
            return out
        if isinstance(value, ureg.Measurement):
            return {
                "magnitude": float(value.value.to(self.unit).magnitude),
                "units": self.unit,
                "uncertainty": float(value.error.to(self.unit).magnitude),
            }
        if isinstance(value, pint.Quantity):
            return {"magnitude": float(value.to(self.unit).magnitude), "units": self.unit}
        return {"magnitude": float(value), "units": self.unit}

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = set(data) - _KEYS
            magnitude = data.get("magnitude")
            units = data.get("units", self.unit)
            uncertainty = data.get("uncertainty")
            if (
                unknown
                or not _finite_number(magnitude)
                or not isinstance(units, str)
                or (uncertainty is not None and not _finite_number(uncertainty))
            ):
                self.fail("invalid", dimension=self.dimension, unit=self.unit)
            data = (
                f"{magnitude} +/- {uncertainty} {units}"
                if uncertainty is not None
                else f"{magnitude} {units}"
            )
        elif not isinstance(data, (str, int, float)) or isinstance(data, bool):
            self.fail("invalid", dimension=self.dimension, unit=self.unit)
        try:
            return to_quantity(data, unit=self.unit, name=self.field_name or "value")
        except DjangoValidationError as exc:
            messages = exc.message_dict.get(self.field_name or "value", exc.messages)
            raise serializers.ValidationError(messages) from None
        except Exception:  # the unit parser's own errors on odd text (e.g. control characters)
            self.fail("invalid", dimension=self.dimension, unit=self.unit)


def _finite_number(value) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


class QuantityFieldExtension(OpenApiSerializerFieldExtension):
    """OpenAPI: responses are {magnitude, units[, uncertainty]}; requests also take a string or number."""

    target_class = QuantitySerializerField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        obj = {
            "type": "object",
            "properties": {
                "magnitude": {"type": "number"},
                "units": {"type": "string", "example": field.unit},
                "uncertainty": {"type": "number"},
            },
            "required": ["magnitude", "units"],
            "description": f"{field.dimension}; returned in {field.unit}",
        }
        if direction == "response":
            return obj
        obj = {**obj, "additionalProperties": False}
        return {
            "oneOf": [
                {"type": "string", "example": f"2.5 {field.unit}"},
                {"type": "number", "description": f"in {field.unit}"},
                obj,
            ],
            "description": f"{field.dimension}, in any unit of that dimension",
        }


#: a primary key no URL of the API contains by itself: it marks where a record's id goes
_PK_MARK = 7_391_158_437


class IdentityUrlField(serializers.HyperlinkedIdentityField):
    """A record's URL (``"url"``), as :class:`~rest_framework.relations.HyperlinkedIdentityField`
    gives it, but reversed once per request and view name: the URL of a marker id is split around
    the id, and each row's URL is the two halves around its own id. Reversing (URL resolver and
    ``build_absolute_uri``) per row cost more than the rest of a link's fields on list pages with
    nested links (a run's files, jobs and results). A format suffix, another lookup field or a
    non-integer id takes DRF's own path."""

    def get_url(self, obj, view_name, request, format):
        pk = getattr(obj, "pk", None)
        if (
            format
            or request is None
            or type(pk) is not int
            or self.lookup_field != "pk"
            or self.lookup_url_kwarg != "pk"
        ):
            return super().get_url(obj, view_name, request, format)
        templates = request.__dict__.get("_labbook_url_templates")
        if templates is None:
            templates = request.__dict__["_labbook_url_templates"] = {}
        parts = templates.get(view_name, _MISSING)
        if parts is _MISSING:
            url = self.reverse(view_name, kwargs={"pk": _PK_MARK}, request=request, format=None)
            head, mark, tail = url.partition(str(_PK_MARK))
            parts = templates[view_name] = (head, tail) if mark and str(_PK_MARK) not in tail else None
        if parts is None:
            return super().get_url(obj, view_name, request, format)
        return f"{parts[0]}{pk}{parts[1]}"
