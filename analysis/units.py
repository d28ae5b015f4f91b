"""The program's single pint UnitRegistry, and parsing of quantities typed by people.

labbook/units.py builds its model field on this registry, so the service and the numeric core
share one registry (pint quantities from two registries cannot be mixed).
"""

from __future__ import annotations

import re
from tokenize import TokenError

import pint

from analysis.errors import AnalysisInputError

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
pint.set_application_registry(ureg)
Quantity = ureg.Quantity

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_UNIT = re.compile(rf"^\s*({_NUM})\s*(.*?)\s*$")
# "13.6 +/- 0.1 mg", "13.6 ± 0.1 mg", "(13.6 +/- 0.1) mg"
_MEASUREMENT = re.compile(rf"^\s*\(?\s*({_NUM})\s*(?:\+/-|\+-|±)\s*({_NUM})\s*\)?\s*(.*?)\s*$")


def parse_quantity(
    text: str | float | int,
    *,
    dimension: str | None = None,
    name: str = "value",
    default_unit: str | None = None,
) -> pint.Quantity:
    """Parse ``"160nm"``, ``"1 MHz"``, ``"30 mW/cm^2"`` into a Quantity of the expected dimension.

    ``"13.6 +/- 0.1 mg"`` (or ``±``) gives a pint Measurement, which keeps the uncertainty.

    Parameters
    ----------
    text : str or number
        What the user typed. A bare number takes ``default_unit`` when given.
    dimension : str, optional
        A pint dimensionality such as ``"[length]"`` or a unit whose dimension is expected
        (``"nm"``); a value of another dimension is refused.
    name : str
        The argument's name, for the error message.

    Raises
    ------
    AnalysisInputError
        When the text is not a quantity or has the wrong dimension.
    """
    if isinstance(text, (int, float)):
        if default_unit is None:
            raise AnalysisInputError(f"{name}: {text!r} has no unit")
        q = Quantity(text, default_unit)
    else:
        s = str(text).strip().replace("µ", "u").replace("μ", "u")
        error = None
        if m := _MEASUREMENT.match(s):
            number, error, unit = m.groups()
            if float(error) < 0:
                raise AnalysisInputError(f"{name}: the uncertainty in {text!r} must not be negative")
        elif m := _NUMBER_UNIT.match(s):
            number, unit = m.groups()
        else:
            raise AnalysisInputError(f"{name}: {text!r} is not a number with a unit")
        if not unit:
            if default_unit is None:
                raise AnalysisInputError(f"{name}: {text!r} has no unit")
            unit = default_unit
        try:
            units = ureg.parse_units(unit)
            q = (
                Quantity(float(number), units)
                if error is None
                else ureg.Measurement(float(number), float(error), units)
            )
        except (pint.errors.PintError, ValueError, TypeError, AttributeError, SyntaxError, TokenError) as exc:
            raise AnalysisInputError(f"{name}: unknown unit {unit!r} in {text!r}") from exc
    if dimension is not None:
        expected = (
            ureg.get_dimensionality(dimension)
            if dimension.startswith("[")
            else Quantity(1, dimension).dimensionality
        )
        if q.dimensionality != expected:
            raise AnalysisInputError(
                f"{name}: {text!r} has dimension {q.dimensionality}, expected {expected}"
            )
    return q
