"""Reads of analysis results, and the treatment comparison the API and the Bokeh pages share.

:func:`treatment_comparison` groups results by treatment (or by any sample/batch/treatment field)
and returns per group: particle counts, mean / median / 95 % confidence interval of alpha_on,
alpha_off, mean ON and OFF times, fraction ON and mean correlation; class shares; the per-movie
population fits; TRPL average lifetimes; device photocurrent and response times.

The particle statistics come from the stored per-analysis summaries (one row per analysis, see
:mod:`labbook.results.summaries`), so their cost grows with the number of analyses, not of
particles: counts, means, standard deviations and class counts are exact; a median is exact when
one analysis holds the group's values and otherwise that of the mixture of the analyses' stored
quantiles, between the pooled values' exact 46.9th and 53.1st percentiles (``median_exact`` says
which). Analyses without a stored summary (made before summaries
existed, not yet backfilled) are summarised from their particle rows in the request. With a
particle filter (``particles=``) the statistics are aggregated from the filtered particle rows
in the database instead (one grouped query; medians by PostgreSQL's percentile_cont, on SQLite in
Python). Population fits, lifetimes and devices are one grouped query each over their result rows.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from statistics import median

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Aggregate, Avg, Case, CharField, Count, F, FloatField, QuerySet, When

from labbook.projects.selectors import visible
from labbook.results.models import BlinkingAnalysis, DeviceMetrics, LifetimeFit, Particle
from labbook.results.summaries import (
    CLASSES,
    PARTICLE_STATS,
    SUMMARY_FIELDS,
    SUMMARY_VERSION,
    merge_matrix,
    pool_groups,
)

log = logging.getLogger(__name__)

#: group_by choices: name -> path from a Sample
GROUPS = {
    "treatment": "treatment",
    "nominal_cl_percent": "treatment__nominal_cl_percent",
    "cl_to_i": "treatment__cl_to_i",
    "stock": "treatment__stock",
    "batch": "batch",
    "batch_date": "batch__date",
    "treatment_date": "treatment__date",
    "operator": "treatment__operator__username",
    "sample_kind": "kind",
}


class Median(Aggregate):
    """percentile_cont(0.5) (PostgreSQL)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def particles_visible(user) -> QuerySet[Particle]:
    return visible(Particle, user).select_related(
        "analysis__run__sample__treatment", "analysis__run__sample__batch"
    )


def _summary(mean, sd, n, med, *, median_exact: bool = True) -> dict:
    """mean, median and the normal-approximation 95 % CI of the mean (mean +/- 1.96 sd / sqrt(n))."""
    if not n:
        return {"n": 0, "mean": None, "median": None, "median_exact": True, "ci_low": None, "ci_high": None}
    half = 1.96 * sd / math.sqrt(n) if sd is not None and n > 1 else None
    return {
        "n": n,
        "mean": mean,
        "median": med,
        "median_exact": median_exact,
        "sd": sd,
        "ci_low": None if half is None else mean - half,
        "ci_high": None if half is None else mean + half,
    }


def _sd(mean, mean_sq, n):
    """Sample standard deviation from E[x] and E[x^2] (portable: SQLite has no STDDEV)."""
    if mean is None or mean_sq is None or not n or n < 2:
        return None
    return math.sqrt(max(0.0, (mean_sq - mean * mean) * n / (n - 1)))


def _group_path(group_by: str) -> str:
    if group_by not in GROUPS:
        raise ValidationError({"group_by": f"{group_by!r}: group by one of {', '.join(GROUPS)}"})
    return GROUPS[group_by]


def _summaries_by_group(*, user, path: str, treatment_ids) -> dict:
    """Group key -> pooled particle statistics of the visible analyses in it: one query for the
    analyses' stored merge vectors (analyses without a stored summary are summarised from their
    particle rows, two more queries), then numpy over all of them at once."""
    from labbook.results.services import summaries_from_rows

    key = f"run__sample__{path}"
    qs = visible(BlinkingAnalysis, user)
    if treatment_ids is not None:
        qs = qs.filter(run__sample__treatment__in=treatment_ids)
    keys, blobs, missing = [], [], {}
    for pk, k, version, blob in qs.order_by().values_list(
        "pk", key, "summary__format_version", "summary__merge"
    ):
        if version == SUMMARY_VERSION:
            keys.append(k)
            blobs.append(blob)
        else:
            missing[pk] = k
    if missing:
        log.warning(
            "%d blinking analyses have no stored summary and were summarised from their particle rows: "
            "run manage.py summarise_results",
            len(missing),
        )
    for pk, data in summaries_from_rows(list(missing)).items():
        keys.append(missing[pk])
        blobs.append(data["merge"])
    index: dict = {}
    codes = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.intp)
    pooled = pool_groups(merge_matrix(blobs), codes, len(index))
    return {k: pooled[i] for k, i in index.items()}


