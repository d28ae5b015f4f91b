"""Bench pages through Django's test client: forms with units, derived values, clone, errors as
form errors (never a 500), lists with the API's filters, details, run uploads, comparison queries."""

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labbook.characterization.models import CharacterizationRun
from labbook.demo import DEMO_FILES
from labbook.jobs.models import AnalysisJob
from labbook.notebook.models import NotebookEntry
from labbook.results.models import Particle
from labbook.synthesis.models import PostTreatment, Synthesis
from tests.labbook.factories import UserFactory
from tests.labbook.pages.conftest import analysed_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_in(client, scientist, series):
    client.force_login(scientist)
    return client


def _recipe(series, **extra):
    src = Synthesis.objects.filter(project=series, kind="synthesis").order_by("code").first()
    return {
        "project": series.pk,
        "code": "MAPI-NEW-01",
        "date": "2026-11-25",
        "pbi2": src.pbi2_id,
        "pbi2_amount": "0.04 mmol",
        "precursor_solvent_volume": "20 mL",
        "injection_volume": "1300 uL",
        "capping_batches": "1",
        **extra,
    }


def test_pages_need_login(client, series):
    for name in ["pages:dashboard", "synthesis:batch-list", "pages:compare", "synthesis:treatment-create"]:
        r = client.get(reverse(name))
        assert r.status_code == 302 and r["Location"].startswith(reverse("login"))


def test_login_page_and_dashboard(client, scientist, series):
    r = client.post(reverse("login"), {"username": "scientist", "password": "pw-for-tests"})
    assert r.status_code == 302
    r = client.get(reverse("pages:dashboard"))
    assert r.status_code == 200
    assert b"Recent batches" in r.content and b"Analyses running or queued" in r.content


def test_synthesis_form_takes_units_and_stores_si(client_in, series):
    r = client_in.post(reverse("synthesis:batch-create"), _recipe(series))
    assert r.status_code == 302, r.content.decode()[:3000]
    b = Synthesis.objects.get(code="MAPI-NEW-01")
    assert b.injection_volume.to("mL").magnitude == pytest.approx(1.3)
    assert b.iodide_amount().to("umol").magnitude == pytest.approx(7.8)  # the paper's 2.6 umol PbI2 x 3
    assert b.created_by.username == "scientist"


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("injection_volume", "5 mg", "volume"),  # wrong dimension
        ("precursor_solvent_volume", "-3 mL", "negative"),
        ("injection_volume", "30 mL", "cannot inject more"),  # more than the 20 mL precursor solution
        ("date", "yesterday", "valid date"),
    ],
)
def test_bad_synthesis_input_is_a_form_error(client_in, series, field, value, message):
    r = client_in.post(reverse("synthesis:batch-create"), _recipe(series, **{field: value}))
    assert r.status_code == 200
    assert message in r.content.decode()
    assert not Synthesis.objects.filter(code="MAPI-NEW-01").exists()


def test_duplicate_code_is_a_form_error(client_in, series):
    existing = Synthesis.objects.filter(project=series).first().code
    r = client_in.post(reverse("synthesis:batch-create"), _recipe(series, code=existing))
    assert r.status_code == 200 and "already exists" in r.content.decode()


def test_clone_prefills_yesterdays_recipe_and_saves_a_changed_copy(client_in, series):
    src = Synthesis.objects.filter(project=series, kind="synthesis").order_by("code").first()
    r = client_in.get(reverse("synthesis:batch-clone", args=[src.pk]))
    assert r.status_code == 200
    form = r.context["form"]
    assert form.initial["injection_volume"] == src.injection_volume
    assert form.initial["code"] != src.code and form.initial["date"] == dt.date.today()
    html = r.content.decode()
    assert "1.3 mL" in html  # the recipe shows in the unit people think in
    data = {k: v for k, v in _recipe(series).items()}
    data.update(code=form.initial["code"], injection_volume="1.0 mL")
    r = client_in.post(reverse("synthesis:batch-clone", args=[src.pk]), data)
    assert r.status_code == 302
    assert Synthesis.objects.get(code=form.initial["code"]).injection_volume.to(
        "mL"
    ).magnitude == pytest.approx(1.0)


