"""Synthetic movies: samplers follow their densities, EM-CCD noise has the right moments, TIFFs round-trip."""

import json
import tracemalloc

import numpy as np
import pytest
from scipy import integrate, ndimage, stats

from analysis import simulate
from analysis.blinking import dwell_times
from analysis.errors import AnalysisInputError
from analysis.movie import open_movie, read_frames


def _tpl_cdf(alpha, mu, t_min):
    def pdf(t):
        return t**-alpha * np.exp(-mu * t)

    z = integrate.quad(pdf, t_min, np.inf, limit=200)[0]
    return np.vectorize(lambda t: integrate.quad(pdf, t_min, t, limit=200)[0] / z)


@pytest.mark.parametrize("alpha, mu", [(1.2, 0.1), (0.88, 0.1), (1.01, 0.05)])
def test_continuous_sampler_follows_truncated_power_law(alpha, mu):
    x = simulate.sample_truncated_power_law(2000, alpha, mu, t_min_s=0.1, rng=np.random.default_rng(1))
    assert x.min() >= 0.1
    # KS against the numerically integrated CDF; with a correct sampler p is uniform, so p > 1e-3 fails
    # one seed in a thousand.
    assert stats.kstest(x, _tpl_cdf(alpha, mu, 0.1)).pvalue > 1e-3


def test_continuous_sampler_refuses_unnormalisable():
    with pytest.raises(AnalysisInputError):
        simulate.sample_truncated_power_law(10, 0.9, 0.0, t_min_s=0.1, rng=np.random.default_rng(0))


def test_discrete_sampler_matches_pmf():
    rng = np.random.default_rng(2)
    k = simulate.sample_discrete_truncated_power_law(
        20000, 1.2, 0.5, bin_time_s=0.1, k_min=1, k_max=400, rng=rng
    )
    kk = np.arange(1, 401)
    p = kk**-1.2 * np.exp(-0.05 * kk)
    p /= p.sum()
    observed = np.bincount(k, minlength=401)[1:]
    # Chi-square on the first 20 values plus the pooled rest (every expected count > 50).
    obs = np.append(observed[:20], observed[20:].sum())
    exp = 20000 * np.append(p[:20], p[20:].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-3


def test_two_state_states_are_frame_synchronous_alternating_runs():
    rng = np.random.default_rng(3)
    s = simulate.two_state_states(
        3000, bin_time_s=0.1, alpha_on=1.2, mu_on_per_s=0.1, alpha_off=0.88, mu_off_per_s=0.1, rng=rng
    )
    assert s.dtype == bool and s.shape == (3000,)
    d = dwell_times(s, 0.1)
    assert d.on_s.size > 50 and d.off_s.size > 50
    # Every dwell is a whole number of frames.
    assert np.allclose(np.rint(d.on_s / 0.1) * 0.1, d.on_s)


def test_multi_state_levels_visit_every_level():
    lv = simulate.multi_state_levels(2000, (1.0, 0.5, 0.0), bin_time_s=0.1, rng=np.random.default_rng(4))
    assert set(np.unique(lv)) == {0.0, 0.5, 1.0}


def test_intensity_trends():
    n = 101
    assert np.allclose(simulate.intensity_trend(n, "flat"), 1)
    b = simulate.intensity_trend(n, "bleach", strength=0.6)
    assert b[0] == pytest.approx(1) and b[-1] == pytest.approx(0.4)
    u = simulate.intensity_trend(n, "brighten", strength=0.6)
    assert u[-1] == pytest.approx(1.6)
    bb = simulate.intensity_trend(n, "brighten_bleach", strength=0.6, peak_at=0.3)
    assert np.argmax(bb) == 30 and bb.max() == pytest.approx(1.6) and bb[-1] == pytest.approx(1.6 * 0.4)
    with pytest.raises(AnalysisInputError):
        simulate.intensity_trend(n, "wobble")


def test_emccd_counts_moments():
    # E[c] = o + g lambda, Var[c] = 2 g^2 lambda + sigma_r^2 (excess noise factor 2).
    lam, g, sr, o = 20.0, 30.0, 15.0, 400.0
    c = simulate.emccd_counts(
        np.full(400_000, lam),
        em_gain=g,
        read_noise_counts=sr,
        offset_counts=o,
        rng=np.random.default_rng(5),
        dtype=np.float64,
    )
    mean, var = o + g * lam, 2 * g * g * lam + sr * sr
    # Standard error of the mean ~0.3 counts; of the variance ~0.4 % (excess kurtosis included): 5 SE.
    assert c.mean() == pytest.approx(mean, abs=1.5)
    assert c.var() == pytest.approx(var, rel=0.02)
    dark = simulate.emccd_counts(np.zeros(1000), rng=np.random.default_rng(6))
    assert dark.dtype == np.uint16 and abs(dark.mean() - 400) < 3


def test_movie_truth_and_tiff_round_trip(tmp_path):
    mv = simulate.simulate_movie(
        50, (48, 48), n_particles=4, kinds=("qTSB", "BB"), nanodomains=(1, 2), seed=7
    )
    assert len(mv.particles) == 4 and mv.particles[1].kind == "BB" and len(mv.particles[1].domains) == 2
    path = tmp_path / "m.tif"
    simulate.write_movie_tiff(path, mv, chunk_frames=16)
    info = open_movie(path)
    assert info.shape == (50, 48, 48) and info.bin_time_s == pytest.approx(0.1)
    assert info.pixel_size_um == pytest.approx(0.16) and info.contiguous
    frames = read_frames(info, 0, 50)
    # Chunks are rendered from (seed, start, stop): the file holds exactly the chunks render_frames gives.
    assert np.array_equal(frames[16:32], simulate.render_frames(mv, 16, 32))
    # Particles are brighter than the background.
    cy, cx = map(int, mv.particles[0].centre_px)
    assert frames[:, cy, cx].mean() > frames[:, 2, 2].mean()


# --- the realistic microscope (simulate_realistic_movie) ------------------------------------------

_QUIET = dict(hot_pixel_density=0.0, debris_density=0.0, background_gradient=0.0, background_decay=0.0)


def _runs(states):
    change = np.flatnonzero(np.diff(states.astype(np.int8))) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [states.size]]))
    return lengths, states[starts]


