"""Filters for characterisation runs: by technique and settings (quantities in any unit), and by
the sample, treatment and batch they were made on."""

import django_filters

from labbook.characterization.models import CharacterizationRun
from labbook.filters import RECORD_FIELDS, FullTextFilter, IdFilter, LabFilterSet, QuantityFilter, lookups_for


class RunFilterSet(LabFilterSet):
    operator_username = django_filters.CharFilter(field_name="operator__username")
    treatment = IdFilter(field_name="sample__treatment")
    treatment_nominal_cl = django_filters.NumberFilter(field_name="sample__treatment__nominal_cl_percent")
    treatment_cl_to_i__gte = QuantityFilter(
        field_name="sample__treatment__cl_to_i", lookup_expr="gte", unit="percent"
    )
    treatment_cl_to_i__lte = QuantityFilter(
        field_name="sample__treatment__cl_to_i", lookup_expr="lte", unit="percent"
    )
    batch = IdFilter(field_name="sample__batch")
    batch_date__gte = django_filters.DateFilter(field_name="sample__batch__date", lookup_expr="gte")
    batch_date__lte = django_filters.DateFilter(field_name="sample__batch__date", lookup_expr="lte")
    has_results = django_filters.BooleanFilter(
        method="filter_has_results", help_text="runs with a finished analysis"
    )
    q = FullTextFilter(search_fields=["code", "notes", "instrument"])

    class Meta:
        model = CharacterizationRun
        fields = lookups_for(
            CharacterizationRun,
            *RECORD_FIELDS,
            "code", "sample", "technique", "instrument", "date", "operator",
            "excitation_wavelength", "repetition_rate", "power_density", "photon_fluence", "exposure_time",
            "frame_count", "pixel_size", "emission_band", "scan_range", "raw_files", "notes",
        )  # fmt: skip

    def filter_has_results(self, queryset, name, value):
        done = queryset.filter(jobs__status="succeeded").values("pk")
        return queryset.filter(pk__in=done) if value else queryset.exclude(pk__in=done)
