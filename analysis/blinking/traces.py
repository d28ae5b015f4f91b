"""Per-particle traces, ON/OFF levels, the threshold rule, change-point segmentation and dwell times."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from analysis.blinking.detect import Particles
from analysis.errors import AnalysisInputError

__all__ = [
    "particle_traces",
    "Levels",
    "intensity_levels",
    "otsu_split",
    "threshold_states",
    "on_envelope",
    "envelope_threshold_states",
    "two_state_path",
    "active_span",
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


def on_envelope(
    trace: np.ndarray, states: np.ndarray, *, window_frames: int = 151, min_on_fraction: float = 0.1
) -> np.ndarray:
    """The bright (ON) level at every frame: the running median of the ON frames within ``window_frames``.

    .. math:: E(t) = \\operatorname{median}\\{x_s : s\\ \\mathrm{ON},\\ |s - t| \\le w/2\\}

    Where a window holds fewer than 5 ON frames, or less than ``min_on_fraction`` of its frames (a long
    OFF period, before a late activation or after bleaching, where the only "ON" frames are noise above
    the threshold) the envelope is carried over from the nearest frame that has one; NaN everywhere when the
    trace has fewer than 5 ON frames in all. Computed on a grid of ``w/10`` frames and interpolated
    linearly (the envelope changes on the scale of ``w``). The median, not a high quantile: unbiased by
    the noise, and a grey sub-level shorter than half the window does not move it.
    """
    x = np.asarray(trace, dtype=float)
    s = np.asarray(states, dtype=bool)
    n = x.size
    if s.sum() < 5:
        return np.full(n, np.nan)
    half = max(int(window_frames) // 2, 1)
    vals = x[s]
    grid = np.unique(np.concatenate([np.arange(0, n, max(half // 5, 1)), [n - 1]]))
    # All windows at once: the trace with OFF frames as NaN, padded, viewed as (grid, 2 half + 1).
    padded = np.full(n + 2 * half, np.nan)
    padded[half : half + n] = np.where(s, x, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)[grid]
    count = np.sum(~np.isnan(windows), axis=1)
    need = np.maximum(5, min_on_fraction * (np.minimum(grid + half, n - 1) - np.maximum(grid - half, 0) + 1))
    ok = count >= need
    env = np.full(grid.size, np.nan)
    if ok.any():
        srt = np.sort(windows[ok], axis=1)  # NaN (OFF frames) sort last: the median of the first c
        c, rows = count[ok], np.arange(int(ok.sum()))
        env[ok] = 0.5 * (srt[rows, (c - 1) // 2] + srt[rows, c // 2])
    if not ok.any():
        return np.full(n, float(np.median(vals)))
    return np.interp(np.arange(n), grid[ok], env[ok])


def two_state_path(llr: np.ndarray, switch_cost: float) -> np.ndarray:
    """The ON/OFF path that maximises the summed log-likelihood minus ``switch_cost`` per switch (Viterbi).

    ``llr`` is each frame's log-likelihood ratio ON vs OFF. With ``switch_cost = 0`` the path is
    ``llr > 0`` (the threshold); a positive cost drops a flip whose evidence is below twice the cost.
    The optimal path only switches where the sign of ``llr`` changes, so the recursion runs over runs
    of equal sign (hundreds), not frames (thousands); written here because a two-state Viterbi in
    numpy is a few lines, and hmmlearn would fit a model we do not need.
    """
    v = np.asarray(llr, dtype=float)
    pos = v > 0
    if switch_cost <= 0 or v.size == 0:
        return pos
    starts = np.concatenate([[0], np.flatnonzero(pos[1:] != pos[:-1]) + 1])
    gain = np.add.reduceat(v, starts)  # evidence for ON in each run
    m = gain.size
    # score of being OFF / ON at the end of run j, with back-pointers (True: came from the other state).
    # Python floats and lists: the loop runs once per run of equal sign, and numpy scalars cost 5x more.
    g_list = gain.tolist()
    back_off, back_on = [False] * m, [False] * m
    off_score, on_score = 0.0, g_list[0]
    cost = float(switch_cost)
    for j in range(1, m):
        from_on, from_off = on_score - cost, off_score - cost
        if from_on > off_score:
            back_off[j] = True
            new_off = from_on
        else:
            new_off = off_score
        if from_off > on_score:
            back_on[j] = True
            on_score = from_off + g_list[j]
        else:
            on_score = on_score + g_list[j]
        off_score = new_off
    state = on_score > off_score
    path = [False] * m
    for j in range(m - 1, -1, -1):
        path[j] = state
        if (back_on if state else back_off)[j]:
            state = not state
    lengths = np.diff(np.concatenate([starts, [v.size]]))
    return np.repeat(np.array(path, dtype=bool), lengths)


def envelope_threshold_states(
    trace: np.ndarray,
    levels: Levels,
    *,
    fraction: float = 0.5,
    window_frames: int = 151,
    min_relative_level: float = 0.4,
    switch_cost: float | None = 0.0,
    false_flip_rate: float = 1e-3,
    n_iter: int = 3,
    dark_reference_max: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """ON/OFF per frame against half the *local* bright level: the paper's rule for a drifting ON level.

    Start from the global threshold of ``levels`` (:func:`intensity_levels`); then, ``n_iter`` times,
    measure the ON envelope :math:`E(t)` of the current states (:func:`on_envelope`) and threshold each
    frame at :math:`r + f\\,(E(t) - r)`, :math:`r` the background of ``levels``. A crystal that brightens (PEB, BBB) or fades before it bleaches (BB)
    changes its ON level by 30-50 % over the recording; against one global level its dim ON frames
    fall under the threshold (or its bright OFF-going frames stay above it), which splits ON dwells and
    biases the mean times. The validation movies define a frame as ON when its noiseless emission is at
    least half the ON level *at that time*: the same rule.

    ``window_frames`` (151, 15 s at 100 ms) is short against the slowest trends (brightening time
    constants of 25-75 s), long against ON dwells (mean 3-12 s) so that every window sees ON frames.
    ``min_relative_level`` (0.4) floors :math:`E(t) - r` at that fraction of the global ON level: a
    dark stretch (after bleaching) whose noise frames crossed the global threshold must not pull the
    envelope, and with it the threshold, down into the noise. Brightening crystals start at 0.5-0.7 of
    their final level and fading ones bleach at 0.5-0.7, above the floor relative to the global (median)
    ON level.

    The reference :math:`r` is the crystal's own dark level :math:`I_{OFF}` when that lies below
    ``dark_reference_max`` (0.25) of the ON level (every blinking crystal: its OFF state is 2-8 % of
    ON), else the subtracted background: a static offset under the crystal that its background ring does
    not see (diffuse debris, an uneven gradient) would otherwise hold a bleached crystal above half.

    ``switch_cost`` (nats, default 0: the plain threshold) decodes the frames with a two-state Viterbi
    path (:func:`two_state_path`) on the Gaussian log-likelihood ratio
    :math:`(x - \\theta)(E - r)/\\sigma^2` (:math:`\\sigma` the ON frames' noise): at a low signal-to-noise
    ratio a frame that crosses the threshold by noise alone no longer splits a dwell, while a true
    one-frame dwell at the full ON level, worth :math:`\\mathrm{SNR}^2/2` nats, is kept for
    :math:`\\mathrm{SNR} > 2\\sqrt{\\mathrm{cost}}`. ``switch_cost=None`` chooses the smallest cost
    that holds noise flips of an OFF frame to ``false_flip_rate`` per frame: the frame's ratio is normal
    with mean :math:`-\\mathrm{SNR}^2/2` and standard deviation SNR, so
    :math:`c = \\max(0, \\tfrac12\\mathrm{SNR}\\,(z_0 - \\tfrac12\\mathrm{SNR}))`, :math:`z_0` the normal
    quantile of ``1 - false_flip_rate`` (SNR the median envelope over :math:`\\sigma`). Above SNR
    :math:`2 z_0` (6.2 for 1e-3) the cost is 0: the plain threshold, which keeps every partly-ON frame of a
    short dwell; at SNR 3 it is 2.4 nats. 1e-3 leaves about one false flip per 1000 frames.

    Returns
    -------
    states : (T,) bool array
    envelope : (T,) float array
        The ON level used for each frame (NaN when the trace has fewer than 5 ON frames).
    """
    x = np.asarray(trace, dtype=float)
    r = levels.background
    if levels.off - r < dark_reference_max * (levels.on - r):
        # The crystal's own dark level, not the ring's: a static offset under the crystal (diffuse debris,
        # a gradient the ring does not sample evenly) would otherwise keep a bleached crystal "ON".
        r = levels.off
    states = x > r + fraction * (levels.on - r)
    env = np.full(x.size, np.nan)
    floor = r + min_relative_level * max(levels.on - r, 0.0)
    for _ in range(n_iter):
        env = on_envelope(x, states, window_frames=window_frames)
        if not np.isfinite(env).all():
            break
        env = np.maximum(env, floor)
        new = _decode(x, states, env, r, fraction, switch_cost, false_flip_rate)
        if np.array_equal(new, states):
            break
        states = new
    return states, env


def _same_state_noise(x: np.ndarray, states: np.ndarray) -> float:
    """Per-frame noise: 1.4826 MAD / sqrt 2 of the differences of consecutive ON frames (all frames when
    fewer than 10 such pairs). The ON state's, the larger on an EM-CCD (multiplicative noise)."""
    pair = states[1:] & states[:-1]
    d = np.diff(x)[pair] if pair.sum() >= 10 else np.diff(x)
    sigma = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2) if d.size else 0.0
    return float(sigma) if sigma > 0 else float(np.std(x)) or 1.0