def _pooled_particles(group: dict) -> dict:
    """The API's particle statistics of a group ({} when it has no particle)."""
    if not group["n"]:
        return {}
    stats: dict = {"n": group["n"]}
    for name in PARTICLE_STATS:
        c = group["stats"][name]
        stats[name] = _summary(c["mean"], c["sd"], c["n"], c["median"], median_exact=c["median_exact"])
    counts = group["class_counts"]
    total = sum(counts.values())
    stats["classes"] = {k: v / total for k, v in counts.items()} if total else {}
    stats["class_counts"] = counts
    return stats


def _particles_from_rows(groups: dict, *, user, path: str, particles, treatment_ids) -> None:
    """The particle statistics of a filtered particle queryset, aggregated in the database."""
    pkey = f"analysis__run__sample__{path}"
    qs = particles.filter(project__in=visible(BlinkingAnalysis, user).values("project"))
    if treatment_ids is not None:
        qs = qs.filter(analysis__run__sample__treatment__in=treatment_ids)
    pg = connection.vendor == "postgresql"

    # particle statistics: one grouped query
    aggs = {"n": Count("id")}
    for name, field in PARTICLE_STATS.items():
        aggs[f"{name}__mean"] = Avg(field)
        aggs[f"{name}__sq"] = Avg(F(field) * F(field))
        aggs[f"{name}__n"] = Count(field)
        if pg:
            aggs[f"{name}__median"] = Median(field)
    rows = qs.order_by().values(pkey).annotate(**aggs)
    medians: dict = {}
    if not pg:  # SQLite: medians from the values, one pass
        values = defaultdict(lambda: defaultdict(list))
        for row in qs.order_by().values_list(pkey, *PARTICLE_STATS.values()).iterator(chunk_size=5000):
            for name, v in zip(PARTICLE_STATS, row[1:], strict=True):
                if v is not None:
                    values[row[0]][name].append(v)
        medians = {k: {name: median(vs) for name, vs in d.items()} for k, d in values.items()}
    for row in rows:
        key = row[pkey]
        stats = {"n": row["n"]}
        for name in PARTICLE_STATS:
            med = row.get(f"{name}__median") if pg else medians.get(key, {}).get(name)
            stats[name] = _summary(
                row[f"{name}__mean"],
                _sd(row[f"{name}__mean"], row[f"{name}__sq"], row[f"{name}__n"]),
                row[f"{name}__n"],
                med,
            )
        groups[key]["particles"] = stats

    # class shares: one grouped query
    class_rows = qs.order_by().values(pkey, "trace_class", "subclass").annotate(n=Count("id"))
    counts: dict = defaultdict(lambda: dict.fromkeys(CLASSES, 0))
    for row in class_rows:
        label = (
            row["trace_class"]
            if row["trace_class"] != "qTSB"
            else f"qTSB/{row['subclass'] or 'intermediate'}"
        )
        counts[row[pkey]][label] = counts[row[pkey]].get(label, 0) + row["n"]
    for key, c in counts.items():
        total = sum(c.values())
        groups[key]["particles"]["classes"] = {k: v / total for k, v in c.items()} if total else {}
        groups[key]["particles"]["class_counts"] = c


#: what the pages draw of a summary (blinking_summaries loads these only)
PLOT_FIELDS = ("n_particles", "bin_time_s", "class_counts", "dwells", "fits", "points")


def blinking_summaries(*, user, treatment_ids: list[int] | None = None, analyses=None) -> list[dict]:
    """The blinking analyses (of ``treatment_ids``, or the given ``analyses`` queryset) the user may
    see, each with its particle summary: ``{"analysis", "treatment_id", "summary", "stored"}``.

    One query when every summary is stored; ``stored`` is False for an analysis summarised from its
    particle rows in this call (it has none stored yet: ``manage.py summarise_results``)."""
    from labbook.results.services import summaries_from_rows

    qs = analyses if analyses is not None else visible(BlinkingAnalysis, user)
    if treatment_ids is not None:
        qs = qs.filter(run__sample__treatment__in=treatment_ids)
    rows = list(
        qs.defer("payload", *(f"summary__{f}" for f in SUMMARY_FIELDS if f not in PLOT_FIELDS))
        .select_related("summary", "run__sample")
        .order_by("pk")
    )
    out, missing = [], []
    for a in rows:
        s = getattr(a, "summary", None) if _has_summary(a) else None
        entry = {"analysis": a, "treatment_id": a.run.sample.treatment_id, "summary": None, "stored": False}
        if s is not None and s.format_version == SUMMARY_VERSION:
            entry.update(summary={f: getattr(s, f) for f in PLOT_FIELDS}, stored=True)
        else:
            missing.append(a.pk)
        out.append(entry)
    computed = summaries_from_rows(missing)
    for entry in out:
        if entry["summary"] is None:
            entry["summary"] = computed.get(entry["analysis"].pk)
    return out


