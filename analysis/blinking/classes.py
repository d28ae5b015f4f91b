"""Classes of blinking traces: BB, BBB, MSB, PEB and qTSB (mostly-on / intermediate / mostly-off)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from analysis.errors import AnalysisInputError

__all__ = ["TraceClass", "envelope_levels", "classify_trace"]


@dataclass(frozen=True)
class TraceClass:
    """The class of one trace and the numbers it was decided on."""

    label: str  # BB, BBB, MSB, PEB, qTSB
    subclass: str | None  # mostly-on, intermediate, mostly-off (qTSB only)
    first_level: float
    peak_level: float
    last_level: float
    intermediate_fraction: float
    fraction_on: float


def envelope_levels(
    trace: np.ndarray,
    states: np.ndarray,
    *,
    n_windows: int = 10,
    min_on_frames: int = 10,
    on_quantile: float = 0.9,
) -> np.ndarray:
    """Bright-state level in each of ``n_windows`` equal windows: the ``on_quantile`` of its ON frames.

    NaN for a window with fewer than ``min_on_frames`` ON frames (an OFF period says nothing about the
    brightness of the ON state). A high quantile follows the brightest state even when a window also
    holds grey (intermediate) frames above the threshold.
    """
    x = np.asarray(trace, dtype=float)
    s = np.asarray(states, dtype=bool)
    out = []
    for w, sw in zip(np.array_split(x, n_windows), np.array_split(s, n_windows), strict=True):
        on = w[sw]
        if on.size < min_on_frames:
            out.append(np.nan)
            continue
        k = int(round(on_quantile * (on.size - 1)))  # the order statistic: np.quantile's overhead x 10
        out.append(float(np.partition(on, k)[k]))
    return np.array(out)


def classify_trace(
    trace: np.ndarray,
    states: np.ndarray,
    *,
    off_level: float = 0.0,
    n_windows: int = 10,
    min_on_frames: int = 10,
    rise: float = 0.3,
    drop: float = 0.3,
    intermediate_band: tuple[float, float] = (0.35, 0.65),
    msb_fraction: float = 0.15,
    smooth_frames: int = 3,
    mostly_on: float = 0.7,
    mostly_off: float = 0.3,
) -> TraceClass:
    """Assign a blinking trace to one of the paper's five classes [1]_.

    Criteria, checked in this order, on the ON-level envelope :math:`E_k` (:func:`envelope_levels`:
    90th percentile of the ON frames in each of ``n_windows`` windows, measured above ``off_level``; windows
    with fewer than ``min_on_frames`` ON frames are skipped): first valid window :math:`E_0`, last
    valid window :math:`E_{K-1}`, peak :math:`E_{max}`. With fewer than three valid windows no trend
    is decided (criteria 1-3 are skipped).

    1. **BBB** (brightening, then bleaching and blinking): :math:`E_{max} \\ge (1 + rise) E_0` and
       :math:`E_{K-1} \\le (1 - drop) E_{max}` with the peak strictly inside the recording.
    2. **BB** (bleaching and blinking): :math:`E_{K-1} \\le (1 - drop) E_{max}` (and no initial rise).
    3. **PEB** (photo-enhancement and blinking): :math:`E_{K-1} \\ge (1 + rise) E_0`.
    4. **MSB** (multi-state blinking): more than ``msb_fraction`` of the frames of the trace, median-
       filtered over ``smooth_frames`` (to suppress shot noise), lie in the intermediate band
       ``off + intermediate_band * (E_med - off)`` between the dim and the bright level, :math:`E_{med}`
       the median envelope (the median ON intensity without a valid envelope). A two-state emitter only visits the band in transition frames.
    5. **qTSB** (quasi two-state blinking) otherwise, sub-classed by the fraction of ON frames
       :math:`f`: ``mostly-on`` for :math:`f \\ge` ``mostly_on``, ``mostly-off`` for
       :math:`f \\le` ``mostly_off``, else ``intermediate``.

    Parameters
    ----------
    trace : (T,) array
        Background-subtracted intensity.
    states : (T,) bool array
        ON per frame (from the threshold or change points), for the qTSB sub-class.
    off_level : float
        Intensity of the dim/OFF state (0 for background-subtracted traces whose OFF state is dark).

    References
    ----------
    .. [1] H. Jin et al., Nanoscale (2023), Fig. 4 and S17-S19; after Y. Tian et al. and
       B. Bai et al. (ref. 41 and 43 therein).
    """
    x = np.asarray(trace, dtype=float)
    s = np.asarray(states, dtype=bool)
    if x.shape != s.shape or x.ndim != 1:
        raise AnalysisInputError(f"trace and states: shapes {x.shape} and {s.shape}, expected equal 1-D")
    if x.size < n_windows:
        raise AnalysisInputError(f"trace: {x.size} frames, fewer than n_windows={n_windows}")
    env = envelope_levels(x, s, n_windows=n_windows, min_on_frames=min_on_frames) - off_level
    env = env[np.isfinite(env)]
    trend = env.size >= 3
    if not trend:
        env = np.array([np.nan])
    first, last = env[0], env[-1]
    k_peak = int(np.nanargmax(env)) if trend else 0
    peak = env[k_peak]
    fraction_on = float(s.mean())
    smooth = ndimage.median_filter(x, size=smooth_frames, mode="nearest") if smooth_frames > 1 else x
    level = float(np.median(env)) if trend else float(np.median(x[s])) - off_level if s.any() else 0.0
    level = max(level, 1e-12)
    lo, hi = off_level + intermediate_band[0] * level, off_level + intermediate_band[1] * level
    inter = float(np.mean((smooth > lo) & (smooth < hi)))
    first_pos = max(first, 1e-12)
    if trend and peak >= (1 + rise) * first_pos and last <= (1 - drop) * peak and 0 < k_peak < env.size - 1:
        label = "BBB"
    elif trend and last <= (1 - drop) * peak:
        label = "BB"
    elif trend and last >= (1 + rise) * first_pos:
        label = "PEB"
    elif inter > msb_fraction:
        label = "MSB"
    else:
        label = "qTSB"
    subclass = None
    if label == "qTSB":
        subclass = (
            "mostly-on"
            if fraction_on >= mostly_on
            else "mostly-off"
            if fraction_on <= mostly_off
            else "intermediate"
        )
    return TraceClass(
        label=label,
        subclass=subclass,
        first_level=float(first),
        peak_level=float(peak),
        last_level=float(last),
        intermediate_fraction=inter,
        fraction_on=fraction_on,
    )
