"""Issue 13 item 7: a record's code is unique within its project, not across the instance, so a
refusal never tells anyone that another project uses a code."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from labbook.characterization.models import CharacterizationRun
from labbook.devices.models import Device
from labbook.synthesis import services
from labbook.synthesis.models import PostTreatment, Sample, Synthesis
from tests.labbook.factories import MembershipFactory, ProjectFactory, StockFactory, SynthesisFactory

pytestmark = pytest.mark.django_db
D = dt.date(2022, 10, 3)


def test_another_projects_code_can_be_used_and_is_never_revealed():
    theirs, mine = ProjectFactory(name="Secret study"), ProjectFactory()
    user = MembershipFactory(project=mine).user  # an editor: the services check roles
    SynthesisFactory(project=theirs, code="MAPI-1")
    batch = services.synthesis_create(user=user, project=mine, code="MAPI-1", date=D)  # was "already exists"
    assert Synthesis.objects.filter(code="MAPI-1").count() == 2 and batch.project == mine
    with pytest.raises(ValidationError) as err:
        services.synthesis_create(user=user, project=mine, code="MAPI-1", date=D)
    assert err.value.message_dict == {"code": ["a batch with this code already exists"]}
    assert "Secret" not in str(err.value)


@pytest.mark.parametrize(
    "model", [Synthesis, PostTreatment, Sample, CharacterizationRun, Device], ids=lambda m: m.__name__
)
def test_every_code_is_unique_per_project_in_the_database(model):
    assert any(getattr(c, "fields", None) == ("project", "code") for c in model._meta.constraints)
    assert not model._meta.get_field("code").unique


def test_the_database_refuses_a_duplicate_code_in_one_project_only():
    a, b = ProjectFactory(), ProjectFactory()
    SynthesisFactory(project=a, code="DUP")
    SynthesisFactory(project=b, code="DUP")
    with pytest.raises(IntegrityError), transaction.atomic():
        Synthesis.objects.bulk_create([Synthesis(project=a, code="DUP", date=D)])
    StockFactory(project=a, code="MACl-A")
    StockFactory(project=b, code="MACl-A")
