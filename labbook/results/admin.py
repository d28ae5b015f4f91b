from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from labbook.projects.admin import ProjectScopedAdmin, ReadOnlyScopedAdmin, quantity_column
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    Particle,
    ParticleSummary,
    ResultArtifact,
    ResultCurve,
    SpectrumResult,
    XRDResult,
)


class ReadOnlyResultAdmin(ProjectScopedAdmin):
    """Results are written by jobs only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _previews(job):
    items = [
        (reverse("files:artifact", args=[a.pk, "preview.png"]), a.name)
        for a in job.artifacts.all()
        if a.preview_name
    ]
    return (
        format_html_join(
            "",
            '<figure style="display:inline-block;margin:4px"><img src="{}" width="192" '
            'style="image-rendering:pixelated"><figcaption>{}</figcaption></figure>',
            items,
        )
        or "—"
    )


@admin.register(BlinkingAnalysis)
class BlinkingAnalysisAdmin(ReadOnlyResultAdmin):
    list_display = [
        "run",
        "n_particles",
        "on_alpha_display",
        "off_alpha_display",
        "share_bb",
        "share_peb",
        "share_mostly_on",
        "correlation_mean",
        "created_at",
    ]
    list_filter = ["run__sample__treatment", "project"]
    search_fields = ["run__code"]
    list_select_related = ["run", "project"]
    readonly_fields = ["particles_link", "previews"]
    exclude = ["payload"]

    @admin.display(description="α on", ordering="on_alpha")
    def on_alpha_display(self, obj):
        return "—" if obj.on_alpha is None else f"{obj.on_alpha:.3f} ± {obj.on_alpha_err or 0:.3f}"

    @admin.display(description="α off", ordering="off_alpha")
    def off_alpha_display(self, obj):
        return "—" if obj.off_alpha is None else f"{obj.off_alpha:.3f} ± {obj.off_alpha_err or 0:.3f}"

    @admin.display(description="particles")
    def particles_link(self, obj):
        url = reverse("admin:results_particle_changelist") + f"?analysis__id__exact={obj.pk}"
        return format_html('<a href="{}">{} particles</a>', url, obj.n_particles)

    @admin.display(description="correlation maps")
    def previews(self, obj):
        return _previews(obj.job)


@admin.register(Particle)
class ParticleAdmin(ReadOnlyResultAdmin):
    list_display = [
        "__str__",
        "trace_class",
        "subclass",
        "edge_display",
        "fraction_on",
        "mean_on_display",
        "mean_off_display",
        "alpha_on",
        "alpha_off",
        "correlation_mean",
    ]
    list_filter = ["trace_class", "subclass", "analysis__run__sample__treatment", "project"]
    search_fields = ["analysis__run__code"]
    list_select_related = ["analysis__run", "project"]
    exclude = ["on_dwell_s", "off_dwell_s"]
    edge_display = quantity_column("edge", description="edge")
    mean_on_display = quantity_column("mean_on", description="mean ON")
    mean_off_display = quantity_column("mean_off", description="mean OFF")


@admin.register(LifetimeFit)
class LifetimeFitAdmin(ReadOnlyResultAdmin):
    list_display = [
        "run",
        "n_components",
        "taus",
        "amplitudes_display",
        "tau_avg_amp_display",
        "tau_avg_int_display",
        "chi2_red",
    ]
    list_filter = ["run__sample__treatment", "project"]
    list_select_related = ["run", "project"]
    exclude = ["payload"]
    tau_avg_amp_display = quantity_column("tau_avg_amp", description="τ avg (amplitude)")
    tau_avg_int_display = quantity_column("tau_avg_int", description="τ avg (intensity)")

    @admin.display(description="τ (ns)")
    def taus(self, obj):
        return " / ".join(f"{t:.3g}" for t in obj.taus_ns)

    @admin.display(description="A")
    def amplitudes_display(self, obj):
        return " / ".join(f"{100 * a:.1f} %" for a in obj.amplitudes)


@admin.register(DeviceMetrics)
class DeviceMetricsAdmin(ReadOnlyResultAdmin):
    list_display = [
        "measurement",
        "dark_display",
        "photo_display",
        "on_off_ratio",
        "rise_display",
        "fall_display",
        "resp_display",
        "stability_cv",
    ]
    list_filter = ["measurement__kind", "measurement__device", "project"]
    list_select_related = ["measurement__device", "project"]
    exclude = ["payload"]
    dark_display = quantity_column("dark_current", description="dark current")
    photo_display = quantity_column("photocurrent")
    rise_display = quantity_column("rise_time", description="rise 10-90 %")
    fall_display = quantity_column("fall_time", description="fall 90-10 %")
    resp_display = quantity_column("responsivity")


@admin.register(SpectrumResult)
class SpectrumResultAdmin(ReadOnlyResultAdmin):
    list_display = ["run", "spectrum_kind", "peak_display", "energy_display", "fwhm_display", "gap_display"]
    list_filter = ["spectrum_kind", "run__sample__treatment", "project"]
    list_select_related = ["run", "project"]
    exclude = ["payload"]
    peak_display = quantity_column("peak_wavelength", description="PL peak")
    energy_display = quantity_column("peak_energy", description="PL peak (eV)")
    fwhm_display = quantity_column("fwhm", description="FWHM")
    gap_display = quantity_column("band_gap", description="Tauc gap")


@admin.register(XRDResult)
class XRDResultAdmin(ReadOnlyResultAdmin):
    list_display = ["run", "mapbi3_detected", "mapbcl3_detected", "n_peaks"]
    list_filter = ["mapbcl3_detected", "run__sample__treatment", "project"]
    list_select_related = ["run", "project"]
    exclude = ["payload"]

    @admin.display(description="peaks")
    def n_peaks(self, obj):
        return len(obj.peaks)


@admin.register(ResultArtifact)
class ResultArtifactAdmin(ReadOnlyResultAdmin):
    list_display = ["name", "job", "shape", "dtype", "size", "preview"]
    list_filter = ["name", "project"]
    search_fields = ["name"]

    @admin.display(description="preview")
    def preview(self, obj):
        if not obj.preview_name:
            return "—"
        return format_html(
            '<img src="{}" height="64" style="image-rendering:pixelated">',
            reverse("files:artifact", args=[obj.pk, "preview.png"]),
        )


class DerivedDataAdmin(ReadOnlyScopedAdmin):
    """Summaries the jobs computed (read-only; ``manage.py summarise_results`` recomputes them)."""


@admin.register(ParticleSummary)
class ParticleSummaryAdmin(DerivedDataAdmin):
    project_path = "analysis__project"
    list_display = ["analysis", "n_particles", "format_version", "computed_at"]
    list_select_related = ["analysis__run"]
    search_fields = ["analysis__run__code"]
    exclude = ["merge"]


@admin.register(ResultCurve)
class ResultCurveAdmin(DerivedDataAdmin):
    project_path = "job__project"
    list_display = ["job", "kind", "n_points_raw", "format_version", "computed_at", "note"]
    list_filter = ["kind"]
    search_fields = ["job__run__code"]
