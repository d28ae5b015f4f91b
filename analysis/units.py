"""The program's single pint UnitRegistry, and parsing of quantities typed by people.

labbook/units.py builds its model field on this registry, so the service and the numeric core
share one registry (pint quantities from two registries cannot be mixed).

Text from outside (a query parameter, a form, a file's column header) reaches pint only through
:func:`parse_quantity` / :func:`parse_unit`, which first check it against a small grammar: unit
names joined by ``*``, ``/`` or ``·``, brackets at most 3 deep, at most one exponent per factor
(a number between -12 and 12), at most 64 characters of unit and 128 in all. pint evaluates
``uL**10**10**7`` as an exact integer power while holding the GIL (a frozen server), and juxtaposed
words multiply ("2.5 uL m"), so neither is left to it. A magnitude that overflows to infinity or
underflows to zero ("1e-400") is refused, not rounded.
"""

from __future__ import annotations

import math
import re
import sys
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

MAX_TEXT = 128  # characters of a whole quantity
MAX_UNIT = 64  # characters of its unit expression
MAX_DEPTH = 3  # brackets inside brackets
MAX_FACTORS = 12  # unit names in one expression
MAX_EXPONENT = 12  # |n| in cm^n

# tokens of a unit expression: a name (letters, then letters/digits, e.g. "cm2", "kΩ", "m²"; or "%",
# "°C", "Å"), a number, "**" / "^", "*" / "/" / "·", brackets, space
_TOKEN = re.compile(r"\s+|\*\*|\^|[*/·]|[()]|[-+]?(?:\d+\.?\d*|\.\d+)|%|°?[^\W\d_][^\W_]*|°")


def _unit_tokens(unit: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(unit):
        m = _TOKEN.match(unit, pos)
        if m is None:
            raise ValueError(f"unexpected {unit[pos]!r}")
        if not m.group().isspace():
            tokens.append(m.group())
        pos = m.end()
    return tokens


def _is_number(token: str) -> bool:
    return token[:1].isdigit() or token[:1] in "+-." and len(token) > 1


def check_unit_expression(unit: str) -> None:
    """Raise ValueError unless ``unit`` is a small unit expression pint may safely evaluate.

    expression := factor (("*" | "/" | "·") factor)*   ("1/cm^2": a leading 1 is allowed)
    factor     := (name | "(" expression ")") [("**" | "^") exponent]
    exponent   := number | "(" number ")"   with |number| <= MAX_EXPONENT
    """
    if len(unit) > MAX_UNIT:
        raise ValueError(f"a unit of more than {MAX_UNIT} characters")
    tokens = _unit_tokens(unit)
    pos = 0
    names = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def exponent() -> None:
        bracketed = peek() == "("
        if bracketed:
            take()
        tok = take() if peek() is not None else ""
        if not _is_number(tok) or abs(float(tok)) > MAX_EXPONENT:
            raise ValueError(f"an exponent must be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}")
        if bracketed and (peek() != ")" or not take()):
            raise ValueError("an unclosed bracket")

    def factor(depth: int) -> None:
        nonlocal names
        tok = take() if peek() is not None else ""
        if tok == "(":
            if depth >= MAX_DEPTH:
                raise ValueError(f"brackets more than {MAX_DEPTH} deep")
            expression(depth + 1)
            if peek() != ")":
                raise ValueError("an unclosed bracket")
            take()
        elif tok and not _is_number(tok) and tok not in {"**", "^", "*", "/", "·", ")"}:
            names += 1
            if names > MAX_FACTORS:
                raise ValueError(f"more than {MAX_FACTORS} units in one expression")
        else:
            raise ValueError(f"expected a unit, got {tok or 'nothing'!r}")
        if peek() in ("**", "^"):
            take()
            exponent()
            if peek() in ("**", "^"):
                raise ValueError("one exponent per unit (no powers of powers)")

    def expression(depth: int) -> None:
        if peek() == "1" and pos + 1 < len(tokens) and tokens[pos + 1] == "/":
            take()  # "1/cm^2"
        else:
            factor(depth)
        while peek() in ("*", "/", "·"):
            take()
            factor(depth)

    expression(0)
    if pos != len(tokens):
        rest = " ".join(tokens[pos:])
        raise ValueError(f"unexpected {rest!r} after the unit; join units with * or / (e.g. mW/cm^2)")


def parse_unit(unit: str, *, name: str = "unit"):
    """pint Unit of ``unit`` (text from outside), checked by :func:`check_unit_expression` first."""
    try:
        check_unit_expression(unit)
        return ureg.parse_units(unit)
    except (pint.errors.PintError, ValueError, TypeError, AttributeError, SyntaxError, TokenError) as exc:
        raise AnalysisInputError(f"{name}: unknown unit {unit!r}") from exc


def _finite(number: str, what: str, name: str, text) -> float:
    """``number`` (text matched by _NUM) as a float, refusing overflow to inf and underflow to 0."""
    value = float(number)
    if not math.isfinite(value):
        raise AnalysisInputError(f"{name}: the {what} in {text!r} is too large")
    if abs(value) < sys.float_info.min and any(c in "123456789" for c in number.lower().split("e")[0]):
        raise AnalysisInputError(f"{name}: the {what} in {text!r} is too small (it would be 0)")
    return value


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
        try:
            number = float(text)
        except OverflowError:
            raise AnalysisInputError(f"{name}: {text!r} is too large") from None
        if not math.isfinite(number):
            raise AnalysisInputError(f"{name}: {text!r} is not a finite number")
        q = Quantity(number, default_unit)
    else:
        s = str(text).strip().replace("µ", "u").replace("μ", "u")
        if len(s) > MAX_TEXT:
            raise AnalysisInputError(f"{name}: {s[:20]!r}... is longer than {MAX_TEXT} characters")
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
            check_unit_expression(unit)
        except ValueError as exc:
            raise AnalysisInputError(f"{name}: unknown unit {unit!r} in {text!r} ({exc})") from exc
        magnitude = _finite(number, "number", name, text)
        uncertainty = None if error is None else _finite(error, "uncertainty", name, text)
        try:
            units = ureg.parse_units(unit)
            q = (
                Quantity(magnitude, units)
                if uncertainty is None
                else ureg.Measurement(magnitude, uncertainty, units)
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
