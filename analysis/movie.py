"""Wide-field PL movies as multi-page TIFF files, read lazily in time chunks.

A movie is opened once (:func:`open_movie`) into a small picklable :class:`MovieInfo` that says where
the frames are; every later read (:func:`read_frames`) opens the file again for just the frames it
needs, so a dask worker can be handed the path and a frame range instead of the data. When the frames
are stored contiguously and uncompressed (what ImageJ, micro-manager and tifffile write by default), the
read is a ``numpy.memmap`` of exactly that range: nothing is copied and nothing outside the range is
mapped, so memory is bounded by the chunk, not by the movie.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from analysis.errors import AnalysisInputError

__all__ = [
    "MovieInfo",
    "open_movie",
    "read_frames",
    "frame_ranges",
    "strided_frame_indices",
    "strided_projection",
]

_ACCEPTED_KINDS = "uif"  # unsigned, signed integer and floating point samples
#: largest frame accepted, in decoded bytes: 64 MiB is a 4096 x 4096 float32 frame, 8x an sCMOS
#: 2048 x 2048 uint16 frame; a chunk of frames (at least 16 of them) must fit in a worker's memory.
MAX_FRAME_BYTES = 64 * 2**20
#: largest decoded/stored size ratio accepted for a compressed movie. Camera frames carry shot noise
#: and compress a few-fold with zlib/LZW/zstd; a file that claims hundreds of times its size in
#: frames is a decompression bomb (a 0.84 MB TIFF declaring 1.3 GB of zeros).
MAX_COMPRESSION_RATIO = 100.0
# tifffile recovers from a damaged file by logging and returning what it could parse (often just the
# first page); these messages mean the file is truncated or corrupt, not that it is a 2-D image.
_DAMAGE_MESSAGES = ("invalid page offset", "failed to reshape", "corrupted", "truncat", "invalid tag")


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_warnings():
    """Collect tifffile's log warnings instead of printing them (the CLI prints one line only)."""
    logger = logging.getLogger("tifffile")
    handler, propagate = _Capture(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@dataclass(frozen=True)
class MovieInfo:
    """Where a movie's frames are, and what the file says about them.

    Attributes
    ----------
    path : str
        Absolute path of the TIFF file.
    frames, height, width : int
        Shape of the movie, ``(T, H, W)``.
    dtype : str
        numpy dtype string of the samples, with byte order (``"<u2"``).
    bin_time_s : float or None
        Frame interval from the metadata (ImageJ ``finterval``), or None when absent.
    pixel_size_um : float or None
        Pixel size in micrometres from the resolution tags / ImageJ unit, or None when absent.
    data_offset : int or None
        Byte offset of frame 0 when all frames are stored contiguously and uncompressed (then reads
        are memory maps), else None (reads decode pages with tifffile).
    """

    path: str
    frames: int
    height: int
    width: int
    dtype: str
    bin_time_s: float | None = None
    pixel_size_um: float | None = None
    data_offset: int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.frames, self.height, self.width)

    @property
    def frame_nbytes(self) -> int:
        return self.height * self.width * np.dtype(self.dtype).itemsize

    @property
    def contiguous(self) -> bool:
        return self.data_offset is not None


def _pixel_size_um_from_tags(tif: tifffile.TiffFile) -> float | None:
    """Pixel size from XResolution (pixels per unit) and the unit (ResolutionUnit or ImageJ ``unit``)."""
    page = tif.pages.first
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    num, den = tag.value
    if num == 0 or den == 0:
        return None
    pixels_per_unit = num / den
    unit = None
    if tif.is_imagej and tif.imagej_metadata:
        unit = str(tif.imagej_metadata.get("unit", "")).replace("\\u00B5", "u").replace("µ", "u")
    res_unit = page.tags.get("ResolutionUnit")
    um_per_unit = {"um": 1.0, "micron": 1.0, "microns": 1.0, "nm": 1e-3, "mm": 1e3}.get(unit or "")
    if um_per_unit is None and res_unit is not None:
        # TIFF ResolutionUnit: 2 inch, 3 centimetre (4 mm, 5 um: tifffile extensions); 1 (none) carries no physical size.
        um_per_unit = {2: 25400.0, 3: 10000.0, 4: 1000.0, 5: 1.0}.get(int(res_unit.value))
    if um_per_unit is None:
        return None
    size = um_per_unit / pixels_per_unit
    # tifffile writes resolution (1, 1) with no unit when none is given: not a physical size.
    if unit is None and res_unit is not None and int(res_unit.value) == 1:
        return None
    return float(size) if np.isfinite(size) and size > 0 else None


