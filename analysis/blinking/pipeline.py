"""The whole blinking analysis of one movie: detect, stream, threshold, dwell, fit, classify, correlate."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from analysis.blinking.classes import TraceClass, classify_trace
from analysis.blinking.detect import (
    NoiseModel,
    Particles,
    blinking_excess,
    detect_particles,
    frame_shifts,
    measure_drift,
    neighbour_pairs,
    sample_projections,
)
from analysis.blinking.fits import PowerLawFit, fit_truncated_power_law, fit_truncated_power_law_lsq
from analysis.blinking.missed import NOT_CORRECTED, MissedEvents, missed_events_ratio
from analysis.blinking.traces import (
    Dwells,
    Levels,
    _same_state_noise,
    active_span,
    changepoint_segments,
    changepoint_states,
    dwell_times,
    envelope_threshold_states,
    intensity_levels,
    threshold_states,
)
from analysis.chunked import (
    MovieSums,
    SumLayout,
    compute_movie_sums,
    compute_movie_sums_threads,
    dask_client,
    sum_layout,
)
from analysis.correlation import correlation_map, correlation_vs_size, mean_correlation, pearson_from_sums
from analysis.errors import AnalysisInputError
from analysis.movie import MovieInfo, open_movie

__all__ = [
    "TraceAnalysis",
    "analyze_trace",
    "trace_states",
    "correct_missed_events",
    "state_snr",
    "MISSED_EVENTS_MAX_SNR",
    "BlinkingResult",
    "analyze_blinking_movie",
    "pool_dwells",
]

DEFAULT_BIN_TIME_S = 0.1  # the paper's 100 ms frames, when neither the file nor the caller says

#: Mean ON/OFF times of two-state crystals below this SNR are corrected for missed short dwells
#: (:mod:`analysis.blinking.missed`): the normal quantile of the decoder's false-flip rate 1e-3, below
#: which the decoder drops a typical one-frame dwell.
MISSED_EVENTS_MAX_SNR = 3.09


@dataclass(frozen=True)
class TraceAnalysis:
    """Everything derived from one particle's trace."""

    levels: Levels
    states: np.ndarray
    dwells: Dwells
    fit_on: PowerLawFit
    fit_off: PowerLawFit
    trace_class: TraceClass
    snr: float = float("nan")  # ON-minus-OFF level over the per-frame noise of the ON state
    #: Missed-events correction (:mod:`analysis.blinking.missed`): decoded / true mean dwell of the
    #: crystal's synthetic twin; NaN when not corrected (SNR above the bound, too few dwells).
    missed: MissedEvents = NOT_CORRECTED

    @property
    def fraction_on(self) -> float:
        return float(self.states.mean())

    def _mean(self, state: str) -> float | None:
        d = getattr(self.dwells, f"{state}_s")
        if not d.size:
            return None
        ratio = getattr(self.missed, f"ratio_{state}")
        return float(d.mean() / ratio) if np.isfinite(ratio) else float(d.mean())

    @property
    def mean_on_s(self) -> float | None:
        """Mean complete ON dwell (s), corrected for missed events where :attr:`missed` says so."""
        return self._mean("on")

    @property
    def mean_off_s(self) -> float | None:
        """Mean complete OFF dwell (s), corrected for missed events where :attr:`missed` says so."""
        return self._mean("off")


