"""Levels, the paper's threshold rule, change points and dwell times, against known states."""

import numpy as np
import pytest

from analysis import simulate
from analysis.blinking import (
    changepoint_segments,
    changepoint_states,
    dwell_times,
    intensity_levels,
    otsu_split,
    threshold_states,
)
from analysis.blinking.traces import active_span, envelope_threshold_states, two_state_path
from analysis.errors import AnalysisInputError


def _two_state(seed=0, n=3000, on=1000.0, noise=60.0):
    rng = np.random.default_rng(seed)
    s = simulate.two_state_states(
        n, bin_time_s=0.1, alpha_on=1.2, mu_on_per_s=0.1, alpha_off=0.88, mu_off_per_s=0.1, rng=rng
    )
    return s, s * on + rng.normal(0, noise, n)


def test_threshold_is_half_bright_minus_background():
    s, x = _two_state()
    lv = intensity_levels(x)
    # Median of ~1000 bright frames with noise 60: standard error ~2.5, so 1 % (10 counts) is 4 SE.
    assert lv.on == pytest.approx(1000, abs=10)
    assert lv.off == pytest.approx(0, abs=10)
    assert lv.threshold == pytest.approx(0.5 * lv.on)
    # A noise of 60 against a 500 margin: no frame is misassigned.
    assert np.array_equal(threshold_states(x, lv.threshold), s)


def test_threshold_rule_is_a_parameter():
    _, x = _two_state(seed=1)
    x = x + 200  # a dim OFF state 200 above the background
    lv_bg = intensity_levels(x, fraction=0.5, reference="background")
    lv_off = intensity_levels(x, fraction=0.5, reference="off")
    assert lv_bg.threshold == pytest.approx(0.5 * lv_bg.on)
    assert lv_off.threshold == pytest.approx(lv_off.off + 0.5 * (lv_off.on - lv_off.off))
    assert intensity_levels(x, fraction=0.25).threshold == pytest.approx(0.25 * lv_bg.on)
    with pytest.raises(AnalysisInputError):
        intensity_levels(x, fraction=1.5)
    with pytest.raises(AnalysisInputError):
        intensity_levels(x, reference="median")
    with pytest.raises(AnalysisInputError):
        intensity_levels(np.array([1.0, np.nan]))


def test_dwell_times_keep_censored_apart():
    s = np.array([1, 1, 0, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    d = dwell_times(s, 0.1)
    assert np.allclose(d.on_s, [0.1])
    assert np.allclose(d.off_s, [0.3, 0.1])
    assert np.allclose(sorted(d.censored_on_s), [0.2, 0.3])
    assert d.censored_off_s.size == 0
    never = dwell_times(np.ones(5, bool), 0.1)
    assert never.on_s.size == 0 and np.allclose(never.censored_on_s, [0.5])
    with pytest.raises(AnalysisInputError):
        dwell_times(s, -0.1)


def test_dwell_times_recover_simulated_runs():
    s, _ = _two_state(seed=2)
    d = dwell_times(s, 0.1)
    n_runs = 1 + np.count_nonzero(s[1:] != s[:-1])
    assert d.on_s.size + d.off_s.size + d.censored_on_s.size + d.censored_off_s.size == n_runs
    total = d.on_s.sum() + d.off_s.sum() + d.censored_on_s.sum() + d.censored_off_s.sum()
    assert total == pytest.approx(0.1 * s.size)


def test_changepoints_of_piecewise_constant_trace():
    rng = np.random.default_rng(3)
    truth = [0, 120, 300, 310, 700, 1000]
    levels = [0, 1000, 0, 1000, 400]
    x = np.concatenate([np.full(b - a, v) for a, b, v in zip(truth[:-1], truth[1:], levels, strict=True)])
    x = x + rng.normal(0, 60, x.size)
    cps = changepoint_segments(x)
    # Jumps of >= 6.7 sigma: each is found at its frame (a one-frame slip would cost > 40 sigma^2).
    assert list(cps) == truth[1:-1]


def test_changepoint_states_agree_with_threshold_on_clean_two_state():
    s, x = _two_state(seed=4, n=2000)
    cp = changepoint_states(x, 500.0)
    # One-frame dwells next to long ones are the only frames a segmentation can merge: >= 99 % agree.
    assert np.mean(cp == s) > 0.99


def test_otsu_split_lies_between_two_levels():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 30, 700), rng.normal(1000, 30, 300)])
    # Equal spreads: the minimum within-class variance split is near the midpoint, far from both modes.
    assert 300 < otsu_split(x) < 700


def test_analyze_trace_excludes_censored_dwells_by_default():
    from analysis.blinking import analyze_trace

    s, x = _two_state(seed=6)
    a = analyze_trace(x, 0.1, min_events=5)
    assert a.fit_on.n_events == a.dwells.on_s.size
    b = analyze_trace(x, 0.1, min_events=5, include_censored=True)
    assert b.fit_on.n_events + b.fit_off.n_events == a.fit_on.n_events + a.fit_off.n_events + 2


