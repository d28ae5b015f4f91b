""".eln exports and imports from the web: background jobs with progress and a download link.

One role rule, in :mod:`labbook.archives.jobs`, answered the same by every door: the API, the
archives page and the admin (Project admin's action, ArchiveJob "add"). A project admin exports; a
viewer or editor is refused (403) with the same reason; an outsider gets 404 (the project does not
exist for them). Importing creates a project: only users who may create projects (superusers) may.
The jobs run as the worker runs them (:func:`archive_job_execute`, the task's body), with their
progress on the row; hostile uploads end as failed jobs with the reason and no project."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from labbook.archives import jobs
from labbook.archives.jobs import (
    archive_export_submit,
    archive_import_submit,
    archive_job_execute,
    archive_jobs_fail_stale,
)
from labbook.archives.models import ArchiveJob, ArchiveJobStatus
from labbook.projects.models import Membership, Project, Role
from labbook.projects.permissions import RecordNotFound, RoleRequired
from tests.labbook.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]

ROLES = ["outsider", "viewer", "editor", "admin"]


def _user(series, role: str, *, staff: bool = True):
    user = UserFactory(username=f"{role}-{series.slug}", is_staff=staff)
    if role in ("viewer", "editor", "admin"):
        Membership.objects.create(project=series, user=user, role=role)
    return user


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def superuser():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _execute(job_or_id) -> ArchiveJob:
    pk = getattr(job_or_id, "pk", job_or_id)
    archive_job_execute(pk)
    return ArchiveJob.objects.get(pk=pk)


def _download(client, job: ArchiveJob) -> bytes:
    response = client.get(f"/api/archive-jobs/{job.pk}/download/")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Disposition"].startswith("attachment")
    return b"".join(response.streaming_content)


def _hostile_eln() -> bytes:
    """A zip with an entry that climbs out of its folder (zip slip)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("crate/ro-crate-metadata.json", '{"@graph": []}')
        zf.writestr("crate/../../evil.txt", "owned")
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# one role rule, three doors
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_export_role_rule_gives_the_same_answer_through_the_api_the_page_and_the_admin(
    role, series, client, django_capture_on_commit_callbacks
):
    user = _user(series, role)
    # the service itself
    if role == "outsider":
        with pytest.raises(RecordNotFound):
            archive_export_submit(user=user, project=series)
    elif role in ("viewer", "editor"):
        with pytest.raises(RoleRequired, match="admin role"):
            archive_export_submit(user=user, project=series)

    # the API
    with django_capture_on_commit_callbacks(execute=True):
        api = _api(user).post("/api/archive-jobs/export/", {"project": series.pk}, format="json")
    # the page
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(reverse("archives:export", args=[series.pk]))
    # the admin's action on the Project admin
    with django_capture_on_commit_callbacks(execute=True):
        action = client.post(
            reverse("admin:projects_project_changelist"),
            {"action": "export_eln", "_selected_action": [series.pk]},
            follow=True,
        )
    notes = [str(m) for m in get_messages(action.wsgi_request)] if action.status_code == 200 else []

    if role == "outsider":
        assert api.status_code == 404 and page.status_code == 404
        assert not any("export" in n and "started" in n for n in notes)  # the project is not theirs to select
        assert not ArchiveJob.objects.exists()
    elif role in ("viewer", "editor"):
        assert api.status_code == 403 and "admin role" in api.json()["detail"]
        assert page.status_code == 403 and "admin role" in page.content.decode()
        assert any("not exported" in n and "admin role" in n for n in notes), notes
        assert not ArchiveJob.objects.exists()
    else:
        assert api.status_code == 202, api.content
        job = ArchiveJob.objects.get()
        assert api.json()["status"] == "queued" and api.json()["download_url"] is None
        # the page and the admin find the export already queued: one job, not three
        assert page.status_code == 302 and page.url == reverse("archives:job", args=[job.pk])
        assert any("already running" in n for n in notes), notes
        assert ArchiveJob.objects.count() == 1
        assert job.task_id  # enqueued once the transaction committed


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
def test_import_role_rule_gives_the_same_answer_through_the_api_the_page_and_the_admin(
    role, series, client, tmp_path, superuser
):
    user = superuser if role == "superuser" else _user(series, role)
    upload = lambda: io.BytesIO(_hostile_eln())  # noqa: E731 - its content is the worker's to judge
    api = _api(user).post(
        "/api/archive-jobs/import/", {"file": _named(upload(), "x.eln")}, format="multipart"
    )
    client.force_login(user)
    page = client.post(reverse("archives:import"), {"file": _named(upload(), "x.eln")})
    admin_get = client.get(reverse("admin:archives_archivejob_add"))
    admin = client.post(reverse("admin:archives_archivejob_add"), {"file": _named(upload(), "x.eln")})
    if role == "superuser":
        assert api.status_code == 202, api.content
        assert page.status_code == 302 and admin_get.status_code == 200 and admin.status_code == 302
        assert ArchiveJob.objects.filter(kind="import", status="queued").count() == 3
    else:
        assert api.status_code == 403 and "create projects" in api.json()["detail"]
        assert page.status_code == 403 and "create projects" in page.content.decode()
        assert admin_get.status_code == 403 and admin.status_code == 403
        assert not ArchiveJob.objects.exists()
        with pytest.raises(jobs.ImportNotAllowed):
            archive_import_submit(user=user, upload=upload())


