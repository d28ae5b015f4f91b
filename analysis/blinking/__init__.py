"""Single-particle PL blinking: detection, traces, ON/OFF levels, dwell times, power-law fits, classes.

Each step is a public function on numpy arrays; :func:`analyze_blinking_movie` chains them over a TIFF
movie streamed once on dask.distributed (:mod:`analysis.chunked`).
"""

from analysis.blinking.classes import TraceClass, classify_trace, envelope_levels
from analysis.blinking.detect import Particles, detect_particles, neighbour_pairs
from analysis.blinking.fits import (
    PowerLawFit,
    dwell_density,
    fit_truncated_power_law,
    fit_truncated_power_law_lsq,
    truncated_power_law_nll,
)
from analysis.blinking.pipeline import (
    BlinkingResult,
    TraceAnalysis,
    analyze_blinking_movie,
    analyze_trace,
    pool_dwells,
)
from analysis.blinking.traces import (
    Dwells,
    Levels,
    changepoint_segments,
    changepoint_states,
    dwell_times,
    intensity_levels,
    otsu_split,
    particle_traces,
    threshold_states,
)

__all__ = [
    "BlinkingResult",
    "Dwells",
    "Levels",
    "Particles",
    "PowerLawFit",
    "TraceAnalysis",
    "TraceClass",
    "analyze_blinking_movie",
    "analyze_trace",
    "changepoint_segments",
    "changepoint_states",
    "classify_trace",
    "detect_particles",
    "dwell_density",
    "dwell_times",
    "envelope_levels",
    "fit_truncated_power_law",
    "fit_truncated_power_law_lsq",
    "intensity_levels",
    "neighbour_pairs",
    "otsu_split",
    "particle_traces",
    "pool_dwells",
    "threshold_states",
    "truncated_power_law_nll",
]
