"""Many movies at once: throughput of 1, 2 and 4 concurrent blinking analyses on two dask workers.

    .venv/bin/python benchmarks/throughput.py                 # 4 movies of 2000 x 512 x 512 (4.2 GB, generated once)
    .venv/bin/python benchmarks/throughput.py --frames 600    # quick look
    .venv/bin/python benchmarks/throughput.py --skip-jobs     # the analysis level only (no PostgreSQL)

Generates ``--movies`` different movies (benchmarks/data/throughput_*.tif, git-ignored, reused), then
measures, for 1, 2 and 4 movies at a time (each batch: the same total of ``--movies`` movies, so a
throughput is movies per minute over the whole batch):

(A) analysis level, ``analyze_blinking_movie`` on
    (A1) one LocalCluster of 2 single-threaded worker processes, the movies submitted concurrently by
         threads of one process sharing its client (one job worker process running several movies);
    (A2) an external ``dask scheduler`` with 2 ``dask worker`` processes, each movie analysed by its own
         client process (several job workers, possibly on other machines, sharing one scheduler);
(B) the service: ``manage.py jobs_worker`` processes (1, 2, 4) on one PostgreSQL database, all with
    DASK_SCHEDULER_ADDRESS of the same external scheduler (2 dask workers); the movies are stored as raw
    files, the jobs submitted at once with ``job_submit``, and the clock stops when the last job has
    written its result rows. This is how a lab scales: more job workers, one scheduler.

The machine has 2 cores: the dask workers use both, so throughput can only grow with concurrency while
one movie leaves the cores idle (detection, reading the sample frames, the driver's per-trace step,
database writes). The table says where it saturates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CONCURRENCY = (1, 2, 4)


def generate_movies(directory: Path, n: int, frames: int, size: int) -> list[Path]:
    from blinking import generate  # benchmarks/blinking.py: the 200-particle benchmark movie

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = directory / f"throughput_{i}_{frames}x{size}x{size}.tif"
        generate(path, frames, size, 200, seed=11 + i)
        paths.append(path)
    return paths


def _batches(paths: list[Path], concurrency: int) -> list[list[Path]]:
    return [paths[i : i + concurrency] for i in range(0, len(paths), concurrency)]


def _row(
    label: str, concurrency: int, wall: float, latencies: list[float], n: int, base: float | None
) -> str:
    per_min = 60 * n / wall
    gain = f"{per_min / base:5.2f}x" if base else "   1x"
    return (
        f"{label:44s} {concurrency:>2d} at once: {wall:6.1f} s for {n} movies, {per_min:5.1f} movies/min "
        f"({gain} of one at a time), latency per movie median {statistics.median(latencies):5.1f} s"
    )


# --- (A1) one process, one LocalCluster, threads -------------------------------------------------------


def measure_threads(client, paths: list[Path], concurrency: int) -> tuple[float, list[float]]:
    from analysis.blinking import analyze_blinking_movie

    latencies: list[float] = []
    errors: list[BaseException] = []
    t0 = time.perf_counter()
    for batch in _batches(paths, concurrency):

        def one(path):
            start = time.perf_counter()
            try:
                analyze_blinking_movie(path, client=client)
            except BaseException as exc:  # reported below, after the batch
                errors.append(exc)
            latencies.append(time.perf_counter() - start)

        threads = [threading.Thread(target=one, args=(p,)) for p in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0, latencies


# --- (A2) one client process per movie, external scheduler ---------------------------------------------

_CLIENT = """
import sys, time
from analysis.blinking import analyze_blinking_movie
t = time.perf_counter()
analyze_blinking_movie(sys.argv[1], scheduler_address=sys.argv[2])
print(time.perf_counter() - t)
"""


def measure_processes(address: str, paths: list[Path], concurrency: int) -> tuple[float, list[float]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    latencies: list[float] = []
    t0 = time.perf_counter()
    for batch in _batches(paths, concurrency):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _CLIENT, str(p), address], stdout=subprocess.PIPE, text=True, env=env
            )
            for p in batch
        ]
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"client process failed ({p.returncode})")
            latencies.append(float(out.strip().splitlines()[-1]))  # includes connecting: a job worker's cost
    return time.perf_counter() - t0, latencies


# --- (B) the service: job workers on PostgreSQL sharing one scheduler ----------------------------------


def _django(database_url: str, media: Path) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": str(media),
            "LABBOOK_VAR_DIR": str(media.parent),
            "DEBUG": "0",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def measure_jobs(
    address: str, paths: list[Path], database_url: str, work: Path
) -> list[tuple[int, float, list[float]]]:
    _django(database_url, work / "media")
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from labbook.characterization.models import CharacterizationRun
    from labbook.demo import load_paper_series
    from labbook.files.services import raw_file_store
    from labbook.jobs.models import AnalysisJob, JobStatus, WorkerHeartbeat
    from labbook.jobs.services import job_submit, workers_alive

    user = get_user_model().objects.create(username="bench")
    project = load_paper_series(user=user, with_files=False)
    run = CharacterizationRun.objects.get(code="R-0Cl-BLINK")
    raws = []
    for path in paths:
        with path.open("rb") as fh:
            raws.append(raw_file_store(project=project, fileobj=fh, original_name=path.name))
    env = dict(os.environ, PYTHONPATH=str(ROOT), DASK_SCHEDULER_ADDRESS=address)
    results = []
    for concurrency in CONCURRENCY:
        WorkerHeartbeat.objects.all().delete()
        workers = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "jobs_worker", "-v", "0"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(concurrency)
        ]
        try:
            deadline = time.monotonic() + 120
            while workers_alive() < concurrency:
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    raise SystemExit("job workers did not start")
                time.sleep(0.2)
            # each worker warms its client once (connecting to the scheduler) with a first job
            t0 = time.perf_counter()
            with transaction.atomic():
                jobs = [
                    job_submit(kind="blinking", files={"movie": raw}, run=run, parameters={"bin_time_s": 0.1}, force=True)
                    for raw in raws
                ]  # fmt: skip
            ids = [j.pk for j in jobs]
            deadline = time.monotonic() + 1800
            while AnalysisJob.objects.filter(pk__in=ids, finished_at__isnull=True).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("jobs did not finish in 30 minutes")
                time.sleep(0.1)
            wall = time.perf_counter() - t0
            done = list(
                AnalysisJob.objects.filter(pk__in=ids).values("status", "started_at", "finished_at", "log")
            )
            failed = [d for d in done if d["status"] != JobStatus.SUCCEEDED]
            if failed:
                raise SystemExit(f"{len(failed)} job(s) failed: {failed[0]['log'][-500:]}")
            latencies = [(d["finished_at"] - d["started_at"]).total_seconds() for d in done]
            results.append((concurrency, wall, latencies))
        finally:
            for w in workers:
                w.send_signal(signal.SIGINT)
            for w in workers:
                try:
                    w.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    w.kill()
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--movies", type=int, default=4)
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "data")
    p.add_argument("--skip-jobs", action="store_true", help="no (B): the analysis level only")
    p.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/labbook_throughput",
        help="(B) drops and re-creates this PostgreSQL database",
    )
    args = p.parse_args()

    from blinking import start_external, stop_external

    from analysis.chunked import dask_client

    paths = generate_movies(args.dir, args.movies, args.frames, args.size)
    gb = sum(q.stat().st_size for q in paths) / 1e9
    print(
        f"machine: {os.cpu_count()} cores; {len(paths)} movies of {args.frames} x {args.size} x {args.size} ({gb:.1f} GB)"
    )

    with dask_client(n_workers=2) as client:
        from analysis.blinking import analyze_blinking_movie

        analyze_blinking_movie(paths[0], client=client)  # warm: imports and the workers' first tasks
        base = None
        for c in CONCURRENCY:
            wall, lat = measure_threads(client, paths, c)
            base = base or 60 * len(paths) / wall
            print(_row("(A1) LocalCluster 2 workers, threads", c, wall, lat, len(paths), base), flush=True)

    address, procs = start_external(2)
    try:
        subprocess.run(
            [sys.executable, "-c", _CLIENT, str(paths[0]), address],
            env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        base = None
        for c in CONCURRENCY:
            wall, lat = measure_processes(address, paths, c)
            base = base or 60 * len(paths) / wall
            print(
                _row("(A2) external scheduler 2 workers, processes", c, wall, lat, len(paths), base),
                flush=True,
            )
        if not args.skip_jobs:
            work = Path(tempfile.mkdtemp(prefix="labbook-throughput-"))
            try:
                base = None
                for c, wall, lat in measure_jobs(address, paths, args.database_url, work):
                    base = base or 60 * len(paths) / wall
                    print(
                        _row("(B) jobs_worker processes, one scheduler", c, wall, lat, len(paths), base),
                        flush=True,
                    )
            finally:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        stop_external(procs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