def test_tpl_mu_gives_the_papers_mean_dwell():
    # The validation truth lists mu_on = 0.038827/s for alpha 1.20 and mean 3.16 s with 100 ms frames.
    mu = simulate.truncated_power_law_mu(1.20, 3.16, t_min_s=0.1)
    assert mu == pytest.approx(0.038827, rel=1e-3)
    assert simulate.truncated_power_law_mean(
        1.01, simulate.truncated_power_law_mu(1.01, 11.96, t_min_s=0.1), t_min_s=0.1
    ) == pytest.approx(11.96, rel=1e-6)
    with pytest.raises(AnalysisInputError):
        simulate.truncated_power_law_mu(1.2, 0.05, t_min_s=0.1)


@pytest.mark.parametrize("alpha, mu", [(1.2, 0.0388), (0.88, 0.42), (1.02, 0.01)])
def test_tabulated_sampler_follows_truncated_power_law(alpha, mu):
    x = simulate._sample_tpl(3000, alpha, mu, 0.1, 1e4, np.random.default_rng(11))
    x = x[x < 1e4]  # the (tiny) mass beyond the cap comes back as the cap
    # KS against the integrated CDF: p < 1e-3 one seed in a thousand for a correct sampler.
    assert stats.kstest(x, _tpl_cdf(alpha, mu, 0.1)).pvalue > 1e-3


def test_paper_presets_carry_the_papers_trends():
    p = simulate.PAPER_PRESETS
    assert (p[0].alpha_on, p[0].alpha_off, p[0].mean_on_s) == (1.20, 0.88, 3.16)
    assert (p[3].alpha_on, p[3].alpha_off, p[3].mean_on_s) == (1.01, 1.02, 11.96)
    assert p[0].classes["BB"] == 0.33 and all(0.17 <= p[k].classes["BB"] <= 0.22 for k in (3, 9, 17))
    peb = [p[k].classes["PEB"] for k in (0, 3, 9, 17)]
    assert peb[0] == 0.07 and peb == sorted(peb) and 0.15 <= peb[1] and peb[3] <= 0.32
    assert [p[k].subclasses["mostly-on"] for k in (0, 3, 9, 17)] == [0.61, 0.68, 0.79, 0.63]
    # 9 and 17 % go back toward untreated: between 3 % and untreated
    for k in (9, 17):
        assert (
            p[3].alpha_on < p[k].alpha_on < p[0].alpha_on and p[0].mean_on_s < p[k].mean_on_s < p[3].mean_on_s
        )


@pytest.fixture(scope="module")
def big_truth():
    # 1000 frames, 60 crystals: no frames are rendered, only the truth (fast).
    return simulate.simulate_realistic_movie(1000, (256, 256), 60, 0, seed=3)


