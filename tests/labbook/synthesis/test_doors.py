"""Issue 12: one write path beneath every door. The services, the API, the admin and the bench pages
give the same answer to an update and a delete of every synthesis record, for every role and frozen
state (the .eln import, the fifth door, in tests/labbook/archives/test_eln_services.py); upstream
edits refresh downstream Cl:I whatever the door; the admin's inlines save, and a stale inline row
is a conflict; absurd records are refused with the same message."""

from __future__ import annotations

import datetime as dt
import html
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from labbook.projects.models import ConflictError, Project, ProjectFrozen
from labbook.projects.permissions import RecordNotFound, RoleRequired
from labbook.synthesis import services
from labbook.synthesis.models import BatchLink, ChlorideStock, PostTreatment, Sample, Synthesis
from tests.labbook.records import doors
from tests.labbook.synthesis.conftest import ROLES, admin_form_data, api_client

D = dt.date(2022, 10, 6)
T3_AFTER = 100 * 0.4 / (7.8 * 7 / 4)  # one of six batches injects 2.6 mL: 54.6 umol / 4 portions


def stored_and_recomputed(treatment: PostTreatment) -> tuple[float, float]:
    fresh = PostTreatment.objects.select_related("batch", "stock__salt").get(pk=treatment.pk)
    stored = fresh.cl_to_i.to("percent").magnitude
    fresh.compute_derived()
    return stored, fresh.cl_to_i.to("percent").magnitude


def admin_page(client, user, url) -> dict:
    client.force_login(user)
    r = client.get(url)
    assert r.status_code == 200
    return admin_form_data(r)


def add_row(data: dict, prefix: str, **fields) -> None:
    """One more row in the inline formset ``prefix``."""
    i = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(i + 1)
    data.update({f"{prefix}-{i}-{name}": value for name, value in fields.items()})


# --- upstream edits refresh downstream Cl:I, whatever the door ---------------------------------
def test_an_api_edit_of_an_upstream_batch_refreshes_downstream_cl_to_i(series, editor):
    batch = Synthesis.objects.get(project=series, code="MAPI-221003-1")
    r = api_client(editor).patch(
        f"/api/batches/{batch.pk}/",
        {"injection_volume": "2.6 mL", "version": batch.version},
        format="json",
        HTTP_X_CHANGE_REASON="re-measured the injection",
    )
    assert r.status_code == 200, r.content
    t3 = PostTreatment.objects.get(project=series, code="T-3Cl")
    stored, recomputed = stored_and_recomputed(t3)
    assert stored == pytest.approx(recomputed) and round(stored, 3) == 2.930  # was left at 3.419
    latest = t3.history.first()  # who and why, in the treatment's history too
    assert latest.history_user == editor
    assert latest.history_change_reason == "Cl:I recomputed after MAPI-221003-1 changed"
    assert batch.history.first().history_change_reason == "re-measured the injection"


def test_an_admin_edit_of_an_upstream_batch_refreshes_downstream_cl_to_i(client, series, editor):
    batch = Synthesis.objects.get(project=series, code="MAPI-221003-1")
    url = reverse("admin:synthesis_synthesis_change", args=[batch.pk])
    data = admin_page(client, editor, url)
    data["injection_volume"] = "2.6 mL"
    r = client.post(url, data)
    assert r.status_code == 302, html.unescape(r.content.decode())[:3000]
    for code in ["T-3Cl", "T-9Cl", "T-17Cl"]:
        stored, recomputed = stored_and_recomputed(PostTreatment.objects.get(project=series, code=code))
        assert stored == pytest.approx(recomputed)
    assert PostTreatment.objects.get(project=series, code="T-3Cl").history.first().history_user == editor


def test_a_stock_edit_through_the_api_refreshes_its_treatments(series, editor):
    stock = ChlorideStock.objects.get(project=series)
    r = api_client(editor).patch(
        f"/api/stocks/{stock.pk}/",
        {"salt_amount": "100 umol", "salt_mass": "6.8 mg", "version": stock.version},
        format="json",
    )
    assert r.status_code == 200, r.content
    t17 = PostTreatment.objects.get(project=series, code="T-17Cl")
    assert t17.cl_to_i.to("percent").magnitude == pytest.approx(100 * 1.0 / 11.7)  # half of 17.09 %