def _has_summary(analysis) -> bool:
    from django.core.exceptions import ObjectDoesNotExist

    try:
        analysis.summary  # noqa: B018 - select_related filled it, or it does not exist
    except ObjectDoesNotExist:
        return False
    return True


def treatment_comparison(
    *,
    user,
    group_by: str = "treatment",
    particles: QuerySet[Particle] | None = None,
    treatment_ids: list[int] | None = None,
) -> list[dict]:
    """Results grouped by ``group_by`` (see GROUPS), for what ``user`` may see.

    ``particles`` narrows the particle statistics (e.g. a filtered queryset: "under 1 um");
    ``treatment_ids`` limits every kind of result to those treatments. Groups are ordered by their
    key; untreated samples form the group with key None.
    """
    path = _group_path(group_by)
    groups: dict = defaultdict(lambda: {"particles": {}, "population": {}, "lifetime": {}, "device": {}})
    if particles is None:
        for key, group in _summaries_by_group(user=user, path=path, treatment_ids=treatment_ids).items():
            stats = _pooled_particles(group)
            if stats:
                groups[key]["particles"] = stats
    else:
        _particles_from_rows(groups, user=user, path=path, particles=particles, treatment_ids=treatment_ids)

    # per-movie population fits
    analyses = visible(BlinkingAnalysis, user)
    lifetimes = visible(LifetimeFit, user)
    devices = visible(DeviceMetrics, user).filter(measurement__kind="photoresponse")
    if treatment_ids is not None:
        analyses = analyses.filter(run__sample__treatment__in=treatment_ids)
        lifetimes = lifetimes.filter(run__sample__treatment__in=treatment_ids)
        devices = devices.filter(measurement__device__samples__treatment__in=treatment_ids)
    for row in (
        analyses.order_by()
        .values(key := f"run__sample__{path}")
        .annotate(
            n=Count("id"),
            on_a=Avg("on_alpha"),
            on_a_sq=Avg(F("on_alpha") * F("on_alpha")),
            off_a=Avg("off_alpha"),
            off_a_sq=Avg(F("off_alpha") * F("off_alpha")),
            corr=Avg("correlation_mean"),
        )
    ):
        groups[row[key]]["population"] = {
            "n_analyses": row["n"],
            "on_alpha": _summary(row["on_a"], _sd(row["on_a"], row["on_a_sq"], row["n"]), row["n"], None),
            "off_alpha": _summary(row["off_a"], _sd(row["off_a"], row["off_a_sq"], row["n"]), row["n"], None),
            "correlation_mean": row["corr"],
        }
    for row in (
        lifetimes.order_by()
        .values(key)
        .annotate(
            n=Count("id"),
            tau_avg_amp_ns=Avg("tau_avg_amp"),
            tau_avg_int_ns=Avg("tau_avg_int"),
            tau_long_ns=Avg("tau_long"),
            a_long=Avg("amplitude_long"),
            chi2=Avg("chi2_red"),
        )
    ):
        groups[row[key]]["lifetime"] = {
            "n": row["n"],
            "tau_avg_amp_ns": row["tau_avg_amp_ns"],
            "tau_avg_int_ns": row["tau_avg_int_ns"],
            "tau_long_ns": row["tau_long_ns"],
            "amplitude_long": row["a_long"],
            "chi2_red": row["chi2"],
        }
    dkey = f"measurement__device__samples__{path}"
    for row in (
        devices.order_by()
        .values(dkey)
        .annotate(
            n=Count("id", distinct=True),
            photocurrent_A=Avg("photocurrent"),
            dark_current_A=Avg("dark_current"),
            on_off=Avg("on_off_ratio"),
            rise_time_s=Avg("rise_time"),
            fall_time_s=Avg("fall_time"),
            responsivity_A_per_W=Avg("responsivity"),
        )
    ):
        device = {k: v for k, v in row.items() if k not in (dkey, "on_off")}
        groups[row[dkey]]["device"] = {**device, "on_off_ratio": row["on_off"]}

    labels = _labels(group_by, [k for k in groups if k is not None])
    out = []
    for key in sorted(groups, key=lambda k: (k is None, labels.get(k, {}).get("sort", 0), str(k))):
        entry = {
            "group": {
                "by": group_by,
                "key": key,
                **labels.get(key, {"label": "untreated" if key is None else str(key)}),
            }
        }
        entry["group"].pop("sort", None)
        entry.update(groups[key])
        out.append(entry)
    return out


