"""Filters for notebook entries: full-text search over title and body, and the records they link."""

import django_filters

from labbook.filters import RECORD_FIELDS, FullTextFilter, LabFilterSet, lookups_for
from labbook.notebook.models import NotebookEntry


class EntryFilterSet(LabFilterSet):
    author_username = django_filters.CharFilter(field_name="author__username")
    q = FullTextFilter(search_fields=["title", "body"])

    class Meta:
        model = NotebookEntry
        fields = lookups_for(
            NotebookEntry,
            *RECORD_FIELDS,
            "title", "body", "author", "batches", "treatments", "samples", "chemicals", "runs", "devices",
            "measurements", "raw_files",
        )  # fmt: skip
