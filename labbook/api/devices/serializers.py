"""Serializers for photodetector devices and measurements, with links to files, jobs and metrics."""

from rest_framework import serializers

from labbook.api.characterization.serializers import JobRef, RawFileRef
from labbook.api.serializers import RecordSerializer, link_serializer
from labbook.devices.models import Device, DeviceMeasurement
from labbook.results.models import DeviceMetrics

MeasurementRef = link_serializer(DeviceMeasurement, "api:measurement-detail", "kind", "date")
MetricsRef = link_serializer(DeviceMetrics, "api:devicemetrics-detail", "on_off_ratio", "stability_cv")


class DeviceSerializer(RecordSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:device-detail")
    files = RawFileRef(source="raw_files", many=True, read_only=True)
    measurement_links = MeasurementRef(source="measurements", many=True, read_only=True)

    class Meta:
        model = Device
        fields = "__all__"


class MeasurementSerializer(RecordSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:measurement-detail")
    files = RawFileRef(source="raw_files", many=True, read_only=True)
    jobs = JobRef(many=True, read_only=True)
    metric_links = MetricsRef(source="metrics", many=True, read_only=True)

    class Meta:
        model = DeviceMeasurement
        fields = "__all__"