def _decode(x, states, env, r, fraction, switch_cost, false_flip_rate):
    theta = r + fraction * (env - r)
    sigma = _same_state_noise(x, states)
    if switch_cost is None:
        snr = float(np.median(env - r)) / sigma
        z0 = NormalDist().inv_cdf(1 - false_flip_rate)
        switch_cost = max(0.0, 0.5 * snr * (z0 - 0.5 * snr))
    if switch_cost <= 0:
        return x > theta
    return two_state_path((x - theta) * (env - r) / sigma**2, switch_cost)


def active_span(
    states: np.ndarray, *, min_dark_frames: int, max_flip_frames: int = 2, max_flip_fraction: float = 0.02
) -> tuple[int, int]:
    """Frames ``[start, stop)`` between a dark beginning (late activation) and a dark end (bleach).

    A dark end is the stretch after the last ON run longer than ``max_flip_frames``, when it lasts at
    least ``min_dark_frames`` and its ON frames (runs of at most ``max_flip_frames``: noise crossing the
    threshold at a low signal-to-noise ratio) are at most ``max_flip_fraction`` of it; the same from the
    start for a dark beginning. Without such a stretch the span is the whole trace at that end. A flip
    left in a bleached crystal's dark end would cut it into a long complete OFF dwell and a one-frame ON
    dwell, both false, and hide the bleach.
    """
    s = np.asarray(states, dtype=bool)
    n = s.size
    if n == 0 or not s.any():
        return 0, n
    change = np.flatnonzero(s[1:] != s[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [n]]))
    big = np.flatnonzero(s[starts] & (lengths > max_flip_frames))
    if big.size == 0:
        return 0, n

    def dark(a: int, b: int) -> bool:
        return b - a >= min_dark_frames and s[a:b].sum() <= max_flip_fraction * (b - a)

    stop = int(starts[big[-1]] + lengths[big[-1]])
    start = int(starts[big[0]])
    return (start if dark(0, start) else 0), (stop if dark(stop, n) else n)


