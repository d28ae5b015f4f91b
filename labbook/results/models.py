"""Analysis results as data: rows the database can filter and aggregate across batches.

Every result hangs from the :class:`~labbook.jobs.models.AnalysisJob` that made it (one job, one
result row of its kind, written in one transaction with all its particles and artifacts) and from
the run or device measurement it analysed, so queries can walk up to the sample, treatment and
batch. Large arrays (traces, correlation maps, ON/OFF states) are stored as ``.npy`` artifacts in
storage with PNG previews; the numbers people query are columns.

What the pages draw and the comparisons aggregate is computed once, by the job, next to its result
(:mod:`labbook.results.summaries`): a :class:`ParticleSummary` per blinking analysis and a
:class:`ResultCurve` per instrument job. They are derived data, not records of the project: not
exported, not part of a freeze manifest, recomputed by ``manage.py summarise_results`` when missing.
"""

from django.db import models

from labbook.projects.models import ProjectRecord
from labbook.units import QuantityField


class ResultBase(ProjectRecord):
    job = models.OneToOneField("jobs.AnalysisJob", on_delete=models.CASCADE, related_name="%(class)s")
    parameters = models.JSONField(default=dict, blank=True, help_text="the parameters the analysis used")
    payload = models.JSONField(default=dict, blank=True, help_text="the analysis' full output, for plots")

    class Meta:
        abstract = True


