"""Filter backends of the API: django-filter with unknown parameters refused, strict ordering.

A misspelt parameter (``?volume_add__gte=1 uL``) would otherwise be ignored and return every
record, which looks like an answer; here it is a 400 that lists the parameters the list takes.
"""

from __future__ import annotations

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
        return super().filter_queryset(request, queryset, view)


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
