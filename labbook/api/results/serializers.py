"""Serializers for analysis results (read-only): quantities with units, links to run and job."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from labbook.api.fields import IdentityUrlField
from labbook.api.serializers import LabModelSerializer
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    Particle,
    ResultArtifact,
    SpectrumResult,
    XRDResult,
)


def _serializer(model, view_name: str, *, exclude: tuple = (), extra: dict | None = None):
    meta_attrs = {"model": model, "read_only_fields": ()}
    if exclude:
        meta_attrs["exclude"] = exclude
    else:
        meta_attrs["fields"] = "__all__"
    attrs = {
        "Meta": type("Meta", (), meta_attrs),
        "url": IdentityUrlField(view_name=view_name),
        **(extra or {}),
    }
    return type(f"{model.__name__}Serializer", (LabModelSerializer,), attrs)


BlinkingAnalysisSerializer = _serializer(
    BlinkingAnalysis, "api:blinkinganalysis-detail", exclude=("payload",)
)
BlinkingAnalysisDetailSerializer = type(
    "BlinkingAnalysisDetailSerializer",
    (LabModelSerializer,),
    {
        "Meta": type("Meta", (), {"model": BlinkingAnalysis, "fields": "__all__"}),
        "url": IdentityUrlField(view_name="api:blinkinganalysis-detail"),
    },
)
ParticleSerializer = _serializer(Particle, "api:particle-detail", exclude=("on_dwell_s", "off_dwell_s"))
ParticleDetailSerializer = type(
    "ParticleDetailSerializer",
    (LabModelSerializer,),
    {
        "Meta": type("Meta", (), {"model": Particle, "fields": "__all__"}),
        "url": IdentityUrlField(view_name="api:particle-detail"),
    },
)
LifetimeFitSerializer = _serializer(LifetimeFit, "api:lifetimefit-detail")
DeviceMetricsSerializer = _serializer(DeviceMetrics, "api:devicemetrics-detail")
SpectrumResultSerializer = _serializer(SpectrumResult, "api:spectrumresult-detail")
XRDResultSerializer = _serializer(XRDResult, "api:xrdresult-detail")


class ResultArtifactSerializer(LabModelSerializer):
    url = IdentityUrlField(view_name="api:resultartifact-detail")
    data_url = serializers.SerializerMethodField(help_text="the array as .npy")
    preview_url = serializers.SerializerMethodField(help_text="a PNG preview, when there is one")

    class Meta:
        model = ResultArtifact
        exclude = ["storage_name", "preview_name"]

    def get_data_url(self, obj) -> str:
        return reverse("files:artifact", args=[obj.pk, "data.npy"], request=self.context.get("request"))

    def get_preview_url(self, obj) -> str | None:
        if not obj.preview_name:
            return None
        return reverse("files:artifact", args=[obj.pk, "preview.png"], request=self.context.get("request"))
