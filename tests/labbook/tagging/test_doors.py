"""Tags through the doors: ?tag= on the API lists and the page lists, /api/tags/, and the
record_tags include with its add/remove form."""

import pytest
from django.template import Context, RequestContext, Template
from django.test import RequestFactory
from rest_framework.test import APIClient

from labbook.archives.services import project_freeze
from labbook.tagging import selectors, services
from labbook.tagging.models import TaggedRecord


def api_as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def codes(response):
    return sorted(r["code"] for r in response.json()["results"])


def test_tag_filters_the_api_lists(lab):
    services.tag_add(user=lab.editor, record=lab.batch, name="ethanol-wash")
    services.tag_add(user=lab.editor, record=lab.stock, name="ethanol-wash")
    services.tag_add(user=lab.outsider, record=lab.foreign, name="ethanol-wash")  # another project's tag
    api = api_as(lab.editor)
    assert codes(api.get("/api/batches/", {"tag": "ethanol-wash"})) == ["MAPI-A"]
    assert codes(api.get("/api/batches/", {"tag": "Ethanol-Wash"})) == ["MAPI-A"]
    assert codes(api.get("/api/batches/", {"tag": "nothing-tagged"})) == []
    assert codes(api.get("/api/batches/")) == ["MAPI-A", "MAPI-B"]
    assert codes(api.get("/api/stocks/", {"tag": "ethanol-wash"})) == ["MACl-1"]
    assert codes(api_as(lab.outsider).get("/api/batches/", {"tag": "ethanol-wash"})) == ["MAPI-X"]
    services.tag_add(user=lab.editor, record=lab.entry, name="washing")
    entries = api.get("/api/entries/", {"tag": "washing"}).json()["results"]
    assert [e["title"] for e in entries] == ["washed twice"]
    # with the other filters
    assert codes(api.get("/api/batches/", {"tag": "ethanol-wash", "code": "MAPI-B"})) == []
    too_long = api.get("/api/batches/", {"tag": "x" * 51})
    assert too_long.status_code == 400 and "tag" in too_long.json()


def test_tag_filters_the_page_lists(lab, client):
    services.tag_add(user=lab.editor, record=lab.batch2, name="MACl-series-2")
    client.force_login(lab.viewer)
    page = client.get("/batches/", {"tag": "MACl-series-2"}).content.decode()
    assert "MAPI-B" in page and "MAPI-A" not in page
    page = client.get("/batches/").content.decode()
    assert "MAPI-B" in page and "MAPI-A" in page


def test_api_lists_tags_and_adds_and_removes_them(lab):
    api = api_as(lab.editor)
    added = api.post("/api/tags/add/", {"record_type": "batch", "record_id": lab.batch.pk, "name": "wash"})
    assert added.status_code == 201, added.content
    assert added.json() == {"record_type": "batch", "record_id": lab.batch.pk, "tags": ["wash"]}
    api.post("/api/tags/add/", {"record_type": "entry", "record_id": lab.entry.pk, "name": "wash"})
    listed = api.get("/api/tags/", {"project": lab.project.pk}).json()["results"]
    assert [(t["name"], t["records"]) for t in listed] == [("wash", 2)]
    one = api.get("/api/tags/", {"record_type": "batch", "record_id": lab.batch2.pk}).json()["results"]
    assert one == []
    removed = api.post(
        "/api/tags/remove/", {"record_type": "batch", "record_id": lab.batch.pk, "name": "wash"}
    )
    assert removed.status_code == 200 and removed.json()["tags"] == []
    # bad input: 400 with the field; unknown or invisible records: 404; viewers: 403
    bad = api.post("/api/tags/add/", {"record_type": "batch", "record_id": lab.batch.pk, "name": "a b"})
    assert bad.status_code == 400 and "name" in bad.json()
    assert (
        api.post("/api/tags/add/", {"record_type": "planet", "record_id": 1, "name": "x"}).status_code == 400
    )
    foreign = {"record_type": "batch", "record_id": lab.foreign.pk, "name": "x"}
    assert api.post("/api/tags/add/", foreign).status_code == 404
    viewer = api_as(lab.viewer).post(
        "/api/tags/add/", {"record_type": "batch", "record_id": lab.batch.pk, "name": "x"}
    )
    assert viewer.status_code == 403
    assert api_as(lab.outsider).get("/api/tags/").json()["results"] == []
    assert APIClient().get("/api/tags/").status_code in (401, 403)


