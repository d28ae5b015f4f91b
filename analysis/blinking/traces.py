"""Per-particle traces, ON/OFF levels, the threshold rule, change-point segmentation and dwell times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.blinking.detect import Particles
from analysis.errors import AnalysisInputError

__all__ = [
    "particle_traces",
    "Levels",
    "intensity_levels",
    "otsu_split",
    "threshold_states",
    "changepoint_segments",
    "changepoint_states",
    "Dwells",
    "dwell_times",
]


def particle_traces(frames: np.ndarray, particles: Particles) -> tuple[np.ndarray, np.ndarray]:
    """Background-subtracted integrated intensity of every particle in every frame.

    .. math:: I_i(t) = \\sum_{p \\in R_i} x_p(t) - |R_i|\\, b_i(t), \\qquad
              b_i(t) = \\frac{1}{|B_i|} \\sum_{q \\in B_i} x_q(t)

    with ROI :math:`R_i` and background annulus :math:`B_i`.

    Parameters
    ----------
    frames : (T, H, W) array
        Movie frames (any real dtype; computed in float64).
    particles : Particles
        From :func:`detect_particles`.

    Returns
    -------
    traces, background : (T, n) float arrays
        :math:`I_i(t)` in counts, and the local background per pixel :math:`b_i(t)`.
    """
    t = frames.shape[0]
    flat = frames.reshape(t, -1)
    if particles.n == 0:
        return np.zeros((t, 0)), np.zeros((t, 0))
    roi = flat[:, particles.roi_flat].astype(np.float64)
    ann = flat[:, particles.annulus_flat].astype(np.float64)
    roi_sum = np.add.reduceat(roi, particles.roi_starts(), axis=1)
    bg = np.add.reduceat(ann, particles.annulus_starts(), axis=1) / np.bincount(
        particles.annulus_owner, minlength=particles.n
    )
    return roi_sum - particles.area_px * bg, bg


@dataclass(frozen=True)
class Levels:
    """ON (bright) and OFF (dim) intensity levels of a trace and the threshold between them."""

    on: float
    off: float
    background: float
    threshold: float


def intensity_levels(
    trace: np.ndarray,
    *,
    background: float = 0.0,
    fraction: float = 0.5,
    reference: str = "background",
    on_quantile: float = 0.5,
) -> Levels:
    """Bright and dim levels from a two-class split of the intensities, and the ON/OFF threshold.

    .. math:: \\theta = r + f\\,(I_{ON} - r)

    with :math:`f` = ``fraction`` (the paper's rule is :math:`f = 1/2` with :math:`r` the subtracted
    background, i.e. half the bright-minus-background difference [1]_), :math:`r` = ``background`` when
    ``reference == "background"`` or the dim level :math:`I_{OFF}` when ``reference == "off"``.
    :math:`I_{ON}` is the ``on_quantile`` (median by default) of the frames above :func:`otsu_split`, and
    :math:`I_{OFF}` the median of those below, robust to the transition frames between the classes.

    Parameters
    ----------
    trace : (T,) array
        Background-subtracted intensity.
    background : float
        The background level of ``trace`` (0 for a background-subtracted trace).

    Raises
    ------
    AnalysisInputError
        For a bad ``fraction``/``reference``, a non-finite or constant trace.

    References
    ----------
    .. [1] H. Jin et al., Nanoscale (2023), Methods "Characterization".
    """
    x = np.asarray(trace, dtype=float)
    if not 0 < fraction < 1:
        raise AnalysisInputError(f"fraction: {fraction}, expected between 0 and 1")
    if reference not in ("background", "off"):
        raise AnalysisInputError(f"reference: {reference!r}, expected 'background' or 'off'")
    if x.size < 2 or not np.isfinite(x).all():
        raise AnalysisInputError("trace: needs at least two finite values")
    if np.ptp(x) == 0:
        return Levels(on=float(x[0]), off=float(x[0]), background=background, threshold=float(x[0]))
    split = otsu_split(x)
    bright, dim = x[x > split], x[x <= split]
    bright = bright if bright.size else x
    dim = dim if dim.size else x
    on, off = float(np.quantile(bright, on_quantile)), float(np.median(dim))
    ref = background if reference == "background" else off
    return Levels(on=on, off=off, background=float(background), threshold=ref + fraction * (on - ref))


def otsu_split(trace: np.ndarray, *, bins: int = 256) -> float:
    """Intensity that splits a trace into two classes of minimum within-class variance (Otsu).

    Otsu's criterion on a histogram is two-cluster k-means in one dimension, without iterations: the
    split maximises the between-class variance :math:`w_0 w_1 (\\mu_0 - \\mu_1)^2` [1]_. Written on
    ``np.histogram`` because scikit-image (``threshold_otsu``) is not a dependency.

    References
    ----------
    .. [1] N. Otsu, IEEE Trans. Syst. Man Cybern. 9, 62 (1979).
    """
    counts, edges = np.histogram(np.asarray(trace, dtype=float), bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(counts)[:-1].astype(float)
    w1 = counts.sum() - w0
    s0 = np.cumsum(counts * centres)[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        between = w0 * w1 * (s0 / w0 - (np.sum(counts * centres) - s0) / w1) ** 2
    between[~np.isfinite(between)] = -1.0
    # Every split inside an empty gap between the classes is optimal: take the middle of the gap.
    best = np.flatnonzero(between >= between.max() * (1 - 1e-12))
    return float(0.5 * (edges[1:][best[0]] + edges[1:][best[-1]]))


def threshold_states(trace: np.ndarray, threshold: float) -> np.ndarray:
    """ON (True) where the intensity is above ``threshold``."""
    return np.asarray(trace) > threshold


def changepoint_segments(trace: np.ndarray, *, penalty: float | None = None, min_size: int = 1) -> np.ndarray:
    """Change points of a piecewise-constant mean, by binary segmentation with a BIC-like penalty.

    A split at :math:`k` of a segment is accepted when it lowers the Gaussian cost
    :math:`\\sum (x - \\bar x)^2 / \\sigma^2` by more than ``penalty`` (default :math:`2 \\ln T`), with the
    noise :math:`\\sigma` estimated from the first differences (:math:`1.4826\\,\\mathrm{MAD}/\\sqrt 2`),
    which a few jumps do not inflate. A histogram-free alternative to a fixed threshold, in the spirit of
    Watkins & Yang's change-point detection [1]_ for binned, Gaussian-like EM-CCD traces. Written here
    because the library that does it (ruptures) is not a dependency; cumulative sums make each scan O(T).

    Returns
    -------
    (k,) int array
        Sorted start indices of the segments after the first (``0 < b < T``).

    References
    ----------
    .. [1] L. P. Watkins, H. Yang, J. Phys. Chem. B 109, 617 (2005).
    """
    x = np.asarray(trace, dtype=float)
    n = x.size
    d = np.diff(x)
    sigma = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2) if n > 2 else 0.0
    if not sigma > 0:
        sigma = float(np.std(x)) or 1.0
    pen = 2.0 * np.log(max(n, 2)) if penalty is None else float(penalty)
    cs = np.concatenate([[0.0], np.cumsum(x)])
    out = []
    stack = [(0, n)]
    while stack:
        a, b = stack.pop()
        m = b - a
        if m < 2 * min_size:
            continue
        k = np.arange(a + min_size, b - min_size + 1)
        left_n, right_n = k - a, b - k
        left_s, right_s, tot = cs[k] - cs[a], cs[b] - cs[k], cs[b] - cs[a]
        # Reduction of the residual sum of squares by splitting at k.
        gain = left_s**2 / left_n + right_s**2 / right_n - tot**2 / m
        best = int(np.argmax(gain))
        if gain[best] / sigma**2 > pen:
            kk = int(k[best])
            out.append(kk)
            stack += [(a, kk), (kk, b)]
    return np.array(sorted(out), dtype=np.int64)


def changepoint_states(trace: np.ndarray, threshold: float, *, penalty: float | None = None) -> np.ndarray:
    """ON/OFF per frame from the change-point segmentation: a segment is ON when its mean > ``threshold``."""
    x = np.asarray(trace, dtype=float)
    bounds = np.concatenate([[0], changepoint_segments(x, penalty=penalty), [x.size]])
    states = np.empty(x.size, dtype=bool)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        states[a:b] = x[a:b].mean() > threshold
    return states


@dataclass(frozen=True)
class Dwells:
    """ON and OFF durations of one trace in seconds.

    ``on_s``/``off_s`` hold the complete dwells (fitted by default); ``censored_on_s``/``censored_off_s``
    the first and last dwell, cut by the start and end of the recording.
    """

    on_s: np.ndarray
    off_s: np.ndarray
    censored_on_s: np.ndarray
    censored_off_s: np.ndarray


def dwell_times(states: np.ndarray, bin_time_s: float) -> Dwells:
    """Durations of the runs of ON and OFF frames, with the first and last run kept apart.

    Parameters
    ----------
    states : (T,) bool array
        ON per frame.
    bin_time_s : float
        Frame time; a run of ``k`` frames lasts ``k * bin_time_s``.

    Returns
    -------
    Dwells
        A trace that never switches has one run, which is censored at both ends.
    """
    if not bin_time_s > 0:
        raise AnalysisInputError(f"bin_time_s: {bin_time_s}, expected a positive frame time")
    s = np.asarray(states, dtype=bool)
    if s.size == 0:
        z = np.zeros(0)
        return Dwells(z, z, z, z)
    change = np.flatnonzero(s[1:] != s[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [s.size]]))
    on = s[starts]
    dur = lengths * bin_time_s
    inner = np.zeros(starts.size, dtype=bool)
    inner[1:-1] = True
    return Dwells(
        on_s=dur[inner & on],
        off_s=dur[inner & ~on],
        censored_on_s=dur[~inner & on],
        censored_off_s=dur[~inner & ~on],
    )
