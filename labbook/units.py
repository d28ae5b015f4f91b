"""Quantities with real units in the database: :class:`QuantityField`.

One pint UnitRegistry serves the whole program (``analysis.units.ureg``). A QuantityField declares the
unit its numbers are stored in (``unit="uL"``); the column is a plain float in that unit, so both
SQLite and PostgreSQL can filter, order and aggregate on it, and reading the attribute gives a pint
Quantity back. What people type is accepted as it is: ``"2.5 uL"``, ``"2.5 µL"``, ``"0.0025 mL"``,
a pint Quantity, or a bare number taken in the declared unit. An optional uncertainty
(``"13.6 +/- 0.1 mg"``) is kept in a companion column ``<name>_err`` and comes back as a pint
Measurement.

A decimal comma is read as a decimal point where it cannot be a thousands separator ("2,5 µL",
"0,025 mL"); "1,000 µL" (one or a thousand?) and any other comma are refused with a message that
says so. Digits grouped by thin spaces, as the pages show them ("30 760 %"), are read as one number.

Two formatters, on purpose: :func:`format_quantity` writes for people (pages, lists, the admin,
messages: "30 760 %", "1.2 cm²", "1.9 × 10¹⁴ 1/cm²", a quantity without a target unit in the unit
it was given in: "295 K"), :func:`format_quantity_input` writes what a form input shows, which the
unit parser reads back to the same value ("30760 %", "1.2 cm^2", "1.9e+14 1/cm^2").

Refusals happen where data is written, so every door (admin, API, forms, services, the shell)
gets them: a value of the wrong dimension ("5 mg" for a volume), a negative or absurd amount, or
text that is not a quantity raises ``ValidationError`` naming the field and the expected
dimension, from ``full_clean()`` and again from ``save()`` (via ``get_prep_value``).

Why not django-pint-field: it stores quantities in a PostgreSQL composite type, so it does not run
on SQLite, our embedded default; it also has no uncertainty. A float column in a declared unit is
portable, indexable and what aggregate queries need.
"""

from __future__ import annotations

import math
import re
import sys
from decimal import Decimal
from typing import Any

import pint
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from analysis.errors import AnalysisInputError
from analysis.units import Quantity, parse_quantity, ureg

__all__ = [
    "QuantityField",
    "Quantity",
    "ureg",
    "to_quantity",
    "format_quantity",
    "format_quantity_input",
    "parse_as_entered",
    "format_number",
    "unit_display",
    "dimension_name",
]

# Words for the dimensions a bench scientist meets, for error messages and help texts.
_DIMENSION_NAMES = {
    "[length] ** 3": "a volume (e.g. uL, mL)",
    "[mass]": "a mass (e.g. mg, g)",
    "[substance]": "an amount of substance (e.g. umol, mmol)",
    "[substance] / [length] ** 3": "a concentration (e.g. mol/L, mM)",
    "[mass] / [substance]": "a molar mass (e.g. g/mol)",
    "[time]": "a time (e.g. s, min, h)",
    "1 / [time]": "a frequency or rotation speed (e.g. rpm, Hz, MHz)",
    "[temperature]": "a temperature (e.g. degC, K)",
    "[length]": "a length (e.g. nm, um)",
    "[length] ** 2": "an area (e.g. cm^2)",
    "1 / [length] ** 2": "a fluence per area (e.g. 1/cm^2)",
    "[mass] / [time] ** 3": "a power density (e.g. mW/cm^2)",
    "[current]": "a current (e.g. A, nA)",
    "[length] ** 2 * [mass] / [current] / [time] ** 3": "a voltage (e.g. V)",
    "[mass] / [length] ** 3": "a mass concentration (e.g. mg/mL)",
    "dimensionless": "a dimensionless number (e.g. %)",
}


def dimension_name(dimensionality) -> str:
    key = str(dimensionality)
    return _DIMENSION_NAMES.get(key, key)


def _label(unit: str) -> str:
    """How a declared unit is written in a form input (parseable again): "uL" -> "µL", "degC" -> "°C"."""
    if unit == "degC":
        return "°C"
    if unit == "percent":
        return "%"
    if unit.startswith("u") and len(unit) > 1 and unit[1:2].isalpha() and unit not in {"um"}:
        return "µ" + unit[1:]
    return "µm" if unit == "um" else unit