def _describe(
    tif: tifffile.TiffFile, name: str, size: int, *, max_frame_bytes: int, max_ratio: float
) -> dict:
    """Shape, dtype, offset and metadata of an open TIFF, or AnalysisInputError saying what is wrong."""
    if not tif.series:
        raise AnalysisInputError(f"{name}: TIFF holds no image series")
    series = tif.series[0]
    axes, shape = series.axes, tuple(series.shape)
    page0 = tif.pages.first
    if "S" in axes or page0.samplesperpixel > 1:
        raise AnalysisInputError(
            f"{name}: RGB/multi-sample frames (shape {shape}, axes {axes}); expected grayscale frames"
        )
    keep = [n for n in shape[:-2] if n != 1]
    if len(shape) < 3 or not keep:
        raise AnalysisInputError(
            f"{name}: a single 2-D image of shape {shape}; expected a movie of several frames"
        )
    if len(keep) > 1:
        raise AnalysisInputError(
            f"{name}: series of shape {shape} (axes {axes}) has more than one non-spatial axis; "
            "expected (frames, height, width)"
        )
    frames, (height, width) = keep[0], shape[-2:]
    dtype = np.dtype(series.dtype)
    if dtype.kind not in _ACCEPTED_KINDS:
        raise AnalysisInputError(f"{name}: samples of type {dtype}, expected integers or floats")
    frame_nbytes = height * width * dtype.itemsize
    if frame_nbytes > max_frame_bytes:
        raise AnalysisInputError(
            f"{name}: frames of {height} x {width} {dtype} need {frame_nbytes} bytes each; "
            f"at most {max_frame_bytes} are accepted"
        )
    offset = series.dataoffset
    if offset is not None:
        if offset + frames * frame_nbytes > size:
            raise AnalysisInputError(
                f"{name}: truncated TIFF: {frames} frames need "
                f"{offset + frames * frame_nbytes} bytes, file has {size}"
            )
    else:
        pages = series.pages
        if len(pages) != frames:
            raise AnalysisInputError(
                f"{name}: truncated or corrupt TIFF: {len(pages)} pages for {frames} frames"
            )
        for page in pages:
            ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)]
            if not ends or max(ends) > size:
                raise AnalysisInputError(f"{name}: truncated TIFF: page data past the end of file")
        # checked before anything is decoded: the declared frames against the bytes that hold them
        decoded = frames * frame_nbytes
        if decoded > max_ratio * size:
            raise AnalysisInputError(
                f"{name}: {frames} compressed frames would decode to {decoded} bytes, "
                f"{decoded / size:.0f} times the file's {size}; at most {max_ratio:g} times is "
                "accepted (a decompression bomb?)"
            )
    bin_time_s = None
    if tif.is_imagej and tif.imagej_metadata:
        finterval = tif.imagej_metadata.get("finterval")
        if finterval is not None and float(finterval) > 0:
            bin_time_s = float(finterval)
    pixel_size_um = _pixel_size_um_from_tags(tif)
    return dict(
        frames=frames,
        height=height,
        width=width,
        dtype=dtype,
        offset=offset,
        bin_time_s=bin_time_s,
        pixel_size_um=pixel_size_um,
    )


