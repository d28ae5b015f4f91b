"""API viewsets for devices and device measurements."""

from labbook.api.devices.serializers import DeviceSerializer, MeasurementSerializer
from labbook.api.viewsets import RecordViewSet
from labbook.devices import services
from labbook.devices.filters import DeviceFilterSet, MeasurementFilterSet
from labbook.devices.models import Device, DeviceMeasurement


class DeviceViewSet(RecordViewSet):
    service = services.devices
    queryset = Device.objects.select_related("operator").prefetch_related(
        "samples", "raw_files", "measurements"
    )
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilterSet
    ordering_fields = ["fabricated_on", "code", "active_area"]


class MeasurementViewSet(RecordViewSet):
    service = services.measurements
    queryset = DeviceMeasurement.objects.select_related("device", "operator").prefetch_related(
        "raw_files", "jobs", "metrics"
    )
    serializer_class = MeasurementSerializer
    filterset_class = MeasurementFilterSet
    ordering_fields = ["date", "kind", "device", "bias", "illumination_power_density"]