# --- display: numbers and units for people -------------------------------------------------------
#: U+202F NARROW NO-BREAK SPACE: the thin space of SI digit grouping ("30 760 %") that never
#: breaks a number across lines
THIN = "\u202f"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_POWER = re.compile(r"(?:\*\*|\^)\(?(-?\d{1,2})\)?")  # "cm^2", "cm**2", "cm^(-2)"
_LITRE = re.compile(r"(?<![^\W\d_])([µnmcd]?)l(?![^\W\d_])")  # pint's "µl", "ml" -> "µL", "mL"
#: magnitudes written without an exponent: "30 760 %", "0.0025 mL"; beyond: "1.9 × 10¹⁴ cm⁻²"
PLAIN_RANGE = (1e-4, 1e7)


def unit_display(unit) -> str:
    """A unit as people write it: "cm^2" -> "cm²", "mW/cm^2" -> "mW/cm²", "uL" -> "µL",
    "degC" -> "°C", "percent" -> "%"; a pint Unit in its short form."""
    if not isinstance(unit, str):
        text = f"{unit:~P}".replace("μ", "µ")
        return _LITRE.sub(r"\1L", text)
    text = _label(unit)
    if "/" in text or "*" in text or "^" in text:  # "uL/min", "1/cm^2": prefix of each factor too
        text = re.sub(r"(?<![^\W\d_])u(?=[a-zA-Z])", "µ", text)
    text = _POWER.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    return text.replace("*", "·")


def format_number(x: float, *, digits: int = 6) -> str:
    """``x`` to ``digits`` significant digits as people read it: no exponent for ordinary
    magnitudes (:data:`PLAIN_RANGE`), thin-space thousands grouping from five integer digits on
    ("30 760", "1300", "0.0025"), "1.9 × 10¹⁴" beyond."""
    x = float(x)
    if not math.isfinite(x):
        return "–" if math.isnan(x) else ("∞" if x > 0 else "−∞")
    if x == 0:
        return "0"
    rounded = Decimal(f"{x:.{digits}g}")
    if not PLAIN_RANGE[0] <= abs(rounded) < PLAIN_RANGE[1]:
        mantissa, exponent = f"{x:.{max(min(digits, 3) - 1, 0)}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa.replace('-', '−')} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    text = format(rounded, "f")
    sign = "−" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    fraction = fraction.rstrip("0")
    if len(whole) >= 5:
        whole = f"{int(whole):,}".replace(",", THIN)
    return sign + whole + (f".{fraction}" if fraction else "")


def format_quantity(value, unit: str | None = None, *, digits: int = 6) -> str:
    """A quantity (or Measurement) for people to read: ``"2.5 µL"``, ``"30 760 %"``, ``"1.2 cm²"``,
    ``"13.6 ± 0.1 mg"``. Converted to ``unit`` when given, else in its own unit as entered
    (295 K stays 295 K). For pages, lists, the admin and messages; a form input shows
    :func:`format_quantity_input` instead, which the unit parser reads back."""
    if value is None:
        return ""
    if unit is not None:
        value = value.to(unit)
    label = unit_display(unit) if unit else unit_display(value.units)
    if isinstance(value, ureg.Measurement):
        number = format_number(value.value.magnitude, digits=digits)
        return f"{number} ± {format_number(value.error.magnitude, digits=2)} {label}"
    return f"{format_number(value.magnitude, digits=digits)} {label}"


def format_quantity_input(value, unit: str | None = None, *, digits: int = 6) -> str:
    """A quantity as a form input shows it, so that :func:`to_quantity` parses it back to the same
    value: plain digits (an exponent when needed, no grouping), ASCII powers (``"cm^2"``)."""
    if value is None:
        return ""
    if unit is not None:
        value = value.to(unit)
    label = _label(unit) if unit else f"{value.units:~}"
    if isinstance(value, ureg.Measurement):
        return f"{value.value.magnitude:.{digits}g} ± {value.error.magnitude:.2g} {label}"
    return f"{value.magnitude:.{digits}g} {label}"


# --- input: what people type, before the unit parser -----------------------------------------------
# A decimal comma ("2,5 µL") is accepted as a decimal point where it cannot be a thousands
# separator; "1,000 µL" (three digits after a comma, a leading digit other than 0) could be one
# or a thousand and is refused with a message saying so, as is any other comma. Digits grouped by
# thin spaces (what the pages show: "30 760 %") are read back as one number.
_DECIMAL_COMMA = re.compile(r"(?<![\d.,])(\d{1,30}),(\d{1,30})(?![\d.,])")
_GROUPED = re.compile(r"(?<=\d)[\u2009\u202f ](?=\d{3}(?!\d))")


