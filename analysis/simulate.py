"""Synthetic wide-field blinking movies with known ground truth.

Every number the blinking analysis estimates has a knob here: ON/OFF dwell times drawn from a truncated
power law :math:`P(t) = A t^{-\\alpha} e^{-\\mu t}`, bleaching / brightening trends, multi-state
emitters, nanodomains blinking independently inside one crystal, assemblies of touching crystals, and
EM-CCD noise (Poisson photon statistics, stochastic EM gain, Gaussian read noise, offset). The movie is
rendered chunk by chunk from the truth, so a 3 GB movie is written to TIFF in bounded memory.

References
----------
.. [1] H. Jin et al., "Nanoscale chloride post-treatment ...", Nanoscale (2023): blinking of MAPbI3
   crystals, 6000 frames of 100 ms; alpha_on 1.20 / alpha_off 0.88 (pristine), 1.01 / 1.02 (3 % Cl).
.. [2] M. Kuno et al., J. Chem. Phys. 115, 1028 (2001): truncated power-law blinking statistics.
.. [3] M. H. Robbins, R. Hadfield, IEEE Trans. Electron Devices 50, 1227 (2003): EM-CCD gain register
   statistics (output of n electrons ~ Gamma(n, gain)).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import tifffile
from scipy import ndimage
from scipy.stats import sampling

from analysis.errors import AnalysisInputError

__all__ = [
    "sample_truncated_power_law",
    "sample_discrete_truncated_power_law",
    "two_state_states",
    "multi_state_levels",
    "intensity_trend",
    "emccd_counts",
    "SyntheticDomain",
    "SyntheticParticle",
    "SyntheticMovie",
    "blinking_particle",
    "grid_positions",
    "render_frames",
    "iter_movie_chunks",
    "simulate_movie",
    "write_movie_tiff",
]


class _TruncatedPowerLawPdf:
    def __init__(self, alpha, mu):
        self.alpha, self.mu = alpha, mu

    def pdf(self, t):
        return t ** (-self.alpha) * np.exp(-self.mu * t)


@lru_cache(maxsize=64)
def _tpl_generator(alpha: float, mu_per_s: float, t_min_s: float):
    return sampling.NumericalInversePolynomial(
        _TruncatedPowerLawPdf(alpha, mu_per_s), domain=(t_min_s, np.inf), center=t_min_s * 1.5
    )


def sample_truncated_power_law(
    n: int, alpha: float, mu_per_s: float, *, t_min_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Continuous durations (s) from :math:`p(t) \\propto t^{-\\alpha} e^{-\\mu t}`, :math:`t \\ge t_{min}`.

    Uses scipy's numerical inversion (UNU.RAN PINV) of the density, which has no closed-form inverse CDF.

    Raises
    ------
    AnalysisInputError
        When the density cannot be normalised (``mu_per_s == 0`` with ``alpha <= 1``) or ``t_min_s <= 0``.
    """
    if t_min_s <= 0 or mu_per_s < 0 or alpha <= 0:
        raise AnalysisInputError(
            f"truncated power law needs t_min_s > 0, mu_per_s >= 0, alpha > 0 (got {t_min_s}, {mu_per_s}, {alpha})"
        )
    if mu_per_s == 0 and alpha <= 1:
        raise AnalysisInputError(f"alpha={alpha} <= 1 with mu_per_s=0 is not normalisable")
    gen = _tpl_generator(float(alpha), float(mu_per_s), float(t_min_s))
    return np.asarray(gen.rvs(n, random_state=rng), dtype=float)


def _discrete_pmf(alpha, mu_per_s, bin_time_s, k_min, k_max):
    k = np.arange(k_min, k_max + 1, dtype=float)
    logp = -alpha * np.log(k) - mu_per_s * bin_time_s * k
    p = np.exp(logp - logp.max())
    return k.astype(np.int64), p / p.sum()


