"""Serializers for analysis jobs: status and progress out; a submission in (-> job_submit)."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from labbook.api.fields import IdentityUrlField
from labbook.api.files.serializers import RawFileRef
from labbook.api.serializers import LabModelSerializer, StrictFieldsMixin
from labbook.characterization.models import CharacterizationRun
from labbook.core.text import scrub_paths
from labbook.devices.models import DeviceMeasurement
from labbook.files.models import RawFile
from labbook.jobs.models import AnalysisJob, JobInput, JobKind
from labbook.projects.selectors import visible
from labbook.results.models import ResultArtifact

#: result model per job kind: (reverse accessor annotated as <kind>_result_id, API view name)
RESULT_VIEWS = {
    JobKind.BLINKING: "api:blinkinganalysis-detail",
    JobKind.TRPL: "api:lifetimefit-detail",
    JobKind.PHOTODETECTOR: "api:devicemetrics-detail",
    JobKind.SPECTRUM: "api:spectrumresult-detail",
    JobKind.XRD: "api:xrdresult-detail",
}


class JobInputSerializer(serializers.ModelSerializer):
    raw_file = RawFileRef(read_only=True)

    class Meta:
        model = JobInput
        fields = ["role", "raw_file"]


class ArtifactRefSerializer(serializers.ModelSerializer):
    url = IdentityUrlField(view_name="api:resultartifact-detail")

    class Meta:
        model = ResultArtifact
        fields = ["id", "url", "name", "shape", "dtype"]


class JobSerializer(LabModelSerializer):
    url = IdentityUrlField(view_name="api:job-detail")
    inputs = JobInputSerializer(many=True, read_only=True)
    artifacts = ArtifactRefSerializer(many=True, read_only=True)
    result = serializers.SerializerMethodField(help_text="the result record, once the job has succeeded")
    duration_s = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = AnalysisJob
        fields = "__all__"

    def to_representation(self, job):
        data = super().to_representation(job)
        for name in ("error", "log"):  # server paths (media folder, temporary files) down to file names
            if data.get(name):
                data[name] = scrub_paths(data[name])
        return data

    def get_result(self, job) -> dict | None:
        pk = getattr(job, "result_id", None)
        if pk is None:
            return None
        return {
            "id": pk,
            "url": reverse(RESULT_VIEWS[job.kind], args=[pk], request=self.context.get("request")),
        }


class JobSubmitSerializer(StrictFieldsMixin, serializers.Serializer):
    """Start an analysis of a run (or device measurement). ``files`` maps roles ("movie", "decay",
    "irf", "data") to raw file ids; when left out, the record's raw files are given roles as the
    admin does (a .tif movie, a decay and a file named *irf*, ...). ``kind`` defaults to the
    analysis of the run's technique."""

    kind = serializers.ChoiceField(choices=JobKind.choices, required=False)
    run = serializers.PrimaryKeyRelatedField(queryset=CharacterizationRun.objects.none(), required=False)
    measurement = serializers.PrimaryKeyRelatedField(
        queryset=DeviceMeasurement.objects.none(), required=False
    )
    files = serializers.DictField(child=serializers.IntegerField(min_value=1), required=False)
    parameters = serializers.DictField(required=False, default=dict)
    force = serializers.BooleanField(required=False, default=False)

    def get_fields(self):
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        fields["run"].queryset = visible(CharacterizationRun, user)
        fields["measurement"].queryset = visible(DeviceMeasurement, user)
        return fields

    def validate(self, attrs):
        from labbook.jobs.services import files_by_role, natural_kind

        run, measurement = attrs.get("run"), attrs.get("measurement")
        if (run is None) == (measurement is None):
            raise serializers.ValidationError("give either a run or a device measurement")
        target = run or measurement
        kind = attrs.get("kind") or natural_kind(target)
        if kind is None:
            raise serializers.ValidationError(
                {"kind": f"no analysis for {run.get_technique_display()} runs; give a kind"}
            )
        if "files" in attrs:
            wanted = attrs["files"]
            found = {f.pk: f for f in RawFile.objects.filter(project=target.project, pk__in=wanted.values())}
            missing = sorted({i for i in wanted.values() if i not in found})
            if missing:
                raise serializers.ValidationError(
                    {"files": [f"no raw file {i} in project {target.project}" for i in missing]}
                )
            attrs["files"] = {role: found[i] for role, i in wanted.items()}
        else:
            attrs["files"] = files_by_role(kind, target.raw_files.all())
            if not attrs["files"]:
                raise serializers.ValidationError(
                    {"files": f"{target} has no raw files to analyse; upload some first"}
                )
        attrs["kind"] = kind
        return attrs
