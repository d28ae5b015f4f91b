"""Regression tests for the holes an attacker found (issue 13): tokens, quantity expressions, lost
updates without a version, deeply nested JSON and debug pages, login throttling and lockout,
password rules, hashed and expiring tokens, cross-project links, user enumeration and server paths
in error messages."""

import datetime as dt

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from labbook.api.exceptions import exception_handler, scrub_paths
from labbook.api.models import ApiToken
from labbook.characterization.models import CharacterizationRun
from labbook.files.models import RawFile
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.projects.models import Membership, Project, Role
from labbook.synthesis.models import Sample, Synthesis
from tests.labbook.api.conftest import client_for

pytestmark = pytest.mark.django_db


def _login(client, username, password):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json")


# --- 1. tokens: a user manages only their own -----------------------------------------------------
class TestTokenOwnership:
    def test_staff_cannot_mint_list_or_revoke_other_users_tokens(self, series, owner, viewer):
        _, viewer_key = ApiToken.mint(viewer)
        owner.is_staff = True
        owner.save()
        staff = client_for(owner)
        r = staff.post("/api/tokens/", {"user": viewer.pk}, format="json")
        assert r.status_code == 400 and "user" in r.json()
        assert ApiToken.objects.filter(user=viewer).count() == 1  # nothing minted for the viewer
        viewer_token = ApiToken.objects.get(user=viewer)
        assert staff.delete(f"/api/tokens/{viewer_token.pk}/").status_code == 404
        assert staff.get("/api/tokens/").json()["count"] == 0  # their own only
        # the viewer's key still works
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {viewer_key}")
        assert api.get("/api/projects/").status_code == 200

    def test_superusers_may_see_and_revoke_but_not_mint_for_others(self, series, owner, viewer):
        ApiToken.mint(viewer)
        owner.is_superuser = owner.is_staff = True
        owner.save()
        admin = client_for(owner)
        assert admin.post("/api/tokens/", {"user": viewer.pk}, format="json").status_code == 400
        listed = admin.get("/api/tokens/").json()["results"]
        assert [t["username"] for t in listed] == ["viewer"]
        assert admin.delete(f"/api/tokens/{listed[0]['id']}/").status_code == 204
        assert not ApiToken.objects.filter(user=viewer).exists()
        # a token made by a superuser is their own
        r = admin.post("/api/tokens/", {}, format="json")
        assert r.status_code == 201 and r.json()["user"] == owner.pk


# --- 5. tokens: hashed, expiring, void after a password change ------------------------------------
class TestTokenStorage:
    def test_tokens_are_stored_hashed(self, series, editor):
        key = _login(APIClient(), "editor", "pw-for-tests").json()["token"]
        token = ApiToken.objects.get(user=editor)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
            stored = " ".join(str(v) for row in cursor.fetchall() for v in row)
        assert key not in stored and key.split(".", 1)[1] not in stored
        assert token.digest != key and len(token.digest) == 64

    def test_tokens_expire_after_the_configured_time(self, series, editor, settings):
        settings.API_TOKEN_TTL_S = 60
        r = _login(APIClient(), "editor", "pw-for-tests")
        token = ApiToken.objects.get(user=editor)
        assert token.expires_at - token.created_at == dt.timedelta(seconds=60)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {r.json()['token']}")
        assert api.get("/api/projects/").status_code == 200
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert api.get("/api/projects/").status_code == 401

    def test_a_password_change_revokes_the_tokens(self, series, editor):
        key = _login(APIClient(), "editor", "pw-for-tests").json()["token"]
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert api.get("/api/projects/").status_code == 200
        editor.set_password("a-new-long-passphrase")
        editor.save()
        assert api.get("/api/projects/").status_code == 401

    def test_a_forged_key_with_a_known_id_is_refused(self, series, editor):
        key = _login(APIClient(), "editor", "pw-for-tests").json()["token"]
        key_id = key.split(".", 1)[0]
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key_id}.{'A' * 43}")
        assert api.get("/api/projects/").status_code == 401