def sample_discrete_truncated_power_law(
    n: int,
    alpha: float,
    mu_per_s: float,
    *,
    bin_time_s: float,
    k_min: int = 1,
    k_max: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Durations in whole frames from :math:`p(k) \\propto k^{-\\alpha} e^{-\\mu k \\Delta t}`.

    ``k_min <= k <= k_max``; with ``k_max`` at least the movie length the cap never shows, because a
    longer dwell is cut by the end of the movie anyway. This is the distribution that frame-synchronous
    switching produces, and the one :func:`analysis.blinking.fit_truncated_power_law` fits for binned
    dwell times.
    """
    if not 1 <= k_min <= k_max:
        raise AnalysisInputError(f"need 1 <= k_min <= k_max, got {k_min}, {k_max}")
    k, p = _discrete_pmf(alpha, mu_per_s, bin_time_s, k_min, k_max)
    return rng.choice(k, size=n, p=p)


def two_state_states(
    n_frames: int,
    *,
    bin_time_s: float,
    alpha_on: float,
    mu_on_per_s: float,
    alpha_off: float,
    mu_off_per_s: float,
    k_min: int = 1,
    start_on: bool | None = None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Boolean ON/OFF state per frame, alternating dwells from discrete truncated power laws.

    Switching happens at frame boundaries, so the true dwell times are known to the frame and a
    perfect threshold recovers them exactly. The first state is ON with probability 1/2 unless given.
    """
    if start_on is None:
        start_on = bool(rng.integers(2))
    states = np.empty(n_frames, dtype=bool)
    params = {True: (alpha_on, mu_on_per_s), False: (alpha_off, mu_off_per_s)}
    t, on = 0, start_on
    while t < n_frames:
        a, m = params[on]
        k = int(
            sample_discrete_truncated_power_law(
                1, a, m, bin_time_s=bin_time_s, k_min=k_min, k_max=n_frames + 1, rng=rng
            )[0]
        )
        states[t : t + k] = on
        t += k
        on = not on
    return states


def multi_state_levels(
    n_frames: int,
    levels: tuple[float, ...],
    *,
    bin_time_s: float,
    alpha: float = 1.1,
    mu_per_s: float = 0.2,
    k_min: int = 2,
    rng: np.random.Generator,
) -> np.ndarray:
    """Relative intensity per frame jumping between ``levels`` (e.g. ON, grey, OFF).

    Each dwell is drawn from the discrete truncated power law; the next level is chosen uniformly
    among the others. Returns an array of the level values per frame.
    """
    out = np.empty(n_frames)
    t, cur = 0, int(rng.integers(len(levels)))
    while t < n_frames:
        k = int(
            sample_discrete_truncated_power_law(
                1, alpha, mu_per_s, bin_time_s=bin_time_s, k_min=k_min, k_max=n_frames + 1, rng=rng
            )[0]
        )
        out[t : t + k] = levels[cur]
        t += k
        cur = int(rng.choice([i for i in range(len(levels)) if i != cur]))
    return out


def intensity_trend(
    n_frames: int, kind: str = "flat", *, strength: float = 0.6, peak_at: float = 0.3
) -> np.ndarray:
    """Multiplicative brightness trend per frame.

    ``"flat"``: 1. ``"bleach"``: linear decay from 1 to ``1 - strength``. ``"brighten"``: linear rise from 1
    to ``1 + strength``. ``"brighten_bleach"``: rise to ``1 + strength`` at fraction ``peak_at`` of the movie,
    then decay to ``(1 + strength)(1 - strength)``.
    """
    x = np.linspace(0.0, 1.0, n_frames)
    if kind == "flat":
        return np.ones(n_frames)
    if kind == "bleach":
        return 1.0 - strength * x
    if kind == "brighten":
        return 1.0 + strength * x
    if kind == "brighten_bleach":
        up = 1.0 + strength * np.minimum(x / peak_at, 1.0)
        down = 1.0 - strength * np.clip((x - peak_at) / (1.0 - peak_at), 0.0, 1.0)
        return up * down
    raise AnalysisInputError(f"trend kind {kind!r}, expected flat, bleach, brighten or brighten_bleach")


def emccd_counts(
    photons: np.ndarray,
    *,
    em_gain: float = 30.0,
    read_noise_counts: float = 15.0,
    offset_counts: float = 400.0,
    rng: np.random.Generator,
    dtype=np.uint16,
) -> np.ndarray:
    """Camera counts for expected photo-electrons per pixel, as an EM-CCD records them.

    .. math:: c = o + G_n + \\epsilon, \\quad n \\sim \\mathrm{Poisson}(\\lambda),\\;
              G_n \\sim \\Gamma(n, g),\\; \\epsilon \\sim \\mathcal{N}(0, \\sigma_r^2)

    so :math:`E[c] = o + g\\lambda` and :math:`\\mathrm{Var}[c] = 2 g^2 \\lambda + \\sigma_r^2`
    (excess noise factor 2) [3]_. Rounded and clipped to ``dtype``.
    """
    n = rng.poisson(photons)
    amplified = rng.gamma(np.maximum(n, 1e-300), em_gain) * (n > 0) if n.size else n
    counts = offset_counts + amplified + rng.normal(0.0, read_noise_counts, size=np.shape(photons))
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        counts = np.clip(np.rint(counts), info.min, info.max)
    return counts.astype(dtype)


@dataclass(frozen=True)
class SyntheticDomain:
    """A region of one crystal that blinks on its own: its pixels' weights and its intensity per frame."""

    weights: np.ndarray  # (H, W) spatial profile, peak 1 over the domain
    intensity_photons: np.ndarray  # (T,) photo-electrons per pixel at weight 1
    states: np.ndarray | None = None  # (T,) bool ON/OFF for two-state domains, else None


@dataclass(frozen=True)
class SyntheticParticle:
    """Ground truth of one crystal."""

    centre_px: tuple[float, float]
    edge_px: int
    kind: str  # BB, BBB, MSB, PEB, qTSB
    domains: tuple[SyntheticDomain, ...]
    subclass: str | None = None


@dataclass(frozen=True)
class SyntheticMovie:
    """Everything needed to render a movie, and the truth to compare an analysis with."""

    frames: int
    height: int
    width: int
    bin_time_s: float
    pixel_size_um: float
    particles: tuple[SyntheticParticle, ...]
    background_photons: float = 5.0
    em_gain: float = 30.0
    read_noise_counts: float = 15.0
    offset_counts: float = 400.0
    seed: int = 0
    params: dict = field(default_factory=dict)


def _square_origin(centre, edge_px):
    """Top-left pixel of an ``edge_px`` square whose centre is nearest ``centre``."""
    return tuple(int(np.floor(c - (edge_px - 1) / 2 + 0.5)) for c in centre)


def _square_profile(shape, origin, edge_px, psf_sigma_px, mask=None):
    img = np.zeros(shape)
    y0, x0 = origin
    img[max(y0, 0) : y0 + edge_px, max(x0, 0) : x0 + edge_px] = 1.0
    if mask is not None:
        img *= mask
    img = ndimage.gaussian_filter(img, psf_sigma_px)
    return img / img.max()


def blinking_particle(
    shape: tuple[int, int],
    centre_px: tuple[float, float],
    n_frames: int,
    *,
    kind: str = "qTSB",
    edge_px: int = 3,
    bin_time_s: float = 0.1,
    on_photons: float = 60.0,
    off_photons: float = 1.0,
    alpha_on: float = 1.2,
    mu_on_per_s: float = 0.1,
    alpha_off: float = 0.88,
    mu_off_per_s: float = 0.1,
    nanodomains: int = 1,
    psf_sigma_px: float = 1.0,
    trend_strength: float = 0.6,
    rng: np.random.Generator,
) -> SyntheticParticle:
    """One crystal of a given blinking kind, with its truth.

    ``kind``: ``"qTSB"`` two-state blinking; ``"BB"`` blinking with bleaching; ``"BBB"`` brightening then
    bleaching; ``"PEB"`` photo-enhancement with blinking; ``"MSB"`` jumps between ON, a grey level at half
    intensity and OFF. ``nanodomains > 1`` splits the crystal into vertical stripes blinking independently
    (lower intra-crystal correlation, as in the paper's Fig. S25).
    """
    trends = {"qTSB": "flat", "BB": "bleach", "BBB": "brighten_bleach", "PEB": "brighten", "MSB": "flat"}
    if kind not in trends:
        raise AnalysisInputError(f"kind {kind!r}, expected one of {sorted(trends)}")
    trend = intensity_trend(n_frames, trends[kind], strength=trend_strength)
    origin = _square_origin(centre_px, edge_px)
    cy, cx = (o + (edge_px - 1) / 2 for o in origin)  # the centre of the rendered square
    xx = np.arange(shape[1])[None, :]
    domains = []
    for d in range(nanodomains):
        mask = None
        if nanodomains > 1:  # vertical stripes of the crystal
            lo, hi = origin[1] + d * edge_px / nanodomains, origin[1] + (d + 1) * edge_px / nanodomains
            mask = np.broadcast_to((xx >= lo) & (xx < hi), shape).astype(float)
        weights = _square_profile(shape, origin, edge_px, psf_sigma_px, mask)
        if kind == "MSB":
            rel = multi_state_levels(n_frames, (1.0, 0.5, 0.0), bin_time_s=bin_time_s, rng=rng)
            states = None
        else:
            states = two_state_states(
                n_frames,
                bin_time_s=bin_time_s,
                alpha_on=alpha_on,
                mu_on_per_s=mu_on_per_s,
                alpha_off=alpha_off,
                mu_off_per_s=mu_off_per_s,
                rng=rng,
            )
            rel = states.astype(float)
        intensity = (off_photons + (on_photons - off_photons) * rel) * trend
        domains.append(SyntheticDomain(weights=weights, intensity_photons=intensity, states=states))
    return SyntheticParticle(
        centre_px=(float(cy), float(cx)), edge_px=edge_px, kind=kind, domains=tuple(domains)
    )


def grid_positions(
    shape: tuple[int, int],
    n: int,
    *,
    spacing_px: float = 12.0,
    margin_px: float = 8.0,
    rng: np.random.Generator,
) -> list[tuple[float, float]]:
    """``n`` centres on a jittered square grid (separated by about ``spacing_px``), in random order."""
    ys = np.arange(margin_px, shape[0] - margin_px + 1e-9, spacing_px)
    xs = np.arange(margin_px, shape[1] - margin_px + 1e-9, spacing_px)
    grid = [(float(y), float(x)) for y in ys for x in xs]
    if n > len(grid):
        raise AnalysisInputError(f"{n} particles do not fit in {shape} at spacing {spacing_px} px")
    pick = rng.choice(len(grid), n, replace=False)
    jitter = rng.uniform(-1.0, 1.0, size=(n, 2))
    return [(round(grid[i][0] + j[0]), round(grid[i][1] + j[1])) for i, j in zip(pick, jitter, strict=True)]


def render_frames(movie: SyntheticMovie, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` as uint16 counts; the same range always gives the same noise."""
    rng = np.random.default_rng([movie.seed, start, stop])
    n = stop - start
    photons = np.full((n, movie.height, movie.width), movie.background_photons)
    for p in movie.particles:
        for d in p.domains:
            ys, xs = np.nonzero(d.weights > 1e-3)
            if ys.size == 0:
                continue
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            w = d.weights[y0:y1, x0:x1]
            photons[:, y0:y1, x0:x1] += d.intensity_photons[start:stop, None, None] * w[None]
    return emccd_counts(
        photons,
        em_gain=movie.em_gain,
        read_noise_counts=movie.read_noise_counts,
        offset_counts=movie.offset_counts,
        rng=rng,
    )


def iter_movie_chunks(movie: SyntheticMovie, *, chunk_frames: int = 100) -> Iterator[np.ndarray]:
    """Render the movie chunk by chunk (memory bounded by ``chunk_frames``)."""
    for s in range(0, movie.frames, chunk_frames):
        yield render_frames(movie, s, min(s + chunk_frames, movie.frames))


def simulate_movie(
    n_frames: int = 2000,
    shape: tuple[int, int] = (64, 64),
    *,
    n_particles: int = 9,
    kinds: tuple[str, ...] = ("qTSB",),
    bin_time_s: float = 0.1,
    pixel_size_um: float = 0.16,
    alpha_on: float = 1.2,
    mu_on_per_s: float = 0.1,
    alpha_off: float = 0.88,
    mu_off_per_s: float = 0.1,
    on_photons: float = 60.0,
    edge_px: tuple[int, ...] = (3,),
    nanodomains: tuple[int, ...] = (1,),
    spacing_px: float = 12.0,
    seed: int = 0,
    **noise,
) -> SyntheticMovie:
    """A movie of ``n_particles`` crystals on a jittered grid; kinds, edges and domains cycle through.

    Returns the truth only; render it with :func:`render_frames` / :func:`iter_movie_chunks` or write it
    with :func:`write_movie_tiff`.
    """
    rng = np.random.default_rng(seed)
    centres = grid_positions(shape, n_particles, spacing_px=spacing_px, rng=rng)
    particles = tuple(
        blinking_particle(
            shape,
            c,
            n_frames,
            kind=kinds[i % len(kinds)],
            edge_px=edge_px[i % len(edge_px)],
            bin_time_s=bin_time_s,
            on_photons=on_photons,
            alpha_on=alpha_on,
            mu_on_per_s=mu_on_per_s,
            alpha_off=alpha_off,
            mu_off_per_s=mu_off_per_s,
            nanodomains=nanodomains[i % len(nanodomains)],
            rng=rng,
        )
        for i, c in enumerate(centres)
    )
    params = dict(alpha_on=alpha_on, mu_on_per_s=mu_on_per_s, alpha_off=alpha_off, mu_off_per_s=mu_off_per_s)
    return SyntheticMovie(
        frames=n_frames,
        height=shape[0],
        width=shape[1],
        bin_time_s=bin_time_s,
        pixel_size_um=pixel_size_um,
        particles=particles,
        seed=seed,
        params=params,
        **noise,
    )


def write_movie_tiff(
    path, movie: SyntheticMovie, *, chunk_frames: int = 100, compression: str | None = None
) -> None:
    """Write the movie as an ImageJ TIFF (contiguous unless compressed) chunk by chunk.

    The frame interval goes to ImageJ ``finterval`` and the pixel size to the resolution tags in um, so
    :func:`analysis.movie.open_movie` reads both back.
    """

    def frames():
        for chunk in iter_movie_chunks(movie, chunk_frames=chunk_frames):
            yield from chunk

    kwargs = dict(shape=(movie.frames, movie.height, movie.width), dtype=np.uint16)
    if compression is None:
        res = 1.0 / movie.pixel_size_um
        kwargs.update(
            resolution=(res, res),
            imagej=True,
            metadata={"axes": "TYX", "finterval": movie.bin_time_s, "unit": "um"},
        )
    else:  # ImageJ files are uncompressed; a compressed file keeps the pixel size in pixels per cm
        res = 1e4 / movie.pixel_size_um
        kwargs.update(resolution=(res, res), resolutionunit="CENTIMETER", compression=compression)
    tifffile.imwrite(path, frames(), **kwargs)
