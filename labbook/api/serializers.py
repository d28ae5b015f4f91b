"""Base serializers: every write is validated by the model itself (``full_clean()``), quantities
carry units, unknown fields are refused, and related records are limited to what the user sees
and to the record's own project. An update (PUT or PATCH) must say which ``version`` it is based on.

DRF does not call ``Model.clean()``; :class:`RecordSerializer` does (after netbox's
``ValidatedModelSerializer``), so the API refuses exactly what the admin and the forms refuse.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections, transaction
from django.db.models import F, FloatField, IntegerField, Prefetch, Value, Window
from django.db.models.functions import JSONObject, RowNumber
from django.db.models.manager import BaseManager
from django.db.models.query_utils import DeferredAttribute
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_array_type
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import ManyRelatedField, PKOnlyObject, PrimaryKeyRelatedField, RelatedField

from labbook.api.fields import IdentityUrlField, QuantitySerializerField
from labbook.projects.models import Project, ProjectRecord
from labbook.projects.selectors import projects_for, visible
from labbook.units import QuantityField

_QUANTITY_KWARGS = {"required", "allow_null", "help_text", "label", "read_only", "default"}
_MISSING = object()
#: DRF fields whose to_representation depends on the value alone (never on the instance)
_PLAIN_FIELDS = (
    serializers.BooleanField, serializers.CharField, serializers.ChoiceField, serializers.DateField,
    serializers.DateTimeField, serializers.DecimalField, serializers.FloatField, serializers.IntegerField,
    serializers.JSONField, serializers.ReadOnlyField, serializers.UUIDField,
)  # fmt: skip


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


class FastReadMixin:
    """The same representation as DRF's, faster on list pages. For a field that shows a plain
    column (text, number, date, choice, JSON), a foreign key's id or a quantity, the value is read
    straight from the row's loaded columns (``instance.__dict__``) instead of through DRF's
    attribute lookup; a list of related records (ids or nested links) that the view prefetched is
    read from the prefetch cache, without a related manager per row and field. What it does not
    know (method fields, nested records, anything not loaded) takes DRF's own path. Which fields
    take which path is worked out once per serializer, not per row: for a page of 50 batches
    (60 fields each) DRF's per-field lookups were most of the page's time."""

    def _read_plan(self) -> list:
        plan = self.__dict__.get("_labbook_read_plan")
        if plan is not None:
            return plan
        model = getattr(getattr(self, "Meta", None), "model", None)
        plan = []
        for field in self._readable_fields:
            mode, key, extra = "drf", None, None
            if isinstance(field, QuantitySerializerField) and field.source_attrs == [field.field_name]:
                # its stored float and uncertainty, as its own get_attribute reads them
                mode, key, extra = "quantity", field.field_name, f"{field.field_name}_err"
            elif model is not None and len(field.source_attrs) == 1:
                if isinstance(field, (ManyRelatedField, serializers.ListSerializer)):
                    if _is_many_relation(model, field.source_attrs[0]):
                        mode, key = "prefetched", field.source_attrs[0]
                else:
                    key, extra = _direct_read(model, field)
                    mode = "column" if key is not None else "drf"
            plan.append((field.field_name, field, mode, key, extra))
        self.__dict__["_labbook_read_plan"] = plan
        return plan

    def to_representation(self, instance):
        ret = {}
        loaded = getattr(instance, "__dict__", {})
        for name, field, mode, key, extra in self._read_plan():
            if mode == "column":
                value = loaded.get(key, _MISSING)
                if value is not _MISSING:
                    ret[name] = None if value is None else (extra(value) if extra else value)
                    continue
            elif mode == "quantity":  # {"magnitude", "units"[, "uncertainty"]} in its stored unit
                value = loaded.get(key, _MISSING)
                if value is None or type(value) is float:
                    if value is not None:
                        value = {"magnitude": value, "units": field.unit}
                        uncertainty = loaded.get(extra)
                        if type(uncertainty) is float:
                            value["uncertainty"] = uncertainty
                    ret[name] = value
                    continue
            elif mode == "prefetched":
                cache = loaded.get("_prefetched_objects_cache")
                if cache is not None and key in cache:
                    ret[name] = field.to_representation(cache[key])
                    continue
            try:  # DRF's own path (Serializer.to_representation)
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check_for_none is None else field.to_representation(attribute)
        return ret


def _is_many_relation(model, name: str) -> bool:
    """``name`` is a many-to-many or reverse foreign key of ``model`` whose prefetch is cached
    under that name."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    if field.many_to_many and not field.auto_created:
        return True  # forward: cached under its name
    # a reverse foreign key: cached under its accessor (a reverse many-to-many is not: DRF's path)
    return bool(field.auto_created and field.one_to_many and field.field.remote_field.cache_name == name)


