"""Photodetector devices and their measurements (I-V sweeps, photoresponse)."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from labbook.files.models import RawFile
from labbook.projects.models import ProjectRecord, code_unique_in_project
from labbook.units import QuantityField


class Device(ProjectRecord):
    code = models.CharField(max_length=60)
    architecture = models.CharField(max_length=200, default="ITO/P3HT:MAPbI3/Al")
    active_area = QuantityField(unit="cm^2", max_value=1e4)
    layers = models.JSONField(
        default=list, blank=True, help_text='bottom to top, e.g. [{"material": "Al", "thickness": "200 nm"}]'
    )
    samples = models.ManyToManyField(
        "synthesis.Sample",
        blank=True,
        related_name="devices",
        help_text="the samples (nanocrystal batches) the active layer was made from",
    )
    fabricated_on = models.DateField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raw_files = models.ManyToManyField(RawFile, blank=True, related_name="devices")
    notes = models.TextField(blank=True)

    history = HistoricalRecords(m2m_fields=[samples, raw_files])

    class Meta:
        ordering = ["-fabricated_on", "code"]
        constraints = [
            code_unique_in_project(
                name="device_code_unique", message="a device with this code already exists"
            )
        ]

    def __str__(self) -> str:
        return self.code


class MeasurementKind(models.TextChoices):
    DARK_IV = "dark_iv", "dark I-V"
    LIGHT_IV = "light_iv", "light I-V"
    PHOTORESPONSE = "photoresponse", "photoresponse (I vs t)"


class DeviceMeasurement(ProjectRecord):
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="measurements")
    kind = models.CharField(max_length=14, choices=MeasurementKind.choices)
    date = models.DateField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    instrument = models.CharField(max_length=100, blank=True, default="Keithley 2400")
    illumination_power_density = QuantityField(
        unit="mW/cm^2", null=True, blank=True, max_value=1e6, help_text="empty for dark measurements"
    )
    light_source = models.CharField(max_length=100, blank=True)
    bias = QuantityField(unit="V", null=True, blank=True, min_value=-1000, max_value=1000)
    sampling_interval = QuantityField(unit="s", null=True, blank=True, max_value=1e5)
    raw_files = models.ManyToManyField(RawFile, blank=True, related_name="device_measurements")
    notes = models.TextField(blank=True)

    history = HistoricalRecords(m2m_fields=[raw_files])

    class Meta:
        ordering = ["device", "-date", "kind"]

    def __str__(self) -> str:
        return f"{self.device} · {self.get_kind_display()} · {self.date}"
