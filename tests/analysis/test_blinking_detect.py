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
        detect_particles(np.zeros((2, 3, 4, 5)))  # a stack of window projections is 3-D, not 4-D
    with pytest.raises(AnalysisInputError, match="2-D"):
        detect_particles(np.zeros(7))


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


# --- A wide-field EM-CCD field: beam, gradient, hot pixels, debris, dim and bleaching crystals -------

from scipy import ndimage  # noqa: E402

from analysis.blinking.detect import (  # noqa: E402
    Projections,
    estimate_noise_model,
    find_hot_pixels,
    frame_shifts,
    measure_drift,
)

GAIN, OFFSET, READ = 5.0, 100.0, 2.0  # ADU per photo-electron, ADU, ADU (an EM-CCD at moderate gain)


def _emccd(photons, rng):
    """Counts of an EM-CCD: Poisson electrons, gamma-distributed multiplication (excess noise 2), read
    noise and offset."""
    electrons = rng.poisson(photons)
    amplified = rng.gamma(np.maximum(electrons, 1e-9), GAIN) * (electrons > 0)
    return amplified + OFFSET + rng.normal(0, READ, np.shape(photons))


def _field(seed=3, frames=60, windows=6):
    """Window projections of a 96 x 96 field with known crystals, plus the truth."""
    rng = np.random.default_rng(seed)
    h = w = 96
    yy, xx = np.mgrid[:h, :w]
    beam = np.exp(-((yy - 30.0) ** 2 + (xx - 35.0) ** 2) / (2 * 70.0**2))  # off-centre: ~55 % far corner
    bg = 10.0 * beam * (1 + 0.002 * xx)  # photons / px / frame, with a gradient
    crystals = [  # (y, x, photons per frame when ON, ON in which windows)
        (20, 20, 300, range(windows)),  # bright, always on
        (70, 75, 90, range(windows)),  # dim, in the dim corner of the beam
        (50, 40, 250, [0]),  # bleaches during the first window
        (25, 70, 250, [windows - 1]),  # activates in the last window only
        (75, 20, 150, range(0, windows, 2)),  # mostly off: every other window
    ]
    psf = np.zeros((h, w, len(crystals)))
    for k, (y, x, _, _) in enumerate(crystals):
        d = np.zeros((h, w))
        d[y, x] = 1.0
        psf[:, :, k] = ndimage.gaussian_filter(d, 1.2)
    debris = 4.0 * np.exp(-((yy - 50.0) ** 2 + (xx - 80.0) ** 2) / (2 * 5.0**2))
    hot = [(10, 50), (85, 60)]
    per_window = frames // windows
    wins, diffs = [], []
    for k in range(windows):
        ph = bg + debris + sum(b * beam * psf[:, :, i] for i, (_, _, b, on) in enumerate(crystals) if k in on)
        block = np.stack([_emccd(ph, rng) for _ in range(per_window)])
        for y, x in hot:
            block[:, y, x] += 400.0
        wins.append(block.mean(0))
        diffs.append(block[1::2] - block[0::2])
    wins = np.stack(wins)
    d = np.concatenate(diffs)
    noise = estimate_noise_model(wins.mean(0), d.var(0) / 2)
    pr = Projections(
        windows=wins,
        frames_per_window=np.full(windows, per_window),
        window_frames=np.stack([np.arange(windows) * per_window, (np.arange(windows) + 1) * per_window], 1),
        mean=wins.mean(0),
        noise=noise,
    )
    return pr, crystals, hot


def test_noise_model_fits_emccd_photon_transfer():
    """var = F^2 g (mean - offset) + read^2: slope 2 x 5 = 10 ADU per ADU (excess noise factor 2);
    20 % covers the 30 frames per pixel pair estimate."""
    pr, _, _ = _field()
    assert pr.noise.slope == pytest.approx(2 * GAIN, rel=0.2)
    offset = -(pr.noise.intercept - READ**2) / pr.noise.slope
    assert offset == pytest.approx(OFFSET, abs=8)


