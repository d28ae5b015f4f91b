from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html

from labbook.jobs.models import ACTIVE, AnalysisJob, JobInput, WorkerHeartbeat
from labbook.jobs.services import job_cancel, job_submit
from labbook.projects.admin import ProjectScopedAdmin
from labbook.projects.permissions import RecordNotFound


def _refusal(exc) -> str:
    """A refusal by the services (role, frozen project, bad input) as one line for a message."""
    return "; ".join(getattr(exc, "messages", None) or [str(exc)])


class JobInputInline(admin.TabularInline):
    model = JobInput
    extra = 0
    can_delete = False
    readonly_fields = ["role", "raw_file"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AnalysisJob)
class AnalysisJobAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "kind",
        "target",
        "status",
        "progress_bar",
        "attempts",
        "duration",
        "queued_at",
        "project",
    ]
    list_filter = ["status", "kind", "project", "queued_at"]
    search_fields = ["run__code", "measurement__device__code", "error", "log", "input_key"]
    list_select_related = ["run", "measurement__device", "project"]
    inlines = [JobInputInline]
    actions = ["rerun", "cancel"]
    readonly_fields = [f.name for f in AnalysisJob._meta.fields if f.name != "id"] + [
        "progress_bar",
        "results",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "kind",
                    "run",
                    "measurement",
                    "status",
                    "progress_bar",
                    "progress_message",
                    "error",
                    "results",
                ]
            },
        ),
        ("Inputs and parameters", {"fields": ["parameters", "input_key", "analysis_version", "forced"]}),
        (
            "Execution",
            {
                "fields": [
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "attempts",
                    "max_attempts",
                    "worker",
                    "scheduler",
                    "task_id",
                    "requested_by",
                ]
            },
        ),
        ("Log", {"fields": ["log"]}),
    ]

    def has_add_permission(self, request):
        return False  # jobs are started from a run's page, the API or `manage.py analyse_project`

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="analyses")
    def target(self, obj):
        return obj.run or obj.measurement

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, obj):
        return format_html(
            '<progress value="{}" max="100" title="{}"></progress> {}',
            round(100 * obj.progress),
            obj.progress_message,
            obj.progress_message,
        )

    @admin.display(description="duration")
    def duration(self, obj):
        return f"{obj.duration_s:.1f} s" if obj.duration_s is not None else "—"

    @admin.display(description="results")
    def results(self, obj):
        from django.urls import reverse

        for name in ("blinkinganalysis", "lifetimefit", "devicemetrics", "spectrumresult", "xrdresult"):
            result = getattr(obj, name, None)
            if result is not None:
                url = reverse(f"admin:results_{name}_change", args=[result.pk])
                return format_html('<a href="{}">{}</a>', url, result)
        return "—"

    # The services check the role (editor) and the freeze; a refusal is a message, never a 500.
    @admin.action(description="Run again (force a new result; the old one is kept)")
    def rerun(self, request, queryset):
        for job in queryset.select_related("project").prefetch_related("inputs__raw_file"):
            files = {i.role: i.raw_file for i in job.inputs.all()}
            try:
                new = job_submit(
                    kind=job.kind,
                    files=files,
                    parameters=job.parameters,
                    run=job.run,
                    measurement=job.measurement,
                    user=request.user,
                    force=True,
                )
            except (ValidationError, PermissionDenied, RecordNotFound) as exc:
                self.message_user(request, f"job {job.pk} not re-run: {_refusal(exc)}", messages.ERROR)
                continue
            self.message_user(request, f"job {new.pk} queued (re-run of {job.pk})")

    @admin.action(description="Cancel queued or running jobs")
    def cancel(self, request, queryset):
        n = 0
        for job in queryset.filter(status__in=ACTIVE).select_related("project"):
            try:
                job_cancel(job=job, user=request.user)
            except (ValidationError, PermissionDenied, RecordNotFound) as exc:
                self.message_user(request, f"job {job.pk} not cancelled: {_refusal(exc)}", messages.ERROR)
                continue
            n += 1
        self.message_user(request, f"cancelled {n} job(s)", messages.INFO)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """The job workers seen lately (read-only; superusers: worker names are host names)."""

    list_display = ["name", "started_at", "beat_at"]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
