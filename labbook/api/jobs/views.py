"""Analysis jobs through the API: start one (job_submit), poll its status and progress, cancel it."""

from django.db.models import OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from labbook.api.export import Column
from labbook.api.files.serializers import RawFileRef
from labbook.api.jobs.serializers import JobSerializer, JobSubmitSerializer
from labbook.api.viewsets import RecordReadOnlyViewSet
from labbook.core.text import scrub_paths
from labbook.jobs import services
from labbook.jobs.filters import JobFilterSet
from labbook.jobs.models import AnalysisJob, JobInput
from labbook.projects.models import Role
from labbook.projects.permissions import require_role
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    ResultArtifact,
    SpectrumResult,
    XRDResult,
)


def _result_id():
    """The id of a job's result row, whatever its kind (one subquery per kind, no extra query per row)."""
    subqueries = [
        Subquery(model.objects.filter(job=OuterRef("pk")).values("pk")[:1])
        for model in (BlinkingAnalysis, LifetimeFit, DeviceMetrics, SpectrumResult, XRDResult)
    ]
    return Coalesce(*subqueries)


class JobViewSet(RecordReadOnlyViewSet):
    queryset = AnalysisJob.objects.prefetch_related(
        # each input with its file in one query, and only the columns the links show
        Prefetch(
            "inputs",
            queryset=JobInput.objects.select_related("raw_file").only(
                "job", "role", *(f"raw_file__{n}" for n in RawFileRef.Meta.fields if n != "url")
            ),
        ),
        Prefetch("artifacts", queryset=ResultArtifact.objects.only("job", "name", "shape", "dtype")),
    ).annotate(result_id=_result_id())
    serializer_class = JobSerializer
    filterset_class = JobFilterSet
    export_exclude = ("log",)  # a job's whole log is for its page, not a table
    export_extra = (Column("result id", "result_id"),)
    export_transforms = {"error": scrub_paths}  # server paths down to file names, as in the JSON
    ordering_fields = ["queued_at", "started_at", "finished_at", "status", "kind", "progress"]

    @extend_schema(request=JobSubmitSerializer, responses={201: JobSerializer, 200: JobSerializer})
    def create(self, request, *args, **kwargs):
        """Start an analysis; the same inputs and parameters return the existing job (200) unless forced."""
        submit = JobSubmitSerializer(data=request.data, context=self.get_serializer_context())
        submit.is_valid(raise_exception=True)
        data = submit.validated_data
        target = data.get("run") or data.get("measurement")
        require_role(request.user, target.project, Role.EDITOR)
        started = timezone.now()
        job = services.job_submit(
            kind=data["kind"],
            files=data["files"],
            parameters=data.get("parameters") or {},
            run=data.get("run"),
            measurement=data.get("measurement"),
            user=request.user,
            force=data.get("force", False),
        )
        job = self.get_queryset().get(pk=job.pk)
        code = status.HTTP_201_CREATED if job.queued_at >= started else status.HTTP_200_OK
        return Response(self.get_serializer(job).data, status=code)

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued or running job."""
        job = self.get_object()
        require_role(request.user, job.project, Role.EDITOR)
        services.job_cancel(job=job, user=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=job.pk)).data)