def _csv_columns() -> list[tuple[str, str]]:
    """(header, value path) of the particle CSV: ids and lineage first, then every measured column,
    the header naming each column's unit."""
    from labbook.units import QuantityField

    units = {"centroid_y_px": "px", "centroid_x_px": "px", "area_px": "px", "threshold": "counts/frame"}
    cols = [("id", "pk"), ("analysis", "analysis_id"), ("run", "analysis__run__code"),
            ("treatment", "analysis__run__sample__treatment__code"), ("index", "index")]  # fmt: skip
    skip = {"id", "project", "created_at", "modified_at", "created_by", "version", "analysis", "index",
            "on_dwell_s", "off_dwell_s"}  # fmt: skip
    for field in Particle._meta.concrete_fields:
        if field.name in skip:
            continue
        unit = field.unit if isinstance(field, QuantityField) else units.get(field.name)
        name = field.name.removesuffix("_px") if field.name in units and unit == "px" else field.name
        cols.append((f"{name} ({unit})" if unit else name, field.attname))
    return cols


#: the text columns of the particle CSV: codes and labels that people type
_CSV_TEXT = ("analysis__run__code", "analysis__run__sample__treatment__code")
#: what a spreadsheet takes for the start of a formula (OWASP "CSV injection")
_FORMULA_START = r"^[=+@\t\r-]"


def _csv_name(path: str) -> str:
    return f"csv_{path}" if path in _CSV_TEXT else path


def _csv_safe(columns) -> dict:
    """Text columns with a leading ``'`` where the text would start a spreadsheet formula: a batch
    code like ``=HYPERLINK(...)``, typed by one member, must not run in another's Excel."""
    from django.db.models import Value
    from django.db.models.functions import Concat

    paths = {path for _, path in columns}
    return {
        _csv_name(path): Case(
            When(**{f"{path}__regex": _FORMULA_START}, then=Concat(Value("'"), F(path))),
            default=F(path),
            output_field=CharField(),
        )
        for path in _CSV_TEXT
        if path in paths
    }


def particles_csv(particles: QuerySet[Particle], *, chunk_rows: int = 5000):
    """The rows of ``particles`` (already filtered and ordered) as CSV text, streamed in chunks and
    never held in memory: on PostgreSQL by ``COPY (SELECT ...) TO STDOUT`` (the server writes the
    CSV), elsewhere through a server-side iterator and Python's csv writer. The first line names
    every column with its unit; an empty field is a missing value."""
    import csv
    import io

    columns = _csv_columns()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([h for h, _ in columns])
    yield out.getvalue()
    values = particles.annotate(**_csv_safe(columns)).values_list(*(_csv_name(path) for _, path in columns))
    if connection.vendor == "postgresql":
        sql, params = values.query.sql_with_params()
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for block in copy:
                    yield bytes(block)
        return
    rows = values.iterator(chunk_size=chunk_rows)
    while True:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        n = 0
        for row in rows:
            writer.writerow(row)
            n += 1
            if n == chunk_rows:
                break
        if not n:
            return
        yield out.getvalue()


def _labels(group_by: str, keys: list) -> dict:
    """Human labels (and a sort key) for group keys: treatments by their Cl:I, batches by code."""
    from labbook.synthesis.models import PostTreatment, Synthesis

    if group_by == "treatment":
        # plain values, not model instances: cl_to_i and solvent_fraction are stored in percent, and
        # building pint quantities for thousands of treatments would cost more than the aggregates
        assert PostTreatment._meta.get_field("cl_to_i").unit == "percent"
        assert PostTreatment._meta.get_field("solvent_fraction").unit == "percent"
        rows = PostTreatment.objects.filter(pk__in=keys).values_list(
            "pk", "code", "cl_to_i", "nominal_cl_percent", "solvent_fraction"
        )
        return {
            pk: {
                "label": code,
                "sort": cl_to_i if cl_to_i is not None else 0,
                "cl_to_i_percent": cl_to_i,
                "nominal_cl_percent": nominal,
                "ethanol_fraction_percent": fraction,
            }
            for pk, code, cl_to_i, nominal, fraction in rows
        }
    if group_by == "batch":
        rows = Synthesis.objects.filter(pk__in=keys).values_list("pk", "code")
        return {pk: {"label": code} for pk, code in rows}
    if group_by == "nominal_cl_percent":
        return {k: {"label": f"{k:g} % Cl", "sort": k} for k in keys}
    return {k: {"label": str(k)} for k in keys}


__all__ = [
    "treatment_comparison",
    "blinking_summaries",
    "particles_csv",
    "particles_visible",
    "GROUPS",
    "CLASSES",
    "PARTICLE_STATS",
]
