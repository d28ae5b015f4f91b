"""Serializers for raw files: metadata out; uploads in (streamed to labbook.files.services)."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from labbook.api.fields import IdentityUrlField
from labbook.api.serializers import LabModelSerializer, StrictFieldsMixin, link_serializer
from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.models import RawFile
from labbook.notebook.models import NotebookEntry
from labbook.projects.selectors import projects_for, visible

#: how other records show their raw files
RawFileRef = link_serializer(RawFile, "api:rawfile-detail", "original_name", "sha256", "size")


class RawFileSerializer(LabModelSerializer):
    url = IdentityUrlField(view_name="api:rawfile-detail")
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = RawFile
        fields = "__all__"
        read_only_fields = ["project", "original_name", "media_type", "description"]

    def get_download_url(self, obj) -> str:
        return reverse("api:rawfile-download", args=[obj.pk], request=self.context.get("request"))


class RawFileUploadSerializer(StrictFieldsMixin, serializers.Serializer):
    """multipart/form-data: ``file`` and ``project``; optionally attach it to one record of the same
    project: a run, device or device measurement (a raw instrument file), or a notebook ``entry`` (an
    attachment: image, PDF or CSV/TXT table, recognised by its content, as on the entry page)."""

    file = serializers.FileField(allow_empty_file=False, use_url=False)
    project = serializers.PrimaryKeyRelatedField(queryset=projects_for(None))
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    run = serializers.PrimaryKeyRelatedField(queryset=CharacterizationRun.objects.none(), required=False)
    device = serializers.PrimaryKeyRelatedField(queryset=Device.objects.none(), required=False)
    measurement = serializers.PrimaryKeyRelatedField(
        queryset=DeviceMeasurement.objects.none(), required=False
    )
    entry = serializers.PrimaryKeyRelatedField(queryset=NotebookEntry.objects.none(), required=False)

    #: the fields that name the record a file is attached to (at most one)
    TARGETS = ("run", "device", "measurement", "entry")

    def get_fields(self):
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        fields["project"].queryset = projects_for(user)
        fields["run"].queryset = visible(CharacterizationRun, user)
        fields["device"].queryset = visible(Device, user)
        fields["measurement"].queryset = visible(DeviceMeasurement, user)
        fields["entry"].queryset = visible(NotebookEntry, user)
        return fields

    def validate(self, attrs):
        targets = [attrs[k] for k in self.TARGETS if k in attrs]
        if len(targets) > 1:
            raise serializers.ValidationError(
                "attach the file to one record: run, device, measurement or entry"
            )
        for target in targets:
            if target.project_id != attrs["project"].pk:
                raise serializers.ValidationError({"project": f"{target} is in another project"})
        return attrs
