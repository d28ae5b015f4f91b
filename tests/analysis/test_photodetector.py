"""Photodetector metrics against synthetic Keithley-style series with known levels and time constants."""

import numpy as np
import pytest

from analysis.errors import AnalysisInputError
from analysis.instruments_sim import simulate_iv_curves, simulate_photoresponse
from analysis.photodetector import (
    RESOLVED_SAMPLES,
    detect_light_states,
    iv_currents_at_bias,
    photoresponse_metrics,
    responsivity_a_per_w,
)


@pytest.mark.parametrize("given", [True, False])
def test_levels_and_times_with_fine_sampling(given):
    # 1 ms sampling resolves a 10-90 % time of 0.22 s (220 samples): interpolation error < 0.5 %
    d = simulate_photoresponse(
        rise_tau_s=0.1, fall_tau_s=0.15, sampling_interval_s=0.001, noise_A=2e-11, seed=1
    )
    m = photoresponse_metrics(
        d["time_s"],
        d["current_A"],
        light_on=d["light"] if given else None,
        power_density_w_per_cm2=0.03,
        area_cm2=0.1,
    )
    truth = d["truth"]
    assert m.rise_time_s == pytest.approx(truth["rise_time_s"], rel=0.005)
    assert m.fall_time_s == pytest.approx(truth["fall_time_s"], rel=0.005)
    assert m.rise_time_resolved and m.fall_time_resolved
    # noise 20 pA on a 20 nA photocurrent, medians over thousands of samples: 0.1 %
    assert m.photocurrent_A == pytest.approx(truth["photocurrent_A"], rel=1e-3)
    assert m.dark_current_A == pytest.approx(truth["dark_current_A"], abs=2e-12)
    assert m.on_off_ratio == pytest.approx((2e-8 + 1e-11) / 1e-11, rel=0.2)
    # R = I_ph / (P A) = 2e-8 A / (0.03 W/cm^2 * 0.1 cm^2)
    assert m.responsivity_A_per_W == pytest.approx(2e-8 / 0.003, rel=1e-3)
    assert m.n_cycles == 5 and m.light_states == ("given" if given else "detected")
    assert m.sampling_interval_s == pytest.approx(0.001)


def test_interpolated_times_at_the_papers_sampling_are_flagged():
    # 0.05 s sampling, true 10-90 % time 0.066 s (1.3 samples): the interpolated value is biased high and
    # must be flagged as unresolved, i.e. an upper bound.
    d = simulate_photoresponse(rise_tau_s=0.03, fall_tau_s=0.035, sampling_interval_s=0.05, seed=2)
    m = photoresponse_metrics(d["time_s"], d["current_A"])
    assert not m.rise_time_resolved and not m.fall_time_resolved
    assert m.rise_time_s >= d["truth"]["rise_time_s"]
    assert m.rise_time_s < RESOLVED_SAMPLES * 0.05
    assert m.sampling_interval_s == pytest.approx(0.05)


@pytest.mark.parametrize(("samples", "max_bias"), [(2, 0.30), (3, 0.15), (4, 0.10), (8, 0.03)])
def test_interpolation_bias_versus_sampling(samples, max_bias):
    # the numbers behind RESOLVED_SAMPLES: over sampling phases, linear interpolation never underestimates
    # a first-order edge and overestimates it by at most max_bias
    dt = 0.05
    tau = samples * dt / np.log(9)
    ratios = []
    for phase in np.linspace(0.001, 0.049, 7):
        d = simulate_photoresponse(
            rise_tau_s=tau, fall_tau_s=tau, sampling_interval_s=dt, sample_phase_s=phase
        )
        m = photoresponse_metrics(d["time_s"], d["current_A"])
        ratios.append(m.rise_time_s / (tau * np.log(9)))
    assert min(ratios) > 0.999 and max(ratios) < 1 + max_bias