# --- 5. login throttling, lockout and password rules ----------------------------------------------
class TestLogin:
    def test_a_user_name_is_locked_out_after_repeated_wrong_passwords(self, series, editor, settings):
        settings.LOGIN_FAILURE_LIMIT = 5
        anon = APIClient()
        for _ in range(5):
            assert _login(anon, "editor", "guess").status_code == 400
        r = _login(anon, "editor", "pw-for-tests")  # the right password, too late
        assert r.status_code == 400 and "token" not in r.json()
        assert not APIClient().login(username="editor", password="pw-for-tests")  # the pages and admin too
        from django.core.cache import cache

        cache.clear()  # the lockout period is over
        assert _login(anon, "editor", "pw-for-tests").status_code == 200

    def test_the_token_endpoint_is_throttled(self, series, editor, monkeypatch):
        from rest_framework.throttling import ScopedRateThrottle

        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/min"})
        anon = APIClient()
        codes = [_login(anon, "nobody", f"guess-{i}").status_code for i in range(5)]
        assert codes == [400, 400, 400, 429, 429]

    def test_weak_passwords_are_refused_where_users_set_them(self, db):
        with pytest.raises(ValidationError):
            validate_password("12345678")
        with pytest.raises(ValidationError):
            validate_password("password")
        form = AdminUserCreationForm(
            data={
                "username": "newbie",
                "password1": "12345678",
                "password2": "12345678",
                "usable_password": "true",
            }
        )
        assert not form.is_valid() and "password2" in form.errors
        validate_password("perovskite-chloride-series")  # a real passphrase passes


class _CountingHasher(MD5PasswordHasher):
    calls = 0

    def encode(self, password, salt):
        type(self).calls += 1
        return super().encode(password, salt)


# --- 17. user enumeration ------------------------------------------------------------------------
class TestEnumeration:
    def test_unknown_user_and_wrong_password_get_the_same_answer_and_the_same_work(self, series, settings):
        settings.PASSWORD_HASHERS = [f"{__name__}._CountingHasher"]
        anon = APIClient()
        unknown = _login(anon, "no-such-user", "guess")
        wrong = _login(anon, "editor", "guess")
        assert unknown.status_code == wrong.status_code == 400
        assert unknown.json() == wrong.json()
        for username in ("no-such-user", "editor"):
            before = _CountingHasher.calls
            assert authenticate(username=username, password="guess") is None
            assert _CountingHasher.calls - before == 1, username  # one password hash either way

    def test_server_paths_are_not_in_api_error_messages(self, series, api):
        run = CharacterizationRun.objects.filter(project=series, technique="trpl").first()
        job = AnalysisJob.objects.create(
            project=series,
            kind="trpl",
            run=run,
            input_key="f" * 64,
            analysis_version="test",
            status=JobStatus.FAILED,
            error="/tmp/labbook-job-x1y2/decay.csv: not a TCSPC histogram",
            log="2024-01-01 failed: /srv/labbook/var/media/raw/ab/abcdef: truncated\n",
        )
        body = api.get(f"/api/jobs/{job.pk}/").json()
        assert body["error"] == "decay.csv: not a TCSPC histogram"
        assert "/srv/" not in body["log"] and "/tmp/" not in body["log"]
        response = exception_handler(
            ValidationError({"file": "/tmp/tmpab12cd.upload.csv: cannot read"}), {"request": None}
        )
        assert response.data == {"file": ["tmpab12cd.upload.csv: cannot read"]}
        assert scrub_paths("5 mol/L in http://host/api/runs/1/") == "5 mol/L in http://host/api/runs/1/"


# --- 2 and 16. quantity expressions are bounded before pint evaluates them ------------------------
class TestQuantityExpressions:
    def test_a_power_tower_in_a_filter_is_refused_without_evaluating_it(self, series, api):
        r = api.get("/api/treatments/", {"volume_added__gte": "1 uL**10**10**7"})
        assert r.status_code == 400 and "exponent" in str(r.json())

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("2.5 mL foo", "after the unit"),
            ("2.5 mL mL", "after the unit"),
            ("1e-400 mL", "too small"),
            ("1e400 mL", "too large"),
            ("1 mL^99", "exponent"),
            ("1 " + "(" * 5 + "mL" + ")" * 5, "brackets"),
            ("1 " + "mL*" * 40 + "mL", "characters"),
            ("1e-300 fL", "too small"),  # underflows to 0 in the stored unit (mL)
        ],
    )
    def test_junk_underflow_overflow_and_big_expressions_are_400(self, series, api, value, message):
        body = {
            "project": series.pk,
            "code": "Q-1",
            "date": "2023-05-02",
            "pbi2_amount": "0.04 mmol",
            "mai_amount": "120 umol",
            "precursor_solvent_volume": "20 mL",
            "injection_volume": "1300 uL",
            "volume": value,
        }
        r = api.post("/api/batches/", body, format="json")
        assert r.status_code == 400 and message in r.json()["volume"][0], r.content
        assert not Synthesis.objects.filter(code="Q-1").exists()

    def test_a_huge_integer_magnitude_is_400_not_500(self, series, api):
        r = api.get("/api/treatments/", {"volume_added__gte": "1" + "0" * 400})
        assert r.status_code == 400
        batch = Synthesis.objects.filter(project=series).first()
        body = f'{{"volume": {{"magnitude": 1{"0" * 400}, "units": "mL"}}, "version": {batch.version}}}'
        r = api.patch(f"/api/batches/{batch.pk}/", body, content_type="application/json")
        assert r.status_code == 400 and "volume" in r.json()