# --- the admin's inlines ------------------------------------------------------------------------
def test_a_pool_is_made_in_the_admin_with_its_made_from_inline(client, series, editor):
    fresh = services.synthesis_create(
        user=editor,
        project=series,
        code="MAPI-NEW",
        date=D,
        pbi2_amount="0.04 mmol",
        precursor_solvent_volume="20 mL",
        injection_volume="1.3 mL",
    )
    url = reverse("admin:synthesis_synthesis_add")
    data = admin_page(client, editor, url)
    data.update(project=series.pk, code="POOL-ADMIN", kind="pool", date="2022-10-06", volume="2 mL")
    add_row(data, "parent_links", parent=fresh.pk, fraction="0.5")
    r = client.post(url, data)
    assert r.status_code == 302, html.unescape(r.content.decode())[:3000]  # was a 500 (project_id)
    pool = Synthesis.objects.get(project=series, code="POOL-ADMIN")
    link = pool.parent_links.get()
    assert link.project == series and link.parent == fresh and link.created_by == editor
    assert pool.iodide_amount().to("umol").magnitude == pytest.approx(3.9)


def test_a_lineage_row_added_to_a_batch_in_the_admin_refreshes_its_treatments(client, series, editor):
    fresh = services.synthesis_create(
        user=editor, project=series, code="MAPI-NEW", date=D, pbi2_amount="0.04 mmol",
        precursor_solvent_volume="20 mL", injection_volume="1.3 mL",
    )  # fmt: skip
    portion = Synthesis.objects.get(project=series, code="MAPI-221003-P2")
    url = reverse("admin:synthesis_synthesis_change", args=[portion.pk])
    data = admin_page(client, editor, url)
    add_row(data, "parent_links", parent=fresh.pk, fraction="1")
    r = client.post(url, data)
    assert r.status_code == 302, html.unescape(r.content.decode())[:3000]
    t3 = PostTreatment.objects.get(project=series, code="T-3Cl")
    assert t3.cl_to_i.to("percent").magnitude == pytest.approx(100 * 0.4 / (11.7 + 7.8))


def test_a_sample_is_added_to_a_treatment_in_the_admin_inline(client, series, editor):
    t3 = PostTreatment.objects.get(project=series, code="T-3Cl")
    url = reverse("admin:synthesis_posttreatment_change", args=[t3.pk])
    data = admin_page(client, editor, url)
    add_row(data, "samples", code="S-3Cl-inline", kind="film", substrate="glass", date="2022-10-06")
    r = client.post(url, data)
    assert r.status_code == 302, html.unescape(r.content.decode())[:3000]  # was a 500 (project_id)
    sample = Sample.objects.get(project=series, code="S-3Cl-inline")
    assert sample.batch == t3.batch and sample.treatment == t3
    assert sample.history.first().history_user == editor


# --- absurd records: refused by every door, with the same message --------------------------------
ABSURD = {
    # 3 mL of a 1 mL stock (Cl:I and ethanol absurd too)
    "stock-overdrawn": ("MACl-1mL", "3 mL", "is more than is left of MACl-1mL: it held 1 mL"),
    # 100 uL of the paper's 0.4 M stock into 11.7 umol iodide: 342 %
    "cl-to-i": ("MACl-EtOH-221004", "100 uL", "Cl:I would be 341.88 %"),
    # 6 mL of a dilute stock into 4 mL of suspension
    "ethanol": ("MACl-dilute", "6 mL", "ethanol/toluene would be 150 % (v/v)"),
    # 50 mg of PbI2 recorded for 40 umol
    "pbi2-mass": (None, None, "that is 18.4 mg expected"),
}


def _absurd_fields(series, case) -> tuple[str, dict]:
    stock_code, volume, _ = ABSURD[case]
    if stock_code is None:
        return "batch", {
            "project": series,
            "code": "B-BAD",
            "date": D,
            "pbi2_amount": "40 umol",
            "pbi2_mass": "50 mg",
        }
    return "treatment", {
        "project": series,
        "code": "T-BAD",
        "date": D,
        "batch": Synthesis.objects.get(project=series, code="MAPI-221003-P1"),
        "stock": ChlorideStock.objects.get(project=series, code=stock_code),
        "volume_added": volume,
    }


