"""The day of a chemist, in a real headless Chromium against the live server and the real job worker
(issue 15's "done when"): record a synthesis, split it into four portions, record a stock and the
0/3/9/17 % series from a template, correct a volume on a treatment's page and see Cl:I change, attach
a movie and watch its analysis progress, find the batch from the search box, export the treatments as
CSV and Excel, print the series, and see the frozen banner once an admin freezes the project.

Every step through the pages only (clicks and typing), with the console clean; a screenshot of each
step in test-artifacts/pages/day-*.png.
"""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from django.urls import reverse

from analysis import simulate
from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.jobs.models import AnalysisJob, WorkerHeartbeat
from labbook.projects.models import Membership, Role
from labbook.synthesis.models import PostTreatment, Synthesis
from tests.labbook.browser import (
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    Console,
    log_in,
    require_chromium,
    start_worker,
    stop_worker,
)
from tests.labbook.factories import UserFactory

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")
require_chromium()

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CODE = "MAPI-261130-1"


def _shot(page, n: int, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"day-{n:02d}-{name}.png"), full_page=True)


def _select(page, selector: str, label_start: str) -> None:
    """Choose the option whose text starts with ``label_start``."""
    options = page.eval_on_selector_all(f"{selector} option", "os => os.map(o => [o.value, o.textContent])")
    value = next(v for v, text in options if text.strip().startswith(label_start))
    page.select_option(selector, value)


