"""Serializers for characterisation runs: settings as quantities, with links to their raw files,
analysis jobs and results."""

from rest_framework import serializers

from labbook.api.fields import IdentityUrlField
from labbook.api.files.serializers import RawFileRef
from labbook.api.serializers import PageLinksField, PageListSerializer, RecordSerializer, link_serializer
from labbook.characterization.models import CharacterizationRun
from labbook.jobs.models import AnalysisJob
from labbook.results.models import BlinkingAnalysis, LifetimeFit, SpectrumResult, XRDResult

JobRef = link_serializer(AnalysisJob, "api:job-detail", "kind", "status", "progress")
BlinkingRef = link_serializer(
    BlinkingAnalysis, "api:blinkinganalysis-detail", "n_particles", "on_alpha", "off_alpha"
)
LifetimeRef = link_serializer(LifetimeFit, "api:lifetimefit-detail", "n_components", "chi2_red")
SpectrumRef = link_serializer(SpectrumResult, "api:spectrumresult-detail", "spectrum_kind")
XRDRef = link_serializer(XRDResult, "api:xrdresult-detail", "mapbi3_detected", "mapbcl3_detected")


class RunResultsSerializer(serializers.Serializer):
    blinking = PageLinksField(BlinkingRef, relation="blinking_analyses")
    lifetime_fits = PageLinksField(LifetimeRef)
    spectra = PageLinksField(SpectrumRef, relation="spectrum_results")
    xrd = PageLinksField(XRDRef, relation="xrd_results")


class RunSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:run-detail")
    files = RawFileRef(source="raw_files", many=True, read_only=True)
    jobs = PageLinksField(JobRef)
    results = RunResultsSerializer(source="*", read_only=True)

    class Meta:
        model = CharacterizationRun
        fields = "__all__"
        list_serializer_class = PageListSerializer  # jobs and results: one query each per page
