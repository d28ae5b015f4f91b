"""The template pages: list, make (from scratch, from a batch, from an entry), edit, delete, "new
from template", and the series applied through the page (0/3/9/17 % with the planner's volumes)."""

from urllib.parse import parse_qs, urlsplit

import pytest

from labbook.archives.services import project_freeze
from labbook.notebook import services as notebook
from labbook.recipes import services
from labbook.recipes.models import Template
from labbook.synthesis import services as synthesis
from labbook.synthesis.models import PostTreatment

SERIES_FORM = {"name": "0/3/9/17 % Cl from one pool", "targets": "0, 3, 9, 17", "stirring_time": "30 min"}


@pytest.fixture
def editor(bench, client):
    client.force_login(bench.editor)
    return client


def make_series(bench, client):
    response = client.post("/templates/new/?kind=series", {**SERIES_FORM, "project": bench.project.pk})
    assert response.status_code == 302, response.content.decode()
    return Template.objects.get(name=SERIES_FORM["name"])


def test_series_template_applied_on_the_page_makes_0_3_9_17_with_the_planners_volumes(bench, editor):
    t = make_series(bench, editor)
    assert t.fields == {"targets": "0, 3, 9, 17", "stirring_time": "30 min"}
    listed = editor.get("/templates/").content.decode()
    assert "0/3/9/17 % Cl from one pool" in listed and f"/templates/{t.pk}/use/" in listed
    assert editor.get(f"/templates/{t.pk}/use/")["Location"] == f"/templates/{t.pk}/apply/"
    form = editor.get(f"/templates/{t.pk}/apply/")
    assert form.status_code == 200 and 'id="plan"' not in form.content.decode()
    query = {"batch": bench.pool.pk, "stock": bench.stock.pk, "date": "2022-10-05"}
    plan = editor.get(f"/templates/{t.pk}/apply/", query).content.decode()
    expected = {
        target: synthesis.treatment_plan(batch=portion, stock=bench.stock, target_cl_percent=target)
        for target, portion in zip([0, 3, 9, 17], bench.portions, strict=True)
    }
    for target, portion in zip([0, 3, 9, 17], bench.portions, strict=True):
        assert f"{portion.code}-{target}Cl" in plan
        assert f"{expected[target].to('uL').magnitude:.3g} µL" in plan
    assert not PostTreatment.objects.exists()  # planning writes nothing
    done = editor.post(f"/templates/{t.pk}/apply/", query)
    assert done.status_code == 302 and done["Location"] == f"/treatments/?made_from={bench.pool.pk}"
    made = {p.nominal_cl_percent: p for p in PostTreatment.objects.all()}
    assert sorted(made) == [0, 3, 9, 17]
    for target, treatment in made.items():
        assert treatment.volume_added.to("uL").magnitude == pytest.approx(expected[target].to("uL").magnitude)
        assert treatment.cl_to_i.to("percent").magnitude == pytest.approx(target, abs=1e-6)
        assert str(treatment.date) == "2022-10-05" and treatment.created_by == bench.editor
    # again: refused with the reason, nothing more made
    again = editor.post(f"/templates/{t.pk}/apply/", query)
    assert again.status_code == 400 and "already treated" in again.content.decode()
    assert PostTreatment.objects.count() == 4


def test_bad_input_on_the_apply_page_is_a_form_error(bench, editor, client):
    t = make_series(bench, editor)
    wrong = editor.get(f"/templates/{t.pk}/apply/", {"batch": bench.portions[0].pk, "stock": bench.stock.pk})
    assert wrong.status_code == 400 and "no portions" in wrong.content.decode()
    junk = editor.post(f"/templates/{t.pk}/apply/", {"batch": "x", "stock": "", "date": "yesterday"})
    assert junk.status_code == 400 and not PostTreatment.objects.exists()
    client.force_login(bench.viewer)
    viewer = client.post(
        f"/templates/{t.pk}/apply/", {"batch": bench.pool.pk, "stock": bench.stock.pk, "date": "2022-10-05"}
    )
    assert viewer.status_code == 403 and not PostTreatment.objects.exists()
    page = client.get(
        f"/templates/{t.pk}/apply/", {"batch": bench.pool.pk, "stock": bench.stock.pk, "date": "2022-10-05"}
    )
    assert page.status_code == 200 and 'id="plan"' in page.content.decode()
    assert 'id="apply-form"' not in page.content.decode()  # viewers see the plan, no write button


def test_new_from_template_redirects_to_the_create_pages_with_get_parameters(bench, editor):
    made = editor.get(f"/templates/new/?from_batch={bench.pool.pk}")
    html = made.content.decode()
    assert made.status_code == 200 and 'value="1.3 mL"' in html and "MAPI-POOL recipe" in html
    fields = services.template_fields_from_batch(bench.pool)
    response = editor.post(
        f"/templates/new/?from_batch={bench.pool.pk}",
        {"project": bench.project.pk, "name": "paper recipe", **fields},
    )
    assert response.status_code == 302, response.content.decode()
    recipe = Template.objects.get(name="paper recipe")
    use = editor.get(f"/templates/{recipe.pk}/use/")["Location"]
    url = urlsplit(use)
    assert url.path == "/batches/new/"
    params = parse_qs(url.query)
    assert params["injection_volume"] == ["1.3 mL"] and params["project"] == [str(bench.project.pk)]
    entry = notebook.entry_create(user=bench.editor, project=bench.project, title="TRPL log", body="- 405 nm")
    editor.post(
        f"/templates/new/?from_entry={entry.pk}",
        {"project": bench.project.pk, "name": "TRPL", "title": entry.title, "body": entry.body},
    )
    use = urlsplit(editor.get(f"/templates/{Template.objects.get(name='TRPL').pk}/use/")["Location"])
    assert use.path == "/notebook/new/" and parse_qs(use.query)["title"] == ["TRPL log"]
    assert parse_qs(use.query)["body"] == ["- 405 nm"]