def test_the_day_of_a_chemist(live_server, monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    chemist = UserFactory(username="chemist")
    project = load_paper_series(user=chemist, with_files=False)  # the lab's chemicals, and yesterday's series
    curator = UserFactory(username="curator")
    Membership.objects.create(project=project, user=curator, role=Role.ADMIN)
    curator.is_staff = True
    curator.save()
    WorkerHeartbeat.objects.all().delete()
    movie = tmp_path / "MAPI 9 % Cl field 1.tif"
    simulate.write_movie_tiff(
        movie,
        simulate.simulate_movie(
            1500, (48, 48), n_particles=4, kinds=("qTSB", "BB"), edge_px=(3,), spacing_px=8, seed=11,
            alpha_on=1.0, alpha_off=1.0, mu_on_per_s=0.3, mu_off_per_s=0.3,
        ),
    )  # fmt: skip
    url = live_server.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    worker = None
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        console = Console(page, url)
        page.set_default_timeout(30_000)
        log_in(page, url, "chemist")

        # 1. record a synthesis
        page.goto(f"{url}/batches/new/")
        _select(page, "#id_project", project.name)
        page.fill("#id_code", CODE)
        _select(page, "#id_pbi2", "lead iodide")
        page.fill("#id_pbi2_amount", "0.04 mmol")
        page.fill("#id_precursor_solvent_volume", "20 mL")
        page.fill("#id_injection_volume", "1300 uL")
        page.fill("#id_capping_batches", "1")
        page.fill("#id_volume", "8 mL")
        page.click("#batch-form button[type=submit]")
        page.wait_for_selector(f"h1:has-text('Batch {CODE}')")
        batch = Synthesis.objects.get(project=project, code=CODE)
        _shot(page, 1, "synthesis-recorded")

        # 2. split it into four portions (a quarter each, the form's default)
        page.click("#split")
        page.wait_for_selector("table.portions")
        page.click("form.record button[type=submit]")
        page.wait_for_selector("text=split " + CODE)
        portions = list(Synthesis.objects.filter(parent_links__parent=batch).order_by("code"))
        assert [p.code for p in portions] == [f"{CODE}-P{i}" for i in range(1, 5)]
        assert {p.volume.to("mL").magnitude for p in portions} == {2.0}  # a quarter of 8 mL each
        _shot(page, 2, "split-into-four")

        # 3. record a stock
        page.goto(f"{url}/stocks/new/")
        _select(page, "#id_project", project.name)
        page.fill("#id_code", "MACl-261130")
        _select(page, "#id_salt", "methylammonium chloride")
        page.fill("#id_salt_mass", "6.8 mg")
        page.fill("#id_solvent", "ethanol")
        page.fill("#id_solvent_volume", "1 mL")
        page.click("form.record button[type=submit]")
        page.wait_for_selector("h1:has-text('MACl-261130')")
        _shot(page, 3, "stock-recorded")

        # 4. the 0/3/9/17 % series from a template: make the template, apply it to the batch
        page.goto(f"{url}/templates/new/?kind=series")
        _select(page, "#id_project", project.name)
        page.fill("#id_name", "0/3/9/17 % Cl from one pool")
        page.fill("#id_targets", "0, 3, 9, 17")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        _shot(page, 4, "template-saved")
        page.goto(f"{url}{reverse('synthesis:batch-detail', args=[batch.pk])}")
        page.click("a:has-text('0/3/9/17 % Cl from one pool')")
        page.wait_for_selector("#plan-form")
        _select(page, "#id_batch", CODE)
        _select(page, "#id_stock", "MACl-261130")
        page.click("#plan-form button[type=submit]")
        page.wait_for_selector("#plan")
        _shot(page, 5, "series-planned")
        page.click("#apply-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/treatments/.*"))
        series = list(PostTreatment.objects.filter(batch__in=portions).order_by("batch__code"))
        assert len(series) == 4
        cl = [t.cl_to_i.to("percent").magnitude for t in series]
        assert cl == pytest.approx([0, 3, 9, 17], abs=0.05), cl
        _shot(page, 6, "series-recorded")

        # 5. correct a volume on the 9 % treatment's page; Cl:I follows, live and saved
        t9 = series[2]
        page.goto(f"{url}{reverse('synthesis:treatment-detail', args=[t9.pk])}")
        page.click(".record-actions a:has-text('Edit')")
        page.wait_for_selector("#id_volume_added")
        page.wait_for_selector("#derived-cl")
        before = page.inner_text("#derived-cl")
        doubled = 2 * t9.volume_added.to("uL").magnitude
        page.fill("#id_volume_added", f"{doubled:.4g} uL")
        page.wait_for_function("(b) => document.getElementById('derived-cl')?.textContent !== b", arg=before)
        assert page.inner_text("#derived-cl").startswith("18"), page.inner_text("#derived-cl")
        _shot(page, 7, "volume-corrected-live")
        page.click("form.record button[type=submit]")
        page.wait_for_selector("text=saved post treatment")
        t9.refresh_from_db()
        assert t9.cl_to_i.to("percent").magnitude == pytest.approx(18, abs=0.1)
        assert "18" in page.inner_text("table.kv")
        _shot(page, 8, "volume-corrected-saved")

        # 6. a sample and a blinking run of the 9 % portion, attach a movie, watch the analysis
        page.goto(f"{url}/samples/new/?batch={t9.batch_id}&treatment={t9.pk}")
        page.fill("#id_code", "S-261130-9Cl")
        _select(page, "#id_kind", "film")
        page.fill("#id_substrate", "glass")
        page.click("form.record button[type=submit]")
        page.wait_for_selector("h1:has-text('S-261130-9Cl')")
        sample = t9.samples.get()
        page.goto(f"{url}/runs/new/?sample={sample.pk}")
        page.fill("#id_code", "R-261130-9Cl-BLINK")
        _select(page, "#id_technique", "wide-field PL blinking")
        page.fill("#id_excitation_wavelength", "405 nm")
        page.fill("#id_exposure_time", "10 ms")
        page.click("form.record button[type=submit]")
        page.wait_for_selector("h1:has-text('R-261130-9Cl-BLINK')")
        run = CharacterizationRun.objects.get(code="R-261130-9Cl-BLINK")
        page.set_input_files("#attach input[type=file]", str(movie))
        if page.locator("#attach input[type=checkbox]").count():
            page.check("#attach input[type=checkbox]")
        page.click("#attach button[type=submit]")
        page.wait_for_selector("#files a:has-text('MAPI 9 % Cl field 1.tif')")
        job = AnalysisJob.objects.filter(run=run).latest("pk")
        row = f'#jobs tr[data-job-id="{job.pk}"]'
        page.wait_for_selector(row)
        _shot(page, 9, "movie-attached")
        try:
            worker = start_worker()
            page.wait_for_function(
                f"() => ['running', 'succeeded'].includes(document.querySelector('{row}').dataset.status)",
                timeout=180_000,
            )
            _shot(page, 10, "analysis-running")
            page.wait_for_function(
                f"() => document.querySelector('{row}').dataset.status === 'succeeded'", timeout=300_000
            )
        finally:
            if worker is not None:
                out = stop_worker(worker)
                assert worker.returncode == 0, out
        _shot(page, 11, "analysis-done")

        # 7. find the batch from the search box
        page.fill("header form.search input[name=q]", CODE)
        page.press("header form.search input[name=q]", "Enter")
        page.wait_for_selector(f"a:has-text('{CODE}')")
        _shot(page, 12, "search")
        page.click(f"td a:text-is('{CODE}')")
        page.wait_for_selector(f"h1:has-text('Batch {CODE}')")

        # 8. export the treatments as CSV and Excel (every row, units in the headers)
        page.goto(f"{url}/treatments/?made_from={batch.pk}")
        _shot(page, 13, "treatments-list")
        with page.expect_download() as download:
            page.click("a.export:has-text('CSV')")
        rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
        header = rows[0]
        assert any(re.search(r"volume.added.*\((µL|uL|L|mL)\)", h) for h in header), header
        assert {t.code for t in series} <= {cell for r in rows[1:] for cell in r}
        with page.expect_download() as download:
            page.click("a.export:has-text('Excel')")
        assert download.value.suggested_filename.endswith(".xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True).active
        cells = {str(c) for r in sheet.iter_rows(values_only=True) for c in r}
        assert {t.code for t in series} <= cells

        # 9. print the series (and its PDF)
        page.goto(f"{url}{reverse('synthesis:batch-detail', args=[batch.pk])}")
        page.click("#print-series")
        page.wait_for_load_state()
        for t in series:
            assert t.code in page.content()
        _shot(page, 14, "series-printed")
        pdf = page.request.get(page.url + ("&" if "?" in page.url else "?") + "format=pdf")
        assert pdf.ok and pdf.body()[:4] == b"%PDF"

        console.check("the chemist's day")

        # 10. the project admin freezes the project in the admin; the chemist sees the banner
        admin_page = context.browser.new_page()
        admin_page.goto(f"{url}/admin/login/")
        admin_page.fill("#id_username", "curator")
        admin_page.fill("#id_password", "pw-for-tests")
        admin_page.click("input[type=submit]")
        admin_page.goto(f"{url}{reverse('admin:projects_project_freeze', args=[project.pk])}")
        admin_page.fill("#id_reason", "series published")
        admin_page.click("input[type=submit]")
        admin_page.wait_for_load_state()
        project.refresh_from_db()
        assert project.is_frozen
        page.goto(f"{url}{reverse('synthesis:batch-detail', args=[batch.pk])}")
        banner = page.inner_text("#freeze-banner")
        assert "curator" in banner and "series published" in banner
        assert page.locator(".record-actions a:has-text('Edit')").count() == 0
        assert page.locator("#split").count() == 0
        _shot(page, 15, "frozen-banner")
        console.check("after the freeze")
        browser.close()