@pytest.mark.parametrize("case", list(ABSURD))
def test_absurd_records_are_refused_by_every_door_with_the_same_message(client, series, editor, case):
    services.stock_create(
        user=editor, project=series, code="MACl-1mL", date=D, salt_amount="400 umol", solvent_volume="1 mL"
    )
    services.stock_create(
        user=editor, project=series, code="MACl-dilute", date=D, salt_amount="10 umol", solvent_volume="10 mL"
    )
    kind, fields = _absurd_fields(series, case)
    expected = ABSURD[case][2]
    # the services
    with pytest.raises(ValidationError) as err:
        if kind == "batch":
            services.synthesis_create(user=editor, **fields)
        else:
            services.treatment_create(user=editor, **fields)
    said = err.value.messages
    assert any(expected in m for m in said), said
    # the API
    body = {k: (v.pk if hasattr(v, "pk") else str(v)) for k, v in fields.items()}
    r = api_client(editor).post(
        f"/api/{'batches' if kind == 'batch' else 'treatments'}/", body, format="json"
    )
    assert r.status_code == 400
    api_said = json.dumps(r.json(), ensure_ascii=False)
    # the admin
    url = reverse(f"admin:synthesis_{'synthesis' if kind == 'batch' else 'posttreatment'}_add")
    data = admin_page(client, editor, url)
    data.update(body)
    r = client.post(url, data)
    assert r.status_code == 200
    admin_said = html.unescape(r.content.decode())
    for message in said:  # the same words, whatever the door
        assert message in api_said and message in admin_said, message
    assert not Synthesis.objects.filter(code="B-BAD").exists()
    assert not PostTreatment.objects.filter(code="T-BAD").exists()


# --- cumulative treatments and stock consumption -----------------------------------------------
def test_a_second_treatment_of_a_portion_counts_the_first(series, editor):
    portion = Synthesis.objects.get(project=series, code="MAPI-221003-P1")  # T-0Cl added 0 uL
    stock = ChlorideStock.objects.get(project=series)
    one = 100 * 0.4 / 11.7
    kw = dict(user=editor, batch=portion, stock=stock, volume_added="1 uL")
    a = services.treatment_create(**kw, code="T-A", date=D)
    b = services.treatment_create(**kw, code="T-B", date=D + dt.timedelta(days=1))
    assert a.cl_to_i.to("percent").magnitude == pytest.approx(one)
    assert b.cl_to_i.to("percent").magnitude == pytest.approx(2 * one)  # was reported as untreated
    assert b.solvent_fraction.to("percent").magnitude == pytest.approx(0.05)
    assert b.chloride_amount.to("umol").magnitude == pytest.approx(0.4)  # its own addition
    services.treatment_update(user=editor, treatment=a, version=a.version, volume_added="2 uL")
    b.refresh_from_db()
    assert b.cl_to_i.to("percent").magnitude == pytest.approx(3 * one)
    services.treatment_delete(user=editor, treatment=PostTreatment.objects.get(pk=a.pk))
    b.refresh_from_db()
    assert b.cl_to_i.to("percent").magnitude == pytest.approx(one)


def test_stock_consumption_is_tracked_and_shown(client, series, editor):
    stock = ChlorideStock.objects.get(project=series)
    body = api_client(editor).get(f"/api/stocks/{stock.pk}/").json()
    assert body["volume_used_ul"] == pytest.approx(8.5) and body["volume_left_ul"] == pytest.approx(491.5)
    listed = api_client(editor).get("/api/stocks/").json()["results"][0]
    assert listed["volume_left_ul"] == pytest.approx(491.5)
    client.force_login(editor)
    url = reverse("admin:synthesis_chloridestock_change", args=[stock.pk])
    html_page = html.unescape(client.get(url).content.decode())
    assert "491.5 µL" in html_page and "8.5 µL" in html_page
    with pytest.raises(ValidationError, match="its treatments already used 8.5 µL"):
        services.stock_update(user=editor, stock=stock, version=stock.version, solvent_volume="5 uL")


# --- versions -------------------------------------------------------------------------------------
def test_writes_without_a_version_are_refused_and_stale_ones_are_conflicts(client, series, editor):
    batch = Synthesis.objects.get(project=series, code="MAPI-221003-P1")
    with pytest.raises(ValidationError, match="required when changing a record"):
        services.synthesis_update(user=editor, batch=batch, version=None, notes="x")
    with pytest.raises(ConflictError):
        services.synthesis_update(user=editor, batch=batch, version=batch.version - 1 or 99, notes="x")
    r = api_client(editor).patch(f"/api/batches/{batch.pk}/", {"notes": "x", "version": 99}, format="json")
    assert r.status_code == 409 and r.json()["current_version"] == batch.version
    assert r.json()["expected_version"] == 99
    url = reverse("admin:synthesis_synthesis_change", args=[batch.pk])
    data = admin_page(client, editor, url)
    del data["expected_version"]
    data["notes"] = "x"
    r = client.post(url, data)
    assert r.status_code == 200 and "required when changing a record" in html.unescape(r.content.decode())
    batch.refresh_from_db()
    assert batch.notes != "x"


