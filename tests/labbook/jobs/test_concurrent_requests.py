"""Identical requests at the same moment through the API (issue 13, item 11): 20 uploads of one file
store it once and answer 200/201 (no 409 with database text), 10 submissions of one analysis make
one job. Real threads, each with its own database connection, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.files.models import RawFile
from labbook.jobs.models import AnalysisJob
from tests.labbook.factories import UserFactory

ROOT = Path(__file__).resolve().parents[3]
DECAY = ROOT / "fixtures" / "demo" / "trpl_3pct_cl.csv"

pytestmark = [pytest.mark.django_db(transaction=True)]


def _at_once(n: int, request) -> list:
    """Run ``request(client)`` in ``n`` threads released together; return the responses."""
    barrier = threading.Barrier(n)
    responses: list = [None] * n

    def worker(i):
        client = APIClient()
        client.force_authenticate(user)
        try:
            barrier.wait()
            responses[i] = request(client)
        finally:
            connection.close()

    user = _at_once.user
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return responses


@pytest.fixture
def trpl_run(settings):
    settings.ROOT_URLCONF = "tests.labbook.api.urls"
    user = UserFactory(username="bench")
    load_paper_series(user=user, with_files=False)
    _at_once.user = user
    return CharacterizationRun.objects.filter(technique="trpl").first()


def test_identical_concurrent_uploads_store_one_file_without_database_text(trpl_run):
    content = DECAY.read_bytes()

    def upload(client):
        f = SimpleUploadedFile("decay.csv", content, content_type="text/csv")
        return client.post("/api/files/", {"project": trpl_run.project_id, "file": f}, format="multipart")

    responses = _at_once(20, upload)
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 201}, [(r.status_code, r.content[:300]) for r in responses]
    assert RawFile.objects.filter(project=trpl_run.project).count() == 1
    assert len({r.json()["id"] for r in responses}) == 1


def test_identical_concurrent_job_submissions_make_one_job(trpl_run):
    from labbook.files.services import raw_file_store

    with DECAY.open("rb") as fh:
        raw = raw_file_store(project=trpl_run.project, fileobj=fh, original_name="decay.csv")
    trpl_run.raw_files.add(raw)

    responses = _at_once(10, lambda client: client.post("/api/jobs/", {"run": trpl_run.pk}, format="json"))
    assert {r.status_code for r in responses} <= {200, 201}, [
        (r.status_code, r.content[:300]) for r in responses
    ]
    assert AnalysisJob.objects.filter(run=trpl_run).count() == 1
    assert len({r.json()["id"] for r in responses}) == 1
