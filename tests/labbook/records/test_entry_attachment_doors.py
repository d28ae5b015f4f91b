"""A notebook entry's attachments through every door that takes them (the services, the API's
``/api/files/`` with ``entry``, the entry page's drop zone): one answer per role and frozen state,
the type from the content, and a refused file leaves nothing behind."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labbook.files.models import RawFile
from labbook.notebook import services as notebook
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import ProjectFrozen
from labbook.projects.permissions import RecordNotFound, RoleRequired
from tests.labbook.notebook.samples import png_bytes
from tests.labbook.records.conftest import ROLES, api_client
from tests.labbook.records.test_doors import _expected, freeze
from tests.labbook.records.test_uploads import api_upload_answer

PNG = png_bytes(32, 24)


def _upload(name: str = "pl-map.png", content: bytes = PNG) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/octet-stream")  # the type comes from the bytes


def _by_service(entry, user, client) -> str:
    try:
        notebook.entry_files_attach(user=user, entry=entry, files=[_upload()])
    except RecordNotFound:
        return "not found"
    except (RoleRequired, ProjectFrozen):
        return "forbidden"
    return "ok"


def _by_api(entry, user, client) -> str:
    return api_upload_answer(user, entry, "entry", _upload())


def _by_page(entry, user, client) -> str:
    client.force_login(user)
    r = client.post(reverse("notebook:entry-attach", args=[entry.pk]), {"files": [_upload()]})
    return {302: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code}")


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", ["services", "api", "page"])
def test_every_attachment_door_gives_the_same_answer(client, ids, series, users, door, role, frozen):
    entry = NotebookEntry.objects.get(pk=ids["entry"])
    before = set(entry.raw_files.values_list("pk", flat=True))
    if frozen:
        freeze(series)
        entry = NotebookEntry.objects.get(pk=entry.pk)
    user = users[role]
    got = {"services": _by_service, "api": _by_api, "page": _by_page}[door](entry, user, client)
    assert got == _expected(role, frozen)
    added = RawFile.objects.filter(entries=entry).exclude(pk__in=before)
    assert [(r.original_name, r.media_type) for r in added] == (
        [("pl-map.png", "image/png")] if got == "ok" else []
    )
    if got == "ok":  # the entry's history says who attached it
        assert NotebookEntry.objects.get(pk=entry.pk).history.first().history_user == user


def test_the_api_refuses_a_file_an_entry_does_not_take_and_stores_nothing(ids, editor):
    entry = NotebookEntry.objects.get(pk=ids["entry"])
    count = RawFile.objects.count()
    r = api_client(editor).post(
        "/api/files/",
        {"project": entry.project_id, "entry": entry.pk, "file": _upload("setup.exe", b"MZ\x90\x00" * 64)},
        format="multipart",
    )
    assert r.status_code == 400, r.content
    assert "file" in r.json() and RawFile.objects.count() == count


def test_an_api_attachment_is_listed_on_the_entry_and_downloads_its_bytes(ids, editor):
    entry = NotebookEntry.objects.get(pk=ids["entry"])
    c = api_client(editor)
    r = c.post(
        "/api/files/", {"project": entry.project_id, "entry": entry.pk, "file": _upload()}, format="multipart"
    )
    assert r.status_code == 201, r.content
    raw = r.json()
    assert raw["media_type"] == "image/png"
    assert raw["id"] in c.get(f"/api/entries/{entry.pk}/").json()["raw_files"]
    got = c.get(f"/api/files/{raw['id']}/download/")
    assert got.status_code == 200 and b"".join(got.streaming_content) == PNG


def test_one_file_goes_to_one_record(ids, editor):
    entry = NotebookEntry.objects.get(pk=ids["entry"])
    r = api_client(editor).post(
        "/api/files/",
        {"project": entry.project_id, "entry": entry.pk, "run": ids["run"], "file": _upload()},
        format="multipart",
    )
    assert r.status_code == 400 and "one record" in r.content.decode()
