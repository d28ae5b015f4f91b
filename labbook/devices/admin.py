from django.contrib import admin

from labbook.devices import services
from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.forms import UploadFilesAdminMixin
from labbook.projects.admin import ProjectScopedAdmin, ProjectScopedInline, quantity_column


class MeasurementInline(ProjectScopedInline):
    model = DeviceMeasurement
    service = services.measurements
    extra = 0
    fields = ["kind", "date", "illumination_power_density", "bias", "sampling_interval"]
    show_change_link = True


@admin.register(Device)
class DeviceAdmin(UploadFilesAdminMixin, ProjectScopedAdmin):
    """Devices (and their measurements, inline) are written through labbook.devices.services;
    samples and raw files are linked within the device's project."""

    service = services.devices
    list_display = ["code", "architecture", "active_area_display", "fabricated_on", "operator", "project"]
    list_filter = ["architecture", "fabricated_on", "operator", "project"]
    search_fields = ["code", "architecture", "notes"]
    filter_horizontal = ["samples"]
    autocomplete_fields = ["raw_files"]
    inlines = [MeasurementInline]
    active_area_display = quantity_column("active_area", description="active area")


@admin.register(DeviceMeasurement)
class DeviceMeasurementAdmin(UploadFilesAdminMixin, ProjectScopedAdmin):
    service = services.measurements
    list_display = ["device", "kind", "date", "power_display", "bias_display", "sampling_display", "operator"]
    list_filter = ["kind", "date", "device", "operator"]
    search_fields = ["device__code", "notes", "light_source"]
    list_select_related = ["device", "operator"]
    autocomplete_fields = ["raw_files"]
    power_display = quantity_column("illumination_power_density", description="illumination")
    bias_display = quantity_column("bias")
    sampling_display = quantity_column("sampling_interval", description="sampling")
