"""The backfill of what pages and comparisons read, for results made before the jobs stored it.

Particle summaries come from the particle rows; curves from the raw files, through each runner's own
``curve`` (the same call, and for TRPL the same fit, the job makes). ``manage.py summarise_results``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from labbook.jobs import runners
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.results.models import BlinkingAnalysis
from labbook.results.services import particle_summary_write, result_curve_write
from labbook.results.summaries import SUMMARY_VERSION


def results_summarise(
    *,
    force: bool = False,
    project=None,
    log: Callable[[str], None] = lambda line: None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Compute the summaries that results lack (all of them with ``force``): particle summaries from
    the particle rows, curves from the raw files, each by the code the jobs use. Each result is
    written in its own transaction, so an interrupted run keeps what it did; a raw file that cannot
    be read is reported and its curve stays "not computed yet". Returns counts of what was done."""
    done = {"particle_summaries": 0, "curves": 0, "curves_failed": 0, "curves_without_data": 0}
    analyses = BlinkingAnalysis.objects.all()
    jobs = AnalysisJob.objects.filter(status=JobStatus.SUCCEEDED).exclude(kind="blinking")
    if project is not None:
        analyses, jobs = analyses.filter(project=project), jobs.filter(project=project)
    if not force:
        analyses = analyses.exclude(summary__format_version=SUMMARY_VERSION)
        jobs = jobs.exclude(curve__format_version=SUMMARY_VERSION)
    for analysis in analyses.order_by("pk").iterator(chunk_size=100):
        with transaction.atomic():
            particle_summary_write(analysis=analysis)
        done["particle_summaries"] += 1
        log(f"particle summary of blinking analysis {analysis.pk} ({analysis.n_particles} particles)")
    for job in jobs.order_by("pk").prefetch_related("inputs__raw_file").iterator(chunk_size=100):
        runner = runners.RUNNERS[job.kind]
        try:
            with runners.local_inputs(job) as paths:
                lacking = [role for role in runner.required_roles if role not in paths]
                curve = None if lacking else runner.curve(paths, job.parameters)
        except runners.INPUT_ERRORS as exc:  # a missing or unreadable file: reported, the others go on
            done["curves_failed"] += 1
            (warn or log)(f"job {job.pk} ({job.kind}): curve not computed: {type(exc).__name__}: {exc}")
            continue
        if curve is None:
            done["curves_without_data"] += 1
            log(f"job {job.pk} ({job.kind}): nothing to draw")
            continue
        kind, data = curve
        with transaction.atomic():
            result_curve_write(
                job=job,
                kind=kind,
                data=data,
                note=f"from the raw files by summarise_results (analysis {runners.analysis_version()})",
            )
        done["curves"] += 1
        log(f"job {job.pk} ({job.kind}): {kind} curve of {data.get('n_points_raw', '?')} points")
    return done
