"""Synthetic movies: samplers follow their densities, EM-CCD noise has the right moments, TIFFs round-trip."""

import numpy as np
import pytest
from scipy import integrate, stats

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
