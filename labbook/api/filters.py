"""Filter backends of the API: django-filter with unknown parameters refused, strict ordering.

A misspelt parameter (``?volume_add__gte=1 uL``) would otherwise be ignored and return every
record, which looks like an answer; here it is a 400 that lists the parameters the list takes.
"""

from __future__ import annotations

import functools

from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters
from rest_framework.exceptions import ValidationError

#: parameters every list takes besides its filters
COMMON_PARAMS = {"page", "page_size", "ordering", "format"}


class FilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) == "list":
            filterset_class = self.get_filterset_class(view, queryset)
            known = set(COMMON_PARAMS) | set(getattr(view, "extra_query_params", ()))
            if filterset_class is not None:
                known |= set(filterset_class.base_filters)
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                raise ValidationError(
                    {
                        name: [f"unknown parameter; this list takes: {', '.join(sorted(known))}"]
                        for name in unknown
                    }
                )
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        given = frozenset(request.query_params) & frozenset(filterset_class.base_filters)
        filterset = only_filters(filterset_class, given)(**self.get_filterset_kwargs(request, queryset, view))
        if not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        return filterset.qs


@functools.lru_cache(maxsize=1024)
def only_filters(filterset_class, names: frozenset):
    """``filterset_class`` with only the filters ``names`` (those a request gives; an absent filter
    filters nothing). A filterset copies every filter and builds its form field on each request:
    for the result lists' hundred-odd filters that was half of a page's time. Made once per set of
    parameters; the browsable API's form still shows every filter (``to_html`` is not changed)."""
    trimmed = type(filterset_class.__name__, (filterset_class,), {"__module__": filterset_class.__module__})
    trimmed.base_filters = {k: v for k, v in filterset_class.base_filters.items() if k in names}
    return trimmed


class OrderingFilter(filters.OrderingFilter):
    """``?ordering=-date,code``; a field that cannot be ordered by is a 400."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [p.strip() for p in params.split(",") if p.strip()]
            valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
            bad = [f for f in fields if f.lstrip("-") not in valid]
            if bad:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"cannot order by {', '.join(bad)}; one of {', '.join(sorted(valid))}"
                        ]
                    }
                )
            return fields
        return self.get_default_ordering(view)
