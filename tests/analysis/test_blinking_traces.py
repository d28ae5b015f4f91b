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
