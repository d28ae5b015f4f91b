from django.contrib import admin

from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.forms import UploadFilesAdminMixin
from labbook.projects.admin import ProjectScopedAdmin, quantity_column


class MeasurementInline(admin.TabularInline):
    model = DeviceMeasurement
    extra = 0
    fields = ["kind", "date", "illumination_power_density", "bias", "sampling_interval"]
    show_change_link = True


class DeviceFileInline(admin.TabularInline):
    model = Device.raw_files.through
    extra = 0
    verbose_name_plural = "raw files"
    autocomplete_fields = ["rawfile"]


@admin.register(Device)
class DeviceAdmin(UploadFilesAdminMixin, ProjectScopedAdmin):
    list_display = ["code", "architecture", "active_area_display", "fabricated_on", "operator", "project"]
    list_filter = ["architecture", "fabricated_on", "operator", "project"]
    search_fields = ["code", "architecture", "notes"]
    filter_horizontal = ["samples"]
    exclude = ["raw_files"]
    inlines = [MeasurementInline, DeviceFileInline]
    active_area_display = quantity_column("active_area", description="active area")


class MeasurementFileInline(admin.TabularInline):
    model = DeviceMeasurement.raw_files.through
    extra = 0
    verbose_name_plural = "raw files"
    autocomplete_fields = ["rawfile"]


@admin.register(DeviceMeasurement)
class DeviceMeasurementAdmin(UploadFilesAdminMixin, ProjectScopedAdmin):
    list_display = ["device", "kind", "date", "power_display", "bias_display", "sampling_display", "operator"]
    list_filter = ["kind", "date", "device", "operator"]
    search_fields = ["device__code", "notes", "light_source"]
    list_select_related = ["device", "operator"]
    exclude = ["raw_files"]
    inlines = [MeasurementFileInline]
    power_display = quantity_column("illumination_power_density", description="illumination")
    bias_display = quantity_column("bias")
    sampling_display = quantity_column("sampling_interval", description="sampling")
