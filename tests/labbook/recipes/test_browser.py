"""A series template made and applied in headless Chromium (Debian's, driven by Playwright): the
plan shows the planner's MACl volume per portion, one click records 0/3/9/17 %; then the pool is
tagged on its page and the tag leads to the filtered batch list; the console stays clean.
Screenshots go to test-artifacts/pages/ (look at them)."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from labbook.synthesis import services as synthesis
from labbook.synthesis.models import PostTreatment
from tests.labbook.browser import ARGS, CHROMIUM, require_chromium

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "pages"

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")
require_chromium()

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def watch(page, server_url: str) -> list[str]:
    """Console errors, page errors, failed requests, HTTP errors, requests to any other host."""
    host = urlsplit(server_url).hostname
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
    page.on(
        "request",
        lambda r: (
            urlsplit(r.url).scheme in ("http", "https")
            and urlsplit(r.url).hostname not in {host, "localhost", "127.0.0.1"}
            and errors.append(f"network: {r.url}")
        ),
    )
    return errors


def test_a_series_template_is_made_and_applied_in_chromium(live_server, monkeypatch, bench):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        errors = watch(page, url)

        page.goto(f"{url}/accounts/login/?next=/templates/")
        page.fill("#id_username", "editor")
        page.fill("#id_password", "pw-for-tests")
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Templates')")

        # a series template from scratch
        page.click("a.button:has-text('treatment series')")
        page.select_option("#id_project", str(bench.project.pk))
        page.fill("#id_name", "0/3/9/17 % Cl from one pool")
        page.fill("#id_targets", "0, 3, 9, 17")
        page.fill("#id_stirring_time", "30 min")
        page.fill("#id_stirring_speed", "600 rpm")
        page.click("#template-form button[type=submit]")
        page.wait_for_selector("text=saved template")
        page.screenshot(path=str(ARTIFACTS / "templates-01-list.png"), full_page=True)

        # apply it to the pool: the plan first, with the planner's volumes
        page.click("a:has-text('apply series')")
        page.select_option("#id_batch", str(bench.pool.pk))
        page.select_option("#id_stock", str(bench.stock.pk))
        page.fill("#id_date", "2022-10-05")
        page.click("#plan-form button[type=submit]")
        page.wait_for_selector("#plan")
        cells = page.locator("#plan td.volume").all_inner_texts()
        expected = [
            synthesis.treatment_plan(batch=p, stock=bench.stock, target_cl_percent=t)
            for t, p in zip([0, 3, 9, 17], bench.portions, strict=True)
        ]
        assert cells == [f"{v.to('uL').magnitude:.3g} µL" for v in expected]
        page.screenshot(path=str(ARTIFACTS / "templates-02-series-plan.png"), full_page=True)
        assert not PostTreatment.objects.exists()

        page.click("#apply-form button[type=submit]")
        page.wait_for_selector("text=recorded 4 treatments")
        assert "/treatments/" in page.url
        for code in ("MAPI-POOL-P1-0Cl", "MAPI-POOL-P2-3Cl", "MAPI-POOL-P3-9Cl", "MAPI-POOL-P4-17Cl"):
            assert code in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / "templates-03-series-recorded.png"), full_page=True)

        # tag the pool on its page, then follow the tag to the batch list filtered by it
        page.goto(f"{url}/batches/{bench.pool.pk}/")
        page.fill("#tags input[name=name]", "MACl-series-2")
        page.click("#tags form.tag-add button[type=submit]")
        page.wait_for_selector("#tags li.tag a:has-text('MACl-series-2')")
        page.screenshot(path=str(ARTIFACTS / "tags-01-batch.png"), full_page=True)
        page.click("#tags li.tag a:has-text('MACl-series-2')")
        page.wait_for_url("**/batches/?tag=MACl-series-2")
        listed = page.inner_text("main")
        assert "MAPI-POOL" in listed and "MAPI-POOL-P1" not in listed
        page.screenshot(path=str(ARTIFACTS / "tags-02-filtered-list.png"), full_page=True)
        browser.close()

    made = {t.nominal_cl_percent: t for t in PostTreatment.objects.all()}
    assert sorted(made) == [0, 3, 9, 17]
    for target, volume in zip([0, 3, 9, 17], expected, strict=True):
        assert made[target].volume_added.to("uL").magnitude == pytest.approx(volume.to("uL").magnitude)
        assert made[target].cl_to_i.to("percent").magnitude == pytest.approx(target, abs=1e-6)
    assert not errors, errors
