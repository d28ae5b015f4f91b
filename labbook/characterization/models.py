"""Characterisation runs: a technique applied to a sample, with settings as quantities and raw files."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from labbook.files.models import RawFile
from labbook.projects.models import ProjectRecord, code_unique_in_project
from labbook.units import QuantityField


class Technique(models.TextChoices):
    XRD = "xrd", "XRD"
    XPS = "xps", "XPS"
    SEM = "sem", "SEM"
    EDS = "eds", "EDS"
    TEM = "tem", "TEM"
    UVVIS = "uvvis", "UV-vis absorption"
    PL = "pl", "steady-state PL"
    TRPL = "trpl", "TRPL / TCSPC"
    BLINKING = "blinking", "wide-field PL blinking movie"


class CharacterizationRun(ProjectRecord):
    code = models.CharField(max_length=60)
    sample = models.ForeignKey("synthesis.Sample", on_delete=models.PROTECT, related_name="runs")
    technique = models.CharField(max_length=10, choices=Technique.choices)
    instrument = models.CharField(max_length=200, blank=True)
    date = models.DateField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # settings, as quantities (empty when they do not apply to the technique)
    excitation_wavelength = QuantityField(unit="nm", null=True, blank=True, max_value=1e5)
    repetition_rate = QuantityField(unit="MHz", null=True, blank=True, max_value=1e5)
    power_density = QuantityField(unit="mW/cm^2", null=True, blank=True, max_value=1e9)
    photon_fluence = QuantityField(
        "photon fluence",
        unit="1/cm^2",
        null=True,
        blank=True,
        max_value=1e25,
        help_text="photons per cm^2 per pulse (e.g. 1.9e14 1/cm^2)",
    )
    exposure_time = QuantityField(unit="ms", null=True, blank=True, max_value=1e8)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    pixel_size = QuantityField(unit="nm", null=True, blank=True, max_value=1e6)
    emission_band = models.CharField(max_length=60, blank=True, help_text="e.g. 705-755 nm bandpass")
    scan_range = models.CharField(max_length=60, blank=True, help_text="e.g. 10-40 deg 2theta")
    extra_settings = models.JSONField(
        default=dict, blank=True, help_text="other settings, as {name: '<value> <unit>'}"
    )
    raw_files = models.ManyToManyField(RawFile, blank=True, related_name="runs")
    notes = models.TextField(blank=True)

    history = HistoricalRecords(m2m_fields=[raw_files])

    class Meta:
        ordering = ["-date", "code"]
        verbose_name = "characterisation run"
        indexes = [models.Index(fields=["-date", "code"], name="run_list_order")]  # a page of the list
        constraints = [
            code_unique_in_project(name="run_code_unique", message="a run with this code already exists")
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_technique_display()})"
