"""Analysis results through the API: read-only (results are written by jobs only).

Every list also exports as CSV and Excel (:mod:`labbook.api.export`); the particle list streams
its CSV from PostgreSQL's COPY (``?format=csv``, every filter applies, units in the header), and
counts its rows from the analyses when it is filtered by lineage only (see
:class:`ParticlePagination`), so a page of a million-particle list costs what a small list does.
"""

from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import StreamingHttpResponse
from django.utils.functional import cached_property

from labbook.api.export import Column
from labbook.api.filters import COMMON_PARAMS, only_filters
from labbook.api.pagination import PageNumberPagination
from labbook.api.results import serializers as s
from labbook.api.viewsets import RecordReadOnlyViewSet
from labbook.projects.selectors import visible
from labbook.results import filters as f
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    Particle,
    ResultArtifact,
    SpectrumResult,
    XRDResult,
)
from labbook.results.selectors import _csv_columns as particle_csv_columns
from labbook.results.selectors import particles_csv


class BlinkingAnalysisViewSet(RecordReadOnlyViewSet):
    queryset = BlinkingAnalysis.objects.defer("payload")
    serializer_class = s.BlinkingAnalysisSerializer
    detail_serializer_class = s.BlinkingAnalysisDetailSerializer
    filterset_class = f.BlinkingAnalysisFilterSet
    ordering_fields = ["created_at", "n_particles", "on_alpha", "off_alpha", "correlation_mean"]

    def get_queryset(self):
        qs = super().get_queryset()
        return qs if self.action == "list" else qs.defer(None)


class _KnownCountPaginator(Paginator):
    def __init__(self, object_list, per_page, *, known_count=None):
        super().__init__(object_list, per_page)
        self.known_count = known_count

    @cached_property
    def count(self):
        return self.known_count if self.known_count is not None else super().count


#: particle filters that select whole analyses (a particle's lineage): the count is then a sum of
#: the analyses' particle counts, O(analyses) instead of a COUNT over every particle row
LINEAGE_FILTERS = frozenset(f.LineageFilters.lineage("analysis__run"))


class ParticlePagination(PageNumberPagination):
    """Counts a lineage-only (or unfiltered) particle list as the sum of ``n_particles`` over the
    analyses the same lineage filters select (every particle row is written with its analysis, in
    one transaction, and n_particles is their number); any particle-level filter counts the rows."""

    def paginate_queryset(self, queryset, request, view=None):
        self.known_count = self.count_from_analyses(request)
        return super().paginate_queryset(queryset, request, view)

    def django_paginator_class(self, object_list, per_page):
        return _KnownCountPaginator(object_list, per_page, known_count=getattr(self, "known_count", None))

    @staticmethod
    def count_from_analyses(request) -> int | None:
        params = {k: v for k, v in request.query_params.items() if k not in COMMON_PARAMS}
        if set(params) - LINEAGE_FILTERS:
            return None
        analyses = visible(BlinkingAnalysis, request.user)
        if params:
            # only the filters given: building all 166 of the analyses' filters cost more than the page
            fs = only_filters(f.BlinkingAnalysisFilterSet, frozenset(params))(params, queryset=analyses)
            if not fs.is_valid():
                return None  # the list's own filtering reports the error
            analyses = fs.qs
        return analyses.order_by().aggregate(n=Sum("n_particles"))["n"] or 0


class ParticleViewSet(RecordReadOnlyViewSet):
    """Particles of blinking analyses; ``?format=csv`` streams every particle the filters select."""

    queryset = Particle.objects.defer("on_dwell_s", "off_dwell_s")
    pagination_class = ParticlePagination
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

    def list(self, request, *args, **kwargs):
        fmt = self.export_format()
        if fmt == "csv":  # PostgreSQL writes the CSV itself (COPY): >= 100,000 rows/s
            rows = particles_csv(self.filter_queryset(self.get_queryset()))
            response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="particles.csv"'
            return response
        if fmt == "xlsx":  # the CSV's columns; counted from the analyses when filtered by lineage only
            return self.export_response(
                self.filter_queryset(self.get_queryset()),
                fmt,
                columns=[Column(header, path) for header, path in particle_csv_columns()],
                count=ParticlePagination.count_from_analyses(request),
            )
        return super().list(request, *args, **kwargs)


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
