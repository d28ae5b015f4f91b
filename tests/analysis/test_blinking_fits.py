"""Truncated power-law fits: recovery of the paper's exponents, uncertainties, and an independent MLE."""

import warnings

import numpy as np
import pytest
from scipy import optimize, special

from analysis import simulate
from analysis.blinking import (
    dwell_density,
    fit_truncated_power_law,
    fit_truncated_power_law_lsq,
    truncated_power_law_nll,
)
from analysis.blinking.fits import _log_continuous_norm, _log_discrete_norm

BIN = 0.1  # s, the paper's frame time
T_MAX = 600.0  # s, 6000 frames


def _discrete(n, alpha, mu, seed):
    rng = np.random.default_rng(seed)
    k = simulate.sample_discrete_truncated_power_law(
        n, alpha, mu, bin_time_s=BIN, k_min=1, k_max=6000, rng=rng
    )
    return k * BIN


# The paper's pooled exponents: pristine alpha_on 1.20 / alpha_off 0.88, 3 % Cl 1.01 / 1.02.
@pytest.mark.parametrize("alpha, mu", [(1.20, 0.1), (0.88, 0.1), (1.01, 0.05), (1.02, 0.2)])
def test_discrete_mle_recovers_paper_exponents(alpha, mu):
    fit = fit_truncated_power_law(
        _discrete(4000, alpha, mu, seed=11), t_min_s=BIN, bin_time_s=BIN, t_max_s=T_MAX
    )
    assert fit.method == "mle-discrete" and fit.n_events == 4000
    # 4000 events give a standard error ~0.02 on alpha; 4 SE is a 6e-5 false-alarm rate.
    assert fit.alpha_err < 0.03
    assert abs(fit.alpha - alpha) < 4 * fit.alpha_err
    assert abs(fit.mu_per_s - mu) < 4 * fit.mu_err_per_s


def test_standard_errors_match_the_scatter_of_repeated_fits():
    fits = [
        fit_truncated_power_law(_discrete(400, 1.2, 0.1, seed=s), t_min_s=BIN, bin_time_s=BIN, t_max_s=T_MAX)
        for s in range(40)
    ]
    alphas = np.array([f.alpha for f in fits])
    errs = np.array([f.alpha_err for f in fits])
    # The spread of 40 estimates is known to ~11 % (1/sqrt(2*39)); allow 35 %.
    assert np.std(alphas, ddof=1) == pytest.approx(np.mean(errs), rel=0.35)
    assert abs(alphas.mean() - 1.2) < 3 * np.mean(errs) / np.sqrt(40)


def test_continuous_mle_recovers_exponents():
    x = simulate.sample_truncated_power_law(3000, 0.88, 0.1, t_min_s=0.1, rng=np.random.default_rng(3))
    fit = fit_truncated_power_law(x, t_min_s=0.1)
    assert fit.method == "mle-continuous"
    assert abs(fit.alpha - 0.88) < 4 * fit.alpha_err and fit.alpha_err < 0.04
    assert abs(fit.mu_per_s - 0.1) < 4 * fit.mu_err_per_s


def test_bounded_newton_fit_is_the_likelihood_maximum():
    t = _discrete(300, 1.01, 0.05, seed=5)
    fit = fit_truncated_power_law(t, t_min_s=BIN, bin_time_s=BIN, t_max_s=T_MAX)
    res = optimize.minimize(
        lambda p: truncated_power_law_nll(p, t, t_min_s=BIN, bin_time_s=BIN, t_max_s=T_MAX),
        [1.0, 0.1],
        method="Nelder-Mead",
        options=dict(xatol=1e-9, fatol=1e-12, maxiter=4000),
    )
    assert fit.alpha == pytest.approx(res.x[0], abs=1e-6)
    assert fit.mu_per_s == pytest.approx(res.x[1], abs=1e-6)
    # The Newton fit sums the support beyond 512 frames as a midpoint-rule integral (relative error
    # < 1e-6 of the tail's mass): its log-likelihood may differ from the explicit sum by ~1e-8 relative.
    assert fit.log_likelihood == pytest.approx(-res.fun, rel=1e-8)


def test_mu_on_its_bound():
    # A pure power law (mu = 0) on a finite support: mu is reported 0 with no standard error.
    t = _discrete(2000, 0.6, 0.0, seed=6)
    fit = fit_truncated_power_law(t, t_min_s=BIN, bin_time_s=BIN, t_max_s=T_MAX)
    assert fit.mu_per_s < 0.01
    assert abs(fit.alpha - 0.6) < 4 * fit.alpha_err


