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
    "CLASSES",
    "SUBCLASSES",
    "SUBCLASS_FRACTION_ON",
    "BlinkingPreset",
    "PAPER_PRESETS",
    "truncated_power_law_mean",
    "truncated_power_law_mu",
    "RealisticCrystal",
    "RealisticMovie",
    "simulate_realistic_movie",
    "truth_to_json",
    "write_realistic_movie_tiff",
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


def render_frames(
    movie: SyntheticMovie | RealisticMovie, start: int, stop: int, *, workers: int = 1
) -> np.ndarray:
    """Frames ``start:stop`` as uint16 counts; the same range always gives the same noise.

    A :class:`RealisticMovie` renders itself (:meth:`RealisticMovie.render`, with ``workers`` noise
    threads); a :class:`SyntheticMovie` draws its noise from ``(seed, start, stop)``.
    """
    if isinstance(movie, RealisticMovie):
        return movie.render(start, stop, workers=workers)
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


def iter_movie_chunks(
    movie: SyntheticMovie | RealisticMovie, *, chunk_frames: int | None = None, workers: int = 1
) -> Iterator[np.ndarray]:
    """Render the movie chunk by chunk (memory bounded by ``chunk_frames``).

    ``chunk_frames`` defaults to 100 for a :class:`SyntheticMovie` (whose noise depends on the chunking)
    and to about 16 M pixels per chunk for a :class:`RealisticMovie` (whose noise does not).
    """
    if chunk_frames is None:
        chunk_frames = (
            max(1, 16_000_000 // (movie.height * movie.width)) if isinstance(movie, RealisticMovie) else 100
        )
    for s in range(0, movie.frames, chunk_frames):
        yield render_frames(movie, s, min(s + chunk_frames, movie.frames), workers=workers)


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
    path,
    movie: SyntheticMovie | RealisticMovie,
    *,
    chunk_frames: int | None = None,
    compression: str | None = None,
    workers: int = 1,
) -> None:
    """Write the movie as an ImageJ TIFF (contiguous unless compressed) chunk by chunk.

    The frame interval goes to ImageJ ``finterval`` and the pixel size to the resolution tags in um, so
    :func:`analysis.movie.open_movie` reads both back. ``chunk_frames`` and ``workers`` as for
    :func:`iter_movie_chunks`; only one chunk is in memory at a time.
    """

    def frames():
        for chunk in iter_movie_chunks(movie, chunk_frames=chunk_frames, workers=workers):
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


# ---------------------------------------------------------------------------------------------------
# A realistic wide-field EM-CCD microscope (issue 11, item 6)
# ---------------------------------------------------------------------------------------------------

CLASSES = ("BB", "BBB", "MSB", "PEB", "qTSB")
SUBCLASSES = ("mostly-on", "intermediate", "mostly-off")
#: Fraction-ON ranges of the two-state sub-classes (the paper's Fig. S19 after Yuan et al.):
#: mostly-on > 0.8, mostly-off < 0.2, intermediate in between.
SUBCLASS_FRACTION_ON = {"mostly-on": (0.8, 1.0), "intermediate": (0.2, 0.8), "mostly-off": (0.0, 0.2)}
_SUBCLASS_TARGET = {"mostly-on": 0.9, "intermediate": 0.5, "mostly-off": 0.1}


@dataclass(frozen=True)
class BlinkingPreset:
    """The blinking physics of one treatment: dwell laws and class mixture.

    Parameters
    ----------
    name : str
        Label, e.g. ``"untreated"`` or ``"3 % Cl"``.
    alpha_on, alpha_off : float
        Power-law exponents of the ON and OFF dwell densities :math:`p(t) \\propto t^{-\\alpha} e^{-\\mu t}`.
    mean_on_s, mean_off_s : float
        Mean ON and OFF dwell (s); the exponential cut-off :math:`\\mu` follows from it and ``alpha``
        (:func:`truncated_power_law_mu`), with :math:`t \\ge` one frame.
    classes : dict
        Fraction of crystals per class ``BB``, ``BBB``, ``MSB``, ``PEB``, ``qTSB`` (sums to 1).
    subclasses : dict
        Fraction of the two-state (qTSB) crystals per sub-class ``mostly-on``, ``intermediate``,
        ``mostly-off`` (sums to 1).
    p_multidomain : float
        Probability that a microcrystal (edge >= 1 um) of class BB, BBB, PEB or MSB holds 2-3
        nanodomains blinking independently (an MSB microcrystal without them has a grey sub-level).
    p_late_activation : float
        Fraction of the two-state crystals that stay dark until late in the movie (taken from the
        intermediate and mostly-off ones, whose fraction ON allows it).
    """

    name: str
    alpha_on: float
    mean_on_s: float
    alpha_off: float
    mean_off_s: float
    classes: dict
    subclasses: dict
    p_multidomain: float = 0.5
    p_late_activation: float = 0.06

    def __post_init__(self):
        for label, mix, keys in (
            ("classes", self.classes, CLASSES),
            ("subclasses", self.subclasses, SUBCLASSES),
        ):
            if set(mix) - set(keys) or abs(sum(mix.values()) - 1.0) > 1e-6 or min(mix.values()) < 0:
                raise AnalysisInputError(
                    f"preset {label} must be fractions of {keys} summing to 1, got {mix}"
                )


def _qtsb_subclasses(mostly_on: float) -> dict:
    # The paper gives only the mostly-on share; the rest is split 2:1 intermediate : mostly-off.
    rest = 1.0 - mostly_on
    return {"mostly-on": mostly_on, "intermediate": rest * 2 / 3, "mostly-off": rest / 3}


#: The paper's four treatments (Cl:I %), Jin et al. 2023: exponents and mean ON time for 0 and 3 %
#: (Fig. 3c,d); 9 and 17 % go back toward untreated (Fig. S16: longer OFF with more Cl; values here
#: are interpolated, the paper gives no numbers). Classes: BB 33 % untreated -> 22 % at 3 and 9 %,
#: 45 % less at 17 %; PEB 7 % -> rising with Cl (24 % over the treated crystals); BBB and MSB 20-30 %
#: fewer after treatment; mostly-on share of qTSB 61 / 68 / 79 / 63 % (Fig. 4a, S19, S20).
PAPER_PRESETS = {
    0: BlinkingPreset(
        "untreated",
        1.20,
        3.16,
        0.88,
        1.0,
        {"BB": 0.33, "BBB": 0.12, "MSB": 0.12, "PEB": 0.07, "qTSB": 0.36},
        _qtsb_subclasses(0.61),
        p_multidomain=0.85,
        p_late_activation=0.15,
    ),
    3: BlinkingPreset(
        "3 % Cl",
        1.01,
        11.96,
        1.02,
        0.6,
        {"BB": 0.22, "BBB": 0.09, "MSB": 0.09, "PEB": 0.15, "qTSB": 0.45},
        _qtsb_subclasses(0.68),
        p_multidomain=0.5,
        p_late_activation=0.06,
    ),
    9: BlinkingPreset(
        "9 % Cl",
        1.06,
        8.0,
        0.97,
        0.8,
        {"BB": 0.22, "BBB": 0.08, "MSB": 0.08, "PEB": 0.24, "qTSB": 0.38},
        _qtsb_subclasses(0.79),
        p_multidomain=0.55,
        p_late_activation=0.06,
    ),
    17: BlinkingPreset(
        "17 % Cl",
        1.12,
        5.0,
        0.92,
        0.9,
        {"BB": 0.18, "BBB": 0.08, "MSB": 0.08, "PEB": 0.32, "qTSB": 0.34},
        _qtsb_subclasses(0.63),
        p_multidomain=0.6,
        p_late_activation=0.06,
    ),
}


