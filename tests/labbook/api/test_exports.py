"""Every API list as CSV and Excel (``?format=csv``, ``?format=xlsx``): all the rows the list's
filters select (not one page), units in the headers, links flattened to codes, formulas defused,
members only, and a logged-in browser session may download them."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from labbook.characterization.models import CharacterizationRun
from labbook.notebook.models import NotebookEntry
from labbook.projects.selectors import visible
from labbook.results.models import Particle
from labbook.synthesis.models import PostTreatment, Sample, Synthesis
from tests.labbook.api.conftest import client_for

pytestmark = pytest.mark.django_db

LISTS = [
    "projects", "chemicals", "batches", "batch-links", "stocks", "treatments", "samples", "runs", "devices",
    "measurements", "entries", "files", "jobs", "results/blinking", "results/particles", "results/lifetimes",
    "results/device-metrics", "results/spectra", "results/xrd", "results/artifacts",
]  # fmt: skip


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def xlsx_rows(response) -> list[dict]:
    assert response.status_code == 200, getattr(response, "content", b"")[:500]
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    header, *rows = book.active.iter_rows(values_only=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


def json_count(api, path: str, **params) -> int:
    r = api.get(f"/api/{path}/", params)
    assert r.status_code == 200, r.content
    return r.json()["count"]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_exports_all_its_rows_as_csv_and_xlsx(series, api, path):
    count = json_count(api, path, page_size=1)  # a page of one row; the export has them all
    name = path.rsplit("/", 1)[-1]
    r = api.get(f"/api/{path}/", {"format": "csv"})
    assert r["Content-Disposition"] == f'attachment; filename="{name}.csv"'
    rows = csv_rows(r)
    assert len(rows) == count
    r = api.get(f"/api/{path}/", {"format": "xlsx"})
    assert r["Content-Disposition"] == f'attachment; filename="{name}.xlsx"'
    sheet = xlsx_rows(r)
    assert len(sheet) == count
    if count:
        assert list(sheet[0]) == list(rows[0])  # the same columns in both formats
        assert {str(r["id"]) for r in sheet} == {r["id"] for r in rows}
    assert "url" not in (rows[0] if rows else {})


def test_batches_have_units_in_the_headers_and_the_values_in_those_units(series, api):
    rows = csv_rows(api.get("/api/batches/", {"format": "csv", "ordering": "code"}))
    header = list(rows[0])
    for name in ("code", "kind", "date", "operator", "injection volume (mL)", "OAm volume (uL)",
                 "temperature (degC)", "stirring time (h)", "injection volume uncertainty (mL)", "project",
                 "PbI2 lot", "created at (UTC)"):  # fmt: skip
        assert name in header, (name, header)
    batch = Synthesis.objects.filter(project=series).order_by("code").exclude(injection_volume=None).first()
    row = next(r for r in rows if r["code"] == batch.code)
    assert float(row["injection volume (mL)"]) == pytest.approx(batch.injection_volume.to("mL").magnitude)
    assert row["project"] == series.slug
    # a link: the chemical's name, not its id
    assert row["PbI2 lot"] == (batch.pbi2.name if batch.pbi2 else "")
    assert row["date"] == batch.date.isoformat()
    sheet = xlsx_rows(api.get("/api/batches/", {"format": "xlsx", "ordering": "code"}))
    cell = next(r for r in sheet if r["code"] == batch.code)
    assert cell["injection volume (mL)"] == pytest.approx(batch.injection_volume.to("mL").magnitude)
    assert cell["date"].date() == batch.date  # a real date in Excel, not text
    assert [r["code"] for r in sheet] == [r["code"] for r in rows]  # the list's ordering


def test_exports_apply_the_lists_filters_and_ordering(series, api, editor):
    params = {"cl_to_i__gte": "5 %", "ordering": "-cl_to_i"}
    expected = list(
        visible(PostTreatment, editor).filter(cl_to_i__gte=5).order_by("-cl_to_i").select_related("batch")
    )
    assert 0 < len(expected) < visible(PostTreatment, editor).count()
    for rows in (
        csv_rows(api.get("/api/treatments/", {**params, "format": "csv"})),
        xlsx_rows(api.get("/api/treatments/", {**params, "format": "xlsx"})),
    ):
        assert [r["code"] for r in rows] == [t.code for t in expected]
        assert [r["batch"] for r in rows] == [t.batch.code for t in expected]  # the batch's code
        assert all(float(r["Cl:I (%)"]) >= 5 for r in rows)
    particles = csv_rows(api.get("/api/results/particles/", {"format": "csv", "trace_class": "PEB"}))
    sheet = xlsx_rows(api.get("/api/results/particles/", {"format": "xlsx", "trace_class": "PEB"}))
    assert len(particles) == len(sheet) == visible(Particle, editor).filter(trace_class="PEB").count() > 0
    assert list(sheet[0]) == list(particles[0])  # the particle CSV's own columns, units included
    assert {r["trace_class"] for r in sheet} == {"PEB"} and "edge (um)" in sheet[0]


def test_lists_of_links_are_flattened_to_codes(series, api):
    run = CharacterizationRun.objects.filter(project=series, technique="blinking", jobs__isnull=False).first()
    rows = csv_rows(api.get("/api/runs/", {"format": "csv", "code": run.code}))
    assert len(rows) == 1
    (row,) = rows
    assert row["sample"] == run.sample.code
    assert row["jobs"] == "; ".join(str(j.pk) for j in run.jobs.order_by("pk")) != ""
    assert row["files"] == "; ".join(f.original_name for f in run.raw_files.order_by("pk"))
    run = CharacterizationRun.objects.filter(project=series, excitation_wavelength__isnull=False).first()
    (row,) = csv_rows(api.get("/api/runs/", {"format": "csv", "code": run.code}))
    json_run = api.get(f"/api/runs/{run.pk}/").json()
    assert float(row["excitation wavelength (nm)"]) == json_run["excitation_wavelength"]["magnitude"]
    entry = NotebookEntry.objects.get(project=series)
    samples = list(Sample.objects.filter(project=series).order_by("pk")[:3])
    entry.samples.set(samples)
    (row,) = csv_rows(api.get("/api/entries/", {"format": "csv", "id": entry.pk}))
    assert row["samples"] == "; ".join(s.code for s in samples)
    assert row["author"] == entry.author.username


def test_a_bad_filter_or_parameter_is_a_json_400_not_a_file(series, api):
    for fmt in ("csv", "xlsx"):
        r = api.get("/api/batches/", {"format": fmt, "injection_volume__gte": "3 mg"})
        assert r.status_code == 400 and r["Content-Type"] == "application/json"
        assert "injection_volume__gte" in r.json()
        r = api.get("/api/batches/", {"format": fmt, "colour": "red"})
        assert r.status_code == 400 and "colour" in r.json()
    assert api.get("/api/batches/", {"format": "pdf"}).status_code == 404
    assert api.get(f"/api/batches/{Synthesis.objects.first().pk}/", {"format": "csv"}).status_code == 404


def test_xlsx_over_the_row_limit_is_refused_with_a_clear_400(series, api, settings):
    settings.API_XLSX_MAX_ROWS = 5
    r = api.get("/api/results/particles/", {"format": "xlsx"})
    assert r.status_code == 400
    assert "format=csv" in r.json()["format"][0] and "48 rows" in r.json()["format"][0]
    assert api.get("/api/results/particles/", {"format": "xlsx", "index__lte": 1}).status_code == 200
    assert len(csv_rows(api.get("/api/results/particles/", {"format": "csv"}))) == 48  # CSV has no limit


def test_viewers_export_outsiders_get_nothing_anonymous_is_refused(series, viewer, outsider):
    rows = csv_rows(client_for(viewer).get("/api/batches/", {"format": "csv"}))
    assert len(rows) == Synthesis.objects.filter(project=series).count() > 0
    assert len(xlsx_rows(client_for(viewer).get("/api/runs/", {"format": "xlsx"}))) > 0
    for fmt, read in (("csv", csv_rows), ("xlsx", xlsx_rows)):
        for path in LISTS[1:]:
            assert read(client_for(outsider).get(f"/api/{path}/", {"format": fmt})) == [], path
    for fmt in ("csv", "xlsx"):
        r = Client().get("/api/batches/", {"format": fmt})
        assert r.status_code in (401, 403) and b"B-" not in r.content


def test_a_logged_in_browser_session_downloads_the_exports(series, viewer):
    """The bench pages link "CSV" and "Excel" to the API list: the session cookie is enough."""
    viewer.set_password("pw-for-the-test")
    viewer.save()
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username=viewer.username, password="pw-for-the-test")
    rows = csv_rows(browser.get("/api/treatments/?nominal_cl_percent=3&format=csv"))
    assert [r["nominal Cl:I (%)"] for r in rows] == ["3.0"] * len(rows) and rows
    assert xlsx_rows(browser.get("/api/treatments/?nominal_cl_percent=3&format=xlsx"))


def test_csv_cells_a_spreadsheet_would_run_are_defused(series, api):
    batch = Synthesis.objects.filter(project=series).first()
    Synthesis.objects.filter(pk=batch.pk).update(notes='=HYPERLINK("http://evil.example","x")', method="+1-2")
    rows = csv_rows(api.get("/api/batches/", {"format": "csv"}))
    row = next(r for r in rows if r["id"] == str(batch.pk))
    assert row["notes"] == '\'=HYPERLINK("http://evil.example","x")' and row["method"] == "'+1-2"
    treatments = csv_rows(api.get("/api/treatments/", {"format": "csv", "batch": batch.pk}))
    assert treatments and all(not r["batch"].startswith(("=", "+", "-", "@")) for r in treatments)
    # in Excel the text is kept as typed, as text: a cell of type string, never a formula
    sheet = openpyxl.load_workbook(
        io.BytesIO(b"".join(api.get("/api/batches/", {"format": "xlsx"}).streaming_content))
    ).active
    cells = [
        c for row in sheet.iter_rows() for c in row if c.value == '=HYPERLINK("http://evil.example","x")'
    ]
    assert cells and all(c.data_type == "s" for c in cells)


@pytest.mark.parametrize("path", ["runs", "entries", "devices", "jobs", "batches"])
def test_an_export_costs_the_same_queries_for_one_row_and_for_all(series, api, path):
    def queries(params):
        with CaptureQueriesContext(connection) as ctx:
            rows = csv_rows(api.get(f"/api/{path}/", {"format": "csv", **params}))
        return len(ctx.captured_queries), len(rows)

    one, n_one = queries({"id": visible_first_id(api, path)})
    every, n_all = queries({})
    assert n_one == 1 and n_all >= 1
    assert one == every, f"{path}: {one} queries for 1 row, {every} for {n_all}"


def visible_first_id(api, path) -> int:
    return api.get(f"/api/{path}/", {"page_size": 1}).json()["results"][0]["id"]


def test_the_schema_documents_the_formats():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(urlconf="tests.labbook.api.urls").get_schema(request=None, public=True)
    for path in ("/api/batches/", "/api/results/particles/", "/api/jobs/"):
        op = schema["paths"][path]["get"]
        (fmt,) = [p for p in op["parameters"] if p["name"] == "format"]
        assert sorted(fmt["schema"]["enum"]) == ["csv", "json", "xlsx"]
        content = op["responses"]["200"]["content"]
        assert content["text/csv"]["schema"] == {"type": "string", "format": "binary"}
        assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in content
        assert content["application/json"]["schema"]["$ref"].startswith("#/components/schemas/Paginated")
    detail = schema["paths"]["/api/batches/{id}/"]["get"]
    assert "text/csv" not in detail["responses"]["200"]["content"]
