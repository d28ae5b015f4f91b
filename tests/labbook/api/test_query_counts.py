"""No N+1: a list page costs the same number of SQL queries whatever its size (netbox's
query-count baselines, here as "page of 1 == page of everything")."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labbook.notebook.models import NotebookEntry
from labbook.synthesis.models import Sample, Synthesis

LISTS = [
    "projects", "chemicals", "batches", "batch-links", "stocks", "treatments", "samples", "runs", "devices",
    "measurements", "entries", "files", "jobs", "results/blinking", "results/particles", "results/lifetimes",
    "results/device-metrics", "results/spectra", "results/xrd", "results/artifacts", "tokens",
]  # fmt: skip

pytestmark = pytest.mark.django_db


def _queries(api, path: str, page_size: int) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as ctx:
        r = api.get(f"/api/{path}/", {"page_size": page_size})
    assert r.status_code == 200, r.content
    return len(ctx.captured_queries), r.json()["results"]


@pytest.mark.parametrize("path", LISTS)
def test_list_pages_cost_a_constant_number_of_queries(series, api, path):
    """Every list (and the detail its first row links to) answers; a page of one row and a page of
    every row cost the same number of queries."""
    # more rows with many-to-many links, so every prefetch has something to do
    entry = NotebookEntry.objects.get(project=series)
    entry.samples.set(Sample.objects.filter(project=series)[:3])
    entry.batches.set(Synthesis.objects.filter(project=series)[:3])
    small, rows_small = _queries(api, path, 1)
    large, rows_large = _queries(api, path, 1000)
    assert len(rows_small) <= 1
    assert small == large, f"{path}: {small} queries for 1 row, {large} for {len(rows_large)} rows"
    if rows_small and "url" in rows_small[0]:
        assert api.get(rows_small[0]["url"]).status_code == 200
