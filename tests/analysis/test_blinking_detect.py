"""Emitter detection on a projection: positions, ROIs, annuli, sizes, assemblies, and the empty cases."""

import numpy as np
import pytest

from analysis import simulate
from analysis.blinking import detect_particles, neighbour_pairs, particle_traces
from analysis.errors import AnalysisInputError


def _projection(centres, edges, shape=(64, 64), seed=0, background=500.0, peak=1500.0):
    rng = np.random.default_rng(seed)
    img = np.full(shape, background)
    for c, e in zip(centres, edges, strict=True):
        origin = simulate._square_origin(c, e)
        img += peak * simulate._square_profile(shape, origin, e, 1.0)
    return img + rng.normal(0, 10, shape)


def test_finds_every_particle_at_its_centre():
    centres = [(10, 10), (10, 40), (30, 25), (50, 12), (52, 50)]
    edges = [3, 5, 3, 7, 5]
    p = detect_particles(_projection(centres, edges), pixel_size_um=0.16)
    assert p.n == 5
    want = np.array(centres, dtype=float)
    dist = np.hypot(*(p.centroid_px[:, None, :] - want[None, :, :]).transpose(2, 0, 1))
    assert sorted(dist.argmin(axis=1)) == list(range(5))  # one detection per crystal
    # Symmetric squares on a flat background: the weighted centroid is the centre; 0.1 px covers noise.
    assert dist.min(axis=1).max() < 0.1


def test_size_grows_with_crystal_edge():
    centres = [(16, 16), (16, 46), (46, 30)]
    p = detect_particles(_projection(centres, [3, 5, 9]), pixel_size_um=0.16)
    order = np.argsort(p.centroid_px[:, 1] + 100 * p.centroid_px[:, 0])
    edge = p.edge_um[order]
    # Half-maximum area of a blurred square ~ its area once edge >> PSF (sigma 1 px): 9 px -> 1.44 um.
    assert edge[2] == pytest.approx(9 * 0.16, rel=0.15)
    assert edge[0] < edge[1] < edge[2]


def test_annuli_are_background_only_and_rois_disjoint():
    p = detect_particles(_projection([(20, 20), (20, 40), (44, 30)], [3, 5, 3]), pixel_size_um=0.16)
    assert len(set(p.roi_flat)) == p.roi_flat.size
    assert not set(p.annulus_flat) & set(p.roi_flat)
    assert np.all(np.diff(p.roi_owner) >= 0) and np.all(np.diff(p.annulus_owner) >= 0)
    labels = p.label_image()
    assert labels.max() == p.n and (labels > 0).sum() == p.roi_flat.size


def test_touching_crystals_split_and_paired():
    # Two 3-px crystals 5 px apart (0.8 um): one connected blob with two maxima -> two particles.
    p = detect_particles(_projection([(30, 28), (30, 33)], [3, 3]), pixel_size_um=0.16)
    assert p.n == 2
    pairs = neighbour_pairs(p, max_distance_px=1.0 / 0.16)
    assert sorted(map(tuple, pairs)) == [(0, 1), (1, 0)]
    assert neighbour_pairs(p, max_distance_px=2.0).shape == (0, 2)


def test_pure_noise_has_no_particles():
    img = 500 + np.random.default_rng(1).normal(0, 10, (64, 64))
    assert detect_particles(img).n == 0


def test_constant_and_bad_projections_refused():
    with pytest.raises(AnalysisInputError, match="constant"):
        detect_particles(np.full((32, 32), 7.0))
    with pytest.raises(AnalysisInputError, match="NaN"):
        detect_particles(np.full((32, 32), np.nan))
    with pytest.raises(AnalysisInputError, match="2-D"):
        detect_particles(np.zeros((2, 3, 4)))


def test_particle_traces_subtract_local_background():
    proj = _projection([(20, 20)], [3])
    p = detect_particles(proj)
    rng = np.random.default_rng(2)
    bg = rng.uniform(100, 200, 30)  # a flickering uniform background
    on = rng.uniform(0, 1, 30) > 0.5
    signal = np.where(p.label_image() > 0, proj - 500.0, 0.0)  # emission inside the ROI only
    frames = bg[:, None, None] + on[:, None, None] * signal[None]
    traces, bg_est = particle_traces(frames, p)
    assert np.allclose(bg_est[:, 0], bg)
    expected = signal.sum()
    assert np.allclose(traces[:, 0], np.where(on, expected, 0.0))
