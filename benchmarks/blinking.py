"""Benchmark of the chunked blinking pipeline against a streaming read and a plain numpy implementation.

    .venv/bin/python benchmarks/blinking.py                      # 6000 x 512 x 512 (3.1 GB) and 3000 frames
    .venv/bin/python benchmarks/blinking.py --frames 600 --size 256   # quick check
    .venv/bin/python benchmarks/blinking.py --external            # also on `dask scheduler` + 2 `dask worker`
    .venv/bin/python benchmarks/blinking.py --other-frames 24000 --skip-plain   # (e) on 24 000 frames (12.6 GB)

Generates the movies under ``benchmarks/data/`` (git-ignored; reused when present), then runs every
measurement in a fresh subprocess so each peak RSS (VmHWM, from /proc) belongs to that measurement alone:

(a) one streaming pass: sum of every frame through a memory map, chunk by chunk;
(b) the full pipeline (``analyze_blinking_movie``: detection, one chunked pass on dask, thresholds, dwell
    times, per-particle and pooled fits, classes, correlation maps), LocalCluster of 2 single-threaded
    worker processes, cluster start-up included;
(c) b / a;
(d) peak RSS of the driver and of each worker, and their sum;
(e) (a), (b), (d), (g) again on a movie of half the length, or of ``--other-frames`` (memory must not grow
    with length, time should grow linearly);
(f) a plain implementation: load the whole movie with tifffile, mean projection, the same detection,
    traces and np.corrcoef per particle, the same per-trace analysis; and the speed-up b vs f.

The file is in the page cache for every measurement (it was just written, or (a) ran first): these are
compute and memory-traffic figures, not disk figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _vmhwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size of a process (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def generate(path: Path, frames: int, size: int, n_particles: int, seed: int = 1) -> None:
    from analysis import simulate

    if path.exists():
        from analysis.movie import open_movie

        try:
            if open_movie(path).shape == (frames, size, size):
                return
        except Exception:
            pass
    spacing = max(12.0, (size - 16) / np.ceil(np.sqrt(n_particles)))
    movie = simulate.simulate_movie(
        frames,
        (size, size),
        n_particles=n_particles,
        kinds=("qTSB", "qTSB", "BB", "PEB", "MSB", "BBB"),
        edge_px=(3, 5, 7),
        nanodomains=(1, 1, 2),
        spacing_px=spacing,
        seed=seed,
    )
    tmp = path.with_suffix(".part.tif")
    t0 = time.perf_counter()
    simulate.write_movie_tiff(tmp, movie, chunk_frames=50)
    os.replace(tmp, path)
    print(
        f"generated {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )


# --- phases, each run in its own process ---------------------------------------------------------------


def _cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process: unlike wall time, not inflated when
    other jobs on the machine take the cores."""
    t = os.times()
    return t.user + t.system


def phase_sum(path: str) -> dict:
    from analysis.movie import frame_ranges, open_movie, read_frames

    c0 = _cpu_s()
    t0 = time.perf_counter()
    info = open_movie(path)
    total = 0
    for s, e in frame_ranges(info.frames, 128):
        frames = read_frames(info, s, e)
        total += int(frames.sum(dtype=np.uint64))
        del frames
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": _cpu_s() - c0,
        "driver_mb": _vmhwm_mb(),
        "workers_mb": [],
        "check": total,
    }


def phase_pipeline(path: str, scheduler: str | None, workers: int) -> dict:
    from analysis.blinking import analyze_blinking_movie
    from analysis.chunked import dask_client

    t0 = time.perf_counter()
    with dask_client(scheduler_address=scheduler, n_workers=workers) as client:
        t1 = time.perf_counter()
        c0, w0 = _cpu_s(), client.run(_cpu_s)
        result = analyze_blinking_movie(path, client=client)
        seconds = time.perf_counter() - t0
        cpu = _cpu_s() - c0 + sum(v - w0[k] for k, v in client.run(_cpu_s).items())
        workers_mb = sorted(client.run(_vmhwm_mb).values())
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "cluster_start_s": t1 - t0,
        "driver_mb": _vmhwm_mb(),
        "workers_mb": workers_mb,
        "particles": result.particles.n,
        "stages_s": result.timings_s,
        "alpha_on": result.population_on.alpha,
        "alpha_off": result.population_off.alpha,
    }


def phase_cold(path: str, workers: int) -> dict:
    """The one-off command line, from a fresh interpreter: imports, threads in one process, JSON out."""
    import resource
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "analysis", "blinking", path, "--out", str(out), "--no-progress",
             "--workers", str(workers)],
            check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        result = json.loads(out.read_text())
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "driver_mb": usage.ru_maxrss / 1024,
        "workers_mb": [],
        "particles": len(result["particles"]),
        "stages_s": result["timings_s"],
    }


