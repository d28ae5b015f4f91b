"""Emitter detection on a projection image: ROIs, local background annuli, centroid, size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from analysis.errors import AnalysisInputError

__all__ = ["Particles", "detect_particles", "neighbour_pairs"]


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
        Intensity-weighted centroid ``(y, x)`` on the background-subtracted projection.
    area_px : (n,) int array
        ROI size in pixels.
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


def _no_particles(shape) -> Particles:
    empty = np.zeros(0, dtype=np.int64)
    return Particles(
        shape, np.zeros((0, 2)), empty, empty, np.zeros(0), empty, empty, empty, empty, np.zeros(0)
    )


def _robust_background(image: np.ndarray) -> tuple[float, float]:
    med = float(np.median(image))
    mad = float(np.median(np.abs(image - med))) * 1.4826
    return med, mad


def detect_particles(
    projection: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    smooth_sigma_px: float = 1.0,
    threshold_sigma: float = 6.0,
    min_distance_px: int = 2,
    roi_fraction: float = 0.3,
    min_area_px: int = 4,
    annulus_gap_px: int = 1,
    annulus_width_px: int = 2,
    min_annulus_px: int = 8,
) -> Particles:
    """Find emitters in a projection of the movie and give each an ROI and a background annulus.

    Parameters
    ----------
    projection : (H, W) array
        Mean (or other) projection of the movie, in counts.
    pixel_size_um : float, optional
        For ``edge_um``; NaN edges without it.
    smooth_sigma_px : float
        Gaussian smoothing before thresholding and peak finding.
    threshold_sigma : float
        Foreground is smoothed image > median + ``threshold_sigma`` * robust sigma (1.4826 MAD).
    min_distance_px : int
        Local maxima closer than this merge into one seed; touching crystals with separate maxima are
        split between their seeds (nearest seed wins), as for assemblies.
    roi_fraction : float
        ROI = foreground pixels of the seed's cell above ``roi_fraction`` of the particle's peak height.
    min_area_px : int
        Smaller ROIs are dropped (hot pixels, noise).
    annulus_gap_px, annulus_width_px : int
        Background ring: ``width`` pixels starting ``gap`` pixels outside the ROI, minus every pixel near
        any foreground.
    min_annulus_px : int
        Particles with fewer background pixels (crowded) are dropped.

    Returns
    -------
    Particles
        Possibly with ``n == 0``; the caller decides whether that is an error.

    Raises
    ------
    AnalysisInputError
        When the projection is not a finite 2-D image or is constant.

    Notes
    -----
    Threshold + labelling of the smoothed projection, seeded split by local maxima (a marker-based
    partition without the watershed's gradient; scikit-image is not a dependency, and for well separated
    or touching compact crystals nearest-seed assignment gives the same cells).
    """
    img = np.asarray(projection, dtype=float)
    if img.ndim != 2:
        raise AnalysisInputError(f"projection: expected a 2-D image, got shape {img.shape}")
    if not np.isfinite(img).all():
        raise AnalysisInputError("projection: contains NaN or infinite values")
    if np.ptp(img) == 0:
        raise AnalysisInputError("movie is constant (every pixel has the same value): no emitters to detect")
    smooth = ndimage.gaussian_filter(img, smooth_sigma_px)
    bg, noise = _robust_background(smooth)
    if noise == 0:
        noise = float(np.std(smooth)) or 1.0
    fg = smooth > bg + threshold_sigma * noise
    size = 2 * min_distance_px + 1
    peaks = (smooth == ndimage.maximum_filter(smooth, size=size)) & fg
    seed_labels, n_seeds = ndimage.label(
        ndimage.binary_dilation(peaks, iterations=max(min_distance_px // 2, 0))
    )
    if n_seeds == 0:
        return _no_particles(img.shape)
    # Nearest seed for every foreground pixel, only within its connected component.
    comp, _ = ndimage.label(fg)
    _, (iy, ix) = ndimage.distance_transform_edt(seed_labels == 0, return_indices=True)
    cell = np.where(fg, seed_labels[iy, ix], 0)
    cell[comp != comp[iy, ix]] = 0
    excluded = ndimage.binary_dilation(fg, iterations=annulus_gap_px)
    height = img - bg
    rois, annuli, cents, areas, half_areas = [], [], [], [], []
    labels_ids = np.arange(1, n_seeds + 1)
    peaks_h = ndimage.maximum(height, cell, labels_ids)
    pad = annulus_gap_px + annulus_width_px + 1
    boxes = ndimage.find_objects(cell, max_label=n_seeds)
    h_img, w_img = img.shape

    def flat(mask, y0, x0):
        yy, xx = np.nonzero(mask)
        return np.ravel_multi_index((yy + y0, xx + x0), img.shape)

    for lab, peak_h, box in zip(labels_ids, np.atleast_1d(peaks_h), boxes, strict=True):
        if box is None:
            continue
        # Work in a window around the cell: the same result as on the whole image, O(cell) per particle.
        y0, x0 = max(box[0].start - pad, 0), max(box[1].start - pad, 0)
        win = (slice(y0, min(box[0].stop + pad, h_img)), slice(x0, min(box[1].stop + pad, w_img)))
        in_cell = cell[win] == lab
        hw = height[win]
        roi = in_cell & (hw > roi_fraction * peak_h)
        roi_lab, nlab = ndimage.label(roi)
        if nlab > 1:  # keep the part holding the maximum
            ymax, xmax = np.unravel_index(np.argmax(np.where(roi, hw, -np.inf)), roi.shape)
            roi = roi_lab == roi_lab[ymax, xmax]
        area = int(roi.sum())
        if area < min_area_px:
            continue
        # The ring starts outside the particle's own foreground (its PSF halo is not background).
        own = ndimage.binary_dilation(roi | in_cell, iterations=annulus_gap_px)
        ring = ndimage.binary_dilation(own, iterations=annulus_width_px) & ~own & ~excluded[win]
        if ring.sum() < min_annulus_px:
            continue
        w = np.where(roi, np.clip(hw, 0, None), 0.0)
        cy, cx = ndimage.center_of_mass(w)
        cents.append((cy + y0, cx + x0))
        areas.append(area)
        half_areas.append(int((roi & (hw > 0.5 * peak_h)).sum()))
        rois.append(flat(roi, y0, x0))
        annuli.append(flat(ring, y0, x0))
    n = len(rois)
    if n == 0:
        return _no_particles(img.shape)
    roi_flat = np.concatenate(rois)
    roi_owner = np.repeat(np.arange(n), [r.size for r in rois])
    ann_flat = np.concatenate(annuli)
    ann_owner = np.repeat(np.arange(n), [a.size for a in annuli])
    half = np.asarray(half_areas)
    edge = np.sqrt(half) * pixel_size_um if pixel_size_um else np.full(n, np.nan)
    bg_local = np.array([img.ravel()[a].mean() for a in annuli])
    shift = img.ravel()[roi_flat] - bg_local[roi_owner]
    return Particles(
        shape=img.shape,
        centroid_px=np.asarray(cents, dtype=float),
        area_px=np.asarray(areas),
        half_max_area_px=half,
        edge_um=np.asarray(edge, dtype=float),
        roi_flat=roi_flat,
        roi_owner=roi_owner,
        annulus_flat=ann_flat,
        annulus_owner=ann_owner,
        roi_shift=shift,
    )


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
