"""The archives page in a real headless Chromium (Debian's, driven by Playwright): export a project,
watch the job page follow the worker (it refreshes itself while the job runs), download the .eln,
upload it again as a new project, and see a hostile upload fail with its reason; no console error,
no failed request, nothing fetched from another host. Screenshots go to test-artifacts/archives/."""

import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse

from labbook.archives.jobs import archive_job_execute
from labbook.archives.models import ArchiveJob
from labbook.projects.models import Project
from tests.labbook.archives.conftest import _build_small_series
from tests.labbook.browser import ARGS, CHROMIUM, require_chromium
from tests.labbook.factories import UserFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "archives"

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")
require_chromium()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("signing_key"),
]


def _watch(page, server_url: str) -> list[str]:
    host, errors = urlsplit(server_url).hostname, []
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))

    def request(r):
        parts = urlsplit(r.url)
        if parts.scheme in ("http", "https") and parts.hostname not in {host, "localhost", "127.0.0.1"}:
            errors.append(f"network: {r.url}")

    page.on("request", request)
    return errors


def _run_latest_job() -> ArchiveJob:
    job = ArchiveJob.objects.order_by("-pk").first()
    archive_job_execute(job.pk)  # what the worker does; the page refreshes itself meanwhile
    return job


def test_export_download_and_import_from_the_archives_page_in_chromium(live_server, monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = UserFactory(username="curator", is_superuser=True, is_staff=True)  # may create projects
    project = _build_small_series(user)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url

    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
        page = context.new_page()
        errors = _watch(page, url)
        page.set_default_timeout(30_000)

        page.goto(f"{url}{reverse('archives:index')}")
        page.fill("#id_username", "curator")
        page.fill("#id_password", "pw-for-tests")
        page.click("button[type=submit]")
        page.wait_for_selector("#archive-projects")
        page.screenshot(path=str(ARTIFACTS / "01-archives.png"), full_page=True)

        # export: the job page follows the job, then offers the download
        page.locator("#archive-projects tr", has_text=project.slug).locator("button").click()
        page.wait_for_selector("#job-status")
        assert page.inner_text("#job-status") == "queued"
        page.screenshot(path=str(ARTIFACTS / "02-export-queued.png"), full_page=True)
        _run_latest_job()
        page.wait_for_selector("#download", timeout=15_000)  # the page refreshed itself
        assert page.inner_text("#job-status") == "succeeded" and page.inner_text("#job-progress") == "100 %"
        page.screenshot(path=str(ARTIFACTS / "03-export-done.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#download")
        eln = tmp_path / info.value.suggested_filename
        info.value.save_as(eln)
        assert eln.name == "mini-chloride.eln"
        with zipfile.ZipFile(eln) as zf:
            assert "mini-chloride/ro-crate-metadata.json" in zf.namelist() and zf.testzip() is None

        # import what was downloaded, as a new project
        page.goto(f"{url}{reverse('archives:index')}")
        page.set_input_files("#id_file", str(eln))
        page.fill("#id_slug", "browser-copy")
        page.click("#import-form button[type=submit]")
        page.wait_for_selector("#job-status")
        _run_latest_job()
        page.wait_for_selector("#job-imported", timeout=15_000)
        assert "browser-copy" in page.inner_text("#job-imported")
        assert "signed by" in page.inner_text("#archive-job")
        page.screenshot(path=str(ARTIFACTS / "04-import-done.png"), full_page=True)
        assert Project.objects.filter(slug="browser-copy").exists()

        # a hostile archive: the job fails with the reason, no project
        hostile = tmp_path / "evil.eln"
        with zipfile.ZipFile(hostile, "w") as zf:
            zf.writestr("crate/ro-crate-metadata.json", "{}")
            zf.writestr("crate/../../evil.txt", "owned")
        page.goto(f"{url}{reverse('archives:index')}")
        page.set_input_files("#id_file", str(hostile))
        page.click("#import-form button[type=submit]")
        page.wait_for_selector("#job-status")
        _run_latest_job()
        page.wait_for_selector("#job-error", timeout=15_000)
        assert "escapes the archive's folder" in page.inner_text("#job-error")
        page.screenshot(path=str(ARTIFACTS / "05-import-refused.png"), full_page=True)
        assert Project.objects.count() == 2

        assert not errors, errors
        browser.close()
