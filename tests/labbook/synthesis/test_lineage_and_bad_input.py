"""Lineage (pool, split, cycles) and refusals at the service level: nothing half-saved."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from labbook.projects.models import Role
from labbook.synthesis import services
from labbook.synthesis.models import BatchLink, PostTreatment, Synthesis
from tests.labbook.factories import MembershipFactory, ProjectFactory, StockFactory, SynthesisFactory

D = dt.date(2022, 10, 4)
pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory()


@pytest.fixture
def user(project):
    """An editor of ``project``: the services check the role of whoever writes."""
    return MembershipFactory(project=project, role=Role.EDITOR).user


def test_portion_iodide_follows_pool_and_split(project, user):
    a = SynthesisFactory(project=project)  # 7.8 umol iodide each
    b = SynthesisFactory(project=project, injection_volume="2.6 mL")  # 15.6 umol
    pool = services.batches_pool(user=user, project=project, code="POOL", date=D, parents=[a, b])
    assert pool.iodide_amount().to("umol").magnitude == pytest.approx(23.4)
    p1, p2 = services.batch_split(
        user=user,
        parent=pool,
        date=D,
        portions=[
            services.PortionSpec(code="P1", fraction=0.25, volume="4 mL"),
            services.PortionSpec(code="P2", fraction=0.75, volume="4 mL"),
        ],
    )
    assert p1.iodide_amount().to("umol").magnitude == pytest.approx(5.85)
    assert p2.iodide_amount().to("umol").magnitude == pytest.approx(17.55)


def test_split_by_volume_taken_from_a_recorded_volume(project, user):
    parent = SynthesisFactory(project=project, volume="10 mL")
    (portion,) = services.batch_split(
        user=user,
        parent=parent,
        date=D,
        portions=[services.PortionSpec(code="P", volume_taken="2500 uL", volume="4 mL")],
    )
    assert portion.parent_links.get().fraction_of_parent() == pytest.approx(0.25)
    assert portion.iodide_amount().to("umol").magnitude == pytest.approx(7.8 / 4)


def test_mai_limits_when_it_is_short():
    batch = SynthesisFactory(mai_amount="0.02 mmol")  # MAI < PbI2: 0.02 * 1.3/20 = 1.3 umol MAPbI3
    assert batch.iodide_amount().to("umol").magnitude == pytest.approx(3.9)


def test_a_batch_cannot_be_pooled_into_itself(project, user):
    a = SynthesisFactory(project=project)
    with pytest.raises(ValidationError, match="cannot be made from itself"):
        services.link_create(user=user, parent=a, child=a, fraction=1)


def test_lineage_cycles_are_refused(project, user):
    a = SynthesisFactory(project=project)
    pool = services.batches_pool(user=user, project=project, code="POOL", date=D, parents=[(a, 0.5)])
    (portion,) = services.batch_split(
        user=user, parent=pool, date=D, portions=[services.PortionSpec(code="P", fraction=0.5)]
    )
    with pytest.raises(ValidationError, match="would make a cycle"):
        services.link_create(user=user, parent=portion, child=a, fraction=0.1)
    assert BatchLink.objects.filter(project=project).count() == 2


def test_taking_more_than_a_whole_batch_is_refused_and_nothing_is_half_saved(project, user):
    parent = SynthesisFactory(project=project)
    with pytest.raises(ValidationError, match="more than all of it"):
        services.batch_split(
            user=user,
            parent=parent,
            date=D,
            portions=[
                services.PortionSpec(code="P1", fraction=0.6),
                services.PortionSpec(code="P2", fraction=0.6),
            ],
        )
    assert not Synthesis.objects.filter(code__in=["P1", "P2"]).exists()
    assert not BatchLink.objects.filter(project=project).exists()


def test_a_refused_pool_creates_no_pool(project, user):
    a, b = SynthesisFactory(project=project), SynthesisFactory(project=project)
    with pytest.raises(ValidationError):
        services.batches_pool(user=user, project=project, code="POOL", date=D, parents=[a, (b, 1.5)])
    assert not Synthesis.objects.filter(code="POOL").exists()
    assert not BatchLink.objects.filter(project=project).exists()


def test_duplicate_batch_codes_are_refused_with_a_clear_message(project, user):
    SynthesisFactory(project=project, code="MAPI-1")
    with pytest.raises(ValidationError) as err:
        services.synthesis_create(user=user, project=project, code="MAPI-1", date=D)
    assert err.value.message_dict["code"] == ["a batch with this code already exists"]


def test_missing_required_fields_are_named(project, user):
    with pytest.raises(ValidationError) as err:
        services.stock_create(user=user, project=project, code="S", date=D, solvent_volume=None)
    assert "solvent_volume" in err.value.message_dict


def test_wrong_units_in_a_treatment_are_refused_and_nothing_is_saved(project, user):
    batch, stock = SynthesisFactory(project=project), StockFactory(project=project)
    with pytest.raises(ValidationError) as err:
        services.treatment_create(user=user, batch=batch, stock=stock, code="T", date=D, volume_added="5 mg")
    assert err.value.message_dict["volume_added"] == [
        "5 mg is a mass (e.g. mg, g); expected a volume (e.g. uL, mL)"
    ]
    with pytest.raises(ValidationError, match="must not be negative"):
        services.treatment_create(user=user, batch=batch, stock=stock, code="T", date=D, volume_added="-1 uL")
    assert not PostTreatment.objects.filter(project=project).exists()


def test_treatment_of_a_portion_without_iodide_on_record_is_refused(project, user):
    bare = Synthesis.objects.create(project=project, code="X", date=D, kind="portion", volume="4 mL")
    with pytest.raises(ValidationError, match="no iodide content on record"):
        services.treatment_create(
            user=user, batch=bare, stock=StockFactory(project=project), code="T", date=D, volume_added="1 uL"
        )


def test_stock_amount_disagreeing_with_its_mass_is_refused(project, user):
    from labbook.synthesis.models import Chemical

    macl = Chemical.objects.create(project=project, name="MACl", molar_mass="67.52 g/mol")
    with pytest.raises(ValidationError, match="disagrees"):
        services.stock_create(
            user=user,
            project=project,
            code="S",
            date=D,
            salt=macl,
            salt_mass="13.6 mg",
            salt_amount="100 umol",
            solvent_volume="0.5 mL",
        )


def test_records_cannot_hang_from_another_projects_batch(project, user):
    batch = SynthesisFactory(project=project)
    with pytest.raises(ValidationError, match="belongs to project"):
        services.treatment_create(
            user=user, batch=batch, stock=StockFactory(), code="T", date=D, volume_added="1 uL"
        )


def test_clone_copies_the_recipe_and_changes_one_volume(project, user):
    source = SynthesisFactory(project=project, code="MAPI-1", oam_volume="72 uL", stirring_speed="600 rpm")
    clone = services.synthesis_clone(
        user=user, source=source, code="MAPI-2", date=D, injection_volume="1.5 mL"
    )
    assert clone.oam_volume.to("uL").magnitude == 72
    assert clone.stirring_speed.to("rpm").magnitude == 600
    assert clone.injection_volume.to("mL").magnitude == 1.5
    assert source.injection_volume.to("mL").magnitude == 1.3
    assert "cloned from MAPI-1" in clone.notes


def test_changing_lineage_refreshes_stored_ratios_downstream(project, user):
    a = SynthesisFactory(project=project)
    portion = Synthesis.objects.create(project=project, code="P", date=D, kind="portion", volume="4 mL")
    services.link_create(user=user, parent=a, child=portion, fraction=0.5)
    t = services.treatment_create(
        user=user, batch=portion, stock=StockFactory(project=project), code="T", date=D, volume_added="1 uL"
    )
    assert t.cl_to_i.magnitude == pytest.approx(100 * 0.4 / 3.9)
    b = SynthesisFactory(project=project)
    services.link_create(user=user, parent=b, child=portion, fraction=0.5)
    t.refresh_from_db()
    assert t.cl_to_i.magnitude == pytest.approx(100 * 0.4 / 7.8)


def test_planner_refuses_nonsense_targets(project, user):
    with pytest.raises(ValidationError, match="not sensible"):
        services.treatment_plan(
            batch=SynthesisFactory(project=project), stock=StockFactory(project=project), target_cl_percent=-5
        )


def test_cas_numbers_are_checked():
    from labbook.synthesis.models import validate_cas

    validate_cas("10101-63-0")  # PbI2
    with pytest.raises(ValidationError, match="check digit"):
        validate_cas("10101-63-1")