def test_cycle_to_cycle_stability():
    iph = [4.0e-9, 3.8e-9, 3.6e-9, 3.5e-9, 3.3e-9]
    d = simulate_photoresponse(cycle_photocurrents_A=iph, rise_tau_s=0.03, fall_tau_s=0.03, seed=3)
    m = photoresponse_metrics(d["time_s"], d["current_A"])
    np.testing.assert_allclose(m.cycle_photocurrents_A, iph, rtol=1e-6)
    assert m.photocurrent_cv == pytest.approx(np.std(iph, ddof=1) / np.mean(iph), rel=1e-4)
    assert m.photocurrent_drift == pytest.approx(3.3 / 4.0 - 1, rel=1e-4)


def test_dark_current_indistinguishable_from_zero_gives_no_ratio():
    # the paper's dark current is "almost zero": 5 pA under 50 pA noise is not significant (se ~ 3 pA)
    d = simulate_photoresponse(dark_current_A=0.0, noise_A=1e-11, seed=4)
    m = photoresponse_metrics(d["time_s"], d["current_A"])
    assert m.on_off_ratio is None
    assert m.responsivity_A_per_W is None  # no power/area given
    d = simulate_photoresponse(dark_current_A=5e-12, noise_A=5e-11, seed=4)
    m = photoresponse_metrics(d["time_s"], d["current_A"])
    assert m.on_off_ratio is None and m.dark_current_err_A == pytest.approx(5e-11 / np.sqrt(301), rel=0.1)


def test_detect_light_states():
    d = simulate_photoresponse(noise_A=1e-10, seed=5)
    states = detect_light_states(d["current_A"])
    # detection flips at the 50 % crossing, a fraction of a sample after the true edge
    assert np.mean(states == d["light"].astype(bool)) > 0.99
    with pytest.raises(AnalysisInputError, match="does not change"):
        detect_light_states(np.ones(50))


def test_responsivity_formula_and_refusals():
    assert responsivity_a_per_w(3e-9, 0.03, 0.1) == pytest.approx(1e-6)
    with pytest.raises(AnalysisInputError):
        responsivity_a_per_w(1e-9, 0.0, 0.1)
    with pytest.raises(AnalysisInputError):
        responsivity_a_per_w(1e-9, 0.03, -1)


def test_iv_currents_at_bias():
    iv = simulate_iv_curves(photocurrent_at_1V_A=2.2e-8, dark_conductance_S=1e-11)
    m = iv_currents_at_bias(iv["voltage_V"], iv["current_dark_A"], iv["current_light_A"], 1.0)
    assert m.photocurrent_A == pytest.approx(2.2e-8, rel=1e-9)
    assert m.dark_current_A == pytest.approx(1e-11, rel=1e-9)
    assert m.on_off_ratio == pytest.approx((2.2e-8 + 1e-11) / 1e-11, rel=1e-9)
    # between grid points: linear interpolation of sinh(V/0.5) on a 0.05 V grid, error < 0.2 %
    half = iv_currents_at_bias(iv["voltage_V"], iv["current_dark_A"], iv["current_light_A"], 0.525)
    exact = 2.2e-8 * np.sinh(0.525 / 0.5) / np.sinh(2.0)
    assert half.photocurrent_A == pytest.approx(exact, rel=2e-3)
    # forward + reverse sweep: currents at equal voltages are averaged
    v = np.concatenate([iv["voltage_V"], iv["voltage_V"][::-1]])
    light = np.concatenate([iv["current_light_A"], iv["current_light_A"][::-1] * 1.1])
    both = iv_currents_at_bias(v, None, light, 1.0)
    assert both.light_current_A == pytest.approx(1.05 * (2.2e-8 + 1e-11), rel=1e-9)
    assert both.photocurrent_A is None
    with pytest.raises(AnalysisInputError, match="outside"):
        iv_currents_at_bias(iv["voltage_V"], iv["current_dark_A"], None, 2.0)
    with pytest.raises(AnalysisInputError, match="dark or a light"):
        iv_currents_at_bias(iv["voltage_V"], None, None, 1.0)


