"""Missed-events correction of a crystal's mean ON and OFF times at a low signal-to-noise ratio.

Why: below an SNR of about 3 (ON-minus-OFF level over one frame's noise) a one-frame dwell carries
less evidence than the noise of one frame, so the state assignment (:func:`analysis.blinking.traces.
envelope_threshold_states`, half-way threshold plus a two-state Viterbi cost) misses many short dwells.
A missed OFF dwell joins two ON dwells into one (and a missed ON dwell two OFF dwells), so both counts
fall and both mean times come out long (+20 % at SNR < 3 on the realistic simulator,
``benchmarks/blinking_snr.py``). No decoder can see what the noise hides; the counts can be corrected.
This is the missed-events problem of single-channel recordings (a dwell shorter than the resolution is
not seen, and its neighbours merge: Colquhoun & Sigworth 1995; Hawkes, Jalali & Colquhoun 1990), solved
here by a parametric bootstrap instead of the closed forms, which exist only for Markov (exponential)
dwells and an idealised detector, not for power laws and our decoder.

Method (:func:`missed_events_ratio`), for one crystal:

1. Its levels and noise, measured on its own trace between its first and last ON frame: ON and OFF
   levels (medians of the decoded ON and OFF frames), per-frame noise of each state (1.4826 MAD / sqrt 2
   of consecutive same-state differences: EM-CCD multiplicative noise makes ON noisier than OFF; the
   frame-to-frame ON jitter is included).
2. Dwell laws: truncated power laws :math:`p(t) \\propto t^{-\\alpha} e^{-\\mu t}`, :math:`t \\ge`
   one frame (the paper's model), with the population's :math:`\\alpha` and :math:`\\mu` (the pooled
   fits of the movie's crystals whose short dwells are seen, SNR >= 6), because a dim crystal's own
   dwells are the biased ones. :math:`\\alpha` is clipped to [0.5, 1.9] (``ALPHA_RANGE``).
3. A synthetic twin (:func:`synthetic_twin`): continuous alternating dwells drawn from those laws,
   integrated over frames (a frame is ON in truth when the crystal is ON for at least half of it, the
   rule of the validation truth and of the paper's half-way threshold), with the levels and Gaussian
   noise of step 1 (variance interpolated by the frame's ON share: the summed ROI of an EM-CCD is close
   to Gaussian). ``max_frames`` (12 000) frames, at least ``min_pieces`` (4) times the crystal's span.
4. The twin is decoded by exactly the crystal's state assignment (``decode``, the pipeline's
   :func:`analysis.blinking.pipeline.trace_states`) and cut into pieces as long as the crystal's span:
   with heavy-tailed laws the recording window decides which dwells are complete (long ones are cut),
   so the twin must be counted through the same window. The ratio :math:`\\rho` of the decoded to the
   true mean complete dwell, pooled over the pieces, holds every effect of the detector: missed short
   dwells, merged neighbours, noise flips that remain, partial frames.
5. The crystal's corrected mean is its observed mean over :math:`\\rho`.

Which crystals (:func:`analysis.blinking.pipeline.correct_missed_events`): two-state ones (not MSB: the
twin has two levels) below ``max_snr`` = 3.09, the normal quantile :math:`z_0` of the pipeline's false-
flip rate 1e-3. The decoder's switch cost is :math:`c = \\tfrac12 \\mathrm{SNR}(z_0 - \\tfrac12
\\mathrm{SNR})`, and a one-frame dwell at the full level (evidence :math:`\\mathrm{SNR}^2/2`) survives
two switches when :math:`\\mathrm{SNR}^2/2 > 2c`, i.e. :math:`\\mathrm{SNR} > z_0`: below it a typical
one-frame dwell is dropped, above it kept (the measured bias from SNR 3 to 6 is a few per cent). The
twin's noise comes from a generator seeded by the trace's own bytes: reproducible. A ratio outside
[1/3, 3] (``RATIO_RANGE``) is not applied (NaN): the trace then says too little to correct honestly.

What it does and does not do (measured 2026-11-30, benchmarks/README.md "Mean ON/OFF times by SNR";
SNR as :func:`analysis.blinking.pipeline.state_snr` gives it). On the independent half-SNR validation
movie it takes the median error of the mean ON / OFF times from 0.111 / 0.111 to 0.098 / 0.089, and on
the project's four longer movies it lowers every one (half-signal movie 0.170 / 0.084 -> 0.128 / 0.075).
On 12 short movies of the project's simulator it takes the bias of the crystals at SNR 2-3.09 from +0.21
to -0.08 (ON) and +0.21 to +0.11 (OFF), but not their scatter (median |error| 0.21-0.28 before and
after): a crystal's 5-25 dwells leave +-20-30 % that no correction of the mean removes (how many of
*its* short dwells were missed is random). Below SNR 2 the twin is a poor model of the crystal (its
levels come from a decoding that is itself mostly noise) and the OFF means come out longer still (bias
+0.26 -> +0.45); the ratio guard keeps the worst out. The pipeline applies it by default
(``missed_events_max_snr=3.09``); None turns it off.

Cost: one decode of ``max(max_frames, min_pieces x span)`` synthetic frames per corrected crystal,
10-40 ms on the shared 2-core machine (10 ms measured quiet, 12 000 twin frames); nothing for the others.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["MissedEvents", "missed_events_ratio", "TruncatedPowerLawSampler"]

ALPHA_RANGE = (0.5, 1.9)
RATIO_RANGE = (1.0 / 3.0, 3.0)


@dataclass(frozen=True)
class MissedEvents:
    """Ratios of decoded to true mean dwell measured on a crystal's synthetic twin (NaN: not corrected)."""

    ratio_on: float
    ratio_off: float
    n_frames: int = 0


