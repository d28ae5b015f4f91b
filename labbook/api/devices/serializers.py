"""Serializers for photodetector devices and measurements, with links to files, jobs and metrics."""

from labbook.api.characterization.serializers import JobRef, RawFileRef
from labbook.api.fields import IdentityUrlField
from labbook.api.serializers import PageLinksField, PageListSerializer, RecordSerializer, link_serializer
from labbook.devices.models import Device, DeviceMeasurement
from labbook.results.models import DeviceMetrics

MeasurementRef = link_serializer(DeviceMeasurement, "api:measurement-detail", "kind", "date")
MetricsRef = link_serializer(DeviceMetrics, "api:devicemetrics-detail", "on_off_ratio", "stability_cv")


class DeviceSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:device-detail")
    files = RawFileRef(source="raw_files", many=True, read_only=True)
    measurement_links = PageLinksField(MeasurementRef, relation="measurements")

    class Meta:
        model = Device
        fields = "__all__"
        list_serializer_class = PageListSerializer


class MeasurementSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:measurement-detail")
    files = RawFileRef(source="raw_files", many=True, read_only=True)
    jobs = PageLinksField(JobRef)
    metric_links = PageLinksField(MetricsRef, relation="metrics")

    class Meta:
        model = DeviceMeasurement
        fields = "__all__"
        list_serializer_class = PageListSerializer