def _tpl_moment(s: float, mu: float, t_min: float) -> float:
    # int_{t_min}^inf t^(s-1) e^(-mu t) dt, substituting t = t_min e^x (smooth, no singularity)
    from scipy import integrate

    def f(x):
        return np.exp(s * (np.log(t_min) + x) - mu * t_min * np.exp(x))

    upper = max(np.log(60.0 / (mu * t_min)), 1.0) if mu > 0 else 200.0
    return integrate.quad(f, 0.0, upper, limit=400)[0]


def truncated_power_law_mean(alpha: float, mu_per_s: float, *, t_min_s: float) -> float:
    """Mean (s) of :math:`p(t) \\propto t^{-\\alpha} e^{-\\mu t}` on :math:`t \\ge t_{min}`.

    Parameters
    ----------
    alpha : float
        Power-law exponent (> 0).
    mu_per_s : float
        Exponential cut-off rate (1/s, > 0).
    t_min_s : float
        Shortest dwell (s), one frame.

    Returns
    -------
    float
        :math:`\\int t^{1-\\alpha} e^{-\\mu t} dt / \\int t^{-\\alpha} e^{-\\mu t} dt`.
    """
    if mu_per_s <= 0 or t_min_s <= 0 or alpha <= 0:
        raise AnalysisInputError(
            f"need alpha > 0, mu_per_s > 0, t_min_s > 0 (got {alpha}, {mu_per_s}, {t_min_s})"
        )
    return _tpl_moment(2.0 - alpha, mu_per_s, t_min_s) / _tpl_moment(1.0 - alpha, mu_per_s, t_min_s)


@lru_cache(maxsize=256)
def truncated_power_law_mu(alpha: float, mean_s: float, *, t_min_s: float) -> float:
    """The cut-off rate :math:`\\mu` (1/s) that gives a truncated power law the mean dwell ``mean_s``.

    Parameters
    ----------
    alpha : float
        Power-law exponent, ``0 < alpha < 2`` (so every mean above ``t_min_s`` is reachable).
    mean_s : float
        Wanted mean dwell (s), above ``t_min_s``.
    t_min_s : float
        Shortest dwell (s), one frame.

    Returns
    -------
    float
        :math:`\\mu` solving :func:`truncated_power_law_mean` ``= mean_s`` (root of a monotone function;
        the mean falls as :math:`\\mu` grows).

    Examples
    --------
    The paper's untreated ON law: alpha 1.20, mean 3.16 s, 100 ms frames gives mu of about 0.039/s.
    """
    from scipy.optimize import brentq

    if not 0 < alpha < 2:
        raise AnalysisInputError(f"alpha must be in (0, 2) to reach any mean, got {alpha}")
    if mean_s <= 1.02 * t_min_s:
        raise AnalysisInputError(f"mean_s={mean_s} must exceed t_min_s={t_min_s}")

    def g(log_mu):
        return np.log(truncated_power_law_mean(alpha, np.exp(log_mu), t_min_s=t_min_s)) - np.log(mean_s)

    lo, hi = np.log(1e-9 / t_min_s), np.log(50.0 / t_min_s)
    if g(lo) < 0:
        raise AnalysisInputError(f"mean_s={mean_s} is beyond what alpha={alpha} reaches")
    return float(np.exp(brentq(g, lo, hi, xtol=1e-10)))


@lru_cache(maxsize=256)
def _tpl_quantiles(alpha: float, mu: float, t_min: float, t_cap: float):
    """Tabulated inverse CDF on a log grid [t_min, t_cap] and the probability mass beyond t_cap."""
    x = np.linspace(0.0, np.log(t_cap / t_min), 8193)
    t = t_min * np.exp(x)
    f = np.exp((1.0 - alpha) * np.log(t) - mu * t)  # density times t (integrating in ln t)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    if mu > 0:
        tail = _tpl_moment(1.0 - alpha, mu, t_cap)
    else:
        tail = t_cap ** (1.0 - alpha) / (alpha - 1.0)
    total = cum[-1] + tail
    return cum / total, x, cum[-1] / total


def _sample_tpl(n: int, alpha: float, mu: float, t_min: float, t_cap: float, rng) -> np.ndarray:
    """Continuous TPL durations by inverse CDF; a draw beyond ``t_cap`` returns ``t_cap`` (the caller
    chooses ``t_cap`` longer than the movie, so such a dwell is cut by the movie's end anyway)."""
    cdf, x, p_in = _tpl_quantiles(float(alpha), float(mu), float(t_min), float(t_cap))
    u = rng.random(n)
    out = np.full(n, t_cap)
    inside = u < p_in
    out[inside] = t_min * np.exp(np.interp(u[inside], cdf, x))
    return out


def _two_state_segments(total_s, a_on, mu_on, a_off, mu_off, start_on, rng, t_min, t_cap):
    """Vectorised alternating ON/OFF durations covering ``total_s``; state 1 = ON."""
    n = 64
    while True:
        on = _sample_tpl(n, a_on, mu_on, t_min, t_cap, rng)
        off = _sample_tpl(n, a_off, mu_off, t_min, t_cap, rng)
        pair = np.stack([on, off] if start_on else [off, on], axis=1).ravel()
        ends = np.cumsum(pair)
        if ends[-1] >= total_s:
            k = int(np.searchsorted(ends, total_s)) + 1
            states = np.tile([1, 0] if start_on else [0, 1], n)[:k]
            return pair[:k], states
        n *= 4


def _per_frame_mean(durations, levels, t0_s, n_frames, bin_time_s):
    """Mean of a piecewise-constant level over each frame, for segments starting at ``t0_s``."""
    edges = t0_s + np.concatenate([[0.0], np.cumsum(durations)])
    cum = np.concatenate([[0.0], np.cumsum(levels * durations)])
    frame_edges = np.arange(n_frames + 1) * bin_time_s
    c = np.interp(frame_edges, edges, cum, left=0.0, right=cum[-1])
    return np.diff(c) / bin_time_s


def _largest_remainder(n: int, mix: dict, keys) -> dict:
    quota = np.array([mix.get(k, 0.0) * n for k in keys])
    counts = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return dict(zip(keys, counts.tolist(), strict=True))


def _class_labels(n, mix, keys, exact, rng):
    if n == 0:
        return []
    if exact:
        counts = _largest_remainder(n, mix, keys)
    else:
        counts = dict(zip(keys, rng.multinomial(n, [mix.get(k, 0.0) for k in keys]).tolist(), strict=True))
    labels = [k for k in keys for _ in range(counts[k])]
    return [labels[i] for i in rng.permutation(n)]


