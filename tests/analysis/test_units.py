"""parse_quantity: what people type is parsed; what would make pint run away, or silently change the
number, is refused before pint evaluates it (issue 13, items 2 and 16)."""

import sys
import threading

import pytest

from analysis.errors import AnalysisInputError
from analysis.readers import _unit_factor
from analysis.units import check_unit_expression, parse_quantity


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("2.5 uL", "uL", 2.5),
        ("2.5 µL", "uL", 2.5),
        ("(13.6 ± 0.1) mg", "mg", 13.6),
        ("1e14 1/cm^2", "1/cm^2", 1e14),
        ("30 mW/cm^2", "mW/cm^2", 30),
        ("30 mW/cm²", "mW/cm^2", 30),
        ("2 m**2/(V*s)", "m**2/(V*s)", 2),
        ("2 cm^-2", "1/cm^2", 2),
        ("0.5 Hz**0.5", "Hz**0.5", 0.5),
        ("25 °C", "degC", 25),
        ("5 kΩ", "ohm", 5000),
        ("160nm", "nm", 160),
        ("0 uL", "uL", 0),
        ("1e-300 m", "m", 1e-300),
    ],
)
def test_ordinary_quantities_still_parse(text, unit, expected):
    q = parse_quantity(text, default_unit="uL")
    q = q.value if hasattr(q, "error") else q
    assert q.to(unit).magnitude == pytest.approx(expected)


def test_a_power_tower_is_refused_at_once_without_pint():
    done = threading.Event()
    errors = []

    def parse():
        try:
            parse_quantity("1 uL**10**10**7")
        except AnalysisInputError as exc:
            errors.append(str(exc))
        done.set()

    threading.Thread(target=parse, daemon=True).start()
    # generous: the refusal takes microseconds, pint's evaluation tens of seconds (not a timing claim)
    assert done.wait(10), "parse_quantity evaluated the power tower"
    assert "no powers of powers" in errors[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2.5 uL foo", "after the unit"),  # trailing junk
        ("2.5 uL m", "after the unit"),  # juxtaposed words would multiply
        ("2.5 uL 3", "after the unit"),
        ("2 uL*2", "expected a unit"),
        ("1e-400 uL", "too small"),  # underflow: not silently 0
        ("1e-320 uL", "too small"),  # subnormal: digits lost
        ("1e400 uL", "too large"),  # overflow: not inf
        ("1 +/- 1e400 uL", "too large"),
        ("1 uL^13", "exponent"),
        ("1 uL^x", "exponent"),
        ("1 " + "(" * 4 + "uL" + ")" * 4, "brackets"),
        ("1 " + "uL*" * 25 + "uL", "characters"),
        ("1 " + "m*" * 13 + "m", "more than"),
        ("1" * 200 + " uL", "longer than"),
        ("1 uL:2", "unexpected"),
    ],
)
def test_junk_huge_and_vanishing_quantities_are_refused(text, message):
    with pytest.raises(AnalysisInputError, match=message):
        parse_quantity(text, default_unit="uL")


def test_numbers_given_as_numbers_are_checked_too():
    with pytest.raises(AnalysisInputError, match="too large"):
        parse_quantity(10**400, default_unit="uL")
    with pytest.raises(AnalysisInputError, match="finite"):
        parse_quantity(float("inf"), default_unit="uL")
    assert parse_quantity(sys.float_info.max, default_unit="uL").magnitude == sys.float_info.max


def test_the_grammar_alone():
    check_unit_expression("mol/L")
    check_unit_expression("1/(cm^2*s)")
    with pytest.raises(ValueError, match="powers"):
        check_unit_expression("m^2^2")
    with pytest.raises(ValueError, match="unclosed"):
        check_unit_expression("(m")


def test_a_column_header_unit_is_bounded_too(tmp_path):
    assert _unit_factor("Time (ms)", "s", "s", "f.csv") == pytest.approx(1e-3)
    with pytest.raises(AnalysisInputError, match="column"):
        _unit_factor("Time (ms**10**10**7)", "s", "s", "f.csv")
