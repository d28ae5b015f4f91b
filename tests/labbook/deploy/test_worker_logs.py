"""The job worker is quiet: one line per job on stdout, nothing from dask on stderr (no INFO lines,
no dashboard, no traceback at a clean shutdown), on the suite's database (SQLite or PostgreSQL)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from analysis import simulate
from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.jobs.services import job_submit
from tests.labbook.factories import UserFactory

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _queue_a_movie(tmp_path: Path) -> AnalysisJob:
    project = load_paper_series(user=UserFactory(), with_files=False)
    path = tmp_path / "movie.tif"
    movie = simulate.simulate_movie(
        600, (48, 48), n_particles=4, kinds=("qTSB", "BB"), edge_px=(3,), spacing_px=8, seed=4,
        alpha_on=1.0, alpha_off=1.0, mu_on_per_s=0.3, mu_off_per_s=0.3,
    )  # fmt: skip
    simulate.write_movie_tiff(path, movie)
    with path.open("rb") as fh:
        raw = raw_file_store(project=project, fileobj=fh, original_name=path.name)
    return job_submit(
        kind="blinking", files={"movie": raw}, run=CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    )


def _worker(*args: str, **env) -> subprocess.Popen:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"LOG_LEVEL", "DASK_LOG_LEVEL", "DASK_DASHBOARD"}
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "jobs_worker", "--interval", "0.2", *args],
        cwd=ROOT,
        env={
            **clean,
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "DEBUG": "0",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_quiet(err: str) -> None:
    assert "Traceback" not in err and "CommClosedError" not in err, err
    assert "INFO" not in err and "dashboard" not in err.lower() and "Scheduler at" not in err, err


def test_batch_worker_runs_a_movie_with_one_line_and_nothing_on_stderr(tmp_path):
    job = _queue_a_movie(tmp_path)
    proc = _worker("--batch")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.log
    assert f"job {job.pk} (blinking): succeeded in" in out, out
    assert "stopped after 1 jobs (1 succeeded)" in out, out
    assert len(out.splitlines()) == 2, out
    _assert_quiet(err)


def test_a_stopped_worker_closes_its_cluster_without_a_traceback(tmp_path):
    """SIGTERM after a movie (the LocalCluster is up): a graceful stop, one warning line, nothing more;
    and no dask dashboard on :8787 while it ran."""
    job = _queue_a_movie(tmp_path)
    proc = _worker()
    try:
        end = time.monotonic() + 180
        while AnalysisJob.objects.get(pk=job.pk).status != JobStatus.SUCCEEDED:
            assert proc.poll() is None and time.monotonic() < end, "the job did not succeed"
            time.sleep(0.3)
        listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
        assert not [
            line for line in listening.splitlines() if f"pid={proc.pid}," in line and ":8787 " in line
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert [line for line in err.splitlines() if line.strip()] == [
        "WARNING django_tasks_db: Received Terminated - shutting down gracefully... (press Ctrl+C again to force)"
    ], err
    _assert_quiet(err)