@dataclass(frozen=True, eq=False)
class RealisticCrystal:
    """Geometry and emission of one simulated crystal (the rendering side of its truth)."""

    centre_px: tuple[float, float]  # (y, x) at zero drift, pixel-index coordinates
    edge_px: float
    orientation_rad: float
    domain_bounds: tuple[float, ...]  # stripe limits across the crystal, as fractions of the edge
    emission_photons: np.ndarray  # (n_domains, T) float32: photo-electrons per frame, beam 1


@dataclass(frozen=True, eq=False)
class RealisticMovie:
    """A wide-field EM-CCD movie described by its parts; frames are rendered on demand.

    Render with :meth:`render` (or :func:`render_frames` / :func:`iter_movie_chunks` /
    :func:`write_movie_tiff`, which accept it as they accept a :class:`SyntheticMovie`). The same frame
    always gets the same noise, whatever the chunking (one random stream per frame).
    """

    frames: int
    height: int
    width: int
    bin_time_s: float
    pixel_size_um: float
    seed: int
    psf_sigma_px: float
    background_map: np.ndarray  # (H, W) photons/frame at t = 0 (beam x gradient x level)
    beam: np.ndarray  # (H, W) relative illumination, 1 at the beam centre
    decay: np.ndarray  # (T,) relative background level per frame
    drift_px: np.ndarray  # (T, 2) sample drift (dy, dx) in px, 0 at frame 0
    crystals: tuple[RealisticCrystal, ...]
    debris: np.ndarray  # (n, 4) y, x, sigma_px, peak photons/frame (before the beam)
    hot_pixels: np.ndarray  # (n, 3) y, x, dark electrons/frame
    em_gain_adu_per_e: float
    read_noise_adu: float
    offset_adu: float
    supersample: int = 4
    drift_anchor_px: float = 0.05
    _cache: dict = field(default_factory=dict, repr=False)

    def _sprites(self):
        """(kind, object, box) of every crystal and debris blob; a box is fixed for the whole movie,
        wide enough for the drift, so anchors rendered at different drifts add up pixel by pixel."""
        if "sprites" not in self._cache:
            margin = float(np.abs(self.drift_px).max()) + 1.0 if len(self.drift_px) else 1.0
            sprites = []
            for c in self.crystals:
                box = _Box.around(
                    c.centre_px, _crystal_radius(c, self.psf_sigma_px) + margin, self.beam.shape
                )
                if box is not None:
                    sprites.append(("crystal", c, box))
            for d in self.debris:
                box = _Box.around(d[:2], 4.0 * d[2] + margin, self.beam.shape)
                if box is not None:
                    sprites.append(("debris", d, box))
            self._cache["sprites"] = sprites
        return self._cache["sprites"]

    def _crystal_spectrum(self, s: int):
        """FFT of sprite ``s``'s domain weights rendered at zero drift (cached): a sub-pixel shift is
        then exact for the PSF-blurred (band-limited) image, unlike re-rasterising the square."""
        key = ("spectrum", s)
        if key not in self._cache:
            _, c, box = self._sprites()[s]
            w = _crystal_weights(c, box, 0.0, 0.0, self.psf_sigma_px, self.supersample)
            self._cache[key] = (np.fft.rfft2(w), w.shape[-2:])
        return self._cache[key]

    def _anchor(self, iy: int, ix: int):
        """Every sprite's image (k, h, w), beam included, with the sample shifted by the anchor drift."""
        key = ("anchor", iy, ix)
        if key not in self._cache:
            old = [k for k in self._cache if k[0] == "anchor"]
            if len(old) >= 32:
                for k in old:
                    del self._cache[k]
            dy, dx = iy * self.drift_anchor_px, ix * self.drift_anchor_px
            images = []
            for s, (kind, obj, box) in enumerate(self._sprites()):
                if kind == "crystal":
                    img = _fourier_shifted(*self._crystal_spectrum(s), dy, dx)
                else:
                    img = _debris_image(obj, box, dy, dx)[None]
                images.append(
                    np.ascontiguousarray(box.clip(img) * box.clip(self.beam)[None], dtype=np.float32)
                )
            self._cache[key] = images
        return self._cache[key]

    def expected_photons(self, start: int, stop: int) -> np.ndarray:
        """Noiseless photo-electrons per pixel for frames ``start:stop``, float32 ``(n, H, W)``.

        The sample's drift is continuous: each sprite is rendered at drift anchors
        ``drift_anchor_px`` apart and interpolated bilinearly between the four around the frame's
        drift (the error of a 0.05 px grid is below 0.1 % of a crystal's peak).
        """
        n = stop - start
        lam = np.empty((n, self.height, self.width), dtype=np.float32)
        lam[:] = self.background_map[None]
        lam *= self.decay[start:stop, None, None]
        sprites = self._sprites()
        g = self.drift_px[start:stop] / self.drift_anchor_px
        cell = np.floor(g).astype(np.int64)
        f = g - cell
        change = np.flatnonzero(np.any(np.diff(cell, axis=0) != 0, axis=1)) + 1
        bounds = np.concatenate([[0], change, [n]])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            iy, ix = int(cell[a, 0]), int(cell[a, 1])
            fy, fx = f[a:b, 0], f[a:b, 1]
            corners = [
                ((iy, ix), (1 - fy) * (1 - fx)),
                ((iy + 1, ix), fy * (1 - fx)),
                ((iy, ix + 1), (1 - fy) * fx),
                ((iy + 1, ix + 1), fy * fx),
            ]
            corners = [(self._anchor(*k), w.astype(np.float32)) for k, w in corners if np.any(w > 0)]
            decay = self.decay[start + a : start + b]
            for s, (kind, obj, box) in enumerate(sprites):
                e = obj.emission_photons[:, start + a : start + b] if kind == "crystal" else decay[None]
                coeff = np.concatenate([e * w[None] for _, w in corners], axis=0)  # (4k, frames)
                basis = np.concatenate([imgs[s] for imgs, _ in corners], axis=0)  # (4k, h, w)
                h, w_ = basis.shape[1:]
                lam[a:b, box.sy, box.sx] += (coeff.T @ basis.reshape(len(basis), -1)).reshape(b - a, h, w_)
        if len(self.hot_pixels):
            hy, hx = self.hot_pixels[:, 0].astype(int), self.hot_pixels[:, 1].astype(int)
            lam[:, hy, hx] += self.hot_pixels[:, 2].astype(np.float32)[None]
        return lam

    def render(self, start: int, stop: int, *, workers: int = 1) -> np.ndarray:
        """Frames ``start:stop`` as uint16 ADU (EM-CCD noise on :meth:`expected_photons`).

        Parameters
        ----------
        start, stop : int
            Frame range, ``0 <= start <= stop <= frames``.
        workers : int
            Threads drawing the noise (numpy's generators release the GIL); the result does not
            depend on it.

        Returns
        -------
        numpy.ndarray
            ``(stop - start, H, W)`` uint16.
        """
        if not 0 <= start <= stop <= self.frames:
            raise AnalysisInputError(f"frame range {start}:{stop} outside 0:{self.frames}")
        lam = self.expected_photons(start, stop)
        out = np.empty(lam.shape, dtype=np.uint16)

        def one(i):
            rng = np.random.default_rng([self.seed, 0x5EED, start + i])
            out[i] = _emccd_frame(lam[i], self.em_gain_adu_per_e, self.read_noise_adu, self.offset_adu, rng)

        if workers > 1 and len(lam) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as ex:
                list(ex.map(one, range(len(lam))))
        else:
            for i in range(len(lam)):
                one(i)
        return out


