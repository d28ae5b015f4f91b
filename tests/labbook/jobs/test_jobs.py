"""Analysis jobs: happy path, idempotence, bad input and faults, with a real LocalCluster and the
real worker process (``manage.py jobs_worker``) on the test database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from analysis import simulate
from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.jobs.services import job_execute, job_submit, jobs_requeue_stale
from labbook.projects.models import Project
from labbook.results.models import BlinkingAnalysis, Particle
from tests.labbook.factories import UserFactory
from tests.labbook.shared import rolled_back

ROOT = Path(__file__).resolve().parents[3]


def _movie(path: Path, frames: int = 600, seed: int = 4) -> Path:
    mv = simulate.simulate_movie(
        frames,
        (48, 48),
        n_particles=4,
        kinds=("qTSB", "BB"),
        edge_px=(3,),
        spacing_px=8,
        seed=seed,
        alpha_on=1.0,
        alpha_off=1.0,
        mu_on_per_s=0.3,
        mu_off_per_s=0.3,
    )
    simulate.write_movie_tiff(path, mv)
    return path


def _store(project, path: Path):
    with path.open("rb") as fh:
        return raw_file_store(project=project, fileobj=fh, original_name=path.name)


@pytest.fixture(scope="module")
def _series_data(django_db_setup, django_db_blocker):
    """The series, built once for this module's non-transactional tests (tests/labbook/shared.py)."""
    with rolled_back(django_db_blocker):
        yield load_paper_series(user=UserFactory(), with_files=False).pk


@pytest.fixture
def series(_series_data, db):
    return Project.objects.get(pk=_series_data)


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _worker(*args: str, stale_after: float = 60, heartbeat: float = 5) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "JOB_STALE_AFTER_S": str(stale_after),
        "JOB_HEARTBEAT_S": str(heartbeat),
        "DEBUG": "0",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "jobs_worker", "--interval", "0.2", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# --- in-process: submission rules ------------------------------------------------------------------
@pytest.mark.django_db
class TestSubmission:
    def test_parameters_default_from_the_record_and_bad_ones_are_refused(self, series, tmp_path):
        run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
        raw = _store(series, _movie(tmp_path / "m.tif"))
        job = job_submit(kind="blinking", files={"movie": raw}, run=run)
        assert job.parameters["bin_time_s"] == pytest.approx(0.1)  # the run's 100 ms exposure
        with pytest.raises(ValidationError, match="must be positive"):
            job_submit(kind="blinking", files={"movie": raw}, run=run, parameters={"bin_time_s": "-0.1 s"})
        with pytest.raises(ValidationError, match="expected a time"):
            job_submit(kind="blinking", files={"movie": raw}, run=run, parameters={"bin_time_s": "5 mg"})
        with pytest.raises(ValidationError, match="unknown blinking parameters"):
            job_submit(kind="blinking", files={"movie": raw}, run=run, parameters={"colour": "red"})
        with pytest.raises(ValidationError, match="needs a file for movie"):
            job_submit(kind="blinking", files={}, run=run)
        with pytest.raises(ValidationError, match="unknown analysis"):
            job_submit(kind="astrology", files={"movie": raw}, run=run)
        assert AnalysisJob.objects.count() == 1

    def test_same_inputs_reuse_the_job_force_or_new_parameters_make_a_new_one(self, series, tmp_path):
        run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
        raw = _store(series, _movie(tmp_path / "m.tif"))
        a = job_submit(kind="blinking", files={"movie": raw}, run=run)
        assert job_submit(kind="blinking", files={"movie": raw}, run=run).pk == a.pk
        b = job_submit(kind="blinking", files={"movie": raw}, run=run, force=True)
        c = job_submit(kind="blinking", files={"movie": raw}, run=run, parameters={"threshold_fraction": 0.4})
        assert len({a.pk, b.pk, c.pk}) == 3 and a.input_key == b.input_key != c.input_key


