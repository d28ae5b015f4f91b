"""Fixtures for the API tests: the paper's series (no raw files) with generated blinking results,
users with each role, and authenticated clients."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.test import APIClient

from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.projects.models import Membership, Project, Role
from labbook.results.models import BlinkingAnalysis, LifetimeFit, Particle
from labbook.results.services import particle_summary_write
from tests.labbook.factories import UserFactory

CLASSES = [("BB", ""), ("BBB", ""), ("MSB", ""), ("PEB", ""), ("qTSB", "mostly-on"), ("qTSB", "intermediate")]


@pytest.fixture(autouse=True)
def _api_urls(settings):
    settings.ROOT_URLCONF = "tests.labbook.api.urls"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Login failures and throttles are counted in the cache: none carried from one test to the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def add_blinking_results(
    run: CharacterizationRun, *, n: int, seed: int, alpha_on: float, summary: bool = True
) -> BlinkingAnalysis:
    """A succeeded blinking job of ``run`` with ``n`` generated particles (alpha_on around ``alpha_on``)
    and, as a job writes it, their summary (``summary=False``: a result from before summaries)."""
    rng = np.random.default_rng(seed)
    job = AnalysisJob.objects.create(
        project=run.project,
        kind="blinking",
        run=run,
        input_key=f"{seed:064x}",
        analysis_version="test",
        status=JobStatus.SUCCEEDED,
        progress=1.0,
    )
    analysis = BlinkingAnalysis.objects.create(
        project=run.project,
        job=job,
        run=run,
        frames=1200,
        height=96,
        width=96,
        bin_time="0.1 s",
        n_particles=n,
        on_alpha=alpha_on,
        off_alpha=0.9,
        share_bb=0.2,
        correlation_mean=0.5,
    )
    Particle.objects.bulk_create(
        Particle(
            project=run.project,
            analysis=analysis,
            index=i + 1,
            centroid_y_px=float(rng.uniform(0, 96)),
            centroid_x_px=float(rng.uniform(0, 96)),
            area_px=int(rng.integers(5, 40)),
            edge=float(rng.uniform(0.3, 2.0)),  # um
            trace_class=CLASSES[i % len(CLASSES)][0],
            subclass=CLASSES[i % len(CLASSES)][1],
            fraction_on=float(rng.uniform(0, 1)),
            mean_on=float(rng.uniform(0.1, 2)),
            mean_off=float(rng.uniform(0.1, 2)),
            n_on=10,
            n_off=10,
            alpha_on=float(alpha_on + rng.normal(0, 0.05)),
            alpha_off=float(0.9 + rng.normal(0, 0.05)),
            correlation_mean=float(rng.uniform(0, 1)),
            on_dwell_s=[0.1, 0.2],
            off_dwell_s=[0.3],
        )
        for i in range(n)
    )
    if summary:
        particle_summary_write(analysis=analysis)
    return analysis


def build_series(owner):
    """The paper's 0/3/9/17 % series, with 12 particles per blinking run and one TRPL fit each."""
    project = load_paper_series(user=owner, with_files=False)
    for run in CharacterizationRun.objects.filter(project=project).select_related("sample__treatment"):
        pct = run.sample.treatment.nominal_cl_percent if run.sample.treatment else 0
        if run.technique == "blinking":
            add_blinking_results(run, n=12, seed=int(pct) + 1, alpha_on=1.0 + pct / 100)
        elif run.technique == "trpl":
            job = AnalysisJob.objects.create(
                project=project,
                kind="trpl",
                run=run,
                input_key=f"{int(pct) + 100:064x}",
                analysis_version="test",
                status=JobStatus.SUCCEEDED,
            )
            LifetimeFit.objects.create(
                project=project, job=job, run=run, n_components=2, tau_avg_amp=f"{10 + pct} ns", chi2_red=1.1
            )
    return project


def member(project, role: Role, username: str):
    user = UserFactory(username=username)
    Membership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture(scope="package")
def _series_data(django_db_setup, django_db_blocker):
    """The series is built once for these tests inside a transaction rolled back after the last of
    them; each test runs in a savepoint within it (pytest-django's usual per-test rollback)."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            owner = UserFactory(username="owner")
            project = build_series(owner)
            ids = {
                "project": project.pk,
                "owner": owner.pk,
                "editor": member(project, Role.EDITOR, "editor").pk,
                "viewer": member(project, Role.VIEWER, "viewer").pk,
                "outsider": UserFactory(username="outsider").pk,
            }
            yield ids
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def series(_series_data, db):
    return Project.objects.get(pk=_series_data["project"])


def _user(name):
    @pytest.fixture
    def fixture(_series_data, db):
        return get_user_model().objects.get(pk=_series_data[name])

    return fixture


owner = _user("owner")
editor = _user("editor")
viewer = _user("viewer")
outsider = _user("outsider")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api(editor):
    return client_for(editor)
