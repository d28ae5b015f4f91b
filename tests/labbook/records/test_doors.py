"""Issue 12 for runs, devices, measurements, notebook entries and raw files: one write path beneath
every door. The services, the API, the admin and the bench pages give the same answer to an update
and a delete of every record, role and frozen state, and a refused write changes nothing; links
never cross projects, whatever the door, with the same message; updates need the version they are
based on, and a stale admin inline row is a conflict."""

from __future__ import annotations

import html
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from labbook.characterization import services as runs
from labbook.characterization.models import CharacterizationRun
from labbook.devices import services as devices
from labbook.devices.models import Device, DeviceMeasurement
from labbook.files import services as files
from labbook.files.models import RawFile
from labbook.notebook import services as notebook
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import ConflictError, Project, ProjectFrozen
from labbook.projects.permissions import RecordNotFound, RoleRequired
from labbook.synthesis.models import Sample, Synthesis
from tests.labbook.records import doors
from tests.labbook.records.conftest import ROLES, D, admin_form_data, api_client


def freeze(project: Project) -> None:
    Project.objects.filter(pk=project.pk).update(frozen_at=timezone.now(), freeze_reason="published")


def admin_page(client, user, url) -> dict:
    client.force_login(user)
    r = client.get(url)
    assert r.status_code == 200
    return admin_form_data(r)


def _expected(role: str, frozen: bool) -> str:
    if role == "outsider":
        return "not found"  # the record does not exist for them
    return "forbidden" if role == "viewer" or frozen else "ok"


# --- the matrix: record type x door x role x frozen, one answer ----------------------------------
RECORDS = {  # model, fixture id, API path (None: no API update), writers, admin page, field edited
    "run": (CharacterizationRun, "run", "runs", runs.runs, "characterization_characterizationrun", "notes"),
    "device": (Device, "device", "devices", devices.devices, "devices_device", "notes"),
    "measurement": (
        DeviceMeasurement, "measurement", "measurements", devices.measurements,
        "devices_devicemeasurement", "notes",
    ),
    "entry": (NotebookEntry, "entry", "entries", notebook.entries, "notebook_notebookentry", "body"),
    "raw_file": (RawFile, "raw", None, files.raw_files, "files_rawfile", "description"),
}  # fmt: skip
# the series is the same at the start of every test, until the package's series is built again (a
# pytest-xdist worker may come back to the package): so by (project id, admin page)
_admin_forms: dict[tuple[int, str], dict] = {}


def _by_service(writers, obj, user, change) -> str:
    try:
        writers.update(obj, user=user, version=obj.version, **change)
    except RecordNotFound:
        return "not found"
    except (RoleRequired, ProjectFrozen):
        return "forbidden"
    return "ok"


def _by_api(path, obj, user, change) -> str:
    r = api_client(user).patch(f"/api/{path}/{obj.pk}/", {**change, "version": obj.version}, format="json")
    return {200: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code} {r.content}")


def _by_admin(client, page, obj, user, change) -> str:
    url = reverse(f"admin:{page}_change", args=[obj.pk])
    client.force_login(user)
    r = client.post(url, {**_admin_forms[obj.project_id, page], **change})
    return {302: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code}")


#: the bench pages' URL prefix of each record type (/runs/7/edit/); raw files have no edit page
PAGES = {"run": "runs", "device": "devices", "measurement": "measurements", "entry": "notebook"}
_page_forms: dict[tuple[int, str], dict] = {}

