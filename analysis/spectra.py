"""Steady-state spectra: PL peak position, width and intensity; absorption edge and Tauc band gap.

The paper (Jin et al. 2023, Fig. 2a and S11) reports a band gap of ~1.56 eV and a PL maximum at
779-784 nm for pristine and Cl-treated MAPbI3 crystals; these functions compute both from the
Lambda 950 (absorbance) and FLS980 (emission) exports read by :func:`analysis.readers.read_spectrum`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from analysis.errors import AnalysisInputError

__all__ = ["PLPeak", "TaucFit", "pl_peak_metrics", "subtract_baseline", "tauc_band_gap"]

HC_EV_NM = 1239.841984  # h*c in eV*nm


@dataclass(frozen=True)
class PLPeak:
    """Result of :func:`pl_peak_metrics`. ``integrated_intensity`` is in (intensity unit) x nm."""

    peak_nm: float
    peak_ev: float
    fwhm_nm: float
    fwhm_ev: float
    peak_height: float
    integrated_intensity: float
    baseline: str


@dataclass(frozen=True)
class TaucFit:
    """Result of :func:`tauc_band_gap`.

    The line :math:`(\\alpha h\\nu)^{n} = m (h\\nu - E_g)` was fitted over ``fit_range_ev`` (the steepest
    window); ``absorption_edge_*`` is the inflection point of the absorbance (maximum of dA/dE).
    """

    band_gap_ev: float
    band_gap_nm: float
    transition: str
    fit_range_ev: tuple[float, float]
    slope: float
    r_squared: float
    absorption_edge_ev: float
    absorption_edge_nm: float
    baseline_value: float


def _validate(x, y, name_x, name_y, min_points=10):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise AnalysisInputError(f"{name_x} and {name_y} must be 1-D arrays of the same length")
    if x.size < min_points:
        raise AnalysisInputError(f"spectrum has {x.size} points; at least {min_points} are needed")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise AnalysisInputError("spectrum contains NaN or infinite values")
    if np.any(x <= 0):
        raise AnalysisInputError(f"{name_x} must be positive")
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        raise AnalysisInputError(f"{name_x} has repeated values")
    return x, y


def subtract_baseline(x: np.ndarray, y: np.ndarray, *, baseline="edges", edge_fraction: float = 0.05):
    """Remove a baseline: ``"edges"`` (line through the medians of the first and last ``edge_fraction``
    of the points), ``"none"``, or a constant. Returns ``(y - baseline, label)``."""
    if isinstance(baseline, str):
        if baseline == "none":
            return y.copy(), "none"
        if baseline != "edges":
            raise AnalysisInputError(f"baseline must be 'edges', 'none' or a number, got {baseline!r}")
        k = max(3, int(round(edge_fraction * x.size)))
        x0, y0 = np.median(x[:k]), np.median(y[:k])
        x1, y1 = np.median(x[-k:]), np.median(y[-k:])
        line = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        return y - line, "edges"
    return y - float(baseline), f"constant {float(baseline):g}"


def _odd(n, lo, hi):
    n = int(np.clip(n, lo, hi))
    return n if n % 2 else n + 1


def _half_max_crossing(x, y, i_peak, half, direction):
    """x where y falls below ``half`` walking from the peak in ``direction`` (+1/-1), interpolated."""
    j = i_peak
    while 0 <= j + direction < y.size and y[j + direction] >= half:
        j += direction
    k = j + direction
    if not 0 <= k < y.size:
        return None
    return float(x[j] + (half - y[j]) * (x[k] - x[j]) / (y[k] - y[j]))


def pl_peak_metrics(
    wavelength_nm: np.ndarray,
    intensity: np.ndarray,
    *,
    baseline="edges",
    smooth_points: int | None = None,
) -> PLPeak:
    """PL peak position (nm and eV), FWHM and integrated intensity.

    Parameters
    ----------
    wavelength_nm, intensity : (N,) arrays
        An emission spectrum (any order; sorted here).
    baseline : "edges", "none" or float
        See :func:`subtract_baseline`.
    smooth_points : int, optional
        Savitzky-Golay window (odd) used to locate the maximum and the half-maximum crossings; by default
        about an eighth of the points above half maximum (5-51).

    Notes
    -----
    The maximum is the vertex of a parabola fitted to the points within the top 20 % of the (smoothed)
    band;
    the FWHM is the distance between the linearly interpolated half-maximum crossings. The energy FWHM is
    :math:`hc/\\lambda_1 - hc/\\lambda_2` between the same crossings (the band is asymmetric in one
    of the two units). The integrated intensity is the trapezoidal integral over the whole range after
    the baseline is removed.

    References
    ----------
    .. [1] A. Savitzky and M. J. E. Golay, Anal. Chem. 36, 1627 (1964).
    """
    x, y = _validate(wavelength_nm, intensity, "wavelength_nm", "intensity")
    yc, label = subtract_baseline(x, y, baseline=baseline)
    rough = signal.savgol_filter(yc, 5, 2) if x.size >= 5 else yc
    if rough.max() <= 0:
        raise AnalysisInputError("spectrum has no peak above its baseline")
    n_half = int(np.sum(rough >= rough.max() / 2))
    window = _odd(
        n_half // 4 if smooth_points is None else smooth_points, 5, min(51, x.size - (x.size + 1) % 2)
    )
    smooth = signal.savgol_filter(yc, window, 3) if window > 3 else rough
    ip = int(np.argmax(smooth))
    if ip in (0, x.size - 1):
        raise AnalysisInputError("PL maximum lies at the edge of the spectrum; the peak is not covered")
    # vertex of a parabola fitted to the raw points in the top 20 % (averages the noise of many points)
    top = smooth >= 0.8 * smooth[ip]
    lo = ip - np.argmin(top[ip::-1]) + 1 if not top[: ip + 1].all() else 0
    hi = ip + np.argmin(top[ip:]) if not top[ip:].all() else x.size
    peak_nm, height = float(x[ip]), float(smooth[ip])
    if hi - lo >= 5:
        xc = x[lo:hi] - x[ip]
        c2, c1, c0 = np.polyfit(xc, yc[lo:hi], 2)
        vertex = -c1 / (2 * c2) if c2 < 0 else np.nan
        if np.isfinite(vertex) and x[lo] <= x[ip] + vertex <= x[hi - 1]:
            peak_nm, height = float(x[ip] + vertex), float(c0 - c1**2 / (4 * c2))
    left = _half_max_crossing(x, smooth, ip, height / 2, -1)
    right = _half_max_crossing(x, smooth, ip, height / 2, +1)
    if left is None or right is None:
        raise AnalysisInputError("PL band does not fall to half maximum within the spectrum; FWHM undefined")
    return PLPeak(
        peak_nm=peak_nm,
        peak_ev=HC_EV_NM / peak_nm,
        fwhm_nm=right - left,
        fwhm_ev=HC_EV_NM / left - HC_EV_NM / right,
        peak_height=height,
        integrated_intensity=float(np.trapezoid(yc, x)),
        baseline=label,
    )


def tauc_band_gap(
    wavelength_nm: np.ndarray,
    absorbance: np.ndarray,
    *,
    transition: str = "direct",
    baseline="auto",
    window_ev: float = 0.1,
    smooth_points: int = 9,
) -> TaucFit:
    """Optical band gap by Tauc extrapolation of the steepest linear region.

    Parameters
    ----------
    wavelength_nm, absorbance : (N,) arrays
        An absorbance spectrum covering the edge and some transparent range below it.
    transition : {"direct", "indirect"}
        Exponent :math:`n = 2` (direct allowed, MAPbI3) or :math:`n = 1/2` (indirect allowed).
    baseline : "auto", "none" or float
        Absorbance subtracted first (scattering, reflection): ``"auto"`` uses the median of the 10 % of
        points at the lowest photon energies, which must lie in the transparent range.
    window_ev : float
        Width of the photon-energy window of the linear fit.
    smooth_points : int
        Savitzky-Golay window for the absorption-edge derivative.

    Notes
    -----
    With :math:`\\alpha \\propto A` (film thickness only scales the ordinate),
    :math:`(\\alpha h\\nu)^n = m (h\\nu - E_g)`. Every ``window_ev`` wide window gets a least-squares
    line; the fit window is the lowest-energy one whose slope is within 3 % of the steepest (the
    steepest linear part of the Tauc plot, taken nearest the edge so the extrapolation is shortest;
    "steepest" is the 90th percentile of the window slopes, so one noisy window cannot set it);
    the gap is where that line crosses zero.

    References
    ----------
    .. [1] J. Tauc, R. Grigorovici and A. Vancu, Phys. Status Solidi 15, 627 (1966).
    .. [2] P. Makuła, M. Pacia and W. Macyk, "How to correctly determine the band gap energy of modified
       semiconductor photocatalysts based on UV-Vis spectra", J. Phys. Chem. Lett. 9, 6814 (2018).
    """
    x, a = _validate(wavelength_nm, absorbance, "wavelength_nm", "absorbance", min_points=20)
    if transition not in ("direct", "indirect"):
        raise AnalysisInputError(f"transition must be 'direct' or 'indirect', got {transition!r}")
    if not window_ev > 0:
        raise AnalysisInputError(f"window_ev must be positive, got {window_ev}")
    n = 2.0 if transition == "direct" else 0.5
    e = HC_EV_NM / x[::-1]
    a = a[::-1]
    if isinstance(baseline, str):
        if baseline == "auto":
            base = float(np.median(a[: max(3, a.size // 10)]))
        elif baseline == "none":
            base = 0.0
        else:
            raise AnalysisInputError(f"baseline must be 'auto', 'none' or a number, got {baseline!r}")
    else:
        base = float(baseline)
    ac = np.clip(a - base, 0.0, None)
    tauc = (ac * e) ** n

    # slope of the least-squares line in every window of width window_ev
    fits = []
    for i0 in range(e.size):
        sel = (e >= e[i0]) & (e <= e[i0] + window_ev)
        if sel.sum() < 5 or e[i0] + window_ev > e[-1] + 1e-12:
            continue
        slope, intercept = np.polyfit(e[sel], tauc[sel], 1)
        fits.append((slope, intercept, sel))
    if not fits:
        raise AnalysisInputError(
            f"spectrum is narrower than the {window_ev} eV fit window (or has < 5 points in it)"
        )
    # the steepest linear region nearest the edge: the lowest-energy window within 3 % of a robust
    # maximum slope (a clean Tauc law has a plateau of equal slopes; the nearest one extrapolates least)
    max_slope = float(np.percentile([f[0] for f in fits], 90))
    best = next(f for f in fits if f[0] >= 0.97 * max_slope)
    slope, intercept, sel = best
    if slope <= 0:
        raise AnalysisInputError("absorbance does not rise with photon energy: no absorption edge")
    gap = -intercept / slope
    resid = tauc[sel] - (slope * e[sel] + intercept)
    ss_tot = np.sum((tauc[sel] - tauc[sel].mean()) ** 2)
    r2 = float(1 - np.sum(resid**2) / ss_tot) if ss_tot > 0 else float("nan")
    if not e[0] <= gap <= e[sel][-1]:
        raise AnalysisInputError(f"Tauc extrapolation gives {gap:.3f} eV, outside the measured range")

    w = _odd(smooth_points, 5, max(5, e.size // 4))
    slope_a = np.gradient(signal.savgol_filter(ac, w, 2), e)
    ie = int(np.argmax(slope_a))
    return TaucFit(
        band_gap_ev=float(gap),
        band_gap_nm=float(HC_EV_NM / gap),
        transition=transition,
        fit_range_ev=(float(e[sel][0]), float(e[sel][-1])),
        slope=float(slope),
        r_squared=r2,
        absorption_edge_ev=float(e[ie]),
        absorption_edge_nm=float(HC_EV_NM / e[ie]),
        baseline_value=base,
    )