def test_bad_series_are_refused():
    t = np.arange(100) * 0.05
    with pytest.raises(AnalysisInputError, match="same length"):
        photoresponse_metrics(t, np.ones(99))
    with pytest.raises(AnalysisInputError, match="at least 10"):
        photoresponse_metrics(t[:5], np.ones(5))
    with pytest.raises(AnalysisInputError, match="increase"):
        photoresponse_metrics(t[::-1], np.arange(100.0))
    with pytest.raises(AnalysisInputError, match="NaN"):
        photoresponse_metrics(t, np.full(100, np.nan))
    with pytest.raises(AnalysisInputError, match="no complete"):
        photoresponse_metrics(t, np.ones(100), light_on=np.ones(100, bool))
    with pytest.raises(AnalysisInputError, match="one value per sample"):
        photoresponse_metrics(t, np.ones(100), light_on=np.ones(3, bool))


# --- slow edges, on data not made by analysis.instruments_sim --------------------------------------
# An independent generator: square-wave illumination; while the light is on (off) the current relaxes
# from where it was at the switch towards dark + photocurrent (dark) as target + (start - target) g(t),
# with g a first-order, stretched-exponential or double-exponential step response scaled to a given
# 10-90 % time; sampled by a Keithley-like meter every 0.05 s at an arbitrary phase, with 30 pA of
# white noise (0.15 % of a 20 nA photocurrent) and 10 pA resolution. The true 10-90 % time of each
# edge is between the levels at its own start and end (plateau to plateau), from g analytically.


def _first_order(t1090):
    tau = t1090 / np.log(9.0)
    return lambda t: np.exp(-np.asarray(t) / tau)


def _stretched(t1090, beta):
    # 1 - g reaches p at tau (-ln(1 - p))^(1/beta)
    tau = t1090 / (np.log(10.0) ** (1 / beta) - np.log(10 / 9) ** (1 / beta))
    return lambda t: np.exp(-((np.maximum(np.asarray(t), 0.0) / tau) ** beta))


def _double(t1090, fast_share, slow_over_fast):
    from scipy.optimize import brentq

    def g_of(s):
        return lambda t: (
            fast_share * np.exp(-np.asarray(t) / s)
            + (1 - fast_share) * np.exp(-np.asarray(t) / (s * slow_over_fast))
        )

    def width(s):
        g = g_of(s)
        return brentq(lambda t: g(t) - 0.1, 0, 1e3 * s) - brentq(lambda t: g(t) - 0.9, 0, 1e3 * s)

    return g_of(brentq(lambda s: width(s) - t1090, 1e-4, 1e2))


def _edge_truth(g, half_period_s):
    from scipy.optimize import brentq

    end = g(half_period_s)  # not settled yet at the end of the half period: levels are start and end
    t10, t90 = (brentq(lambda t, p=p: g(t) - (1 - p * (1 - end)), 0, half_period_s) for p in (0.1, 0.9))
    return t90 - t10


def _keithley_series(g_rise, g_fall, *, half_period_s, n_cycles=8, seed=0, noise_A=3e-11):
    dark, iph, dt = 1e-11, 2e-8, 0.05
    rng = np.random.default_rng(seed)
    first_on = 3.0
    t = np.arange(rng.uniform(0, dt), first_on + 2 * n_cycles * half_period_s, dt)
    switches = first_on + half_period_s * np.arange(2 * n_cycles + 1)
    current = np.zeros_like(t)
    light = np.zeros(t.size, dtype=bool)
    level, edge_start, on = 0.0, 0.0, False
    for edge in switches:
        sel = (t >= edge_start) & (t < edge)
        target, g = (iph, g_rise) if on else (0.0, g_fall)
        current[sel] = target + (level - target) * g(t[sel] - edge_start)
        light[sel] = on
        level = target + (level - target) * g(edge - edge_start)
        edge_start, on = edge, not on
    sel = t >= edge_start
    current[sel] = level * g_fall(t[sel] - edge_start)
    measured = np.round((dark + current + rng.normal(0.0, noise_A, t.size)) / 1e-11) * 1e-11
    return t, measured, light


