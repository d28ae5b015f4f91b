"""Every API list as a table: ``?format=csv`` (streamed) and ``?format=xlsx`` (Excel), with the
list's own filters and ordering, every matching row (not one page), units in the headers.

What a list exports is what its JSON shows, flattened: the columns are read from the list's
serializer (so what the JSON leaves out, e.g. a job's large log or a particle's dwell times, stays
out), one column per model field in the serializer's order:

- a quantity is one column named with its unit, ``injection volume (mL)``, holding the number in
  that unit (the unit the field stores and the JSON returns), followed by ``... uncertainty (mL)``;
- a link to another record is that record's code (or slug, user name, file name, name; its id
  when it has none of these), e.g. ``batch`` -> ``B-0042``; a list of links (a run's raw files,
  an entry's samples, a batch's parents) is their codes joined by ``"; "``;
- dates and times are ISO 8601 (times in UTC), JSON settings are JSON text.

Rows are read with ``values_list`` (no model instance per row) through a server-side cursor, in
blocks of :data:`BLOCK_ROWS`; each block fetches the links of its rows with one query per list of
links, so an export of any size costs a constant number of queries per block and constant memory.
CSV is streamed as it is read; a text cell that a spreadsheet would take for a formula (it starts
with ``= + - @``, a tab or a carriage return) gets a leading ``'`` (OWASP "CSV injection"). Excel
files are written by XlsxWriter in its constant-memory mode to a temporary file, then streamed;
its cells hold text as text (never a formula), and more rows than a sheet holds
(:func:`xlsx_max_rows`) is a 400 that says so. The particle list keeps its own faster CSV path
(PostgreSQL's COPY; :func:`labbook.results.selectors.particles_csv`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import renderers
from rest_framework.exceptions import ValidationError

from labbook.api.serializers import PageLinksField
from labbook.units import QuantityField

#: rows read (and links fetched) at a time
BLOCK_ROWS = 2000
#: the most rows an Excel sheet holds (1,048,576) less the header row
EXCEL_MAX_ROWS = 1_048_575
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_FORMATS = ("csv", "xlsx")
#: what a spreadsheet takes for the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: how a record is named in a link, first match wins (else its id)
LABEL_FIELDS = ("code", "slug", "username", "original_name", "name")
#: link rows that name another record (a batch's parents are BatchLinks to the parent batch)
LINK_LABELS = {"synthesis.batchlink": "parent__code", "jobs.jobinput": "raw_file__original_name"}


def xlsx_max_rows() -> int:
    """The most rows an xlsx export writes (``API_XLSX_MAX_ROWS``, at most Excel's limit)."""
    return min(int(getattr(settings, "API_XLSX_MAX_ROWS", EXCEL_MAX_ROWS)), EXCEL_MAX_ROWS)


@dataclass(frozen=True)
class Column:
    """One column of an export: ``path`` is a ``values_list`` path of the listed model; a list of
    links has ``links`` = (model of the link rows, their foreign key to the listed row, label path)."""

    header: str
    path: str | None
    kind: str = "value"  # value, text, json, date, datetime, bool
    links: tuple | None = None
    transform: Callable | None = None


# --- columns --------------------------------------------------------------------------------------
def _label_path(model) -> str | None:
    override = LINK_LABELS.get(model._meta.label_lower)
    if override:
        return override
    names = {f.name for f in model._meta.concrete_fields}
    return next((n for n in LABEL_FIELDS if n in names), None)


def _header_unit(field: QuantityField) -> str:
    return "%" if field.unit == "percent" else field.unit


def _field_columns(field, name: str) -> list[Column]:
    """The columns of one model field (``name``: the serializer's name for it, for lists of links)."""
    if field.many_to_many and not field.auto_created:  # forward many-to-many: the through rows
        through = field.remote_field.through
        target = field.m2m_reverse_field_name()
        label = _label_path(field.related_model)
        path = f"{target}__{label}" if label else f"{target}_id"
        return [Column(name.replace("_", " "), None, "text", (through, f"{field.m2m_field_name()}_id", path))]
    if field.one_to_many or (field.many_to_many and field.auto_created):  # reverse: the related rows
        if field.many_to_many:
            return []
        label = _label_path(field.related_model) or "pk"
        return [
            Column(name.replace("_", " "), None, "text", (field.related_model, field.field.attname, label))
        ]
    if field.is_relation:
        if not field.concrete or field.one_to_one and field.auto_created:
            return []
        label = _label_path(field.related_model)
        if label:
            return [Column(str(field.verbose_name), f"{field.name}__{label}", "text")]
        return [Column(f"{field.verbose_name} id", field.attname)]
    if field.primary_key:
        return [Column("id", field.attname)]
    if isinstance(field, QuantityField):
        unit = _header_unit(field)
        cols = [Column(f"{field.verbose_name} ({unit})", field.attname)]
        if field.uncertainty:
            cols.append(Column(f"{field.verbose_name} uncertainty ({unit})", field.err_attname))
        return cols
    kind = "value"
    if isinstance(field, models.JSONField):
        kind = "json"
    elif isinstance(field, models.DateTimeField):
        return [Column(f"{field.verbose_name} (UTC)", field.attname, "datetime")]
    elif isinstance(field, models.DateField):
        kind = "date"
    elif isinstance(field, models.BooleanField):
        kind = "bool"
    elif isinstance(field, (models.CharField, models.TextField)):
        kind = "text"
    return [Column(str(field.verbose_name), field.attname, kind)]


def serializer_columns(serializer, *, exclude: Iterable[str] = ()) -> list[Column]:
    """The export columns of a list serializer: its model fields in its order, flattened."""
    model = serializer.Meta.model
    exclude = set(exclude)
    columns, seen = [], set()
    for name, field in serializer.fields.items():
        source = field.relation if isinstance(field, PageLinksField) else field.source
        if name in exclude or field.write_only or source == "*" or "." in source:
            continue
        try:
            model_field = model._meta.get_field(source)
        except FieldDoesNotExist:
            continue
        if source in seen:  # a run's "files" (links) and "raw_files" (ids): one column
            continue
        seen.add(source)
        columns.extend(_field_columns(model_field, name))
    return columns


# --- rows -----------------------------------------------------------------------------------------
def _links(column: Column, pks: list) -> dict:
    model, fk, label = column.links
    out: dict = {}
    rows = model._default_manager.filter(**{f"{fk}__in": pks}).order_by(fk, "pk").values_list(fk, label)
    for owner, value in rows:
        if value is not None:
            out.setdefault(owner, []).append(str(value))
    return {k: "; ".join(v) for k, v in out.items()}


def table_rows(queryset, columns: list[Column]) -> Iterator[list]:
    """The values of ``columns`` for every row of ``queryset`` (filtered and ordered), read in blocks."""
    plain = [c for c in columns if c.links is None]
    where = {c.header: i + 1 for i, c in enumerate(plain)}
    rows = (
        queryset.prefetch_related(None)
        .values_list("pk", *(c.path for c in plain))
        .iterator(chunk_size=BLOCK_ROWS)
    )
    while block := list(islice(rows, BLOCK_ROWS)):
        pks = [r[0] for r in block]
        linked = {c.header: _links(c, pks) for c in columns if c.links is not None}
        for row in block:
            out = []
            for c in columns:
                value = linked[c.header].get(row[0], "") if c.links is not None else row[where[c.header]]
                if c.transform is not None and value is not None:
                    value = c.transform(value)
                out.append(value)
            yield out


def defuse(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_cell(value, kind: str):
    if value is None:
        return ""
    if kind == "json":
        return defuse(json.dumps(value, ensure_ascii=False))
    if kind == "datetime" or kind == "date":
        return value.isoformat()
    if kind == "bool":
        return "true" if value else "false"
    if isinstance(value, str):
        return defuse(value)
    return value


def csv_chunks(queryset, columns: list[Column]) -> Iterator[str]:
    """The table as CSV text, one block of rows at a time (the header first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.header for c in columns])
    kinds = [c.kind for c in columns]
    n = 0
    for row in table_rows(queryset, columns):
        writer.writerow([_csv_cell(v, k) for v, k in zip(row, kinds, strict=True)])
        n += 1
        if n % BLOCK_ROWS == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def xlsx_file(queryset, columns: list[Column], *, sheet: str):
    """The table as an .xlsx in a temporary file (rewound; deleted when closed)."""
    import xlsxwriter

    fh = tempfile.TemporaryFile(suffix=".xlsx")
    book = xlsxwriter.Workbook(
        fh,
        {
            "constant_memory": True,  # one row in memory at a time
            "strings_to_formulas": False,  # text stays text: never run as a formula
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "remove_timezone": True,  # times are UTC (the header says so)
            "default_date_format": "yyyy-mm-dd",
        },
    )
    ws = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for i, c in enumerate(columns):
        ws.set_column(i, i, max(10, min(40, len(c.header) + 2)))
    ws.freeze_panes(1, 0)
    ws.write_row(0, 0, [c.header for c in columns], bold)
    kinds = [c.kind for c in columns]
    for r, row in enumerate(table_rows(queryset, columns), start=1):
        for i, (value, kind) in enumerate(zip(row, kinds, strict=True)):
            if value is None or value == "":
                continue
            if kind == "json":
                ws.write_string(r, i, json.dumps(value, ensure_ascii=False))
            elif kind == "datetime":
                ws.write_datetime(r, i, value.astimezone(dt.UTC).replace(tzinfo=None), stamp)
            elif isinstance(value, str):
                ws.write_string(r, i, value)
            else:
                ws.write(r, i, value)
    book.close()
    fh.seek(0)
    return fh


# --- the door -------------------------------------------------------------------------------------
class CSVRenderer(renderers.BaseRenderer):
    """``?format=csv``: the list streams itself; only errors reach here (rendered as JSON instead,
    see :meth:`ExportMixin.handle_exception`)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class XLSXRenderer(CSVRenderer):
    media_type = XLSX_MEDIA_TYPE
    format = "xlsx"
    charset = None


class ExportSchema(AutoSchema):
    """The OpenAPI of a list that exports: the ``format`` parameter, and CSV / xlsx bodies as files."""

    def _exports(self) -> bool:
        return self.method == "GET" and getattr(self.view, "action", None) == "list"

    def get_override_parameters(self):
        params = super().get_override_parameters()
        if self._exports():
            params = [
                *params,
                OpenApiParameter(
                    "format",
                    str,
                    enum=["json", *EXPORT_FORMATS],
                    description="`csv`: every row the filters select, streamed, units in the headers; "
                    "`xlsx`: the same as an Excel sheet (a 400 over "
                    f"{EXCEL_MAX_ROWS:,} rows). Links to other records are their codes.",
                ),
            ]
        return params

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        content = bodies.get("200", {}).get("content", {})
        for media_type in ("text/csv", XLSX_MEDIA_TYPE):
            if media_type in content:
                content[media_type] = {"schema": {"type": "string", "format": "binary"}}
        return bodies


class ExportMixin:
    """A list view that also answers ``?format=csv`` and ``?format=xlsx`` (see the module docstring).

    ``export_exclude``: serializer fields left out of the table; ``export_extra``: more columns
    (:class:`Column`, e.g. an annotation of the view's queryset); ``export_transforms``: a function
    per header applied to its values (e.g. server paths scrubbed from a job's error)."""

    export_exclude: tuple[str, ...] = ()
    export_extra: tuple[Column, ...] = ()
    export_transforms: dict[str, Callable] = {}
    schema = ExportSchema()

    def get_renderers(self):
        found = super().get_renderers()
        if getattr(self, "action", None) == "list":
            found += [CSVRenderer(), XLSXRenderer()]
        return found

    def handle_exception(self, exc):
        request = getattr(self, "request", None)
        if getattr(getattr(request, "accepted_renderer", None), "format", None) in EXPORT_FORMATS:
            request.accepted_renderer = renderers.JSONRenderer()  # an error is a JSON 4xx, not a file
            request.accepted_media_type = "application/json"
        return super().handle_exception(exc)

    def export_format(self) -> str | None:
        found = getattr(getattr(self.request, "accepted_renderer", None), "format", None)
        return found if found in EXPORT_FORMATS else None

    def export_name(self) -> str:
        """The file's name: the list's last URL segment (``batches``, ``device-metrics``)."""
        return self.request.path.rstrip("/").rsplit("/", 1)[-1] or "export"

    def export_columns(self) -> list[Column]:
        serializer = self.get_serializer_class()(context=self.get_serializer_context())
        columns = [*serializer_columns(serializer, exclude=self.export_exclude), *self.export_extra]
        if self.export_transforms:
            columns = [
                Column(c.header, c.path, c.kind, c.links, self.export_transforms.get(c.header, c.transform))
                for c in columns
            ]
        return columns

    def list(self, request, *args, **kwargs):
        fmt = self.export_format()
        if fmt is None:
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(self.get_queryset())
        return self.export_response(queryset, fmt)

    def export_response(self, queryset, fmt: str, *, columns: list[Column] | None = None, count=None):
        columns = columns if columns is not None else self.export_columns()
        name = self.export_name()
        if fmt == "csv":
            response = StreamingHttpResponse(
                csv_chunks(queryset, columns), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
            return response
        limit = xlsx_max_rows()
        n = queryset.count() if count is None else count
        if n > limit:
            raise ValidationError(
                {
                    "format": [
                        f"{n:,} rows are more than an Excel sheet of this service holds ({limit:,}): "
                        "narrow the filters, or use format=csv"
                    ]
                }
            )
        fh = xlsx_file(queryset, columns, sheet=name)
        return FileResponse(fh, as_attachment=True, filename=f"{name}.xlsx", content_type=XLSX_MEDIA_TYPE)