def changepoint_segments(trace: np.ndarray, *, penalty: float | None = None, min_size: int = 1) -> np.ndarray:
    """Change points of a piecewise-constant mean, by binary segmentation with a BIC-like penalty.

    A split at :math:`k` of a segment is accepted when it lowers the Gaussian cost
    :math:`\\sum (x - \\bar x)^2 / \\sigma^2` by more than ``penalty`` (default :math:`2 \\ln T`), with the
    noise :math:`\\sigma` estimated from the first differences (:math:`1.4826\\,\\mathrm{MAD}/\\sqrt 2`),
    which a few jumps do not inflate. A histogram-free alternative to a fixed threshold, in the spirit of
    Watkins & Yang's change-point detection [1]_ for binned, Gaussian-like EM-CCD traces. Written here
    because the library that does it (ruptures) is not a dependency; cumulative sums make each scan O(T).

    The segments are split level by level: every segment of one level is scanned in the same few numpy
    operations over the concatenated candidates (a blinking trace has hundreds of change points; one
    scan per segment spent most of the time in numpy's per-call overhead). The splits of one segment do
    not depend on the others', so the result is that of the recursive algorithm.

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
    a = np.array([0], dtype=np.int64)
    b = np.array([n], dtype=np.int64)
    while a.size:
        keep = b - a >= 2 * min_size
        a, b = a[keep], b[keep]
        if not a.size:
            break
        counts = b - a - 2 * min_size + 1  # candidate split points per segment
        seg = np.repeat(np.arange(a.size), counts)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        k = a[seg] + min_size + (np.arange(seg.size) - offsets[seg])
        sa, sb = a[seg], b[seg]
        left_n, right_n, m = k - sa, sb - k, sb - sa
        left_s, right_s, tot = cs[k] - cs[sa], cs[sb] - cs[k], cs[sb] - cs[sa]
        # Reduction of the residual sum of squares by splitting at k.
        gain = left_s**2 / left_n + right_s**2 / right_n - tot**2 / m
        top = np.maximum.reduceat(gain, offsets)
        # The first candidate reaching its segment's maximum (np.argmax's choice).
        hits = np.flatnonzero(gain == top[seg])
        first = hits[np.searchsorted(seg[hits], np.arange(a.size))]
        split = top / sigma**2 > pen
        kk = k[first[split]]
        out.append(kk)
        a = np.concatenate([a[split], kk])
        b = np.concatenate([kk, b[split]])
    return np.sort(np.concatenate(out)).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


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