class BlinkingAnalysis(ResultBase):
    run = models.ForeignKey(
        "characterization.CharacterizationRun", on_delete=models.CASCADE, related_name="blinking_analyses"
    )
    frames = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    bin_time = QuantityField(unit="s", uncertainty=False)
    pixel_size = QuantityField(unit="nm", null=True, blank=True, uncertainty=False)
    n_particles = models.PositiveIntegerField()
    on_alpha = models.FloatField(null=True)
    on_alpha_err = models.FloatField(null=True)
    on_mu = QuantityField(unit="1/s", null=True, uncertainty=False)
    on_n_events = models.PositiveIntegerField(default=0)
    off_alpha = models.FloatField(null=True)
    off_alpha_err = models.FloatField(null=True)
    off_mu = QuantityField(unit="1/s", null=True, uncertainty=False)
    off_n_events = models.PositiveIntegerField(default=0)
    share_bb = models.FloatField(default=0)
    share_bbb = models.FloatField(default=0)
    share_msb = models.FloatField(default=0)
    share_peb = models.FloatField(default=0)
    share_qtsb = models.FloatField(default=0)
    share_mostly_on = models.FloatField(default=0, help_text="share of all particles that are qTSB mostly-on")
    share_intermediate = models.FloatField(default=0)
    share_mostly_off = models.FloatField(default=0)
    correlation_mean = models.FloatField(null=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "blinking analyses"

    def __str__(self) -> str:
        return f"blinking of {self.run} ({self.n_particles} particles)"


class Particle(ProjectRecord):
    analysis = models.ForeignKey(BlinkingAnalysis, on_delete=models.CASCADE, related_name="particles")
    index = models.PositiveIntegerField(help_text="the particle's id in the analysis (1-based)")
    centroid_y_px = models.FloatField()
    centroid_x_px = models.FloatField()
    area_px = models.PositiveIntegerField()
    edge = QuantityField("edge length", unit="um", null=True, uncertainty=False)
    trace_class = models.CharField(max_length=5, db_index=True, help_text="BB, BBB, MSB, PEB or qTSB")
    subclass = models.CharField(
        max_length=12,
        blank=True,
        db_index=True,
        help_text="mostly-on, intermediate or mostly-off (qTSB only)",
    )
    threshold = models.FloatField(null=True)
    fraction_on = models.FloatField(null=True)
    mean_on = QuantityField(unit="s", null=True, uncertainty=False)
    mean_off = QuantityField(unit="s", null=True, uncertainty=False)
    n_on = models.PositiveIntegerField(default=0)
    n_off = models.PositiveIntegerField(default=0)
    alpha_on = models.FloatField(null=True)
    alpha_on_err = models.FloatField(null=True)
    mu_on = QuantityField(unit="1/s", null=True, uncertainty=False)
    alpha_off = models.FloatField(null=True)
    alpha_off_err = models.FloatField(null=True)
    mu_off = QuantityField(unit="1/s", null=True, uncertainty=False)
    correlation_mean = models.FloatField(null=True)
    on_dwell_s = models.JSONField(default=list, blank=True)
    off_dwell_s = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["analysis", "index"]
        constraints = [models.UniqueConstraint(fields=["analysis", "index"], name="particle_index_once")]

    def __str__(self) -> str:
        return f"particle {self.index} of {self.analysis.run}"


class LifetimeFit(ResultBase):
    run = models.ForeignKey(
        "characterization.CharacterizationRun", on_delete=models.CASCADE, related_name="lifetime_fits"
    )
    n_components = models.PositiveSmallIntegerField()
    taus_ns = models.JSONField(default=list)
    taus_err_ns = models.JSONField(default=list)
    amplitudes = models.JSONField(default=list, help_text="amplitude fractions, sum 1")
    tau_long = QuantityField("longest lifetime", unit="ns", null=True, uncertainty=False)
    amplitude_long = models.FloatField(null=True, help_text="amplitude fraction of the longest component")
    tau_avg_amp = QuantityField("amplitude-weighted lifetime", unit="ns", null=True, uncertainty=False)
    tau_avg_int = QuantityField("intensity-weighted lifetime", unit="ns", null=True, uncertainty=False)
    chi2_red = models.FloatField(null=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"lifetime fit of {self.run}"


class DeviceMetrics(ResultBase):
    measurement = models.ForeignKey(
        "devices.DeviceMeasurement", on_delete=models.CASCADE, related_name="metrics"
    )
    dark_current = QuantityField(unit="A", null=True, min_value=None, uncertainty=False)
    photocurrent = QuantityField(unit="A", null=True, min_value=None, uncertainty=False)
    on_off_ratio = models.FloatField(null=True)
    rise_time = QuantityField(unit="s", null=True, uncertainty=False)
    fall_time = QuantityField(unit="s", null=True, uncertainty=False)
    responsivity = QuantityField(unit="A/W", null=True, min_value=None, uncertainty=False)
    stability_cv = models.FloatField(
        null=True, help_text="cycle-to-cycle coefficient of variation of the photocurrent"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "device metrics"

    def __str__(self) -> str:
        return f"metrics of {self.measurement}"


class SpectrumResult(ResultBase):
    run = models.ForeignKey(
        "characterization.CharacterizationRun", on_delete=models.CASCADE, related_name="spectrum_results"
    )
    spectrum_kind = models.CharField(max_length=3, choices=[("pl", "PL"), ("abs", "absorption")])
    peak_wavelength = QuantityField(unit="nm", null=True, uncertainty=False)
    peak_energy = QuantityField(unit="eV", null=True, uncertainty=False)
    fwhm = QuantityField("FWHM", unit="nm", null=True, uncertainty=False)
    integrated_intensity = models.FloatField(null=True)
    band_gap = QuantityField(unit="eV", null=True, uncertainty=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.spectrum_kind} spectrum of {self.run}"


class XRDResult(ResultBase):
    run = models.ForeignKey(
        "characterization.CharacterizationRun", on_delete=models.CASCADE, related_name="xrd_results"
    )
    peaks = models.JSONField(default=list)
    phases = models.JSONField(default=dict, help_text="phase name -> detected, with the matched peaks")
    mapbi3_detected = models.BooleanField(default=False)
    mapbcl3_detected = models.BooleanField(default=False, help_text="the peak near 15.6 deg: over-treatment")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "XRD result"

    def __str__(self) -> str:
        return f"XRD of {self.run}"


class ResultArtifact(ProjectRecord):
    """An array a job produced (traces, correlation maps, fitted curves), stored as .npy, with a PNG preview."""

    job = models.ForeignKey("jobs.AnalysisJob", on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=100)
    storage_name = models.CharField(max_length=255)
    preview_name = models.CharField(max_length=255, blank=True)
    shape = models.JSONField(default=list)
    dtype = models.CharField(max_length=20)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["job", "name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="artifact_name_once")]

    def __str__(self) -> str:
        return f"{self.name} of job {self.job_id}"

    def load(self):
        import numpy as np
        from django.core.files.storage import default_storage

        with default_storage.open(self.storage_name, "rb") as fh:
            return np.load(fh, allow_pickle=False)


class ParticleSummary(models.Model):
    """One blinking analysis' particles, summarised when the job wrote them (see
    :func:`labbook.results.summaries.summarise_particles`): what the treatment comparison (pages and
    ``/api/comparisons/``) reads instead of every particle row.

    Derived data, not a record: no project of its own (it is the analysis'), not exported, not in a
    freeze manifest, written for frozen projects too by the backfill."""

    analysis = models.OneToOneField(
        BlinkingAnalysis, on_delete=models.CASCADE, primary_key=True, related_name="summary"
    )
    format_version = models.PositiveSmallIntegerField(help_text="labbook.results.summaries.SUMMARY_VERSION")
    computed_at = models.DateTimeField(auto_now=True)
    n_particles = models.PositiveIntegerField()
    bin_time_s = models.FloatField(null=True)
    merge = models.BinaryField(
        help_text="float64 vector: particle and class counts, per column n, mean, m2 and 33 quantiles "
        "(labbook.results.summaries.merge_vector): what comparisons add up across analyses"
    )
    stats = models.JSONField(
        help_text="per column: n, mean, m2 (sum of squared deviations), min, max, quantiles"
    )
    class_counts = models.JSONField(help_text="class label -> number of particles")
    histograms = models.JSONField(help_text="per column: counts on fixed edges, ready to draw")
    dwells = models.JSONField(help_text="on/off: distinct dwell durations (s) and their counts")
    fits = models.JSONField(help_text="on/off population fit with its curve ready to draw")
    points = models.JSONField(
        help_text="per particle (at most MAX_POINTS): pk, index, edge, r, alphas, class"
    )

    class Meta:
        verbose_name = "particle summary"
        verbose_name_plural = "particle summaries"

    def __str__(self) -> str:
        return f"summary of analysis {self.analysis_id} ({self.n_particles} particles)"


class ResultCurve(models.Model):
    """What a page draws of an instrument job's result, stored by the job: a TRPL decay with the
    model of the job's own fit, a PL or absorption spectrum, an XRD scan, an I-V sweep or a
    photoresponse, decimated to a few thousand points at most. Derived data, like ParticleSummary."""

    class Kind(models.TextChoices):
        DECAY = "decay", "TRPL decay and fitted model"
        SPECTRUM = "spectrum", "spectrum"
        XRD = "xrd", "XRD scan"
        IV = "iv", "I-V sweep"
        PHOTORESPONSE = "photoresponse", "photoresponse"

    job = models.OneToOneField(
        "jobs.AnalysisJob", on_delete=models.CASCADE, primary_key=True, related_name="curve"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    format_version = models.PositiveSmallIntegerField(help_text="labbook.results.summaries.SUMMARY_VERSION")
    computed_at = models.DateTimeField(auto_now=True)
    n_points_raw = models.PositiveIntegerField(help_text="points in the raw data, before decimation")
    data = models.JSONField(help_text="the columns to draw (JSON lists, null where undefined)")
    note = models.CharField(
        max_length=300, blank=True, help_text="how it was made, when not by the job itself"
    )

    class Meta:
        verbose_name = "result curve"

    def __str__(self) -> str:
        return f"{self.kind} curve of job {self.job_id}"
