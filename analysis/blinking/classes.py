"""Classes of blinking traces: BB, BBB, MSB, PEB and qTSB (mostly-on / intermediate / mostly-off)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.blinking.traces import active_span, changepoint_segments
from analysis.errors import AnalysisInputError

__all__ = ["TraceClass", "envelope_levels", "on_level_steps", "classify_trace"]


@dataclass(frozen=True)
class TraceClass:
    """The class of one trace and the numbers it was decided on.

    Levels are the ON envelope's windows (:func:`envelope_levels`) above the OFF level: the first, the
    highest and the last valid window. ``intermediate_fraction`` is the fraction of ON frames on a lower
    ON level than the top one (:func:`on_level_steps`), ``level_alternations`` how often the ON level
    turned back; ``final_dark_fraction`` the final OFF run over the trace length.
    """

    label: str  # BB, BBB, MSB, PEB, qTSB
    subclass: str | None  # mostly-on, intermediate, mostly-off (qTSB only)
    first_level: float
    peak_level: float
    last_level: float
    intermediate_fraction: float
    fraction_on: float
    level_alternations: int = 0
    final_dark_fraction: float = 0.0
    rise_z: float = 0.0
    fall_z: float = 0.0


def _runs(states: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and value of each run of equal states."""
    s = np.asarray(states, dtype=bool)
    change = np.flatnonzero(s[1:] != s[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [s.size]]))
    return starts, lengths, s[starts]


def _on_frame_noise(x: np.ndarray, s: np.ndarray) -> float:
    """Per-frame noise of the ON level: 1.4826 MAD of the differences of consecutive ON frames / sqrt 2
    (blind to the slow trend and to the switching; the median of ON frames otherwise)."""
    pair = s[1:] & s[:-1]
    d = np.diff(x)[pair]
    if d.size >= 10:
        sigma = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
    else:
        on = x[s]
        sigma = 1.4826 * np.median(np.abs(on - np.median(on))) if on.size else 0.0
    return float(sigma) if sigma > 0 else float(np.std(x)) or 1.0


def envelope_levels(
    trace: np.ndarray,
    states: np.ndarray,
    *,
    n_windows: int = 10,
    min_on_frames: int = 10,
    on_quantile: float = 0.5,
    span: tuple[int, int] | None = None,
) -> np.ndarray:
    """Bright-state level in each of ``n_windows`` equal windows: the ``on_quantile`` of its ON frames.

    NaN for a window with fewer than ``min_on_frames`` ON frames (an OFF period says nothing about the
    brightness of the ON state). ``span`` ``(start, stop)`` restricts the windows to those frames (e.g.
    from the first to the last ON frame, so that a late activation or a bleach leaves no empty windows).
    The median by default: unbiased by the noise, unlike a high quantile, which rises with it.
    """
    x = np.asarray(trace, dtype=float)
    s = np.asarray(states, dtype=bool)
    if span is not None:
        x, s = x[span[0] : span[1]], s[span[0] : span[1]]
    out = []
    for w, sw in zip(np.array_split(x, n_windows), np.array_split(s, n_windows), strict=True):
        on = w[sw]
        if on.size < min_on_frames:
            out.append(np.nan)
            continue
        k = int(round(on_quantile * (on.size - 1)))  # the order statistic: np.quantile's overhead x 10
        out.append(float(np.partition(on, k)[k]))
    return np.array(out)


