"""Every upload door (the run page, the API, the admin, ``manage.py ingest``) goes through
``raw_files_attach``: the same answer for every role and frozen state, and a refused upload stores
nothing (no row, no link, no blob)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from labbook.characterization.models import CharacterizationRun
from labbook.files import services as files
from labbook.files.models import RawFile
from labbook.projects.models import ProjectFrozen
from labbook.projects.permissions import RecordNotFound, RoleRequired
from tests.labbook.records.conftest import ROLES, api_client
from tests.labbook.records.test_doors import _expected, admin_page, freeze

CSV = b"wavelength_nm,counts\n700,1\n710,5\n720,3\n"
# by project id: built again with the package's series (a pytest-xdist worker may come back to it)
_admin_form: dict[int, dict] = {}


def _blobs() -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("pl.csv", CSV, "text/csv")


def _by_service(run, user) -> str:
    try:
        files.raw_files_attach(user=user, target=run, files=[_upload()])
    except RecordNotFound:
        return "not found"
    except (RoleRequired, ProjectFrozen):
        return "forbidden"
    return "ok"


def api_upload_answer(user, record, field: str, upload) -> str:
    """POST ``upload`` to /api/files/ attached to ``record`` (``field``: run, entry...), as a door's answer."""
    r = api_client(user).post(
        "/api/files/", {"project": record.project_id, field: record.pk, "file": upload}, format="multipart"
    )
    if r.status_code == 400 and "does not exist" in r.content.decode():
        return "not found"  # the record (and its project) are not theirs
    return {201: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code} {r.content}")


def _by_api(run, user) -> str:
    return api_upload_answer(user, run, "run", _upload())


def _by_admin(client, run, user) -> str:
    client.force_login(user)
    url = reverse("admin:characterization_characterizationrun_change", args=[run.pk])
    r = client.post(url, {**_admin_form[run.project_id], "upload": [_upload()]})
    return {302: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code}")


def _by_page(client, run, user) -> str:
    client.force_login(user)
    r = client.post(reverse("characterization:run-attach", args=[run.pk]), {"upload": [_upload()]})
    return {302: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code}")


def _by_ingest(run, user, tmp_path) -> str:
    (tmp_path / "pl.csv").write_bytes(CSV)
    try:
        call_command("ingest", str(tmp_path), run=run.code, user=user.username, verbosity=0)
    except CommandError as exc:
        text = str(exc)
        assert "1 file(s) refused" in text
        return "refused"
    return "ok"


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", ["services", "api", "admin", "page", "ingest"])
def test_every_upload_door_gives_the_same_answer(
    client, ids, series, users, door, role, frozen, tmp_path, capsys
):
    run = CharacterizationRun.objects.get(pk=ids["run"])
    if door == "admin" and series.pk not in _admin_form:  # built by the project admin, before a freeze
        url = reverse("admin:characterization_characterizationrun_change", args=[run.pk])
        _admin_form[series.pk] = admin_page(client, users["admin"], url)
    if frozen:
        freeze(series)
        run = CharacterizationRun.objects.get(pk=run.pk)
    user = users[role]
    got = {
        "services": lambda: _by_service(run, user),
        "api": lambda: _by_api(run, user),
        "admin": lambda: _by_admin(client, run, user),
        "page": lambda: _by_page(client, run, user),
        "ingest": lambda: _by_ingest(run, user, tmp_path),
    }[door]()
    expected = _expected(role, frozen)
    if door == "ingest" and expected != "ok":  # the command line says why, in words
        said = capsys.readouterr().err
        why = {"outsider": "no project", "viewer": "needs the editor role"}.get(role, "is frozen")
        assert why in said, said
        expected = "refused"
    assert got == expected
    linked = list(run.raw_files.values_list("original_name", flat=True))
    assert linked == (["pl.csv"] if got == "ok" else [])
    assert RawFile.objects.filter(project=series, original_name="pl.csv").exists() == (got == "ok")
    assert bool(_blobs()) == (got == "ok")  # a refused upload leaves no bytes behind
    if got == "ok":  # the run's history says who attached what
        latest = CharacterizationRun.objects.get(pk=run.pk).history.first()
        assert latest.history_user == user


def test_all_or_nothing_one_refused_file_stores_none(ids, editor):
    run = CharacterizationRun.objects.get(pk=ids["run"])
    version = run.version
    with pytest.raises(Exception, match="not a raw file type labbook reads"):
        files.raw_files_attach(
            user=editor,
            target=run,
            files=[_upload(), SimpleUploadedFile("virus.exe", b"MZ\x90\x00")],
        )
    assert not run.raw_files.exists() and not _blobs()
    assert CharacterizationRun.objects.get(pk=run.pk).version == version


def test_a_failure_after_the_first_file_is_stored_leaves_no_blob(ids, editor):
    run = CharacterizationRun.objects.get(pk=ids["run"])

    class Broken:
        name = "broken.csv"

        def __init__(self):
            self.n = 0

        def read(self, size=-1):
            self.n += 1
            if self.n > 2:
                raise ConnectionResetError("client went away")
            return b"1,2\n" * 100

    with pytest.raises(ConnectionResetError):
        files.raw_files_attach(user=editor, target=run, files=[_upload(), Broken()])
    assert not RawFile.objects.filter(original_name__in=["pl.csv", "broken.csv"]).exists()
    assert not run.raw_files.exists() and not _blobs()


def test_attaching_bumps_the_version_once_and_says_who_and_why(ids, editor):
    run = CharacterizationRun.objects.get(pk=ids["run"])
    version = run.version
    stored = files.raw_files_attach(
        user=editor,
        target=run,
        files=[_upload(), SimpleUploadedFile("irf.csv", b"t,c\n0,1\n", "text/csv")],
        reason="from the FLS980",
    )
    assert [r.original_name for r in stored] == ["pl.csv", "irf.csv"]
    fresh = CharacterizationRun.objects.get(pk=run.pk)
    assert fresh.version == version + 1 and run.version == fresh.version
    latest = fresh.history.first()
    assert (latest.history_user, latest.history_change_reason) == (editor, "from the FLS980")
    assert sorted(f.rawfile.original_name for f in latest.raw_files.all()) == ["irf.csv", "pl.csv"]
    # the same bytes again: nothing new stored, nothing new linked, no new version
    again = files.raw_files_attach(user=editor, target=fresh, files=[_upload()])
    assert again[0].pk == stored[0].pk
    assert CharacterizationRun.objects.get(pk=run.pk).version == version + 1


def test_a_stale_api_edit_after_an_upload_is_a_conflict(ids, editor):
    """An upload is a change of the run: a client that loaded it before cannot overwrite its
    files list unseen."""
    run = CharacterizationRun.objects.get(pk=ids["run"])
    loaded = run.version
    files.raw_files_attach(user=editor, target=run, files=[_upload()])
    r = api_client(editor).patch(f"/api/runs/{run.pk}/", {"raw_files": [], "version": loaded}, format="json")
    assert r.status_code == 409 and r.json()["current_version"] == loaded + 1
    assert run.raw_files.count() == 1


def test_a_measurement_and_a_project_take_uploads_too(ids, series, editor):
    from labbook.devices.models import DeviceMeasurement

    m = DeviceMeasurement.objects.get(pk=ids["measurement"])
    (raw,) = files.raw_files_attach(user=editor, target=m, files=[_upload()])
    assert list(m.raw_files.all()) == [raw]
    (loose,) = files.raw_files_attach(
        user=editor, target=series, files=[SimpleUploadedFile("n.txt", b"notes")]
    )
    assert loose.project == series and not loose.runs.exists()
