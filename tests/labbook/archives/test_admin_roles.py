"""The admin honours project roles, freezing and versions."""

import pytest
from django.urls import reverse

from labbook.archives.services import project_freeze
from labbook.characterization.models import CharacterizationRun
from labbook.projects.models import Role
from labbook.synthesis.models import PostTreatment, Synthesis
from tests.labbook.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.labbook.archives.urls")]


def staff_with(series, role):
    user = UserFactory(is_staff=True)
    if role:
        MembershipFactory(project=series, user=user, role=role)
    return user


def treatment_form(t, **changes):
    data = {
        "project": t.project_id,
        "code": t.code,
        "batch": t.batch_id,
        "stock": t.stock_id,
        "date": t.date.isoformat(),
        "operator": "",
        "nominal_cl_percent": str(t.nominal_cl_percent),
        "volume_added": f"{t.volume_added.to('uL').magnitude} uL",
        "suspension_volume": "",
        "stirring_time": "30 min",
        "stirring_speed": "600 rpm",
        "notes": t.notes,
        "expected_version": str(t.version),
        "samples-TOTAL_FORMS": "0",
        "samples-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_viewers_read_editors_edit_outsiders_get_404(client, series):
    t = PostTreatment.objects.filter(project=series).order_by("code").last()
    url = reverse("admin:synthesis_posttreatment_change", args=[t.pk])
    client.force_login(staff_with(series, Role.VIEWER))
    html = client.get(url).content.decode()
    assert 'name="volume_added"' not in html and t.code in html  # read-only
    assert client.post(url, treatment_form(t, notes="viewer")).status_code == 403
    client.force_login(staff_with(series, Role.EDITOR))
    assert 'name="volume_added"' in client.get(url).content.decode()
    assert client.post(url, treatment_form(t, notes="editor")).status_code == 302
    assert PostTreatment.objects.get(pk=t.pk).notes == "editor"
    client.force_login(staff_with(series, None))
    assert client.get(url).status_code == 404
    stranger = UserFactory(is_staff=True)  # a member of another project only
    MembershipFactory(user=stranger, role=Role.ADMIN)
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert client.get(reverse("admin:synthesis_posttreatment_history", args=[t.pk])).status_code == 404


def test_two_admins_editing_the_same_record_the_second_gets_a_form_error(client, series, admin_user):
    t = PostTreatment.objects.filter(project=series).order_by("code").last()
    url = reverse("admin:synthesis_posttreatment_change", args=[t.pk])
    first, second = treatment_form(t, notes="first"), treatment_form(t, volume_added="9 uL")
    client.force_login(admin_user)
    for model, pk in [("posttreatment", t.pk), ("synthesis", t.batch_id), ("chemical", t.stock.salt_id)]:
        page = client.get(reverse(f"admin:synthesis_{model}_change", args=[pk])).content.decode()
        assert 'name="expected_version"' in page, model  # what the browser sends back
    run = CharacterizationRun.objects.filter(project=series).first()  # an admin with its own form
    page = client.get(
        reverse("admin:characterization_characterizationrun_change", args=[run.pk])
    ).content.decode()
    assert 'name="expected_version"' in page
    assert client.post(url, first).status_code == 302
    r = client.post(url, second)
    assert r.status_code == 200
    html = r.content.decode()
    assert "Someone else saved this" in html and "notes" in html
    t.refresh_from_db()
    assert t.notes == "first" and t.volume_added.to("uL").magnitude != 9


def test_history_page_lists_changes(client, series, admin_user):
    batch = Synthesis.objects.filter(project=series).first()
    batch.notes = "changed"
    batch.save()
    client.force_login(admin_user)
    r = client.get(reverse("admin:synthesis_synthesis_history", args=[batch.pk]))
    assert r.status_code == 200 and "curator" in r.content.decode()


def test_project_admins_freeze_from_the_admin_and_records_become_read_only(
    client, series, admin_user, signing_key
):
    editor = staff_with(series, Role.EDITOR)
    client.force_login(editor)
    assert client.post(
        reverse("admin:projects_project_freeze", args=[series.pk]), {"reason": "x"}
    ).status_code in (
        200,
        403,
        404,
    )
    series.refresh_from_db()
    assert not series.is_frozen
    client.force_login(admin_user)
    r = client.post(reverse("admin:projects_project_freeze", args=[series.pk]), {"reason": "submitted"})
    assert r.status_code == 302
    series.refresh_from_db()
    assert series.is_frozen and series.freeze_reason == "submitted"
    t = PostTreatment.objects.filter(project=series).first()
    url = reverse("admin:synthesis_posttreatment_change", args=[t.pk])
    html = client.get(url, follow=True).content.decode()
    assert "is frozen since" in html and "submitted" in html and 'name="volume_added"' not in html
    assert client.post(url, treatment_form(t, notes="no")).status_code == 403
    assert client.get(reverse("admin:synthesis_posttreatment_add")).status_code == 403
    # membership management stays with project admins; unfreezing with superusers
    r = client.post(reverse("admin:projects_project_unfreeze", args=[series.pk]), {"reason": "typo"})
    assert r.status_code == 200 and "only a superuser" in r.content.decode()


def test_superuser_unfreezes_from_the_admin(client, series, admin_user, signing_key):
    project_freeze(project=series, user=admin_user, reason="done")
    boss = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(boss)
    r = client.post(reverse("admin:projects_project_unfreeze", args=[series.pk]), {"reason": "erratum"})
    assert r.status_code == 302
    series.refresh_from_db()
    assert not series.is_frozen


def test_only_project_admins_manage_memberships(client, series):
    editor = staff_with(series, Role.EDITOR)
    client.force_login(editor)
    url = reverse("admin:projects_project_change", args=[series.pk])
    html = client.get(url).content.decode()
    assert (
        client.get(url).status_code == 200
        and "memberships-TOTAL_FORMS" not in html
        or 'name="memberships-0-role"' not in html
    )