def _normalise_typed(text: str, *, name: str, expected=None) -> str:
    tail = "" if expected is None else f"; expected {dimension_name(expected)}"
    if len(text) > 200:  # the unit parser refuses long text itself; no regex runs over it
        return text
    text = _GROUPED.sub("", text)
    if "," not in text:
        return text

    def replace(m: re.Match) -> str:
        whole, fraction = m.groups()
        if len(fraction) == 3 and whole.strip("0"):
            raise ValidationError(
                {
                    name: f"{text!r}: is the comma a decimal mark or a thousands separator? "
                    f"Write {whole}.{fraction} or {whole}{fraction} (a point is the decimal mark; "
                    f"a comma is read as one only where it cannot group thousands, e.g. 2,5){tail}"
                }
            )
        return f"{whole}.{fraction}"

    out = _DECIMAL_COMMA.sub(replace, text)
    if "," in out:
        raise ValidationError(
            {
                name: f"{text!r}: write one number with a point as the decimal mark and no thousands "
                f"separator (e.g. 2.5 µL, 1000 µL; a comma is read as a decimal mark only between "
                f"digits, as in 2,5){tail}"
            }
        )
    return out


def to_quantity(value: Any, *, unit: str, name: str = "value", dimension: str | None = None):
    """Turn what a user gave (text, number, Quantity, Measurement, {"magnitude","units"}) into a
    Quantity/Measurement of the dimension of ``unit``; raise ValidationError naming ``name``.

    A bare number is taken in ``unit``.
    """
    expected = Quantity(1, unit).dimensionality
    if isinstance(value, dict) and "magnitude" in value:
        value = f"{value['magnitude']} {value.get('units') or unit}"
    if isinstance(value, bool):
        raise ValidationError({name: f"{value!r} is not a quantity; expected {dimension_name(expected)}"})
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            number = math.inf
        if not math.isfinite(number):
            raise ValidationError({name: f"{str(value)[:20]!r} is not a finite number"})
        return Quantity(number, unit)
    if isinstance(value, (pint.Quantity, ureg.Measurement)):
        q = value
    elif isinstance(value, str):
        try:
            q = parse_quantity(
                _normalise_typed(value, name=name, expected=expected), name=name, default_unit=unit
            )
        except AnalysisInputError as exc:
            raise ValidationError(
                {name: f"{exc.args[0].split(': ', 1)[-1]}; expected {dimension_name(expected)}"}
            ) from exc
    else:
        raise ValidationError({name: f"{value!r} is not a quantity; expected {dimension_name(expected)}"})
    if q.dimensionality != expected:
        raise ValidationError(
            {
                name: f"{format_quantity(q)} is {dimension_name(q.dimensionality)}; expected {dimension_name(expected)}"
            }
        )
    magnitude = float(q.value.magnitude if isinstance(q, ureg.Measurement) else q.magnitude)
    if not math.isfinite(magnitude):
        raise ValidationError({name: f"{value!r} is not a finite number"})
    try:  # in the declared unit it must stay a finite number, and not round to 0
        stored = float((q.value if isinstance(q, ureg.Measurement) else q).to(unit).magnitude)
    except (pint.errors.PintError, OverflowError, ValueError, TypeError):
        stored = math.nan
    if not math.isfinite(stored):
        raise ValidationError({name: f"{value!r} is out of range in {_label(unit)}"})
    if magnitude != 0 and abs(stored) < sys.float_info.min:  # 0, or a subnormal losing its digits
        raise ValidationError({name: f"{value!r} is too small to store in {_label(unit)} (it would be 0)"})
    return q


def parse_as_entered(text: str, *, name: str = "value"):
    """A quantity of any dimension, in the unit it was typed in ("295 K" stays kelvin): for free-form
    settings shown back as entered. Same grammar and comma rule as :func:`to_quantity`;
    ValidationError naming ``name`` otherwise (a bare number has no unit and is refused too)."""
    try:
        return parse_quantity(_normalise_typed(text, name=name), name=name)
    except AnalysisInputError as exc:
        raise ValidationError({name: exc.args[0].split(": ", 1)[-1]}) from exc


