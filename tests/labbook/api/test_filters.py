"""Queries across batches: every model field has a filter; quantities in any unit; lineage;
full text; ordering; nonsense parameters are refused."""

import pytest
from django.db import models

from labbook.characterization.filters import RunFilterSet
from labbook.devices.filters import DeviceFilterSet, MeasurementFilterSet
from labbook.files.filters import RawFileFilterSet
from labbook.jobs.filters import JobFilterSet
from labbook.notebook.filters import EntryFilterSet
from labbook.results import filters as rf
from labbook.synthesis import filters as sf
from labbook.synthesis.models import PostTreatment, Synthesis
from labbook.units import QuantityField

FILTERSETS = [
    sf.ChemicalFilterSet, sf.BatchFilterSet, sf.BatchLinkFilterSet, sf.StockFilterSet, sf.TreatmentFilterSet,
    sf.SampleFilterSet, RunFilterSet, DeviceFilterSet, MeasurementFilterSet, EntryFilterSet, RawFileFilterSet,
    JobFilterSet, rf.ParticleFilterSet, rf.BlinkingAnalysisFilterSet, rf.LifetimeFitFilterSet,
    rf.DeviceMetricsFilterSet, rf.SpectrumResultFilterSet, rf.XRDResultFilterSet, rf.ResultArtifactFilterSet,
]  # fmt: skip


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


@pytest.mark.parametrize("filterset", FILTERSETS, ids=lambda f: f.__name__)
def test_every_model_field_has_a_filter(filterset):
    """netbox's habit: a new model field without a filter fails here. JSON columns and the
    ``<name>_err`` uncertainty companions are left out on purpose."""
    model = filterset._meta.model
    companions = {
        f"{f.name}_err" for f in model._meta.concrete_fields if isinstance(f, QuantityField) and f.uncertainty
    }
    filtered = {f.field_name.split("__")[0] for f in filterset.base_filters.values()}
    missing = [
        f.name
        for f in [*model._meta.concrete_fields, *model._meta.many_to_many]
        if not isinstance(f, models.JSONField) and f.name not in companions and f.name not in filtered
    ]
    assert not missing, f"{filterset.__name__} has no filter for {missing}"


