"""Trace classes on synthetic traces of each kind, for several seeds."""

import numpy as np
import pytest

from analysis import simulate
from analysis.blinking import classify_trace, intensity_levels, threshold_states
from analysis.errors import AnalysisInputError


def _trace(kind, seed, **kw):
    rng = np.random.default_rng(seed)
    p = simulate.blinking_particle(
        (16, 16), (8, 8), 3000, kind=kind, on_photons=50, off_photons=0.0, rng=rng, **kw
    )
    intensity = p.domains[0].intensity_photons * 20.0  # counts above background
    return intensity + rng.normal(0, 40, intensity.size)


def _classify(x):
    lv = intensity_levels(x)
    return classify_trace(x, threshold_states(x, lv.threshold))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kind", ["BB", "BBB", "PEB", "MSB", "qTSB"])
def test_each_kind_is_recognised(kind, seed):
    # Equal ON/OFF statistics keep the emitter ON ~half the time, so every window sees the ON level.
    kw = dict(alpha_on=1.0, mu_on_per_s=0.2, alpha_off=1.0, mu_off_per_s=0.2)
    assert _classify(_trace(kind, seed, **kw)).label == kind


@pytest.mark.parametrize(
    "subclass, a_on, a_off",
    [("mostly-on", 0.7, 1.8), ("intermediate", 1.1, 1.1), ("mostly-off", 1.8, 0.7)],
)
def test_qtsb_subclasses(subclass, a_on, a_off):
    x = _trace("qTSB", 4, alpha_on=a_on, mu_on_per_s=0.05, alpha_off=a_off, mu_off_per_s=0.05)
    c = _classify(x)
    assert c.label == "qTSB" and c.subclass == subclass


def test_thresholds_are_parameters():
    x = _trace("BB", 5, alpha_on=1.0, mu_on_per_s=0.2, alpha_off=1.0, mu_off_per_s=0.2)  # ends at 40 %
    s = threshold_states(x, intensity_levels(x).threshold)
    assert classify_trace(x, s).label == "BB"
    # Demand a 70 % drop and the same trace is no longer bleaching.
    assert classify_trace(x, s, drop=0.7).label != "BB"
    c = classify_trace(x, s, mostly_on=0.0)  # subclass thresholds only matter for qTSB
    assert c.subclass is None


def test_non_matching_shapes_refused():
    with pytest.raises(AnalysisInputError):
        classify_trace(np.zeros(100), np.zeros(50, bool))


# --- The paper's definitions on microscope-like traces ------------------------------------------------------


def _two_state(seed, n=3000, level=None, noise=40.0, a_off=1.0):
    rng = np.random.default_rng(seed)
    s = simulate.two_state_states(
        n, bin_time_s=0.1, alpha_on=1.0, mu_on_per_s=0.1, alpha_off=a_off, mu_off_per_s=0.5, rng=rng
    )
    lv = np.full(n, 1000.0) if level is None else level
    return s, s * lv + rng.normal(0, noise, n), rng


def _analyse(x):
    from analysis.blinking.pipeline import analyze_trace

    return analyze_trace(x, 0.1).trace_class


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_late_activation_is_two_state_not_brightening(seed):
    """Dark until 80 % of the movie, then blinking at a constant level: qTSB (mostly-off), not PEB."""
    s, x, rng = _two_state(seed)
    x[:2400] = rng.normal(0, 40, 2400)
    c = _analyse(x)
    assert c.label == "qTSB" and c.subclass == "mostly-off"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grey_sub_level_is_msb_even_when_it_dominates_the_start(seed):
    """A grey sub-level at 0.65 of ON that fills the first half and comes back later looks like a
    brightening to a window envelope; levels that come and go make it MSB."""
    s, x, rng = _two_state(seed)
    grey = np.zeros(3000, bool)
    grey[:1400] = True
    for a in (1800, 2300, 2700):
        grey[a : a + 80] = True
    x = np.where(s & grey, 650.0, np.where(s, 1000.0, 0.0)) + rng.normal(0, 40, 3000)
    assert _analyse(x).label == "MSB"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_brightening_is_peb_and_fading_then_dark_is_bb(seed):
    t = np.arange(3000)
    _, x, _ = _two_state(seed, level=1000 * (1 - 0.45 * np.exp(-t / 1000)))
    assert _analyse(x).label == "PEB"
    _, y, rng = _two_state(seed, level=1000 * (1 - 0.4 * t / 2000))
    y[2000:] = rng.normal(0, 40, 1000)  # bleached at 2/3, at 0.6 of the first level
    y[[2300, 2700]] += 700  # two noise flips in the dark do not undo the bleach
    assert _analyse(y).label == "BB"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_brightening_then_bleaching_is_bbb(seed):
    t = np.arange(3000)
    level = np.where(t < 600, 600 + 400 * t / 600, 1000 - 400 * (t - 600) / 1400)
    _, x, rng = _two_state(seed, level=level)
    x[2000:] = rng.normal(0, 40, 1000)
    assert _analyse(x).label == "BBB"


def test_noise_makes_no_trend():
    """A flat two-state crystal at SNR 4: no trend at z_trend = 4 standard errors (20 seeds)."""
    labels = [_analyse(_two_state(seed, noise=250.0)[1]).label for seed in range(20)]
    assert labels.count("qTSB") >= 19


def test_subclass_boundaries_follow_the_validation_rule():
    """mostly-on above 0.8 ON, mostly-off below 0.2, intermediate between (0.2 itself included)."""
    x = np.zeros(1000)
    for f, want in ((0.85, "mostly-on"), (0.8, "intermediate"), (0.2, "intermediate"), (0.15, "mostly-off")):
        s = np.zeros(1000, bool)
        s[np.linspace(0, 999, int(f * 1000)).astype(int)] = True
        assert classify_trace(np.where(s, 1000.0, 0.0) + x, s).subclass == want
