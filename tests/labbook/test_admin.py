"""The admin is usable for every model: lists with units, filters, lineage, derived values, errors."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from labbook.demo import load_paper_series
from labbook.projects.models import Project, Role
from labbook.synthesis.models import PostTreatment, Synthesis
from tests.labbook.factories import MembershipFactory, ProjectFactory, SynthesisFactory, UserFactory
from tests.labbook.shared import rolled_back

pytestmark = pytest.mark.django_db

# Historical* models (django-simple-history) are browsed through their record's "History" page.
LABBOOK_MODELS = [
    m
    for m in apps.get_models()
    if m.__module__.startswith("labbook.") and not m.__name__.startswith("Historical")
]


@pytest.fixture(scope="module")
def _admin_data(django_db_setup, django_db_blocker):
    """The superuser and the demo series, built once for this module (tests/labbook/shared.py)."""
    with rolled_back(django_db_blocker):
        boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
        yield {"superuser": boss.pk, "series": load_paper_series(user=boss, with_files=False).pk}


@pytest.fixture
def superuser(_admin_data, db):
    return get_user_model().objects.get(pk=_admin_data["superuser"])


@pytest.fixture
def series(_admin_data, db):
    return Project.objects.get(pk=_admin_data["series"])


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
        "expected_version": t.version,
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


# --- issue 13: job actions by role and on frozen projects; filters; codes ------------------------
@pytest.fixture
def queued_job(superuser, series):
    import io

    from labbook.characterization.models import CharacterizationRun
    from labbook.files.services import raw_file_store
    from labbook.jobs.services import job_submit_natural

    run = CharacterizationRun.objects.get(project=series, code="R-3Cl-PL")
    raw = raw_file_store(
        project=series, fileobj=io.BytesIO(b"w,i\n1,2\n"), original_name="pl.csv", user=superuser
    )
    run.raw_files.add(raw)
    return job_submit_natural(target=run, user=superuser)


def _staff_with_role(series, role):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs"))
    MembershipFactory(project=series, user=staff, role=role)
    return staff


def _action(client, job, action) -> str:
    """Run an admin action on ``job``; return the messages shown afterwards, one per line."""
    r = client.post(
        reverse("admin:jobs_analysisjob_changelist"),
        {"action": action, "_selected_action": [job.pk]},
        follow=True,
    )
    assert r.status_code == 200
    return "\n".join(str(m) for m in r.context["messages"])


def test_a_staff_viewer_cannot_rerun_or_cancel_jobs_in_the_admin(client, series, queued_job):
    from labbook.jobs.models import AnalysisJob

    client.force_login(_staff_with_role(series, Role.VIEWER))
    said = _action(client, queued_job, "rerun")
    assert f"job {queued_job.pk} not re-run" in said and "editor role" in said
    assert f"job {queued_job.pk} not cancelled" in _action(client, queued_job, "cancel")
    assert AnalysisJob.objects.count() == 1 and AnalysisJob.objects.get().status == "queued"


def test_a_staff_editor_can_rerun_and_cancel(client, series, queued_job):
    from labbook.jobs.models import AnalysisJob

    client.force_login(_staff_with_role(series, Role.EDITOR))
    assert "queued (re-run of" in _action(client, queued_job, "rerun")
    assert AnalysisJob.objects.count() == 2
    assert "cancelled 1 job(s)" in _action(client, queued_job, "cancel")


def test_rerunning_a_frozen_projects_job_in_the_admin_is_a_message_not_a_500(
    client, superuser, series, queued_job
):
    from django.utils import timezone

    from labbook.jobs.models import AnalysisJob
    from labbook.projects.models import Project

    Project.objects.filter(pk=series.pk).update(frozen_at=timezone.now(), freeze_reason="published")
    client.force_login(superuser)
    said = _action(client, queued_job, "rerun")
    assert f"job {queued_job.pk} not re-run" in said and "frozen" in said
    assert AnalysisJob.objects.count() == 1


def test_admin_list_filters_offer_only_the_users_projects_records(client, series):
    from labbook.synthesis.models import Sample

    other = ProjectFactory(name="Rival group study")
    mine = ProjectFactory(name="My own study")
    SynthesisFactory(project=mine, code="MINE-1")
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["synthesis", "jobs"]))
    MembershipFactory(project=mine, user=staff, role=Role.EDITOR)
    client.force_login(staff)
    for name in [
        "admin:synthesis_synthesis_changelist",
        "admin:synthesis_posttreatment_changelist",
        "admin:synthesis_sample_changelist",
        "admin:jobs_analysisjob_changelist",
    ]:
        html = client.get(reverse(name)).content.decode()
        assert series.name not in html and other.name not in html, name
        assert "T-3Cl" not in html and "MAPI-221003" not in html, name  # treatment/batch codes
    assert Sample.objects.filter(project=series).exists()
    assert "My own study" in client.get(reverse("admin:synthesis_synthesis_changelist")).content.decode()
