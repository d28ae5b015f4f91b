"""The only writers of templates, and the series planner/applier.

- ``template_create`` / ``template_update`` / ``template_delete``: role, freeze, version and history
  through projects.writes; ``Template.clean`` checks the fields of each kind.
- ``template_fields_from_batch`` / ``template_fields_from_entry``: "save as template" (a batch's
  recipe, an entry's title and body, as text with units).
- ``series_plan``: for a series template, a batch (a pool split into portions, or one portion) and a
  stock, the MACl volume of each target Cl:I from the planner (synthesis.services.treatment_plan),
  one portion per target; ``series_apply`` makes those treatments through
  synthesis.services.treatment_create in one transaction (all or nothing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import transaction

from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Project
from labbook.projects.writes import authorise, record_create, record_delete, record_update
from labbook.recipes.models import RECIPE_FIELDS, SERIES_UNITS, Template, TemplateKind
from labbook.synthesis import services as synthesis_services
from labbook.synthesis.models import ChlorideStock, PostTreatment, Synthesis
from labbook.units import Quantity, QuantityField, format_quantity


@transaction.atomic
def template_create(
    *, user, project: Project, name: str, kind: str, fields: dict, description: str = "", reason: str = ""
) -> Template:
    return record_create(
        Template,
        user=user,
        project=project,
        name=name,
        kind=kind,
        fields=fields,
        description=description,
        reason=reason or f"{kind} template {name} made",
    )


@transaction.atomic
def template_update(*, user, template: Template, version, reason: str = "", **changes) -> Template:
    if "kind" in changes and changes["kind"] != template.kind:
        raise ValidationError({"kind": "a template keeps its kind; make a new one instead"})
    return record_update(template, user=user, version=version, reason=reason, changes=changes)


@transaction.atomic
def template_delete(*, user, template: Template, reason: str = "") -> None:
    record_delete(template, user=user, reason=reason or f"template {template.name} deleted")


# --- save as template ------------------------------------------------------------------------
def template_fields_from_batch(batch: Synthesis) -> dict[str, str]:
    """A batch's recipe as a synthesis template's fields (only what it records)."""
    out = {}
    for name in RECIPE_FIELDS:
        field = Synthesis._meta.get_field(name)
        if field.is_relation:
            value = getattr(batch, field.attname)
            if value is not None:
                out[name] = str(value)
            continue
        value = getattr(batch, name)
        if value is None or value == "":
            continue
        out[name] = format_quantity(value, field.unit) if isinstance(field, QuantityField) else str(value)
    return out


def template_fields_from_entry(entry: NotebookEntry) -> dict[str, str]:
    return {"title": entry.title, "body": entry.body}


def new_record_query(template: Template) -> str:
    """The GET parameters a create page takes as initial values: ``project=..&<field>=<value>..``."""
    params = {"project": template.project_id, **{k: v for k, v in template.fields.items() if v != ""}}
    return urlencode(params)


# --- treatment series ------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedTreatment:
    target_cl_percent: float
    portion: Synthesis
    volume: Quantity  # of stock, from the planner
    code: str

    @property
    def volume_text(self) -> str:
        return format_quantity(self.volume.to("uL"), "uL", digits=3)


def _portions(batch: Synthesis) -> list[Synthesis]:
    return list(Synthesis.objects.filter(parent_links__parent=batch).order_by("code"))


def series_plan(*, template: Template, batch: Synthesis, stock: ChlorideStock) -> list[PlannedTreatment]:
    """One planned treatment per target of ``template``: on the portions of ``batch`` in code order
    (or on ``batch`` itself for a one-target series of a batch without portions), with the
    planner's stock volume for that portion and target. Refused (ValidationError) when the
    template is not a series, the records are not of the template's project, there are fewer
    untreated portions than targets, or the planner cannot plan (no iodide or concentration)."""
    if template.kind != TemplateKind.SERIES:
        raise ValidationError(
            {"template": f"{template} is a {template.get_kind_display()} template, not a series"}
        )
    for name, record in (("batch", batch), ("stock", stock)):
        if record.project_id != template.project_id:
            raise ValidationError({name: f"{record} is not in project {template.project}"})
    targets = template.targets
    portions = _portions(batch)
    if not portions:
        if len(targets) > 1:
            raise ValidationError(
                {
                    "batch": f"{batch} has no portions; this series treats {len(targets)} portions, one "
                    f"per target ({', '.join(f'{t:g}' for t in targets)} %): split it into "
                    f"{len(targets)} portions first, or choose the pool they were split from"
                }
            )
        portions = [batch]
    if len(portions) < len(targets):
        raise ValidationError(
            {
                "batch": f"{batch} has {len(portions)} portions; this series needs {len(targets)} (one per target)"
            }
        )
    portions = portions[: len(targets)]
    treated = {t.batch_id: t.code for t in PostTreatment.objects.filter(batch__in=portions).order_by("code")}
    if treated:
        names = ", ".join(f"{p.code} ({treated[p.pk]})" for p in portions if p.pk in treated)
        raise ValidationError(
            {
                "batch": f"already treated: {names}; the planner counts no earlier treatment, so a series "
                "goes on untreated portions"
            }
        )
    plan = []
    for target, portion in zip(targets, portions, strict=True):
        volume = synthesis_services.treatment_plan(batch=portion, stock=stock, target_cl_percent=target)
        plan.append(PlannedTreatment(target, portion, volume, f"{portion.code}-{target:g}Cl"))
    taken = set(
        PostTreatment.objects.filter(project=template.project, code__in=[p.code for p in plan]).values_list(
            "code", flat=True
        )
    )
    if taken:
        raise ValidationError(
            {"batch": f"treatment codes already used in this project: {', '.join(sorted(taken))}"}
        )
    return plan


@transaction.atomic
def series_apply(
    *, user, template: Template, batch: Synthesis, stock: ChlorideStock, date: dt.date, reason: str = ""
) -> list[PostTreatment]:
    """Record the series planned by :func:`series_plan`: every treatment or none."""
    authorise(user, template.project)
    plan = series_plan(template=template, batch=batch, stock=stock)
    common = {}
    for name in SERIES_UNITS:
        value = str(template.fields.get(name, "")).strip()
        if value:
            common[name] = value
    notes = str(template.fields.get("notes", "")).strip()
    made = []
    for step in plan:
        made.append(
            synthesis_services.treatment_create(
                user=user,
                batch=step.portion,
                stock=stock,
                code=step.code,
                date=date,
                volume_added=step.volume,
                nominal_cl_percent=step.target_cl_percent,
                notes="\n".join(filter(None, [f"from template {template.name}", notes])),
                reason=reason or f"series template {template.name}",
                **common,
            )
        )
    return made