class QuantityDescriptor(DeferredAttribute):
    """Reading gives a Quantity (or Measurement) in the field's unit; writing accepts anything
    :func:`to_quantity` does. Invalid input is kept as given so ``full_clean`` can report it."""

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        raw = super().__get__(instance, cls)
        field = self.field
        if raw is None or isinstance(raw, str | dict | pint.Quantity | ureg.Measurement):
            return raw  # None, or invalid input awaiting validation (valid input is stored as float)
        err = instance.__dict__.get(field.err_attname) if field.uncertainty else None
        if err is not None:
            return ureg.Measurement(float(raw), float(err), field.unit)
        return Quantity(float(raw), field.unit)

    def __set__(self, instance, value):
        field = self.field
        err = None
        if type(value) is float and math.isfinite(value):
            # Fast path: a number in the declared unit, as every row loaded from the database gives;
            # no pint on the way in (bounds are checked when it is saved).
            instance.__dict__[field.attname] = value
            if field.uncertainty:
                instance.__dict__[field.err_attname] = None
                instance.__dict__[f"_err_pending_{field.name}"] = False
            return
        if value is not None:
            try:
                q = to_quantity(value, unit=field.unit, name=field.name)
            except ValidationError:
                instance.__dict__[self.field.attname] = value  # reported by full_clean()/save()
                return
            q = q.to(field.unit)
            if isinstance(q, ureg.Measurement):
                value, err = float(q.value.magnitude), float(q.error.magnitude)
            else:
                value = float(q.magnitude)
        instance.__dict__[self.field.attname] = value
        if field.uncertainty:
            instance.__dict__[field.err_attname] = err
            # Model.__init__ sets the companion column to its default (None) right after this field;
            # that must not erase the uncertainty just given with the value.
            instance.__dict__[f"_err_pending_{field.name}"] = err is not None


class _ErrDescriptor(DeferredAttribute):
    """The companion ``<name>_err`` column; loading from the database sets it after the value."""

    def __set__(self, instance, value):
        if value is None and instance.__dict__.pop(f"_err_pending_{self.field.name[:-4]}", False):
            return
        instance.__dict__[self.field.attname] = value


class QuantityField(models.FloatField):
    """A physical quantity stored as a float in a declared unit; see the module docstring.

    Parameters
    ----------
    unit : str
        The unit the column holds (pint syntax: ``"uL"``, ``"mg"``, ``"mol/L"``, ``"rpm"``, ``"degC"``).
    min_value, max_value : float, optional
        Bounds in ``unit``. ``min_value`` defaults to 0 (amounts are not negative); pass
        ``None`` for signed quantities (bias voltage, currents).
    uncertainty : bool
        Keep an optional uncertainty in a companion column ``<name>_err``.
    """

    descriptor_class = QuantityDescriptor

    def __init__(
        self,
        *args,
        unit: str,
        min_value: float | None = 0.0,
        max_value: float | None = None,
        uncertainty: bool = True,
        **kwargs,
    ):
        self.unit = unit
        self.min_value = min_value
        self.max_value = max_value
        self.uncertainty = uncertainty
        Quantity(1, unit)  # fail at import time on a typo in the declared unit
        kwargs.setdefault(
            "help_text", f"{dimension_name(Quantity(1, unit).dimensionality)}; stored in {_label(unit)}"
        )
        super().__init__(*args, **kwargs)

    @property
    def unit_label(self) -> str:
        return _label(self.unit)

    @property
    def dimension(self) -> str:
        return dimension_name(Quantity(1, self.unit).dimensionality)

    @property
    def err_attname(self) -> str:
        return f"{self.name}_err"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["unit"] = self.unit
        if self.min_value != 0.0:
            kwargs["min_value"] = self.min_value
        if self.max_value is not None:
            kwargs["max_value"] = self.max_value
        if not self.uncertainty:
            kwargs["uncertainty"] = False
        if kwargs.get("help_text") == f"{self.dimension}; stored in {self.unit_label}":
            del kwargs["help_text"]
        return name, path, args, kwargs

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only=private_only)
        # Migrations list the companion column themselves (models built there live in "__fake__").
        # A copy of an already-contributed field (django-simple-history's historical models copy
        # every field, the companion included) must not add the companion a second time.
        if (
            self.uncertainty
            and not cls._meta.abstract
            and cls.__module__ != "__fake__"
            and not getattr(self, "_companion_added", False)
        ):
            err = models.FloatField(
                null=True,
                blank=True,
                editable=False,
                help_text=f"uncertainty of {name}, in {self.unit_label}",
            )
            err.descriptor_class = _ErrDescriptor
            cls.add_to_class(self.err_attname, err)
            self._companion_added = True

    # --- values in and out -------------------------------------------------------------------
    def to_python(self, value):
        if value is None or value == "":
            return None
        q = to_quantity(value, unit=self.unit, name=self.name)
        return q.to(self.unit)

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, (models.Expression, models.F)) or hasattr(value, "resolve_expression"):
            return value
        q = self.to_python(value)
        if isinstance(q, ureg.Measurement):
            q = q.value
        return float(q.magnitude)

    def pre_save(self, model_instance, add):
        value = self.to_python(getattr(model_instance, self.attname))  # raises on invalid input
        if value is not None:
            self._check_bounds(value)
        return self.get_prep_value(value)

    def value_from_object(self, obj):
        return getattr(obj, self.attname)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if value is None else repr(self.get_prep_value(value))

    def _check_bounds(self, q):
        mag = float((q.value if isinstance(q, ureg.Measurement) else q).to(self.unit).magnitude)
        label = self.verbose_name
        if self.min_value is not None and mag < self.min_value:
            if self.min_value == 0:
                raise ValidationError(
                    {self.name: f"{label} must not be negative (got {format_quantity(q, self.unit)})"}
                )
            raise ValidationError(
                {
                    self.name: f"{label} must be at least {self.min_value:g} {self.unit_label} (got {format_quantity(q, self.unit)})"
                }
            )
        if self.max_value is not None and mag > self.max_value:
            raise ValidationError(
                {
                    self.name: f"{label} of {format_quantity(q, self.unit)} is implausible: at most {self.max_value:g} {self.unit_label}"
                }
            )

    def validate(self, value, model_instance):
        # FloatField's validators would compare a Quantity with floats; check bounds ourselves.
        if value is None:
            if not self.null:
                raise ValidationError({self.name: f"{self.verbose_name} is required ({self.dimension})"})
            return
        self._check_bounds(value)

    def run_validators(self, value):
        return None

    def clean(self, value, model_instance):
        try:
            value = self.to_python(value)
        except ValidationError as exc:
            # to_python names the field already; re-raise the bare messages for full_clean.
            raise ValidationError(exc.message_dict.get(self.name, exc.messages)) from None
        try:
            self.validate(value, model_instance)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get(self.name, exc.messages)) from None
        return value

    def formfield(self, **kwargs):
        return QuantityFormField(
            unit=self.unit,
            required=not self.blank,
            label=kwargs.get("label") or self.verbose_name[:1].upper() + self.verbose_name[1:],
            help_text=kwargs.get("help_text", self.help_text),
            initial=kwargs.get("initial"),
        )


