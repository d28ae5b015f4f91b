"""factory_boy factories for records; each builds a consistent chain (project -> batch -> ...)."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from labbook.projects.models import Membership, Project, Role
from labbook.synthesis.models import BatchKind, ChlorideStock, Synthesis


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR


class SynthesisFactory(factory.django.DjangoModelFactory):
    """A synthesis with the paper's recipe (2.6 umol PbI2 injected -> 7.8 umol iodide)."""

    class Meta:
        model = Synthesis

    project = factory.SubFactory(ProjectFactory)
    code = factory.Sequence(lambda n: f"B-{n:04d}")
    kind = BatchKind.SYNTHESIS
    date = dt.date(2022, 10, 3)
    pbi2_amount = "0.04 mmol"
    mai_amount = "0.12 mmol"
    precursor_solvent_volume = "20 mL"
    injection_volume = "1.3 mL"
    volume = "4 mL"


class StockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChlorideStock

    project = factory.SubFactory(ProjectFactory)
    code = factory.Sequence(lambda n: f"MACl-{n}")
    salt_amount = "200 umol"
    solvent_volume = "0.5 mL"
    date = dt.date(2022, 10, 4)