def trace_states(
    trace: np.ndarray,
    bin_time_s: float,
    *,
    method: str = "threshold",
    threshold_fraction: float = 0.5,
    threshold_reference: str = "background",
    envelope_window_s: float | None = 15.0,
    switch_cost: float | None = None,
    false_flip_rate: float = 1e-3,
) -> tuple[Levels, np.ndarray]:
    """Levels and ON/OFF path of one background-subtracted trace: the state assignment of
    :func:`analyze_trace` (whose parameters these are), alone, so that the missed-events correction
    (:mod:`analysis.blinking.missed`) decodes a crystal's synthetic twin exactly as the crystal."""
    levels = intensity_levels(trace, fraction=threshold_fraction, reference=threshold_reference)
    if method not in ("threshold", "changepoint"):
        raise AnalysisInputError(f"method: {method!r}, expected 'threshold' or 'changepoint'")
    if envelope_window_s is not None and threshold_reference == "background":
        window = max(int(round(envelope_window_s / bin_time_s)), 3)
        states, _ = envelope_threshold_states(
            trace,
            levels,
            fraction=threshold_fraction,
            window_frames=window,
            switch_cost=switch_cost,
            false_flip_rate=false_flip_rate,
        )
        # A dark beginning (late activation) or end (bleach) is dark: its noise flips are not blinks.
        start, stop = active_span(states, min_dark_frames=max(int(0.05 * states.size), 1))
        states[:start] = False
        states[stop:] = False
        if method == "changepoint":
            # Segments of constant mean, each ON when most of its frames are above the local threshold.
            bounds = np.concatenate([[0], changepoint_segments(trace), [trace.size]])
            on_share = np.add.reduceat(states.astype(float), bounds[:-1]) / np.diff(bounds)
            states = np.repeat(on_share > 0.5, np.diff(bounds))
    elif method == "threshold":
        states = threshold_states(trace, levels.threshold)
    else:
        states = changepoint_states(trace, levels.threshold)
    return levels, states


def state_snr(trace: np.ndarray, states: np.ndarray, levels: Levels) -> float:
    """A trace's signal-to-noise ratio: its ON-minus-OFF level over one frame's noise.

    The levels are the medians of the frames the state assignment calls ON and OFF (the subtracted
    background stands in for OFF when fewer than 5 frames are OFF, a crystal that never switches off),
    the noise that of consecutive ON frames (:func:`analysis.blinking.traces._same_state_noise`).
    Not the two-class split of :func:`intensity_levels`: for a crystal ON 90 % of the time that split
    cuts the noisy ON level itself and its "OFF" level is a dim ON one, which halved the SNR of mostly-on
    crystals (and so kept them out of the population fits and into the missed-events correction).
    """
    x = np.asarray(trace, dtype=float)
    s = np.asarray(states, dtype=bool)
    on = float(np.median(x[s])) if s.sum() >= 5 else levels.on
    off = float(np.median(x[~s])) if (~s).sum() >= 5 else levels.background
    noise = _same_state_noise(x, s)
    return (on - off) / noise if noise > 0 else float("inf")


def analyze_trace(
    trace: np.ndarray,
    bin_time_s: float,
    *,
    method: str = "threshold",
    threshold_fraction: float = 0.5,
    threshold_reference: str = "background",
    t_min_s: float | None = None,
    min_events: int = 10,
    include_censored: bool = False,
    class_options: dict | None = None,
    envelope_window_s: float | None = 15.0,
    switch_cost: float | None = None,
    false_flip_rate: float = 1e-3,
) -> TraceAnalysis:
    """Levels, ON/OFF states, dwell times, per-particle ML fits and class of one background-subtracted trace.

    ``method="threshold"`` applies the paper's rule (:func:`intensity_levels`, half the bright-minus-
    background difference by default); ``"changepoint"`` thresholds the segments of
    :func:`changepoint_states` instead of single frames. Fits use the discrete likelihood with support up
    to the recording length, on the complete dwells: the censored first and last dwell of the trace are
    kept apart (:class:`Dwells`) and only pooled in with ``include_censored=True`` (as if complete, which
    shortens the tail: for comparison with analyses that keep them).

    With ``envelope_window_s`` (15 s) the threshold follows the local ON level
    (:func:`envelope_threshold_states`: half the bright-minus-background difference at that time), as a
    brightening or fading crystal needs; None for one global threshold.
    """
    levels, states = trace_states(
        trace,
        bin_time_s,
        method=method,
        threshold_fraction=threshold_fraction,
        threshold_reference=threshold_reference,
        envelope_window_s=envelope_window_s,
        switch_cost=switch_cost,
        false_flip_rate=false_flip_rate,
    )
    dwells = dwell_times(states, bin_time_s)
    t_max = trace.size * bin_time_s
    t_min = bin_time_s if t_min_s is None else t_min_s
    kw = dict(t_min_s=t_min, bin_time_s=bin_time_s, t_max_s=t_max, min_events=min_events)
    on_s, off_s = dwells.on_s, dwells.off_s
    if include_censored:
        on_s = np.concatenate([on_s, dwells.censored_on_s])
        off_s = np.concatenate([off_s, dwells.censored_off_s])
    fit_on = fit_truncated_power_law(on_s, **kw)
    fit_off = fit_truncated_power_law(off_s, **kw)
    cls = classify_trace(trace, states, off_level=0.0, **(class_options or {}))
    snr = state_snr(trace, states, levels)
    return TraceAnalysis(
        levels=levels, states=states, dwells=dwells, fit_on=fit_on, fit_off=fit_off, trace_class=cls, snr=snr
    )


