"""PL peak and Tauc band gap against synthetic spectra with known peak and gap."""

import numpy as np
import pytest

from analysis.errors import AnalysisInputError
from analysis.instruments_sim import simulate_absorption_spectrum, simulate_pl_spectrum
from analysis.spectra import HC_EV_NM, pl_peak_metrics, subtract_baseline, tauc_band_gap


@pytest.mark.parametrize(("peak_nm", "seed"), [(779.0, 1), (781.0, 2), (784.0, 3)])
def test_pl_peak_position_width_and_integral(peak_nm, seed):
    d = simulate_pl_spectrum(peak_nm=peak_nm, baseline_counts=80.0, baseline_slope_per_nm=0.1, seed=seed)
    p = pl_peak_metrics(d["wavelength_nm"], d["intensity"])
    truth = d["truth"]
    # a 49 nm wide band with 0.7 % counting noise at the top: position to 0.5 nm (the parabola's vertex is
    # biased ~+0.15 nm by the band's asymmetry in wavelength), i.e. 1 meV
    assert p.peak_nm == pytest.approx(peak_nm, abs=0.5)
    assert p.peak_ev == pytest.approx(HC_EV_NM / peak_nm, abs=0.001)
    assert p.fwhm_nm == pytest.approx(truth["fwhm_nm"], rel=0.01)
    assert p.fwhm_ev == pytest.approx(truth["fwhm_ev"], rel=0.01)
    # the linear baseline is removed from the edge medians; integral to 1 %
    assert p.integrated_intensity == pytest.approx(truth["integrated_intensity"], rel=0.01)
    assert p.baseline == "edges"


def test_pl_peak_refuses_uncovered_or_flat_bands():
    d = simulate_pl_spectrum(peak_nm=781.0, wavelength_nm=np.arange(650.0, 760.0, 0.5), seed=4)
    with pytest.raises(AnalysisInputError, match="edge"):
        pl_peak_metrics(d["wavelength_nm"], d["intensity"], baseline="none")
    with pytest.raises(AnalysisInputError, match="no peak"):
        pl_peak_metrics(np.arange(100.0) + 600, np.zeros(100))
    with pytest.raises(AnalysisInputError, match="baseline"):
        pl_peak_metrics(np.arange(100.0) + 600, np.ones(100), baseline="magic")
    with pytest.raises(AnalysisInputError, match="repeated"):
        pl_peak_metrics(np.ones(20), np.arange(20.0))


def test_subtract_baseline_linear():
    x = np.linspace(600, 900, 301)
    y = 5 + 0.01 * x
    corrected, label = subtract_baseline(x, y)
    np.testing.assert_allclose(corrected, 0, atol=1e-9)
    assert subtract_baseline(x, y, baseline=2.0)[1] == "constant 2"


@pytest.mark.parametrize("seed", range(5))
def test_tauc_band_gap_recovers_1_56_ev(seed):
    # direct gap with an Urbach tail (15 meV), 0.2 % noise and a 0.03 scattering baseline: within 0.005 eV
    # (observed bias about -1.5 meV from the tail at the window's low end); the issue asks for 0.01 eV
    d = simulate_absorption_spectrum(band_gap_ev=1.56, seed=seed)
    g = tauc_band_gap(d["wavelength_nm"], d["absorbance"])
    assert g.band_gap_ev == pytest.approx(1.56, abs=0.005)
    assert g.band_gap_nm == pytest.approx(HC_EV_NM / g.band_gap_ev)
    assert g.r_squared > 0.99
    assert g.fit_range_ev[0] > 1.55 and g.fit_range_ev[1] - g.fit_range_ev[0] == pytest.approx(0.1, abs=0.01)
    assert g.baseline_value == pytest.approx(0.03, abs=0.002)
    # the inflection of the absorbance sits at the tail-to-band junction, Eg + E_U/2
    assert g.absorption_edge_ev == pytest.approx(1.56 + 0.0075, abs=0.01)


def test_tauc_band_gap_with_noisier_data():
    # 1 % noise on the absorbance: within 0.005 eV still
    for seed in range(3):
        d = simulate_absorption_spectrum(band_gap_ev=1.58, noise=0.01, seed=seed)
        assert tauc_band_gap(d["wavelength_nm"], d["absorbance"]).band_gap_ev == pytest.approx(
            1.58, abs=0.005
        )


def test_tauc_refusals():
    d = simulate_absorption_spectrum(seed=0)
    with pytest.raises(AnalysisInputError, match="transition"):
        tauc_band_gap(d["wavelength_nm"], d["absorbance"], transition="forbidden")
    with pytest.raises(AnalysisInputError, match="window"):
        tauc_band_gap(d["wavelength_nm"], d["absorbance"], window_ev=10.0)
    with pytest.raises(AnalysisInputError, match="does not rise"):
        tauc_band_gap(d["wavelength_nm"], np.linspace(0, 1, d["wavelength_nm"].size) ** 2)
    with pytest.raises(AnalysisInputError, match="at least 20"):
        tauc_band_gap(d["wavelength_nm"][:10], d["absorbance"][:10])
