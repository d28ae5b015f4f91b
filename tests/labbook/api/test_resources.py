"""Resources: auth and tokens, visibility and roles, quantities in and out, validation by the
models, nested links, frozen projects, lost updates and refused deletes."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from labbook.projects.models import Project
from labbook.synthesis.models import ChlorideStock, PostTreatment, Synthesis
from tests.labbook.api.conftest import client_for

pytestmark = pytest.mark.django_db

BATCH = {
    "code": "API-B1",
    "date": "2023-05-02",
    "pbi2_amount": "0.04 mmol",
    "mai_amount": {"magnitude": 120, "units": "umol"},
    "precursor_solvent_volume": "20 mL",
    "injection_volume": "1300 uL",
    "volume": {"magnitude": 4, "units": "mL", "uncertainty": 0.1},
}


def _batch(**changes):
    return {**BATCH, **changes}


# --- authentication and tokens --------------------------------------------------------------------
class TestAuth:
    def test_nothing_without_login(self, series):
        anon = APIClient()
        for path in ["/api/batches/", "/api/results/particles/", "/api/comparisons/", "/api/schema/"]:
            assert anon.get(path).status_code == 401, path
        assert anon.post("/api/batches/", _batch(project=series.pk), format="json").status_code == 401

    def test_password_for_token_then_token_auth_then_revoke(self, series, editor):
        anon = APIClient()
        r = anon.post("/api/auth/token/", {"username": "editor", "password": "pw-for-tests"}, format="json")
        assert r.status_code == 200, r.content
        key = r.json()["token"]
        assert r.json()["expires_at"]
        bad = anon.post("/api/auth/token/", {"username": "editor", "password": "nope"}, format="json")
        assert bad.status_code == 400
        anon.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert anon.get("/api/batches/").json()["count"] == 11
        # make another one (shown once), list them, revoke the first
        r = anon.post("/api/tokens/", {}, format="json")
        assert r.status_code == 201 and r.json()["user"] == editor.pk
        new = r.json()["key"]
        assert new != key
        mine = anon.get("/api/tokens/").json()["results"]
        assert [t["username"] for t in mine] == ["editor", "editor"] and all("key" not in t for t in mine)
        first = next(t for t in mine if key.startswith(t["key_id"]))
        assert anon.delete(f"/api/tokens/{first['id']}/").status_code == 204
        assert anon.get("/api/batches/").status_code == 401  # the first key is revoked
        anon.credentials(HTTP_AUTHORIZATION=f"Token {new}")
        assert anon.get("/api/batches/").status_code == 200

    def test_session_auth(self, series, editor):
        client = APIClient(enforce_csrf_checks=True)
        assert client.login(username="editor", password="pw-for-tests")
        assert client.get("/api/batches/").status_code == 200
        # a session write without the CSRF token is refused
        assert client.post("/api/batches/", _batch(project=series.pk), format="json").status_code == 403


# --- visibility and roles ------------------------------------------------------------------------
class TestPermissions:
    def test_outsiders_see_nothing_and_get_404(self, series, outsider):
        api = client_for(outsider)
        batch = Synthesis.objects.filter(project=series).first()
        assert api.get("/api/batches/").json()["count"] == 0
        assert api.get("/api/results/particles/").json()["count"] == 0
        assert api.get(f"/api/batches/{batch.pk}/").status_code == 404
        assert api.patch(f"/api/batches/{batch.pk}/", {"notes": "x"}, format="json").status_code in (403, 404)
        assert api.delete(f"/api/batches/{batch.pk}/").status_code in (403, 404)
        assert api.get("/api/projects/").json()["count"] == 0

    def test_viewers_read_only(self, series, viewer):
        api = client_for(viewer)
        batch = Synthesis.objects.filter(project=series).first()
        assert api.get(f"/api/batches/{batch.pk}/").status_code == 200
        r = api.post("/api/batches/", _batch(project=series.pk), format="json")
        assert r.status_code == 403, r.content
        r = api.patch(f"/api/batches/{batch.pk}/", {"notes": "x"}, format="json")
        assert r.status_code == 403 and "editor" in r.json()["detail"]
        assert api.delete(f"/api/batches/{batch.pk}/").status_code == 403
        assert api.get("/api/projects/").json()["results"][0]["my_role"] == "viewer"

    def test_cannot_create_in_or_link_to_another_project(self, series, editor):
        other = Project.objects.create(name="Other", slug="other")
        foreign = Synthesis.objects.create(project=other, code="FOREIGN", date=dt.date(2023, 1, 1))
        api = client_for(editor)
        r = api.post("/api/batches/", _batch(project=other.pk), format="json")
        assert r.status_code == 400 and "project" in r.json()
        stock = ChlorideStock.objects.filter(project=series).first()
        r = api.post(
            "/api/treatments/",
            {
                "project": series.pk,
                "code": "T-X",
                "batch": foreign.pk,
                "stock": stock.pk,
                "volume_added": "1 uL",
                "date": "2023-01-01",
            },
            format="json",
        )
        assert r.status_code == 400 and "batch" in r.json()
        assert "FOREIGN" not in r.content.decode()  # nothing about the other project's record leaks

    def test_frozen_project_refuses_writes_with_403_and_the_reason(self, series, editor):
        Project.objects.filter(pk=series.pk).update(frozen_at=timezone.now(), freeze_reason="published")
        api = client_for(editor)
        batch = Synthesis.objects.filter(project=series).first()
        r = api.patch(f"/api/batches/{batch.pk}/", {"notes": "late edit"}, format="json")
        assert r.status_code == 403 and "frozen" in r.json()["detail"] and "published" in r.json()["detail"]
        r = api.post("/api/batches/", _batch(project=series.pk), format="json")
        assert r.status_code == 403 and "frozen" in r.json()["detail"]
        assert api.delete(f"/api/batches/{batch.pk}/").status_code == 403
        assert api.get(f"/api/batches/{batch.pk}/").status_code == 200
        assert not Synthesis.objects.filter(code="API-B1").exists()


# --- quantities and validation -------------------------------------------------------------------
class TestQuantitiesAndValidation:
    def test_create_with_units_and_read_back_magnitude_units_uncertainty(self, series, api):
        r = api.post("/api/batches/", _batch(project=series.pk), format="json")
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["injection_volume"] == {"magnitude": pytest.approx(1.3), "units": "mL"}
        assert body["mai_amount"] == {"magnitude": pytest.approx(0.12), "units": "mmol"}
        assert body["volume"] == {"magnitude": 4.0, "units": "mL", "uncertainty": pytest.approx(0.1)}
        assert "volume_err" not in body
        batch = Synthesis.objects.get(code="API-B1")
        assert batch.created_by.username == "editor" and batch.injection_volume.magnitude == pytest.approx(
            1.3
        )

    def test_wrong_dimension_names_the_field_and_the_expected_dimension(self, series, api):
        r = api.post("/api/batches/", _batch(project=series.pk, injection_volume="5 mg"), format="json")
        assert r.status_code == 400
        msg = r.json()["injection_volume"][0]
        assert "mass" in msg and "expected a volume" in msg
        r = api.post(
            "/api/batches/",
            _batch(project=series.pk, volume={"magnitude": "x", "units": "mL"}),
            format="json",
        )
        assert r.status_code == 400 and "expected a volume" in r.json()["volume"][0]
        r = api.post("/api/batches/", _batch(project=series.pk, volume="1 \x1b"), format="json")
        assert r.status_code == 400 and "expected a volume" in r.json()["volume"][0]
        r = api.post("/api/batches/", _batch(project=series.pk, volume="lots"), format="json")
        assert r.status_code == 400 and "volume" in r.json()
        r = api.post("/api/batches/", _batch(project=series.pk, volume="-4 mL"), format="json")
        assert r.status_code == 400 and "negative" in r.json()["volume"][0]

    def test_model_validation_runs_full_clean(self, series, api):
        r = api.post("/api/batches/", _batch(project=series.pk, injection_volume="30 mL"), format="json")
        assert r.status_code == 400 and "cannot inject more" in r.json()["injection_volume"][0]
        code = Synthesis.objects.filter(project=series).first().code
        r = api.post("/api/batches/", _batch(project=series.pk, code=code), format="json")
        assert r.status_code == 400 and "already exists" in r.json()["code"][0]

    def test_unknown_fields_malformed_json_and_read_only_fields(self, series, api):
        r = api.post("/api/batches/", _batch(project=series.pk, colour="blue"), format="json")
        assert r.status_code == 400 and "unknown field" in r.json()["colour"][0]
        r = api.post("/api/batches/", data="{not json", content_type="application/json")
        assert r.status_code == 400 and "JSON" in r.json()["detail"]
        r = api.post("/api/batches/", data="[1, 2]", content_type="application/json")
        assert r.status_code == 400
        assert not Synthesis.objects.filter(code="API-B1").exists()

    def test_treatment_via_api_derives_cl_to_i_and_shows_lineage(self, series, api):
        portion = Synthesis.objects.get(code="MAPI-221003-P1")  # treated with 0 uL (T-0Cl)
        stock = ChlorideStock.objects.get(project=series)
        r = api.post(
            "/api/treatments/",
            {
                "project": series.pk,
                "code": "T-API",
                "batch": portion.pk,
                "stock": stock.pk,
                "volume_added": "0.001 mL",
                "date": "2022-10-05",
                "nominal_cl_percent": 3,
            },
            format="json",
        )
        assert r.status_code == 201, r.content
        t3 = PostTreatment.objects.get(code="T-3Cl")
        assert r.json()["cl_to_i"]["magnitude"] == pytest.approx(t3.cl_to_i.magnitude)
        assert r.json()["cl_to_i"]["units"] == "percent"
        detail = api.get(f"/api/treatments/{r.json()['id']}/").json()
        lineage = detail["batch_lineage"]
        assert lineage["batch"]["code"] == "MAPI-221003-P1"
        (pool,) = lineage["parents"]
        assert pool["code"] == "MAPI-221003-POOL" and pool["fraction"] == pytest.approx(0.25)
        assert len(pool["parents"]) == 6
        # derived values are read-only
        r = api.patch(
            f"/api/treatments/{r.json()['id']}/",
            {"cl_to_i": "50 %", "version": r.json()["version"]},
            format="json",
        )
        assert r.status_code == 200 and r.json()["cl_to_i"]["magnitude"] == pytest.approx(
            t3.cl_to_i.magnitude
        )

    def test_run_links_files_jobs_and_results(self, series, api):
        from labbook.characterization.models import CharacterizationRun

        run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
        body = api.get(f"/api/runs/{run.pk}/").json()
        assert body["exposure_time"]["units"] == "ms"
        assert [j["status"] for j in body["jobs"]] == ["succeeded"]
        (analysis,) = body["results"]["blinking"]
        assert analysis["n_particles"] == 12 and analysis["url"].endswith(
            f"/api/results/blinking/{analysis['id']}/"
        )
        assert api.get(analysis["url"]).json()["payload"] == {}

    def test_lost_update_is_409_with_the_changes(self, series, api):
        batch = Synthesis.objects.get(code="MAPI-221003-1")
        version = batch.version
        r = api.patch(f"/api/batches/{batch.pk}/", {"notes": "first", "version": version}, format="json")
        assert r.status_code == 200
        r = api.patch(f"/api/batches/{batch.pk}/", {"notes": "second", "version": version}, format="json")
        assert r.status_code == 409, r.content
        assert "notes" in r.json()["changes"] and r.json()["current_version"] == version + 1
        assert Synthesis.objects.get(pk=batch.pk).notes == "first"

    def test_delete_of_a_referenced_record_is_409_and_a_free_one_204(self, series, api):
        pool = Synthesis.objects.get(code="MAPI-221003-POOL")
        r = api.delete(f"/api/batches/{pool.pk}/")
        assert r.status_code == 409 and "still used by" in r.json()["detail"]
        r = api.post("/api/batches/", _batch(project=series.pk), format="json")
        assert api.delete(f"/api/batches/{r.json()['id']}/").status_code == 204

    def test_page_size_limits(self, series, api, settings):
        settings.API_MAX_PAGE_SIZE = 100
        assert api.get("/api/results/particles/?page_size=10").json()["results"].__len__() == 10
        r = api.get("/api/results/particles/?page_size=100000")
        assert r.status_code == 400 and "between 1 and 100" in r.json()["page_size"][0]
        assert api.get("/api/results/particles/?page_size=abc").status_code == 400
        assert api.get("/api/results/particles/?page=999").status_code == 404

    def test_entries_author_is_the_writer(self, series, api, editor):
        r = api.post(
            "/api/entries/", {"project": series.pk, "title": "note", "body": "**bold**"}, format="json"
        )
        assert r.status_code == 201, r.content
        assert r.json()["author"] == editor.pk and "<strong>bold</strong>" in r.json()["body_html"]