NOT_CORRECTED = MissedEvents(float("nan"), float("nan"), 0)


class TruncatedPowerLawSampler:
    """Draws of :math:`p(t) \\propto t^{-\\alpha} e^{-\\mu t}` on ``[1, t_max]`` (frames; ``mu`` per
    frame). Inverse CDF tabulated on a logarithmic grid (numpy only: scipy.stats would cost the cold
    command line its import)."""

    def __init__(self, alpha: float, mu: float, t_max: float, *, grid: int = 2049):
        self.x = np.linspace(0.0, np.log(t_max), grid)
        f = np.exp((1.0 - alpha) * self.x - mu * np.exp(self.x))  # density in ln t
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]))])
        self.cdf = cum / cum[-1]

    def __call__(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.exp(np.interp(rng.random(n), self.cdf, self.x))


def _state_noise(x: np.ndarray, states: np.ndarray) -> float:
    pair = states[1:] & states[:-1]
    d = np.diff(x)[pair]
    if d.size < 10:
        return float("nan")
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def _complete_runs(states: np.ndarray) -> np.ndarray:
    """Total length and number of the complete ON runs, then of the OFF runs, of a state path (frames)."""
    change = np.flatnonzero(states[1:] != states[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [states.size]]))[1:-1]
    on = states[starts][1:-1]
    return np.array([lengths[on].sum(), on.sum(), lengths[~on].sum(), (~on).sum()], dtype=float)


