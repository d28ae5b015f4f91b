"""XRD peak finding and phase flags against a reference peak table.

The paper (Jin et al. 2023, Fig. 1c, S4b) identifies tetragonal MAPbI3 by its (002)/(110) doublet at
13.9/14.1 deg and the over-treatment product MAPbCl3 by a new peak at 15.6 deg (Cu K-alpha), present at
9 % and 17 % Cl. :data:`DEFAULT_REFERENCE_PEAKS` holds those; users extend it with a JSON file
(:func:`load_reference_peaks`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from analysis.errors import AnalysisInputError

__all__ = [
    "CU_KALPHA1_ANGSTROM",
    "DEFAULT_REFERENCE_PEAKS",
    "PhaseFlag",
    "XrdPeak",
    "find_xrd_peaks",
    "load_reference_peaks",
    "phase_flags",
]

CU_KALPHA1_ANGSTROM = 1.5405980

#: phase -> reference 2theta positions (deg, Cu K-alpha1). MAPbI3 and MAPbCl3 as in the paper; PbI2 (001)
#: at 12.7 deg is the usual decomposition product of MAPbI3 (not discussed in the paper).
DEFAULT_REFERENCE_PEAKS: dict[str, list[float]] = {
    "MAPbI3": [13.9, 14.1],
    "MAPbCl3": [15.6],
    "PbI2": [12.7],
}


@dataclass(frozen=True)
class XrdPeak:
    """One diffraction peak: position, d-spacing (when the wavelength is known), height above the
    background, FWHM and height relative to the strongest peak."""

    two_theta_deg: float
    d_spacing_angstrom: float | None
    height: float
    fwhm_deg: float
    relative_height: float


@dataclass(frozen=True)
class PhaseFlag:
    """Whether a reference phase is seen, and which of its reference peaks matched which observed peak."""

    phase: str
    present: bool
    matches: list = field(default_factory=list)  # dicts: reference_deg, observed_deg, relative_height


def load_reference_peaks(path, *, base: dict | None = None) -> dict[str, list]:
    """Read a reference peak table from JSON and merge it into ``base`` (default: the paper's table).

    The file maps a phase name to a list of 2theta positions (deg, Cu K-alpha1); an entry may also be an
    object ``{"two_theta_deg": 31.5, "tolerance_deg": 0.2}``. Example::

        {"MAPbCl3": [15.6, 31.5], "PbI2": [12.7, {"two_theta_deg": 25.5, "tolerance_deg": 0.2}]}
    """
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnalysisInputError(f"{path}: not a JSON reference peak table ({exc})") from exc
    merged = {k: list(v) for k, v in (DEFAULT_REFERENCE_PEAKS if base is None else base).items()}
    if not isinstance(table, dict) or not table:
        raise AnalysisInputError(f"{path}: expected an object mapping phase names to lists of 2theta values")
    for phase, peaks in table.items():
        if not isinstance(peaks, list) or not peaks:
            raise AnalysisInputError(f"{path}: phase {phase!r} needs a non-empty list of 2theta positions")
        merged[str(phase)] = [_reference_entry(p, path, phase) for p in peaks]
    return merged


def _reference_entry(p, where, phase):
    if isinstance(p, bool):
        raise AnalysisInputError(f"{where}: phase {phase!r}: {p!r} is not a 2theta position")
    if isinstance(p, (int, float)):
        value, tol = float(p), None
    elif isinstance(p, dict) and "two_theta_deg" in p:
        try:
            value = float(p["two_theta_deg"])
            tol = float(p["tolerance_deg"]) if "tolerance_deg" in p else None
        except (TypeError, ValueError) as exc:
            raise AnalysisInputError(f"{where}: phase {phase!r}: bad entry {p!r}") from exc
    else:
        raise AnalysisInputError(f"{where}: phase {phase!r}: {p!r} is not a 2theta position")
    if not 0 < value < 180 or (tol is not None and not tol > 0):
        raise AnalysisInputError(
            f"{where}: phase {phase!r}: 2theta must be in (0, 180) deg and tolerance > 0"
        )
    return value if tol is None else {"two_theta_deg": value, "tolerance_deg": tol}


def _background(y, window_points):
    """Rolling-minimum (morphological opening) background, smoothed; a common XRD baseline estimate."""
    opened = ndimage.grey_opening(y, size=window_points, mode="nearest")
    return ndimage.uniform_filter1d(opened, size=window_points, mode="nearest")


def find_xrd_peaks(
    two_theta_deg: np.ndarray,
    intensity: np.ndarray,
    *,
    min_snr: float = 5.0,
    min_relative_height: float = 0.005,
    background_window_deg: float = 1.5,
    wavelength_angstrom: float | None = CU_KALPHA1_ANGSTROM,
) -> list[XrdPeak]:
    """Find diffraction peaks with :func:`scipy.signal.find_peaks` and measure their widths.

    Parameters
    ----------
    two_theta_deg, intensity : (N,) arrays
        An equidistant (or nearly) scan, intensities in counts.
    min_snr : float
        A peak must rise above the background by ``min_snr`` times the counting noise
        :math:`\\sqrt{\\max(b, 1)}` (Poisson) of the local background :math:`b`.
    min_relative_height : float
        ... and by this fraction of the strongest peak.
    background_window_deg : float
        Width of the rolling-minimum background (wider than any peak, narrower than background features).
    wavelength_angstrom : float or None
        For d-spacings, :math:`d = \\lambda / (2 \\sin\\theta)`.

    Returns
    -------
    list of XrdPeak
        Sorted by angle; empty when no peak passes.

    Notes
    -----
    Detection runs on a lightly smoothed pattern (Savitzky-Golay, 5 points, order 3); positions are
    refined by a parabola through the three samples around each maximum; FWHM from
    :func:`scipy.signal.peak_widths` at half height above the background, in degrees.
    """
    tt = np.asarray(two_theta_deg, dtype=float)
    y = np.asarray(intensity, dtype=float)
    if tt.ndim != 1 or tt.shape != y.shape or tt.size < 10:
        raise AnalysisInputError("two_theta_deg and intensity must be 1-D arrays of the same length (>= 10)")
    if not (np.all(np.isfinite(tt)) and np.all(np.isfinite(y))):
        raise AnalysisInputError("XRD pattern contains NaN or infinite values")
    if np.any(np.diff(tt) <= 0):
        raise AnalysisInputError("two_theta_deg must increase")
    step = float(np.median(np.diff(tt)))
    window = max(5, int(round(background_window_deg / step)))
    smooth = signal.savgol_filter(y, 5, 3) if y.size >= 5 else y
    bg = _background(smooth, window)
    net = smooth - bg
    noise = np.sqrt(np.maximum(bg, 1.0))
    idx, _ = signal.find_peaks(net, prominence=min_snr * float(np.median(noise)))
    idx = idx[net[idx] >= min_snr * noise[idx]]
    if idx.size == 0:
        return []
    idx = idx[net[idx] >= min_relative_height * net[idx].max()]
    widths, _, left, right = signal.peak_widths(net, idx, rel_height=0.5)
    strongest = float(net[idx].max())
    peaks = []
    for i, w in zip(idx, widths, strict=True):
        pos = tt[i]
        if 0 < i < y.size - 1:
            y0, y1, y2 = net[i - 1 : i + 2]
            denom = y0 - 2 * y1 + y2
            if denom < 0:
                pos = tt[i] + 0.5 * (y0 - y2) / denom * 0.5 * (tt[i + 1] - tt[i - 1])
        d = None
        if wavelength_angstrom:
            d = float(wavelength_angstrom / (2 * np.sin(np.radians(pos / 2))))
        peaks.append(
            XrdPeak(
                two_theta_deg=float(pos),
                d_spacing_angstrom=d,
                height=float(net[i]),
                fwhm_deg=float(w * step),
                relative_height=float(net[i] / strongest),
            )
        )
    return peaks


def _convert_angle(two_theta_cu, wavelength):
    """Reference 2theta (Cu K-alpha1) converted to another wavelength through the d-spacing."""
    d = CU_KALPHA1_ANGSTROM / (2 * np.sin(np.radians(two_theta_cu / 2)))
    s = wavelength / (2 * d)
    return float(np.degrees(2 * np.arcsin(s))) if s < 1 else None


def phase_flags(
    peaks: list[XrdPeak],
    reference: dict | None = None,
    *,
    tolerance_deg: float = 0.15,
    min_relative_height: float = 0.01,
    wavelength_angstrom: float | None = None,
) -> dict[str, PhaseFlag]:
    """Flag each reference phase as present when an observed peak lies near one of its reference peaks.

    Parameters
    ----------
    peaks : list of XrdPeak
        From :func:`find_xrd_peaks`.
    reference : dict, optional
        Phase -> reference positions (see :func:`load_reference_peaks`); default the paper's table.
    tolerance_deg : float
        Default match tolerance in 2theta (entries may carry their own).
    min_relative_height : float
        A matching peak must be at least this fraction of the strongest peak.
    wavelength_angstrom : float, optional
        Wavelength of the scan when it is not Cu K-alpha1; reference angles are converted through
        their d-spacings.

    Notes
    -----
    The nearest observed peak within tolerance is taken for each reference line; a phase is present when
    at least one of its lines is matched. This is a screening flag (as the paper uses the 15.6 deg line),
    not a phase identification by full-pattern refinement.
    """
    if not tolerance_deg > 0:
        raise AnalysisInputError(f"tolerance_deg must be positive, got {tolerance_deg}")
    table = DEFAULT_REFERENCE_PEAKS if reference is None else reference
    convert = wavelength_angstrom is not None and abs(wavelength_angstrom - CU_KALPHA1_ANGSTROM) > 1e-4
    observed = [p for p in peaks if p.relative_height >= min_relative_height]
    flags = {}
    for phase, entries in table.items():
        matches = []
        for entry in entries:
            ref = _reference_entry(entry, "reference table", phase)
            ref_deg = ref["two_theta_deg"] if isinstance(ref, dict) else ref
            tol = ref["tolerance_deg"] if isinstance(ref, dict) else tolerance_deg
            target = _convert_angle(ref_deg, wavelength_angstrom) if convert else ref_deg
            if target is None:
                continue
            near = [p for p in observed if abs(p.two_theta_deg - target) <= tol]
            if near:
                best = min(near, key=lambda p: abs(p.two_theta_deg - target))
                matches.append(
                    {
                        "reference_deg": float(target),
                        "observed_deg": best.two_theta_deg,
                        "relative_height": best.relative_height,
                    }
                )
        flags[phase] = PhaseFlag(phase=phase, present=bool(matches), matches=matches)
    return flags