def test_truth_states_and_dwells_are_consistent(big_truth):
    movie, truth = big_truth
    T, dt = truth["movie"]["frames"], truth["movie"]["bin_time_s"]
    assert len(truth["particles"]) == 60
    for q in truth["particles"]:
        s = q["states"]
        assert s.dtype == bool and s.shape == (T,)
        lo, hi = q["window_frames"]
        lengths, values = _runs(s[lo:hi])
        inner_l, inner_v = lengths[1:-1], values[1:-1]
        assert q["on_dwell_s"] == pytest.approx((inner_l[inner_v] * dt).tolist())
        assert q["off_dwell_s"] == pytest.approx((inner_l[~inner_v] * dt).tolist())
        assert all(d >= dt - 1e-9 for d in q["on_dwell_s"] + q["off_dwell_s"])  # t >= one frame
        assert q["fraction_on"] == pytest.approx(s.mean(), abs=1e-5)
        if q["bleach_time_s"] is not None:  # dark once bleached
            assert not s[int(np.ceil(q["bleach_time_s"] / dt)) :].any()
        if q["late_activation_s"] is not None:  # dark until activated
            assert not s[: int(round(q["late_activation_s"] / dt))].any()
        if q["class"] == "qTSB":
            lo_f, hi_f = simulate.SUBCLASS_FRACTION_ON[q["subclass"]]
            assert lo_f <= q["fraction_on"] <= hi_f
        # the footprint (half maximum) holds the centroid's pixel
        assert [round(q["centroid_px"][0]), round(q["centroid_px"][1])] in q["footprint_px"]
        assert q["n_domains"] == len(movie.crystals[q["id"] - 1].emission_photons)


def test_class_counts_follow_the_preset(big_truth):
    _, truth = big_truth
    mix = simulate.PAPER_PRESETS[0].classes
    # exact mixture: largest-remainder rounding, so each count is within one of n * fraction
    for k, f in mix.items():
        assert abs(truth["nominal_class_counts"][k] - 60 * f) < 1
    assert truth["class_counts"] == truth["nominal_class_counts"]  # qTSB crystals have one domain
    n_q = truth["class_counts"]["qTSB"]
    on = sum(q.get("nominal_subclass") == "mostly-on" for q in truth["particles"])
    assert abs(on - n_q * 0.61) < 1


def test_random_class_counts_within_sampling_error():
    _, truth = simulate.simulate_realistic_movie(20, (512, 512), 300, 17, seed=4, exact_mixture=False)
    for k, f in simulate.PAPER_PRESETS[17].classes.items():
        sd = np.sqrt(300 * f * (1 - f))
        assert abs(truth["nominal_class_counts"][k] - 300 * f) < 4 * sd  # 4 sigma: fails ~1 seed in 10^4


def test_drift_path_and_rendered_shift():
    # one two-state nanocrystal (preset 3 gives qTSB the largest share), bright and alone
    movie, truth = simulate.simulate_realistic_movie(
        400, (48, 48), 1, 3, seed=5, drift_px=1.5, brightness_sigma=0.0, signal_photons=2000.0, **_QUIET
    )
    d = truth["drift_px"]
    assert d.shape == (400, 2) and np.allclose(d[0], 0)
    assert np.hypot(d[:, 0], d[:, 1]).max() == pytest.approx(1.5)
    assert np.abs(np.diff(d, axis=0)).max() < 0.05  # slow: a small fraction of a pixel per frame
    # The noiseless image of the crystal moves with the path (bilinear between 0.05 px anchors).
    lam = movie.expected_photons(0, 400) - movie.background_map[None]
    yy, xx = np.mgrid[0:48, 0:48]
    total = lam.sum(axis=(1, 2))
    on = total > 0.5 * total.max()
    cy, cx = (lam * yy).sum(axis=(1, 2)) / total, (lam * xx).sum(axis=(1, 2)) / total
    centroid = np.column_stack([cy, cx])[on]
    # the beam's slope across the crystal pulls its centroid by a constant few 0.01 px: compare shifts
    assert np.abs(centroid[0] - truth["particles"][0]["centroid_px"] - d[on][0]).max() < 0.06
    shift, expected = centroid - centroid[0], d[on] - d[on][0]
    # bilinear interpolation between 0.05 px anchors: error well below 0.01 px
    assert np.abs(shift - expected).max() < 0.01


def test_memory_is_flat_with_the_movies_length(tmp_path):
    peaks = []
    for frames in (100, 400):
        movie, _ = simulate.simulate_realistic_movie(frames, (64, 64), 6, 0, seed=12)
        tracemalloc.start()
        try:
            simulate.write_movie_tiff(tmp_path / "m.tif", movie, chunk_frames=10)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    # 400 frames are 3.3 MB of uint16; the writer holds one 10-frame chunk (0.16 MB of float32) plus
    # constant overhead and tifffile's few hundred bytes of page bookkeeping per frame: each extra frame
    # may cost at most a quarter of its own 8 KB, and the whole never a copy of the movie.
    assert (peaks[1] - peaks[0]) / 300 < 0.25 * 64 * 64 * 2, peaks
    assert peaks[1] < 400 * 64 * 64 * 2, peaks


