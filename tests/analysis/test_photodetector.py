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
