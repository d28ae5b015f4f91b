"""Filters for photodetector devices and their measurements."""

import django_filters

from labbook.devices.models import Device, DeviceMeasurement
from labbook.filters import RECORD_FIELDS, FullTextFilter, IdFilter, LabFilterSet, lookups_for


class DeviceFilterSet(LabFilterSet):
    treatment = IdFilter(field_name="samples__treatment", distinct=True)
    treatment_nominal_cl = django_filters.NumberFilter(
        field_name="samples__treatment__nominal_cl_percent", distinct=True
    )
    q = FullTextFilter(search_fields=["code", "notes", "architecture"])

    class Meta:
        model = Device
        fields = lookups_for(
            Device,
            *RECORD_FIELDS,
            "code",
            "architecture",
            "active_area",
            "samples",
            "fabricated_on",
            "operator",
            "raw_files",
            "notes",
        )


class MeasurementFilterSet(LabFilterSet):
    q = FullTextFilter(search_fields=["notes", "light_source", "instrument"])

    class Meta:
        model = DeviceMeasurement
        fields = lookups_for(
            DeviceMeasurement,
            *RECORD_FIELDS,
            "device", "kind", "date", "operator", "instrument", "illumination_power_density", "light_source",
            "bias", "sampling_interval", "raw_files", "notes",
        )  # fmt: skip
