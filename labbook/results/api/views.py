"""Analysis results through the API: read-only (results are written by jobs only)."""

from labbook.api.viewsets import RecordReadOnlyViewSet
from labbook.results import filters as f
from labbook.results.api import serializers as s
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    Particle,
    ResultArtifact,
    SpectrumResult,
    XRDResult,
)


class BlinkingAnalysisViewSet(RecordReadOnlyViewSet):
    queryset = BlinkingAnalysis.objects.defer("payload")
    serializer_class = s.BlinkingAnalysisSerializer
    detail_serializer_class = s.BlinkingAnalysisDetailSerializer
    filterset_class = f.BlinkingAnalysisFilterSet
    ordering_fields = ["created_at", "n_particles", "on_alpha", "off_alpha", "correlation_mean"]

    def get_queryset(self):
        qs = super().get_queryset()
        return qs if self.action == "list" else qs.defer(None)


class ParticleViewSet(RecordReadOnlyViewSet):
    queryset = Particle.objects.defer("on_dwell_s", "off_dwell_s")
    serializer_class = s.ParticleSerializer
    detail_serializer_class = s.ParticleDetailSerializer
    filterset_class = f.ParticleFilterSet
    ordering_fields = [
        "id", "analysis_id", "index", "edge", "fraction_on", "alpha_on", "alpha_off", "mean_on", "mean_off",
        "correlation_mean", "trace_class",
    ]  # fmt: skip
    ordering = ["analysis_id", "index"]  # the (analysis, index) unique index: no sort of the table

    def get_queryset(self):
        qs = super().get_queryset()
        return qs if self.action == "list" else qs.defer(None)


class LifetimeFitViewSet(RecordReadOnlyViewSet):
    queryset = LifetimeFit.objects.all()
    serializer_class = s.LifetimeFitSerializer
    filterset_class = f.LifetimeFitFilterSet
    ordering_fields = ["created_at", "tau_avg_amp", "tau_avg_int", "tau_long", "chi2_red"]


class DeviceMetricsViewSet(RecordReadOnlyViewSet):
    queryset = DeviceMetrics.objects.all()
    serializer_class = s.DeviceMetricsSerializer
    filterset_class = f.DeviceMetricsFilterSet
    ordering_fields = ["created_at", "photocurrent", "on_off_ratio", "rise_time", "fall_time", "responsivity"]


class SpectrumResultViewSet(RecordReadOnlyViewSet):
    queryset = SpectrumResult.objects.all()
    serializer_class = s.SpectrumResultSerializer
    filterset_class = f.SpectrumResultFilterSet
    ordering_fields = ["created_at", "peak_wavelength", "fwhm", "band_gap"]


class XRDResultViewSet(RecordReadOnlyViewSet):
    queryset = XRDResult.objects.all()
    serializer_class = s.XRDResultSerializer
    filterset_class = f.XRDResultFilterSet
    ordering_fields = ["created_at"]


class ResultArtifactViewSet(RecordReadOnlyViewSet):
    queryset = ResultArtifact.objects.all()
    serializer_class = s.ResultArtifactSerializer
    filterset_class = f.ResultArtifactFilterSet
    ordering_fields = ["job", "name", "size"]
