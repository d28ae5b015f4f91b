"""The particle list at scale: a streamed CSV export (``?format=csv``, filters applied, units in the
header) and page counts taken from the analyses when only lineage filters are given."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labbook.projects.selectors import visible
from labbook.results.models import Particle
from tests.labbook.api.conftest import client_for

pytestmark = pytest.mark.django_db
PARTICLES = f'"{Particle._meta.db_table}"'


def _csv(response) -> list[dict]:
    assert response.status_code == 200 and response.streaming, response
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_export_streams_every_filtered_particle_with_units(series, api, editor):
    rows = _csv(api.get("/api/results/particles/", {"format": "csv"}))
    assert len(rows) == visible(Particle, editor).count() == 48  # every particle, not a page of them
    header = list(rows[0])
    assert header[:5] == ["id", "analysis", "run", "treatment", "index"]
    for name in ("edge (um)", "mean_on (s)", "mean_off (s)", "mu_on (1/s)", "threshold (counts/frame)",
                 "centroid_y (px)", "area (px)", "alpha_on", "trace_class"):  # fmt: skip
        assert name in header, name
    first = Particle.objects.order_by("analysis_id", "index").first()
    assert int(rows[0]["id"]) == first.pk
    assert float(rows[0]["edge (um)"]) == pytest.approx(first.edge.to("um").magnitude)
    assert (
        rows[0]["run"] == first.analysis.run.code
        and rows[0]["treatment"] == first.analysis.run.sample.treatment.code
    )
    small = _csv(
        api.get("/api/results/particles/", {"format": "csv", "edge__lt": "1 um", "trace_class": "PEB"})
    )
    expected = visible(Particle, editor).filter(edge__lt="1 um", trace_class="PEB").count()
    assert 0 < len(small) == expected and all(float(r["edge (um)"]) < 1 for r in small)
    assert {r["trace_class"] for r in small} == {"PEB"}


def test_the_csv_export_refuses_what_the_list_refuses(series, api, outsider):
    r = api.get("/api/results/particles/", {"format": "csv", "edge__lt": "1 mg"})
    assert r.status_code == 400 and b"edge" in r.content
    assert api.get("/api/results/particles/", {"format": "csv", "colour": "red"}).status_code == 400
    assert _csv(client_for(outsider).get("/api/results/particles/", {"format": "csv"})) == []


@pytest.mark.parametrize(
    "params",
    [{}, {"treatment_nominal_cl": 3}, {"treatment_nominal_cl__gte": 5, "batch_date__gte": "2000-01-01"},
     {"treatment_code": "nothing"}],
)  # fmt: skip
def test_lineage_filtered_pages_count_from_the_analyses(series, api, editor, params):
    """The count of a page filtered by lineage only is the analyses' particle counts summed, never a
    COUNT over the particle table; it equals the rows the filters select."""
    with CaptureQueriesContext(connection) as ctx:
        r = api.get("/api/results/particles/", {**params, "page_size": 5})
    assert r.status_code == 200, r.content
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert not any(PARTICLES in sql.split("FROM", 1)[1].split("WHERE")[0] for sql in counts), counts
    expected = api.get("/api/results/particles/", {**params, "trace_class__in": "BB,BBB,MSB,PEB,qTSB"})
    assert r.json()["count"] == expected.json()["count"]  # a particle-level filter counts the rows
    assert len(r.json()["results"]) == min(5, r.json()["count"])


def test_a_particle_level_filter_counts_the_rows(series, api, editor):
    r = api.get("/api/results/particles/", {"trace_class": "PEB"})
    assert r.json()["count"] == visible(Particle, editor).filter(trace_class="PEB").count() > 0


def test_codes_that_a_spreadsheet_would_run_are_defused(series, api, editor):
    """A code typed as a formula (=, +, -, @) comes out with a leading ' (OWASP "CSV injection"):
    one member's batch code must not run in another member's spreadsheet."""
    from labbook.characterization.models import CharacterizationRun

    run = CharacterizationRun.objects.filter(blinking_analyses__isnull=False).first()
    CharacterizationRun.objects.filter(pk=run.pk).update(code='=HYPERLINK("http://evil.example","x")')
    rows = _csv(api.get("/api/results/particles/", {"format": "csv"}))
    evil = [r for r in rows if "HYPERLINK" in r["run"]]
    assert evil and all(r["run"] == '\'=HYPERLINK("http://evil.example","x")' for r in evil)
    assert all(not r["run"].startswith(("=", "+", "-", "@")) for r in rows)
    assert any(r["run"] == "R-3Cl-BLINK" or r["run"].startswith("R-") for r in rows)  # others as typed
