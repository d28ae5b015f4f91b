import pytest
from django.contrib.auth import get_user_model

from labbook.demo import load_paper_series
from labbook.jobs.models import JobStatus
from labbook.jobs.services import job_execute, jobs_submit_for_project
from labbook.projects.models import Project
from tests.labbook.factories import UserFactory
from tests.labbook.shared import rolled_back, shared_data_of

PASSWORD = "pw-for-tests"


def analysed_series(user):
    """The paper's 0/3/9/17 % series with its synthetic raw files, every analysis run in-process."""
    project = load_paper_series(user=user, with_files=True)
    for job in jobs_submit_for_project(project=project, user=user):
        assert job_execute(job.pk) == JobStatus.SUCCEEDED, job.pk
    return project


@pytest.fixture(scope="module")
def _shared_series(django_db_setup, django_db_blocker):
    """The scientist and the series, built once for the module's tests that read ``series``
    (tests/labbook/shared.py: they run after the module's other tests, each in a savepoint)."""
    with rolled_back(django_db_blocker):
        scientist = UserFactory(username="scientist")
        yield {"scientist": scientist.pk, "series": load_paper_series(user=scientist, with_files=False).pk}


def _reads_shared_series(request) -> bool:
    return shared_data_of(request.node) == "_shared_series"


@pytest.fixture
def scientist(request, db):
    if _reads_shared_series(request):
        return get_user_model().objects.get(pk=request.getfixturevalue("_shared_series")["scientist"])
    return UserFactory(username="scientist")


@pytest.fixture
def series(request, scientist):
    """The series recorded without files (fast): forms, lists, details."""
    if _reads_shared_series(request):
        return Project.objects.get(pk=request.getfixturevalue("_shared_series")["series"])
    return load_paper_series(user=scientist, with_files=False)
