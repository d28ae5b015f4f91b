"""The admin is usable for every model: lists with units, filters, lineage, derived values, errors."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from labbook.demo import load_paper_series
from labbook.projects.models import Role
from labbook.synthesis.models import PostTreatment, Synthesis
from tests.labbook.factories import MembershipFactory, ProjectFactory, SynthesisFactory, UserFactory

pytestmark = pytest.mark.django_db

# Historical* models (django-simple-history) are browsed through their record's "History" page.
LABBOOK_MODELS = [
    m
    for m in apps.get_models()
    if m.__module__.startswith("labbook.") and not m.__name__.startswith("Historical")
]


@pytest.fixture
def superuser():
    return UserFactory(username="boss", is_staff=True, is_superuser=True)


@pytest.fixture
def series(superuser):
    return load_paper_series(user=superuser, with_files=False)


def test_every_labbook_model_is_in_the_admin():
    missing = [
        m.__name__
        for m in LABBOOK_MODELS
        if m not in admin.site._registry and m.__name__ not in {"BatchLink", "Membership", "JobInput"}
    ]  # edited inline on batches / projects
    assert missing == []


@pytest.mark.parametrize(
    "model", [m for m in LABBOOK_MODELS if m in admin.site._registry], ids=lambda m: m.__name__
)
def test_changelist_add_and_change_pages_render(client, superuser, series, model):
    client.force_login(superuser)
    info = (model._meta.app_label, model._meta.model_name)
    assert client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    assert client.get(reverse("admin:{}_{}_changelist".format(*info)), {"q": "MAPI"}).status_code == 200
    if admin.site._registry[model].has_add_permission(type("R", (), {"user": superuser})()):
        assert client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200
    obj = model.objects.first()
    if obj is not None:
        assert client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])).status_code == 200


def test_treatment_list_shows_units_and_derived_values(client, superuser, series):
    client.force_login(superuser)
    html = client.get(reverse("admin:synthesis_posttreatment_changelist")).content.decode()
    for text in ["2.5 µL", "5 µL", "17.09 %", "8.547 %", "3.419 %", "0.125 %", "0.0625 %", "0.025 %"]:
        assert text in html, text


def test_treatment_page_shows_derived_values_read_only(client, superuser, series):
    client.force_login(superuser)
    t = PostTreatment.objects.get(code="T-3Cl")
    html = client.get(reverse("admin:synthesis_posttreatment_change", args=[t.pk])).content.decode()
    assert "11.7 µmol" in html and "0.4 µmol" in html and "3.419 %" in html
    assert 'name="cl_to_i"' not in html  # derived: shown, not editable


def test_batch_page_draws_lineage(client, superuser, series):
    client.force_login(superuser)
    portion = Synthesis.objects.get(code="MAPI-221003-P2")
    html = client.get(reverse("admin:synthesis_synthesis_change", args=[portion.pk])).content.decode()
    assert "MAPI-221003-POOL" in html and "MAPI-221003-6" in html and "25 %" in html
    assert "11.7 µmol" in html


def test_filters_work(client, superuser, series):
    client.force_login(superuser)
    r = client.get(reverse("admin:characterization_characterizationrun_changelist"), {"technique": "trpl"})
    assert r.status_code == 200
    assert r.content.decode().count("R-") >= 4
    r = client.get(reverse("admin:synthesis_synthesis_changelist"), {"kind": "portion"})
    assert "MAPI-221003-P4" in r.content.decode() and "MAPI-221003-1<" not in r.content.decode()


def test_wrong_units_in_the_admin_form_are_a_form_error_and_nothing_is_saved(client, superuser, series):
    client.force_login(superuser)
    t = PostTreatment.objects.get(code="T-3Cl")
    url = reverse("admin:synthesis_posttreatment_change", args=[t.pk])
    data = {
        "project": t.project_id,
        "code": t.code,
        "batch": t.batch_id,
        "stock": t.stock_id,
        "date": "2022-10-04",
        "operator": "",
        "nominal_cl_percent": "3",
        "volume_added": "5 mg",
        "suspension_volume": "",
        "stirring_time": "30 min",
        "stirring_speed": "600 rpm",
        "notes": "",
        "samples-TOTAL_FORMS": "0",
        "samples-INITIAL_FORMS": "0",
    }
    r = client.post(url, data)
    assert r.status_code == 200
    assert "expected a volume (e.g. uL, mL)" in r.content.decode()
    t.refresh_from_db()
    assert t.volume_added.to("uL").magnitude == 1
    data["volume_added"] = "2.5 µL"
    r = client.post(url, data)
    assert r.status_code == 302, r.content.decode()[:2000]
    t.refresh_from_db()
    assert round(t.cl_to_i.magnitude, 1) == 8.5


def test_staff_see_only_their_projects_in_the_admin(client, series):
    other = ProjectFactory(name="Someone else's")
    SynthesisFactory(project=other, code="SECRET-1")
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="synthesis"))
    MembershipFactory(project=other, user=staff, role=Role.EDITOR)
    client.force_login(staff)
    html = client.get(reverse("admin:synthesis_synthesis_changelist")).content.decode()
    assert "SECRET-1" in html and "MAPI-221003-1" not in html
    hidden = Synthesis.objects.get(code="MAPI-221003-1")
    r = client.get(reverse("admin:synthesis_synthesis_change", args=[hidden.pk]))
    assert r.status_code in (302, 404)