def test_treatment_derive_endpoint_uses_the_chemistry(client_in, series):
    t3 = PostTreatment.objects.get(project=series, nominal_cl_percent=3)
    url = reverse("synthesis:treatment-derive")
    r = client_in.get(url, {"batch": t3.batch_id, "stock": t3.stock_id, "volume_added": "2.5 uL"})
    d = r.json()
    # paper: 2.5 uL of 0.4 M MACl into a portion with 11.7 umol iodide in 4 mL toluene
    assert d["cl_to_i_percent"] == pytest.approx(8.547, rel=1e-3)
    assert d["solvent_fraction_percent"] == pytest.approx(0.0625, rel=1e-6)
    assert d["plan_uL"]["3"] == "0.878 µL"  # 3 % of 11.7 umol iodide from 0.4 mol/L: 0.8775 uL
    # another unit, same answer
    d2 = client_in.get(url, {"batch": t3.batch_id, "stock": t3.stock_id, "volume_added": "0.0025 mL"}).json()
    assert d2["cl_to_i_percent"] == pytest.approx(d["cl_to_i_percent"])
    bad = client_in.get(url, {"batch": t3.batch_id, "stock": t3.stock_id, "volume_added": "5 mg"}).json()
    assert "volume" in bad["error"]
    assert "error" in client_in.get(url, {"batch": "x"}).json()


def test_treatment_form_records_the_derived_values(client_in, series):
    t3 = PostTreatment.objects.get(project=series, nominal_cl_percent=3)
    t0 = PostTreatment.objects.get(project=series, nominal_cl_percent=0)  # its portion got 0 uL
    data = {
        "code": "T-NEW",
        "batch": t0.batch_id,
        "stock": t3.stock_id,
        "volume_added": "1 uL",
        "date": "2026-11-25",
        "nominal_cl_percent": "3",
    }
    r = client_in.post(reverse("synthesis:treatment-create"), data)
    assert r.status_code == 302, r.content.decode()[:2000]
    t = PostTreatment.objects.get(code="T-NEW")
    assert t.cl_to_i.to("percent").magnitude == pytest.approx(3.419, rel=1e-3)
    page = client_in.get(r["Location"]).content.decode()
    assert "3.419" in page and "0.025" in page
    for bad, msg in [("-1 uL", "negative"), ("5 mg", "volume"), ("lots", "")]:
        r = client_in.post(
            reverse("synthesis:treatment-create"), {**data, "code": "T-BAD", "volume_added": bad}
        )
        assert r.status_code == 200 and msg in r.content.decode()
    r = client_in.post(reverse("synthesis:treatment-create"), data)  # duplicate code
    assert r.status_code == 200 and "already exists" in r.content.decode()


def test_lists_use_the_api_filters(client_in, series):
    r = client_in.get(reverse("synthesis:treatment-list"), {"cl_to_i__gte": "5 percent"})
    codes = [row["cells"][0] for row in r.context["rows"]]
    assert sorted(codes) == sorted(
        PostTreatment.objects.filter(project=series, cl_to_i__gte=5).values_list("code", flat=True)
    )
    assert len(codes) == 2  # 9 and 17 %
    r = client_in.get(reverse("synthesis:treatment-list"), {"cl_to_i__gte": "5 mg"})
    assert (
        r.status_code == 200 and r.context["filter_errors"] and r.context["rows"] == []
    )  # no unfiltered rows
    r = client_in.get(reverse("synthesis:batch-list"), {"kind": "portion"})
    assert len(r.context["rows"]) == 4
    for name in ["synthesis:sample-list", "characterization:run-list", "devices:device-list",
                 "pages:particle-list", "notebook:entry-list"]:  # fmt: skip
        assert client_in.get(reverse(name)).status_code == 200


def test_lists_show_only_the_users_projects(client, series):
    outsider = UserFactory(username="outsider")
    client.force_login(outsider)
    r = client.get(reverse("synthesis:batch-list"))
    assert r.context["rows"] == []
    b = Synthesis.objects.filter(project=series).first()
    assert client.get(reverse("synthesis:batch-detail", args=[b.pk])).status_code == 404


def test_batch_page_draws_its_lineage(client_in, series):
    portion = Synthesis.objects.filter(project=series, kind="portion").first()
    r = client_in.get(reverse("synthesis:batch-detail", args=[portion.pk]))
    assert r.status_code == 200
    html = r.content.decode()
    assert "bokeh" in html and "Lineage" in html
    pool = portion.parent_links.get().parent
    assert pool.code in r.context["lineage_plot"]["script"]  # the pool node is drawn
    assert "bokeh/static/js/bokeh.min.js" in html