def _analyze_columns(traces: np.ndarray, start: int, stop: int, bin_time_s: float, options: dict):
    return [analyze_trace(traces[:, i], bin_time_s, **options) for i in range(start, stop)]


def pool_dwells(analyses: list[TraceAnalysis], state: str) -> np.ndarray:
    """Complete ON (``state="on"``) or OFF dwells of all particles, pooled."""
    parts = [getattr(a.dwells, f"{state}_s") for a in analyses]
    return np.concatenate(parts) if parts else np.zeros(0)


@dataclass(frozen=True, eq=False)
class BlinkingResult:
    """The analysis of one movie."""

    movie: MovieInfo
    bin_time_s: float
    pixel_size_um: float | None
    particles: Particles
    layout: SumLayout
    sums: MovieSums
    analyses: list[TraceAnalysis]
    population_on: PowerLawFit
    population_off: PowerLawFit
    population_on_lsq: PowerLawFit
    population_off_lsq: PowerLawFit
    correlation_r: np.ndarray  # per layout entry
    correlation_mean: np.ndarray  # per particle (own trace)
    pairs: np.ndarray
    options: dict = field(default_factory=dict)
    noise: NoiseModel | None = None
    drift_px: np.ndarray | None = None  # (K, 2) per window
    window_frames: np.ndarray | None = None  # (K, 2)
    blink_excess: np.ndarray | None = None  # per kept particle
    rejected: list = field(default_factory=list)  # candidates dropped after the pass, with the reason
    in_population: np.ndarray | None = None  # per particle: pooled into the population fits
    timings_s: dict = field(default_factory=dict)  # wall time of each stage

    @property
    def traces(self) -> np.ndarray:
        return self.sums.traces

    def self_map(self) -> np.ndarray:
        """Intra-crystal correlation map: each ROI pixel against its own particle's trace; NaN elsewhere."""
        n = self.layout.n_self
        return correlation_map(self.correlation_r[:n], self.particles.roi_flat, self.particles.shape)

    def assembly_map(self, reference: int) -> np.ndarray:
        """Map of the assembly around particle ``reference`` (0-based): its pixels and its neighbours'
        pixels, all correlated with the trace of ``reference``; NaN elsewhere."""
        sel = self.layout.entry_reference == reference
        pix = self.particles.roi_flat[self.layout.entry_pixel[sel]]
        return correlation_map(self.correlation_r[sel], pix, self.particles.shape)

    def _detection_json(self) -> dict:
        d = self.drift_px if self.drift_px is not None else np.zeros((0, 2))
        wf = self.window_frames if self.window_frames is not None else np.zeros((0, 2))
        return {
            "noise_model": None
            if self.noise is None
            else {"variance_per_mean": self.noise.slope, "variance_offset": self.noise.intercept},
            "hot_pixels_yx": [
                list(map(int, divmod(int(f), self.particles.shape[1]))) for f in self.particles.hot_pixels
            ],
            "rejected": self.rejected,
            "drift": {
                "window_start_frame": wf[:, 0].astype(int).tolist(),
                "window_stop_frame": wf[:, 1].astype(int).tolist(),
                "dy_px": np.round(d[:, 0], 3).tolist(),
                "dx_px": np.round(d[:, 1], 3).tolist(),
                "max_px": float(np.hypot(d[:, 0], d[:, 1]).max()) if d.size else 0.0,
                "followed": self.layout.frame_shift is not None,
            },
        }

    def to_json(self) -> dict:
        """The command line's JSON contract (issue 3), plus a few extra keys."""
        p = self.particles
        out_particles = []
        for i, a in enumerate(self.analyses):
            on, off = a.dwells.on_s, a.dwells.off_s
            out_particles.append(
                {
                    "id": i + 1,
                    "centroid_px": [float(p.centroid_px[i, 0]), float(p.centroid_px[i, 1])],
                    "area_px": int(p.area_px[i]),
                    "edge_um": float(p.edge_um[i]),
                    "class": a.trace_class.label,
                    "subclass": a.trace_class.subclass,
                    "threshold": a.levels.threshold,
                    "on_dwell_s": np.round(on, 10).tolist(),  # k * bin time, without float noise
                    "off_dwell_s": np.round(off, 10).tolist(),
                    "censored_on_dwell_s": np.round(a.dwells.censored_on_s, 10).tolist(),
                    "censored_off_dwell_s": np.round(a.dwells.censored_off_s, 10).tolist(),
                    "fraction_on": a.fraction_on,
                    "mean_on_s": a.mean_on_s,
                    "mean_off_s": a.mean_off_s,
                    "mean_on_observed_s": float(on.mean()) if on.size else None,
                    "mean_off_observed_s": float(off.mean()) if off.size else None,
                    "missed_events_ratio_on": _finite_or_none(a.missed.ratio_on),
                    "missed_events_ratio_off": _finite_or_none(a.missed.ratio_off),
                    "alpha_on": a.fit_on.alpha,
                    "alpha_on_err": a.fit_on.alpha_err,
                    "mu_on_per_s": a.fit_on.mu_per_s,
                    "alpha_off": a.fit_off.alpha,
                    "alpha_off_err": a.fit_off.alpha_err,
                    "mu_off_per_s": a.fit_off.mu_per_s,
                    "level_on": a.levels.on,
                    "level_off": a.levels.off,
                    "correlation_mean": float(self.correlation_mean[i]),
                    "detection_sigma": float(p.peak_sigma[i]) if p.peak_sigma.size == p.n else None,
                    "blink_excess": None if self.blink_excess is None else float(self.blink_excess[i]),
                    "snr": float(a.snr),
                    "in_population": None if self.in_population is None else bool(self.in_population[i]),
                }
            )

        def pop(ml: PowerLawFit, lsq: PowerLawFit) -> dict:
            return {
                "alpha": ml.alpha,
                "alpha_err": ml.alpha_err,
                "mu_per_s": ml.mu_per_s,
                "mu_err_per_s": ml.mu_err_per_s,
                "n_events": ml.n_events,
                "t_min_s": ml.t_min_s,
                "method": ml.method,
                "lsq_kuno": {"alpha": lsq.alpha, "alpha_err": lsq.alpha_err, "mu_per_s": lsq.mu_per_s},
            }

        counts: dict[str, int] = {}
        for a in self.analyses:
            key = a.trace_class.label if a.trace_class.subclass is None else f"qTSB/{a.trace_class.subclass}"
            counts[key] = counts.get(key, 0) + 1
        return {
            "movie": {
                "frames": self.movie.frames,
                "height": self.movie.height,
                "width": self.movie.width,
                "bin_time_s": self.bin_time_s,
                "pixel_size_um": self.pixel_size_um,
            },
            "particles": out_particles,
            "population": {
                "on": pop(self.population_on, self.population_on_lsq),
                "off": pop(self.population_off, self.population_off_lsq),
                "classes": counts,
                "correlation_vs_size": correlation_vs_size(self.correlation_mean, p.edge_um),
            },
            "assemblies": [[int(i) + 1, int(j) + 1] for i, j in self.pairs],
            "detection": self._detection_json(),
            "options": self.options,
            "timings_s": self.timings_s,
        }


