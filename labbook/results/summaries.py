"""What pages and comparison queries read, computed once when a job writes its results.

Two stored summaries (models in :mod:`labbook.results.models`):

* a :class:`~labbook.results.models.ParticleSummary` per blinking analysis: for each particle column
  the count, mean, sum of squared deviations and 33 quantiles, packed in one float64 vector so the
  summaries of thousands of analyses merge as one numpy matrix (a comparison across batches costs
  O(analyses), not O(particles)); the same as readable JSON with a histogram ready to draw; the
  class counts; the dwell times as (distinct duration, count) pairs,
  which give the Kuno density of any pool of analyses exactly; the population fits with their curves
  ready to draw; the particles' scatter points;
* a :class:`~labbook.results.models.ResultCurve` per TRPL, spectrum, XRD or photodetector job: the
  measured curve decimated for plotting and, for TRPL, the model of the job's own fit.

This module is arithmetic on numpy arrays only (no database, no ``analysis/``): the job runners and
the backfill feed it, the selectors and the pages read what it made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

#: bump when the stored layout changes; older summaries are then recomputed by the backfill
SUMMARY_VERSION = 1

#: output name -> Particle column (values in the column's unit: um, s)
PARTICLE_STATS = {
    "alpha_on": "alpha_on",
    "alpha_off": "alpha_off",
    "mean_on_s": "mean_on",
    "mean_off_s": "mean_off",
    "fraction_on": "fraction_on",
    "correlation_mean": "correlation_mean",
    "edge_um": "edge",
}
CLASSES = ["BB", "BBB", "MSB", "PEB", "qTSB/mostly-on", "qTSB/intermediate", "qTSB/mostly-off"]

#: fixed histogram edges per statistic, for drawing: (scale, first edge, last edge, bins); fixed, so
#: the histograms of several analyses add bin by bin into one figure
HISTOGRAMS = {
    "alpha_on": ("linear", 0.0, 4.0, 200),
    "alpha_off": ("linear", 0.0, 4.0, 200),
    "mean_on_s": ("log", 1e-3, 1e3, 280),
    "mean_off_s": ("log", 1e-3, 1e3, 280),
    "fraction_on": ("linear", 0.0, 1.0, 200),
    "correlation_mean": ("linear", -1.0, 1.0, 200),
    "edge_um": ("log", 1e-2, 1e2, 190),
}
#: what summarise_particles returns: the fields of a ParticleSummary
SUMMARY_FIELDS = (
    "n_particles",
    "bin_time_s",
    "merge",
    "stats",
    "class_counts",
    "histograms",
    "dwells",
    "fits",
    "points",
)
QUANTILES = {"q05": 5, "q25": 25, "median": 50, "q75": 75, "q95": 95}

#: at most this many particles per analysis in the stored scatter points (evenly spread when more)
MAX_POINTS = 2000
#: at most about this many points per stored curve: the lowest and highest of ~500 buckets, as many
#: as a plot of a few hundred pixels shows
MAX_CURVE_POINTS = 1000


# --- helpers -------------------------------------------------------------------------------------
def class_label(trace_class: str, subclass: str | None) -> str:
    """``qTSB/<subclass>`` for two-state traces (intermediate when unknown), else the class."""
    return trace_class if trace_class != "qTSB" else f"qTSB/{subclass or 'intermediate'}"


def _floats(values: Iterable) -> np.ndarray:
    """Values as floats, None and non-finite as NaN."""
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def _json_list(arr: np.ndarray) -> list:
    """A float array as a JSON list (NaN -> None)."""
    return [None if not math.isfinite(v) else v for v in np.asarray(arr, dtype=float).tolist()]


def histogram_edges(spec: Sequence) -> np.ndarray:
    scale, lo, hi, bins = spec
    return np.geomspace(lo, hi, bins + 1) if scale == "log" else np.linspace(lo, hi, bins + 1)


# --- one column ----------------------------------------------------------------------------------
def column_stats(values: np.ndarray) -> dict:
    """Count, mean, sum of squared deviations (``m2``), min, max and exact quantiles (linear
    interpolation between order statistics, as PostgreSQL's ``percentile_cont``)."""
    v = values[np.isfinite(values)]
    out: dict = {"n": int(v.size), "mean": None, "m2": 0.0, "min": None, "max": None}
    out.update(dict.fromkeys(QUANTILES))
    if v.size:
        mean = float(v.mean())
        out.update(mean=mean, m2=float(np.sum((v - mean) ** 2)), min=float(v.min()), max=float(v.max()))
        qs = np.percentile(v, list(QUANTILES.values()))
        out.update({name: float(q) for name, q in zip(QUANTILES, qs, strict=True)})
    return out


def column_histogram(values: np.ndarray, spec: Sequence) -> dict:
    """Counts on the fixed edges of ``spec``, stored from the first to the last non-empty bin, with
    the values below and above the edges counted apart."""
    v = values[np.isfinite(values)]
    edges = histogram_edges(spec)
    under = int(np.sum(v < edges[0]))
    over = int(np.sum(v > edges[-1]))
    counts, _ = np.histogram(v[(v >= edges[0]) & (v <= edges[-1])], edges)
    nz = np.flatnonzero(counts)
    first = int(nz[0]) if nz.size else 0
    kept = counts[first : int(nz[-1]) + 1] if nz.size else counts[:0]
    return {"edges": list(spec), "first": first, "counts": kept.tolist(), "under": under, "over": over}


# --- merging --------------------------------------------------------------------------------------
#: per statistic in the merge vector: count, mean, m2, then the values at NQ evenly spaced
#: probabilities 0, 1/32, ..., 1 (min, exact median in the middle, max)
NQ = 33
PROBS = np.linspace(0.0, 1.0, NQ)
_PER_STAT = 3 + NQ
#: length of a merge vector: particle count, class counts, then each statistic's block
MERGE_LENGTH = 1 + len(CLASSES) + len(PARTICLE_STATS) * _PER_STAT


def merge_vector(columns: Mapping[str, np.ndarray], class_counts: Mapping[str, int]) -> np.ndarray:
    """What a group's statistics need of one analysis, as one float64 array (stored as bytes, so a
    comparison over thousands of analyses reads and adds them as one numpy matrix)."""
    out = np.full(MERGE_LENGTH, np.nan)
    n = len(next(iter(columns.values()))) if columns else 0
    out[0] = n
    out[1 : 1 + len(CLASSES)] = [class_counts.get(c, 0) for c in CLASSES]
    for i, name in enumerate(PARTICLE_STATS):
        v = columns[name][np.isfinite(columns[name])]
        block = out[1 + len(CLASSES) + i * _PER_STAT :][:_PER_STAT]
        block[0], block[2] = v.size, 0.0
        if v.size:
            block[1] = v.mean()
            block[2] = np.sum((v - block[1]) ** 2)
            block[3:] = np.percentile(v, 100 * PROBS)  # linear: percentile_cont's interpolation
    return out


def merge_matrix(blobs: Sequence[bytes]) -> np.ndarray:
    """(analyses, MERGE_LENGTH) from stored merge vectors."""
    if not blobs:
        return np.zeros((0, MERGE_LENGTH))
    return np.frombuffer(b"".join(bytes(b) for b in blobs), dtype="<f8").reshape(len(blobs), MERGE_LENGTH)


def mixture_quantile(q: np.ndarray, weights: np.ndarray, p: float = 0.5) -> float:
    """The p-quantile of a mixture of distributions each known by its values ``q[a]`` at
    :data:`PROBS` (CDF linear between them) and weighted by ``weights[a]`` (particle counts).

    Each analysis' interpolated CDF is within 1/(NQ-1) of its true one, so the result lies between
    the pooled values' exact (p - 1/32)- and (p + 1/32)-quantiles: the written resolution of a
    pooled median."""
    w = weights / weights.sum()
    lo, hi = float(q[:, 0].min()), float(q[:, -1].max())
    step = 1.0 / (NQ - 1)

    def cdf(x: float) -> float:
        j = np.sum(q <= x, axis=1)  # knots at or below x, 0..NQ
        inside = (j > 0) & (j < NQ)
        f = (j >= NQ).astype(float)
        if inside.any():
            r = np.nonzero(inside)[0]
            k = j[r]
            a, b = q[r, k - 1], q[r, k]
            f[r] = PROBS[k - 1] + step * (x - a) / (b - a)
        return float(w @ f)

    for _ in range(64):
        if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
            break
        mid = 0.5 * (lo + hi)
        if cdf(mid) >= p:
            hi = mid
        else:
            lo = mid
    return hi


def pool_groups(matrix: np.ndarray, codes: np.ndarray, n_groups: int) -> list[dict]:
    """Per group (``codes[a]`` is analysis a's group, 0..n_groups-1): particle count, class counts
    and per statistic count, mean, sd and median, from the merge vectors, all groups at once.

    Counts, means and standard deviations are exact (Chan et al.'s pooled sum of squares); a median
    is exact when one analysis holds all of the group's values, otherwise :func:`mixture_quantile`
    (``median_exact`` False)."""
    out = [{"n": 0, "class_counts": dict.fromkeys(CLASSES, 0), "stats": {}} for _ in range(n_groups)]
    if not matrix.shape[0]:
        return out
    ncls = len(CLASSES)
    total = np.bincount(codes, weights=matrix[:, 0], minlength=n_groups)
    classes = np.stack(
        [np.bincount(codes, weights=matrix[:, 1 + i], minlength=n_groups) for i in range(ncls)], 1
    )
    for g in range(n_groups):
        out[g]["n"] = int(total[g])
        out[g]["class_counts"] = {c: int(classes[g, i]) for i, c in enumerate(CLASSES)}
    for s, name in enumerate(PARTICLE_STATS):
        block = matrix[:, 1 + ncls + s * _PER_STAT :][:, :_PER_STAT]
        n_a = block[:, 0]
        has = n_a > 0
        mean_a = np.where(has, block[:, 1], 0.0)
        n = np.bincount(codes, weights=n_a, minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(codes, weights=n_a * mean_a, minlength=n_groups) / n
            dev = np.where(has, n_a * (mean_a - mean[codes]) ** 2 + np.where(has, block[:, 2], 0.0), 0.0)
            m2 = np.bincount(codes, weights=dev, minlength=n_groups)
        holders = np.bincount(codes, weights=has.astype(float), minlength=n_groups)
        rows = np.nonzero(has)[0]
        by_group: dict[int, list[int]] = {}
        for r in rows.tolist():
            by_group.setdefault(int(codes[r]), []).append(r)
        median_col = 3 + NQ // 2
        for g in range(n_groups):
            k = int(n[g])
            if not k:
                out[g]["stats"][name] = {
                    "n": 0,
                    "mean": None,
                    "sd": None,
                    "median": None,
                    "median_exact": True,
                }
                continue
            mine = by_group[g]
            if holders[g] == 1:
                med, exact = float(block[mine[0], median_col]), True
            else:
                med, exact = mixture_quantile(block[mine, 3:], n_a[mine]), False
            out[g]["stats"][name] = {
                "n": k,
                "mean": float(mean[g]),
                "sd": float(np.sqrt(m2[g] / (k - 1))) if k > 1 else None,
                "median": med,
                "median_exact": exact,
            }
    return out


# --- dwell times -----------------------------------------------------------------------------------
def dwell_counts(dwells: Iterable[Sequence[float]]) -> dict:
    """Every complete dwell of a set of particles as distinct durations (s) and how often each occurs.

    Durations are whole frames (``k * bin time``, stored rounded to 1e-10 s), so there are few
    distinct values whatever the number of dwells, and pools of analyses add exactly."""
    flat = np.fromiter((t for d in dwells if d is not None for t in d), dtype=float)
    flat = flat[np.isfinite(flat) & (flat > 0)]
    u, n = np.unique(np.round(flat, 10), return_counts=True)
    return {"t_s": u.tolist(), "n": n.tolist(), "total": int(n.sum())}


def pool_dwell_counts(parts: Iterable[Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct durations, counts) of several :func:`dwell_counts` together."""
    ts = [np.asarray(p["t_s"], dtype=float) for p in parts if p and p["t_s"]]
    if not ts:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    ns = [np.asarray(p["n"], dtype=np.int64) for p in parts if p and p["t_s"]]
    u, inverse = np.unique(np.concatenate(ts), return_inverse=True)
    return u, np.bincount(inverse, weights=np.concatenate(ns), minlength=u.size).astype(np.int64)


def kuno_density(t_s: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kuno-normalised dwell-time density from distinct durations and their counts:
    P(t_i) = N_i / (N_tot dt_i), dt_i the mean distance to the neighbouring durations (one-sided at
    the ends). The same numbers as ``analysis.blinking.fits.dwell_density(..., method="kuno")`` on
    the expanded dwells (a test checks it), without expanding them."""
    t = np.asarray(t_s, dtype=float)
    n = np.asarray(counts, dtype=float)
    if t.size == 0:
        return np.zeros(0), np.zeros(0)
    if t.size == 1:
        return t, np.array([1.0 / t[0]])
    gaps = np.diff(t)
    dt = np.empty_like(t)
    dt[1:-1] = 0.5 * (gaps[1:] + gaps[:-1])
    dt[0], dt[-1] = gaps[0], gaps[-1]
    return t, n / (n.sum() * dt)


def truncated_power_law_curve(
    alpha: float, mu_per_s: float, *, t_min_s: float, t_max_s: float, bin_time_s: float, weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """P(t) = A t^-alpha exp(-mu t) on [t_min, t_max], normalised over the discrete support
    t_k = k * bin_time (as the ML fit is) and scaled by ``weight`` (the share of dwells >= t_min),
    so it overlays a density normalised by all dwells."""
    k = np.arange(max(1, round(t_min_s / bin_time_s)), max(2, round(t_max_s / bin_time_s)) + 1)
    t_k = k * bin_time_s
    shape = t_k ** (-alpha) * np.exp(-mu_per_s * t_k)
    norm = shape.sum() * bin_time_s
    t = np.geomspace(t_k[0], t_k[-1], 200)
    return t, weight * t ** (-alpha) * np.exp(-mu_per_s * t) / norm


def share_at_least(t_s: np.ndarray, counts: np.ndarray, t_min_s: float) -> float:
    total = counts.sum()
    return float(counts[t_s >= t_min_s - 1e-12].sum() / total) if total else 0.0


def fit_curve(fit: Mapping, dwells: Mapping, *, bin_time_s: float | None) -> dict | None:
    """The population fit's curve over one analysis' dwells, normalised to the dwells >= t_min
    (weight 1: a page scales it by the share of its pooled dwells >= t_min)."""
    if fit.get("alpha") is None or fit.get("mu_per_s") is None or not bin_time_s or not dwells["t_s"]:
        return None
    t_min = fit.get("t_min_s") or bin_time_s
    t, p = truncated_power_law_curve(
        fit["alpha"], fit["mu_per_s"], t_min_s=t_min, t_max_s=max(dwells["t_s"]), bin_time_s=bin_time_s
    )
    return {"t_s": _json_list(t), "p_per_s": _json_list(p), "t_min_s": t_min}


# --- a whole analysis ------------------------------------------------------------------------------
def summarise_particles(
    particles: Mapping[str, Sequence], *, bin_time_s: float | None, population: Mapping
) -> dict:
    """Everything the comparison reads about one analysis' particles.

    Parameters
    ----------
    particles : mapping
        Per-particle columns: the values of :data:`PARTICLE_STATS` by output name (None for
        missing), ``trace_class``, ``subclass``, ``on_dwell_s`` and ``off_dwell_s`` (lists of complete
        dwells), ``pk`` and ``index``.
    bin_time_s : float
        The movie's frame time.
    population : mapping
        ``{"on": fit, "off": fit}``, each with alpha, alpha_err, mu_per_s, t_min_s, n_events.

    Returns
    -------
    dict
        The fields of a ParticleSummary: n_particles, stats, class_counts, histograms, dwells, fits
        and points.
    """
    n = len(particles["trace_class"])
    columns = {name: _floats(particles[name]) for name in PARTICLE_STATS}
    labels = [class_label(c, s) for c, s in zip(particles["trace_class"], particles["subclass"], strict=True)]
    class_counts = dict.fromkeys(CLASSES, 0)
    for label in labels:
        class_counts[label] = class_counts.get(label, 0) + 1
    dwells = {w: dwell_counts(particles[f"{w}_dwell_s"]) for w in ("on", "off")}
    fits = {}
    for w in ("on", "off"):
        f = dict(population.get(w) or {})
        fits[w] = {
            **{k: f.get(k) for k in ("alpha", "alpha_err", "mu_per_s", "t_min_s", "n_events")},
            "curve": fit_curve(f, dwells[w], bin_time_s=bin_time_s),
        }
    keep = (
        np.arange(n) if n <= MAX_POINTS else np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))
    )
    points = {
        "pk": [int(particles["pk"][i]) for i in keep],
        "index": [int(particles["index"][i]) for i in keep],
        **{
            name: _json_list(columns[name][keep])
            for name in ("edge_um", "correlation_mean", "alpha_on", "alpha_off")
        },
        "class": [labels[i] for i in keep],
        "n_total": n,
        "sampled": bool(keep.size < n),
    }
    return {
        "n_particles": n,
        "bin_time_s": bin_time_s,
        "merge": merge_vector(columns, class_counts).astype("<f8").tobytes(),
        "stats": {name: column_stats(v) for name, v in columns.items()},
        "class_counts": class_counts,
        "histograms": {name: column_histogram(columns[name], HISTOGRAMS[name]) for name in PARTICLE_STATS},
        "dwells": dwells,
        "fits": fits,
        "points": points,
    }


# --- curves ------------------------------------------------------------------------------------------
def decimate_indices(y: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of at most about ``max_points`` samples of ``y`` that draw like all of them: per bucket
    of consecutive samples its lowest and highest (peaks and the noise envelope survive), plus the
    first, the last and the global maximum. All indices when there are few enough."""
    y = np.asarray(y, dtype=float)
    n = y.size
    if n <= max_points:
        return np.arange(n)
    finite = np.where(np.isfinite(y), y, np.nan)
    buckets = max(1, max_points // 2)
    bounds = np.linspace(0, n, buckets + 1).astype(int)
    keep = [0, n - 1]
    if np.isfinite(finite).any():
        keep.append(int(np.nanargmax(finite)))
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        seg = finite[a:b]
        if b > a and np.isfinite(seg).any():
            keep += [a + int(np.nanargmin(seg)), a + int(np.nanargmax(seg))]
        elif b > a:
            keep.append(a)
    return np.unique(np.asarray(keep, dtype=int))


def curve_columns(
    columns: Mapping[str, np.ndarray | None], *, along: str, max_points: int = MAX_CURVE_POINTS
) -> dict:
    """Columns of one curve decimated together (by the shape of column ``along``), as JSON lists;
    a None column stays None. ``n_points_raw`` is the length before decimation."""
    ref = np.asarray(columns[along], dtype=float)
    idx = decimate_indices(ref, max_points)
    out: dict = {}
    for name, col in columns.items():
        out[name] = None if col is None else _json_list(np.asarray(col, dtype=float)[idx])
    out["n_points_raw"] = int(ref.size)
    return out


__all__ = [
    "CLASSES",
    "HISTOGRAMS",
    "PARTICLE_STATS",
    "SUMMARY_FIELDS",
    "SUMMARY_VERSION",
    "class_label",
    "curve_columns",
    "decimate_indices",
    "merge_matrix",
    "merge_vector",
    "mixture_quantile",
    "pool_groups",
    "kuno_density",
    "pool_dwell_counts",
    "share_at_least",
    "summarise_particles",
    "truncated_power_law_curve",
]
