"""Correlation maps from one-pass partial sums, against np.corrcoef."""

import numpy as np
import pytest

from analysis import simulate
from analysis.blinking import detect_particles
from analysis.chunked import movie_chunk_sums, sum_layout
from analysis.correlation import (
    combine_correlation_sums,
    correlation_chunk_sums,
    correlation_map,
    correlation_vs_size,
    mean_correlation,
    pearson_from_sums,
)


def _data(seed=0, t=300, p=7, r=3):
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 1, (t, r)) + 1000.0  # large offsets: the sums must not lose the variance
    x = 0.6 * m[:, rng.integers(0, r, p)] + rng.normal(0, 1, (t, p)) + 500.0
    pix = np.repeat(np.arange(p), r)
    ref = np.tile(np.arange(r), p)
    return x, m, pix, ref


def test_pearson_from_sums_equals_corrcoef():
    x, m, pix, ref = _data()
    r = pearson_from_sums(correlation_chunk_sums(x, m, pix, ref))
    expected = [np.corrcoef(x[:, i], m[:, j])[0, 1] for i, j in zip(pix, ref, strict=True)]
    # float64 one-pass sums of 300 values with mean/std ~ 1000: cancellation costs ~1e-10.
    assert np.allclose(r, expected, atol=1e-9)


@pytest.mark.parametrize("cuts", [[150], [1, 2, 299], [37, 100, 200, 250]])
def test_chunk_sums_combine_to_the_whole(cuts):
    x, m, pix, ref = _data(seed=1)
    whole = pearson_from_sums(correlation_chunk_sums(x, m, pix, ref))
    bounds = [0, *cuts, x.shape[0]]
    parts = [
        correlation_chunk_sums(x[a:b], m[a:b], pix, ref) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    total = parts[0]
    for p in parts[1:]:
        total = combine_correlation_sums(total, p)
    assert total.n == x.shape[0]
    assert np.allclose(pearson_from_sums(total), whole, atol=1e-12)


def test_constant_trace_gives_nan():
    x = np.ones((20, 2))
    m = np.random.default_rng(0).normal(size=(20, 1))
    r = pearson_from_sums(correlation_chunk_sums(x, m, np.array([0, 1]), np.array([0, 0])))
    assert np.isnan(r).all()


def test_map_mean_and_size_classes():
    img = correlation_map(np.array([0.5, 0.7]), np.array([3, 5]), (2, 4))
    assert img[0, 3] == 0.5 and img[1, 1] == 0.7 and np.isnan(img).sum() == 6
    mean = mean_correlation(np.array([0.2, 0.4, np.nan, 0.9]), np.array([0, 0, 1, 1]), 3)
    assert mean[0] == pytest.approx(0.3) and mean[1] == pytest.approx(0.9) and np.isnan(mean[2])
    classes = correlation_vs_size(np.array([0.9, 0.8, 0.5, 0.6]), np.array([0.4, 0.6, 1.5, 2.0]))
    assert [c["n"] for c in classes] == [2, 2]
    assert classes[0]["mean"] == pytest.approx(0.85) and classes[1]["mean"] == pytest.approx(0.55)


def _movie_and_particles(nanodomains, seed=3):
    mv = simulate.simulate_movie(
        1500, (48, 48), n_particles=4, edge_px=(7,), nanodomains=(nanodomains,), spacing_px=20, seed=seed
    )
    frames = np.concatenate(list(simulate.iter_movie_chunks(mv, chunk_frames=500)))
    p = detect_particles(frames[::10].mean(0), pixel_size_um=mv.pixel_size_um)
    return frames, p


def test_movie_correlation_matches_corrcoef_of_pixel_traces():
    frames, p = _movie_and_particles(1)
    layout = sum_layout(p)
    sums = movie_chunk_sums(frames, layout)
    r = pearson_from_sums(sums.correlation)
    flat = frames.reshape(frames.shape[0], -1).astype(float)
    bg = sums.background
    for k in np.linspace(0, p.roi_flat.size - 1, 12).astype(int):
        i = p.roi_owner[k]
        pixel = flat[:, p.roi_flat[k]] - bg[:, i]
        assert r[k] == pytest.approx(np.corrcoef(pixel, sums.traces[:, i])[0, 1], abs=1e-9)


def test_nanodomains_lower_the_intra_crystal_correlation():
    # Two halves blinking independently share only half of the particle trace: r drops well below the
    # single-domain crystal, whose pixels differ from its trace by shot noise only.
    f1, p1 = _movie_and_particles(1)
    f2, p2 = _movie_and_particles(2)
    r1 = pearson_from_sums(movie_chunk_sums(f1, sum_layout(p1)).correlation)
    r2 = pearson_from_sums(movie_chunk_sums(f2, sum_layout(p2)).correlation)
    m1 = mean_correlation(r1, p1.roi_owner, p1.n)
    m2 = mean_correlation(r2, p2.roi_owner, p2.n)
    assert np.nanmin(m1) > np.nanmax(m2) + 0.1
    assert np.nanmean(m2) < 0.8


def test_assembly_cross_map_is_low_for_independent_neighbours():
    # Two touching, independently blinking crystals: pixels of one against the other's trace ~ 0.
    rng = np.random.default_rng(4)
    shape, n = (40, 40), 1500
    a = simulate.blinking_particle(shape, (20, 17), n, edge_px=3, rng=rng)
    b = simulate.blinking_particle(shape, (20, 23), n, edge_px=3, rng=rng)
    mv = simulate.SyntheticMovie(n, *shape, 0.1, 0.16, (a, b), seed=5)
    frames = simulate.render_frames(mv, 0, n)
    p = detect_particles(frames[::5].mean(0), pixel_size_um=0.16)
    assert p.n == 2
    layout = sum_layout(p, np.array([[0, 1], [1, 0]]))
    r = pearson_from_sums(movie_chunk_sums(frames, layout).correlation)
    own = r[: layout.n_self]
    cross = r[layout.n_self :]
    # Independent two-state traces: |r| of 1500 frames is ~0.03 by chance, plus PSF overlap of the
    # neighbour's light in the ROI edge pixels; own-trace pixels are > 0.7.
    assert np.nanmean(own) > 0.7
    assert abs(np.nanmean(cross)) < 0.25
