"""Emitter detection on time-window projections of a wide-field movie: ROIs, local background, drift.

What a wide-field EM-CCD movie of perovskite crystals does, and what each step answers:

- the excitation beam is Gaussian and the background has a gradient and fades: a **local background**
  image (:func:`local_background`) is subtracted before anything is thresholded;
- the camera is an EM-CCD (Poisson photons, gamma EM gain with excess noise factor 2, read noise, an
  offset): the per-pixel variance is linear in the mean, :math:`\\sigma^2 = a\\,\\bar x + b`
  (:class:`NoiseModel`, fitted on the movie itself, a photon-transfer curve), so significance is
  measured in units of the local noise, dim corners of the beam included;
- crystals bleach early, activate late or are mostly off: detection runs on the mean of each of
  ``K`` time windows as well as on the whole mean (:func:`sample_projections`), and a pixel is as
  significant as its best window;
- hot pixels (single-pixel, constant) are found by their shape (no optical image is narrower than the
  point-spread function) and masked; diffuse debris (too wide, not blinking) is rejected after the
  streaming pass by :func:`blinking_excess`;
- touching crystals are split by a watershed whose basins merge unless the dip between their peaks
  is deep (:func:`detect_particles`); the ROI is the crystal's half-maximum footprint, as a person
  would draw it;
- the stage drifts: :func:`measure_drift` phase-correlates the window projections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from analysis.errors import AnalysisInputError

__all__ = [
    "Particles",
    "NoiseModel",
    "Projections",
    "estimate_noise_model",
    "sample_projections",
    "local_background",
    "find_hot_pixels",
    "detect_particles",
    "measure_drift",
    "blinking_excess",
    "neighbour_pairs",
]


@dataclass(frozen=True, eq=False)
class Particles:
    """Detected emitters of one movie, as flat pixel indices grouped by particle.

    Particle ``i`` (0-based; reported as ``i + 1``) owns ROI pixels ``roi_flat[roi_owner == i]`` and
    background pixels ``annulus_flat[annulus_owner == i]``; both arrays are sorted by owner so chunk code
    can use ``np.add.reduceat``. Flat indices are into a ``(height, width)`` frame.

    Attributes
    ----------
    shape : (int, int)
        Frame shape ``(height, width)``.
    centroid_px : (n, 2) float array
        Intensity-weighted centroid ``(y, x)`` of the footprint on the background-subtracted projection.
    area_px : (n,) int array
        ROI size in pixels (the half-maximum footprint).
    half_max_area_px : (n,) int array
        Pixels above half the particle's peak (the size estimate behind ``edge_um``).
    edge_um : (n,) float array
        :math:`\\sqrt{A_{1/2}}\\,\\cdot` pixel size: the edge of a square crystal whose image has the
        measured half-maximum area (NaN without a pixel size). Diffraction blurs crystals below ~0.3 um.
    roi_flat, roi_owner, annulus_flat, annulus_owner : int arrays
        Pixel indices and their particle.
    roi_shift : (n_roi,) float array
        Each ROI pixel's background-subtracted projection value: a shift that centres the one-pass
        correlation sums (Pearson r does not depend on it; it only avoids cancellation).
    peak_sigma : (n,) float array
        Detection significance: the peak of the matched-filtered projection in units of its noise.
    roi_mean : (n_roi,) float array
        Mean projection at each ROI pixel (raw counts), for the noise model of the traces.
    annulus_mean : (n,) float array
        Mean projection over each particle's background ring (raw counts).
    hot_pixels : (m,) int array
        Flat indices of the hot pixels found and masked (never in an ROI or a ring).
    """

    shape: tuple[int, int]
    centroid_px: np.ndarray
    area_px: np.ndarray
    half_max_area_px: np.ndarray
    edge_um: np.ndarray
    roi_flat: np.ndarray
    roi_owner: np.ndarray
    annulus_flat: np.ndarray
    annulus_owner: np.ndarray
    roi_shift: np.ndarray
    peak_sigma: np.ndarray = field(default_factory=lambda: np.zeros(0))
    roi_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    annulus_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hot_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n(self) -> int:
        return int(self.area_px.size)

    def roi_starts(self) -> np.ndarray:
        return np.searchsorted(self.roi_owner, np.arange(self.n))

    def annulus_starts(self) -> np.ndarray:
        return np.searchsorted(self.annulus_owner, np.arange(self.n))

    def label_image(self) -> np.ndarray:
        """ROI labels as an image: 0 outside, ``i + 1`` on particle ``i``."""
        img = np.zeros(self.shape[0] * self.shape[1], dtype=np.int32)
        img[self.roi_flat] = self.roi_owner + 1
        return img.reshape(self.shape)

    def subset(self, keep: np.ndarray) -> Particles:
        """The particles ``keep`` (boolean mask or indices), renumbered in order."""
        idx = np.flatnonzero(np.asarray(keep)) if np.asarray(keep).dtype == bool else np.asarray(keep)
        new = -np.ones(self.n, dtype=np.int64)
        new[idx] = np.arange(idx.size)
        r_sel = new[self.roi_owner] >= 0
        a_sel = new[self.annulus_owner] >= 0

        def pick(a, sel):
            return a[sel] if a.size == sel.size else a

        return Particles(
            shape=self.shape,
            centroid_px=self.centroid_px[idx],
            area_px=self.area_px[idx],
            half_max_area_px=self.half_max_area_px[idx],
            edge_um=self.edge_um[idx],
            roi_flat=self.roi_flat[r_sel],
            roi_owner=new[self.roi_owner[r_sel]],
            annulus_flat=self.annulus_flat[a_sel],
            annulus_owner=new[self.annulus_owner[a_sel]],
            roi_shift=pick(self.roi_shift, r_sel),
            peak_sigma=self.peak_sigma[idx] if self.peak_sigma.size == self.n else self.peak_sigma,
            roi_mean=pick(self.roi_mean, r_sel),
            annulus_mean=self.annulus_mean[idx] if self.annulus_mean.size == self.n else self.annulus_mean,
            hot_pixels=self.hot_pixels,
        )


def _no_particles(shape, hot=None) -> Particles:
    empty = np.zeros(0, dtype=np.int64)
    return Particles(
        shape, np.zeros((0, 2)), empty, empty, np.zeros(0), empty, empty, empty, empty, np.zeros(0),
        hot_pixels=empty if hot is None else hot,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Noise model and projections


@dataclass(frozen=True)
class NoiseModel:
    """Per-frame pixel variance as a linear function of the pixel's mean: :math:`\\sigma^2 = a\\,\\bar x + b`.

    For an EM-CCD, :math:`a = F^2 g` (excess noise factor :math:`F^2 \\approx 2` times the gain in counts
    per photo-electron) and :math:`b = \\sigma_{read}^2 - a\\,o` with the offset :math:`o`; for a camera
    without photon noise (or simulated Gaussian noise) :math:`a = 0`. [1]_

    References
    ----------
    .. [1] J. R. Janesick, *Photon Transfer* (SPIE, 2007); M. Hirsch et al., PLoS ONE 8, e53671 (2013)
       for the EM-CCD excess noise factor.
    """

    slope: float
    intercept: float

    def variance(self, mean) -> np.ndarray:
        """Per-frame variance of a pixel whose mean is ``mean`` (floored at a tiny positive value)."""
        v = self.slope * np.asarray(mean, dtype=float) + self.intercept
        return np.maximum(v, 1e-6 * max(abs(self.intercept), 1e-12) + 1e-12)


def estimate_noise_model(mean: np.ndarray, variance: np.ndarray, *, n_bins: int = 24) -> NoiseModel:
    """Fit :class:`NoiseModel` to per-pixel temporal means and variances (a photon-transfer curve).

    Pixels are binned by mean between the 2nd and 70th percentiles (the background-dominated majority;
    blinking crystals sit above and would inflate the variance), the median variance of each bin is
    taken (robust to the few crystal pixels left) and a line is fitted to the bin medians. A negative
    slope (no photon noise) becomes 0 with the median variance as intercept.
    """
    m = np.asarray(mean, dtype=float).ravel()
    v = np.asarray(variance, dtype=float).ravel()
    ok = np.isfinite(m) & np.isfinite(v)
    m, v = m[ok], v[ok]
    if m.size < 8:
        return NoiseModel(0.0, float(np.median(v)) if v.size else 1.0)
    lo, hi = np.percentile(m, [2, 70])
    sel = (m >= lo) & (m <= hi)
    if hi <= lo or sel.sum() < 8:
        return NoiseModel(0.0, float(np.median(v[sel] if sel.any() else v)))
    edges = np.linspace(lo, hi, n_bins + 1)
    which = np.clip(np.digitize(m[sel], edges) - 1, 0, n_bins - 1)
    xs, ys, ws = [], [], []
    for b in range(n_bins):
        vb = v[sel][which == b]
        if vb.size >= 5:
            xs.append(np.median(m[sel][which == b]))
            ys.append(np.median(vb))
            ws.append(np.sqrt(vb.size))
    if len(xs) < 3 or np.ptp(xs) == 0:
        return NoiseModel(0.0, float(np.median(v[sel])))
    slope, intercept = np.polyfit(xs, ys, 1, w=ws)
    if slope <= 0:
        return NoiseModel(0.0, float(np.median(v[sel])))
    return NoiseModel(float(slope), float(intercept))


@dataclass(frozen=True, eq=False)
class Projections:
    """Mean images of ``K`` consecutive time windows of a movie, from evenly strided frames.

    Attributes
    ----------
    windows : (K, H, W) float array
        Mean of the sampled frames of each window.
    frames_per_window : (K,) int array
        Sampled frames averaged in each window.
    window_frames : (K, 2) int array
        First and last (exclusive) movie frame of each window.
    mean : (H, W) float array
        Mean of all sampled frames.
    noise : NoiseModel
        Fitted on the per-pixel temporal mean and variance of adjacent-frame pairs.
    """

    windows: np.ndarray
    frames_per_window: np.ndarray
    window_frames: np.ndarray
    mean: np.ndarray
    noise: NoiseModel


def sample_projections(info, *, n_sample: int = 400, n_windows: int = 10) -> Projections:
    """Window projections and the noise model of a movie, from ``n_sample`` evenly strided frames.

    The movie is cut into ``n_windows`` equal time windows; each window's mean is taken over its share
    of the sampled frames, so memory is ``K`` frames whatever the movie's length and the cost is
    ``n_sample / T`` of a full pass. The noise model is fitted on the variance of differences of
    adjacent frames (frame ``i`` and ``i + 1``, read as pairs), which slow changes (blinking periods,
    fading background, drift) do not inflate: :math:`\\mathrm{var}(x_{i+1} - x_i) / 2`.

    Parameters
    ----------
    info : analysis.movie.MovieInfo
        The movie.
    n_sample : int
        Frames read (in pairs: ``n_sample / 2`` positions when the movie is long enough).
    n_windows : int
        Time windows; a crystal ON during one window's sampled frames only is still seen. 10 windows
        of a 600 s movie are 60 s each, shorter than the paper's bleaching times.

    Raises
    ------
    AnalysisInputError
        When sampled frames contain NaN or infinite values.
    """
    from analysis.movie import read_frames, strided_frame_indices

    if int(n_windows) != n_windows or n_windows < 1:
        raise AnalysisInputError(f"n_windows: {n_windows}, expected a positive integer")
    t = info.frames
    n_windows = int(min(n_windows, t))
    if n_sample >= t:  # a short movie: every frame, in blocks; differences within each block
        idx = np.arange(0, t, 64)
        lengths = np.minimum(64, t - idx)
    else:  # pairs (i, i + 1) at evenly spread, non-overlapping positions
        idx = strided_frame_indices(t - 1, max(1, n_sample // 2))
        idx = idx[np.concatenate([[True], np.diff(idx) >= 2])]
        lengths = np.full(idx.size, 2)
    bounds = np.linspace(0, t, n_windows + 1).round().astype(np.int64)
    sums = np.zeros((n_windows, info.height, info.width))
    counts = np.zeros(n_windows, dtype=np.int64)
    dsum = np.zeros((info.height, info.width))
    dsq = np.zeros((info.height, info.width))
    n_diff = 0
    d = np.empty((info.height, info.width), dtype=np.float32)
    for i, length in zip(idx, lengths, strict=True):
        stop = int(i) + int(length)
        block = read_frames(info, int(i), stop)
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            raise AnalysisInputError(f"{Path(info.path).name}: frame {i} contains NaN or infinite values")
        for j, frame in enumerate(block):
            w = int(np.searchsorted(bounds, int(i) + j, side="right") - 1)
            w = min(w, n_windows - 1)
            np.add(sums[w], frame, out=sums[w])  # cast on the fly: no float64 copy of the frame
            counts[w] += 1
        for j in range(0, 2 * (len(block) // 2), 2):
            np.subtract(block[j + 1], block[j], out=d, dtype=np.float32)  # disjoint pairs: independent
            dsum += d
            d *= d
            dsq += d
            n_diff += 1
        del block
    filled = counts > 0
    windows = sums[filled] / counts[filled, None, None]
    mean = sums.sum(0) / counts.sum()
    if n_diff >= 3:
        var = (dsq - dsum**2 / n_diff) / (n_diff - 1) / 2.0
        noise = estimate_noise_model(mean, var)
    else:
        noise = NoiseModel(0.0, float(np.var(windows)) if windows.size else 1.0)
    wf = np.stack([bounds[:-1], bounds[1:]], axis=1)[filled]
    return Projections(
        windows=windows, frames_per_window=counts[filled], window_frames=wf, mean=mean, noise=noise
    )


# --------------------------------------------------------------------------------------------------
# Background, hot pixels


def local_background(image: np.ndarray, *, scale_px: float = 24.0) -> np.ndarray:
    """Slowly varying background (beam profile, gradient) under sparse emitters.

    Block medians of ``scale_px / 4`` pixels, a median filter over about ``scale_px`` on the block
    image, Gaussian smoothing, and bilinear interpolation back to full size. Objects narrower than
    ``scale_px / 2`` (every crystal image up to ~2 um at 160 nm pixels) do not lift it; the Gaussian
    beam (sigma ~100 px) and gradients are followed.
    """
    img = np.asarray(image, dtype=float)
    h, w = img.shape
    b = max(1, int(round(scale_px / 4)))
    ph, pw = (-h) % b, (-w) % b
    padded = np.pad(img, ((0, ph), (0, pw)), mode="reflect") if (ph or pw) else img
    hb, wb = padded.shape[0] // b, padded.shape[1] // b
    blocks = np.median(padded.reshape(hb, b, wb, b).transpose(0, 2, 1, 3).reshape(hb, wb, b * b), axis=2)
    size = max(3, int(round(scale_px / b)) | 1)
    small = ndimage.median_filter(blocks, size=size, mode="reflect")
    small = ndimage.gaussian_filter(small, max(size / 4.0, 0.5), mode="reflect")
    # Block centres at (k + 0.5) * b - 0.5 in pixel coordinates.
    yy = (np.arange(h) + 0.5) / b - 0.5
    xx = (np.arange(w) + 0.5) / b - 0.5
    gy, gx = np.meshgrid(yy, xx, indexing="ij")
    return ndimage.map_coordinates(small, [gy, gx], order=1, mode="nearest")


def stack_backgrounds(stack: np.ndarray, *, scale_px: float = 24.0) -> np.ndarray:
    """Local background of every image of a stack whose first image is the mean of the others.

    :func:`local_background` of the mean image, then per image an affine rescaling
    :math:`B_k = s_k B + c_k` fitted by least squares on its background pixels (two passes, clipping
    pixels more than 3 robust sigmas above the fit: crystals). The beam's shape does not change within a
    movie, only its level (the background fades), so this costs one filter instead of ``K``.
    """
    base = local_background(stack[0], scale_px=scale_px)
    out = np.empty_like(stack, dtype=float)
    out[0] = base
    step = max(1, base.size // 65536)  # a 64 k-pixel sample fixes two numbers well enough
    x = base.ravel()[::step]
    for k in range(1, stack.shape[0]):
        y = stack[k].ravel()[::step]
        sel = np.ones(y.size, dtype=bool)
        slope, icpt = 1.0, 0.0
        for _ in range(2):
            xs, ys = x[sel], y[sel]
            xm, ym = xs.mean(), ys.mean()
            vx = np.mean((xs - xm) ** 2)
            slope = float(np.mean((xs - xm) * (ys - ym)) / vx) if vx > 0 else 1.0
            icpt = float(ym - slope * xm)
            r = y - (slope * x + icpt)
            sd = 1.4826 * np.median(np.abs(r - np.median(r)))
            sel = r < 3 * sd if sd > 0 else np.ones(y.size, dtype=bool)
        out[k] = slope * base + icpt
    return out


def find_hot_pixels(
    image: np.ndarray, noise_sd: np.ndarray, *, ratio: float = 3.0, min_sigma: float = 6.0
) -> np.ndarray:
    """Flat indices of hot pixels: single pixels far brighter than all their neighbours.

    A pixel is hot when its excess over the median of its 8 neighbours is above ``min_sigma`` times
    the noise and more than ``ratio`` times the excess of its brightest neighbour. An optical image is
    blurred by the point-spread function (sigma >= 1 px at Nyquist sampling): a point source puts at
    least ~45 % of its peak in the nearest pixel, a ratio of 2.2 at most, while a hot pixel's
    neighbours carry nothing.
    """
    img = np.asarray(image, dtype=float)
    fp = np.ones((3, 3), bool)
    fp[1, 1] = False
    base = ndimage.median_filter(img, footprint=fp, mode="reflect")
    excess = img - base
    nb_max = ndimage.maximum_filter(np.where(fp.any(), excess, 0), footprint=fp, mode="reflect")
    hot = (excess > min_sigma * noise_sd) & (excess > ratio * np.maximum(nb_max, 0))
    return np.flatnonzero(hot)


def _kernel_norm(sigma: float) -> float:
    """sqrt(sum of squared weights) of ``ndimage.gaussian_filter``: the noise gain of the smoothing."""
    d = np.zeros((int(8 * sigma) | 1,) * 2)
    d[d.shape[0] // 2, d.shape[1] // 2] = 1.0
    return float(np.sqrt((ndimage.gaussian_filter(d, sigma) ** 2).sum()))


# --------------------------------------------------------------------------------------------------
# Detection


def detect_particles(
    projection: np.ndarray | Projections,
    *,
    pixel_size_um: float | None = None,
    frames_per_projection: float | np.ndarray | None = None,
    noise: NoiseModel | None = None,
    background_scale_px: float = 24.0,
    smooth_sigma_px: float = 1.0,
    threshold_sigma: float = 5.0,
    extent_sigma: float = 3.0,
    min_distance_px: int = 2,
    merge_dip: float = 0.25,
    footprint_fraction: float = 0.5,
    min_area_px: int = 3,
    hot_pixel_ratio: float = 3.0,
    annulus_gap_px: int = 1,
    annulus_width_px: int = 2,
    min_annulus_px: int = 8,
) -> Particles:
    """Find emitters in projections of a movie and give each its half-maximum ROI and a background ring.

    Parameters
    ----------
    projection : Projections, (K, H, W) or (H, W) array
        Window projections (:func:`sample_projections`), or a stack / a single mean image in counts.
    pixel_size_um : float, optional
        For ``edge_um``; NaN edges without it.
    frames_per_projection : float or (K,) array, optional
        Frames averaged in each image (for the noise of a mean); taken from a :class:`Projections`.
    noise : NoiseModel, optional
        Per-frame pixel noise. Without it (a plain image), the noise is measured on the image itself:
        the robust spread (1.4826 MAD) of the background-subtracted image, as a constant.
    background_scale_px : float
        Scale of :func:`local_background`: larger than any crystal image, smaller than the beam. 24 px
        = 3.8 um at 160 nm: twice the largest (2 um) crystals of the paper.
    smooth_sigma_px : float
        Gaussian matched filter before thresholding: about the PSF (sigma 1.2 px for a 1.4 NA
        objective at 700 nm and 160 nm pixels), which maximises the significance of a point source.
    threshold_sigma : float
        A particle needs a pixel this many noise sigmas above the background in the filtered mean or
        in one window. 5 sigma over ~11 images of 128 x 128 gives ~0.05 false pixels per movie.
    extent_sigma : float
        Hysteresis: the particle's region extends over connected pixels above this significance.
    min_distance_px : int
        Local maxima closer than this are one seed.
    merge_dip : float
        Two touching basins of the watershed stay apart only when the saddle between them is more than
        this fraction below the lower peak (a 25 % dip separates two crystals 4 px apart at PSF sigma
        1.2 px; a noisy flat top or the nanodomains of one microcrystal dip less).
    footprint_fraction : float
        The ROI is the connected set of pixels of the particle's cell above this fraction of its peak,
        on the (lightly smoothed) projection of the windows where it is bright: 0.5 is the
        half-maximum footprint a microscopist would draw.
    min_area_px : int
        Smaller ROIs are dropped (a half-maximum PSF spot is ~6 px).
    hot_pixel_ratio : float
        See :func:`find_hot_pixels`.
    annulus_gap_px, annulus_width_px : int
        Background ring: ``width`` pixels starting ``gap`` pixels outside the particle's region,
        minus every pixel of any particle's region and hot pixels; widened up to 3x when crowded.
    min_annulus_px : int
        Particles with fewer background pixels even then are dropped.

    Returns
    -------
    Particles
        Possibly with ``n == 0``; the caller decides whether that is an error.

    Raises
    ------
    AnalysisInputError
        When the projection is not a finite 2-D image (or stack) or is constant.

    Notes
    -----
    Significance per image :math:`z_k = G * (P_k - B_k) / (\\sqrt{(a B_k + b)/n_k}\\,\\|G\\|)`, with the
    window mean :math:`P_k` of :math:`n_k` frames, its local background :math:`B_k`, the matched filter
    :math:`G` and the noise model :math:`(a, b)`; a pixel's significance is the maximum over the mean
    and the windows. Seeds are local maxima above ``threshold_sigma``; a marker watershed
    (scikit-image) on :math:`-z` splits touching crystals, then adjacent basins are merged unless the
    dip between them exceeds ``merge_dip``.
    """
    from skimage.segmentation import watershed

    if isinstance(projection, Projections):
        stack = np.concatenate([projection.mean[None], projection.windows])
        nfr = np.concatenate([[projection.frames_per_window.sum()], projection.frames_per_window])
        noise = noise or projection.noise
    else:
        arr = np.asarray(projection, dtype=float)
        if arr.ndim == 2:
            stack = arr[None]
        elif arr.ndim == 3 and arr.shape[0] >= 1:
            stack = np.concatenate([arr.mean(0)[None], arr]) if arr.shape[0] > 1 else arr
        else:
            raise AnalysisInputError(f"projection: expected a 2-D image or a stack, got shape {arr.shape}")
        if frames_per_projection is None:
            nfr = np.ones(stack.shape[0])
        else:
            f = np.atleast_1d(np.asarray(frames_per_projection, dtype=float))
            nfr = np.concatenate([[f.sum()], f]) if stack.shape[0] > f.size else np.resize(f, stack.shape[0])
    if stack.ndim != 3 or min(stack.shape[1:]) < 3:
        raise AnalysisInputError(
            f"projection: expected 2-D images of at least 3 x 3, got shape {stack.shape}"
        )
    if not np.isfinite(stack).all():
        raise AnalysisInputError("projection: contains NaN or infinite values")
    if np.ptp(stack) == 0:
        raise AnalysisInputError("movie is constant (every pixel has the same value): no emitters to detect")
    for name, value in (("threshold_sigma", threshold_sigma), ("smooth_sigma_px", smooth_sigma_px),
                        ("background_scale_px", background_scale_px)):  # fmt: skip
        if not (np.isfinite(value) and value > 0):
            raise AnalysisInputError(f"{name}: {value}, expected a positive number")
    if not 0 < footprint_fraction < 1 or not 0 <= merge_dip < 1:
        raise AnalysisInputError("footprint_fraction and merge_dip: expected fractions between 0 and 1")

    shape = stack.shape[1:]
    mean_img = stack[0]
    bgs = stack_backgrounds(stack, scale_px=background_scale_px)
    resid = stack - bgs
    if noise is None:
        r0 = resid[0]
        mad = float(np.median(np.abs(r0 - np.median(r0)))) * 1.4826
        sd = np.full((stack.shape[0],) + shape, mad or float(np.std(r0)) or 1.0)
    else:
        sd = np.sqrt(noise.variance(bgs) / np.asarray(nfr, dtype=float)[:, None, None])

    # Hot pixels on the mean image (most frames: a constant hot pixel is most significant there).
    hot = find_hot_pixels(mean_img, sd[0], ratio=hot_pixel_ratio)
    if hot.size:
        # Each hot pixel becomes the median of its 8 neighbours, in every image (only those pixels).
        hy, hx = np.unravel_index(hot, shape)
        padded = np.pad(resid, ((0, 0), (1, 1), (1, 1)), mode="reflect")
        nb = [padded[:, hy + 1 + dy, hx + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
        resid[:, hy, hx] = np.median(np.stack(nb), axis=0)
    knorm = _kernel_norm(smooth_sigma_px)
    smooth = np.stack([ndimage.gaussian_filter(r, smooth_sigma_px, mode="reflect") for r in resid])
    z_k = smooth / (sd * knorm)
    # Self-calibration: most pixels are background, so z is standard normal there when the noise model
    # is right. A wider spread (a camera the model does not fit, correlated noise, few frames per
    # window) rescales that image's z rather than letting noise through.
    sub = z_k.reshape(z_k.shape[0], -1)[:, :: max(1, z_k[0].size // 65536)]  # a 64 k-pixel sample is plenty
    spread = 1.4826 * np.median(np.abs(sub - np.median(sub, axis=1, keepdims=True)), axis=1)
    z_k /= np.maximum(spread, 1.0)[:, None, None]
    z = z_k.max(axis=0)

    fg = z > extent_sigma
    comp, _ = ndimage.label(fg)
    strong = np.unique(comp[(z > threshold_sigma) & fg])
    fg &= np.isin(comp, strong[strong > 0])
    size = 2 * int(min_distance_px) + 1
    peaks = (z == ndimage.maximum_filter(z, size=size, mode="nearest")) & fg & (z > threshold_sigma)
    markers, n_seeds = ndimage.label(peaks)
    if n_seeds == 0:
        return _no_particles(shape, hot)
    cells = watershed(-z, markers, mask=fg)
    cells = _merge_shallow_basins(cells, z, n_seeds, merge_dip)

    excluded = ndimage.binary_dilation(fg, iterations=max(annulus_gap_px, 1))
    hot_mask = np.zeros(shape, bool).ravel()
    hot_mask[hot] = True
    hot_mask = hot_mask.reshape(shape)
    labels_ids = np.unique(cells[cells > 0])
    boxes = ndimage.find_objects(cells)
    pad = annulus_gap_px + 3 * annulus_width_px + 2
    h_img, w_img = shape
    fsig = 0.5  # light smoothing of the footprint image: noise, not shape
    rois, annuli, cents, half_areas, zpk, ann_means = [], [], [], [], [], []

    def flat(mask, y0, x0):
        yy, xx = np.nonzero(mask)
        return np.ravel_multi_index((yy + y0, xx + x0), shape)

    for lab in labels_ids:
        box = boxes[lab - 1]
        if box is None:
            continue
        y0, x0 = max(box[0].start - pad, 0), max(box[1].start - pad, 0)
        win = (slice(y0, min(box[0].stop + pad, h_img)), slice(x0, min(box[1].stop + pad, w_img)))
        in_cell = cells[win] == lab
        zc = np.where(in_cell, z[win], -np.inf)
        py, px = np.unravel_index(np.argmax(zc), zc.shape)
        # The footprint image: mean of the images where this particle is at least half as bright as
        # in its best one (the whole mean for a mostly-on crystal, a window or two for a bleacher).
        at_peak = smooth[:, win[0], win[1]][:, py, px]
        use = at_peak >= 0.5 * at_peak.max()
        img = ndimage.gaussian_filter(resid[:, win[0], win[1]][use].mean(0), fsig, mode="nearest")
        img = np.where(hot_mask[win], -np.inf, img)
        peak_val = float(np.max(np.where(in_cell, img, -np.inf)))
        if not peak_val > 0:
            continue
        roi = in_cell & (img >= footprint_fraction * peak_val)
        roi_lab, nlab = ndimage.label(roi)
        if nlab > 1:  # the part holding the maximum
            ymax, xmax = np.unravel_index(np.argmax(np.where(roi, img, -np.inf)), roi.shape)
            roi = roi_lab == roi_lab[ymax, xmax]
        area = int(roi.sum())
        if area < min_area_px:
            continue
        own = ndimage.binary_dilation(roi | in_cell, iterations=annulus_gap_px)
        ring = None
        for width in (annulus_width_px, 2 * annulus_width_px, 3 * annulus_width_px):
            cand = ndimage.binary_dilation(own, iterations=width) & ~own & ~excluded[win] & ~hot_mask[win]
            if cand.sum() >= min_annulus_px:
                ring = cand
                break
        if ring is None:
            continue
        wgt = np.where(roi, np.clip(img, 0, None), 0.0)
        cy, cx = ndimage.center_of_mass(wgt)
        cents.append((cy + y0, cx + x0))
        half_areas.append(area if footprint_fraction == 0.5 else int((roi & (img >= 0.5 * peak_val)).sum()))
        rois.append(flat(roi, y0, x0))
        annuli.append(flat(ring, y0, x0))
        zpk.append(float(z[win][py, px]))
        ann_means.append(float(mean_img[win][ring].mean()))
    n = len(rois)
    if n == 0:
        return _no_particles(shape, hot)
    roi_flat = np.concatenate(rois)
    roi_owner = np.repeat(np.arange(n), [r.size for r in rois])
    ann_flat = np.concatenate(annuli)
    ann_owner = np.repeat(np.arange(n), [a.size for a in annuli])
    half = np.asarray(half_areas)
    edge = np.sqrt(half) * pixel_size_um if pixel_size_um else np.full(n, np.nan)
    ann_mean = np.asarray(ann_means)
    roi_mean = mean_img.ravel()[roi_flat]
    return Particles(
        shape=shape,
        centroid_px=np.asarray(cents, dtype=float),
        area_px=np.asarray([r.size for r in rois]),
        half_max_area_px=half,
        edge_um=np.asarray(edge, dtype=float),
        roi_flat=roi_flat,
        roi_owner=roi_owner,
        annulus_flat=ann_flat,
        annulus_owner=ann_owner,
        roi_shift=roi_mean - ann_mean[roi_owner],
        peak_sigma=np.asarray(zpk),
        roi_mean=roi_mean,
        annulus_mean=ann_mean,
        hot_pixels=hot,
    )


def _merge_shallow_basins(cells: np.ndarray, z: np.ndarray, n: int, merge_dip: float) -> np.ndarray:
    """Merge adjacent watershed basins whose saddle lies less than ``merge_dip`` below the lower peak."""
    if n < 2:
        return cells
    peak = np.full(n + 1, -np.inf)
    np.maximum.at(peak, cells.ravel(), z.ravel())
    saddles: dict[tuple[int, int], float] = {}
    for a_sl, b_sl in (((slice(None), slice(0, -1)), (slice(None), slice(1, None))),
                       ((slice(0, -1), slice(None)), (slice(1, None), slice(None)))):  # fmt: skip
        la, lb = cells[a_sl], cells[b_sl]
        sel = (la != lb) & (la > 0) & (lb > 0)
        if not sel.any():
            continue
        pa, pb = la[sel], lb[sel]
        val = np.minimum(z[a_sl][sel], z[b_sl][sel])
        lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
        key = lo.astype(np.int64) * (n + 1) + hi
        order = np.argsort(key)
        key, val = key[order], val[order]
        uniq, start = np.unique(key, return_index=True)
        best = np.maximum.reduceat(val, start)
        for k, s in zip(uniq, best, strict=True):
            pair = (int(k // (n + 1)), int(k % (n + 1)))
            saddles[pair] = max(saddles.get(pair, -np.inf), float(s))
    parent = np.arange(n + 1)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), s in sorted(saddles.items(), key=lambda kv: -kv[1]):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        lower = min(peak[ra], peak[rb])
        if s >= (1.0 - merge_dip) * lower:
            parent[rb] = ra
            peak[ra] = max(peak[ra], peak[rb])
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[cells] * (cells > 0)


# --------------------------------------------------------------------------------------------------
# Drift, blinking test, pairs


def measure_drift(
    projections: Projections,
    *,
    hot_pixels=None,
    background_scale_px: float = 24.0,
    max_drift_px: float = 8.0,
) -> np.ndarray:
    r"""Stage drift of each window, ``(K, 2)`` ``(dy, dx)`` in pixels, relative to the movie's mean position.

    Each window's projection, background-subtracted and high-passed (minus its Gaussian blur of sigma
    3 px, so that only crystal-sized structure counts), is cross-correlated (FFT, Hann-apodised) with
    the same image of the whole movie's mean; the peak, searched within ``max_drift_px`` (8 px = 1.3 um
    at 160 nm: far more than a stage drifts in a 10-minute movie), is refined to a fraction of a pixel
    by a Gaussian through the peak and its two neighbours on each axis (exact for Gaussian spots).
    Blinking changes which crystals are bright in a window but not where they are, so the peak follows
    the stage; the mean is blurred by the drift itself, which widens the peak but does not move it.
    The drifts are then centred (their mean subtracted), because the ROIs are drawn on images averaged
    over the whole movie. A window whose peak lies on the search limit (no clear match) gets the drift
    of its neighbours. Two FFTs per window: cheap enough for every movie.
    """
    stack = np.concatenate([projections.mean[None], projections.windows])
    if hot_pixels is not None and np.size(hot_pixels):
        stack = stack.copy()
        stack.reshape(stack.shape[0], -1)[:, hot_pixels] = np.median(stack[0])
    # The stage moves the whole field: a central crop of at most 256 x 256 measures it at a quarter of
    # the cost on a 512 x 512 camera.
    h0, w0 = stack.shape[1:]
    cy, cx = max((h0 - 256) // 2, 0), max((w0 - 256) // 2, 0)
    stack = stack[:, cy : cy + 256, cx : cx + 256]
    resid = stack - stack_backgrounds(stack, scale_px=background_scale_px)
    resid = np.stack([np.clip(r - ndimage.gaussian_filter(r, 3.0), 0, None) for r in resid])
    h, w = resid.shape[1:]
    apod = np.outer(np.hanning(h), np.hanning(w)) if min(h, w) > 8 else np.ones((h, w))
    lim = int(np.ceil(max_drift_px))
    drift = _register(resid[1:], resid[0], apod, lim)
    # Second pass against the windows re-aligned by the first: a sharp reference, unbiased peaks.
    aligned = np.mean(
        [ndimage.shift(r, -d, order=1, mode="nearest") for r, d in zip(resid[1:], drift, strict=True)], 0
    )
    return _register(resid[1:], aligned, apod, lim)


def _register(images: np.ndarray, reference: np.ndarray, apod: np.ndarray, lim: int) -> np.ndarray:
    """Sub-pixel shift of each image against ``reference`` (see :func:`measure_drift`), centred."""
    n_img = images.shape[0] + 1
    h, w = reference.shape
    resid = np.concatenate([reference[None], images])
    ref = np.conj(np.fft.rfft2(resid[0] * apod))
    dy_grid = (np.arange(h) + h // 2) % h - h // 2
    dx_grid = (np.arange(w) + w // 2) % w - w // 2
    inside = (np.abs(dy_grid)[:, None] <= lim) & (np.abs(dx_grid)[None, :] <= lim)
    out = np.full((n_img - 1, 2), np.nan)
    for k in range(1, n_img):
        c = np.fft.irfft2(np.fft.rfft2(resid[k] * apod) * ref, s=(h, w))
        c = np.where(inside, c, -np.inf)
        py, px = np.unravel_index(int(np.argmax(c)), c.shape)
        iy, ix = int(dy_grid[py]), int(dx_grid[px])
        if max(abs(iy), abs(ix)) >= lim or not np.isfinite(c[py, px]) or c[py, px] <= 0:
            continue  # no clear match within the limit
        shift = []
        for cm, c0, cp, i in ((c[(py - 1) % h, px], c[py, px], c[(py + 1) % h, px], iy),
                              (c[py, (px - 1) % w], c[py, px], c[py, (px + 1) % w], ix)):  # fmt: skip
            if cm > 0 and cp > 0:
                lm, l0, lp = np.log(cm), np.log(c0), np.log(cp)
            else:
                lm, l0, lp = cm, c0, cp
            den = lm - 2 * l0 + lp
            frac = 0.5 * (lm - lp) / den if np.isfinite(den) and den < 0 else 0.0
            shift.append(i + float(np.clip(frac, -0.5, 0.5)))
        out[k - 1] = shift
    ok = np.isfinite(out[:, 0])
    if not ok.any():
        return np.zeros_like(out)
    k_idx = np.arange(out.shape[0])
    for axis in (0, 1):
        out[:, axis] = np.interp(k_idx, k_idx[ok], out[ok, axis])
    return out - out.mean(axis=0)


def frame_shifts(drift_px: np.ndarray, window_frames: np.ndarray, n_frames: int) -> np.ndarray | None:
    """Whole-pixel shift ``(n_frames, 2)`` of every frame, interpolated between window centres; None when
    the drift never reaches half a pixel (nothing to follow)."""
    d = np.asarray(drift_px, dtype=float).reshape(-1, 2)
    if d.size == 0 or np.abs(d).max() < 0.5:
        return None
    centres = np.asarray(window_frames, dtype=float).mean(axis=1)
    t = np.arange(n_frames)
    dy = np.interp(t, centres, d[:, 0])
    dx = np.interp(t, centres, d[:, 1])
    shifts = np.round(np.stack([dy, dx], axis=1)).astype(np.int16)
    return shifts if np.any(shifts) else None


def blinking_excess(
    traces: np.ndarray, particles: Particles, noise: NoiseModel, *, bin_frames: int = 5
) -> np.ndarray:
    """Variance of each particle's trace, binned over ``bin_frames`` frames, over its shot-noise variance.

    .. math:: E_i = \\mathrm{var}_t(\\bar I_i) \\Big/ \\frac{1}{n_b}\\Big(\\sum_{p \\in R_i}
              \\sigma^2(\\bar x_p) + \\frac{|R_i|^2}{|B_i|}\\,\\sigma^2(\\bar x_{B_i})\\Big)

    with :math:`\\sigma^2` from the noise model. About 1 for a constant source (debris, a hot pixel);
    blinking, bleaching or brightening make it large, and binning over a few frames raises it further
    (dwells last several frames, shot noise does not).
    """
    tr = np.asarray(traces, dtype=float)
    n = particles.n
    if n == 0 or tr.shape[0] < 2 * bin_frames:
        return np.full(n, np.nan)
    t = (tr.shape[0] // bin_frames) * bin_frames
    binned = tr[:t].reshape(-1, bin_frames, n).mean(axis=1)
    roi_var = np.bincount(particles.roi_owner, weights=noise.variance(particles.roi_mean), minlength=n)
    n_ann = np.bincount(particles.annulus_owner, minlength=n)
    bg_var = particles.area_px**2 * noise.variance(particles.annulus_mean) / np.maximum(n_ann, 1)
    expected = (roi_var + bg_var) / bin_frames
    return binned.var(axis=0, ddof=1) / expected


def neighbour_pairs(particles: Particles, *, max_distance_px: float) -> np.ndarray:
    """Ordered pairs ``(i, j)``, ``i != j``, of particles whose centroids are within ``max_distance_px``.

    These are the assemblies for cross-correlation maps: pixels of ``i`` against the trace of ``j``.
    """
    c = particles.centroid_px
    if particles.n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    d = np.hypot(c[:, None, 0] - c[None, :, 0], c[:, None, 1] - c[None, :, 1])
    i, j = np.nonzero((d <= max_distance_px) & ~np.eye(particles.n, dtype=bool))
    return np.stack([i, j], axis=1).astype(np.int64)