def test_edit_delete_and_refusals(bench, editor, client):
    t = make_series(bench, editor)
    form = editor.get(f"/templates/{t.pk}/edit/").content.decode()
    assert 'value="0, 3, 9, 17"' in form and 'name="version" value="1"' in form
    bad = editor.post(f"/templates/{t.pk}/edit/", {**SERIES_FORM, "targets": "0, 3, lots", "version": 1})
    assert bad.status_code == 400 and "not a number" in bad.content.decode()
    ok = editor.post(f"/templates/{t.pk}/edit/", {**SERIES_FORM, "targets": "0, 3", "version": 1})
    assert ok.status_code == 302 and Template.objects.get().targets == [0, 3]
    stale = editor.post(f"/templates/{t.pk}/edit/", {**SERIES_FORM, "version": 1})
    assert stale.status_code == 400 and "changed by someone else" in stale.content.decode()
    taken = editor.post("/templates/new/?kind=series", {**SERIES_FORM, "project": bench.project.pk})
    assert taken.status_code == 400 and "already has a template of that name" in taken.content.decode()
    assert editor.get("/templates/new/?kind=poem").status_code == 400
    assert editor.get("/templates/new/?from_batch=abc").status_code == 404
    client.force_login(bench.viewer)
    assert client.get(f"/templates/{t.pk}/edit/").status_code == 403
    assert client.post(f"/templates/{t.pk}/delete/").status_code == 403
    assert client.get("/templates/new/?kind=entry").status_code == 403
    listed = client.get("/templates/").content.decode()
    assert t.name in listed and f"/templates/{t.pk}/edit/" not in listed
    client.force_login(bench.editor)
    assert client.post(f"/templates/{t.pk}/delete/").status_code == 302 and not Template.objects.exists()


def test_a_frozen_projects_templates_are_read_only(bench, editor):
    t = make_series(bench, editor)
    admin = bench.editor.__class__.objects.create_superuser("root", password="pw")
    project_freeze(project=bench.project, user=admin, reason="published")
    assert editor.get(f"/templates/{t.pk}/edit/").status_code == 403
    page = editor.get(
        f"/templates/{t.pk}/apply/", {"batch": bench.pool.pk, "stock": bench.stock.pk, "date": "2022-10-05"}
    )
    assert "is frozen" in page.content.decode() and 'id="apply-form"' not in page.content.decode()
    assert (
        editor.post(
            f"/templates/{t.pk}/apply/",
            {"batch": bench.pool.pk, "stock": bench.stock.pk, "date": "2022-10-05"},
        ).status_code
        == 403
    )
    assert not PostTreatment.objects.exists()


def render(user, source: str, **context):
    from django.template import RequestContext
    from django.template import Template as DjangoTemplate
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return DjangoTemplate(source).render(RequestContext(request, context))


def test_the_includes_for_other_pages_offer_save_as_template_and_new_from_template(bench, editor):
    save = '{% include "recipes/save_as_template.html" with batch=obj %}'
    assert f"/templates/new/?from_batch={bench.pool.pk}" in render(bench.editor, save, obj=bench.pool)
    assert "save as template" not in render(bench.viewer, save, obj=bench.pool)
    entry = notebook.entry_create(user=bench.editor, project=bench.project, title="t", body="")
    html = render(bench.editor, '{% include "recipes/save_as_template.html" with entry=obj %}', obj=entry)
    assert f"/templates/new/?from_entry={entry.pk}" in html
    t = make_series(bench, editor)
    services.template_create(
        user=bench.editor, project=bench.project, name="recipe", kind="synthesis", fields={"washes": "2"}
    )
    use = '{% include "recipes/from_template.html" with kind="synthesis" %}'
    html = render(bench.editor, use)
    assert "recipe" in html and "/use/" in html and f"/templates/{t.pk}/use/" not in html
    assert render(bench.viewer, use).strip() == ""


def test_the_admin_lists_templates_read_only(bench, editor, client):
    t = make_series(bench, editor)
    boss = bench.editor.__class__.objects.create_superuser("boss", password="pw")
    client.force_login(boss)
    for url in ("/admin/recipes/template/?q=pool", f"/admin/recipes/template/{t.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200 and t.name in response.content.decode(), url
    assert client.post(f"/admin/recipes/template/{t.pk}/delete/").status_code == 403


def test_a_batch_page_link_preselects_the_batch_on_the_apply_page(bench, editor):
    t = make_series(bench, editor)
    html = render(
        bench.editor, '{% include "recipes/from_template.html" with kind="series" %}', batch=bench.pool
    )
    assert f"/templates/{t.pk}/apply/?batch={bench.pool.pk}" in html
    page = editor.get(f"/templates/{t.pk}/apply/", {"batch": bench.pool.pk})
    content = page.content.decode()
    assert page.status_code == 200 and f'<option value="{bench.pool.pk}" selected>' in content
    assert 'id="plan"' not in content and "errorlist" not in content


def test_the_list_runs_a_constant_number_of_queries(bench, editor, django_assert_max_num_queries):
    for n in range(12):
        services.template_create(
            user=bench.editor, project=bench.project, name=f"entry {n}", kind="entry", fields={"title": "t"}
        )
    with django_assert_max_num_queries(12):
        response = editor.get("/templates/")
    assert response.status_code == 200 and "entry 11" in response.content.decode()
