"""API viewsets for devices and device measurements."""

from labbook.api.devices.serializers import DeviceSerializer, MeasurementSerializer
from labbook.api.files.serializers import RawFileRef
from labbook.api.serializers import ids_prefetch, link_prefetch
from labbook.api.viewsets import RecordViewSet
from labbook.devices import services
from labbook.devices.filters import DeviceFilterSet, MeasurementFilterSet
from labbook.devices.models import Device, DeviceMeasurement


class DeviceViewSet(RecordViewSet):
    service = services.devices
    queryset = Device.objects.prefetch_related(
        *ids_prefetch("samples", model=Device), link_prefetch("raw_files", RawFileRef)
    )  # its measurements: PageLinksField
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilterSet
    ordering_fields = ["fabricated_on", "code", "active_area"]


class MeasurementViewSet(RecordViewSet):
    service = services.measurements
    queryset = DeviceMeasurement.objects.prefetch_related(
        link_prefetch("raw_files", RawFileRef)
    )  # its jobs and metrics: PageLinksField
    serializer_class = MeasurementSerializer
    filterset_class = MeasurementFilterSet
    ordering_fields = ["date", "kind", "device", "bias", "illumination_power_density"]
