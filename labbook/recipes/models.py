"""Templates: a project's named starting points for a synthesis, a treatment series and a notebook
entry.

One model, :class:`Template`: a ``kind`` and its ``fields`` as people type them (text with units,
"0.5 mL"; ids for chemicals), which is what a "new from template" link passes as GET parameters to
the create page, and what the series page hands to the planner. ``clean()`` checks the fields of
each kind, so a template that is saved can be used.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from labbook.projects.models import ProjectRecord
from labbook.synthesis import chemistry
from labbook.synthesis.models import Chemical, PostTreatment, Synthesis
from labbook.units import QuantityField

#: what a synthesis template keeps: the recipe (as synthesis_clone copies it), not identity,
#: provenance or lineage
RECIPE_FIELDS = [
    f.name
    for f in Synthesis._meta.concrete_fields
    if f.editable
    and f.name
    not in {"id", "project", "code", "date", "kind", "created_by", "version", "operator", "notes", "method"}
]
#: what a series template keeps besides its targets: the conditions shared by every treatment
SERIES_FIELDS = ["suspension_volume", "stirring_time", "stirring_speed", "notes"]
SERIES_UNITS = {"suspension_volume": "mL", "stirring_time": "min", "stirring_speed": "rpm"}
ENTRY_FIELDS = ["title", "body"]
MAX_TARGETS = 24


class TemplateKind(models.TextChoices):
    SYNTHESIS = "synthesis", "synthesis"
    SERIES = "series", "treatment series"
    ENTRY = "entry", "notebook entry"


def parse_targets(text) -> list[float]:
    """ "0, 3, 9, 17" (or a list) -> [0.0, 3.0, 9.0, 17.0]; a ValidationError on ``targets`` otherwise."""
    items = text if isinstance(text, list) else str(text or "").replace(";", ",").replace("/", ",").split(",")
    out = []
    for item in items:
        item = str(item).strip().removesuffix("%").strip()
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ValidationError(
                {"targets": f"{item!r} is not a number (targets in % Cl:I, e.g. 0, 3, 9, 17)"}
            ) from None
        if not 0 <= value <= chemistry.CL_TO_I_MAX_PERCENT:
            raise ValidationError(
                {
                    "targets": f"a target Cl:I of {value:g} % is not sensible (0-{chemistry.CL_TO_I_MAX_PERCENT:g} %)"
                }
            )
        out.append(value)
    if not out:
        raise ValidationError({"targets": "a series needs at least one target Cl:I in %, e.g. 0, 3, 9, 17"})
    if len(out) > MAX_TARGETS:
        raise ValidationError({"targets": f"at most {MAX_TARGETS} targets in one series ({len(out)} given)"})
    if len(set(out)) != len(out):
        raise ValidationError({"targets": "each target appears once"})
    return out


NAME_TAKEN = "template_name_taken"


class Template(ProjectRecord):
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=TemplateKind.choices)
    description = models.TextField(blank=True)
    fields = models.JSONField(
        default=dict,
        blank=True,
        help_text="the template's values as typed (text with units); which names depends on the kind",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["project", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"],
                name="template_name_unique_in_project",
                violation_error_code=NAME_TAKEN,
                violation_error_message="this project already has a template of that name",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def validate_constraints(self, exclude=None) -> None:
        """As ProjectRecord's, with a taken name reported on ``name``."""
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict({})
            general = errors.pop(NON_FIELD_ERRORS, [])
            taken = [e for e in general if getattr(e, "code", None) == NAME_TAKEN]
            if taken:
                errors.setdefault("name", []).extend(taken)
            if rest := [e for e in general if getattr(e, "code", None) != NAME_TAKEN]:
                errors[NON_FIELD_ERRORS] = rest
            raise ValidationError(errors) from None

    @property
    def targets(self) -> list[float]:
        return parse_targets(self.fields.get("targets", "")) if self.kind == TemplateKind.SERIES else []

    def clean(self) -> None:
        super().clean()
        if not isinstance(self.fields, dict):
            raise ValidationError({"fields": "a mapping of field names to values"})
        allowed = {
            TemplateKind.SYNTHESIS: RECIPE_FIELDS,
            TemplateKind.SERIES: ["targets", *SERIES_FIELDS],
            TemplateKind.ENTRY: ENTRY_FIELDS,
        }.get(self.kind)
        if allowed is None:
            return  # the choices check names the bad kind
        unknown = sorted(set(self.fields) - set(allowed))
        if unknown:
            raise ValidationError(
                {"fields": f"not a field of a {self.get_kind_display()} template: {', '.join(unknown)}"}
            )
        errors: dict[str, str] = {}
        for name, value in self.fields.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                errors[name] = "a value as text, e.g. '0.5 mL'"
        if errors:
            raise ValidationError(errors)
        if self.kind == TemplateKind.SERIES:
            parse_targets(self.fields.get("targets"))
            for name in SERIES_UNITS:
                if str(self.fields.get(name, "")).strip():
                    self._check_quantity(PostTreatment._meta.get_field(name), errors)
        elif self.kind == TemplateKind.SYNTHESIS:
            for name in self.fields:
                field = Synthesis._meta.get_field(name)
                value = str(self.fields[name]).strip()
                if not value:
                    continue
                if isinstance(field, QuantityField):
                    self._check_quantity(field, errors)
                elif field.is_relation:
                    if not (
                        value.isdigit()
                        and Chemical.objects.filter(project_id=self.project_id, pk=int(value)).exists()
                    ):
                        errors[name] = f"no chemical {value} in this project"
                else:
                    try:
                        field.clean(field.to_python(value), None)
                    except ValidationError as exc:
                        errors[name] = "; ".join(exc.messages)
        elif self.kind == TemplateKind.ENTRY:
            if len(str(self.fields.get("title", ""))) > 200:
                errors["title"] = "at most 200 characters"
        if errors:
            raise ValidationError(errors)

    def _check_quantity(self, field: QuantityField, errors: dict) -> None:
        """The value as the record's own field would take it: its dimension and plausible bounds."""
        value = str(self.fields[field.name]).strip()
        try:
            field.clean(value, None)
        except ValidationError as exc:
            errors[field.name] = "; ".join(exc.messages)
        except Exception:  # the unit parser's own errors on odd text
            errors[field.name] = f"{value!r} is not a quantity in {field.unit} or a unit like it"
