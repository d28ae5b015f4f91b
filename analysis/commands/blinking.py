"""``python -m analysis blinking MOVIE.tif --out RESULT.json``: blinking statistics and correlation maps."""

from __future__ import annotations

import argparse
import math
import sys
import zlib
from pathlib import Path

import numpy as np

from analysis.errors import AnalysisInputError

#: particles closer than this get cross-correlation (assembly) maps, by default
DEFAULT_ASSEMBLY_DISTANCE_UM = 1.5

HELP = (
    "single-particle blinking (ON/OFF dwells, power-law fits, classes) and correlation maps of a TIFF movie"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("movie", help="multi-page TIFF movie (T, H, W), uint16 or float")
    parser.add_argument(
        "--bin-time",
        help="frame time, e.g. 0.1 or 100ms (bare numbers are seconds); default: the file's, else 0.1 s",
    )
    parser.add_argument("--pixel-size", help="pixel size with a unit, e.g. 160nm; default: the file's")
    parser.add_argument("--scheduler", help="address of a running dask scheduler, e.g. tcp://127.0.0.1:8786")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="threads in this process (or local worker processes with --processes) when no --scheduler (2)",
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="start a local dask cluster of --workers processes instead of threads in this process",
    )
    parser.add_argument("--maps", help="directory for correlation maps (.npy, and .png previews)")
    parser.add_argument("--chunk-frames", type=int, help="frames per task (default: about 64 MiB of frames)")
    parser.add_argument(
        "--method", choices=("threshold", "changepoint"), default="threshold", help="ON/OFF assignment"
    )
    parser.add_argument(
        "--threshold-fraction",
        type=float,
        default=0.5,
        help="threshold = background + f * (bright - background); the paper's f = 0.5",
    )
    parser.add_argument(
        "--assembly-distance",
        help="particles closer than this get cross-correlation maps, e.g. 1.5um (the default; needs a pixel size)",
    )
    parser.add_argument(
        "--missed-events-snr",
        type=float,
        help="correct the mean ON/OFF times of two-state crystals below this SNR for missed short dwells "
        "(default 3.09; 0 turns the correction off)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


# pint (analysis.units) is imported only when a quantity is given: it costs 0.6 s, a fifth of a
# command-line run on a 3 GB movie.


def _seconds(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    from analysis.units import parse_quantity

    value = parse_quantity(text, dimension="[time]", name=name, default_unit="s").to("s").magnitude
    if not (math.isfinite(value) and value > 0):
        raise AnalysisInputError(f"{name}: {text!r}, expected a positive time")
    return float(value)


def _micrometres(text: str | None, name: str, *, allow_zero: bool = False) -> float | None:
    if text is None:
        return None
    from analysis.units import parse_quantity

    value = parse_quantity(text, dimension="[length]", name=name).to("um").magnitude
    if not (math.isfinite(value) and (value > 0 or (allow_zero and value == 0))):
        raise AnalysisInputError(f"{name}: {text!r}, expected a positive length")
    return float(value)


def write_png(path: Path, image: np.ndarray, *, vmin: float = -1.0, vmax: float = 1.0) -> None:
    """A diverging blue-white-red RGBA PNG of ``image`` (NaN transparent).

    Written with zlib and the PNG chunk layout directly: a preview needs no imaging dependency.
    """
    x = np.clip((np.asarray(image, dtype=float) - vmin) / (vmax - vmin), 0, 1)
    nan = ~np.isfinite(image)
    x[nan] = 0.5
    r = np.where(x < 0.5, 2 * x, 1.0)
    b = np.where(x > 0.5, 2 * (1 - x), 1.0)
    g = np.minimum(r, b)
    rgba = (np.stack([r, g, b, np.where(nan, 0.0, 1.0)], axis=-1) * 255).round().astype(np.uint8)
    h, w = rgba.shape[:2]
    raw = b"".join(b"\x00" + rgba[i].tobytes() for i in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + tag + data + zlib.crc32(tag + data).to_bytes(4, "big")

    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 6, 0, 0, 0])
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(png)


def write_maps(result, directory: str | Path) -> list[str]:
    """Intra-crystal map, ROI labels and one assembly map per particle with neighbours, as .npy and .png."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    np.save(d / "correlation_self.npy", result.self_map().astype(np.float32))
    write_png(d / "correlation_self.png", result.self_map())
    np.save(d / "particle_labels.npy", result.particles.label_image())
    written += ["correlation_self.npy", "correlation_self.png", "particle_labels.npy"]
    for ref in sorted({int(j) for _, j in result.pairs}):
        name = f"correlation_assembly_ref{ref + 1}"
        amap = result.assembly_map(ref)
        np.save(d / f"{name}.npy", amap.astype(np.float32))
        write_png(d / f"{name}.png", amap)
        written += [f"{name}.npy", f"{name}.png"]
    return written


def run(args: argparse.Namespace) -> dict:
    from analysis.blinking import analyze_blinking_movie
    from analysis.movie import open_movie

    bin_time_s = _seconds(args.bin_time, "--bin-time")
    pixel_size_um = _micrometres(args.pixel_size, "--pixel-size")
    assembly_um = _micrometres(args.assembly_distance, "--assembly-distance", allow_zero=True)
    if assembly_um is None:
        assembly_um = DEFAULT_ASSEMBLY_DISTANCE_UM
    if args.workers < 1:
        raise AnalysisInputError(f"--workers: {args.workers}, expected at least 1")
    if args.chunk_frames is not None and args.chunk_frames < 1:
        raise AnalysisInputError(f"--chunk-frames: {args.chunk_frames}, expected at least 1")
    if not 0 < args.threshold_fraction < 1:
        raise AnalysisInputError(f"--threshold-fraction: {args.threshold_fraction}, expected between 0 and 1")
    if args.maps and Path(args.maps).exists() and not Path(args.maps).is_dir():
        raise AnalysisInputError(f"--maps: {args.maps} exists and is not a directory")
    options = {}
    if args.missed_events_snr is not None:
        if not (math.isfinite(args.missed_events_snr) and args.missed_events_snr >= 0):
            raise AnalysisInputError(
                f"--missed-events-snr: {args.missed_events_snr}, expected 0 (off) or a positive SNR"
            )
        options["missed_events_max_snr"] = args.missed_events_snr or None
    info = open_movie(args.movie)  # fail fast, before any cluster starts
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=info.frames, unit="frame", file=sys.stderr, desc=Path(args.movie).name, leave=False)
    try:
        result = analyze_blinking_movie(
            args.movie,
            bin_time_s=bin_time_s,
            pixel_size_um=pixel_size_um,
            scheduler_address=args.scheduler,
            n_workers=args.workers,
            processes=args.processes,
            chunk_frames=args.chunk_frames,
            method=args.method,
            threshold_fraction=args.threshold_fraction,
            assembly_distance_um=assembly_um,
            progress=bar.update if bar is not None else None,
            **options,
        )
    finally:
        if bar is not None:
            bar.close()
    out = result.to_json()
    if args.maps:
        out["maps"] = {"directory": str(Path(args.maps).resolve()), "files": write_maps(result, args.maps)}
    return out
