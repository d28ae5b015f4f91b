"""Every record type on the bench pages (labbook/pages/records.py): create, edit in place with the
version check and history, delete, bulk edit, split and pool, role and freeze, lists that sort, export
and refuse a wrong filter without showing rows."""

import datetime as dt
import html
import re

import pytest
from django.urls import reverse

from labbook.archives.services import project_freeze
from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import Device, DeviceMeasurement
from labbook.projects.models import Membership, Role
from labbook.synthesis import services
from labbook.synthesis.models import Chemical, ChlorideStock, PostTreatment, Sample, Synthesis
from tests.labbook.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, scientist, series):
    client.force_login(scientist)
    return client


def _member(series, role):
    user = UserFactory(username=f"u-{role}")
    Membership.objects.create(project=series, user=user, role=role)
    return user


def _form_values(page: str) -> dict:
    """The values an edit form was rendered with (inputs and selected options)."""
    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.findall(r'<option value="([^"]*)"[^>]*selected', body)
        values[name] = chosen[0] if chosen else ""
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        values[name] = body.strip()
    values.pop("csrfmiddlewaretoken", None)
    return {k: html.unescape(v) for k, v in values.items()}


def test_edit_treatment_volume_changes_cl_to_i_and_history(editor, series, scientist):
    t = PostTreatment.objects.get(project=series, code="T-9Cl")
    before = t.cl_to_i.to("percent").magnitude
    r = editor.get(f"/treatments/{t.pk}/edit/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'name="expected_version"' in html and "data-derive-url" in html  # live Cl:I on edit too
    data = _form_values(html)
    assert data["expected_version"] == str(t.version)
    data["volume_added"] = "5 uL"
    r = editor.post(f"/treatments/{t.pk}/edit/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    t.refresh_from_db()
    assert t.volume_added.to("uL").magnitude == pytest.approx(5.0)
    assert t.cl_to_i.to("percent").magnitude == pytest.approx(2 * before, rel=1e-6)
    page = editor.get(f"/treatments/{t.pk}/history/").content.decode()
    assert "volume added" in page and "scientist" in page and "page: volume_added" in page
    assert "2.5 µL" in page and "5 µL" in page


def test_stale_edit_is_a_form_error_naming_who_and_what(editor, series):
    t = PostTreatment.objects.get(project=series, code="T-3Cl")
    data = _form_values(editor.get(f"/treatments/{t.pk}/edit/").content.decode())
    other = _member(series, Role.EDITOR)
    services.treatment_update(user=other, treatment=t, version=t.version, notes="re-measured")
    data["volume_added"] = "1.5 uL"
    r = editor.post(f"/treatments/{t.pk}/edit/", data)
    assert r.status_code == 200
    html = r.content.decode()
    assert "Not saved" in html and "u-editor" in html and "notes is now re-measured" in html
    t.refresh_from_db()
    assert t.volume_added.to("uL").magnitude == pytest.approx(1.0)  # nothing overwritten


def test_edit_refusal_by_the_rules_is_a_field_error(editor, series):
    t = PostTreatment.objects.get(project=series, code="T-17Cl")
    data = _form_values(editor.get(f"/treatments/{t.pk}/edit/").content.decode())
    data["volume_added"] = "5 mL"  # far more Cl than iodide, more than the stock holds
    r = editor.post(f"/treatments/{t.pk}/edit/", data)
    assert r.status_code == 200 and "Cl:I would be" in r.content.decode()
    t.refresh_from_db()
    assert t.volume_added.to("uL").magnitude == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("slug", "fields", "model"),
    [
        (
            "stocks",
            {
                "code": "MACl-NEW",
                "salt": "methylammonium chloride",
                "salt_mass": "6.8 mg",
                "solvent": "ethanol",
                "solvent_volume": "1 mL",
                "date": "2026-11-30",
            },
            ChlorideStock,
        ),
        ("chemicals", {"name": "cesium iodide", "formula": "CsI", "molar_mass": "259.81 g/mol"}, Chemical),
        (
            "samples",
            {
                "code": "S-NEW",
                "kind": "film",
                "batch": "MAPI-221003-P2",
                "substrate": "glass",
                "date": "2026-11-30",
            },
            Sample,
        ),
        (
            "runs",
            {
                "code": "R-NEW-PL",
                "sample": "S-3Cl-glass",
                "technique": "pl",
                "date": "2026-11-30",
                "excitation_wavelength": "405 nm",
            },
            CharacterizationRun,
        ),
        (
            "devices",
            {
                "code": "PD-NEW",
                "architecture": "lateral Au/MAPbI3/Au",
                "active_area": "0.04 cm^2",
                "fabricated_on": "2026-11-30",
            },
            Device,
        ),
    ],
)
def test_create_pages_for_every_record_type(editor, series, slug, fields, model):
    r = editor.get(f"/{slug}/new/")
    assert r.status_code == 200
    data = {"project": series.pk, **fields}
    for name, value in list(data.items()):  # choices by their shown name -> pk
        m = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', r.content.decode(), re.S)
        if m and not str(value).isdigit():
            options = dict(
                (text.strip(), pk)
                for pk, text in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', m.group(1))
            )
            data[name] = next((pk for text, pk in options.items() if text.startswith(value)), value)
    r = editor.post(f"/{slug}/new/", data)
    assert r.status_code == 302, r.content.decode()[:3000]
    obj = model.objects.get(
        project=series, **({"code": fields["code"]} if "code" in fields else {"name": fields["name"]})
    )
    assert obj.history.first().history_user.username == "scientist"
    assert editor.get(r["Location"]).status_code == 200


def test_measurement_create_from_its_device(editor, series):
    device = Device.objects.get(project=series, code="PD-MAPI-0Cl")
    page = editor.get(reverse("devices:device-detail", args=[device.pk])).content.decode()
    assert f"/measurements/new/?device={device.pk}" in page
    r = editor.post(
        "/measurements/new/", {"device": device.pk, "kind": "light_iv", "date": "2026-11-30", "bias": "2 V"}
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    m = DeviceMeasurement.objects.filter(device=device).latest("pk")
    assert m.bias.to("V").magnitude == pytest.approx(2.0) and m.project == series


def test_delete_page_and_a_protected_record(editor, series):
    t = PostTreatment.objects.get(project=series, code="T-0Cl")
    stock = ChlorideStock.objects.get(project=series)
    r = editor.post(f"/stocks/{stock.pk}/delete/", {"reason": "typo"})
    assert r.status_code == 409 and "Nothing was deleted" in r.content.decode()
    assert ChlorideStock.objects.filter(pk=stock.pk).exists()
    run = CharacterizationRun.objects.filter(project=series).first()
    r = editor.post(f"/runs/{run.pk}/delete/", {"reason": "duplicate run"})
    assert r.status_code == 302
    assert not CharacterizationRun.objects.filter(pk=run.pk).exists()
    assert (
        CharacterizationRun.history.filter(id=run.pk, history_type="-").first().history_change_reason
        == "page: deleted: duplicate run"
    )
    assert t.pk  # untouched


def test_viewers_see_no_write_buttons_and_are_refused(client, series):
    viewer = _member(series, Role.VIEWER)
    client.force_login(viewer)
    t = PostTreatment.objects.get(project=series, code="T-3Cl")
    page = client.get(reverse("synthesis:treatment-detail", args=[t.pk])).content.decode()
    assert "/edit/" not in page and "/delete/" not in page and f"/treatments/{t.pk}/history/" in page
    assert 'id="tags"' in page and "Add a tag" not in page and "Add a note" not in page
    b = Synthesis.objects.get(project=series, code="MAPI-221003-1")
    page = client.get(reverse("synthesis:batch-detail", args=[b.pk])).content.decode()
    assert (
        "Treat a portion" not in page and "Clone this batch" not in page and "Split into portions" not in page
    )
    assert client.get(f"/treatments/{t.pk}/edit/").status_code == 403
    assert client.post(f"/treatments/{t.pk}/delete/").status_code == 403
    assert client.get("/stocks/new/").status_code == 403
    listing = client.get(reverse("synthesis:treatment-list")).content.decode()
    assert "New treatment" not in listing and "bulk-edit" not in listing and "format=csv" in listing
    outsider = UserFactory(username="outsider")
    client.force_login(outsider)
    assert client.get(f"/treatments/{t.pk}/edit/").status_code == 404
    assert client.get(f"/treatments/{t.pk}/history/").status_code == 404


def test_frozen_project_shows_who_froze_it_and_no_write_buttons(editor, series, scientist):
    admin = UserFactory(username="curator", is_superuser=True)
    project_freeze(project=series, user=admin, reason="paper submitted")
    b = Synthesis.objects.get(project=series, code="MAPI-221003-1")
    page = editor.get(reverse("synthesis:batch-detail", args=[b.pk])).content.decode()
    assert 'id="freeze-banner"' in page and "curator" in page and "paper submitted" in page
    assert (
        f"/batches/{b.pk}/edit/" not in page
        and "Clone this batch" not in page
        and "Split into portions" not in page
    )
    r = editor.get(f"/batches/{b.pk}/edit/")
    assert r.status_code == 403 and "paper submitted" in r.content.decode()
    r = editor.get(reverse("synthesis:treatment-create"))  # no broken form: why there is nowhere to write
    assert r.status_code == 403 and "paper submitted" in r.content.decode()
    assert "Project: This field is required" not in r.content.decode()


def test_split_and_pool_pages(editor, series, scientist):
    parent = services.synthesis_clone(
        user=scientist,
        source=Synthesis.objects.get(project=series, code="MAPI-221003-2"),
        code="FRESH-1",
        date=dt.date(2026, 11, 30),
    )
    r = editor.get(f"/batches/{parent.pk}/split/?n=4")
    assert r.status_code == 200 and "FRESH-1-P4" in r.content.decode()
    data = {
        "date": "2026-11-30",
        "portions-TOTAL_FORMS": "4",
        "portions-INITIAL_FORMS": "0",
        "portions-MIN_NUM_FORMS": "1",
        "portions-MAX_NUM_FORMS": "48",
    }
    for i in range(4):
        data[f"portions-{i}-code"] = f"NEW-P{i + 1}"
        data[f"portions-{i}-fraction"] = "0.25"
    r = editor.post(f"/batches/{parent.pk}/split/", data)
    assert r.status_code == 302, r.content.decode()[:3000]
    kids = Synthesis.objects.filter(project=series, code__startswith="NEW-P")
    assert kids.count() == 4 and all(k.kind == "portion" for k in kids)
    data["portions-0-fraction"] = ""
    data["portions-0-code"] = "BAD-P1"
    r = editor.post(f"/batches/{parent.pk}/split/", data)
    assert r.status_code == 200 and "either the fraction" in r.content.decode()
    assert not Synthesis.objects.filter(code="BAD-P1").exists()
    r = editor.post(
        "/batches/pool/",
        {"project": series.pk, "code": "POOL-NEW", "date": "2026-11-30", "parents": [k.pk for k in kids[:2]]},
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    pool = Synthesis.objects.get(project=series, code="POOL-NEW")
    assert pool.kind == "pool" and {link.parent_id for link in pool.parent_links.all()} == {
        k.pk for k in kids[:2]
    }


def test_bulk_edit_all_or_nothing(editor, series):
    rows = list(PostTreatment.objects.filter(project=series).order_by("code"))
    listing = editor.get(reverse("synthesis:treatment-list")).content.decode()
    keys = re.findall(r'name="rows" value="([0-9]+:[0-9]+)"', listing)
    assert len(keys) == len(rows)
    r = editor.post(
        "/treatments/bulk-edit/",
        {"rows": keys, "field": "stirring_time", "value": "5 min", "next": "/treatments/"},
    )
    assert r.status_code == 302
    assert {t.stirring_time.to("s").magnitude for t in PostTreatment.objects.filter(project=series)} == {
        300.0
    }
    # the same selection again is stale now: nothing saved
    r = editor.post(
        "/treatments/bulk-edit/", {"rows": keys, "field": "stirring_time", "value": "7 min"}, follow=True
    )
    assert "Nothing was saved" in r.content.decode()
    assert {t.stirring_time.to("s").magnitude for t in PostTreatment.objects.filter(project=series)} == {
        300.0
    }
    r = editor.post(
        "/treatments/bulk-edit/", {"rows": keys[:1], "field": "stirring_time", "value": "5 kg"}, follow=True
    )
    assert "bulk edit" in r.content.decode()
    r = editor.post(
        "/treatments/bulk-edit/", {"rows": keys[:1], "field": "project", "value": "1"}, follow=True
    )
    assert "choose one of" in r.content.decode()


def test_lists_sort_export_and_refuse_a_wrong_filter(editor, series):
    r = editor.get(reverse("synthesis:treatment-list") + "?ordering=-nominal_cl_percent")
    html = r.content.decode()
    codes = re.findall(r'<a href="/treatments/\d+/">(T-[0-9]+Cl)</a>', html)
    assert codes == ["T-17Cl", "T-9Cl", "T-3Cl", "T-0Cl"]
    assert "/api/treatments/?format=csv" in html and "/api/treatments/?format=xlsx" in html
    r = editor.get(reverse("synthesis:treatment-list") + "?date__gte=notadate")
    html = r.content.decode()
    assert "errorlist" in html and "T-17Cl" not in html and "Nothing is listed" in html
    r = editor.get(reverse("synthesis:batch-list") + "?kind=portion")
    assert "format=csv&amp;" not in r.content.decode() or "kind=portion" in r.content.decode()
    assert "/api/batches/?kind=portion&amp;format=csv" in r.content.decode()


def test_generic_lists_and_details(editor, series):
    for slug in ["stocks", "chemicals", "measurements"]:
        r = editor.get(f"/{slug}/")
        assert r.status_code == 200, slug
    stock = ChlorideStock.objects.get(project=series)
    page = editor.get(f"/stocks/{stock.pk}/").content.decode()
    assert "MACl-EtOH-221004" in page and "T-9Cl" in page and f"/stocks/{stock.pk}/edit/" in page
    assert "solvent volume (mL)" in editor.get("/stocks/").content.decode()
    assert "Add a tag" in page  # tags on every record page (labbook/tagging), for editors


def test_live_cl_panel_is_as_strict_as_saving(editor, series):
    t = PostTreatment.objects.get(project=series, code="T-3Cl")
    url = reverse("synthesis:treatment-derive")
    ok = editor.get(url, {"batch": t.batch_id, "stock": t.stock_id, "volume_added": "1 uL"}).json()
    assert ok["refused"] == "" and ok["cl_to_i"]
    bad = editor.get(url, {"batch": t.batch_id, "stock": t.stock_id, "volume_added": "500 uL"}).json()
    assert "Cl:I would be" in bad["refused"]


def test_create_pages_prefill_from_get_parameters(editor, series):
    r = editor.get(reverse("synthesis:batch-create") + "?injection_volume=1.3+mL&code=FROM-TEMPLATE")
    html = r.content.decode()
    assert 'value="FROM-TEMPLATE"' in html and "1.3 mL" in html
    assert dt.date.today()


def test_every_kind_edit_page_opens_and_saves(editor, series):
    from labbook.pages.records import KINDS

    for slug, kind in KINDS.items():
        obj = kind.model.objects.filter(project=series).order_by("pk").first()
        assert obj is not None, slug
        r = editor.get(f"/{slug}/{obj.pk}/edit/")
        assert r.status_code == 200, slug
        data = _form_values(r.content.decode())
        for name, body in re.findall(
            r'<select name="([^"]+)"[^>]*multiple[^>]*>(.*?)</select>', r.content.decode(), re.S
        ):
            data[name] = re.findall(r'<option value="([^"]*)"[^>]*selected', body)
        data["notes"] = "checked on the page"
        if slug == "notebook":
            data["body"] = "checked on the page"
        r = editor.post(f"/{slug}/{obj.pk}/edit/", data)
        assert r.status_code == 302, (
            slug,
            re.findall(r'<ul class="errorlist">(.*?)</ul>', r.content.decode()),
        )
        obj.refresh_from_db()
        assert obj.version >= 2, slug
        assert editor.get(f"/{slug}/{obj.pk}/history/").status_code == 200


def test_new_entry_from_get_parameters_and_no_broken_form_when_frozen(editor, series):
    r = editor.get(f"/notebook/new/?project={series.pk}&title=Washing+test&body=CH~3~NH~3~PbI~3~")
    html = r.content.decode()
    assert r.status_code == 200 and 'value="Washing test"' in html and "CH~3~NH~3~PbI~3~" in html
    project_freeze(project=series, user=UserFactory(username="boss", is_superuser=True), reason="audit")
    r = editor.get("/notebook/new/")
    assert r.status_code == 403 and "audit" in r.content.decode()
