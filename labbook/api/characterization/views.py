"""API viewset for characterisation runs."""

from labbook.api.characterization.serializers import RunSerializer
from labbook.api.viewsets import RecordViewSet
from labbook.characterization import services
from labbook.characterization.filters import RunFilterSet
from labbook.characterization.models import CharacterizationRun


class RunViewSet(RecordViewSet):
    service = services.runs
    queryset = CharacterizationRun.objects.select_related("sample", "operator").prefetch_related(
        "raw_files", "jobs", "blinking_analyses", "lifetime_fits", "spectrum_results", "xrd_results"
    )
    serializer_class = RunSerializer
    filterset_class = RunFilterSet
    ordering_fields = ["date", "code", "technique", "excitation_wavelength", "exposure_time", "created_at"]
