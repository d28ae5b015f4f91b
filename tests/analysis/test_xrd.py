"""XRD peaks and phase flags on synthetic patterns with and without the MAPbCl3 15.6 deg peak."""

import json

import numpy as np
import pytest

from analysis.errors import AnalysisInputError
from analysis.instruments_sim import perovskite_xrd_peaks, simulate_xrd_pattern
from analysis.xrd import DEFAULT_REFERENCE_PEAKS, XrdPeak, find_xrd_peaks, load_reference_peaks, phase_flags


@pytest.mark.parametrize(("cl", "expect_cl3"), [(0, False), (3, False), (9, True), (17, True)])
@pytest.mark.parametrize("seed", [1, 2])
def test_phase_flags_follow_the_treatment_series(cl, expect_cl3, seed):
    d = simulate_xrd_pattern(perovskite_xrd_peaks(cl), seed=seed)
    peaks = find_xrd_peaks(d["two_theta_deg"], d["intensity"])
    flags = phase_flags(peaks)
    assert flags["MAPbI3"].present
    assert flags["MAPbCl3"].present is expect_cl3
    assert not flags["PbI2"].present
    # every simulated peak found, none invented
    assert len(peaks) == len(d["truth"]["peaks"])


def test_peak_positions_heights_and_widths():
    d = simulate_xrd_pattern(perovskite_xrd_peaks(17), seed=3)
    peaks = find_xrd_peaks(d["two_theta_deg"], d["intensity"])
    found = np.array([p.two_theta_deg for p in peaks])
    truth = np.array(sorted(tt for tt, _ in d["truth"]["peaks"]))
    # 0.02 deg steps, parabolic refinement: positions to a quarter step
    np.testing.assert_allclose(found, truth, atol=0.005)
    # pseudo-Voigt FWHM 0.08 deg sampled by 4 points and lightly smoothed: within 25 %
    widths = np.array([p.fwhm_deg for p in peaks])
    assert np.all(np.abs(widths / 0.08 - 1) < 0.25), widths
    strongest = max(peaks, key=lambda p: p.height)
    assert strongest.two_theta_deg == pytest.approx(14.1, abs=0.01) and strongest.relative_height == 1.0
    # height above background, Poisson noise ~ sqrt(5000): 5 %
    assert strongest.height == pytest.approx(5000.0, rel=0.05)
    # d-spacing of the (110) line with Cu K-alpha1
    assert strongest.d_spacing_angstrom == pytest.approx(1.5405980 / (2 * np.sin(np.radians(7.05))), rel=1e-3)
    cl3 = next(p for p in peaks if abs(p.two_theta_deg - 15.6) < 0.05)
    assert cl3.relative_height == pytest.approx(0.15, abs=0.02)


def test_flat_pattern_has_no_peaks():
    rng = np.random.default_rng(0)
    tt = np.arange(10, 45, 0.02)
    peaks = find_xrd_peaks(tt, rng.poisson(100, tt.size).astype(float))
    assert peaks == []
    assert not any(f.present for f in phase_flags(peaks).values())


def test_reference_table_can_be_extended(tmp_path):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"MyPhase": [19.95, {"two_theta_deg": 40.5, "tolerance_deg": 0.05}]}))
    table = load_reference_peaks(path)
    assert set(table) == {*DEFAULT_REFERENCE_PEAKS, "MyPhase"}
    d = simulate_xrd_pattern(perovskite_xrd_peaks(0), seed=4)
    flags = phase_flags(find_xrd_peaks(d["two_theta_deg"], d["intensity"]), table)
    assert flags["MyPhase"].present and len(flags["MyPhase"].matches) == 2


def test_other_wavelength_converts_reference_angles():
    # Co K-alpha1 (1.78897 A): 15.6 deg (Cu) moves to ~18.13 deg through the same d-spacing
    peaks = [XrdPeak(18.13, None, 100.0, 0.1, 1.0)]
    flags = phase_flags(peaks, wavelength_angstrom=1.78897)
    assert flags["MAPbCl3"].present and not flags["MAPbI3"].present
    assert flags["MAPbCl3"].matches[0]["reference_deg"] == pytest.approx(18.13, abs=0.01)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        json.dumps({"X": []}),
        json.dumps({"X": ["a"]}),
        json.dumps({"X": [200.0]}),
        json.dumps({"X": [True]}),
    ],
)
def test_bad_reference_tables_are_refused(tmp_path, content):
    path = tmp_path / "ref.json"
    path.write_text(content)
    with pytest.raises(AnalysisInputError):
        load_reference_peaks(path)


def test_bad_patterns_are_refused():
    with pytest.raises(AnalysisInputError, match="same length"):
        find_xrd_peaks(np.arange(20.0), np.ones(19))
    with pytest.raises(AnalysisInputError, match="increase"):
        find_xrd_peaks(np.arange(20.0)[::-1], np.ones(20))
    with pytest.raises(AnalysisInputError, match="NaN"):
        find_xrd_peaks(np.arange(20.0), np.full(20, np.nan))
    with pytest.raises(AnalysisInputError, match="tolerance"):
        phase_flags([], tolerance_deg=0)