class QuantityInput(forms.TextInput):
    """A text box that shows the stored quantity with its unit ("2.5 µL")."""

    def __init__(self, unit: str, attrs=None):
        self.unit = unit
        attrs = {"placeholder": f"e.g. 2.5 {_label(unit)}", "class": "quantity-input", **(attrs or {})}
        super().__init__(attrs)

    def format_value(self, value):
        if isinstance(value, (pint.Quantity, ureg.Measurement)):
            return format_quantity_input(value, self.unit)
        if isinstance(value, (int, float)):
            return format_quantity_input(Quantity(value, self.unit), self.unit)
        return value


class QuantityFormField(forms.Field):
    """Accepts what people type ("2.5 uL", "0.0025 mL", "13.6 +/- 0.1 mg"); a bare number is in the
    field's unit."""

    def __init__(self, *, unit: str, **kwargs):
        self.unit = unit
        kwargs.setdefault("widget", QuantityInput(unit))
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return to_quantity(value, unit=self.unit, name="value").to(self.unit)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["value"]) from None

    def has_changed(self, initial, data):
        try:
            new = self.to_python(data)
        except ValidationError:
            return True
        old = (
            initial
            if initial is None or isinstance(initial, (pint.Quantity, ureg.Measurement))
            else self.to_python(initial)
        )
        return format_quantity_input(old, self.unit) != format_quantity_input(new, self.unit)


def check_quantities(instance, *names: str) -> None:
    """Raise a ValidationError (keyed by field) if any of the named QuantityFields of ``instance``
    holds input that is not a valid quantity of its dimension; used before arithmetic on them."""
    errors = {}
    for name in names:
        field = instance._meta.get_field(name)
        try:
            field.to_python(getattr(instance, name))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


def validate_quantities(instance) -> None:
    """Check every QuantityField of ``instance`` (dimension and bounds) before it is written, so an
    invalid value is refused before the database is touched."""
    errors = {}
    for field in instance._meta.concrete_fields:
        if isinstance(field, QuantityField):
            try:
                value = field.to_python(getattr(instance, field.attname))
                if value is not None:
                    field._check_bounds(value)
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