# --- in-process execution with a real LocalCluster ----------------------------------------------------
@pytest.mark.django_db
@pytest.mark.slow
def test_blinking_job_writes_queryable_rows_in_one_go_and_is_not_repeated(series, tmp_path):
    run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    raw = _store(series, _movie(tmp_path / "m.tif"))
    job = job_submit(kind="blinking", files={"movie": raw}, run=run)
    assert job_execute(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert (
        job.progress == 1.0
        and job.attempts == 1
        and job.analysis_version
        and job.scheduler.startswith("tcp://")
    )
    analysis = BlinkingAnalysis.objects.get(job=job)
    assert analysis.n_particles == Particle.objects.filter(analysis=analysis).count() >= 3
    assert analysis.frames == 600 and analysis.bin_time.to("s").magnitude == pytest.approx(0.1)
    # queries across the lineage run in the database
    mild = Particle.objects.filter(
        analysis__run__sample__treatment__cl_to_i__gte="3 %",
        analysis__run__sample__treatment__cl_to_i__lte="4 %",
    )
    assert mild.count() == analysis.n_particles
    names = set(job.artifacts.values_list("name", flat=True))
    assert {"traces", "correlation_map"} <= names
    traces = job.artifacts.get(name="traces").load()
    assert traces.shape == (600, analysis.n_particles)
    assert job.artifacts.get(name="correlation_map").preview_name.endswith(".png")
    # executing again (a duplicate task) does nothing
    assert job_execute(job.pk) == JobStatus.SUCCEEDED
    assert BlinkingAnalysis.objects.filter(job=job).count() == 1


@pytest.mark.django_db
def test_a_bad_file_fails_its_job_with_a_readable_message_and_writes_nothing(series, tmp_path):
    run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    bad = tmp_path / "truncated.tif"
    data = _movie(tmp_path / "m.tif").read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    job = job_submit(kind="blinking", files={"movie": _store(series, bad)}, run=run)
    assert job_execute(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert "truncated" in job.error.lower() or "corrupt" in job.error.lower(), job.error
    assert "Traceback" not in job.error
    assert not BlinkingAnalysis.objects.exists() and not job.artifacts.exists()


@pytest.mark.django_db
def test_instrument_jobs_store_their_numbers(series):
    from labbook.demo import DEMO_FILES
    from labbook.results.models import LifetimeFit, XRDResult

    run = CharacterizationRun.objects.get(code="R-3Cl-TRPL")
    decay = _store(series, DEMO_FILES / "trpl_3pct_cl.csv")
    irf = _store(series, DEMO_FILES / "trpl_irf.csv")
    job = job_submit(kind="trpl", files={"decay": decay, "irf": irf}, run=run)
    assert job.parameters["rep_rate_hz"] == 1e6  # from the run's 1 MHz
    assert job_execute(job.pk) == JobStatus.SUCCEEDED, AnalysisJob.objects.get(pk=job.pk).log
    fit = LifetimeFit.objects.get(job=job)
    assert fit.tau_long.to("ns").magnitude == pytest.approx(138, rel=0.05)  # generated with 138 ns
    xrd_run = CharacterizationRun.objects.get(code="R-17Cl-XRD")
    xjob = job_submit(
        kind="xrd", files={"data": _store(series, DEMO_FILES / "xrd_17pct_cl.xrdml")}, run=xrd_run
    )
    assert job_execute(xjob.pk) == JobStatus.SUCCEEDED
    assert XRDResult.objects.get(job=xjob).mapbcl3_detected


# --- the real worker process ------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_real_worker_runs_queued_jobs_and_a_bad_one_does_not_stop_the_others(tmp_path):
    project = load_paper_series(user=UserFactory(), with_files=False)
    run = CharacterizationRun.objects.get(code="R-0Cl-BLINK")
    good = job_submit(kind="blinking", files={"movie": _store(project, _movie(tmp_path / "m.tif"))}, run=run)
    bad_path = tmp_path / "empty.tif"
    bad_path.write_bytes(b"")
    bad = job_submit(
        kind="blinking",
        files={"movie": _store(project, bad_path)},
        run=CharacterizationRun.objects.get(code="R-3Cl-BLINK"),
    )
    proc = _worker("--batch")
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == JobStatus.SUCCEEDED, good.log
    assert bad.status == JobStatus.FAILED and "empty" in bad.error.lower(), bad.error
    assert BlinkingAnalysis.objects.get(job=good).n_particles >= 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_it_resumable_with_the_same_result(tmp_path):
    project = load_paper_series(user=UserFactory(), with_files=False)
    run = CharacterizationRun.objects.get(code="R-0Cl-BLINK")
    raw = _store(project, _movie(tmp_path / "long.tif", frames=4000, seed=9))
    job = job_submit(kind="blinking", files={"movie": raw}, run=run, parameters={"chunk_frames": 100})
    first = _worker(stale_after=3, heartbeat=0.5)
    try:
        _wait(
            lambda: AnalysisJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, progress__gt=0).exists(),
            120,
            "the job to be running",
        )
        os.kill(first.pid, signal.SIGKILL)  # no chance to clean up: the job row stays "running"
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.progress < 1
    second = _worker("--sweep-interval", "1", stale_after=3, heartbeat=0.5)
    try:
        _wait(
            lambda: AnalysisJob.objects.get(pk=job.pk).status in (JobStatus.SUCCEEDED, JobStatus.FAILED),
            240,
            "the re-queued job to finish",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.log
    assert job.attempts == 2 and "re-queued" in job.log
    # the same result as an uninterrupted run of the same input
    reference = job_submit(
        kind="blinking", files={"movie": raw}, run=run, parameters={"chunk_frames": 100}, force=True
    )
    assert job_execute(reference.pk) == JobStatus.SUCCEEDED
    got = BlinkingAnalysis.objects.get(job=job)
    want = BlinkingAnalysis.objects.get(job=reference)
    assert got.n_particles == want.n_particles and got.on_alpha == pytest.approx(want.on_alpha, rel=1e-12)
    a = np.array(Particle.objects.filter(analysis=got).values_list("fraction_on", "n_on", "n_off"))
    b = np.array(Particle.objects.filter(analysis=want).values_list("fraction_on", "n_on", "n_off"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.django_db
def test_the_sweep_requeues_stale_jobs_and_gives_up_after_max_attempts(series, tmp_path, settings):
    from django.utils import timezone

    settings.JOB_STALE_AFTER_S = 10
    run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    job = job_submit(kind="blinking", files={"movie": _store(series, _movie(tmp_path / "m.tif"))}, run=run)
    old = timezone.now() - timezone.timedelta(seconds=60)
    AnalysisJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=old, attempts=1)
    assert jobs_requeue_stale() == [job.pk]
    assert AnalysisJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
    AnalysisJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=old, attempts=3)
    assert jobs_requeue_stale() == []
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "giving up" in job.error


@pytest.mark.django_db
def test_no_new_analysis_of_a_frozen_project(series, tmp_path):
    from django.utils import timezone

    from labbook.projects.models import Project, ProjectFrozen

    run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    raw = _store(series, _movie(tmp_path / "m.tif"))
    Project.objects.filter(pk=series.pk).update(frozen_at=timezone.now())
    with pytest.raises(ProjectFrozen, match="frozen"):
        job_submit(kind="blinking", files={"movie": raw}, run=run)
    assert not AnalysisJob.objects.exists()
