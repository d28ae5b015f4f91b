"""API viewset for characterisation runs."""

from labbook.api.characterization.serializers import (
    BlinkingRef,
    JobRef,
    LifetimeRef,
    RunSerializer,
    SpectrumRef,
    XRDRef,
)
from labbook.api.files.serializers import RawFileRef
from labbook.api.serializers import link_prefetch
from labbook.api.viewsets import RecordViewSet
from labbook.characterization import services
from labbook.characterization.filters import RunFilterSet
from labbook.characterization.models import CharacterizationRun


class RunViewSet(RecordViewSet):
    service = services.runs
    queryset = CharacterizationRun.objects.select_related("sample", "operator").prefetch_related(
        link_prefetch("raw_files", RawFileRef),
        link_prefetch("jobs", JobRef, via="run"),
        link_prefetch("blinking_analyses", BlinkingRef, via="run"),
        link_prefetch("lifetime_fits", LifetimeRef, via="run"),
        link_prefetch("spectrum_results", SpectrumRef, via="run"),
        link_prefetch("xrd_results", XRDRef, via="run"),
    )
    serializer_class = RunSerializer
    filterset_class = RunFilterSet
    ordering_fields = ["date", "code", "technique", "excitation_wavelength", "exposure_time", "created_at"]
