"""The archives page: export a project you administer as .eln, import one as a new project, follow
the jobs (progress, then a download link). Thin adapters over :mod:`labbook.archives.jobs`, which
decides who may: a refusal is the same here as in the admin and the API (not a member of the
project: 404; a role too low, or not allowed to create projects: 403 with the reason)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from labbook.archives import jobs
from labbook.archives.models import ArchiveJob
from labbook.jobs.services import workers_alive
from labbook.projects.models import ROLE_RANK, Project, Role
from labbook.projects.permissions import RecordNotFound
from labbook.projects.selectors import projects_for, role_in


def _index(request, *, status: int = 200, error: str = "", import_errors: dict | None = None):
    user = request.user
    projects = [{"project": p, "role": role_in(user, p)} for p in projects_for(user).order_by("name")]
    for row in projects:
        row["can_export"] = ROLE_RANK[Role(row["role"])] >= ROLE_RANK[Role.ADMIN]
    archive_jobs = list(jobs.archive_jobs_for(user)[:50])
    return render(
        request,
        "archives/index.html",
        {
            "projects": projects,
            "archive_jobs": archive_jobs,
            "any_active": any(job.is_active for job in archive_jobs),
            "may_import": jobs.may_create_projects(user),
            "error": error,
            "import_errors": import_errors or {},
            "workers_alive": workers_alive(),
        },
        status=status,
    )


@login_required
def archive_index(request):
    return _index(request)


def _refusal(request, exc: Exception):
    if isinstance(exc, RecordNotFound):
        raise Http404("no such project")
    return _index(request, status=403, error=str(exc))


@login_required
@require_POST
def archive_export(request, pk: int):
    project = Project.objects.filter(pk=pk).first()
    if project is None:
        raise Http404("no such project")
    try:
        job, created = jobs.archive_export_submit(user=request.user, project=project)
    except (RecordNotFound, PermissionDenied) as exc:
        return _refusal(request, exc)
    if not created:
        messages.info(request, f"an export of {project} is already {job.status}; here it is")
    return redirect("archives:job", job.pk)


@login_required
@require_POST
def archive_import(request):
    try:
        job = jobs.archive_import_submit(
            user=request.user, upload=request.FILES.get("file"), slug=request.POST.get("slug", "")
        )
    except PermissionDenied as exc:
        return _refusal(request, exc)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"file": exc.messages}
        status = 413 if "larger than the limit" in " ".join(exc.messages) else 400
        return _index(request, status=status, import_errors=errors)
    return redirect("archives:job", job.pk)


@login_required
def archive_job(request, pk: int):
    job = get_object_or_404(jobs.archive_jobs_for(request.user), pk=pk)
    eln_import = job.imported_project.eln_imports.first() if job.imported_project else None
    return render(
        request,
        "archives/job.html",
        {"job": job, "eln_import": eln_import, "workers_alive": workers_alive()},
    )


@login_required
def archive_job_download(request, pk: int):
    job = get_object_or_404(ArchiveJob, pk=pk)
    try:
        path, name = jobs.archive_job_download(user=request.user, job=job)
    except RecordNotFound:
        raise Http404("no such archive job") from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("archives:job", job.pk)
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="application/zip")
