"""Run pages: list, a run with its files, jobs and results; attach raw files; start an analysis.

``run_jobs`` is the small JSON the run page polls (``static/pages/jobs.js``) while an analysis is
queued or running, so its progress moves without a reload and, once done, its results are linked.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labbook.characterization.filters import RunFilterSet
from labbook.characterization.models import CharacterizationRun
from labbook.files.services import raw_files_attach, raw_files_attach_check
from labbook.jobs.models import ACTIVE
from labbook.jobs.selectors import job_error_readable, with_input_names
from labbook.jobs.services import TECHNIQUE_KINDS, job_submit_natural, workers_alive
from labbook.pages.characterization.forms import AnalyseForm, AttachFilesForm
from labbook.pages.lists import filtered_list
from labbook.projects.models import ProjectFrozen, Role
from labbook.projects.permissions import can_edit, require_role
from labbook.projects.selectors import visible


def _runs(user):
    return visible(CharacterizationRun, user).select_related("project", "sample__treatment", "sample__batch")


@login_required
def run_list(request):
    return filtered_list(
        request,
        title="Characterisation runs",
        filterset_class=RunFilterSet,
        queryset=_runs(request.user),
        quick=["q", "technique", "treatment_nominal_cl", "date__gte", "has_results"],
        columns=["code", "technique", "sample", "treatment", "date", "instrument"],
        row=lambda r: (
            reverse("characterization:run-detail", args=[r.pk]),
            [
                r.code,
                r.get_technique_display(),
                r.sample,
                r.sample.treatment or "untreated",
                r.date,
                r.instrument,
            ],
        ),
    )


def _as_entered(value) -> str:
    """An extra setting as written for people, in the unit it was entered in ("295 K" stays 295 K,
    "1.9e14 1/cm^2" reads "1.9 × 10¹⁴ 1/cm²"); text that is not a quantity is shown as it is."""
    from labbook.units import format_quantity, parse_as_entered

    if isinstance(value, str):
        try:
            return format_quantity(parse_as_entered(value, name="setting"))
        except ValidationError:
            pass
    return str(value)


def _settings(run: CharacterizationRun) -> list[tuple[str, str]]:
    from labbook.units import format_quantity

    out = []
    for field in CharacterizationRun._meta.concrete_fields:
        value = getattr(run, field.name)
        if hasattr(field, "unit") and value is not None:
            out.append((field.verbose_name, format_quantity(value, field.unit)))
        elif field.name in ("frame_count", "emission_band", "scan_range") and value:
            out.append((field.verbose_name, value))
    out += [(k, _as_entered(v)) for k, v in (run.extra_settings or {}).items()]
    return out


@login_required
def run_detail(request, pk: int):
    from labbook.pages import plots

    run = get_object_or_404(_runs(request.user), pk=pk)
    jobs = _jobs(run)
    blinking = run.blinking_analyses.select_related("job").first()
    results = {
        "blinking": blinking,
        "particles": blinking.particles.order_by("index") if blinking else [],
        "lifetime": run.lifetime_fits.first(),
        "spectra": list(run.spectrum_results.all()),
        "xrd": run.xrd_results.first(),
    }
    plot = None
    try:
        plot = plots.run_figure(run, results)
    except Exception as exc:  # a curve that cannot be drawn must not hide the run's page
        messages.warning(request, f"could not draw the data: {exc}")
    return render(
        request,
        "characterization/run_detail.html",
        {
            "run": run,
            "settings_rows": _settings(run),
            "files": run.raw_files.all(),
            "jobs": jobs,
            "jobs_active": any(j.status in ACTIVE for j in jobs),
            "results": results,
            "plot": plots.embed(plot) if plot is not None else None,
            "workers_alive": workers_alive(),
            "can_edit": can_edit(request.user, run),  # viewers and frozen projects: no write buttons
            "attach_form": AttachFilesForm(),
            "analyse_form": AnalyseForm(),
            "analysable": run.technique in TECHNIQUE_KINDS,
            "entries": run.entries.all()[:20],
        },
    )


#: jobs listed on a run's page (newest first)
JOBS_SHOWN = 50


def _jobs(run) -> list:
    """The run's latest jobs, each with its error naming files (``error_shown``) and, once done,
    the links to its results (``result_links``)."""
    from labbook.results.models import BlinkingAnalysis

    jobs = list(with_input_names(run.jobs.order_by("-queued_at"))[:JOBS_SHOWN])
    analyses = {
        job_id: (a_pk, n)
        for job_id, a_pk, n in BlinkingAnalysis.objects.filter(run=run).values_list(
            "job_id", "pk", "n_particles"
        )
    }
    for job in jobs:
        job.error_shown = job_error_readable(job)
        job.result_links = _result_links(run, job, analyses)
    return jobs


def _result_links(run, job, analyses: dict[int, tuple[int, int]]) -> list[dict]:
    """Where a finished job's results are: this page's results (a new load of it: the page that
    watched the job run has not drawn them), its particles, the job in the API."""
    if job.status != "succeeded":
        return []
    links = [
        {
            "label": "results on this page",
            "url": f"{reverse('characterization:run-detail', args=[run.pk])}?job={job.pk}#results",
        }
    ]
    if job.pk in analyses:
        analysis_pk, n = analyses[job.pk]
        links.append(
            {"label": f"{n} particles", "url": f"{reverse('pages:particle-list')}?analysis={analysis_pk}"}
        )
    links.append({"label": "job in the API", "url": reverse("api:job-detail", args=[job.pk])})
    return links


@login_required
def run_jobs(request, pk: int):
    """The run's analysis jobs as JSON for the page's live progress (``pages/jobs.js``): status,
    progress, message, the error naming the file, and links to the results once done."""
    run = get_object_or_404(_runs(request.user), pk=pk)
    jobs = _jobs(run)
    body = {
        "run": run.pk,
        "active": any(j.status in ACTIVE for j in jobs),
        "workers_alive": workers_alive(),
        "jobs": [
            {
                "id": job.pk,
                "kind": job.kind,
                "kind_display": job.get_kind_display(),
                "status": job.status,
                "progress": round(job.progress, 4),
                "percent": round(100 * job.progress),
                "message": job.progress_message,
                "error": job.error_shown,
                "finished_at": job.finished_at.strftime("%Y-%m-%d %H:%M") if job.finished_at else "",
                "results": job.result_links,
            }
            for job in jobs
        ],
    }
    return JsonResponse(body, headers={"Cache-Control": "no-store"})


def _submit(request, run, *, force: bool = False) -> None:
    try:
        job = job_submit_natural(target=run, user=request.user, force=force)
    except ValidationError as exc:
        messages.error(request, "analysis not started: " + "; ".join(exc.messages))
        return
    messages.success(request, f"analysis job {job.pk} ({job.get_kind_display()}): {job.status}")


@login_required
@require_POST
def run_attach(request, pk: int):
    run = get_object_or_404(_runs(request.user), pk=pk)
    try:  # refused before the upload is read: viewers 403, a frozen project 403 with the reason
        raw_files_attach_check(user=request.user, target=run)
    except ProjectFrozen as exc:
        raise PermissionDenied(" ".join(exc.messages)) from None
    form = AttachFilesForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, "; ".join(errors))
        return redirect("characterization:run-detail", pk=run.pk)
    try:
        stored = raw_files_attach(
            user=request.user,
            target=run,
            files=form.cleaned_data["upload"],
            reason="attached on the run page",
        )
    except ValidationError as exc:
        messages.error(request, "nothing was stored: " + "; ".join(exc.messages))
        return redirect("characterization:run-detail", pk=run.pk)
    messages.success(request, "stored " + ", ".join(r.original_name for r in stored))
    if form.cleaned_data.get("analyse"):
        _submit(request, run)
    return redirect("characterization:run-detail", pk=run.pk)


@login_required
@require_POST
def run_analyse(request, pk: int):
    run = get_object_or_404(_runs(request.user), pk=pk)
    require_role(request.user, run.project, Role.EDITOR)  # RoleRequired: a 403 for viewers
    form = AnalyseForm(request.POST)
    _submit(request, run, force=form.is_valid() and form.cleaned_data["force"])
    return redirect("characterization:run-detail", pk=run.pk)