def on_level_steps(
    trace: np.ndarray,
    states: np.ndarray,
    *,
    step: float = 0.2,
    min_frames: int = 3,
    penalty: float | None = None,
) -> tuple[int, int, float]:
    """Distinct ON levels visited in turn: the signature of multi-state blinking.

    The ON frames, in time order, are cut into segments of constant mean (:func:`changepoint_segments`,
    BIC penalty); segments shorter than ``min_frames`` (transition frames, partly ON) are dropped;
    neighbours whose means differ by less than ``step`` times the top ON level (the 75th percentile of
    the ON frames) are merged. What is left are jumps between distinct ON levels.

    Returns
    -------
    n_jumps : int
        Jumps of at least ``step`` between consecutive merged segments.
    n_alternations : int
        Changes of direction among them (down-up-down: 1 alternation per turn). A brightening or a
        fading level goes one way (0), brightening-then-bleaching turns once (1); a grey sub-level or
        independent nanodomains come and go (2 or more).
    lower_fraction : float
        Fraction of the ON frames in segments at least ``step`` below the top level.
    """
    x = np.asarray(trace, dtype=float)
    s = np.asarray(states, dtype=bool)
    y = x[s]
    if y.size < 2 * min_frames:
        return 0, 0, 0.0
    top = float(np.quantile(y, 0.75))
    if not top > 0:
        return 0, 0, 0.0
    bounds = np.concatenate([[0], changepoint_segments(y, penalty=penalty), [y.size]])
    sizes = np.diff(bounds)
    seg_means = np.add.reduceat(y, bounds[:-1]) / sizes
    segs = [(float(m), int(k)) for m, k in zip(seg_means, sizes, strict=True) if k >= min_frames]
    merged: list[list[float]] = []
    for mean, n in segs:
        if merged and abs(mean - merged[-1][0]) < step * top:
            m0, n0 = merged[-1]
            merged[-1] = [(m0 * n0 + mean * n) / (n0 + n), n0 + n]
        else:
            merged.append([mean, n])
    means = np.array([m for m, _ in merged])
    sizes = np.array([n for _, n in merged])
    jumps = np.diff(means)
    signs = np.sign(jumps)
    n_alt = int(np.sum(signs[1:] != signs[:-1])) if signs.size > 1 else 0
    lower = float(sizes[means < (1 - step) * top].sum() / y.size) if sizes.size else 0.0
    return int(jumps.size), n_alt, lower