SLOW_DEVICES = {
    # the device: 10-90 % rise 1.10 s, fall 0.77 s; half periods just long enough to settle.
    # Per seed the rise is the median of 8 cycles; over 30 seeds its error is -0.1 +/- 0.25 % (first
    # order), -0.2 +/- 0.55 % (stretched), -0.4 +/- 0.5 % (double exponential) and -0.7 +/- 0.5 % (double
    # exponential, 4 s: its slow part is still 0.6 % short of the level at each switch), so 2 % is
    # 2.8 sd or more from the mean in every case. The old code was 2 % to 7 % short on these.
    "first-order": (_first_order(1.10), _first_order(0.77), 5.0),
    "stretched beta=0.7": (_stretched(1.10, 0.7), _stretched(0.77, 0.7), 5.0),
    "double-exponential": (_double(1.10, 0.7, 5.0), _double(0.77, 0.7, 5.0), 5.0),
    "double-exponential, short period": (_double(1.10, 0.7, 5.0), _double(0.77, 0.7, 5.0), 4.0),
}


@pytest.mark.parametrize("device", SLOW_DEVICES)
@pytest.mark.parametrize("given", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_slow_edges_against_an_independent_generator(device, given, seed):
    # before the fix the rise came out short here: the levels were the median of the last half of each
    # period, still on the slow tail, and the first noisy sample beyond 90 % ended the rise
    g_rise, g_fall, half = SLOW_DEVICES[device]
    t, current, light = _keithley_series(g_rise, g_fall, half_period_s=half, seed=seed)
    m = photoresponse_metrics(t, current, light_on=light if given else None)
    assert m.rise_time_s == pytest.approx(_edge_truth(g_rise, half), rel=0.02)
    assert m.fall_time_s == pytest.approx(_edge_truth(g_fall, half), rel=0.02)
    assert m.rise_time_resolved and m.fall_time_resolved and m.n_cycles == 8
    assert m.photocurrent_A == pytest.approx(2e-8, rel=0.01)


@pytest.mark.parametrize("seed", range(5))
def test_fast_edges_from_the_independent_generator_are_flagged_upper_bounds(seed):
    # the paper's device, "< 0.1 s": 10-90 % in 0.066 s, 1.3 samples; the interpolated time is an upper
    # bound (never below the truth by more than the noise allows) and must be flagged
    t, current, light = _keithley_series(
        _first_order(0.066), _first_order(0.08), half_period_s=5.0, seed=seed
    )
    m = photoresponse_metrics(t, current)
    assert not m.rise_time_resolved and not m.fall_time_resolved
    assert 0.066 * 0.98 <= m.rise_time_s < RESOLVED_SAMPLES * 0.05
    assert 0.08 * 0.98 <= m.fall_time_s < RESOLVED_SAMPLES * 0.05


def test_noise_alone_does_not_shorten_a_slow_edge():
    # 1 % noise on a first-order edge with settled plateaus: the first sample beyond the 90 % level is
    # early by the noise's first-passage time; the monotone fit is not (mean over 20 seeds, sd/sqrt(20)
    # ~0.4 %): before, the mean was -1.5 %
    errors = []
    for seed in range(20):
        t, current, _ = _keithley_series(
            _first_order(1.10), _first_order(0.77), half_period_s=8.0, seed=seed, noise_A=2e-10
        )
        m = photoresponse_metrics(t, current)
        errors.append(m.rise_time_s / 1.10 - 1)
    assert abs(np.mean(errors)) < 0.01
