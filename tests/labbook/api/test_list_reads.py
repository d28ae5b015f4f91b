"""The lists' faster read paths (issue 16: any list page within 3x of the project list) give the
same JSON as DRF's own: columns read from the loaded row, prefetched links read from the cache,
URLs from a template reversed once per request, a page's links (a run's jobs and results) loaded
in one query."""

import pytest
from rest_framework import serializers

from labbook.api.fields import IdentityUrlField
from labbook.api.serializers import FastReadMixin
from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import Device
from labbook.notebook.models import NotebookEntry
from labbook.synthesis.models import Sample, Synthesis
from tests.labbook.api.test_query_counts import LISTS

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", LISTS)
def test_the_fast_read_path_gives_drfs_own_json(series, api, path, monkeypatch):
    entry = NotebookEntry.objects.get(project=series)
    entry.samples.set(Sample.objects.filter(project=series)[:3])
    entry.batches.set(Synthesis.objects.filter(project=series)[:2])
    fast = api.get(f"/api/{path}/", {"page_size": 1000})
    first = fast.json()["results"][:1]
    fast_detail = api.get(first[0]["url"]).json() if first and "url" in first[0] else None
    monkeypatch.setattr(FastReadMixin, "to_representation", serializers.Serializer.to_representation)
    monkeypatch.setattr(IdentityUrlField, "get_url", serializers.HyperlinkedIdentityField.get_url)
    drf = api.get(f"/api/{path}/", {"page_size": 1000})
    assert fast.status_code == drf.status_code == 200
    assert fast.json() == drf.json()
    if fast_detail is not None:
        assert fast_detail == api.get(first[0]["url"]).json()


def test_a_page_of_runs_shows_each_runs_jobs_and_results_in_their_order(series, api):
    runs = {r["id"]: r for r in api.get("/api/runs/", {"page_size": 1000}).json()["results"]}
    assert (
        runs
        and any(r["jobs"] for r in runs.values())
        and any(r["results"]["blinking"] for r in runs.values())
    )
    for run in CharacterizationRun.objects.filter(project=series):
        shown = runs[run.pk]
        assert [j["id"] for j in shown["jobs"]] == list(run.jobs.values_list("pk", flat=True))
        assert [b["id"] for b in shown["results"]["blinking"]] == list(
            run.blinking_analyses.values_list("pk", flat=True)
        )
        assert [f["id"] for f in shown["results"]["lifetime_fits"]] == list(
            run.lifetime_fits.values_list("pk", flat=True)
        )
        for job in shown["jobs"]:
            detail = api.get(job["url"]).json()
            assert {k: detail[k] for k in ("id", "kind", "status", "progress")} == {
                k: job[k] for k in ("id", "kind", "status", "progress")
            }
        assert api.get(shown["url"]).json()["jobs"] == shown["jobs"]  # alone: the same links
    devices = api.get("/api/devices/").json()["results"]
    for shown in devices:
        device = Device.objects.get(pk=shown["id"])
        assert [m["id"] for m in shown["measurement_links"]] == list(
            device.measurements.values_list("pk", flat=True)
        )
