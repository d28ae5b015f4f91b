"""List pages: one helper that filters with the API's django-filter FilterSets and renders a table.

The same query parameters work on a page and on the API (``/batches/?kind=portion&date__gte=2023-05-01``
and ``/api/batches/?kind=portion&date__gte=2023-05-01``); the page shows a few of them as a form
(``quick``) and any other parameter in the URL still applies. Invalid values show as form errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core.paginator import Paginator
from django.shortcuts import render

PAGE_SIZE = 50


def filtered_list(
    request,
    *,
    title: str,
    filterset_class,
    queryset,
    quick: Sequence[str],
    columns: Sequence[str],
    row: Callable,
    actions: Sequence[tuple[str, str]] = (),
):
    """Render ``pages/list.html``: ``row(obj)`` returns (url, [cells]) for each record."""
    fs = filterset_class(request.GET or None, queryset=queryset, request=request)
    qs = fs.qs if fs.is_bound and fs.is_valid() else queryset
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "pages/list.html",
        {
            "title": title,
            "filter_fields": [fs.form[name] for name in quick if name in fs.form.fields],
            "filter_errors": fs.errors if fs.is_bound else {},
            "columns": columns,
            "rows": [row(obj) for obj in page.object_list],
            "page": page,
            "querystring": params.urlencode(),
            "actions": actions,
        },
    )
