"""Job overhead: enqueue -> result rows, against the analysis itself, measured side by side.

For each movie, on one warm dask LocalCluster (the worker process keeps one for all its jobs):
  (a) analysis alone: ``analyze_blinking_movie`` on the file;
  (b) the whole job: ``job_submit`` + ``job_execute`` (claim, heartbeat, the same analysis, every
      result row and artifact written in one transaction), in a fresh SQLite database;
and prints (b) - (a) as the overhead and (b)/(a). Movies: the demo's four (generated) and, with
``--big``, the 6000 x 512 x 512 uint16 movie of benchmarks/blinking.py (3.1 GB, generated once
into benchmarks/data/).

    .venv/bin/python benchmarks/jobs.py            # demo movies
    .venv/bin/python benchmarks/jobs.py --big      # + the 3 GB movie (several minutes)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--big", action="store_true", help="also the 3.1 GB movie")
    p.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "data")
    p.add_argument(
        "--repeat", type=int, default=3, help="alternating runs of (a) and (b); the best is printed"
    )
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="labbook-bench-"))
    os.environ.update({"LABBOOK_VAR_DIR": str(work), "MEDIA_ROOT": str(work / "media"), "DEBUG": "0"})
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from analysis.blinking.pipeline import analyze_blinking_movie
    from labbook.characterization.models import CharacterizationRun
    from labbook.demo import DEMO_MOVIES, load_paper_series, make_demo_movie
    from labbook.files.services import raw_file_store
    from labbook.jobs import runners
    from labbook.jobs.models import AnalysisJob
    from labbook.jobs.services import job_execute, job_submit

    user = get_user_model().objects.create(username="bench")
    project = load_paper_series(user=user, with_files=False)
    client = runners.dask_client()
    movies = []
    for pct in DEMO_MOVIES:
        movies.append(
            (
                f"demo {pct:>2d} % Cl (2400x96x96)",
                make_demo_movie(work / f"demo_{pct}.tif", pct),
                CharacterizationRun.objects.get(code=f"R-{pct}Cl-BLINK"),
            )
        )
    if args.big:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from blinking import generate

        big = args.dir / "movie_6000x512x512.tif"
        if not big.exists():
            args.dir.mkdir(parents=True, exist_ok=True)
            print(f"generating {big} ...", flush=True)
            generate(big, 6000, 512, 200)
        movies.append(
            ("6000x512x512 uint16 (3.1 GB)", big, CharacterizationRun.objects.get(code="R-0Cl-BLINK"))
        )

    analyze_blinking_movie(movies[0][1], client=client, bin_time_s=0.1)  # warm the cluster
    print(f"{'movie':34s} {'size':>9s} {'(a) analysis':>13s} {'(b) job':>9s} {'overhead':>9s} {'b/a':>6s}")
    for label, path, run in movies:
        size_mb = path.stat().st_size / 2**20
        with path.open("rb") as fh:  # storing the upload is not part of the job
            raw = raw_file_store(project=project, fileobj=fh, original_name=path.name)
        a_runs, b_runs = [], []
        for _ in range(args.repeat):  # alternate, and keep the best of each (a shared, noisy machine)
            t0 = time.perf_counter()
            analyze_blinking_movie(path, client=client, bin_time_s=0.1)
            a_runs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            job = job_submit(
                kind="blinking", files={"movie": raw}, run=run, parameters={"bin_time_s": 0.1}, force=True
            )
            status = job_execute(job.pk)
            b_runs.append(time.perf_counter() - t0)
            assert status == "succeeded", AnalysisJob.objects.get(pk=job.pk).log
        a, b = min(a_runs), min(b_runs)
        print(
            f"{label:34s} {size_mb:7.0f}MB {a:12.2f}s {b:8.2f}s {b - a:8.2f}s {b / a:6.2f}   "
            f"(a) {' '.join(f'{x:.2f}' for x in a_runs)}  (b) {' '.join(f'{x:.2f}' for x in b_runs)}",
            flush=True,
        )
    runners.close_dask_client()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
