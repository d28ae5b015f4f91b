"""List pages: one helper that filters with the API's django-filter FilterSets and renders a table.

The same query parameters work on a page and on the API (``/batches/?kind=portion&date__gte=2023-05-01``
and ``/api/batches/?kind=portion&date__gte=2023-05-01``); the page shows a few of them as a form
(``quick``, with the filters' human labels and their choices where the values are known) and any other
parameter in the URL still applies. An invalid value shows its error and no rows (never the unfiltered
list under an error). Columns given as ``(label, key)`` sort by ``?ordering=key`` / ``-key``.

With a record type (``kind``, labbook/pages/records.py) the page also offers:

- "CSV" and "Excel" buttons: the API list of the same records with the same filters, ``?format=csv``
  / ``?format=xlsx`` (every matching row, units in the headers);
- bulk edit, for editors: tick rows, choose a field, type one value; each row carries the version the
  page showed (``pk:version``), so the services refuse a row someone changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core.paginator import Paginator
from django.shortcuts import render

PAGE_SIZE = 50


def _column(spec) -> tuple[str, str | None]:
    return (spec, None) if isinstance(spec, str) else (spec[0], spec[1])


def filtered_list(
    request,
    *,
    title: str,
    filterset_class,
    queryset,
    quick: Sequence[str],
    columns: Sequence[str | tuple[str, str]],
    row: Callable,
    actions: Sequence[tuple[str, str]] = (),
    kind=None,
):
    """Render ``pages/list.html``: ``row(obj)`` returns (url, [cells]) for each record."""
    fs = filterset_class(request.GET or None, queryset=queryset, request=request)
    errors = {}
    if fs.is_bound and not fs.is_valid():
        errors = {
            fs.form.fields[name].label or name if name in fs.form.fields else name: e
            for name, e in fs.errors.items()
        }
        qs = queryset.none()  # a wrong filter shows its error and no rows
    else:
        qs = fs.qs if fs.is_bound else queryset
    specs = [_column(c) for c in columns]
    sortable = {key for _, key in specs if key}
    ordering = request.GET.get("ordering", "")
    if ordering.lstrip("-") in sortable:
        qs = qs.order_by(ordering, "pk")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    sort_params = params.copy()
    sort_params.pop("ordering", None)
    headers = []
    for label, key in specs:
        if key is None:
            headers.append({"label": label})
            continue
        direction = "-" + key if ordering == key else key
        mark = " ▲" if ordering == key else " ▼" if ordering == f"-{key}" else ""
        q = sort_params.copy()
        q["ordering"] = direction
        headers.append({"label": label, "url": "?" + q.urlencode(), "mark": mark})
    from labbook.pages.forms import writable_projects

    can_write = writable_projects(request.user).exists()
    context = {
        "title": title,
        # the quick filters, and the tag filter (labbook/tagging) wherever the records take tags
        "filter_fields": [fs.form[name] for name in [*quick, "tag"] if name in fs.form.fields],
        "filter_errors": errors,
        "columns": headers,
        "rows": [_row(obj, row) for obj in page.object_list],
        "page": page,
        "querystring": params.urlencode(),
        "actions": actions if can_write else (),  # "New ..." buttons: not for viewers only
    }
    if kind is not None:
        export = params.copy()
        export.pop("ordering", None)
        base = kind.api_url() + "?" + (export.urlencode() + "&" if export else "")
        context["exports"] = [("CSV", base + "format=csv"), ("Excel", base + "format=xlsx")]
        if kind.bulk and can_write:
            form = kind.edit_form_class(user=request.user)
            context["bulk"] = {
                "url": f"/{kind.slug}/bulk-edit/",
                "fields": [(name, form.fields[name].label) for name in kind.bulk if name in form.fields],
                "next": request.get_full_path(),
            }
        if not actions and can_write:
            context["actions"] = [(f"New {kind.label}", kind.create_url())]
    return render(request, "pages/list.html", context)


def _row(obj, row: Callable) -> dict:
    url, cells = row(obj)
    return {"url": url, "cells": cells, "key": f"{obj.pk}:{getattr(obj, 'version', 0)}"}