DOORS = [  # raw files are not changed through the API (uploads are: see test_uploads.py)
    (name, door) for name in RECORDS for door in ("services", "api", "admin", "page")
    if not (door == "api" and RECORDS[name][2] is None) and not (door == "page" and name not in PAGES)
]  # fmt: skip


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "door"), DOORS)
def test_every_door_gives_the_same_answer(client, ids, series, users, name, door, role, frozen):
    model, key, path, writers, page, field = RECORDS[name]
    obj = model.objects.get(pk=ids[key])
    change = {field: "edited through a door"}
    if door == "admin" and (series.pk, page) not in _admin_forms:  # by the project admin, before a freeze
        _admin_forms[series.pk, page] = admin_page(
            client, users["admin"], reverse(f"admin:{page}_change", args=[obj.pk])
        )
    if door == "page" and (series.pk, name) not in _page_forms:  # the same, on the bench page
        _page_forms[series.pk, name] = doors.page_form_data(client, PAGES[name], obj, users["admin"])
    if frozen:
        freeze(series)
        obj = model.objects.get(pk=obj.pk)
    user = users[role]
    if door == "services":
        got = _by_service(writers, obj, user, change)
    elif door == "api":
        got = _by_api(path, obj, user, change)
    elif door == "page":
        got = doors.update_by_page(client, PAGES[name], obj, user, _page_forms[series.pk, name], change)
    else:
        got = _by_admin(client, page, obj, user, change)
    assert got == _expected(role, frozen)
    fresh = model.objects.get(pk=obj.pk)
    assert (getattr(fresh, field) == change[field]) == (got == "ok")  # refused: nothing written
    assert (fresh.version == obj.version + 1) == (got == "ok")
    if got == "ok":  # who and why, in the record's history
        assert fresh.history.first().history_user == user


# --- creating a notebook entry: the services, the API, the admin and the page --------------------
def _writes_somewhere(user) -> bool:
    from labbook.projects.models import Role
    from labbook.projects.selectors import projects_for

    return projects_for(user, min_role=Role.EDITOR).filter(frozen_at__isnull=True).exists()


def _create_entry(door, client, user, series, title) -> str:
    if door == "services":
        try:
            notebook.entry_create(user=user, project=series, title=title, body="b")
        except RecordNotFound:
            return "not found"
        except (RoleRequired, ProjectFrozen):
            return "forbidden"
        return "ok"
    body = {"project": series.pk, "title": title, "body": "b"}
    if door == "api":
        r = api_client(user).post("/api/entries/", body, format="json")
        if r.status_code == 400 and "does not exist" in json.dumps(r.json()):
            return "not found"  # the project is not one of theirs
        return {201: "ok", 403: "forbidden"}.get(r.status_code, f"{r.status_code} {r.content}")
    client.force_login(user)
    url = reverse("admin:notebook_notebookentry_add") if door == "admin" else reverse("notebook:entry-create")
    r = client.post(url, {**body, "expected_version": ""})
    if r.status_code in (302, 403):
        return {302: "ok", 403: "forbidden"}[r.status_code]
    if r.status_code == 200 and "project" in r.context["adminform" if door == "admin" else "form"].errors:
        # only projects they may write to are offered: not a member, a viewer, or frozen
        return "not offered"
    return str(r.status_code)


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", ["services", "api", "admin", "page"])
def test_a_notebook_entry_is_written_through_every_door_or_none(client, series, users, door, role, frozen):
    if frozen:
        freeze(series)
    title = f"entry by {role} through {door}"
    got = _create_entry(door, client, users[role], series, title)
    expected = _expected(role, frozen)
    if expected == "ok" or door in ("services", "api"):
        assert got == expected
    else:  # a form offers only the projects one may write to; who may write in none gets a 403
        assert got == ("forbidden" if not _writes_somewhere(users[role]) else "not offered")
    entry = NotebookEntry.objects.filter(title=title).first()
    assert (entry is not None) == (got == "ok")
    if entry is not None:
        assert entry.author == users[role] and entry.created_by == users[role]
        assert entry.history.first().history_user == users[role]


# --- links never cross projects, whatever the door --------------------------------------------------
def _foreign_message(obj_str: str, series) -> str:
    return f"{obj_str}: in another project than {series}"


