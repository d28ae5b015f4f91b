import pytest

from tests.labbook.api.conftest import client_for

LISTS = [
    "projects", "chemicals", "batches", "batch-links", "stocks", "treatments", "samples", "runs", "devices",
    "measurements", "entries", "files", "jobs", "results/blinking", "results/particles", "results/lifetimes",
    "results/device-metrics", "results/spectra", "results/xrd", "results/artifacts", "tokens",
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("path", LISTS)
def test_every_list_and_first_detail(owner, series, path):
    api = client_for(owner)
    r = api.get(f"/api/{path}/")
    assert r.status_code == 200, r.content
    body = r.json()
    if body["results"] and path != "tokens":
        url = body["results"][0]["url"]
        d = api.get(url)
        assert d.status_code == 200, d.content
