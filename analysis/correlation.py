"""Pixel-wise correlation maps from one-pass partial sums.

Each entry ``e`` pairs a pixel trace :math:`x_e(t)` with a reference trace :math:`m_e(t)` (its own
particle's averaged trace, or another particle's for assemblies). Five sums over frames are enough for
Pearson's r, and sums over disjoint frame ranges add, so a movie chunk yields :class:`CorrelationSums`
that :func:`combine_correlation_sums` merges in any order:

.. math:: r_e = \\frac{n S_{xm} - S_x S_m}{\\sqrt{(n S_{xx} - S_x^2)(n S_{mm} - S_m^2)}}

References
----------
.. [1] H. Jin et al., Nanoscale (2023), Fig. 4b-e and S23-S25; after ref. 44 therein (correlation of each
   pixel's blinking with the spatially averaged trace of the emitter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import AnalysisInputError

__all__ = [
    "CorrelationSums",
    "correlation_chunk_sums",
    "combine_correlation_sums",
    "pearson_from_sums",
    "correlation_map",
    "mean_correlation",
    "correlation_vs_size",
]


@dataclass(frozen=True, eq=False)
class CorrelationSums:
    """Partial sums over ``n`` frames for every (pixel, reference) entry."""

    n: int
    sx: np.ndarray
    sxx: np.ndarray
    sm: np.ndarray
    smm: np.ndarray
    sxm: np.ndarray


def correlation_chunk_sums(
    pixel_traces: np.ndarray,
    reference_traces: np.ndarray,
    pixel_of_entry: np.ndarray,
    reference_of_entry: np.ndarray,
) -> CorrelationSums:
    """Partial sums of one chunk of frames.

    Parameters
    ----------
    pixel_traces : (T, P) array
        Pixel intensities (already shifted/background-subtracted as the caller wants).
    reference_traces : (T, R) array
        Reference traces.
    pixel_of_entry, reference_of_entry : (E,) int arrays
        Which pixel column and which reference column each entry correlates.
    """
    x = np.asarray(pixel_traces, dtype=np.float64)
    m = np.asarray(reference_traces, dtype=np.float64)
    if x.shape[0] != m.shape[0]:
        raise AnalysisInputError(f"pixel and reference traces have {x.shape[0]} and {m.shape[0]} frames")
    sx_pix, sxx_pix = x.sum(0), np.einsum("tp,tp->p", x, x)
    sm_ref, smm_ref = m.sum(0), np.einsum("tr,tr->r", m, m)
    sxm = np.einsum("te,te->e", x[:, pixel_of_entry], m[:, reference_of_entry])
    return CorrelationSums(
        n=int(x.shape[0]),
        sx=sx_pix[pixel_of_entry],
        sxx=sxx_pix[pixel_of_entry],
        sm=sm_ref[reference_of_entry],
        smm=smm_ref[reference_of_entry],
        sxm=sxm,
    )


def combine_correlation_sums(a: CorrelationSums, b: CorrelationSums) -> CorrelationSums:
    """Sums over the union of two disjoint frame ranges."""
    return CorrelationSums(
        n=a.n + b.n, sx=a.sx + b.sx, sxx=a.sxx + b.sxx, sm=a.sm + b.sm, smm=a.smm + b.smm, sxm=a.sxm + b.sxm
    )


def pearson_from_sums(sums: CorrelationSums) -> np.ndarray:
    """Pearson r of every entry; NaN where either trace is constant."""
    n = sums.n
    cov = n * sums.sxm - sums.sx * sums.sm
    vx = n * sums.sxx - sums.sx**2
    vm = n * sums.smm - sums.sm**2
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vx * vm)
    r[(vx <= 0) | (vm <= 0)] = np.nan
    return np.clip(r, -1.0, 1.0)


def correlation_map(r: np.ndarray, flat_index: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Image of ``shape`` with ``r`` at the flat pixel indices and NaN elsewhere."""
    img = np.full(shape[0] * shape[1], np.nan, dtype=np.float64)
    img[flat_index] = r
    return img.reshape(shape)


def mean_correlation(r: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of ``r`` per group (e.g. the spatially averaged intra-crystal correlation), NaN-aware."""
    ok = np.isfinite(r)
    total = np.bincount(group[ok], weights=r[ok], minlength=n_groups)
    count = np.bincount(group[ok], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def correlation_vs_size(
    mean_r: np.ndarray, edge_um: np.ndarray, *, edges_um: tuple[float, ...] = (1.0,)
) -> list[dict]:
    """Mean intra-crystal correlation in size classes (the paper compares < 1 um with larger crystals).

    Returns
    -------
    list of dict
        One per class ``[lo, hi)``: ``size_min_um``, ``size_max_um``, ``n``, ``mean``, ``sem``
        (standard error, NaN for fewer than two crystals).
    """
    r = np.asarray(mean_r, dtype=float)
    e = np.asarray(edge_um, dtype=float)
    bounds = [0.0, *edges_um, np.inf]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        sel = (e >= lo) & (e < hi) & np.isfinite(r)
        n = int(sel.sum())
        mean = float(r[sel].mean()) if n else float("nan")
        sem = float(r[sel].std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        out.append({"size_min_um": lo, "size_max_um": hi, "n": n, "mean": mean, "sem": sem})
    return out