def test_beam_falls_to_60_percent_in_the_corners_of_the_mean_projection():
    movie, _ = simulate.simulate_realistic_movie(200, (96, 96), 0, 0, seed=6, **_QUIET)
    proj = movie.render(0, 200).mean(axis=0) - movie.offset_adu
    proj = ndimage.gaussian_filter(proj, 2)
    corners = np.mean([proj[2, 2], proj[2, -3], proj[-3, 2], proj[-3, -3]])
    # 60 % of the peak at the exact corners; 2 px in and smoothed reads a few % higher
    assert corners / proj.max() == pytest.approx(0.6, abs=0.04)


def test_emccd_variance_is_twice_gain_times_signal_on_a_flat_region():
    movie, truth = simulate.simulate_realistic_movie(
        100, (64, 64), 0, 0, seed=7, beam_corner_fraction=0.999, background_photons=20.0, **_QUIET
    )
    f = movie.render(0, 100).astype(float)
    g, r, o = movie.em_gain_adu_per_e, movie.read_noise_adu, movie.offset_adu
    signal = f.mean() - o
    assert signal == pytest.approx(g * 20.0, rel=0.01)
    # Var = 2 g (mean - offset) + read^2 (excess noise factor 2); 409600 samples: SE of the variance
    # ~0.3 % with the gamma tail; 3 % is 10 SE and far below the factor 2 this checks.
    assert f.var(axis=0).mean() == pytest.approx(2 * g * signal + r * r, rel=0.03)


def test_hot_pixels_are_present_and_static():
    movie, truth = simulate.simulate_realistic_movie(
        300, (128, 128), 0, 0, seed=8, hot_pixel_density=1 / 2000, debris_density=0.0
    )
    hot = np.array(truth["hot_pixels"])
    assert 3 <= len(hot) <= 20  # Poisson(8.2)
    early, late = movie.render(0, 100).mean(axis=0), movie.render(200, 300).mean(axis=0)
    y, x = hot[:, 0].astype(int), hot[:, 1].astype(int)
    for proj in (early, late):
        neighbours = ndimage.median_filter(proj, 3)
        excess = (proj - neighbours)[y, x]
        assert np.all(excess > 0.5 * movie.em_gain_adu_per_e * hot[:, 2])  # SE of a 100-frame mean is ~2 ADU
    # static: the same excess early and late (within 15 %: 100-frame means of 5 x 20-80 e- pixels)
    assert (late - early)[y, x] == pytest.approx(0, abs=0.15 * movie.em_gain_adu_per_e * hot[:, 2].min() + 5)


def test_debris_does_not_blink():
    movie, truth = simulate.simulate_realistic_movie(
        300, (128, 128), 0, 0, seed=9, debris_density=4 / 128**2, hot_pixel_density=0.0
    )
    blobs = truth["debris_blobs_y_x_sigma_amp"]
    assert blobs and all(4 <= b[2] <= 8 and 0.2 * 10 <= b[3] <= 0.5 * 10 for b in blobs)
    lam = movie.expected_photons(0, 300)
    base = movie.background_map[None] * movie.decay[:, None, None]
    for y, x, *_ in blobs:
        yi, xi = int(np.clip(round(y), 0, 127)), int(np.clip(round(x), 0, 127))
        trace = (lam[:, yi, xi] - base[:, yi, xi]) / movie.decay
        # constant apart from the sub-pixel drift of a 4-8 px blob (< 2 %)
        assert trace.std() / trace.mean() < 0.02


def test_realistic_frames_do_not_depend_on_chunking_and_round_trip(tmp_path):
    movie, truth = simulate.simulate_realistic_movie(60, (48, 48), 3, 9, seed=10)
    whole = movie.render(0, 60)
    assert np.array_equal(whole, np.concatenate([movie.render(0, 7), movie.render(7, 60, workers=2)]))
    again, _ = simulate.simulate_realistic_movie(60, (48, 48), 3, 9, seed=10)
    assert np.array_equal(whole, again.render(0, 60))
    path = tmp_path / "r.tif"
    t2 = simulate.write_realistic_movie_tiff(
        path, 60, (48, 48), 3, 9, 10, chunk_frames=16, truth_path=tmp_path / "r.json"
    )
    info = open_movie(path)
    assert info.shape == (60, 48, 48) and info.bin_time_s == pytest.approx(0.1)
    assert info.pixel_size_um == pytest.approx(0.16)
    assert np.array_equal(read_frames(info, 0, 60), whole)
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["class_counts"] == t2["class_counts"] == truth["class_counts"]
    assert len(saved["particles"][0]["states"]) == 60