def phase_plain(path: str) -> dict:
    """Load everything, then per-particle numpy: what a script written without chunking does."""
    import tifffile

    from analysis.blinking import analyze_trace, detect_particles
    from analysis.movie import open_movie

    t0 = time.perf_counter()
    info = open_movie(path)
    movie = tifffile.imread(path)  # (T, H, W) in memory
    projection = movie.mean(axis=0)
    particles = detect_particles(projection, pixel_size_um=info.pixel_size_um)
    flat = movie.reshape(movie.shape[0], -1)
    r_mean = []
    analyses = []
    for i in range(particles.n):
        roi = flat[:, particles.roi_flat[particles.roi_owner == i]].astype(float)
        bg = flat[:, particles.annulus_flat[particles.annulus_owner == i]].astype(float).mean(axis=1)
        trace = roi.sum(axis=1) - roi.shape[1] * bg
        pixels = roi - bg[:, None]
        r = np.corrcoef(np.vstack([pixels.T, trace]))[-1, :-1]
        r_mean.append(np.nanmean(r))
        analyses.append(analyze_trace(trace, info.bin_time_s or 0.1))
    return {
        "seconds": time.perf_counter() - t0,
        "driver_mb": _vmhwm_mb(),
        "workers_mb": [],
        "particles": particles.n,
    }


def _run_phase(*args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, __file__, "_phase", *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"phase {args[0]} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- external scheduler -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_pre_spawn() -> dict:
    import dask
    import distributed  # noqa: F401  (loads distributed's defaults into dask.config)

    return dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))


