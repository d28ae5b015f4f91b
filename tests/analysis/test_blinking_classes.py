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