def render_include(user, record):
    request = RequestFactory().get(f"/batches/{record.pk}/")
    request.user = user
    template = Template('{% include "tags/record_tags.html" with record=obj %}')
    return template.render(RequestContext(request, {"obj": record}))


def test_the_include_links_tags_to_the_filtered_list_and_offers_the_form_to_editors(lab):
    services.tag_add(user=lab.editor, record=lab.batch, name="ethanol-wash")
    html = render_include(lab.editor, lab.batch)
    assert 'href="/batches/?tag=ethanol-wash"' in html
    assert 'action="/tags/add/"' in html and 'action="/tags/remove/"' in html
    viewer_html = render_include(lab.viewer, lab.batch)
    assert 'href="/batches/?tag=ethanol-wash"' in viewer_html and "/tags/add/" not in viewer_html
    entry_html = render_include(lab.editor, lab.entry)
    assert "Add a tag" in entry_html and 'value="entry"' in entry_html
    assert (
        Template('{% include "tags/record_tags.html" with record=None %}').render(Context({})).strip() == ""
    )


def test_the_form_adds_and_removes_tags_and_refuses_with_a_reason(lab, client):
    client.force_login(lab.editor)
    form = {"kind": "batch", "id": lab.batch.pk, "next": f"/batches/{lab.batch.pk}/"}
    done = client.post("/tags/add/", {**form, "name": "ethanol-wash"})
    assert done.status_code == 302 and done["Location"] == f"/batches/{lab.batch.pk}/"
    assert [t.name for t in selectors.tags_of(lab.batch)] == ["ethanol-wash"]
    bad = client.post("/tags/add/", {**form, "name": "ethanol wash"})
    assert bad.status_code == 400 and "without spaces" in bad.content.decode()
    offsite = client.post("/tags/add/", {**form, "name": "b", "next": "https://evil.example/"})
    assert offsite["Location"] == "/"
    assert client.post("/tags/remove/", {**form, "name": "ethanol-wash"}).status_code == 302
    assert [t.name for t in selectors.tags_of(lab.batch)] == ["b"]
    assert client.post("/tags/add/", {**form, "kind": "planet", "name": "x"}).status_code == 404
    assert client.post("/tags/add/", {**form, "id": lab.foreign.pk, "name": "x"}).status_code == 404
    assert client.get("/tags/add/").status_code == 405
    client.force_login(lab.viewer)
    refused = client.post("/tags/add/", {**form, "name": "x"})
    assert refused.status_code == 403 and "editor" in refused.content.decode()


@pytest.mark.django_db
def test_a_frozen_project_shows_tags_without_the_form_and_refuses_posts(lab, client):
    services.tag_add(user=lab.editor, record=lab.batch, name="kept")
    admin = lab.editor.__class__.objects.create_superuser("root", password="pw")
    project_freeze(project=lab.project, user=admin, reason="published")
    lab.batch.refresh_from_db()
    html = render_include(lab.editor, lab.batch)
    assert "kept" in html and "/tags/add/" not in html and "/tags/remove/" not in html
    client.force_login(lab.editor)
    refused = client.post("/tags/remove/", {"kind": "batch", "id": lab.batch.pk, "name": "kept"})
    assert refused.status_code == 400 and "frozen" in refused.content.decode()
    assert TaggedRecord.objects.count() == 1


def test_the_admin_lists_tags_read_only(lab, client):
    row = services.tag_add(user=lab.editor, record=lab.batch, name="ethanol-wash")
    boss = lab.editor.__class__.objects.create_superuser("boss", password="pw")
    client.force_login(boss)
    for url in (
        "/admin/tagging/tag/",
        f"/admin/tagging/tag/{row.tag.pk}/change/",
        "/admin/tagging/taggedrecord/?q=ethanol",
        f"/admin/tagging/taggedrecord/{row.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200 and "ethanol-wash" in response.content.decode(), url
    assert client.get("/admin/tagging/tag/add/").status_code == 403
