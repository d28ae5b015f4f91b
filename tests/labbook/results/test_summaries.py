"""The arithmetic of the stored summaries against known truth: numpy on the pooled values, and the
analysis package's own dwell density. No database."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.blinking.fits import dwell_density
from labbook.results.summaries import (
    HISTOGRAMS,
    NQ,
    PARTICLE_STATS,
    PROBS,
    column_histogram,
    column_stats,
    decimate_indices,
    dwell_counts,
    histogram_edges,
    kuno_density,
    merge_matrix,
    merge_vector,
    mixture_quantile,
    pool_dwell_counts,
    pool_groups,
)

STATS = list(PARTICLE_STATS)


def _analysis(rng, n, loc=1.1, scale=0.1):
    """One analysis' columns (a few values missing, as NULLs are) and its merge vector."""
    cols = {name: np.round(np.abs(rng.normal(loc, scale, n)), 4) for name in STATS}
    for v in cols.values():
        v[:: max(2, n // 3 or 2)] = np.nan
    return cols, merge_vector(cols, {"BB": n})


def _exact(values):
    v = np.concatenate(values)
    return v[np.isfinite(v)]


def test_column_stats_are_numpys_and_percentile_cont():
    v = np.array([3.0, np.nan, 1.0, 2.0, 10.0])
    s = column_stats(v)
    assert s["n"] == 4 and s["mean"] == 4.0 and s["m2"] == pytest.approx(np.sum((v[~np.isnan(v)] - 4) ** 2))
    assert s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 10.0  # percentile_cont(0.5) of 1,2,3,10
    assert column_stats(np.array([np.nan]))["n"] == 0


def test_pooled_counts_means_and_sds_are_those_of_the_pooled_values():
    rng = np.random.default_rng(1)
    sizes = [50, 1, 300, 7, 0, 12]
    analyses = [_analysis(rng, n) for n in sizes]
    codes = np.array([0, 0, 1, 1, 1, 2])  # three groups; group 2 has one analysis
    groups = pool_groups(merge_matrix([v.tobytes() for _, v in analyses]), codes, 3)
    for g in range(3):
        mine = [analyses[i][0] for i in np.nonzero(codes == g)[0]]
        assert groups[g]["n"] == sum(sizes[i] for i in np.nonzero(codes == g)[0])
        for name in STATS:
            exact = _exact([c[name] for c in mine])
            got = groups[g]["stats"][name]
            assert got["n"] == exact.size
            assert got["mean"] == pytest.approx(exact.mean(), rel=1e-13)
            assert got["sd"] == pytest.approx(exact.std(ddof=1), rel=1e-10)
    assert groups[2]["stats"]["alpha_on"]["median_exact"] is True  # one analysis: its exact median
    assert groups[2]["stats"]["alpha_on"]["median"] == np.median(_exact([analyses[5][0]["alpha_on"]]))


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_a_pooled_median_lies_within_the_written_rank_resolution(seed):
    """Between the pooled values' exact 0.5 - 1/32 and 0.5 + 1/32 quantiles, whatever the shapes."""
    rng = np.random.default_rng(seed)
    values = [
        np.round(rng.normal(1.0, 0.05, 40), 4),
        np.round(rng.lognormal(0.3, 0.5, 250), 4),
        rng.uniform(0, 3, 13),
    ]
    parts = [merge_vector({n: v for n in STATS}, {}) for v in values]
    got = pool_groups(merge_matrix([p.tobytes() for p in parts]), np.zeros(3, dtype=np.intp), 1)[0]["stats"][
        "alpha_on"
    ]
    pooled = np.concatenate(values)
    lo, hi = np.percentile(pooled, [100 * (0.5 - 1 / (NQ - 1)), 100 * (0.5 + 1 / (NQ - 1))])
    assert got["median_exact"] is False and lo <= got["median"] <= hi


def test_mixture_quantile_of_equal_distributions_is_their_median():
    v = np.sort(np.random.default_rng(5).normal(size=101))
    q = np.percentile(v, 100 * PROBS)
    assert mixture_quantile(np.stack([q, q]), np.array([3.0, 5.0])) == pytest.approx(np.median(v), abs=1e-9)


def test_histograms_for_drawing_keep_values_outside_their_edges():
    v = np.array([-0.5, 0.1, 9.0, 12.0])
    h = column_histogram(v, HISTOGRAMS["alpha_on"])
    assert h["under"] == 1 and h["over"] == 2 and sum(h["counts"]) == 1
    assert len(histogram_edges(HISTOGRAMS["alpha_on"])) == HISTOGRAMS["alpha_on"][3] + 1


def test_kuno_density_of_pooled_counts_is_analysis_dwell_density():
    rng = np.random.default_rng(3)
    bin_s = 0.1
    analyses = [
        [list(np.round(bin_s * rng.zipf(1.8, rng.integers(0, 40)), 10)) for _ in range(15)] for _ in range(3)
    ]
    parts = [dwell_counts(particles) for particles in analyses]
    t, n = pool_dwell_counts(parts)
    everything = np.concatenate([np.asarray(d, dtype=float) for a in analyses for d in a])
    t_ref, p_ref = dwell_density(everything, method="kuno")
    t_ours, p_ours = kuno_density(t, n)
    np.testing.assert_allclose(t_ours, t_ref)
    np.testing.assert_allclose(p_ours, p_ref, rtol=1e-12)
    assert n.sum() == everything.size


def test_decimation_keeps_peaks_ends_and_few_points():
    x = np.linspace(10, 60, 25001)
    y = np.random.default_rng(4).poisson(20, x.size).astype(float)
    y[12345] = 5000.0  # a narrow XRD peak, one sample wide
    idx = decimate_indices(y, 2000)
    assert idx.size <= 2003 and idx[0] == 0 and idx[-1] == x.size - 1 and 12345 in idx
    assert y[idx].min() == y.min()
    assert np.array_equal(decimate_indices(y[:500], 2000), np.arange(500))
