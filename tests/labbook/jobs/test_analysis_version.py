"""A result is reused only for the analysis code that made it: the job key holds analysis.__version__."""

from __future__ import annotations

import pytest

import analysis
from labbook.characterization.models import CharacterizationRun
from labbook.demo import DEMO_FILES, load_paper_series
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.jobs.services import input_key, job_execute, job_submit
from labbook.results.models import XRDResult
from tests.labbook.factories import UserFactory


@pytest.fixture
def xrd(db):
    project = load_paper_series(user=UserFactory(), with_files=False)
    run = CharacterizationRun.objects.get(code="R-17Cl-XRD")
    with (DEMO_FILES / "xrd_17pct_cl.xrdml").open("rb") as fh:
        raw = raw_file_store(project=project, fileobj=fh, original_name="xrd_17pct_cl.xrdml")
    return run, {"data": raw}


def test_the_same_request_under_the_same_code_reuses_the_result(xrd):
    run, files = xrd
    job = job_submit(kind="xrd", files=files, run=run)
    assert job.analysis_version == analysis.__version__
    assert job_execute(job.pk) == JobStatus.SUCCEEDED
    again = job_submit(kind="xrd", files=files, run=run)
    assert again.pk == job.pk and AnalysisJob.objects.count() == 1
    # the stored result names the code that made it, on the job and in the stored output
    result = XRDResult.objects.get(job=job)
    assert result.job.analysis_version == result.payload["analysis_version"] == analysis.__version__


def test_changed_analysis_code_makes_a_new_job(xrd, monkeypatch):
    run, files = xrd
    old = job_submit(kind="xrd", files=files, run=run)
    assert job_execute(old.pk) == JobStatus.SUCCEEDED
    monkeypatch.setattr(analysis, "__version__", "0.2.0+0123456789ab")
    new = job_submit(kind="xrd", files=files, run=run)
    assert new.pk != old.pk and new.status == JobStatus.QUEUED
    assert new.analysis_version == "0.2.0+0123456789ab" and new.input_key != old.input_key
    assert job_execute(new.pk) == JobStatus.SUCCEEDED
    assert XRDResult.objects.get(job=new).payload["analysis_version"] == "0.2.0+0123456789ab"
    # back to the first code: its result is there to reuse
    monkeypatch.undo()
    assert job_submit(kind="xrd", files=files, run=run).pk == old.pk


def test_a_worker_with_other_code_re_keys_the_job_to_the_code_that_ran(xrd, monkeypatch):
    # submitted by a process with one version, executed by a worker that imported another: the job
    # must not stand for the submitter's code, or that code would reuse a result it did not make
    run, files = xrd
    job = job_submit(kind="xrd", files=files, run=run)
    submitted = job.analysis_version
    monkeypatch.setattr(analysis, "__version__", "0.2.0+fedcba987654")
    assert job_execute(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.analysis_version == "0.2.0+fedcba987654"
    assert job.input_key == input_key("xrd", files, job.parameters, "0.2.0+fedcba987654")
    assert f"submitted under {submitted}" in job.log
    assert job_submit(kind="xrd", files=files, run=run).pk == job.pk  # the worker's code reuses it
    monkeypatch.undo()
    assert job_submit(kind="xrd", files=files, run=run).pk != job.pk  # the submitter's recomputes
