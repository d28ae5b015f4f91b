"""API viewset for notebook entries."""

from labbook.api.notebook.serializers import EntrySerializer
from labbook.api.serializers import ids_prefetch
from labbook.api.viewsets import RecordViewSet
from labbook.notebook import services
from labbook.notebook.filters import EntryFilterSet
from labbook.notebook.models import NotebookEntry


class EntryViewSet(RecordViewSet):
    service = services.entries
    queryset = NotebookEntry.objects.prefetch_related(
        *ids_prefetch(
            "batches",
            "treatments",
            "samples",
            "chemicals",
            "runs",
            "devices",
            "measurements",
            "raw_files",
            model=NotebookEntry,
        )  # fmt: skip
    )
    serializer_class = EntrySerializer
    filterset_class = EntryFilterSet
    ordering_fields = ["created_at", "title", "modified_at"]
