import pytest

from labbook.demo import load_paper_series
from labbook.jobs.models import JobStatus
from labbook.jobs.services import job_execute, jobs_submit_for_project
from tests.labbook.factories import UserFactory

PASSWORD = "pw-for-tests"


def analysed_series(user):
    """The paper's 0/3/9/17 % series with its synthetic raw files, every analysis run in-process."""
    project = load_paper_series(user=user, with_files=True)
    for job in jobs_submit_for_project(project=project, user=user):
        assert job_execute(job.pk) == JobStatus.SUCCEEDED, job.pk
    return project


@pytest.fixture
def scientist(db):
    return UserFactory(username="scientist")


@pytest.fixture
def series(scientist):
    """The series recorded without files (fast): forms, lists, details."""
    return load_paper_series(user=scientist, with_files=False)
