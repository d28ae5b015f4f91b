"""A failed analysis names its file as it was uploaded, not by the stored file's checksum or the
worker's temporary link (issue 15 item 7): at the source (the job's error row) and, for rows
written before, when a page shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.jobs.selectors import job_counts, job_error_readable, with_input_names
from labbook.jobs.services import job_execute, job_submit
from labbook.projects.models import Project
from tests.labbook.factories import UserFactory
from tests.labbook.shared import rolled_back


@pytest.fixture(scope="module")
def _series_data(django_db_setup, django_db_blocker):
    """The series, built once for this module (tests/labbook/shared.py)."""
    with rolled_back(django_db_blocker):
        yield load_paper_series(user=UserFactory(), with_files=False).pk


@pytest.fixture
def series(_series_data, db):
    return Project.objects.get(pk=_series_data)


def _store(project, path: Path, data: bytes):
    path.write_bytes(data)
    with path.open("rb") as fh:
        return raw_file_store(project=project, fileobj=fh, original_name=path.name)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "run", "role", "name", "data", "says"),
    [
        ("blinking", "R-3Cl-BLINK", "movie", "movie 3 % Cl, day 2.tif", b"", "empty file"),
        ("blinking", "R-0Cl-BLINK", "movie", "junk.tif", b"II*\x00" + b"garbage" * 10, "TIFF"),
        ("trpl", "R-3Cl-TRPL", "decay", "decay_3pct.csv", b"a,b\n1,2\n", "no table of numbers"),
        ("xrd", "R-17Cl-XRD", "data", "scan 17 %.xrdml", b"<xml", "not well-formed XML"),
    ],
)
def test_a_failed_job_names_its_file_not_its_checksum_or_a_temporary_path(
    series, tmp_path, kind, run, role, name, data, says
):
    raw = _store(series, tmp_path / name, data)
    job = job_submit(kind=kind, files={role: raw}, run=CharacterizationRun.objects.get(code=run))
    assert job_execute(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error.startswith(f"{name}: "), job.error
    assert says in job.error
    assert raw.sha256 not in job.error and "/tmp" not in job.error and "labbook-job-" not in job.error
    assert f"failed: {name}: " in job.log  # the log line says the same


@pytest.mark.django_db
def test_rows_written_before_are_shown_with_the_files_name(series, tmp_path):
    """An error stored with a checksum or a worker's link is shown naming the file."""
    movie = _store(series, tmp_path / "old movie.tif", b"")
    job = job_submit(
        kind="blinking", files={"movie": movie}, run=CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    )
    decay = _store(series, tmp_path / "decay 0 %.csv", b"x")
    trpl = job_submit(
        kind="trpl", files={"decay": decay}, run=CharacterizationRun.objects.get(code="R-3Cl-TRPL")
    )
    AnalysisJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error=f"/srv/labbook/media/raw/{movie.sha256[:2]}/{movie.sha256}: empty file"
    )
    AnalysisJob.objects.filter(pk=trpl.pk).update(
        status=JobStatus.FAILED, error="/tmp/labbook-job-qfi5sa6b/decay.csv: no table of numbers found"
    )
    shown = {j.pk: job_error_readable(j) for j in with_input_names(AnalysisJob.objects.all())}
    assert shown[job.pk] == "old movie.tif: empty file"
    assert shown[trpl.pk] == "decay 0 %.csv: no table of numbers found"


@pytest.mark.django_db
def test_counts_by_status_in_one_query(series, django_assert_num_queries):
    run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    AnalysisJob.objects.bulk_create(
        [
            AnalysisJob(project=series, kind="blinking", run=run, input_key=str(i), status=status)
            for i, status in enumerate(["queued", "queued", "running", "failed", "succeeded"])
        ]
    )
    AnalysisJob.objects.filter(status="failed").update(finished_at=run.created_at)
    with django_assert_num_queries(1):
        counts = job_counts(AnalysisJob.objects.all())
    assert counts == {"queued": 2, "running": 1, "failed": 1}