# --- the matrix: record type x door x role x frozen, one answer ----------------------------------
RECORDS = {
    "batch": (Synthesis, {"code": "MAPI-221003-P1"}, "batches", services.batches),
    "link": (BatchLink, {"child__code": "MAPI-221003-P1"}, "batch-links", services.links),
    "stock": (ChlorideStock, {"code": "MACl-EtOH-221004"}, "stocks", services.stocks),
    "treatment": (PostTreatment, {"code": "T-0Cl"}, "treatments", services.treatments),
    "sample": (Sample, {"code": "S-0Cl-susp"}, "samples", services.samples),
}
ADMIN_PAGES = {  # the admin page each record is edited on, and the form field edited
    "batch": ("synthesis_synthesis", lambda obj: obj.pk, "notes"),
    "link": ("synthesis_synthesis", lambda obj: obj.child_id, "parent_links-0-fraction"),
    "stock": ("synthesis_chloridestock", lambda obj: obj.pk, "notes"),
    "treatment": ("synthesis_posttreatment", lambda obj: obj.pk, "notes"),
    "sample": ("synthesis_sample", lambda obj: obj.pk, "notes"),
}
# the series is the same at the start of every test, until the package's series is built again (a
# pytest-xdist worker may come back to the package): so by (project id, record type)
_admin_forms: dict[tuple[int, str], dict] = {}


def _expected(role: str, frozen: bool) -> str:
    if role == "outsider":
        return "not found"  # the record does not exist for them
    return "forbidden" if role == "viewer" or frozen else "ok"


def _by_service(service, obj, user, change) -> str:
    try:
        service.update(obj, user=user, version=obj.version, **change)
    except RecordNotFound:
        return "not found"
    except (RoleRequired, ProjectFrozen):
        return "forbidden"
    return "ok"


def _by_api(path, obj, user, change) -> str:
    r = api_client(user).patch(f"/api/{path}/{obj.pk}/", {**change, "version": obj.version}, format="json")
    return {200: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code} {r.content}")


def _by_admin(client, name, obj, user) -> str:
    page, pk_of, field = ADMIN_PAGES[name]
    url = reverse(f"admin:{page}_change", args=[pk_of(obj)])
    data = {**_admin_forms[obj.project_id, name], field: "0.2" if name == "link" else "edited"}
    client.force_login(user)
    r = client.post(url, data)
    return {302: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code}")


#: the bench pages' URL prefix of each record type (/treatments/7/edit/); a lineage link has none
PAGES = {"batch": "batches", "stock": "stocks", "treatment": "treatments", "sample": "samples"}
_page_forms: dict[tuple[int, str], dict] = {}
UPDATES = [
    (name, door) for name in RECORDS for door in ("services", "api", "admin", "page")
    if not (door == "page" and name not in PAGES)
]  # fmt: skip


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "door"), UPDATES)
def test_every_door_gives_the_same_answer(client, series, users, name, door, role, frozen):
    model, lookup, path, service = RECORDS[name]
    obj = model.objects.get(project=series, **lookup)
    change = {"fraction": 0.2} if name == "link" else {"notes": "edited"}
    if door == "admin" and (series.pk, name) not in _admin_forms:  # by the project admin, before a freeze
        page, pk_of, _ = ADMIN_PAGES[name]
        _admin_forms[series.pk, name] = admin_page(
            client, users["admin"], reverse(f"admin:{page}_change", args=[pk_of(obj)])
        )
    if door == "page" and (series.pk, name) not in _page_forms:  # the same, on the bench page
        _page_forms[series.pk, name] = doors.page_form_data(client, PAGES[name], obj, users["admin"])
    if frozen:
        Project.objects.filter(pk=series.pk).update(frozen_at=timezone.now(), freeze_reason="published")
        obj = model.objects.get(pk=obj.pk)
    user = users[role]
    if door == "services":
        got = _by_service(service, obj, user, change)
    elif door == "api":
        got = _by_api(path, obj, user, change)
    elif door == "page":
        got = doors.update_by_page(client, PAGES[name], obj, user, _page_forms[series.pk, name], change)
    else:
        got = _by_admin(client, name, obj, user)
    assert got == _expected(role, frozen)
    obj = model.objects.get(pk=obj.pk)
    value = getattr(obj, next(iter(change)))
    assert (value == next(iter(change.values()))) == (got == "ok")  # refused: nothing written


# --- inline rows carry the version they were loaded at ---------------------------------------------
INLINES = {  # the page a row is edited on, its formset prefix, the row, the field changed
    "link": ("synthesis_synthesis", "MAPI-221003-P1", "parent_links", "fraction", "0.15", "0.2"),
    "sample": ("synthesis_posttreatment", "T-3Cl", "samples", "substrate", "quartz", "silicon"),
}


