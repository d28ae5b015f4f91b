"""Filters for analysis jobs."""

from labbook.filters import RECORD_FIELDS, LabFilterSet, lookups_for
from labbook.jobs.models import AnalysisJob


class JobFilterSet(LabFilterSet):
    class Meta:
        model = AnalysisJob
        fields = lookups_for(
            AnalysisJob,
            *RECORD_FIELDS,
            "kind", "run", "measurement", "input_key", "analysis_version", "forced", "status", "progress",
            "progress_message", "queued_at", "started_at", "finished_at", "heartbeat_at", "attempts",
            "max_attempts", "worker", "scheduler", "task_id", "log", "error", "requested_by",
        )  # fmt: skip
