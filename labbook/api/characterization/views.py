"""API viewset for characterisation runs."""

from labbook.api.characterization.serializers import RunSerializer
from labbook.api.files.serializers import RawFileRef
from labbook.api.serializers import link_prefetch
from labbook.api.viewsets import RecordViewSet
from labbook.characterization import services
from labbook.characterization.filters import RunFilterSet
from labbook.characterization.models import CharacterizationRun


class RunViewSet(RecordViewSet):
    service = services.runs
    queryset = CharacterizationRun.objects.prefetch_related(
        link_prefetch("raw_files", RawFileRef)
    )  # its jobs and results: loaded per page by the serializer (PageLinksField)
    serializer_class = RunSerializer
    filterset_class = RunFilterSet
    ordering_fields = ["date", "code", "technique", "excitation_wavelength", "exposure_time", "created_at"]
