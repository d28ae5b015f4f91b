"""The comparisons endpoint over results.selectors.treatment_comparison."""

import pytest

from labbook.synthesis.models import PostTreatment
from tests.labbook.api.conftest import client_for

pytestmark = pytest.mark.django_db


def test_groups_by_treatment_with_particle_statistics_and_lifetimes(series, api):
    r = api.get("/api/comparisons/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["group_by"] == "treatment"
    labels = [g["group"]["label"] for g in body["groups"]]
    assert labels == ["T-0Cl", "T-3Cl", "T-9Cl", "T-17Cl"]  # ordered by Cl:I
    g3 = body["groups"][1]
    stats = g3["particles"]["alpha_on"]
    assert g3["particles"]["n"] == 12 and stats["n"] == 12
    assert stats["ci_low"] < stats["mean"] < stats["ci_high"] and stats["median"] is not None
    assert sum(g3["particles"]["classes"].values()) == pytest.approx(1)
    assert g3["lifetime"]["tau_avg_amp_ns"] == pytest.approx(13)
    assert g3["population"]["n_analyses"] == 1


def test_chosen_treatments_other_groupings_and_particle_filters(series, api):
    t = {t.code: t.pk for t in PostTreatment.objects.filter(project=series)}
    r = api.get("/api/comparisons/", {"treatments": f"{t['T-0Cl']},{t['T-3Cl']}"})
    assert [g["group"]["label"] for g in r.json()["groups"]] == ["T-0Cl", "T-3Cl"]
    r = api.get("/api/comparisons/", {"group_by": "nominal_cl_percent"})
    assert [g["group"]["key"] for g in r.json()["groups"]] == [0, 3, 9, 17]
    small = api.get("/api/comparisons/", {"edge__lt": "1 um"}).json()["groups"]
    assert 0 < sum(g["particles"]["n"] for g in small) < 48
    peb = api.get("/api/comparisons/", {"trace_class": "PEB"}).json()["groups"]
    assert all(g["particles"]["classes"]["PEB"] == 1 for g in peb)


def test_bad_parameters_are_400(series, api):
    assert "group_by" in api.get("/api/comparisons/", {"group_by": "astrology"}).json()
    assert api.get("/api/comparisons/", {"treatments": "1;DROP"}).status_code == 400
    assert api.get("/api/comparisons/", {"treatments": ""}).status_code == 400
    assert api.get("/api/comparisons/", {"edge__lt": "1 mg"}).status_code == 400
    assert api.get("/api/comparisons/", {"colour": "red"}).status_code == 400


def test_outsiders_compare_nothing(series, outsider):
    assert client_for(outsider).get("/api/comparisons/").json()["groups"] == []
