"""The dashboard (with ``jobs_status``, the JSON its live job overview polls: ``pages/jobs.js``),
the treatment comparison, and the particle pages."""

from __future__ import annotations

import time

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labbook.jobs.models import ACTIVE, AnalysisJob
from labbook.jobs.selectors import (
    FAILED_DAYS,
    job_counts,
    job_error_readable,
    with_input_names,
    worker_text,
    workers_seen,
)
from labbook.notebook.models import NotebookEntry
from labbook.pages import comparison, plots
from labbook.pages.lists import filtered_list
from labbook.projects.selectors import visible
from labbook.results.filters import ParticleFilterSet
from labbook.results.models import ResultArtifact
from labbook.results.selectors import particles_visible
from labbook.synthesis.models import PostTreatment, Synthesis


def _job_overview(user) -> dict:
    """What the dashboard says of the analysis jobs: workers alive, counts, the active jobs."""
    jobs = visible(AnalysisJob, user).select_related("run", "measurement__device")
    seen = workers_seen()
    return {
        "jobs": jobs,
        "counts": job_counts(visible(AnalysisJob, user)),
        "workers_alive": seen["n_alive"],
        "worker_text": worker_text(seen, names=user.is_staff),
        "active_jobs": list(jobs.filter(status__in=ACTIVE).order_by("queued_at")[:20]),
    }


@login_required
def dashboard(request):
    user = request.user
    overview = _job_overview(user)
    recent = list(
        with_input_names(overview.pop("jobs").exclude(status__in=ACTIVE).order_by("-finished_at"))[:8]
    )
    for job in recent:
        job.error_shown = job_error_readable(job)
    return render(
        request,
        "pages/dashboard.html",
        {
            "entries": visible(NotebookEntry, user).select_related("author")[:6],
            "batches": visible(Synthesis, user).select_related("operator")[:8],
            "treatments": _treatments_shown(user),
            "recent_jobs": recent,
            "failed_days": FAILED_DAYS,
            **overview,
        },
    )


def _treatments_shown(user) -> list:
    """The latest treatments, a day's series in Cl:I order (0, 3.42, 8.55, 17.1 %), not code order."""
    from labbook.units import format_quantity

    treatments = list(
        visible(PostTreatment, user).select_related("batch").order_by("-date", "cl_to_i", "code")[:8]
    )
    for t in treatments:
        t.cl_shown = format_quantity(t.cl_to_i, "percent", digits=3) if t.cl_to_i is not None else "–"
    return treatments


def _job_target(job) -> tuple[str, str]:
    if job.run_id:
        return job.run.code, reverse("characterization:run-detail", args=[job.run_id])
    if job.measurement_id:
        return str(job.measurement), reverse("devices:device-detail", args=[job.measurement.device_id])
    return "", ""


@login_required
def jobs_status(request):
    """The dashboard's job overview as JSON (polled by ``pages/jobs.js``): whether a worker is alive,
    the counts of queued, running and failed jobs, and the active jobs' progress."""
    overview = _job_overview(request.user)
    active = []
    for job in overview["active_jobs"]:
        target, url = _job_target(job)
        active.append(
            {
                "id": job.pk,
                "kind_display": job.get_kind_display(),
                "status": job.status,
                "percent": round(100 * job.progress),
                "message": job.progress_message,
                "target": target,
                "url": url,
            }
        )
    body = {
        "workers_alive": overview["workers_alive"],
        "worker_text": overview["worker_text"],
        "counts": overview["counts"],
        "active_jobs": active,
    }
    return JsonResponse(body, headers={"Cache-Control": "no-store"})


def _summary_rows(series: list[dict]) -> list[dict]:
    """What the summary table shows, as plain values (cached with the figures)."""
    keep = (
        "treatment_id",
        "label",
        "short",
        "colour",
        "fits",
        "stats",
        "lifetime",
        "photocurrent",
        "n_analyses",
    )
    rows = []
    for s in series:
        t = s["treatment"]
        row = {k: s[k] for k in keep}
        row.update(
            code=t.code,
            nominal_cl_percent=t.nominal_cl_percent,
            cl_to_i_percent=None if t.cl_to_i is None else t.cl_to_i.to("percent").magnitude,
            ethanol_percent=None
            if t.solvent_fraction is None
            else t.solvent_fraction.to("percent").magnitude,
        )
        rows.append(row)
    return rows