def test_notebook_entry_in_markdown_linked_to_a_batch(client_in, series, scientist):
    b = Synthesis.objects.filter(project=series).first()
    r = client_in.post(
        reverse("notebook:entry-create"),
        {
            "project": series.pk,
            "title": "Colour change",
            "body": "**dark brown** after <script>x</script>",
            "batches": [b.pk],
        },
    )
    assert r.status_code == 302
    e = NotebookEntry.objects.get(title="Colour change")
    assert list(e.batches.all()) == [b] and e.author == scientist
    html = client_in.get(reverse("synthesis:batch-detail", args=[b.pk])).content.decode()
    assert "<strong>dark brown</strong>" in html and "<script>x</script>" not in html
    html = client_in.get(reverse("notebook:entry-detail", args=[e.pk])).content.decode()
    assert reverse("synthesis:batch-detail", args=[b.pk]) in html


def test_run_page_attaches_files_and_starts_the_analysis(client_in, series):
    run = CharacterizationRun.objects.get(code="R-3Cl-PL")
    upload = SimpleUploadedFile("pl.csv", (DEMO_FILES / "pl_3pct_cl.csv").read_bytes(), "text/csv")
    r = client_in.post(
        reverse("characterization:run-attach", args=[run.pk]), {"upload": [upload], "analyse": "on"}
    )
    assert r.status_code == 302
    assert run.raw_files.count() == 1
    job = AnalysisJob.objects.get(run=run)
    assert job.kind == "spectrum"
    page = client_in.get(reverse("characterization:run-detail", args=[run.pk])).content.decode()
    assert "pl.csv" in page and f"#{job.pk}" in page
    r = client_in.post(reverse("characterization:run-analyse", args=[run.pk]), {"force": "on"})
    assert r.status_code == 302 and AnalysisJob.objects.filter(run=run).count() == 2
    # the dashboard lists the queued jobs with their progress
    AnalysisJob.objects.filter(pk=job.pk).update(
        status="running", progress=0.4, progress_message="frames 480/1200"
    )
    page = client_in.get(reverse("pages:dashboard")).content.decode()
    assert f"#{job.pk} PL / absorption spectrum" in page and "40 %" in page


def test_bokehjs_is_served_from_the_installed_package(client_in, series):
    from bokeh import __version__
    from bokeh.util.paths import bokehjs_path

    r = client_in.get("/static/bokeh/static/js/bokeh.min.js")
    assert r.status_code == 200
    body = b"".join(r.streaming_content) if r.streaming else r.content
    assert body == (bokehjs_path() / "js" / "bokeh.min.js").read_bytes()
    assert __version__.encode() in body
    portion = Synthesis.objects.filter(project=series, kind="portion").first()
    html = client_in.get(reverse("synthesis:batch-detail", args=[portion.pk])).content.decode()
    assert "cdn.bokeh.org" not in html and "https://" not in html.split("<main>")[0]