# --- Local ON level, noise-flip decoding, dark ends -------------------------------------------------------


def test_two_state_path_is_the_threshold_without_cost_and_drops_weak_flips():
    llr = np.array([-5.0, -5, 1.5, -5, -5, 9, -5, -5, 4, 4, 4, -5])
    np.testing.assert_array_equal(two_state_path(llr, 0.0), llr > 0)
    path = two_state_path(llr, 2.0)
    # A flip worth 1.5 nats costs two switches (4 nats): dropped; 9 nats and a 12-nat run are kept.
    assert not path[2] and path[5] and path[8:11].all() and path.sum() == 4


def test_envelope_threshold_follows_a_brightening_crystal():
    """A two-state crystal whose ON level rises from 0.5 to 1 (PEB): half the *local* ON level recovers
    the states where one global threshold loses the dim early ON frames."""
    rng = np.random.default_rng(3)
    s = simulate.two_state_states(
        4000, bin_time_s=0.1, alpha_on=1.0, mu_on_per_s=0.2, alpha_off=1.0, mu_off_per_s=0.5, rng=rng
    )
    level = 1000 * (1 - 0.5 * np.exp(-np.arange(4000) / 1500))
    x = s * level + rng.normal(0, 40, s.size)
    lv = intensity_levels(x)
    glob = threshold_states(x, lv.threshold)
    local, env = envelope_threshold_states(x, lv, window_frames=151)
    # Noise 40 against a threshold >= 250 away: the local rule is essentially exact (< 0.2 % of frames,
    # transition frames aside); the global one misses early ON frames near its threshold.
    assert np.mean(local != s) < 0.002
    assert np.mean(glob != s) > 5 * np.mean(local != s)
    assert np.median(np.abs(env[s] - level[s]) / level[s]) < 0.05


def test_noise_flips_at_low_snr_are_decoded_away_and_true_dwells_kept():
    """SNR 3 (ON 300, noise 100): the plain threshold flips ~7 % of frames; the decoded path with the
    adaptive cost (1e-3 false flips per frame) keeps the dwell count within 25 % of the truth (measured
    -18 %: at SNR 3 some true one-frame dwells, worth 4.5 nats, fall under the 2.4-nat cost twice)."""
    rng = np.random.default_rng(4)
    s = simulate.two_state_states(
        4000, bin_time_s=0.1, alpha_on=1.0, mu_on_per_s=0.1, alpha_off=1.0, mu_off_per_s=0.3, rng=rng
    )
    x = s * 300.0 + rng.normal(0, 100, s.size)
    lv = intensity_levels(x)
    plain, _ = envelope_threshold_states(x, lv, switch_cost=0.0)
    decoded, _ = envelope_threshold_states(x, lv, switch_cost=None)
    n_true = dwell_times(s, 0.1).on_s.size
    assert dwell_times(plain, 0.1).on_s.size > 2 * n_true
    assert abs(dwell_times(decoded, 0.1).on_s.size - n_true) < 0.25 * n_true


def test_active_span_ignores_noise_flips_in_dark_ends():
    s = np.zeros(1000, bool)
    s[200:450] = np.tile([True] * 5 + [False] * 5, 25)  # blinking from 200; the last ON run ends at 445
    s[[50, 800, 950]] = True  # single noise frames in the dark beginning and end
    assert active_span(s, min_dark_frames=50) == (200, 445)
    # A dark end shorter than min_dark_frames is not one.
    assert active_span(s, min_dark_frames=600) == (0, 1000)


@pytest.mark.parametrize("fraction_on", [0.15, 0.5, 0.92, 0.95])
def test_snr_is_on_minus_off_over_one_frames_noise_whatever_the_time_on(fraction_on):
    """A crystal ON 92 % of the time has the SNR of one ON 50 %: the levels come from the decoded
    states, not from a two-class split of the intensities (which cuts a noisy ON level in two: it
    gave 1.4 instead of 3.4 at 92 and 95 % ON)."""
    from analysis.blinking.pipeline import analyze_trace

    rng = np.random.default_rng(7)
    n, on_level, sigma = 6000, 400.0, 115.0  # SNR 3.4
    states = np.zeros(n, dtype=bool)
    t = 0
    while t < n:  # alternating dwells of 1-60 frames with the requested share of ON time
        on = rng.random() < fraction_on
        length = int(rng.integers(1, 60))
        states[t : t + length] = on
        t += length
    trace = np.where(states, on_level, 0.02 * on_level) + rng.normal(0.0, sigma, n)
    snr = analyze_trace(trace, 0.1).snr
    assert snr == pytest.approx(on_level * 0.98 / sigma, rel=0.06), snr
