"""Filters for batches, lineage links, stocks, treatments, samples and chemicals (API and lists).

Quantities take any unit of their dimension (``?volume_added__gte=1 uL``); treatments filter by
the derived Cl:I and ethanol fraction, and by their batch's values.
"""

import django_filters

from labbook.filters import RECORD_FIELDS, FullTextFilter, IdFilter, LabFilterSet, QuantityFilter, lookups_for
from labbook.synthesis.models import BatchLink, Chemical, ChlorideStock, PostTreatment, Sample, Synthesis

#: the bookkeeping fields every ProjectRecord has


def descendants(batch_ids) -> set[int]:
    """``batch_ids`` and every batch made from them (pools, portions), any depth."""
    seen = set(batch_ids)
    frontier = set(batch_ids)
    while frontier:
        frontier = (
            set(BatchLink.objects.filter(parent_id__in=frontier).values_list("child_id", flat=True)) - seen
        )
        seen |= frontier
    return seen


class ChemicalFilterSet(LabFilterSet):
    class Meta:
        model = Chemical
        fields = lookups_for(
            Chemical, *RECORD_FIELDS, "name", "formula", "molar_mass", "cas", "purity", "supplier", "lot"
        )


class BatchFilterSet(LabFilterSet):
    operator_username = django_filters.CharFilter(
        field_name="operator__username", help_text="the operator's user name"
    )
    made_from = IdFilter(
        method="filter_made_from", help_text="batches made (at any depth) from this batch, itself included"
    )
    q = FullTextFilter(search_fields=["code", "notes", "method"])

    class Meta:
        model = Synthesis
        fields = lookups_for(
            Synthesis,
            *RECORD_FIELDS,
            "code", "kind", "date", "operator", "method",
            "pbi2", "pbi2_amount", "pbi2_mass", "mai", "mai_amount", "mai_mass",
            "precursor_solvent_volume", "injection_volume", "oam_volume", "topo_mass",
            "capping_toluene_volume", "capping_batches", "extra_toluene_volume",
            "stirring_time", "stirring_speed", "centrifugation_speed", "centrifugation_time",
            "washes", "temperature", "volume", "notes",
        )  # fmt: skip

    def filter_made_from(self, queryset, name, value):
        return queryset.filter(pk__in=descendants([value]))


class BatchLinkFilterSet(LabFilterSet):
    class Meta:
        model = BatchLink
        fields = lookups_for(BatchLink, *RECORD_FIELDS, "parent", "child", "fraction", "volume_taken")


class StockFilterSet(LabFilterSet):
    q = FullTextFilter(search_fields=["code", "notes"])

    class Meta:
        model = ChlorideStock
        fields = lookups_for(
            ChlorideStock,
            *RECORD_FIELDS,
            "code",
            "salt",
            "salt_mass",
            "salt_amount",
            "solvent",
            "solvent_volume",
            "date",
            "notes",
        )


class TreatmentFilterSet(LabFilterSet):
    operator_username = django_filters.CharFilter(field_name="operator__username")
    batch_code = django_filters.CharFilter(field_name="batch__code")
    batch_date__gte = django_filters.DateFilter(field_name="batch__date", lookup_expr="gte")
    batch_date__lte = django_filters.DateFilter(field_name="batch__date", lookup_expr="lte")
    made_from = IdFilter(
        method="filter_made_from", help_text="treatments of portions made (at any depth) from this batch"
    )
    stock_concentration_salt = IdFilter(field_name="stock__salt", help_text="the stock's salt (chemical id)")
    q = FullTextFilter(search_fields=["code", "notes"])

    class Meta:
        model = PostTreatment
        fields = lookups_for(
            PostTreatment,
            *RECORD_FIELDS,
            "code", "batch", "stock", "volume_added", "suspension_volume", "stirring_time", "stirring_speed",
            "date", "operator", "nominal_cl_percent", "notes",
            "chloride_amount", "iodide_amount", "cl_to_i", "solvent_fraction",
        )  # fmt: skip

    def filter_made_from(self, queryset, name, value):
        return queryset.filter(batch__in=descendants([value]))


class SampleFilterSet(LabFilterSet):
    treatment_nominal_cl = django_filters.NumberFilter(field_name="treatment__nominal_cl_percent")
    treatment_cl_to_i__gte = QuantityFilter(
        field_name="treatment__cl_to_i", lookup_expr="gte", unit="percent"
    )
    treatment_cl_to_i__lte = QuantityFilter(
        field_name="treatment__cl_to_i", lookup_expr="lte", unit="percent"
    )
    batch_date__gte = django_filters.DateFilter(field_name="batch__date", lookup_expr="gte")
    batch_date__lte = django_filters.DateFilter(field_name="batch__date", lookup_expr="lte")
    q = FullTextFilter(search_fields=["code", "notes", "substrate"])

    class Meta:
        model = Sample
        fields = lookups_for(
            Sample,
            *RECORD_FIELDS,
            "code", "kind", "batch", "treatment", "substrate", "deposited_volume", "spin_speed", "spin_time",
            "anneal_temperature", "anneal_time", "date", "notes",
        )  # fmt: skip