def test_too_few_events_give_nan():
    fit = fit_truncated_power_law(np.array([0.1, 0.2, 0.5]), bin_time_s=BIN, min_events=10)
    assert np.isnan(fit.alpha) and fit.n_events == 3


def test_normalisations():
    # Discrete: explicit sum.
    k = np.arange(1, 6001)
    assert _log_discrete_norm(1.1, 0.01, 1, 6000) == pytest.approx(
        np.log(np.sum(k**-1.1 * np.exp(-0.01 * k))), rel=1e-12
    )
    kk = np.arange(3, 2_000_000, dtype=float)
    assert _log_discrete_norm(0.9, 0.002, 3, None) == pytest.approx(
        np.log(np.sum(kk**-0.9 * np.exp(-0.002 * kk))), rel=1e-9
    )
    # Continuous, alpha < 1: Z = mu^(alpha-1) Gamma(1-alpha) Q(1-alpha, mu t_min).
    a, mu, t0 = 0.7, 0.3, 0.1
    z = mu ** (a - 1) * special.gamma(1 - a) * special.gammaincc(1 - a, mu * t0)
    assert _log_continuous_norm(a, mu, t0, None) == pytest.approx(np.log(z), rel=1e-9)
    # mu = 0, alpha > 1: t_min^(1-alpha)/(alpha-1).
    assert _log_continuous_norm(1.5, 0.0, 0.1, None) == pytest.approx(np.log(0.1**-0.5 / 0.5))


def _powerlaw_fit(data, xmin, discrete):
    powerlaw = pytest.importorskip("powerlaw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(data, xmin=xmin, discrete=discrete, verbose=False)
        tpl = fit.truncated_power_law
        return tpl.alpha, tpl.Lambda


def test_discrete_mle_agrees_with_powerlaw_package():
    """powerlaw's discrete truncated power law normalises with the Lerch transcendent over k >= xmin: the
    same likelihood as ours on dwells counted in frames (x = k = t / bin, xmin = 1, lambda = mu * bin).
    Both maximise one likelihood, so the estimates differ only by optimiser tolerance (powerlaw uses
    scipy's fmin with default xtol 1e-4): 2e-3 on alpha, 2 % on mu."""
    t = _discrete(1500, 1.2, 0.1, seed=7)
    ours = fit_truncated_power_law(t, t_min_s=BIN, bin_time_s=BIN)  # unbounded support, like powerlaw
    alpha_pl, lambda_pl = _powerlaw_fit(np.rint(t / BIN).astype(int), 1, True)
    assert ours.alpha == pytest.approx(alpha_pl, abs=2e-3)
    assert ours.mu_per_s == pytest.approx(lambda_pl / BIN, rel=0.02)
    ll_pl = -truncated_power_law_nll((alpha_pl, lambda_pl / BIN), t, t_min_s=BIN, bin_time_s=BIN)
    assert ours.log_likelihood >= ll_pl - 1e-6


def test_continuous_mle_agrees_with_powerlaw_package():
    """Continuous: powerlaw normalises with mpmath's incomplete gamma, we by quadrature; same tolerance."""
    x = simulate.sample_truncated_power_law(1500, 1.2, 0.1, t_min_s=0.1, rng=np.random.default_rng(8))
    ours = fit_truncated_power_law(x, t_min_s=0.1)
    alpha_pl, lambda_pl = _powerlaw_fit(x, 0.1, False)
    assert ours.alpha == pytest.approx(alpha_pl, abs=2e-3)
    assert ours.mu_per_s == pytest.approx(lambda_pl, rel=0.02)


def test_kuno_density_is_normalised_and_lsq_fit_is_close():
    t = _discrete(50_000, 1.2, 0.1, seed=9)
    u, p = dwell_density(t, method="kuno")
    gaps = np.diff(u)
    dt = np.concatenate([[gaps[0]], 0.5 * (gaps[1:] + gaps[:-1]), [gaps[-1]]])
    assert np.sum(p * dt) == pytest.approx(1.0)
    c, d = dwell_density(t, method="log", bins_per_decade=8)
    assert np.all(np.diff(c) > 0) and np.all(d > 0)
    lsq = fit_truncated_power_law_lsq(t)
    # Least squares weighs each sparse tail point like the head and the one-count points (N_i = 1) sit
    # above the density: it is biased, which is why ML is the default. Within 0.15 of the truth here.
    assert lsq.method == "lsq-kuno" and abs(lsq.alpha - 1.2) < 0.15
    with pytest.raises(Exception, match="method"):
        dwell_density(t, method="linear")