def test_finds_dim_bleaching_late_and_mostly_off_crystals_and_masks_hot_pixels():
    pr, crystals, hot = _field()
    p = detect_particles(pr, pixel_size_um=0.16)
    want = np.array([(y, x) for y, x, _, _ in crystals], dtype=float)
    d = np.hypot(*(p.centroid_px[:, None, :] - want[None]).transpose(2, 0, 1))
    assert (d.min(axis=0) < 1.0).all(), d.min(axis=0)  # every crystal, within 1 px
    hy, hx = np.unravel_index(p.hot_pixels, p.shape)
    assert sorted(zip(hy.tolist(), hx.tolist(), strict=True)) == sorted(hot)
    assert not set(p.hot_pixels) & (set(p.roi_flat) | set(p.annulus_flat))
    # Nothing else but, at most, the diffuse debris blob (rejected after the pass: it does not blink).
    extra = np.flatnonzero(d.min(axis=1) > 2.5)
    assert len(extra) <= 1
    for i in extra:
        assert np.hypot(*(p.centroid_px[i] - (50, 80))) < 3 and p.half_max_area_px[i] > 30
    # Half-maximum footprints of a PSF of sigma 1.2 px: pi (1.177 sigma)^2 = 6.3 px, give or take
    # pixelation and noise.
    point = d.min(axis=1) < 1.0
    assert np.all((p.area_px[point] >= 4) & (p.area_px[point] <= 12))


def test_the_old_global_threshold_loses_them():
    """The regression this replaced: one median + 6 MAD threshold on the plain mean projection."""
    pr, crystals, _ = _field()
    img = ndimage.gaussian_filter(pr.mean, 1.0)
    med = np.median(img)
    mad = 1.4826 * np.median(np.abs(img - med))
    seen = [img[y, x] > med + 6 * mad for y, x, _, _ in crystals]
    assert not all(seen)


def test_hot_pixel_is_not_a_point_source():
    img = np.full((32, 32), 100.0)
    d = np.zeros((32, 32))
    d[10, 10] = 3000
    img += ndimage.gaussian_filter(d, 1.0)  # a diffraction-limited spot
    img[20, 25] += 300  # a hot pixel
    assert find_hot_pixels(img, np.full(img.shape, 1.0)).tolist() == [20 * 32 + 25]


def test_touching_crystals_split_but_one_microcrystal_is_not():
    shape = (64, 64)
    img = np.full(shape, 500.0)
    img += 1500 * simulate._square_profile(shape, simulate._square_origin((20, 20), 11), 11, 1.2)
    noisy = img + np.random.default_rng(4).normal(0, 10, shape)
    p = detect_particles(noisy, pixel_size_um=0.16)
    assert p.n == 1  # an 11-px (1.8 um) flat-topped crystal: one particle, not its noise bumps
    assert p.edge_um[0] == pytest.approx(11 * 0.16, rel=0.15)


def test_drift_is_measured_and_followed_in_whole_pixels():
    rng = np.random.default_rng(5)
    base = np.full((96, 96), 100.0)
    for _ in range(20):
        d = np.zeros((96, 96))
        d[tuple(rng.integers(8, 88, 2))] = rng.uniform(500, 3000)
        base += ndimage.gaussian_filter(d, 1.3)
    true = np.stack([np.linspace(-1.8, 1.8, 8), np.linspace(0.9, -0.9, 8)], axis=1)
    wins = np.stack(
        [ndimage.shift(base, t, order=3, mode="nearest") + rng.normal(0, 2, base.shape) for t in true]
    )
    wf = np.stack([np.arange(8) * 100, np.arange(1, 9) * 100], axis=1)
    from analysis.blinking.detect import NoiseModel

    pr = Projections(wins, np.full(8, 20), wf, wins.mean(0), NoiseModel(0.0, 4.0))
    drift = measure_drift(pr)
    assert np.abs(drift - (true - true.mean(0))).max() < 0.1  # px: a Gaussian peak fit on clean spots
    shifts = frame_shifts(drift, wf, 800)
    assert shifts is not None and shifts.shape == (800, 2)
    assert shifts[0].tolist() == [-2, 1] and shifts[-1].tolist() == [2, -1]
    assert frame_shifts(drift * 0.2, wf, 800) is None  # under half a pixel: nothing to follow
