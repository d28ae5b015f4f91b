"""Issue 13, through the pages: viewers cannot write through a run's page, Markdown cannot carry a
script, every page sends a Content-Security-Policy, the pages say when no job worker is alive, and
a /static/ traversal is a 404."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from labbook.characterization.models import CharacterizationRun
from labbook.demo import DEMO_FILES
from labbook.files.models import RawFile
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, WorkerHeartbeat
from labbook.jobs.services import job_cancel, job_submit, job_submit_natural, worker_beat
from labbook.notebook.models import NotebookEntry, render_markdown
from labbook.projects.models import Membership, Role
from labbook.projects.permissions import RoleRequired
from tests.labbook.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(series):
    user = UserFactory(username="viewer")
    Membership.objects.create(project=series, user=user, role=Role.VIEWER)
    return user


def _upload():
    return SimpleUploadedFile("pl.csv", (DEMO_FILES / "pl_3pct_cl.csv").read_bytes(), "text/csv")


# --- item 3: viewers do not write through the run pages --------------------------------------
def test_a_viewer_cannot_attach_files_or_start_analyses_on_a_run_page(client, viewer, series):
    run = CharacterizationRun.objects.get(project=series, code="R-3Cl-PL")
    client.force_login(viewer)
    page = client.get(reverse("characterization:run-detail", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="attach"' not in html and 'id="analyse"' not in html and "Add a note" not in html
    r = client.post(
        reverse("characterization:run-attach", args=[run.pk]), {"upload": [_upload()], "analyse": "on"}
    )
    assert r.status_code == 403
    assert run.raw_files.count() == 0 and not RawFile.objects.filter(project=series).exists()
    r = client.post(reverse("characterization:run-analyse", args=[run.pk]), {"force": "on"})
    assert r.status_code == 403 and not AnalysisJob.objects.exists()


def test_an_editor_sees_the_write_buttons(client, scientist, series):
    run = CharacterizationRun.objects.get(project=series, code="R-3Cl-PL")
    client.force_login(scientist)
    html = client.get(reverse("characterization:run-detail", args=[run.pk])).content.decode()
    assert 'id="attach"' in html and 'id="analyse"' in html


def test_the_services_refuse_viewers_below_every_door(scientist, viewer, series):
    run = CharacterizationRun.objects.get(project=series, code="R-3Cl-PL")
    with pytest.raises(RoleRequired):
        raw_file_store(project=series, fileobj=io.BytesIO(b"w,i\n1,2\n"), original_name="x.csv", user=viewer)
    raw = raw_file_store(
        project=series, fileobj=io.BytesIO(b"w,i\n1,2\n"), original_name="x.csv", user=scientist
    )
    run.raw_files.add(raw)
    with pytest.raises(RoleRequired):
        job_submit_natural(target=run, user=viewer, force=True)
    with pytest.raises(RoleRequired):
        job_submit(kind="spectrum", files={"data": raw}, run=run, user=viewer)
    job = job_submit_natural(target=run, user=scientist)
    with pytest.raises(RoleRequired):
        job_cancel(job=job, user=viewer)
    job.refresh_from_db()
    assert job.status == "queued" and AnalysisJob.objects.count() == 1


# --- item 4: Markdown cannot carry a script -----------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        "[a][1]\n\n[1]: javascript:alert(1)",
        "[a](javascript:alert(1))",
        "[a](JaVaScRiPt:alert(1))",
        "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![i](javascript:alert(1))",
        "[a][x]\n\n[x]: vbscript:msgbox(1)",
        "<a href='javascript:alert(1)'>a</a> <img src=x onerror=alert(1)>",
    ],
)
def test_markdown_links_never_carry_a_script(body):
    from html.parser import HTMLParser

    html = render_markdown(body)
    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append(tag)
            for name, value in attrs:
                assert not name.startswith("on"), html
                assert not (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")), (
                    html
                )

    Tags().feed(html)
    assert "script" not in found and "a" in found or "img" in found or found == ["p"], html


def test_markdown_keeps_what_a_note_needs():
    html = render_markdown("**b** [doc](https://example.org/x) [run](/runs/1/)\n\n|a|b|\n|-|-|\n|1|2|")
    assert "<strong>b</strong>" in html and 'href="https://example.org/x"' in html
    assert 'href="/runs/1/"' in html and "<td>1</td>" in html


def test_an_entry_with_a_javascript_link_renders_without_it(client, scientist, series):
    entry = NotebookEntry.objects.create(
        project=series, author=scientist, title="xss", body="[a][1]\n\n[1]: javascript:alert(1)"
    )
    client.force_login(scientist)
    html = client.get(reverse("notebook:entry-detail", args=[entry.pk])).content.decode()
    assert "javascript:alert" not in html and ">a</a>" in html
    api = client.get(f"/api/entries/{entry.pk}/")
    if api.status_code == 200:
        assert "javascript:" not in api.json()["body_html"]


# --- item 4: Content-Security-Policy ------------------------------------------------------------
def test_pages_send_a_content_security_policy_with_a_nonce_for_the_bokeh_scripts(client, scientist, series):
    from labbook.synthesis.models import Synthesis

    client.force_login(scientist)
    policy = client.get(reverse("pages:dashboard"))["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "unsafe-eval" not in policy
    pool = Synthesis.objects.get(project=series, kind="pool")
    r = client.get(reverse("synthesis:batch-detail", args=[pool.pk]))
    script_src = r["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    nonce = script_src.split("'nonce-")[1].split("'")[0]
    html = r.content.decode()
    assert f'<script nonce="{nonce}">' in html  # the lineage plot's inline script may run
    assert html.count("<script") == html.count(f'<script nonce="{nonce}">') + html.count("<script src=")


# --- demo item 3: no worker, a banner -------------------------------------------------------------
def test_the_dashboard_and_run_pages_say_when_no_worker_is_alive(client, scientist, series, settings):
    settings.JOB_STALE_AFTER_S = 60
    run = CharacterizationRun.objects.get(project=series, code="R-3Cl-PL")
    client.force_login(scientist)
    banner = "No analysis worker is running; queued analyses will wait"
    for url in (reverse("pages:dashboard"), reverse("characterization:run-detail", args=[run.pk])):
        assert banner in client.get(url).content.decode()
    worker_beat(name="bench-pc:1234")
    for url in (reverse("pages:dashboard"), reverse("characterization:run-detail", args=[run.pk])):
        assert banner not in client.get(url).content.decode()
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - dt.timedelta(seconds=120))  # it died
    assert banner in client.get(reverse("pages:dashboard")).content.decode()


# --- item 13: a /static/ traversal is a 404 on the demo server -----------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/static/../settings.py",
        "/static/%2e%2e/labbook/settings.py",
        "/static/..%2flabbook/settings.py",
        "/static/pages/../../../labbook/settings.py",
        "/static/bokeh/static/../../../../../../etc/passwd",
    ],
)
def test_a_static_traversal_is_a_404_on_the_development_server(path, settings):
    """``runserver`` (the demo) serves /static/ through StaticFilesHandler; a path that escapes
    the static folders was a SuspiciousFileOperation there, i.e. a 500."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.client import RequestFactory

    settings.DEBUG = True
    handler = StaticFilesHandler(WSGIHandler())
    environ = RequestFactory().get("/").environ
    environ["PATH_INFO"] = path
    environ["wsgi.input"] = io.BytesIO(b"")
    status = []
    body = b"".join(handler(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0].startswith("404"), (status, body[:200])
    ok = []
    environ["PATH_INFO"] = "/static/pages/style.css"
    b"".join(handler(environ, lambda s, headers, exc_info=None: ok.append(s)))
    assert ok[0].startswith("200")
