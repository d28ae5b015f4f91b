"""One demo series (no raw files) for the door tests of runs, devices, measurements, notebook
entries and raw files, built once for the package and rolled back after its last test; each test
runs in a savepoint inside it (pytest-django's usual rollback).

Users are staff (so the admin is a door for them) with each role in the series. The outsider is an
editor of another project ("Other"), as is the series' editor: so every door lets them write
somewhere, and the records of "Other" are what cross-project links point to."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.models import RawFile
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Membership, Project, Role
from labbook.synthesis import services as synthesis
from tests.labbook.factories import UserFactory
from tests.labbook.synthesis.conftest import ROLES, admin_form_data, api_client  # noqa: F401

D = dt.date(2022, 10, 6)


@pytest.fixture(scope="package")
def _records_data(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            admin = UserFactory(username="rec-admin", is_staff=True)
            project = load_paper_series(user=admin, with_files=False)  # admin member of it
            Project.objects.filter(pk=project.pk).update(name="Records doors study", slug="records-doors")
            ids = {"project": project.pk, "admin": admin.pk}
            for role in (Role.VIEWER, Role.EDITOR):
                user = UserFactory(username=f"rec-{role}", is_staff=True)
                Membership.objects.create(project=project, user=user, role=role)
                ids[str(role)] = user.pk
            outsider = UserFactory(username="rec-outsider", is_staff=True)
            ids["outsider"] = outsider.pk
            other = Project.objects.create(name="Other", slug="records-other")
            ids["other"] = other.pk
            for pk in (ids["editor"], outsider.pk):
                Membership.objects.create(project=other, user_id=pk, role=Role.EDITOR)
            # a raw file in each project (rows only: no test here reads their bytes)
            ids["raw"] = RawFile.objects.create(
                project=project, sha256="b" * 64, size=4, original_name="old.csv", created_by=admin
            ).pk
            ids["foreign_raw"] = RawFile.objects.create(
                project=other, sha256="a" * 64, size=1, original_name="foreign.csv", created_by=admin
            ).pk
            editor = get_user_model().objects.get(pk=ids["editor"])
            batch = synthesis.synthesis_create(user=editor, project=other, code="FOREIGN-B", date=D)
            ids["foreign_batch"] = batch.pk
            ids["foreign_sample"] = synthesis.sample_create(
                user=editor, batch=batch, code="FOREIGN-S", date=D
            ).pk
            ids["run"] = CharacterizationRun.objects.get(project=project, code="R-3Cl-PL").pk
            ids["device"] = Device.objects.filter(project=project).order_by("pk").first().pk
            ids["measurement"] = DeviceMeasurement.objects.filter(project=project).order_by("pk").first().pk
            ids["entry"] = NotebookEntry.objects.filter(project=project).order_by("pk").first().pk
            yield ids
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def ids(_records_data, db) -> dict:
    return _records_data


@pytest.fixture
def series(ids):
    return Project.objects.get(pk=ids["project"])


@pytest.fixture
def other(ids):
    return Project.objects.get(pk=ids["other"])


@pytest.fixture
def users(ids) -> dict:
    """role name -> user (``admin`` is the series' project admin)."""
    model = get_user_model()
    return {role: model.objects.get(pk=ids[role]) for role in ROLES}


@pytest.fixture
def editor(users):
    return users["editor"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttles are counted in the cache: none carried from one test to the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