def synthetic_twin(
    n_frames: int,
    *,
    level_on: float,
    level_off: float,
    sigma_on: float,
    sigma_off: float,
    law_on: TruncatedPowerLawSampler,
    law_off: TruncatedPowerLawSampler,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A two-state trace of ``n_frames`` frames and its true per-frame states (ON: ON >= half the frame)."""
    durations = []
    total, first = 0.0, bool(rng.random() < 0.5)
    while total < n_frames + 1:
        n = 256
        on, off = law_on(n, rng), law_off(n, rng)
        pair = np.stack([on, off] if first else [off, on], axis=1).ravel()
        durations.append(pair)
        total += float(pair.sum())
    d = np.concatenate(durations)
    is_on = np.tile([first, not first], d.size // 2)
    edges = np.concatenate([[0.0], np.cumsum(d)]) - rng.random() * d[0]  # random phase of the first switch
    cum_on = np.concatenate([[0.0], np.cumsum(d * is_on)])
    coverage = np.diff(np.interp(np.arange(n_frames + 1, dtype=float), edges, cum_on))
    coverage = np.clip(coverage, 0.0, 1.0)
    sigma = np.sqrt(sigma_off**2 + coverage * (sigma_on**2 - sigma_off**2))
    trace = level_off + (level_on - level_off) * coverage + sigma * rng.standard_normal(n_frames)
    return trace, coverage >= 0.5


def missed_events_ratio(
    trace: np.ndarray,
    states: np.ndarray,
    decode: Callable[[np.ndarray], np.ndarray],
    *,
    law_on: tuple[float, float],
    law_off: tuple[float, float],
    max_frames: int = 12_000,
    min_pieces: int = 4,
) -> MissedEvents:
    """Ratio of decoded to true mean ON and OFF dwell for this crystal's noise and levels, and laws.

    Parameters
    ----------
    trace, states : (T,) arrays
        The crystal's background-subtracted trace and its decoded ON/OFF path.
    decode : callable
        The state assignment that produced ``states`` (trace -> bool path), applied to the twin.
    law_on, law_off : (alpha, mu per frame)
        The dwell laws of the twin (the population's fits); alpha clipped to ``ALPHA_RANGE``.

    Returns
    -------
    MissedEvents
        ``ratio_on``/``ratio_off``: divide the observed means by them. NaN when the trace lacks what the
        twin needs (fewer than 10 consecutive frame pairs in a state, fewer than 2 ON frames, laws not
        finite) or the ratio is outside ``RATIO_RANGE``.
    """
    x = np.asarray(trace, dtype=float)
    s = np.asarray(states, dtype=bool)
    if s.sum() < 2 or not np.isfinite(np.concatenate([law_on, law_off])).all():
        return NOT_CORRECTED
    # Levels and noise between the first and the last ON frame: a dark beginning or end (late
    # activation, bleached) is not the OFF state the blinking visits.
    on_idx = np.flatnonzero(s)
    x, s = x[on_idx[0] : on_idx[-1] + 1], s[on_idx[0] : on_idx[-1] + 1]
    sigma_on, sigma_off = _state_noise(x, s), _state_noise(x, ~s)
    if not (np.isfinite(sigma_on) and np.isfinite(sigma_off) and sigma_on > 0 and sigma_off > 0):
        return NOT_CORRECTED
    level_on, level_off = float(np.median(x[s])), float(np.median(x[~s]))
    rng = np.random.default_rng(zlib.crc32(np.asarray(trace, dtype=float).tobytes()))
    # The crystal's dwells are the complete ones within its active span: with heavy-tailed laws the
    # window sets which dwells count (long ones are cut), so the twin is counted in pieces of that length.
    window = max(int(x.size), 100)
    n_pieces = max(min_pieces, -(-max_frames // window))
    laws = [
        TruncatedPowerLawSampler(float(np.clip(a, *ALPHA_RANGE)), max(float(mu), 0.0), 20.0 * window)
        for a, mu in (law_on, law_off)
    ]
    twin, truth = synthetic_twin(
        n_pieces * window, level_on=level_on, level_off=level_off, sigma_on=sigma_on, sigma_off=sigma_off,
        law_on=laws[0], law_off=laws[1], rng=rng,
    )  # fmt: skip
    # Decoded in one call (the decoder is local: a 15 s envelope, a Viterbi path whose memory is a few
    # runs), then cut: a run that crosses a cut is censored, as at the ends of the recording.
    decoded = np.asarray(decode(twin), dtype=bool)
    t_sums, d_sums = np.zeros(4), np.zeros(4)
    for k in range(n_pieces):
        piece = slice(k * window, (k + 1) * window)
        t_sums += _complete_runs(truth[piece])
        d_sums += _complete_runs(decoded[piece])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_on = (d_sums[0] / d_sums[1]) / (t_sums[0] / t_sums[1])
        ratio_off = (d_sums[2] / d_sums[3]) / (t_sums[2] / t_sums[3])
    if not all(np.isfinite(r) and RATIO_RANGE[0] <= r <= RATIO_RANGE[1] for r in (ratio_on, ratio_off)):
        return NOT_CORRECTED
    return MissedEvents(float(ratio_on), float(ratio_off), n_pieces * window)