@pytest.mark.parametrize("inline", list(INLINES))
def test_a_stale_inline_row_is_a_conflict_on_its_row_not_an_overwrite(client, series, users, inline):
    page, code, prefix, field, mine, theirs = INLINES[inline]
    model = Synthesis if inline == "link" else PostTreatment
    parent = model.objects.get(project=series, code=code)
    url = reverse(f"admin:{page}_change", args=[parent.pk])
    editor = users["editor"]
    client.force_login(editor)
    assert f'name="{prefix}-0-expected_version"' in client.get(url).content.decode()  # rendered, hidden
    data = admin_page(client, editor, url)
    row = (BatchLink if inline == "link" else Sample).objects.get(pk=data[f"{prefix}-0-id"])
    writers = services.links if inline == "link" else services.samples
    writers.update(row, user=users["admin"], version=row.version, **{field: theirs})  # meanwhile
    data[f"{prefix}-0-{field}"] = mine
    r = client.post(url, data)
    assert r.status_code == 200
    (formset,) = [f.formset for f in r.context["inline_admin_formsets"] if f.formset.prefix == prefix]
    said = " ".join(formset.errors[0].get("__all__", []))
    assert "Someone else saved this" in said and f"now {row.version + 1}" in said, formset.errors
    assert str(getattr(type(row).objects.get(pk=row.pk), field)) == theirs  # theirs stands
    data = admin_page(client, editor, url)  # reloaded: the same change saves
    data[f"{prefix}-0-{field}"] = mine
    r = client.post(url, data)
    assert r.status_code == 302, html.unescape(r.content.decode())[:2000]
    fresh = type(row).objects.get(pk=row.pk)
    assert str(getattr(fresh, field)) == mine and fresh.version == row.version + 2
    assert fresh.history.first().history_user == editor


# --- deletes: the same matrix, the same answers ----------------------------------------------------
def _leaf(name: str, series, admin):
    """A fresh record of type ``name`` that nothing points to (a delete is not refused for that)."""
    kw = {"user": admin, "date": D}
    if name == "batch":
        return services.synthesis_create(project=series, code="DEL-B", **kw)
    if name == "link":
        parent = services.synthesis_create(project=series, code="DEL-P", **kw)
        child = services.synthesis_create(project=series, code="DEL-C", **kw)
        return services.link_create(user=admin, parent=parent, child=child, fraction=0.5)
    if name == "stock":
        return services.stock_create(
            project=series, code="DEL-S", salt_amount="10 umol", solvent_volume="1 mL", **kw
        )
    portion = Synthesis.objects.get(project=series, code="MAPI-221003-P1")
    if name == "treatment":
        stock = ChlorideStock.objects.get(project=series)
        return services.treatment_create(batch=portion, stock=stock, code="DEL-T", volume_added="0 uL", **kw)
    return services.sample_create(batch=portion, code="DEL-SA", **kw)


def _delete_link_inline(client, link, user, data) -> str:
    """A lineage link is deleted on its child batch's page (its DELETE box in the inline)."""
    client.force_login(user)
    data = {**data, "parent_links-0-DELETE": "on"}
    r = client.post(reverse("admin:synthesis_synthesis_change", args=[link.child_id]), data)
    return doors._answer(link, r.status_code, user)


DELETES = [  # a lineage link has no admin or bench page of its own: no action, no page door
    (name, door) for name in RECORDS for door in doors.DELETE_DOORS
    if not (name == "link" and door in ("action", "page"))
]  # fmt: skip


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "door"), DELETES)
def test_every_door_gives_the_same_answer_to_a_delete(client, series, users, name, door, role, frozen):
    model, _, path, _ = RECORDS[name]
    obj = _leaf(name, series, users["admin"])
    if name == "link" and door == "admin":  # the child's page as its admin saw it, before a freeze
        inline = admin_page(
            client, users["admin"], reverse("admin:synthesis_synthesis_change", args=[obj.child_id])
        )
    if frozen:
        Project.objects.filter(pk=series.pk).update(frozen_at=timezone.now(), freeze_reason="published")
    user = users[role]
    if door == "api":
        got = doors.delete_by_api(path, obj, user)
    elif door == "page":
        got = doors.delete_by_page(client, PAGES[name], obj, user)
    elif name == "link":
        got = _delete_link_inline(client, obj, user, inline)
    else:
        page = ADMIN_PAGES[name][0]
        by = doors.delete_by_admin if door == "admin" else doors.delete_by_action
        got = by(client, page, obj, user)
    assert got == doors.expected_delete(role, frozen, door)