def test_a_runs_raw_files_stay_in_its_project_through_every_door(client, ids, series, editor):
    run = CharacterizationRun.objects.get(pk=ids["run"])
    foreign = RawFile.objects.get(pk=ids["foreign_raw"])
    expected = _foreign_message(str(foreign), series)
    with pytest.raises(ValidationError) as err:
        runs.run_update(user=editor, run=run, version=run.version, raw_files=[foreign])
    assert err.value.message_dict == {"raw_files": [expected]}
    r = api_client(editor).patch(
        f"/api/runs/{run.pk}/", {"raw_files": [foreign.pk], "version": run.version}, format="json"
    )
    assert r.status_code == 400 and r.json()["raw_files"] == [expected]
    url = reverse("admin:characterization_characterizationrun_change", args=[run.pk])
    data = admin_page(client, editor, url)
    r = client.post(url, {**data, "raw_files": [foreign.pk]})
    assert r.status_code == 200 and r.context["adminform"].form.errors["raw_files"] == [expected]
    assert not run.raw_files.exists()
    assert CharacterizationRun.objects.get(pk=run.pk).version == run.version


def test_a_devices_samples_stay_in_its_project_through_every_door(client, ids, series, editor):
    device = Device.objects.get(pk=ids["device"])
    before = set(device.samples.values_list("pk", flat=True))
    foreign = Sample.objects.get(pk=ids["foreign_sample"])
    expected = _foreign_message(str(foreign), series)
    with pytest.raises(ValidationError) as err:
        devices.device_update(user=editor, device=device, version=device.version, samples=[foreign])
    assert err.value.message_dict == {"samples": [expected]}
    r = api_client(editor).patch(
        f"/api/devices/{device.pk}/", {"samples": [foreign.pk], "version": device.version}, format="json"
    )
    assert r.status_code == 400 and r.json()["samples"] == [expected]
    url = reverse("admin:devices_device_change", args=[device.pk])
    data = admin_page(client, editor, url)
    r = client.post(url, {**data, "samples": [foreign.pk]})
    assert r.status_code == 200 and r.context["adminform"].form.errors["samples"] == [expected]
    assert set(device.samples.values_list("pk", flat=True)) == before


def test_an_entrys_records_stay_in_its_project_through_every_door(client, ids, series, editor):
    foreign = Synthesis.objects.get(pk=ids["foreign_batch"])
    expected = _foreign_message(str(foreign), series)
    with pytest.raises(ValidationError) as err:
        notebook.entry_create(user=editor, project=series, title="x-services", batches=[foreign])
    assert err.value.message_dict == {"batches": [expected]}
    body = {"project": series.pk, "title": "x-api", "batches": [foreign.pk]}
    r = api_client(editor).post("/api/entries/", body, format="json")
    assert r.status_code == 400 and r.json()["batches"] == [expected]
    client.force_login(editor)
    r = client.post(reverse("admin:notebook_notebookentry_add"), {**body, "title": "x-admin"})
    assert r.status_code == 200 and r.context["adminform"].form.errors["batches"] == [expected]
    r = client.post(reverse("notebook:entry-create"), {**body, "title": "x-page"})
    assert r.status_code == 200 and r.context["form"].errors["batches"] == [expected]
    assert not NotebookEntry.objects.filter(title__startswith="x-").exists()


def test_moving_a_record_to_another_project_takes_its_links_along_or_is_refused(ids, series, other, editor):
    entry = NotebookEntry.objects.get(pk=ids["entry"])
    linked = list(entry.treatments.all())
    assert linked  # the demo links it to treatments of the series
    with pytest.raises(ValidationError) as err:
        notebook.entry_update(user=editor, entry=entry, version=entry.version, project=other)
    assert "treatments" in err.value.message_dict
    moved = notebook.entry_update(
        user=editor, entry=entry, version=entry.version, project=other, treatments=[]
    )
    assert moved.project == other and not moved.treatments.exists()


def test_a_measurement_cannot_belong_to_another_projects_device(ids, other, editor):
    device = Device.objects.get(pk=ids["device"])
    with pytest.raises(ValidationError) as err:
        devices.measurement_create(user=editor, device=device, project=other, kind="dark_iv", date=D)
    assert "device" in err.value.message_dict
    assert not DeviceMeasurement.objects.filter(project=other).exists()