def _finite_or_none(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def correct_missed_events(
    analyses: list[TraceAnalysis],
    traces: np.ndarray,
    bin_time_s: float,
    *,
    law_on: PowerLawFit,
    law_off: PowerLawFit,
    max_snr: float = 3.09,
    trace_options: dict | None = None,
) -> list[TraceAnalysis]:
    """The analyses with the missed-events correction of :mod:`analysis.blinking.missed` for every
    two-state crystal (any class but MSB, whose grey levels the two-level twin does not model) below
    ``max_snr`` that has complete ON and OFF dwells; the others unchanged.

    ``law_on``/``law_off`` are the population's fits (of the crystals whose short dwells are seen);
    a crystal's twin is decoded with :func:`trace_states` and ``trace_options`` (the keys of
    :func:`analyze_trace` that :func:`trace_states` takes), as the crystal was.
    """
    keys = (
        "method",
        "threshold_fraction",
        "threshold_reference",
        "envelope_window_s",
        "switch_cost",
        "false_flip_rate",
    )
    opts = {k: v for k, v in (trace_options or {}).items() if k in keys}

    def decode(x: np.ndarray) -> np.ndarray:
        return trace_states(x, bin_time_s, **opts)[1]

    def law(fit: PowerLawFit) -> tuple[float, float]:
        mu = fit.mu_per_s * bin_time_s
        return fit.alpha, (mu if np.isfinite(mu) else 0.0)

    out = []
    for i, a in enumerate(analyses):
        two_state = a.trace_class.label != "MSB"  # the twin has two levels; a multi-level trace has not
        if two_state and a.snr < max_snr and a.dwells.on_s.size and a.dwells.off_s.size:
            m = missed_events_ratio(traces[:, i], a.states, decode, law_on=law(law_on), law_off=law(law_off))
            a = replace(a, missed=m)
        out.append(a)
    return out


def _analyze_on_cluster(c, traces, n, bin_time, trace_options):
    """Per-particle analyses are independent: batches of columns on the workers."""
    n_batches = min(n, 4 * max(len(c.nthreads()), 1))
    bounds = np.linspace(0, n, n_batches + 1).astype(int)
    # Each batch's own columns go to the worker that analyses them (not every trace to every worker:
    # 77 MB each at 24 000 frames x 200 particles).
    spans = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    batches = c.scatter([np.ascontiguousarray(traces[:, a:b]) for a, b in spans], hash=False)
    futures = [
        c.submit(_analyze_columns, batch, 0, b - a, bin_time, trace_options, pure=False)
        for batch, (a, b) in zip(batches, spans, strict=True)
    ]
    return [a for batch in c.gather(futures) for a in batch]


def _drop_particles(particles, layout, sums, pairs, keep):
    """The particles ``keep`` (bool), with their layout, sums and pairs, renumbered in order."""
    from analysis.correlation import CorrelationSums

    sub = particles.subset(keep)
    new = np.cumsum(keep) - 1
    kp = pairs[keep[pairs[:, 0]] & keep[pairs[:, 1]]] if pairs.size else pairs
    kp = new[kp] if kp.size else kp
    owner = particles.roi_owner[layout.entry_pixel]
    entries = keep[owner] & keep[layout.entry_reference]
    c = sums.correlation
    corr = CorrelationSums(
        n=c.n, sx=c.sx[entries], sxx=c.sxx[entries], sm=c.sm[entries], smm=c.smm[entries], sxm=c.sxm[entries]
    )
    new_layout = sum_layout(sub, kp, frame_shift=layout.frame_shift)
    assert new_layout.entry_pixel.size == corr.sx.size
    new_sums = MovieSums(
        start=sums.start, stop=sums.stop, traces=sums.traces[:, keep], background=sums.background[:, keep],
        correlation=corr,
    )  # fmt: skip
    return sub, new_layout, new_sums, kp


def analyze_blinking_movie(
    path,
    *,
    bin_time_s: float | None = None,
    pixel_size_um: float | None = None,
    client=None,
    scheduler_address: str | None = None,
    n_workers: int = 2,
    processes: bool = False,
    chunk_frames: int | None = None,
    split_every: int = 2,
    n_sample_frames: int = 400,
    n_windows: int = 10,
    detect_options: dict | None = None,
    follow_drift: bool = True,
    debris_max_excess: float = 2.0,
    debris_min_area_px: int = 30,
    method: str = "threshold",
    threshold_fraction: float = 0.5,
    assembly_distance_um: float | None = 1.5,
    min_events: int = 10,
    population_classes: tuple[str, ...] | None = None,
    population_min_snr: float | None = 6.0,
    missed_events_max_snr: float | None = MISSED_EVENTS_MAX_SNR,
    progress: Callable[[int], None] | None = None,
) -> BlinkingResult:
    """Blinking statistics and correlation maps of every emitter in a TIFF movie.

    Steps: :func:`analysis.movie.open_movie`; projections of ``n_windows`` time windows and the EM-CCD
    noise model from ``n_sample_frames`` evenly strided frames (:func:`sample_projections`; the movie is
    then streamed exactly once); :func:`detect_particles` (local background, hot pixels masked,
    half-maximum ROIs); the stage drift (:func:`measure_drift`), followed frame by frame in the pass when
    it reaches half a pixel; one chunked pass on dask (:func:`analysis.chunked.compute_movie_sums`)
    giving traces and correlation sums; debris rejected (:func:`blinking_excess`); then per trace
    :func:`analyze_trace`; pooled ML fits of the complete ON and OFF dwells (and least squares on the
    Kuno density); correlation maps on the half-maximum footprints.

    Parameters
    ----------
    client, scheduler_address : optional
        Run the pass on this dask client, or on the scheduler at this address. Without either the pass
        runs in this process on ``n_workers`` threads (:func:`compute_movie_sums_threads`: no cluster
        to start, the same result), or on a new LocalCluster of ``n_workers`` processes when
        ``processes`` is true.
    n_sample_frames, n_windows : int
        Frames read for detection (400: about 7 % of a 6000-frame movie) and the time windows they are
        averaged in (10; a crystal bright in one window only is still found).
    follow_drift : bool
        Move the ROIs with the measured stage drift (whole pixels) during the pass.
    debris_max_excess, debris_min_area_px : float, int
        A candidate wider than ``debris_min_area_px`` at half maximum (30 px, (0.9 um)^2 at 160 nm;
        every nanocrystal image is smaller) whose trace varies less than ``debris_max_excess`` times
        its shot noise (:func:`blinking_excess`, 5-frame bins) is diffuse debris, not a crystal: every
        crystal of the paper blinks, bleaches or brightens, and so varies 3x to 1000x more.
    bin_time_s, pixel_size_um : float, optional
        Take precedence over the file's metadata; without either, 0.1 s and no physical size.
    assembly_distance_um : float, optional
        Particles whose centroids are closer get cross-correlation (assembly) maps; None for none.
    missed_events_max_snr : float, optional
        Correct the mean ON and OFF times (``mean_on_s``/``mean_off_s`` of the JSON; the dwell lists and
        fits stay as decoded, ``mean_*_observed_s`` keep the plain means, ``missed_events_ratio_*`` the
        correction) of every two-state crystal below this SNR (:func:`state_snr`) for missed short
        dwells (:func:`correct_missed_events`, :mod:`analysis.blinking.missed`). The default,
        :data:`MISSED_EVENTS_MAX_SNR` = 3.09, is the SNR below which the decoder drops a typical
        one-frame dwell, so that their means come out long; None leaves every mean as decoded. On the
        shared half-SNR validation movie it takes the median error of the mean ON / OFF times from
        0.111 / 0.111 to 0.098 / 0.089, on the project's four longer movies it lowers every one
        (benchmarks/README.md); 10-40 ms per corrected crystal.
    population_classes : tuple of str, optional
        Classes whose complete dwells are pooled into the population ON/OFF fits; default qTSB, as the
        paper fits crystals "which show clear two-state PL blinking". None pools every particle. When
        no particle has these classes, every particle is pooled and ``options`` says so.

    Raises
    ------
    AnalysisInputError
        Bad file or parameters, a constant movie, NaNs, or no particle found.
    """
    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = now - clock[0]
        clock[0] = now

    info = open_movie(path)
    if bin_time_s is not None and not (np.isfinite(bin_time_s) and bin_time_s > 0):
        raise AnalysisInputError(f"bin time: {bin_time_s} s, expected a positive frame time")
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise AnalysisInputError(f"pixel size: {pixel_size_um} um, expected a positive length")
    # Checked here, before a cluster starts and the movie is streamed, not in the per-trace step.
    if method not in ("threshold", "changepoint"):
        raise AnalysisInputError(f"method: {method!r}, expected 'threshold' or 'changepoint'")
    if not 0 < threshold_fraction < 1:
        raise AnalysisInputError(f"threshold_fraction: {threshold_fraction}, expected between 0 and 1")
    for name, value, low in (("n_sample_frames", n_sample_frames, 1), ("split_every", split_every, 2),
                             ("min_events", min_events, 2), ("chunk_frames", 1 if chunk_frames is None else chunk_frames, 1)):  # fmt: skip
        if int(value) != value or value < low:
            raise AnalysisInputError(f"{name}: {value}, expected an integer >= {low}")
    bin_time = bin_time_s or info.bin_time_s or DEFAULT_BIN_TIME_S
    pixel_size = pixel_size_um or info.pixel_size_um
    projections = sample_projections(info, n_sample=n_sample_frames, n_windows=n_windows)
    lap("projection")
    particles = detect_particles(projections, pixel_size_um=pixel_size, **(detect_options or {}))
    lap("detection")
    if particles.n == 0:
        raise AnalysisInputError(
            f"{info.path}: no particles found (nothing above the background in the projection)"
        )
    drift = measure_drift(projections, hot_pixels=particles.hot_pixels)
    shifts = frame_shifts(drift, projections.window_frames, info.frames) if follow_drift else None
    lap("drift")
    pairs = np.zeros((0, 2), dtype=np.int64)
    if assembly_distance_um is not None and pixel_size:
        pairs = neighbour_pairs(particles, max_distance_px=assembly_distance_um / pixel_size)
    layout = sum_layout(particles, pairs, frame_shift=shifts)
    trace_options = dict(method=method, threshold_fraction=threshold_fraction, min_events=min_events)
    in_process = client is None and not scheduler_address and not processes
    own = client is None and not in_process
    with (
        dask_client(scheduler_address=scheduler_address, n_workers=n_workers)
        if own
        else contextlib.nullcontext(client)
    ) as c:
        lap("cluster")
        if c is None:
            sums = compute_movie_sums_threads(
                info, layout, n_threads=n_workers, chunk_frames=chunk_frames, progress=progress
            )
        else:
            sums = compute_movie_sums(
                info, layout, client=c, chunk_frames=chunk_frames, split_every=split_every, progress=progress
            )
        lap("streaming pass")
        excess = blinking_excess(sums.traces, particles, projections.noise)
        debris = (excess < debris_max_excess) & (particles.half_max_area_px > debris_min_area_px)
        rejected = [
            {"centroid_px": np.round(particles.centroid_px[i], 2).tolist(), "area_px": int(particles.area_px[i]),
             "blink_excess": float(excess[i]), "reason": "debris: wide and not blinking"}
            for i in np.flatnonzero(debris)
        ]  # fmt: skip
        if debris.all():
            raise AnalysisInputError(f"{info.path}: no particles found (only non-blinking debris)")
        if debris.any():
            particles, layout, sums, pairs = _drop_particles(particles, layout, sums, pairs, ~debris)
            excess = excess[~debris]
        if c is None:
            analyses = _analyze_columns(sums.traces, 0, particles.n, bin_time, trace_options)
        else:
            analyses = _analyze_on_cluster(c, sums.traces, particles.n, bin_time, trace_options)
        lap("trace analyses")
    if own:
        lap("cluster shutdown")
    t_max = info.frames * bin_time
    kw = dict(t_min_s=bin_time, bin_time_s=bin_time, t_max_s=t_max)
    # The paper fits the dwells of crystals with clear two-state blinking: bleaching, brightening and
    # multi-state traces have drifting levels whose threshold crossings are not ON/OFF switches.
    pooled_idx = list(range(len(analyses)))
    pooled_classes = "all"
    if population_classes is not None:
        chosen = [i for i in pooled_idx if analyses[i].trace_class.label in population_classes]
        if chosen:
            pooled_idx, pooled_classes = chosen, "+".join(population_classes)
        else:
            pooled_classes = f"all (no {'/'.join(population_classes)} particle)"
    pooled_snr = "any"
    if population_min_snr is not None:
        # Crystals whose one-frame dwells can be told from noise: at SNR >= 6 a frame is misread with
        # probability < 1e-3 (the threshold sits SNR/2 sigmas from each level); dimmer crystals lose
        # and invent short dwells, which biases the exponents however many of them are pooled.
        clear = [i for i in pooled_idx if analyses[i].snr >= population_min_snr]
        n_clear = sum(analyses[i].dwells.on_s.size for i in clear)
        if n_clear >= min_events:
            pooled_idx, pooled_snr = clear, f">= {population_min_snr:g}"
        else:
            pooled_snr = f"any (fewer than {min_events} dwells at SNR >= {population_min_snr:g})"
    pooled = [analyses[i] for i in pooled_idx]
    in_population = np.zeros(len(analyses), dtype=bool)
    in_population[pooled_idx] = True
    on_all, off_all = pool_dwells(pooled, "on"), pool_dwells(pooled, "off")
    r = pearson_from_sums(sums.correlation)
    n_self = layout.n_self
    mean_r = mean_correlation(r[:n_self], particles.roi_owner, particles.n)
    population_on = fit_truncated_power_law(on_all, **kw)
    population_off = fit_truncated_power_law(off_all, **kw)
    population_on_lsq = fit_truncated_power_law_lsq(on_all)
    population_off_lsq = fit_truncated_power_law_lsq(off_all)
    lap("population fits and correlation")
    if missed_events_max_snr is not None and np.isfinite([population_on.alpha, population_off.alpha]).all():
        analyses = correct_missed_events(
            analyses, sums.traces, bin_time, law_on=population_on, law_off=population_off,
            max_snr=missed_events_max_snr, trace_options=trace_options,
        )  # fmt: skip
        lap("missed-events correction")
    return BlinkingResult(
        movie=info,
        bin_time_s=bin_time,
        pixel_size_um=pixel_size,
        particles=particles,
        layout=layout,
        sums=sums,
        analyses=analyses,
        population_on=population_on,
        population_off=population_off,
        population_on_lsq=population_on_lsq,
        population_off_lsq=population_off_lsq,
        correlation_r=r,
        correlation_mean=mean_r,
        in_population=in_population,
        pairs=pairs,
        noise=projections.noise,
        drift_px=drift,
        window_frames=projections.window_frames,
        blink_excess=excess,
        rejected=rejected,
        options=dict(
            method=method,
            threshold_fraction=threshold_fraction,
            n_sample_frames=n_sample_frames,
            n_windows=n_windows,
            assembly_distance_um=assembly_distance_um,
            min_events=min_events,
            population_classes=pooled_classes,
            population_min_snr=pooled_snr,
            population_particles=len(pooled),
            missed_events_max_snr=missed_events_max_snr,
            fits="ML for camera frames (continuous law, hat-kernel binning, recording as window), complete dwells only, t_min = 1 frame",
        ),
        timings_s=timings,
    )
