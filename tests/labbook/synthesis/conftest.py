"""One demo series (no raw files) for the door tests, built once for the package and rolled back
after its last test; each test runs in a savepoint inside it (pytest-django's usual rollback).
Users are staff (so the admin is a door for them) with each role, plus an outsider."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.test import APIClient

from labbook.demo import load_paper_series
from labbook.projects.models import Membership, Project, Role
from tests.labbook.factories import UserFactory

ROLES = ["outsider", "viewer", "editor", "admin"]


@pytest.fixture(scope="package")
def _doors_data(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            admin = UserFactory(username="synth-admin", is_staff=True)
            project = load_paper_series(user=admin, with_files=False)  # admin member of it
            # another name, so a test of this package may load the demo series itself too
            Project.objects.filter(pk=project.pk).update(name="Doors study", slug="synthesis-doors")
            ids = {"project": project.pk, "admin": admin.pk}
            for role in (Role.VIEWER, Role.EDITOR):
                user = UserFactory(username=f"synth-{role}", is_staff=True)
                Membership.objects.create(project=project, user=user, role=role)
                ids[str(role)] = user.pk
            ids["outsider"] = UserFactory(username="synth-outsider", is_staff=True).pk
            yield ids
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def series(_doors_data, db):
    return Project.objects.get(pk=_doors_data["project"])


@pytest.fixture
def users(_doors_data, db) -> dict:
    """role name -> user (``admin`` is the project's admin)."""
    model = get_user_model()
    return {role: model.objects.get(pk=_doors_data[role]) for role in ROLES}


@pytest.fixture
def editor(users):
    return users["editor"]


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttles are counted in the cache: none carried from one test to the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def admin_form_data(response) -> dict:
    """The POST data of an admin change/add page as rendered (main form and inline formsets),
    so a test changes only the fields it means to."""

    def values(form) -> dict:
        out = {}
        for bf in form:
            value = bf.value()
            if value is None:
                value = ""
            elif hasattr(value, "units"):  # a pint quantity: as a person types it
                value = bf.field.widget.format_value(value)
            elif isinstance(value, bool):
                if not value:
                    continue
                value = "on"
            out[bf.html_name] = value
        return out

    data = values(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(values(formset.management_form))
        for form in formset.forms:
            data.update(values(form))
    return data