def classify_trace(
    trace: np.ndarray,
    states: np.ndarray,
    *,
    off_level: float = 0.0,
    n_windows: int = 8,
    min_on_frames: int = 10,
    rise: float = 0.25,
    drop: float = 0.25,
    z_trend: float = 4.0,
    bleach_fraction: float = 0.05,
    bleach_dwell_factor: float = 2.0,
    msb_step: float = 0.2,
    msb_alternations: int = 2,
    msb_fraction: float = 0.05,
    mostly_on: float = 0.8,
    mostly_off: float = 0.2,
) -> TraceClass:
    """Assign a blinking trace to one of the paper's five classes [1]_.

    Decided on the ON frames only (an OFF period says nothing about the brightness of the ON state), in
    the active span from the first to the last ON frame (a late activation or a bleach leaves no empty
    windows). The ON envelope :math:`E_j` is the median of the ON frames in each of ``n_windows`` equal
    windows of that span (:func:`envelope_levels`; windows with fewer than ``min_on_frames`` ON frames
    skipped), each with its standard error :math:`\\sigma_j = 1.2533\\,\\sigma/\\sqrt{n_j}` from the per-frame
    noise :math:`\\sigma` of the ON level. A trend counts only when it is both large (a relative change)
    and significant (``z_trend`` standard errors): noise never makes a trend, and a trend too small to
    matter is not one either. Criteria, in this order:

    1. **Bleach**: the trace ends in an OFF run (isolated noise flips of at most 2 frames, at most 2 % of
       it, do not break it: :func:`~analysis.blinking.traces.active_span`) longer than ``bleach_fraction`` of the recording and
       longer than ``bleach_dwell_factor`` times the longest complete OFF dwell: a sustained final dark
       period, not one more OFF dwell. (Defaults: 5 %, 4 s of an 80 s movie; the validation crystals
       bleach at 0.53-0.69 of their initial level and then stay dark; OFF dwells of every treatment are
       rarely longer than a few seconds.)
    2. **BBB** (brightening, then bleaching and blinking) if bleached after an initial rise (the peak
       window is not the first and :math:`E_{peak} \\ge (1 + rise) E_0`, significant), else **BB**
       (bleaching and blinking). A bleached crystal with two nanodomains stays BB.
    3. **MSB** (multi-state blinking): the ON level visits distinct levels in turn (:func:`on_level_steps`):
       at least ``msb_alternations`` changes of direction between levels ``msb_step`` apart (20 % of the
       top level: the validation movies' grey sub-levels sit at 0.61-0.75 of ON, a second nanodomain
       carries 17-33 % of the crystal), and at least ``msb_fraction`` of the ON frames on a lower level.
       Checked before the envelope's trends: a grey sub-level that dominates one part of the trace moves
       the window medians as a brightening or a fading would, but a trend goes one way, levels come and go.
    4. **BB** / **BBB** without a bleach: a falling envelope :math:`E_{last} \\le (1 - drop) E_{peak}`,
       significant (BBB after an initial rise, as in 2.).
    5. **PEB** (photo-enhancement and blinking): a rising envelope :math:`E_{last} \\ge (1 + rise) E_0`,
       significant, that does not fall again. A crystal that is dark until late in the movie (late
       activation) has a flat envelope over its active span: it is not PEB.
    6. **qTSB** (quasi two-state blinking) otherwise, sub-classed by the fraction of ON frames over the
       whole recording :math:`f`: ``mostly-on`` for :math:`f >` ``mostly_on`` (0.8), ``mostly-off`` for
       :math:`f <` ``mostly_off`` (0.2), else ``intermediate`` (the paper's Fig. S19 and ref. 41).

    ``rise``/``drop`` (25 %): the validation crystals brighten from 0.52-0.70 of their final level and
    fade to 0.53-0.69 before bleaching, changes of 30-90 %; the ON level of a two-state crystal jitters
    4 % frame to frame. ``z_trend`` (4): eight window medians, ~28 comparisons made, a false trend at 4
    standard errors has a chance below 1e-3 per trace.

    Parameters
    ----------
    trace : (T,) array
        Background-subtracted intensity.
    states : (T,) bool array
        ON per frame (from the threshold or change points).
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
    n = x.size
    fraction_on = float(s.mean())
    subclass = (
        "mostly-on"
        if fraction_on > mostly_on
        else "mostly-off"
        if fraction_on < mostly_off
        else "intermediate"
    )
    on_idx = np.flatnonzero(s)
    if on_idx.size == 0:
        nan = float("nan")
        return TraceClass("qTSB", subclass, nan, nan, nan, 0.0, fraction_on)
    # Noise flips in a dark beginning or end (low SNR) are not blinks: the span between them counts.
    span_start, span_stop = active_span(s, min_dark_frames=max(int(bleach_fraction * n), 1))
    s = s.copy()
    s[:span_start] = False
    s[span_stop:] = False
    on_idx = np.flatnonzero(s)
    first_on, last_on = int(on_idx[0]), int(on_idx[-1])
    starts, lengths, values = _runs(s)
    inner = np.zeros(starts.size, bool)
    inner[1:-1] = True
    longest_off = int(lengths[inner & ~values].max()) if np.any(inner & ~values) else 0
    final_dark = n - 1 - last_on
    bleached = final_dark >= bleach_fraction * n and final_dark >= bleach_dwell_factor * longest_off

    y = x - off_level
    sigma = _on_frame_noise(y, s)
    span = (first_on, last_on + 1)
    env = envelope_levels(y, s, n_windows=n_windows, min_on_frames=min_on_frames, span=span)
    counts = np.array([sw.sum() for sw in np.array_split(s[span[0] : span[1]], n_windows)], dtype=float)
    ok = np.isfinite(env)
    env, se = env[ok], 1.2533 * sigma / np.sqrt(np.maximum(counts[ok], 1))
    trend = env.size >= 3
    if trend:
        first, last = env[0], env[-1]
        k_peak = int(np.argmax(env))
        peak = env[k_peak]

        def z(a: int, b: int) -> float:
            return float((env[a] - env[b]) / np.hypot(se[a], se[b]))

        rise_z = z(k_peak, 0)
        fall_z = z(k_peak, env.size - 1)
        first_pos = max(first, 1e-12)
        initial_rise = 0 < k_peak and peak >= (1 + rise) * first_pos and rise_z >= z_trend
        falling = k_peak < env.size - 1 and last <= (1 - drop) * peak and fall_z >= z_trend
        rising = last >= (1 + rise) * first_pos and z(env.size - 1, 0) >= z_trend
    else:
        first = peak = last = float(np.median(y[s]))
        rise_z = fall_z = 0.0
        initial_rise = falling = rising = False
    _, n_alt, lower = on_level_steps(y, s, step=msb_step)
    multi = n_alt >= msb_alternations and lower >= msb_fraction

    if bleached:
        label = "BBB" if initial_rise else "BB"
    elif multi:  # before the envelope's trends: a grey stretch moves the window medians as a trend would
        label = "MSB"
    elif falling:
        label = "BBB" if initial_rise else "BB"
    elif rising and not falling:
        label = "PEB"
    else:
        label = "qTSB"
    return TraceClass(
        label=label,
        subclass=subclass if label == "qTSB" else None,
        first_level=float(first),
        peak_level=float(peak),
        last_level=float(last),
        intermediate_fraction=lower,
        fraction_on=fraction_on,
        level_alternations=n_alt,
        final_dark_fraction=float(final_dark / n),
        rise_z=rise_z,
        fall_z=fall_z,
    )
