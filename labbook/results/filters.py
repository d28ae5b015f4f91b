"""Filters for analysis results, including everything up the lineage of a particle.

e.g. the particles of every 3 % Cl treatment of a batch made after a date:
``?treatment_nominal_cl=3&batch_date__gte=2022-01-01``; photobleaching particles under 1 um:
``?trace_class=PEB&edge__lt=1 um``.
"""

import django_filters

from labbook.filters import IdFilter, LabFilterSet, QuantityFilter, lookups_for
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    Particle,
    ResultArtifact,
    SpectrumResult,
    XRDResult,
)
from labbook.synthesis.filters import RECORD_FIELDS, descendants

RESULT_FIELDS = (*RECORD_FIELDS, "job")


class LineageFilters(django_filters.FilterSet):
    """Filters up the lineage of a result, from ``run_path`` (the path to its CharacterizationRun)."""

    run_path = "run"

    @classmethod
    def lineage(cls, run_path: str) -> dict:
        sample = f"{run_path}__sample"
        treatment = f"{sample}__treatment"
        batch = f"{sample}__batch"
        return {
            "technique": django_filters.CharFilter(field_name=f"{run_path}__technique"),
            "sample": IdFilter(field_name=sample),
            "treatment": IdFilter(field_name=treatment),
            "treatment_code": django_filters.CharFilter(field_name=f"{treatment}__code"),
            "treatment_nominal_cl": django_filters.NumberFilter(
                field_name=f"{treatment}__nominal_cl_percent"
            ),
            "treatment_nominal_cl__gte": django_filters.NumberFilter(
                field_name=f"{treatment}__nominal_cl_percent", lookup_expr="gte"
            ),
            "treatment_nominal_cl__lte": django_filters.NumberFilter(
                field_name=f"{treatment}__nominal_cl_percent", lookup_expr="lte"
            ),
            "treatment_cl_to_i__gte": QuantityFilter(
                field_name=f"{treatment}__cl_to_i", lookup_expr="gte", unit="percent"
            ),
            "treatment_cl_to_i__lte": QuantityFilter(
                field_name=f"{treatment}__cl_to_i", lookup_expr="lte", unit="percent"
            ),
            "treatment_solvent_fraction__gte": QuantityFilter(
                field_name=f"{treatment}__solvent_fraction", lookup_expr="gte", unit="percent"
            ),
            "treatment_solvent_fraction__lte": QuantityFilter(
                field_name=f"{treatment}__solvent_fraction", lookup_expr="lte", unit="percent"
            ),
            "treatment_date__gte": django_filters.DateFilter(
                field_name=f"{treatment}__date", lookup_expr="gte"
            ),
            "treatment_date__lte": django_filters.DateFilter(
                field_name=f"{treatment}__date", lookup_expr="lte"
            ),
            "stock": IdFilter(field_name=f"{treatment}__stock"),
            "batch": IdFilter(field_name=batch),
            "batch_code": django_filters.CharFilter(field_name=f"{batch}__code"),
            "batch_date__gte": django_filters.DateFilter(field_name=f"{batch}__date", lookup_expr="gte"),
            "batch_date__lte": django_filters.DateFilter(field_name=f"{batch}__date", lookup_expr="lte"),
            "batch_operator": IdFilter(field_name=f"{batch}__operator"),
            "batch_operator_username": django_filters.CharFilter(field_name=f"{batch}__operator__username"),
            "made_from": IdFilter(
                method=_made_from(batch), help_text="results of portions made (at any depth) from this batch"
            ),
        }


def _made_from(batch_path: str):
    def method(queryset, name, value):
        return queryset.filter(**{f"{batch_path}__in": descendants([value])})

    return method


def _with_lineage(name: str, base, run_path: str, meta):
    return type(name, (base,), {**LineageFilters.lineage(run_path), "Meta": meta})


