"""API viewsets for chemicals, batches, lineage links, stocks, treatments and samples."""

from django.db.models import Prefetch, Sum
from django.db.models.functions import Coalesce

from labbook.api.export import Column
from labbook.api.synthesis import serializers as s
from labbook.api.viewsets import RecordViewSet
from labbook.synthesis import services
from labbook.synthesis.filters import (
    BatchFilterSet,
    BatchLinkFilterSet,
    ChemicalFilterSet,
    SampleFilterSet,
    StockFilterSet,
    TreatmentFilterSet,
)
from labbook.synthesis.models import BatchLink, Chemical, ChlorideStock, PostTreatment, Sample, Synthesis


class ChemicalViewSet(RecordViewSet):
    service = services.chemicals
    queryset = Chemical.objects.all()
    serializer_class = s.ChemicalSerializer
    filterset_class = ChemicalFilterSet
    ordering_fields = ["name", "formula", "lot", "supplier", "created_at"]


class BatchViewSet(RecordViewSet):
    service = services.batches
    # foreign keys are shown as ids: no join for them (a batch row is wide enough)
    queryset = Synthesis.objects.prefetch_related(
        Prefetch("parent_links", queryset=BatchLink.objects.select_related("parent"))
    )
    serializer_class = s.BatchSerializer
    detail_serializer_class = s.BatchDetailSerializer
    filterset_class = BatchFilterSet
    ordering_fields = ["date", "code", "kind", "created_at", "volume", "injection_volume", "temperature"]


class BatchLinkViewSet(RecordViewSet):
    service = services.links
    queryset = BatchLink.objects.all()
    serializer_class = s.BatchLinkSerializer
    filterset_class = BatchLinkFilterSet
    ordering_fields = ["child", "parent", "fraction", "created_at"]


class StockViewSet(RecordViewSet):
    service = services.stocks
    queryset = (
        ChlorideStock.objects.select_related("salt")
        .annotate(used_ul=Coalesce(Sum("treatments__volume_added"), 0.0))
        .order_by("-date", "code")
    )  # an aggregate drops Meta.ordering
    serializer_class = s.StockSerializer
    filterset_class = StockFilterSet
    export_extra = (Column("volume used (uL)", "used_ul"),)
    ordering_fields = ["date", "code", "salt_amount", "solvent_volume"]


class TreatmentViewSet(RecordViewSet):
    service = services.treatments
    queryset = PostTreatment.objects.all()  # batch, stock and operator are shown as ids: no joins
    serializer_class = s.TreatmentSerializer
    detail_serializer_class = s.TreatmentDetailSerializer
    filterset_class = TreatmentFilterSet
    ordering_fields = ["date", "code", "cl_to_i", "solvent_fraction", "nominal_cl_percent", "volume_added"]


class SampleViewSet(RecordViewSet):
    service = services.samples
    queryset = Sample.objects.all()  # batch and treatment are shown as ids: no joins
    serializer_class = s.SampleSerializer
    filterset_class = SampleFilterSet
    ordering_fields = ["date", "code", "kind"]