def _direct_read(model, field):
    """(column attribute, converter) of a serializer field that shows one plain column of
    ``model`` (or a foreign key's id), or (None, None) when DRF's path is needed."""
    try:
        model_field = model._meta.get_field(field.source_attrs[0])
    except FieldDoesNotExist:
        return None, None
    if not getattr(model_field, "concrete", False):
        return None, None
    if model_field.is_relation:
        if model_field.many_to_one and type(field) is PrimaryKeyRelatedField and field.pk_field is None:
            return model_field.attname, None  # the id, as DRF's pk-only optimisation gives it
        return None, None
    descriptor = next(
        (k.__dict__[model_field.attname] for k in model.__mro__ if model_field.attname in k.__dict__), None
    )
    if type(descriptor) is not DeferredAttribute:
        return None, None  # a descriptor of its own (quantities and their uncertainties)
    if isinstance(field, _PLAIN_FIELDS) and type(field).get_attribute is serializers.Field.get_attribute:
        return model_field.attname, field.to_representation
    return None, None


class LabModelSerializer(FastReadMixin, StrictFieldsMixin, serializers.ModelSerializer):
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


def _reads_only(request) -> bool:
    """A GET answered as data (JSON, CSV, xlsx): related fields are shown as ids, never chosen, so
    limiting their choices to the user's projects (a query built per related field) can wait. The
    browsable API's forms (format "api") and every write still limit them."""
    if request is None or request.method not in ("GET", "HEAD"):
        return False
    renderer = getattr(request, "accepted_renderer", None)
    return getattr(renderer, "format", "api") not in ("api", "html")


class RecordSerializer(LabModelSerializer):
    """A :class:`~labbook.projects.models.ProjectRecord`: validated by ``full_clean()``, its
    project and related records limited to the requesting user's projects."""

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if _reads_only(request):
            return fields  # the choices of related fields matter to writes and forms only
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
    attrs = {"Meta": meta, "url": IdentityUrlField(view_name=view_name)}
    return type(f"{model.__name__}Link", (LabModelSerializer,), attrs)


def ids_prefetch(*lookups: str, model) -> list[Prefetch]:
    """Prefetches of many-to-many ``lookups`` of ``model`` that load only the linked records' ids,
    for fields that show ids (a device's samples, an entry's links): whole rows of batches (sixty
    columns) or samples for a list of ids cost more than the page's own rows."""
    out = []
    for lookup in lookups:
        target = model._meta.get_field(lookup).related_model
        out.append(Prefetch(lookup, queryset=target._default_manager.only(target._meta.pk.name)))
    return out


def link_prefetch(lookup: str, link, *, via: str | None = None) -> Prefetch:
    """A Prefetch of ``lookup`` that loads only the columns ``link`` (a :func:`link_serializer`)
    shows, and ``via``, the foreign key back to the listed record (reverse relations need it to be
    matched without a query each). A run's jobs carry their logs and a blinking analysis its JSON
    options: loading whole rows for a list of links cost more than the rest of the page."""
    names = [f for f in link.Meta.fields if f != "url"]
    return Prefetch(lookup, queryset=link.Meta.model._default_manager.only(*names, *([via] if via else [])))


class _Row:
    """A linked record's loaded columns, read by a link serializer as it reads a model instance."""

    def __init__(self, values: dict):
        self.__dict__.update(values)

    @property
    def pk(self):
        return self.__dict__["id"]


class PageLinksField(serializers.Field):
    """The records linked to this one through ``relation`` (a reverse foreign key, e.g. a run's
    jobs), shown by ``link`` (a :func:`link_serializer`: id, url, a few columns), read for a whole
    page at once.

    A list serializer whose ``Meta.list_serializer_class`` is :class:`PageListSerializer` loads,
    before its rows are shown, the links of every such field for the whole page in one query
    (:func:`load_page_links`; a record shown alone: one query per field): no model instance,
    related manager or prefetch bookkeeping per link. The same JSON as ``link(many=True)`` over a
    prefetch, in the linked model's default order (then by id); for a run's five kinds of links
    that bookkeeping, and a query each, were most of the runs page's time."""

    def __init__(self, link, *, relation: str | None = None, **kwargs):
        self.link = link
        self.relation = relation
        kwargs["read_only"] = True
        kwargs["source"] = "*"
        super().__init__(**kwargs)

    def bind(self, field_name, parent):
        super().bind(field_name, parent)
        self.relation = self.relation or field_name

    def _plan(self, model):
        """(linked model, its foreign key to ``model``, the columns ``link`` reads)."""
        relation = model._meta.get_field(self.relation)
        if not relation.one_to_many:
            raise TypeError(f"{self.relation}: page links follow reverse foreign keys only")
        target, key = relation.related_model, relation.field.attname
        names = []
        for name in self.link.Meta.fields:
            if name == "url":
                continue
            field = target._meta.get_field(name)
            names.append(field.attname)
            if isinstance(field, QuantityField) and field.uncertainty:
                names.append(field.err_attname)
        return target, key, names

    def _show(self, values: dict) -> dict:
        child = self.__dict__.get("_child")
        if child is None:
            child = self._child = self.link(context=self.context)
        return child.to_representation(_Row(values))

    def load(self, owners: list) -> None:
        """The links of ``owners`` (one query)."""
        if not owners:
            return
        target, key, names = self._plan(type(owners[0]))
        pks = [o.pk for o in owners]
        loaded: dict = {pk: [] for pk in pks}
        rows = target._default_manager.filter(**{f"{key}__in": pks}).values_list(key, *names)
        for owner, *values in rows:
            loaded[owner].append(self._show(dict(zip(names, values, strict=True))))
        self._loaded = loaded

    def to_representation(self, instance):
        loaded = self.__dict__.get("_loaded")
        if loaded is None or instance.pk not in loaded:  # a record shown alone
            self.load([instance])
            loaded = self._loaded
        return loaded[instance.pk]