class _ParticleMeta:
    model = Particle
    fields = lookups_for(
        Particle,
        *RECORD_FIELDS,
        "analysis", "index", "centroid_y_px", "centroid_x_px", "area_px", "edge", "trace_class", "subclass",
        "threshold", "fraction_on", "mean_on", "mean_off", "n_on", "n_off", "alpha_on", "alpha_on_err",
        "mu_on", "alpha_off", "alpha_off_err", "mu_off", "correlation_mean",
    )  # fmt: skip
    fields["trace_class"] = ["exact", "in"]
    fields["subclass"] = ["exact", "in"]


class _BlinkingMeta:
    model = BlinkingAnalysis
    fields = lookups_for(
        BlinkingAnalysis,
        *RESULT_FIELDS,
        "run", "frames", "height", "width", "bin_time", "pixel_size", "n_particles", "on_alpha", "on_alpha_err",
        "on_mu", "on_n_events", "off_alpha", "off_alpha_err", "off_mu", "off_n_events", "share_bb", "share_bbb",
        "share_msb", "share_peb", "share_qtsb", "share_mostly_on", "share_intermediate", "share_mostly_off",
        "correlation_mean",
    )  # fmt: skip


class _LifetimeMeta:
    model = LifetimeFit
    fields = lookups_for(
        LifetimeFit,
        *RESULT_FIELDS,
        "run",
        "n_components",
        "tau_long",
        "amplitude_long",
        "tau_avg_amp",
        "tau_avg_int",
        "chi2_red",
    )


class _SpectrumMeta:
    model = SpectrumResult
    fields = lookups_for(
        SpectrumResult,
        *RESULT_FIELDS,
        "run",
        "spectrum_kind",
        "peak_wavelength",
        "peak_energy",
        "fwhm",
        "integrated_intensity",
        "band_gap",
    )


class _XRDMeta:
    model = XRDResult
    fields = lookups_for(XRDResult, *RESULT_FIELDS, "run", "mapbi3_detected", "mapbcl3_detected")


#: the blinking classes (analysis/blinking/classes.py), offered as choices on the pages and in the schema
TRACE_CLASSES = [
    ("BB", "BB: bleaching and blinking"),
    ("BBB", "BBB: brightening, then bleaching and blinking"),
    ("MSB", "MSB: multi-state blinking"),
    ("PEB", "PEB: photo-enhancement and blinking"),
    ("qTSB", "qTSB: quasi two-state blinking"),
]


class _ParticleBase(LabFilterSet):
    trace_class = django_filters.ChoiceFilter(choices=TRACE_CLASSES, label="class")


ParticleFilterSet = _with_lineage("ParticleFilterSet", _ParticleBase, "analysis__run", _ParticleMeta)
BlinkingAnalysisFilterSet = _with_lineage("BlinkingAnalysisFilterSet", LabFilterSet, "run", _BlinkingMeta)
LifetimeFitFilterSet = _with_lineage("LifetimeFitFilterSet", LabFilterSet, "run", _LifetimeMeta)
SpectrumResultFilterSet = _with_lineage("SpectrumResultFilterSet", LabFilterSet, "run", _SpectrumMeta)
XRDResultFilterSet = _with_lineage("XRDResultFilterSet", LabFilterSet, "run", _XRDMeta)


class DeviceMetricsFilterSet(LabFilterSet):
    device = IdFilter(field_name="measurement__device")
    treatment = IdFilter(field_name="measurement__device__samples__treatment", distinct=True)
    treatment_nominal_cl = django_filters.NumberFilter(
        field_name="measurement__device__samples__treatment__nominal_cl_percent", distinct=True
    )

    class Meta:
        model = DeviceMetrics
        fields = lookups_for(
            DeviceMetrics,
            *RESULT_FIELDS,
            "measurement", "dark_current", "photocurrent", "on_off_ratio", "rise_time", "fall_time",
            "responsivity", "stability_cv",
        )  # fmt: skip


class ResultArtifactFilterSet(LabFilterSet):
    class Meta:
        model = ResultArtifact
        fields = lookups_for(
            ResultArtifact,
            *RECORD_FIELDS,
            "job",
            "name",
            "storage_name",
            "preview_name",
            "dtype",
            "size",
            "sha256",
        )