def _named(fh: io.BytesIO, name: str) -> io.BytesIO:
    fh.name = name
    return fh


def test_who_sees_and_downloads_an_export(series, admin_user):
    job, created = archive_export_submit(user=admin_user, project=series)
    assert created and _execute(job).status == ArchiveJobStatus.SUCCEEDED
    # a second request while none is active is a new job; while one is queued it is that one
    again, created = archive_export_submit(user=admin_user, project=series)
    same, created_too = archive_export_submit(user=admin_user, project=series)
    assert created and not created_too and same.pk == again.pk
    for role, code in (("viewer", 200), ("editor", 200), ("outsider", 404)):
        user = _user(series, role)
        response = _api(user).get(f"/api/archive-jobs/{job.pk}/download/")
        assert response.status_code == code, (role, response.status_code)
        listed = _api(user).get("/api/archive-jobs/").json()["results"]
        assert (job.pk in {j["id"] for j in listed}) == (code == 200)
    # not ready yet: 409 with the reason
    response = _api(admin_user).get(f"/api/archive-jobs/{again.pk}/download/")
    assert response.status_code == 409 and "queued" in response.json()["detail"]


# ----------------------------------------------------------------------------------------------
# the jobs themselves
# ----------------------------------------------------------------------------------------------
def test_export_download_import_through_the_api_with_progress(
    series, admin_user, superuser, monkeypatch, django_capture_on_commit_callbacks
):
    seen: list[tuple[float, float]] = []  # (fraction reported, what the row says right after)

    class Recording(jobs._Progress):
        def __init__(self, job_id):
            super().__init__(job_id, interval=0.0)

        def __call__(self, fraction, message=""):
            super().__call__(fraction, message)
            seen.append((fraction, ArchiveJob.objects.get(pk=self.job_id).progress))

    monkeypatch.setattr(jobs, "_Progress", Recording)
    monkeypatch.setattr("labbook.archives.eln.CHUNK", 256)  # many chunks even for small files

    with django_capture_on_commit_callbacks(execute=True):
        response = _api(admin_user).post("/api/archive-jobs/export/", {"project": series.pk}, format="json")
    assert response.status_code == 202
    job = ArchiveJob.objects.get(pk=response.json()["id"])
    from django_tasks_db.models import DBTaskResult

    task = DBTaskResult.objects.get(id=job.task_id)  # what the worker will pick up
    assert task.task_path == "labbook.archives.tasks.run_archive_job" and task.args_kwargs["args"] == [job.pk]
    assert _execute(job).status == ArchiveJobStatus.SUCCEEDED
    fractions = [f for f, _ in seen]
    assert len(fractions) > 5 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(abs(row - min(f, 1.0)) < 1e-9 for f, row in seen[:-1])  # written to the row as it goes
    data = _api(admin_user).get(f"/api/archive-jobs/{job.pk}/").json()
    assert data["status"] == "succeeded" and data["progress"] == 1.0
    assert data["download_url"].endswith(f"/api/archive-jobs/{job.pk}/download/")
    archive = _download(_api(admin_user), ArchiveJob.objects.get(pk=job.pk))
    assert len(archive) == data["file_size"]
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert "mini-chloride/ro-crate-metadata.json" in zf.namelist() and zf.testzip() is None

    seen.clear()
    response = _api(superuser).post(
        "/api/archive-jobs/import/",
        {"file": _named(io.BytesIO(archive), "mini.eln"), "slug": "mini-copy"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    imported = _execute(response.json()["id"])
    assert imported.status == ArchiveJobStatus.SUCCEEDED, imported.error
    assert imported.progress == 1.0 and [f for f, _ in seen][-1] == 1.0 and len(seen) > 5
    assert imported.imported_project.slug == "mini-copy"
    assert Membership.objects.filter(
        project=imported.imported_project, user=superuser, role=Role.ADMIN
    ).exists()
    data = _api(superuser).get(f"/api/archive-jobs/{imported.pk}/").json()
    assert data["imported_project_slug"] == "mini-copy" and data["signature"].startswith("signed by")
    assert not (Path(jobs.media_path("archive-jobs")) / str(imported.pk)).exists()  # the upload is gone


def test_a_hostile_upload_ends_as_a_failed_job_with_the_reason_and_no_project(superuser, client):
    projects = Project.objects.count()
    response = _api(superuser).post(
        "/api/archive-jobs/import/",
        {"file": _named(io.BytesIO(_hostile_eln()), "evil.eln")},
        format="multipart",
    )
    job = _execute(response.json()["id"])
    assert job.status == ArchiveJobStatus.FAILED and "escapes the archive's folder" in job.error
    assert Project.objects.count() == projects and job.imported_project is None
    assert not (Path(jobs.media_path("archive-jobs")) / str(job.pk)).exists()
    # not a zip at all: the reason, without the server's paths
    client.force_login(superuser)
    page = client.post(reverse("archives:import"), {"file": _named(io.BytesIO(b"not a zip"), "notes.eln")})
    job = _execute(int(page.url.rstrip("/").rsplit("/", 1)[-1]))
    assert job.status == ArchiveJobStatus.FAILED and "notes.eln is not a .eln (zip) file" in job.error
    assert "archive-jobs" not in job.error and "/" not in job.error.split(" is not")[0]
    html = client.get(reverse("archives:job", args=[job.pk])).content.decode()
    assert "failed" in html and "is not a .eln (zip) file" in html and 'http-equiv="refresh"' not in html
    assert Project.objects.count() == projects


def test_the_page_shows_progress_then_the_download_link(series, admin_user, client):
    client.force_login(admin_user)
    index = client.get(reverse("archives:index")).content.decode()
    assert "Export .eln" in index and "Upload and import" not in index  # a project admin, not a superuser
    response = client.post(reverse("archives:export", args=[series.pk]))
    job = ArchiveJob.objects.get()
    assert client.get(reverse("archives:index")).content.decode().count('http-equiv="refresh"') == 1
    html = client.get(response.url).content.decode()
    assert 'http-equiv="refresh"' in html and "queued" in html and "Download" not in html
    _execute(job)
    html = client.get(response.url).content.decode()
    assert 'http-equiv="refresh"' not in html and "succeeded" in html and "100 %" in html
    download = client.get(reverse("archives:download", args=[job.pk]))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert b"".join(download.streaming_content)[:2] == b"PK"
    assert "download mini-chloride.eln" in client.get(reverse("archives:index")).content.decode()


def test_upload_size_limit_and_bad_slug_are_refused_before_a_job(superuser, settings):
    settings.RAW_FILE_MAX_BYTES = 1000
    response = _api(superuser).post(
        "/api/archive-jobs/import/", {"file": _named(io.BytesIO(b"x" * 5000), "big.eln")}, format="multipart"
    )
    assert response.status_code == 413 and "larger than the limit" in response.json()["detail"]
    response = _api(superuser).post(
        "/api/archive-jobs/import/",
        {"file": _named(io.BytesIO(b"x" * 10), "a.eln"), "slug": "no spaces"},
        format="multipart",
    )
    assert response.status_code == 400 and "slug" in response.json()
    assert not ArchiveJob.objects.exists()


def test_a_role_taken_away_before_the_job_runs_fails_it(series, admin_user):
    job, _ = archive_export_submit(user=admin_user, project=series)
    Membership.objects.filter(project=series, user=admin_user).update(role=Role.VIEWER)
    job = _execute(job)
    assert job.status == ArchiveJobStatus.FAILED and "admin role" in job.error and not job.file_path


def test_a_job_whose_worker_died_is_failed_by_the_sweep(series, admin_user, settings):
    settings.JOB_STALE_AFTER_S = 60
    job, _ = archive_export_submit(user=admin_user, project=series)
    ArchiveJob.objects.filter(pk=job.pk).update(
        status="running", worker="gone:1", heartbeat_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert archive_jobs_fail_stale() == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed" and "stopped" in job.error
    assert archive_job_execute(job.pk) == "failed"  # nothing to run any more


def test_deleting_a_job_removes_its_archive(series, admin_user):
    job = _execute(archive_export_submit(user=admin_user, project=series)[0])
    path = jobs.media_path(job.file_path)
    assert path.is_file()
    job.delete()
    assert not path.exists()


def test_a_damaged_stored_file_stops_the_export_with_the_reason(series, admin_user):
    from django.core.files.storage import default_storage

    from labbook.files.models import RawFile

    raw = RawFile.objects.filter(project=series).order_by("pk").first()
    with default_storage.open(raw.storage_name, "r+b") as fh:  # same size, other bytes
        first = fh.read(1)
        fh.seek(0)
        fh.write(bytes([first[0] ^ 0xFF]))
    job = _execute(archive_export_submit(user=admin_user, project=series)[0])
    assert job.status == ArchiveJobStatus.FAILED and "not the recorded ones" in job.error
    assert raw.original_name in job.error and not job.file_path


# ----------------------------------------------------------------------------------------------
# the real worker process (as `make demo`'s serve_demo runs it)
# ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_runs_exports_and_imports_and_says_so(series, admin_user, settings):
    import os
    import subprocess
    import sys

    from django.db import connection

    from tests.labbook.jobs.test_jobs import ROOT, _database_url

    admin_user.is_superuser = True
    admin_user.save()
    export, _ = archive_export_submit(user=admin_user, project=series)
    hostile = archive_import_submit(user=admin_user, upload=_named(io.BytesIO(_hostile_eln()), "evil.eln"))
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ARCHIVE_SIGNING_KEY": settings.ARCHIVE_SIGNING_KEY,
        "DEBUG": "0",
    }
    command = [sys.executable, "manage.py", "jobs_worker", "--batch", "--interval", "0.2"]
    connection.close()  # SQLite: the worker writes to the same file
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    export.refresh_from_db()
    hostile.refresh_from_db()
    assert export.status == "succeeded" and export.progress == 1.0, export.error
    assert hostile.status == "failed" and "escapes" in hostile.error
    assert f"job archive-{export.pk} (eln export): succeeded" in out.stdout, out.stdout
    assert f"job archive-{hostile.pk} (eln import): failed" in out.stdout and "escapes" in out.stdout

    with jobs.media_path(export.file_path).open("rb") as fh:
        again = archive_import_submit(user=admin_user, upload=fh, slug="from-the-worker")
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    again.refresh_from_db()
    assert again.status == "succeeded", (again.error, out.stdout, out.stderr)
    assert again.imported_project.slug == "from-the-worker"
    assert again.imported_project.eln_imports.get().signature == "verified"
