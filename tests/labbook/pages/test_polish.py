"""Polish found on the way (issue 15 item 8): numbers and units written for people on the pages
("30 mW/cm²", "1.9 × 10¹⁴ 1/cm²", 295 K as entered), a decimal comma in a bench form accepted or
explained, legends outside the data in Cl:I order, and the pages usable on a phone at the bench
(390 px wide, in a real headless Chromium; screenshots in test-artifacts/pages/)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from labbook.characterization.models import CharacterizationRun
from labbook.characterization.services import run_create
from labbook.pages import comparison, plots
from labbook.synthesis.models import PostTreatment, Sample
from labbook.units import THIN
from tests.labbook.browser import (
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    Console,
    log_in,
    require_chromium,
)
from tests.labbook.pages.conftest import analysed_series

OUTSIDE = {"below", "below_horizontal", "right"}


@pytest.fixture
def client_in(client, scientist, series):
    client.force_login(scientist)
    return client


# --- numbers and units for people --------------------------------------------------------------
@pytest.mark.django_db
def test_a_runs_settings_read_as_people_write_them(client_in, scientist, series):
    run = run_create(
        user=scientist,
        sample=Sample.objects.filter(project=series).first(),
        code="R-UNITS",
        technique="trpl",
        date=dt.date(2026, 11, 30),
        power_density="30 mW/cm^2",
        photon_fluence="1.9e14 1/cm^2",
        repetition_rate="1 MHz",
        exposure_time="30760 ms",
        extra_settings={"stage temperature": "295 K", "drop volume": "2,5 uL", "objective": "100x oil"},
    )
    html = client_in.get(reverse("characterization:run-detail", args=[run.pk])).content.decode()
    for shown in [
        "30 mW/cm²",
        "1.9 × 10¹⁴ 1/cm²",  # not 1.9e+14
        f"30{THIN}760 ms",  # thin-space grouping, not 3.076e+04
        "<td>295 K</td>",  # as entered, not converted to °C
        "<td>2.5 µL</td>",
        "<td>100x oil</td>",  # text that is not a quantity, as it is
    ]:
        assert shown in html, shown
    assert "cm^2" not in html and "e+1" not in html and "e+0" not in html


@pytest.mark.django_db
def test_a_decimal_comma_in_a_bench_form_is_accepted_or_explained(client_in, series):
    t3 = PostTreatment.objects.get(project=series, nominal_cl_percent=3)
    t0 = PostTreatment.objects.get(project=series, nominal_cl_percent=0)
    data = {
        "project": series.pk,
        "code": "T-COMMA",
        "batch": t0.batch_id,
        "stock": t3.stock_id,
        "volume_added": "0,5 µL",
        "date": "2026-11-30",
        "nominal_cl_percent": "2",
    }
    r = client_in.post(reverse("synthesis:treatment-create"), {**data, "volume_added": "1,000 uL"})
    assert r.status_code == 200
    page = r.content.decode()
    assert "decimal mark or a thousands separator" in page and "1.000 or 1000" in page
    assert not PostTreatment.objects.filter(code="T-COMMA").exists()
    r = client_in.post(reverse("synthesis:treatment-create"), data)
    assert r.status_code == 302, r.content.decode()[:3000]
    assert PostTreatment.objects.get(code="T-COMMA").volume_added.to("uL").magnitude == pytest.approx(0.5)


# --- legends ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_legends_sit_outside_the_data_in_cl_order(scientist):
    project = analysed_series(scientist)
    ids = comparison.default_treatment_ids(scientist)
    data = comparison.comparison_data(user=scientist, treatment_ids=ids)
    specs = plots.comparison_specs(data)
    for name, spec in specs["figures"].items():
        if spec.get("message"):
            continue
        assert spec["legend"] in OUTSIDE, (name, spec["legend"])
    # a legend by treatment lists them as they first appear in the shared source: Cl:I order
    first_seen = list(dict.fromkeys(specs["sources"]["particles"]["treatment"]))
    assert first_seen == ["0 % Cl", "3.42 % Cl", "8.55 % Cl", "17.1 % Cl"]
    dwell = [
        g["legend"].split(": α")[0] for g in specs["figures"]["dwell_on"]["glyphs"] if g["kind"] == "scatter"
    ]
    assert dwell == ["T-0Cl (0 % Cl:I)", "T-3Cl (3.42 % Cl:I)", "T-9Cl (8.55 % Cl:I)", "T-17Cl (17.1 % Cl:I)"]
    # drawn on the server (run and device pages): the legend is not among the data
    for name in ("dwell_on", "trpl", "pl", "correlation"):
        p = plots.render(specs["figures"][name], specs["sources"])
        assert p.legend and all(m not in p.center for m in p.legend), name
        assert any(p.legend[0] in side for side in (p.below, p.right)), name
    run = CharacterizationRun.objects.get(
        project=project, technique="trpl", sample__treatment__nominal_cl_percent=3
    )
    blinking = run.blinking_analyses.first()
    results = {"blinking": blinking, "lifetime": run.lifetime_fits.first(), "spectra": [], "xrd": None}
    figure = plots.run_figure(run, results)
    assert figure.legend and figure.legend[0] not in figure.center


# --- a phone at the bench -----------------------------------------------------------------------
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")

PAGE_FITS = """() => {
    const vw = window.innerWidth;
    const doc = document.documentElement;
    const links = [...document.querySelectorAll('header.top a')];
    const tables = [...document.querySelectorAll('main table')];
    const inputs = [...document.querySelectorAll('main form input[type=text], main form select, main form textarea')]
        .filter((e) => e.offsetParent !== null);
    const main = document.querySelector('main');
    const content = main.clientWidth - parseFloat(getComputedStyle(main).paddingLeft)
        - parseFloat(getComputedStyle(main).paddingRight);
    return {
        vw,
        pageWidth: Math.max(doc.scrollWidth, document.body.scrollWidth),
        header: document.querySelector('header.top').getBoundingClientRect().height,
        linksOutside: links.filter((a) => a.getBoundingClientRect().right > vw + 0.5).map((a) => a.textContent),
        tablesOutside: tables.filter((t) => t.getBoundingClientRect().right > vw + 0.5).length,
        scrollingTables: tables.filter((t) => {
            const box = getComputedStyle(t).overflowX === 'auto' ? t : t.parentElement;
            return box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX === 'auto';
        }).length,
        narrowInputs: inputs.filter((e) => e.getBoundingClientRect().width < 0.9 * content)
            .map((e) => e.name || e.id),
        nInputs: inputs.length,
    };
}"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_forms_and_lists_fit_a_phone_390_px_wide(live_server, monkeypatch, scientist, series):
    require_chromium()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run = CharacterizationRun.objects.filter(project=series).order_by("code").first()
    treatment = PostTreatment.objects.get(project=series, nominal_cl_percent=3)
    url = live_server.url
    pages = [
        ("dashboard", reverse("pages:dashboard"), False),
        ("batches", reverse("synthesis:batch-list"), False),
        ("treatments", reverse("synthesis:treatment-list"), False),
        ("runs", reverse("characterization:run-list"), False),
        ("run", reverse("characterization:run-detail", args=[run.pk]), False),
        ("treatment", reverse("synthesis:treatment-detail", args=[treatment.pk]), False),
        ("batch-form", reverse("synthesis:batch-create"), True),
        ("treatment-form", reverse("synthesis:treatment-create"), True),
        ("compare", reverse("pages:compare"), False),
    ]
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        console = Console(page, url)
        page.set_default_timeout(30_000)
        log_in(page, url, "scientist")
        scrolled = 0
        for i, (name, path, form) in enumerate(pages, start=1):
            page.goto(f"{url}{path}")
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)
            got = page.evaluate(PAGE_FITS)
            page.screenshot(path=str(ARTIFACTS / f"phone-{i:02d}-{name}.png"), full_page=True)
            assert got["vw"] == 390
            assert got["pageWidth"] <= 390, (name, got)  # nothing makes the page wider than the phone
            assert got["linksOutside"] == [], (name, got)  # the header's links wrap onto more lines
            assert got["header"] > 60, (name, got)
            assert got["tablesOutside"] == 0, (name, got)  # wide tables scroll inside themselves
            if form:
                assert got["nInputs"] >= 4 and got["narrowInputs"] == [], (name, got)  # inputs full width
            scrolled += got["scrollingTables"]
            console.check(name)
        assert scrolled >= 1  # some table was wider than the phone, and it scrolls inside its box
        browser.close()


