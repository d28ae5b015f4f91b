"""QuantityField: what people type goes in, pint quantities come out, wrong units are refused."""

import math

import pytest
from django.core.exceptions import ValidationError

from labbook.synthesis.models import Chemical, PostTreatment, Synthesis
from labbook.units import Quantity, format_quantity, to_quantity, ureg
from tests.labbook.factories import ProjectFactory, StockFactory, SynthesisFactory


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("2.5 uL", "uL", 2.5),
        ("2.5 µL", "uL", 2.5),
        ("2.5 μL", "uL", 2.5),  # Greek mu as well as the micro sign
        ("0.0025 mL", "uL", 2.5),
        ("13.6 mg", "mg", 13.6),
        ("0.4 mol/L", "mmol/L", 400),
        ("600 rpm", "rpm", 600),
        ("30 min", "s", 1800),
        ("1e14 1/cm^2", "1/cm^2", 1e14),
        ("25 degC", "degC", 25),
        ("298.15 K", "degC", 25),
        (2.5, "uL", 2.5),  # a bare number is in the declared unit
    ],
)
def test_accepts_what_people_type(text, unit, expected):
    q = to_quantity(text, unit=unit).to(unit)
    assert math.isclose(q.magnitude, expected, rel_tol=1e-12)


def test_uncertainty_is_kept_as_a_measurement():
    q = to_quantity("13.6 +/- 0.1 mg", unit="mg")
    assert isinstance(q, ureg.Measurement)
    assert q.value.magnitude == 13.6 and q.error.magnitude == 0.1
    assert format_quantity(q, "mg") == "13.6 ± 0.1 mg"
    q2 = to_quantity("(13.6 ± 0.1) mg", unit="g").to("g")
    assert math.isclose(q2.error.magnitude, 1e-4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5 mg", "is a mass (e.g. mg, g); expected a volume (e.g. uL, mL)"),
        ("3 furlongs per fortnight", "expected a volume"),
        ("two microlitres", "not a number with a unit"),
        ("5 bananas", "unknown unit"),
    ],
)
def test_wrong_dimension_or_nonsense_names_the_field_and_expected_dimension(text, message):
    with pytest.raises(ValidationError) as err:
        to_quantity(text, unit="uL", name="volume_added")
    assert message in err.value.message_dict["volume_added"][0]


@pytest.mark.django_db
class TestQuantityFieldOnTheDatabase:
    def test_round_trip_gives_pint_quantities_in_declared_unit(self):
        batch = SynthesisFactory(injection_volume="1300 uL")
        batch.refresh_from_db()
        assert isinstance(batch.injection_volume, Quantity)
        assert batch.injection_volume.units == ureg.mL
        assert batch.injection_volume.magnitude == pytest.approx(1.3)

    def test_uncertainty_round_trips_through_the_database(self):
        chem = Chemical(project=ProjectFactory(), name="MACl", molar_mass="67.52 +/- 0.01 g/mol")
        chem.full_clean()
        chem.save()
        chem = Chemical.objects.get(pk=chem.pk)
        assert isinstance(chem.molar_mass, ureg.Measurement)
        assert chem.molar_mass.value.magnitude == pytest.approx(67.52)
        assert chem.molar_mass.error.magnitude == pytest.approx(0.01)
        chem.molar_mass = "67.5 g/mol"  # a new value without uncertainty clears the old one
        chem.save()
        chem.refresh_from_db()
        assert chem.molar_mass_err is None and isinstance(chem.molar_mass, Quantity)

    def test_filters_take_any_unit_of_the_right_dimension(self):
        project = ProjectFactory()
        SynthesisFactory(project=project, injection_volume="1.3 mL")
        SynthesisFactory(project=project, injection_volume="0.5 mL")
        assert Synthesis.objects.filter(injection_volume__gte="1 mL").count() == 1
        assert Synthesis.objects.filter(injection_volume__gte="1000 uL").count() == 1
        assert Synthesis.objects.filter(injection_volume__lt=Quantity(0.001, "L")).count() == 1

    def test_wrong_dimension_is_refused_by_full_clean_with_field_and_dimension(self):
        batch = SynthesisFactory.build(project=ProjectFactory(), injection_volume="5 mg")
        with pytest.raises(ValidationError) as err:
            batch.full_clean()
        assert "expected a volume" in err.value.message_dict["injection_volume"][0]

    def test_wrong_dimension_is_refused_by_save_even_without_full_clean(self):
        batch = SynthesisFactory.build(project=ProjectFactory(), injection_volume="5 mg")
        with pytest.raises(ValidationError, match="expected a volume"):
            batch.save()
        assert not Synthesis.objects.exists()

    def test_negative_amount_is_refused(self):
        batch = SynthesisFactory.build(project=ProjectFactory(), injection_volume="-1 mL")
        with pytest.raises(ValidationError) as err:
            batch.full_clean()
        assert "must not be negative" in err.value.message_dict["injection_volume"][0]
        with pytest.raises(ValidationError, match="must not be negative"):
            batch.save()

    def test_absurd_amount_is_refused(self):
        batch = SynthesisFactory.build(project=ProjectFactory(), injection_volume="5 m^3")
        with pytest.raises(ValidationError) as err:
            batch.full_clean()
        assert "implausible" in err.value.message_dict["injection_volume"][0]

    def test_nan_and_infinity_are_refused(self):
        for bad in (float("nan"), float("inf")):
            batch = SynthesisFactory.build(project=ProjectFactory(), injection_volume=bad)
            with pytest.raises(ValidationError):
                batch.full_clean()

    def test_signed_quantities_may_be_negative_where_declared(self):
        from labbook.devices.models import DeviceMeasurement

        field = DeviceMeasurement._meta.get_field("bias")
        assert field.clean("-1 V", None).magnitude == -1

    def test_missing_required_quantity_says_what_is_expected(self):
        project = ProjectFactory()
        batch = SynthesisFactory(project=project)
        treatment = PostTreatment(
            project=project, batch=batch, stock=StockFactory(project=project), code="T", date="2022-10-04"
        )
        with pytest.raises(ValidationError) as err:
            treatment.full_clean()
        assert "volume_added" in err.value.message_dict


@pytest.mark.parametrize("text", ['1 mL"', "2.5 u'L", "3 (mL", "2 mL)", "1 mL\x00"])
def test_unbalanced_quotes_and_brackets_are_refused_not_crashed(text):
    with pytest.raises(ValidationError, match="expected a volume"):
        to_quantity(text, unit="uL", name="volume_added")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1 uL**10**10**7", "powers"),  # refused before pint evaluates it (issue 13)
        ("2.5 uL foo", "after the unit"),  # trailing junk
        ("1e-400 uL", "too small"),  # not silently 0
        ("1e400 uL", "too large"),  # not inf
        ("1e-320 fL", "too small"),  # fine as typed, but 0 in the stored unit (uL)
        ("1e307 ML", "out of range"),  # fine as typed, but inf in the stored unit (uL)
        (10**400, "not a finite number"),  # an int beyond float range
    ],
)
def test_bounded_expressions_underflow_and_overflow_are_refused(value, message):
    with pytest.raises(ValidationError, match=message) as err:
        to_quantity(value, unit="uL", name="volume_added")
    assert "volume_added" in err.value.message_dict
