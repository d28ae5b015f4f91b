"""The pages in a real headless Chromium (Debian's, driven by Playwright): log in, record a synthesis
and a treatment through the forms and watch the derived values appear, open the comparison and a
particle page and check that every Bokeh plot rendered, with no console error, no failed request and
no request to any host but the test server. Screenshots go to test-artifacts/ (look at them)."""

import pytest
from django.urls import reverse

from labbook.characterization.models import CharacterizationRun
from labbook.results.models import Particle
from labbook.synthesis.models import Chemical, PostTreatment, Synthesis
from tests.labbook.browser import ARGS, ARTIFACTS, CHROMIUM, Console, require_chromium
from tests.labbook.factories import UserFactory
from tests.labbook.pages.conftest import PASSWORD, analysed_series

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")
require_chromium()

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def Watch(page, server_url: str) -> Console:
    """Console errors (not warnings), failed requests, HTTP errors, requests to other hosts."""
    return Console(page, server_url, warnings=False)


def _bokeh_rendered(page, expected: int, timeout: float = 30_000) -> int:
    """Wait until BokehJS has rendered ``expected`` roots, each with a canvas; return the count."""
    page.wait_for_function(
        """(n) => window.Bokeh && Bokeh.documents.length > 0
              && Object.keys(Bokeh.index).length >= n
              && Object.values(Bokeh.index).every(v => v.is_idle !== false)""",
        arg=expected,
        timeout=timeout,
    )
    # every root's shadow DOM holds a drawn canvas of non-zero size
    return page.evaluate(
        """() => {
            const canvases = (el) => {
                const found = [...el.querySelectorAll('canvas')];
                for (const e of [el, ...el.querySelectorAll('*')]) {
                    if (e.shadowRoot) found.push(...canvases(e.shadowRoot));
                }
                return found;
            };
            return Object.values(Bokeh.index).filter(
                v => canvases(v.el).some(c => c.width > 0 && c.height > 0)).length;
        }"""
    )


def test_bench_forms_comparison_and_particle_pages_in_chromium(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = UserFactory(username="scientist", is_staff=False)
    project = analysed_series(user)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url

    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        watch = Watch(page, url)
        page.set_default_timeout(30_000)

        # log in
        page.goto(f"{url}{reverse('pages:dashboard')}")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", "scientist")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Recent batches")
        page.wait_for_load_state("load")  # the dashboard's scripts too: a goto would abort them
        page.screenshot(path=str(ARTIFACTS / "01-dashboard.png"), full_page=True)
        watch.check("dashboard")

        # record a synthesis with units as typed at the bench
        page.goto(f"{url}{reverse('synthesis:batch-create')}")
        page.select_option("#id_project", str(project.pk))
        page.fill("#id_code", "MAPI-BROWSER-01")
        page.fill("#id_date", "2026-11-25")
        page.select_option("#id_pbi2", str(Chemical.objects.get(project=project, formula="PbI2").pk))
        page.fill("#id_pbi2_amount", "0.04 mmol")
        page.fill("#id_precursor_solvent_volume", "20 mL")
        page.fill("#id_injection_volume", "1300 uL")
        page.fill("#id_volume", "4 mL")
        page.click("#batch-form button[type=submit]")
        page.wait_for_selector("text=Batch MAPI-BROWSER-01")
        assert "7.8 µmol" in page.inner_text("main")  # iodide derived from the recipe
        page.screenshot(path=str(ARTIFACTS / "02-batch.png"), full_page=True)
        batch = Synthesis.objects.get(code="MAPI-BROWSER-01")

        # a wrong unit is a form error, not a crash
        page.goto(f"{url}{reverse('synthesis:batch-clone', args=[batch.pk])}")
        assert page.input_value("#id_injection_volume") == "1.3 mL"
        page.fill("#id_injection_volume", "5 mg")
        page.click("#batch-form button[type=submit]")
        page.wait_for_selector("#field-injection_volume .errorlist")
        page.screenshot(path=str(ARTIFACTS / "03-clone-with-error.png"), full_page=True)
        watch.check("batch forms")

        # a treatment: the derived Cl:I and ethanol fraction appear as the volume is typed
        page.goto(f"{url}{reverse('synthesis:treatment-create')}")
        page.fill("#id_code", "T-BROWSER")
        page.select_option("#id_batch", str(batch.pk))
        stock = PostTreatment.objects.filter(project=project).first().stock
        page.select_option("#id_stock", str(stock.pk))
        page.fill("#id_suspension_volume", "4 mL")
        page.type("#id_volume_added", "1 uL", delay=30)
        # 1 uL of 0.4 mol/L into 7.8 umol iodide: 0.4 / 7.8 = 5.128 %; 1 uL in 4 mL: 0.025 %
        # predicates as functions, not expression strings: the page's CSP forbids eval
        page.wait_for_function(
            "() => document.querySelector('#derived-cl') && document.querySelector('#derived-cl').textContent.startsWith('5.128')"
        )
        assert page.inner_text("#derived-ethanol").startswith("0.025")
        page.screenshot(path=str(ARTIFACTS / "04-treatment-live.png"), full_page=True)
        page.fill("#id_volume_added", "2.5 uL")
        page.wait_for_function("() => document.querySelector('#derived-cl').textContent.startsWith('12.82')")
        page.fill("#id_date", "2026-11-25")
        page.click("#treatment-form button[type=submit]")
        page.wait_for_selector("text=Post-treatment T-BROWSER")
        assert "12.82" in page.inner_text("main")
        watch.check("treatment form")

        # the comparison: every plot rendered, offline, under the Content-Security-Policy (inline
        # scripts only with the request's nonce; a violation would be a console error)
        response = page.goto(f"{url}{reverse('pages:compare')}")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy.split("style-src")[0]
        n_plots = page.locator("div.plot[data-plot]").count()
        assert n_plots == 12
        assert _bokeh_rendered(page, n_plots) == n_plots
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "05-compare.png"), full_page=True)
        timing = page.inner_text("#timing")
        (ARTIFACTS / "compare-timing.txt").write_text(timing + "\n")
        watch.check("comparison")

        # a particle: trace, histogram, dwell densities, correlation map
        particle = Particle.objects.filter(project=project, trace_class="qTSB").order_by("pk").first()
        page.goto(f"{url}{reverse('pages:particle-detail', args=[particle.pk])}")
        assert _bokeh_rendered(page, 1) == 1
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "06-particle.png"), full_page=True)
        watch.check("particle")

        # a batch's lineage and a TRPL run page
        pool = Synthesis.objects.get(project=project, kind="pool")
        page.goto(f"{url}{reverse('synthesis:batch-detail', args=[pool.pk])}")
        assert _bokeh_rendered(page, 1) == 1
        page.screenshot(path=str(ARTIFACTS / "07-lineage.png"), full_page=True)
        run = CharacterizationRun.objects.get(
            project=project, technique="trpl", sample__treatment__nominal_cl_percent=3
        )
        page.goto(f"{url}{reverse('characterization:run-detail', args=[run.pk])}")
        assert _bokeh_rendered(page, 1) == 1
        page.screenshot(path=str(ARTIFACTS / "08-trpl-run.png"), full_page=True)
        watch.check("detail pages")
        browser.close()
