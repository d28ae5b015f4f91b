"""The treatment comparison from the stored particle summaries: the same numbers as the particle rows
give, a constant number of queries that never touch the particle table, analyses without a summary
still counted, and the backfill (``manage.py summarise_results``) that computes what is missing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labbook.characterization.models import CharacterizationRun
from labbook.projects.models import Project
from labbook.projects.selectors import visible
from labbook.results.models import BlinkingAnalysis, Particle, ParticleSummary, ResultCurve
from labbook.results.selectors import GROUPS, PARTICLE_STATS, blinking_summaries, treatment_comparison
from labbook.results.services import particle_columns, particle_summary_data, particle_summary_write
from labbook.results.summaries import NQ
from tests.labbook.api.conftest import add_blinking_results, build_series
from tests.labbook.factories import UserFactory
from tests.labbook.shared import rolled_back, shared_data_of

pytestmark = pytest.mark.django_db
PARTICLES = f'"{Particle._meta.db_table}"'  # quoted: not the summary table


@pytest.fixture(scope="module")
def _shared_series(django_db_setup, django_db_blocker):
    """The owner and the series, built once for the module's tests that read ``series``
    (tests/labbook/shared.py: they run after the module's other tests, each in a savepoint)."""
    with rolled_back(django_db_blocker):
        owner = UserFactory(username="owner")
        project = build_series(owner)
        for code, n, seed in (("R-3Cl-BLINK", 30, 11), ("R-17Cl-BLINK", 7, 12)):
            run = CharacterizationRun.objects.get(project=project, code=code)
            add_blinking_results(run, n=n, seed=seed, alpha_on=1.2)
        for a in BlinkingAnalysis.objects.filter(project=project):
            particle_summary_write(analysis=a)
        yield {"owner": owner.pk, "series": project.pk}


@pytest.fixture
def owner(request, db):
    if shared_data_of(request.node):
        return get_user_model().objects.get(pk=request.getfixturevalue("_shared_series")["owner"])
    return UserFactory(username="owner")


@pytest.fixture
def series(request, owner):
    """The paper's series with 12 particles per movie, and a second movie analysed for the 3 and
    17 % treatments (so their groups pool two analyses); every summary stored, as jobs store them."""
    return Project.objects.get(pk=request.getfixturevalue("_shared_series")["series"])


def _rounded(value):
    """Floats to 12 significant digits, in any nesting (pooling order changes the last bits)."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _same(a, b, what):
    if a is None or b is None:
        assert a is None and b is None, what
    else:
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), what


def _pooled_values(owner, group_by, key, name):
    from labbook.results.selectors import GROUPS as paths

    field = PARTICLE_STATS[name]
    qs = visible(Particle, owner).filter(**{f"analysis__run__sample__{paths[group_by]}": key})
    return np.array([v for v in qs.values_list(field, flat=True) if v is not None])


def test_summary_numbers_equal_those_from_the_particle_rows(series, owner):
    multi = 0
    for group_by in GROUPS:
        fast = treatment_comparison(user=owner, group_by=group_by)
        rows = treatment_comparison(user=owner, group_by=group_by, particles=visible(Particle, owner))
        assert [g["group"] for g in fast] == [g["group"] for g in rows], group_by
        for f, r in zip(fast, rows, strict=True):
            fp, rp = f["particles"], r["particles"]
            assert fp["n"] == rp["n"] and fp["class_counts"] == rp["class_counts"], group_by
            for k in fp["classes"]:
                _same(fp["classes"][k], rp["classes"][k], (group_by, k))
            for name in PARTICLE_STATS:
                a, b = fp[name], rp[name]
                assert a["n"] == b["n"]
                for key in ("mean", "sd", "ci_low", "ci_high"):
                    _same(a.get(key), b.get(key), (group_by, name, key))
                if a["median_exact"]:
                    _same(a["median"], b["median"], (group_by, name, "median"))
                else:  # analyses pooled: between the exact 0.5 -/+ 1/32 quantiles of the pooled values
                    multi += 1
                    v = _pooled_values(owner, group_by, f["group"]["key"], name)
                    lo, hi = np.percentile(v, [100 * (0.5 - 1 / (NQ - 1)), 100 * (0.5 + 1 / (NQ - 1))])
                    assert lo <= a["median"] <= hi, (group_by, name)
            assert f["population"] == r["population"] and f["lifetime"] == r["lifetime"]
    assert multi  # the pooled groups were exercised


def test_the_comparison_reads_summaries_with_a_constant_number_of_queries(
    series, owner, django_assert_max_num_queries
):
    counts = {}
    for group_by in ("treatment", "nominal_cl_percent", "batch"):
        with CaptureQueriesContext(connection) as ctx:
            groups = treatment_comparison(user=owner, group_by=group_by)
        assert groups and not any(PARTICLES in q["sql"] for q in ctx.captured_queries), group_by
        counts[group_by] = len(ctx.captured_queries)
    # more analyses, more treatments: the same queries
    run = CharacterizationRun.objects.get(project=series, code="R-9Cl-BLINK")
    particle_summary_write(analysis=add_blinking_results(run, n=40, seed=99, alpha_on=1.1))
    with django_assert_max_num_queries(counts["treatment"]):
        treatment_comparison(user=owner, group_by="treatment")
    with django_assert_max_num_queries(counts["treatment"]):
        blinking_summaries(user=owner, treatment_ids=None)  # the page's summaries: one query


def test_an_analysis_without_a_summary_is_summarised_from_its_rows(series, owner):
    before = treatment_comparison(user=owner, group_by="nominal_cl_percent")
    ParticleSummary.objects.filter(analysis__run__code="R-3Cl-BLINK").delete()
    with CaptureQueriesContext(connection) as ctx:
        after = treatment_comparison(user=owner, group_by="nominal_cl_percent")
    assert any(PARTICLES in q["sql"] for q in ctx.captured_queries)  # read for the missing ones only
    assert _rounded(after) == _rounded(before)
    entries = blinking_summaries(user=owner, treatment_ids=None)
    assert sorted(e["stored"] for e in entries) == [False, False] + [True] * (len(entries) - 2)


def test_outsiders_see_no_summaries(series):
    outsider = UserFactory(username="outsider")
    assert treatment_comparison(user=outsider) == []
    assert blinking_summaries(user=outsider) == []


def test_the_backfill_summarises_what_is_missing_once(series, owner, capsys):
    expected = {
        s.analysis_id: {
            f: getattr(s, f)
            for f in ("n_particles", "stats", "class_counts", "histograms", "dwells", "points")
        }
        for s in ParticleSummary.objects.all()
    }
    ParticleSummary.objects.all().delete()
    # frozen projects get their summaries too: derived data, not records of the project
    Project.objects.filter(pk=series.pk).update(frozen_at=timezone.now())
    call_command("summarise_results")
    assert "6 particle summaries and 0 curves computed" in capsys.readouterr().out
    for s in ParticleSummary.objects.all():
        assert {f: getattr(s, f) for f in expected[s.analysis_id]} == expected[s.analysis_id]
    call_command("summarise_results")
    assert "0 particle summaries and 0 curves computed" in capsys.readouterr().out


@pytest.mark.slow
def test_the_backfill_draws_curves_from_the_raw_files_by_the_jobs_code(owner, capsys):
    """A TRPL result without its curve gets the one its job would have stored; a result whose raw
    file is gone is reported (exit code 1) and the others are still done."""
    from django.core.files.storage import default_storage

    from labbook.demo import DEMO_FILES, load_paper_series
    from labbook.files.services import raw_file_store
    from labbook.jobs.services import job_execute, job_submit

    project = load_paper_series(user=owner, with_files=False)

    def store(name):
        with (DEMO_FILES / name).open("rb") as fh:
            return raw_file_store(project=project, fileobj=fh, original_name=name)

    trpl = job_submit(
        kind="trpl",
        files={"decay": store("trpl_9pct_cl.csv"), "irf": store("trpl_irf.csv")},
        run=CharacterizationRun.objects.get(project=project, code="R-9Cl-TRPL"),
        parameters={"method": "wls"},
    )
    xrd_raw = store("xrd_3pct_cl.xrdml")
    xrd = job_submit(
        kind="xrd",
        files={"data": xrd_raw},
        run=CharacterizationRun.objects.get(project=project, code="R-3Cl-XRD"),
    )
    assert job_execute(trpl.pk) == job_execute(xrd.pk) == "succeeded"
    stored = {c.job_id: c.data for c in ResultCurve.objects.all()}
    ResultCurve.objects.all().delete()
    default_storage.delete(xrd_raw.storage_name)
    with pytest.raises(CommandError, match="1 curves could not be computed"):
        call_command("summarise_results", "--project", project.slug)
    out, err = capsys.readouterr()
    assert "1 curves computed" in out and "curve not computed" in err and f"job {xrd.pk}" in err
    assert ResultCurve.objects.get(job=trpl).data == stored[trpl.pk]  # the same fit, the same model
    assert "summarise_results" in ResultCurve.objects.get(job=trpl).note
    assert not ResultCurve.objects.filter(job=xrd).exists()


def test_summaries_from_rows_match_the_stored_ones(series):
    a = BlinkingAnalysis.objects.filter(project=series).first()
    stored = ParticleSummary.objects.get(analysis=a)
    data = particle_summary_data(a, particle_columns([a.pk])[a.pk])
    assert data["stats"] == stored.stats and data["points"]["pk"] == sorted(
        Particle.objects.filter(analysis=a).values_list("pk", flat=True)
    )
    assert math.isclose(sum(data["class_counts"].values()), a.n_particles)