@pytest.mark.slow
def test_comparison_and_particle_pages_with_real_results(client, scientist, django_assert_max_num_queries):
    analysed_series(scientist)
    client.force_login(scientist)
    # a fixed set of queries (session, user, choices, fingerprint, one per kind of result)
    with django_assert_max_num_queries(40):
        r = client.get(reverse("pages:compare"))
    assert r.status_code == 200
    names = r.context["names"]
    assert set(names) == {"dwell_on", "dwell_off", "alpha", "classes", "correlation", "particle_alpha",
                          "trpl", "pl", "abs", "xrd", "iv", "photoresponse"}  # fmt: skip
    assert r["X-Figures-Cached"] == "0"
    series = r.context["series"]
    assert [s["nominal_cl_percent"] for s in series] == [0, 3, 9, 17]
    # each demo movie holds 20 crystals (labbook.demo.make_demo_movie); most are found
    assert all(s["fits"]["on"]["alpha"] is not None and 15 <= s["stats"]["n"] <= 22 for s in series)

    # the number of queries does not grow with the number of treatments compared
    ids = [s["treatment_id"] for s in series]
    counts = {}
    for n in (1, 2, 4):
        r2 = client.get(reverse("pages:compare"), {"treatment": ids[:n]})
        assert len(r2.context["series"]) == n and len(r2.context["names"]) == 12
        counts[n] = (int(r2["X-Query-Count"]), r2["X-Figures-Cached"])
    assert counts[1][0] == counts[2][0] and counts[1][1] == counts[2][1] == "0", counts
    assert counts[4][1] == "1"  # the default series, drawn by the first request
    assert counts[4][0] < counts[1][0]
    # an edited treatment (or a newly finished analysis) changes the fingerprint: drawn again
    t = PostTreatment.objects.get(pk=ids[0])
    t.notes = "edited"
    t.save()
    assert client.get(reverse("pages:compare"), {"treatment": ids})["X-Figures-Cached"] == "0"
    html = r.content.decode()
    figures = json.loads(html.split('id="compare-figures" type="application/json">')[1].split("</script>")[0])
    figures = figures["figures"]
    assert any(lb["text"].startswith("MAPbCl3 (100) 15.6") for lb in figures["xrd"]["labels"])
    assert all(
        ": α = " in g["legend"] for g in figures["dwell_on"]["glyphs"]
    )  # alpha +/- error in the legends
    assert 'LabbookFigures.draw("compare-figures")' in html  # drawn in the browser by pages/figures.js
    p = Particle.objects.filter(analysis__run__sample__treatment__in=ids).first()
    r = client.get(reverse("pages:particle-detail", args=[p.pk]))
    assert r.status_code == 200 and "Trace of particle" in r.context["plot"]["script"]
    for run in CharacterizationRun.objects.all():
        assert client.get(reverse("characterization:run-detail", args=[run.pk])).status_code == 200
    assert series[0]["photocurrent"].endswith("nA")
    _pages_draw_what_the_jobs_stored(client, ids)


def _figures(response) -> dict:
    html = response.content.decode()
    return json.loads(html.split('id="compare-figures" type="application/json">')[1].split("</script>")[0])[
        "figures"
    ]


def _pages_draw_what_the_jobs_stored(client, ids):
    """With every raw file gone from storage the pages still draw everything (they never read one,
    nor a particle row: the stored summaries and curves are all they need); a result from before
    the curves were stored says "not computed yet" instead of dropping out of its figure."""
    from django.core.cache import cache
    from django.core.files.storage import default_storage
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from labbook.devices.models import Device
    from labbook.files.models import RawFile
    from labbook.results.models import LifetimeFit, ParticleSummary, ResultCurve

    for raw in RawFile.objects.all():
        default_storage.delete(raw.storage_name)
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(reverse("pages:compare"), {"treatment": ids})
    assert r.status_code == 200 and r["X-Figures-Cached"] == "0"
    assert not any('"results_particle"' in q["sql"] for q in ctx.captured_queries)
    figures = _figures(r)
    assert len(figures["trpl"]["glyphs"]) == 8 and not figures["trpl"].get("note")  # 4 decays, 4 models
    assert all(not f.get("message") for name, f in figures.items()), [
        f.get("message") for f in figures.values()
    ]
    assert b"not computed yet" not in r.content
    for run in CharacterizationRun.objects.all():
        assert client.get(reverse("characterization:run-detail", args=[run.pk])).status_code == 200
    for device in Device.objects.all():
        assert client.get(reverse("devices:device-detail", args=[device.pk])).status_code == 200

    # results from before the summaries: curves "not computed yet", blinking from the particle rows
    fit = LifetimeFit.objects.filter(run__sample__treatment=ids[1]).get()
    ResultCurve.objects.filter(job=fit.job_id).delete()
    ParticleSummary.objects.filter(analysis__run__sample__treatment=ids[2]).delete()
    r = client.get(reverse("pages:compare"), {"treatment": ids})
    figures, html = _figures(r), r.content.decode()
    assert r["X-Figures-Cached"] == "0" and len(figures["trpl"]["glyphs"]) == 6
    assert "3.42 % Cl" in figures["trpl"]["note"] and "not computed yet" in figures["trpl"]["note"]
    assert "TRPL of 3.42 % Cl: curve not computed yet" in html and "summarised from its particle rows" in html
    assert len(r.context["series"]) == 4 and all(s["stats"]["n"] for s in r.context["series"])
    assert len([g for g in figures["dwell_on"]["glyphs"] if g["kind"] == "scatter"]) == 4


def test_an_unbalanced_quote_in_a_quantity_is_a_form_error(client_in, series):
    r = client_in.post(reverse("synthesis:batch-create"), _recipe(series, injection_volume='1 mL"'))
    assert r.status_code == 200 and "unknown unit" in r.content.decode()