# --- versions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["run", "device", "measurement", "entry"])
def test_updates_need_their_version_and_a_stale_one_is_a_conflict(client, ids, editor, name):
    model, key, path, writers, page, field = RECORDS[name]
    obj = model.objects.get(pk=ids[key])
    with pytest.raises(ValidationError, match="required when changing a record"):
        writers.update(obj, user=editor, version=None, **{field: "x"})
    with pytest.raises(ConflictError):
        writers.update(obj, user=editor, version=obj.version + 5, **{field: "x"})
    r = api_client(editor).patch(f"/api/{path}/{obj.pk}/", {field: "x"}, format="json")
    assert r.status_code == 400 and "required when changing a record" in r.json()["version"][0]
    r = api_client(editor).patch(f"/api/{path}/{obj.pk}/", {field: "x", "version": 99}, format="json")
    assert r.status_code == 409, r.content
    assert r.json()["current_version"] == obj.version and r.json()["expected_version"] == 99
    url = reverse(f"admin:{page}_change", args=[obj.pk])
    data = admin_page(client, editor, url)
    data["expected_version"] = obj.version - 1 if obj.version > 1 else 99
    r = client.post(url, {**data, field: "x"})
    assert r.status_code == 200 and "Someone else saved this" in html.unescape(r.content.decode())
    assert getattr(model.objects.get(pk=obj.pk), field) != "x"


# --- the admin's measurement inline on a device saves through the service ------------------------
def test_a_measurement_is_added_on_its_devices_admin_page(client, ids, series, editor):
    device = Device.objects.get(pk=ids["device"])
    url = reverse("admin:devices_device_change", args=[device.pk])
    data = admin_page(client, editor, url)
    i = int(data["measurements-TOTAL_FORMS"])
    data["measurements-TOTAL_FORMS"] = str(i + 1)
    data.update({f"measurements-{i}-kind": "dark_iv", f"measurements-{i}-date": "2022-10-07",
                 f"measurements-{i}-bias": "-1 V"})  # fmt: skip
    r = client.post(url, data)
    assert r.status_code == 302, html.unescape(r.content.decode())[:3000]
    m = device.measurements.get(date=D.replace(day=7), kind="dark_iv")
    assert m.project == series and m.created_by == editor and m.history.first().history_user == editor


# --- deletes: the same matrix, the same answers ----------------------------------------------------
DELETES = [  # raw files are not deleted through the API (it lists and uploads them) nor a bench page
    (name, door) for name in RECORDS for door in doors.DELETE_DOORS
    if not (door == "api" and RECORDS[name][2] is None) and not (door == "page" and name not in PAGES)
]  # fmt: skip


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "door"), DELETES)
def test_every_door_gives_the_same_answer_to_a_delete(client, ids, series, users, name, door, role, frozen):
    model, key, path, _, page, _ = RECORDS[name]
    obj = model.objects.get(pk=ids[key])
    if frozen:
        freeze(series)
    user = users[role]
    if door == "api":
        got = doors.delete_by_api(path, obj, user)
    elif door == "admin":
        got = doors.delete_by_admin(client, page, obj, user)
    elif door == "page":
        got = doors.delete_by_page(client, PAGES[name], obj, user)
    else:
        got = doors.delete_by_action(client, page, obj, user)
    assert got == doors.expected_delete(role, frozen, door)


def test_a_stale_measurement_row_on_its_devices_page_is_a_conflict_not_an_overwrite(client, ids, users):
    device = Device.objects.get(pk=ids["device"])
    url = reverse("admin:devices_device_change", args=[device.pk])
    editor = users["editor"]
    data = admin_page(client, editor, url)
    row = DeviceMeasurement.objects.get(pk=data["measurements-0-id"])
    devices.measurement_update(user=users["admin"], measurement=row, version=row.version, bias="-2 V")
    data["measurements-0-bias"] = "-3 V"
    r = client.post(url, data)
    assert r.status_code == 200
    (formset,) = [f.formset for f in r.context["inline_admin_formsets"] if f.formset.prefix == "measurements"]
    assert "Someone else saved this" in " ".join(formset.errors[0].get("__all__", [])), formset.errors
    assert DeviceMeasurement.objects.get(pk=row.pk).bias.to("V").magnitude == -2  # theirs stands
