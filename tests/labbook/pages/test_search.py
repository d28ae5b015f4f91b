"""The header's search box: every record type and the notebook's text, ranked, scoped to the user's
projects, on SQLite (substring fallback) and PostgreSQL (full text) alike."""

import pytest

from labbook.notebook.models import NotebookEntry
from labbook.pages.search import MAX_QUERY, search_records
from labbook.projects.models import Role
from labbook.synthesis.models import PostTreatment
from tests.labbook.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_code_finds_its_record_first_and_partial_codes_find_the_family(series, scientist):
    hits = search_records(user=scientist, q="T-3Cl")
    treatment = PostTreatment.objects.get(project=series, code="T-3Cl")
    assert (hits[0].kind, hits[0].name, hits[0].url) == ("treatment", "T-3Cl", f"/treatments/{treatment.pk}/")
    family = {h.name.split()[0] for h in search_records(user=scientist, q="3Cl") if h.kind == "run"}
    assert "R-3Cl-BLINK" in family and "R-17Cl-BLINK" not in family


def test_words_in_notebook_text_and_notes_are_found_with_a_snippet(series, scientist):
    hits = search_records(user=scientist, q="pooled split")
    entry = next(h for h in hits if h.kind == "notebook entry")
    assert entry.name.startswith("Chloride post-treatment series") and "pooled" in entry.snippet.lower()
    assert any(h.kind == "sample" for h in search_records(user=scientist, q="toluene"))
    assert any(h.kind == "chemical" for h in search_records(user=scientist, q="PbI2"))
    assert search_records(user=scientist, q="nothing-like-this-anywhere") == []


def test_only_the_users_projects_are_searched(series, scientist):
    outsider = UserFactory(username="outsider")
    assert search_records(user=outsider, q="T-3Cl") == []
    viewer = UserFactory(username="viewer")
    MembershipFactory(project=series, user=viewer, role=Role.VIEWER)
    assert search_records(user=viewer, q="T-3Cl")[0].name == "T-3Cl"
    # stocks, chemicals and measurements have bench pages now (labbook/pages/records.py)
    stock = next(h for h in search_records(user=viewer, q="ethanol") if h.kind == "chloride stock")
    assert stock.url.startswith("/stocks/")
    # raw files have no page: the admin's, for staff only
    assert all(h.url == "" for h in search_records(user=viewer, q="tif") if h.kind == "raw file")


def test_the_page_escapes_what_it_shows_and_refuses_an_endless_query(series, scientist, client):
    NotebookEntry.objects.create(
        project=series, title="<script>alert(1)</script> xss probe", body="see <b>this</b>", author=scientist,
        created_by=scientist,
    )  # fmt: skip
    client.force_login(scientist)
    page = client.get("/search/", {"q": "xss probe"})
    html = page.content.decode()
    assert page.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt; xss probe" in html
    assert "<script>alert(1)" not in html
    assert 'name="q"' in client.get("/").content.decode()  # the box is in every page's header
    long = client.get("/search/", {"q": "x" * (MAX_QUERY + 1)})
    assert long.status_code == 400 and f"at most {MAX_QUERY}" in long.content.decode()
    assert client.get("/search/").status_code == 200  # an empty box: the form, no results
    client.logout()
    assert client.get("/search/", {"q": "T-3Cl"}).status_code == 302  # login first