def _emccd_frame(lam, gain, read_noise, offset, rng):
    """One frame of EM-CCD counts: Poisson electrons, Gamma(n, gain) register output, Gaussian read
    noise and offset, rounded and clipped to uint16 (see :func:`emccd_counts`)."""
    n = rng.poisson(lam).astype(np.float32)
    amp = rng.standard_gamma(np.maximum(n, np.float32(1e-30)), dtype=np.float32)
    amp *= np.float32(gain) * (n > 0)
    amp += np.float32(offset)
    amp += np.float32(read_noise) * rng.standard_normal(lam.shape, dtype=np.float32)
    np.rint(amp, out=amp)
    np.clip(amp, 0, 65535, out=amp)
    return amp.astype(np.uint16)


@dataclass(frozen=True)
class _Box:
    """A fixed rectangle of the frame: its unclipped origin and size, and the clipped slices."""

    y0: int
    x0: int
    hy: int
    hx: int
    sy: slice
    sx: slice

    @classmethod
    def around(cls, centre, radius, shape):
        y0, x0 = int(np.floor(centre[0] - radius)), int(np.floor(centre[1] - radius))
        y1, x1 = int(np.ceil(centre[0] + radius)) + 1, int(np.ceil(centre[1] + radius)) + 1
        ya, yb, xa, xb = max(y0, 0), min(y1, shape[0]), max(x0, 0), min(x1, shape[1])
        if ya >= yb or xa >= xb:
            return None
        return cls(y0, x0, y1 - y0, x1 - x0, slice(ya, yb), slice(xa, xb))

    def clip(self, img):
        """The part of a box-sized image (or of a full frame) inside the frame."""
        if img.shape[-2:] == (self.hy, self.hx):
            return img[
                ...,
                self.sy.start - self.y0 : self.sy.stop - self.y0,
                self.sx.start - self.x0 : self.sx.stop - self.x0,
            ]
        return img[..., self.sy, self.sx]


def _crystal_radius(c, psf_sigma_px):
    return 0.75 * c.edge_px + 4.0 * psf_sigma_px + 1.0


def _crystal_weights(c: RealisticCrystal, box: _Box, dy, dx, psf_sigma_px, ss):
    """Per-domain pixel weights (n_domains, hy, hx) over ``box`` of a rotated square blurred by the
    PSF, summing to 1 over the whole crystal, with the sample shifted by (dy, dx)."""
    cy, cx = c.centre_px[0] + dy, c.centre_px[1] + dx
    hy, hx = box.hy, box.hx
    # sub-pixel sample centres; pixel i covers [i - 0.5, i + 0.5]
    sy = box.y0 - 0.5 + (np.arange(hy * ss) + 0.5) / ss
    sx = box.x0 - 0.5 + (np.arange(hx * ss) + 0.5) / ss
    cos, sin = np.cos(c.orientation_rad), np.sin(c.orientation_rad)
    u = (sy[:, None] - cy) * cos + (sx[None, :] - cx) * sin
    v = -(sy[:, None] - cy) * sin + (sx[None, :] - cx) * cos
    half = c.edge_px / 2
    inside = (np.abs(u) <= half) & (np.abs(v) <= half)
    total = max(int(inside.sum()), 1)
    frac_u = (u + half) / c.edge_px
    bounds = c.domain_bounds
    out = np.empty((len(bounds) - 1, hy, hx), dtype=np.float32)
    for d in range(len(bounds) - 1):
        last = d == len(bounds) - 2
        m = inside & (frac_u >= bounds[d]) & ((frac_u <= bounds[d + 1]) if last else (frac_u < bounds[d + 1]))
        # area of the domain in each pixel, then the PSF on the pixel grid (the PSF is much wider than
        # the sub-pixel sampling; blurring after binning is 16x cheaper and differs by < 1 %)
        area = m.reshape(hy, ss, hx, ss).sum(axis=(1, 3), dtype=np.float32) / total
        out[d] = ndimage.gaussian_filter(area, psf_sigma_px, mode="constant", truncate=4.0)
    return out


def _fourier_shifted(spectrum, shape, dy, dx):
    """The ``shape`` image whose rfft2 is ``spectrum``, shifted by (dy, dx) px (circularly; boxes
    have margin)."""
    h, w = shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (ky * dy + kx * dx))
    return np.fft.irfft2(spectrum * phase, s=(h, w)).astype(np.float32)


def _debris_image(d, box: _Box, dy, dx):
    y, x, s, amp = d
    yy = np.arange(box.y0, box.y0 + box.hy)[:, None] - (y + dy)
    xx = np.arange(box.x0, box.x0 + box.hx)[None, :] - (x + dx)
    return (amp * np.exp(-(yy**2 + xx**2) / (2 * s * s))).astype(np.float32)


def _beam_sigma_for_corners(shape, centre, corner_fraction):
    from scipy.optimize import brentq

    corners = np.array([[0, 0], [0, shape[1] - 1], [shape[0] - 1, 0], [shape[0] - 1, shape[1] - 1]], float)
    r2 = ((corners - np.asarray(centre)) ** 2).sum(axis=1)

    def f(log_s):
        return np.exp(-r2 / (2 * np.exp(2 * log_s))).mean() - corner_fraction

    return float(np.exp(brentq(f, np.log(1e-3 * max(shape)), np.log(1e3 * max(shape)))))


def _drift_path(frames, drift_px, rng):
    """Smooth stage drift starting at 0: a slow random walk, low-passed, scaled to ``drift_px`` at most."""
    if drift_px <= 0 or frames < 2:
        return np.zeros((frames, 2))
    steps = rng.normal(size=(frames, 2))
    walk = np.cumsum(ndimage.gaussian_filter1d(steps, max(frames / 20, 1.0), axis=0), axis=0)
    trend = np.outer(np.linspace(0, 1, frames), rng.normal(size=2)) * np.abs(walk).max()
    path = walk + trend
    path -= path[0]
    path *= drift_px / max(np.hypot(path[:, 0], path[:, 1]).max(), 1e-12)
    return path


def _place(edges_px, shape, min_gap_px, margin_px, rng):
    """Random centres with no two crystals closer than their half-diagonals plus ``min_gap_px``;
    largest first."""
    order = np.argsort(-edges_px)
    radius = edges_px / np.sqrt(2) + 1.5
    centres = np.zeros((len(edges_px), 2))
    placed = []
    for i in order:
        lo = radius[i] + margin_px
        for _ in range(2000):
            c = rng.uniform([lo, lo], [shape[0] - 1 - lo, shape[1] - 1 - lo])
            if all(np.hypot(*(c - centres[j])) >= radius[i] + radius[j] + min_gap_px for j in placed):
                break
        else:
            raise AnalysisInputError(
                f"cannot place {len(edges_px)} crystals in {shape} px without touching; use fewer or a larger frame"
            )
        centres[i] = c
        placed.append(i)
    return centres


def _resolve_preset(preset) -> BlinkingPreset:
    if isinstance(preset, BlinkingPreset):
        return preset
    if preset in PAPER_PRESETS:
        return PAPER_PRESETS[preset]
    raise AnalysisInputError(f"preset {preset!r}: give a BlinkingPreset or one of {sorted(PAPER_PRESETS)}")