@login_required
def compare(request):
    """Treatments side by side. ``?treatment=<id>&treatment=<id>...``; default the 0/3/9/17 % series.

    The figures are cached under a fingerprint of what they show (the treatments, the user's
    projects, the analysis jobs' completion); the page reports its server time, its number of SQL
    queries and whether it was drawn for this request."""
    user = request.user
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        choices = list(comparison.treatments_with_results(user).select_related("batch"))
        try:
            chosen = [int(x) for x in request.GET.getlist("treatment")]
        except ValueError:
            chosen = []
        chosen = [
            pk for pk in chosen if any(t.pk == pk for t in choices)
        ] or comparison.default_treatment_ids(user)
        key = comparison.fingerprint(user=user, treatment_ids=chosen)
        drawn = cache.get(key) if key else None
        cached = drawn is not None
        if drawn is None:
            data = comparison.comparison_data(user=user, treatment_ids=chosen)
            # the figures are drawn in the browser (pages/figures.js) from these specs
            specs = plots.comparison_specs(data) if data["treatments"] else None
            drawn = {
                "series": _summary_rows(data["series"]),
                "figures_json": plots.specs_json(specs, "compare-figures") if specs else "",
                "names": list(specs["figures"]) if specs else [],
                "pending": data.get("pending", []),
            }
            if key:
                cache.set(key, drawn, 600)
    elapsed = time.perf_counter() - start
    response = render(
        request,
        "pages/compare.html",
        {
            "choices": choices,
            "chosen": set(chosen),
            **drawn,
            "n_plots": len(drawn["names"]),
            "server_ms": 1000 * elapsed,
            "n_queries": len(queries),
            "cached": cached,
        },
    )
    response["Server-Timing"] = f"app;dur={1000 * elapsed:.1f}"
    response["X-Query-Count"] = str(len(queries))
    response["X-Figures-Cached"] = "1" if cached else "0"
    return response


def _class_label(p) -> str:
    return p.trace_class + (f" ({p.subclass})" if p.subclass else "")


@login_required
def particle_list(request):
    from labbook.units import format_quantity

    qs = particles_visible(request.user).select_related("analysis__run__sample__treatment")
    return filtered_list(
        request,
        title="Particles",
        filterset_class=ParticleFilterSet,
        queryset=qs.defer("on_dwell_s", "off_dwell_s"),
        quick=[
            "trace_class",
            "edge__lt",
            "edge__gte",
            "treatment_nominal_cl",
            "alpha_on__gte",
            "alpha_on__lte",
        ],
        columns=[
            "particle",
            "run",
            "treatment",
            "class",
            "edge",
            "α_on",
            "α_off",
            "fraction ON",
            "correlation",
        ],
        row=lambda p: (
            reverse("pages:particle-detail", args=[p.pk]),
            [
                f"#{p.index}",
                p.analysis.run.code,
                p.analysis.run.sample.treatment or "untreated",
                _class_label(p),
                "" if p.edge is None else format_quantity(p.edge, "um", digits=3),
                plots._fmt(p.alpha_on),
                plots._fmt(p.alpha_off),
                plots._fmt(p.fraction_on),
                plots._fmt(p.correlation_mean, 3),
            ],
        ),
    )


@login_required
def particle_detail(request, pk: int):
    import numpy as np

    p = get_object_or_404(particles_visible(request.user).select_related("analysis__job"), pk=pk)
    analysis = p.analysis
    artifacts = {
        a.name: a
        for a in ResultArtifact.objects.filter(
            job=analysis.job_id, name__in=["traces", "states", "correlation_map"]
        )
    }
    bin_time_s = float(analysis.bin_time.to("s").magnitude)
    method = (analysis.parameters or {}).get("method", "threshold")
    figure = None
    if "traces" in artifacts:
        traces = artifacts["traces"].load()
        trace = np.asarray(traces[:, p.index - 1], dtype=float)
        states = None  # the job's own ON/OFF path; analyses made before it was stored have none
        if "states" in artifacts:
            packed = artifacts["states"].load()
            states = np.unpackbits(packed[:, p.index - 1], count=trace.size).astype(bool)
        corr = artifacts["correlation_map"].load() if "correlation_map" in artifacts else None
        figure = plots.particle_layout(
            particle=p, trace=trace, states=states, bin_time_s=bin_time_s, corr_map=corr, method=method
        )
    fmt = plots._fmt
    rows = [
        ("class", _class_label(p)),
        ("edge length", "–" if p.edge is None else f"{p.edge.to('um').magnitude:.3g} µm"),
        ("centroid (y, x)", f"{p.centroid_y_px:.1f}, {p.centroid_x_px:.1f} px"),
        ("threshold", f"{fmt(p.threshold, 1)} counts/frame"),
        ("fraction ON", fmt(p.fraction_on)),
        (
            "mean ON / OFF time",
            f"{fmt(p.mean_on and p.mean_on.to('s').magnitude)} s / {fmt(p.mean_off and p.mean_off.to('s').magnitude)} s",
        ),
        (
            "α_on",
            f"{fmt(p.alpha_on)} ± {fmt(p.alpha_on_err)}  (μ_on {fmt(p.mu_on and p.mu_on.to('1/s').magnitude, 3)} 1/s, {p.n_on} ON dwells)",
        ),
        (
            "α_off",
            f"{fmt(p.alpha_off)} ± {fmt(p.alpha_off_err)}  (μ_off {fmt(p.mu_off and p.mu_off.to('1/s').magnitude, 3)} 1/s, {p.n_off} OFF dwells)",
        ),
        ("mean correlation r", fmt(p.correlation_mean, 3)),
        ("bin time", f"{bin_time_s * 1e3:g} ms"),
    ]
    return render(
        request,
        "pages/particle_detail.html",
        {
            "p": p,
            "run": analysis.run,
            "rows": rows,
            "plot": plots.embed(figure) if figure is not None else None,
        },
    )
