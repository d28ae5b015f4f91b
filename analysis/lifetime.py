"""Multi-exponential fits of TCSPC (TRPL) decay histograms.

The model for a histogram bin :math:`k` (edges :math:`t_k, t_{k+1}`) is

.. math::

    m_k = b + \\sum_{i=1}^{n} a_i \\int_{t_k}^{t_{k+1}}
          \\sum_{p \\ge 0} \\left[ \\mathrm{IRF}(\\cdot - s) * e^{-\\,\\cdot/\\tau_i} \\right](t + pT)\\, dt

with amplitudes :math:`a_i` (counts per ns at the excitation instant), lifetimes :math:`\\tau_i`, IRF shift
:math:`s`, constant background :math:`b` (counts per bin) and the pile-over of the previous pulses at the
repetition period :math:`T = 1/f_\\mathrm{rep}` (the periodic sum over :math:`p`). Three IRF modes:

* ``irf=<array>``: a measured IRF histogram (same bin width), discretely convolved, with a sub-bin shift;
* ``irf="gaussian"``: a Gaussian IRF whose centre and FWHM are fitted; the convolution is then analytic
  (exponentially modified Gaussian, :data:`scipy.stats.exponnorm`), so the model has no discretisation error;
* ``irf=None``: tail fit: sums of exponentials after the peak, no IRF.

Fits minimise the Poisson deviance (maximum likelihood for counting data, ``method="mle"``, the default) or
Neyman's chi^2 with weights :math:`1/\\max(y_k, 1)` (``method="wls"``, what most TCSPC software does).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import lmfit
import numpy as np
from scipy import fft as sp_fft
from scipy import optimize, stats

from analysis.errors import AnalysisInputError

__all__ = ["DecayFit", "average_lifetimes", "fit_decay"]

MAX_COMPONENTS = 4
#: a fit whose reduced objective is below this is not retried from other start values
GOOD_ENOUGH_REDCHI = 1.5


@dataclass(frozen=True, eq=False)
class DecayFit:
    """Result of :func:`fit_decay`.

    Components are sorted by increasing lifetime. ``amplitudes`` are the fractions
    :math:`f_i = a_i / \\sum_j a_j` (they sum to 1); ``intensity_fractions`` are
    :math:`a_i \\tau_i / \\sum_j a_j \\tau_j`. Uncertainties are one standard error from the
    curvature of the objective at the optimum (not scaled by ``chi2_red``); NaN when the
    covariance could not be estimated.
    """

    taus_ns: np.ndarray
    taus_err_ns: np.ndarray
    amplitudes: np.ndarray
    amplitudes_err: np.ndarray
    intensity_fractions: np.ndarray
    tau_avg_amp_ns: float
    tau_avg_amp_err_ns: float
    tau_avg_int_ns: float
    tau_avg_int_err_ns: float
    chi2_red: float
    deviance_red: float
    background_per_bin: float
    background_err_per_bin: float
    irf_mode: str
    irf_shift_ns: float | None
    irf_center_ns: float | None
    irf_fwhm_ns: float | None
    method: str
    rep_rate_hz: float | None
    fit_start_ns: float
    fit_stop_ns: float
    n_points: int
    n_free_parameters: int
    success: bool
    message: str
    time_ns: np.ndarray
    counts: np.ndarray
    model_counts: np.ndarray

    @property
    def n_components(self) -> int:
        return len(self.taus_ns)

    def summary(self) -> dict:
        """The fit as plain Python values (arrays excluded), e.g. for JSON."""
        skip = {"time_ns", "counts", "model_counts"}
        out = {}
        for field in dataclasses.fields(self):
            if field.name in skip:
                continue
            value = getattr(self, field.name)
            out[field.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


def average_lifetimes(taus_ns: Sequence[float], amplitudes: Sequence[float]) -> tuple[float, float]:
    """Amplitude- and intensity-weighted average lifetimes.

    .. math::

        \\langle\\tau\\rangle_a = \\frac{\\sum_i a_i \\tau_i}{\\sum_i a_i}, \\qquad
        \\langle\\tau\\rangle_I = \\frac{\\sum_i a_i \\tau_i^2}{\\sum_i a_i \\tau_i}

    Parameters
    ----------
    taus_ns : sequence of float
        Lifetimes (ns).
    amplitudes : sequence of float
        Pre-exponential amplitudes (any scale; only ratios matter), non-negative.

    Returns
    -------
    tau_avg_amp_ns, tau_avg_int_ns : float

    References
    ----------
    .. [1] A. Sillen and Y. Engelborghs, "The correct use of 'average' fluorescence parameters",
       Photochem. Photobiol. 67, 475 (1998).
    """
    taus = np.asarray(taus_ns, dtype=float)
    a = np.asarray(amplitudes, dtype=float)
    if taus.shape != a.shape or taus.ndim != 1 or taus.size == 0:
        raise AnalysisInputError("taus_ns and amplitudes must be 1-D sequences of the same, non-zero length")
    if np.any(a < 0) or a.sum() <= 0:
        raise AnalysisInputError("amplitudes must be non-negative and not all zero")
    return float(np.sum(a * taus) / np.sum(a)), float(np.sum(a * taus**2) / np.sum(a * taus))


# --------------------------------------------------------------------------------------------------
# model pieces


def _gaussian_component(edges_ns, tau, mu, sigma, period_ns):
    """Counts per unit amplitude in each bin for an exponential convolved with a Gaussian IRF.

    Exact bin integrals: ``tau * [F(t_{k+1}) - F(t_k)]`` with F the exGaussian CDF, plus the geometric
    sum of the previous pulses' tails (far past their IRF, so pure exponentials).
    """
    k = tau / sigma
    if k < 1e-3:  # exponnorm overflows for tau << sigma, where the exGaussian is the Gaussian to O(k)
        cdf = stats.norm.cdf(edges_ns, loc=mu + tau, scale=sigma)
    else:
        cdf = stats.exponnorm.cdf(edges_ns, k, loc=mu, scale=sigma)
    counts = tau * np.diff(cdf)
    if period_ns is not None:
        lo = edges_ns[:-1]
        width = np.diff(edges_ns)
        expo = -(lo + period_ns - mu) / tau + sigma**2 / (2 * tau**2)
        counts = counts + tau * np.exp(expo) * (-np.expm1(-width / tau)) / (-np.expm1(-period_ns / tau))
    return counts


def _exp_kernel(n_grid, dt, tau, periodic):
    """Bin integrals of exp(-t/tau) for a unit source spread uniformly over bin 0, on an n_grid grid.

    Exact for an IRF that is constant within each of its bins (closer to a histogrammed IRF than point
    masses when the IRF is only a few bins wide). With ``periodic`` the grid is one pulse period and
    the tails of all earlier pulses are summed.
    """
    n = np.arange(n_grid, dtype=float)
    x = dt / tau
    # lag n >= 1: (tau^2/dt) (e^x - 1)(1 - e^-x) e^{-n x}, written to avoid overflow of e^x
    g = (tau**2 / dt) * np.expm1(x) * (-np.expm1(-x)) * np.exp(-n * x) if x < 50 else np.zeros(n_grid)
    kernel = g.copy()
    kernel[0] = tau - (tau**2 / dt) * (-np.expm1(-x))  # the source's own bin
    if periodic:
        kernel = kernel + g * np.exp(-n_grid * x) / (-np.expm1(-n_grid * x))
    return kernel


@dataclass(frozen=True)
class _Setup:
    time_ns: np.ndarray  # bin starts
    dt: float
    counts: np.ndarray
    mask: np.ndarray
    irf_mode: str
    irf: np.ndarray | None  # measured IRF on the convolution grid, normalised to sum 1
    n_grid: int
    period_ns: float | None
    tail_ref_ns: float | None


def _component_matrix(setup: _Setup, taus, shift=0.0, mu=0.0, fwhm=0.0):
    """Columns: model counts per unit amplitude of each component, on all bins."""
    n = setup.counts.size
    cols = np.empty((n, len(taus)))
    if setup.irf_mode == "gaussian":
        edges = np.append(setup.time_ns, setup.time_ns[-1] + setup.dt)
        sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
        for i, tau in enumerate(taus):
            cols[:, i] = _gaussian_component(edges, tau, mu, sigma, setup.period_ns)
    elif setup.irf_mode == "measured":
        grid = np.arange(setup.n_grid, dtype=float)
        periodic = setup.period_ns is not None
        # linear interpolation gives a smooth sub-bin shift without Fourier ringing on a sharp IRF
        shifted = np.interp(grid - shift / setup.dt, grid, setup.irf, period=setup.n_grid)
        f_irf = sp_fft.rfft(shifted)
        for i, tau in enumerate(taus):
            kernel = _exp_kernel(setup.n_grid, setup.dt, tau, periodic)
            cols[:, i] = sp_fft.irfft(f_irf * sp_fft.rfft(kernel), n=setup.n_grid)[:n]
    else:  # tail
        t = setup.time_ns - setup.tail_ref_ns
        for i, tau in enumerate(taus):
            c = tau * np.exp(np.minimum(-t / tau, 700.0)) * (-np.expm1(-setup.dt / tau))
            if setup.period_ns is not None:
                c = c / (-np.expm1(-setup.period_ns / tau))
            cols[:, i] = c
    return cols


def _model(params: lmfit.Parameters, setup: _Setup, n_comp: int):
    v = params.valuesdict()
    taus = [v[f"tau{i}"] for i in range(n_comp)]
    amps = np.array([v[f"a{i}"] for i in range(n_comp)])
    cols = _component_matrix(
        setup, taus, shift=v.get("shift", 0.0), mu=v.get("irf_center", 0.0), fwhm=v.get("irf_fwhm", 0.0)
    )
    return cols @ amps + v["background"]


def _residuals(params, setup, n_comp, method):
    m = _model(params, setup, n_comp)[setup.mask]
    y = setup.counts[setup.mask]
    # a non-finite model (extreme trial parameters) gets a huge misfit so the optimiser steps back
    m = np.where(np.isfinite(m), np.maximum(m, 1e-12), 1e30)
    if method == "mle":
        # signed deviance residuals: their sum of squares is the Poisson deviance (-2 log L + const)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(y > 0, y * np.log(y / m), 0.0)
        dev = np.maximum(2.0 * (m - y + term), 0.0)
        return np.sign(y - m) * np.sqrt(dev)
    return (y - m) / np.sqrt(np.maximum(y, 1.0))


# --------------------------------------------------------------------------------------------------
# validation and start values


def _validate(time_ns, counts, n_components, method, rep_rate_hz):
    t = np.asarray(time_ns, dtype=float)
    y = np.asarray(counts, dtype=float)
    if t.ndim != 1 or y.ndim != 1 or t.size != y.size:
        raise AnalysisInputError("time_ns and counts must be 1-D arrays of the same length")
    if t.size < 10:
        raise AnalysisInputError(f"decay has {t.size} bins; at least 10 are needed")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise AnalysisInputError("decay contains NaN or infinite values")
    if np.any(y < 0):
        raise AnalysisInputError("counts must be non-negative (a TCSPC histogram)")
    dts = np.diff(t)
    dt = float(np.median(dts))
    if dt <= 0 or np.max(np.abs(dts - dt)) > 1e-3 * dt:
        raise AnalysisInputError("time_ns must be increasing with a constant bin width")
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise AnalysisInputError(f"n_components must be an integer 1-{MAX_COMPONENTS}, got {n_components!r}")
    if not 1 <= n_components <= MAX_COMPONENTS:
        raise AnalysisInputError(f"n_components must be 1-{MAX_COMPONENTS}, got {n_components}")
    if method not in ("mle", "wls"):
        raise AnalysisInputError(f"method must be 'mle' or 'wls', got {method!r}")
    if rep_rate_hz is not None and not (np.isfinite(rep_rate_hz) and rep_rate_hz > 0):
        raise AnalysisInputError(f"rep_rate_hz must be positive, got {rep_rate_hz!r}")
    if y.sum() < 100:
        raise AnalysisInputError(f"decay has only {y.sum():.0f} counts; at least 100 are needed")
    return t, y, dt


def _clean_irf(irf, background):
    """Subtract the IRF's background and keep only the contiguous pulse around its peak.

    Clipping noisy background bins at zero would leave a positive pedestal that the convolution turns
    into a spurious slow component, so bins outside the pulse are set to exactly zero instead.
    """
    if isinstance(background, str):
        if background != "auto":
            raise AnalysisInputError(f"irf_background must be 'auto' or a number, got {background!r}")
        low = irf[irf < 0.01 * irf.max()]
        bg = float(np.mean(low)) if low.size else 0.0
    else:
        bg = float(background)
    out = irf - bg
    peak = int(np.argmax(out))
    if out[peak] <= 0:
        raise AnalysisInputError("irf has no counts above its background")
    level = max(5.0 * np.sqrt(max(bg, 0.0) + 1.0), 1e-4 * out[peak])
    below = out < level
    left = np.nonzero(below[:peak])[0]
    right = np.nonzero(below[peak:])[0]
    lo = left[-1] + 1 if left.size else 0
    hi = peak + right[0] if right.size else out.size
    cleaned = np.zeros_like(out)
    cleaned[lo:hi] = np.clip(out[lo:hi], 0.0, None)
    return cleaned


def _log_spaced_taus(n, lo, hi):
    if n == 1:
        return np.array([np.sqrt(lo * hi)])
    return np.geomspace(lo, hi, n)


def _nnls_amplitudes(setup, taus, **irf_kw):
    """Linear least squares (non-negative) for amplitudes and background at fixed taus and IRF."""
    cols = _component_matrix(setup, taus, **irf_kw)[setup.mask]
    y = setup.counts[setup.mask]
    w = 1.0 / np.sqrt(np.maximum(y, 1.0))
    design = np.column_stack([cols, np.ones(len(y))]) * w[:, None]
    coef, _ = optimize.nnls(design, y * w, maxiter=50 * design.shape[1])
    return coef[:-1], coef[-1]


# --------------------------------------------------------------------------------------------------


def fit_decay(
    time_ns: np.ndarray,
    counts: np.ndarray,
    n_components: int = 3,
    *,
    irf: np.ndarray | str | None = "gaussian",
    rep_rate_hz: float | None = None,
    method: str = "mle",
    fit_range_ns: tuple[float, float] | None = None,
    irf_fwhm_ns: float | None = None,
    tail_start_ns: float | None = None,
    taus_start_ns: Sequence[float] | None = None,
    irf_background: str | float = "auto",
) -> DecayFit:
    """Fit a sum of 1-4 exponentials to a TCSPC decay histogram.

    Parameters
    ----------
    time_ns : (N,) array
        Start of each histogram bin (ns), constant bin width.
    counts : (N,) array
        Photon counts per bin.
    n_components : int
        Number of exponential components, 1-4.
    irf : (N,) array, "gaussian" or None
        Measured IRF histogram on the same bins (reconvolution with a fitted shift), ``"gaussian"`` (a
        Gaussian IRF with fitted centre and FWHM) or ``None`` for a tail fit without IRF.
    rep_rate_hz : float, optional
        Pulse repetition rate; when given, the tails of all earlier pulses are included (pile-over).
    method : {"mle", "wls"}
        ``"mle"``: Poisson maximum likelihood (minimum deviance); ``"wls"``: Neyman chi^2.
    fit_range_ns : (float, float), optional
        Only bins whose start lies in ``[start, stop)`` enter the fit. Tail fits default to
        ``[tail_start_ns, end)``.
    irf_fwhm_ns : float, optional
        Start value of the Gaussian IRF FWHM (default: 2 bins or 0.1 ns, whichever is larger).
    tail_start_ns : float, optional
        Tail fits: first time fitted; default is the peak time plus twice its 10 %-to-peak rise time.
        Amplitudes are fitted at this time and reported extrapolated back to the peak time.
    taus_start_ns : sequence of float, optional
        Start lifetimes; by default log-spaced between twice the bin width and a third of the window,
        with a second, compressed set tried only when the first fit's reduced objective exceeds 1.5.
    irf_background : "auto" or float
        Constant subtracted from a measured IRF before normalising: ``"auto"`` takes the median of the
        IRF bins below 1 % of its maximum.

    Returns
    -------
    DecayFit

    Raises
    ------
    AnalysisInputError
        For arrays that are not a histogram, nonsense options, or an IRF that does not match.

    Notes
    -----
    ``chi2_red`` is Pearson's :math:`\\chi^2 = \\sum_k (y_k - m_k)^2 / m_k` over the fitted bins divided by
    the degrees of freedom :math:`N - p`; it is close to 1 for a correctly specified model with Poisson
    noise (the ``deviance_red`` is reported alongside). Uncertainties come from the Gauss-Newton
    curvature of the objective, which for deviance residuals is the Fisher information.
    Amplitudes are fitted by lmfit's Levenberg-Marquardt after a non-negative linear solve
    (:func:`scipy.optimize.nnls`) at the start lifetimes, which makes the fit insensitive to start values.

    References
    ----------
    .. [1] J. R. Lakowicz, Principles of Fluorescence Spectroscopy, 3rd ed., ch. 4 (Springer, 2006).
    .. [2] T. A. Laurence and B. A. Chromy, "Efficient maximum likelihood estimator fitting of
       histograms", Nat. Methods 7, 338 (2010).
    .. [3] H. Jin et al., Nanoscale (2023): tri-exponential TRPL fits, 1 < chi^2 < 2.9.
    """
    t, y, dt = _validate(time_ns, counts, n_components, method, rep_rate_hz)
    n = y.size
    period_ns = None if rep_rate_hz is None else 1e9 / float(rep_rate_hz)
    window_ns = n * dt
    if period_ns is not None and period_ns < window_ns - 0.5 * dt:
        raise AnalysisInputError(
            f"the histogram spans {window_ns:.4g} ns, longer than the pulse period {period_ns:.4g} ns "
            f"(rep_rate_hz={rep_rate_hz}); crop the histogram to one period"
        )

    peak = int(np.argmax(y))
    tail_ref = None
    if isinstance(irf, str):
        if irf != "gaussian":
            raise AnalysisInputError(f"irf must be an array, 'gaussian' or None, got {irf!r}")
        irf_mode, irf_grid, n_grid = "gaussian", None, n
    elif irf is None:
        irf_mode, irf_grid, n_grid = "tail", None, n
        peak_ns = float(t[peak])
        if tail_start_ns is None:
            ten = np.nonzero(y[: peak + 1] <= y[peak] * 0.1)[0]
            rise = (peak - ten[-1]) * dt if ten.size else dt
            tail_start_ns = t[peak] + 2 * max(rise, dt)
        if fit_range_ns is None:
            fit_range_ns = (float(tail_start_ns), float(t[-1] + dt))
        # amplitudes are fitted at the first fitted time (referring them to the peak, before the data,
        # makes a_i and tau_i degenerate as tau_i -> 0) and reported referred to the peak
        tail_ref = float(t[t >= fit_range_ns[0]][0]) if np.any(t >= fit_range_ns[0]) else peak_ns
    else:
        irf_mode = "measured"
        irf_arr = np.asarray(irf, dtype=float)
        if irf_arr.shape != y.shape:
            raise AnalysisInputError(f"irf has {irf_arr.size} bins but the decay has {n}; they must match")
        if not np.all(np.isfinite(irf_arr)):
            raise AnalysisInputError("irf contains NaN or infinite values")
        irf_arr = _clean_irf(irf_arr, irf_background)
        if period_ns is not None:
            n_grid = max(n, int(round(period_ns / dt)))
        else:
            n_grid = sp_fft.next_fast_len(2 * n)
        irf_grid = np.zeros(n_grid)
        irf_grid[:n] = irf_arr / irf_arr.sum()

    mask = np.ones(n, dtype=bool)
    if fit_range_ns is not None:
        start, stop = float(fit_range_ns[0]), float(fit_range_ns[1])
        mask = (t >= start) & (t < stop)
    n_free = 2 * n_components + 1 + {"gaussian": 2, "measured": 1, "tail": 0}[irf_mode]
    if mask.sum() <= n_free + 2:
        raise AnalysisInputError(f"fit range holds {mask.sum()} bins, too few for {n_free} parameters")

    setup = _Setup(t, dt, y, mask, irf_mode, irf_grid, n_grid, period_ns, tail_ref)
    ref_shift_ns = tail_ref - peak_ns if irf_mode == "tail" else 0.0

    # IRF start values
    irf_kw: dict[str, float] = {}
    if irf_mode == "gaussian":
        fwhm0 = float(irf_fwhm_ns) if irf_fwhm_ns else max(2 * dt, 0.1)
        rising = np.diff(y[: peak + 1])
        mu0 = float(t[int(np.argmax(rising))] + dt) if rising.size else float(t[peak])
        irf_kw = {"mu": mu0, "fwhm": fwhm0}
    elif irf_mode == "measured":
        # align the IRF peak with the steepest rise of the decay
        rising = np.diff(y[: peak + 1])
        rise_bin = int(np.argmax(rising)) + 1 if rising.size else peak
        irf_kw = {"shift": float((rise_bin - int(np.argmax(irf_grid[:n]))) * dt)}

    if taus_start_ns is not None:
        starts = [np.asarray(taus_start_ns, dtype=float)]
        if starts[0].shape != (n_components,) or np.any(starts[0] <= 0):
            raise AnalysisInputError(f"taus_start_ns must be {n_components} positive lifetimes")
    else:
        lo, hi = max(dt, 0.05), max(window_ns / 3, 4 * dt)
        base = _log_spaced_taus(n_components, 2 * lo, hi)
        starts = [base] if n_components == 1 else [base, base * np.geomspace(1, 0.3, n_components)]

    best = None
    for taus0 in starts:
        result = _run_fit(setup, n_components, method, taus0, irf_kw, window_ns)
        if best is None or result.chisqr < best.chisqr:
            best = result
        if _looks_converged(best, n_components, setup.dt):
            break  # further start values only for fits that look stuck
    return _to_fit(best, setup, n_components, method, rep_rate_hz, ref_shift_ns)


def _looks_converged(result, n_comp, dt):
    """A fit is retried from other start values when it failed, fits badly, or collapsed a component
    (lifetime at its lower bound or a vanishing amplitude), the usual signs of a local minimum."""
    if not result.success or result.redchi >= GOOD_ENOUGH_REDCHI:
        return False
    v = result.params.valuesdict()
    amps = np.array([v[f"a{i}"] for i in range(n_comp)])
    taus = np.array([v[f"tau{i}"] for i in range(n_comp)])
    return bool(np.all(taus > 0.1 * dt) and np.all(amps > 1e-4 * amps.sum()))


def _run_fit(setup, n_comp, method, taus0, irf_kw, window_ns):
    amps0, bg0 = _nnls_amplitudes(setup, taus0, **irf_kw)
    scale = max(float(np.max(amps0)), 1.0)
    params = lmfit.Parameters()
    for i in range(n_comp):
        params.add(f"a{i}", value=max(float(amps0[i]), 1e-3 * scale), min=0.0)
        params.add(f"tau{i}", value=float(taus0[i]), min=1e-3 * setup.dt, max=100 * window_ns)
    params.add("background", value=max(float(bg0), 1e-3), min=0.0)
    if setup.irf_mode == "gaussian":
        params.add("irf_center", value=irf_kw["mu"], min=setup.time_ns[0], max=setup.time_ns[-1])
        # TCSPC IRFs are rarely wider than a few ns; the bound keeps the optimiser out of absurd widths
        params.add("irf_fwhm", value=irf_kw["fwhm"], min=0.05 * setup.dt, max=max(10 * irf_kw["fwhm"], 5.0))
    elif setup.irf_mode == "measured":
        lim = 0.25 * window_ns
        params.add("shift", value=irf_kw["shift"], min=irf_kw["shift"] - lim, max=irf_kw["shift"] + lim)
    minimizer = lmfit.Minimizer(
        _residuals, params, fcn_args=(setup, n_comp, method), scale_covar=False, nan_policy="raise"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return minimizer.minimize(method="leastsq", max_nfev=300 * (len(params) + 1))


def _to_fit(result, setup, n_comp, method, rep_rate_hz, ref_shift_ns=0.0) -> DecayFit:
    v = result.params.valuesdict()
    taus = np.array([v[f"tau{i}"] for i in range(n_comp)])
    amps = np.array([v[f"a{i}"] for i in range(n_comp)])
    order = np.argsort(taus)
    taus, amps = taus[order], amps[order]
    names = [f"a{i}" for i in order] + [f"tau{i}" for i in order]

    cov = _covariance(result, names)
    amps_ref = amps * np.exp(np.minimum(ref_shift_ns / taus, 700.0))  # tail fits: back to the peak time
    fractions = amps_ref / amps_ref.sum()
    intensity = amps_ref * taus / np.sum(amps_ref * taus)
    tau_amp, tau_int = average_lifetimes(taus, amps_ref)
    errs = _propagated_errors(amps, taus, cov, ref_shift_ns)

    model = _model(result.params, setup, n_comp)
    y, m = setup.counts[setup.mask], np.maximum(model[setup.mask], 1e-12)
    dof = max(int(setup.mask.sum()) - result.nvarys, 1)
    chi2 = float(np.sum((y - m) ** 2 / m) / dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2 * np.sum(m - y + np.where(y > 0, y * np.log(y / m), 0.0))

    def err(name):
        p = result.params.get(name)
        return float(p.stderr) if p is not None and p.stderr is not None else float("nan")

    t_fit = setup.time_ns[setup.mask]
    return DecayFit(
        taus_ns=taus,
        taus_err_ns=errs["taus"],
        amplitudes=fractions,
        amplitudes_err=errs["fractions"],
        intensity_fractions=intensity,
        tau_avg_amp_ns=tau_amp,
        tau_avg_amp_err_ns=errs["tau_amp"],
        tau_avg_int_ns=tau_int,
        tau_avg_int_err_ns=errs["tau_int"],
        chi2_red=chi2,
        deviance_red=float(dev / dof),
        background_per_bin=float(v["background"]),
        background_err_per_bin=err("background"),
        irf_mode=setup.irf_mode,
        irf_shift_ns=float(v["shift"]) if "shift" in v else None,
        irf_center_ns=float(v["irf_center"]) if "irf_center" in v else None,
        irf_fwhm_ns=float(v["irf_fwhm"]) if "irf_fwhm" in v else None,
        method={"mle": "poisson-mle", "wls": "neyman-chi2"}[method],
        rep_rate_hz=None if rep_rate_hz is None else float(rep_rate_hz),
        fit_start_ns=float(t_fit[0]),
        fit_stop_ns=float(t_fit[-1] + setup.dt),
        n_points=int(setup.mask.sum()),
        n_free_parameters=int(result.nvarys),
        success=bool(result.success) and cov is not None,
        message=str(result.message) if cov is not None else "covariance could not be estimated",
        time_ns=setup.time_ns,
        counts=setup.counts,
        model_counts=model,
    )


def _covariance(result, names):
    if result.covar is None or result.var_names is None:
        return None
    idx = [result.var_names.index(nm) for nm in names]
    cov = np.asarray(result.covar)[np.ix_(idx, idx)]
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) < 0):
        return None
    return cov


def _propagated_errors(amps, taus, cov, ref_shift_ns=0.0):
    """First-order (delta-method) errors of taus, fractions and average lifetimes."""
    n = len(taus)
    nan = np.full(n, np.nan)
    if cov is None:
        return {"taus": nan, "fractions": nan, "tau_amp": float("nan"), "tau_int": float("nan")}

    def derived(x):
        a, tau = x[:n], x[n:]
        a = a * np.exp(np.minimum(ref_shift_ns / tau, 700.0))
        s = a.sum()
        return np.concatenate([a / s, [np.sum(a * tau) / s, np.sum(a * tau**2) / np.sum(a * tau)]])

    x0 = np.concatenate([amps, taus])
    f0 = derived(x0)
    jac = np.empty((f0.size, x0.size))
    for j in range(x0.size):
        h = 1e-6 * max(abs(x0[j]), 1e-12)
        xp, xm = x0.copy(), x0.copy()
        xp[j] += h
        xm[j] -= h
        jac[:, j] = (derived(xp) - derived(xm)) / (2 * h)
    var = np.einsum("ij,jk,ik->i", jac, cov, jac)
    sd = np.sqrt(np.maximum(var, 0.0))
    return {
        "taus": np.sqrt(np.diag(cov)[n:]),
        "fractions": sd[:n],
        "tau_amp": float(sd[n]),
        "tau_int": float(sd[n + 1]),
    }