def open_movie(
    path: str | os.PathLike,
    *,
    max_frame_bytes: int = MAX_FRAME_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> MovieInfo:
    """Open a multi-page TIFF movie and describe it without reading its frames.

    Parameters
    ----------
    path : str or path-like
        A TIFF whose first series is a grayscale time series ``(T, H, W)`` (leading singleton
        axes are dropped), with integer or floating point samples.
    max_frame_bytes : int, optional
        Largest decoded frame accepted (default :data:`MAX_FRAME_BYTES`).
    max_ratio : float, optional
        Largest ratio of decoded frames to file size accepted for a compressed movie (default
        :data:`MAX_COMPRESSION_RATIO`).

    Returns
    -------
    MovieInfo
        Shape, dtype, metadata (frame interval, pixel size) and the data offset when contiguous.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    AnalysisInputError
        When the file is empty, not a TIFF, truncated, a single 2-D image, RGB, has fewer than two
        frames, has samples that are not real numbers, frames over ``max_frame_bytes``, or (when
        compressed) declares over ``max_ratio`` times its size in frames. These are checked from
        the tags, before any frame is decoded; compressed frames are later decoded one chunk of
        frames at a time (:func:`read_frames`).

    Notes
    -----
    The frame interval comes from ImageJ's ``finterval``; the pixel size from ``XResolution`` with
    ImageJ's ``unit`` or the TIFF ``ResolutionUnit``. Callers give explicit values precedence.
    """
    path = Path(path).resolve()
    size = path.stat().st_size  # FileNotFoundError is the caller's "missing file"
    name = path.name
    if size == 0:
        raise AnalysisInputError(f"{name}: empty file, expected a multi-page TIFF movie")
    error = None
    with _tifffile_warnings() as warnings:
        try:
            with tifffile.TiffFile(path) as tif:
                d = _describe(tif, name, size, max_frame_bytes=max_frame_bytes, max_ratio=max_ratio)
        except AnalysisInputError as exc:
            error = exc
        except (tifffile.TiffFileError, ValueError, KeyError, IndexError, struct.error, OSError) as exc:
            if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
                raise
            error = AnalysisInputError(f"{name}: not a readable TIFF ({exc})")
    damage = [w for w in warnings if any(m in w for m in _DAMAGE_MESSAGES)]
    if damage:
        raise AnalysisInputError(f"{name}: truncated or corrupt TIFF ({damage[0].split('> ')[-1]})")
    if error is not None:
        raise error
    frames, height, width, dtype, offset = d["frames"], d["height"], d["width"], d["dtype"], d["offset"]
    bin_time_s, pixel_size_um = d["bin_time_s"], d["pixel_size_um"]
    if frames < 2:
        raise AnalysisInputError(f"{name}: {frames} frame; expected a movie of several frames")
    return MovieInfo(
        path=str(path),
        frames=int(frames),
        height=int(height),
        width=int(width),
        dtype=dtype.str,
        bin_time_s=bin_time_s,
        pixel_size_um=pixel_size_um,
        data_offset=None if offset is None else int(offset),
    )


def read_frames(info: MovieInfo, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` of the movie as a ``(stop - start, H, W)`` array of the file's dtype.

    A contiguous file gives a read-only ``numpy.memmap`` of that range only (drop it to unmap);
    otherwise tifffile decodes those pages.

    Raises
    ------
    AnalysisInputError
        When the range is outside the movie or the pages cannot be decoded.
    """
    if not 0 <= start < stop <= info.frames:
        raise AnalysisInputError(f"frame range {start}:{stop} outside the movie's {info.frames} frames")
    n = stop - start
    if info.contiguous:
        return np.memmap(
            info.path,
            dtype=np.dtype(info.dtype),
            mode="r",
            offset=info.data_offset + start * info.frame_nbytes,
            shape=(n, info.height, info.width),
        )
    try:
        with tifffile.TiffFile(info.path) as tif:
            data = tif.series[0].asarray(key=slice(start, stop))
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise AnalysisInputError(
            f"{Path(info.path).name}: cannot decode frames {start}:{stop} ({exc})"
        ) from exc
    return np.asarray(data).reshape(n, info.height, info.width)


def frame_ranges(n_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges of at most ``chunk_frames`` covering ``range(n_frames)``."""
    if chunk_frames < 1:
        raise AnalysisInputError(f"chunk_frames: {chunk_frames}, expected a positive number of frames")
    return [(s, min(s + chunk_frames, n_frames)) for s in range(0, n_frames, chunk_frames)]


def strided_frame_indices(n_frames: int, n_sample: int) -> np.ndarray:
    """At most ``n_sample`` frame indices evenly spread over the movie (all frames when it is short)."""
    if n_sample >= n_frames:
        return np.arange(n_frames)
    return np.unique(np.linspace(0, n_frames - 1, n_sample).round().astype(np.int64))


def strided_projection(info: MovieInfo, *, n_sample: int = 200) -> np.ndarray:
    """Mean image over an evenly strided sample of frames, in float64.

    Detection needs an image of every emitter before the one streaming pass over the movie; a mean over
    ``n_sample`` frames spread over the whole recording sees emitters that are ON at any time, costs
    ``n_sample / T`` of a full pass (3 % for 200 of 6000 frames), and keeps the movie read once.

    Raises
    ------
    AnalysisInputError
        When the sampled frames contain NaN or infinite values.
    """
    idx = strided_frame_indices(info.frames, n_sample)
    total = np.zeros((info.height, info.width))
    for i in idx:
        frame = read_frames(info, int(i), int(i) + 1)[0]
        if frame.dtype.kind == "f" and not np.isfinite(frame).all():
            raise AnalysisInputError(f"{Path(info.path).name}: frame {i} contains NaN or infinite values")
        total += frame
        del frame
    return total / len(idx)