def _envelope(kind, n_frames, bin_time_s, rng):
    """Relative ON level per frame (0 once bleached) and its parameters, for a class."""
    t = (np.arange(n_frames) + 0.5) * bin_time_s
    total = n_frames * bin_time_s
    env = np.ones(n_frames)
    info: dict = {}
    if kind == "BB":
        tb = rng.uniform(0.2, 0.9) * total
        lb = rng.uniform(0.5, 0.7)
        env = np.where(t < tb, 1 - (1 - lb) * t / tb, 0.0)
        info = {"bleach_time_s": tb, "level_at_bleach": lb}
    elif kind == "BBB":
        tr = rng.uniform(0.1, 0.3) * total
        tb = rng.uniform(tr / total + 0.3, 0.95) * total
        s, lb = rng.uniform(0.5, 0.7), rng.uniform(0.5, 0.7)
        env = np.where(t < tr, s + (1 - s) * t / tr, 1 - (1 - lb) * (t - tr) / (tb - tr))
        env = np.where(t < tb, env, 0.0)
        info = {"rise_end_s": tr, "start_level": s, "bleach_time_s": tb, "level_at_bleach": lb}
    elif kind == "PEB":
        s, tau = rng.uniform(0.45, 0.65), rng.uniform(0.2, 0.7) * total
        env = 1 - (1 - s) * np.exp(-t / tau)
        env /= env.max()
        info = {"start_level": s, "brightening_tau_s": tau}
    return env, info


def _runs(states: np.ndarray):
    """Start indices, lengths and values of the runs of a boolean array."""
    if states.size == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, bool)
    change = np.flatnonzero(np.diff(states.astype(np.int8))) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [states.size]]))
    return starts, lengths, states[starts]


def _complete_dwells(states, lo, hi, bin_time_s):
    """ON and OFF dwells (s) inside frames lo:hi, the censored first and last run left out."""
    _, lengths, values = _runs(states[lo:hi])
    if lengths.size <= 2:
        return [], []
    lengths, values = lengths[1:-1], values[1:-1]
    on = np.round(lengths[values] * bin_time_s, 6).tolist()
    off = np.round(lengths[~values] * bin_time_s, 6).tolist()
    return on, off


