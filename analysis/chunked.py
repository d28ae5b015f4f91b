"""One streaming pass over a movie on dask.distributed: chunk -> partial sums -> tree reduce.

The movie is cut into time chunks; each task opens the file itself (it gets the path and a frame range,
never the pixels), gathers the ROI and background pixels of every particle, and returns a small
:class:`MovieSums`: the per-frame traces of its frames and the additive correlation sums. Partial results
are merged pairwise (``split_every`` at a time) on the workers, so the file is read once, the driver
receives one small result, and the memory of every process is bounded by ``chunk_frames`` whatever the
length of the movie. The same code runs on a :class:`distributed.LocalCluster` (default) or on a
scheduler given by address.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dask
import numpy as np

from analysis.correlation import CorrelationSums, combine_correlation_sums, correlation_chunk_sums
from analysis.errors import AnalysisInputError
from analysis.movie import MovieInfo, frame_ranges, read_frames

if TYPE_CHECKING:  # analysis.blinking imports this module
    from analysis.blinking.detect import Particles

__all__ = [
    "SumLayout",
    "sum_layout",
    "MovieSums",
    "movie_chunk_sums",
    "read_chunk_sums",
    "combine_movie_sums",
    "tree_reduce",
    "dask_client",
    "compute_movie_sums",
    "default_chunk_frames",
]


@dataclass(frozen=True, eq=False)
class SumLayout:
    """What a chunk task gathers: the particles, and the (pixel, reference trace) correlation entries.

    ``entry_pixel`` indexes ``particles.roi_flat``; ``entry_reference`` is the particle whose trace that
    pixel is correlated with (its own for the intra-crystal map, a neighbour's for assembly maps).
    ``trace_shift`` centres the reference traces (Pearson r does not depend on it). ``gather_flat`` is
    the sorted union of ROI and annulus pixels, read from each frame in one sequential sweep;
    ``roi_pos``/``annulus_pos`` locate the ROI and annulus pixels in it.
    """

    particles: Particles
    entry_pixel: np.ndarray
    entry_reference: np.ndarray
    trace_shift: np.ndarray
    gather_flat: np.ndarray
    roi_pos: np.ndarray
    annulus_pos: np.ndarray
    frame_shift: np.ndarray | None = None  # (T, 2) whole-pixel (dy, dx) stage drift per frame, or None

    @property
    def n_self(self) -> int:
        return int(self.particles.roi_flat.size)


def sum_layout(
    particles: Particles, pairs: np.ndarray | None = None, *, frame_shift: np.ndarray | None = None
) -> SumLayout:
    """Entries for every ROI pixel against its own particle, then for each pair ``(i, j)`` every pixel of
    ``i`` against particle ``j`` (see :func:`analysis.blinking.neighbour_pairs`).

    ``frame_shift`` (``(T, 2)`` whole pixels, from :func:`analysis.blinking.detect.frame_shifts`) moves
    every ROI and ring with the stage drift, frame by frame, so they stay on their crystals."""
    pix = [np.arange(particles.roi_flat.size)]
    ref = [particles.roi_owner]
    if pairs is not None:
        for i, j in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
            sel = np.flatnonzero(particles.roi_owner == i)
            pix.append(sel)
            ref.append(np.full(sel.size, j))
    shift = np.bincount(particles.roi_owner, weights=particles.roi_shift, minlength=particles.n)
    both = np.concatenate([particles.roi_flat, particles.annulus_flat])
    gather, pos = np.unique(both, return_inverse=True)
    return SumLayout(
        particles=particles,
        entry_pixel=np.concatenate(pix).astype(np.int64),
        entry_reference=np.concatenate(ref).astype(np.int64),
        trace_shift=shift,
        gather_flat=gather,
        roi_pos=pos[: particles.roi_flat.size],
        annulus_pos=pos[particles.roi_flat.size :],
        frame_shift=None if frame_shift is None else np.asarray(frame_shift, dtype=np.int16),
    )


def _gather(flat: np.ndarray, layout: SumLayout, shape: tuple[int, int], start: int) -> np.ndarray:
    """The layout's pixels of every frame of a block, each frame read where the drift has moved them."""
    # One sweep over each frame in increasing address order (np.take along the axis: ~5x faster than
    # fancy indexing flat[:, idx] on a 512 x 512 frame), then cheap gathers from the small result.
    if layout.frame_shift is None:
        return np.take(flat, layout.gather_flat, axis=1)
    shifts = layout.frame_shift[start : start + flat.shape[0]]
    out = np.empty((flat.shape[0], layout.gather_flat.size), dtype=flat.dtype)
    y, x = np.divmod(layout.gather_flat, shape[1])
    uniq, which = np.unique(shifts, axis=0, return_inverse=True)
    for k, (dy, dx) in enumerate(uniq):
        rows = np.flatnonzero(which.ravel() == k)
        idx = np.clip(y + int(dy), 0, shape[0] - 1) * shape[1] + np.clip(x + int(dx), 0, shape[1] - 1)
        out[rows] = np.take(flat[rows], idx, axis=1)
    return out


@dataclass(frozen=True, eq=False)
class MovieSums:
    """Partial result of frames ``start:stop``: traces (concatenate) and correlation sums (add)."""

    start: int
    stop: int
    traces: np.ndarray  # (stop - start, n) background-subtracted integrated intensity
    background: np.ndarray  # (stop - start, n) local background per pixel
    correlation: CorrelationSums


def movie_chunk_sums(frames: np.ndarray, layout: SumLayout, *, start: int = 0) -> MovieSums:
    """Partial sums of a block of frames ``(T, H, W)`` starting at frame ``start``.

    Traces as in :func:`analysis.blinking.particle_traces`; pixel traces for the correlation are the
    ROI pixels minus their particle's local background, reference traces the particles' traces.

    Raises
    ------
    AnalysisInputError
        When a gathered pixel is NaN or infinite.
    """
    p = layout.particles
    t = frames.shape[0]
    flat = frames.reshape(t, -1)
    pixels = _gather(flat, layout, frames.shape[1:], start)
    roi = np.take(pixels, layout.roi_pos, axis=1).astype(np.float64)
    ann = np.take(pixels, layout.annulus_pos, axis=1)
    if frames.dtype.kind == "f" and not (np.isfinite(roi).all() and np.isfinite(ann).all()):
        raise AnalysisInputError(f"movie has NaN or infinite values in frames {start}:{start + t}")
    # Integer frames: exact integer sums (< 2**32 for up to 65536 pixels of 16 bits), faster than float64.
    small = frames.dtype.kind == "u" and frames.dtype.itemsize <= 2 and p.annulus_flat.size <= 65536
    acc = np.uint32 if small else np.float64
    roi_sum = np.add.reduceat(roi, p.roi_starts(), axis=1)
    ann_sum = np.add.reduceat(ann, p.annulus_starts(), axis=1, dtype=acc)
    bg = ann_sum / np.bincount(p.annulus_owner, minlength=p.n)
    traces = roi_sum - p.area_px * bg
    roi -= bg[:, p.roi_owner]
    roi -= p.roi_shift
    corr = correlation_chunk_sums(
        roi, traces - layout.trace_shift, layout.entry_pixel, layout.entry_reference
    )
    return MovieSums(start=start, stop=start + t, traces=traces, background=bg, correlation=corr)


def read_chunk_sums(info: MovieInfo, start: int, stop: int, layout: SumLayout) -> MovieSums:
    """Read frames ``start:stop`` from the file (a memory map when contiguous) and sum them."""
    frames = read_frames(info, start, stop)
    if frames.dtype.kind == "f" and not np.isfinite(frames).all():
        raise AnalysisInputError(f"{info.path}: NaN or infinite values in frames {start}:{stop}")
    try:
        return movie_chunk_sums(frames, layout, start=start)
    finally:
        del frames  # unmap before the next task maps its range


def combine_movie_sums(a: MovieSums, b: MovieSums) -> MovieSums:
    """Merge the results of adjacent frame ranges ``a`` then ``b``."""
    if a.stop != b.start:
        raise ValueError(f"non-adjacent partial sums {a.start}:{a.stop} and {b.start}:{b.stop}")
    return MovieSums(
        start=a.start,
        stop=b.stop,
        traces=np.concatenate([a.traces, b.traces]),
        background=np.concatenate([a.background, b.background]),
        correlation=combine_correlation_sums(a.correlation, b.correlation),
    )


def _combine_many(*parts: MovieSums) -> MovieSums:
    return functools.reduce(combine_movie_sums, parts)


def _combine_correlations(*parts: MovieSums | CorrelationSums) -> CorrelationSums:
    """The correlation sums of adjacent chunks (or of partial sums), added; traces left out."""
    sums = [p.correlation if isinstance(p, MovieSums) else p for p in parts]
    return functools.reduce(combine_correlation_sums, sums)


def tree_reduce(client, futures: list, *, split_every: int = 2, combine: Callable = _combine_many):
    """Reduce ordered futures with ``combine`` in a tree of fan-in ``split_every``, on the workers.

    Returns the future of the final result. Order is preserved: ``combine`` gets adjacent results.
    Each level's combines have a higher priority than the level below and than the chunk reads
    (priority 0), so a combine runs as soon as its inputs are ready.
    """
    if split_every < 2:
        raise AnalysisInputError(f"split_every: {split_every}, expected at least 2")
    level = list(futures)
    depth = 0
    while len(level) > 1:
        depth += 1
        level = [
            client.submit(
                combine, *level[i : i + split_every], key=f"combine-{depth}-{i}-{id(level)}", priority=depth
            )
            if len(level[i : i + split_every]) > 1
            else level[i]
            for i in range(0, len(level), split_every)
        ]
    return level[0]


#: glibc malloc settings for worker processes. distributed starts workers with
#: MALLOC_TRIM_THRESHOLD_=64 KiB, which also freezes glibc's adaptive mmap threshold: then every
#: chunk-sized temporary (a few MB) is a fresh mmap whose pages fault in again, and the chunk code runs
#: 1.5-2x slower (measured here). Keeping up to 256 MiB of freed heap and serving arrays below 64 MiB
#: from it costs at most that much resident memory per worker. Give the same to an external cluster
#: through its dask config (distributed.nanny.pre-spawn-environ).
WORKER_MALLOC_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": 256 * 2**20, "MALLOC_MMAP_THRESHOLD_": 64 * 2**20}


def dashboard_address() -> str | None:
    """Where a LocalCluster serves dask's dashboard: nowhere unless asked by the environment.
    DASK_DASHBOARD=1 gives 127.0.0.1:8787; DASK_DASHBOARD=host:port gives that address."""
    value = os.environ.get("DASK_DASHBOARD", "").strip()
    if value.lower() in {"", "0", "false", "no", "off"}:
        return None
    return "127.0.0.1:8787" if value.lower() in {"1", "true", "yes", "on"} else value


def local_cluster(*, n_workers: int = 2):
    """A LocalCluster of ``n_workers`` single-threaded worker processes, set up for the chunked pass
    (malloc settings, analysis preloaded); the caller closes it."""
    from distributed import LocalCluster

    if n_workers < 1:
        raise AnalysisInputError(f"workers: {n_workers}, expected at least 1")
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_MALLOC_ENVIRON}
    dashboard = dashboard_address()
    with warnings.catch_warnings(), dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        # "Port 8787 is already in use" (a second cluster asking for the dashboard): it moves port.
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            dashboard_address=dashboard,
            # Without a dashboard the scheduler still serves /health and /metrics; on a free local port,
            # not on :8787.
            scheduler_kwargs=None if dashboard else {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            host="127.0.0.1",
            processes=True,
            silence_logs=logging.CRITICAL,  # a bad-input error is reported once, by the caller
            # Import the numeric code (scipy.optimize, ndimage: ~0.7 CPU s) while the workers start, in
            # parallel, rather than in the first task of each.
            preload=["analysis.blinking"],
        )