def _page_links(serializer):
    for field in serializer.fields.values():
        if isinstance(field, PageLinksField):
            yield field
        elif isinstance(field, serializers.Serializer) and field.source == "*":
            yield from _page_links(field)


#: the compiled SQL of page-link queries, per (fields, model, page size, database): compiling a
#: five-part UNION took 5 ms of Python per page, running it 1 ms; at most _MAX_COMPILED are kept
_compiled: dict = {}
_MAX_COMPILED = 512
#: stand-ins for the page's ids while compiling (no real id is negative)
_MARK = -(10**15)


def _page_links_sql(fields: list[PageLinksField], model, n: int):
    """(SQL, params with stand-in ids, per field: (float columns), database alias) of the UNION."""
    marks = [_MARK - k for k in range(n)]
    parts, floats = [], []
    for i, field in enumerate(fields):
        target, key, names = field._plan(model)
        floats.append({n for n in names if isinstance(target._meta.get_field(n), FloatField)})
        ordering = [*(target._meta.ordering or []), "pk"]
        order_by = [F(o[1:]).desc() if o.startswith("-") else F(o).asc() for o in ordering]
        parts.append(
            target._default_manager.filter(**{f"{key}__in": marks})
            .order_by()
            .annotate(
                link_field=Value(i, output_field=IntegerField()),
                link_owner=F(key),
                link_rank=Window(RowNumber(), order_by=order_by),
                link_values=JSONObject(**{n: F(n) for n in names}),
            )
            .values_list("link_field", "link_owner", "link_rank", "link_values")
        )
    # ordered below, by (field, owner, rank)
    union = parts[0].union(*parts[1:], all=True).order_by() if len(parts) > 1 else parts[0]
    sql, params = union.query.sql_with_params()
    return sql, list(params), floats, union.db


def load_page_links(fields: list[PageLinksField], owners: list) -> None:
    """The links of every field in ``fields`` for ``owners``, in one query: a ``UNION ALL`` of one
    part per field, each row its field's number, owner, rank in the linked model's default order
    (``ROW_NUMBER()``, so the database orders as a prefetch would) and columns (as a JSON object).
    Each query of a page costs a round trip to the database (a run's five kinds of links were half
    of its page's queries), and building it with the ORM cost more than running it: the SQL is
    compiled once per page size, with stand-in ids that each page's ids replace."""
    if not fields or not owners:
        return
    model, pks = type(owners[0]), [o.pk for o in owners]
    key = (
        tuple((type(f.parent).__name__, f.field_name, f.link, f.relation) for f in fields),
        model,
        len(pks),
    )
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _page_links_sql(fields, model, len(pks))
        if len(_compiled) < _MAX_COMPILED:
            _compiled[key] = compiled
    sql, params, floats, alias = compiled
    ids = {_MARK - k: pk for k, pk in enumerate(pks)}
    params = [ids.get(p, p) if type(p) is int else p for p in params]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    loaded = [{pk: [] for pk in pks} for _ in fields]
    for i, owner, _, values in sorted(rows, key=lambda r: r[:3]):
        if isinstance(values, (str, bytes)):
            values = json.loads(values)
        for n in floats[i] & values.keys():  # a JSON number may come back as an int (1.0 -> 1)
            if values[n] is not None:
                values[n] = float(values[n])
        loaded[i][owner].append(fields[i]._show(values))
    for field, links in zip(fields, loaded, strict=True):
        field._loaded = links


class PageListSerializer(serializers.ListSerializer):
    """A list that loads its rows' :class:`PageLinksField` links for the whole page first."""

    def to_representation(self, data):
        rows = list(data.all() if isinstance(data, BaseManager) else data)
        load_page_links(list(_page_links(self.child)), rows)
        return [self.child.to_representation(item) for item in rows]


class PageLinksFieldExtension(OpenApiSerializerFieldExtension):
    """OpenAPI: an array of the link serializer (as ``link(many=True)`` documents it)."""

    target_class = PageLinksField

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(self.target.link, "response")  # read-only
        return build_array_type(component.ref)