def simulate_realistic_movie(
    frames: int = 800,
    shape: tuple[int, int] = (128, 128),
    n_particles: int = 25,
    preset: BlinkingPreset | int = 0,
    seed: int = 0,
    *,
    bin_time_s: float = 0.1,
    pixel_size_um: float = 0.16,
    psf_sigma_px: float = 1.2,
    signal_photons: float = 400.0,
    background_photons: float = 10.0,
    beam_corner_fraction: float = 0.6,
    beam_offset_fraction: float = 0.1,
    background_gradient: float = 0.1,
    background_decay: float = 0.1,
    hot_pixel_density: float = 1 / 6000,
    hot_pixel_photons: tuple[float, float] = (20.0, 80.0),
    debris_density: float = 1.2 / 128**2,
    debris_sigma_px: tuple[float, float] = (4.0, 8.0),
    debris_amplitude: tuple[float, float] = (0.2, 0.5),
    drift_px: float = 0.3,
    drift_anchor_px: float = 0.05,
    nano_fraction: float = 0.8,
    nano_edge_um: tuple[float, float, float] = (0.2, 0.45, 1.0),
    micro_edge_um: tuple[float, float] = (1.0, 2.0),
    brightness_sigma: float = 0.5,
    brightness_size_exponent: float = 2.0,
    off_level: tuple[float, float] = (0.02, 0.08),
    on_jitter: float = 0.04,
    msb_sublevel: tuple[float, float] = (0.55, 0.8),
    exact_mixture: bool = True,
    min_gap_px: float = 3.0,
    em_gain_adu_per_e: float = 5.0,
    read_noise_adu: float = 3.0,
    offset_adu: float = 100.0,
    supersample: int = 4,
) -> tuple[RealisticMovie, dict]:
    """A wide-field PL movie of blinking perovskite crystals as a real EM-CCD microscope records it.

    Crystals are rotated squares (80 % nanocrystals around 0.5 um, 20 % microcrystals of 1-2 um)
    blurred by a Gaussian PSF, lit by an off-centre Gaussian beam, on a background that has a
    gradient and fades over the movie, with static hot pixels, diffuse fluorescent debris that does
    not blink, and a slow sub-pixel stage drift. Brightness grows with size and varies log-normally
    between crystals. Each crystal (or each nanodomain of a large one) switches ON/OFF in continuous
    time with dwells from truncated power laws (:math:`t \\ge` one frame), so a frame can be partly
    ON, as in real data. Classes BB / BBB / PEB / MSB / qTSB (and the qTSB sub-classes) follow the
    preset's mixture; some two-state crystals stay dark until late. Frames are not made here: the
    returned :class:`RealisticMovie` renders any frame range on demand, in bounded memory.

    Parameters
    ----------
    frames : int
        Number of frames.
    shape : tuple of int
        Frame size ``(height, width)`` in pixels.
    n_particles : int
        Number of crystals.
    preset : BlinkingPreset or int
        The blinking physics, or a key of :data:`PAPER_PRESETS` (0, 3, 9, 17 % Cl).
    seed : int
        Seed of every random choice and of the noise (the same seed gives the same movie and truth).
    bin_time_s : float
        Frame time (s); also the shortest dwell.
    pixel_size_um : float
        Pixel size in the sample plane (um).
    psf_sigma_px : float
        Standard deviation of the Gaussian PSF (px).
    signal_photons : float
        Total photo-electrons per frame of a 0.5 um crystal ON at the beam centre, before the
        log-normal factor.
    background_photons : float
        Background photo-electrons per pixel per frame at the beam centre at the start.
    beam_corner_fraction : float
        Mean illumination in the four corners relative to the beam's peak (0.6: 60 %).
    beam_offset_fraction : float
        Largest offset of the beam centre from the frame centre, as a fraction of the frame size.
    background_gradient : float
        Peak-to-peak relative change of the background across the frame, along a random direction,
        on top of the beam.
    background_decay : float
        Relative fall of the background (and debris) from the first to the last frame (exponential).
    hot_pixel_density : float
        Expected hot pixels per pixel (Poisson count); hot pixels are static and do not drift.
    hot_pixel_photons : tuple of float
        Range (uniform) of a hot pixel's extra dark electrons per frame.
    debris_density : float
        Expected debris blobs per pixel (Poisson count).
    debris_sigma_px : tuple of float
        Range (uniform) of a debris blob's Gaussian width (px).
    debris_amplitude : tuple of float
        Range (uniform) of a blob's peak relative to ``background_photons``; debris drifts with the
        sample, follows the beam and the background's decay, and does not blink.
    drift_px : float
        Largest excursion of the stage drift from its start (px).
    drift_anchor_px : float
        Crystals and debris are rendered at drifts on a grid this fine (px) and interpolated
        bilinearly in between, so the drift is continuous and a patch is rendered once per grid cell.
    nano_fraction : float
        Fraction of nanocrystals; the rest are microcrystals.
    nano_edge_um : tuple of float
        Nanocrystal edge ``(min, median, max)`` (um): log-normal (sigma 0.35) around the median,
        clipped.
    micro_edge_um : tuple of float
        Microcrystal edge range (um), uniform.
    brightness_sigma : float
        Sigma of the log-normal brightness factor between crystals.
    brightness_size_exponent : float
        Brightness grows as ``(edge / 0.5 um) ** exponent``.
    off_level : tuple of float
        Range (uniform) of the OFF emission relative to ON, per crystal.
    on_jitter : float
        Relative frame-to-frame jitter of a crystal's emission (Gaussian).
    msb_sublevel : tuple of float
        Range (uniform) of the grey level of a multi-state crystal relative to ON.
    exact_mixture : bool
        Class and sub-class counts are the preset's fractions of ``n_particles`` rounded by largest
        remainder (``True``), or multinomial draws (``False``).
    min_gap_px : float
        Smallest gap between two crystals' bounding circles (px).
    em_gain_adu_per_e : float
        Mean EM-CCD output per photo-electron (ADU); the register's gamma statistics give an excess
        noise factor 2.
    read_noise_adu : float
        Gaussian read noise (ADU).
    offset_adu : float
        Camera offset (ADU).
    supersample : int
        Sub-pixel samples per pixel and axis when rasterising a rotated square.

    Returns
    -------
    movie : RealisticMovie
        Renders frames (uint16) on demand; see :func:`write_realistic_movie_tiff`.
    truth : dict
        Shaped like the validation truth JSON (``movie``, ``camera``, ``background``, ``hot_pixels``,
        ``debris_blobs_y_x_sigma_amp``, ``preset``, ``class_counts``, ``particles`` ...), plus
        ``drift_px`` ``(T, 2)`` and, per particle, ``states`` ``(T,)`` bool (numpy arrays; see
        :func:`truth_to_json`).

    Notes
    -----
    Frame states: frame k of a crystal is ON when its noiseless emission relative to its ON level at
    that time (the class envelope) is at least one half, the paper's half-way threshold applied to the
    noiseless trace. Dwells are the complete runs of those states inside the crystal's active window
    (from activation to bleaching), the censored first and last left out. Two-state sub-classes are
    assigned first and each crystal's dwell means are scaled (ON up, OFF down, or the reverse, by one
    factor) so its expected fraction ON is 0.9 / 0.5 / 0.1; the trace is then redrawn (at most 40
    times) until its fraction ON lands in the sub-class range [1]_.

    References
    ----------
    .. [1] H. Jin et al., Nanoscale 15, 5437 (2023): classes, mixtures and exponents per treatment.
    .. [2] M. Kuno et al., J. Chem. Phys. 115, 1028 (2001): truncated power-law blinking.
    .. [3] M. H. Robbins, R. Hadfield, IEEE Trans. Electron Devices 50, 1227 (2003): EM-CCD statistics.
    """
    p = _resolve_preset(preset)
    if frames < 1 or n_particles < 0 or min(shape) < 8:
        raise AnalysisInputError(
            f"need frames >= 1, n_particles >= 0 and a frame of at least 8 x 8 (got {frames}, {n_particles}, {shape})"
        )
    rng = np.random.default_rng(seed)
    H, W = shape
    T = frames
    dt = bin_time_s
    total_s = T * dt
    t_cap = 2.0 * total_s + 10 * dt

    # --- illumination and background ---
    beam_centre = np.array([(H - 1) / 2, (W - 1) / 2]) + rng.uniform(
        -1, 1, 2
    ) * beam_offset_fraction * np.array([H, W])
    beam_sigma = _beam_sigma_for_corners(shape, beam_centre, beam_corner_fraction)
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    beam = np.exp(-((yy - beam_centre[0]) ** 2 + (xx - beam_centre[1]) ** 2) / (2 * beam_sigma**2))
    theta = rng.uniform(0, 2 * np.pi)
    proj = (yy - (H - 1) / 2) * np.cos(theta) + (xx - (W - 1) / 2) * np.sin(theta)
    span = np.ptp(proj) if np.ptp(proj) > 0 else 1.0
    gradient = 1.0 + background_gradient * proj / span
    background_map = (background_photons * beam * gradient).astype(np.float32)
    decay = np.exp(np.log(max(1.0 - background_decay, 1e-6)) * np.arange(T) / max(T - 1, 1)).astype(
        np.float32
    )

    n_hot = int(rng.poisson(hot_pixel_density * H * W))
    flat = rng.choice(H * W, size=min(n_hot, H * W), replace=False)
    hot = np.column_stack([flat // W, flat % W, rng.uniform(*hot_pixel_photons, size=flat.size)]).astype(
        float
    )
    n_debris = int(rng.poisson(debris_density * H * W))
    debris = np.column_stack(
        [
            rng.uniform(0, H - 1, n_debris),
            rng.uniform(0, W - 1, n_debris),
            rng.uniform(*debris_sigma_px, n_debris),
            rng.uniform(*debris_amplitude, n_debris) * background_photons,
        ]
    ).reshape(n_debris, 4)
    drift = _drift_path(T, drift_px, rng)

    # --- crystals: sizes, places, classes ---
    n = n_particles
    is_micro = np.zeros(n, bool)
    is_micro[: n - int(round(nano_fraction * n))] = True
    is_micro = is_micro[rng.permutation(n)] if n else is_micro
    lo, med, hi = nano_edge_um
    edge_um = np.where(
        is_micro,
        rng.uniform(*micro_edge_um, n),
        np.clip(med * np.exp(0.35 * rng.normal(size=n)), lo, hi),
    )
    edge_px = edge_um / pixel_size_um
    centres = _place(edge_px, shape, min_gap_px, 1.0, rng) if n else np.zeros((0, 2))
    orient = rng.uniform(0, np.pi / 2, n)
    brightness = (
        signal_photons
        * (edge_um / 0.5) ** brightness_size_exponent
        * np.exp(brightness_sigma * rng.normal(size=n))
    )
    kinds = _class_labels(n, p.classes, CLASSES, exact_mixture, rng)
    q_idx = [i for i in range(n) if kinds[i] == "qTSB"]
    subs = dict(
        zip(q_idx, _class_labels(len(q_idx), p.subclasses, SUBCLASSES, exact_mixture, rng), strict=True)
    )
    # late activation: p_late of the qTSB crystals, taken from those not mostly-on
    candidates = [i for i in q_idx if subs[i] != "mostly-on"]
    n_late = min(len(candidates), int(np.floor(p.p_late_activation * len(q_idx) + rng.random())))
    late = set(rng.choice(candidates, n_late, replace=False).tolist()) if n_late else set()

    mu_on = truncated_power_law_mu(p.alpha_on, p.mean_on_s, t_min_s=dt)
    mu_off = truncated_power_law_mu(p.alpha_off, p.mean_off_s, t_min_s=dt)

    crystals, particles = [], []
    for i in range(n):
        kind = kinds[i]
        off = rng.uniform(*off_level)
        n_dom = 1
        msb_origin = None
        if kind != "qTSB" and is_micro[i] and rng.random() < p.p_multidomain:
            n_dom = int(rng.integers(2, 4))
        if kind == "MSB":
            msb_origin = "domains" if n_dom > 1 else "sublevels"
        cuts = np.sort(rng.uniform(0.25, 0.75, n_dom - 1)) if n_dom > 2 else rng.uniform(0.3, 0.7, n_dom - 1)
        if n_dom == 3 and cuts[1] - cuts[0] < 0.2:
            cuts = np.array([1 / 3, 2 / 3])
        bounds = np.concatenate([[0.0], cuts, [1.0]])
        fractions = np.diff(bounds)  # domain area fractions (stripes of the square)
        env, env_info = _envelope(kind, T, dt, rng)
        # active window (frames) for dwell counting: activation .. bleaching
        w_lo, w_hi = 0, T
        if "bleach_time_s" in env_info:
            w_hi = int(min(T, np.ceil(env_info["bleach_time_s"] / dt - 0.5)))
        a_on, m_on, a_off, m_off = p.alpha_on, mu_on, p.alpha_off, mu_off
        sub = subs.get(i)
        late_s = None
        sublevel = None
        rel_domains = np.empty((n_dom, T))
        if kind == "qTSB":
            f0 = p.mean_on_s / (p.mean_on_s + p.mean_off_s)
            lo_f, hi_f = SUBCLASS_FRACTION_ON[sub]
            mean_on, mean_off = p.mean_on_s, p.mean_off_s
            if not lo_f < f0 < hi_f or i in late:
                f = _SUBCLASS_TARGET[sub]
                s = np.sqrt(f / (1 - f) * p.mean_off_s / p.mean_on_s)
                mean_on, mean_off = max(p.mean_on_s * s, 1.5 * dt), max(p.mean_off_s / s, 1.5 * dt)
                if i in late:  # dark for part of the movie: ON more while active
                    mean_on, mean_off = mean_on * 2.0, max(mean_off / 2.0, 1.5 * dt)
                m_on = truncated_power_law_mu(a_on, round(float(mean_on), 6), t_min_s=dt)
                m_off = truncated_power_law_mu(a_off, round(float(mean_off), 6), t_min_s=dt)
            best = None
            for _ in range(40):
                t0 = 0.0
                if i in late:
                    t0 = float(np.round(rng.uniform(0.3, 0.85) * total_s / dt) * dt)
                start_on = True if i in late else bool(rng.random() < mean_on / (mean_on + mean_off))
                dur, st = _two_state_segments(
                    total_s - t0, a_on, m_on, a_off, m_off, start_on, rng, dt, t_cap
                )
                rel = _per_frame_mean(dur, np.where(st == 1, 1.0, off), t0, T, dt)
                if t0 > 0:
                    rel[: int(round(t0 / dt))] = off
                fon = float(np.mean(rel >= 0.5))
                score = 0.0 if lo_f <= fon <= hi_f else min(abs(fon - lo_f), abs(fon - hi_f))
                if best is None or score < best[0]:
                    best = (score, rel, t0)
                if score == 0.0:
                    break
            _, rel, t0 = best
            rel_domains[0] = rel
            if t0 > 0:
                late_s = t0
                w_lo = int(round(t0 / dt))
        elif kind == "MSB" and msb_origin == "sublevels":
            sublevel = rng.uniform(*msb_sublevel)
            # ON -> grey -> OFF cycle with the ON law for the bright levels and the OFF law for OFF,
            # the next level chosen at random among the other two
            durs, levels, t = [], [], 0.0
            cur = int(rng.integers(3))
            lv = (1.0, sublevel, off)
            while t < total_s:
                a, m = (a_off, m_off) if cur == 2 else (a_on, m_on)
                d_ = float(_sample_tpl(1, a, m, dt, t_cap, rng)[0])
                durs.append(d_)
                levels.append(lv[cur])
                t += d_
                cur = int(rng.choice([k for k in range(3) if k != cur]))
            rel_domains[0] = _per_frame_mean(np.array(durs), np.array(levels), 0.0, T, dt)
        else:
            for d in range(n_dom):
                start_on = bool(rng.random() < p.mean_on_s / (p.mean_on_s + p.mean_off_s))
                dur, st = _two_state_segments(total_s, a_on, m_on, a_off, m_off, start_on, rng, dt, t_cap)
                rel_domains[d] = _per_frame_mean(dur, np.where(st == 1, 1.0, off), 0.0, T, dt)
        rel_total = fractions @ rel_domains
        states = (rel_total >= 0.5) & (env > 0)
        jitter = np.clip(1.0 + on_jitter * rng.normal(size=T), 0.0, None)
        emission = (brightness[i] * fractions[:, None] * rel_domains * (env * jitter)[None]).astype(
            np.float32
        )
        crystals.append(
            RealisticCrystal(
                centre_px=(float(centres[i, 0]), float(centres[i, 1])),
                edge_px=float(edge_px[i]),
                orientation_rad=float(orient[i]),
                domain_bounds=tuple(float(b) for b in bounds),
                emission_photons=emission,
            )
        )
        on_s, off_s = _complete_dwells(states, w_lo, w_hi, dt)
        particles.append(
            {
                "id": i + 1,
                "centroid_px": [round(float(centres[i, 0]), 3), round(float(centres[i, 1]), 3)],
                "edge_um": round(float(edge_um[i]), 4),
                "orientation_deg": round(float(np.degrees(orient[i])), 2),
                "class": "MSB" if msb_origin else kind,
                "subclass": None,
                "nominal_class": kind,
                "nominal_subclass": sub,
                "msb_origin": msb_origin,
                "late_activation_s": late_s,
                "n_domains": n_dom,
                "domain_fractions": [round(float(f), 4) for f in fractions],
                "states": states,
                "on_dwell_s": on_s,
                "off_dwell_s": off_s,
                "n_on_events": len(on_s),
                "n_off_events": len(off_s),
                "fraction_on": round(float(states.mean()), 5),
                "mean_on_s": round(float(np.mean(on_s)), 5) if on_s else None,
                "mean_off_s": round(float(np.mean(off_s)), 5) if off_s else None,
                "alpha_on": a_on,
                "mu_on_per_s": round(float(m_on), 6),
                "alpha_off": a_off,
                "mu_off_per_s": round(float(m_off), 6),
                "window_s": round((w_hi - w_lo) * dt, 4),
                "window_frames": [w_lo, w_hi],
                "brightness_on_photons": round(float(brightness[i]), 2),
                "off_level": round(float(off), 4),
                "msb_sublevel": None if sublevel is None else round(float(sublevel), 4),
                "envelope": env_info,
                "bleach_time_s": env_info.get("bleach_time_s"),
            }
        )

    movie = RealisticMovie(
        frames=T,
        height=H,
        width=W,
        bin_time_s=dt,
        pixel_size_um=pixel_size_um,
        seed=int(seed),
        psf_sigma_px=psf_sigma_px,
        background_map=background_map,
        beam=beam.astype(np.float32),
        decay=decay,
        drift_px=drift,
        crystals=tuple(crystals),
        debris=debris,
        hot_pixels=hot,
        em_gain_adu_per_e=em_gain_adu_per_e,
        read_noise_adu=read_noise_adu,
        offset_adu=offset_adu,
        supersample=supersample,
        drift_anchor_px=drift_anchor_px,
    )
    _add_image_truth(movie, particles, read_noise_adu / em_gain_adu_per_e)
    for q in particles:
        if q["class"] == "qTSB":
            q["subclass"] = next(
                k for k, (a, b) in SUBCLASS_FRACTION_ON.items() if a <= q["fraction_on"] <= b
            )
    truth = {
        "movie": {
            "frames": T,
            "height": H,
            "width": W,
            "bin_time_s": dt,
            "pixel_size_um": pixel_size_um,
            "seed": int(seed),
        },
        "camera": {
            "offset_adu": offset_adu,
            "em_gain_adu_per_e": em_gain_adu_per_e,
            "read_noise_adu": read_noise_adu,
            "excess_noise_factor": 2.0,
        },
        "psf_sigma_px": psf_sigma_px,
        "snr": {"S0_photons": signal_photons, "background_photons": background_photons},
        "background": {
            "beam_center_px": [float(beam_centre[0]), float(beam_centre[1])],
            "beam_sigma_px": beam_sigma,
            "beam_corner_fraction": beam_corner_fraction,
            "gradient_peak_to_peak": background_gradient,
            "gradient_direction_deg": float(np.degrees(theta)),
            "decay_fraction": background_decay,
            "drift_max_px": drift_px,
        },
        "drift_px": drift,
        "hot_pixels": [[int(y), int(x), round(float(a), 3)] for y, x, a in hot],
        "debris_blobs_y_x_sigma_amp": [[round(float(v), 3) for v in d] for d in debris],
        "preset": {
            "name": p.name,
            "alpha_on": p.alpha_on,
            "mean_on_s": p.mean_on_s,
            "alpha_off": p.alpha_off,
            "mean_off_s": p.mean_off_s,
            "mu_on_per_s": mu_on,
            "mu_off_per_s": mu_off,
            "classes": dict(p.classes),
            "subclasses": dict(p.subclasses),
            "p_multidomain": p.p_multidomain,
            "p_late_activation": p.p_late_activation,
        },
        "class_counts": {k: sum(q["class"] == k for q in particles) for k in CLASSES},
        "nominal_class_counts": {k: kinds.count(k) for k in CLASSES},
        "subclass_counts": {k: sum(q["subclass"] == k for q in particles) for k in SUBCLASSES},
        "n_particles": n,
        "n_detectable": sum(q["detectable"] for q in particles),
        "particles": particles,
    }
    return movie, truth


def _add_image_truth(movie: RealisticMovie, particles: list, read_noise_e: float) -> None:
    """Footprints at half maximum, SNRs and the true pixel correlations, from the noiseless image."""
    T = movie.frames
    n_proj = min(T, 200)
    for c, q in zip(movie.crystals, particles, strict=True):
        box = _Box.around(c.centre_px, _crystal_radius(c, movie.psf_sigma_px), movie.beam.shape)
        w = _crystal_weights(c, box, 0.0, 0.0, movie.psf_sigma_px, movie.supersample)
        w = box.clip(w) * box.clip(movie.beam)[None]
        sy, sx = box.sy, box.sx
        img = w.sum(axis=0)
        fp = img >= 0.5 * img.max()
        ys, xs = np.nonzero(fp)
        q["footprint_px"] = [[int(y + sy.start), int(x + sx.start)] for y, x in zip(ys, xs, strict=True)]
        q["area_px"] = int(fp.sum())
        iy, ix = np.unravel_index(np.argmax(img), img.shape)
        bg = movie.background_map[sy, sx][iy, ix]
        brightness = q["brightness_on_photons"]
        peak_on = brightness * img[iy, ix]
        q["snr_on"] = round(float(peak_on / np.sqrt(2 * (peak_on + bg) + read_noise_e**2)), 3)
        # signal of the brightest pixel per frame and its noise in a mean projection of n_proj frames
        trace = c.emission_photons.T @ w[:, iy, ix]
        bg_noise = np.sqrt((2 * bg * movie.decay.mean() + read_noise_e**2) / n_proj)
        q["snr_mean_projection"] = round(float(trace.mean() / bg_noise), 2)
        q["detectable"] = bool(q["snr_mean_projection"] >= 5.0)
        # pixel traces (photo-electrons) over the footprint, background included
        W = w[:, ys, xs]  # (n_dom, P)
        bgp = movie.background_map[sy, sx][ys, xs]
        s = c.emission_photons.T.astype(float) @ W + movie.decay[:, None].astype(float) * bgp[None]
        S = s.sum(axis=1)
        ds, dS = s - s.mean(axis=0), S - S.mean()
        var_s, var_S, cov = (ds**2).mean(axis=0), (dS**2).mean(), (ds * dS[:, None]).mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            clean = cov / np.sqrt(var_s * var_S)
            noise = 2 * s.mean(axis=0) + read_noise_e**2  # mean EM-CCD noise variance per pixel (e^2)
            noisy = (cov + noise) / np.sqrt((var_s + noise) * (var_S + noise.sum()))
        q["correlation_mean_clean"] = round(float(np.nanmean(clean)), 6) if T > 1 else None
        q["correlation_mean_true"] = round(float(np.nanmean(noisy)), 6) if T > 1 else None


def truth_to_json(truth: dict) -> dict:
    """The truth with its numpy arrays as JSON lists (states as strings of 0/1, one character a frame).

    Parameters
    ----------
    truth : dict
        As returned by :func:`simulate_realistic_movie`.

    Returns
    -------
    dict
        A deep copy that :func:`json.dumps` accepts.
    """

    def conv(o):
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [conv(v) for v in o]
        if isinstance(o, np.ndarray):
            if o.dtype == bool:
                return "".join("1" if v else "0" for v in o.tolist())
            return np.round(o, 6).tolist()
        if isinstance(o, np.generic):
            return o.item()
        return o

    return conv(truth)


def write_realistic_movie_tiff(
    path,
    frames: int = 800,
    shape: tuple[int, int] = (128, 128),
    n_particles: int = 25,
    preset: BlinkingPreset | int = 0,
    seed: int = 0,
    *,
    chunk_frames: int | None = None,
    truth_path=None,
    workers: int = 1,
    **options,
) -> dict:
    """Simulate a realistic movie and write it as an ImageJ TIFF, chunk by chunk; return its truth.

    Parameters
    ----------
    path : str or path-like
        The TIFF to write (uint16, ``finterval`` = ``bin_time_s``, resolution in um from
        ``pixel_size_um``; :func:`analysis.movie.open_movie` reads both back).
    frames, shape, n_particles, preset, seed
        As for :func:`simulate_realistic_movie`.
    chunk_frames : int, optional
        Frames rendered at once; by default about 64 MB of float32 photons per chunk, so memory does
        not grow with the movie's length.
    truth_path : str or path-like, optional
        Where to write the truth as JSON (:func:`truth_to_json`).
    workers : int
        Threads drawing the noise.
    **options
        Any keyword of :func:`simulate_realistic_movie`.

    Returns
    -------
    dict
        The truth (with numpy arrays; see :func:`truth_to_json`).
    """
    movie, truth = simulate_realistic_movie(frames, shape, n_particles, preset, seed, **options)
    write_movie_tiff(path, movie, chunk_frames=chunk_frames, workers=workers)
    if truth_path is not None:
        import json
        from pathlib import Path

        Path(truth_path).write_text(json.dumps(truth_to_json(truth)))
    return truth