@contextlib.contextmanager
def dask_client(*, scheduler_address: str | None = None, n_workers: int = 2) -> Iterator:
    """A client on ``scheduler_address``, or on a new local cluster of ``n_workers`` single-threaded
    processes (closed on exit). Numeric work holds the GIL in places, so processes, not threads."""
    from distributed import Client

    if scheduler_address:
        try:
            client = Client(scheduler_address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise AnalysisInputError(f"--scheduler {scheduler_address}: cannot connect ({exc})") from exc
        try:
            yield client
        finally:
            client.close()
        return
    cluster = local_cluster(n_workers=n_workers)
    with cluster, Client(cluster) as client:
        yield client


def default_chunk_frames(info: MovieInfo, *, target_bytes: int = 64 * 2**20) -> int:
    """Frames per chunk so one chunk of raw frames is about ``target_bytes`` (64 MiB), at least 16."""
    return int(max(16, min(info.frames, target_bytes // max(info.frame_nbytes, 1))))


def compute_movie_sums(
    info: MovieInfo,
    layout: SumLayout,
    *,
    client=None,
    scheduler_address: str | None = None,
    n_workers: int = 2,
    chunk_frames: int | None = None,
    split_every: int = 2,
    progress: Callable[[int], None] | None = None,
) -> MovieSums:
    """Traces and correlation sums of the whole movie in one chunked pass on dask.distributed.

    Parameters
    ----------
    info : MovieInfo
        The movie (workers open ``info.path`` themselves: it must be readable where they run).
    layout : SumLayout
        Pixels to gather; sent to each worker once.
    client : distributed.Client, optional
        Use this client; otherwise connect to ``scheduler_address`` or start a LocalCluster of
        ``n_workers`` processes for the duration of the call.
    chunk_frames : int, optional
        Frames per task (default :func:`default_chunk_frames`).
    split_every : int
        Fan-in of the reduction tree.
    progress : callable, optional
        Called with the number of frames of each finished chunk.
    """
    if client is None:
        with dask_client(scheduler_address=scheduler_address, n_workers=n_workers) as own:
            return compute_movie_sums(
                info,
                layout,
                client=own,
                chunk_frames=chunk_frames,
                split_every=split_every,
                progress=progress,
            )
    from distributed import as_completed

    chunk = chunk_frames or default_chunk_frames(info)
    ranges = frame_ranges(info.frames, chunk)
    [layout_future] = client.scatter([layout], broadcast=True, hash=False)
    futures = [client.submit(read_chunk_sums, info, s, e, layout_future, pure=False) for s, e in ranges]
    # The correlation sums (one fixed-size set per chunk) are added in a tree on the workers; the traces
    # (frames x particles, the only part that grows with the movie) come to this process chunk by chunk
    # and are written into their place. Concatenating them up the tree instead made each worker hold two
    # or three copies of the whole traces at the top levels (+140-250 MB per worker at 24 000 frames).
    final = tree_reduce(client, futures, split_every=split_every, combine=_combine_correlations)
    traces = background = None
    for f in as_completed(futures):
        part = f.result()  # an AnalysisInputError surfaces here, with the frame range
        if traces is None:
            traces = np.empty((info.frames, part.traces.shape[1]), dtype=part.traces.dtype)
            background = np.empty((info.frames, part.background.shape[1]), dtype=part.background.dtype)
        traces[part.start : part.stop] = part.traces
        background[part.start : part.stop] = part.background
        if progress is not None:
            progress(part.stop - part.start)
        del part, f
    correlation = final.result()
    if isinstance(correlation, MovieSums):  # a movie of one chunk: no combine ran
        correlation = correlation.correlation
    del futures, final, layout_future
    return MovieSums(start=0, stop=info.frames, traces=traces, background=background, correlation=correlation)


def compute_movie_sums_threads(
    info: MovieInfo,
    layout: SumLayout,
    *,
    n_threads: int = 2,
    chunk_frames: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> MovieSums:
    """The same pass as :func:`compute_movie_sums`, in this process, on ``n_threads`` threads.

    For a one-off command line run, a LocalCluster costs more than the pass itself (starting two
    worker processes and importing scipy in each: ~5 CPU-seconds, against ~1 s for one memory-mapped
    pass over a 3 GB movie). The chunk code spends its time in numpy gathers and sums that release the
    GIL, so threads share the cores well. At most ``2 * n_threads`` chunks are in flight and finished
    ones are folded in order (correlation sums added, traces kept until one final concatenation), so
    memory stays bounded by the chunk size as on the cluster (traces excepted: they are the result).
    Results equal the cluster's up to the order of the correlation sums' additions.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    if int(n_threads) != n_threads or n_threads < 1:
        raise AnalysisInputError(f"workers: {n_threads}, expected at least 1")
    chunk = chunk_frames or default_chunk_frames(info)
    ranges = frame_ranges(info.frames, chunk)
    traces = background = corr = None
    done: dict[int, MovieSums] = {}
    next_fold = 0
    with ThreadPoolExecutor(max_workers=int(n_threads), thread_name_prefix="movie-chunk") as pool:
        pending: dict = {}
        queue = list(enumerate(ranges))
        while queue or pending:
            while queue and len(pending) < 2 * n_threads:
                k, (s, e) = queue.pop(0)
                pending[pool.submit(read_chunk_sums, info, s, e, layout)] = k
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                k = pending.pop(f)
                done[k] = f.result()  # an AnalysisInputError surfaces here, with the frame range
                if progress is not None:
                    progress(done[k].stop - done[k].start)
            while next_fold in done:
                part = done.pop(next_fold)
                if traces is None:  # written into place: no final concatenation (a second copy)
                    traces = np.empty((info.frames, part.traces.shape[1]), dtype=part.traces.dtype)
                    background = np.empty(
                        (info.frames, part.background.shape[1]), dtype=part.background.dtype
                    )
                traces[part.start : part.stop] = part.traces
                background[part.start : part.stop] = part.background
                corr = part.correlation if corr is None else combine_correlation_sums(corr, part.correlation)
                next_fold += 1
    return MovieSums(start=0, stop=info.frames, traces=traces, background=background, correlation=corr)
