"""No N+1: a list page costs the same number of SQL queries whatever its size (netbox's
query-count baselines, here as "page of 1 == page of everything")."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labbook.devices.models import Device, DeviceMeasurement
from labbook.notebook.models import NotebookEntry
from labbook.synthesis.models import Sample, Synthesis
from tests.labbook.api.test_smoke import LISTS

pytestmark = pytest.mark.django_db


def _queries(api, path: str, page_size: int) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        r = api.get(f"/api/{path}/", {"page_size": page_size})
    assert r.status_code == 200, r.content
    return len(ctx.captured_queries), len(r.json()["results"])


@pytest.mark.parametrize("path", LISTS)
def test_list_pages_cost_a_constant_number_of_queries(series, api, owner, path):
    # more rows with many-to-many links, so every prefetch has something to do
    entry = NotebookEntry.objects.get(project=series)
    entry.samples.set(Sample.objects.filter(project=series)[:3])
    entry.batches.set(Synthesis.objects.filter(project=series)[:3])
    device = Device.objects.filter(project=series).first()
    DeviceMeasurement.objects.filter(device=device)  # the demo's devices have measurements
    small, n_small = _queries(api, path, 1)
    large, n_large = _queries(api, path, 1000)
    assert n_small <= 1
    assert small == large, f"{path}: {small} queries for 1 row, {large} for {n_large} rows"