def start_external(n_workers: int = 2):
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes on 127.0.0.1; returns (address, procs)."""
    import tempfile

    from analysis.chunked import WORKER_MALLOC_ENVIRON

    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    port = _free_port()
    # The workers get the same malloc settings as our LocalCluster, through their dask config.
    config_dir = tempfile.mkdtemp(prefix="dask-config-")
    lines = ["distributed:", "  nanny:", "    pre-spawn-environ:"]
    lines += [f"      {k}: {v}" for k, v in {**_default_pre_spawn(), **WORKER_MALLOC_ENVIRON}.items()]
    Path(config_dir, "dask.yaml").write_text("\n".join(lines) + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), DASK_CONFIG=config_dir)
    addr = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    for k in range(n_workers):
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    addr,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--name",
                    f"w{k + 1}",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    from distributed import Client

    with Client(addr, timeout="30s") as c:
        c.wait_for_workers(n_workers, timeout=60)
        envs = c.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    print(f"(external) workers' MALLOC_TRIM_THRESHOLD_: {sorted(envs.values())}")
    return addr, procs


def stop_external(procs) -> None:
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


# --- report ---------------------------------------------------------------------------------------------


def _rss(m: dict) -> str:
    total = m["driver_mb"] + sum(m["workers_mb"])
    workers = ", ".join(f"{w:.0f}" for w in m["workers_mb"]) or "-"
    return f"driver {m['driver_mb']:.0f} MB, workers [{workers}] MB, total {total:.0f} MB"


def _best(runs: list[dict]) -> dict:
    """The fastest of repeated runs (the machine is shared: the minimum is the least disturbed), with the
    highest peak RSS of all of them and every time for the record."""
    best = dict(min(runs, key=lambda m: m["seconds"]))
    best["driver_mb"] = max(m["driver_mb"] for m in runs)
    best["workers_mb"] = [max(ws) for ws in zip(*(m["workers_mb"] for m in runs), strict=True)]
    best["all_seconds"] = [round(m["seconds"], 2) for m in runs]
    return best


def measure(path: Path, args, label: str) -> dict:
    _run_phase("sum", str(path))  # warm the page cache
    a = _best([_run_phase("sum", str(path)) for _ in range(args.repeat)])
    b = _best([_run_phase("pipeline", str(path), "--workers", str(args.workers)) for _ in range(args.repeat)])
    print(
        f"[{label}] (a) streaming memmap sum pass : {a['seconds']:.2f} s (runs {a['all_seconds']})   peak RSS {_rss(a)}"
    )
    warm = b["seconds"] - b["cluster_start_s"]
    print(
        f"[{label}] (b) full pipeline (LocalCluster {args.workers}x1 thread): {b['seconds']:.2f} s including "
        f"{b['cluster_start_s']:.2f} s cluster start-up, {warm:.2f} s on a running cluster; "
        f"{b['particles']} particles, pooled alpha_on {b['alpha_on']:.3f}, alpha_off {b['alpha_off']:.3f} "
        f"(runs {b['all_seconds']})"
    )
    print(
        f"[{label}] (c) b/a = {b['seconds'] / a['seconds']:.2f} with start-up, {warm / a['seconds']:.2f} on a "
        "running cluster   (target <= 3)"
    )
    print(
        f"[{label}]     CPU seconds (driver + workers, start-up excluded): pipeline {b['cpu_s']:.2f} / sum pass "
        f"{a['cpu_s']:.2f} = {b['cpu_s'] / a['cpu_s']:.2f}   (wall-clock ratios depend on the other load)"
    )
    print(f"[{label}] (d) peak RSS pipeline: {_rss(b)}   (target <= 1500 MB)")
    g = _best([_run_phase("cold", str(path), "--workers", str(args.workers)) for _ in range(args.repeat)])
    print(
        f"[{label}] (g) cold command line (python -m analysis blinking, {args.workers} threads in one process, "
        f"imports included): {g['seconds']:.2f} s (runs {g['all_seconds']}), {g['cpu_s']:.2f} CPU s, "
        f"g/a = {g['seconds'] / a['seconds']:.2f}   (target <= 3)   peak RSS {g['driver_mb']:.0f} MB"
    )
    stages = ", ".join(f"{k} {v:.2f}" for k, v in g["stages_s"].items())
    print(f"[{label}]     command-line stages (s): {stages}")
    stages = ", ".join(f"{k} {v:.2f}" for k, v in b["stages_s"].items())
    print(f"[{label}]     pipeline stages (s): {stages}")
    return {"a": a, "b": b, "g": g}


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "_phase":
        p = argparse.ArgumentParser()
        p.add_argument("phase")
        p.add_argument("name")
        p.add_argument("path")
        p.add_argument("--scheduler")
        p.add_argument("--workers", type=int, default=2)
        a = p.parse_args(argv)
        if a.name == "sum":
            res = phase_sum(a.path)
        elif a.name == "pipeline":
            res = phase_pipeline(a.path, a.scheduler, a.workers)
        elif a.name == "cold":
            res = phase_cold(a.path, a.workers)
        else:
            res = phase_plain(a.path)
        print(json.dumps(res))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=6000)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--particles", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "data")
    p.add_argument("--repeat", type=int, default=3, help="runs of (a) and (b); the fastest is reported")
    p.add_argument("--skip-plain", action="store_true")
    p.add_argument("--skip-half", action="store_true", help="no (e)")
    p.add_argument(
        "--other-frames",
        type=int,
        help="(e) on a movie of this many frames instead of half (e.g. 24000: 12.6 GB at 512 x 512)",
    )
    p.add_argument("--external", action="store_true", help="also run (b) on dask scheduler + workers")
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    other_frames = args.other_frames or args.frames // 2
    need = (args.frames + (0 if args.skip_half else other_frames)) * args.size**2 * 2
    free = shutil.disk_usage(args.dir).free
    if need > 0.8 * free:
        raise SystemExit(f"need {need / 1e9:.1f} GB in {args.dir}, {free / 1e9:.1f} GB free")
    full = args.dir / f"movie_{args.frames}x{args.size}x{args.size}.tif"
    generate(full, args.frames, args.size, args.particles)
    half = args.dir / f"movie_{other_frames}x{args.size}x{args.size}.tif"
    if not args.skip_half:
        generate(half, other_frames, args.size, args.particles)
    print(
        f"machine: {os.cpu_count()} cores; movie {full.name} {full.stat().st_size / 1e9:.2f} GB; warm page cache"
    )
    res = measure(full, args, f"{args.frames} frames")
    if not args.skip_half:
        print(f"(e) the same at {other_frames} frames:")
        res_half = measure(half, args, f"{other_frames} frames")
        grow = sum([res_half["b"]["driver_mb"], *res_half["b"]["workers_mb"]]) / sum(
            [res["b"]["driver_mb"], *res["b"]["workers_mb"]]
        )
        linear = other_frames / args.frames
        print(
            f"(e) pipeline: peak RSS ratio {other_frames} / {args.frames} frames = {grow:.2f}   (flat = 1), "
            f"time ratio {res_half['b']['seconds'] / res['b']['seconds']:.2f}, sum pass "
            f"{res_half['a']['seconds'] / res['a']['seconds']:.2f}   (linear = {linear:g})"
        )
        print(
            f"(e) cold command line: peak RSS ratio {res_half['g']['driver_mb'] / res['g']['driver_mb']:.2f}, "
            f"time ratio {res_half['g']['seconds'] / res['g']['seconds']:.2f}   (flat = 1, linear = {linear:g})"
        )
    if not args.skip_plain:
        f = _run_phase("plain", str(full))
        print(
            f"(f) plain numpy (load all, np.corrcoef per particle): {f['seconds']:.2f} s   peak RSS {_rss(f)}"
        )
        b = res["b"]
        print(
            f"(f) speed-up plain / pipeline = {f['seconds'] / b['seconds']:.2f}x with start-up, "
            f"{f['seconds'] / (b['seconds'] - b['cluster_start_s']):.2f}x on a running cluster   (target >= 4)"
        )
    if args.external:
        addr, procs = start_external(args.workers)
        try:
            x = _run_phase("pipeline", str(full), "--scheduler", addr)
        finally:
            stop_external(procs)
        print(
            f"(external) pipeline on dask scheduler + {args.workers} dask worker processes at {addr}: "
            f"{x['seconds']:.2f} s   b/a = {x['seconds'] / res['a']['seconds']:.2f}   peak RSS {_rss(x)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