# --- 8. updates must name the version they are based on -------------------------------------------
class TestVersionRequired:
    def test_patch_or_put_without_version_is_refused_naming_version(self, series, api):
        batch = Synthesis.objects.get(code="MAPI-221003-1")
        r = api.patch(f"/api/batches/{batch.pk}/", {"notes": "overwrite"}, format="json")
        assert r.status_code == 400 and "version" in r.json(), r.content
        assert str(batch.version) in r.json()["version"][0]
        full = api.get(f"/api/batches/{batch.pk}/").json()
        writable = {
            k: full[k]
            for k in ("project", "code", "date", "pbi2_amount", "mai_amount", "precursor_solvent_volume")
        }
        r = api.put(f"/api/batches/{batch.pk}/", {**writable, "notes": "overwrite"}, format="json")
        assert r.status_code == 400 and "version" in r.json(), r.content
        assert Synthesis.objects.get(pk=batch.pk).notes != "overwrite"
        r = api.patch(f"/api/batches/{batch.pk}/", {"notes": "ok", "version": batch.version}, format="json")
        assert r.status_code == 200 and r.json()["version"] == batch.version + 1


# --- 9. deeply nested JSON, debug pages ------------------------------------------------------------
class TestNestedJsonAndDebugPages:
    @pytest.mark.parametrize("debug", [False, True])
    def test_a_50000_level_json_body_is_400(self, series, api, settings, debug):
        settings.DEBUG = debug
        body = '{"notes": ' + "[" * 50_000 + "]" * 50_000 + "}"
        r = api.post("/api/batches/", body, content_type="application/json")
        assert r.status_code == 400 and "nested" in r.json()["detail"]
        # brackets inside strings do not count; ordinary nesting passes the parser
        r = api.post("/api/batches/", '{"code": "' + "[" * 100 + '"}', content_type="application/json")
        assert r.status_code == 400 and "nested" not in str(r.json())

    def test_a_debug_500_page_does_not_show_database_url(self, settings, rf):
        import sys

        from django.views.debug import technical_500_response

        settings.DEBUG = True
        request = _request_with_database_url(rf)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            response = technical_500_response(request, *sys.exc_info())
        page = response.content.decode()
        assert "boom" in page and "DATABASE_URL" in page
        assert request.META["DATABASE_URL"].split(":")[2].split("@")[0] not in page


def _request_with_database_url(rf):
    """A request whose environment carries a DATABASE_URL with a password (as runserver's does)."""
    return rf.get("/api/", DATABASE_URL="postgres://labbook:" + "s3cret" + "-pw@db.example/labbook")


# --- 5 (issue). cross-project links ----------------------------------------------------------------
class TestCrossProjectLinks:
    @pytest.fixture
    def other(self, series, editor):
        other = Project.objects.create(name="Other", slug="other-project")
        Membership.objects.create(project=other, user=editor, role=Role.EDITOR)
        return other

    def test_a_runs_raw_files_must_be_in_its_project(self, series, api, other):
        foreign = RawFile.objects.create(project=other, sha256="a" * 64, size=1, original_name="x.csv")
        run = CharacterizationRun.objects.filter(project=series).first()
        r = api.patch(
            f"/api/runs/{run.pk}/", {"raw_files": [foreign.pk], "version": run.version}, format="json"
        )
        assert (
            r.status_code == 400 and "raw_files" in r.json() and "another project" in r.json()["raw_files"][0]
        )
        assert not run.raw_files.filter(pk=foreign.pk).exists()

    def test_an_entrys_records_must_be_in_its_project(self, series, api, other):
        foreign = Synthesis.objects.create(project=other, code="FOREIGN-B", date=dt.date(2023, 1, 1))
        r = api.post(
            "/api/entries/", {"project": series.pk, "title": "t", "batches": [foreign.pk]}, format="json"
        )
        assert r.status_code == 400 and "batches" in r.json(), r.content

    def test_a_devices_samples_must_be_in_its_project(self, series, api, other):
        sample = Sample.objects.filter(project=series).first()
        r = api.post(
            "/api/devices/",
            {
                "project": other.pk,
                "code": "D-X",
                "active_area": "0.1 cm^2",
                "fabricated_on": "2023-01-01",
                "samples": [sample.pk],
            },
            format="json",
        )
        assert r.status_code == 400 and "samples" in r.json(), r.content