LEGENDS = """(name) => {
    const found = [];
    const walk = (el) => {
        for (const e of [el, ...el.querySelectorAll('*')]) {
            if (e.shadowRoot) {
                for (const item of e.shadowRoot.querySelectorAll('.bk-grid .bk-item .bk-label')) {
                    found.push(item.textContent);
                }
                walk(e.shadowRoot);
            }
        }
    };
    walk(document.querySelector(`div.plot[data-plot="${name}"]`));
    return found;
}"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_comparison_on_a_phone_with_legends_in_cl_order(live_server, monkeypatch, scientist):
    """The comparison's figures at 390 px: each scrolls inside its box (the page stays phone-wide),
    and the browser draws the treatments' legend in Cl:I order."""
    require_chromium()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    analysed_series(scientist)
    url = live_server.url
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        console = Console(page, url)
        page.set_default_timeout(60_000)
        log_in(page, url, "scientist")
        page.goto(f"{url}{reverse('pages:compare')}")
        page.wait_for_function(
            """() => window.Bokeh && Object.keys(Bokeh.index).length >= 12
                  && Object.values(Bokeh.index).every(v => v.is_idle !== false)"""
        )
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "phone-10-compare-plots.png"), full_page=True)
        got = page.evaluate(PAGE_FITS)
        assert got["pageWidth"] <= 390, got
        assert page.evaluate(LEGENDS, "correlation") == ["0 % Cl", "3.42 % Cl", "8.55 % Cl", "17.1 % Cl"]
        dwell = page.evaluate(LEGENDS, "dwell_on")
        assert [d.split(" (")[1].split(" % Cl:I")[0] for d in dwell] == ["0", "3.42", "8.55", "17.1"], dwell
        console.check("comparison on a phone")
        browser.close()
