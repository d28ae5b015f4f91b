"""Writes of the stored summaries (results are otherwise written by the job runners only).

:func:`particle_summary_write` and :func:`result_curve_write` are called by the runners inside the
job's result transaction, and by the backfill (:func:`labbook.jobs.backfill.results_summarise`,
``manage.py summarise_results``) for results made before the summaries existed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from labbook.results.models import BlinkingAnalysis, Particle, ParticleSummary, ResultCurve
from labbook.results.summaries import PARTICLE_STATS, SUMMARY_VERSION, summarise_particles

#: the Particle columns a summary is made from (raw floats: values_list skips the unit descriptors)
PARTICLE_COLUMNS = (
    "analysis_id", "pk", "index", *PARTICLE_STATS.values(), "trace_class", "subclass", "on_dwell_s", "off_dwell_s",
)  # fmt: skip


def population_fits(analysis: BlinkingAnalysis) -> dict:
    """The analysis' population ML fits as plain numbers (t_min from its payload)."""
    payload = analysis.payload or {}
    pop = payload.get("population", {}) if isinstance(payload, dict) else {}
    out = {}
    for which in ("on", "off"):
        mu = getattr(analysis, f"{which}_mu")
        out[which] = {
            "alpha": getattr(analysis, f"{which}_alpha"),
            "alpha_err": getattr(analysis, f"{which}_alpha_err"),
            "mu_per_s": None if mu is None else float(mu.to("1/s").magnitude),
            "t_min_s": (pop.get(which) or {}).get("t_min_s"),
            "n_events": getattr(analysis, f"{which}_n_events"),
        }
    return out


def particle_columns(analysis_ids: Iterable[int]) -> dict[int, dict[str, list]]:
    """Per analysis, its particles as the columns :func:`summarise_particles` takes (one query)."""
    columns: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    names = [n for n in PARTICLE_COLUMNS if n != "analysis_id"]
    out_names = ["pk", "index", *PARTICLE_STATS, "trace_class", "subclass", "on_dwell_s", "off_dwell_s"]
    rows = (
        Particle.objects.filter(analysis__in=list(analysis_ids))
        .order_by("analysis_id", "index")
        .values_list("analysis_id", *names)
    )
    for row in rows.iterator(chunk_size=5000):
        col = columns[row[0]]
        for name, value in zip(out_names, row[1:], strict=True):
            col[name].append(value)
    return {k: dict(v) for k, v in columns.items()}


def _empty_columns() -> dict[str, list]:
    return {
        n: []
        for n in ["pk", "index", *PARTICLE_STATS, "trace_class", "subclass", "on_dwell_s", "off_dwell_s"]
    }


def particle_summary_data(analysis: BlinkingAnalysis, columns: Mapping[str, list] | None) -> dict:
    """The fields of the analysis' ParticleSummary (not saved) from its particle columns."""
    bin_time = analysis.bin_time
    return summarise_particles(
        columns if columns is not None else _empty_columns(),
        bin_time_s=None if bin_time is None else float(bin_time.to("s").magnitude),
        population=population_fits(analysis),
    )


def summaries_from_rows(analysis_ids: list[int]) -> dict[int, dict]:
    """Summaries (not saved) of analyses that have none stored, from their particle rows: two
    queries, whatever their number; nothing when ``analysis_ids`` is empty."""
    if not analysis_ids:
        return {}
    columns = particle_columns(analysis_ids)
    return {
        a.pk: particle_summary_data(a, columns.get(a.pk))
        for a in BlinkingAnalysis.objects.filter(pk__in=analysis_ids)
    }


def particle_summary_write(
    *, analysis: BlinkingAnalysis, columns: Mapping[str, list] | None = None
) -> ParticleSummary:
    """Store the summary of ``analysis``' particles (given as columns, else read from its rows)."""
    if columns is None:
        columns = particle_columns([analysis.pk]).get(analysis.pk)
    data = particle_summary_data(analysis, columns)
    summary, _ = ParticleSummary.objects.update_or_create(
        analysis=analysis, defaults={**data, "format_version": SUMMARY_VERSION}
    )
    return summary


def result_curve_write(*, job, kind: str, data: dict, note: str = "") -> ResultCurve:
    """Store what a page draws of ``job``'s result (``data`` from :func:`summaries.curve_columns`)."""
    data = dict(data)
    n_raw = int(data.pop("n_points_raw", 0))
    curve, _ = ResultCurve.objects.update_or_create(
        job=job,
        defaults={
            "kind": kind,
            "data": data,
            "n_points_raw": n_raw,
            "format_version": SUMMARY_VERSION,
            "note": note,
        },
    )
    return curve


__all__ = [
    "summaries_from_rows",
    "particle_columns",
    "particle_summary_data",
    "particle_summary_write",
    "population_fits",
    "result_curve_write",
]