@pytest.mark.django_db
class TestQueries:
    def test_quantity_filter_takes_any_unit_of_the_dimension(self, series, api):
        a = _ids(api.get("/api/treatments/", {"volume_added__gte": "1 uL"}))
        b = _ids(api.get("/api/treatments/", {"volume_added__gte": "0.001 mL"}))
        c = _ids(
            api.get("/api/treatments/", {"volume_added__gte": "1"})
        )  # bare number: the field's unit (uL)
        assert a == b == c and len(a) == 3
        assert len(_ids(api.get("/api/treatments/", {"volume_added__lt": "2.5e-6 L"}))) == 2

    def test_wrong_dimension_or_nonsense_is_400_naming_the_parameter(self, series, api):
        r = api.get("/api/treatments/", {"volume_added__gte": "1 mg"})
        assert r.status_code == 400
        assert "expected a volume" in r.json()["volume_added__gte"][0]
        r = api.get("/api/treatments/", {"volume_added__gte": "1 \x1b"})  # found by schemathesis
        assert r.status_code == 400 and "expected a volume" in r.json()["volume_added__gte"][0]
        r = api.get("/api/treatments/", {"volume_added__gte": "5 %"})  # a "%" in the echoed input
        assert r.status_code == 400 and "5 %" in r.json()["volume_added__gte"][0]
        r = api.get("/api/treatments/", {"volume_added__gte": "lots"})
        assert r.status_code == 400 and "volume_added__gte" in r.json()
        r = api.get("/api/batches/", {"date__gte": "yesterday-ish"})
        assert r.status_code == 400 and "date__gte" in r.json()
        r = api.get("/api/batches/", {"volume__lte": "4 ml", "colour": "red"})
        assert r.status_code == 400 and "unknown parameter" in r.json()["colour"][0]
        r = api.get("/api/batches/", {"pbi2": "-3"})
        assert r.status_code == 400

    def test_batches_by_date_operator_and_recipe(self, series, api, editor):
        assert len(_ids(api.get("/api/batches/", {"date__gte": "2022-10-04"}))) == 4  # the portions
        assert (
            len(_ids(api.get("/api/batches/", {"injection_volume__gte": "1300 uL", "kind": "synthesis"})))
            == 6
        )
        assert len(_ids(api.get("/api/batches/", {"injection_volume__gt": "1.3 mL"}))) == 0
        Synthesis.objects.filter(code="MAPI-221003-1").update(operator=editor)
        assert len(_ids(api.get("/api/batches/", {"operator_username": "editor"}))) == 1
        assert len(_ids(api.get("/api/batches/", {"operator": editor.pk}))) == 1
        pool = Synthesis.objects.get(code="MAPI-221003-POOL")
        assert len(_ids(api.get("/api/batches/", {"made_from": pool.pk}))) == 5  # itself + 4 portions

    def test_treatments_by_cl_to_i_and_solvent_fraction(self, series, api):
        t = {t.code: t for t in PostTreatment.objects.filter(project=series)}
        upper = t["T-9Cl"].cl_to_i.magnitude + 0.01
        got = _ids(api.get("/api/treatments/", {"cl_to_i__gte": "2 %", "cl_to_i__lte": f"{upper}"}))
        assert got == {t["T-3Cl"].pk, t["T-9Cl"].pk}  # a bare number is in the field's unit (%)
        assert got == _ids(
            api.get(
                "/api/treatments/", {"cl_to_i__gte": "0.02", "cl_to_i__lte": f"{upper / 100} dimensionless"}
            )
        )
        middle = (t["T-9Cl"].solvent_fraction.magnitude + t["T-3Cl"].solvent_fraction.magnitude) / 2
        got = _ids(api.get("/api/treatments/", {"solvent_fraction__gt": f"{middle} %"}))
        assert got == {t["T-9Cl"].pk, t["T-17Cl"].pk}
        got = _ids(api.get("/api/treatments/", {"nominal_cl_percent": 17}))
        assert got == {t["T-17Cl"].pk}

    def test_runs_by_technique_and_settings(self, series, api):
        assert (
            len(_ids(api.get("/api/runs/", {"technique": "trpl", "excitation_wavelength__gte": "480 nm"})))
            == 4
        )
        assert (
            len(_ids(api.get("/api/runs/", {"technique": "trpl", "excitation_wavelength__gte": "0.49 um"})))
            == 0
        )
        assert (
            len(_ids(api.get("/api/runs/", {"technique__in": "trpl,blinking", "treatment_nominal_cl": 3})))
            == 2
        )
        assert len(_ids(api.get("/api/runs/", {"has_results": "true"}))) == 8

    def test_particles_by_class_size_and_fit_values(self, series, api):
        r1 = api.get("/api/results/particles/", {"trace_class": "PEB", "edge__lt": "1 um", "page_size": 100})
        r2 = api.get(
            "/api/results/particles/", {"trace_class": "PEB", "edge__lt": "1000 nm", "page_size": 100}
        )
        assert _ids(r1) == _ids(r2)
        assert all(p["trace_class"] == "PEB" and p["edge"]["magnitude"] < 1 for p in r1.json()["results"])
        r = api.get(
            "/api/results/particles/", {"subclass": "mostly-on", "fraction_on__gte": 0.0, "alpha_on__gt": 0}
        )
        assert r.json()["count"] == 8 and "on_dwell_s" not in r.json()["results"][0]
        r = api.get("/api/results/particles/", {"mean_on__gte": "500 ms"})
        assert all(p["mean_on"]["magnitude"] >= 0.5 for p in r.json()["results"])

    def test_particles_up_the_lineage(self, series, api):
        """The particles of every 3 % Cl treatment of a batch made after a date."""
        r = api.get(
            "/api/results/particles/",
            {"treatment_nominal_cl": 3, "batch_date__gte": "2022-01-01", "page_size": 100},
        )
        assert r.json()["count"] == 12
        assert all(p["alpha_on"] == pytest.approx(1.03, abs=0.3) for p in r.json()["results"])
        assert (
            api.get(
                "/api/results/particles/", {"treatment_nominal_cl": 3, "batch_date__gte": "2023-01-01"}
            ).json()["count"]
            == 0
        )
        assert api.get("/api/results/particles/", {"treatment_cl_to_i__gte": "1 %"}).json()["count"] == 36
        pool = Synthesis.objects.get(code="MAPI-221003-POOL")
        assert api.get("/api/results/particles/", {"made_from": pool.pk}).json()["count"] == 48
        assert (
            api.get(
                "/api/results/particles/", {"technique": "blinking", "batch_code": "MAPI-221003-P1"}
            ).json()["count"]
            == 12
        )

    def test_full_text_search_on_notes_and_entries(self, series, api):
        r = api.get("/api/entries/", {"q": "pooled portions"})
        assert r.json()["count"] == 1
        assert api.get("/api/entries/", {"q": "graphene"}).json()["count"] == 0
        assert len(_ids(api.get("/api/batches/", {"q": "mixed"}))) == 1  # "Six NC batches mixed."

    def test_ordering(self, series, api):
        r = api.get("/api/treatments/", {"ordering": "-cl_to_i"})
        codes = [t["code"] for t in r.json()["results"]]
        assert codes == ["T-17Cl", "T-9Cl", "T-3Cl", "T-0Cl"]
        r = api.get("/api/treatments/", {"ordering": "password"})
        assert r.status_code == 400 and "cannot order by password" in r.json()["ordering"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"id__gte": "1e300"},
        {"index__lte": "-99999999999999999999999"},
        {"fraction_on__gte": "1e400"},
        {"edge__lt": "1e308 km"},
        {"analysis": "99999999999999999999"},
        {"treatment_nominal_cl": "nan"},
        {"batch_date__gte": "0000-00-00"},
        {"trace_class__in": "," * 50},
        {"ordering": "-,--,"},
    ],
)
def test_out_of_range_and_odd_filters_are_answered_never_500(series, api, params):
    r = api.get("/api/results/particles/", params)
    assert r.status_code in (200, 400), (params, r.status_code, r.content[:300])
