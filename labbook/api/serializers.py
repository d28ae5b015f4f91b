"""Base serializers: every write is validated by the model itself (``full_clean()``), quantities
carry units, unknown fields are refused, and related records are limited to what the user sees
and to the record's own project. An update (PUT or PATCH) must say which ``version`` it is based on.

DRF does not call ``Model.clean()``; :class:`RecordSerializer` does (after netbox's
``ValidatedModelSerializer``), so the API refuses exactly what the admin and the forms refuse.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch
from rest_framework import serializers
from rest_framework.relations import ManyRelatedField, RelatedField

from labbook.api.fields import QuantitySerializerField
from labbook.projects.models import Project, ProjectRecord
from labbook.projects.selectors import projects_for, visible
from labbook.units import QuantityField

_QUANTITY_KWARGS = {"required", "allow_null", "help_text", "label", "read_only", "default"}


def companion_fields(model) -> set[str]:
    """Names of the ``<name>_err`` columns of ``model``'s QuantityFields (shown inside the quantity)."""
    return {
        f.err_attname for f in model._meta.concrete_fields if isinstance(f, QuantityField) and f.uncertainty
    }


class StrictFieldsMixin:
    """Refuse fields the resource does not have, rather than silently dropping them."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(n for n, f in self.fields.items() if not f.read_only)
                raise serializers.ValidationError(
                    {name: [f"unknown field; writable fields are: {known}"] for name in unknown}
                )
        return super().to_internal_value(data)


class LabModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """ModelSerializer with quantities and without the ``<name>_err`` companion columns."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        QuantityField: QuantitySerializerField,
    }

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, QuantityField):
            kwargs = {k: v for k, v in kwargs.items() if k in _QUANTITY_KWARGS}
            kwargs["unit"] = model_field.unit
        return field_class, kwargs

    def get_default_field_names(self, declared_fields, model_info):
        names = super().get_default_field_names(declared_fields, model_info)
        hidden = companion_fields(self.Meta.model)
        return [n for n in names if n not in hidden]


class RecordSerializer(LabModelSerializer):
    """A :class:`~labbook.projects.models.ProjectRecord`: validated by ``full_clean()``, its
    project and related records limited to the requesting user's projects."""

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for field in fields.values():
            rel = field.child_relation if isinstance(field, ManyRelatedField) else field
            if not isinstance(rel, RelatedField) or rel.read_only or rel.queryset is None:
                continue
            model = rel.queryset.model
            if model is Project:
                rel.queryset = projects_for(user)
            elif issubclass(model, ProjectRecord):
                rel.queryset = visible(rel.queryset.all(), user)
        return fields

    def get_validators(self):
        # DRF would check unique constraints itself and report them as non_field_errors; full_clean()
        # below checks them as the admin and forms do, on the field they concern ("code")
        return list(getattr(self.Meta, "validators", []))

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        self._check_version_given()
        m2m = {f.name for f in model._meta.many_to_many}
        self._check_same_project(attrs, m2m)
        plain = {k: v for k, v in attrs.items() if k not in m2m}
        if self.instance is None:
            instance = model(**plain)
        else:
            instance = copy.copy(self.instance)
            for key, value in plain.items():
                setattr(instance, key, value)
        try:
            instance.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
        return attrs

    def _check_version_given(self) -> None:
        """An update without the version it was based on would silently overwrite other changes."""
        if self.instance is None or not hasattr(self.instance, "version"):
            return
        if not isinstance(self.initial_data, Mapping) or self.initial_data.get("version") is None:
            raise serializers.ValidationError(
                {
                    "version": [
                        "required when changing a record: send the version you loaded "
                        f"(this record is now at version {self.instance.version}), so that nobody's "
                        "change is overwritten unseen"
                    ]
                }
            )

    def _check_same_project(self, attrs, m2m: set[str]) -> None:
        """Records linked many-to-many (a run's raw files, an entry's records, a device's samples)
        must be in the record's project; ``Model.clean()`` checks the foreign keys."""
        project = attrs.get("project") or getattr(self.instance, "project", None)
        if project is None:
            return
        moved = self.instance is not None and self.instance.project_id != project.pk
        errors = {}
        for name in m2m:
            if name in attrs:
                linked = attrs[name]
            elif moved:  # the links it keeps must move with it
                linked = getattr(self.instance, name).all()
            else:
                continue
            others = sorted(
                str(o) for o in linked if isinstance(o, ProjectRecord) and o.project_id != project.pk
            )
            if others:
                errors[name] = [f"{', '.join(others)}: in another project than {project}"]
        if errors:
            raise serializers.ValidationError(errors)

    def create(self, validated_data):
        with transaction.atomic():
            return super().create(validated_data)

    def update(self, instance, validated_data):
        # optimistic locking: a client that sends the version it loaded gets a 409 on a lost update
        version = self.initial_data.get("version") if isinstance(self.initial_data, Mapping) else None
        if version is not None:
            try:
                instance.version = int(version)
            except (TypeError, ValueError):
                raise serializers.ValidationError({"version": ["must be an integer"]}) from None
        with transaction.atomic():
            return super().update(instance, validated_data)


def link_serializer(model, view_name: str, *fields: str):
    """A small nested representation of a related record: id, url and a few fields."""

    meta = type("Meta", (), {"model": model, "fields": ["id", "url", *fields], "read_only_fields": fields})
    attrs = {"Meta": meta, "url": serializers.HyperlinkedIdentityField(view_name=view_name)}
    return type(f"{model.__name__}Link", (LabModelSerializer,), attrs)


def link_prefetch(lookup: str, link, *, via: str | None = None) -> Prefetch:
    """A Prefetch of ``lookup`` that loads only the columns ``link`` (a :func:`link_serializer`)
    shows, and ``via``, the foreign key back to the listed record (reverse relations need it to be
    matched without a query each). A run's jobs carry their logs and a blinking analysis its JSON
    options: loading whole rows for a list of links cost more than the rest of the page."""
    names = [f for f in link.Meta.fields if f != "url"]
    return Prefetch(lookup, queryset=link.Meta.model._default_manager.only(*names, *([via] if via else [])))
